//! Organizational contacts (Graph's `orgContact`): people outside the tenant, listed in its directory.
//!
//! Graph exposes contacts read-only because Exchange creates them; with no Exchange here, Gatehouse also
//! creates, updates and deletes them on the same path. A contact's proxy address follows its mail, and its
//! mailNickname defaults to the mail's local part.

use crate::auth::authorization::{require, Action};
use crate::directory::contention::object_id;
use crate::directory::objects::Page;
use crate::directory::write_error;
use crate::kernel::error::{Error, Result};
use crate::query::Listing;
use crate::schema::{self, Selection, CONTACT};
use crate::store::{ObjectKind, ObjectQuery, ObjectRecord, Write};
use crate::{Caller, Directory};
use serde_json::{json, Map, Value};

/// The phone types Graph lists for a contact, each shown even when it has no number.
const PHONE_TYPES: [&str; 3] = ["businessFax", "mobile", "business"];

/// Cross-property rules and derived values, applied after a create or a patch has been merged.
fn normalise(doc: &mut Map<String, Value>) -> Result<()> {
    match doc.get("displayName") {
        Some(Value::String(name)) if !name.trim().is_empty() => {}
        _ => {
            return Err(Error::invalid_property(
                "displayName",
                "A value is required for property 'displayName' of resource 'OrgContact'.",
            ))
        }
    }
    let mail = doc.get("mail").and_then(Value::as_str).map(str::to_owned);
    match &mail {
        Some(mail) if !mail.contains('@') => {
            return Err(Error::invalid_property(
                "mail",
                "Invalid value specified for property 'mail': not an email address.",
            ))
        }
        Some(mail) => {
            doc.insert("proxyAddresses".into(), json!([format!("SMTP:{mail}")]));
            if doc.get("mailNickname").is_none_or(Value::is_null) {
                let local = mail.split('@').next().unwrap_or_default();
                doc.insert("mailNickname".into(), json!(local));
            }
        }
        None => {
            doc.insert("proxyAddresses".into(), json!([]));
        }
    }
    if let Some(phones) = doc.get("phones").and_then(Value::as_array) {
        for phone in phones {
            let kind = phone.get("type").and_then(Value::as_str).unwrap_or_default();
            if !PHONE_TYPES.contains(&kind) {
                return Err(Error::invalid_property(
                    "phones",
                    format!("Invalid phone type '{kind}'; allowed: {}.", PHONE_TYPES.join(", ")),
                ));
            }
        }
    }
    Ok(())
}

/// Every contact property with its current value; `phones` lists each type, as Graph does.
pub fn contact_properties(record: &ObjectRecord, selection: Selection<'_>) -> Map<String, Value> {
    schema::properties(CONTACT, record, selection, |property| match property.name {
        "phones" => {
            let stored = record.doc.get("phones").and_then(Value::as_array);
            let number = |kind: &str| {
                stored
                    .and_then(|phones| phones.iter().find(|p| p.get("type").and_then(Value::as_str) == Some(kind)))
                    .and_then(|p| p.get("number").cloned())
                    .unwrap_or(Value::Null)
            };
            Some(Value::Array(PHONE_TYPES.iter().map(|t| json!({"type": t, "number": number(t)})).collect()))
        }
        _ => None,
    })
}

/// Organizational contacts, as a service on the directory's context (shaped like the domains service).
pub struct Contacts<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The contacts service.
    pub fn contacts(&self) -> Contacts<'_> {
        Contacts { directory: self }
    }
}

impl Contacts<'_> {
    pub async fn create(&self, caller: &Caller, body: &Map<String, Value>) -> Result<ObjectRecord> {
        require(caller, Action::WriteContacts)?;
        let mut doc = schema::check_body(CONTACT, "orgContact", &[], body)?;
        normalise(&mut doc)?;
        let record = self.directory.new_object(ObjectKind::Contact, None, doc, self.directory.now());
        self.directory
            .commit(caller, vec![Write::InsertObject(record.clone())])
            .await
            .map_err(|e| write_error(e, "conflict"))?;
        Ok(record)
    }

    pub async fn get(&self, caller: &Caller, id: &str) -> Result<ObjectRecord> {
        require(caller, Action::ReadContacts)?;
        self.directory.live_of(caller, id, &[ObjectKind::Contact]).await
    }

    pub async fn list(&self, caller: &Caller, listing: Listing) -> Result<Page> {
        require(caller, Action::ReadContacts)?;
        self.directory.page(caller, ObjectQuery::of(ObjectKind::Contact), listing).await
    }

    pub async fn update(&self, caller: &Caller, id: &str, patch: &Map<String, Value>) -> Result<()> {
        require(caller, Action::WriteContacts)?;
        let changes = schema::check_body(CONTACT, "orgContact", &[], patch)?;
        let mut turn = self.directory.turn(caller, object_id(id)?, "contact").await?;
        loop {
            let current = self.directory.live_of(caller, id, &[ObjectKind::Contact]).await?;
            let mut record = current.clone();
            for (name, value) in &changes {
                if value.is_null() {
                    record.doc.remove(name);
                } else {
                    record.doc.insert(name.clone(), value.clone());
                }
            }
            normalise(&mut record.doc)?;
            let attributes = changes.keys().cloned().collect();
            let write = Write::update(&current, record, attributes);
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, vec![write]).await? {
                return committed.map_err(|e| write_error(e, "conflict"));
            }
        }
    }

    /// Moves the contact to deleted items; its group memberships are suspended until a restore.
    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<()> {
        require(caller, Action::WriteContacts)?;
        let contact = self.directory.live_of(caller, id, &[ObjectKind::Contact]).await?;
        let writes = vec![self.directory.soft_delete(caller, ObjectKind::Contact, contact.id).await?];
        self.directory.commit(caller, writes).await.map_err(|e| write_error(e, "conflict"))?;
        Ok(())
    }
}
