//! A provisioning job's document — its settings, its sealed credentials and its status — and its Graph
//! shape (`synchronizationJob`).

use super::engine::Target;
use super::mapping::{default_user_mappings, AttributeMapping};
use crate::credentials::secrets::MasterKey;
use crate::kernel::error::{Error, Result};
use crate::schema::format_time;
use crate::store::ProvisioningJobRecord;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use uuid::Uuid;

/// The one template a job is made from: a SCIM app.
pub const TEMPLATE: &str = "scim";
/// Requests a job sends each second unless its settings say otherwise.
pub const DEFAULT_PER_SECOND: u32 = 100;
/// The longest wait before an app that could not be reached is tried again.
const MOST_BACKOFF: i64 = 60;

/// Why a job is quarantined.
pub struct Quarantine {
    reason: &'static str,
    detail: String,
}

impl Quarantine {
    pub fn new(reason: &'static str, detail: String) -> Quarantine {
        Quarantine { reason, detail }
    }
}

/// A job as the engine and the service use it.
pub struct Job {
    pub record: ProvisioningJobRecord,
    /// Where the job's cursor stood when it was read (a run that stops goes back to it).
    pub started_seq: Option<i64>,
}

impl From<ProvisioningJobRecord> for Job {
    fn from(record: ProvisioningJobRecord) -> Job {
        Job { started_seq: record.seq, record }
    }
}

/// The strings of a JSON list.
pub fn strings(value: Option<&Value>) -> BTreeSet<String> {
    let items = value.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    items.iter().filter_map(Value::as_str).map(str::to_owned).collect()
}

impl Job {
    fn doc(&mut self) -> &mut Map<String, Value> {
        &mut self.record.doc
    }

    /// Changes the job's status document.
    fn with_status<T>(&mut self, change: impl FnOnce(&mut Map<String, Value>) -> T) -> T {
        let mut status = self.record.doc.get("status").and_then(Value::as_object).cloned().unwrap_or_default();
        let out = change(&mut status);
        self.record.doc.insert("status".into(), Value::Object(status));
        out
    }

    /// Where the job sends its requests, once its credentials are set.
    pub(super) fn target(&self, master: &MasterKey) -> Result<Option<Target>> {
        let secrets = self.record.doc.get("secrets");
        let text = |name: &str| secrets.and_then(|s| s.get(name)).and_then(Value::as_str);
        let (Some(base), Some(sealed)) = (text("baseAddress"), text("secretToken")) else { return Ok(None) };
        let token = String::from_utf8(master.open(sealed)?).map_err(Error::internal)?;
        let per_second = self.setting("RequestsPerSecond").and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_PER_SECOND);
        Ok(Some(Target {
            base: base.trim_end_matches('/').to_owned(),
            token,
            sync_all: text("syncAll") == Some("true"),
            per_second,
        }))
    }

    /// How users map onto the app's: the administrator's mappings (`PUT …/schema`), else Entra's defaults.
    pub fn user_mappings(&self) -> Result<Vec<AttributeMapping>> {
        let Some(Value::Array(mappings)) = self.record.doc.get("mappings") else { return Ok(default_user_mappings()) };
        mappings
            .iter()
            .map(|m| {
                let text = |name: &str| m.get(name).and_then(Value::as_str).unwrap_or_default();
                let matching = m.get("matching").and_then(Value::as_u64).unwrap_or(0) as u32;
                AttributeMapping::new(text("target"), text("source"), matching)
            })
            .collect()
    }

    /// A value of the job's `synchronizationJobSettings`.
    fn setting(&self, name: &str) -> Option<String> {
        let settings = self.record.doc.get("settings").and_then(Value::as_array)?;
        let found = settings.iter().find(|s| s["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))?;
        found["value"].as_str().map(str::to_owned)
    }

    /// The objects refused by earlier runs, to be tried again.
    pub fn escrow(&self) -> Vec<Uuid> {
        strings(self.record.doc.get("escrow")).iter().filter_map(|id| Uuid::parse_str(id).ok()).collect()
    }

    /// Counts objects made (`delta` 1) or deleted (-1) in the app, by endpoint.
    pub fn count(&mut self, endpoint: &str, delta: i64) {
        let counts = self.doc().entry("counts").or_insert_with(|| json!({}));
        let now = counts.get(endpoint).and_then(Value::as_i64).unwrap_or(0);
        counts[endpoint] = json!((now + delta).max(0));
    }

    /// A job without credentials: not configured, not run.
    pub fn end_unconfigured(&mut self) {
        self.with_status(|status| status.insert("code".into(), json!("NotConfigured")));
        self.record.due_at = None;
        self.record.holder = None;
        self.record.lease_until = None;
    }

    fn execution(&mut self, began: DateTime<Utc>, now: DateTime<Utc>, error: Option<Value>) {
        let state = if error.is_some() { "Failed" } else { "Succeeded" };
        let execution =
            json!({"timeBegan": format_time(began), "timeEnded": format_time(now), "state": state, "error": error});
        self.with_status(|status| status.insert("lastExecution".into(), execution));
    }

    /// A run that could not reach the app (or the directory): tried again after a doubling wait.
    pub fn unreachable(&mut self, now: DateTime<Utc>, reason: &str) {
        let failures = self.with_status(|status| {
            let failures = status.get("countSuccessiveCompleteFailures").and_then(Value::as_i64).unwrap_or(0) + 1;
            status.insert("countSuccessiveCompleteFailures".into(), json!(failures));
            failures
        });
        let error = json!({"code": "AppUnreachable", "message": reason, "tenantActionable": true});
        self.execution(now, now, Some(error));
        let wait = 1_i64 << (failures - 1).clamp(0, 6);
        self.next_run(now + TimeDelta::seconds(wait.min(MOST_BACKOFF)));
    }

    /// A run that ended: in step with the directory, due again at once (the node's provisioning loop
    /// paces the runs).
    pub fn succeeded(&mut self, began: DateTime<Utc>, now: DateTime<Utc>, escrowed: Vec<Uuid>) {
        self.execution(began, now, None);
        self.with_status(|status| {
            status.insert("countSuccessiveCompleteFailures".into(), json!(0));
            status.insert("quarantine".into(), Value::Null);
            status.insert("code".into(), json!("Active"));
            let execution =
                json!({"timeBegan": format_time(began), "timeEnded": format_time(now), "state": "Succeeded"});
            status.insert("lastSuccessfulExecution".into(), execution);
            status.entry("steadyStateFirstAchievedTime").or_insert_with(|| json!(format_time(now)));
            status.insert("steadyStateLastAchievedTime".into(), json!(format_time(now)));
        });
        self.set_escrow(escrowed);
        self.next_run(now);
    }

    /// When the job runs next, unless it was paused meanwhile.
    fn next_run(&mut self, at: DateTime<Utc>) {
        if self.record.due_at.is_some() {
            self.record.due_at = Some(at);
        }
    }

    fn set_escrow(&mut self, escrowed: Vec<Uuid>) {
        let ids: Vec<String> = escrowed.iter().map(Uuid::to_string).collect();
        self.doc().insert("escrow".into(), json!(ids));
    }

    /// A job put in quarantine: its reason shown, tried again at `next` until an administrator restarts it.
    pub fn quarantine(&mut self, now: DateTime<Utc>, quarantine: Quarantine, next: DateTime<Utc>, escrowed: Vec<Uuid>) {
        let error = json!({"code": quarantine.reason, "message": quarantine.detail, "tenantActionable": true});
        self.execution(now, now, Some(error.clone()));
        self.with_status(|status| {
            let series = status.get("quarantine").and_then(|q| q.get("seriesBegan")).cloned();
            let count = status.get("quarantine").and_then(|q| q["seriesCount"].as_i64()).unwrap_or(0) + 1;
            status.insert("code".into(), json!("Quarantine"));
            status.insert(
                "quarantine".into(),
                json!({
                    "currentBegan": format_time(now),
                    "seriesBegan": series.unwrap_or_else(|| json!(format_time(now))),
                    "seriesCount": count,
                    "nextAttempt": format_time(next),
                    "reason": quarantine.reason,
                    "error": error,
                }),
            );
        });
        self.set_escrow(escrowed);
        self.next_run(next);
    }

    /// Graph's `synchronizationJob`.
    pub fn to_graph(&self) -> Map<String, Value> {
        let doc = &self.record.doc;
        let mut status = doc.get("status").and_then(Value::as_object).cloned().unwrap_or_default();
        let running = self.record.due_at.is_some();
        let configured = doc.get("secrets").is_some_and(|s| s.get("secretToken").is_some());
        let code = match (configured, running, status.get("code").and_then(Value::as_str)) {
            (false, _, _) => "NotConfigured",
            (true, false, _) => "Paused",
            (true, true, Some("Quarantine")) => "Quarantine",
            (true, true, Some(_)) => "Active",
            (true, true, None) => "NotRun",
        };
        status.insert("code".into(), json!(code));
        status.entry("countSuccessiveCompleteFailures").or_insert(json!(0));
        status.entry("escrowsPruned").or_insert(json!(false));
        status.entry("quarantine").or_insert(Value::Null);
        let counts = doc.get("counts").and_then(Value::as_object).cloned().unwrap_or_default();
        let by_type: Vec<Value> = [("User", "Users"), ("Group", "Groups")]
            .iter()
            .map(|(key, endpoint)| json!({"key": key, "value": counts.get(*endpoint).and_then(Value::as_i64).unwrap_or(0)}))
            .collect();
        status.insert("synchronizedEntryCountByType".into(), json!(by_type));
        let mut job = Map::new();
        job.insert("id".into(), json!(job_id(self.record.id)));
        job.insert("templateId".into(), json!(TEMPLATE));
        job.insert(
            "schedule".into(),
            json!({"expiration": null, "interval": "PT1S", "state": if running { "Active" } else { "Disabled" }}),
        );
        job.insert("status".into(), Value::Object(status));
        job.insert("synchronizationJobSettings".into(), doc.get("settings").cloned().unwrap_or_else(|| json!([])));
        job
    }
}

/// A job's id as Graph shows it: its template and its id.
pub fn job_id(id: Uuid) -> String {
    format!("{TEMPLATE}.{}", id.simple())
}

/// The job a Graph id names.
pub fn parse_job_id(id: &str) -> Option<Uuid> {
    Uuid::parse_str(id.strip_prefix("scim.")?).ok()
}
