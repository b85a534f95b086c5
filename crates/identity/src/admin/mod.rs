//! The admin center, `/{tenant}/admin`: an administrator signs in at Gatehouse's own sign-in form and
//! manages users, groups and licences. One more adapter on the core: every page acts as the person through the core's use cases
//! (`sign_in::admin_center` gives the caller, their directory roles read at each request), shows only what
//! the core says those roles allow, and decides nothing itself. Pages work without JavaScript; every form
//! carries a CSRF token; a destructive action asks for confirmation first.

use crate::page_sign_in::{page_entry, page_session, page_sign_in_form, PageDoor, PageEntry};
use crate::pages::{encode, escape, hidden_fields, one_tenant, opened, page, redirect, Posted};
use crate::{browser_of, IdentityState, Peer};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use chrono::Duration;
use gatehouse_core::auth::authorization::{decide, Action, Target};
use gatehouse_core::filter::{Filter, Test};
use gatehouse_core::kernel::error::{Error, ErrorKind};
use gatehouse_core::query::Listing;
use gatehouse_core::sign_in::admin_center::FirstParty;
use gatehouse_core::store::{Cursor, ObjectRecord, OrderBy, Sort};
use gatehouse_core::Caller;
use serde_json::{json, Value};
use std::collections::HashMap;

mod access;
mod apps;
mod export;
mod groups;
mod guests;
mod import;
mod licenses;
mod logs;
mod roles;
mod settings;
mod users;

pub use access::{conditional_access, conditional_access_action};
pub(crate) use apps::by_app_id;
pub use apps::{app, app_action, apps, create_app, new_app};
pub use export::{export_groups, export_users};
pub use groups::{check_rule, create_group, group, group_action, groups, new_group};
pub use guests::{guests, invite};
pub use import::{import_form, import_progress, import_results, import_template, start_import};
pub(crate) use import::{Imports, MOST_UPLOAD_BYTES};
pub use licenses::licenses;
pub use logs::{audit_logs, sign_in_logs};
pub use roles::{role, role_action, roles};
pub use settings::{save_settings, settings};
pub use users::{create_user, deleted_users, new_user, restore_user, user, user_action, users};

const PURPOSE: &str = "admin";
/// Objects a page of a list shows.
const PAGE_SIZE: u32 = 50;
/// The admin center's stylesheet, served from the binary.
const STYLESHEET: &str = include_str!("admin.css");
/// Where pages load it from; its name changes with its content, so it is cached for a year.
pub(crate) const STYLESHEET_PATH: &str = "/admin/assets/admin-3.css";
pub(crate) const CSP: &str =
    "style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'";
/// The admin center's script (a progressive enhancement), served from the binary under a versioned name.
const SCRIPT: &str = include_str!("admin.js");
pub(crate) const SCRIPT_PATH: &str = "/admin/assets/admin-1.js";

/// `GET` of [`STYLESHEET_PATH`].
pub async fn stylesheet() -> Response {
    let mut response = STYLESHEET.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}

/// `GET` of [`SCRIPT_PATH`].
pub async fn script() -> Response {
    let mut response = SCRIPT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}

/// `GET /admin?tenant=…`: the admin center of the tenant named (by a domain or its id), or the form that asks
/// which (the tenants of a server are not listed to anyone who has not signed in).
pub async fn choose_tenant(Query(query): Query<HashMap<String, String>>) -> Response {
    if let Some(tenant) = query.get("tenant").map(|t| t.trim()).filter(|t| !t.is_empty()) {
        return redirect(&home(&encode(tenant)), &[]);
    }
    let body = format!("<link rel=\"stylesheet\" href=\"{STYLESHEET_PATH}\">\n<h1>Gatehouse admin center</h1>\n<form method=\"get\" action=\"/admin\">\n<p><label for=\"tenant\">Your organization's domain</label>\n<input id=\"tenant\" name=\"tenant\" type=\"text\" required autofocus placeholder=\"contoso.com\"></p>\n<p><button type=\"submit\">Next</button></p>\n</form>");
    page(StatusCode::OK, "Gatehouse admin center", &body, CSP, &[])
}

fn home(tenant: &str) -> String {
    format!("/{tenant}/admin")
}

/// A page of the admin center: the stylesheet, the navigation the caller's roles allow, then `body`.
fn admin_page(tenant: &str, caller: &Caller, title: &str, body: &str, cookies: &[String]) -> Response {
    let base = escape(&home(tenant));
    let mut nav = vec![format!("<a href=\"{base}/users\">Users</a>")];
    if may(caller, Action::WriteUsers) {
        nav.push(format!("<a href=\"{base}/users/new\">New user</a>"));
        nav.push(format!("<a href=\"{base}/users/import\">Bulk create</a>"));
    }
    nav.push(format!("<a href=\"{base}/groups\">Groups</a>"));
    if may(caller, Action::WriteGroups) {
        nav.push(format!("<a href=\"{base}/groups/new\">New group</a>"));
    }
    nav.push(format!("<a href=\"{base}/guests\">Guests</a>"));
    nav.push(format!("<a href=\"{base}/apps\">Apps</a>"));
    if may(caller, Action::AssignLicenses) {
        nav.push(format!("<a href=\"{base}/licenses\">Licences</a>"));
    }
    if may(caller, Action::WriteRoles) {
        nav.push(format!("<a href=\"{base}/roles\">Roles</a>"));
    }
    if may(caller, Action::ReadPolicies) {
        nav.push(format!("<a href=\"{base}/conditional-access\">Conditional Access</a>"));
    }
    if may(caller, Action::ReadAuditLogs) {
        nav.push(format!("<a href=\"{base}/logs/sign-ins\">Sign-in logs</a>"));
        nav.push(format!("<a href=\"{base}/logs/audit\">Audit logs</a>"));
    }
    if may(caller, Action::ReadDirectorySettings) || may(caller, Action::ReadPolicies) {
        nav.push(format!("<a href=\"{base}/settings\">Settings</a>"));
    }
    nav.push(format!("<a href=\"/{}/oauth2/v2.0/logout\">Sign out</a>", escape(tenant)));
    let framed = format!(
        "<link rel=\"stylesheet\" href=\"{STYLESHEET_PATH}\">\n<script src=\"{SCRIPT_PATH}\" defer></script>\n<header><p class=\"brand\">Gatehouse admin center</p>\n<nav aria-label=\"Admin center\">{}</nav></header>\n{body}",
        nav.join(" ")
    );
    page(StatusCode::OK, title, &framed, CSP, cookies)
}

/// The refusal page for a person whose roles do not allow `action` across the tenant (`what`: what the
/// page is for, as the refusal says it); `None` when they do.
fn unless_allowed(tenant: &str, caller: &Caller, action: Action, what: &str) -> Option<Response> {
    let error = Error { message: format!("Your roles do not include {what}."), ..Error::forbidden() };
    (!may(caller, action)).then(|| refused(tenant, caller, &error))
}

/// Whether the core lets the caller do this across the tenant.
fn may(caller: &Caller, action: Action) -> bool {
    decide(caller, action, &Target::Tenant).is_ok()
}

fn sign_in_page(state: &IdentityState, tenant: &str, problem: Option<(&str, &str)>) -> Response {
    let (body, csrf) = page_sign_in_form(state, (PURPOSE, tenant, &home(tenant)), problem);
    let framed = format!("<link rel=\"stylesheet\" href=\"{STYLESHEET_PATH}\">\n{body}");
    page(StatusCode::OK, "Sign in to the admin center", &framed, CSP, &[csrf])
}

/// The page that says an action was refused, within the admin center.
fn refused(tenant: &str, caller: &Caller, error: &Error) -> Response {
    let body = format!("<h1>Not done</h1>\n<p role=\"alert\">{}</p>", escape(&error.message));
    let mut response = admin_page(tenant, caller, "Not done", &body, &[]);
    *response.status_mut() = status_of(error);
    response
}

/// The status a page that shows the error answers with.
fn status_of(error: &Error) -> StatusCode {
    match error.kind {
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The caller of a signed-in browser, or the response that sends it to sign in.
async fn signed_in(state: &IdentityState, headers: &HeaderMap, tenant: &str) -> Result<Caller, Box<Response>> {
    let tenant_id = one_tenant(state, tenant).await?;
    let Some(session) = page_session(state, headers, tenant_id).await else {
        return Err(Box::new(redirect(&home(tenant), &[])));
    };
    state
        .directory
        .sign_in()
        .admin_center(&session)
        .await
        .map_err(|e| Box::new(sign_in_page(state, tenant, Some(("", &e.message)))))
}

/// `GET /{tenant}/admin`: the users page once signed in, else the sign-in form.
pub async fn admin(State(state): State<IdentityState>, Path(tenant): Path<String>, headers: HeaderMap) -> Response {
    if let Err(response) = one_tenant(&state, &tenant).await {
        return *response;
    }
    match signed_in(&state, &headers, &tenant).await {
        Ok(_) => redirect(&format!("{}/users", home(&tenant)), &[]),
        Err(_) => sign_in_page(&state, &tenant, None),
    }
}

/// `POST /{tenant}/admin`: the sign-in (the password, then the code of a person's authenticator app).
pub async fn admin_sign_in(
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
    let action = home(&tenant);
    let door =
        PageDoor { purpose: PURPOSE, path: &tenant, tenant: tenant_id, action: &action, page: FirstParty::AdminCenter };
    match page_entry(&state, door, (&headers, &form, &ctx), &browser_of(peer, &headers)).await {
        Some(PageEntry::In(kept, session)) => match state.directory.sign_in().admin_center(&session).await {
            Ok(_) => redirect(&format!("{action}/users"), &[kept]),
            Err(e) => sign_in_page(&state, &tenant, Some(("", &e.message))),
        },
        Some(PageEntry::Code(body, cookies)) => {
            let framed = format!("<link rel=\"stylesheet\" href=\"{STYLESHEET_PATH}\">\n{body}");
            page(StatusCode::OK, "Sign in to the admin center", &framed, CSP, &cookies)
        }
        Some(PageEntry::Refused(login, message)) => sign_in_page(&state, &tenant, Some((&login, &message))),
        None => sign_in_page(&state, &tenant, None),
    }
}

/// How a list's search reads what was typed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Searched {
    /// A prefix of the display name, the list in name order (an index range, already sorted).
    Names,
    /// Names, or (when the text has an `@`) a prefix of the user name, that list in the store's order: an
    /// index of user names cannot also give name order.
    NamesOrUserNames,
}

/// A list's search and page, read from the query: the search as typed, and the listing ([`PAGE_SIZE`] a
/// page) it asks for. A page token names the list (`purpose`) and its search, so it opens only the same
/// list.
fn listing_of(
    state: &IdentityState,
    query: &HashMap<String, String>,
    purpose: &str,
    searched: Searched,
) -> (String, Listing) {
    let search = query.get("search").map(|s| s.trim()).filter(|s| !s.is_empty()).unwrap_or_default().to_owned();
    let after = query
        .get("page")
        .and_then(|token| state.directory.sign_in().open(purpose, token))
        .filter(|opened| opened.get("search").and_then(Value::as_str) == Some(search.as_str()))
        .and_then(|opened| serde_json::from_value::<Cursor>(opened.get("cursor").cloned()?).ok());
    let by_user_name = searched == Searched::NamesOrUserNames && search.contains('@');
    let property = if by_user_name { "userPrincipalName" } else { "displayName" };
    let prefix = Filter::Property {
        property: property.into(),
        test: Test::StartsWith(gatehouse_core::kernel::text::fold(&search)),
    };
    let order = match by_user_name {
        true => Vec::new(),
        false => vec![Sort { by: OrderBy::DisplayName, descending: false }],
    };
    let listing =
        Listing { filter: (!search.is_empty()).then_some(prefix), order, after, top: PAGE_SIZE, count: false };
    (search, listing)
}

/// The search form above a list at `path`.
fn search_form(path: &str, label: &str, search: &str) -> String {
    format!(
        "<form method=\"get\" action=\"{path}\" role=\"search\">\n<p><label for=\"search\">{label}</label>\n<input id=\"search\" name=\"search\" type=\"search\" value=\"{search}\"> <button type=\"submit\">Search</button></p>\n</form>",
        path = escape(path),
        search = escape(search),
    )
}

/// A list's query again, without the keys named (its page), as the text after a `?`.
fn query_again(query: &HashMap<String, String>, without: &str) -> String {
    let mut pairs: Vec<(&String, &String)> = query.iter().filter(|(k, _)| k.as_str() != without).collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// The link that downloads a list (at `path`) as CSV, with the search and filters it shows.
fn download_link(path: &str, query: &HashMap<String, String>) -> String {
    format!(
        "<p><a id=\"download\" href=\"{}/export.csv?{}\" download>Download CSV</a></p>",
        escape(path),
        escape(&query_again(query, "page"))
    )
}

/// The link to a list's next page, when there is one.
fn next_link(state: &IdentityState, purpose: &str, path: &str, search: &str, next: Option<Cursor>) -> String {
    let Some(cursor) = next else { return String::new() };
    let token =
        state.directory.sign_in().seal(purpose, &json!({"cursor": cursor, "search": search}), Duration::hours(1));
    format!(
        "<p><a rel=\"next\" id=\"next\" href=\"{}?search={}&amp;page={}\">Next page</a></p>",
        escape(path),
        encode(search),
        encode(&token)
    )
}

/// A table with its caption and column headings, or the sentence that says it is empty.
pub(crate) fn table(caption: &str, headings: &[&str], rows: &[String], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\">{}</p>", escape(empty));
    }
    let headings: String = headings.iter().map(|h| format!("<th scope=\"col\">{h}</th>")).collect();
    format!(
        "<table>\n<caption>{caption}</caption>\n<thead><tr>{headings}</tr></thead>\n<tbody>\n{}</tbody>\n</table>",
        rows.concat()
    )
}

/// A labelled choice among `choices` (value, text), `chosen` selected.
pub(crate) fn select(id: &str, label: &str, choices: &[(&str, &str)], chosen: &str) -> String {
    let options: String = choices
        .iter()
        .map(|(value, text)| {
            let selected = if *value == chosen { " selected" } else { "" };
            format!("<option value=\"{}\"{selected}>{}</option>", escape(value), escape(text))
        })
        .collect();
    format!("<p><label for=\"{id}\">{label}</label>\n<select id=\"{id}\" name=\"{id}\">{options}</select></p>")
}

/// A labelled input, with the problem found with it said beside it (and pointed to) when there is one.
pub(crate) fn input(id: &str, label: &str, kind: &str, value: &str, problem: Option<&str>, extra: &str) -> String {
    let error = problem.map(|p| format!("\n<span class=\"field-error\" id=\"{id}-error\">{}</span>", escape(p)));
    let described = match error {
        Some(_) => format!(" aria-describedby=\"{id}-error\" aria-invalid=\"true\""),
        None => String::new(),
    };
    format!(
        "<p><label for=\"{id}\">{label}</label>\n<input id=\"{id}\" name=\"{id}\" type=\"{kind}\" value=\"{}\"{extra}{described}>{}</p>",
        escape(value),
        error.unwrap_or_default()
    )
}

/// What a confirmation asks: the question, what follows, where the one button posts (`action`, with its
/// `confirmed` value and `label`), the object the page's forms are bound to, and one hidden field the answer
/// carries besides.
struct Confirmation<'a> {
    question: &'a str,
    consequence: &'a str,
    action: &'a str,
    confirmed: &'a str,
    label: &'a str,
    object: Option<&'a str>,
    carried: Option<(&'a str, &'a str)>,
}

impl<'a> Confirmation<'a> {
    /// Asks `question` (with what follows) before `confirmed` is posted to `action` by a Delete button.
    fn new(question: &'a str, consequence: &'a str, (action, confirmed): (&'a str, &'a str)) -> Self {
        Confirmation { question, consequence, action, confirmed, label: "Delete", object: None, carried: None }
    }

    /// The button says `label` instead.
    fn labelled(self, label: &'a str) -> Self {
        Confirmation { label, ..self }
    }

    /// The page's forms are bound to this object.
    fn on(self, object: &'a str) -> Self {
        Confirmation { object: Some(object), ..self }
    }

    /// The answer carries this field besides.
    fn carrying(self, name: &'a str, value: &'a str) -> Self {
        Confirmation { carried: Some((name, value)), ..self }
    }
}

/// Asks before a destructive action: what it does, the one button that does it, and the way back.
fn confirm_page(state: &IdentityState, (tenant, caller): (&str, &Caller), asked: Confirmation<'_>) -> Response {
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "object": asked.object}));
    let carried = asked
        .carried
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">\n", escape(name), escape(value)))
        .unwrap_or_default();
    let body = format!(
        "<h1>{}</h1>\n<p>{}</p>\n<form method=\"post\" action=\"{action}\">\n{fields}\n{carried}<button type=\"submit\" name=\"action\" value=\"{}\" class=\"danger\">{}</button> <a href=\"{action}\">Cancel</a>\n</form>",
        escape(asked.question),
        escape(asked.consequence),
        escape(asked.confirmed),
        escape(asked.label),
        action = escape(asked.action),
    );
    admin_page(tenant, caller, asked.question, &body, &[csrf])
}

/// The first step of deleting an object from its page: the question, naming it (`found`, the object as the
/// core read it), what follows, and the button that posts `delete-confirmed` back to the page (whose form
/// context names the object).
fn ask_delete(
    state: &IdentityState,
    (tenant, caller): (&str, &Caller),
    (collection, id): (&str, &str),
    found: Result<ObjectRecord, Error>,
    consequence: &str,
) -> Response {
    let object = match found {
        Ok(object) => object,
        Err(e) => return refused(tenant, caller, &e),
    };
    let name = object.doc.get("displayName").and_then(Value::as_str).unwrap_or_default();
    let question = format!("Delete {name}?");
    let action = format!("{}/{collection}/{id}", home(tenant));
    confirm_page(
        state,
        (tenant, caller),
        Confirmation::new(&question, consequence, (&action, "delete-confirmed")).on(id),
    )
}

/// The second step: back to the list once the core deleted the object, or the refusal.
fn deleted(tenant: &str, caller: &Caller, collection: &str, result: Result<(), Error>) -> Response {
    match result {
        Ok(()) => redirect(&format!("{}/{collection}", home(tenant)), &[]),
        Err(e) => refused(tenant, caller, &e),
    }
}

/// A signed-in admin center request: the tenant its path names and the caller the core made of the
/// browser's session. A request without one is sent to sign in.
pub struct Admin {
    tenant: String,
    caller: Caller,
}

impl FromRequestParts<IdentityState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &IdentityState) -> Result<Admin, Response> {
        let params = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let tenant = params.0.get("tenant").cloned().unwrap_or_default();
        let caller = signed_in(state, &parts.headers, &tenant).await.map_err(|response| *response)?;
        Ok(Admin { tenant, caller })
    }
}

/// A form posted to an admin page by a signed-in person, opened: its CSRF token and sealed context checked
/// (else the page that says what is wrong). The form of an object's page (a path with `{id}`) must have
/// been made for that object: its context names it (`object`).
pub struct AdminForm {
    tenant: String,
    caller: Caller,
    form: HashMap<String, String>,
}

impl FromRequest<IdentityState> for AdminForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &IdentityState) -> Result<AdminForm, Response> {
        let (mut parts, body) = request.into_parts();
        let Admin { tenant, caller } = Admin::from_request_parts(&mut parts, state).await?;
        let params = Path::<HashMap<String, String>>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let headers = parts.headers.clone();
        let posted = Form::<HashMap<String, String>>::from_request(Request::from_parts(parts, body), state).await;
        let (_, form, ctx) = opened(state, &headers, &tenant, posted, PURPOSE).await.map_err(|response| *response)?;
        if let Some(id) = params.0.get("id") {
            if ctx.get("object").and_then(Value::as_str) != Some(id.as_str()) {
                let error = Error { message: "The form was made for another page.".into(), ..Error::forbidden() };
                return Err(refused(&tenant, &caller, &error));
            }
        }
        Ok(AdminForm { tenant, caller, form })
    }
}
