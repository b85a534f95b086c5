//! Sharing a resource (an application with an identifier) with people who have no account, in OneDrive's
//! shapes: `POST /applications/{id}/invite` (links for addresses, each mailed), `createLink` (a link anyone
//! opens, where the tenant allows it), `GET …/permissions` and `DELETE …/permissions/{id}` (revoked at once).

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::GraphResult;
use crate::odata::{context_url, entity};
use crate::GraphState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

/// A list of permissions, as Graph answers it.
fn permissions(list: Vec<Map<String, Value>>) -> Json<Value> {
    let value: Vec<Value> = list.into_iter().map(Value::Object).collect();
    Json(json!({"@odata.context": context_url("Collection(microsoft.graph.permission)", None), "value": value}))
}

pub fn routes() -> Router<GraphState> {
    Router::new()
        .route(
            "/applications/{id}/invite",
            post(
                |State(state): State<GraphState>,
                 Authenticated(caller): Authenticated,
                 Path(id): Path<String>,
                 JsonObject(body): JsonObject| async move {
                    GraphResult::Ok(permissions(state.directory.sharing().invite(&caller, &id, &body).await?))
                },
            ),
        )
        .route(
            "/applications/{id}/createLink",
            post(
                |State(state): State<GraphState>,
                 Authenticated(caller): Authenticated,
                 Path(id): Path<String>,
                 JsonObject(body): JsonObject| async move {
                    let link = state.directory.sharing().create_link(&caller, &id, &body).await?;
                    GraphResult::Ok((StatusCode::CREATED, Json(entity("permission", None, link))))
                },
            ),
        )
        .route(
            "/applications/{id}/permissions",
            get(|State(state): State<GraphState>, Authenticated(caller): Authenticated, Path(id): Path<String>| async move {
                GraphResult::Ok(permissions(state.directory.sharing().list(&caller, &id).await?))
            }),
        )
        .route(
            "/applications/{id}/permissions/{permission}",
            delete(
                |State(state): State<GraphState>,
                 Authenticated(caller): Authenticated,
                 Path((id, permission)): Path<(String, String)>| async move {
                    state.directory.sharing().revoke(&caller, &id, &permission).await?;
                    GraphResult::Ok(StatusCode::NO_CONTENT)
                },
            ),
        )
}
