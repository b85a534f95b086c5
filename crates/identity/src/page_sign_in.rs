//! The sign-in of Gatehouse's own pages that are not authorization requests (My Sign-ins, My Account, the
//! admin center): one form, the password then the code of a person's authenticator app, the session that
//! results, and the sign-in recorded in the log under the page's first-party name.

use crate::pages::{
    cookie, factor_context, hidden_fields, read_cookie, second_factor_answer, second_factor_body, shown, sign_in_body,
    SESSION_COOKIE,
};
use crate::IdentityState;
use axum::http::HeaderMap;
use gatehouse_core::sign_in::admin_center::FirstParty;
use gatehouse_core::sign_in::authorize::{Entered, Session};
use gatehouse_core::sign_in::Tenancy;
use serde_json::{json, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// The browser's session with the tenant, when its cookie holds a live one.
pub(crate) async fn page_session(state: &IdentityState, headers: &HeaderMap, tenant: Uuid) -> Option<Session> {
    let value = read_cookie(headers, SESSION_COOKIE)?;
    state.directory.sign_in().session(&value).await.filter(|s| s.tenant == tenant)
}

/// The sign-in form of a page that is not an authorization request (My Sign-ins, My Account, the admin
/// center), posted back to `action` under `purpose`: its body and the CSRF cookie that goes with it.
/// `problem` is the name entered and what to say of it.
pub(crate) fn page_sign_in_form(
    state: &IdentityState,
    (purpose, tenant, action): (&str, &str, &str),
    problem: Option<(&str, &str)>,
) -> (String, String) {
    let (fields, csrf) = hidden_fields(state, purpose, &json!({"path": tenant}));
    let (login, message) = problem.map_or(("", None), |(login, message)| (login, Some(message)));
    (sign_in_body(action, &fields, login, message, false), csrf)
}

/// What a page's sign-in form came to ([`page_entry`]).
pub(crate) enum PageEntry {
    /// Signed in with every factor the person must give: the cookie that keeps the session, and the session.
    In(String, Session),
    /// The password was right and the person's authenticator app is asked for next: the form's body and
    /// the cookies that go with it (the session so far, the form's CSRF token).
    Code(String, Vec<String>),
    /// Refused: the name entered and what to say beside it.
    Refused(String, String),
}

/// Where a page's sign-in form posts: the form's purpose, the tenant as the path names it and its id, and
/// the page's address.
#[derive(Clone, Copy)]
pub(crate) struct PageDoor<'a> {
    pub purpose: &'a str,
    pub path: &'a str,
    pub tenant: Uuid,
    pub action: &'a str,
    /// The page, as the sign-in log names it.
    pub page: FirstParty,
}

fn session_cookie(state: &IdentityState, session: &Session) -> String {
    cookie(SESSION_COOKIE, &state.directory.sign_in().session_value(session), "Lax", None)
}

/// The form that asks for the person's code, with the session so far kept beside it.
fn code_entry(
    state: &IdentityState,
    door: PageDoor<'_>,
    session: &Session,
    factor: &Value,
    problem: Option<&str>,
) -> PageEntry {
    let (fields, csrf) = hidden_fields(state, door.purpose, &json!({"path": door.path, "factor": factor}));
    let body = second_factor_body(door.action, &fields, factor, problem);
    PageEntry::Code(body, vec![session_cookie(state, session), csrf])
}

/// A person signed in to a page with every factor it asks for: the sign-in recorded in the log, and the
/// session with its cookie.
async fn entered(
    state: &IdentityState,
    door: PageDoor<'_>,
    session: Session,
    browser: &gatehouse_core::sign_in::Browser,
) -> PageEntry {
    if let Err(e) = state.directory.sign_in().log_page_sign_in(&session, door.page, browser).await {
        return PageEntry::Refused(String::new(), e.message);
    }
    PageEntry::In(session_cookie(state, &session), session)
}

/// The sign-in form of a page that is not an authorization request, answered: the password, then, for a
/// person who holds an authenticator app, the form that asks for its code.
pub(crate) async fn page_password(
    state: &IdentityState,
    door: PageDoor<'_>,
    form: &HashMap<String, String>,
    browser: &gatehouse_core::sign_in::Browser,
) -> PageEntry {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let sign_in = state.directory.sign_in();
    let login = field("login").to_owned();
    match sign_in.password_session(Tenancy::Tenant(door.tenant), &login, field("passwd"), browser).await {
        Ok(Entered::SignedIn(session)) => match sign_in.page_factor(&session).await {
            Ok(None) => entered(state, door, session, browser).await,
            Ok(Some(factor)) => code_entry(state, door, &session, &factor_context(&factor), None),
            Err(e) => PageEntry::Refused(login, shown(&e)),
        },
        Ok(Entered::MustChangePassword) => PageEntry::Refused(
            login,
            "Your password must be changed first: sign in to an application to change it.".into(),
        ),
        Err(e) => PageEntry::Refused(login, shown(&e)),
    }
}

/// The sign-in form of a page that is not an authorization request, answered: the password (`login`,
/// `passwd`), or the code (`otc`) of the factor the form carried in its context `ctx`. `None` when the
/// form is neither.
pub(crate) async fn page_entry(
    state: &IdentityState,
    door: PageDoor<'_>,
    (headers, form, ctx): (&HeaderMap, &HashMap<String, String>, &Value),
    browser: &gatehouse_core::sign_in::Browser,
) -> Option<PageEntry> {
    if form.contains_key("login") {
        return Some(page_password(state, door, form, browser).await);
    }
    let factor = ctx.get("factor").filter(|_| form.contains_key("otc"))?;
    let Some(session) = page_session(state, headers, door.tenant).await else {
        return Some(PageEntry::Refused(String::new(), "The sign-in expired. Sign in again.".into()));
    };
    let code = form.get("otc").map(String::as_str).unwrap_or_default();
    Some(match second_factor_answer(state, &session, factor, code, browser.ip).await {
        Ok(session) => entered(state, door, session, browser).await,
        Err(problem) => code_entry(state, door, &session, factor, Some(&problem)),
    })
}
