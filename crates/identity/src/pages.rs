//! The sign-in pages: `/{tenant}/oauth2/v2.0/authorize` (sign-in form, consent form, the redirect back with
//! a code), and `/logout`.
//!
//! Server-rendered HTML that works without JavaScript, with Entra's field names (`login`, `passwd`) and a
//! consent form whose button says "Accept". The pages keep no state of their own: the request travels in a
//! signed, expiring `ctx` field, the browser's session in a signed cookie, and every form carries a CSRF
//! token tied to a SameSite=Strict cookie. A password is never echoed back. Errors that come before the
//! redirect URI is known to be the client's are shown here, never redirected to.

use crate::{browser_of, source_of, tenancy, unknown_tenant, IdentityState, Peer};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use chrono::Duration;
use gatehouse_core::kernel::request;
use gatehouse_core::sign_in::authorize::{AuthorizeRequest, Authorized, Entered, Session, SESSION_HOURS};
use gatehouse_core::sign_in::second_factor::SecondFactor;
use gatehouse_core::sign_in::{Browser, Tenancy};
use gatehouse_core::Error;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

pub(crate) const SESSION_COOKIE: &str = "gatehouse_session";
const CSRF_COOKIE: &str = "gatehouse_csrf";
/// How long a sign-in form stays good.
const FORM_MINUTES: i64 = 60;
/// The authorization request's parameters that travel with the forms.
const CARRIED: [&str; 11] = [
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "response_mode",
    "prompt",
    "login_hint",
    "code_challenge",
    "code_challenge_method",
];

/// RFC 3986's unreserved characters stay as they are.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub(crate) fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// An HTML page with the headers every page sends.
pub(crate) fn page(status: StatusCode, title: &str, body: &str, extra_csp: &str, cookies: &[String]) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title></head>\n<body><main>\n{body}\n</main></body></html>\n",
        escape(title)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    let csp = format!("default-src 'none'; base-uri 'none'; frame-ancestors 'none'; {extra_csp}");
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A posted form as the pages take it: its fields, or axum's rejection of a body that is no form.
pub(crate) type Posted = Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>;

/// The one tenant a page's path names (not `organizations` or `common`), or the page that says it must.
pub(crate) async fn one_tenant(state: &IdentityState, tenant: &str) -> Result<Uuid, Box<Response>> {
    match tenancy(state, tenant).await {
        Ok(Tenancy::Tenant(id)) => Ok(id),
        _ => Err(Box::new(error_page("AADSTS90002: This page belongs to a tenant: name the tenant in its address."))),
    }
}

/// A form posted to a page of one tenant, opened: the tenant, the fields and the signed context — or the
/// page that says what is wrong with it.
pub(crate) async fn opened(
    state: &IdentityState,
    headers: &HeaderMap,
    tenant: &str,
    form: Posted,
    purpose: &str,
) -> Result<(Uuid, HashMap<String, String>, Value), Box<Response>> {
    let Ok(Form(form)) = form else { return Err(Box::new(error_page("The form could not be read."))) };
    let tenant_id = one_tenant(state, tenant).await?;
    let ctx = form_context(state, headers, &form, purpose, tenant)?;
    Ok((tenant_id, form, ctx))
}

/// An error shown on the page (never sent to a redirect URI that is not known to be the client's).
pub(crate) fn error_page(message: &str) -> Response {
    let body = format!("<h1>Sign in failed</h1>\n<p role=\"alert\">{}</p>", escape(message));
    page(StatusCode::BAD_REQUEST, "Sign in failed", &body, "", &[])
}

fn secure() -> bool {
    request::current().base_url.starts_with("https://")
}

pub(crate) fn cookie(name: &str, value: &str, same_site: &str, max_age: Option<i64>) -> String {
    let secure = if secure() { "; Secure" } else { "" };
    let age = max_age.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
    format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}{secure}{age}")
}

pub(crate) fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// Where a request came from and how it wants its answer.
struct Flow {
    tenancy: Tenancy,
    tenant_path: String,
    params: Map<String, Value>,
    browser: Browser,
}

impl Flow {
    fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).and_then(Value::as_str).filter(|v| !v.is_empty())
    }

    /// The answer to the client at its (checked) redirect URI, by the response mode asked for.
    fn respond(&self, redirect_uri: &str, mut answer: Vec<(&str, String)>) -> Response {
        if let Some(state) = self.param("state") {
            answer.push(("state", state.to_owned()));
        }
        let default = if answer.iter().any(|(name, _)| *name == "id_token") { "fragment" } else { "query" };
        match self.param("response_mode").unwrap_or(default) {
            "form_post" => form_post(redirect_uri, &answer),
            mode => {
                let encoded: Vec<String> = answer.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
                let separator = match (mode, redirect_uri.contains('?')) {
                    ("fragment", _) => '#',
                    (_, true) => '&',
                    (_, false) => '?',
                };
                redirect(&format!("{redirect_uri}{separator}{}", encoded.join("&")), &[])
            }
        }
    }

    /// An OAuth error sent to the client's redirect URI.
    fn error(&self, redirect_uri: &str, error: &str, description: &str) -> Response {
        self.respond(redirect_uri, vec![("error", error.to_owned()), ("error_description", description.to_owned())])
    }
}

/// An answer posted to `redirect_uri` by the browser (OAuth's `form_post`): a form the page submits at once
/// with its one allowed script, or the person with its button.
pub(crate) fn form_post(redirect_uri: &str, answer: &[(&str, String)]) -> Response {
    let nonce = Uuid::new_v4().simple().to_string();
    let fields: String = answer
        .iter()
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(k), escape(v)))
        .collect();
    let body = format!(
        "<h1>Signing you in</h1>\n<form method=\"post\" action=\"{}\">{fields}<button type=\"submit\">Continue</button></form>\n<script nonce=\"{nonce}\">document.forms[0].submit()</script>",
        escape(redirect_uri)
    );
    let origin = origin_of(redirect_uri);
    page(StatusCode::OK, "Signing you in", &body, &format!("form-action {origin}; script-src 'nonce-{nonce}'"), &[])
}

pub(crate) fn origin_of(uri: &str) -> String {
    let after_scheme = uri.find("://").map(|i| i + 3).unwrap_or(0);
    let end = uri[after_scheme..].find('/').map(|i| i + after_scheme).unwrap_or(uri.len());
    uri[..end].to_owned()
}

pub(crate) fn redirect(location: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// `GET|POST /{tenant}/oauth2/v2.0/authorize` with the request in the query: signs in silently with the
/// browser's session, or shows the sign-in form.
pub async fn authorize(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    peer: Peer,
) -> Response {
    let params: Map<String, Value> =
        CARRIED.iter().filter_map(|k| query.get(*k).map(|v| (k.to_string(), json!(v)))).collect();
    let tenancy = match tenancy(&state, &tenant).await {
        Ok(t) => t,
        Err(_) => return error_page(&unknown_tenant(&tenant).description),
    };
    let flow = Flow { tenancy, tenant_path: tenant, params, browser: browser_of(peer, &headers) };
    let session = match flow.param("prompt") {
        Some("login") | Some("select_account") => None,
        _ => match read_cookie(&headers, SESSION_COOKIE) {
            Some(value) => state.directory.sign_in().session(&value).await,
            None => None,
        },
    };
    let session_tenant = session.as_ref().map(|s| s.tenant);
    let request = match checked_request(&state, &flow, session_tenant).await {
        Ok(request) => request,
        Err(response) => return *response,
    };
    match (session, request) {
        (Some(session), Some(request)) => proceed(&state, &flow, &request, &session, Vec::new()).await,
        (_, request) if flow.param("prompt") == Some("none") => match request {
            Some(request) => flow.error(
                &request.redirect_uri,
                "login_required",
                "AADSTS50058: A silent sign-in request was sent but no user is signed in.",
            ),
            None => error_page("AADSTS50058: A silent sign-in request was sent but no user is signed in."),
        },
        _ => sign_in_form(&state, &flow, None),
    }
}

/// The request checked (client, redirect URI, response type, PKCE) when its tenant is known; `None` when
/// it waits for the account to name its tenant. An error before the redirect URI is trusted is a page;
/// after, it goes to the client.
async fn checked_request(
    state: &IdentityState,
    flow: &Flow,
    session_tenant: Option<Uuid>,
) -> Result<Option<AuthorizeRequest>, Box<Response>> {
    let tenant = match (flow.tenancy, session_tenant) {
        (Tenancy::Tenant(tenant), _) => tenant,
        (_, Some(tenant)) => tenant,
        _ => return Ok(None),
    };
    let (Some(client_id), Some(redirect_uri)) = (flow.param("client_id"), flow.param("redirect_uri")) else {
        return Err(Box::new(error_page(
            "AADSTS900144: The request body must contain the following parameters: 'client_id' and 'redirect_uri'.",
        )));
    };
    let scope = flow.param("scope").unwrap_or("openid");
    let pkce = (flow.param("code_challenge"), flow.param("code_challenge_method"));
    let sign_in = state.directory.sign_in();
    let client = state.directory.applications().authorize_client(tenant, client_id, redirect_uri).await;
    if let Err(e) = client {
        return Err(Box::new(error_page(&e.message)));
    }
    let response = (flow.param("response_type").unwrap_or_default(), flow.param("nonce"));
    match sign_in.authorize_request(tenant, client_id, redirect_uri, scope, pkce, response).await {
        Ok(request) if request.response.has_id_token() && flow.param("response_mode") == Some("query") => {
            let description =
                "AADSTS90015: An id token is never sent in the query: use response_mode fragment or form_post.";
            Err(Box::new(flow.error(redirect_uri, "invalid_request", description)))
        }
        Ok(request) => Ok(Some(request)),
        Err(e) => {
            let error = match e.target.as_deref() {
                Some("scope") => "invalid_scope",
                Some("resource") => "invalid_resource",
                Some("response_type") => "unsupported_response_type",
                _ => "invalid_request",
            };
            Err(Box::new(flow.error(redirect_uri, error, &e.message)))
        }
    }
}

/// Once signed in: a code for the client, or the consent form first.
async fn proceed(
    state: &IdentityState,
    flow: &Flow,
    request: &AuthorizeRequest,
    session: &Session,
    cookies: Vec<String>,
) -> Response {
    let sign_in = state.directory.sign_in();
    let forced = flow.param("prompt") == Some("consent");
    let outcome = match forced {
        true => sign_in.requested(request).await.map(Authorized::Consent),
        false => sign_in.authorize(session, request, &request::current().base_url, &flow.browser).await,
    };
    match outcome {
        Ok(Authorized::Granted { code, id_token, persistent }) => {
            let mut response = flow.respond(&request.redirect_uri, granted(code, id_token));
            let mut cookies = cookies;
            if persistent == Some(true) {
                let lasting =
                    cookie(SESSION_COOKIE, &sign_in.session_value(session), "Lax", Some(SESSION_HOURS * 3600));
                cookies.retain(|c| !c.starts_with(SESSION_COOKIE));
                cookies.push(lasting);
            }
            for cookie in cookies {
                if let Ok(value) = HeaderValue::from_str(&cookie) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            response
        }
        Ok(Authorized::Consent(_)) if flow.param("prompt") == Some("none") => flow.error(
            &request.redirect_uri,
            "consent_required",
            "AADSTS65001: The user or administrator has not consented to use the application.",
        ),
        Ok(Authorized::Consent(scopes)) => consent_form(state, flow, request, scopes, cookies),
        Ok(Authorized::SignInAgain) if flow.param("prompt") == Some("none") => flow.error(
            &request.redirect_uri,
            "login_required",
            "AADSTS70044: The session is older than the organization's sign-in frequency allows.",
        ),
        Ok(Authorized::SignInAgain) => sign_in_form(state, flow, None),
        Ok(Authorized::SecondFactor) if flow.param("prompt") == Some("none") => flow.error(
            &request.redirect_uri,
            "interaction_required",
            "AADSTS50076: Multi-factor authentication is required; a silent sign-in cannot ask for it.",
        ),
        Ok(Authorized::SecondFactor) => match sign_in.second_factor(session).await {
            Ok(factor) => second_factor_form(state, flow, &factor_context(&factor), None, cookies),
            Err(e) => error_page(&e.message),
        },
        Err(e) => error_page(&e.message),
    }
}

/// What a granted request answers the client with.
fn granted(code: Option<String>, id_token: Option<String>) -> Vec<(&'static str, String)> {
    [("code", code), ("id_token", id_token)].into_iter().filter_map(|(name, value)| Some((name, value?))).collect()
}

/// The hidden fields every form carries: the signed request and a CSRF token tied to a cookie.
fn carried(state: &IdentityState, flow: &Flow) -> (String, String) {
    hidden_fields(state, "authorize", &json!({"path": flow.tenant_path, "params": flow.params}))
}

/// Hidden fields with `payload` signed under `purpose` (`ctx`) and a CSRF token tied to a cookie (`csrf`),
/// with that cookie.
pub(crate) fn hidden_fields(state: &IdentityState, purpose: &str, payload: &Value) -> (String, String) {
    let sign_in = state.directory.sign_in();
    let ctx = sign_in.seal(purpose, payload, Duration::minutes(FORM_MINUTES));
    let nonce = Uuid::new_v4().simple().to_string();
    let csrf = sign_in.seal("csrf", &json!({"cookie": nonce}), Duration::minutes(FORM_MINUTES));
    let fields = format!(
        "<input type=\"hidden\" name=\"ctx\" value=\"{}\">\n<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(&ctx),
        escape(&csrf)
    );
    (fields, cookie(CSRF_COOKIE, &nonce, "Strict", Some(FORM_MINUTES * 60)))
}

/// The forms post here, and the answer redirects to the client: browsers hold the redirect to
/// `form-action` too. Only a checked redirect URI is ever redirected to.
fn form_action(flow: &Flow) -> String {
    let target = flow.param("redirect_uri").map(origin_of).unwrap_or_default();
    format!("form-action 'self' {target}").trim_end().to_owned()
}

/// A form's problem, said where assistive technology finds it: the alert, and the attribute that points the
/// first field to it.
pub(crate) fn alert(problem: Option<&str>) -> (String, &'static str) {
    let alert = problem.map(|p| format!("<p role=\"alert\" id=\"error\">{}</p>\n", escape(p))).unwrap_or_default();
    (alert, if problem.is_some() { " aria-describedby=\"error\"" } else { "" })
}

/// The sign-in form of every page that signs a person in: Entra's field names, the name prefilled (never the
/// password), a failed sign-in said with its message, which the name field points to, and the way to the
/// self-service password reset of the tenant at `tenant_path`. Where guests may sign in (`codes`), a second
/// button asks for a code by email instead of the password.
pub(crate) fn sign_in_body(action: &str, fields: &str, login: &str, problem: Option<&str>, codes: bool) -> String {
    let (alert, described) = alert(problem);
    let tenant_path = action.trim_start_matches('/').split('/').next().unwrap_or_default();
    let code = match codes {
        true => "\n<p><button type=\"submit\" name=\"otp\" value=\"1\" formnovalidate id=\"idSendCode\">Guests: email me a sign-in code</button></p>",
        false => "",
    };
    format!(
        "<h1>Sign in</h1>\n{alert}<form method=\"post\" action=\"{action}\">\n{fields}\n<p><label for=\"login\">Email or user name</label>\n<input id=\"login\" name=\"login\" type=\"text\" inputmode=\"email\" autocapitalize=\"none\" spellcheck=\"false\" autocomplete=\"username\" required autofocus value=\"{login}\"{described}></p>\n<p><label for=\"passwd\">Password</label>\n<input id=\"passwd\" name=\"passwd\" type=\"password\" autocomplete=\"current-password\" required></p>\n<p><button type=\"submit\" id=\"idSIButton9\">Sign in</button></p>{code}\n</form>\n<p><a id=\"idA_PWD_ForgotPassword\" href=\"/{reset}/passwordreset\">Forgot my password</a></p>",
        action = escape(action),
        login = escape(login),
        reset = escape(tenant_path),
    )
}

/// Entra's "Update your password" form inside a sign-in whose password must change first: the current
/// password again (a stolen form is worth nothing without it), and the new one twice.
pub(crate) fn change_password_body(action: &str, fields: &str, login: &str, problem: Option<&str>) -> String {
    let (alert, described) = alert(problem);
    format!(
        "<h1>Update your password</h1>\n{alert}<p>You need to update your password because this is the first time you are signing in, or because your password has expired.</p>\n<p id=\"account\">{login}</p>\n<form method=\"post\" action=\"{action}\">\n{fields}\n<input type=\"hidden\" name=\"username\" autocomplete=\"username\" value=\"{login}\">\n<p><label for=\"currentPassword\">Current password</label>\n<input id=\"currentPassword\" name=\"currentPassword\" type=\"password\" autocomplete=\"current-password\" required autofocus{described}></p>\n<p><label for=\"newPassword\">New password</label>\n<input id=\"newPassword\" name=\"newPassword\" type=\"password\" autocomplete=\"new-password\" required></p>\n<p><label for=\"confirmNewPassword\">Confirm password</label>\n<input id=\"confirmNewPassword\" name=\"confirmNewPassword\" type=\"password\" autocomplete=\"new-password\" required></p>\n<p><button type=\"submit\" id=\"idSIButton9\">Sign in</button></p>\n</form>",
        action = escape(action),
        login = escape(login),
    )
}

/// The second-factor form of every page that asks for one: the code in Entra's field `otc`, and for a person
/// without an authenticator app the secret to add to one first (as text and as the `otpauth://` URI).
/// The `otpauth://` URI as a QR code an authenticator app scans: an inline SVG (no image to fetch, so
/// nothing for the content security policy to allow).
fn qr_code(uri: &str) -> String {
    let Ok(code) = qrcode::QrCode::new(uri.as_bytes()) else { return String::new() };
    let svg = code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build();
    let svg = svg.find("<svg").map_or("", |at| &svg[at..]);
    format!("<div id=\"qr\" role=\"img\" aria-label=\"QR code of your key\">{svg}</div>\n")
}

pub(crate) fn second_factor_body(action: &str, fields: &str, factor: &Value, problem: Option<&str>) -> String {
    let (alert, described) = alert(problem);
    let setup = match (factor.get("secret").and_then(Value::as_str), factor.get("uri").and_then(Value::as_str)) {
        (Some(secret), Some(uri)) => format!(
            "<h1>Set up your authenticator app</h1>\n<p>Your organization requires a second way to prove who you are. Scan this code with your authenticator app, or add an account with the key below, then enter the code it shows.</p>\n{}<p>Key: <code id=\"secret\">{}</code></p>\n<p>Or open: <code id=\"uri\">{}</code></p>\n",
            qr_code(uri),
            escape(secret),
            escape(uri)
        ),
        _ => match factor.get("to").and_then(Value::as_str) {
            Some(to) => format!(
                "<h1>Enter code</h1>\n<p>We emailed a code to <span id=\"sent-to\">{}</span>. Enter it to sign in.</p>\n",
                escape(to)
            ),
            None => "<h1>Enter code</h1>\n<p>Enter the code displayed in the authenticator app on your mobile device.</p>\n"
                .to_owned(),
        },
    };
    format!(
        "{setup}{alert}<form method=\"post\" action=\"{action}\">\n{fields}\n<p><label for=\"otc\">Code</label>\n<input id=\"otc\" name=\"otc\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required autofocus{described}></p>\n<p><button type=\"submit\" id=\"idSubmit_SAOTCC_Continue\">Verify</button></p>\n</form>",
        action = escape(action),
    )
}

/// What a second-factor form carries in its signed context: `"code"`, the registration's ticket, secret
/// and URI, or an email code's ticket and masked address.
pub(crate) fn factor_context(factor: &SecondFactor) -> Value {
    match factor {
        SecondFactor::Code => json!("code"),
        SecondFactor::Register { secret, uri, ticket } => json!({"ticket": ticket, "secret": secret, "uri": uri}),
        SecondFactor::Email { ticket, to } => json!({"email": ticket, "to": to}),
    }
}

/// The session after the second factor a form carried (`otc`), with the form's problem if it was wrong.
pub(crate) async fn second_factor_answer(
    state: &IdentityState,
    session: &Session,
    factor: &Value,
    code: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<Session, String> {
    let sign_in = state.directory.sign_in();
    let answered = match (factor.get("ticket").and_then(Value::as_str), factor.get("email").and_then(Value::as_str)) {
        (Some(ticket), _) => sign_in.register_second_factor(session, ticket, code, ip).await,
        (_, Some(ticket)) => sign_in.verify_email_factor(session, ticket, code, ip).await,
        _ => sign_in.verify_second_factor(session, code, ip).await,
    };
    answered.map_err(|e| shown(&e))
}

/// The new password a change form carries, once its two entries match; else what the form says.
pub(crate) fn new_password(form: &HashMap<String, String>) -> Result<(&str, &str), &'static str> {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    match field("newPassword") == field("confirmNewPassword") {
        true => Ok((field("currentPassword"), field("newPassword"))),
        false => Err("The passwords don't match. Enter the new password the same way twice."),
    }
}

/// The consent form of every page that asks for consent: the scopes asked, Accept and Cancel.
pub(crate) fn consent_body(app: &str, action: &str, fields: &str, scopes: &[String]) -> String {
    let items: String = scopes.iter().map(|s| format!("<li>{}</li>", escape(s))).collect();
    format!(
        "<h1>Permissions requested</h1>\n<p>{app} would like to:</p>\n<ul>{items}</ul>\n<form method=\"post\" action=\"{action}\">\n{fields}\n<input type=\"hidden\" name=\"scopes\" value=\"{scopes}\">\n<p><button type=\"submit\" name=\"consent\" value=\"Accept\" id=\"idBtn_Accept\">Accept</button>\n<button type=\"submit\" name=\"consent\" value=\"Cancel\" id=\"idBtn_Back\">Cancel</button></p>\n</form>",
        app = escape(app),
        action = escape(action),
        scopes = escape(&scopes.join(" ")),
    )
}

fn sign_in_form(state: &IdentityState, flow: &Flow, problem: Option<(&str, &str)>) -> Response {
    let (fields, csrf_cookie) = carried(state, flow);
    let (login, message) = match problem {
        Some((login, message)) => (login, Some(message)),
        None => (flow.param("login_hint").unwrap_or_default(), None),
    };
    let action = format!("/{}/oauth2/v2.0/authorize", flow.tenant_path);
    let codes = matches!(flow.tenancy, Tenancy::Tenant(_));
    let body = sign_in_body(&action, &fields, login, message, codes);
    page(StatusCode::OK, "Sign in to your account", &body, &form_action(flow), &[csrf_cookie])
}

/// Asks for a new password for `login`, whose right password must change before the sign-in goes on; the
/// account travels in the signed context, so the form changes no other.
fn change_password_form(state: &IdentityState, flow: &Flow, login: &str, problem: Option<&str>) -> Response {
    let payload = json!({"path": flow.tenant_path, "params": flow.params, "login": login});
    let (fields, csrf_cookie) = hidden_fields(state, "authorize", &payload);
    let action = format!("/{}/oauth2/v2.0/authorize", flow.tenant_path);
    let body = change_password_body(&action, &fields, login, problem);
    page(StatusCode::OK, "Update your password", &body, &form_action(flow), &[csrf_cookie])
}

/// Asks for the second factor inside the sign-in.
fn second_factor_form(
    state: &IdentityState,
    flow: &Flow,
    factor: &Value,
    problem: Option<&str>,
    cookies: Vec<String>,
) -> Response {
    code_form(state, flow, ("factor", factor), problem, cookies)
}

/// Asks for a code inside the sign-in: a second factor (`factor`) or a guest's mailed code (`guest`), whose
/// ticket and masked address travel in the form's signed context under that key.
fn code_form(
    state: &IdentityState,
    flow: &Flow,
    (key, factor): (&str, &Value),
    problem: Option<&str>,
    mut cookies: Vec<String>,
) -> Response {
    let payload = json!({"path": flow.tenant_path, "params": flow.params, key: factor});
    let (fields, csrf_cookie) = hidden_fields(state, "authorize", &payload);
    cookies.push(csrf_cookie);
    let action = format!("/{}/oauth2/v2.0/authorize", flow.tenant_path);
    let body = second_factor_body(&action, &fields, factor, problem);
    page(StatusCode::OK, "Verify your identity", &body, &form_action(flow), &cookies)
}

fn consent_form(
    state: &IdentityState,
    flow: &Flow,
    request: &AuthorizeRequest,
    scopes: Vec<String>,
    mut cookies: Vec<String>,
) -> Response {
    let (fields, csrf_cookie) = carried(state, flow);
    cookies.push(csrf_cookie);
    let action = format!("/{}/oauth2/v2.0/authorize", flow.tenant_path);
    let body = consent_body(&request.client.client.display_name, &action, &fields, &scopes);
    page(StatusCode::OK, "Permissions requested", &body, &form_action(flow), &cookies)
}

/// `POST /{tenant}/oauth2/v2.0/authorize` from the sign-in or consent form.
pub async fn authorize_form(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    peer: Peer,
    form: Posted,
) -> Response {
    let Ok(Form(form)) = form else { return error_page("The form could not be read.") };
    let sign_in = state.directory.sign_in();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let ctx = match form_context(&state, &headers, &form, "authorize", &tenant) {
        Ok(ctx) => ctx,
        Err(response) => return *response,
    };
    let params = ctx.get("params").and_then(Value::as_object).cloned().unwrap_or_default();
    let tenancy = match tenancy(&state, &tenant).await {
        Ok(t) => t,
        Err(_) => return error_page(&unknown_tenant(&tenant).description),
    };
    let flow = Flow { tenancy, tenant_path: tenant, params, browser: browser_of(peer, &headers) };
    if form.contains_key("consent") {
        return consent_answer(&state, &flow, &headers, field("consent"), field("scopes")).await;
    }
    if form.contains_key("otp") {
        return match sign_in.send_guest_code(flow.tenancy, field("login"), &flow.browser).await {
            Ok(sent) => {
                let guest = json!({"email": sent.ticket, "to": sent.to});
                code_form(&state, &flow, ("guest", &guest), None, Vec::new())
            }
            Err(e) => sign_in_form(&state, &flow, Some((field("login"), &shown(&e)))),
        };
    }
    if let Some(guest) = ctx.get("guest") {
        let ticket = guest.get("email").and_then(Value::as_str).unwrap_or_default();
        return match sign_in.guest_code_session(flow.tenancy, ticket, field("otc"), &flow.browser).await {
            Ok(session) => signed_in(&state, &flow, session).await,
            Err(e) => code_form(&state, &flow, ("guest", guest), Some(&shown(&e)), Vec::new()),
        };
    }
    if let Some(factor) = ctx.get("factor") {
        let session = match read_cookie(&headers, SESSION_COOKIE) {
            Some(value) => sign_in.session(&value).await,
            None => None,
        };
        let Some(session) = session else { return sign_in_form(&state, &flow, None) };
        let session = match second_factor_answer(&state, &session, factor, field("otc"), flow.browser.ip).await {
            Ok(session) => session,
            Err(problem) => return second_factor_form(&state, &flow, factor, Some(&problem), Vec::new()),
        };
        return signed_in(&state, &flow, session).await;
    }
    let session = match ctx.get("login").and_then(Value::as_str) {
        Some(login) => {
            let passwords = match new_password(&form) {
                Ok(passwords) => passwords,
                Err(problem) => return change_password_form(&state, &flow, login, Some(problem)),
            };
            match sign_in.change_password_session(flow.tenancy, login, passwords, source_of(peer)).await {
                Ok(session) => session,
                Err(e) => return change_password_form(&state, &flow, login, Some(&shown(&e))),
            }
        }
        None => {
            let (login, password) = (field("login"), field("passwd"));
            match sign_in.password_session(flow.tenancy, login, password, &flow.browser).await {
                Ok(Entered::SignedIn(session)) => match sign_in.onboarding(&session).await {
                    Ok(Some(factor)) => {
                        let cookies = vec![cookie(SESSION_COOKIE, &sign_in.session_value(&session), "Lax", None)];
                        return second_factor_form(&state, &flow, &factor_context(&factor), None, cookies);
                    }
                    Ok(None) => session,
                    Err(e) => return error_page(&e.message),
                },
                Ok(Entered::MustChangePassword) => return change_password_form(&state, &flow, login, None),
                Err(e) => return sign_in_form(&state, &flow, Some((login, &shown(&e)))),
            }
        }
    };
    signed_in(&state, &flow, session).await
}

/// A person just signed in (a password, a second factor): the session's cookie, and on with the request.
async fn signed_in(state: &IdentityState, flow: &Flow, session: Session) -> Response {
    let request = match checked_request(state, flow, Some(session.tenant)).await {
        Ok(Some(request)) => request,
        Ok(None) => return error_page("The request names no tenant."),
        Err(response) => return *response,
    };
    let value = state.directory.sign_in().session_value(&session);
    let cookies = vec![cookie(SESSION_COOKIE, &value, "Lax", None)];
    proceed(state, flow, &request, &session, cookies).await
}

/// The signed context of a posted form, when the form is untampered, unexpired, posted to the tenant it was
/// made for, and its CSRF token matches the browser's cookie; else the page that says why.
pub(crate) fn form_context(
    state: &IdentityState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    purpose: &str,
    tenant: &str,
) -> Result<Value, Box<Response>> {
    let sign_in = state.directory.sign_in();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let Some(ctx) = sign_in.open(purpose, field("ctx")) else {
        return Err(Box::new(error_page(
            "AADSTS90015: The sign-in form expired or was altered. Start the sign-in again from the application.",
        )));
    };
    let csrf_ok = match (sign_in.open("csrf", field("csrf")), read_cookie(headers, CSRF_COOKIE)) {
        (Some(token), Some(cookie)) => token.get("cookie").and_then(Value::as_str) == Some(cookie.as_str()),
        _ => false,
    };
    if !csrf_ok || ctx.get("path").and_then(Value::as_str) != Some(tenant) {
        return Err(Box::new(error_page(
            "AADSTS90023: The request was refused: it did not come from this sign-in page.",
        )));
    }
    Ok(ctx)
}

/// What the sign-in form says of a failed sign-in: Entra's wording, without saying which of the name or
/// password was wrong.
pub(crate) fn shown(error: &Error) -> String {
    let code = error.message.split(':').next().unwrap_or_default();
    match code {
        "AADSTS50034" | "AADSTS50126" => {
            "AADSTS50126: Your account or password is incorrect. If you don't remember your password, reset it now."
                .into()
        }
        _ => error.message.clone(),
    }
}

async fn consent_answer(
    state: &IdentityState,
    flow: &Flow,
    headers: &HeaderMap,
    answer: &str,
    scopes: &str,
) -> Response {
    let sign_in = state.directory.sign_in();
    let session = match read_cookie(headers, SESSION_COOKIE) {
        Some(value) => sign_in.session(&value).await,
        None => None,
    };
    let Some(session) = session else { return sign_in_form(state, flow, None) };
    let request = match checked_request(state, flow, Some(session.tenant)).await {
        Ok(Some(request)) => request,
        Ok(None) => return error_page("The request names no tenant."),
        Err(response) => return *response,
    };
    if answer != "Accept" {
        return flow.error(
            &request.redirect_uri,
            "access_denied",
            "AADSTS65004: User declined to consent to access the app.",
        );
    }
    if let Err(e) = sign_in.consent(&session, &request, scopes).await {
        return error_page(&e.message);
    }
    match sign_in.authorize(&session, &request, &request::current().base_url, &flow.browser).await {
        Ok(Authorized::Granted { code, id_token, .. }) => flow.respond(&request.redirect_uri, granted(code, id_token)),
        Ok(Authorized::Consent(_)) => error_page("AADSTS65001: Consent was not recorded for every permission asked."),
        Ok(Authorized::SecondFactor) => error_page("AADSTS50076: Multi-factor authentication is required first."),
        Ok(Authorized::SignInAgain) => sign_in_form(state, flow, None),
        Err(e) => error_page(&e.message),
    }
}

/// `GET|POST /{tenant}/oauth2/v2.0/logout`: ends the browser's session; goes on to
/// `post_logout_redirect_uri` only when it is a registered redirect URI of the client named.
pub async fn logout(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let ended = cookie(SESSION_COOKIE, "", "Lax", Some(0));
    let target = query.get("post_logout_redirect_uri");
    let tenant_id = match tenancy(&state, &tenant).await {
        Ok(Tenancy::Tenant(id)) => Some(id),
        _ => None,
    };
    if let (Some(uri), Some(client), Some(tenant)) = (target, query.get("client_id"), tenant_id) {
        if state.directory.applications().authorize_client(tenant, client, uri).await.is_ok() {
            let location = match query.get("state") {
                Some(s) => format!("{uri}{}state={}", if uri.contains('?') { '&' } else { '?' }, encode(s)),
                None => uri.clone(),
            };
            return redirect(&location, &[ended]);
        }
    }
    let body = "<h1>You signed out of your account</h1>\n<p>It's a good idea to close all browser windows.</p>";
    page(StatusCode::OK, "Signed out", body, "", &[ended])
}
