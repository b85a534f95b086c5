//! The SQL of every write and read, written once for both engines, and the portable values and rows that
//! carry parameters in and results out.

mod provisioning;
mod rows;
mod values;
mod writes;

use chrono::{DateTime, TimeZone, Utc};
use gatehouse_core::query;
use gatehouse_core::schema::format_time;
use gatehouse_core::store::audit::{self, AuditRecord, Initiator, Modified, Note, Values};
use gatehouse_core::store::{
    AppRoleAssignmentRecord, AuthorizationCodeRecord, Change, ChangeKind, ChangeRecord, DeviceCodeRecord,
    DynamicStatusRecord, Link, LockoutRecord, MailRecord, MailState, ObjectKind, ObjectRecord, PermissionGrantRecord,
    ProvisionedRecord, ProvisioningJobRecord, ProvisioningLogRecord, RefreshFamilyRecord, Relation, SecretRecord,
    SharingLinkRecord, SignInRecord, SigningKeyRecord, StoreError, StoreResult, Write,
};
pub use rows::*;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;
use values::*;
pub use values::{index_statements, sort_statement};
use writes::*;

/// A parameter or a column value.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Text(String),
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(v)
    }
}

impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_owned())
    }
}

impl From<Uuid> for SqlValue {
    fn from(v: Uuid) -> Self {
        SqlValue::Text(v.to_string())
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(SqlValue::Null)
    }
}

/// A result row, its values in the order the query selected them.
#[derive(Debug, Clone)]
pub struct Row(pub Vec<SqlValue>);

fn corrupt(what: &str, index: usize) -> StoreError {
    StoreError::Unavailable(format!("column {index}: expected {what}"))
}

impl Row {
    pub fn text(&self, index: usize) -> StoreResult<String> {
        match self.0.get(index) {
            Some(SqlValue::Text(t)) => Ok(t.clone()),
            _ => Err(corrupt("text", index)),
        }
    }

    pub fn optional_text(&self, index: usize) -> StoreResult<Option<String>> {
        match self.0.get(index) {
            Some(SqlValue::Null) => Ok(None),
            _ => self.text(index).map(Some),
        }
    }

    pub fn int(&self, index: usize) -> StoreResult<i64> {
        match self.0.get(index) {
            Some(SqlValue::Int(i)) => Ok(*i),
            _ => Err(corrupt("an integer", index)),
        }
    }

    pub fn optional_int(&self, index: usize) -> StoreResult<Option<i64>> {
        match self.0.get(index) {
            Some(SqlValue::Null) => Ok(None),
            _ => self.int(index).map(Some),
        }
    }

    pub fn uuid(&self, index: usize) -> StoreResult<Uuid> {
        Uuid::parse_str(&self.text(index)?).map_err(|_| corrupt("a GUID", index))
    }

    pub fn time(&self, index: usize) -> StoreResult<DateTime<Utc>> {
        Ok(from_micros(self.int(index)?))
    }
}

pub fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub fn from_micros(value: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(value).single().unwrap_or_default()
}

/// A query and its parameters.
#[derive(Debug, Clone)]
pub struct Query {
    pub sql: String,
    pub params: Vec<SqlValue>,
    /// Planned for its own parameters on every run, never from a plan cached for any parameters: a
    /// filter's best plan turns on the values it names (`accountEnabled eq true` holds for most users, a
    /// job title for a few hundred), and a plan cached for the average value can walk every user.
    pub planned_per_run: bool,
}

pub fn query(sql: impl Into<String>, params: Vec<SqlValue>) -> Query {
    Query { sql: sql.into(), params, planned_per_run: false }
}

/// A statement of a write, and what it must have done.
#[derive(Debug, Clone)]
pub struct Statement {
    pub query: Query,
    /// When set, the statement must affect at least one row, or the batch fails with this error.
    pub must_affect: Option<StoreError>,
}

/// One use case's writes as one transaction: its statements, then the tenant's sequence advanced by the
/// number of changes, then one change-log row per change.
#[derive(Debug)]
pub struct Batch {
    pub tenant: String,
    pub statements: Vec<Statement>,
    changes: Vec<Change>,
    /// The audit log's note of each change, as the log's `category`, `activity`, `service` and `detail`
    /// columns (all null for a change the audit log passes over).
    notes: Vec<NoteColumns>,
    by: Initiator,
    at: i64,
    /// How many statements open the batch that need not wait for the tenant's sequence: those of a run of
    /// updates that opens it (see [`values::Revised`]). PostgreSQL runs a large batch's before it advances
    /// the sequence, so that two such batches write their rows side by side.
    pub unlocked: usize,
    /// The objects that opening run updates.
    pub opening_run: usize,
}

/// A change's note as the change log's `category`, `activity`, `service` and `detail` columns.
pub type NoteColumns = [Option<String>; 4];

fn note_columns(note: Option<Note>) -> StoreResult<NoteColumns> {
    let Some(note) = note else { return Ok(Default::default()) };
    let modified: Vec<Value> =
        note.modified.into_iter().map(|m| serde_json::json!({"name": m.name, "old": m.old, "new": m.new})).collect();
    let detail = serde_json::json!({"operation": note.operation, "modified": modified});
    let detail = serde_json::to_string(&detail).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok([Some(note.category), Some(note.activity), Some(note.service), Some(detail)])
}

/// The statements written most often — a sign-in's record, a refresh token's rotation — as their writes make
/// them when no parameter is null.
pub fn hot_statements() -> Vec<Statement> {
    let (tenant, id, at) = (Uuid::nil().to_string(), Uuid::nil(), DateTime::<Utc>::UNIX_EPOCH);
    let record = SignInRecord {
        id,
        at,
        user: Some(id),
        user_principal_name: String::new(),
        app: Some(id),
        error_code: 0,
        doc: Map::new(),
    };
    let writes = [Write::LogSignIns(vec![record]), Write::RotateRefreshFamily { id, from: 0, expires_at: at }];
    writes
        .into_iter()
        .filter_map(|write| write_plan(&tenant, write, 0).ok())
        .flat_map(|(statements, _)| statements)
        .collect()
}

impl Batch {
    /// The batch of the writes; `together` writes runs of updates given their old values as one (see
    /// [`revisions`]).
    pub fn new(
        tenant: Uuid,
        writes: Vec<Write>,
        at: DateTime<Utc>,
        by: Initiator,
        together: bool,
    ) -> StoreResult<Batch> {
        let tenant = tenant.to_string();
        let mut statements = Vec::new();
        let mut changes = Vec::with_capacity(writes.len());
        let mut notes = Vec::with_capacity(writes.len());
        let at = micros(at);
        // Consecutive updates of distinct objects with their values read before are written together.
        let (mut run, mut in_run): (Vec<Revision>, HashSet<Uuid>) = Default::default();
        let (mut unlocked, mut opening_run) = (0, 0);
        let mut flush = |run: &[Revision], statements: &mut Vec<Statement>| -> StoreResult<()> {
            let revised = revisions(&tenant, run)?;
            if statements.is_empty() {
                (unlocked, opening_run) = (revised.unlocked.len(), run.len());
            }
            statements.extend(revised.unlocked);
            statements.extend(revised.locked);
            Ok(())
        };
        for write in writes {
            let values = Values::of(&write);
            let first = changes.len();
            match write {
                Write::UpdateObject { object, expected_version, attributes, before: Some(before), .. }
                    if together && in_run.insert(object.id) =>
                {
                    changes.push(Change::object(object.kind, object.id, ChangeKind::Updated, attributes));
                    run.push(Revision { object, expected_version, before });
                }
                write => {
                    if !run.is_empty() {
                        flush(&std::mem::take(&mut run), &mut statements)?;
                        in_run.clear();
                    }
                    let (mut s, mut c) = write_plan(&tenant, write, at)?;
                    statements.append(&mut s);
                    changes.append(&mut c);
                }
            }
            for change in &changes[first..] {
                notes.push(note_columns(audit::note(change, &values, &by))?);
            }
        }
        if !run.is_empty() {
            flush(&run, &mut statements)?;
        }
        Ok(Batch { tenant, statements, changes, notes, by, at, unlocked, opening_run })
    }

    /// Statements that change no directory object and so log no change (index maintenance).
    pub fn maintenance(tenant: Uuid, statements: Vec<Statement>) -> Batch {
        let (changes, notes) = (Vec::new(), Vec::new());
        Batch {
            tenant: tenant.to_string(),
            statements,
            changes,
            notes,
            by: Initiator::System,
            at: 0,
            unlocked: 0,
            opening_run: 0,
        }
    }

    /// Advances the tenant's change sequence; returns the new last sequence number as its one row.
    pub fn advance_sequence(&self) -> Query {
        if self.changes.is_empty() {
            // A batch that logs nothing (a refresh token's rotation) reads the sequence and leaves the tenant's
            // row alone: no page to write, and on PostgreSQL no row lock held until the commit.
            return query("SELECT change_seq FROM tenants WHERE id = $1", vec![self.tenant.as_str().into()]);
        }
        query(
            "UPDATE tenants SET change_seq = change_seq + $1 WHERE id = $2 RETURNING change_seq",
            vec![(self.changes.len() as i64).into(), self.tenant.as_str().into()],
        )
    }

    /// The change-log rows, numbered up to `last`.
    pub fn change_log(&self, last: i64) -> Vec<Query> {
        let first = last - self.changes.len() as i64 + 1;
        let columns = self.change_columns();
        let mut out = Vec::new();
        for (chunk_index, chunk) in columns.chunks(ROWS_PER_INSERT).enumerate() {
            let mut params: Vec<SqlValue> =
                vec![self.tenant.as_str().into(), self.at.into(), self.actor().into(), first.into()];
            let mut rows = Vec::with_capacity(chunk.len());
            for (offset, [object_type, object_id, kind, attributes]) in chunk.iter().enumerate() {
                let index = chunk_index * ROWS_PER_INSERT + offset;
                let n = params.len();
                let slots: Vec<String> = (n + 1..=n + 9).map(|i| format!("${i}")).collect();
                rows.push(format!("($1, $2, $3, $4, {})", slots.join(", ")));
                params.push((first + index as i64).into());
                for value in [object_type, object_id, kind, attributes] {
                    params.push(value.as_str().into());
                }
                params.extend(self.notes[index].iter().cloned().map(SqlValue::from));
            }
            out.push(query(
                format!(
                    "INSERT INTO change_log (tenant_id, at, actor, batch, seq, object_type, object_id, kind, attributes, \
                     category, activity, service, detail) VALUES {}",
                    rows.join(", ")
                ),
                params,
            ));
        }
        out
    }

    /// The change-log rows in order, without their numbers: object type, object id, kind and attributes
    /// (a JSON array).
    pub fn change_columns(&self) -> Vec<[String; 4]> {
        self.changes.iter().map(Change::encode).collect()
    }

    /// The notes of the change-log rows, in order.
    pub fn note_columns(&self) -> &[NoteColumns] {
        &self.notes
    }

    /// Who made the changes, as the change log's `actor` column holds it.
    pub fn actor(&self) -> String {
        self.by.encode()
    }

    /// When the batch's changes happened, in microseconds.
    pub fn at(&self) -> i64 {
        self.at
    }
}

/// Rows one multi-row insert carries (well inside both engines' parameter limits).
const ROWS_PER_INSERT: usize = 200;
