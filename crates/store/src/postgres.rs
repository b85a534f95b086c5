//! Plans on PostgreSQL, through sqlx.

use crate::migrations::MIGRATIONS;
use crate::plan::{self, Batch, Query, Row, SqlValue};
use gatehouse_core::store::{StoreError, StoreResult};
use sqlx::postgres::{PgArguments, PgPoolOptions, PgRow};
use sqlx::{Column, Executor, PgPool, Postgres, Row as _, TypeInfo};
use std::time::Duration;

const MIGRATION_LOCK: i64 = 0x6761_7465_686f;

pub struct PgDb {
    pool: PgPool,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn write_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            StoreError::Conflict(db.message().to_owned())
        }
        _ => unavailable(e),
    }
}

fn bind(query: &Query) -> sqlx::query::Query<'_, Postgres, PgArguments> {
    let mut bound = sqlx::query(&query.sql);
    for param in &query.params {
        bound = match param {
            SqlValue::Null => bound.bind(None::<String>),
            SqlValue::Int(i) => bound.bind(*i),
            SqlValue::Text(t) => bound.bind(t.as_str()),
        };
    }
    bound
}

fn row(row: &PgRow) -> StoreResult<Row> {
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let value = match column.type_info().name() {
            "INT8" => row.try_get::<Option<i64>, _>(index).map_err(unavailable)?.map(SqlValue::Int),
            "INT4" => row.try_get::<Option<i32>, _>(index).map_err(unavailable)?.map(|i| SqlValue::Int(i.into())),
            "INT2" => row.try_get::<Option<i16>, _>(index).map_err(unavailable)?.map(|i| SqlValue::Int(i.into())),
            _ => row.try_get::<Option<String>, _>(index).map_err(unavailable)?.map(SqlValue::Text),
        };
        values.push(value.unwrap_or(SqlValue::Null));
    }
    Ok(Row(values))
}

impl PgDb {
    pub async fn connect(url: &str) -> StoreResult<PgDb> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(unavailable)?;
        Ok(PgDb { pool })
    }

    /// Applies pending migrations under an advisory lock, so nodes starting together do not race.
    pub async fn migrate(&self) -> StoreResult<Vec<i64>> {
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
        let result = async {
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .await
            .map_err(unavailable)?;
            let mut newly = Vec::new();
            for (version, sql) in MIGRATIONS {
                let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(unavailable)?;
                if applied > 0 {
                    continue;
                }
                let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(unavailable)?;
                sqlx::raw_sql(&sql.replace("{text_c}", "TEXT COLLATE \"C\""))
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                    .bind(*version)
                    .bind(plan::micros(chrono::Utc::now()))
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                tx.commit().await.map_err(unavailable)?;
                tracing::info!(version, "applied schema migration");
                newly.push(*version);
            }
            Ok(newly)
        }
        .await;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
        result
    }

    pub async fn fetch(&self, query: &Query) -> StoreResult<Vec<Row>> {
        bind(query).fetch_all(&self.pool).await.map_err(unavailable)?.iter().map(row).collect()
    }

    /// Runs the batch in one transaction. The sequence update comes first and locks the tenant's row until
    /// commit, so sequence order is commit order and a tenant's writes take their row locks one transaction
    /// at a time (two batches updating the same users and counts in different orders cannot deadlock).
    pub async fn transaction(&self, batch: Batch) -> StoreResult<i64> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        // A batch that creates its tenant finds no row to advance before its statements have run.
        let mut advanced = bind(&batch.advance_sequence()).fetch_optional(&mut *tx).await.map_err(unavailable)?;
        for statement in &batch.statements {
            let affected = bind(&statement.query).execute(&mut *tx).await.map_err(write_error)?.rows_affected();
            if let (0, Some(missing)) = (affected, &statement.must_affect) {
                return Err(missing.clone());
            }
        }
        if advanced.is_none() {
            advanced = bind(&batch.advance_sequence()).fetch_optional(&mut *tx).await.map_err(unavailable)?;
        }
        let last = row(&advanced.ok_or(StoreError::Missing)?)?.int(0)?;
        for insert in batch.change_log(last)? {
            bind(&insert).execute(&mut *tx).await.map_err(write_error)?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(last)
    }
}
