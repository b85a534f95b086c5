//! The invitation redemption page, `/{tenant}/redeem?ticket=…` (the link of an invitation): the person sees
//! who invited them and what accepting means, asks for a code sent to the invited address, and accepts by
//! entering it; they then go on to the invitation's redirect URL. The core decides every step
//! (`sign_in::redeem`); the page carries the tickets in its signed form context.

use crate::pages::{alert, error_page, escape, hidden_fields, opened, origin_of, page, redirect, shown, Posted};
use crate::{source_of, IdentityState, Peer};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use gatehouse_core::sign_in::redeem::Invited;
use serde_json::{json, Value};
use std::collections::HashMap;

const PURPOSE: &str = "redeem";

fn action(tenant: &str) -> String {
    escape(&format!("/{tenant}/redeem"))
}

/// What accepting means, on both steps.
fn review(invited: &Invited) -> String {
    format!(
        "<h1>Review permissions</h1>\n<p><strong>{org}</strong> invited you (<span id=\"invited\">{email}</span>) to sign in to its applications as a guest.</p>\n<p>By accepting, you allow {org} to keep your name and email address in its directory and to sign you in to the applications it shares with you. {org} may remove you at any time.</p>\n",
        org = escape(&invited.organization),
        email = escape(&invited.email),
    )
}

/// The first step: the invitation, and the code to ask for.
fn invitation_page(state: &IdentityState, tenant: &str, ticket: &str, invited: &Invited) -> Response {
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "ticket": ticket}));
    let body = format!(
        "{}<p>To accept, prove that you hold this address: we send a code to it.</p>\n<form method=\"post\" action=\"{}\">\n{fields}\n<p><button type=\"submit\" name=\"send\" value=\"1\" id=\"idSIButton9\">Send code</button></p>\n</form>",
        review(invited),
        action(tenant),
    );
    page(StatusCode::OK, "Review permissions", &body, "form-action 'self'", &[csrf])
}

/// The second step: the code, and the acceptance.
fn code_page(
    state: &IdentityState,
    tenant: &str,
    (ticket, code): (&str, &str),
    invited: &Invited,
    problem: Option<&str>,
) -> Response {
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "ticket": ticket, "code": code}));
    let (alert, described) = alert(problem);
    let body = format!(
        "{}{alert}<p>We emailed a code to {}. Enter it to accept the invitation.</p>\n<form method=\"post\" action=\"{}\">\n{fields}\n<p><label for=\"otc\">Code</label>\n<input id=\"otc\" name=\"otc\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required autofocus{described}></p>\n<p><button type=\"submit\" id=\"idSIButton9\">Accept</button></p>\n</form>",
        review(invited),
        escape(&invited.email),
        action(tenant),
    );
    // The accepted form goes on to the redirect URL, which the browser checks against `form-action` too.
    let form_action = format!("form-action 'self' {}", origin_of(&invited.redirect));
    page(StatusCode::OK, "Review permissions", &body, form_action.trim_end(), &[csrf])
}

/// `GET /{tenant}/redeem?ticket=…`.
pub async fn redeem(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let ticket = query.get("ticket").map(String::as_str).unwrap_or_default();
    match state.directory.sign_in().invited(ticket).await {
        Ok(invited) => invitation_page(&state, &tenant, ticket, &invited),
        Err(e) => error_page(&e.message),
    }
}

/// `POST /{tenant}/redeem`: the code asked for, then entered.
pub async fn redeem_form(
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
    let sign_in = state.directory.sign_in();
    let from_ctx = |name: &str| ctx.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    let ticket = from_ctx("ticket");
    let invited = match sign_in.invited(&ticket).await {
        Ok(invited) => invited,
        Err(e) => return error_page(&e.message),
    };
    let code_ticket = from_ctx("code");
    if code_ticket.is_empty() {
        return match sign_in.send_redemption_code(&ticket).await {
            Ok(code_ticket) => code_page(&state, &tenant, (&ticket, &code_ticket), &invited, None),
            Err(e) => error_page(&e.message),
        };
    }
    let code = form.get("otc").map(String::as_str).unwrap_or_default();
    match sign_in.redeem_invitation(&ticket, &code_ticket, code, source_of(peer)).await {
        Ok(location) => redirect(&location, &[]),
        Err(e) => code_page(&state, &tenant, (&ticket, &code_ticket), &invited, Some(&shown(&e))),
    }
}
