//! My Sign-ins' security info, `/{tenant}/mysignins`: a person signs in, sees their authenticator apps, and
//! adds one (its key and `otpauth://` URI shown, proved by its first code). A person who holds an app proves
//! a code from it first in this session, so a password alone cannot add a method. The core decides each
//! step (`sign_in::second_factor`).

use crate::admin::table;
use crate::myaccount::{account_page, framed};
use crate::page_sign_in::{page_password, page_session, page_sign_in_form, PageDoor, PageEntry};
use crate::pages::{
    cookie, error_page, escape, factor_context, hidden_fields, one_tenant, opened, second_factor_answer,
    second_factor_body, Posted, SESSION_COOKIE,
};
use crate::{browser_of, IdentityState, Peer};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use gatehouse_core::sign_in::admin_center::FirstParty;
use gatehouse_core::sign_in::authorize::Session;
use gatehouse_core::sign_in::second_factor::SecondFactor;
use gatehouse_core::sign_in::Browser;
use serde_json::{json, Value};

const PURPOSE: &str = "mysignins";

fn action(tenant: &str) -> String {
    format!("/{tenant}/mysignins")
}

fn sign_in_page(state: &IdentityState, tenant: &str, problem: Option<(&str, &str)>) -> Response {
    let (body, csrf) = page_sign_in_form(state, (PURPOSE, tenant, &action(tenant)), problem);
    framed("Security info", &body, &[csrf], StatusCode::OK)
}

/// The security info page: the person's apps (each with its Remove button once the session proved a second
/// factor), then the code to prove or the app to add.
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
    let proven = factor != SecondFactor::Code;
    let factor = problem.map(|(factor, _)| factor.clone()).unwrap_or_else(|| factor_context(&factor));
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "factor": factor}));
    cookies.push(csrf);
    let rows: Vec<String> = apps
        .iter()
        .map(|app| {
            let text = |name: &str| escape(app.get(name).and_then(Value::as_str).unwrap_or_default());
            let remove = match proven {
                true => format!(
                    "<form method=\"post\" action=\"{}\">{fields}<input type=\"hidden\" name=\"method\" value=\"{}\"><button type=\"submit\" name=\"action\" value=\"remove\" class=\"danger\">Remove</button></form>",
                    escape(&action(tenant)),
                    text("id")
                ),
                false => String::new(),
            };
            format!("<tr><td>Authenticator app</td><td>{}</td><td>{remove}</td></tr>\n", text("createdDateTime"))
        })
        .collect();
    let headings = ["Method", "Added", "<span class=\"visually-hidden\">Actions</span>"];
    let list = match rows.is_empty() {
        true => table("", &headings, &rows, "You have no authenticator app yet."),
        false => format!("<div id=\"methods\">{}</div>", table("Your sign-in methods", &headings, &rows, "")),
    };
    let note = note.map(|n| format!("<p role=\"status\" class=\"note\">{}</p>\n", escape(n))).unwrap_or_default();
    let form = second_factor_body(&action(tenant), &fields, &factor, problem.map(|(_, p)| p));
    let body = format!("<h1>Security info</h1>\n{note}<h2>Your sign-in methods</h2>\n{list}\n{form}");
    account_page(tenant, "Security info", &body, &cookies, StatusCode::OK)
}

/// Asks before an authenticator app is removed.
fn confirm_removal(state: &IdentityState, tenant: &str, method: &str) -> Response {
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "method": method}));
    let body = format!(
        "<h1>Remove this authenticator app?</h1>\n<p>Its codes will no longer sign you in. Where your organization requires a second factor, you will be asked to set up a method again.</p>\n<form method=\"post\" action=\"{action}\">\n{fields}\n<button type=\"submit\" name=\"action\" value=\"remove-confirmed\" class=\"danger\">Remove</button> <a href=\"{action}\">Cancel</a>\n</form>",
        action = escape(&action(tenant)),
    );
    account_page(tenant, "Remove an authenticator app", &body, &[csrf], StatusCode::OK)
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
    match page_session(&state, &headers, tenant_id).await {
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
    if form.contains_key("login") {
        let door = PageDoor {
            purpose: PURPOSE,
            path: &tenant,
            tenant: tenant_id,
            action: &action(&tenant),
            page: FirstParty::MySignIns,
        };
        return match page_password(&state, door, &form, &browser).await {
            PageEntry::In(kept, session) => {
                info_page(&state, &tenant, &session, &browser, None, None, vec![kept]).await
            }
            PageEntry::Code(body, cookies) => framed("Security info", &body, &cookies, StatusCode::OK),
            PageEntry::Refused(login, message) => sign_in_page(&state, &tenant, Some((&login, &message))),
        };
    }
    let Some(session) = page_session(&state, &headers, tenant_id).await else {
        return sign_in_page(&state, &tenant, None);
    };
    match field("action") {
        "remove" => return confirm_removal(&state, &tenant, field("method")),
        "remove-confirmed" => {
            let method = ctx.get("method").and_then(Value::as_str).unwrap_or_default();
            return match sign_in.remove_app(&session, method).await {
                Ok(()) => {
                    let note = Some("Your authenticator app was removed.");
                    info_page(&state, &tenant, &session, &browser, note, None, Vec::new()).await
                }
                Err(e) => {
                    let body = format!("<h1>Not done</h1>\n<p role=\"alert\">{}</p>", escape(&e.message));
                    account_page(&tenant, "Not done", &body, &[], StatusCode::BAD_REQUEST)
                }
            };
        }
        _ => {}
    }
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
