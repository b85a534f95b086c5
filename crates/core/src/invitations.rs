//! B2B invitations (Graph's `POST /invitations`): a person from outside becomes a guest user of the tenant
//! (`userType` Guest, a `#EXT#` user principal name, `creationType` Invitation, `externalUserState`
//! PendingAcceptance, an identity issued by `mail`), and gets a link to redeem the invitation, mailed to them
//! when asked (`sendInvitationMessage`) in the transaction that creates them. The link carries a sealed
//! ticket naming the guest and the invitation; redeeming it ([`crate::sign_in`]'s redemption) proves the
//! address with a code mailed there, and the guest is then Accepted.
//!
//! Who may invite follows the tenant's authorization policy (`allowInvitesFrom`): by default members, the
//! Guest Inviter and User Administrator roles and apps with `User.Invite.All`; guests too when the policy
//! says `everyone`.

use crate::auth::authorization::{require, role_allows, Action};
use crate::auth::guest_policy::{allow_invites_from, invitations_reach};
use crate::directory::write_error;
use crate::kernel::error::{Error, ErrorKind, Result};
use crate::kernel::request;
use crate::kernel::text::fold;
use crate::outbox::Mail;
use crate::schema::format_time;
use crate::sign_in::guest::guest_name;
use crate::sign_in::redeem::{INVITATION_KEY, REDEEM_PURPOSE};
use crate::store::{ObjectKind, ObjectRecord, Write};
use crate::{Caller, Directory};
use chrono::Duration;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// How long an invitation link stays good.
const LINK_DAYS: i64 = 90;
/// The most characters of a customized message.
const MOST_MESSAGE: usize = 2000;

/// The invitations service.
pub struct Invitations<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The invitations service.
    pub fn invitations(&self) -> Invitations<'_> {
        Invitations { directory: self }
    }
}

fn text<'a>(body: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(Error::invalid_property(name, format!("{name} is a string."))),
    }
}

/// An email address the way an invitation takes it: one `@`, a local part, a domain with a dot; lower-cased.
pub(crate) fn email_address(value: &str) -> Result<String> {
    let wrong = || Error::invalid_property("invitedUserEmailAddress", "The invited user's email address is not valid.");
    let value = value.trim().to_lowercase();
    let (local, domain) = value.split_once('@').ok_or_else(wrong)?;
    let fine = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || "._+-'".contains(c));
    if !fine(local) || !fine(domain) || !domain.contains('.') || domain.contains("..") || value.len() > 254 {
        return Err(wrong());
    }
    Ok(value)
}

/// A redirect URL: absolute `https`, or `http` for a local address.
fn redirect_url(value: &str) -> Result<String> {
    let wrong = || Error::invalid_property("inviteRedirectUrl", "inviteRedirectUrl must be an absolute https URL.");
    let (scheme, rest) = value.split_once("://").ok_or_else(wrong)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if !host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)) {
        return Err(wrong());
    }
    let local = host.starts_with("localhost") || host.starts_with("127.0.0.1");
    match (scheme.to_ascii_lowercase().as_str(), host.is_empty()) {
        ("https", false) => Ok(value.to_owned()),
        ("http", false) if local => Ok(value.to_owned()),
        _ => Err(wrong()),
    }
}

/// Whether the tenant's authorization policy lets the caller invite: nobody (`none`); administrators and
/// Guest Inviters, and apps (`adminsAndGuestInviters`); members too (`adminsGuestInvitersAndAllMembers`);
/// everyone (`everyone`, Entra's default).
fn may_invite(caller: &Caller, who: &str) -> Result<()> {
    let allowed = match caller {
        Caller::System { .. } | Caller::SelfService { .. } => true,
        _ if who == "none" => false,
        Caller::App { .. } => true,
        Caller::User { roles, standing, .. } => {
            let admin = roles.iter().any(|role| role_allows(role, Action::InviteGuests));
            admin || (who == "everyone") || (who == "adminsGuestInvitersAndAllMembers" && !standing.is_guest())
        }
    };
    match allowed {
        true => Ok(()),
        false => Err(Error::forbidden().with_code("Authorization_RequestDenied")),
    }
}

impl Invitations<'_> {
    /// `POST /invitations`: the guest (made now, or the one this address was invited as) and Graph's
    /// `invitation`, with the link to redeem it. Inviting a guest who accepted already completes at once
    /// (`Completed`, the link is the redirect URL) unless `resetRedemption` asks them to redeem anew.
    pub async fn invite(&self, caller: &Caller, body: &Map<String, Value>) -> Result<Map<String, Value>> {
        require(caller, Action::InviteGuests)?;
        let email = text(body, "invitedUserEmailAddress")?.ok_or_else(|| {
            Error::invalid_property("invitedUserEmailAddress", "invitedUserEmailAddress is required.")
        })?;
        let email = email_address(email)?;
        let redirect = text(body, "inviteRedirectUrl")?
            .ok_or_else(|| Error::invalid_property("inviteRedirectUrl", "inviteRedirectUrl is required."))?;
        let redirect = redirect_url(redirect)?;
        let send = match body.get("sendInvitationMessage") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(Error::invalid_property("sendInvitationMessage", "sendInvitationMessage is a boolean."))
            }
        };
        let reset = body.get("resetRedemption") == Some(&Value::Bool(true));
        let user_type = match text(body, "invitedUserType")? {
            None | Some("Guest") => "Guest",
            Some("Member") => "Member",
            Some(_) => return Err(Error::invalid_property("invitedUserType", "invitedUserType is Guest or Member.")),
        };
        let info = body.get("invitedUserMessageInfo").and_then(Value::as_object).cloned().unwrap_or_default();
        let message = info.get("customizedMessageBody").and_then(Value::as_str).unwrap_or_default().to_owned();
        if message.chars().count() > MOST_MESSAGE {
            return Err(Error::invalid_property(
                "invitedUserMessageInfo",
                format!("customizedMessageBody has at most {MOST_MESSAGE} characters."),
            ));
        }
        let tenant = self.directory.tenant_record(caller.tenant()).await?;
        may_invite(caller, allow_invites_from(&tenant.organization))?;
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        if !invitations_reach(&tenant.organization, domain) {
            let message =
                format!("Invitations to '{domain}' are blocked by the organization's collaboration restrictions.");
            return Err(Error::new(ErrorKind::Forbidden, message).with_code("Authorization_RequestDenied"));
        }
        let upn = guest_name(&email, &tenant.initial_domain);
        let now = self.directory.now();
        let invitation = self.directory.new_object_id();
        let pending = json!({"id": invitation, "redirect": redirect});
        let existing = self.directory.store.object_by_key(caller.tenant(), ObjectKind::User, &fold(&upn)).await;
        let existing = existing.map_err(Error::from)?.filter(|u| u.deleted_at.is_none());
        let accepted = existing.as_ref().is_some_and(|u| u.doc.get("externalUserState") == Some(&json!("Accepted")));
        let (guest, mut writes) = match existing {
            // Already a guest who accepted: nothing to redeem; the link leads straight on, as in Entra.
            Some(current) if accepted && !reset => (current, Vec::new()),
            Some(current) => {
                let mut record = current.clone();
                record.doc.insert(INVITATION_KEY.into(), pending);
                record.doc.insert("externalUserState".into(), json!("PendingAcceptance"));
                record.doc.insert("externalUserStateChangeDateTime".into(), json!(format_time(now)));
                let attributes = [INVITATION_KEY, "externalUserState", "externalUserStateChangeDateTime"]
                    .map(str::to_owned)
                    .to_vec();
                (record.clone(), vec![Write::update(&current, record, attributes)])
            }
            None => {
                let display = text(body, "invitedUserDisplayName")?
                    .map(str::to_owned)
                    .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
                let doc = json!({
                    "displayName": display,
                    "userPrincipalName": upn,
                    "mail": email,
                    "otherMails": [email],
                    "mailNickname": email.replace('@', "_"),
                    "accountEnabled": true,
                    "userType": user_type,
                    "creationType": "Invitation",
                    "externalUserState": "PendingAcceptance",
                    "externalUserStateChangeDateTime": format_time(now),
                    INVITATION_KEY: pending,
                });
                let doc = doc.as_object().cloned().unwrap_or_default();
                let record = self.directory.new_object(ObjectKind::User, Some(fold(&upn)), doc, now);
                (record.clone(), vec![Write::InsertObject(record)])
            }
        };
        let completed = accepted && !reset;
        let link = match completed {
            true => redirect.clone(),
            false => self.redeem_link(caller.tenant(), &guest, invitation),
        };
        if send {
            writes.push(self.directory.outbox().queue(self.message(&tenant.display_name, &email, &message, &link)));
        }
        if !writes.is_empty() {
            self.directory.commit(caller, writes).await.map_err(|e| write_error(e, "conflict"))?;
        }
        let shown = json!({
            "id": invitation,
            "invitedUserDisplayName": guest.doc.get("displayName"),
            "invitedUserEmailAddress": email,
            "invitedUserType": guest.doc.get("userType"),
            "sendInvitationMessage": send,
            "inviteRedirectUrl": redirect,
            "inviteRedeemUrl": link,
            "resetRedemption": reset,
            "status": if completed { "Completed" } else { "PendingAcceptance" },
            "invitedUserMessageInfo": {"customizedMessageBody": message, "messageLanguage": info.get("messageLanguage"), "ccRecipients": []},
            "invitedUser": {"id": guest.id},
        });
        Ok(shown.as_object().cloned().unwrap_or_default())
    }

    /// The link that redeems `invitation` of `guest`, at the pages of the server the request reached.
    fn redeem_link(&self, tenant: Uuid, guest: &ObjectRecord, invitation: Uuid) -> String {
        let payload = json!({"t": tenant, "u": guest.id, "i": invitation});
        let ticket = self.directory.sign_in().seal(REDEEM_PURPOSE, &payload, Duration::days(LINK_DAYS));
        format!("{}/{tenant}/redeem?ticket={ticket}", request::current().base_url)
    }

    fn message(&self, organization: &str, email: &str, custom: &str, link: &str) -> Mail {
        let custom = match custom.trim() {
            "" => String::new(),
            text => format!("Message from {organization}:\n{text}\n\n"),
        };
        Mail {
            kind: "invitation",
            to: email.to_owned(),
            subject: format!("{organization} invited you to access applications within their organization"),
            text: format!(
                "{organization} invited you ({email}) to access their applications as a guest.\n\n{custom}Accept the invitation: {link}\n\nYou will be asked for a code we send to this address. If you did not expect this invitation, you can ignore this message.\n"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_redirects_are_checked() {
        assert_eq!(email_address(" Ann.Lee@Example.org ").ok().as_deref(), Some("ann.lee@example.org"));
        for bad in ["ann", "ann@", "@example.org", "ann@example", "a b@example.org", "ann@example..org"] {
            assert!(email_address(bad).is_err(), "{bad}");
        }
        assert!(redirect_url("https://apps.example.org/welcome").is_ok());
        assert!(redirect_url("http://localhost:7777/done").is_ok());
        for bad in
            ["http://apps.example.org", "apps.example.org", "javascript:alert(1)", "https://", "https://a.example;x"]
        {
            assert!(redirect_url(bad).is_err(), "{bad}");
        }
    }
}
