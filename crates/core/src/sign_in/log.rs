//! The sign-in log (Graph's `/auditLogs/signIns`): one record per sign-in attempt at every door — the password
//! grant, refresh grants (non-interactive), the pages' and device login's sign-ins and their second factor —
//! success or failure, in Graph's `signIn` shape, with each Conditional Access policy's result.
//!
//! Records leave the request through a bounded queue (a full queue holds the sign-in back) to one writer task
//! per node, which commits whatever has queued up as one batch per tenant; while passwords are being hashed,
//! at most once every [`COMMIT_SPACING`]. The sign-in waits until its record is committed: an acknowledged
//! sign-in always has its record, and a log that cannot be written fails the sign-in (`503`) rather than lose
//! it. Records older than the retention are purged hourly.

use super::authorize::Authorized;
use super::resource::Resource;
use super::{Origin, SignIn};
use crate::applications::AuthenticatedClient;
use crate::auth::authorization::{require, Action};
use crate::conditional_access::evaluate::Outcome;
use crate::conditional_access::policy::ClientApp;
use crate::credentials::passwords::HashLoad;
use crate::directory::WriteHealth;
use crate::kernel::error::{Error, Result};
use crate::kernel::request;
use crate::schema::format_time;
use crate::store::{ObjectRecord, SignInQuery, SignInRecord, Store, Write};
use crate::Caller;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use uuid::Uuid;

/// Records queued for the writer at most; beyond it sign-ins wait for room.
const QUEUE: usize = 4096;
/// Records one commit takes at most.
const BATCH: usize = 512;
/// While passwords are being hashed, the writer commits at most once in this time. A record that comes
/// sooner after the last commit waits for the rest of it (or until no hash is under way), and the records
/// of the sign-ins whose hashes finish meanwhile share its commit: under a flood of sign-ins, one commit (and
/// one flush to disk) for about ten, where a commit each took 3–5 % of the password grant's throughput and
/// one every 20 ms 2–3 % (docs/benchmarks.md, 2026-12-07 morning). A sign-in waits at most this long more,
/// next to the 10 ms of its password's hash.
const COMMIT_SPACING: Duration = Duration::from_millis(50);
/// How often the writer looks whether hashes are still under way while it gathers records.
const GATHER_STEP: Duration = Duration::from_millis(2);
/// The most records one read of the log returns.
pub const MOST_RECORDS: u32 = 1000;

/// What a sign-in attempt came to know, for its record: whatever it got to before it ended.
#[derive(Clone)]
pub(crate) struct Seen {
    pub origin: Origin,
    pub tenant: Option<Uuid>,
    pub username: String,
    pub user: Option<ObjectRecord>,
    pub client: Option<AuthenticatedClient>,
    pub resource: Option<Resource>,
    pub access: Option<Outcome>,
}

impl Seen {
    pub fn new(origin: Origin, username: &str) -> Seen {
        Seen {
            origin,
            tenant: None,
            username: username.to_owned(),
            user: None,
            client: None,
            resource: None,
            access: None,
        }
    }
}

/// Told when a queued record is committed, or why it could not be.
type Done = oneshot::Sender<std::result::Result<(), String>>;

/// A sign-in's record for the writer, with what its sign-in commits beside it (an authorization code: a code
/// given out always has its record).
struct Queued {
    tenant: Uuid,
    record: SignInRecord,
    with: Option<Write>,
    done: Done,
}

/// One tenant's part of a batch: one commit.
#[derive(Default)]
struct TenantBatch {
    writes: Vec<Write>,
    records: Vec<SignInRecord>,
    waiting: Vec<Done>,
}

/// This node's writer of the sign-in log.
#[derive(Default)]
struct Writer(Mutex<Option<mpsc::Sender<Queued>>>);

/// Entra's error code of an error: the AADSTS number of its message, or 90033 ("a transient error") for
/// one without.
fn error_code(error: &Error) -> i64 {
    let digits = error.message.strip_prefix("AADSTS").and_then(|rest| rest.split(':').next());
    digits.and_then(|d| d.parse().ok()).unwrap_or(90033)
}

/// Waits until `deadline` while passwords are being hashed: the sign-ins they belong to are about to queue
/// their records and can share the next commit. With no hash under way nothing is coming that waiting would
/// gather (the sign-ins whose records are queued wait for this very commit), so the commit goes at once: a
/// client signing in time after time, or a few signing in without a password, never waits for others.
async fn gather(deadline: Instant, hashing: &HashLoad) {
    while hashing.pending() > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(left.min(GATHER_STEP)).await;
    }
}

/// Commits queued records, a batch per tenant at a time, and answers each waiting sign-in.
async fn write(store: Arc<dyn Store>, health: WriteHealth, hashing: HashLoad, mut queue: mpsc::Receiver<Queued>) {
    let mut last: Option<Instant> = None;
    while let Some(first) = queue.recv().await {
        if let Some(last) = last {
            gather(last + COMMIT_SPACING, &hashing).await;
        }
        last = Some(Instant::now());
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut by_tenant: HashMap<Uuid, TenantBatch> = HashMap::new();
        for Queued { tenant, record, with, done } in batch {
            let entry = by_tenant.entry(tenant).or_default();
            entry.writes.extend(with);
            entry.records.push(record);
            entry.waiting.push(done);
        }
        for (tenant, TenantBatch { mut writes, records, waiting }) in by_tenant {
            let at = records.first().map(|r| r.at).unwrap_or_else(Utc::now);
            writes.push(Write::LogSignIns(records));
            let result = store.commit(tenant, writes, at).await;
            health.note(&result);
            for done in waiting {
                let _ = done.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
            }
        }
    }
}

impl SignIn<'_> {
    /// Records an attempt that ended with `ending` (an error, or none for a success), and waits until the
    /// record is committed.
    pub(crate) async fn log(&self, seen: &Seen, interactive: bool, ending: Option<&Error>) -> Result<()> {
        let Some(tenant) = seen.tenant else { return Ok(()) };
        self.commit_record(tenant, self.record(seen, interactive, ending), None).await
    }

    /// Commits a sign-in's record, and `with` it what the sign-in commits beside it, in one transaction
    /// through the node's writer; waits until they are committed.
    pub(super) async fn commit_record(&self, tenant: Uuid, record: SignInRecord, with: Option<Write>) -> Result<()> {
        let (done, written) = oneshot::channel();
        self.queue()
            .send(Queued { tenant, record, with, done })
            .await
            .map_err(|_| Error::unavailable("The sign-in log is closed.", 1))?;
        match written.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                tracing::error!(%tenant, %error, "a sign-in record could not be written; the sign-in fails");
                Err(Error::unavailable("The sign-in could not be recorded. Try again.", 1))
            }
            Err(_) => Err(Error::unavailable("The sign-in log is closed.", 1)),
        }
    }

    /// Records what a sign-in at the pages came to: a success when granted; an interruption (the second
    /// factor, consent) with Entra's code for it; or the error.
    pub(super) async fn log_answer(&self, seen: &Seen, result: &Result<Authorized>) -> Result<()> {
        let interrupted = match result {
            Ok(Authorized::Granted { .. }) => None,
            Ok(Authorized::SecondFactor) => Some(super::grant_error("AADSTS50074: Strong Authentication is required.")),
            Ok(Authorized::SignInAgain) => Some(super::grant_error(
                "AADSTS70044: The session has expired or is invalid due to sign-in frequency checks by conditional access.",
            )),
            Ok(Authorized::Consent(_)) => Some(super::grant_error(
                "AADSTS65001: The user or administrator has not consented to use the application.",
            )),
            Err(error) => Some(error.clone()),
        };
        self.log(seen, true, interrupted.as_ref()).await
    }

    /// This node's queue to the writer, which starts with the first record.
    fn queue(&self) -> mpsc::Sender<Queued> {
        let writer = self.directory.node_state::<Writer>();
        let mut sender = writer.0.lock().unwrap_or_else(|p| p.into_inner());
        match sender.as_ref() {
            Some(sender) if !sender.is_closed() => sender.clone(),
            _ => {
                let (send, receive) = mpsc::channel(QUEUE);
                let directory = self.directory;
                let health = directory.write_health.clone();
                tokio::spawn(write(directory.store.clone(), health, directory.hasher.load(), receive));
                *sender = Some(send.clone());
                send
            }
        }
    }

    /// The attempt as Graph's `signIn` shows it.
    pub(super) fn record(&self, seen: &Seen, interactive: bool, error: Option<&Error>) -> SignInRecord {
        let origin = &seen.origin;
        let id = self.directory.random().uuid();
        let at = self.directory.now();
        let text = |user: &ObjectRecord, name: &str| user.doc.get(name).cloned().unwrap_or(Value::Null);
        let upn = match &seen.user {
            Some(user) => user.doc.get("userPrincipalName").and_then(Value::as_str).unwrap_or_default().to_owned(),
            None => seen.username.clone(),
        };
        let code = error.map(error_code).unwrap_or(0);
        let failure = match error {
            Some(e) => e.message.clone(),
            None => "Other.".to_owned(),
        };
        let policies: Vec<Value> = seen
            .access
            .iter()
            .flat_map(|outcome| outcome.results.iter())
            .map(|(id, name, result)| {
                json!({"id": id, "displayName": name, "result": result, "enforcedGrantControls": [], "enforcedSessionControls": []})
            })
            .collect();
        let applied = |r: &&(String, String, &str)| matches!(r.2, "success" | "failure");
        let status = match &seen.access {
            Some(outcome) if outcome.results.iter().filter(applied).any(|r| r.2 == "failure") => "failure",
            Some(outcome) if outcome.results.iter().any(|r| applied(&r)) => "success",
            _ => "notApplied",
        };
        let mfa = origin.methods.iter().any(|m| m == "mfa");
        let (resource_id, resource_name) = match &seen.resource {
            Some(Resource::Graph) => (json!(crate::auth::authorization::GRAPH_APP_ID), json!("Microsoft Graph")),
            Some(Resource::Api { api, .. }) => {
                (json!(api.authenticated().app_id), json!(api.authenticated().display_name.clone()))
            }
            None => (Value::Null, Value::Null),
        };
        let context = request::current();
        let mut doc = Map::new();
        doc.insert("id".into(), json!(id));
        doc.insert("createdDateTime".into(), json!(format_time(at)));
        doc.insert("userId".into(), json!(seen.user.as_ref().map(|u| u.id)));
        doc.insert("userDisplayName".into(), seen.user.as_ref().map(|u| text(u, "displayName")).unwrap_or(Value::Null));
        doc.insert("userPrincipalName".into(), json!(upn));
        let guest = seen.user.as_ref().is_some_and(crate::auth::roles::is_guest);
        doc.insert("userType".into(), json!(if guest { "guest" } else { "member" }));
        doc.insert("crossTenantAccessType".into(), json!(if guest { "b2bCollaboration" } else { "none" }));
        doc.insert("appId".into(), json!(seen.client.as_ref().map(|c| c.app_id)));
        doc.insert("appDisplayName".into(), json!(seen.client.as_ref().map(|c| c.display_name.clone())));
        doc.insert("resourceId".into(), resource_id);
        doc.insert("resourceDisplayName".into(), resource_name);
        doc.insert("ipAddress".into(), json!(origin.ip.map(|ip| ip.to_string()).unwrap_or_default()));
        let client_app = match origin.client_app {
            ClientApp::Browser => "Browser",
            ClientApp::MobileAppsAndDesktopClients => "Mobile Apps and Desktop clients",
        };
        doc.insert("clientAppUsed".into(), json!(client_app));
        doc.insert("userAgent".into(), json!(origin.user_agent.clone().unwrap_or_default()));
        doc.insert("correlationId".into(), json!(context.client_request_id.unwrap_or(context.request_id)));
        doc.insert("isInteractive".into(), json!(interactive));
        doc.insert("conditionalAccessStatus".into(), json!(status));
        doc.insert("appliedConditionalAccessPolicies".into(), Value::Array(policies));
        let requirement = if mfa { "multiFactorAuthentication" } else { "singleFactorAuthentication" };
        doc.insert("authenticationRequirement".into(), json!(requirement));
        doc.insert("status".into(), json!({"errorCode": code, "failureReason": failure, "additionalDetails": null}));
        doc.insert(
            "location".into(),
            json!({"city": null, "state": null, "countryOrRegion": null, "geoCoordinates": null}),
        );
        for hidden in ["riskDetail", "riskLevelAggregated", "riskLevelDuringSignIn", "riskState"] {
            doc.insert(hidden.into(), json!("hidden"));
        }
        SignInRecord {
            id,
            at,
            user: seen.user.as_ref().map(|u| u.id),
            user_principal_name: upn.to_lowercase(),
            app: seen.client.as_ref().map(|c| c.app_id),
            error_code: code,
            doc,
        }
    }

    /// Reads the tenant's sign-in log, newest first.
    pub async fn logs(&self, caller: &Caller, query: &SignInQuery) -> Result<Vec<SignInRecord>> {
        require(caller, Action::ReadAuditLogs)?;
        let query = SignInQuery { limit: query.limit.clamp(1, MOST_RECORDS), ..query.clone() };
        self.directory.store.sign_ins(caller.tenant(), &query).await.map_err(Error::from)
    }

    /// The signed-in person's own recent sign-ins, newest first (My Account's recent activity): no role is
    /// needed to read one's own.
    pub async fn own_logs(&self, caller: &Caller, limit: u32) -> Result<Vec<SignInRecord>> {
        let Some(user) = caller.user() else { return Err(Error::forbidden()) };
        let query = SignInQuery { user: Some(user), limit: limit.clamp(1, MOST_RECORDS), ..SignInQuery::default() };
        self.directory.store.sign_ins(caller.tenant(), &query).await.map_err(Error::from)
    }

    /// One record of the tenant's sign-in log.
    pub async fn log_record(&self, caller: &Caller, id: &str) -> Result<SignInRecord> {
        let found = match Uuid::parse_str(id) {
            Ok(id) => self.logs(caller, &SignInQuery { id: Some(id), limit: 1, ..SignInQuery::default() }).await?,
            Err(_) => Vec::new(),
        };
        found.into_iter().next().ok_or_else(|| Error::not_found(id))
    }

    /// Forgets every tenant's sign-in records older than the directory's retention.
    pub async fn purge_logs(&self) -> Result<()> {
        let before: DateTime<Utc> = self.directory.now() - self.directory.config.sign_in_retention;
        for tenant in self.directory.tenants().list().await? {
            let write = Write::PurgeSignIns { before };
            self.directory.commit(&Caller::System { tenant: tenant.id }, vec![write]).await?;
        }
        Ok(())
    }
}
