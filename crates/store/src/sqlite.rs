//! Plans on SQLite, through rusqlite.
//!
//! Reads run inline on the calling task from a pool of reader connections; write transactions run on
//! the blocking pool through the one writer connection (SQLite has a single writer; holding it behind a
//! mutex also keeps writers from spinning in SQLite's busy handler). WAL mode lets readers proceed while
//! the writer commits; `synchronous = FULL` makes every acknowledged commit survive a power loss; a thread
//! of its own checkpoints the WAL. Each connection keeps a 64 MiB page cache.
//!
//! **Group commit.** Batches that arrive while the writer is busy wait in a queue (`group.rs`); the
//! writer's one committer runs every waiting batch in one transaction, each inside its own savepoint (a
//! failing batch is rolled back alone and gets its own error), and pays for one `fsync` for all of them.
//! No batch is acknowledged before that commit, so durability is unchanged; an idle writer commits a lone
//! batch at once, so nothing waits for company.

use crate::group::{GroupQueue, Job};
use crate::migrations::MIGRATIONS;
use crate::plan::{self, Batch, Query, Row, SqlValue};
use gatehouse_core::store::{StoreError, StoreResult};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Reader connections kept open for reuse.
const READERS: usize = 8;

pub struct SqliteDb {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    writer: Arc<Mutex<Connection>>,
    /// Batches waiting for the writer.
    waiting: Arc<GroupQueue>,
    /// Dropped with the store, which ends the checkpointing thread.
    _checkpointer: std::sync::mpsc::Sender<()>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn write_error(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(failure, message)
            if failure.code == rusqlite::ErrorCode::ConstraintViolation
                && matches!(failure.extended_code, 2067 | 1555) =>
        {
            StoreError::Conflict(message.clone().unwrap_or_else(|| "unique constraint".into()))
        }
        _ => unavailable(e),
    }
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlValue::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            SqlValue::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            SqlValue::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
        })
    }
}

/// `$n` placeholders as SQLite's explicit `?n`.
fn sqlite_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|n| n.is_ascii_digit()) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

fn open(path: &Path) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(unavailable)?;
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
             PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0; \
             PRAGMA journal_size_limit = 67108864;",
        )
        .map_err(unavailable)?;
    register_regexp_like(&connection)?;
    Ok(connection)
}

/// `regexp_like(value, pattern, flags)` as PostgreSQL has it (flag `i`: case-insensitive), so rules'
/// `-match` compiles to the same SQL on both engines. Compiled patterns are cached per connection.
fn register_regexp_like(connection: &Connection) -> StoreResult<()> {
    use rusqlite::functions::FunctionFlags;
    let cache = Mutex::new(std::collections::HashMap::<(String, bool), Option<regex::Regex>>::new());
    connection
        .create_scalar_function(
            "regexp_like",
            3,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            move |ctx| {
                let value: Option<String> = ctx.get(0)?;
                let pattern: String = ctx.get(1)?;
                let flags: String = ctx.get(2)?;
                let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() > 1024 {
                    cache.clear();
                }
                let insensitive = flags.contains('i');
                let compiled = cache.entry((pattern.clone(), insensitive)).or_insert_with(|| {
                    regex::RegexBuilder::new(&pattern).case_insensitive(insensitive).size_limit(1 << 20).build().ok()
                });
                Ok(match (value, compiled) {
                    (Some(value), Some(re)) => re.is_match(&value),
                    _ => false,
                })
            },
        )
        .map_err(unavailable)
}

fn fetch_on(connection: &Connection, query: &Query) -> rusqlite::Result<Vec<Row>> {
    let mut statement = connection.prepare_cached(&sqlite_sql(&query.sql))?;
    let columns = statement.column_count();
    let mut rows = statement.query(rusqlite::params_from_iter(query.params.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns);
        for index in 0..columns {
            values.push(match row.get_ref(index)? {
                ValueRef::Null => SqlValue::Null,
                ValueRef::Integer(i) => SqlValue::Int(i),
                ValueRef::Real(r) => SqlValue::Int(r as i64),
                ValueRef::Text(t) | ValueRef::Blob(t) => SqlValue::Text(
                    String::from_utf8(t.to_vec())
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                ),
            });
        }
        out.push(Row(values));
    }
    Ok(out)
}

fn execute_on(connection: &Connection, query: &Query) -> Result<usize, StoreError> {
    let mut statement = connection.prepare_cached(&sqlite_sql(&query.sql)).map_err(unavailable)?;
    statement.execute(rusqlite::params_from_iter(query.params.iter())).map_err(write_error)
}

impl SqliteDb {
    /// `url` is `sqlite://PATH`, optionally followed by `?…` options, which are ignored.
    pub fn open(url: &str) -> StoreResult<SqliteDb> {
        let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
        let path = PathBuf::from(rest.split('?').next().unwrap_or_default());
        if path.as_os_str().is_empty() {
            return Err(StoreError::Unavailable("the SQLite URL names no file".into()));
        }
        private_files(&path)?;
        let writer = open(&path)?;
        // A WAL left by a process that did not close the database (a crash, a kill, a bulk load) is replayed
        // into the index of every reader's lookups, and until all of it is checkpointed each page read
        // searches it: after a 100,000-user import a 5.6 GB WAL made bulk work half again as slow. Copy it
        // into the database file before serving (passively: a command run beside a serving node must not
        // hold up its writes).
        writer.execute_batch("PRAGMA wal_checkpoint(PASSIVE)").map_err(unavailable)?;
        let writer = Arc::new(Mutex::new(writer));
        let checkpointer = spawn_checkpointer(&path)?;
        Ok(SqliteDb {
            path,
            readers: Mutex::new(Vec::new()),
            writer,
            waiting: Arc::default(),
            _checkpointer: checkpointer,
        })
    }

    /// Applies pending migrations; returns the versions it applied.
    pub fn migrate(&self) -> StoreResult<Vec<i64>> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        writer
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .map_err(unavailable)?;
        let mut newly = Vec::new();
        for (version, sql) in MIGRATIONS {
            let applied: i64 = writer
                .query_row("SELECT COUNT(*) FROM schema_migrations WHERE version = ?1", [version], |r| r.get(0))
                .map_err(unavailable)?;
            if applied > 0 {
                continue;
            }
            let tx = writer.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            tx.execute_batch(&sql.replace("{text_c}", "TEXT")).map_err(unavailable)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                [*version, plan::micros(chrono::Utc::now())],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            tracing::info!(version, "applied schema migration");
            newly.push(*version);
        }
        Ok(newly)
    }

    /// Runs a read on a pooled reader connection, on the calling thread.
    pub fn fetch(&self, query: &Query) -> StoreResult<Vec<Row>> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => open(&self.path)?,
        };
        let result = fetch_on(&connection, query).map_err(unavailable);
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if readers.len() < READERS {
            readers.push(connection);
        }
        result
    }

    /// Runs the batch in a transaction of the writer connection, on the blocking pool, together with the
    /// batches waiting when the writer is taken (see the module's notes on group commit).
    pub async fn transaction(&self, batch: Batch) -> StoreResult<i64> {
        let (receiver, committer) = self.waiting.push(batch);
        if let Some(mut committer) = committer {
            let writer = self.writer.clone();
            tokio::task::spawn_blocking(move || {
                let mut connection = writer.lock().unwrap_or_else(|p| p.into_inner());
                while let Some(jobs) = committer.next(usize::MAX) {
                    commit_group(&mut connection, jobs);
                }
            });
        }
        receiver.await.map_err(unavailable)?
    }
}

/// How often the checkpointer copies what the WAL holds into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Checkpoints the WAL from a thread and connection of its own, until the returned sender is dropped (with
/// the store): no commit pays for copying pages into the database file (with SQLite's automatic
/// checkpoints, turned off in [`open`], the commit that crosses the threshold does, which put a member add's
/// p99 at 16 ms), and a bulk run's pages that several transactions dirty are copied once per period instead
/// of once per commit. Passive checkpoints wait for no reader or writer.
fn spawn_checkpointer(path: &Path) -> StoreResult<std::sync::mpsc::Sender<()>> {
    let connection = open(path)?;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                if let Err(error) = connection.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                    tracing::warn!(%error, "WAL checkpoint failed");
                }
            }
        })
        .map_err(unavailable)?;
    Ok(stop)
}

/// Runs the batches in one transaction, each in its own savepoint (a lone batch needs none), and tells each
/// its result once the transaction has committed.
fn commit_group(connection: &mut Connection, jobs: Vec<Job>) {
    let mut tx = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            for (_, sender) in jobs {
                let _ = sender.send(Err(unavailable(&e)));
            }
            return;
        }
    };
    if jobs.len() == 1 {
        // A lone batch needs no savepoint: if it fails, the whole transaction is rolled back.
        let Some((batch, sender)) = jobs.into_iter().next() else { return };
        let result = run_batch(&tx, &batch);
        let finished = if result.is_ok() { tx.commit() } else { tx.rollback() };
        let _ = sender.send(finished.map_err(unavailable).and(result));
        return;
    }
    let mut results = Vec::with_capacity(jobs.len());
    for (batch, sender) in jobs {
        let result = match tx.savepoint() {
            Err(e) => Err(unavailable(e)),
            Ok(mut savepoint) => match run_batch(&savepoint, &batch) {
                Ok(last) => savepoint.commit().map(|_| last).map_err(unavailable),
                Err(error) => savepoint.rollback().map_err(unavailable).and(Err(error)),
            },
        };
        results.push((result, sender));
    }
    let committed = tx.commit();
    for (result, sender) in results {
        let _ = sender.send(match &committed {
            Ok(()) => result,
            Err(e) => Err(unavailable(e)),
        });
    }
}

/// One batch's statements and change-log rows; returns its last sequence number.
fn run_batch(connection: &Connection, batch: &Batch) -> StoreResult<i64> {
    // A batch that creates its tenant finds no row to advance before its statements have run.
    let mut advanced = fetch_on(connection, &batch.advance_sequence()).map_err(unavailable)?;
    for statement in &batch.statements {
        let affected = execute_on(connection, &statement.query)?;
        if let (0, Some(missing)) = (affected, &statement.must_affect) {
            return Err(missing.clone());
        }
    }
    if advanced.is_empty() {
        advanced = fetch_on(connection, &batch.advance_sequence()).map_err(unavailable)?;
    }
    let last = advanced.first().ok_or(StoreError::Missing)?.int(0)?;
    for insert in batch.change_log(last) {
        execute_on(connection, &insert)?;
    }
    Ok(last)
}

/// The database holds every password hash and secret digest: it is made readable by its owner alone, whatever
/// the umask. A new file is created empty with mode 0600 before SQLite opens it (SQLite gives its `-wal` and
/// `-shm` files the database file's mode); an existing one, and its companions, are set to 0600.
fn private_files(path: &std::path::Path) -> StoreResult<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let failed = |e: std::io::Error| {
        let hint = match e.kind() {
            std::io::ErrorKind::PermissionDenied => {
                " (permission denied: the server's user must own the data directory and its files)"
            }
            _ => "",
        };
        StoreError::Unavailable(format!("cannot open the database file {}: {e}{hint}", path.display()))
    };
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(failed(e)),
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed(e)),
        }
    }
    Ok(())
}
