//! `/oauth2PermissionGrants`: delegated permission grants (consent), and `revokeSignInSessions`, which ends
//! a user's sign-ins.

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::GraphResult;
use crate::odata::{self, context_url};
use crate::GraphState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_core::sign_in::consent::grant_json;
use serde_json::{json, Value};

pub fn routes() -> Router<GraphState> {
    Router::new()
        .route("/oauth2PermissionGrants", get(list).post(create))
        .route("/oauth2PermissionGrants/{id}", get(read).patch(update).delete(remove))
        .route("/users/{id}/revokeSignInSessions", post(revoke_sessions))
}

async fn list(State(state): State<GraphState>, Authenticated(caller): Authenticated) -> GraphResult<Json<Value>> {
    let grants = state.directory.consent().list(&caller).await?;
    let value: Vec<Value> = grants.iter().map(|g| Value::Object(grant_json(g))).collect();
    Ok(Json(json!({"@odata.context": context_url("oauth2PermissionGrants", None), "value": value})))
}

async fn read(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let grant = state.directory.consent().get(&caller, &id).await?;
    Ok(Json(odata::entity("oauth2PermissionGrants", None, grant_json(&grant))))
}

async fn create(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    JsonObject(body): JsonObject,
) -> GraphResult<(StatusCode, Json<Value>)> {
    let grant = state.directory.consent().create(&caller, &body).await?;
    Ok((StatusCode::CREATED, Json(odata::entity("oauth2PermissionGrants", None, grant_json(&grant)))))
}

async fn update(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> GraphResult<StatusCode> {
    state.directory.consent().update(&caller, &id, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<StatusCode> {
    state.directory.consent().delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke_sessions(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    state.directory.users().revoke_sign_in_sessions(&caller, &id).await?;
    Ok(Json(json!({"@odata.context": context_url("Edm.Boolean", None), "value": true})))
}
