//! The provisioning engine: each due job, claimed by one node at a time, brought up to date with the
//! directory — an initial cycle over everything in scope, then the tenant's change log from where the job
//! stands, on every tick of the node's provisioning loop — by SCIM requests to its app (`docs/design/0017-provisioning.md`).
//!
//! - **Scope:** the users and groups assigned to the app (app-role assignments, a group's direct members
//!   with it, as Entra has it), or every user when the job syncs all.
//! - **Actions:** an object in scope and not yet there is matched (`userName`, a group's `displayName`)
//!   or created; one there is patched with what changed since it was last sent; one that left scope, was
//!   disabled or deleted is made `active: false`; one purged is deleted; a group's members follow.
//! - **Nothing lost or doubled:** the job's cursor moves only after its run has done every change up to
//!   it; a run cut short (the app down, the node gone) is done again from the cursor, and what it had
//!   already done is found done (the last values sent are remembered per object, creates match first).
//! - **Failures:** an app that cannot be reached (or answers 429, 502, 503, 504) stops the run, retried
//!   after 1, 2, 4 … seconds (at most a minute); one that refuses the credentials (401, 403) quarantines
//!   the job at once; an object the app refuses is escrowed (logged, tried again in the next runs), and a
//!   run in which most calls fail quarantines the job (Entra's rule), tried again hourly until restarted.

use super::job::{self, Job, Quarantine};
use super::mapping::{self, Attributes};
use crate::kernel::error::{Error, ErrorKind, Result};
use crate::kernel::scim_client::{ScimClient, ScimRequest, ScimResponse};
use crate::store::{
    AppRoleAssignmentRecord, Change, ObjectKind, ObjectQuery, ObjectRecord, ProvisionedRecord, ProvisioningLogRecord,
    Relation, Scope, StoreError, Write,
};
use crate::Directory;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use uuid::Uuid;

/// How long a claim on a job lasts without renewal.
const LEASE: TimeDelta = TimeDelta::seconds(60);
/// Objects a run handles between two writes of its progress.
const BATCH: usize = 200;
/// Change records a run reads at once.
const CHANGES: u32 = 2_000;
/// A run quarantines the job when at least this many calls were made and most of them failed.
const QUARANTINE_CALLS: u32 = 10;
/// How often a quarantined job is tried again.
const QUARANTINE_RETRY: TimeDelta = TimeDelta::hours(1);
/// Objects kept in escrow at most.
const MOST_ESCROWED: usize = 10_000;

/// Why a run stopped before its end.
#[derive(Debug)]
enum Stop {
    /// The app could not be reached, or asked to be left alone for a while.
    Unreachable(String),
    /// The app refused the job's credentials.
    Refused(String),
    /// The directory could not be read or written.
    Directory(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Directory(e)
    }
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Directory(Error::from(e))
    }
}

type Step<T> = std::result::Result<T, Stop>;

/// What the app said to one request that it answered.
enum Answer {
    Done(ScimResponse),
    Refused(ScimResponse),
}

impl super::Provisioning<'_> {
    /// Runs every provisioning job due now, one after another, as `holder`; returns how many ran.
    pub async fn run_due(&self, holder: &str) -> Result<usize> {
        let Some(client) = self.directory.scim_client.clone() else { return Ok(0) };
        let due = self.directory.store.due_provisioning_jobs(self.directory.now()).await.map_err(Error::from)?;
        let mut ran = 0;
        for (tenant, id) in due {
            match self.provision(tenant, id, holder, client.as_ref()).await {
                Ok(true) => ran += 1,
                Ok(false) => {}
                Err(error) => tracing::warn!(%tenant, job = %id, %error, "a provisioning run failed"),
            }
        }
        Ok(ran)
    }

    /// One run of a job, if it is still due and this node claims it.
    async fn provision(&self, tenant: Uuid, id: Uuid, holder: &str, client: &dyn ScimClient) -> Result<bool> {
        let Some(record) = self.directory.store.provisioning_job(tenant, id).await.map_err(Error::from)? else {
            return Ok(false);
        };
        let now = self.directory.now();
        let due = record.due_at.is_some_and(|at| at <= now);
        if !due || record.lease_until.is_some_and(|until| until > now) {
            return Ok(false);
        }
        let mut job = Job::from(record);
        job.record.holder = Some(holder.to_owned());
        job.record.lease_until = Some(now + LEASE);
        if !self.put_job(tenant, &mut job, Vec::new()).await? {
            return Ok(false);
        }
        let Some(target) = job.target(&self.directory.master)? else {
            job.end_unconfigured();
            self.put_job(tenant, &mut job, Vec::new()).await?;
            return Ok(true);
        };
        let mut run = Run {
            directory: self.directory,
            tenant,
            client,
            target,
            job,
            calls: 0,
            failed: 0,
            pending: Vec::new(),
            escrow: BTreeSet::new(),
            last_call: None,
            began: now,
        };
        let outcome = run.run().await;
        run.finish(outcome).await?;
        Ok(true)
    }

    /// Writes the job (with `writes` beside it) at its version; `false` when another node moved it on.
    pub(super) async fn put_job(&self, tenant: Uuid, job: &mut Job, mut writes: Vec<Write>) -> Result<bool> {
        let expected = job.record.version;
        writes.push(Write::PutProvisioningJob { job: job.record.clone(), expected });
        match self.directory.store.commit(tenant, writes, self.directory.now()).await {
            Ok(_) => {
                job.record.version = expected + 1;
                Ok(true)
            }
            Err(StoreError::VersionMismatch) => Ok(false),
            Err(other) => Err(Error::from(other)),
        }
    }
}

/// Where a job sends its requests.
pub(super) struct Target {
    pub base: String,
    pub token: String,
    pub sync_all: bool,
    pub per_second: u32,
}

/// What a run knows of the app's scope: the users and groups assigned to it.
#[derive(Default)]
struct Assigned {
    users: HashSet<Uuid>,
    groups: HashSet<Uuid>,
}

struct Run<'a> {
    directory: &'a Directory,
    tenant: Uuid,
    client: &'a dyn ScimClient,
    target: Target,
    job: Job,
    calls: u32,
    failed: u32,
    /// Writes of what was done, committed with the job's next progress.
    pending: Vec<Write>,
    /// Objects refused this run, tried again in the next.
    escrow: BTreeSet<Uuid>,
    last_call: Option<std::time::Instant>,
    began: DateTime<Utc>,
}

impl Run<'_> {
    async fn run(&mut self) -> Step<()> {
        let store = &self.directory.store;
        let service_principal = self.job.record.service_principal;
        let assignments = store.app_role_assignments_to(self.tenant, service_principal).await?;
        let assigned = self.assigned(&assignments).await?;
        let escrowed: Vec<Uuid> = self.job.escrow();
        match self.job.record.seq {
            None => {
                let head = store.last_change(self.tenant).await?;
                let (users, groups) = self.everything_in_scope(&assigned).await?;
                self.objects(&assigned, users.into_iter().chain(escrowed.clone()).collect(), groups).await?;
                self.job.record.seq = Some(head);
            }
            Some(seq) => {
                let changes = store.changes(self.tenant, seq, CHANGES).await?;
                let to = changes.last().map_or(seq, |c| c.seq);
                let (mut users, mut groups) = (BTreeSet::new(), BTreeSet::new());
                users.extend(escrowed);
                for record in &changes {
                    self.affected(&record.change, &assigned, &mut users, &mut groups).await?;
                }
                self.objects(&assigned, users.into_iter().collect(), groups.into_iter().collect()).await?;
                self.job.record.seq = Some(to);
            }
        }
        Ok(())
    }

    /// The users and groups an assignment names, by kind.
    async fn assigned(&self, assignments: &[AppRoleAssignmentRecord]) -> Step<Assigned> {
        let ids: Vec<Uuid> = assignments.iter().map(|a| a.principal).collect();
        let mut assigned = Assigned::default();
        for object in self.directory.store.any_objects(self.tenant, &ids).await? {
            match object.kind {
                ObjectKind::User if object.deleted_at.is_none() => assigned.users.insert(object.id),
                ObjectKind::Group if object.deleted_at.is_none() => assigned.groups.insert(object.id),
                _ => false,
            };
        }
        Ok(assigned)
    }

    /// The ids of every user and group in scope, for the initial cycle.
    async fn everything_in_scope(&self, assigned: &Assigned) -> Step<(Vec<Uuid>, Vec<Uuid>)> {
        let mut users: BTreeSet<Uuid> = assigned.users.iter().copied().collect();
        let scopes: Vec<Option<Scope>> = match self.target.sync_all {
            true => vec![None],
            false => {
                assigned.groups.iter().map(|g| Some(Scope::Members { group: *g, relation: Relation::Member })).collect()
            }
        };
        for scope in scopes {
            let mut query = ObjectQuery { kind: Some(ObjectKind::User), scope, limit: 1_000, ..ObjectQuery::default() };
            loop {
                let page = self.directory.store.object_ids(self.tenant, &query).await?;
                users.extend(page.iter().map(|(id, _)| *id));
                match page.last() {
                    Some((last, _)) if page.len() == query.limit as usize => {
                        query.after = Some(crate::store::Cursor::after(*last))
                    }
                    _ => break,
                }
            }
        }
        Ok((users.into_iter().collect(), assigned.groups.iter().copied().collect()))
    }

    /// The users and groups a change may move in the app.
    async fn affected(
        &self,
        change: &Change,
        assigned: &Assigned,
        users: &mut BTreeSet<Uuid>,
        groups: &mut BTreeSet<Uuid>,
    ) -> Step<()> {
        match change {
            Change::Object { object: ObjectKind::User, id, .. } => {
                users.insert(*id);
            }
            Change::Object { object: ObjectKind::Group, id, .. } => {
                groups.insert(*id);
            }
            Change::Link { relation: Relation::Member, group, member, member_kind: ObjectKind::User, .. }
                if assigned.groups.contains(group) =>
            {
                users.insert(*member);
                groups.insert(*group);
            }
            Change::Other { subject, attributes, .. } if subject == "appRoleAssignment" => {
                let resource = attributes.get(1).and_then(|r| Uuid::parse_str(r).ok());
                let principal = attributes.first().and_then(|p| Uuid::parse_str(p).ok());
                if let (Some(principal), Some(true)) =
                    (principal, resource.map(|r| r == self.job.record.service_principal))
                {
                    users.insert(principal);
                    groups.insert(principal);
                    let scope = Some(Scope::Members { group: principal, relation: Relation::Member });
                    let query =
                        ObjectQuery { kind: Some(ObjectKind::User), scope, limit: 100_000, ..ObjectQuery::default() };
                    users.extend(
                        self.directory.store.object_ids(self.tenant, &query).await?.into_iter().map(|(id, _)| id),
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Brings these users, then these groups, in step, writing progress every [`BATCH`] objects.
    async fn objects(&mut self, assigned: &Assigned, users: Vec<Uuid>, groups: Vec<Uuid>) -> Step<()> {
        for chunk in users.chunks(BATCH) {
            let records = self.records(chunk).await?;
            let memberships = self.directory.store.memberships(self.tenant, chunk).await?;
            let provisioned = self.provisioned(chunk).await?;
            for id in chunk {
                let record = records.get(id).filter(|r| r.kind == ObjectKind::User);
                let in_group = memberships.iter().any(|l| l.member == *id && assigned.groups.contains(&l.group));
                let in_scope = record.is_some_and(|r| r.deleted_at.is_none())
                    && (self.target.sync_all || assigned.users.contains(id) || in_group);
                self.user(*id, record, in_scope, provisioned.get(id)).await?;
            }
            self.progress().await?;
        }
        for chunk in groups.chunks(BATCH) {
            let records = self.records(chunk).await?;
            let provisioned = self.provisioned(chunk).await?;
            for id in chunk {
                let record = records.get(id).filter(|r| r.kind == ObjectKind::Group);
                let in_scope = record.is_some_and(|r| r.deleted_at.is_none()) && assigned.groups.contains(id);
                if record.is_some() || provisioned.contains_key(id) {
                    self.group(*id, record, in_scope, provisioned.get(id)).await?;
                }
            }
            self.progress().await?;
        }
        Ok(())
    }

    async fn records(&self, ids: &[Uuid]) -> Step<HashMap<Uuid, ObjectRecord>> {
        let found = self.directory.store.any_objects(self.tenant, ids).await?;
        Ok(found.into_iter().map(|r| (r.id, r)).collect())
    }

    async fn provisioned(&self, ids: &[Uuid]) -> Step<HashMap<Uuid, ProvisionedRecord>> {
        let found = self.directory.store.provisioned(self.tenant, self.job.record.id, ids).await?;
        Ok(found.into_iter().map(|r| (r.object, r)).collect())
    }

    /// Commits what was done so far with the job's renewed claim.
    async fn progress(&mut self) -> Step<()> {
        self.job.record.lease_until = Some(self.directory.now() + LEASE);
        let writes = std::mem::take(&mut self.pending);
        match self.directory.provisioning().put_job(self.tenant, &mut self.job, writes).await? {
            true => Ok(()),
            false => Err(Stop::Directory(Error::conflict("Another node took the provisioning job over."))),
        }
    }

    /// One user brought in step.
    async fn user(
        &mut self,
        id: Uuid,
        record: Option<&ObjectRecord>,
        in_scope: bool,
        provisioned: Option<&ProvisionedRecord>,
    ) -> Step<()> {
        let Some(record) = record else { return self.delete(id, provisioned, "Users").await };
        let mut attributes = mapping::user(record);
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
                let user_name = record.doc.get("userPrincipalName").and_then(Value::as_str).unwrap_or_default();
                let filter = format!("userName eq \"{}\"", user_name.replace('"', "\\\""));
                self.create(record, attributes, "Users", &filter, None).await
            }
        }
    }

    /// One group brought in step, with its members that are in the app.
    async fn group(
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
                let filter = format!("displayName eq \"{}\"", name.replace('"', "\\\""));
                self.create(record, attributes, "Groups", &filter, Some(members)).await
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
    async fn create(
        &mut self,
        record: &ObjectRecord,
        attributes: Attributes,
        endpoint: &str,
        filter: &str,
        members: Option<BTreeSet<String>>,
    ) -> Step<()> {
        let search = format!("{}/{endpoint}?filter={}", self.target.base, encode(filter));
        let found = match self.call("GET", search, None).await? {
            Answer::Done(response) => response.body["Resources"][0]["id"].as_str().map(str::to_owned),
            Answer::Refused(response) => return self.refused(record, "create", &response),
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
    async fn delete(&mut self, id: Uuid, provisioned: Option<&ProvisionedRecord>, endpoint: &str) -> Step<()> {
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
            self.job.count(endpoint, -1);
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
                self.job.count(kind_endpoint(record.kind), 1);
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

    /// Ends the run: the job's status, its next run, and what was done, in one write.
    async fn finish(mut self, outcome: Step<()>) -> Result<()> {
        let now = self.directory.now();
        let failing = self.calls >= QUARANTINE_CALLS && self.failed * 2 > self.calls;
        let escrowed: Vec<Uuid> = self.escrow.iter().copied().take(MOST_ESCROWED).collect();
        match outcome {
            Ok(()) if failing => {
                let reason = format!("{} of the run's {} calls to the app failed.", self.failed, self.calls);
                let quarantine = Quarantine::new("EncounteredEscrowProportionThreshold", reason);
                self.job.quarantine(now, quarantine, now + QUARANTINE_RETRY, escrowed);
            }
            Ok(()) => self.job.succeeded(self.began, now, escrowed),
            Err(Stop::Refused(reason)) => {
                self.job.record.seq = self.job.started_seq;
                let quarantine = Quarantine::new("EncounteredQuarantineException", reason);
                self.job.quarantine(now, quarantine, now + QUARANTINE_RETRY, escrowed);
            }
            Err(Stop::Directory(error)) if error.kind == ErrorKind::Conflict => return Ok(()),
            Err(Stop::Unreachable(reason)) | Err(Stop::Directory(Error { message: reason, .. })) => {
                self.job.record.seq = self.job.started_seq;
                self.job.unreachable(now, &reason);
            }
        }
        self.job.record.holder = None;
        self.job.record.lease_until = None;
        let writes = std::mem::take(&mut self.pending);
        self.directory.provisioning().put_job(self.tenant, &mut self.job, writes).await?;
        Ok(())
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
