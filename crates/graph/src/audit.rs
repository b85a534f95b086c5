//! The sign-in log: `/auditLogs/signIns`, newest first, with `$filter` on `createdDateTime` (`ge`, `gt`,
//! `le`, `lt`), `userId`, `userPrincipalName`, `appId` and `status/errorCode` (`eq`), clauses joined by
//! `and`; `$top` (at most 1,000) and paging by `@odata.nextLink`; one record by its id.

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
use gatehouse_core::store::SignInQuery;
use serde_json::{json, Value};
use std::collections::HashMap;
use uuid::Uuid;

pub fn routes() -> Router<GraphState> {
    Router::new().route("/auditLogs/signIns", get(sign_ins)).route("/auditLogs/signIns/{id}", get(sign_in))
}

async fn sign_in(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let record = state.directory.sign_in().log_record(&caller, &id).await?;
    Ok(Json(crate::odata::entity("auditLogs/signIns", None, record.doc)))
}

fn unsupported(clause: &str) -> GraphError {
    GraphError::unsupported_query(format!(
        "Unsupported filter clause '{clause}': filter on createdDateTime (ge, gt, le, lt), userId, userPrincipalName, appId or status/errorCode (eq), joined by 'and'."
    ))
}

fn quoted(value: &str) -> Option<&str> {
    value.strip_prefix('\'').and_then(|v| v.strip_suffix('\''))
}

/// A `$filter` as a query of the log.
fn filter(text: &str) -> GraphResult<SignInQuery> {
    let mut query = SignInQuery::default();
    let lowered = text.to_ascii_lowercase();
    let mut rest = text;
    let mut offset = 0;
    let mut clauses = Vec::new();
    while let Some(at) = lowered[offset..].find(" and ") {
        clauses.push(&rest[..at]);
        rest = &rest[at + 5..];
        offset += at + 5;
    }
    clauses.push(rest);
    for clause in clauses {
        let parts: Vec<&str> = clause.trim().splitn(3, ' ').collect();
        let [property, op, value] = parts.as_slice() else { return Err(unsupported(clause)) };
        let (property, op, value) = (property.to_ascii_lowercase(), op.to_ascii_lowercase(), value.trim());
        let id = || quoted(value).and_then(|v| Uuid::parse_str(v).ok()).ok_or_else(|| unsupported(clause));
        match (property.as_str(), op.as_str()) {
            ("createddatetime", "ge" | "gt" | "le" | "lt") => {
                let at: DateTime<Utc> = DateTime::parse_from_rfc3339(value)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| unsupported(clause))?;
                let tick = Duration::microseconds(1);
                match op.as_str() {
                    "ge" => query.from = Some(at),
                    "gt" => query.from = Some(at + tick),
                    "le" => query.until = Some(at),
                    _ => query.until = Some(at - tick),
                }
            }
            ("userid", "eq") => query.user = Some(id()?),
            ("appid", "eq") => query.app = Some(id()?),
            ("userprincipalname", "eq") => {
                query.user_principal_name = Some(quoted(value).ok_or_else(|| unsupported(clause))?.to_lowercase())
            }
            ("status/errorcode", "eq") => query.error_code = Some(value.parse().map_err(|_| unsupported(clause))?),
            _ => return Err(unsupported(clause)),
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
    query.limit = match raw.get("$top") {
        Some(top) => top
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MOST_RECORDS).contains(n))
            .ok_or_else(|| GraphError::bad_request(format!("$top is a number from 1 to {MOST_RECORDS}.")))?,
        None => MOST_RECORDS,
    };
    if let Some(token) = raw.get("$skiptoken") {
        query.after = Some(read_skip_token(token)?);
    }
    let records = state.directory.sign_in().logs(&caller, &query).await?;
    let next =
        (records.len() == query.limit as usize).then(|| records.last().map(|r| skip_token(r.at, r.id))).flatten();
    let value: Vec<Value> = records.into_iter().map(|r| Value::Object(r.doc)).collect();
    let mut body = json!({"@odata.context": context_url("auditLogs/signIns", None), "value": value});
    if let Some(token) = next {
        let mut kept: Vec<(String, String)> = raw.into_iter().filter(|(k, _)| k == "$filter" || k == "$top").collect();
        kept.push(("$skiptoken".into(), token));
        let query: String = kept
            .iter()
            .map(|(k, v)| {
                format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC))
            })
            .collect::<Vec<_>>()
            .join("&");
        body["@odata.nextLink"] = json!(format!("{}/auditLogs/signIns?{query}", base_url()));
    }
    Ok(Json(body))
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
}
