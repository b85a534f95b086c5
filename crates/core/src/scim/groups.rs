//! SCIM's Group (RFC 7643 §4.2) mapped onto the directory's groups, both ways: a SCIM group is a security
//! group (`displayName`; `mailNickname` from it), its `externalId` kept beside it as the source system's
//! anchor, its `members` the group's direct members (users and groups, by object id).
//!
//! Member edits read as SCIM says and as Entra and other clients send them: `add` of `members` with a list
//! of `{"value": id}`, `remove` with such a list or with a value filter `members[value eq "id"]`, `remove`
//! of `members` without a value (every member), `replace` (the members become the list), and an object
//! without a path that carries `members` (also wrapped as `{"members": [...]}`).

use super::users::{invalid_path, invalid_value};
use crate::kernel::error::{Error, Result};
use crate::schema::format_time;
use crate::store::{ObjectKind, ObjectRecord};
use serde_json::{json, Map, Value};

pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Internal group key of the `externalId` SCIM gave.
pub const SCIM_EXTERNAL_ID: &str = "_scimExternalId";

/// The directory property behind a SCIM group attribute path (lower-cased), for filters and sorting.
pub fn attribute(path: &str) -> Option<&'static str> {
    let path = path.strip_prefix("urn:ietf:params:scim:schemas:core:2.0:group:").unwrap_or(path);
    match path {
        "id" => Some("id"),
        "displayname" => Some("displayName"),
        "meta.created" => Some("createdDateTime"),
        _ => None,
    }
}

/// A member as SCIM shows it: its id and kind (the `display` sub-attribute is left out, as a client that
/// compares what it sent with what it reads back expects).
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub kind: ObjectKind,
}

impl Member {
    pub fn of(record: &ObjectRecord) -> Member {
        Member { id: record.id.to_string(), kind: record.kind }
    }
}

/// A group as SCIM shows it, with its members when they were read; `base` is the public base URL.
pub fn to_scim(record: &ObjectRecord, members: Option<&[Member]>, base: &str) -> Map<String, Value> {
    let mut group = Map::new();
    group.insert("schemas".into(), json!([GROUP_SCHEMA]));
    group.insert("id".into(), json!(record.id));
    if let Some(external) = record.doc.get(SCIM_EXTERNAL_ID).filter(|v| v.is_string()) {
        group.insert("externalId".into(), external.clone());
    }
    group.insert("displayName".into(), record.doc.get("displayName").cloned().unwrap_or(Value::Null));
    if let Some(members) = members {
        let shown = members.iter().map(|member| {
            let (kind, endpoint) = match member.kind {
                ObjectKind::Group => ("Group", "Groups"),
                _ => ("User", "Users"),
            };
            json!({"value": member.id, "type": kind, "$ref": format!("{base}/scim/v2/{endpoint}/{}", member.id)})
        });
        group.insert("members".into(), Value::Array(shown.collect()));
    }
    group.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": format_time(record.created_at),
            "location": format!("{base}/scim/v2/Groups/{}", record.id),
            "version": format!("W/\"{}\"", record.version),
        }),
    );
    group
}

/// What a SCIM write asks of a group: property changes, internal values kept beside them, and member edits
/// (object ids); `replace_members`: the members not added are all removed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct GroupChanges {
    pub changes: Map<String, Value>,
    pub kept: Map<String, Value>,
    pub add: Vec<String>,
    pub remove: Vec<String>,
    pub replace_members: bool,
}

/// The ids of a `members` value: a list of `{"value": id}`, one such object, or `{"members": [...]}`.
fn member_ids(value: &Value) -> Result<Vec<String>> {
    let items = match value {
        Value::Array(items) => items.clone(),
        Value::Object(map) => match map.get("members") {
            Some(Value::Array(items)) => items.clone(),
            _ => vec![value.clone()],
        },
        Value::Null => Vec::new(),
        _ => return Err(invalid_value("members is a list of {\"value\": id}.")),
    };
    items
        .iter()
        .map(|item| {
            let id = item.get("value").and_then(Value::as_str);
            let id = id.and_then(|id| uuid::Uuid::parse_str(id).ok());
            id.map(|id| id.to_string()).ok_or_else(|| invalid_value("A member's value is the id of a user or group."))
        })
        .collect()
}

/// The mail nickname a display name gives: its characters a nickname allows.
fn nickname(display_name: &str) -> String {
    let kept: String =
        display_name.chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).take(64).collect();
    match kept.is_empty() {
        true => "group".to_owned(),
        false => kept,
    }
}

impl GroupChanges {
    /// One attribute set (`add` and `replace`) or removed (`value` `None`).
    fn set(&mut self, path: &str, value: Option<&Value>, op: &str) -> Result<()> {
        let lower = path.to_ascii_lowercase();
        let lower = lower.strip_prefix("urn:ietf:params:scim:schemas:core:2.0:group:").unwrap_or(&lower);
        let value = value.filter(|v| !v.is_null());
        match lower {
            "displayname" => match value {
                Some(Value::String(name)) if !name.trim().is_empty() => {
                    self.changes.insert("displayName".into(), json!(name));
                }
                _ => return Err(invalid_value("displayName is a string and cannot be removed.")),
            },
            "externalid" => match value {
                Some(Value::String(id)) => {
                    self.kept.insert(SCIM_EXTERNAL_ID.into(), json!(id));
                }
                None => {
                    self.kept.insert(SCIM_EXTERNAL_ID.into(), Value::Null);
                }
                Some(_) => return Err(invalid_value("externalId is a string.")),
            },
            "members" => {
                let ids = value.map(member_ids).transpose()?.unwrap_or_default();
                match op {
                    "add" => self.add.extend(ids),
                    "remove" if value.is_none() => {
                        self.replace_members = true;
                        self.add.clear();
                    }
                    "remove" => self.remove.extend(ids),
                    _ => {
                        self.replace_members = true;
                        self.add = ids;
                    }
                }
            }
            "schemas" | "meta" | "id" => {}
            _ => return Err(invalid_path(path, "Group")),
        }
        Ok(())
    }
}

/// What a whole SCIM group (`POST` and `PUT`) asks: its name, `externalId` (cleared when left out) and
/// members (the list, whole).
pub fn changes_of(body: &Map<String, Value>) -> Result<GroupChanges> {
    let mut out = GroupChanges::default();
    out.set("displayName", body.get("displayName"), "replace")?;
    out.set("externalId", body.get("externalId"), "replace")?;
    out.set("members", Some(body.get("members").unwrap_or(&json!([]))), "replace")?;
    Ok(out)
}

/// The body of a new security group named `display_name`.
pub fn new_group(changes: &Map<String, Value>) -> Map<String, Value> {
    let name = changes.get("displayName").and_then(Value::as_str).unwrap_or_default();
    let mut body = changes.clone();
    body.insert("mailEnabled".into(), json!(false));
    body.insert("securityEnabled".into(), json!(true));
    body.insert("mailNickname".into(), json!(nickname(name)));
    body
}

/// What a SCIM `PATCH` of a group asks (RFC 7644 §3.5.2), its operations in any case.
pub fn patch_changes(body: &Map<String, Value>) -> Result<GroupChanges> {
    let mut out = GroupChanges::default();
    super::operations(body, &mut |op, path, value| match (op, member_filter(path)?) {
        ("remove", Some(id)) => {
            out.remove.push(id);
            Ok(())
        }
        _ => out.set(path, value, op),
    })?;
    Ok(out)
}

/// The member a value-filtered path names: `members[value eq "id"]`.
fn member_filter(path: &str) -> Result<Option<String>> {
    let lower = path.to_ascii_lowercase();
    let Some(inner) = lower.strip_prefix("members[").and_then(|rest| rest.strip_suffix(']')) else {
        return Ok(None);
    };
    let mut words = inner.split_whitespace();
    let (attribute, op, value) = (words.next(), words.next(), words.next());
    match (attribute, op, value.map(|v| v.trim_matches('"')), words.next()) {
        (Some("value"), Some("eq"), Some(id), None) => match uuid::Uuid::parse_str(id) {
            Ok(id) => Ok(Some(id.to_string())),
            Err(_) => Err(invalid_value("A member's value is the id of a user or group.")),
        },
        _ => Err(Error::invalid_property(
            "invalidFilter",
            format!("'{path}' names members as members[value eq \"id\"]."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANN: &str = "6f1e9a3c-0b5d-4a8e-9c2f-1d3e5a7b9c0d";
    const BOB: &str = "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef";

    #[test]
    fn entras_group_requests_read_as_member_edits() {
        let patch = |operations: Value| patch_changes(json!({"Operations": operations}).as_object().unwrap());
        let added = patch(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": ANN}]}])).unwrap();
        assert_eq!((added.add, added.replace_members), (vec![ANN.to_owned()], false));
        let removed = patch(json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": BOB}]}]));
        assert_eq!(removed.unwrap().remove, vec![BOB.to_owned()]);
        let filtered = patch(json!([{"op": "remove", "path": format!("members[value eq \"{ANN}\"]")}])).unwrap();
        assert_eq!(filtered.remove, vec![ANN.to_owned()]);
        let all = patch(json!([{"op": "remove", "path": "members"}])).unwrap();
        assert!(all.replace_members && all.add.is_empty());
        let renamed = patch(json!([{"op": "Replace", "path": "displayName", "value": "Sales EMEA"}])).unwrap();
        assert_eq!(renamed.changes["displayName"], "Sales EMEA");
        let wrapped = patch(json!([{"op": "add", "path": "members", "value": {"members": [{"value": ANN}]}}])).unwrap();
        assert_eq!(wrapped.add, vec![ANN.to_owned()]);
        let whole =
            patch(json!([{"op": "replace", "value": {"displayName": "X", "members": [{"value": BOB}]}}])).unwrap();
        assert_eq!((whole.add, whole.replace_members), (vec![BOB.to_owned()], true));
        for bad in [
            json!([{"op": "add", "path": "members", "value": [{"value": "not-an-id"}]}]),
            json!([{"op": "remove", "path": "members[display eq \"Ann\"]"}]),
            json!([{"op": "replace", "path": "displayName", "value": ""}]),
            json!([{"op": "replace", "path": "owners", "value": []}]),
            json!([{"op": "remove"}]),
        ] {
            assert!(patch(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_whole_group_names_its_members() {
        let body = json!({"schemas": [GROUP_SCHEMA], "externalId": "hr-42", "displayName": "Sales (EMEA)", "members": [{"value": ANN}]});
        let changes = changes_of(body.as_object().unwrap()).unwrap();
        assert_eq!(changes.kept[SCIM_EXTERNAL_ID], "hr-42");
        assert_eq!((changes.add, changes.replace_members), (vec![ANN.to_owned()], true));
        let group = new_group(&changes.changes);
        assert_eq!(
            (group["mailNickname"].as_str(), group["securityEnabled"].as_bool()),
            (Some("SalesEMEA"), Some(true))
        );
    }
}
