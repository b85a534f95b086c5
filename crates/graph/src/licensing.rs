//! Licensing: `/subscribedSkus` (read as Graph has it; add, change and retire as Gatehouse's own admin API,
//! since there is no Microsoft commerce here), `assignLicense` and `licenseDetails`.

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::GraphResult;
use crate::objects::object_json;
use crate::odata::{self, Collection, QueryOptions};
use crate::GraphState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_core::schema::{Selection, USER};
use gatehouse_core::store::ObjectRecord;
use gatehouse_core::users::user_properties;
use serde_json::{json, Value};

pub fn routes() -> Router<GraphState> {
    Router::new()
        .route("/subscribedSkus", get(list).post(add))
        .route("/subscribedSkus/{id}", get(read).patch(update).delete(retire))
        .route("/users/{id}/assignLicense", post(assign))
        .route("/users/{id}/licenseDetails", get(details))
        .route("/users/{id}/reprocessLicenseAssignment", post(reprocess))
        .route("/groups/{id}/assignLicense", post(assign_group))
        .route("/groups/{id}/membersWithLicenseErrors", get(members_with_errors))
}

fn collection(context: &str, items: Vec<Value>) -> Json<Value> {
    Json(json!({"@odata.context": odata::context_url(context, None), "value": items}))
}

fn entity(body: Value) -> Json<Value> {
    let Value::Object(body) = body else {
        return Json(body);
    };
    Json(odata::entity("subscribedSkus", None, body))
}

async fn list(State(state): State<GraphState>, Authenticated(caller): Authenticated) -> GraphResult<Json<Value>> {
    Ok(collection("subscribedSkus", state.directory.licensing().subscribed_skus(&caller).await?))
}

async fn add(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    JsonObject(body): JsonObject,
) -> GraphResult<(StatusCode, Json<Value>)> {
    Ok((StatusCode::CREATED, entity(state.directory.licensing().add_subscription(&caller, &body).await?)))
}

async fn read(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    Ok(entity(state.directory.licensing().get_subscription(&caller, &id).await?))
}

async fn update(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> GraphResult<StatusCode> {
    state.directory.licensing().update_subscription(&caller, &id, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn retire(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<StatusCode> {
    state.directory.licensing().retire_subscription(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /users/{id}/assignLicense`: 200 with the user, its licenses resolved.
async fn assign(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> GraphResult<Json<Value>> {
    let user = state.directory.licensing().assign_license(&caller, &id, &body).await?;
    Ok(licensed_user(&user))
}

/// A user as `assignLicense` and `reprocessLicenseAssignment` answer: its default properties and its licenses,
/// as Microsoft documents the response.
fn licensed_user(user: &ObjectRecord) -> Json<Value> {
    let names: Vec<String> = USER
        .iter()
        .filter(|p| p.default || matches!(p.name, "assignedLicenses" | "assignedPlans"))
        .map(|p| p.name.to_owned())
        .collect();
    Json(odata::entity("users", None, user_properties(user, Selection::Names(&names))))
}

/// `POST /groups/{id}/assignLicense`: 202 with the group; members get the licenses from the licensing processor.
async fn assign_group(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> GraphResult<(StatusCode, Json<Value>)> {
    let group = state.directory.licensing().assign_group_license(&caller, &id, &body).await?;
    let body = object_json(&group, &QueryOptions::default(), false);
    Ok((StatusCode::ACCEPTED, Json(odata::entity("groups", None, body))))
}

async fn reprocess(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let user = state.directory.licensing().reprocess_licenses(&caller, &id).await?;
    Ok(licensed_user(&user))
}

async fn members_with_errors(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    let mut options = options;
    let path = format!("groups/{id}/membersWithLicenseErrors");
    let listing = options.listing(state.directory.paging_key(), &path, Collection::Plain)?;
    let page = state.directory.licensing().members_with_license_errors(&caller, &id, listing).await?;
    Ok(crate::objects::page_json(&state, &path, "directoryObjects", &options, &page, true))
}

async fn details(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let items = state.directory.licensing().license_details(&caller, &id).await?;
    Ok(collection(&format!("users('{id}')/licenseDetails"), items))
}
