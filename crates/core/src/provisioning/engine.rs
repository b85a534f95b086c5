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

use super::job::{Job, Quarantine};
use super::mapping::AttributeMapping;
use crate::kernel::error::{Error, ErrorKind, Result};
use crate::kernel::scim_client::ScimClient;
use crate::store::{
    AppRoleAssignmentRecord, Change, ObjectKind, ObjectQuery, ObjectRecord, ProvisionedRecord, ProvisioningJobRecord,
    ProvisioningLogRecord, Relation, Scope, StoreError, Write,
};
use crate::Directory;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
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
/// An initial cycle over more objects than this reads the app's resources whole to match them.
const LIST_ABOVE: usize = 50;
/// Resources asked for per page when the app's resources are read whole.
pub(super) const LIST_PAGE: usize = 1_000;
/// Objects kept in escrow at most.
const MOST_ESCROWED: usize = 10_000;

/// Why a run stopped before its end.
#[derive(Debug)]
pub(super) enum Stop {
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

pub(super) type Step<T> = std::result::Result<T, Stop>;

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
        if record.due_at.is_none_or(|at| at > self.directory.now()) {
            return Ok(false);
        }
        let Some(mut run) = self.claim(tenant, record, holder, client).await? else { return Ok(false) };
        let outcome = run.run().await;
        run.finish(outcome).await?;
        Ok(true)
    }

    /// The job claimed by `holder` for a run, unless another holds it; a job without credentials is left
    /// `NotConfigured` (and `None` answered).
    async fn claim<'a>(
        &'a self,
        tenant: Uuid,
        record: ProvisioningJobRecord,
        holder: &str,
        client: &'a dyn ScimClient,
    ) -> Result<Option<Run<'a>>> {
        let now = self.directory.now();
        if record.lease_until.is_some_and(|until| until > now) {
            return Ok(None);
        }
        let mut job = Job::from(record);
        job.record.holder = Some(holder.to_owned());
        job.record.lease_until = Some(now + LEASE);
        if !self.put_job(tenant, &mut job, Vec::new()).await? {
            return Ok(None);
        }
        let mappings = job.user_mappings()?;
        let Some(target) = job.target(&self.directory.master)? else {
            job.end_unconfigured();
            self.put_job(tenant, &mut job, Vec::new()).await?;
            return Ok(None);
        };
        Ok(Some(Run {
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
            listed: HashMap::new(),
            told: None,
            holder: holder.to_owned(),
            counted: BTreeMap::new(),
            mappings,
        }))
    }

    /// Provisions these users and groups now (Graph's `provisionOnDemand`), in scope as a run would find
    /// them, with the job claimed for the while; what it did, as log records.
    pub(super) async fn on_demand(
        &self,
        tenant: Uuid,
        record: ProvisioningJobRecord,
        (users, groups): (Vec<Uuid>, Vec<Uuid>),
    ) -> Result<Vec<ProvisioningLogRecord>> {
        let client = self.directory.scim_client.clone().ok_or_else(|| {
            Error::new(ErrorKind::Unavailable, "This node does not provision: it has no way to reach apps.")
        })?;
        let busy = || Error::new(ErrorKind::Throttled, "The job is running; try again in a moment.");
        let holder = format!("on-demand-{}", self.directory.new_object_id());
        let mut run = self.claim(tenant, record, &holder, client.as_ref()).await?.ok_or_else(busy)?;
        run.told = Some(Vec::new());
        let outcome = run.on_demand(users, groups).await;
        let done = run.told.take().unwrap_or_default();
        run.save(&|job| {
            job.record.holder = None;
            job.record.lease_until = None;
        })
        .await?;
        match outcome {
            Ok(()) => Ok(done),
            Err(Stop::Directory(error)) => Err(error),
            Err(Stop::Unreachable(reason) | Stop::Refused(reason)) => {
                Err(Error::new(ErrorKind::Unavailable, format!("The app could not be provisioned: {reason}")))
            }
        }
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

pub(super) struct Run<'a> {
    pub(super) directory: &'a Directory,
    pub(super) tenant: Uuid,
    pub(super) client: &'a dyn ScimClient,
    pub(super) target: Target,
    pub(super) job: Job,
    pub(super) calls: u32,
    pub(super) failed: u32,
    /// Writes of what was done, committed with the job's next progress.
    pub(super) pending: Vec<Write>,
    /// Objects refused this run, tried again in the next.
    pub(super) escrow: BTreeSet<Uuid>,
    pub(super) last_call: Option<std::time::Instant>,
    pub(super) began: DateTime<Utc>,
    /// The app's resources by matching value, by endpoint, when the run read them whole.
    pub(super) listed: HashMap<&'static str, HashMap<String, String>>,
    /// What the run logged, kept when someone waits to be told (an on-demand run).
    pub(super) told: Option<Vec<ProvisioningLogRecord>>,
    /// The node (or on-demand request) the run holds the job as.
    pub(super) holder: String,
    /// Objects made (+) and deleted (-) in the app since the job was last written, by endpoint.
    pub(super) counted: BTreeMap<&'static str, i64>,
    /// How users map onto the app's users.
    pub(super) mappings: Vec<AttributeMapping>,
}

impl Run<'_> {
    /// An on-demand run: these objects only, the cursor left where it is.
    async fn on_demand(&mut self, users: Vec<Uuid>, groups: Vec<Uuid>) -> Step<()> {
        let assignments =
            self.directory.store.app_role_assignments_to(self.tenant, self.job.record.service_principal).await?;
        let assigned = self.assigned(&assignments).await?;
        self.objects(&assigned, users, groups).await
    }

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
                if users.len() + groups.len() > LIST_ABOVE {
                    self.list_app("Users", &self.matching()).await?;
                    self.list_app("Groups", "displayName").await?;
                }
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

    pub(super) async fn provisioned(&self, ids: &[Uuid]) -> Step<HashMap<Uuid, ProvisionedRecord>> {
        let found = self.directory.store.provisioned(self.tenant, self.job.record.id, ids).await?;
        Ok(found.into_iter().map(|r| (r.object, r)).collect())
    }

    /// Commits what was done so far with the job's renewed claim.
    async fn progress(&mut self) -> Step<()> {
        let until = self.directory.now() + LEASE;
        match self.save(&|job| job.record.lease_until = Some(until)).await? {
            true => Ok(()),
            false => Err(Stop::Directory(Error::conflict("Another node took the provisioning job over."))),
        }
    }

    /// Commits what was done (whoever holds the job by then: it happened), then writes the job with
    /// `apply` made to it and the counts moved; when an administrator changed the job meanwhile (it is
    /// still this run's), reads it again and makes `apply` to that. `false` when another holder has it.
    async fn save(&mut self, apply: &(dyn Fn(&mut Job) + Sync)) -> Result<bool> {
        let writes = std::mem::take(&mut self.pending);
        if !writes.is_empty() {
            self.directory.store.commit(self.tenant, writes, self.directory.now()).await.map_err(Error::from)?;
        }
        let seq = self.job.record.seq;
        loop {
            apply(&mut self.job);
            for (endpoint, delta) in &self.counted {
                self.job.count(endpoint, *delta);
            }
            if self.directory.provisioning().put_job(self.tenant, &mut self.job, Vec::new()).await? {
                self.counted.clear();
                return Ok(true);
            }
            let fresh = self.directory.store.provisioning_job(self.tenant, self.job.record.id).await;
            match fresh.map_err(Error::from)? {
                Some(fresh) if fresh.holder.as_deref() == Some(self.holder.as_str()) => {
                    // A restart meanwhile moved the cursor back: it stands.
                    let seq = if fresh.seq == self.job.started_seq { seq } else { fresh.seq };
                    self.job.record = ProvisioningJobRecord { seq, ..fresh };
                }
                _ => return Ok(false),
            }
        }
    }

    /// Ends the run: the job's status, its next run, and what was done, in one write.
    async fn finish(mut self, outcome: Step<()>) -> Result<()> {
        let (now, began) = (self.directory.now(), self.began);
        let failing = self.calls >= QUARANTINE_CALLS && self.failed * 2 > self.calls;
        let escrowed: Vec<Uuid> = self.escrow.iter().copied().take(MOST_ESCROWED).collect();
        let started = self.job.started_seq;
        let ending = match outcome {
            Ok(()) if failing => {
                let reason = format!("{} of the run's {} calls to the app failed.", self.failed, self.calls);
                Ending::Quarantine("EncounteredEscrowProportionThreshold", reason)
            }
            Ok(()) => Ending::Succeeded,
            Err(Stop::Refused(reason)) => {
                self.job.record.seq = started;
                Ending::Quarantine("EncounteredQuarantineException", reason)
            }
            Err(Stop::Directory(error)) if error.kind == ErrorKind::Conflict => return Ok(()),
            Err(Stop::Unreachable(reason)) | Err(Stop::Directory(Error { message: reason, .. })) => {
                self.job.record.seq = started;
                Ending::Unreachable(reason)
            }
        };
        let end = |job: &mut Job| {
            match &ending {
                Ending::Succeeded => job.succeeded(began, now, escrowed.clone()),
                Ending::Quarantine(reason, detail) => {
                    let quarantine = Quarantine::new(reason, detail.clone());
                    job.quarantine(now, quarantine, now + QUARANTINE_RETRY, escrowed.clone());
                }
                Ending::Unreachable(reason) => job.unreachable(now, reason),
            }
            job.record.holder = None;
            job.record.lease_until = None;
        };
        self.save(&end).await?;
        Ok(())
    }
}

/// How a run ended, for the job's status.
enum Ending {
    Succeeded,
    Quarantine(&'static str, String),
    Unreachable(String),
}
