//! An object's query values (what `$filter` and `$search` compile against), the counted values and the
//! per-kind object counts kept beside them, and sort keys: the statements every object write shares.

use super::*;

/// The values counted per tenant (seats of a product are the users holding it), kept in `value_counts` in
/// the same transactions as the values themselves.
pub(super) const COUNTED: &str = "'assignedLicenses'";
/// The counted property, as its values are indexed.
pub(super) const COUNTED_PROPERTY: &str = "assignedLicenses";

/// Takes an object's counted values out of the counts (before they change, or when it is deleted).
pub(super) fn uncount(tenant: &str, id: Uuid) -> Statement {
    statement(
        &format!(
            "UPDATE value_counts SET n = n - 1 WHERE tenant_id = $1 AND property = {COUNTED} AND value IN \
             (SELECT v.value FROM object_values v WHERE v.tenant_id = $1 AND v.object_id = $2 AND v.property = {COUNTED})"
        ),
        vec![tenant.into(), id.into()],
    )
}

/// Adds an object's counted values to the counts (after they change, or when it is restored).
pub(super) fn recount(tenant: &str, id: Uuid) -> Statement {
    statement(
        &format!(
            "INSERT INTO value_counts (tenant_id, property, value, n) SELECT v.tenant_id, v.property, v.value, 1 \
             FROM object_values v WHERE v.tenant_id = $1 AND v.object_id = $2 AND v.property = {COUNTED} \
             ON CONFLICT (tenant_id, property, value) DO UPDATE SET n = value_counts.n + 1"
        ),
        vec![tenant.into(), id.into()],
    )
}

/// The values of `these` that `those` lacks.
pub(super) fn missing_from<'a>(
    these: &'a [(String, String)],
    those: &'a [(String, String)],
) -> impl Iterator<Item = &'a (String, String)> {
    these.iter().filter(|pair| !those.contains(pair))
}

/// Writes only the difference between an object's stored query values and its new ones: the removed pairs
/// deleted, the added ones inserted, and the counts of counted values moved with them.
pub(super) fn changed_values(
    tenant: &str,
    id: Uuid,
    before: &[(String, String)],
    after: &[(String, String)],
) -> Vec<Statement> {
    let (removed, added): (Vec<_>, Vec<_>) =
        (missing_from(before, after).collect(), missing_from(after, before).collect());
    let mut statements = Vec::new();
    for (property, value) in &removed {
        if property == COUNTED_PROPERTY {
            statements.push(statement(
                "UPDATE value_counts SET n = n - 1 WHERE tenant_id = $1 AND property = $2 AND value = $3",
                vec![tenant.into(), property.as_str().into(), value.as_str().into()],
            ));
        }
        statements.push(statement(
            "DELETE FROM object_values WHERE tenant_id = $1 AND property = $2 AND value = $3 AND object_id = $4",
            vec![tenant.into(), property.as_str().into(), value.as_str().into(), id.into()],
        ));
    }
    for chunk in added.chunks(ROWS_PER_INSERT) {
        let mut params: Vec<SqlValue> = vec![tenant.into(), id.into()];
        let mut rows = Vec::with_capacity(chunk.len());
        for (property, value) in chunk {
            rows.push(format!("($1, $2, ${}, ${})", params.len() + 1, params.len() + 2));
            params.push(property.as_str().into());
            params.push(value.as_str().into());
        }
        let sql =
            format!("INSERT INTO object_values (tenant_id, object_id, property, value) VALUES {}", rows.join(", "));
        statements.push(Statement { query: query(sql, params), must_affect: None });
    }
    for (property, value) in added.iter().filter(|(p, _)| p == COUNTED_PROPERTY) {
        statements.push(statement(
            "INSERT INTO value_counts (tenant_id, property, value, n) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (tenant_id, property, value) DO UPDATE SET n = value_counts.n + 1",
            vec![tenant.into(), property.as_str().into(), value.as_str().into()],
        ));
    }
    statements
}

/// An update of an object whose stored query values the use case read before (`Write::UpdateObject` with
/// `before`).
pub(super) struct Revision {
    pub(super) object: ObjectRecord,
    pub(super) expected_version: i64,
    pub(super) before: Vec<(String, String)>,
}

/// A run of updates as statements: those that may run before the tenant's sequence is advanced (the rows
/// of the run's objects, each guarded by its version in the statement that writes it) and those that must
/// run after (the counts, rows every writer of the tenant shares).
pub(super) struct Revised {
    pub(super) unlocked: Vec<Statement>,
    pub(super) locked: Vec<Statement>,
}

/// Updates of distinct objects in a fixed number of statements whatever their number, their rows carried
/// as one JSON array each, for PostgreSQL: the documents, written only where every object is live at its
/// expected version (else `VersionMismatch`, and the transaction writes nothing), only the difference
/// between each object's stored query values and its new ones, and the counted values' counts moved by
/// their totals. A group's license reaches 2,000 members in one batch: written per object, PostgreSQL
/// parses and plans each statement and updates one seat count's row 2,000 times. SQLite, in process, runs
/// the per-object statements faster than it reads rows out of JSON, and keeps them.
pub(super) fn revisions(tenant: &str, revisions: &[Revision]) -> StoreResult<Revised> {
    let rows_of = |rows: Vec<Value>| SqlValue::from(Value::Array(rows).to_string());
    let mut objects = Vec::with_capacity(revisions.len());
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for Revision { object, expected_version, before } in revisions {
        objects.push(serde_json::json!({
            "id": object.id, "version": expected_version, "unique_key": object.unique_key,
            "manager_id": object.manager, "doc": json(&object.doc)?, "sort_name": gatehouse_core::store::sort_name(object),
        }));
        let after = query::index_values(object);
        let mut moved = |(property, value): &(String, String), delta: i64, out: &mut Vec<Value>| {
            out.push(serde_json::json!({"o": object.id, "p": property, "v": value}));
            if property == COUNTED_PROPERTY {
                *counts.entry(value.clone()).or_default() += delta;
            }
        };
        for pair in missing_from(before, &after) {
            moved(pair, -1, &mut removed);
        }
        for pair in missing_from(&after, before) {
            moved(pair, 1, &mut added);
        }
    }
    let expected = revisions.len() as i64;
    let mut unlocked = vec![checked(
        "WITH updated AS (UPDATE objects AS o SET version = o.version + 1, unique_key = r.value ->> 'unique_key', \
         manager_id = r.value ->> 'manager_id', doc = r.value ->> 'doc', sort_name = r.value ->> 'sort_name' \
         FROM jsonb_array_elements($2::jsonb) AS r WHERE o.tenant_id = $1 AND o.id = r.value ->> 'id' \
         AND o.version = CAST(r.value ->> 'version' AS BIGINT) AND o.deleted_at IS NULL RETURNING 1) \
         SELECT 1 WHERE (SELECT COUNT(*) FROM updated) = $3",
        vec![tenant.into(), rows_of(objects), expected.into()],
        StoreError::VersionMismatch,
    )];
    if !removed.is_empty() {
        unlocked.push(statement(
            "DELETE FROM object_values WHERE tenant_id = $1 AND (property, value, object_id) IN \
             (SELECT r.value ->> 'p', r.value ->> 'v', r.value ->> 'o' FROM jsonb_array_elements($2::jsonb) AS r)",
            vec![tenant.into(), rows_of(removed)],
        ));
    }
    if !added.is_empty() {
        unlocked.push(statement(
            "INSERT INTO object_values (tenant_id, object_id, property, value) \
             SELECT $1, r.value ->> 'o', r.value ->> 'p', r.value ->> 'v' FROM jsonb_array_elements($2::jsonb) AS r",
            vec![tenant.into(), rows_of(added)],
        ));
    }
    let mut locked = Vec::new();
    for (value, delta) in counts.into_iter().filter(|(_, delta)| *delta != 0) {
        let sql = if delta > 0 {
            "INSERT INTO value_counts (tenant_id, property, value, n) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, property, value) DO UPDATE SET n = value_counts.n + $4"
        } else {
            "UPDATE value_counts SET n = n + $4 WHERE tenant_id = $1 AND property = $2 AND value = $3"
        };
        locked.push(statement(sql, vec![tenant.into(), COUNTED_PROPERTY.into(), value.into(), delta.into()]));
    }
    Ok(Revised { unlocked, locked })
}

pub fn index_statements(tenant: &str, object: &ObjectRecord) -> Vec<Statement> {
    let mut statements = vec![
        uncount(tenant, object.id),
        statement(
            "DELETE FROM object_values WHERE tenant_id = $1 AND object_id = $2",
            vec![tenant.into(), object.id.into()],
        ),
    ];
    let values = query::index_values(object);
    if values.is_empty() {
        return statements;
    }
    let mut params: Vec<SqlValue> = vec![tenant.into(), object.id.into()];
    let mut rows = Vec::with_capacity(values.len());
    for (property, value) in values {
        rows.push(format!("($1, $2, ${}, ${})", params.len() + 1, params.len() + 2));
        params.push(property.into());
        params.push(value.into());
    }
    let sql = format!("INSERT INTO object_values (tenant_id, object_id, property, value) VALUES {}", rows.join(", "));
    statements.push(Statement { query: query(sql, params), must_affect: None });
    statements.push(recount(tenant, object.id));
    statements
}

/// Adds `delta` to the count of a tenant's live (or deleted) objects of a kind.
pub(super) fn count(tenant: &str, kind: ObjectKind, deleted: bool, delta: i64) -> Statement {
    statement(
        "INSERT INTO object_counts (tenant_id, kind, deleted, n) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id, kind, deleted) DO UPDATE SET n = object_counts.n + excluded.n",
        vec![tenant.into(), kind.as_str().into(), i64::from(deleted).into(), delta.into()],
    )
}

/// Sets an object's sort key.
pub fn sort_statement(tenant: &str, object: &ObjectRecord) -> Statement {
    statement(
        "UPDATE objects SET sort_name = $1 WHERE tenant_id = $2 AND id = $3",
        vec![gatehouse_core::store::sort_name(object).into(), tenant.into(), object.id.into()],
    )
}
