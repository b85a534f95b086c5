//! The SQL store. See the crate docs for its invariants.

use crate::migrations::MIGRATIONS;
use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use gatehouse_core::store::{
    AppRoleAssignmentRecord, ChangeKind, ChangeRecord, ObjectKind, ObjectQuery, ObjectRecord,
    SecretRecord, SigningKeyRecord, Store, StoreError, StoreResult, TenantRecord, Write,
};
use serde_json::{Map, Value};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyConnection, Executor, Pool, Row, Transaction};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::Mutex;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

pub struct SqlStore {
    pool: Pool<Any>,
    engine: Engine,
    /// Serialises write transactions on SQLite (see the crate docs); unused on PostgreSQL.
    write_lock: Mutex<()>,
}

const MIGRATION_LOCK: i64 = 0x6761_7465_686f;

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn map_write_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            StoreError::Conflict(db.message().to_owned())
        }
        _ => unavailable(e),
    }
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn from_micros(value: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(value).single().unwrap_or_default()
}

fn uuid(row: &AnyRow, column: &str) -> StoreResult<Uuid> {
    let text: String = row.try_get(column).map_err(unavailable)?;
    Uuid::parse_str(&text).map_err(unavailable)
}

impl SqlStore {
    /// Connects and migrates. `url` is `sqlite://PATH` (created if missing) or `postgres://…`.
    pub async fn connect(url: &str) -> StoreResult<SqlStore> {
        sqlx::any::install_default_drivers();
        let engine = if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Engine::Postgres
        } else {
            return Err(StoreError::Unavailable(format!(
                "unsupported database URL scheme in '{}'",
                redact(url)
            )));
        };
        let url = match engine {
            Engine::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url).map_err(unavailable)?;
        let pool = AnyPoolOptions::new()
            .max_connections(match engine {
                Engine::Sqlite => 4,
                Engine::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        let store = SqlStore {
            pool,
            engine,
            write_lock: Mutex::new(()),
        };
        store.migrate().await?;
        Ok(store)
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        if self.engine == Engine::Postgres {
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *conn)
                .await
                .map_err(unavailable)?;
        }
        let result = self.migrate_on(&mut conn).await;
        if self.engine == Engine::Postgres {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *conn)
                .await
                .map_err(unavailable)?;
        }
        result
    }

    async fn migrate_on(&self, conn: &mut AnyConnection) -> StoreResult<()> {
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .await
            .map_err(unavailable)?;
        let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
            .fetch_all(&mut *conn)
            .await
            .map_err(unavailable)?
            .iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<Result<_, _>>()
            .map_err(unavailable)?;
        let text_c = match self.engine {
            Engine::Sqlite => "TEXT",
            Engine::Postgres => "TEXT COLLATE \"C\"",
        };
        for (version, sql) in MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            let mut tx = sqlx::Connection::begin(&mut *conn)
                .await
                .map_err(unavailable)?;
            sqlx::raw_sql(&sql.replace("{text_c}", text_c))
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(micros(Utc::now()))
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)?;
            tracing::info!(version, "applied schema migration");
        }
        Ok(())
    }

    async fn domains(&self, tenant: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT name FROM domains WHERE tenant_id = $1 ORDER BY name")
            .bind(tenant)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(unavailable))
            .collect()
    }

    async fn tenant_from_row(&self, row: &AnyRow) -> StoreResult<TenantRecord> {
        let id: String = row.try_get("id").map_err(unavailable)?;
        Ok(TenantRecord {
            id: Uuid::parse_str(&id).map_err(unavailable)?,
            display_name: row.try_get("display_name").map_err(unavailable)?,
            initial_domain: row.try_get("initial_domain").map_err(unavailable)?,
            domains: self.domains(&id).await?,
            created_at: from_micros(row.try_get("created_at").map_err(unavailable)?),
        })
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

const OBJECT_COLUMNS: &str =
    "id, kind, version, unique_key, manager_id, doc, created_at, deleted_at";

fn object_from_row(row: &AnyRow) -> StoreResult<ObjectRecord> {
    let kind: String = row.try_get("kind").map_err(unavailable)?;
    let doc: String = row.try_get("doc").map_err(unavailable)?;
    let manager: Option<String> = row.try_get("manager_id").map_err(unavailable)?;
    let deleted: Option<i64> = row.try_get("deleted_at").map_err(unavailable)?;
    Ok(ObjectRecord {
        id: uuid(row, "id")?,
        kind: ObjectKind::parse(&kind)
            .ok_or_else(|| unavailable(format!("unknown object kind {kind}")))?,
        version: row.try_get("version").map_err(unavailable)?,
        unique_key: row.try_get("unique_key").map_err(unavailable)?,
        manager: manager
            .map(|m| Uuid::parse_str(&m))
            .transpose()
            .map_err(unavailable)?,
        doc: serde_json::from_str::<Map<String, Value>>(&doc).map_err(unavailable)?,
        created_at: from_micros(row.try_get("created_at").map_err(unavailable)?),
        deleted_at: deleted.map(from_micros),
    })
}

/// What one write contributes to the change log.
struct Change {
    object_type: String,
    object_id: String,
    kind: ChangeKind,
    attributes: Vec<String>,
}

fn change(
    object_type: &str,
    object_id: impl ToString,
    kind: ChangeKind,
    attributes: Vec<String>,
) -> Change {
    Change {
        object_type: object_type.to_owned(),
        object_id: object_id.to_string(),
        kind,
        attributes,
    }
}

async fn expect_rows(
    result: Result<sqlx::any::AnyQueryResult, sqlx::Error>,
    missing: StoreError,
) -> StoreResult<()> {
    match result {
        Ok(done) if done.rows_affected() > 0 => Ok(()),
        Ok(_) => Err(missing),
        Err(e) => Err(map_write_error(e)),
    }
}

async fn apply(
    tx: &mut Transaction<'_, Any>,
    tenant: &str,
    write: Write,
    at: i64,
) -> StoreResult<Change> {
    Ok(match write {
        Write::CreateTenant(record) => {
            sqlx::query("INSERT INTO tenants (id, display_name, initial_domain, created_at, change_seq) VALUES ($1, $2, $3, $4, 0)")
                .bind(record.id.to_string())
                .bind(&record.display_name)
                .bind(&record.initial_domain)
                .bind(micros(record.created_at))
                .execute(&mut **tx)
                .await
                .map_err(map_write_error)?;
            for domain in &record.domains {
                sqlx::query("INSERT INTO domains (name, tenant_id) VALUES ($1, $2)")
                    .bind(domain.to_lowercase())
                    .bind(record.id.to_string())
                    .execute(&mut **tx)
                    .await
                    .map_err(map_write_error)?;
            }
            change(
                "tenant",
                record.id,
                ChangeKind::Created,
                vec!["domains".into()],
            )
        }
        Write::InsertObject(object) => {
            let doc = serde_json::to_string(&object.doc).map_err(unavailable)?;
            sqlx::query(
                "INSERT INTO objects (tenant_id, id, kind, version, unique_key, manager_id, doc, created_at, deleted_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
            )
            .bind(tenant)
            .bind(object.id.to_string())
            .bind(object.kind.as_str())
            .bind(object.version)
            .bind(object.unique_key.clone())
            .bind(object.manager.map(|m| m.to_string()))
            .bind(doc)
            .bind(micros(object.created_at))
            .execute(&mut **tx)
            .await
            .map_err(map_write_error)?;
            let mut attributes: Vec<String> = object
                .doc
                .keys()
                .filter(|k| !k.starts_with('_'))
                .cloned()
                .collect();
            attributes.sort();
            change(
                object.kind.as_str(),
                object.id,
                ChangeKind::Created,
                attributes,
            )
        }
        Write::UpdateObject {
            object,
            expected_version,
            attributes,
        } => {
            let doc = serde_json::to_string(&object.doc).map_err(unavailable)?;
            let result = sqlx::query(
                "UPDATE objects SET version = version + 1, unique_key = $1, manager_id = $2, doc = $3 \
                 WHERE tenant_id = $4 AND id = $5 AND version = $6 AND deleted_at IS NULL",
            )
            .bind(object.unique_key.clone())
            .bind(object.manager.map(|m| m.to_string()))
            .bind(doc)
            .bind(tenant)
            .bind(object.id.to_string())
            .bind(expected_version)
            .execute(&mut **tx)
            .await;
            expect_rows(result, StoreError::VersionMismatch).await?;
            change(
                object.kind.as_str(),
                object.id,
                ChangeKind::Updated,
                attributes,
            )
        }
        Write::SoftDelete {
            kind,
            id,
            at: deleted,
        } => {
            let result = sqlx::query(
                "UPDATE objects SET deleted_at = $1, version = version + 1 WHERE tenant_id = $2 AND id = $3 AND kind = $4 AND deleted_at IS NULL",
            )
            .bind(micros(deleted))
            .bind(tenant)
            .bind(id.to_string())
            .bind(kind.as_str())
            .execute(&mut **tx)
            .await;
            expect_rows(result, StoreError::Missing).await?;
            change(kind.as_str(), id, ChangeKind::Deleted, vec![])
        }
        Write::Restore { kind, id } => {
            let result = sqlx::query(
                "UPDATE objects SET deleted_at = NULL, version = version + 1 WHERE tenant_id = $1 AND id = $2 AND kind = $3 AND deleted_at IS NOT NULL",
            )
            .bind(tenant)
            .bind(id.to_string())
            .bind(kind.as_str())
            .execute(&mut **tx)
            .await;
            expect_rows(result, StoreError::Missing).await?;
            change(kind.as_str(), id, ChangeKind::Restored, vec![])
        }
        Write::Purge { kind, id } => {
            let id_text = id.to_string();
            for statement in [
                "DELETE FROM passwords WHERE tenant_id = $1 AND user_id = $2",
                "DELETE FROM client_secrets WHERE tenant_id = $1 AND owner_id = $2",
                "DELETE FROM app_role_assignments WHERE tenant_id = $1 AND (principal_id = $2 OR resource_id = $2)",
                "UPDATE objects SET manager_id = NULL WHERE tenant_id = $1 AND manager_id = $2",
            ] {
                sqlx::query(statement).bind(tenant).bind(&id_text).execute(&mut **tx).await.map_err(map_write_error)?;
            }
            let result =
                sqlx::query("DELETE FROM objects WHERE tenant_id = $1 AND id = $2 AND kind = $3")
                    .bind(tenant)
                    .bind(&id_text)
                    .bind(kind.as_str())
                    .execute(&mut **tx)
                    .await;
            expect_rows(result, StoreError::Missing).await?;
            change(kind.as_str(), id, ChangeKind::Purged, vec![])
        }
        Write::SetPassword { user, hash } => {
            sqlx::query(
                "INSERT INTO passwords (tenant_id, user_id, hash) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id, user_id) DO UPDATE SET hash = excluded.hash",
            )
            .bind(tenant)
            .bind(user.to_string())
            .bind(hash)
            .execute(&mut **tx)
            .await
            .map_err(map_write_error)?;
            change(
                "user",
                user,
                ChangeKind::Updated,
                vec!["passwordProfile".into()],
            )
        }
        Write::AddSecret(secret) => {
            sqlx::query(
                "INSERT INTO client_secrets (tenant_id, owner_id, key_id, digest, hint, display_name, start_at, end_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(tenant)
            .bind(secret.owner.to_string())
            .bind(secret.key_id.to_string())
            .bind(&secret.digest)
            .bind(&secret.hint)
            .bind(secret.display_name.clone())
            .bind(micros(secret.start))
            .bind(micros(secret.end))
            .execute(&mut **tx)
            .await
            .map_err(map_write_error)?;
            change(
                "clientSecret",
                secret.key_id,
                ChangeKind::Created,
                vec![secret.owner.to_string()],
            )
        }
        Write::RemoveSecret { owner, key_id } => {
            let result = sqlx::query(
                "DELETE FROM client_secrets WHERE tenant_id = $1 AND owner_id = $2 AND key_id = $3",
            )
            .bind(tenant)
            .bind(owner.to_string())
            .bind(key_id.to_string())
            .execute(&mut **tx)
            .await;
            expect_rows(result, StoreError::Missing).await?;
            change(
                "clientSecret",
                key_id,
                ChangeKind::Purged,
                vec![owner.to_string()],
            )
        }
        Write::AddAppRoleAssignment(assignment) => {
            sqlx::query(
                "INSERT INTO app_role_assignments (tenant_id, id, principal_id, resource_id, app_role_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(tenant)
            .bind(assignment.id.to_string())
            .bind(assignment.principal.to_string())
            .bind(assignment.resource.to_string())
            .bind(assignment.app_role_id.to_string())
            .bind(micros(assignment.created_at))
            .execute(&mut **tx)
            .await
            .map_err(map_write_error)?;
            change(
                "appRoleAssignment",
                assignment.id,
                ChangeKind::Created,
                vec![assignment.principal.to_string()],
            )
        }
        Write::RemoveAppRoleAssignment { id } => {
            let result =
                sqlx::query("DELETE FROM app_role_assignments WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant)
                    .bind(id.to_string())
                    .execute(&mut **tx)
                    .await;
            expect_rows(result, StoreError::Missing).await?;
            change("appRoleAssignment", id, ChangeKind::Purged, vec![])
        }
        Write::AddSigningKey(key) => {
            sqlx::query("INSERT INTO signing_keys (tenant_id, kid, sealed, created_at) VALUES ($1, $2, $3, $4)")
                .bind(tenant)
                .bind(&key.kid)
                .bind(&key.sealed_private_key)
                .bind(micros(key.created_at).max(at - 1))
                .execute(&mut **tx)
                .await
                .map_err(map_write_error)?;
            change("signingKey", key.kid, ChangeKind::Created, vec![])
        }
    })
}

#[async_trait]
impl Store for SqlStore {
    async fn commit(
        &self,
        tenant: Uuid,
        writes: Vec<Write>,
        at: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let _serialised = match self.engine {
            Engine::Sqlite => Some(self.write_lock.lock().await),
            Engine::Postgres => None,
        };
        let tenant_text = tenant.to_string();
        let at = micros(at);
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let mut changes = Vec::with_capacity(writes.len());
        for write in writes {
            changes.push(apply(&mut tx, &tenant_text, write, at).await?);
        }
        let count = changes.len() as i64;
        let last: i64 = sqlx::query(
            "UPDATE tenants SET change_seq = change_seq + $1 WHERE id = $2 RETURNING change_seq",
        )
        .bind(count)
        .bind(&tenant_text)
        .fetch_optional(&mut *tx)
        .await
        .map_err(unavailable)?
        .ok_or(StoreError::Missing)?
        .try_get(0)
        .map_err(unavailable)?;
        for (offset, entry) in changes.into_iter().enumerate() {
            sqlx::query(
                "INSERT INTO change_log (tenant_id, seq, object_type, object_id, kind, attributes, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&tenant_text)
            .bind(last - count + 1 + offset as i64)
            .bind(entry.object_type)
            .bind(entry.object_id)
            .bind(entry.kind.as_str())
            .bind(serde_json::to_string(&entry.attributes).map_err(unavailable)?)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(last)
    }

    async fn tenants(&self) -> StoreResult<Vec<TenantRecord>> {
        let rows = sqlx::query("SELECT id, display_name, initial_domain, created_at FROM tenants ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(self.tenant_from_row(row).await?);
        }
        Ok(out)
    }

    async fn tenant(&self, id_or_domain: &str) -> StoreResult<Option<TenantRecord>> {
        let key = id_or_domain.to_lowercase();
        let row = sqlx::query(
            "SELECT id, display_name, initial_domain, created_at FROM tenants \
             WHERE id = $1 OR id = (SELECT tenant_id FROM domains WHERE name = $1)",
        )
        .bind(&key)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        match row {
            Some(row) => Ok(Some(self.tenant_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    async fn object(
        &self,
        tenant: Uuid,
        kind: ObjectKind,
        id: Uuid,
    ) -> StoreResult<Option<ObjectRecord>> {
        let sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE tenant_id = $1 AND id = $2 AND kind = $3"
        );
        sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(id.to_string())
            .bind(kind.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?
            .map(|row| object_from_row(&row))
            .transpose()
    }

    async fn object_by_key(
        &self,
        tenant: Uuid,
        kind: ObjectKind,
        key: &str,
    ) -> StoreResult<Option<ObjectRecord>> {
        let sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE tenant_id = $1 AND kind = $2 AND unique_key = $3 AND deleted_at IS NULL"
        );
        sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(kind.as_str())
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?
            .map(|row| object_from_row(&row))
            .transpose()
    }

    async fn objects(&self, tenant: Uuid, query: &ObjectQuery) -> StoreResult<Vec<ObjectRecord>> {
        let deleted = if query.deleted {
            "deleted_at IS NOT NULL"
        } else {
            "deleted_at IS NULL"
        };
        let manager = if query.manager.is_some() {
            "AND manager_id = $4"
        } else {
            "AND $4 = ''"
        };
        let sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE tenant_id = $1 AND kind = $2 AND id > $3 {manager} AND {deleted} \
             ORDER BY id LIMIT $5"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(query.kind.as_str())
            .bind(query.after.map(|a| a.to_string()).unwrap_or_default())
            .bind(query.manager.map(|m| m.to_string()).unwrap_or_default())
            .bind(i64::from(query.limit))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter().map(object_from_row).collect()
    }

    async fn password_hash(&self, tenant: Uuid, user: Uuid) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT hash FROM passwords WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant.to_string())
            .bind(user.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|r| r.try_get::<String, _>(0).map_err(unavailable))
            .transpose()
    }

    async fn secrets(&self, tenant: Uuid, owners: &[Uuid]) -> StoreResult<Vec<SecretRecord>> {
        if owners.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..owners.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT owner_id, key_id, digest, hint, display_name, start_at, end_at FROM client_secrets \
             WHERE tenant_id = $1 AND owner_id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(tenant.to_string());
        for owner in owners {
            query = query.bind(owner.to_string());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                Ok(SecretRecord {
                    owner: uuid(row, "owner_id")?,
                    key_id: uuid(row, "key_id")?,
                    digest: row.try_get("digest").map_err(unavailable)?,
                    hint: row.try_get("hint").map_err(unavailable)?,
                    display_name: row.try_get("display_name").map_err(unavailable)?,
                    start: from_micros(row.try_get("start_at").map_err(unavailable)?),
                    end: from_micros(row.try_get("end_at").map_err(unavailable)?),
                })
            })
            .collect()
    }

    async fn app_role_assignments(
        &self,
        tenant: Uuid,
        principal: Uuid,
    ) -> StoreResult<Vec<AppRoleAssignmentRecord>> {
        let rows = sqlx::query(
            "SELECT id, principal_id, resource_id, app_role_id, created_at FROM app_role_assignments \
             WHERE tenant_id = $1 AND principal_id = $2 ORDER BY created_at, id",
        )
        .bind(tenant.to_string())
        .bind(principal.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                Ok(AppRoleAssignmentRecord {
                    id: uuid(row, "id")?,
                    principal: uuid(row, "principal_id")?,
                    resource: uuid(row, "resource_id")?,
                    app_role_id: uuid(row, "app_role_id")?,
                    created_at: from_micros(row.try_get("created_at").map_err(unavailable)?),
                })
            })
            .collect()
    }

    async fn signing_keys(&self, tenant: Uuid) -> StoreResult<Vec<SigningKeyRecord>> {
        let rows = sqlx::query("SELECT kid, sealed, created_at FROM signing_keys WHERE tenant_id = $1 ORDER BY created_at, kid")
            .bind(tenant.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                Ok(SigningKeyRecord {
                    kid: row.try_get("kid").map_err(unavailable)?,
                    sealed_private_key: row.try_get("sealed").map_err(unavailable)?,
                    created_at: from_micros(row.try_get("created_at").map_err(unavailable)?),
                })
            })
            .collect()
    }

    async fn changes(
        &self,
        tenant: Uuid,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<ChangeRecord>> {
        let rows = sqlx::query(
            "SELECT seq, object_type, object_id, kind, attributes, at FROM change_log WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(tenant.to_string())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind").map_err(unavailable)?;
                let attributes: String = row.try_get("attributes").map_err(unavailable)?;
                Ok(ChangeRecord {
                    seq: row.try_get("seq").map_err(unavailable)?,
                    object_type: row.try_get("object_type").map_err(unavailable)?,
                    object_id: row.try_get("object_id").map_err(unavailable)?,
                    kind: ChangeKind::parse(&kind)
                        .ok_or_else(|| unavailable(format!("unknown change kind {kind}")))?,
                    attributes: serde_json::from_str(&attributes).map_err(unavailable)?,
                    at: from_micros(row.try_get("at").map_err(unavailable)?),
                })
            })
            .collect()
    }

    async fn deleted_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<(Uuid, ObjectKind, Uuid)>> {
        let rows = sqlx::query(
            "SELECT tenant_id, kind, id FROM objects WHERE deleted_at IS NOT NULL AND deleted_at < $1 ORDER BY deleted_at LIMIT $2",
        )
        .bind(micros(cutoff))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind").map_err(unavailable)?;
                Ok((
                    uuid(row, "tenant_id")?,
                    ObjectKind::parse(&kind)
                        .ok_or_else(|| unavailable(format!("unknown object kind {kind}")))?,
                    uuid(row, "id")?,
                ))
            })
            .collect()
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
