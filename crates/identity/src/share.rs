//! The share page, `/{tenant}/share?ticket=…` (the address of a sharing link): the outsider sees what was
//! shared with them; a link for an address asks for the address and the code mailed there, a link anyone
//! opens opens at once; either way the browser then posts the resource its token (`form_post`, to the
//! resource's web redirect URI). The core decides every step (`sharing::open`); the page carries the
//! tickets in its signed form context.

use crate::pages::{alert, error_page, escape, form_post, hidden_fields, opened, page, shown, Posted};
use crate::{source_of, IdentityState, Peer};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use gatehouse_core::kernel::request;
use gatehouse_core::sharing::{Opened, Shared};
use serde_json::{json, Value};
use std::collections::HashMap;

const PURPOSE: &str = "share";

fn action(tenant: &str) -> String {
    escape(&format!("/{tenant}/share"))
}

/// What was shared, on every step.
fn about(shared: &Shared) -> String {
    format!(
        "<h1>{resource}</h1>\n<p><strong>{org}</strong> shared <span id=\"resource\">{resource}</span> with you, to {access}.</p>\n",
        org = escape(&shared.organization),
        resource = escape(&shared.resource),
        access = if shared.edit { "view and edit" } else { "view" },
    )
}

/// The first step: the address to send a code to, or (a link anyone opens) the way in.
fn link_page(state: &IdentityState, tenant: &str, ticket: &str, shared: &Shared) -> Response {
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "ticket": ticket}));
    let form = match shared.anonymous {
        true => "<p><button type=\"submit\" name=\"open\" value=\"1\" id=\"idSIButton9\">Open</button></p>".to_owned(),
        false => "<p>To open it, prove that you hold the address it was shared with: we send a code to it.</p>\n<p><label for=\"email\">Email address</label>\n<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" required autofocus></p>\n<p><button type=\"submit\" name=\"send\" value=\"1\" id=\"idSIButton9\">Send code</button></p>".to_owned(),
    };
    let body =
        format!("{}<form method=\"post\" action=\"{}\">\n{fields}\n{form}\n</form>", about(shared), action(tenant));
    page(StatusCode::OK, "Shared with you", &body, "form-action 'self'", &[csrf])
}

/// The second step: the code.
fn code_page(
    state: &IdentityState,
    tenant: &str,
    (ticket, code): (&str, &str),
    shared: &Shared,
    problem: Option<&str>,
) -> Response {
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "ticket": ticket, "code": code}));
    let (alert, described) = alert(problem);
    let body = format!(
        "{}{alert}<p>If this is the address it was shared with, we emailed it a code. Enter it to open.</p>\n<form method=\"post\" action=\"{}\">\n{fields}\n<p><label for=\"otc\">Code</label>\n<input id=\"otc\" name=\"otc\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required autofocus{described}></p>\n<p><button type=\"submit\" id=\"idSIButton9\">Open</button></p>\n</form>",
        about(shared),
        action(tenant),
    );
    page(StatusCode::OK, "Shared with you", &body, "form-action 'self'", &[csrf])
}

/// The token, posted to the resource by the browser.
fn delivered(opened: Opened) -> Response {
    let answer = [
        ("access_token", opened.access_token),
        ("token_type", "Bearer".to_owned()),
        ("expires_in", opened.expires_in.to_string()),
    ];
    form_post(&opened.redirect_uri, &answer)
}

/// `GET /{tenant}/share?ticket=…`.
pub async fn share(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let ticket = query.get("ticket").map(String::as_str).unwrap_or_default();
    match state.directory.sharing().shared(ticket).await {
        Ok(shared) => link_page(&state, &tenant, ticket, &shared),
        Err(e) => error_page(&e.message),
    }
}

/// `POST /{tenant}/share`: opened (a link anyone opens), a code asked for, then entered.
pub async fn share_form(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    peer: Peer,
    form: Posted,
) -> Response {
    let (_, form, ctx) = match opened(&state, &headers, &tenant, form, PURPOSE).await {
        Ok(opened) => opened,
        Err(response) => return *response,
    };
    let sharing = state.directory.sharing();
    let from_ctx = |name: &str| ctx.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let ticket = from_ctx("ticket");
    let shared = match sharing.shared(&ticket).await {
        Ok(shared) => shared,
        Err(e) => return error_page(&e.message),
    };
    let base = request::current().base_url;
    if form.contains_key("open") {
        return match sharing.open_anonymous(&ticket, &base).await {
            Ok(opened) => delivered(opened),
            Err(e) => error_page(&e.message),
        };
    }
    let code_ticket = from_ctx("code");
    if code_ticket.is_empty() {
        return match sharing.send_code(&ticket, field("email")).await {
            Ok(code_ticket) => code_page(&state, &tenant, (&ticket, &code_ticket), &shared, None),
            Err(e) => error_page(&e.message),
        };
    }
    match sharing.open_with_code(&ticket, &code_ticket, field("otc"), (source_of(peer), &base)).await {
        Ok(opened) => delivered(opened),
        Err(e) => code_page(&state, &tenant, (&ticket, &code_ticket), &shared, Some(&shown(&e))),
    }
}
