//! The admin center's guests: the tenant's guest users a page at a time with their invitation state, and
//! an invitation (by email, with the link to redeem it shown and, when asked, mailed) through the same use
//! case as Graph's `POST /invitations`, so the tenant's collaboration settings decide who may invite whom.

use super::{
    admin_page, home, input, listing_of, may, next_link, search_form, table, Admin, AdminForm, Searched, PURPOSE,
};
use crate::pages::{escape, hidden_fields};
use crate::IdentityState;
use axum::extract::{Query, State};
use axum::response::Response;
use gatehouse_core::auth::authorization::Action;
use gatehouse_core::filter::{Filter, Literal, Op, Test};
use gatehouse_core::kernel::error::Error;
use gatehouse_core::Caller;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The guests page: the list, and the invitation form with what the last invitation came to.
async fn guests_page(
    state: &IdentityState,
    (tenant, caller): (&str, &Caller),
    query: &HashMap<String, String>,
    outcome: Option<Result<String, Error>>,
) -> Response {
    let (search, mut listing) = listing_of(state, query, "admin-guests", Searched::Names);
    let guests =
        Filter::Property { property: "userType".into(), test: Test::Compare(Op::Eq, Literal::Text("guest".into())) };
    listing.filter = Some(match listing.filter.take() {
        Some(name) => Filter::And(Box::new(guests), Box::new(name)),
        None => guests,
    });
    let page = match state.directory.users().list(caller, listing).await {
        Ok(page) => page,
        Err(e) => return super::refused(tenant, caller, &e),
    };
    let path = format!("{}/guests", home(tenant));
    let rows: Vec<String> = page
        .items
        .iter()
        .map(|guest| {
            let text = |name: &str| escape(guest.doc.get(name).and_then(Value::as_str).unwrap_or_default());
            let accepted = match text("externalUserState").as_str() {
                "Accepted" => "Accepted",
                _ => "Pending acceptance",
            };
            format!(
                "<tr><td><a href=\"{}/users/{}\">{}</a></td><td>{}</td><td>{accepted}</td></tr>\n",
                escape(&home(tenant)),
                guest.id,
                text("displayName"),
                text("mail"),
            )
        })
        .collect();
    let (note, problem) = match &outcome {
        Some(Ok(note)) => (format!("<div role=\"status\" class=\"note\">{note}</div>\n"), None),
        Some(Err(e)) => (String::new(), Some(e)),
        None => (String::new(), None),
    };
    let at = |name: &str| problem.filter(|p| p.target.as_deref() == Some(name)).map(|p| p.message.as_str());
    let general = problem
        .filter(|p| !matches!(p.target.as_deref(), Some("invitedUserEmailAddress" | "inviteRedirectUrl")))
        .map(|p| format!("<p role=\"alert\">{}</p>\n", escape(&p.message)))
        .unwrap_or_default();
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "form": "invite"}));
    let invite = match may(caller, Action::InviteGuests) {
        true => format!(
            "<h2>Invite a guest</h2>\n{general}<form method=\"post\" action=\"{}\">\n{fields}\n{}\n{}\n<p><input id=\"send\" name=\"send\" type=\"checkbox\" value=\"1\" checked> <label for=\"send\">Send the invitation by email</label></p>\n<p><button type=\"submit\" name=\"action\" value=\"invite\">Invite</button></p>\n</form>",
            escape(&path),
            input("invitedUserEmailAddress", "Email address", "email", "", at("invitedUserEmailAddress"), " required"),
            input("inviteRedirectUrl", "Where they land after accepting", "url", "https://myapps.microsoft.com", at("inviteRedirectUrl"), " required"),
        ),
        false => String::new(),
    };
    let body = format!(
        "<h1>Guests</h1>\n{note}{}\n{}\n{}\n{invite}",
        search_form(&path, "Search by name", &search),
        table("Guest users", &["Name", "Email", "Invitation"], &rows, "There are no guests."),
        next_link(state, "admin-guests", &path, &search, page.next),
    );
    let mut response = admin_page(tenant, caller, "Guests", &body, &[csrf]);
    if let Some(problem) = problem {
        *response.status_mut() = super::status_of(problem);
    }
    response
}

/// `GET /{tenant}/admin/guests?search=…&page=…`.
pub async fn guests(
    State(state): State<IdentityState>,
    Admin { tenant, caller }: Admin,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    guests_page(&state, (&tenant, &caller), &query, None).await
}

/// `POST /{tenant}/admin/guests`: an invitation.
pub async fn invite(State(state): State<IdentityState>, AdminForm { tenant, caller, form }: AdminForm) -> Response {
    let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or_default();
    let body = json!({
        "invitedUserEmailAddress": field("invitedUserEmailAddress"),
        "inviteRedirectUrl": field("inviteRedirectUrl"),
        "sendInvitationMessage": field("send") == "1",
    });
    let made = state.directory.invitations().invite(&caller, body.as_object().unwrap_or(&serde_json::Map::new())).await;
    let outcome = made.map(|invitation| {
        let link = invitation.get("inviteRedeemUrl").and_then(Value::as_str).unwrap_or_default();
        format!(
            "<p>{} was invited.</p>\n<p>The link to accept: <a id=\"redeem\" href=\"{link}\">{link}</a></p>",
            escape(field("invitedUserEmailAddress")),
            link = escape(link)
        )
    });
    guests_page(&state, (&tenant, &caller), &HashMap::new(), Some(outcome)).await
}
