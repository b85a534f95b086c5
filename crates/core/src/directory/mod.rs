//! [`Directory`]: the core's entry point. Adapters hold one and call its use cases, caller first.
//!
//! It owns the caches that make hot paths cheap: parsed signing keys per tenant, and recently verified
//! access tokens (RS256 verification is cheap but not free, and a client sends the same token many times).

pub(crate) mod brief;
pub mod cache;
pub(crate) mod contention;
mod node;
pub mod objects;

use crate::auth::authorization::GRAPH_APP_ID;
use crate::credentials::keys::{SigningKey, VerifyingKey};
use crate::credentials::passwords::HashParams;
use crate::credentials::secrets::MasterKey;
use crate::kernel::clock::Clock;
use crate::kernel::error::{Error, Result};
use crate::kernel::random::{ObjectIds, Random, SystemRandom};
use crate::store::{ObjectKind, Store, StoreError, TenantRecord, Write};
use crate::Caller;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct DirectoryConfig {
    /// argon2id cost for password hashes.
    pub hash_params: HashParams,
    /// How long an access token lives, in seconds.
    pub access_token_lifetime: i64,
    /// How long soft-deleted objects stay restorable.
    pub deleted_retention: chrono::Duration,
    /// How many password hashes may run at once (default: one per core).
    pub hash_concurrency: usize,
    /// How long the sign-in log keeps its records.
    pub sign_in_retention: chrono::Duration,
    /// How long a node may take over one delivery attempt of a message before another may try it (a node
    /// that died mid-attempt holds it that long).
    pub mail_attempt_timeout: chrono::Duration,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        Self {
            hash_params: HashParams::PRODUCTION,
            access_token_lifetime: 3599,
            deleted_retention: chrono::Duration::days(30),
            hash_concurrency: std::thread::available_parallelism().map(usize::from).unwrap_or(2),
            sign_in_retention: chrono::Duration::days(30),
            mail_attempt_timeout: chrono::Duration::minutes(2),
        }
    }
}

/// How many change records one read of the log for the object cache takes.
const FOLLOW_PAGE: u32 = 1000;

/// A tenant's keys: the one that signs now, and every key whose tokens are still accepted.
pub(crate) struct TenantKeys {
    pub signing: Arc<SigningKey>,
    pub verifying: Vec<VerifyingKey>,
}

/// A verified token, remembered until it expires.
pub(crate) struct VerifiedToken {
    pub caller: Caller,
    pub expires: i64,
}

const TOKEN_CACHE_CAPACITY: usize = 50_000;
/// How long a tenant's id or domain, as named in a URL, is taken from memory before it is read again.
const TENANT_NAME_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// How long a tenant's record serves hot paths from memory ([`Directory::tenant_settings`]): how late a
/// change to its password, lockout or guest policy made on another node can reach this one.
const TENANT_CACHE: brief::Lifetime = brief::Lifetime { seconds: 5, capacity: 10_000 };

pub struct Directory {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Where ids, secrets, nonces, codes and jitter come from.
    random: Arc<dyn Random>,
    object_ids: ObjectIds,
    pub(crate) master: MasterKey,
    pub(crate) config: DirectoryConfig,
    pub(crate) keys: RwLock<HashMap<Uuid, Arc<TenantKeys>>>,
    pub(crate) verified: Mutex<HashMap<[u8; 32], VerifiedToken>>,
    /// Tenant ids by id or verified domain as named in URLs, with when each was read. A domain removed on
    /// this node is evicted at once; one removed on another node is read again within [`TENANT_NAME_TTL`].
    tenant_names: RwLock<HashMap<String, (Uuid, std::time::Instant)>>,
    /// Looks up the DNS records that prove a domain's ownership; none on a node that has no resolver.
    pub(crate) dns: Option<Arc<dyn crate::kernel::dns::Dns>>,
    /// Sends the directory's email; none on a node that sends none.
    pub(crate) mailer: Option<Arc<dyn crate::kernel::mail::Mailer>>,
    /// Reaches the SCIM services of the apps provisioning feeds; none on a node that provisions nothing.
    pub(crate) scim_client: Option<Arc<dyn crate::kernel::scim_client::ScimClient>>,
    /// Each tenant's Microsoft Graph service principal, which never changes.
    graph_principals: RwLock<HashMap<Uuid, Uuid>>,
    /// Wakes this node's change-log processors after a commit that logged a change (other nodes' commits are
    /// found by polling).
    committed: tokio::sync::Notify,
    /// The highest change sequence number a commit on this node has returned, per tenant: a commit that
    /// returns none higher logged no change (a refresh token's rotation, a sign-in record) and so gives the
    /// processors nothing to do.
    logged: Mutex<HashMap<Uuid, i64>>,
    /// What features keep in memory on this node (see [`node::NodeState`]).
    node: node::NodeState,
    /// Failed client authentications by client and by source address.
    pub(crate) throttle: crate::credentials::throttle::Throttle,
    /// Password hashing, a bounded number at a time.
    pub(crate) hasher: crate::credentials::passwords::Hasher,
    /// How many commits on this node touched what each tenant's brief caches hold.
    pub(crate) touches: brief::Touches,
    /// Users read by id, kept fresh from the change log.
    pub(crate) cache: crate::directory::cache::ObjectCache,
    /// Whether the last commit failed for want of the store.
    pub(crate) write_health: WriteHealth,
    /// The write locks of the objects that requests on this node are changing.
    pub(crate) object_locks: crate::directory::contention::ObjectLocks,
}

/// Whether the node's last write failed for want of the store (out of space, read-only, unreachable), for
/// readiness: every commit on the node tells it its outcome, those of writers that commit on their own task
/// (the sign-in log's) as well as [`Directory::commit`]'s.
#[derive(Clone, Default)]
pub(crate) struct WriteHealth(Arc<std::sync::atomic::AtomicBool>);

impl WriteHealth {
    /// Takes in a commit's outcome.
    pub(crate) fn note<T>(&self, committed: &std::result::Result<T, StoreError>) {
        let failing = match committed {
            Ok(_) => false,
            Err(StoreError::Unavailable(_)) => true,
            Err(_) => return,
        };
        self.0.store(failing, std::sync::atomic::Ordering::Relaxed);
    }

    fn failing(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Directory {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, master: MasterKey, config: DirectoryConfig) -> Self {
        let hasher = crate::credentials::passwords::Hasher::new(config.hash_params, config.hash_concurrency);
        Self {
            store,
            clock,
            random: Arc::new(SystemRandom),
            object_ids: ObjectIds::default(),
            master,
            config,
            keys: RwLock::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
            tenant_names: RwLock::new(HashMap::new()),
            dns: None,
            mailer: None,
            scim_client: None,
            graph_principals: RwLock::new(HashMap::new()),
            committed: tokio::sync::Notify::new(),
            logged: Mutex::new(HashMap::new()),
            node: node::NodeState::default(),
            throttle: crate::credentials::throttle::Throttle::default(),
            hasher,
            write_health: WriteHealth::default(),
            touches: brief::Touches::default(),
            cache: crate::directory::cache::ObjectCache::default(),
            object_locks: crate::directory::contention::ObjectLocks::default(),
        }
    }

    /// The directory with another source of randomness (the operating system's by default).
    pub fn with_random(self, random: Arc<dyn Random>) -> Self {
        Self { random, ..self }
    }

    /// The directory's source of randomness.
    pub(crate) fn random(&self) -> &dyn Random {
        self.random.as_ref()
    }

    /// A password hash's salt.
    pub(crate) fn salt(&self) -> [u8; 16] {
        let mut salt = [0u8; 16];
        self.random().fill(&mut salt);
        salt
    }

    /// A new object's id: time-ordered, from the directory's clock and randomness.
    pub(crate) fn new_object_id(&self) -> Uuid {
        let millis = u64::try_from(self.now().timestamp_millis()).unwrap_or_default();
        self.object_ids.next(millis, self.random())
    }

    /// The directory with a DNS resolver, for domain verification.
    pub fn with_dns(self, dns: Arc<dyn crate::kernel::dns::Dns>) -> Self {
        Self { dns: Some(dns), ..self }
    }

    /// The directory with a way to send email.
    pub fn with_mailer(self, mailer: Arc<dyn crate::kernel::mail::Mailer>) -> Self {
        Self { mailer: Some(mailer), ..self }
    }

    /// The directory with a way to reach other systems' SCIM services, for provisioning.
    pub fn with_scim_client(self, client: Arc<dyn crate::kernel::scim_client::ScimClient>) -> Self {
        Self { scim_client: Some(client), ..self }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The key adapters sign their paging tokens with (the master key itself stays in the core).
    pub fn paging_key(&self) -> &crate::credentials::secrets::PagingKey {
        self.master.paging_key()
    }

    pub fn config(&self) -> &DirectoryConfig {
        &self.config
    }

    /// The password hashing pool, for what it has done.
    pub fn hasher(&self) -> &crate::credentials::passwords::Hasher {
        &self.hasher
    }

    /// Whether the store answers and takes writes; for readiness probes. A store whose last write failed for
    /// want of the store (out of space, read-only, unreachable) is not ready until a write succeeds again (the
    /// processors' lease renewals try one at least every 15 seconds).
    pub async fn ready(&self) -> bool {
        !self.write_health.failing() && self.store.ping().await.is_ok()
    }

    /// Commits one use case's writes in the caller's tenant.
    pub(crate) async fn commit(&self, caller: &Caller, writes: Vec<Write>) -> std::result::Result<i64, StoreError> {
        let touched: Vec<brief::Subject> = writes.iter().filter_map(brief::Subject::of).collect();
        let eviction = crate::directory::cache::ObjectCache::eviction(&writes);
        let committed = self.store.commit_by(caller.tenant(), writes, self.clock.now(), caller.initiator()).await;
        self.touches.note(caller.tenant(), &touched);
        self.write_health.note(&committed);
        if let Ok(seq) = &committed {
            self.cache.written(caller.tenant(), eviction);
            if self.logged_beyond(caller.tenant(), *seq) {
                self.committed.notify_one();
            }
        }
        committed
    }

    /// Whether `seq`, a commit's last sequence number, is beyond any an earlier commit on this node returned
    /// for the tenant; notes it.
    fn logged_beyond(&self, tenant: Uuid, seq: i64) -> bool {
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        let last = logged.entry(tenant).or_insert(i64::MIN);
        let beyond = seq > *last;
        *last = (*last).max(seq);
        beyond
    }

    /// This node's in-memory value of type `T` (a feature's caches and progress), made on first use.
    pub(crate) fn node_state<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        self.node.get()
    }

    /// Follows the tenant's change log for this node's object cache: evicts what other nodes changed since the
    /// last call (the first call starts following at the log's end).
    pub async fn follow_changes(&self, tenant: Uuid) -> Result<()> {
        let Some(mut from) = self.cache.followed(tenant) else {
            let last = self.store.last_change(tenant).await.map_err(Error::from)?;
            self.cache.start(tenant, last);
            return Ok(());
        };
        loop {
            let changes = self.store.changes(tenant, from, FOLLOW_PAGE).await.map_err(Error::from)?;
            self.cache.follow(tenant, &changes);
            match changes.last() {
                Some(last) if changes.len() == FOLLOW_PAGE as usize => from = last.seq,
                _ => return Ok(()),
            }
        }
    }

    /// Waits until this node commits a write that logs a change (a wake-up left by an earlier commit counts).
    pub async fn committed(&self) {
        self.committed.notified().await
    }

    /// The ids of every tenant, for work that runs per tenant.
    pub async fn tenant_ids(&self) -> Result<Vec<Uuid>> {
        Ok(self.store.tenants().await.map_err(Error::from)?.into_iter().map(|t| t.id).collect())
    }

    /// A tenant's id from its id or any of its domains, as named in an identity-platform URL.
    pub async fn resolve_tenant(&self, id_or_domain: &str) -> Result<Uuid> {
        let name = id_or_domain.to_lowercase();
        let known = self.tenant_names.read().unwrap_or_else(|p| p.into_inner()).get(&name).copied();
        if let Some((id, _)) = known.filter(|(_, read)| read.elapsed() < TENANT_NAME_TTL) {
            return Ok(id);
        }
        let tenant =
            self.store.tenant(&name).await.map_err(Error::from)?.ok_or_else(|| Error::not_found(id_or_domain))?;
        self.tenant_names
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, (tenant.id, std::time::Instant::now()));
        Ok(tenant.id)
    }

    /// Forgets a removed domain's tenant.
    pub(crate) fn forget_tenant_name(&self, name: &str) {
        self.tenant_names.write().unwrap_or_else(|p| p.into_inner()).remove(name);
    }

    /// The object id of the tenant's Microsoft Graph service principal.
    pub(crate) async fn graph_principal(&self, tenant: Uuid) -> Result<Option<Uuid>> {
        if let Some(id) = self.graph_principals.read().unwrap_or_else(|p| p.into_inner()).get(&tenant) {
            return Ok(Some(*id));
        }
        let graph = self
            .store
            .object_by_key(tenant, ObjectKind::ServicePrincipal, GRAPH_APP_ID)
            .await
            .map_err(Error::from)?
            .map(|sp| sp.id);
        if let Some(id) = graph {
            self.graph_principals.write().unwrap_or_else(|p| p.into_inner()).insert(tenant, id);
        }
        Ok(graph)
    }

    /// The tenant's record for the decisions of hot paths (a sign-in's password rules, expiry and lockout
    /// policy, a guest's standing, a client assertion's audiences), from this node's brief cache: exact for
    /// changes made on this node, at most [`TENANT_CACHE`]'s seconds late for other nodes'. Writes that
    /// compare its version read [`Directory::tenant_record`].
    pub(crate) async fn tenant_settings(&self, tenant: Uuid) -> Result<Arc<TenantRecord>> {
        let (now, touches) = (self.now().timestamp(), self.touches.count(tenant, brief::Subject::Tenant));
        let cache = self.node_state::<brief::Brief<Uuid, TenantRecord>>();
        if let Some(record) = cache.fresh(&tenant, now, touches, &TENANT_CACHE) {
            return Ok(record);
        }
        let record = Arc::new(self.tenant_record(tenant).await?);
        cache.keep(tenant, record.clone(), now, touches, &TENANT_CACHE);
        Ok(record)
    }

    pub(crate) async fn tenant_record(&self, tenant: Uuid) -> Result<TenantRecord> {
        self.store
            .tenant(&tenant.to_string())
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::unauthenticated("The tenant does not exist."))
    }

    /// The tenant's keys, loaded and parsed once.
    pub(crate) async fn tenant_keys(&self, tenant: Uuid) -> Result<Option<Arc<TenantKeys>>> {
        if let Some(keys) = self.keys.read().unwrap_or_else(|p| p.into_inner()).get(&tenant) {
            return Ok(Some(keys.clone()));
        }
        let records = self.store.signing_keys(tenant).await.map_err(Error::from)?;
        let mut parsed = Vec::with_capacity(records.len());
        for record in &records {
            parsed.push(Arc::new(SigningKey::from_pkcs8(&self.master.open(&record.sealed_private_key)?)?));
        }
        let Some(signing) = parsed.last().cloned() else {
            return Ok(None);
        };
        let keys = Arc::new(TenantKeys { signing, verifying: parsed.iter().map(|k| k.verifier()).collect() });
        self.keys.write().unwrap_or_else(|p| p.into_inner()).insert(tenant, keys.clone());
        Ok(Some(keys))
    }

    pub(crate) fn remember_token(&self, digest: [u8; 32], caller: Caller, expires: i64) {
        let mut cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= TOKEN_CACHE_CAPACITY {
            let now = self.clock.now().timestamp();
            cache.retain(|_, v| v.expires > now);
            if cache.len() >= TOKEN_CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(digest, VerifiedToken { caller, expires });
    }

    pub(crate) fn recall_token(&self, digest: &[u8; 32]) -> Option<(Caller, i64)> {
        let cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(digest).map(|v| (v.caller.clone(), v.expires))
    }
}

/// Maps a store failure of a write to the core's error; `conflict` says what a unique-value clash means.
pub(crate) fn write_error(error: StoreError, conflict: &str) -> Error {
    match error {
        StoreError::Conflict(_) => Error::conflict(conflict),
        StoreError::Missing | StoreError::VersionMismatch => {
            Error::new(crate::ErrorKind::NotFound, "The object changed or was removed while the request ran.")
        }
        unavailable @ StoreError::Unavailable(_) => Error::from(unavailable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_that_cannot_write_is_unavailable_not_an_internal_error() {
        let error = write_error(StoreError::Unavailable("database or disk is full".into()), "taken");
        assert_eq!(error.kind, crate::ErrorKind::Unavailable);
        assert_eq!(error.retry_after, Some(5));
        assert!(!error.message.contains("disk"), "the cause stays in the log: {}", error.message);
        assert_eq!(write_error(StoreError::Conflict("upn".into()), "taken").kind, crate::ErrorKind::Conflict);
    }
}
