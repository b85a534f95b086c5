//! `/policies/authorizationPolicy`: read, and changed with `PATCH` (`204`).

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::GraphResult;
use crate::odata;
use crate::GraphState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

const POLICY: &str = "policies/authorizationPolicy";

pub fn routes() -> Router<GraphState> {
    Router::new().route(
        &format!("/{POLICY}"),
        get(|State(state): State<GraphState>, Authenticated(caller): Authenticated| async move {
            let policy = state.directory.authorization_policy().get(&caller).await?;
            GraphResult::Ok(Json(odata::entity(POLICY, None, policy)))
        })
        .patch(|State(state): State<GraphState>, Authenticated(caller): Authenticated, JsonObject(body): JsonObject| async move {
            state.directory.authorization_policy().update(&caller, &body).await?;
            GraphResult::Ok(StatusCode::NO_CONTENT)
        }),
    )
}
