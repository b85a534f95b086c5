//! The Microsoft Graph v1.0 adapter: routes, OData query options, JSON shapes and Graph's error bodies.
//!
//! Handlers only translate: they parse the request into core calls and turn results and core errors into
//! Graph's shapes. They never check permissions; the core does, with the caller the [`auth`] extractor
//! produced from the bearer token.

mod applications;
mod assignments;
mod audit;
mod auth;
mod authorization_policy;
mod batch;
mod body;
mod conditional_access;
mod consent;
mod contacts;
mod deleted;
mod domains;
mod error;
mod filter;
mod groups;
mod invitations;
mod licensing;
mod me;
mod methods;
mod methods_policy;
mod objects;
mod odata;
mod organization;
mod provisioning;
mod roles;
mod settings;
mod sharing;
mod users;

use axum::Router;
use gatehouse_core::Directory;
use std::sync::Arc;

pub use error::GraphError;

/// Largest request body the Graph API accepts.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct GraphState {
    pub directory: Arc<Directory>,
}

pub use conditional_access::beta_router;

/// The Graph routes, to be nested under `/v1.0`.
pub fn router(directory: Arc<Directory>) -> Router {
    let state = GraphState { directory };
    let routes: Router = Router::new()
        .merge(users::routes())
        .merge(applications::routes())
        .merge(groups::routes())
        .merge(contacts::routes())
        .merge(licensing::routes())
        .merge(organization::routes())
        .merge(deleted::routes())
        .merge(domains::routes())
        .merge(consent::routes())
        .merge(assignments::routes())
        .merge(roles::routes())
        .merge(settings::routes())
        .merge(methods::routes())
        .merge(conditional_access::routes())
        .merge(audit::routes())
        .merge(methods_policy::routes())
        .merge(invitations::routes())
        .merge(authorization_policy::routes())
        .merge(sharing::routes())
        .merge(provisioning::routes())
        .fallback(error::unknown_segment)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state.clone());
    let me = me::routes(me::MeState { routes: routes.clone(), graph: state.clone() });
    let routes = routes.merge(me);
    let batch = Router::new()
        .route("/$batch", axum::routing::post(batch::batch))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(batch::BatchState { routes: routes.clone(), graph: state });
    routes.merge(batch)
}
