//! Plans on PostgreSQL, through sqlx.
//!
//! **Group commit.** A tenant's writes take turns on its change sequence's row lock, held until commit, so
//! a lone writer's throughput is one commit (and one WAL flush) at a time. Small batches — what one request
//! writes — that arrive while this node is committing wait in a queue; the next commit carries every
//! waiting batch to [`APPLY`] in one call and one transaction, each batch in its own subtransaction (a
//! failing batch is rolled back alone and gets its own error). No batch is acknowledged before that commit,
//! so durability is unchanged; an idle node commits a lone batch at once.

use crate::group::{GroupQueue, Job};
use crate::migrations::MIGRATIONS;
use crate::plan::{self, Batch, Query, Row, SqlValue, Statement};
use gatehouse_core::store::{StoreError, StoreResult};
use sqlx::postgres::{PgArguments, PgPoolOptions, PgRow};
use sqlx::{Column, Executor, PgPool, Postgres, Row as _, TypeInfo};
use std::sync::Arc;
use std::time::Duration;

const MIGRATION_LOCK: i64 = 0x6761_7465_686f;

/// The most batches one group commit carries.
const GROUP: usize = 64;

/// How long a pooled connection may sit idle before it is checked with a round trip when taken.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

pub struct PgDb {
    pool: PgPool,
    /// Small batches waiting for this node's next commit.
    waiting: Arc<GroupQueue>,
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
    // A statement that is not kept is prepared unnamed, and PostgreSQL plans an unnamed statement for the
    // parameters it is bound to.
    let mut bound = sqlx::query(&query.sql).persistent(!query.planned_per_run);
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
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<PgDb> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            // Scripts write string constants with only their quotes doubled (see `with_literals`); notices
            // (`relation "schema_migrations" already exists, skipping` at every start) are not for the log.
            .after_connect(|connection, _| {
                Box::pin(async move {
                    connection
                        .execute("SET standard_conforming_strings = on; SET client_min_messages = warning")
                        .await
                        .map(|_| ())
                })
            })
            .acquire_timeout(Duration::from_secs(2))
            // A connection is checked before use only when it has sat idle a while (as HikariCP's bypass
            // window does): checking every one costs every query a round trip more, and under load it is the
            // group committer's round trip that sets the pace of every write. A connection that broke in use
            // fails its query, and the pool replaces it.
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for >= CHECK_IDLE_AFTER {
                        sqlx::Connection::ping(connection).await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await
            .map_err(unavailable)?;
        Ok(PgDb { pool, waiting: Arc::default() })
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
            sqlx::raw_sql(&apply_function()).execute(&mut *conn).await.map_err(unavailable)?;
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
    /// deadlock). A small batch — one request's write — is committed with the others waiting (see the
    /// module's notes on group commit); a large one (bulk work: many statements or multi-row inserts, or
    /// the update of many objects) runs alone, in scripts and prepared statements (see `in_steps`): the
    /// function's `EXECUTE` plans every statement afresh and walks its parameter arrays for each.
    pub async fn transaction(&self, batch: Batch) -> StoreResult<i64> {
        let parameters: usize = batch.statements.iter().map(|s| s.query.params.len()).sum();
        if batch.statements.len() > APPLY_STATEMENTS
            || parameters > APPLY_PARAMETERS
            || batch.opening_run >= ALONE_OBJECTS
        {
            return self.in_steps(batch).await;
        }
        let (receiver, committer) = self.waiting.push(batch);
        if let Some(mut committer) = committer {
            // Its own task, so a caller that goes away does not abandon the batches of others it carries.
            let pool = self.pool.clone();
            tokio::spawn(async move {
                while let Some(jobs) = committer.next(GROUP) {
                    commit_group(&pool, jobs).await;
                }
            });
        }
        receiver.await.map_err(unavailable)?
    }

    /// A bulk batch in few round trips: its runs of small statements go as scripts (many statements in one
    /// message, their parameters written in as literals, each statement's row count checked), its multi-row
    /// inserts as prepared statements, whose plans PostgreSQL reuses.
    ///
    /// A batch that opens with statements that need no sequence (the rows of many objects, each checked
    /// against its version) runs them first and takes the tenant's sequence after, so that the heavy part
    /// of two such batches (a group's license reaching its members a page at a time) runs side by side.
    /// Its rows are then locked before the sequence is, the other way round from every other writer: one
    /// that holds the sequence and waits for one of those rows would wait forever, so the batch waits for
    /// the sequence a moment at most (see [`GIVE_WAY`]), then rolls back and runs again in the usual order.
    async fn in_steps(&self, batch: Batch) -> StoreResult<i64> {
        if batch.unlocked > 0 {
            if let Some(last) = self.steps(&batch, batch.unlocked).await? {
                return Ok(last);
            }
        }
        self.steps(&batch, 0).await.and_then(|last| last.ok_or(StoreError::Missing))
    }

    /// Runs the batch, its first `early` statements before the sequence advances (then waiting for it a
    /// moment at most); `None` when it gave way.
    async fn steps(&self, batch: &Batch, early: usize) -> StoreResult<Option<i64>> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let (first, rest) = batch.statements.split_at(early);
        run_statements(&mut tx, first).await?;
        if early > 0 {
            sqlx::query(GIVE_WAY).execute(&mut *tx).await.map_err(unavailable)?;
        }
        // A batch that creates its tenant finds no row to advance before its statements have run.
        let mut advanced = match bind(&batch.advance_sequence()).fetch_optional(&mut *tx).await {
            Err(e) if early > 0 && e.as_database_error().and_then(|d| d.code()).as_deref() == Some(LOCK_WAIT) => {
                tx.rollback().await.map_err(unavailable)?;
                return Ok(None);
            }
            advanced => advanced.map_err(unavailable)?,
        };
        if early > 0 {
            sqlx::query(WAIT).execute(&mut *tx).await.map_err(unavailable)?;
        }
        run_statements(&mut tx, rest).await?;
        if advanced.is_none() {
            advanced = bind(&batch.advance_sequence()).fetch_optional(&mut *tx).await.map_err(unavailable)?;
        }
        let last = row(&advanced.ok_or(StoreError::Missing)?)?.int(0)?;
        // The change log in one statement, its columns as arrays (multi-row inserts of 200 rows cost a
        // thousand parameters each).
        let mut columns: [Vec<String>; 4] = Default::default();
        for change in batch.change_columns() {
            for (column, value) in columns.iter_mut().zip(change) {
                column.push(value);
            }
        }
        let mut notes: [Vec<Option<String>>; 4] = Default::default();
        for note in batch.note_columns() {
            for (column, value) in notes.iter_mut().zip(note) {
                column.push(value.clone());
            }
        }
        if !columns[0].is_empty() {
            let first = last - columns[0].len() as i64;
            sqlx::query(
                "INSERT INTO change_log (tenant_id, seq, object_type, object_id, kind, attributes, at, actor, batch, \
                 category, activity, service, detail) \
             SELECT $1, $2 + c.n, c.object_type, c.object_id, c.kind, c.attributes, $3, $4, $2 + 1, c.category, \
                 c.activity, c.service, c.detail \
             FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
                 $12::text[]) WITH ORDINALITY \
             AS c (object_type, object_id, kind, attributes, category, activity, service, detail, n)",
            )
            .bind(&batch.tenant)
            .bind(first)
            .bind(batch.at())
            .bind(batch.actor())
            .bind(&columns[0])
            .bind(&columns[1])
            .bind(&columns[2])
            .bind(&columns[3])
            .bind(&notes[0])
            .bind(&notes[1])
            .bind(&notes[2])
            .bind(&notes[3])
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(Some(last))
    }
}

/// Runs the statements in order in the transaction: runs of small ones as scripts, the others as prepared
/// statements.
async fn run_statements(tx: &mut sqlx::Transaction<'_, Postgres>, statements: &[Statement]) -> StoreResult<()> {
    let mut script: Vec<&Statement> = Vec::new();
    for statement in statements {
        if statement.query.params.len() <= SCRIPT_STATEMENT_PARAMETERS {
            script.push(statement);
            continue;
        }
        run_script(tx, &std::mem::take(&mut script)).await?;
        let affected = bind(&statement.query).execute(&mut **tx).await.map_err(write_error)?.rows_affected();
        if let (0, Some(missing)) = (affected, &statement.must_affect) {
            return Err(missing.clone());
        }
    }
    run_script(tx, &script).await
}

/// The batches in one call of [`APPLY`], in tenant order (transactions that lock several tenants' sequences
/// take them in one order, so two nodes' groups cannot deadlock); tells each batch its result once the
/// transaction has committed. Every parameter travels in one of two arrays (texts and integers): each
/// statement's `$n` is rewritten to the element that holds it, so statements of any shape run inside the
/// function.
async fn commit_group(pool: &PgPool, mut jobs: Vec<Job>) {
    jobs.sort_by(|a, b| a.0.tenant.cmp(&b.0.tenant));
    let mut call = GroupCall::default();
    for (batch, _) in &jobs {
        call.add(batch);
    }
    let outcome = sqlx::query_as::<_, (Vec<Option<i64>>, Vec<Option<String>>, Vec<Option<String>>)>(
        "SELECT lasts, codes, messages FROM gatehouse_apply_5($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
         $13, $14, $15, $16, $17, $18, $19)",
    )
    .bind(&call.tenants)
    .bind(&call.ats)
    .bind(&call.actors)
    .bind(&call.statement_counts)
    .bind(&call.change_counts)
    .bind(&call.statements)
    .bind(&call.checked)
    .bind(&call.text_counts)
    .bind(&call.int_counts)
    .bind(&call.texts)
    .bind(&call.ints)
    .bind(&call.changes[0])
    .bind(&call.changes[1])
    .bind(&call.changes[2])
    .bind(&call.changes[3])
    .bind(&call.notes[0])
    .bind(&call.notes[1])
    .bind(&call.notes[2])
    .bind(&call.notes[3])
    .fetch_one(pool)
    .await;
    for (index, (batch, sender)) in jobs.into_iter().enumerate() {
        let result = match &outcome {
            Err(e) => Err(unavailable(e)),
            Ok((lasts, codes, messages)) => batch_result(
                &batch,
                lasts.get(index).copied().flatten(),
                codes.get(index).cloned().flatten(),
                messages.get(index).cloned().flatten(),
            ),
        };
        let _ = sender.send(result);
    }
}

/// What [`APPLY`] said of one batch: its last sequence number, or the SQLSTATE and message of its failure.
fn batch_result(batch: &Batch, last: Option<i64>, code: Option<String>, message: Option<String>) -> StoreResult<i64> {
    let message = message.unwrap_or_default();
    match (last, code.as_deref()) {
        (Some(last), None) => Ok(last),
        (_, Some(UNAFFECTED)) => Err(message
            .parse::<usize>()
            .ok()
            .and_then(|index| batch.statements.get(index.wrapping_sub(1)))
            .and_then(|s| s.must_affect.clone())
            .unwrap_or_else(|| unavailable(message))),
        (_, Some(NO_TENANT)) => Err(StoreError::Missing),
        (_, Some(UNIQUE_VIOLATION)) => Err(StoreError::Conflict(message)),
        (_, code) => Err(unavailable(format!("{}: {message}", code.unwrap_or("no result")))),
    }
}

/// The arguments of one [`APPLY`] call, batch after batch.
#[derive(Default)]
struct GroupCall<'a> {
    tenants: Vec<&'a str>,
    ats: Vec<i64>,
    actors: Vec<String>,
    statement_counts: Vec<i32>,
    change_counts: Vec<i32>,
    statements: Vec<String>,
    checked: Vec<bool>,
    /// How many of `texts` and of `ints` each statement takes, in order.
    text_counts: Vec<i32>,
    int_counts: Vec<i32>,
    texts: Vec<&'a str>,
    ints: Vec<i64>,
    /// Object types, object ids, kinds and attributes of the changes.
    changes: [Vec<String>; 4],
    /// Categories, activities, services and details of the changes' notes.
    notes: [Vec<Option<&'a str>>; 4],
}

impl<'a> GroupCall<'a> {
    /// Adds the batch.
    fn add(&mut self, batch: &'a Batch) {
        let changes = batch.change_columns();
        self.tenants.push(&batch.tenant);
        self.ats.push(batch.at());
        self.actors.push(batch.actor());
        self.statement_counts.push(batch.statements.len() as i32);
        self.change_counts.push(changes.len() as i32);
        for statement in &batch.statements {
            let (texts, ints) = (self.texts.len(), self.ints.len());
            self.statements.push(inline_parameters(&statement.query, &mut self.texts, &mut self.ints));
            self.checked.push(statement.must_affect.is_some());
            self.text_counts.push((self.texts.len() - texts) as i32);
            self.int_counts.push((self.ints.len() - ints) as i32);
        }
        for change in changes {
            for (column, value) in self.changes.iter_mut().zip(change) {
                column.push(value);
            }
        }
        for note in batch.note_columns() {
            for (column, value) in self.notes.iter_mut().zip(note) {
                column.push(value.as_deref());
            }
        }
    }
}

/// Runs the statements as one script in the transaction; fails on the first checked statement that
/// affected no row.
async fn run_script(tx: &mut sqlx::Transaction<'_, Postgres>, statements: &[&Statement]) -> StoreResult<()> {
    use futures_util::TryStreamExt;
    if statements.is_empty() {
        return Ok(());
    }
    let mut script = String::new();
    for statement in statements {
        script.push_str(&with_literals(&statement.query));
        script.push_str(";\n");
    }
    let mut results = sqlx::raw_sql(&script).execute_many(&mut **tx);
    let mut checked = statements.iter();
    while let Some(result) = results.try_next().await.map_err(write_error)? {
        if let Some(Statement { must_affect: Some(missing), .. }) = checked.next() {
            if result.rows_affected() == 0 {
                return Err(missing.clone());
            }
        }
    }
    Ok(())
}

/// The statement's SQL with each parameter written in as a literal: a string constant (quotes doubled;
/// `standard_conforming_strings`, set on every connection, leaves backslashes alone), a number,
/// or `NULL`.
fn with_literals(query: &Query) -> String {
    let slots: Vec<String> = query
        .params
        .iter()
        .map(|param| match param {
            SqlValue::Null => "NULL".to_owned(),
            SqlValue::Int(i) => i.to_string(),
            SqlValue::Text(t) => format!("'{}'", t.replace('\'', "''")),
        })
        .collect();
    substitute(&query.sql, &slots)
}

/// The statement's SQL with each `$n` replaced by the array element that carries parameter `n`, its
/// texts and integers pushed onto `texts` and `ints`: `$1[i]` for the statement's `i`th text, `$2[i]` for
/// its `i`th integer, `NULL` for null. [`APPLY`] runs each statement with its own slices of the two arrays:
/// the planner copies the array into every `$1[i]` it folds, so a statement handed the whole group's texts
/// (a sign-in record of kilobytes for every batch) would cost in proportion to the group.
fn inline_parameters<'a>(query: &'a Query, texts: &mut Vec<&'a str>, ints: &mut Vec<i64>) -> String {
    inline_as(query, texts, ints, ("$1[", "$2["))
}

/// [`inline_parameters`], each element named by its array's name (`prefixes`: texts', integers') and its
/// 1-based index among the statement's own texts or integers, closed by `]`.
fn inline_as<'a>(query: &'a Query, texts: &mut Vec<&'a str>, ints: &mut Vec<i64>, prefixes: (&str, &str)) -> String {
    let (text_base, int_base) = (texts.len(), ints.len());
    let slots: Vec<String> = query
        .params
        .iter()
        .map(|param| match param {
            SqlValue::Null => "NULL".to_owned(),
            SqlValue::Int(i) => {
                ints.push(*i);
                format!("{}{}]", prefixes.1, ints.len() - int_base)
            }
            SqlValue::Text(t) => {
                texts.push(t);
                format!("{}{}]", prefixes.0, texts.len() - text_base)
            }
        })
        .collect();
    substitute(&query.sql, &slots)
}

/// `sql` with each `$n` replaced by `slots[n - 1]`.
fn substitute(sql: &str, slots: &[String]) -> String {
    let mut out = String::with_capacity(sql.len() + 8 * slots.len());
    let mut rest = sql;
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

/// The objects a batch's opening run of updates must reach for it to run alone, its rows written before
/// the sequence is taken (see `in_steps`).
const ALONE_OBJECTS: usize = 100;

/// What a batch that wrote its rows first sets before it waits for its tenant's sequence, and after: it
/// waits 250 ms at most, well under PostgreSQL's own deadlock check (one second by default), so that the
/// other writer never sees a deadlock error.
const GIVE_WAY: &str = "SET LOCAL lock_timeout = '250ms'";
const WAIT: &str = "SET LOCAL lock_timeout = 0";
/// PostgreSQL's SQLSTATE for a lock not granted within `lock_timeout`.
const LOCK_WAIT: &str = "55P03";

/// The most parameters a statement of a script may have: a multi-row insert of hundreds of rows runs as a
/// prepared statement instead, whose plan PostgreSQL reuses.
const SCRIPT_STATEMENT_PARAMETERS: usize = 64;

/// How [`APPLY`] runs a statement: `EXECUTE`, which parses and plans it afresh every time.
const RUN_STATEMENT: &str =
    "EXECUTE statements[i] USING texts[tt + 1 : tt + text_counts[i]], ints[kk + 1 : kk + int_counts[i]];";

/// [`APPLY`] with a fast path for each of the statements written most often ([`plan::hot_statements`]): one
/// that arrives as such a statement's text runs as static SQL on the same array elements, whose plan
/// PL/pgSQL keeps for the session, and any other through [`RUN_STATEMENT`]. (Under refresh grants a third
/// of the database's CPU went to parsing and planning the same two statements again and again.)
fn apply_function() -> String {
    let mut run = String::new();
    for (n, hot) in plan::hot_statements().iter().enumerate() {
        let (mut texts, mut ints) = (Vec::new(), Vec::new());
        let sent = inline_parameters(&hot.query, &mut texts, &mut ints);
        let (mut texts, mut ints) = (Vec::new(), Vec::new());
        let static_sql = inline_as(&hot.query, &mut texts, &mut ints, ("texts[tt + ", "ints[kk + "));
        let keyword = if n == 0 { "IF" } else { "ELSIF" };
        run.push_str(&format!("{keyword} statements[i] = '{}' THEN\n{static_sql};\n", sent.replace('\'', "''")));
    }
    run.push_str(&format!("ELSE\n{RUN_STATEMENT}\nEND IF;"));
    APPLY.replace(RUN_STATEMENT, &run)
}

/// SQLSTATEs [`APPLY`] reports: a checked statement affected no row (the message is its 1-based index in
/// its batch), the batch's tenant does not exist, and PostgreSQL's own unique violation.
const UNAFFECTED: &str = "GH001";
const NO_TENANT: &str = "GH002";
const UNIQUE_VIOLATION: &str = "23505";

/// Runs small batches' statements and logs their changes in one call, each batch in a subtransaction
/// (see [`PgDb::transaction`]); per batch, its last sequence number or its failure's SQLSTATE and message.
/// Versioned by name, so nodes of two versions can share a database during an upgrade.
const APPLY: &str = r#"
CREATE OR REPLACE FUNCTION gatehouse_apply_5(
    batch_tenants TEXT[], ats BIGINT[], actors TEXT[], statement_counts INT[], change_counts INT[],
    statements TEXT[], checked BOOLEAN[], text_counts INT[], int_counts INT[], texts TEXT[], ints BIGINT[],
    object_types TEXT[], object_ids TEXT[], kinds TEXT[], attributes TEXT[],
    categories TEXT[], activities TEXT[], services TEXT[], details TEXT[],
    OUT lasts BIGINT[], OUT codes TEXT[], OUT messages TEXT[]
) LANGUAGE plpgsql AS $body$
DECLARE
    batches INT := COALESCE(array_length(batch_tenants, 1), 0);
    s INT := 0;
    c INT := 0;
    t INT := 0;
    k INT := 0;
    tt INT;
    kk INT;
    n BIGINT;
    last BIGINT;
    affected BIGINT;
BEGIN
    lasts := array_fill(NULL::BIGINT, ARRAY[batches]);
    codes := array_fill(NULL::TEXT, ARRAY[batches]);
    messages := array_fill(NULL::TEXT, ARRAY[batches]);
    FOR b IN 1 .. batches LOOP
        n := change_counts[b];
        BEGIN
            -- A batch that creates its tenant finds no row to advance before its statements have run. One
            -- that logs nothing (a refresh token's rotation) reads the sequence and leaves the row alone.
            last := NULL;
            tt := t;
            kk := k;
            IF n = 0 THEN
                SELECT change_seq INTO last FROM tenants WHERE id = batch_tenants[b];
            ELSE
                UPDATE tenants SET change_seq = change_seq + n WHERE id = batch_tenants[b]
                    RETURNING change_seq INTO last;
            END IF;
            FOR i IN s + 1 .. s + statement_counts[b] LOOP
                EXECUTE statements[i] USING texts[tt + 1 : tt + text_counts[i]], ints[kk + 1 : kk + int_counts[i]];
                tt := tt + text_counts[i];
                kk := kk + int_counts[i];
                GET DIAGNOSTICS affected = ROW_COUNT;
                IF affected = 0 AND checked[i] THEN
                    RAISE EXCEPTION USING ERRCODE = 'GH001', MESSAGE = (i - s)::TEXT;
                END IF;
            END LOOP;
            IF last IS NULL AND n = 0 THEN
                SELECT change_seq INTO last FROM tenants WHERE id = batch_tenants[b];
            ELSIF last IS NULL THEN
                UPDATE tenants SET change_seq = change_seq + n WHERE id = batch_tenants[b]
                    RETURNING change_seq INTO last;
            END IF;
            IF last IS NULL THEN
                RAISE EXCEPTION USING ERRCODE = 'GH002', MESSAGE = 'no such tenant';
            END IF;
            IF n > 0 THEN
                INSERT INTO change_log (tenant_id, seq, object_type, object_id, kind, attributes, at, actor, batch,
                                        category, activity, service, detail)
                    SELECT batch_tenants[b], last - n + u.ord, u.object_type, u.object_id, u.kind, u.attributes, ats[b],
                           actors[b], last - n + 1, u.category, u.activity, u.service, u.detail
                    FROM unnest(object_types[c + 1 : c + n], object_ids[c + 1 : c + n], kinds[c + 1 : c + n],
                                attributes[c + 1 : c + n], categories[c + 1 : c + n], activities[c + 1 : c + n],
                                services[c + 1 : c + n], details[c + 1 : c + n])
                         WITH ORDINALITY AS u(object_type, object_id, kind, attributes, category, activity, service,
                                              detail, ord);
            END IF;
            lasts[b] := last;
        EXCEPTION WHEN OTHERS THEN
            codes[b] := SQLSTATE;
            messages[b] := SQLERRM;
        END;
        FOR i IN s + 1 .. s + statement_counts[b] LOOP
            t := t + text_counts[i];
            k := k + int_counts[i];
        END LOOP;
        s := s + statement_counts[b];
        c := c + n;
    END LOOP;
END
$body$;
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use gatehouse_core::store::audit::Initiator;
    use gatehouse_core::store::{SignInRecord, Write};
    use uuid::Uuid;

    /// A sign-in's record and a refresh token's rotation, as a request's batch sends them to the group
    /// function, each meet a fast path of their own; everything else runs through `EXECUTE`.
    #[test]
    fn the_hot_statements_as_requests_send_them_have_fast_paths() {
        let record = SignInRecord {
            id: Uuid::new_v4(),
            at: Utc::now(),
            user: Some(Uuid::new_v4()),
            user_principal_name: "ada@contoso.test".into(),
            app: Some(Uuid::new_v4()),
            error_code: 50126,
            doc: serde_json::Map::new(),
        };
        let rotation = Write::RotateRefreshFamily { id: Uuid::new_v4(), from: 3, expires_at: Utc::now() };
        let writes = vec![Write::LogSignIns(vec![record]), rotation];
        let batch = Batch::new(Uuid::new_v4(), writes, Utc::now(), Initiator::System, false).unwrap();
        let function = apply_function();
        assert_eq!(batch.statements.len(), 2);
        for statement in &batch.statements {
            let (mut texts, mut ints) = (Vec::new(), Vec::new());
            let sent = inline_parameters(&statement.query, &mut texts, &mut ints);
            assert!(function.contains(&format!("statements[i] = '{sent}' THEN")), "{sent}");
        }
        assert_eq!(function.matches(RUN_STATEMENT).count(), 1, "and one way for the rest");
    }
}
