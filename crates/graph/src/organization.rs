//! `/organization`: the caller's tenant as a collection of one, read and updated as in Graph.

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::GraphResult;
use crate::odata::{self, QueryOptions};
use crate::GraphState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_core::tenants::organization::ORGANIZATION;
use serde_json::{json, Value};

pub fn routes() -> Router<GraphState> {
    Router::new().route("/organization", get(list)).route("/organization/{id}", get(read).patch(update))
}

async fn list(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    options.check_select(ORGANIZATION, "organization")?;
    let select = options.select.as_ref();
    let organization = state.directory.organization().get(&caller, None, odata::selection(select)).await?;
    Ok(Json(json!({"@odata.context": odata::context_url("organization", select), "value": [organization]})))
}

async fn read(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    options.check_select(ORGANIZATION, "organization")?;
    let select = options.select.as_ref();
    let organization = state.directory.organization().get(&caller, Some(&id), odata::selection(select)).await?;
    Ok(Json(odata::entity("organization", select, organization)))
}

async fn update(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> GraphResult<StatusCode> {
    state.directory.organization().update(&caller, &id, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}
