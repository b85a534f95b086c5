//! The SQL of every write and read, written once for both engines, and the portable values and rows that
//! carry parameters in and results out.

use chrono::{DateTime, TimeZone, Utc};
use gatehouse_core::query;
use gatehouse_core::schema::format_time;
use gatehouse_core::store::{
    AppRoleAssignmentRecord, ChangeKind, ChangeRecord, DynamicStatusRecord, Link, ObjectKind, ObjectRecord, Relation,
    SecretRecord, SigningKeyRecord, StoreError, StoreResult, Write,
};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

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

/// What one write contributes to the change log.
#[derive(Debug, Clone)]
pub struct Change {
    pub object_type: String,
    pub object_id: String,
    pub kind: ChangeKind,
    pub attributes: Vec<String>,
}

fn statement(sql: &str, params: Vec<SqlValue>) -> Statement {
    Statement { query: query(sql, params), must_affect: None }
}

fn checked(sql: &str, params: Vec<SqlValue>, missing: StoreError) -> Statement {
    Statement { query: query(sql, params), must_affect: Some(missing) }
}

fn change(object_type: &str, object_id: impl ToString, kind: ChangeKind, attributes: Vec<String>) -> Change {
    Change { object_type: object_type.to_owned(), object_id: object_id.to_string(), kind, attributes }
}

fn json(doc: &Map<String, Value>) -> StoreResult<String> {
    serde_json::to_string(doc).map_err(|e| StoreError::Unavailable(e.to_string()))
}

fn link_change(link: &Link, kind: ChangeKind) -> Change {
    change(
        link.relation.property(),
        format!("{}/{}", link.group, link.member),
        kind,
        vec![link.member_kind.as_str().to_owned()],
    )
}

/// The statements of one write and its change records.
fn write_plan(tenant: &str, write: Write, at: i64) -> StoreResult<(Vec<Statement>, Vec<Change>)> {
    let t = || SqlValue::from(tenant);
    Ok(match write {
        Write::SoftDelete { kind, id, at, links } => {
            let statements = vec![
                checked(
                    "UPDATE objects SET deleted_at = $1, version = version + 1 \
                     WHERE tenant_id = $2 AND id = $3 AND kind = $4 AND deleted_at IS NULL",
                    vec![micros(at).into(), t(), id.into(), kind.as_str().into()],
                    StoreError::Missing,
                ),
                statement(
                    "INSERT INTO object_values (tenant_id, object_id, property, value) VALUES ($1, $2, 'deletedDateTime', $3)",
                    vec![t(), id.into(), format_time(at).into()],
                ),
                uncount(tenant, id),
                statement(
                    "UPDATE links SET active = 0 WHERE tenant_id = $1 AND group_id = $2 AND active = 1",
                    vec![t(), id.into()],
                ),
                statement(
                    "UPDATE links SET active = 0 WHERE tenant_id = $1 AND member_id = $2 AND active = 1",
                    vec![t(), id.into()],
                ),
                count(tenant, kind, false, -1),
                count(tenant, kind, true, 1),
            ];
            let mut changes = vec![change(kind.as_str(), id, ChangeKind::Deleted, vec![])];
            changes.extend(links.iter().map(|l| link_change(l, ChangeKind::Deleted)));
            (statements, changes)
        }
        Write::Restore { kind, id, links } => {
            let live_end = "(SELECT o.id FROM objects o WHERE o.tenant_id = $1 AND o.deleted_at IS NULL)";
            let statements = vec![
                checked(
                    "UPDATE objects SET deleted_at = NULL, version = version + 1 \
                     WHERE tenant_id = $1 AND id = $2 AND kind = $3 AND deleted_at IS NOT NULL",
                    vec![t(), id.into(), kind.as_str().into()],
                    StoreError::Missing,
                ),
                statement(
                    "DELETE FROM object_values WHERE tenant_id = $1 AND object_id = $2 AND property = 'deletedDateTime'",
                    vec![t(), id.into()],
                ),
                recount(tenant, id),
                statement(
                    &format!(
                        "UPDATE links SET active = 1 WHERE tenant_id = $1 AND group_id = $2 AND active = 0 \
                         AND member_id IN {live_end}"
                    ),
                    vec![t(), id.into()],
                ),
                statement(
                    &format!(
                        "UPDATE links SET active = 1 WHERE tenant_id = $1 AND member_id = $2 AND active = 0 \
                         AND group_id IN {live_end}"
                    ),
                    vec![t(), id.into()],
                ),
                count(tenant, kind, true, -1),
                count(tenant, kind, false, 1),
            ];
            let mut changes = vec![change(kind.as_str(), id, ChangeKind::Restored, vec![])];
            changes.extend(links.iter().map(|l| link_change(l, ChangeKind::Restored)));
            (statements, changes)
        }
        Write::AddLink(link) => {
            let mut statements = Vec::new();
            let insert = "INSERT INTO links (tenant_id, group_id, relation, member_id, member_kind, active, created_at) \
                          SELECT $1, $2, $3, $4, $5, 1, $6";
            let params = vec![
                t(),
                link.group.into(),
                link.relation.as_str().into(),
                link.member.into(),
                link.member_kind.as_str().into(),
                at.into(),
            ];
            if link.relation == Relation::Member && link.member_kind == ObjectKind::Group {
                let guard = format!(
                    "{insert} WHERE $2 <> $4 AND NOT EXISTS (WITH RECURSIVE below(id) AS ( \
                     SELECT member_id FROM links WHERE tenant_id = $1 AND group_id = $4 AND relation = 'member' \
                     AND member_kind = 'group' AND active = 1 \
                     UNION SELECT l.member_id FROM below b CROSS JOIN links l WHERE l.tenant_id = $1 \
                     AND l.group_id = b.id AND l.relation = 'member' AND l.member_kind = 'group' AND l.active = 1) \
                     SELECT 1 FROM below WHERE id = $2)"
                );
                statements.push(checked(&guard, params, StoreError::Conflict("cycle".into())));
            } else {
                statements.push(statement(insert, params));
            }
            (statements, vec![link_change(&link, ChangeKind::Created)])
        }
        Write::AddLinks(links) => {
            let mut statements = Vec::new();
            for chunk in links.chunks(ROWS_PER_INSERT) {
                let mut params: Vec<SqlValue> = vec![t(), at.into()];
                let mut rows = Vec::with_capacity(chunk.len());
                for link in chunk {
                    let n = params.len();
                    rows.push(format!("($1, ${}, ${}, ${}, ${}, 1, $2)", n + 1, n + 2, n + 3, n + 4));
                    params.push(link.group.into());
                    params.push(link.relation.as_str().into());
                    params.push(link.member.into());
                    params.push(link.member_kind.as_str().into());
                }
                let sql = format!(
                    "INSERT INTO links (tenant_id, group_id, relation, member_id, member_kind, active, created_at) VALUES {}",
                    rows.join(", ")
                );
                statements.push(Statement { query: query(sql, params), must_affect: None });
            }
            (statements, links.iter().map(|l| link_change(l, ChangeKind::Created)).collect())
        }
        Write::RemoveLinks(links) => {
            let statements = links
                .iter()
                .map(|link| {
                    statement(
                        "DELETE FROM links WHERE tenant_id = $1 AND group_id = $2 AND relation = $3 AND member_id = $4 AND active = 1",
                        vec![t(), link.group.into(), link.relation.as_str().into(), link.member.into()],
                    )
                })
                .collect();
            (statements, links.iter().map(|l| link_change(l, ChangeKind::Purged)).collect())
        }
        Write::RemoveLink(link) => (
            vec![checked(
                "DELETE FROM links WHERE tenant_id = $1 AND group_id = $2 AND relation = $3 AND member_id = $4 AND active = 1",
                vec![t(), link.group.into(), link.relation.as_str().into(), link.member.into()],
                StoreError::Missing,
            )],
            vec![link_change(&link, ChangeKind::Purged)],
        ),
        Write::CreateTenant(record) => {
            let mut statements = vec![statement(
                "INSERT INTO tenants (id, display_name, initial_domain, created_at, change_seq, organization, version, \
                 default_domain) VALUES ($1, $2, $3, $4, 0, $5, $6, $7)",
                vec![
                    record.id.into(),
                    record.display_name.into(),
                    record.initial_domain.into(),
                    micros(record.created_at).into(),
                    json(&record.organization)?.into(),
                    record.version.into(),
                    record.default_domain.into(),
                ],
            )];
            for domain in &record.domains {
                statements.push(statement(
                    "INSERT INTO tenant_domains (tenant_id, name, verified, code, created_at) VALUES ($1, $2, 1, NULL, $3)",
                    vec![record.id.into(), domain.to_lowercase().into(), micros(record.created_at).into()],
                ));
                statements.push(statement(
                    "INSERT INTO domains (name, tenant_id) VALUES ($1, $2)",
                    vec![domain.to_lowercase().into(), record.id.into()],
                ));
            }
            (statements, vec![change("tenant", record.id, ChangeKind::Created, vec!["domains".into()])])
        }
        Write::AddDomain(domain) => {
            let mut statements = vec![statement(
                "INSERT INTO tenant_domains (tenant_id, name, verified, code, created_at) VALUES ($1, $2, $3, $4, $5)",
                vec![
                    t(),
                    domain.name.as_str().into(),
                    i64::from(domain.verified).into(),
                    domain.code.into(),
                    micros(domain.created_at).into(),
                ],
            )];
            if domain.verified {
                statements.push(verified_domain(tenant, &domain.name));
            }
            (statements, vec![change("domain", &domain.name, ChangeKind::Created, vec!["isVerified".into()])])
        }
        Write::VerifyDomain { name } => (
            vec![
                checked(
                    "UPDATE tenant_domains SET verified = 1 WHERE tenant_id = $1 AND name = $2 AND verified = 0",
                    vec![t(), name.as_str().into()],
                    StoreError::Missing,
                ),
                verified_domain(tenant, &name),
            ],
            vec![change("domain", name, ChangeKind::Updated, vec!["isVerified".into()])],
        ),
        Write::SetDefaultDomain { name } => (
            vec![checked(
                "UPDATE tenants SET default_domain = $2 WHERE id = $1 \
                 AND EXISTS (SELECT 1 FROM domains WHERE tenant_id = $1 AND name = $2)",
                vec![t(), name.as_str().into()],
                StoreError::Missing,
            )],
            vec![change("domain", name, ChangeKind::Updated, vec!["isDefault".into()])],
        ),
        Write::RemoveDomain { name } => (
            vec![
                checked(
                    "DELETE FROM tenant_domains WHERE tenant_id = $1 AND name = $2 \
                     AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = $1 AND (t.default_domain = $2 OR t.initial_domain = $2)) \
                     AND NOT EXISTS (SELECT 1 FROM tenant_domains s WHERE s.tenant_id = $1 AND s.name LIKE ('%.' || $2)) \
                     AND NOT EXISTS (SELECT 1 FROM object_values v JOIN objects o ON o.tenant_id = v.tenant_id AND o.id = v.object_id \
                     WHERE v.tenant_id = $1 AND v.property IN ('userPrincipalName', 'mail', 'proxyAddresses') \
                     AND o.kind IN ('user', 'group') AND v.value LIKE ('%@' || $2))",
                    vec![t(), name.as_str().into()],
                    StoreError::Conflict("in use".into()),
                ),
                statement("DELETE FROM domains WHERE tenant_id = $1 AND name = $2", vec![t(), name.as_str().into()]),
            ],
            vec![change("domain", name, ChangeKind::Purged, vec![])],
        ),
        Write::UpdateOrganization { organization, expected_version, attributes } => (
            vec![checked(
                "UPDATE tenants SET organization = $1, version = version + 1 WHERE id = $2 AND version = $3",
                vec![json(&organization)?.into(), t(), expected_version.into()],
                StoreError::VersionMismatch,
            )],
            vec![change("organization", tenant, ChangeKind::Updated, attributes)],
        ),
        Write::InsertObject(object) => {
            let mut attributes: Vec<String> = object.doc.keys().filter(|k| !k.starts_with('_')).cloned().collect();
            attributes.sort();
            let insert = statement(
                "INSERT INTO objects (tenant_id, id, kind, version, unique_key, manager_id, doc, created_at, deleted_at, sort_name) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9)",
                vec![
                    t(),
                    object.id.into(),
                    object.kind.as_str().into(),
                    object.version.into(),
                    object.unique_key.clone().into(),
                    object.manager.into(),
                    json(&object.doc)?.into(),
                    micros(object.created_at).into(),
                    gatehouse_core::store::sort_name(&object).into(),
                ],
            );
            let mut statements = vec![insert, count(tenant, object.kind, false, 1)];
            statements.extend(index_statements(tenant, &object));
            (statements, vec![change(object.kind.as_str(), object.id, ChangeKind::Created, attributes)])
        }
        Write::UpdateObject { object, expected_version, attributes, before } => {
            let update = checked(
                "UPDATE objects SET version = version + 1, unique_key = $1, manager_id = $2, doc = $3, sort_name = $7 \
                 WHERE tenant_id = $4 AND id = $5 AND version = $6 AND deleted_at IS NULL",
                vec![
                    object.unique_key.clone().into(),
                    object.manager.into(),
                    json(&object.doc)?.into(),
                    t(),
                    object.id.into(),
                    expected_version.into(),
                    gatehouse_core::store::sort_name(&object).into(),
                ],
                StoreError::VersionMismatch,
            );
            let mut statements = vec![update];
            match before {
                Some(before) => statements.extend(changed_values(tenant, object.id, &before, &query::index_values(&object))),
                None => statements.extend(index_statements(tenant, &object)),
            }
            (statements, vec![change(object.kind.as_str(), object.id, ChangeKind::Updated, attributes)])
        }
        Write::Purge { kind, id } => {
            let mut statements: Vec<Statement> = [
                "DELETE FROM passwords WHERE tenant_id = $1 AND user_id = $2",
                "DELETE FROM object_values WHERE tenant_id = $1 AND object_id = $2",
                "DELETE FROM client_secrets WHERE tenant_id = $1 AND owner_id = $2",
                "DELETE FROM app_role_assignments WHERE tenant_id = $1 AND (principal_id = $2 OR resource_id = $2)",
                "UPDATE objects SET manager_id = NULL WHERE tenant_id = $1 AND manager_id = $2",
                "DELETE FROM links WHERE tenant_id = $1 AND (group_id = $2 OR member_id = $2)",
                "DELETE FROM dynamic_status WHERE tenant_id = $1 AND group_id = $2",
            ]
            .into_iter()
            .map(|sql| statement(sql, vec![t(), id.into()]))
            .collect();
            statements.push(statement(
                "UPDATE object_counts SET n = n - 1 WHERE tenant_id = $1 AND kind = $2 AND deleted = \
                 (SELECT CASE WHEN deleted_at IS NULL THEN 0 ELSE 1 END FROM objects WHERE tenant_id = $1 AND id = $3)",
                vec![t(), kind.as_str().into(), id.into()],
            ));
            statements.push(checked(
                "DELETE FROM objects WHERE tenant_id = $1 AND id = $2 AND kind = $3",
                vec![t(), id.into(), kind.as_str().into()],
                StoreError::Missing,
            ));
            (statements, vec![change(kind.as_str(), id, ChangeKind::Purged, vec![])])
        }
        Write::SetPassword { user, hash } => (
            vec![statement(
                "INSERT INTO passwords (tenant_id, user_id, hash) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id, user_id) DO UPDATE SET hash = excluded.hash",
                vec![t(), user.into(), hash.into()],
            )],
            vec![change("user", user, ChangeKind::Updated, vec!["passwordProfile".into()])],
        ),
        Write::AddSecret(secret) => (
            vec![statement(
                "INSERT INTO client_secrets (tenant_id, owner_id, key_id, digest, hint, display_name, start_at, end_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                vec![
                    t(),
                    secret.owner.into(),
                    secret.key_id.into(),
                    secret.digest.into(),
                    secret.hint.into(),
                    secret.display_name.into(),
                    micros(secret.start).into(),
                    micros(secret.end).into(),
                ],
            )],
            vec![change("clientSecret", secret.key_id, ChangeKind::Created, vec![secret.owner.to_string()])],
        ),
        Write::RemoveSecret { owner, key_id } => (
            vec![checked(
                "DELETE FROM client_secrets WHERE tenant_id = $1 AND owner_id = $2 AND key_id = $3",
                vec![t(), owner.into(), key_id.into()],
                StoreError::Missing,
            )],
            vec![change("clientSecret", key_id, ChangeKind::Purged, vec![owner.to_string()])],
        ),
        Write::AddAppRoleAssignment(a) => (
            vec![statement(
                "INSERT INTO app_role_assignments (tenant_id, id, principal_id, resource_id, app_role_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                vec![t(), a.id.into(), a.principal.into(), a.resource.into(), a.app_role_id.into(), micros(a.created_at).into()],
            )],
            vec![change("appRoleAssignment", a.id, ChangeKind::Created, vec![a.principal.to_string()])],
        ),
        Write::RemoveAppRoleAssignment { id } => (
            vec![checked(
                "DELETE FROM app_role_assignments WHERE tenant_id = $1 AND id = $2",
                vec![t(), id.into()],
                StoreError::Missing,
            )],
            vec![change("appRoleAssignment", id, ChangeKind::Purged, vec![])],
        ),
        Write::ClaimDeployment { name, value } => (
            vec![statement("INSERT INTO deployment (name, value) VALUES ($1, $2)", vec![name.into(), value.into()])],
            vec![],
        ),
        Write::ClaimProcessor { name, holder, until, now } => (
            vec![checked(
                "INSERT INTO processors (tenant_id, name, seq, holder, lease_until) VALUES ($1, $2, 0, $3, $4) \
                 ON CONFLICT (tenant_id, name) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until \
                 WHERE processors.holder = excluded.holder OR processors.lease_until < $5",
                vec![t(), name.into(), holder.into(), micros(until).into(), micros(now).into()],
                StoreError::Conflict("lease".into()),
            )],
            vec![],
        ),
        Write::AdvanceProcessor { name, holder, from, to } => (
            vec![checked(
                "UPDATE processors SET seq = $1 WHERE tenant_id = $2 AND name = $3 AND seq = $4 AND holder = $5",
                vec![to.into(), t(), name.into(), from.into(), holder.into()],
                StoreError::Conflict("cursor".into()),
            )],
            vec![],
        ),
        Write::CheckSeats { sku, capacity } => (
            vec![checked(
                "UPDATE tenants SET change_seq = change_seq WHERE id = $1 AND COALESCE((SELECT n FROM value_counts \
                 WHERE tenant_id = $1 AND property = 'assignedLicenses' AND value = $2), 0) <= $3",
                vec![t(), sku.into(), i64::try_from(capacity).unwrap_or(i64::MAX).into()],
                StoreError::Conflict("seats".into()),
            )],
            vec![],
        ),
        Write::SetDynamicStatus(status) => (
            vec![statement(
                "INSERT INTO dynamic_status (tenant_id, group_id, status, updated_at, evaluated_at, error) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, group_id) DO UPDATE SET \
                 status = excluded.status, updated_at = excluded.updated_at, evaluated_at = excluded.evaluated_at, \
                 error = excluded.error",
                vec![
                    t(),
                    status.group.into(),
                    status.status.into(),
                    micros(status.updated_at).into(),
                    micros(status.evaluated_at).into(),
                    status.error.into(),
                ],
            )],
            vec![],
        ),
        Write::AddSigningKey(key) => (
            vec![statement(
                "INSERT INTO signing_keys (tenant_id, kid, sealed, created_at) VALUES ($1, $2, $3, $4)",
                vec![t(), key.kid.clone().into(), key.sealed_private_key.into(), micros(key.created_at).into()],
            )],
            vec![change("signingKey", key.kid, ChangeKind::Created, vec![])],
        ),
    })
}

/// Maps a verified domain to its tenant; fails with `Conflict` when another tenant holds it.
fn verified_domain(tenant: &str, name: &str) -> Statement {
    statement("INSERT INTO domains (name, tenant_id) VALUES ($1, $2)", vec![name.into(), tenant.into()])
}

/// Replaces an object's query values: the folded values `$filter` and `$search` compile against.
/// The values counted per tenant (seats of a product are the users holding it), kept in `value_counts` in
/// the same transactions as the values themselves.
const COUNTED: &str = "'assignedLicenses'";
/// The counted property, as its values are indexed.
const COUNTED_PROPERTY: &str = "assignedLicenses";

/// Takes an object's counted values out of the counts (before they change, or when it is deleted).
fn uncount(tenant: &str, id: Uuid) -> Statement {
    statement(
        &format!(
            "UPDATE value_counts SET n = n - 1 WHERE tenant_id = $1 AND property = {COUNTED} AND value IN \
             (SELECT v.value FROM object_values v WHERE v.tenant_id = $1 AND v.object_id = $2 AND v.property = {COUNTED})"
        ),
        vec![tenant.into(), id.into()],
    )
}

/// Adds an object's counted values to the counts (after they change, or when it is restored).
fn recount(tenant: &str, id: Uuid) -> Statement {
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
fn missing_from<'a>(
    these: &'a [(String, String)],
    those: &'a [(String, String)],
) -> impl Iterator<Item = &'a (String, String)> {
    these.iter().filter(|pair| !those.contains(pair))
}

/// Writes only the difference between an object's stored query values and its new ones: the removed pairs
/// deleted, the added ones inserted, and the counts of counted values moved with them.
fn changed_values(tenant: &str, id: Uuid, before: &[(String, String)], after: &[(String, String)]) -> Vec<Statement> {
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
struct Revision {
    object: ObjectRecord,
    expected_version: i64,
    before: Vec<(String, String)>,
}

/// Updates of distinct objects in a fixed number of statements whatever their number, their rows carried
/// as one JSON array each, for PostgreSQL: a guard that every object is live at its expected version (else
/// `VersionMismatch`, before anything is written), the documents, only the difference between each
/// object's stored query values and its new ones, and the counted values' counts moved by their totals.
/// A group's license reaches 2,000 members in one batch: written per object, PostgreSQL parses and plans
/// each statement and updates one seat count's row 2,000 times. SQLite, in process, runs the per-object
/// statements faster than it reads rows out of JSON, and keeps them.
fn revisions(tenant: &str, revisions: &[Revision]) -> StoreResult<Vec<Statement>> {
    let rows_of = |rows: Vec<Value>| SqlValue::from(Value::Array(rows).to_string());
    let (mut versions, mut objects) = (Vec::with_capacity(revisions.len()), Vec::with_capacity(revisions.len()));
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for Revision { object, expected_version, before } in revisions {
        versions.push(serde_json::json!({"id": object.id, "version": expected_version}));
        objects.push(serde_json::json!({
            "id": object.id, "unique_key": object.unique_key,
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
    let mut statements = vec![
        checked(
            "UPDATE tenants SET change_seq = change_seq WHERE id = $1 AND $2 = (SELECT COUNT(*) \
             FROM jsonb_array_elements($3::jsonb) AS r JOIN objects o ON o.tenant_id = $1 \
             AND o.id = r.value ->> 'id' AND o.version = CAST(r.value ->> 'version' AS BIGINT) AND o.deleted_at IS NULL)",
            vec![tenant.into(), expected.into(), rows_of(versions)],
            StoreError::VersionMismatch,
        ),
        statement(
            "UPDATE objects AS o SET version = o.version + 1, unique_key = r.value ->> 'unique_key', \
             manager_id = r.value ->> 'manager_id', doc = r.value ->> 'doc', sort_name = r.value ->> 'sort_name' \
             FROM jsonb_array_elements($2::jsonb) AS r WHERE o.tenant_id = $1 AND o.id = r.value ->> 'id'",
            vec![tenant.into(), rows_of(objects)],
        ),
    ];
    if !removed.is_empty() {
        statements.push(statement(
            "DELETE FROM object_values WHERE tenant_id = $1 AND (property, value, object_id) IN \
             (SELECT r.value ->> 'p', r.value ->> 'v', r.value ->> 'o' FROM jsonb_array_elements($2::jsonb) AS r)",
            vec![tenant.into(), rows_of(removed)],
        ));
    }
    if !added.is_empty() {
        statements.push(statement(
            "INSERT INTO object_values (tenant_id, object_id, property, value) \
             SELECT $1, r.value ->> 'o', r.value ->> 'p', r.value ->> 'v' FROM jsonb_array_elements($2::jsonb) AS r",
            vec![tenant.into(), rows_of(added)],
        ));
    }
    for (value, delta) in counts.into_iter().filter(|(_, delta)| *delta != 0) {
        let sql = if delta > 0 {
            "INSERT INTO value_counts (tenant_id, property, value, n) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, property, value) DO UPDATE SET n = value_counts.n + $4"
        } else {
            "UPDATE value_counts SET n = n + $4 WHERE tenant_id = $1 AND property = $2 AND value = $3"
        };
        statements.push(statement(sql, vec![tenant.into(), COUNTED_PROPERTY.into(), value.into(), delta.into()]));
    }
    Ok(statements)
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
fn count(tenant: &str, kind: ObjectKind, deleted: bool, delta: i64) -> Statement {
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

/// One use case's writes as one transaction: its statements, then the tenant's sequence advanced by the
/// number of changes, then one change-log row per change.
#[derive(Debug)]
pub struct Batch {
    pub tenant: String,
    pub statements: Vec<Statement>,
    changes: Vec<Change>,
    at: i64,
}

impl Batch {
    /// The batch of the writes; `together` writes runs of updates given their old values as one (see
    /// [`revisions`]).
    pub fn new(tenant: Uuid, writes: Vec<Write>, at: DateTime<Utc>, together: bool) -> StoreResult<Batch> {
        let tenant = tenant.to_string();
        let mut statements = Vec::new();
        let mut changes = Vec::with_capacity(writes.len());
        let at = micros(at);
        // Consecutive updates of distinct objects with their values read before are written together.
        let (mut run, mut in_run): (Vec<Revision>, HashSet<Uuid>) = Default::default();
        for write in writes {
            match write {
                Write::UpdateObject { object, expected_version, attributes, before: Some(before) }
                    if together && in_run.insert(object.id) =>
                {
                    changes.push(change(object.kind.as_str(), object.id, ChangeKind::Updated, attributes));
                    run.push(Revision { object, expected_version, before });
                }
                write => {
                    if !run.is_empty() {
                        statements.extend(revisions(&tenant, &std::mem::take(&mut run))?);
                        in_run.clear();
                    }
                    let (mut s, mut c) = write_plan(&tenant, write, at)?;
                    statements.append(&mut s);
                    changes.append(&mut c);
                }
            }
        }
        if !run.is_empty() {
            statements.extend(revisions(&tenant, &run)?);
        }
        Ok(Batch { tenant, statements, changes, at })
    }

    /// Statements that change no directory object and so log no change (index maintenance).
    pub fn maintenance(tenant: Uuid, statements: Vec<Statement>) -> Batch {
        Batch { tenant: tenant.to_string(), statements, changes: Vec::new(), at: 0 }
    }

    /// Advances the tenant's change sequence; returns the new last sequence number as its one row.
    pub fn advance_sequence(&self) -> Query {
        query(
            "UPDATE tenants SET change_seq = change_seq + $1 WHERE id = $2 RETURNING change_seq",
            vec![(self.changes.len() as i64).into(), self.tenant.as_str().into()],
        )
    }

    /// The change-log rows, numbered up to `last`.
    pub fn change_log(&self, last: i64) -> StoreResult<Vec<Query>> {
        let first = last - self.changes.len() as i64 + 1;
        let columns = self.change_columns()?;
        let mut out = Vec::new();
        for (chunk_index, chunk) in columns.chunks(ROWS_PER_INSERT).enumerate() {
            let mut params: Vec<SqlValue> = vec![self.tenant.as_str().into(), self.at.into()];
            let mut rows = Vec::with_capacity(chunk.len());
            for (offset, [object_type, object_id, kind, attributes]) in chunk.iter().enumerate() {
                let n = params.len();
                rows.push(format!("($1, ${}, ${}, ${}, ${}, ${}, $2)", n + 1, n + 2, n + 3, n + 4, n + 5));
                params.push((first + (chunk_index * ROWS_PER_INSERT + offset) as i64).into());
                for value in [object_type, object_id, kind, attributes] {
                    params.push(value.as_str().into());
                }
            }
            out.push(query(
                format!(
                    "INSERT INTO change_log (tenant_id, seq, object_type, object_id, kind, attributes, at) VALUES {}",
                    rows.join(", ")
                ),
                params,
            ));
        }
        Ok(out)
    }

    /// The change-log rows in order, without their numbers: object type, object id, kind and attributes
    /// (a JSON array).
    pub fn change_columns(&self) -> StoreResult<Vec<[String; 4]>> {
        self.changes
            .iter()
            .map(|entry| {
                let attributes =
                    serde_json::to_string(&entry.attributes).map_err(|e| StoreError::Unavailable(e.to_string()))?;
                Ok([entry.object_type.clone(), entry.object_id.clone(), entry.kind.as_str().to_owned(), attributes])
            })
            .collect()
    }

    /// When the batch's changes happened, in microseconds.
    pub fn at(&self) -> i64 {
        self.at
    }
}

/// Rows one multi-row insert carries (well inside both engines' parameter limits).
const ROWS_PER_INSERT: usize = 200;

pub fn dynamic_status(row: &Row) -> StoreResult<DynamicStatusRecord> {
    Ok(DynamicStatusRecord {
        group: row.uuid(0)?,
        status: row.text(1)?,
        updated_at: row.time(2)?,
        evaluated_at: row.time(3)?,
        error: row.optional_text(4)?,
    })
}

pub fn link(row: &Row) -> StoreResult<Link> {
    let (relation, kind) = (row.text(1)?, row.text(3)?);
    Ok(Link {
        group: row.uuid(0)?,
        relation: Relation::parse(&relation)
            .ok_or_else(|| StoreError::Unavailable(format!("unknown relation {relation}")))?,
        member: row.uuid(2)?,
        member_kind: ObjectKind::parse(&kind)
            .ok_or_else(|| StoreError::Unavailable(format!("unknown object kind {kind}")))?,
    })
}

pub const OBJECT_COLUMNS: &str = "id, kind, version, unique_key, manager_id, doc, created_at, deleted_at";

/// A JSON document as stored.
pub fn document(text: &str) -> StoreResult<Map<String, Value>> {
    serde_json::from_str(text).map_err(|e| StoreError::Unavailable(e.to_string()))
}

pub fn object(row: &Row) -> StoreResult<ObjectRecord> {
    let (id, kind) = id_and_kind(row)?;
    let doc = row.text(5)?;
    Ok(ObjectRecord {
        id,
        kind,
        version: row.int(2)?,
        unique_key: row.optional_text(3)?,
        manager: row.optional_text(4)?.map(|m| Uuid::parse_str(&m)).transpose().map_err(|_| corrupt("a GUID", 4))?,
        doc: document(&doc)?,
        created_at: row.time(6)?,
        deleted_at: row.optional_int(7)?.map(from_micros),
    })
}

/// An object's id and kind, the first two columns of [`OBJECT_COLUMNS`].
pub fn id_and_kind(row: &Row) -> StoreResult<(Uuid, ObjectKind)> {
    let kind = row.text(1)?;
    let kind =
        ObjectKind::parse(&kind).ok_or_else(|| StoreError::Unavailable(format!("unknown object kind {kind}")))?;
    Ok((row.uuid(0)?, kind))
}

pub fn secret(row: &Row) -> StoreResult<SecretRecord> {
    Ok(SecretRecord {
        owner: row.uuid(0)?,
        key_id: row.uuid(1)?,
        digest: row.text(2)?,
        hint: row.text(3)?,
        display_name: row.optional_text(4)?,
        start: row.time(5)?,
        end: row.time(6)?,
    })
}

pub fn assignment(row: &Row) -> StoreResult<AppRoleAssignmentRecord> {
    Ok(AppRoleAssignmentRecord {
        id: row.uuid(0)?,
        principal: row.uuid(1)?,
        resource: row.uuid(2)?,
        app_role_id: row.uuid(3)?,
        created_at: row.time(4)?,
    })
}

pub fn signing_key(row: &Row) -> StoreResult<SigningKeyRecord> {
    Ok(SigningKeyRecord { kid: row.text(0)?, sealed_private_key: row.text(1)?, created_at: row.time(2)? })
}

pub fn change_record(row: &Row) -> StoreResult<ChangeRecord> {
    let kind = row.text(3)?;
    Ok(ChangeRecord {
        seq: row.int(0)?,
        object_type: row.text(1)?,
        object_id: row.text(2)?,
        kind: ChangeKind::parse(&kind).ok_or_else(|| StoreError::Unavailable(format!("unknown change kind {kind}")))?,
        attributes: serde_json::from_str(&row.text(4)?).map_err(|e| StoreError::Unavailable(e.to_string()))?,
        at: row.time(5)?,
    })
}
