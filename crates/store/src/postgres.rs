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
            sqlx::raw_sql(APPLY).execute(&mut *conn).await.map_err(unavailable)?;
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

    /// Runs the batch in one transaction. The tenant's change sequence advances first: its row lock, held
    /// until commit, makes sequence order commit order and lets a tenant's writes take their row locks one
    /// transaction at a time (two batches updating the same users and counts in different orders cannot
    /// deadlock). A small batch — one request's write — runs in one round trip through [`APPLY`], which
    /// shortens the time the lock is held; a large one (bulk work: many statements or multi-row inserts)
    /// runs statement by statement, where PostgreSQL reuses each prepared statement's plan instead of
    /// planning every statement afresh.
    pub async fn transaction(&self, batch: Batch) -> StoreResult<i64> {
        let parameters: usize = batch.statements.iter().map(|s| s.query.params.len()).sum();
        if batch.statements.len() <= APPLY_STATEMENTS && parameters <= APPLY_PARAMETERS {
            self.apply(batch).await
        } else {
            self.in_steps(batch).await
        }
    }

    async fn in_steps(&self, batch: Batch) -> StoreResult<i64> {
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

    /// The batch in one call of [`APPLY`]. Every parameter travels in one of two arrays (texts and
    /// integers): each statement's `$n` is rewritten to the element that holds it, so statements of any
    /// shape run inside the function.
    async fn apply(&self, batch: Batch) -> StoreResult<i64> {
        let mut sqls = Vec::with_capacity(batch.statements.len());
        let mut checked = Vec::with_capacity(batch.statements.len());
        let mut texts: Vec<&str> = Vec::new();
        let mut ints: Vec<i64> = Vec::new();
        for statement in &batch.statements {
            sqls.push(inline_parameters(&statement.query, &mut texts, &mut ints));
            checked.push(statement.must_affect.is_some());
        }
        let changes = batch.change_columns()?;
        let column = |i: usize| changes.iter().map(|c| c[i].as_str()).collect::<Vec<_>>();
        let result = sqlx::query_scalar::<_, i64>("SELECT gatehouse_apply_1($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(batch.tenant.as_str())
            .bind(batch.at())
            .bind(&sqls)
            .bind(&checked)
            .bind(&texts)
            .bind(&ints)
            .bind(column(0))
            .bind(column(1))
            .bind(column(2))
            .bind(column(3))
            .fetch_one(&self.pool)
            .await;
        match result {
            Ok(last) => Ok(last),
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some(UNAFFECTED) => {
                let index: usize = db.message().parse().map_err(unavailable)?;
                Err(batch
                    .statements
                    .get(index.wrapping_sub(1))
                    .and_then(|s| s.must_affect.clone())
                    .ok_or_else(|| unavailable(db))?)
            }
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some(NO_TENANT) => Err(StoreError::Missing),
            Err(e) => Err(write_error(e)),
        }
    }
}

/// The statement's SQL with each `$n` replaced by the array element that carries parameter `n`: `$1[i]`
/// for text, `$2[i]` for integers, `NULL` for null.
fn inline_parameters<'a>(query: &'a Query, texts: &mut Vec<&'a str>, ints: &mut Vec<i64>) -> String {
    let slots: Vec<String> = query
        .params
        .iter()
        .map(|param| match param {
            SqlValue::Null => "NULL".to_owned(),
            SqlValue::Int(i) => {
                ints.push(*i);
                format!("$2[{}]", ints.len())
            }
            SqlValue::Text(t) => {
                texts.push(t);
                format!("$1[{}]", texts.len())
            }
        })
        .collect();
    let mut out = String::with_capacity(query.sql.len() + 8 * slots.len());
    let mut rest = query.sql.as_str();
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        match rest[at + 1..at + 1 + digits].parse::<usize>().ok().and_then(|n| slots.get(n.wrapping_sub(1))) {
            Some(slot) => out.push_str(slot),
            None => out.push_str(&rest[at..at + 1 + digits]),
        }
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
    out
}

/// The most statements, and parameters in all, a batch may have to run through [`APPLY`]: what one
/// request writes. Bulk batches carry multi-row inserts of hundreds of rows, which `EXECUTE` would plan
/// afresh every time.
const APPLY_STATEMENTS: usize = 32;
const APPLY_PARAMETERS: usize = 512;

/// SQLSTATEs [`APPLY`] raises: a checked statement affected no row (the message is its 1-based index), and
/// the batch's tenant does not exist.
const UNAFFECTED: &str = "GH001";
const NO_TENANT: &str = "GH002";

/// Runs a small batch's statements and logs its changes in one call (see [`PgDb::transaction`]). Versioned by
/// name, so nodes of two versions can share a database during an upgrade.
const APPLY: &str = r#"
CREATE OR REPLACE FUNCTION gatehouse_apply_1(
    tenant TEXT, at BIGINT, statements TEXT[], checked BOOLEAN[], texts TEXT[], ints BIGINT[],
    object_types TEXT[], object_ids TEXT[], kinds TEXT[], attributes TEXT[]
) RETURNS BIGINT LANGUAGE plpgsql AS $body$
DECLARE
    n BIGINT := COALESCE(array_length(object_types, 1), 0);
    last BIGINT;
    affected BIGINT;
BEGIN
    -- A batch that creates its tenant finds no row to advance before its statements have run.
    UPDATE tenants SET change_seq = change_seq + n WHERE id = tenant RETURNING change_seq INTO last;
    FOR i IN 1 .. COALESCE(array_length(statements, 1), 0) LOOP
        EXECUTE statements[i] USING texts, ints;
        GET DIAGNOSTICS affected = ROW_COUNT;
        IF affected = 0 AND checked[i] THEN
            RAISE EXCEPTION USING ERRCODE = 'GH001', MESSAGE = i::TEXT;
        END IF;
    END LOOP;
    IF last IS NULL THEN
        UPDATE tenants SET change_seq = change_seq + n WHERE id = tenant RETURNING change_seq INTO last;
    END IF;
    IF last IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'GH002', MESSAGE = 'no such tenant';
    END IF;
    INSERT INTO change_log (tenant_id, seq, object_type, object_id, kind, attributes, at)
        SELECT tenant, last - n + c.ord, c.object_type, c.object_id, c.kind, c.attributes, at
        FROM unnest(object_types, object_ids, kinds, attributes) WITH ORDINALITY
            AS c(object_type, object_id, kind, attributes, ord);
    RETURN last;
END
$body$;
"#;
