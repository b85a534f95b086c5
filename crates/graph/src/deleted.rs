//! `/directory/deletedItems`: soft-deleted users, groups, contacts and applications; list, get, restore, purge.

use crate::auth::Authenticated;
use crate::error::{GraphError, GraphResult};
use crate::objects::{object_json, table_of};
use crate::odata::{self, Collection, QueryOptions};
use crate::GraphState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_core::schema::format_time;
use gatehouse_core::store::{ObjectKind, ObjectRecord};
use serde_json::{Map, Value};

pub fn routes() -> Router<GraphState> {
    Router::new()
        .route("/directory/deletedItems/{id}", get(read).delete(purge))
        .route("/directory/deletedItems/{id}/restore", post(restore))
        .route("/directory/deletedItems/{id}/microsoft.graph.restore", post(restore))
}

/// The type cast segment of a deleted-items list (`microsoft.graph.user`, `graph.user`).
fn cast(segment: &str) -> Option<ObjectKind> {
    let kind = ObjectKind::parse(segment.trim_start_matches("microsoft.").trim_start_matches("graph."))?;
    (kind != ObjectKind::Subscription).then_some(kind)
}

fn deleted_json(record: &ObjectRecord, options: &QueryOptions) -> Map<String, Value> {
    let mut body = object_json(record, options, true);
    if options.select.is_none() {
        body.insert(
            "deletedDateTime".into(),
            record.deleted_at.map(|d| Value::String(format_time(d))).unwrap_or(Value::Null),
        );
    }
    body
}

/// `GET /directory/deletedItems/{cast}` lists; `GET /directory/deletedItems/{id}` reads one.
async fn read(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    mut options: QueryOptions,
) -> GraphResult<Json<Value>> {
    if let Some(kind) = cast(&id) {
        options.check_select(table_of(kind), kind.as_str())?;
        let path = format!("directory/deletedItems/microsoft.graph.{}", kind.as_str());
        let key = state.directory.paging_key();
        let listing = options.listing(key, &path, Collection::Plain)?;
        let page = state.directory.deleted().list(&caller, kind, listing).await?;
        let items = page.items.iter().map(|r| Value::Object(deleted_json(r, &options))).collect();
        return Ok(Json(odata::collection(key, &path, &path, &options, &page, items)));
    }
    if id.contains('.') {
        return Err(GraphError::bad_request(format!("'{id}' is not a type that deleted items holds.")));
    }
    let record = state.directory.deleted().get(&caller, &id).await?;
    Ok(Json(odata::entity("directory/deletedItems", None, deleted_json(&record, &options))))
}

async fn restore(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let record = state.directory.deleted().restore(&caller, &id).await?;
    let body = deleted_json(&record, &QueryOptions::default());
    Ok(Json(odata::entity("directoryObjects", None, body)))
}

async fn purge(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<StatusCode> {
    state.directory.deleted().purge(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
