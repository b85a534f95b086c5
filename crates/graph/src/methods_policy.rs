//! The authentication methods policy: `/policies/authenticationMethodsPolicy` and each method's
//! configuration under `authenticationMethodConfigurations/{id}` (`SoftwareOath`, `TemporaryAccessPass`,
//! `Email`), read and changed (`PATCH`, `204`).

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::GraphResult;
use crate::odata;
use crate::GraphState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

const POLICY: &str = "policies/authenticationMethodsPolicy";
const CONFIGURATIONS: &str = "policies/authenticationMethodsPolicy/authenticationMethodConfigurations";

pub fn routes() -> Router<GraphState> {
    Router::new()
        .route(
            &format!("/{POLICY}"),
            get(|State(state): State<GraphState>, Authenticated(caller): Authenticated| async move {
                let policy = state.directory.methods_policy().get(&caller).await?;
                GraphResult::Ok(Json(odata::entity(POLICY, None, policy)))
            }),
        )
        .route(
            &format!("/{CONFIGURATIONS}/{{id}}"),
            get(|State(state): State<GraphState>, Authenticated(caller): Authenticated, Path(id): Path<String>| async move {
                let configuration = state.directory.methods_policy().configuration(&caller, &id).await?;
                GraphResult::Ok(Json(odata::entity(CONFIGURATIONS, None, configuration)))
            })
            .patch(
                |State(state): State<GraphState>,
                 Authenticated(caller): Authenticated,
                 Path(id): Path<String>,
                 JsonObject(body): JsonObject| async move {
                    state.directory.methods_policy().update_configuration(&caller, &id, &body).await?;
                    GraphResult::Ok(StatusCode::NO_CONTENT)
                },
            ),
        )
}
