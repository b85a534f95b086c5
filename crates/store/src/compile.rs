//! Compiles the core's query AST and list options to SQL over `objects o` and `object_values`, with bound
//! parameters only: no value is ever spliced into the SQL text.
//!
//! A positive condition selects ids from `object_values` (`o.id IN (SELECT object_id …)`), so a selective
//! filter is driven by the value index instead of a scan; a negative one excludes them (`NOT IN`).

use crate::plan::{query, Query, SqlValue, OBJECT_COLUMNS};
use gatehouse_core::query::{word_property, Filter, Literal, Op, Test};
use gatehouse_core::store::{ObjectQuery, OrderBy};
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
        }
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
        }
    }

    fn id(&mut self, test: &Test) -> String {
        match test {
            Test::Compare(Op::Eq, Literal::Text(id)) => format!("o.id = {}", self.bind(id.as_str())),
            Test::Compare(Op::Ne, Literal::Text(id)) => format!("o.id <> {}", self.bind(id.as_str())),
            Test::In(ids) => {
                let list: Vec<String> = ids.iter().map(|v| self.bind(v.as_str())).collect();
                format!("o.id IN ({})", list.join(", "))
            }
            _ => "FALSE".to_owned(),
        }
    }

    /// Everything a list and its count share.
    fn conditions(&mut self, tenant: Uuid, q: &ObjectQuery) -> String {
        self.bind(tenant);
        let kind = self.bind(q.kind.as_str());
        let mut sql = format!("o.tenant_id = $1 AND o.kind = {kind}");
        sql.push_str(if q.deleted { " AND o.deleted_at IS NOT NULL" } else { " AND o.deleted_at IS NULL" });
        if let Some(manager) = q.manager {
            sql.push_str(&format!(" AND o.manager_id = {}", self.bind(manager)));
        }
        if let Some(filter) = &q.filter {
            sql.push_str(&format!(" AND {}", self.filter(filter)));
        }
        sql
    }
}

fn sort_column(order: OrderBy) -> &'static str {
    match order {
        OrderBy::Id => "o.id",
        OrderBy::DisplayName => "o.sort_name",
        OrderBy::UniqueKey => "o.unique_key",
    }
}

/// A page of the query's objects, in its order, after its cursor.
pub fn list(tenant: Uuid, q: &ObjectQuery) -> Query {
    let mut builder = Builder { params: Vec::new() };
    let mut sql = format!("SELECT {} FROM objects o WHERE {}", prefixed_columns(), builder.conditions(tenant, q));
    let column = sort_column(q.order);
    let (after, direction) = if q.descending { ("<", "DESC") } else { (">", "ASC") };
    if let Some(cursor) = &q.after {
        let id = builder.bind(cursor.id);
        match (q.order, &cursor.key) {
            (OrderBy::Id, _) | (_, None) => sql.push_str(&format!(" AND o.id {after} {id}")),
            (_, Some(key)) => {
                let key = builder.bind(key.as_str());
                sql.push_str(&format!(" AND ({column} {after} {key} OR ({column} = {key} AND o.id {after} {id}))"));
            }
        }
    }
    if q.order == OrderBy::Id {
        sql.push_str(&format!(" ORDER BY o.id {direction}"));
    } else {
        sql.push_str(&format!(" ORDER BY {column} {direction}, o.id {direction}"));
    }
    let limit = builder.bind(i64::from(q.limit));
    sql.push_str(&format!(" LIMIT {limit}"));
    query(sql, builder.params)
}

/// How many objects the query selects.
pub fn count(tenant: Uuid, q: &ObjectQuery) -> Query {
    if q.filter.is_none() && q.manager.is_none() {
        return query(
            "SELECT COALESCE((SELECT n FROM object_counts WHERE tenant_id = $1 AND kind = $2 AND deleted = $3), 0)",
            vec![tenant.into(), q.kind.as_str().into(), i64::from(q.deleted).into()],
        );
    }
    let mut builder = Builder { params: Vec::new() };
    let sql = format!("SELECT COUNT(*) FROM objects o WHERE {}", builder.conditions(tenant, q));
    query(sql, builder.params)
}

fn prefixed_columns() -> String {
    OBJECT_COLUMNS.split(", ").map(|c| format!("o.{c}")).collect::<Vec<_>>().join(", ")
}
