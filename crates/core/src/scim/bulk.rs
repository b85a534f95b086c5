//! SCIM's `/Bulk` (RFC 7644 §3.7): many operations in one request, each run in order through the same
//! service calls as a single request (each its own transaction, as the RFC has it), a `bulkId` naming a
//! resource an earlier operation created (`"bulkId:qwerty"` in a later operation's data or path), and
//! `failOnErrors` stopping the run after that many errors. Consecutive creates of users are written
//! together, each with its own outcome ([`crate::users::Users::create_many`]), unless `failOnErrors`
//! asks for operations one at a time.

use super::{Edit, Kind, Scim};
use crate::kernel::error::{Error, Result};
use crate::Caller;
use serde_json::{Map, Value};
use std::collections::HashMap;

pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// Operations one request may carry.
pub const MOST_OPERATIONS: usize = 1_000;

/// What one operation did: its method, `bulkId` and path, and its resource or its error.
#[derive(Debug)]
pub struct Done {
    pub method: String,
    pub bulk_id: Option<String>,
    pub outcome: std::result::Result<Outcome, Error>,
}

/// A successful operation: the status it answers with and, but for a delete, the resource.
#[derive(Debug)]
pub struct Outcome {
    pub status: u16,
    pub resource: Option<Map<String, Value>>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid_property("invalidValue", message)
}

/// A value with every `"bulkId:…"` string replaced by the id it names.
fn resolved(value: &Value, created: &HashMap<String, String>) -> Result<Value> {
    Ok(match value {
        Value::String(text) => match text.strip_prefix("bulkId:") {
            Some(bulk_id) => Value::String(created.get(bulk_id).cloned().ok_or_else(|| {
                invalid(format!("bulkId '{bulk_id}' names no resource an earlier operation created."))
            })?),
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(|v| resolved(v, created)).collect::<Result<_>>()?),
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), resolved(v, created)?))).collect::<Result<Map<String, Value>>>()?,
        ),
        other => other.clone(),
    })
}

/// An operation's method, upper-cased.
fn method_of(operation: &Value) -> String {
    operation.get("method").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase()
}

/// Whether an operation creates a user from data that names no other operation's resource.
fn plain_user_create(operation: &Value) -> bool {
    method_of(operation) == "POST"
        && operation["path"].as_str().is_some_and(|p| p.trim_end_matches('/') == "/Users")
        && operation["data"].is_object()
        && !operation["data"].to_string().contains("bulkId:")
}

/// The resource type and id an operation's path names: `/Users`, `/Groups/{id}`.
fn target(path: &str) -> Result<(Kind, Option<&str>)> {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let kind = match parts.next() {
        Some("Users") => Kind::User,
        Some("Groups") => Kind::Group,
        _ => return Err(invalid(format!("'{path}' is not a path of /Users or /Groups."))),
    };
    Ok((kind, parts.next().filter(|id| !id.is_empty())))
}

impl Scim<'_> {
    /// `POST /Bulk`: the operations run in order until `failOnErrors` errors have happened.
    pub async fn bulk(&self, caller: &Caller, body: &Map<String, Value>) -> Result<Vec<Done>> {
        let operations = body.get("Operations").and_then(Value::as_array);
        let operations = operations.ok_or_else(|| invalid("Operations lists the operations."))?;
        if operations.len() > MOST_OPERATIONS {
            return Err(Error::invalid_property(
                "tooMany",
                format!("A bulk request carries at most {MOST_OPERATIONS} operations."),
            ));
        }
        let most_errors = match body.get("failOnErrors") {
            None | Some(Value::Null) => usize::MAX,
            Some(value) => value
                .as_u64()
                .filter(|n| *n > 0)
                .map(|n| n as usize)
                .ok_or_else(|| invalid("failOnErrors is a whole number above zero."))?,
        };
        let (mut done, mut created, mut errors) = (Vec::new(), HashMap::new(), 0);
        let mut at = 0;
        while at < operations.len() && errors < most_errors {
            // Consecutive creates of users that name no bulkId are written together when no error limit
            // asks for them one at a time.
            let run = match most_errors {
                usize::MAX => operations[at..].iter().take_while(|o| plain_user_create(o)).count(),
                _ => 0,
            };
            let outcomes: Vec<std::result::Result<Outcome, Error>> = match run {
                0 | 1 => {
                    let method = method_of(&operations[at]);
                    vec![self.operation(caller, &operations[at], &method, &created).await]
                }
                _ => {
                    let bodies: Vec<Map<String, Value>> =
                        operations[at..at + run].iter().filter_map(|o| o["data"].as_object().cloned()).collect();
                    let made = self.create_users(caller, &bodies).await?;
                    made.into_iter()
                        .map(|r| r.map(|resource| Outcome { status: 201, resource: Some(resource) }))
                        .collect()
                }
            };
            for (operation, outcome) in operations[at..].iter().zip(outcomes) {
                let (method, bulk_id) = (method_of(operation), operation["bulkId"].as_str().map(str::to_owned));
                if let (Ok(Outcome { resource: Some(resource), .. }), Some(bulk_id)) = (&outcome, &bulk_id) {
                    if method == "POST" {
                        let id = resource.get("id").and_then(Value::as_str).unwrap_or_default();
                        created.insert(bulk_id.clone(), id.to_owned());
                    }
                }
                errors += usize::from(outcome.is_err());
                done.push(Done { method, bulk_id, outcome });
                at += 1;
            }
        }
        Ok(done)
    }

    async fn operation(
        &self,
        caller: &Caller,
        operation: &Value,
        method: &str,
        created: &HashMap<String, String>,
    ) -> std::result::Result<Outcome, Error> {
        let path =
            operation.get("path").and_then(Value::as_str).ok_or_else(|| invalid("An operation names its path."))?;
        let (kind, id) = target(path)?;
        let id = id.map(|id| resolved(&Value::String(id.to_owned()), created)).transpose()?;
        let id = id.as_ref().and_then(Value::as_str);
        let data = || -> Result<Map<String, Value>> {
            let data = operation.get("data").ok_or_else(|| invalid("The operation carries its data."))?;
            match resolved(data, created)? {
                Value::Object(map) => Ok(map),
                _ => Err(invalid("An operation's data is a JSON object.")),
            }
        };
        let version = operation.get("version").and_then(Value::as_str).and_then(super::version_of);
        let ok = |status: u16, resource: Option<Map<String, Value>>| Ok(Outcome { status, resource });
        match (method, id) {
            ("POST", None) => ok(201, Some(self.create(caller, kind, &data()?).await?)),
            ("PUT", Some(id)) => ok(200, Some(self.change(caller, kind, id, &data()?, Edit::Replace, version).await?)),
            ("PATCH", Some(id)) => ok(200, Some(self.change(caller, kind, id, &data()?, Edit::Patch, version).await?)),
            ("DELETE", Some(id)) => {
                self.delete(caller, kind, id, version).await?;
                ok(204, None)
            }
            _ => Err(invalid(format!(
                "'{method} {path}' is not an operation: POST to a type, PUT, PATCH or DELETE to a resource."
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bulk_ids_resolve_to_the_resources_created() {
        let created = HashMap::from([("qwerty".to_owned(), "6f1e9a3c-0b5d-4a8e-9c2f-1d3e5a7b9c0d".to_owned())]);
        let data = json!({"displayName": "Tour Guides", "members": [{"type": "User", "value": "bulkId:qwerty"}]});
        let out = resolved(&data, &created).unwrap();
        assert_eq!(out["members"][0]["value"], "6f1e9a3c-0b5d-4a8e-9c2f-1d3e5a7b9c0d");
        assert!(resolved(&json!(["bulkId:ytrewq"]), &created).is_err());
        assert_eq!(target("/Groups/abc").unwrap(), (Kind::Group, Some("abc")));
        assert_eq!(target("/Users").unwrap(), (Kind::User, None));
        assert!(target("/Devices").is_err());
    }
}
