//! The directory audit log (Graph's `directoryAudit`): the tenant's change log as Entra shows its audit log.
//! Every change record carries its initiator and note from the commit that made it
//! ([`crate::store::audit`]), so no write of any use case, adapter or processor escapes it; this service reads
//! the records and gives each the names of its initiator and targets as they stand now.

use crate::auth::authorization::{require, Action};
use crate::kernel::error::{Error, Result};
use crate::schema::format_time;
use crate::store::audit::{AuditQuery, AuditRecord, Initiator, Modified};
use crate::store::{Change, ObjectKind, ObjectRecord};
use crate::{Caller, Directory};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// The most records one read returns.
pub const MOST_RECORDS: u32 = 1000;

/// The directory audit log service.
pub struct DirectoryAudits<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The directory audit log service.
    pub fn directory_audits(&self) -> DirectoryAudits<'_> {
        DirectoryAudits { directory: self }
    }
}

/// A record of the audit log as Graph shows it, with its position for paging.
pub struct Audit {
    pub seq: i64,
    pub doc: Map<String, Value>,
}

/// The correlation id of a commit's records: one per commit (the sequence number of its first record) and
/// tenant.
fn correlation(tenant: Uuid, batch: i64) -> Uuid {
    Uuid::from_u64_pair(tenant.as_u64_pair().0, u64::try_from(batch).unwrap_or_default())
}

/// A property's name as Entra's audit log shows it: the directory's attribute name, capitalized.
fn display_name(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// A value as Entra's audit log shows it: JSON text, an attribute's values as a list.
fn shown(value: &Option<Value>, listed: bool) -> Value {
    match (value, listed) {
        (None, true) => json!("[]"),
        (None, false) => Value::Null,
        (Some(Value::Array(items)), true) => json!(Value::Array(items.clone()).to_string()),
        (Some(value), true) => json!(json!([value]).to_string()),
        (Some(value), false) => json!(value.to_string()),
    }
}

fn modified_properties(modified: &[Modified], listed: bool) -> Vec<Value> {
    let mut properties: Vec<Value> = modified
        .iter()
        .map(|m| {
            let name = if listed { display_name(&m.name) } else { m.name.clone() };
            json!({"displayName": name, "oldValue": shown(&m.old, listed), "newValue": shown(&m.new, listed)})
        })
        .collect();
    if listed && !modified.is_empty() {
        let names: Vec<String> = modified.iter().map(|m| display_name(&m.name)).collect();
        let included = json!(names.join(", ")).to_string();
        properties.push(json!({"displayName": "Included Updated Properties", "oldValue": null, "newValue": included}));
    }
    properties
}

/// The type Entra's audit log gives a kind of object.
fn target_type(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::User => "User",
        ObjectKind::Group => "Group",
        ObjectKind::Application => "Application",
        ObjectKind::ServicePrincipal => "ServicePrincipal",
        ObjectKind::Contact => "Contact",
        ObjectKind::Subscription => "Other",
    }
}

/// The objects the records name, by id, as they stand (deleted ones included; purged ones are gone).
type Names = HashMap<Uuid, ObjectRecord>;

fn object_target(names: &Names, id: Uuid, kind: ObjectKind, modified: Vec<Value>) -> Value {
    let object = names.get(&id);
    let text = |key: &str| object.and_then(|o| o.doc.get(key)).cloned().unwrap_or(Value::Null);
    let group_type = match kind {
        ObjectKind::Group => {
            let unified = text("groupTypes").as_array().is_some_and(|t| t.iter().any(|t| t == "Unified"));
            json!(if unified { "unifiedGroups" } else { "azureAD" })
        }
        _ => Value::Null,
    };
    json!({
        "id": id.to_string(),
        "displayName": text("displayName"),
        "type": target_type(kind),
        "userPrincipalName": if kind == ObjectKind::User { text("userPrincipalName") } else { Value::Null },
        "groupType": group_type,
        "modifiedProperties": modified,
    })
}

fn other_target(id: &str, display_name: Value, kind: &str, modified: Vec<Value>) -> Value {
    json!({
        "id": id,
        "displayName": display_name,
        "type": kind,
        "userPrincipalName": null,
        "groupType": null,
        "modifiedProperties": modified,
    })
}

/// Who made a change, as Graph's `auditActivityInitiator`.
fn initiated_by(by: &Initiator, names: &Names) -> Value {
    let app = |app_id: Value, name: Value, sp: Value| json!({"appId": app_id, "displayName": name, "servicePrincipalId": sp, "servicePrincipalName": null});
    match by {
        Initiator::User(id) | Initiator::SelfService(id) => {
            let user = names.get(id);
            let text = |key: &str| user.and_then(|u| u.doc.get(key)).cloned().unwrap_or(Value::Null);
            json!({"user": {
                "id": id.to_string(),
                "displayName": text("displayName"),
                "userPrincipalName": text("userPrincipalName"),
                "ipAddress": "",
            }, "app": null})
        }
        Initiator::App { service_principal, app_id } => {
            let name = names.get(service_principal).and_then(|sp| sp.doc.get("displayName")).cloned();
            let app = app(json!(app_id.to_string()), name.unwrap_or(Value::Null), json!(service_principal.to_string()));
            json!({"user": null, "app": app})
        }
        Initiator::System => json!({"user": null, "app": app(Value::Null, json!("Gatehouse"), Value::Null)}),
    }
}

/// The objects a record names: its initiator and its targets.
fn named_ids(record: &AuditRecord) -> Vec<Uuid> {
    let mut ids = Vec::new();
    match &record.by {
        Initiator::User(id) | Initiator::SelfService(id) => ids.push(*id),
        Initiator::App { service_principal, .. } => ids.push(*service_principal),
        Initiator::System => {}
    }
    match &record.change {
        Change::Object { id, .. } => ids.push(*id),
        Change::Link { group, member, .. } => ids.extend([*group, *member]),
        Change::Other { subject, attributes, .. } => {
            let holders = ["oauth2PermissionGrant", "appRoleAssignment"].contains(&subject.as_str());
            ids.extend(attributes.first().filter(|_| holders).and_then(|a| Uuid::parse_str(a).ok()));
        }
    }
    ids
}

/// A record as Graph's `directoryAudit`.
fn audit_doc(tenant: Uuid, record: &AuditRecord, names: &Names) -> Map<String, Value> {
    let note = &record.note;
    let targets = match &record.change {
        Change::Object { object, id, .. } => {
            vec![object_target(names, *id, *object, modified_properties(&note.modified, true))]
        }
        Change::Link { group, member, member_kind, .. } => {
            let group_name = names.get(group).and_then(|g| g.doc.get("displayName")).cloned();
            let properties = vec![
                json!({"displayName": "Group.ObjectID", "oldValue": null, "newValue": json!(group.to_string()).to_string()}),
                json!({"displayName": "Group.DisplayName", "oldValue": null,
                       "newValue": group_name.map(|n| n.to_string())}),
            ];
            vec![
                object_target(names, *member, *member_kind, properties),
                object_target(names, *group, ObjectKind::Group, Vec::new()),
            ]
        }
        Change::Other { subject, id, attributes, .. } => {
            let kind = match subject.as_str() {
                "conditionalAccessPolicy" | "namedLocation" => "Policy",
                "organization" => "Directory",
                _ => "Other",
            };
            let named = note.modified.iter().find_map(|m| m.new.as_ref().or(m.old.as_ref())?.get("displayName"));
            let name = match subject.as_str() {
                "domain" => json!(id),
                _ => named.cloned().unwrap_or(Value::Null),
            };
            let listed = subject == "organization";
            let mut targets = vec![other_target(id, name, kind, modified_properties(&note.modified, listed))];
            // A grant's or an assignment's first attribute is the service principal or principal it is for.
            let holder = attributes.first().and_then(|a| Uuid::parse_str(a).ok());
            if let Some((holder, object)) = holder.and_then(|h| names.get(&h).map(|o| (h, o.kind))) {
                targets.push(object_target(names, holder, object, Vec::new()));
            }
            targets
        }
    };
    let correlation = correlation(tenant, record.batch);
    let doc = json!({
        "id": format!("Directory_{correlation}_{}", record.seq),
        "category": note.category,
        "correlationId": correlation.to_string(),
        "result": "success",
        "resultReason": "",
        "activityDisplayName": note.activity,
        "activityDateTime": format_time(record.at),
        "loggedByService": note.service,
        "operationType": note.operation,
        "initiatedBy": initiated_by(&record.by, names),
        "targetResources": targets,
        "additionalDetails": [],
    });
    doc.as_object().cloned().unwrap_or_default()
}

impl DirectoryAudits<'_> {
    /// Reads the tenant's directory audit log, newest first.
    pub async fn list(&self, caller: &Caller, query: &AuditQuery) -> Result<Vec<Audit>> {
        require(caller, Action::ReadAuditLogs)?;
        let tenant = caller.tenant();
        let query = AuditQuery { limit: query.limit.clamp(1, MOST_RECORDS), ..query.clone() };
        let records = self.directory.store.audits(tenant, &query).await.map_err(Error::from)?;
        let mut ids: Vec<Uuid> = records.iter().flat_map(named_ids).collect();
        ids.sort();
        ids.dedup();
        let objects = self.directory.store.any_objects(tenant, &ids).await.map_err(Error::from)?;
        let names: Names = objects.into_iter().map(|o| (o.id, o)).collect();
        Ok(records.iter().map(|r| Audit { seq: r.seq, doc: audit_doc(tenant, r, &names) }).collect())
    }

    /// One record of the directory audit log, by its id.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Map<String, Value>> {
        let seq = id.rsplit_once('_').and_then(|(_, seq)| seq.parse::<i64>().ok());
        let found = match seq {
            Some(seq) => {
                self.list(caller, &AuditQuery { before: Some(seq + 1), limit: 1, ..AuditQuery::default() }).await?
            }
            None => Vec::new(),
        };
        let doc = found.into_iter().next().map(|a| a.doc).filter(|doc| doc.get("id") == Some(&json!(id)));
        doc.ok_or_else(|| Error::not_found(id))
    }
}
