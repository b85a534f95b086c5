//! Provisioning users and groups into SaaS apps over SCIM, as Entra's provisioning service does it but
//! continuously (`docs/design/0017-provisioning.md`): an administrator gives an enterprise app (service
//! principal) a job, its app's SCIM base address and token, and starts it; the engine ([`engine`]) keeps
//! the app in step with the directory from the change log; every action is in the provisioning log.
//!
//! The service here is Graph's `synchronization` API: jobs (create, read, start, pause, restart, delete),
//! the app's credentials (`secrets`, the token sealed at rest and never shown again), and the log.

mod actions;
pub mod engine;
pub mod expression;
pub mod job;
pub mod mapping;

use crate::auth::authorization::{require, Action};
use crate::kernel::error::{Error, Result};
use crate::schema::format_time;
use crate::store::{
    ObjectKind, ObjectRecord, ProvisioningJobRecord, ProvisioningLogQuery, ProvisioningLogRecord, Write,
};
use crate::{Caller, Directory};
use expression::Expression;
use job::{job_id, parse_job_id, Job, TEMPLATE};
use mapping::AttributeMapping;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// Objects one on-demand provisioning takes.
pub const MOST_ON_DEMAND: usize = 5;
/// Log entries one read answers at most.
pub const MOST_LOG_ENTRIES: u32 = 1_000;

/// The provisioning service.
pub struct Provisioning<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The provisioning service.
    pub fn provisioning(&self) -> Provisioning<'_> {
        Provisioning { directory: self }
    }
}

impl Provisioning<'_> {
    async fn service_principal(&self, caller: &Caller, id: &str) -> Result<ObjectRecord> {
        self.directory.live_object(caller, ObjectKind::ServicePrincipal, id).await
    }

    async fn job(&self, caller: &Caller, principal: &str, id: &str) -> Result<Job> {
        let principal = self.service_principal(caller, principal).await?;
        let job_id = parse_job_id(id).ok_or_else(|| Error::not_found(id))?;
        let record = self.directory.store.provisioning_job(caller.tenant(), job_id).await.map_err(Error::from)?;
        let record = record.filter(|r| r.service_principal == principal.id).ok_or_else(|| Error::not_found(id))?;
        Ok(Job::from(record))
    }

    /// `POST /servicePrincipals/{id}/synchronization/jobs`: a new job of the `scim` template, not yet
    /// configured.
    pub async fn create_job(
        &self,
        caller: &Caller,
        principal: &str,
        body: &Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        require(caller, Action::ManageSynchronization)?;
        let principal = self.service_principal(caller, principal).await?;
        match body.get("templateId").and_then(Value::as_str) {
            Some(TEMPLATE) => {}
            _ => {
                return Err(Error::invalid_property(
                    "templateId",
                    format!("The job's templateId is '{TEMPLATE}': provisioning into an app's SCIM service."),
                ))
            }
        }
        let settings = body.get("synchronizationJobSettings").cloned().unwrap_or_else(|| json!([]));
        check_settings(&settings)?;
        let now = self.directory.now();
        let record = ProvisioningJobRecord {
            id: self.directory.new_object_id(),
            service_principal: principal.id,
            doc: json!({"status": {"code": "NotConfigured"}, "settings": settings})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            seq: None,
            version: 0,
            holder: None,
            lease_until: None,
            due_at: None,
            created_at: now,
        };
        let mut job = Job::from(record);
        self.put_job(caller.tenant(), &mut job, Vec::new()).await?;
        Ok(job.to_graph())
    }

    /// `GET /servicePrincipals/{id}/synchronization/jobs`.
    pub async fn jobs(&self, caller: &Caller, principal: &str) -> Result<Vec<Map<String, Value>>> {
        require(caller, Action::ReadSynchronization)?;
        let principal = self.service_principal(caller, principal).await?;
        let records =
            self.directory.store.provisioning_jobs(caller.tenant(), Some(principal.id)).await.map_err(Error::from)?;
        Ok(records.into_iter().map(|r| Job::from(r).to_graph()).collect())
    }

    /// `GET /servicePrincipals/{id}/synchronization/jobs/{jobId}`, with its status.
    pub async fn get_job(&self, caller: &Caller, principal: &str, id: &str) -> Result<Map<String, Value>> {
        require(caller, Action::ReadSynchronization)?;
        Ok(self.job(caller, principal, id).await?.to_graph())
    }

    /// `DELETE …/jobs/{jobId}`: the job ends; what it made in the app stays there.
    pub async fn delete_job(&self, caller: &Caller, principal: &str, id: &str) -> Result<()> {
        require(caller, Action::ManageSynchronization)?;
        let job = self.job(caller, principal, id).await?;
        self.directory.commit(caller, vec![Write::DeleteProvisioningJob { id: job.record.id }]).await?;
        Ok(())
    }

    /// `POST …/start` (runs now), `pause` (stops after the run under way), `restart` (clears quarantine
    /// and escrow and runs a full cycle again).
    pub async fn control(&self, caller: &Caller, principal: &str, id: &str, action: Control) -> Result<()> {
        require(caller, Action::ManageSynchronization)?;
        loop {
            let mut job = self.job(caller, principal, id).await?;
            let now = self.directory.now();
            match action {
                Control::Start => {
                    // As in Entra, a start also clears a quarantine.
                    job.record.due_at = Some(now);
                    let status = job.record.doc.entry("status").or_insert_with(|| json!({}));
                    if status["code"] == "Quarantine" {
                        status["quarantine"] = Value::Null;
                        status["code"] = json!("NotRun");
                    }
                }
                Control::Pause => job.record.due_at = None,
                Control::Restart => {
                    job.record.seq = None;
                    job.record.due_at = Some(now);
                    job.record.doc.insert("escrow".into(), json!([]));
                    let status = job.record.doc.entry("status").or_insert_with(|| json!({}));
                    status["quarantine"] = Value::Null;
                    status["countSuccessiveCompleteFailures"] = json!(0);
                    status["code"] = json!("NotRun");
                }
            }
            if self.put_job(caller.tenant(), &mut job, Vec::new()).await? {
                return Ok(());
            }
        }
    }

    /// `POST …/jobs/{jobId}/provisionOnDemand`: the users and groups named (`parameters[].subjects[]`,
    /// `objectId` and `objectTypeName`, at most five) provisioned now, in scope as a run would find them;
    /// Graph's `stringKeyStringValuePair` whose `value` is the actions taken, as log entries in JSON.
    pub async fn provision_on_demand(
        &self,
        caller: &Caller,
        principal: &str,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        require(caller, Action::ManageSynchronization)?;
        let job = self.job(caller, principal, id).await?;
        let invalid = |message: &str| Error::invalid_property("parameters", message);
        let parameters = body
            .get("parameters")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("parameters lists the subjects."))?;
        let (mut users, mut groups) = (Vec::new(), Vec::new());
        for subject in parameters.iter().filter_map(|p| p["subjects"].as_array()).flatten() {
            let object = subject["objectId"].as_str().and_then(|id| Uuid::parse_str(id).ok());
            let object = object.ok_or_else(|| invalid("A subject's objectId is an object id."))?;
            match subject["objectTypeName"].as_str() {
                Some("User") => users.push(object),
                Some("Group") => groups.push(object),
                _ => return Err(invalid("A subject's objectTypeName is User or Group.")),
            }
        }
        if users.is_empty() && groups.is_empty() || users.len() + groups.len() > MOST_ON_DEMAND {
            return Err(invalid(&format!("Name from 1 to {MOST_ON_DEMAND} subjects.")));
        }
        let service_principal = job.record.service_principal;
        let done = self.on_demand(caller.tenant(), job.record, (users, groups)).await?;
        let status = if done.iter().any(|r| r.status == "failure") { "failure" } else { "success" };
        let entries: Vec<Value> =
            done.iter().map(|r| Value::Object(summary(caller.tenant(), r, Some(service_principal)))).collect();
        let pair = json!({"key": status, "value": Value::Array(entries).to_string()});
        Ok(pair.as_object().cloned().unwrap_or_default())
    }

    /// `GET …/jobs/{jobId}/schema`: how users map onto the app's, as Graph's `synchronizationSchema` (one
    /// rule, one object mapping of users, its attribute mappings with their expressions).
    pub async fn schema(&self, caller: &Caller, principal: &str, id: &str) -> Result<Map<String, Value>> {
        require(caller, Action::ReadSynchronization)?;
        let job = self.job(caller, principal, id).await?;
        let mappings: Vec<Value> = job
            .user_mappings()?
            .iter()
            .map(|m| {
                let (kind, name) = match &m.expression {
                    Expression::Attribute(name) => ("Attribute", Some(name.clone())),
                    Expression::Constant(_) => ("Constant", None),
                    _ => ("Function", None),
                };
                json!({
                    "targetAttributeName": m.target,
                    "source": {"expression": m.source, "name": name, "type": kind, "parameters": []},
                    "matchingPriority": m.matching, "flowType": "Always", "flowBehavior": "FlowWhenChanged",
                    "defaultValue": null, "exportMissingReferences": false,
                })
            })
            .collect();
        let schema = json!({
            "id": job_id(job.record.id),
            "version": job.record.doc.get("mappingsVersion").cloned().unwrap_or(json!("1")),
            "directories": [],
            "synchronizationRules": [{
                "id": "scim-users", "name": "USER_OUTBOUND_USER", "editable": true,
                "sourceDirectoryName": "Microsoft Entra ID", "targetDirectoryName": "SCIM",
                "objectMappings": [{
                    "enabled": true, "flowTypes": "Add, Update, Delete", "name": "Provision Microsoft Entra ID Users",
                    "sourceObjectName": "User",
                    "targetObjectName": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                    "attributeMappings": mappings,
                }],
            }],
        });
        Ok(schema.as_object().cloned().unwrap_or_default())
    }

    /// `PUT …/jobs/{jobId}/schema`: the users' attribute mappings become the body's (its object mapping
    /// whose `sourceObjectName` is `User`), each expression checked; a `userName` mapping is required and
    /// the matching attribute (`matchingPriority` 1) is a plain attribute. The job then runs a full cycle,
    /// as after a restart, so that every user there gets the new values.
    pub async fn set_schema(
        &self,
        caller: &Caller,
        principal: &str,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<()> {
        require(caller, Action::ManageSynchronization)?;
        let invalid = |message: &str| Error::invalid_property("synchronizationRules", message);
        let rules = body
            .get("synchronizationRules")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("The schema has its synchronizationRules."))?;
        let users = rules
            .iter()
            .filter_map(|rule| rule["objectMappings"].as_array())
            .flatten()
            .find(|mapping| mapping["sourceObjectName"] == "User")
            .ok_or_else(|| invalid("The schema maps users (an object mapping whose sourceObjectName is User)."))?;
        let items = users["attributeMappings"]
            .as_array()
            .ok_or_else(|| invalid("The object mapping lists attributeMappings."))?;
        let mut mappings = Vec::new();
        for item in items {
            let target = item["targetAttributeName"].as_str().unwrap_or_default();
            let source = &item["source"];
            let expression = match (source["type"].as_str(), source["expression"].as_str(), source["name"].as_str()) {
                (_, Some(expression), _) if !expression.is_empty() => expression.to_owned(),
                (Some("Attribute"), _, Some(name)) => format!("[{name}]"),
                (Some("Constant"), _, Some(value)) => format!("\"{value}\""),
                _ => return Err(invalid(&format!("The mapping of '{target}' has no source expression."))),
            };
            let matching = item["matchingPriority"].as_u64().unwrap_or(0).min(u64::from(u32::MAX)) as u32;
            let mapping = AttributeMapping::new(target, &expression, matching)?;
            if matching > 0 && !mapping.target.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(invalid(
                    "A matching attribute is a plain attribute of the app's users (userName, externalId).",
                ));
            }
            mappings.push(json!({"target": mapping.target, "source": mapping.source, "matching": matching}));
        }
        if !mappings.iter().any(|m| m["target"] == "userName") {
            return Err(invalid("The users' mappings give userName a value."));
        }
        loop {
            let mut job = self.job(caller, principal, id).await?;
            let version =
                job.record.doc.get("mappingsVersion").and_then(Value::as_str).and_then(|v| v.parse::<u64>().ok());
            job.record.doc.insert("mappingsVersion".into(), json!((version.unwrap_or(1) + 1).to_string()));
            job.record.doc.insert("mappings".into(), Value::Array(mappings.clone()));
            job.record.seq = None;
            if self.put_job(caller.tenant(), &mut job, Vec::new()).await? {
                return Ok(());
            }
        }
    }

    /// `PUT /servicePrincipals/{id}/synchronization/secrets`: the app's `BaseAddress`, `SecretToken` (sealed
    /// at rest, never shown again) and `SyncAll` (`true`: every user; else those assigned), for every job
    /// of the service principal.
    pub async fn set_secrets(&self, caller: &Caller, principal: &str, body: &Map<String, Value>) -> Result<()> {
        require(caller, Action::ManageSynchronization)?;
        let principal = self.service_principal(caller, principal).await?;
        let items = body
            .get("value")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::invalid_property("value", "The secrets are a list of {\"key\": …, \"value\": …}."))?;
        let mut secrets = Map::new();
        for item in items {
            let (Some(key), Some(value)) = (item["key"].as_str(), item["value"].as_str()) else {
                return Err(Error::invalid_property("value", "Each secret has a key and a string value."));
            };
            match key {
                "BaseAddress" => {
                    let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://"));
                    let host = rest.map(|r| r.split('/').next().unwrap_or_default()).unwrap_or_default();
                    if host.is_empty() || value.chars().any(char::is_whitespace) {
                        return Err(Error::invalid_property("BaseAddress", "BaseAddress is the app's SCIM URL."));
                    }
                    secrets.insert("baseAddress".into(), json!(value));
                }
                "SecretToken" => {
                    let sealed = self.directory.master.seal(self.directory.random(), value.as_bytes())?;
                    secrets.insert("secretToken".into(), json!(sealed));
                }
                "SyncAll" => {
                    secrets.insert("syncAll".into(), json!(value.eq_ignore_ascii_case("true").to_string()));
                }
                _ => {}
            }
        }
        let jobs =
            self.directory.store.provisioning_jobs(caller.tenant(), Some(principal.id)).await.map_err(Error::from)?;
        if jobs.is_empty() {
            return Err(Error::invalid("The service principal has no provisioning job: create one first."));
        }
        for record in jobs {
            let mut job = Job::from(record);
            loop {
                let merged = job.record.doc.entry("secrets").or_insert_with(|| json!({}));
                if let Value::Object(merged) = merged {
                    merged.extend(secrets.clone());
                }
                if self.put_job(caller.tenant(), &mut job, Vec::new()).await? {
                    break;
                }
                let fresh =
                    self.directory.store.provisioning_job(caller.tenant(), job.record.id).await.map_err(Error::from)?;
                job = Job::from(fresh.ok_or_else(|| Error::not_found(job_id(job.record.id)))?);
            }
        }
        Ok(())
    }

    /// `GET /auditLogs/provisioning`: the provisioning log, newest first, as Graph's
    /// `provisioningObjectSummary`.
    pub async fn log(&self, caller: &Caller, query: &ProvisioningLogQuery) -> Result<Vec<Map<String, Value>>> {
        require(caller, Action::ReadAuditLogs)?;
        let query = ProvisioningLogQuery { limit: query.limit.clamp(1, MOST_LOG_ENTRIES), ..query.clone() };
        let records = self.directory.store.provisioning_log(caller.tenant(), &query).await.map_err(Error::from)?;
        let mut principals = std::collections::HashMap::new();
        for job in self.directory.store.provisioning_jobs(caller.tenant(), None).await.map_err(Error::from)? {
            principals.insert(job.id, job.service_principal);
        }
        Ok(records.iter().map(|r| summary(caller.tenant(), r, principals.get(&r.job).copied())).collect())
    }
}

/// What an administrator asks of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Start,
    Pause,
    Restart,
}

/// Refuses settings other than a list of `{name, value}` strings (`RequestsPerSecond` a whole number
/// above zero).
fn check_settings(settings: &Value) -> Result<()> {
    let invalid = || {
        Error::invalid_property("synchronizationJobSettings", "Settings are a list of {\"name\", \"value\"} strings.")
    };
    for setting in settings.as_array().ok_or_else(invalid)? {
        let (Some(name), Some(value)) = (setting["name"].as_str(), setting["value"].as_str()) else {
            return Err(invalid());
        };
        if name.eq_ignore_ascii_case("RequestsPerSecond") && value.parse::<u32>().map_or(true, |n| n == 0) {
            return Err(Error::invalid_property(
                "RequestsPerSecond",
                "RequestsPerSecond is a whole number above zero.",
            ));
        }
    }
    Ok(())
}

/// A log record as Graph's `provisioningObjectSummary`.
fn summary(tenant: Uuid, record: &ProvisioningLogRecord, principal: Option<Uuid>) -> Map<String, Value> {
    let doc = &record.doc;
    let error = doc.get("error").cloned();
    let status = json!({"status": record.status, "errorInformation": error});
    let summary = json!({
        "id": record.id,
        "activityDateTime": format_time(record.at),
        "jobId": job_id(record.job),
        "cycleId": doc.get("cycleId"),
        "changeId": record.id,
        "provisioningAction": record.action,
        "provisioningStatusInfo": status,
        "sourceIdentity": doc.get("sourceIdentity"),
        "targetIdentity": doc.get("targetIdentity"),
        "sourceSystem": {"displayName": "Microsoft Entra ID"},
        "targetSystem": {"displayName": "SCIM app"},
        "servicePrincipal": {"id": principal},
        "provisioningSteps": [{
            "name": record.action, "provisioningStepType": "export", "status": record.status,
            "details": doc.get("targetResponse"),
        }],
        "tenantId": tenant,
    });
    summary.as_object().cloned().unwrap_or_default()
}
