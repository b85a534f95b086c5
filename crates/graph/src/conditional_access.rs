//! Conditional Access: `/identity/conditionalAccess/policies`, `/identity/conditionalAccess/namedLocations`
//! and the What If evaluation `/identity/conditionalAccess/evaluate` (also under `/beta`, where Graph first
//! published it). `Prefer: lockout-confirmed` lets a write enable a policy that blocks its own caller or
//! every user.

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::GraphResult;
use crate::odata::{self, context_url};
use crate::GraphState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

const POLICIES: &str = "identity/conditionalAccess/policies";
const LOCATIONS: &str = "identity/conditionalAccess/namedLocations";

/// Whether the request confirms a policy that may lock people out.
fn confirmed(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("lockout-confirmed"))
}

fn collection(context: &str, items: Vec<serde_json::Map<String, Value>>) -> Json<Value> {
    let value: Vec<Value> = items.into_iter().map(Value::Object).collect();
    Json(json!({"@odata.context": context_url(context, None), "value": value}))
}

pub fn routes() -> Router<GraphState> {
    Router::new()
        .route(
            &format!("/{POLICIES}"),
            get(|State(state): State<GraphState>, Authenticated(caller): Authenticated| async move {
                let policies = state.directory.conditional_access().policies(&caller).await?;
                GraphResult::Ok(collection(POLICIES, policies))
            })
            .post(
                |State(state): State<GraphState>,
                 Authenticated(caller): Authenticated,
                 headers: HeaderMap,
                 JsonObject(body): JsonObject| async move {
                    let access = state.directory.conditional_access();
                    let policy = access.create_policy(&caller, &body, confirmed(&headers)).await?;
                    GraphResult::Ok((StatusCode::CREATED, Json(odata::entity(POLICIES, None, policy))))
                },
            ),
        )
        .route(
            &format!("/{POLICIES}/{{id}}"),
            get(|State(state): State<GraphState>, Authenticated(caller): Authenticated, Path(id): Path<String>| async move {
                let policy = state.directory.conditional_access().policy(&caller, &id).await?;
                GraphResult::Ok(Json(odata::entity(POLICIES, None, policy)))
            })
            .patch(
                |State(state): State<GraphState>,
                 Authenticated(caller): Authenticated,
                 Path(id): Path<String>,
                 headers: HeaderMap,
                 JsonObject(body): JsonObject| async move {
                    let access = state.directory.conditional_access();
                    access.update_policy(&caller, &id, &body, confirmed(&headers)).await?;
                    GraphResult::Ok(StatusCode::NO_CONTENT)
                },
            )
            .delete(|State(state): State<GraphState>, Authenticated(caller): Authenticated, Path(id): Path<String>| async move {
                state.directory.conditional_access().delete_policy(&caller, &id).await?;
                GraphResult::Ok(StatusCode::NO_CONTENT)
            }),
        )
        .route(
            &format!("/{LOCATIONS}"),
            get(|State(state): State<GraphState>, Authenticated(caller): Authenticated| async move {
                let locations = state.directory.conditional_access().locations(&caller).await?;
                GraphResult::Ok(collection(LOCATIONS, locations))
            })
            .post(|State(state): State<GraphState>, Authenticated(caller): Authenticated, JsonObject(body): JsonObject| async move {
                let location = state.directory.conditional_access().create_location(&caller, &body).await?;
                GraphResult::Ok((StatusCode::CREATED, Json(odata::entity(LOCATIONS, None, location))))
            }),
        )
        .route(
            &format!("/{LOCATIONS}/{{id}}"),
            get(|State(state): State<GraphState>, Authenticated(caller): Authenticated, Path(id): Path<String>| async move {
                let location = state.directory.conditional_access().location(&caller, &id).await?;
                GraphResult::Ok(Json(odata::entity(LOCATIONS, None, location)))
            })
            .patch(
                |State(state): State<GraphState>,
                 Authenticated(caller): Authenticated,
                 Path(id): Path<String>,
                 JsonObject(body): JsonObject| async move {
                    state.directory.conditional_access().update_location(&caller, &id, &body).await?;
                    GraphResult::Ok(StatusCode::NO_CONTENT)
                },
            )
            .delete(|State(state): State<GraphState>, Authenticated(caller): Authenticated, Path(id): Path<String>| async move {
                state.directory.conditional_access().delete_location(&caller, &id).await?;
                GraphResult::Ok(StatusCode::NO_CONTENT)
            }),
        )
        .merge(what_if())
}

/// `POST /identity/conditionalAccess/evaluate`.
fn what_if() -> Router<GraphState> {
    Router::new().route(
        "/identity/conditionalAccess/evaluate",
        post(|State(state): State<GraphState>, Authenticated(caller): Authenticated, JsonObject(body): JsonObject| async move {
            let results = state.directory.conditional_access().what_if(&caller, &body).await?;
            let value: Vec<Value> = results.into_iter().map(Value::Object).collect();
            let context = format!("{}/$metadata#Collection(microsoft.graph.whatIfAnalysisResult)", odata::base_url());
            GraphResult::Ok(Json(json!({"@odata.context": context, "value": value})))
        }),
    )
}

/// The routes Graph's beta serves here: the What If evaluation, as first published.
pub fn beta_router(directory: std::sync::Arc<gatehouse_core::Directory>) -> Router {
    what_if()
        .fallback(crate::error::unknown_segment)
        .layer(axum::extract::DefaultBodyLimit::max(crate::MAX_BODY_BYTES))
        .with_state(GraphState { directory })
}
