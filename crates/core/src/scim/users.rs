//! SCIM's User (core schema and the enterprise extension, RFC 7643 §4) mapped onto the directory's user,
//! both ways. The mapping is Entra's own for provisioning (`userName` ↔ `userPrincipalName`, `active` ↔
//! `accountEnabled`, `externalId` ↔ `onPremisesImmutableId` — the source system's anchor, as a directory
//! synchronised from elsewhere keeps it —, the work email, work
//! and mobile phones and work address, `department`, `organization` ↔ `companyName`), so the same person
//! reads the same through SCIM and Graph.
//!
//! A `userName` without a domain (Entra's own test users are `Test_User_…`) takes the tenant's default
//! domain, on create, update and in filters alike. A user created without a password has none: people
//! pushed in by an HR system sign in after an administrator's reset or a temporary access pass.

use crate::kernel::error::{Error, Result};
use crate::schema::format_time;
use crate::store::ObjectRecord;
use serde_json::{json, Map, Value};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The directory property behind a SCIM attribute path (lower-cased; the enterprise extension's by their
/// full URN), for filters and `PATCH` paths.
pub fn attribute(path: &str) -> Option<&'static str> {
    let path = path.strip_prefix("urn:ietf:params:scim:schemas:core:2.0:user:").unwrap_or(path);
    let enterprise = path.strip_prefix("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:");
    if let Some(name) = enterprise {
        return match name {
            "department" => Some("department"),
            "organization" => Some("companyName"),
            _ => None,
        };
    }
    Some(match path {
        "id" => "id",
        "username" => "userPrincipalName",
        "externalid" => "onPremisesImmutableId",
        "displayname" => "displayName",
        "active" => "accountEnabled",
        "name.givenname" => "givenName",
        "name.familyname" => "surname",
        "title" => "jobTitle",
        "preferredlanguage" => "preferredLanguage",
        "meta.created" => "createdDateTime",
        "emails[type eq \"work\"].value" | "emails.value" => "mail",
        "phonenumbers[type eq \"mobile\"].value" => "mobilePhone",
        "addresses[type eq \"work\"].streetaddress" => "streetAddress",
        "addresses[type eq \"work\"].locality" => "city",
        "addresses[type eq \"work\"].region" => "state",
        "addresses[type eq \"work\"].postalcode" => "postalCode",
        "addresses[type eq \"work\"].country" => "country",
        _ => return None,
    })
}

/// Internal user key of the `userName` SCIM gave, shown back while it still names the user.
pub const SCIM_USER_NAME: &str = "_scimUserName";

/// Paths a client may send that the directory keeps nothing of (accepted and left alone).
const IGNORED: &[&str] = &["name.formatted", "roles", "meta", "schemas", "nickname", "usertype"];

/// The work phone, which the directory keeps as the first of `businessPhones`.
const WORK_PHONE: &str = "phonenumbers[type eq \"work\"].value";

/// A user as SCIM shows it; `base` is the public base URL (for `meta.location`).
pub fn to_scim(record: &ObjectRecord, base: &str) -> Map<String, Value> {
    let text = |name: &str| record.doc.get(name).and_then(Value::as_str).map(str::to_owned);
    let mut user = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "id": record.id,
        "userName": user_name(record),
        "active": record.doc.get("accountEnabled").and_then(Value::as_bool).unwrap_or(false),
        "displayName": text("displayName"),
        "meta": {
            "resourceType": "User",
            "created": format_time(record.created_at),
            "location": format!("{base}/scim/v2/Users/{}", record.id),
            "version": format!("W/\"{}\"", record.version),
        },
    });
    let Value::Object(map) = &mut user else { return Map::new() };
    let name: Map<String, Value> = [("givenName", "givenName"), ("familyName", "surname")]
        .into_iter()
        .filter_map(|(attribute, property)| text(property).map(|v| (attribute.to_owned(), json!(v))))
        .collect();
    if !name.is_empty() {
        map.insert("name".into(), Value::Object(name));
    }
    for (attribute, property) in
        [("externalId", "onPremisesImmutableId"), ("title", "jobTitle"), ("preferredLanguage", "preferredLanguage")]
    {
        if let Some(value) = text(property) {
            map.insert(attribute.into(), json!(value));
        }
    }
    if let Some(mail) = text("mail") {
        map.insert("emails".into(), json!([{"value": mail, "type": "work"}]));
    }
    let work =
        record.doc.get("businessPhones").and_then(Value::as_array).and_then(|p| p.first()).and_then(Value::as_str);
    let phones: Vec<Value> = [(work.map(str::to_owned), "work"), (text("mobilePhone"), "mobile")]
        .into_iter()
        .filter_map(|(number, kind)| number.map(|n| json!({"value": n, "type": kind})))
        .collect();
    if !phones.is_empty() {
        map.insert("phoneNumbers".into(), Value::Array(phones));
    }
    let address: Map<String, Value> = [
        ("streetAddress", "streetAddress"),
        ("locality", "city"),
        ("region", "state"),
        ("postalCode", "postalCode"),
        ("country", "country"),
    ]
    .into_iter()
    .filter_map(|(attribute, property)| text(property).map(|v| (attribute.to_owned(), json!(v))))
    .collect();
    if !address.is_empty() {
        let mut address = address;
        address.insert("type".into(), json!("work"));
        map.insert("addresses".into(), json!([address]));
    }
    let enterprise: Map<String, Value> = [("department", "department"), ("organization", "companyName")]
        .into_iter()
        .filter_map(|(attribute, property)| text(property).map(|v| (attribute.to_owned(), json!(v))))
        .collect();
    if !enterprise.is_empty() {
        map.insert(ENTERPRISE_SCHEMA.into(), Value::Object(enterprise));
    }
    map.clone()
}

/// The user's `userName`: the one SCIM gave while the user's principal name is still that name (with the
/// domain it took), else the principal name.
fn user_name(record: &ObjectRecord) -> Option<String> {
    let upn = record.doc.get("userPrincipalName").and_then(Value::as_str)?;
    let given = record.doc.get(SCIM_USER_NAME).and_then(Value::as_str);
    let still = given.filter(|name| {
        let (name, upn) = (name.to_lowercase(), upn.to_lowercase());
        upn == name || upn.strip_prefix(&name).is_some_and(|rest| rest.starts_with('@'))
    });
    Some(still.unwrap_or(upn).to_owned())
}

pub(super) fn invalid_value(message: impl Into<String>) -> Error {
    Error::invalid_property("invalidValue", message)
}

pub(super) fn invalid_path(path: &str, resource: &str) -> Error {
    Error::invalid_property("invalidPath", format!("'{path}' is not an attribute of a {resource} here."))
}

/// A SCIM boolean: `true`/`false`, or the strings `"True"`/`"False"` Entra sends.
fn boolean(value: &Value) -> Result<Value> {
    match value {
        Value::Bool(b) => Ok(json!(b)),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(json!(true)),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(json!(false)),
        _ => Err(invalid_value("active is true or false.")),
    }
}

/// A user principal name from a `userName`: as it is with a domain, else with the tenant's default one.
pub fn principal_name(user_name: &str, default_domain: &str) -> String {
    match user_name.contains('@') {
        true => user_name.to_owned(),
        false => format!("{user_name}@{default_domain}"),
    }
}

/// The mail nickname a `userName` gives: its local part, kept to the characters a nickname allows.
fn nickname(user_name: &str) -> String {
    let local = user_name.split('@').next().unwrap_or_default();
    let kept: String = local.chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).collect();
    if kept.is_empty() {
        "user".to_owned()
    } else {
        kept
    }
}

/// The directory changes one attribute path and value make (`None`: the value removes).
fn set(changes: &mut Map<String, Value>, path: &str, value: Option<&Value>, default_domain: &str) -> Result<()> {
    let lower = path.to_ascii_lowercase();
    if IGNORED.contains(&lower.as_str()) {
        return Ok(());
    }
    let value = value.filter(|v| !v.is_null());
    if lower == "password" {
        let password = value.and_then(Value::as_str).ok_or_else(|| invalid_value("password is a string."))?;
        changes.insert("passwordProfile".into(), json!({"password": password, "forceChangePasswordNextSignIn": false}));
        return Ok(());
    }
    if lower == WORK_PHONE {
        let phones = value.map(|v| json!([v])).unwrap_or_else(|| json!([]));
        changes.insert("businessPhones".into(), phones);
        return Ok(());
    }
    match lower.as_str() {
        "name" | "emails" | "phonenumbers" | "addresses" | ENTERPRISE_LOWER => {
            return set_complex(changes, &lower, value, default_domain)
        }
        _ => {}
    }
    let property = attribute(&lower).filter(|p| *p != "id").ok_or_else(|| invalid_path(path, "User"))?;
    let value = match (property, value) {
        ("accountEnabled", Some(v)) => boolean(v)?,
        ("accountEnabled", None) => return Err(invalid_value("active cannot be removed.")),
        ("userPrincipalName", Some(Value::String(name))) => {
            changes.insert("mailNickname".into(), json!(nickname(name)));
            changes.insert(SCIM_USER_NAME.into(), json!(name));
            json!(principal_name(name, default_domain))
        }
        ("userPrincipalName", _) => return Err(invalid_value("userName is a string and cannot be removed.")),
        (_, Some(Value::String(s))) => json!(s),
        (_, Some(_)) => return Err(invalid_value(format!("{path} is a string."))),
        (_, None) => Value::Null,
    };
    changes.insert(property.to_owned(), value);
    Ok(())
}

const ENTERPRISE_LOWER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user";

/// A complex attribute set whole: `name`, `emails`, `phoneNumbers`, `addresses` or the enterprise
/// extension's object.
fn set_complex(changes: &mut Map<String, Value>, lower: &str, value: Option<&Value>, domain: &str) -> Result<()> {
    let items = |value: Option<&Value>| -> Vec<Value> { value.and_then(Value::as_array).cloned().unwrap_or_default() };
    // The item of that type; for the work one, else an item of no type (and an email: else the primary
    // or first, the one address the directory keeps).
    let typed = |items: &[Value], kind: &str, any: bool| -> Option<Value> {
        let kind_of = |i: &&Value| i.get("type").and_then(Value::as_str).map(str::to_owned);
        let of_kind = items.iter().find(|i| kind_of(i).as_deref() == Some(kind));
        let untyped = items.iter().find(|i| kind_of(i).is_none()).filter(|_| kind == "work");
        let primary = items.iter().find(|i| i.get("primary") == Some(&json!(true))).filter(|_| any);
        let first = items.first().filter(|_| any);
        of_kind.or(untyped).or(primary).or(first).and_then(|i| i.get("value")).cloned()
    };
    match lower {
        "name" => {
            for (attribute, path) in [("givenName", "name.givenname"), ("familyName", "name.familyname")] {
                set(changes, path, value.and_then(|v| v.get(attribute)), domain)?;
            }
        }
        "emails" => {
            set(changes, "emails[type eq \"work\"].value", typed(&items(value), "work", true).as_ref(), domain)?
        }
        "phonenumbers" => {
            let phones = items(value);
            set(changes, WORK_PHONE, typed(&phones, "work", false).as_ref(), domain)?;
            set(changes, "phonenumbers[type eq \"mobile\"].value", typed(&phones, "mobile", false).as_ref(), domain)?;
        }
        "addresses" => {
            let addresses = items(value);
            let work = addresses.iter().find(|a| a.get("type").and_then(Value::as_str) == Some("work"));
            let work = work.or(addresses.first());
            for field in ["streetAddress", "locality", "region", "postalCode", "country"] {
                let path = format!("addresses[type eq \"work\"].{}", field.to_ascii_lowercase());
                set(changes, &path, work.and_then(|a| a.get(field)), domain)?;
            }
        }
        _ => {
            for field in ["department", "organization"] {
                set(changes, &format!("{ENTERPRISE_LOWER}:{field}"), value.and_then(|v| v.get(field)), domain)?;
            }
        }
    }
    Ok(())
}

/// Changes split into what a body sets (the directory's properties) and the internal values kept beside
/// them (names that begin with `_`).
pub fn split_kept(mut changes: Map<String, Value>) -> (Map<String, Value>, Map<String, Value>) {
    let kept: Map<String, Value> =
        changes.iter().filter(|(name, _)| name.starts_with('_')).map(|(k, v)| (k.clone(), v.clone())).collect();
    changes.retain(|name, _| !name.starts_with('_'));
    (changes, kept)
}

/// The directory changes a whole SCIM user makes (`POST` and `PUT`): every attribute it maps, those it
/// leaves out cleared; `userName` required.
pub fn changes_of(body: &Map<String, Value>, default_domain: &str) -> Result<Map<String, Value>> {
    let user_name = body.get("userName").and_then(Value::as_str).filter(|n| !n.trim().is_empty());
    let user_name = user_name.ok_or_else(|| invalid_value("userName is required."))?;
    let mut changes = Map::new();
    set(&mut changes, "userName", Some(&json!(user_name)), default_domain)?;
    for attribute in ["externalId", "title", "preferredLanguage", "displayName"] {
        set(&mut changes, attribute, body.get(attribute), default_domain)?;
    }
    if let Some(password) = body.get("password") {
        set(&mut changes, "password", Some(password), default_domain)?;
    }
    for complex in ["name", "emails", "phoneNumbers", "addresses", ENTERPRISE_SCHEMA] {
        set(&mut changes, complex, body.get(complex), default_domain)?;
    }
    set(&mut changes, "active", Some(body.get("active").unwrap_or(&json!(true))), default_domain)?;
    if changes.get("displayName").is_none_or(Value::is_null) {
        let given = [changes.get("givenName"), changes.get("surname")];
        let joined: Vec<&str> = given.iter().filter_map(|v| v.and_then(Value::as_str)).collect();
        let shown = if joined.is_empty() { user_name.to_owned() } else { joined.join(" ") };
        changes.insert("displayName".into(), json!(shown));
    }
    Ok(changes)
}

/// The directory changes of a SCIM `PATCH` (its operations as [`super::operations`] reads them).
pub fn patch_changes(body: &Map<String, Value>, default_domain: &str) -> Result<Map<String, Value>> {
    let mut changes = Map::new();
    super::operations(body, &mut |op, path, value| match op {
        "remove" => set(&mut changes, path, None, default_domain),
        _ => set(&mut changes, path, value, default_domain),
    })?;
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entras_user_maps_onto_the_directory() {
        let body = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee",
            "active": true,
            "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": [],
            ENTERPRISE_SCHEMA: {"department": "Sales"},
        });
        let changes = changes_of(body.as_object().unwrap(), "contoso.test").unwrap();
        assert_eq!(changes["userPrincipalName"], "Test_User_ab6490ee@contoso.test");
        assert_eq!(changes["mailNickname"], "Test_User_ab6490ee");
        assert_eq!(changes["mail"], "Test_User_fd0ea19b@testuser.com");
        assert_eq!(changes["onPremisesImmutableId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
        assert_eq!(changes["displayName"], "givenName familyName");
        assert_eq!(changes["department"], "Sales");
        assert_eq!(changes["accountEnabled"], true);
        assert_eq!(changes["jobTitle"], Value::Null, "what a whole user leaves out is cleared");
    }

    #[test]
    fn patches_read_as_entra_sends_them() {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "value": {"title": "Engineer", "name.givenName": "Ann"}},
            {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},
        ]});
        let changes = patch_changes(body.as_object().unwrap(), "contoso.test").unwrap();
        assert_eq!(changes["mail"], "updatedEmail@microsoft.com");
        assert_eq!(changes["surname"], "updatedFamilyName");
        assert_eq!(changes["accountEnabled"], false);
        assert_eq!((changes["jobTitle"].as_str(), changes["givenName"].as_str()), (Some("Engineer"), Some("Ann")));
        assert_eq!(changes["department"], Value::Null);
        for bad in [
            json!({"Operations": [{"op": "Replace", "path": "nickName2", "value": "x"}]}),
            json!({"Operations": [{"op": "remove"}]}),
            json!({"Operations": [{"op": "move", "path": "title", "value": "x"}]}),
            json!({"Operations": [{"op": "replace", "path": "active", "value": "maybe"}]}),
            json!({"Operations": []}),
        ] {
            assert!(patch_changes(bad.as_object().unwrap(), "contoso.test").is_err(), "{bad}");
        }
    }
}
