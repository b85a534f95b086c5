//! What the directory shows of a user: Graph's properties (stored, derived, or empty), the identity issuer
//! of an invited guest, and the notice that tells a person their password changed.

use crate::outbox::Mail;
use crate::schema::{self, format_time, PropertyType, Selection, USER};
use crate::store::ObjectRecord;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// The notice of a password the user changed or reset, to their first alternate address (else their
/// mailbox); none for a user with neither.
pub(super) fn password_notice(organization: &str, user: &ObjectRecord, at: DateTime<Utc>) -> Option<Mail> {
    let alternate = user.doc.get("otherMails").and_then(Value::as_array).and_then(|m| m.first());
    let to = alternate.or_else(|| user.doc.get("mail")).and_then(Value::as_str)?.to_owned();
    let upn = user.doc.get("userPrincipalName").and_then(Value::as_str).unwrap_or_default();
    Some(Mail {
        kind: "passwordChanged",
        to,
        subject: format!("Your {organization} account password was changed"),
        text: format!(
            "The password of the {organization} account {upn} was changed at {}.\n\nIf you did this, there is nothing more to do. If you did not, your account may be in someone else's hands: tell your administrator at once.\n",
            format_time(at)
        ),
    })
}

/// Whether a user's identity is issued by `mail`: an invited guest, who proves their email address (by a
/// code mailed there) to redeem the invitation and to sign in.
pub fn signs_in_by_mail(record: &ObjectRecord) -> bool {
    record.doc.get("creationType") == Some(&json!("Invitation"))
}

/// Every user property with its current value: stored, derived, or the empty value Graph shows.
pub fn user_properties(record: &ObjectRecord, selection: Selection<'_>) -> Map<String, Value> {
    let upn = record.doc.get("userPrincipalName").and_then(Value::as_str);
    schema::properties(USER, record, selection, |property| match (property.name, property.ty) {
        ("passwordProfile", _) => Some(Value::Null),
        ("assignedLicenses" | "assignedPlans" | "licenseAssignmentStates", _) => {
            Some(record.doc.get(property.name).cloned().unwrap_or_else(|| json!([])))
        }
        ("identities", _) if signs_in_by_mail(record) => Some(json!([{
            "signInType": "federated",
            "issuer": "mail",
            "issuerAssignedId": record.doc.get("mail"),
        }])),
        ("identities", _) => Some(json!([{
            "signInType": "userPrincipalName",
            "issuer": upn.and_then(|u| u.rsplit_once('@')).map(|(_, domain)| domain),
            "issuerAssignedId": upn,
        }])),
        ("onPremisesExtensionAttributes", PropertyType::StringObject(members)) => {
            let stored = record.doc.get(property.name).and_then(Value::as_object);
            let attributes = members
                .iter()
                .map(|m| ((*m).to_owned(), stored.and_then(|s| s.get(*m)).cloned().unwrap_or(Value::Null)))
                .collect();
            Some(Value::Object(attributes))
        }
        _ => None,
    })
}
