//! The audit logs, newest first, with `$top` (at most 1,000), paging by `@odata.nextLink` and one record by
//! its id; `$filter` clauses are joined by `and`.
//! - The sign-in log, `/auditLogs/signIns`: `$filter` on `createdDateTime` (`ge`, `gt`, `le`, `lt`),
//!   `userId`, `userPrincipalName`, `appId` and `status/errorCode` (`eq`).
//! - The directory audit log, `/auditLogs/directoryAudits`: `$filter` on `activityDateTime` (`ge`, `gt`,
//!   `le`, `lt`), `category`, `activityDisplayName`, `loggedByService`, `initiatedBy/user/id` (`eq`) and
//!   `targetResources/any(t: t/id eq '…')`.

use crate::auth::Authenticated;
use crate::error::{GraphError, GraphResult};
use crate::odata::{base_url, context_url};
use crate::GraphState;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use gatehouse_core::sign_in::log::MOST_RECORDS;
use gatehouse_core::store::audit::AuditQuery;
use gatehouse_core::store::SignInQuery;
use serde_json::{json, Value};
use std::collections::HashMap;
use uuid::Uuid;

pub fn routes() -> Router<GraphState> {
    Router::new()
        .route("/auditLogs/signIns", get(sign_ins))
        .route("/auditLogs/signIns/{id}", get(sign_in))
        .route("/auditLogs/directoryAudits", get(directory_audits))
        .route("/auditLogs/directoryAudits/{id}", get(directory_audit))
}

async fn sign_in(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let record = state.directory.sign_in().log_record(&caller, &id).await?;
    Ok(Json(crate::odata::entity("auditLogs/signIns", None, record.doc)))
}

const SIGN_IN_FILTERS: &str =
    "createdDateTime (ge, gt, le, lt), userId, userPrincipalName, appId or status/errorCode (eq)";
const AUDIT_FILTERS: &str = "activityDateTime (ge, gt, le, lt), category, activityDisplayName, loggedByService, \
     initiatedBy/user/id (eq) or targetResources/any(t: t/id eq '...')";

fn unsupported(clause: &str, supported: &str) -> GraphError {
    GraphError::unsupported_query(format!(
        "Unsupported filter clause '{clause}': filter on {supported}, joined by 'and'."
    ))
}

/// A `$filter`'s clauses (joined by `and`), each as its property, operator and value (a lambda's clause
/// whole, as its property).
fn clauses<'a>(text: &'a str, supported: &str) -> GraphResult<Vec<(String, String, &'a str)>> {
    // Split at each ` and ` outside quoted strings (a quote inside one is written twice, which toggles
    // twice and leaves the state alone).
    let (mut clauses, mut start, mut quoted) = (Vec::new(), 0, false);
    for (at, c) in text.char_indices() {
        if c == '\'' {
            quoted = !quoted;
        } else if !quoted && text[at..].get(..5).is_some_and(|w| w.eq_ignore_ascii_case(" and ")) && at >= start {
            clauses.push(&text[start..at]);
            start = at + 5;
        }
    }
    clauses.push(&text[start..]);
    clauses
        .into_iter()
        .map(|clause| {
            if clause.contains('(') {
                return Ok((clause.trim().to_owned(), String::new(), ""));
            }
            let parts: Vec<&str> = clause.trim().splitn(3, ' ').collect();
            let [property, op, value] = parts.as_slice() else { return Err(unsupported(clause, supported)) };
            Ok((property.to_ascii_lowercase(), op.to_ascii_lowercase(), value.trim()))
        })
        .collect()
}

/// Inclusive time bounds: from, until.
type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A time bound of a clause (`ge`, `gt`, `le` or `lt`), as the bounds it sets.
fn time_bound(op: &str, value: &str) -> Option<Bounds> {
    let at: DateTime<Utc> = DateTime::parse_from_rfc3339(value).ok()?.with_timezone(&Utc);
    let tick = Duration::microseconds(1);
    Some(match op {
        "ge" => (Some(at), None),
        "gt" => (Some(at + tick), None),
        "le" => (None, Some(at)),
        "lt" => (None, Some(at - tick)),
        _ => return None,
    })
}

fn quoted(value: &str) -> Option<&str> {
    value.strip_prefix('\'').and_then(|v| v.strip_suffix('\''))
}

/// A `$filter` as a query of the log.
fn filter(text: &str) -> GraphResult<SignInQuery> {
    let mut query = SignInQuery::default();
    for (property, op, value) in clauses(text, SIGN_IN_FILTERS)? {
        let clause = || unsupported(&format!("{property} {op} {value}"), SIGN_IN_FILTERS);
        let id = || quoted(value).and_then(|v| Uuid::parse_str(v).ok()).ok_or_else(clause);
        match (property.as_str(), op.as_str()) {
            ("createddatetime", _) => {
                let (from, until) = time_bound(&op, value).ok_or_else(clause)?;
                query.from = from.or(query.from);
                query.until = until.or(query.until);
            }
            ("userid", "eq") => query.user = Some(id()?),
            ("appid", "eq") => query.app = Some(id()?),
            ("userprincipalname", "eq") => {
                query.user_principal_name = Some(quoted(value).ok_or_else(clause)?.to_lowercase())
            }
            ("status/errorcode", "eq") => query.error_code = Some(value.parse().map_err(|_| clause())?),
            _ => return Err(clause()),
        }
    }
    Ok(query)
}

/// The position after a record, as `$skiptoken` carries it.
fn skip_token(at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", at.timestamp_micros()))
}

fn read_skip_token(token: &str) -> GraphResult<(DateTime<Utc>, Uuid)> {
    let bad = || GraphError::bad_request("The $skiptoken is not valid.");
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?).map_err(|_| bad())?;
    let (micros, id) = text.split_once(':').ok_or_else(bad)?;
    let at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| bad())?).ok_or_else(bad)?;
    Ok((at, Uuid::parse_str(id).map_err(|_| bad())?))
}

async fn sign_ins(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Query(raw): Query<HashMap<String, String>>,
) -> GraphResult<Json<Value>> {
    let mut query = match raw.get("$filter") {
        Some(text) => filter(text)?,
        None => SignInQuery::default(),
    };
    query.limit = top(&raw)?;
    if let Some(token) = raw.get("$skiptoken") {
        query.after = Some(read_skip_token(token)?);
    }
    let records = state.directory.sign_in().logs(&caller, &query).await?;
    let next =
        (records.len() == query.limit as usize).then(|| records.last().map(|r| skip_token(r.at, r.id))).flatten();
    let value: Vec<Value> = records.into_iter().map(|r| Value::Object(r.doc)).collect();
    Ok(Json(page("auditLogs/signIns", value, &raw, next)))
}

/// `$top`: at most [`MOST_RECORDS`], and as many when not given.
fn top(raw: &HashMap<String, String>) -> GraphResult<u32> {
    match raw.get("$top") {
        Some(top) => top
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MOST_RECORDS).contains(n))
            .ok_or_else(|| GraphError::bad_request(format!("$top is a number from 1 to {MOST_RECORDS}."))),
        None => Ok(MOST_RECORDS),
    }
}

/// A page of a log: its records, and the link to the next page when `next` (a skip token) says there is one.
fn page(path: &str, value: Vec<Value>, raw: &HashMap<String, String>, next: Option<String>) -> Value {
    let mut body = json!({"@odata.context": context_url(path, None), "value": value});
    if let Some(token) = next {
        let mut kept: Vec<(&str, &str)> = raw
            .iter()
            .filter(|(k, _)| *k == "$filter" || *k == "$top")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        kept.push(("$skiptoken", &token));
        let query: String = kept
            .iter()
            .map(|(k, v)| {
                format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC))
            })
            .collect::<Vec<_>>()
            .join("&");
        body["@odata.nextLink"] = json!(format!("{}/{path}?{query}", base_url()));
    }
    body
}

/// A `$filter` as a query of the directory audit log.
fn audit_filter(text: &str) -> GraphResult<AuditQuery> {
    let mut query = AuditQuery::default();
    for (property, op, value) in clauses(text, AUDIT_FILTERS)? {
        let clause = || unsupported(format!("{property} {op} {value}").trim(), AUDIT_FILTERS);
        let text = || quoted(value).map(str::to_owned).ok_or_else(clause);
        match (property.as_str(), op.as_str()) {
            ("activitydatetime", _) => {
                let (from, until) = time_bound(&op, value).ok_or_else(clause)?;
                query.from = from.or(query.from);
                query.until = until.or(query.until);
            }
            ("category", "eq") => query.category = Some(text()?),
            ("activitydisplayname", "eq") => query.activity = Some(text()?),
            ("loggedbyservice", "eq") => query.service = Some(text()?),
            ("initiatedby/user/id", "eq") => {
                query.user = Some(quoted(value).and_then(|v| Uuid::parse_str(v).ok()).ok_or_else(clause)?)
            }
            (lambda, "") => query.target = Some(target(lambda).ok_or_else(clause)?),
            _ => return Err(clause()),
        }
    }
    Ok(query)
}

/// The id of `targetResources/any(t: t/id eq '…')`.
fn target(clause: &str) -> Option<String> {
    const ANY: &str = "targetresources/any(";
    let inner =
        clause.get(ANY.len()..).filter(|_| clause.get(..ANY.len()).is_some_and(|h| h.eq_ignore_ascii_case(ANY)))?;
    let inner = inner.strip_suffix(')')?;
    let (variable, test) = inner.split_once(':')?;
    let test = test.trim().strip_prefix(variable.trim())?.strip_prefix("/id eq ")?;
    quoted(test.trim()).map(str::to_owned)
}

async fn directory_audit(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let record = state.directory.directory_audits().get(&caller, &id).await?;
    Ok(Json(crate::odata::entity("auditLogs/directoryAudits", None, record)))
}

async fn directory_audits(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Query(raw): Query<HashMap<String, String>>,
) -> GraphResult<Json<Value>> {
    let mut query = match raw.get("$filter") {
        Some(text) => audit_filter(text)?,
        None => AuditQuery::default(),
    };
    query.limit = top(&raw)?;
    if let Some(token) = raw.get("$skiptoken") {
        let seq = URL_SAFE_NO_PAD.decode(token).ok().and_then(|t| String::from_utf8(t).ok());
        let seq = seq.and_then(|t| t.parse::<i64>().ok());
        query.before = Some(seq.ok_or_else(|| GraphError::bad_request("The $skiptoken is not valid."))?);
    }
    let records = state.directory.directory_audits().list(&caller, &query).await?;
    let next = (records.len() == query.limit as usize)
        .then(|| records.last().map(|r| URL_SAFE_NO_PAD.encode(r.seq.to_string())))
        .flatten();
    let value: Vec<Value> = records.into_iter().map(|r| Value::Object(r.doc)).collect();
    Ok(Json(page("auditLogs/directoryAudits", value, &raw, next)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_read_and_the_rest_refused() {
        let query = filter(
            "createdDateTime ge 2026-03-01T09:00:00Z and userPrincipalName eq 'Ann@Contoso.com' AND status/errorCode eq 50126",
        )
        .expect("a filter");
        assert_eq!(query.from.map(|t| t.timestamp()), Some(1_772_355_600));
        assert_eq!(query.user_principal_name.as_deref(), Some("ann@contoso.com"));
        assert_eq!(query.error_code, Some(50126));
        for bad in ["displayName eq 'x'", "userId eq 'not-a-guid'", "createdDateTime eq 2026", "appId"] {
            assert!(filter(bad).is_err(), "{bad}");
        }
        let (at, id) = read_skip_token(&skip_token(DateTime::from_timestamp(5, 0).unwrap_or_default(), Uuid::nil()))
            .expect("a token");
        assert_eq!((at.timestamp(), id), (5, Uuid::nil()));
    }

    #[test]
    fn audit_filters_are_read_and_the_rest_refused() {
        let query = audit_filter(
            "activityDateTime le 2026-03-01T09:00:00Z and category eq 'GroupManagement' and \
             targetResources/any(t: t/id eq 'abc') and activityDisplayName eq 'Add member to group'",
        )
        .expect("a filter");
        assert_eq!(query.until.map(|t| t.timestamp()), Some(1_772_355_600));
        assert_eq!(query.category.as_deref(), Some("GroupManagement"));
        assert_eq!(query.activity.as_deref(), Some("Add member to group"));
        assert_eq!(query.target.as_deref(), Some("abc"));
        let quoted = audit_filter("activityDisplayName eq 'Update application – Certificates and secrets management '")
            .expect("an and inside quotes");
        assert_eq!(quoted.activity.as_deref(), Some("Update application – Certificates and secrets management "));
        for bad in ["result eq 'success'", "initiatedBy/user/id eq 'x'", "targetResources/any(t: t/type eq 'User')"] {
            assert!(audit_filter(bad).is_err(), "{bad}");
        }
    }
}
