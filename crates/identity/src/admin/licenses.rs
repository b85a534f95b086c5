//! The admin center's licences: the tenant's subscriptions with their seats, for those who manage licences.

use super::{admin_page, refused, table, unless_allowed, Admin};
use crate::pages::escape;
use crate::IdentityState;
use axum::extract::State;
use axum::response::Response;
use gatehouse_core::auth::authorization::Action;

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
    let body = format!(
        "<h1>Licences</h1>\n<p>Assign a product to a group on the group's page: its members get it, each with its own state.</p>\n{}",
        table(
            "Subscriptions",
            &["Product", "Assigned", "Total", "Available", "Status"],
            &rows,
            "The tenant has no subscriptions yet (gatehouse subscription add)."
        )
    );
    admin_page(&tenant, &caller, "Licences", &body, &[])
}
