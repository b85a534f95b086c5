//! [`SqlStore`]: the core's store interface over either engine. See the crate docs for the layout.

use crate::compile;
use crate::migrations::INDEXED_VALUES;
use crate::plan::{self, query, Batch, Query, Row, SqlValue, OBJECT_COLUMNS};
use crate::postgres::PgDb;
use crate::sqlite::SqliteDb;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::store::audit::{AuditQuery, AuditRecord, Initiator};
use gatehouse_core::store::{
    AppRoleAssignmentRecord, AuthorizationCodeRecord, ChangeRecord, ConditionalAccessRecord, DeviceCodeRecord,
    DomainRecord, DynamicStatusRecord, Link, LockoutRecord, MailRecord, MailState, ObjectKind, ObjectQuery,
    ObjectRecord, PasswordEntry, PermissionGrantRecord, ProvisionedRecord, ProvisioningJobRecord, ProvisioningLogQuery,
    ProvisioningLogRecord, RefreshFamilyRecord, SecretRecord, SharingLinkRecord, SignInQuery, SignInRecord,
    SigningKeyRecord, Store, StoreError, StoreResult, TenantRecord, UserName, Write,
};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

enum Backend {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

pub struct SqlStore {
    backend: Backend,
}

/// How a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// PostgreSQL: the most connections this node keeps to the database. Default: twice the node's cores,
    /// plus one (PostgreSQL's own sizing rule, with this node's cores for the database's): on a loaded
    /// machine, more connections than that only take turns on the same cores, each backend colder for it.
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        StoreOptions { max_connections: u32::try_from(cores * 2 + 1).unwrap_or(u32::MAX) }
    }
}

/// Hides a password in a database URL before it reaches a log or an error.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl SqlStore {
    /// Connects with the default options and migrates. `url` is `sqlite://PATH` (created if missing) or
    /// `postgres://…`.
    pub async fn connect(url: &str) -> StoreResult<SqlStore> {
        SqlStore::connect_with(url, StoreOptions::default()).await
    }

    /// Connects and migrates.
    pub async fn connect_with(url: &str, options: StoreOptions) -> StoreResult<SqlStore> {
        let (backend, applied) = if url.starts_with("sqlite:") {
            let db = SqliteDb::open(url)?;
            let applied = db.migrate()?;
            (Backend::Sqlite(db), applied)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let db = PgDb::connect(url, options.max_connections).await?;
            let applied = db.migrate().await?;
            (Backend::Postgres(db), applied)
        } else {
            return Err(StoreError::Unavailable(format!("unsupported database URL scheme in '{}'", redact(url))));
        };
        let store = SqlStore { backend };
        let mut kinds: Vec<ObjectKind> = Vec::new();
        for (_, concerned) in INDEXED_VALUES.iter().filter(|(version, _)| applied.contains(version)) {
            let concerned = if concerned.is_empty() { &ObjectKind::ALL[..] } else { concerned };
            for kind in concerned {
                if !kinds.contains(kind) {
                    kinds.push(*kind);
                }
            }
        }
        if !kinds.is_empty() {
            store.reindex(&kinds).await?;
        }
        Ok(store)
    }

    /// Recomputes the query values and sort key of every object of the kinds, tenant by tenant, a page at
    /// a time.
    async fn reindex(&self, kinds: &[ObjectKind]) -> StoreResult<()> {
        let slots = placeholders(3, kinds.len());
        let sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE tenant_id = $1 AND id > $2 AND kind IN ({}) ORDER BY id LIMIT 500",
            slots
        );
        for tenant in self.tenants().await? {
            let mut after = String::new();
            loop {
                let mut params: Vec<SqlValue> = vec![tenant.id.into(), after.as_str().into()];
                params.extend(kinds.iter().map(|k| k.as_str().into()));
                let page = self.fetch_all(query(sql.as_str(), params), plan::object).await?;
                let Some(last) = page.last() else { break };
                after = last.id.to_string();
                let tenant_text = tenant.id.to_string();
                let mut statements = Vec::new();
                for object in &page {
                    statements.extend(plan::index_statements(&tenant_text, object));
                    statements.push(plan::sort_statement(&tenant_text, object));
                }
                self.run(Batch::maintenance(tenant.id, statements)).await?;
            }
        }
        Ok(())
    }

    async fn run(&self, batch: Batch) -> StoreResult<i64> {
        match &self.backend {
            Backend::Sqlite(db) => db.transaction(batch).await,
            Backend::Postgres(db) => db.transaction(batch).await,
        }
    }

    pub fn engine(&self) -> Engine {
        match self.backend {
            Backend::Sqlite(_) => Engine::Sqlite,
            Backend::Postgres(_) => Engine::Postgres,
        }
    }

    async fn fetch(&self, query: Query) -> StoreResult<Vec<Row>> {
        match &self.backend {
            Backend::Sqlite(db) => db.fetch(&query),
            Backend::Postgres(db) => db.fetch(&query).await,
        }
    }

    async fn fetch_all<T>(&self, query: Query, decode: fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
        self.fetch(query).await?.iter().map(decode).collect()
    }

    async fn fetch_one<T>(&self, query: Query, decode: fn(&Row) -> StoreResult<T>) -> StoreResult<Option<T>> {
        self.fetch(query).await?.first().map(decode).transpose()
    }

    /// The tenants that match `condition` (on `t`, the tenants table) with their domains, in one query.
    async fn tenants_where(&self, condition: &str, params: Vec<SqlValue>) -> StoreResult<Vec<TenantRecord>> {
        let sql = format!(
            "SELECT t.id, t.display_name, t.initial_domain, t.created_at, t.organization, t.version, t.default_domain, \
             d.name FROM tenants t \
             LEFT JOIN domains d ON d.tenant_id = t.id WHERE {condition} ORDER BY t.created_at, t.id, d.name"
        );
        let mut out: Vec<TenantRecord> = Vec::new();
        for row in self.fetch(query(sql, params)).await? {
            let id = row.uuid(0)?;
            if out.last().is_none_or(|t| t.id != id) {
                out.push(TenantRecord {
                    id,
                    display_name: row.text(1)?,
                    initial_domain: row.text(2)?,
                    default_domain: row.text(6)?,
                    domains: Vec::new(),
                    created_at: row.time(3)?,
                    organization: plan::document(&row.text(4)?)?,
                    version: row.int(5)?,
                });
            }
            if let (Some(tenant), Some(domain)) = (out.last_mut(), row.optional_text(7)?) {
                tenant.domains.push(domain);
            }
        }
        Ok(out)
    }
}

/// `$from, $from+1, …`: one placeholder for each of `count` parameters, for an `IN (…)` list.
fn placeholders(from: usize, count: usize) -> String {
    (from..from + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// The conditions of a read of one tenant's rows (`tenant_id = $1` first), each added with a `?` for each of
/// its parameters, in order.
struct Conditions {
    sql: String,
    params: Vec<SqlValue>,
}

impl Conditions {
    fn of(tenant: Uuid) -> Conditions {
        Conditions { sql: "tenant_id = $1".to_owned(), params: vec![tenant.into()] }
    }

    fn add(&mut self, condition: &str, values: Vec<SqlValue>) {
        let mut condition = condition.to_owned();
        for value in values {
            self.params.push(value);
            condition = condition.replacen('?', &format!("${}", self.params.len()), 1);
        }
        self.sql.push_str(" AND ");
        self.sql.push_str(&condition);
    }

    /// The conditions, the `LIMIT`'s parameter slot for `limit`, and the parameters.
    fn limited(mut self, limit: u32) -> (String, String, Vec<SqlValue>) {
        self.params.push(i64::from(limit).into());
        let slot = format!("${}", self.params.len());
        (self.sql, slot, self.params)
    }
}

/// The outbox's columns, as [`plan::mail_record`] reads them.
const MAIL_COLUMNS: &str = "id, kind, recipient, subject, body_text, body_html, state, attempts, next_attempt_at, \
     claimed_until, last_error, created_at, sent_at";

/// The sharing links' columns, as [`plan::sharing_link_record`] reads them.
const SHARING_COLUMNS: &str =
    "id, resource_id, shared_by, recipient, access, created_at, expires_at, revoked_at, uses, last_used_at";

/// A provisioning job's columns, as [`plan::provisioning_job_record`] reads them.
const JOB_COLUMNS: &str = "id, service_principal_id, doc, seq, version, holder, lease_until, due_at, created_at";

#[async_trait]
impl Store for SqlStore {
    async fn commit_by(&self, tenant: Uuid, writes: Vec<Write>, at: DateTime<Utc>, by: Initiator) -> StoreResult<i64> {
        self.run(Batch::new(tenant, writes, at, by, self.engine() == Engine::Postgres)?).await
    }

    async fn tenants(&self) -> StoreResult<Vec<TenantRecord>> {
        self.tenants_where("1 = 1", vec![]).await
    }

    async fn tenant(&self, id_or_domain: &str) -> StoreResult<Option<TenantRecord>> {
        let condition = "t.id = $1 OR t.id = (SELECT tenant_id FROM domains WHERE name = $1)";
        Ok(self.tenants_where(condition, vec![id_or_domain.to_lowercase().into()]).await?.into_iter().next())
    }

    async fn domains(&self, tenant: Uuid) -> StoreResult<Vec<DomainRecord>> {
        let q = query(
            "SELECT name, verified, code, created_at FROM tenant_domains WHERE tenant_id = $1 ORDER BY name",
            vec![tenant.into()],
        );
        self.fetch_all(q, |row| {
            Ok(DomainRecord {
                name: row.text(0)?,
                verified: row.int(1)? == 1,
                code: row.optional_text(2)?,
                created_at: row.time(3)?,
            })
        })
        .await
    }

    async fn object(&self, tenant: Uuid, kind: ObjectKind, id: Uuid) -> StoreResult<Option<ObjectRecord>> {
        let sql = format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE tenant_id = $1 AND id = $2 AND kind = $3");
        self.fetch_one(query(sql, vec![tenant.into(), id.into(), kind.as_str().into()]), plan::object).await
    }

    async fn any_objects(&self, tenant: Uuid, ids: &[Uuid]) -> StoreResult<Vec<ObjectRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let slots = placeholders(2, ids.len());
        let sql = format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE tenant_id = $1 AND id IN ({slots})");
        let mut params: Vec<SqlValue> = vec![tenant.into()];
        params.extend(ids.iter().map(|id| SqlValue::from(*id)));
        self.fetch_all(query(sql, params), plan::object).await
    }

    async fn object_by_key(&self, tenant: Uuid, kind: ObjectKind, key: &str) -> StoreResult<Option<ObjectRecord>> {
        let sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE tenant_id = $1 AND kind = $2 AND unique_key = $3 AND deleted_at IS NULL"
        );
        self.fetch_one(query(sql, vec![tenant.into(), kind.as_str().into(), key.into()]), plan::object).await
    }

    async fn objects_by_key(&self, tenant: Uuid, kinds: &[ObjectKind], key: &str) -> StoreResult<Vec<ObjectRecord>> {
        let slots = placeholders(3, kinds.len());
        let sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE tenant_id = $1 AND unique_key = $2 AND kind IN ({}) AND deleted_at IS NULL",
            slots
        );
        let mut params: Vec<SqlValue> = vec![tenant.into(), key.into()];
        params.extend(kinds.iter().map(|k| SqlValue::from(k.as_str())));
        self.fetch_all(query(sql, params), plan::object).await
    }

    async fn objects(&self, tenant: Uuid, q: &ObjectQuery) -> StoreResult<Vec<ObjectRecord>> {
        self.fetch_all(compile::list(tenant, q), plan::object).await
    }

    async fn object_ids(&self, tenant: Uuid, q: &ObjectQuery) -> StoreResult<Vec<(Uuid, ObjectKind)>> {
        self.fetch_all(compile::list_ids(tenant, q), plan::id_and_kind).await
    }

    async fn count(&self, tenant: Uuid, q: &ObjectQuery) -> StoreResult<u64> {
        let rows = self.fetch(compile::count(tenant, q)).await?;
        Ok(rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0).max(0) as u64)
    }

    async fn password_hash(&self, tenant: Uuid, user: Uuid) -> StoreResult<Option<String>> {
        let q =
            query("SELECT hash FROM passwords WHERE tenant_id = $1 AND user_id = $2", vec![tenant.into(), user.into()]);
        self.fetch_one(q, |r| r.text(0)).await
    }

    async fn secrets(&self, tenant: Uuid, owners: &[Uuid]) -> StoreResult<Vec<SecretRecord>> {
        if owners.is_empty() {
            return Ok(Vec::new());
        }
        let slots = placeholders(2, owners.len());
        let sql = format!(
            "SELECT owner_id, key_id, digest, hint, display_name, start_at, end_at FROM client_secrets \
             WHERE tenant_id = $1 AND owner_id IN ({})",
            slots
        );
        let mut params: Vec<SqlValue> = vec![tenant.into()];
        params.extend(owners.iter().map(|o| SqlValue::from(*o)));
        self.fetch_all(query(sql, params), plan::secret).await
    }

    async fn app_role_assignments(&self, tenant: Uuid, principal: Uuid) -> StoreResult<Vec<AppRoleAssignmentRecord>> {
        let q = query(
            "SELECT id, principal_id, resource_id, app_role_id, created_at FROM app_role_assignments \
             WHERE tenant_id = $1 AND principal_id = $2 ORDER BY created_at, id",
            vec![tenant.into(), principal.into()],
        );
        self.fetch_all(q, plan::assignment).await
    }

    async fn app_role_assignments_to(&self, tenant: Uuid, resource: Uuid) -> StoreResult<Vec<AppRoleAssignmentRecord>> {
        let q = query(
            "SELECT id, principal_id, resource_id, app_role_id, created_at FROM app_role_assignments \
             WHERE tenant_id = $1 AND resource_id = $2 ORDER BY created_at, id",
            vec![tenant.into(), resource.into()],
        );
        self.fetch_all(q, plan::assignment).await
    }

    async fn signing_keys(&self, tenant: Uuid) -> StoreResult<Vec<SigningKeyRecord>> {
        let q = query(
            "SELECT kid, sealed, created_at FROM signing_keys WHERE tenant_id = $1 ORDER BY created_at, kid",
            vec![tenant.into()],
        );
        self.fetch_all(q, plan::signing_key).await
    }

    async fn refresh_family(&self, tenant: Uuid, id: Uuid) -> StoreResult<Option<RefreshFamilyRecord>> {
        let q = query(
            "SELECT id, user_id, client_id, scopes, generation, auth_time, methods, expires_at, sliding, revoked \
             FROM refresh_families WHERE tenant_id = $1 AND id = $2",
            vec![tenant.into(), id.into()],
        );
        self.fetch_one(q, plan::refresh_family).await
    }

    async fn lockout(&self, tenant: Uuid, user: Uuid) -> StoreResult<Option<LockoutRecord>> {
        let q = query(
            "SELECT state, version FROM sign_in_lockouts WHERE tenant_id = $1 AND user_id = $2",
            vec![tenant.into(), user.into()],
        );
        Ok(self.fetch_one(q, |row| plan::lockout(row, 0)).await?.flatten())
    }

    async fn password_user(
        &self,
        tenant: Uuid,
        name: UserName<'_>,
    ) -> StoreResult<Option<(ObjectRecord, PasswordEntry)>> {
        let (column, key) = match name {
            UserName::Id(id) => ("id", SqlValue::from(id)),
            UserName::Principal(upn) => ("unique_key", SqlValue::from(upn)),
        };
        let sql = format!(
            "SELECT {}, p.hash, l.state, l.version FROM objects o \
             LEFT JOIN passwords p ON p.tenant_id = o.tenant_id AND p.user_id = o.id \
             LEFT JOIN sign_in_lockouts l ON l.tenant_id = o.tenant_id AND l.user_id = o.id \
             WHERE o.tenant_id = $1 AND o.kind = $2 AND o.{column} = $3 AND o.deleted_at IS NULL",
            compile::prefixed_columns()
        );
        let q = query(sql, vec![tenant.into(), ObjectKind::User.as_str().into(), key]);
        self.fetch_one(q, |row| {
            let entry = PasswordEntry { hash: row.optional_text(8)?, lockout: plan::lockout(row, 9)? };
            Ok((plan::object(row)?, entry))
        })
        .await
    }

    async fn conditional_access(&self, tenant: Uuid) -> StoreResult<Option<ConditionalAccessRecord>> {
        let q = query("SELECT doc, version FROM conditional_access WHERE tenant_id = $1", vec![tenant.into()]);
        self.fetch_one(q, |row| {
            Ok(ConditionalAccessRecord { doc: plan::document(&row.text(0)?)?, version: row.int(1)? })
        })
        .await
    }

    async fn conditional_access_version(&self, tenant: Uuid) -> StoreResult<i64> {
        let q = query("SELECT version FROM conditional_access WHERE tenant_id = $1", vec![tenant.into()]);
        Ok(self.fetch_one(q, |row| row.int(0)).await?.unwrap_or(0))
    }

    async fn sign_ins(&self, tenant: Uuid, q: &SignInQuery) -> StoreResult<Vec<SignInRecord>> {
        let mut w = Conditions::of(tenant);
        if let Some(id) = q.id {
            w.add("id = ?", vec![id.into()]);
        }
        if let Some(from) = q.from {
            w.add("created_at >= ?", vec![plan::micros(from).into()]);
        }
        if let Some(until) = q.until {
            w.add("created_at <= ?", vec![plan::micros(until).into()]);
        }
        if let Some(user) = q.user {
            w.add("user_id = ?", vec![user.into()]);
        }
        if let Some(upn) = &q.user_principal_name {
            w.add("user_principal_name = ?", vec![upn.clone().into()]);
        }
        if let Some(app) = q.app {
            w.add("app_id = ?", vec![app.into()]);
        }
        if let Some(code) = q.error_code {
            w.add("error_code = ?", vec![code.into()]);
        }
        if let Some((at, id)) = q.after {
            let at = plan::micros(at);
            w.add("(created_at < ? OR (created_at = ? AND id < ?))", vec![at.into(), at.into(), id.into()]);
        }
        let (conditions, limit, params) = w.limited(q.limit);
        let sql = format!(
            "SELECT id, created_at, user_id, user_principal_name, app_id, error_code, record FROM sign_ins \
             WHERE {conditions} ORDER BY created_at DESC, id DESC LIMIT {limit}"
        );
        self.fetch_all(query(sql, params), |row| {
            Ok(SignInRecord {
                id: row.uuid(0)?,
                at: row.time(1)?,
                user: row.optional_text(2)?.and_then(|t| Uuid::parse_str(&t).ok()),
                user_principal_name: row.text(3)?,
                app: row.optional_text(4)?.and_then(|t| Uuid::parse_str(&t).ok()),
                error_code: row.int(5)?,
                doc: plan::document(&row.text(6)?)?,
            })
        })
        .await
    }

    async fn authorization_code(&self, tenant: Uuid, digest: &str) -> StoreResult<Option<AuthorizationCodeRecord>> {
        let q = query(
            "SELECT digest, client_id, redirect_uri, user_id, scopes, nonce, challenge, challenge_method, auth_time, \
             methods, expires_at, family_id, redeemed FROM authorization_codes WHERE tenant_id = $1 AND digest = $2",
            vec![tenant.into(), digest.into()],
        );
        self.fetch_one(q, plan::authorization_code).await
    }

    async fn device_code(&self, tenant: Uuid, digest_or_user_code: &str) -> StoreResult<Option<DeviceCodeRecord>> {
        let q = query(
            "SELECT digest, user_code, client_id, scope, expires_at, status, user_id, auth_time, methods, scopes \
             FROM device_codes WHERE tenant_id = $1 AND (digest = $2 OR user_code = $2)",
            vec![tenant.into(), digest_or_user_code.into()],
        );
        self.fetch_one(q, plan::device_code).await
    }

    async fn permission_grants(&self, tenant: Uuid, client: Option<Uuid>) -> StoreResult<Vec<PermissionGrantRecord>> {
        let (condition, mut params) = match client {
            Some(client) => ("AND client_id = $2", vec![SqlValue::from(client)]),
            None => ("", vec![]),
        };
        params.insert(0, tenant.into());
        let q = query(
            format!(
                "SELECT id, client_id, principal_id, resource_id, scope, created_at FROM permission_grants \
                 WHERE tenant_id = $1 {condition} ORDER BY created_at, id"
            ),
            params,
        );
        self.fetch_all(q, plan::permission_grant).await
    }

    async fn links(&self, tenant: Uuid, object: Uuid, active: bool) -> StoreResult<Vec<Link>> {
        let sql = if active {
            "l.active = 1"
        } else {
            "l.active = 0 AND EXISTS (SELECT 1 FROM objects o WHERE o.tenant_id = l.tenant_id \
             AND o.id = CASE WHEN l.group_id = $2 THEN l.member_id ELSE l.group_id END AND o.deleted_at IS NULL)"
        };
        let q = query(
            format!(
                "SELECT l.group_id, l.relation, l.member_id, l.member_kind FROM links l \
                 WHERE l.tenant_id = $1 AND l.group_id = $2 AND {sql} \
                 UNION ALL SELECT l.group_id, l.relation, l.member_id, l.member_kind FROM links l \
                 WHERE l.tenant_id = $1 AND l.member_id = $2 AND {sql}"
            ),
            vec![tenant.into(), object.into()],
        );
        self.fetch_all(q, plan::link).await
    }

    async fn memberships(&self, tenant: Uuid, members: &[Uuid]) -> StoreResult<Vec<Link>> {
        let mut out = Vec::new();
        for chunk in members.chunks(500) {
            let slots = placeholders(2, chunk.len());
            let sql = format!(
                "SELECT group_id, relation, member_id, member_kind FROM links \
                 WHERE tenant_id = $1 AND member_id IN ({}) AND relation = 'member' AND active = 1",
                slots
            );
            let mut params: Vec<SqlValue> = vec![tenant.into()];
            params.extend(chunk.iter().map(|id| SqlValue::from(*id)));
            out.extend(self.fetch_all(query(sql, params), plan::link).await?);
        }
        Ok(out)
    }

    async fn has_link(&self, tenant: Uuid, link: &Link) -> StoreResult<bool> {
        let q = query(
            "SELECT 1 FROM links WHERE tenant_id = $1 AND group_id = $2 AND relation = $3 AND member_id = $4 AND active = 1",
            vec![tenant.into(), link.group.into(), link.relation.as_str().into(), link.member.into()],
        );
        Ok(!self.fetch(q).await?.is_empty())
    }

    async fn processor_seq(&self, tenant: Uuid, name: &str) -> StoreResult<i64> {
        let q =
            query("SELECT seq FROM processors WHERE tenant_id = $1 AND name = $2", vec![tenant.into(), name.into()]);
        Ok(self.fetch(q).await?.first().map(|row| row.int(0)).transpose()?.unwrap_or(0))
    }

    async fn dynamic_status(&self, tenant: Uuid, group: Uuid) -> StoreResult<Option<DynamicStatusRecord>> {
        let q = query(
            "SELECT group_id, status, updated_at, evaluated_at, error FROM dynamic_status WHERE tenant_id = $1 AND group_id = $2",
            vec![tenant.into(), group.into()],
        );
        self.fetch_one(q, plan::dynamic_status).await
    }

    async fn value_count(&self, tenant: Uuid, property: &str, value: &str) -> StoreResult<u64> {
        let q = query(
            "SELECT n FROM value_counts WHERE tenant_id = $1 AND property = $2 AND value = $3",
            vec![tenant.into(), property.into(), value.into()],
        );
        let n = self.fetch(q).await?.first().map(|row| row.int(0)).transpose()?.unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn changes(&self, tenant: Uuid, after: i64, limit: u32) -> StoreResult<Vec<ChangeRecord>> {
        let q = query(
            "SELECT seq, object_type, object_id, kind, attributes, at FROM change_log \
             WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            vec![tenant.into(), after.into(), i64::from(limit).into()],
        );
        self.fetch_all(q, plan::change_record).await
    }

    async fn due_mail(&self, tenant: Uuid, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<MailRecord>> {
        let sql = format!(
            "SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE tenant_id = $1 AND state = 'pending' \
             AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2) \
             ORDER BY next_attempt_at, id LIMIT $3"
        );
        let params = vec![tenant.into(), plan::micros(now).into(), i64::from(limit).into()];
        self.fetch_all(query(sql, params), plan::mail_record).await
    }

    async fn tenants_with_due_mail(&self, now: DateTime<Utc>) -> StoreResult<Vec<Uuid>> {
        let q = query(
            "SELECT DISTINCT tenant_id FROM mail_outbox WHERE state = 'pending' AND next_attempt_at <= $1",
            vec![plan::micros(now).into()],
        );
        self.fetch_all(q, |row| row.uuid(0)).await
    }

    async fn mail(&self, tenant: Uuid, state: Option<MailState>, limit: u32) -> StoreResult<Vec<MailRecord>> {
        let sql = format!(
            "SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE tenant_id = $1 AND ($2 = '' OR state = $2) \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        let state = state.map_or("", MailState::as_str);
        self.fetch_all(query(sql, vec![tenant.into(), state.into(), i64::from(limit).into()]), plan::mail_record).await
    }

    async fn sharing_links(&self, tenant: Uuid, resource: Option<Uuid>) -> StoreResult<Vec<SharingLinkRecord>> {
        let sql = format!(
            "SELECT {SHARING_COLUMNS} FROM sharing_links WHERE tenant_id = $1 AND ($2 = '' OR resource_id = $2) \
             ORDER BY created_at DESC, id DESC"
        );
        let resource = resource.map(|r| r.to_string()).unwrap_or_default();
        self.fetch_all(query(sql, vec![tenant.into(), resource.into()]), plan::sharing_link_record).await
    }

    async fn provisioning_jobs(
        &self,
        tenant: Uuid,
        service_principal: Option<Uuid>,
    ) -> StoreResult<Vec<ProvisioningJobRecord>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM provisioning_jobs WHERE tenant_id = $1 \
             AND ($2 = '' OR service_principal_id = $2) ORDER BY created_at, id"
        );
        let principal = service_principal.map(|p| p.to_string()).unwrap_or_default();
        self.fetch_all(query(sql, vec![tenant.into(), principal.into()]), plan::provisioning_job_record).await
    }

    async fn provisioning_job(&self, tenant: Uuid, id: Uuid) -> StoreResult<Option<ProvisioningJobRecord>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM provisioning_jobs WHERE tenant_id = $1 AND id = $2");
        let found = self.fetch_all(query(sql, vec![tenant.into(), id.into()]), plan::provisioning_job_record).await?;
        Ok(found.into_iter().next())
    }

    async fn due_provisioning_jobs(&self, now: DateTime<Utc>) -> StoreResult<Vec<(Uuid, Uuid)>> {
        let q = query(
            "SELECT tenant_id, id FROM provisioning_jobs WHERE due_at <= $1 \
             AND (lease_until IS NULL OR lease_until < $1) ORDER BY due_at",
            vec![plan::micros(now).into()],
        );
        self.fetch_all(q, |row| Ok((row.uuid(0)?, row.uuid(1)?))).await
    }

    async fn provisioned(&self, tenant: Uuid, job: Uuid, objects: &[Uuid]) -> StoreResult<Vec<ProvisionedRecord>> {
        let mut found = Vec::new();
        for chunk in objects.chunks(500) {
            let mut params: Vec<SqlValue> = vec![tenant.into(), job.into()];
            let slots: Vec<String> = chunk
                .iter()
                .map(|id| {
                    params.push((*id).into());
                    format!("${}", params.len())
                })
                .collect();
            let sql = format!(
                "SELECT job_id, object_id, target_id, doc FROM provisioned_objects WHERE tenant_id = $1 \
                 AND job_id = $2 AND object_id IN ({})",
                slots.join(", ")
            );
            found.extend(self.fetch_all(query(sql, params), plan::provisioned_record).await?);
        }
        Ok(found)
    }

    async fn provisioning_log(
        &self,
        tenant: Uuid,
        q: &ProvisioningLogQuery,
    ) -> StoreResult<Vec<ProvisioningLogRecord>> {
        let text = |id: Option<Uuid>| id.map(|i| i.to_string()).unwrap_or_default();
        let sql = "SELECT id, job_id, object_id, at, action, status, doc FROM provisioning_log WHERE tenant_id = $1 \
                   AND ($2 = '' OR job_id = $2) AND ($3 = '' OR object_id = $3) AND ($4 = '' OR status = $4) \
                   ORDER BY at DESC, id DESC LIMIT $5";
        let params = vec![
            tenant.into(),
            text(q.job).into(),
            text(q.object).into(),
            q.status.clone().unwrap_or_default().into(),
            i64::from(q.limit).into(),
        ];
        self.fetch_all(query(sql, params), plan::provisioning_log_record).await
    }

    async fn sharing_link(&self, tenant: Uuid, id: Uuid) -> StoreResult<Option<SharingLinkRecord>> {
        let sql = format!("SELECT {SHARING_COLUMNS} FROM sharing_links WHERE tenant_id = $1 AND id = $2");
        let found = self.fetch_all(query(sql, vec![tenant.into(), id.into()]), plan::sharing_link_record).await?;
        Ok(found.into_iter().next())
    }

    async fn audits(&self, tenant: Uuid, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let mut w = Conditions::of(tenant);
        w.add("activity IS NOT NULL", vec![]);
        if let Some(from) = query.from {
            w.add("at >= ?", vec![plan::micros(from).into()]);
        }
        if let Some(until) = query.until {
            w.add("at <= ?", vec![plan::micros(until).into()]);
        }
        if let Some(before) = query.before {
            w.add("seq < ?", vec![before.into()]);
        }
        for (sql, value) in
            [("category = ?", &query.category), ("activity = ?", &query.activity), ("service = ?", &query.service)]
        {
            if let Some(value) = value {
                w.add(sql, vec![value.as_str().into()]);
            }
        }
        if let Some(user) = query.user {
            let [delegated, own] = Initiator::of_user(user);
            w.add("actor IN (?, ?)", vec![delegated.into(), own.into()]);
        }
        if let Some(target) = &query.target {
            let values = vec![target.as_str().into(), format!("{target}/%").into(), format!("%/{target}").into()];
            w.add("(object_id = ? OR object_id LIKE ? OR object_id LIKE ?)", values);
        }
        let (conditions, limit, params) = w.limited(query.limit);
        let sql = format!(
            "SELECT seq, object_type, object_id, kind, attributes, at, actor, batch, category, activity, service, \
             detail FROM change_log WHERE {conditions} ORDER BY seq DESC LIMIT {limit}"
        );
        self.fetch_all(plan::query(sql, params), plan::audit_record).await
    }

    async fn last_change(&self, tenant: Uuid) -> StoreResult<i64> {
        let q = query("SELECT change_seq FROM tenants WHERE id = $1", vec![tenant.into()]);
        Ok(self.fetch(q).await?.first().map(|row| row.int(0)).transpose()?.unwrap_or(0))
    }

    async fn deleted_before(&self, cutoff: DateTime<Utc>, limit: u32) -> StoreResult<Vec<(Uuid, ObjectKind, Uuid)>> {
        let q = query(
            "SELECT tenant_id, kind, id FROM objects WHERE deleted_at IS NOT NULL AND deleted_at < $1 ORDER BY deleted_at LIMIT $2",
            vec![plan::micros(cutoff).into(), i64::from(limit).into()],
        );
        self.fetch_all(q, |row| {
            let kind = row.text(1)?;
            let kind = ObjectKind::parse(&kind)
                .ok_or_else(|| StoreError::Unavailable(format!("unknown object kind {kind}")))?;
            Ok((row.uuid(0)?, kind, row.uuid(2)?))
        })
        .await
    }

    async fn deployment(&self, name: &str) -> StoreResult<Option<String>> {
        self.fetch_one(query("SELECT value FROM deployment WHERE name = $1", vec![name.into()]), |row| row.text(0))
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.fetch(query("SELECT 1", vec![])).await.map(|_| ())
    }
}
