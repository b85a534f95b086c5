//! Attribute mappings for provisioning into a SCIM app — Entra's defaults (its "customappsso" template) or
//! an administrator's, as expressions: what a directory user or group becomes in the other system, as attribute paths and values — compared path
//! by path with what was sent last, sent whole on a create, and as `Replace` operations on an update.

use super::expression::{evaluate, parse, Expression};
use crate::kernel::error::{Error, Result};
use crate::scim::groups::GROUP_SCHEMA;
use crate::scim::users::{ENTERPRISE_SCHEMA, USER_SCHEMA};
use crate::store::ObjectRecord;
use serde_json::{json, Map, Value};

/// A resource as paths and values (`name.givenName`, `emails[type eq "work"].value`, an extension's
/// attribute by its URN), in the mapping's order.
pub type Attributes = Vec<(String, Value)>;

/// One attribute mapping of users: the app's attribute (a SCIM path), the expression that gives its value
/// ([`expression`](super::expression)), and its matching priority (1: creates match existing resources by
/// it; 0: not a matching attribute).
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeMapping {
    pub target: String,
    pub source: String,
    pub expression: Expression,
    pub matching: u32,
}

impl AttributeMapping {
    /// A mapping, its target and expression checked.
    pub fn new(target: &str, source: &str, matching: u32) -> Result<AttributeMapping> {
        check_target(target)?;
        Ok(AttributeMapping {
            target: target.to_owned(),
            source: source.to_owned(),
            expression: parse(source)?,
            matching,
        })
    }
}

/// Entra's default mappings of users for a SCIM app (the "customappsso" template), with the user's
/// `userName` the matching attribute.
pub const DEFAULT_USER_MAPPINGS: &[(&str, &str, u32)] = &[
    ("userName", "[userPrincipalName]", 1),
    ("active", "Switch([IsSoftDeleted], , \"False\", \"True\", \"True\", \"False\")", 0),
    ("displayName", "[displayName]", 0),
    ("title", "[jobTitle]", 0),
    ("emails[type eq \"work\"].value", "[mail]", 0),
    ("preferredLanguage", "[preferredLanguage]", 0),
    ("name.givenName", "[givenName]", 0),
    ("name.familyName", "[surname]", 0),
    ("name.formatted", "Join(\" \", [givenName], [surname])", 0),
    ("addresses[type eq \"work\"].streetAddress", "[streetAddress]", 0),
    ("addresses[type eq \"work\"].locality", "[city]", 0),
    ("addresses[type eq \"work\"].postalCode", "[postalCode]", 0),
    ("addresses[type eq \"work\"].country", "[country]", 0),
    ("phoneNumbers[type eq \"work\"].value", "[telephoneNumber]", 0),
    ("phoneNumbers[type eq \"mobile\"].value", "[mobile]", 0),
    ("externalId", "[mailNickname]", 0),
    ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "[department]", 0),
    ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "[employeeId]", 0),
];

/// Entra's default mappings, parsed.
pub fn default_user_mappings() -> Vec<AttributeMapping> {
    DEFAULT_USER_MAPPINGS
        .iter()
        .filter_map(|(target, source, matching)| AttributeMapping::new(target, source, *matching).ok())
        .collect()
}

/// Refuses a target that is not a SCIM user path values can be sent to: a name, a sub-attribute
/// (`name.givenName`), a typed item's sub-attribute (`emails[type eq "work"].value`), or an enterprise
/// attribute by its URN.
fn check_target(target: &str) -> Result<()> {
    let name = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_alphanumeric())
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
    };
    let plain = |s: &str| match s.split_once('.') {
        Some((parent, child)) => name(parent) && name(child),
        None => name(s),
    };
    let typed = || -> bool {
        let Some((attribute, rest)) = target.split_once("[type eq \"") else { return false };
        let Some((kind, field)) = rest.split_once("\"].") else { return false };
        name(attribute) && name(kind) && name(field)
    };
    let enterprise = target.strip_prefix(&format!("{ENTERPRISE_SCHEMA}:")).is_some_and(name);
    match plain(target) || typed() || enterprise {
        true => Ok(()),
        false => Err(Error::invalid_property(
            "targetAttributeName",
            format!("'{target}' is not a SCIM attribute of a user."),
        )),
    }
}

/// The user's attributes by the mappings (`active` a boolean, the rest text); what has no value is left out.
pub fn user(record: &ObjectRecord, mappings: &[AttributeMapping]) -> Attributes {
    mappings
        .iter()
        .filter_map(|m| {
            let value = evaluate(&m.expression, record)?;
            Some(match m.target.as_str() {
                "active" => (m.target.clone(), json!(value.eq_ignore_ascii_case("true"))),
                _ => (m.target.clone(), json!(value)),
            })
        })
        .collect()
}

/// The group's attributes: `displayName`, and `externalId` ← its object id (Entra's default).
pub fn group(record: &ObjectRecord) -> Attributes {
    let name = record.doc.get("displayName").cloned().unwrap_or(Value::Null);
    vec![("displayName".into(), name), ("externalId".into(), json!(record.id.to_string()))]
}

/// A whole resource (for a create) from its attributes.
pub fn resource(attributes: &Attributes, group: bool) -> Value {
    let mut out = Map::new();
    let schemas = match group {
        true => json!([GROUP_SCHEMA]),
        false => json!([USER_SCHEMA, ENTERPRISE_SCHEMA]),
    };
    out.insert("schemas".into(), schemas);
    for (path, value) in attributes {
        set(&mut out, path, value.clone());
    }
    Value::Object(out)
}

/// Sets one path of a resource: a plain or dotted name, a multi-valued attribute's typed item
/// (`emails[type eq "work"].value`), or an extension's attribute.
fn set(out: &mut Map<String, Value>, path: &str, value: Value) {
    if let Some(name) = path.strip_prefix(&format!("{ENTERPRISE_SCHEMA}:")) {
        let extension = out.entry(ENTERPRISE_SCHEMA).or_insert_with(|| json!({}));
        if let Value::Object(extension) = extension {
            extension.insert(name.to_owned(), value);
        }
        return;
    }
    if let Some((attribute, rest)) = path.split_once("[type eq \"") {
        let (kind, field) = rest.split_once("\"].").unwrap_or((rest, "value"));
        let items = out.entry(attribute).or_insert_with(|| json!([]));
        let Value::Array(items) = items else { return };
        let at = match items.iter().position(|i| i["type"] == kind) {
            Some(at) => at,
            None => {
                items.push(json!({"type": kind}));
                items.len() - 1
            }
        };
        if let Value::Object(item) = &mut items[at] {
            item.insert(field.to_owned(), value);
        }
        return;
    }
    match path.split_once('.') {
        Some((parent, child)) => {
            if let Value::Object(parent) = out.entry(parent).or_insert_with(|| json!({})) {
                parent.insert(child.to_owned(), value);
            }
        }
        None => {
            out.insert(path.to_owned(), value);
        }
    }
}

/// The multi-valued attribute a path names an item of (`addresses[type eq "work"].locality`), if any.
fn multi_valued(path: &str) -> Option<&str> {
    path.split_once('[').map(|(attribute, _)| attribute)
}

/// The `PATCH` operations that take the resource from what was sent last (`before`) to `after`: a
/// `Replace` of each path whose value changed and a `Remove` of each path no longer set — a multi-valued
/// attribute replaced or removed whole when any of its items' values changed (a value-filtered path that
/// matches no item would be `noTarget`, RFC 7644 §3.5.2.3).
pub fn operations(before: &Map<String, Value>, after: &Attributes) -> Vec<Value> {
    let changed = |path: &str| -> bool {
        let now = after.iter().find(|(p, _)| p == path).map(|(_, v)| v);
        before.get(path) != now
    };
    let paths: Vec<&str> = after.iter().map(|(p, _)| p.as_str()).chain(before.keys().map(String::as_str)).collect();
    let mut operations = Vec::new();
    let mut done = std::collections::HashSet::new();
    for path in paths {
        if !changed(path) {
            continue;
        }
        match multi_valued(path) {
            Some(attribute) => {
                if !done.insert(attribute.to_owned()) {
                    continue;
                }
                let items: Attributes =
                    after.iter().filter(|(p, _)| multi_valued(p) == Some(attribute)).cloned().collect();
                let mut whole = Map::new();
                for (item, value) in &items {
                    set(&mut whole, item, value.clone());
                }
                operations.push(match whole.remove(attribute) {
                    Some(value) => json!({"op": "Replace", "path": attribute, "value": value}),
                    None => json!({"op": "Remove", "path": attribute}),
                });
            }
            None if !done.insert(path.to_owned()) => {}
            None => operations.push(match after.iter().find(|(p, _)| p == path) {
                Some((_, value)) => json!({"op": "Replace", "path": path, "value": value}),
                None => json!({"op": "Remove", "path": path}),
            }),
        }
    }
    operations
}

/// Attributes as they are remembered (a map of path to value).
pub fn remembered(attributes: &Attributes) -> Map<String, Value> {
    attributes.iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ObjectKind;

    #[test]
    fn a_user_maps_as_entra_maps_it_by_default() {
        let doc = json!({
            "userPrincipalName": "ann@contoso.test", "mailNickname": "ann", "displayName": "Ann Lee",
            "givenName": "Ann", "surname": "Lee", "accountEnabled": true, "mail": "ann@contoso.test",
            "department": "Sales", "city": "Oslo", "businessPhones": ["+47 1"],
        });
        let record = ObjectRecord::unsaved(ObjectKind::User, doc.as_object().unwrap().clone());
        let attributes = user(&record, &default_user_mappings());
        let whole = resource(&attributes, false);
        assert_eq!(whole["userName"], "ann@contoso.test");
        assert_eq!(whole["active"], true);
        assert_eq!(whole["name"], json!({"givenName": "Ann", "familyName": "Lee", "formatted": "Ann Lee"}));
        assert_eq!(whole["emails"], json!([{"type": "work", "value": "ann@contoso.test"}]));
        assert_eq!(whole["addresses"], json!([{"type": "work", "locality": "Oslo"}]));
        assert_eq!(whole[ENTERPRISE_SCHEMA]["department"], "Sales");
        let mut moved = record.clone();
        moved.doc.insert("department".into(), json!("Ops"));
        moved.doc.remove("city");
        let ops = operations(&remembered(&attributes), &user(&moved, &default_user_mappings()));
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert!(
            ops.contains(&json!({"op": "Replace", "path": format!("{ENTERPRISE_SCHEMA}:department"), "value": "Ops"}))
        );
        assert!(ops.contains(&json!({"op": "Remove", "path": "addresses"})), "{ops:?}");
        moved.doc.insert("city".into(), json!("Bergen"));
        moved.doc.insert("postalCode".into(), json!("5003"));
        let ops = operations(&remembered(&attributes), &user(&moved, &default_user_mappings()));
        let address = json!({"op": "Replace", "path": "addresses", "value": [{"type": "work", "locality": "Bergen", "postalCode": "5003"}]});
        assert!(ops.contains(&address), "{ops:?}");
    }
}
