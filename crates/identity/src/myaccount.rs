//! My Account, `/{tenant}/myaccount`: every person, member or guest, signs in and sees their profile, the
//! apps assigned to them (a launcher), the groups they are in and their recent sign-ins, changes their
//! password, and reaches their security info (My Sign-ins). The
//! core makes the caller (`sign_in::my_account`) and decides each step, as for the admin center.

use crate::admin::{by_app_id, input, table, CSP, STYLESHEET_PATH};
use crate::page_sign_in::{page_entry, page_session, page_sign_in_form, PageDoor, PageEntry};
use crate::pages::{escape, hidden_fields, new_password, one_tenant, opened, origin_of, page, redirect, Posted};
use crate::{browser_of, IdentityState, Peer};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use gatehouse_core::kernel::error::Error;
use gatehouse_core::query::Listing;
use gatehouse_core::sign_in::admin_center::FirstParty;
use gatehouse_core::sign_in::authorize::Session;
use gatehouse_core::store::{ObjectKind, ObjectRecord, Relation};
use gatehouse_core::Caller;
use serde_json::{json, Value};

const PURPOSE: &str = "myaccount";
/// Groups the page lists.
const GROUPS_SHOWN: u32 = 100;
/// Sign-ins the page lists.
const RECENT_SIGN_INS: u32 = 10;

fn action(tenant: &str) -> String {
    format!("/{tenant}/myaccount")
}

pub(crate) fn framed(title: &str, body: &str, cookies: &[String], status: StatusCode) -> Response {
    let body = format!("<link rel=\"stylesheet\" href=\"{STYLESHEET_PATH}\">\n{body}");
    page(status, title, &body, CSP, cookies)
}

/// A page of My Account for a signed-in person: its header and navigation (the overview, security info, sign
/// out), then `body`.
pub(crate) fn account_page(tenant: &str, title: &str, body: &str, cookies: &[String], status: StatusCode) -> Response {
    let tenant = escape(tenant);
    let body = format!(
        "<header><p class=\"brand\">My Account</p>\n<nav aria-label=\"My Account\"><a href=\"/{tenant}/myaccount\">Overview</a> <a href=\"/{tenant}/mysignins\">Security info</a> <a href=\"/{tenant}/oauth2/v2.0/logout\">Sign out</a></nav></header>\n{body}"
    );
    framed(title, &body, cookies, status)
}

fn sign_in_page(state: &IdentityState, tenant: &str, problem: Option<(&str, &str)>) -> Response {
    let (body, csrf) = page_sign_in_form(state, (PURPOSE, tenant, &action(tenant)), problem);
    framed("My Account", &body, &[csrf], StatusCode::OK)
}

/// The person's overview: profile, groups, the password form (with its problem, when the last change was
/// refused) and the way to their security info.
async fn overview(
    state: &IdentityState,
    tenant: &str,
    caller: &Caller,
    note: Option<&str>,
    problem: Option<&Error>,
) -> Response {
    let Some(me) = caller.user().map(|id| id.to_string()) else { return sign_in_page(state, tenant, None) };
    let user = match state.directory.users().get(caller, &me).await {
        Ok(user) => user,
        Err(e) => {
            return framed(
                "My Account",
                &format!("<p role=\"alert\">{}</p>", escape(&e.message)),
                &[],
                StatusCode::FORBIDDEN,
            )
        }
    };
    let listing = Listing { filter: None, order: Vec::new(), after: None, top: GROUPS_SHOWN, count: false };
    let groups = state.directory.groups().member_of(caller, &me, Relation::Member, false, listing).await;
    let groups_held: Vec<ObjectRecord> = groups.map(|page| page.items).unwrap_or_default();
    let rows: Vec<String> = groups_held
        .iter()
        .map(|group| {
            let name = group.doc.get("displayName").and_then(Value::as_str).unwrap_or_default();
            format!("<tr><td>{}</td></tr>\n", escape(name))
        })
        .collect();
    let apps = my_apps(state, caller, &me, &groups_held).await;
    let activity = recent_sign_ins(state, caller).await;
    let text = |name: &str| escape(user.doc.get(name).and_then(Value::as_str).unwrap_or_default());
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant}));
    let at = |name: &str| problem.filter(|p| p.target.as_deref() == Some(name)).map(|p| p.message.as_str());
    let general = problem
        .filter(|p| !matches!(p.target.as_deref(), Some("currentPassword" | "newPassword")))
        .map(|p| format!("<p role=\"alert\">{}</p>\n", escape(&p.message)))
        .unwrap_or_default();
    let note = note.map(|n| format!("<p role=\"status\" class=\"note\">{}</p>\n", escape(n))).unwrap_or_default();
    let body = format!(
        "<h1>{name}</h1>\n{note}<h2>Profile</h2>\n<dl>\n<dt>User name</dt><dd id=\"upn\">{upn}</dd>\n<dt>Email</dt><dd>{mail}</dd>\n<dt>Job title</dt><dd>{job}</dd>\n<dt>Department</dt><dd>{department}</dd>\n</dl>\n<h2>My apps</h2>\n{apps}\n<h2>Groups</h2>\n{groups}\n<h2>Recent sign-ins</h2>\n{activity}\n<h2 id=\"password\">Change password</h2>\n{general}<form method=\"post\" action=\"{action}\">\n{fields}\n<input type=\"hidden\" name=\"username\" autocomplete=\"username\" value=\"{upn}\">\n{current}\n{new}\n{confirm}\n<p><button type=\"submit\" name=\"action\" value=\"change-password\">Change password</button></p>\n</form>",
        action = escape(&action(tenant)),
        name = text("displayName"),
        upn = text("userPrincipalName"),
        mail = text("mail"),
        job = text("jobTitle"),
        department = text("department"),
        groups = table("Groups you are a member of", &["Name"], &rows, "You are in no groups."),
        current = input("currentPassword", "Current password", "password", "", at("currentPassword"), " required autocomplete=\"current-password\""),
        new = input("newPassword", "New password", "password", "", at("newPassword"), " required autocomplete=\"new-password\""),
        confirm = input("confirmNewPassword", "Confirm new password", "password", "", None, " required autocomplete=\"new-password\""),
    );
    let status = problem.map_or(StatusCode::OK, |_| StatusCode::BAD_REQUEST);
    account_page(tenant, "My Account", &body, &[csrf], status)
}

/// The apps the person is assigned to, directly or through a group they are a direct member of (as Entra's
/// My Apps lists them), each a link to where it starts: its registration's home page, else the origin of its
/// first web or single-page redirect URI.
async fn my_apps(state: &IdentityState, caller: &Caller, me: &str, groups: &[ObjectRecord]) -> String {
    let applications = state.directory.applications();
    let mut assignments = applications.app_role_assignments(caller, ObjectKind::User, me).await.unwrap_or_default();
    for group in groups {
        let held = applications.app_role_assignments(caller, ObjectKind::Group, &group.id.to_string()).await;
        assignments.extend(held.unwrap_or_default());
    }
    let mut resources: Vec<uuid::Uuid> = assignments.iter().map(|a| a.record.resource).collect();
    resources.sort();
    resources.dedup();
    let mut tiles = Vec::new();
    for resource in resources {
        let Ok(sp) = applications.get(caller, ObjectKind::ServicePrincipal, &resource.to_string()).await else {
            continue;
        };
        let name = sp.doc.get("displayName").and_then(Value::as_str).unwrap_or_default();
        let app_id = sp.doc.get("appId").and_then(Value::as_str).unwrap_or_default();
        let app = by_app_id(state, caller, ObjectKind::Application, app_id).await;
        let start = app.and_then(|app| {
            let web = app.doc.get("web").cloned().unwrap_or(Value::Null);
            let home = web["homePageUrl"].as_str().map(str::to_owned);
            let first = |kind: &str| app.doc.get(kind).and_then(|k| k["redirectUris"][0].as_str()).map(origin_of);
            home.or_else(|| first("web")).or_else(|| first("spa"))
        });
        tiles.push(match start {
            Some(start) => format!("<li><a href=\"{}\">{}</a></li>", escape(&start), escape(name)),
            None => format!("<li>{}</li>", escape(name)),
        });
    }
    match tiles.is_empty() {
        true => "<p class=\"empty\">No apps are assigned to you.</p>".to_owned(),
        false => format!("<ul id=\"apps\">{}</ul>", tiles.concat()),
    }
}

/// The person's own recent sign-ins: when, to what, from where, and how it ended.
async fn recent_sign_ins(state: &IdentityState, caller: &Caller) -> String {
    let records = state.directory.sign_in().own_logs(caller, RECENT_SIGN_INS).await.unwrap_or_default();
    let rows: Vec<String> = records
        .iter()
        .map(|record| {
            let text = |name: &str| escape(record.doc.get(name).and_then(Value::as_str).unwrap_or_default());
            let outcome = match record.error_code {
                0 => "Successful".to_owned(),
                code => format!("Unsuccessful ({code})"),
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{outcome}</td></tr>\n",
                text("createdDateTime"),
                text("appDisplayName"),
                text("ipAddress")
            )
        })
        .collect();
    table("Your recent sign-ins, newest first", &["Date", "App", "IP address", "Result"], &rows, "No sign-ins yet.")
}

async fn session_of(state: &IdentityState, headers: &HeaderMap, tenant: &str) -> Option<Session> {
    page_session(state, headers, one_tenant(state, tenant).await.ok()?).await
}

/// `GET /{tenant}/myaccount`.
pub async fn my_account(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = one_tenant(&state, &tenant).await {
        return *response;
    }
    let Some(session) = session_of(&state, &headers, &tenant).await else { return sign_in_page(&state, &tenant, None) };
    match state.directory.sign_in().my_account(&session).await {
        Ok(caller) => overview(&state, &tenant, &caller, None, None).await,
        Err(e) => sign_in_page(&state, &tenant, Some(("", &e.message))),
    }
}

/// `POST /{tenant}/myaccount`: the sign-in, or a password change.
pub async fn my_account_form(
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
    let here = action(&tenant);
    let door =
        PageDoor { purpose: PURPOSE, path: &tenant, tenant: tenant_id, action: &here, page: FirstParty::MyAccount };
    match page_entry(&state, door, (&headers, &form, &ctx), &browser_of(peer, &headers)).await {
        Some(PageEntry::In(kept, _)) => return redirect(&here, &[kept]),
        Some(PageEntry::Code(body, cookies)) => return framed("My Account", &body, &cookies, StatusCode::OK),
        Some(PageEntry::Refused(login, message)) => return sign_in_page(&state, &tenant, Some((&login, &message))),
        None => {}
    }
    let Some(session) = session_of(&state, &headers, &tenant).await else { return sign_in_page(&state, &tenant, None) };
    let caller = match sign_in.my_account(&session).await {
        Ok(caller) => caller,
        Err(e) => return sign_in_page(&state, &tenant, Some(("", &e.message))),
    };
    let (current, new) = match new_password(&form) {
        Ok(passwords) => passwords,
        Err(message) => {
            let error = Error::invalid_property("newPassword", message);
            return overview(&state, &tenant, &caller, None, Some(&error)).await;
        }
    };
    let me = session.user.to_string();
    match state.directory.users().change_password(&caller, &me, current, new).await {
        Ok(()) => {
            // A password change ends every sign-in, this one too: the next page asks again.
            let note = "Your password was changed. Sign in again with the new one.";
            let body = format!("<h1>Password changed</h1>\n<p role=\"status\" class=\"note\">{note}</p>\n<p><a href=\"{}\">Sign in</a></p>", escape(&action(&tenant)));
            framed("My Account", &body, &[], StatusCode::OK)
        }
        Err(e) => overview(&state, &tenant, &caller, None, Some(&e)).await,
    }
}
