//! The admin center's licences: the tenant's subscriptions with their seats, and the groups whose members'
//! licences are in error, for those who manage licences.

use super::{admin_page, home, refused, table, unless_allowed, Admin};
use crate::pages::escape;
use crate::IdentityState;
use axum::extract::State;
use axum::response::Response;
use gatehouse_core::auth::authorization::Action;
use gatehouse_core::filter::Filter;
use gatehouse_core::query::Listing;
use serde_json::Value;

/// Groups with licence errors the page lists.
const ERRING_SHOWN: u32 = 100;

/// `GET /{tenant}/admin/licenses`: each product with its seats taken and available. Only for those whose
/// roles let them assign licences (a Helpdesk Administrator gets the refusal).
pub async fn licenses(State(state): State<IdentityState>, Admin { tenant, caller }: Admin) -> Response {
    if let Some(response) = unless_allowed(&tenant, &caller, Action::AssignLicenses, "managing licences") {
        return response;
    }
    let skus = match state.directory.licensing().subscribed_skus(&caller).await {
        Ok(skus) => skus,
        Err(e) => return refused(&tenant, &caller, &e),
    };
    let rows: Vec<String> = skus
        .iter()
        .map(|sku| {
            let consumed = sku["consumedUnits"].as_u64().unwrap_or_default();
            let enabled = sku["prepaidUnits"]["enabled"].as_u64().unwrap_or_default();
            format!(
                "<tr><td>{}</td><td class=\"consumed\">{consumed}</td><td>{enabled}</td><td>{}</td><td>{}</td></tr>\n",
                escape(sku["skuPartNumber"].as_str().unwrap_or_default()),
                enabled.saturating_sub(consumed),
                escape(sku["capabilityStatus"].as_str().unwrap_or_default()),
            )
        })
        .collect();
    // The groups some of whose members their licences could not reach (Graph's `hasMembersWithLicenseErrors`),
    // each linking to the page that lists those members with the fix.
    let erring = Filter::Referenced { property: "licenseErrorGroups".into() };
    let listing = Listing { filter: Some(erring), order: Vec::new(), after: None, top: ERRING_SHOWN, count: false };
    let groups = state.directory.groups().list(&caller, listing).await.map(|page| page.items).unwrap_or_default();
    let erring_rows: Vec<String> = groups
        .iter()
        .map(|group| {
            let name = escape(group.doc.get("displayName").and_then(Value::as_str).unwrap_or_default());
            format!("<tr><td><a href=\"{}/groups/{}\">{name}</a></td></tr>\n", escape(&home(&tenant)), group.id)
        })
        .collect();
    let body = format!(
        "<h1>Licences</h1>\n<p>Assign a product to a group on the group's page: its members get it, each with its own state.</p>\n{}\n<h2>Assignment errors</h2>\n{}",
        table(
            "Subscriptions",
            &["Product", "Assigned", "Total", "Available", "Status"],
            &rows,
            "The tenant has no subscriptions yet (gatehouse subscription add)."
        ),
        table(
            "Groups with members whose licences are in error (each group's page gives the error and the fix)",
            &["Group"],
            &erring_rows,
            "No group's licences are in error."
        ),
    );
    admin_page(&tenant, &caller, "Licences", &body, &[])
}
