//! `/users`: the user lifecycle, manager and direct reports.

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::{GraphError, GraphResult};
use crate::groups::{counted, text_count};
use crate::objects::{object_json, page_json, refs_json};
use crate::odata::{self, Collection, Expand, QueryOptions};
use crate::GraphState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_core::query::USERS;
use gatehouse_core::schema::USER;
use gatehouse_core::store::ObjectRecord;
use gatehouse_core::Caller;
use serde_json::{json, Map, Value};

pub fn routes() -> Router<GraphState> {
    Router::new()
        .route("/users", get(list).post(create))
        .route("/users/$count", get(count))
        .route("/users/{id}", get(read).patch(update).delete(remove))
        .route("/users/{id}/manager", get(manager))
        .route("/users/{id}/manager/$ref", get(manager_ref).put(set_manager).delete(remove_manager))
        .route("/users/{id}/directReports", get(direct_reports))
        .route("/users/{id}/directReports/$ref", get(direct_report_refs))
        .route("/users/{id}/changePassword", axum::routing::post(change_password))
}

/// The request's query options, with `$select` checked against the user properties.
fn checked(options: QueryOptions) -> GraphResult<QueryOptions> {
    options.check_select(USER, "user")?;
    Ok(options)
}

/// Users with their expanded relationships, as `$expand` asks.
async fn expanded(
    state: &GraphState,
    caller: &Caller,
    users: &[ObjectRecord],
    options: &QueryOptions,
) -> GraphResult<Vec<Map<String, Value>>> {
    let mut bodies: Vec<Map<String, Value>> = users.iter().map(|u| object_json(u, options, false)).collect();
    match options.expand {
        None => {}
        Some(other @ (Expand::Principal | Expand::RoleDefinition)) => {
            return Err(GraphError::unsupported_query(format!("A user has no '{other:?}' to expand.")))
        }
        Some(Expand::Manager) => {
            let managers = state.directory.users().managers_of(caller, users).await?;
            for (body, user) in bodies.iter_mut().zip(users) {
                attach_manager(body, managers.get(&user.id));
            }
        }
        Some(Expand::MemberOf) => {
            let groups = state.directory.groups().memberships_of(caller, users).await?;
            for (body, user) in bodies.iter_mut().zip(users) {
                let items = groups
                    .get(&user.id)
                    .map(|groups| {
                        groups.iter().map(|g| Value::Object(object_json(g, &QueryOptions::default(), true))).collect()
                    })
                    .unwrap_or_default();
                body.insert("memberOf".into(), Value::Array(items));
            }
        }
    }
    Ok(bodies)
}

async fn create(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    JsonObject(body): JsonObject,
) -> GraphResult<Response> {
    let record = state.directory.users().create(&caller, &body).await?;
    let body = object_json(&record, &QueryOptions::default(), false);
    Ok((StatusCode::CREATED, Json(odata::entity("users", None, body))).into_response())
}

async fn read(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    let options = checked(options)?;
    let record = state.directory.users().get(&caller, &id).await?;
    let body = expanded(&state, &caller, std::slice::from_ref(&record), &options).await?.pop().unwrap_or_default();
    Ok(Json(odata::entity("users", options.select.as_ref(), body)))
}

async fn list(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    let mut options = checked(options)?;
    let listing = options.listing(state.directory.paging_key(), "users", Collection::Queryable(&USERS))?;
    let page = state.directory.users().list(&caller, listing).await?;
    let items = expanded(&state, &caller, &page.items, &options).await?.into_iter().map(Value::Object).collect();
    Ok(Json(odata::collection(state.directory.paging_key(), "users", "users", &options, &page, items)))
}

/// `$expand=manager`: the manager as a typed directory object with its default properties; Graph leaves the
/// property out when there is none.
fn attach_manager(body: &mut Map<String, Value>, manager: Option<&ObjectRecord>) {
    if let Some(manager) = manager {
        body.insert("manager".into(), Value::Object(object_json(manager, &QueryOptions::default(), true)));
    }
}

/// `/users/$count`: the number of users matching `$filter`/`$search`, as text; advanced queries only.
async fn count(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    mut options: QueryOptions,
) -> GraphResult<Response> {
    let page = counted(&state, &mut options, "users", Collection::Queryable(&USERS), |listing| async {
        Ok(state.directory.users().list(&caller, listing).await?)
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
    state.directory.users().update(&caller, &id, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<StatusCode> {
    state.directory.users().delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn manager(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    let options = checked(options)?;
    let record = state.directory.users().get_manager(&caller, &id).await?;
    Ok(Json(odata::entity("directoryObjects", options.select.as_ref(), object_json(&record, &options, true))))
}

async fn manager_ref(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let record = state.directory.users().get_manager(&caller, &id).await?;
    Ok(Json(json!({
        "@odata.context": format!("{}/$metadata#directoryObjects/$ref", odata::base_url()),
        "@odata.id": format!("{}/directoryObjects/{}", odata::base_url(), record.id),
    })))
}

async fn set_manager(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> GraphResult<StatusCode> {
    let manager = odata::reference_id(&body)?;
    state.directory.users().set_manager(&caller, &id, &manager).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_manager(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<StatusCode> {
    state.directory.users().remove_manager(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn direct_reports(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    reports_page(&state, &caller, &id, options, false).await
}

async fn direct_report_refs(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    reports_page(&state, &caller, &id, options, true).await
}

/// A page of direct reports, as users or (`refs`) as `@odata.id` references.
async fn reports_page(
    state: &GraphState,
    caller: &Caller,
    id: &str,
    options: QueryOptions,
    refs: bool,
) -> GraphResult<Json<Value>> {
    let mut options = checked(options)?;
    let path = format!("users/{id}/directReports{}", if refs { "/$ref" } else { "" });
    let listing = options.listing(state.directory.paging_key(), &path, Collection::Plain)?;
    let page = state.directory.users().direct_reports(caller, id, listing).await?;
    if refs {
        return Ok(refs_json(state, &path, &options, &page));
    }
    Ok(page_json(state, &path, "directoryObjects", &options, &page, true))
}

/// `POST /users/{id}/changePassword` (usually as `/me/changePassword`): `{currentPassword, newPassword}`.
async fn change_password(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> GraphResult<StatusCode> {
    let text = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or_default();
    state.directory.users().change_password(&caller, &id, text("currentPassword"), text("newPassword")).await?;
    Ok(StatusCode::NO_CONTENT)
}
