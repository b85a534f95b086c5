//! The self-service password reset page, `/{tenant}/passwordreset` ("Forgot my password" on the sign-in
//! form): the person names their account, enters the code sent to their alternate email address, and
//! chooses a new password. The core decides every step (`sign_in::reset`); the page carries its tickets in
//! the signed form context and says the same whether or not the account exists.

use crate::pages::{alert, error_page, escape, form_context, hidden_fields, page, shown, Posted};
use crate::{source_of, tenancy, unknown_tenant, IdentityState, Peer};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use serde_json::{json, Value};
use std::collections::HashMap;

const PURPOSE: &str = "reset";

fn action(tenant: &str) -> String {
    escape(&format!("/{tenant}/passwordreset"))
}

/// The first step: who are you?
fn account_form(state: &IdentityState, tenant: &str, login: &str, problem: Option<&str>) -> Response {
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant}));
    let body = format!(
        "<h1>Get back into your account</h1>\n{}<p>To recover your account, begin by entering your email or username.</p>\n<form method=\"post\" action=\"{}\">\n{fields}\n<p><label for=\"login\">Email or username</label>\n<input id=\"login\" name=\"login\" type=\"text\" inputmode=\"email\" autocapitalize=\"none\" spellcheck=\"false\" autocomplete=\"username\" required autofocus value=\"{}\"></p>\n<p><button type=\"submit\" id=\"idSIButton9\">Next</button></p>\n</form>",
        alert(problem).0,
        action(tenant),
        escape(login),
    );
    page(StatusCode::OK, "Get back into your account", &body, "form-action 'self'", &[csrf])
}

/// The second step: the code from the mail.
fn code_form(state: &IdentityState, tenant: &str, ticket: &str, problem: Option<&str>) -> Response {
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "code": ticket}));
    let body = format!(
        "<h1>Enter your verification code</h1>\n{}<p>If the account may reset its password, we've sent an email message with a verification code to its alternate email address.</p>\n<form method=\"post\" action=\"{}\">\n{fields}\n<p><label for=\"code\">Verification code</label>\n<input id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required autofocus></p>\n<p><button type=\"submit\" id=\"idSIButton9\">Next</button></p>\n</form>",
        alert(problem).0,
        action(tenant),
    );
    page(StatusCode::OK, "Enter your verification code", &body, "form-action 'self'", &[csrf])
}

/// The last step: the new password, twice.
fn password_form(state: &IdentityState, tenant: &str, ticket: &str, problem: Option<&str>) -> Response {
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "verified": ticket}));
    let body = format!(
        "<h1>Choose a new password</h1>\n{}<form method=\"post\" action=\"{}\">\n{fields}\n<p><label for=\"newPassword\">Enter new password</label>\n<input id=\"newPassword\" name=\"newPassword\" type=\"password\" autocomplete=\"new-password\" required autofocus></p>\n<p><label for=\"confirmNewPassword\">Confirm new password</label>\n<input id=\"confirmNewPassword\" name=\"confirmNewPassword\" type=\"password\" autocomplete=\"new-password\" required></p>\n<p><button type=\"submit\" id=\"idSIButton9\">Finish</button></p>\n</form>",
        alert(problem).0,
        action(tenant),
    );
    page(StatusCode::OK, "Choose a new password", &body, "form-action 'self'", &[csrf])
}

fn done() -> Response {
    let body = "<h1>Your password has been reset</h1>\n<p>Sign in to your applications with your new password. Your other sign-ins have ended.</p>";
    page(StatusCode::OK, "Your password has been reset", body, "", &[])
}

/// `GET /{tenant}/passwordreset`, with the account prefilled from `username`.
pub async fn password_reset(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if tenancy(&state, &tenant).await.is_err() {
        return error_page(&unknown_tenant(&tenant).description);
    }
    account_form(&state, &tenant, query.get("username").map(String::as_str).unwrap_or_default(), None)
}

/// `POST /{tenant}/passwordreset`: each step of the page.
pub async fn password_reset_form(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    peer: Peer,
    form: Posted,
) -> Response {
    let Ok(Form(form)) = form else { return error_page("The form could not be read.") };
    let tenancy = match tenancy(&state, &tenant).await {
        Ok(tenancy) => tenancy,
        Err(_) => return error_page(&unknown_tenant(&tenant).description),
    };
    let ctx = match form_context(&state, &headers, &form, PURPOSE, &tenant) {
        Ok(ctx) => ctx,
        Err(response) => return *response,
    };
    let sign_in = state.directory.sign_in();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let ticket = |name: &str| ctx.get(name).and_then(Value::as_str).map(str::to_owned);
    if let Some(verified) = ticket("verified") {
        let new = match crate::pages::new_password(&form) {
            Ok((_, new)) => new,
            Err(problem) => return password_form(&state, &tenant, &verified, Some(problem)),
        };
        return match sign_in.complete_reset(&verified, new).await {
            Ok(()) => done(),
            Err(e) => password_form(&state, &tenant, &verified, Some(&shown(&e))),
        };
    }
    if let Some(code_ticket) = ticket("code") {
        return match sign_in.verify_reset_code(&code_ticket, field("code"), source_of(peer)).await {
            Ok(verified) => password_form(&state, &tenant, &verified, None),
            Err(e) => code_form(&state, &tenant, &code_ticket, Some(&shown(&e))),
        };
    }
    match sign_in.start_reset(tenancy, field("login").trim()).await {
        Ok(code_ticket) => code_form(&state, &tenant, &code_ticket, None),
        Err(e) => account_form(&state, &tenant, field("login"), Some(&shown(&e))),
    }
}
