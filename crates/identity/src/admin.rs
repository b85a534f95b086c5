//! The admin center, `/{tenant}/admin`: an administrator signs in at Gatehouse's own sign-in form and
//! manages users. One more adapter on the core: every page acts as the person through the core's use cases
//! (`sign_in::admin_center` gives the caller, their directory roles read at each request), shows only what
//! the core says those roles allow, and decides nothing itself. Pages work without JavaScript; every form
//! carries a CSRF token; a destructive action asks for confirmation first.

use crate::pages::{
    cookie, encode, escape, hidden_fields, one_tenant, opened, page, read_cookie, redirect, shown, sign_in_body,
    Posted, SESSION_COOKIE,
};
use crate::{browser_of, IdentityState, Peer};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use gatehouse_core::auth::authorization::{decide, Action, Target};
use gatehouse_core::filter::{Filter, Test};
use gatehouse_core::kernel::error::{Error, ErrorKind};
use gatehouse_core::query::Listing;
use gatehouse_core::sign_in::authorize::Entered;
use gatehouse_core::sign_in::Tenancy;
use gatehouse_core::store::{Cursor, OrderBy, Sort};
use gatehouse_core::Caller;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

const PURPOSE: &str = "admin";
/// Users a page of the list shows.
const PAGE_SIZE: u32 = 50;
/// The admin center's stylesheet, served from the binary.
const STYLESHEET: &str = include_str!("admin.css");
/// Where pages load it from; its name changes with its content, so it is cached for a year.
const STYLESHEET_PATH: &str = "/admin/assets/admin-1.css";
const CSP: &str = "style-src 'self'; img-src 'self'; form-action 'self'";

/// `GET /admin/assets/admin-1.css`.
pub async fn stylesheet() -> Response {
    let mut response = STYLESHEET.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
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
    let mut nav = vec![format!("<a href=\"{}/users\">Users</a>", escape(&home(tenant)))];
    if may(caller, Action::WriteUsers) {
        nav.push(format!("<a href=\"{}/users/new\">New user</a>", escape(&home(tenant))));
    }
    let framed = format!(
        "<link rel=\"stylesheet\" href=\"{STYLESHEET_PATH}\">\n<header><p class=\"brand\">Gatehouse admin center</p>\n<nav aria-label=\"Admin center\">{}</nav></header>\n{body}",
        nav.join(" ")
    );
    page(StatusCode::OK, title, &framed, CSP, cookies)
}

/// Whether the core lets the caller do this across the tenant.
fn may(caller: &Caller, action: Action) -> bool {
    decide(caller, action, &Target::Tenant).is_ok()
}

fn sign_in_page(state: &IdentityState, tenant: &str, problem: Option<(&str, &str)>) -> Response {
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant}));
    let (login, message) = problem.map_or(("", None), |(login, message)| (login, Some(message)));
    let body = sign_in_body(&home(tenant), &fields, login, message, false);
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
    let sign_in = state.directory.sign_in();
    let session = match read_cookie(headers, SESSION_COOKIE) {
        Some(value) => sign_in.session(&value).await.filter(|s| s.tenant == tenant_id),
        None => None,
    };
    let Some(session) = session else { return Err(Box::new(redirect(&home(tenant), &[]))) };
    sign_in.admin_center(&session).await.map_err(|e| Box::new(sign_in_page(state, tenant, Some(("", &e.message)))))
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

/// `POST /{tenant}/admin`: the sign-in.
pub async fn admin_sign_in(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    peer: Peer,
    form: Posted,
) -> Response {
    let (tenant_id, form, _) = match opened(&state, &headers, &tenant, form, PURPOSE).await {
        Ok(opened) => opened,
        Err(response) => return *response,
    };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let sign_in = state.directory.sign_in();
    let login = field("login");
    let browser = browser_of(peer, &headers);
    match sign_in.password_session(Tenancy::Tenant(tenant_id), login, field("passwd"), &browser).await {
        Ok(Entered::SignedIn(session)) => match sign_in.admin_center(&session).await {
            Ok(_) => {
                let kept = cookie(SESSION_COOKIE, &sign_in.session_value(&session), "Lax", None);
                redirect(&format!("{}/users", home(&tenant)), &[kept])
            }
            Err(e) => sign_in_page(&state, &tenant, Some((login, &e.message))),
        },
        Ok(Entered::MustChangePassword) => sign_in_page(
            &state,
            &tenant,
            Some((login, "Your password must be changed first: sign in to an application to change it.")),
        ),
        Err(e) => sign_in_page(&state, &tenant, Some((login, &shown(&e)))),
    }
}

/// `GET /{tenant}/admin/users?search=…&page=…`: users by display name, a page at a time, those whose name
/// or user name starts with the search when there is one.
pub async fn users(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let caller = match signed_in(&state, &headers, &tenant).await {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    let search = query.get("search").map(|s| s.trim()).filter(|s| !s.is_empty()).unwrap_or_default().to_owned();
    let sign_in = state.directory.sign_in();
    let after = query
        .get("page")
        .and_then(|token| sign_in.open("admin-users", token))
        .filter(|opened| opened.get("search").and_then(Value::as_str) == Some(search.as_str()))
        .and_then(|opened| serde_json::from_value::<Cursor>(opened.get("cursor").cloned()?).ok());
    let folded = gatehouse_core::kernel::text::fold(&search);
    let starts =
        |property: &str| Filter::Property { property: property.into(), test: Test::StartsWith(folded.clone()) };
    let listing = Listing {
        filter: (!search.is_empty())
            .then(|| Filter::Or(Box::new(starts("displayName")), Box::new(starts("userPrincipalName")))),
        order: vec![Sort { by: OrderBy::DisplayName, descending: false }],
        after,
        top: PAGE_SIZE,
        count: false,
    };
    let page = match state.directory.users().list(&caller, listing).await {
        Ok(page) => page,
        Err(e) => return refused(&tenant, &caller, &e),
    };
    let base = home(&tenant);
    let rows: String = page
        .items
        .iter()
        .map(|user| {
            let text = |name: &str| escape(user.doc.get(name).and_then(Value::as_str).unwrap_or_default());
            let enabled = user.doc.get("accountEnabled").and_then(Value::as_bool).unwrap_or(false);
            format!(
                "<tr><td><a href=\"{base}/users/{id}\">{name}</a></td><td>{upn}</td><td>{kind}</td><td>{state}</td></tr>\n",
                base = escape(&base),
                id = user.id,
                name = text("displayName"),
                upn = text("userPrincipalName"),
                kind = text("userType"),
                state = if enabled { "Enabled" } else { "Sign-in blocked" },
            )
        })
        .collect();
    let table = match rows.is_empty() {
        true if search.is_empty() => "<p class=\"empty\">There are no users yet.</p>".to_owned(),
        true => format!("<p class=\"empty\">No user's name starts with “{}”.</p>", escape(&search)),
        false => format!(
            "<table>\n<caption>Users</caption>\n<thead><tr><th scope=\"col\">Name</th><th scope=\"col\">User name</th><th scope=\"col\">Type</th><th scope=\"col\">State</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>"
        ),
    };
    let next = page.next.map(|cursor| {
        let token = sign_in.seal("admin-users", &json!({"cursor": cursor, "search": search}), Duration::hours(1));
        format!(
            "<p><a rel=\"next\" id=\"next\" href=\"{}/users?search={}&amp;page={}\">Next page</a></p>",
            escape(&base),
            encode(&search),
            encode(&token)
        )
    });
    let body = format!(
        "<h1>Users</h1>\n<form method=\"get\" action=\"{base}/users\" role=\"search\">\n<p><label for=\"search\">Search by name or user name</label>\n<input id=\"search\" name=\"search\" type=\"search\" value=\"{search}\"> <button type=\"submit\">Search</button></p>\n</form>\n{table}\n{next}",
        base = escape(&base),
        search = escape(&search),
        next = next.unwrap_or_default(),
    );
    admin_page(&tenant, &caller, "Users", &body, &[])
}

/// The properties whose problems the new-user form shows beside a field; any other is said above the form.
const FIELDS: [&str; 4] = ["displayName", "userPrincipalName", "passwordProfile", "password"];

/// The new-user form, with what was entered (never the password) and each problem next to its field.
fn new_user_form(
    state: &IdentityState,
    tenant: &str,
    caller: &Caller,
    entered: &HashMap<String, String>,
    problem: Option<&Error>,
) -> Response {
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "form": "new-user"}));
    let value = |name: &str| escape(entered.get(name).map(String::as_str).unwrap_or_default());
    let target = problem.and_then(|p| p.target.clone());
    let at = |names: &[&str]| problem.filter(|_| target.as_deref().is_some_and(|t| names.contains(&t)));
    let field = |id: &str, label: &str, kind: &str, names: &[&str], extra: &str| {
        let error =
            at(names).map(|p| format!("\n<span class=\"field-error\" id=\"{id}-error\">{}</span>", escape(&p.message)));
        let described = if error.is_some() {
            format!(" aria-describedby=\"{id}-error\" aria-invalid=\"true\"")
        } else {
            String::new()
        };
        let shown = if kind == "password" { String::new() } else { value(id) };
        format!(
            "<p><label for=\"{id}\">{label}</label>\n<input id=\"{id}\" name=\"{id}\" type=\"{kind}\" value=\"{shown}\"{extra}{described}>{}</p>",
            error.unwrap_or_default()
        )
    };
    let general = problem
        .filter(|_| at(&FIELDS).is_none())
        .map(|p| format!("<p role=\"alert\">{}</p>\n", escape(&p.message)))
        .unwrap_or_default();
    let body = format!(
        "<h1>New user</h1>\n{general}<form method=\"post\" action=\"{base}/users/new\">\n{fields}\n{name}\n{upn}\n{password}\n<p><input id=\"blocked\" name=\"blocked\" type=\"checkbox\" value=\"1\"> <label for=\"blocked\">Block sign-in</label></p>\n<p><button type=\"submit\">Create</button> <a href=\"{base}/users\">Cancel</a></p>\n</form>",
        base = escape(&home(tenant)),
        name = field("displayName", "Display name", "text", &["displayName"], " required"),
        upn = field("userPrincipalName", "User name (name@domain)", "email", &["userPrincipalName"], " required"),
        password = field(
            "password",
            "Initial password (the user changes it at first sign-in)",
            "password",
            &["passwordProfile", "password"],
            " required autocomplete=\"new-password\""
        ),
    );
    let mut response = admin_page(tenant, caller, "New user", &body, &[csrf]);
    if let Some(problem) = problem {
        *response.status_mut() = status_of(problem);
    }
    response
}

/// `GET /{tenant}/admin/users/new`.
pub async fn new_user(State(state): State<IdentityState>, Path(tenant): Path<String>, headers: HeaderMap) -> Response {
    match signed_in(&state, &headers, &tenant).await {
        Ok(caller) => new_user_form(&state, &tenant, &caller, &HashMap::new(), None),
        Err(response) => *response,
    }
}

/// `POST /{tenant}/admin/users/new`: creates the user through the core, as Graph's `POST /users` would.
pub async fn create_user(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    form: Posted,
) -> Response {
    let (_, form, _) = match opened(&state, &headers, &tenant, form, PURPOSE).await {
        Ok(opened) => opened,
        Err(response) => return *response,
    };
    let caller = match signed_in(&state, &headers, &tenant).await {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or_default();
    let upn = field("userPrincipalName");
    let nickname: String =
        upn.split('@').next().unwrap_or_default().chars().filter(char::is_ascii_alphanumeric).collect();
    let body = json!({
        "accountEnabled": field("blocked") != "1",
        "displayName": field("displayName"),
        "userPrincipalName": upn,
        "mailNickname": if nickname.is_empty() { "user".to_owned() } else { nickname },
        "passwordProfile": {"password": form.get("password").cloned().unwrap_or_default(), "forceChangePasswordNextSignIn": true},
    });
    let body: Map<String, Value> = body.as_object().cloned().unwrap_or_default();
    match state.directory.users().create(&caller, &body).await {
        Ok(user) => redirect(&format!("{}/users/{}?done=created", home(&tenant), user.id), &[]),
        Err(e) => new_user_form(&state, &tenant, &caller, &form, Some(&e)),
    }
}

/// The user's page: their properties and the actions the caller may take, each its own form.
async fn user_page(state: &IdentityState, tenant: &str, caller: &Caller, id: &str, note: Option<&str>) -> Response {
    let user = match state.directory.users().get(caller, id).await {
        Ok(user) => user,
        Err(e) => return refused(tenant, caller, &e),
    };
    let text = |name: &str| escape(user.doc.get(name).and_then(Value::as_str).unwrap_or_default());
    let enabled = user.doc.get("accountEnabled").and_then(Value::as_bool).unwrap_or(false);
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "user": user.id}));
    let action = format!("{}/users/{}", escape(&home(tenant)), user.id);
    let button = |name: &str, label: &str| {
        format!("<form method=\"post\" action=\"{action}\">\n{fields}\n<button type=\"submit\" name=\"action\" value=\"{name}\">{label}</button>\n</form>")
    };
    let mut actions = Vec::new();
    if may(caller, Action::WriteUsers) {
        actions.push(match enabled {
            true => button("disable", "Block sign-in"),
            false => button("enable", "Allow sign-in"),
        });
    }
    if may(caller, Action::ResetPasswords) {
        actions.push(button("reset", "Reset password"));
    }
    if may(caller, Action::RevokeSessions) {
        actions.push(button("revoke", "Revoke sessions"));
    }
    if may(caller, Action::WriteUsers) {
        actions.push(button("delete", "Delete user"));
    }
    let note = note.map(|n| format!("<p role=\"status\" class=\"note\">{n}</p>\n")).unwrap_or_default();
    let body = format!(
        "<h1>{name}</h1>\n{note}<dl>\n<dt>User name</dt><dd id=\"upn\">{upn}</dd>\n<dt>Type</dt><dd>{kind}</dd>\n<dt>Sign-in</dt><dd id=\"state\">{state}</dd>\n<dt>Department</dt><dd>{department}</dd>\n<dt>Job title</dt><dd>{job}</dd>\n<dt>Object id</dt><dd>{id}</dd>\n</dl>\n<h2>Actions</h2>\n<div class=\"actions\">{actions}</div>",
        name = text("displayName"),
        upn = text("userPrincipalName"),
        kind = text("userType"),
        state = if enabled { "Allowed" } else { "Blocked" },
        department = text("department"),
        job = text("jobTitle"),
        id = user.id,
        actions = if actions.is_empty() { "<p class=\"empty\">Your roles allow no changes to this user.</p>".to_owned() } else { actions.join("\n") },
    );
    admin_page(tenant, caller, "User", &body, &[csrf])
}

/// `GET /{tenant}/admin/users/{id}`.
pub async fn user(
    State(state): State<IdentityState>,
    Path((tenant, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let caller = match signed_in(&state, &headers, &tenant).await {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    let note = query.get("done").and_then(|done| match done.as_str() {
        "created" => Some("The user was created."),
        _ => None,
    });
    user_page(&state, &tenant, &caller, &id, note).await
}

/// `POST /{tenant}/admin/users/{id}`: one action on the user; deletion only once confirmed.
pub async fn user_action(
    State(state): State<IdentityState>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    form: Posted,
) -> Response {
    let (_, form, ctx) = match opened(&state, &headers, &tenant, form, PURPOSE).await {
        Ok(opened) => opened,
        Err(response) => return *response,
    };
    let caller = match signed_in(&state, &headers, &tenant).await {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    if ctx.get("user").and_then(Value::as_str) != Some(id.as_str()) {
        let error = Error { message: "The form belongs to another user's page.".into(), ..Error::forbidden() };
        return refused(&tenant, &caller, &error);
    }
    let users = state.directory.users();
    let enabled = |on: bool| json!({"accountEnabled": on}).as_object().cloned().unwrap_or_default();
    let done = match form.get("action").map(String::as_str).unwrap_or_default() {
        "disable" => users.update(&caller, &id, &enabled(false)).await.map(|()| "Sign-in is blocked.".to_owned()),
        "enable" => users.update(&caller, &id, &enabled(true)).await.map(|()| "Sign-in is allowed.".to_owned()),
        "revoke" => users
            .revoke_sign_in_sessions(&caller, &id)
            .await
            .map(|()| "Every session and refresh token of the user was revoked.".to_owned()),
        "reset" => users.reset_password(&caller, &id).await.map(|password| {
            format!(
                "The password was reset. Give the user this temporary password; it is shown only now, and they change it at their next sign-in: <code id=\"temporary\">{}</code>",
                escape(&password)
            )
        }),
        "delete" => return confirm_delete(&state, &tenant, &caller, &id).await,
        "delete-confirmed" => {
            return match users.delete(&caller, &id).await {
                Ok(()) => redirect(&format!("{}/users", home(&tenant)), &[]),
                Err(e) => refused(&tenant, &caller, &e),
            }
        }
        _ => Err(Error::invalid("Choose an action.")),
    };
    match done {
        Ok(note) => user_page(&state, &tenant, &caller, &id, Some(&note)).await,
        Err(e) => refused(&tenant, &caller, &e),
    }
}

/// Asks before deleting: the user's name, what deletion does, and the one button that does it.
async fn confirm_delete(state: &IdentityState, tenant: &str, caller: &Caller, id: &str) -> Response {
    let user = match state.directory.users().get(caller, id).await {
        Ok(user) => user,
        Err(e) => return refused(tenant, caller, &e),
    };
    let name = escape(user.doc.get("displayName").and_then(Value::as_str).unwrap_or_default());
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "user": user.id}));
    let base = escape(&home(tenant));
    let body = format!(
        "<h1>Delete {name}?</h1>\n<p>The user goes to deleted users and can be restored for 30 days. Their sign-ins stop at once.</p>\n<form method=\"post\" action=\"{base}/users/{id}\">\n{fields}\n<button type=\"submit\" name=\"action\" value=\"delete-confirmed\" class=\"danger\">Delete</button> <a href=\"{base}/users/{id}\">Cancel</a>\n</form>",
        id = user.id,
    );
    admin_page(tenant, caller, "Delete user", &body, &[csrf])
}
