//! My Account, `/{tenant}/myaccount`: every person, member or guest, signs in and sees their profile and
//! the groups they are in, changes their password, and reaches their security info (My Sign-ins). The
//! core makes the caller (`sign_in::my_account`) and decides each step, as for the admin center.

use crate::admin::{input, table, CSP, STYLESHEET_PATH};
use crate::pages::{
    escape, hidden_fields, new_password, one_tenant, opened, page, page_entry, page_sign_in_form, read_cookie,
    redirect, PageDoor, PageEntry, Posted, SESSION_COOKIE,
};
use crate::{browser_of, IdentityState, Peer};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use gatehouse_core::kernel::error::Error;
use gatehouse_core::query::Listing;
use gatehouse_core::sign_in::authorize::Session;
use gatehouse_core::store::Relation;
use gatehouse_core::Caller;
use serde_json::{json, Value};

const PURPOSE: &str = "myaccount";
/// Groups the page lists.
const GROUPS_SHOWN: u32 = 100;

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
    let rows: Vec<String> = groups
        .map(|page| page.items)
        .unwrap_or_default()
        .iter()
        .map(|group| {
            let name = group.doc.get("displayName").and_then(Value::as_str).unwrap_or_default();
            format!("<tr><td>{}</td></tr>\n", escape(name))
        })
        .collect();
    let text = |name: &str| escape(user.doc.get(name).and_then(Value::as_str).unwrap_or_default());
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant}));
    let at = |name: &str| problem.filter(|p| p.target.as_deref() == Some(name)).map(|p| p.message.as_str());
    let general = problem
        .filter(|p| !matches!(p.target.as_deref(), Some("currentPassword" | "newPassword")))
        .map(|p| format!("<p role=\"alert\">{}</p>\n", escape(&p.message)))
        .unwrap_or_default();
    let note = note.map(|n| format!("<p role=\"status\" class=\"note\">{}</p>\n", escape(n))).unwrap_or_default();
    let body = format!(
        "<h1>{name}</h1>\n{note}<h2>Profile</h2>\n<dl>\n<dt>User name</dt><dd id=\"upn\">{upn}</dd>\n<dt>Email</dt><dd>{mail}</dd>\n<dt>Job title</dt><dd>{job}</dd>\n<dt>Department</dt><dd>{department}</dd>\n</dl>\n<h2>Groups</h2>\n{groups}\n<h2 id=\"password\">Change password</h2>\n{general}<form method=\"post\" action=\"{action}\">\n{fields}\n<input type=\"hidden\" name=\"username\" autocomplete=\"username\" value=\"{upn}\">\n{current}\n{new}\n{confirm}\n<p><button type=\"submit\" name=\"action\" value=\"change-password\">Change password</button></p>\n</form>",
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

async fn session_of(state: &IdentityState, headers: &HeaderMap, tenant: &str) -> Option<Session> {
    let tenant_id = one_tenant(state, tenant).await.ok()?;
    let value = read_cookie(headers, SESSION_COOKIE)?;
    state.directory.sign_in().session(&value).await.filter(|s| s.tenant == tenant_id)
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
    let door = PageDoor { purpose: PURPOSE, path: &tenant, tenant: tenant_id, action: &here };
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
