//! My Sign-ins' security info, `/{tenant}/mysignins`: a person signs in, sees their authenticator apps, and
//! adds one (its key and `otpauth://` URI shown, proved by its first code). A person who holds an app proves
//! a code from it first in this session, so a password alone cannot add a method. The core decides each
//! step (`sign_in::second_factor`).

use crate::pages::{
    cookie, error_page, escape, factor_context, hidden_fields, one_tenant, opened, page, page_sign_in,
    page_sign_in_form, read_cookie, second_factor_answer, second_factor_body, Posted, SESSION_COOKIE,
};
use crate::{browser_of, IdentityState, Peer};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use gatehouse_core::sign_in::authorize::Session;
use gatehouse_core::sign_in::Browser;
use serde_json::{json, Value};
use uuid::Uuid;

const PURPOSE: &str = "mysignins";

fn action(tenant: &str) -> String {
    format!("/{tenant}/mysignins")
}

fn sign_in_page(state: &IdentityState, tenant: &str, problem: Option<(&str, &str)>) -> Response {
    let (body, csrf) = page_sign_in_form(state, (PURPOSE, tenant, &action(tenant)), problem);
    page(StatusCode::OK, "My Sign-ins", &body, "form-action 'self'", &[csrf])
}

/// The security info page: the person's apps, then the code to prove or the app to add.
async fn info_page(
    state: &IdentityState,
    tenant: &str,
    session: &Session,
    browser: &Browser,
    note: Option<&str>,
    problem: Option<(&Value, &str)>,
    mut cookies: Vec<String>,
) -> Response {
    let (apps, factor) = match state.directory.sign_in().security_info(session, browser).await {
        Ok(info) => info,
        Err(e) => return error_page(&e.message),
    };
    let factor = problem.map(|(factor, _)| factor.clone()).unwrap_or_else(|| factor_context(&factor));
    let listed: String = apps
        .iter()
        .map(|app| {
            let added = app.get("createdDateTime").and_then(Value::as_str).unwrap_or_default();
            format!("<li>Authenticator app, added {}</li>", escape(added))
        })
        .collect();
    let list = match listed.is_empty() {
        true => "<p>You have no authenticator app yet.</p>".to_owned(),
        false => format!("<ul id=\"methods\">{listed}</ul>"),
    };
    let note = note.map(|n| format!("<p role=\"status\">{}</p>\n", escape(n))).unwrap_or_default();
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "factor": factor}));
    cookies.push(csrf);
    let form = second_factor_body(&action(tenant), &fields, &factor, problem.map(|(_, p)| p));
    let body = format!("<h1>Security info</h1>\n{note}<h2>Your sign-in methods</h2>\n{list}\n{form}");
    page(StatusCode::OK, "My Sign-ins", &body, "form-action 'self'", &cookies)
}

async fn session_of(state: &IdentityState, headers: &HeaderMap, tenant: Uuid) -> Option<Session> {
    let value = read_cookie(headers, SESSION_COOKIE)?;
    state.directory.sign_in().session(&value).await.filter(|s| s.tenant == tenant)
}

/// `GET /{tenant}/mysignins`.
pub async fn my_sign_ins(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    peer: Peer,
) -> Response {
    let tenant_id = match one_tenant(&state, &tenant).await {
        Ok(id) => id,
        Err(response) => return *response,
    };
    match session_of(&state, &headers, tenant_id).await {
        Some(session) => {
            info_page(&state, &tenant, &session, &browser_of(peer, &headers), None, None, Vec::new()).await
        }
        None => sign_in_page(&state, &tenant, None),
    }
}

/// `POST /{tenant}/mysignins`: the sign-in, a code, or a new app's first code.
pub async fn my_sign_ins_form(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    peer: Peer,
    form: Posted,
) -> Response {
    let (tenant_id, form, ctx) = match opened(&state, &headers, &tenant, form, PURPOSE).await {
        Ok(opened) => opened,
        Err(response) => return *response,
    };
    let sign_in = state.directory.sign_in();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let browser = browser_of(peer, &headers);
    let keep = |session: &Session| vec![cookie(SESSION_COOKIE, &sign_in.session_value(session), "Lax", None)];
    if let Some(login) = form.get("login") {
        return match page_sign_in(&state, tenant_id, &form, &browser).await {
            Ok((session, kept)) => info_page(&state, &tenant, &session, &browser, None, None, vec![kept]).await,
            Err(message) => sign_in_page(&state, &tenant, Some((login, &message))),
        };
    }
    let Some(session) = session_of(&state, &headers, tenant_id).await else {
        return sign_in_page(&state, &tenant, None);
    };
    let factor = ctx.get("factor").cloned().unwrap_or(Value::Null);
    match second_factor_answer(&state, &session, &factor, field("otc"), browser.ip).await {
        Ok(session) => {
            let note = factor.get("ticket").is_some().then_some("Your authenticator app was added.");
            info_page(&state, &tenant, &session, &browser, note, None, keep(&session)).await
        }
        Err(problem) => {
            info_page(&state, &tenant, &session, &browser, None, Some((&factor, &problem)), Vec::new()).await
        }
    }
}
