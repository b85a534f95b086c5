//! What a run does in the app, object by object: match or create, patch what changed, disable, delete,
//! and a group's members — each request paced, its answer classified, its result logged.

use super::engine::{Run, Step, Stop, LIST_PAGE};
use super::job;
use super::mapping::{self, Attributes};
use crate::kernel::scim_client::{ScimRequest, ScimResponse};
use crate::store::{
    ObjectKind, ObjectQuery, ObjectRecord, ProvisionedRecord, ProvisioningLogRecord, Relation, Scope, Write,
};
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

/// What the app said to one request that it answered.
enum Answer {
    Done(ScimResponse),
    Refused(ScimResponse),
}

impl Run<'_> {
    /// Reads every resource of an endpoint of the app, by its matching attribute (lower-cased), so that an
    /// initial cycle matches without a search per object.
    pub(super) async fn list_app(&mut self, endpoint: &'static str, attribute: &str) -> Step<()> {
        let mut listed = HashMap::new();
        let mut start = 1;
        loop {
            let url = format!("{}/{endpoint}?startIndex={start}&count={LIST_PAGE}", self.target.base);
            let page = match self.call("GET", url, None).await? {
                Answer::Done(response) => response.body,
                // An app that cannot list is matched object by object.
                Answer::Refused(_) => return Ok(()),
            };
            let resources = page["Resources"].as_array().cloned().unwrap_or_default();
            for resource in &resources {
                if let (Some(value), Some(id)) = (resource[attribute].as_str(), resource["id"].as_str()) {
                    listed.insert(value.to_lowercase(), id.to_owned());
                }
            }
            start += resources.len();
            let total = page["totalResults"].as_u64().unwrap_or_default() as usize;
            if resources.is_empty() || start > total {
                break;
            }
        }
        self.listed.insert(endpoint, listed);
        Ok(())
    }

    /// One user brought in step.
    pub(super) async fn user(
        &mut self,
        id: Uuid,
        record: Option<&ObjectRecord>,
        in_scope: bool,
        provisioned: Option<&ProvisionedRecord>,
    ) -> Step<()> {
        let Some(record) = record else { return self.delete(id, provisioned, "Users").await };
        let mut attributes = mapping::user(record, &self.mappings);
        if !in_scope {
            let Some(provisioned) = provisioned else { return Ok(()) };
            if provisioned.doc.get("sent").and_then(|s| s.get("active")) == Some(&json!(false)) {
                return Ok(());
            }
            let before = sent(provisioned);
            attributes = before.clone().into_iter().collect();
            if let Some(active) = attributes.iter_mut().find(|(path, _)| path == "active") {
                active.1 = json!(false);
            }
            return self.update(record, provisioned, &before, attributes, "Users", "disable").await;
        }
        match provisioned {
            Some(provisioned) => {
                let before = sent(provisioned);
                let action = match (before.get("active"), attributes.iter().find(|(p, _)| p == "active")) {
                    (Some(Value::Bool(true)), Some((_, Value::Bool(false)))) => "disable",
                    _ => "update",
                };
                self.update(record, provisioned, &before, attributes, "Users", action).await
            }
            None => {
                let matching = self.matching();
                let value = attributes.iter().find(|(path, _)| *path == matching).and_then(|(_, v)| v.as_str());
                let value = value.unwrap_or_default().to_owned();
                self.create(record, attributes, "Users", (&matching, &value), None).await
            }
        }
    }

    /// The app's attribute creates match its existing users by: the mapping of the lowest matching
    /// priority (`userName` by default).
    pub(super) fn matching(&self) -> String {
        let matching = self.mappings.iter().filter(|m| m.matching > 0).min_by_key(|m| m.matching);
        matching.map_or_else(|| "userName".to_owned(), |m| m.target.clone())
    }

    /// One group brought in step, with its members that are in the app.
    pub(super) async fn group(
        &mut self,
        id: Uuid,
        record: Option<&ObjectRecord>,
        in_scope: bool,
        provisioned: Option<&ProvisionedRecord>,
    ) -> Step<()> {
        let (Some(record), true) = (record, in_scope) else { return self.delete(id, provisioned, "Groups").await };
        let members = self.member_targets(id).await?;
        let attributes = mapping::group(record);
        match provisioned {
            None => {
                let name = record.doc.get("displayName").and_then(Value::as_str).unwrap_or_default();
                self.create(record, attributes, "Groups", ("displayName", name), Some(members)).await
            }
            Some(provisioned) => {
                let before = sent(provisioned);
                let had: BTreeSet<String> = job::strings(provisioned.doc.get("members"));
                let mut operations = mapping::operations(&before, &attributes);
                let added: Vec<Value> = members.difference(&had).map(|m| json!({"value": m})).collect();
                if !added.is_empty() {
                    operations.push(json!({"op": "Add", "path": "members", "value": added}));
                }
                let removed = had.difference(&members);
                operations
                    .extend(removed.map(|m| json!({"op": "Remove", "path": format!("members[value eq \"{m}\"]")})));
                if operations.is_empty() {
                    return Ok(());
                }
                let url = format!("{}/Groups/{}", self.target.base, provisioned.target_id);
                let body =
                    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations});
                let answer = self.call("PATCH", url, Some(body)).await?;
                let remembered = remembered(&attributes, Some(&members));
                self.ended(record, &provisioned.target_id, answer, "update", Some(remembered))
            }
        }
    }

    /// The ids in the app of the group's direct user members that the job has made there and left active.
    async fn member_targets(&self, group: Uuid) -> Step<BTreeSet<String>> {
        let scope = Some(Scope::Members { group, relation: Relation::Member });
        let query = ObjectQuery { kind: Some(ObjectKind::User), scope, limit: 100_000, ..ObjectQuery::default() };
        let members: Vec<Uuid> =
            self.directory.store.object_ids(self.tenant, &query).await?.into_iter().map(|(id, _)| id).collect();
        let provisioned = self.provisioned(&members).await?;
        Ok(provisioned.values().map(|p| p.target_id.clone()).collect())
    }

    /// A create: the app's own resource of that name when it has one (then brought in step), else a new one.
    /// The resource is matched by `matching` (attribute and value): in the app's list when the run read it,
    /// else by a filtered search.
    async fn create(
        &mut self,
        record: &ObjectRecord,
        attributes: Attributes,
        endpoint: &'static str,
        (attribute, value): (&str, &str),
        members: Option<BTreeSet<String>>,
    ) -> Step<()> {
        let found = match self.listed.get(endpoint) {
            Some(listed) => listed.get(&value.to_lowercase()).cloned(),
            None => {
                let filter = format!("{attribute} eq \"{}\"", value.replace('"', "\\\""));
                let search = format!("{}/{endpoint}?filter={}", self.target.base, encode(&filter));
                match self.call("GET", search, None).await? {
                    Answer::Done(response) => response.body["Resources"][0]["id"].as_str().map(str::to_owned),
                    Answer::Refused(response) => return self.refused(record, "create", &response),
                }
            }
        };
        let remembered = remembered(&attributes, members.as_ref());
        if let Some(existing) = found {
            let mut operations = mapping::operations(&Map::new(), &attributes);
            if let Some(members) = members.filter(|m| !m.is_empty()) {
                let value: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
                operations.push(json!({"op": "Add", "path": "members", "value": value}));
            }
            let url = format!("{}/{endpoint}/{existing}", self.target.base);
            let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations});
            let answer = self.call("PATCH", url, Some(body)).await?;
            return self.ended(record, &existing, answer, "update", Some(remembered));
        }
        let mut body = mapping::resource(&attributes, endpoint == "Groups");
        if let (Some(members), Value::Object(map)) = (members, &mut body) {
            map.insert("members".into(), members.iter().map(|m| json!({"value": m})).collect());
        }
        let answer = self.call("POST", format!("{}/{endpoint}", self.target.base), Some(body)).await?;
        let created = match &answer {
            Answer::Done(response) => response.body["id"].as_str().unwrap_or_default().to_owned(),
            Answer::Refused(_) => String::new(),
        };
        self.ended(record, &created, answer, "create", Some(remembered))
    }

    /// An update by the operations that take the app's resource from `before` to `attributes`.
    async fn update(
        &mut self,
        record: &ObjectRecord,
        provisioned: &ProvisionedRecord,
        before: &Map<String, Value>,
        attributes: Attributes,
        endpoint: &str,
        action: &str,
    ) -> Step<()> {
        let operations = mapping::operations(before, &attributes);
        if operations.is_empty() {
            return Ok(());
        }
        let url = format!("{}/{endpoint}/{}", self.target.base, provisioned.target_id);
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations});
        let answer = self.call("PATCH", url, Some(body)).await?;
        self.ended(record, &provisioned.target_id, answer, action, Some(remembered(&attributes, None)))
    }

    /// A delete of what the job made of an object purged from the directory (or a group out of scope), if
    /// it made anything.
    async fn delete(&mut self, id: Uuid, provisioned: Option<&ProvisionedRecord>, endpoint: &'static str) -> Step<()> {
        let Some(provisioned) = provisioned else { return Ok(()) };
        let url = format!("{}/{endpoint}/{}", self.target.base, provisioned.target_id);
        let answer = self.call("DELETE", url, None).await?;
        let gone = match &answer {
            Answer::Done(_) => true,
            Answer::Refused(response) => response.status == 404,
        };
        let status = if gone { "success" } else { "failure" };
        if gone {
            self.pending.push(Write::ForgetProvisioned { job: self.job.record.id, object: id });
            *self.counted.entry(endpoint).or_default() -= 1;
        } else {
            self.escrow.insert(id);
        }
        let response = match answer {
            Answer::Done(r) | Answer::Refused(r) => r,
        };
        let source = json!({"id": id, "identityType": endpoint.trim_end_matches('s')});
        self.log(Some(id), "delete", status, source, &provisioned.target_id, Some(&response));
        Ok(())
    }

    /// Records an action's result: what is now in the app (remembered), the log entry, the escrow.
    fn ended(
        &mut self,
        record: &ObjectRecord,
        target_id: &str,
        answer: Answer,
        action: &str,
        sent: Option<Map<String, Value>>,
    ) -> Step<()> {
        let response = match answer {
            Answer::Done(response) => response,
            Answer::Refused(response) => return self.refused(record, action, &response),
        };
        if let Some(doc) = sent {
            let job = self.job.record.id;
            if action == "create" {
                *self.counted.entry(kind_endpoint(record.kind)).or_default() += 1;
            }
            let target_id = target_id.to_owned();
            self.pending.push(Write::SetProvisioned(ProvisionedRecord { job, object: record.id, target_id, doc }));
        }
        self.log(Some(record.id), action, "success", source(record), target_id, Some(&response));
        Ok(())
    }

    /// An object the app refused: logged, and escrowed to be tried again.
    fn refused(&mut self, record: &ObjectRecord, action: &str, response: &ScimResponse) -> Step<()> {
        self.escrow.insert(record.id);
        self.log(Some(record.id), action, "failure", source(record), "", Some(response));
        Ok(())
    }

    fn log(
        &mut self,
        object: Option<Uuid>,
        action: &str,
        status: &str,
        source: Value,
        target_id: &str,
        response: Option<&ScimResponse>,
    ) {
        let mut doc = Map::new();
        doc.insert("sourceIdentity".into(), source);
        doc.insert("targetIdentity".into(), json!({"id": target_id}));
        if let Some(response) = response {
            let body = response.body.to_string();
            let body: String = body.chars().take(2_000).collect();
            doc.insert("targetResponse".into(), json!({"status": response.status, "body": body}));
            if status == "failure" {
                let reason = response.body["detail"].as_str().map(str::to_owned);
                let reason = reason.unwrap_or_else(|| format!("The app answered {}.", response.status));
                doc.insert("error".into(), json!({"errorCode": format!("Scim{}", response.status), "reason": reason}));
            }
        }
        doc.insert("cycleId".into(), json!(self.began.timestamp_millis().to_string()));
        let record = ProvisioningLogRecord {
            id: self.directory.new_object_id(),
            job: self.job.record.id,
            object,
            at: self.directory.now(),
            action: action.to_owned(),
            status: status.to_owned(),
            doc,
        };
        if let Some(told) = &mut self.told {
            told.push(record.clone());
        }
        self.pending.push(Write::LogProvisioning(vec![record]));
    }

    /// Sends one request, at the job's pace; a refusal of the whole job or an app out of reach stops the run.
    async fn call(&mut self, method: &'static str, url: String, body: Option<Value>) -> Step<Answer> {
        let interval = std::time::Duration::from_secs_f64(1.0 / f64::from(self.target.per_second.max(1)));
        if let Some(last) = self.last_call {
            let wait = interval.saturating_sub(last.elapsed());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        self.last_call = Some(std::time::Instant::now());
        self.calls += 1;
        let request = ScimRequest { method, url, token: self.target.token.clone(), body };
        let response = self.client.send(&request).await.map_err(Stop::Unreachable)?;
        match response.status {
            200..=299 => Ok(Answer::Done(response)),
            401 | 403 => {
                self.failed += 1;
                Err(Stop::Refused(format!("The app refused the job's credentials ({}).", response.status)))
            }
            429 | 502..=504 => Err(Stop::Unreachable(format!("The app answered {}.", response.status))),
            404 if method == "DELETE" => Ok(Answer::Refused(response)),
            _ => {
                self.failed += 1;
                Ok(Answer::Refused(response))
            }
        }
    }
}

/// The values last sent for an object, by path.
fn sent(provisioned: &ProvisionedRecord) -> Map<String, Value> {
    provisioned.doc.get("sent").and_then(Value::as_object).cloned().unwrap_or_default()
}

/// What is remembered of an object after a successful action: the values sent and a group's members.
fn remembered(attributes: &Attributes, members: Option<&BTreeSet<String>>) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("sent".into(), Value::Object(mapping::remembered(attributes)));
    if let Some(members) = members {
        doc.insert("members".into(), json!(members));
    }
    doc
}

fn kind_endpoint(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Group => "Groups",
        _ => "Users",
    }
}

/// The source identity a log entry names.
fn source(record: &ObjectRecord) -> Value {
    let name = record.doc.get("displayName").cloned().unwrap_or(Value::Null);
    let kind = if record.kind == ObjectKind::Group { "Group" } else { "User" };
    let principal = record.doc.get("userPrincipalName").cloned().unwrap_or(Value::Null);
    json!({"id": record.id, "displayName": name, "identityType": kind, "userPrincipalName": principal})
}

/// A query value, percent-encoded.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
