//! The device code flow's endpoint and page: `POST /{tenant}/oauth2/v2.0/devicecode` starts it, and
//! `/{tenant}/devicelogin` is where the person enters the code (`otc`), signs in, consents if asked, and
//! approves. The device then collects its tokens at the token endpoint.

use crate::pages::{
    alert, change_password_body, consent_body, cookie, error_page, escape, factor_context, hidden_fields, new_password,
    one_tenant, opened, page, read_cookie, second_factor_answer, second_factor_body, shown, sign_in_body, Posted,
    SESSION_COOKIE,
};
use crate::{form_of, required, tenancy, IdentityState, OAuthError, Peer};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use gatehouse_core::kernel::request;
use gatehouse_core::sign_in::authorize::{Authorized, Entered, Session};
use gatehouse_core::sign_in::device::DevicePrompt;
use gatehouse_core::sign_in::Tenancy;
use serde_json::{json, Value};
use std::collections::HashMap;

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub async fn devicecode(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Result<Response, OAuthError> {
    let form = form_of(form)?;
    let tenancy = tenancy(&state, &tenant).await?;
    let (client_id, scope) = (required(&form, "client_id")?, required(&form, "scope")?);
    let started = state.directory.sign_in().start_device(tenancy, client_id, scope).await?;
    let uri = format!("{}/{}/devicelogin", request::current().base_url, started.tenant);
    let body = json!({
        "device_code": started.device_code,
        "user_code": started.user_code,
        "verification_uri": uri,
        "expires_in": started.expires_in,
        "interval": started.interval,
        "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {} to authenticate.", started.user_code),
    });
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn action(tenant: &str) -> String {
    escape(&format!("/{tenant}/devicelogin"))
}

/// The first page: enter the code.
fn code_form(state: &IdentityState, tenant: &str, problem: Option<&str>) -> Response {
    let (fields, csrf) = hidden_fields(state, "device", &json!({"path": tenant}));
    let (alert, _) = alert(problem);
    let body = format!(
        "<h1>Enter code</h1>\n{alert}<p>Enter the code displayed on your app or device.</p>\n<form method=\"post\" action=\"{}\">\n{fields}\n<p><label for=\"otc\">Code</label>\n<input id=\"otc\" name=\"otc\" autocomplete=\"one-time-code\" required autofocus></p>\n<p><button type=\"submit\" id=\"idSIButton9\">Next</button></p>\n</form>",
        action(tenant)
    );
    page(StatusCode::OK, "Enter code", &body, "form-action 'self'", &[csrf])
}

fn sign_in_form(state: &IdentityState, tenant: &str, otc: &str, problem: Option<(&str, &str)>) -> Response {
    let (fields, csrf) = hidden_fields(state, "device", &json!({"path": tenant, "otc": otc}));
    let (login, message) = problem.map_or(("", None), |(login, message)| (login, Some(message)));
    let body = sign_in_body(&format!("/{tenant}/devicelogin"), &fields, login, message, false);
    page(StatusCode::OK, "Sign in to your account", &body, "form-action 'self'", &[csrf])
}

/// Asks for a new password for `login`, whose right password must change before the sign-in goes on.
fn change_password_form(
    state: &IdentityState,
    tenant: &str,
    otc: &str,
    login: &str,
    problem: Option<&str>,
) -> Response {
    let (fields, csrf) = hidden_fields(state, "device", &json!({"path": tenant, "otc": otc, "login": login}));
    let body = change_password_body(&format!("/{tenant}/devicelogin"), &fields, login, problem);
    page(StatusCode::OK, "Update your password", &body, "form-action 'self'", &[csrf])
}

/// Asks the signed-in person whether they are signing in on the device.
fn confirm_form(state: &IdentityState, tenant: &str, otc: &str, app: &str, cookies: Vec<String>) -> Response {
    let (fields, csrf) = hidden_fields(state, "device", &json!({"path": tenant, "otc": otc}));
    let body = format!(
        "<h1>Are you trying to sign in to {app}?</h1>\n<p>Only continue if you downloaded the app from a store or website that you trust.</p>\n<form method=\"post\" action=\"{}\">\n{fields}\n<p><button type=\"submit\" name=\"approve\" value=\"Continue\" id=\"idSIButton9\">Continue</button>\n<button type=\"submit\" name=\"approve\" value=\"Cancel\" id=\"idBtn_Back\">Cancel</button></p>\n</form>",
        action(tenant),
        app = escape(app),
    );
    page(StatusCode::OK, "Confirm sign-in", &body, "form-action 'self'", &[cookies, vec![csrf]].concat())
}

fn consent_form(state: &IdentityState, tenant: &str, prompt: &DevicePrompt, scopes: Vec<String>) -> Response {
    let (fields, csrf) = hidden_fields(state, "device", &json!({"path": tenant, "otc": prompt.user_code}));
    let body = consent_body(&prompt.app_name, &format!("/{tenant}/devicelogin"), &fields, &scopes);
    page(StatusCode::OK, "Permissions requested", &body, "form-action 'self'", &[csrf])
}

fn done(approved: bool) -> Response {
    let body = match approved {
        true => "<h1>You're signed in</h1>\n<p>You have signed in to the application on your device. You may now close this window.</p>",
        false => "<h1>Sign-in canceled</h1>\n<p>The sign-in on your device was declined. You may now close this window.</p>",
    };
    page(StatusCode::OK, "Device sign-in", body, "", &[])
}

/// `GET /{tenant}/devicelogin`.
pub async fn devicelogin(State(state): State<IdentityState>, Path(tenant): Path<String>) -> Response {
    if let Err(response) = one_tenant(&state, &tenant).await {
        return *response;
    }
    code_form(&state, &tenant, None)
}

/// `POST /{tenant}/devicelogin`: each step of the page.
pub async fn devicelogin_form(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    peer: Peer,
    form: Posted,
) -> Response {
    let (tenant_id, form, ctx) = match opened(&state, &headers, &tenant, form, "device").await {
        Ok(opened) => opened,
        Err(response) => return *response,
    };
    let sign_in = state.directory.sign_in();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let factor = ctx.get("factor");
    let from_form = form.get("otc").map(String::as_str).filter(|_| factor.is_none());
    let otc = from_form.or_else(|| ctx.get("otc").and_then(Value::as_str)).unwrap_or_default();
    let session = match read_cookie(&headers, SESSION_COOKIE) {
        Some(value) => sign_in.session(&value).await.filter(|s| s.tenant == tenant_id),
        None => None,
    };
    let prompt = match sign_in.device_prompt(tenant_id, otc).await {
        Ok(prompt) => prompt,
        Err(e) => return code_form(&state, &tenant, Some(&e.message)),
    };
    let tenancy = Tenancy::Tenant(tenant_id);
    let browser = crate::browser_of(peer, &headers);
    let entered = match (ctx.get("login").and_then(Value::as_str), form.contains_key("login")) {
        (Some(login), _) => {
            let changed = match new_password(&form) {
                Ok(passwords) => sign_in.change_password_session(tenancy, login, passwords, browser.ip).await,
                Err(problem) => return change_password_form(&state, &tenant, otc, login, Some(problem)),
            };
            match changed {
                Ok(session) => Some(session),
                Err(e) => return change_password_form(&state, &tenant, otc, login, Some(&shown(&e))),
            }
        }
        (None, true) => match sign_in.password_session(tenancy, field("login"), field("passwd"), &browser).await {
            Ok(Entered::SignedIn(session)) => Some(session),
            Ok(Entered::MustChangePassword) => return change_password_form(&state, &tenant, otc, field("login"), None),
            Err(e) => return sign_in_form(&state, &tenant, otc, Some((field("login"), &shown(&e)))),
        },
        (None, false) => None,
    };
    if let Some(session) = entered {
        let cookies = vec![cookie(SESSION_COOKIE, &sign_in.session_value(&session), "Lax", None)];
        return confirm_form(&state, &tenant, &prompt.user_code, &prompt.app_name, cookies);
    }
    let Some(session) = session else { return sign_in_form(&state, &tenant, &prompt.user_code, None) };
    if let Some(factor) = factor {
        let session = match second_factor_answer(&state, &session, factor, field("otc"), browser.ip).await {
            Ok(session) => session,
            Err(problem) => return second_factor_form(&state, &tenant, otc, factor, Some(&problem), Vec::new()),
        };
        let cookies = vec![cookie(SESSION_COOKIE, &sign_in.session_value(&session), "Lax", None)];
        let outcome = sign_in.decide_device(&session, otc, true, &browser).await;
        return answer(&state, &tenant, &prompt, &session, outcome, true, cookies).await;
    }
    let (outcome, approved) = match (field("approve"), field("consent")) {
        ("Continue", _) => (sign_in.decide_device(&session, otc, true, &browser).await, true),
        ("Cancel", _) | (_, "Cancel") => (sign_in.decide_device(&session, otc, false, &browser).await, false),
        (_, "Accept") => (sign_in.consent_device(&session, otc, field("scopes"), &browser).await, true),
        _ => return confirm_form(&state, &tenant, &prompt.user_code, &prompt.app_name, Vec::new()),
    };
    answer(&state, &tenant, &prompt, &session, outcome, approved, Vec::new()).await
}

/// The page after the person's answer: done, the consent form, or the second factor first.
async fn answer(
    state: &IdentityState,
    tenant: &str,
    prompt: &DevicePrompt,
    session: &Session,
    outcome: gatehouse_core::Result<Authorized>,
    approved: bool,
    cookies: Vec<String>,
) -> Response {
    let mut response = match outcome {
        Ok(Authorized::Granted { .. }) => done(approved),
        Ok(Authorized::Consent(scopes)) => consent_form(state, tenant, prompt, scopes),
        Ok(Authorized::SignInAgain) => sign_in_form(state, tenant, &prompt.user_code, None),
        Ok(Authorized::SecondFactor) => match state.directory.sign_in().second_factor(session).await {
            Ok(factor) => {
                return second_factor_form(state, tenant, &prompt.user_code, &factor_context(&factor), None, cookies)
            }
            Err(e) => error_page(&e.message),
        },
        Err(e) => error_page(&e.message),
    };
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Asks for the second factor before the device's sign-in is approved.
fn second_factor_form(
    state: &IdentityState,
    tenant: &str,
    otc: &str,
    factor: &Value,
    problem: Option<&str>,
    cookies: Vec<String>,
) -> Response {
    let (fields, csrf) = hidden_fields(state, "device", &json!({"path": tenant, "otc": otc, "factor": factor}));
    let body = second_factor_body(&format!("/{tenant}/devicelogin"), &fields, factor, problem);
    page(StatusCode::OK, "Verify your identity", &body, "form-action 'self'", &[cookies, vec![csrf]].concat())
}
