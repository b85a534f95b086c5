//! Compiles the core's query AST and list options to SQL over `objects o` and `object_values`, with bound
//! parameters only: no value is ever spliced into the SQL text.
//!
//! A positive condition selects ids from `object_values` (`o.id IN (SELECT object_id …)`), so a selective
//! filter is driven by the value index instead of a scan; a negative one excludes them (`NOT IN`).

use crate::plan::{query, Query, SqlValue, OBJECT_COLUMNS};
use gatehouse_core::filter::{Filter, Literal, Op, Test};
use gatehouse_core::query::word_property;
use gatehouse_core::store::{ObjectQuery, OrderBy, Relation, Scope};
use uuid::Uuid;

/// The highest character: a prefix followed by it bounds every string that starts with the prefix.
const MAX_CHAR: char = '\u{10FFFF}';

struct Builder {
    params: Vec<SqlValue>,
}

impl Builder {
    fn bind(&mut self, value: impl Into<SqlValue>) -> String {
        self.params.push(value.into());
        format!("${}", self.params.len())
    }

    /// `v.value` passes the test.
    fn test(&mut self, test: &Test) -> String {
        match test {
            Test::Compare(op, Literal::Text(value)) => {
                let sign = match op {
                    Op::Eq => "=",
                    Op::Ne => "<>",
                    Op::Ge => ">=",
                    Op::Le => "<=",
                };
                format!("v.value {sign} {}", self.bind(value.as_str()))
            }
            Test::Compare(_, Literal::Null) => "FALSE".to_owned(),
            Test::In(values) => {
                let list: Vec<String> = values.iter().map(|v| self.bind(v.as_str())).collect();
                format!("v.value IN ({})", list.join(", "))
            }
            Test::StartsWith(prefix) => {
                let low = self.bind(prefix.as_str());
                let high = self.bind(format!("{prefix}{MAX_CHAR}"));
                format!("v.value >= {low} AND v.value < {high}")
            }
            Test::EndsWith(suffix) => {
                let bound = self.bind(suffix.as_str());
                format!("substr(v.value, length(v.value) - length({bound}) + 1) = {bound}")
            }
            Test::Contains(text) => {
                let escaped: String = text
                    .chars()
                    .flat_map(|c| match c {
                        '%' | '_' | '\\' => vec!['\\', c],
                        c => vec![c],
                    })
                    .collect();
                format!("v.value LIKE {} ESCAPE '\\'", self.bind(format!("%{escaped}%")))
            }
            Test::Matches(pattern) => self.regex(pattern),
            Test::Field { index, test } => match Test::field_pattern(*index, test) {
                Some(pattern) => self.regex(&pattern),
                None => "FALSE".to_owned(),
            },
            Test::All(tests) => self.tests(tests, " AND "),
            Test::AnyOf(tests) => self.tests(tests, " OR "),
            Test::Not(inner) => format!("(NOT ({}))", self.test(inner)),
        }
    }

    fn tests(&mut self, tests: &[Test], joint: &str) -> String {
        let parts: Vec<String> = tests.iter().map(|t| self.test(t)).collect();
        format!("({})", parts.join(joint))
    }

    /// A case-insensitive regular expression match: PostgreSQL's `regexp_like`; on SQLite the store registers
    /// a function of that name over Rust's regex engine.
    fn regex(&mut self, pattern: &str) -> String {
        format!("regexp_like(v.value, {}, 'i')", self.bind(pattern))
    }

    /// The ids of objects with a value of `property` that passes `condition`.
    fn ids(&mut self, property: &str, condition: Option<String>) -> String {
        let property = self.bind(property);
        let condition = condition.map(|c| format!(" AND {c}")).unwrap_or_default();
        format!("SELECT v.object_id FROM object_values v WHERE v.tenant_id = $1 AND v.property = {property}{condition}")
    }

    fn filter(&mut self, filter: &Filter) -> String {
        match filter {
            Filter::And(a, b) => format!("({} AND {})", self.filter(a), self.filter(b)),
            Filter::Or(a, b) => format!("({} OR {})", self.filter(a), self.filter(b)),
            Filter::Not(inner) => format!("(NOT {})", self.filter(inner)),
            Filter::Property { property, test } if property == "id" => self.id(test),
            // A display name's prefix is a range of the folded sort key, which an index keeps in order: a
            // search as you type reads just the names it shows, already sorted.
            Filter::Property { property, test: Test::StartsWith(prefix) } if property == "displayName" => {
                let low = self.bind(prefix.as_str());
                let high = self.bind(format!("{prefix}{MAX_CHAR}"));
                format!("(o.sort_name >= {low} AND o.sort_name < {high})")
            }
            Filter::Property { property, test } | Filter::Any { property, test } => match test {
                Test::Compare(Op::Eq, Literal::Null) => format!("o.id NOT IN ({})", self.ids(property, None)),
                Test::Compare(Op::Ne, Literal::Null) => format!("o.id IN ({})", self.ids(property, None)),
                Test::Compare(Op::Ne, value) => {
                    let condition = self.test(&Test::Compare(Op::Eq, value.clone()));
                    format!("o.id NOT IN ({})", self.ids(property, Some(condition)))
                }
                _ => {
                    let condition = self.test(test);
                    format!("o.id IN ({})", self.ids(property, Some(condition)))
                }
            },
            Filter::All { property, test } => {
                let condition = format!("NOT ({})", self.test(test));
                format!("o.id NOT IN ({})", self.ids(property, Some(condition)))
            }
            Filter::Word { property, prefix } => {
                let condition = self.test(&Test::StartsWith(prefix.clone()));
                format!("o.id IN ({})", self.ids(&word_property(property), Some(condition)))
            }
            Filter::Referenced { property } => {
                format!(
                    "o.id IN (SELECT r.value FROM object_values r WHERE r.tenant_id = $1 AND r.property = {})",
                    self.bind(property.as_str())
                )
            }
            Filter::MemberOf(groups) => {
                let list: Vec<String> = groups.iter().map(|g| self.bind(g.as_str())).collect();
                format!(
                    "o.id IN (SELECT m.member_id FROM links m WHERE m.tenant_id = $1 AND m.relation = 'member' \
                     AND m.active = 1 AND m.group_id IN ({}))",
                    list.join(", ")
                )
            }
        }
    }

    fn id(&mut self, test: &Test) -> String {
        match test {
            Test::Compare(Op::Eq, Literal::Text(id)) => format!("o.id = {}", self.bind(id.as_str())),
            Test::Compare(Op::Ne, Literal::Text(id)) => format!("o.id <> {}", self.bind(id.as_str())),
            Test::Compare(Op::Ne, Literal::Null) => "TRUE".to_owned(),
            Test::In(ids) => {
                let list: Vec<String> = ids.iter().map(|v| self.bind(v.as_str())).collect();
                format!("o.id IN ({})", list.join(", "))
            }
            _ => "FALSE".to_owned(),
        }
    }

    /// The active links of one relation at one end (`end` is `group_id` or `member_id`), columns prefixed.
    fn links(&mut self, prefix: &str, end: &str, id: Uuid, relation: Relation) -> String {
        let (id, relation) = (self.bind(id), self.bind(relation.as_str()));
        format!(
            "{prefix}tenant_id = $1 AND {prefix}{end} = {id} AND {prefix}relation = {relation} AND {prefix}active = 1"
        )
    }

    /// Everything a list and its count share: a `WITH` prefix (transitive scopes), the `FROM` clause, the
    /// conditions, and the column that holds the object's id in an index order (a direct scope's link
    /// column, so a page of a large group's members is read in its link index order).
    ///
    /// Recursive steps and the (small) set of a member's groups drive their joins: `CROSS JOIN` fixes
    /// SQLite's join order there (PostgreSQL plans it as an inner join), so each step is an index lookup
    /// rather than a scan of the tenant's links.
    fn conditions(&mut self, tenant: Uuid, q: &ObjectQuery) -> Parts {
        self.bind(tenant);
        let mut parts = Parts {
            with: String::new(),
            from: "objects o".to_owned(),
            id: "o.id",
            sql: String::new(),
            planned_per_run: false,
        };
        let mut sql = "o.tenant_id = $1".to_owned();
        let mut filter = q.filter.clone();
        match q.scope {
            None if q.order.is_empty() => {
                if let Some((property, value, rest)) = filter.as_ref().and_then(driver) {
                    parts.from =
                        "object_values d JOIN objects o ON o.tenant_id = d.tenant_id AND o.id = d.object_id".to_owned();
                    parts.id = "d.object_id";
                    let (property, value) = (self.bind(property), self.bind(value));
                    sql = format!("d.tenant_id = $1 AND d.property = {property} AND d.value = {value} AND {sql}");
                    filter = rest;
                }
            }
            None => {}
            Some(Scope::Members { group, relation }) => {
                parts.from = "links l JOIN objects o ON o.tenant_id = l.tenant_id AND o.id = l.member_id".to_owned();
                parts.id = "l.member_id";
                sql = format!("{} AND {sql}", self.links("l.", "group_id", group, relation));
            }
            Some(Scope::MemberOf { member, relation }) => {
                parts.from = "links l JOIN objects o ON o.tenant_id = l.tenant_id AND o.id = l.group_id".to_owned();
                parts.id = "l.group_id";
                sql = format!("{} AND {sql}", self.links("l.", "member_id", member, relation));
            }
            Some(Scope::TransitiveMembers { group }) => {
                let group = self.bind(group);
                parts.with = format!(
                    "WITH RECURSIVE below(id, kind) AS (\
                     SELECT member_id, member_kind FROM links \
                     WHERE tenant_id = $1 AND group_id = {group} AND relation = 'member' AND active = 1 \
                     UNION SELECT l.member_id, l.member_kind FROM below b CROSS JOIN links l \
                     WHERE b.kind = 'group' AND l.tenant_id = $1 AND l.group_id = b.id AND l.relation = 'member' \
                     AND l.active = 1) "
                );
                sql.push_str(" AND o.id IN (SELECT id FROM below)");
            }
            Some(Scope::TransitiveMemberOf { member }) => {
                let member = self.bind(member);
                parts.with = format!(
                    "WITH RECURSIVE above(id) AS (\
                     SELECT group_id FROM links \
                     WHERE tenant_id = $1 AND member_id = {member} AND relation = 'member' AND active = 1 \
                     UNION SELECT l.group_id FROM above a CROSS JOIN links l \
                     WHERE l.tenant_id = $1 AND l.member_id = a.id AND l.relation = 'member' AND l.active = 1) "
                );
                parts.from = "above a CROSS JOIN objects o".to_owned();
                sql.push_str(" AND o.id = a.id");
            }
        }
        if let Some(kind) = q.kind {
            sql.push_str(&format!(" AND o.kind = {}", self.bind(kind.as_str())));
        }
        sql.push_str(if q.deleted { " AND o.deleted_at IS NOT NULL" } else { " AND o.deleted_at IS NULL" });
        if let Some(manager) = q.manager {
            sql.push_str(&format!(" AND o.manager_id = {}", self.bind(manager)));
        }
        if let Some(filter) = &filter {
            sql.push_str(&format!(" AND {}", self.filter(filter)));
        }
        parts.planned_per_run = filter.is_some();
        parts.sql = sql;
        parts
    }
}

/// An equality that can drive a list in id order: `property eq value` (or `any(x: x eq value)`) at the top
/// of the filter or as one side of a top-level `and`. The value index holds each (property, value) pair's
/// objects in id order, so the list becomes a range read of the index instead of a set built per request.
/// Returns the property, the value, and what remains of the filter.
fn driver(filter: &Filter) -> Option<(&str, &str, Option<Filter>)> {
    match filter {
        Filter::Property { property, test: Test::Compare(Op::Eq, Literal::Text(value)) }
        | Filter::Any { property, test: Test::Compare(Op::Eq, Literal::Text(value)) }
            if property != "id" =>
        {
            Some((property, value, None))
        }
        Filter::And(a, b) => match driver(a) {
            Some((property, value, None)) => Some((property, value, Some((**b).clone()))),
            _ => match driver(b) {
                Some((property, value, None)) => Some((property, value, Some((**a).clone()))),
                _ => None,
            },
        },
        _ => None,
    }
}

/// A direct scope that nothing but its links narrows: the condition on `links` (with the builder holding its
/// parameters) and the column of the listed ids. Such a list is paged in the links index and only its page
/// is joined to `objects`: joined before the limit, PostgreSQL may merge-join a large group's links with
/// the objects index from the tenant's first id, and time-ordered ids put a group's members far along it.
/// An active link's ends are both live, so no object of the page is dropped after the limit.
fn bare_links(tenant: Uuid, q: &ObjectQuery) -> Option<(Builder, String, &'static str)> {
    if q.filter.is_some() || q.manager.is_some() || q.deleted || !q.order.is_empty() {
        return None;
    }
    let mut builder = Builder { params: Vec::new() };
    builder.bind(tenant);
    let (mut condition, listed, kind_column) = match q.scope? {
        Scope::Members { group, relation } => {
            (builder.links("", "group_id", group, relation), "member_id", Some("member_kind"))
        }
        Scope::MemberOf { member, relation } => (builder.links("", "member_id", member, relation), "group_id", None),
        Scope::TransitiveMembers { .. } | Scope::TransitiveMemberOf { .. } => return None,
    };
    match (q.kind, kind_column) {
        (None, _) => {}
        (Some(kind), Some(column)) => condition.push_str(&format!(" AND {column} = {}", builder.bind(kind.as_str()))),
        (Some(_), None) => return None,
    }
    Some((builder, condition, listed))
}

/// The pieces of a compiled list or count.
struct Parts {
    with: String,
    from: String,
    id: &'static str,
    sql: String,
    /// Whether conditions on values remain besides the driving one: which to start from depends on the
    /// values (see [`Query::planned_per_run`]); a lone equality or a scope is always read from its index.
    planned_per_run: bool,
}

fn sort_column(by: OrderBy) -> &'static str {
    match by {
        OrderBy::DisplayName => "o.sort_name",
        OrderBy::UniqueKey => "o.unique_key",
        OrderBy::Created => "o.created_at",
    }
}

/// A page of the query's objects, in its order, after its cursor.
pub fn list(tenant: Uuid, q: &ObjectQuery) -> Query {
    page(tenant, q, &prefixed_columns())
}

/// The ids and kinds of a page of the query's objects, in its order, after its cursor.
pub fn list_ids(tenant: Uuid, q: &ObjectQuery) -> Query {
    page(tenant, q, "o.id, o.kind")
}

fn page(tenant: Uuid, q: &ObjectQuery, columns: &str) -> Query {
    if let Some((mut builder, condition, listed)) = bare_links(tenant, q) {
        let mut links = format!("SELECT {listed} AS id FROM links WHERE {condition}");
        if let Some(cursor) = &q.after {
            links.push_str(&format!(" AND {listed} > {}", builder.bind(cursor.id)));
        }
        let limit = builder.bind(i64::from(q.limit));
        let sql = format!(
            "SELECT {columns} FROM ({links} ORDER BY {listed} LIMIT {limit}) l \
             JOIN objects o ON o.tenant_id = $1 AND o.id = l.id WHERE o.deleted_at IS NULL ORDER BY l.id"
        );
        return query(sql, builder.params);
    }
    let mut builder = Builder { params: Vec::new() };
    let parts = builder.conditions(tenant, q);
    let id = parts.id;
    let mut sql = format!("{}SELECT {columns} FROM {} WHERE {}", parts.with, parts.from, parts.sql);
    let id_descending = q.order.last().is_some_and(|sort| sort.descending);
    let direction = |descending: bool| if descending { ("<", "DESC") } else { (">", "ASC") };
    if let Some(cursor) = &q.after {
        // Keyset paging: past the cursor on the first key, or equal on it and past it on the next, … and last
        // on the id.
        let mut alternatives = Vec::new();
        let mut equal = Vec::new();
        for (index, sort) in q.order.iter().enumerate() {
            let column = sort_column(sort.by);
            let key = cursor.keys.get(index).map(String::as_str).unwrap_or_default();
            let key = match sort.by {
                OrderBy::Created => builder.bind(key.parse::<i64>().unwrap_or_default()),
                _ => builder.bind(key),
            };
            let past = format!("{column} {} {key}", direction(sort.descending).0);
            alternatives.push(equal.iter().cloned().chain([past]).collect::<Vec<_>>().join(" AND "));
            equal.push(format!("{column} = {key}"));
        }
        let past = format!("{id} {} {}", direction(id_descending).0, builder.bind(cursor.id));
        alternatives.push(equal.into_iter().chain([past]).collect::<Vec<_>>().join(" AND "));
        sql.push_str(&format!(" AND (({}))", alternatives.join(") OR (")));
    }
    let keys: Vec<String> = q
        .order
        .iter()
        .map(|sort| format!("{} {}", sort_column(sort.by), direction(sort.descending).1))
        .chain([format!("{id} {}", direction(id_descending).1)])
        .collect();
    sql.push_str(&format!(" ORDER BY {}", keys.join(", ")));
    let limit = builder.bind(i64::from(q.limit));
    sql.push_str(&format!(" LIMIT {limit}"));
    Query { planned_per_run: parts.planned_per_run, ..query(sql, builder.params) }
}

/// How many objects the query selects.
pub fn count(tenant: Uuid, q: &ObjectQuery) -> Query {
    if let (None, None, None, Some(kind)) = (&q.filter, q.manager, q.scope, q.kind) {
        return query(
            "SELECT COALESCE((SELECT n FROM object_counts WHERE tenant_id = $1 AND kind = $2 AND deleted = $3), 0)",
            vec![tenant.into(), kind.as_str().into(), i64::from(q.deleted).into()],
        );
    }
    if let Some((builder, condition, _)) = bare_links(tenant, q) {
        return query(format!("SELECT COUNT(*) FROM links WHERE {condition}"), builder.params);
    }
    let mut builder = Builder { params: Vec::new() };
    let parts = builder.conditions(tenant, q);
    let sql = format!("{}SELECT COUNT(*) FROM {} WHERE {}", parts.with, parts.from, parts.sql);
    Query { planned_per_run: parts.planned_per_run, ..query(sql, builder.params) }
}

/// The object columns, of the objects table named `o`.
pub(crate) fn prefixed_columns() -> String {
    OBJECT_COLUMNS.split(", ").map(|c| format!("o.{c}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_core::store::ObjectKind;

    fn eq(property: &str, value: &str) -> Filter {
        Filter::Property { property: property.into(), test: Test::Compare(Op::Eq, Literal::Text(value.into())) }
    }

    fn users(filter: Filter) -> ObjectQuery {
        ObjectQuery { kind: Some(ObjectKind::User), filter: Some(filter), limit: 100, ..ObjectQuery::default() }
    }

    #[test]
    fn a_list_is_planned_per_run_only_when_conditions_remain_besides_its_driving_one() {
        let tenant = Uuid::nil();
        let lone = list(tenant, &users(eq("jobTitle", "title 5")));
        assert!(lone.sql.contains("FROM object_values d"), "{}", lone.sql);
        assert!(!lone.planned_per_run);
        let prefix = Filter::Property { property: "givenName".into(), test: Test::StartsWith("given17".into()) };
        let both = users(Filter::And(Box::new(eq("accountEnabled", "true")), Box::new(prefix.clone())));
        assert!(list(tenant, &both).planned_per_run);
        assert!(count(tenant, &both).planned_per_run);
        assert!(list(tenant, &users(prefix)).planned_per_run, "no driver: every condition is a remaining one");
    }

    #[test]
    fn a_bare_direct_scope_is_paged_in_the_links_before_it_is_joined() {
        let (tenant, group) = (Uuid::nil(), Uuid::from_u128(7));
        let members = ObjectQuery {
            scope: Some(Scope::Members { group, relation: Relation::Member }),
            limit: 100,
            ..ObjectQuery::default()
        };
        let page = list(tenant, &members);
        assert!(page.sql.contains("LIMIT $4) l JOIN objects o"), "{}", page.sql);
        assert_eq!(
            count(tenant, &members).sql.split("FROM").nth(1).map(str::trim),
            Some("links WHERE tenant_id = $1 AND group_id = $2 AND relation = $3 AND active = 1")
        );
        let filtered = ObjectQuery { filter: Some(eq("displayName", "x")), ..members };
        assert!(list(tenant, &filtered).sql.contains("FROM links l JOIN objects o"), "a filter joins before paging");
    }
}
