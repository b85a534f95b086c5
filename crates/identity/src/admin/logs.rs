//! The admin center's sign-in and audit logs, newest first, a page at a time, with Entra's filters: the
//! period, the user, the application or the error code for sign-ins; the period, the category, the
//! activity, who did it and what it was done to for the audit log. For those who read the logs (Security Administrator, Global Reader, Global
//! Administrator).

use super::{admin_page, home, query_again, refused, select, table, unless_allowed, Admin};
use crate::pages::{encode, escape};
use crate::IdentityState;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use gatehouse_core::auth::authorization::Action;
use gatehouse_core::kernel::error::Error;
use gatehouse_core::store::audit::AuditQuery;
use gatehouse_core::store::SignInQuery;
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

/// Records a page shows.
const PAGE: u32 = 50;
/// The periods a log is narrowed to, in days, and the one it opens with.
const PERIODS: [(&str, &str); 4] =
    [("1", "Last 24 hours"), ("7", "Last 7 days"), ("30", "Last 30 days"), ("", "Any time")];
const DEFAULT_PERIOD: &str = "7";
/// The audit log's categories.
const CATEGORIES: [&str; 6] =
    ["UserManagement", "GroupManagement", "ApplicationManagement", "RoleManagement", "DirectoryManagement", "Policy"];

/// A page of a log read one record past [`PAGE`]: the records it shows, and whether older ones follow.
fn shown<T>(read: Result<Vec<T>, Error>) -> Result<(Vec<T>, bool), Error> {
    let mut records = read?;
    let more = records.len() > PAGE as usize;
    records.truncate(PAGE as usize);
    Ok((records, more))
}

/// The query's value of `name`, trimmed; empty when absent.
fn asked<'a>(query: &'a HashMap<String, String>, name: &str) -> &'a str {
    query.get(name).map(|v| v.trim()).unwrap_or_default()
}

/// The start of the period the query names (the last 7 days when it names none).
fn since(query: &HashMap<String, String>, now: DateTime<Utc>) -> (String, Option<DateTime<Utc>>) {
    let days = query.get("days").map(|d| d.trim().to_owned()).unwrap_or_else(|| DEFAULT_PERIOD.to_owned());
    let from = days.parse::<i64>().ok().filter(|d| (1..=365).contains(d)).map(|d| now - Duration::days(d));
    (days, from)
}

fn period_select(days: &str) -> String {
    select("days", "Date", &PERIODS, days)
}

fn text_filter(id: &str, label: &str, value: &str) -> String {
    format!(
        "<p><label for=\"{id}\">{label}</label>\n<input id=\"{id}\" name=\"{id}\" type=\"text\" value=\"{}\"></p>",
        escape(value)
    )
}

/// The filter form above a log at `path`.
fn filters(path: &str, fields: &[String]) -> String {
    format!(
        "<form method=\"get\" action=\"{}\" class=\"filters\">\n{}\n<p><button type=\"submit\">Apply</button></p>\n</form>",
        escape(path),
        fields.concat()
    )
}

/// The link to the next (older) page: the query as it is, with its `older` cursor.
fn older_link(path: &str, query: &HashMap<String, String>, cursor: Option<String>) -> String {
    let Some(cursor) = cursor else { return String::new() };
    let link = format!("{}&older={}", query_again(query, "older"), encode(&cursor));
    format!("<p><a rel=\"next\" id=\"older\" href=\"{}?{}\">Older</a></p>", escape(path), escape(&link))
}

/// `GET /{tenant}/admin/logs/sign-ins?days=…&user=…&app=…&error=…&older=…`.
pub async fn sign_in_logs(
    State(state): State<IdentityState>,
    Admin { tenant, caller }: Admin,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(response) = unless_allowed(&tenant, &caller, Action::ReadAuditLogs, "reading the logs") {
        return response;
    }
    let (days, from) = since(&query, state.directory.now());
    let (user, app, error) = (asked(&query, "user"), asked(&query, "app"), asked(&query, "error"));
    let problem = |message: &str| Error::invalid(message.to_owned());
    let app_id = match app {
        "" => None,
        app => match Uuid::parse_str(app) {
            Ok(id) => Some(id),
            Err(_) => return refused(&tenant, &caller, &problem("The application is named by its application id.")),
        },
    };
    let error_code = match error {
        "" => None,
        error => match error.parse::<i64>() {
            Ok(code) => Some(code),
            Err(_) => return refused(&tenant, &caller, &problem("An error code is a number, such as 50126.")),
        },
    };
    let after = asked(&query, "older").split_once('_').and_then(|(at, id)| {
        let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
        Some((at, Uuid::parse_str(id).ok()?))
    });
    let wanted = SignInQuery {
        from,
        user_principal_name: (!user.is_empty()).then(|| user.to_lowercase()),
        app: app_id,
        error_code,
        after,
        limit: PAGE + 1,
        ..SignInQuery::default()
    };
    let (records, more) = match shown(state.directory.sign_in().logs(&caller, &wanted).await) {
        Ok(shown) => shown,
        Err(e) => return refused(&tenant, &caller, &e),
    };
    let rows: Vec<String> = records
        .iter()
        .map(|record| {
            let text = |name: &str| escape(record.doc.get(name).and_then(Value::as_str).unwrap_or_default());
            let outcome = match record.error_code {
                0 => "Success".to_owned(),
                code => {
                    let reason = record.doc.get("status").and_then(|s| s["failureReason"].as_str()).unwrap_or_default();
                    format!("<span title=\"{}\">Failure {code}</span>", escape(reason))
                }
            };
            let access = record.doc.get("conditionalAccessStatus").and_then(Value::as_str).unwrap_or_default();
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"outcome\">{outcome}</td><td>{}</td></tr>\n",
                text("createdDateTime"),
                text("userPrincipalName"),
                text("appDisplayName"),
                text("ipAddress"),
                escape(access),
            )
        })
        .collect();
    let cursor = records.last().filter(|_| more).map(|r| format!("{}_{}", r.at.to_rfc3339(), r.id));
    let path = format!("{}/logs/sign-ins", home(&tenant));
    let form = filters(
        &path,
        &[
            period_select(&days),
            text_filter("user", "User name", user),
            text_filter("app", "Application id", app),
            text_filter("error", "Error code", error),
        ],
    );
    let body = format!(
        "<h1>Sign-in logs</h1>\n{form}\n{}\n{}",
        table(
            "Sign-ins, newest first",
            &["Date", "User", "Application", "IP address", "Status", "Conditional Access"],
            &rows,
            "No sign-in matches."
        ),
        older_link(&path, &query, cursor),
    );
    admin_page(&tenant, &caller, "Sign-in logs", &body, &[])
}

/// `GET /{tenant}/admin/logs/audit?days=…&category=…&activity=…&by=…&target=…&older=…`.
pub async fn audit_logs(
    State(state): State<IdentityState>,
    Admin { tenant, caller }: Admin,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(response) = unless_allowed(&tenant, &caller, Action::ReadAuditLogs, "reading the logs") {
        return response;
    }
    let (days, from) = since(&query, state.directory.now());
    let (category, activity) = (asked(&query, "category"), asked(&query, "activity"));
    let (initiator, target) = (asked(&query, "by"), asked(&query, "target"));
    // A user named by their user name is found by their id; any other target is an object id as written.
    let users = state.directory.users();
    let by = match initiator {
        "" => None,
        name => match users.get(&caller, name).await {
            Ok(user) => Some(user.id),
            Err(e) => return refused(&tenant, &caller, &e),
        },
    };
    let target_id = match target {
        "" => None,
        name => Some(users.get(&caller, name).await.map(|u| u.id.to_string()).unwrap_or_else(|_| name.to_owned())),
    };
    let wanted = AuditQuery {
        from,
        category: CATEGORIES.contains(&category).then(|| category.to_owned()),
        activity: (!activity.is_empty()).then(|| activity.to_owned()),
        user: by,
        target: target_id,
        before: asked(&query, "older").parse::<i64>().ok(),
        limit: PAGE + 1,
        ..AuditQuery::default()
    };
    let (audits, more) = match shown(state.directory.directory_audits().list(&caller, &wanted).await) {
        Ok(shown) => shown,
        Err(e) => return refused(&tenant, &caller, &e),
    };
    let rows: Vec<String> = audits
        .iter()
        .map(|audit| {
            let doc = &audit.doc;
            let text = |name: &str| escape(doc.get(name).and_then(Value::as_str).unwrap_or_default());
            let by = doc.get("initiatedBy").map(|by| {
                by["user"]["userPrincipalName"].as_str().or(by["app"]["displayName"].as_str()).unwrap_or_default()
            });
            let targets: Vec<String> = doc
                .get("targetResources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|t| t["userPrincipalName"].as_str().or(t["displayName"].as_str()).unwrap_or_default().to_owned())
                .collect();
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                text("activityDateTime"),
                text("category"),
                text("activityDisplayName"),
                escape(by.unwrap_or_default()),
                escape(&targets.join(", ")),
            )
        })
        .collect();
    let cursor = audits.last().filter(|_| more).map(|a| a.seq.to_string());
    let path = format!("{}/logs/audit", home(&tenant));
    let categories: Vec<(&str, &str)> =
        std::iter::once(("", "All")).chain(CATEGORIES.iter().map(|c| (*c, *c))).collect();
    let form = filters(
        &path,
        &[
            period_select(&days),
            select("category", "Category", &categories, category),
            text_filter("activity", "Activity", activity),
            text_filter("by", "Initiated by (user name)", initiator),
            text_filter("target", "Target (user name or object id)", target),
        ],
    );
    let body = format!(
        "<h1>Audit logs</h1>\n{form}\n{}\n{}",
        table(
            "Changes to the directory, newest first",
            &["Date", "Category", "Activity", "Initiated by", "Target"],
            &rows,
            "No change matches."
        ),
        older_link(&path, &query, cursor),
    );
    admin_page(&tenant, &caller, "Audit logs", &body, &[])
}
