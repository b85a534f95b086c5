//! `/contacts`: organizational contacts. Graph offers them read-only (Exchange creates them); Gatehouse,
//! having no Exchange, also creates, updates and deletes them on the same path.

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::GraphResult;
use crate::groups::{counted, text_count};
use crate::objects::{object_json, page_json};
use crate::odata::{self, Collection, QueryOptions};
use crate::GraphState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_core::query::CONTACTS;
use gatehouse_core::schema::CONTACT;
use serde_json::Value;

pub fn routes() -> Router<GraphState> {
    Router::new()
        .route("/contacts", get(list).post(create))
        .route("/contacts/$count", get(count))
        .route("/contacts/{id}", get(read).patch(update).delete(remove))
}

fn checked(options: QueryOptions) -> GraphResult<QueryOptions> {
    options.check_select(CONTACT, "orgContact")?;
    Ok(options)
}

async fn create(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    JsonObject(body): JsonObject,
) -> GraphResult<(StatusCode, Json<Value>)> {
    let record = state.directory.contacts().create(&caller, &body).await?;
    let body = object_json(&record, &QueryOptions::default(), false);
    Ok((StatusCode::CREATED, Json(odata::entity("contacts", None, body))))
}

async fn read(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    let options = checked(options)?;
    let record = state.directory.contacts().get(&caller, &id).await?;
    Ok(Json(odata::entity("contacts", options.select.as_ref(), object_json(&record, &options, false))))
}

async fn list(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    let mut options = checked(options)?;
    let listing = options.listing(state.directory.paging_key(), "contacts", Collection::Queryable(&CONTACTS))?;
    let page = state.directory.contacts().list(&caller, listing).await?;
    Ok(page_json(&state, "contacts", "contacts", &options, &page, false))
}

async fn count(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    mut options: QueryOptions,
) -> GraphResult<Response> {
    let page = counted(&state, &mut options, "contacts", Collection::Queryable(&CONTACTS), |listing| async {
        Ok(state.directory.contacts().list(&caller, listing).await?)
    })
    .await?;
    Ok(text_count(page))
}

async fn update(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> GraphResult<StatusCode> {
    state.directory.contacts().update(&caller, &id, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<StatusCode> {
    state.directory.contacts().delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
