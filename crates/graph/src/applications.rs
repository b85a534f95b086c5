//! `/applications` and `/servicePrincipals`: registration, client secrets, and app role assignments.

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::GraphResult;
use crate::groups::{counted, text_count};
use crate::odata::{self, Collection, QueryOptions};
use crate::GraphState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_core::applications::object_properties;
use gatehouse_core::query;
use gatehouse_core::schema::Property;
use gatehouse_core::schema::{APPLICATION, SERVICE_PRINCIPAL};
use gatehouse_core::store::{ObjectKind, ObjectRecord};
use serde_json::{json, Map, Value};

pub fn routes() -> Router<GraphState> {
    Router::new()
        .merge(resource_routes(&APPLICATIONS))
        .merge(resource_routes(&SERVICE_PRINCIPALS))
        .route(
            "/applications/{id}/addKey",
            post(
                |State(state): State<GraphState>,
                 Authenticated(caller): Authenticated,
                 Path(id): Path<String>,
                 JsonObject(body): JsonObject| async move {
                    let mut key = state.directory.applications().add_key(&caller, &id, &body).await?;
                    let context = format!("{}/$metadata#microsoft.graph.keyCredential", odata::base_url());
                    if let Value::Object(fields) = &mut key {
                        fields.insert("@odata.context".into(), json!(context));
                    }
                    GraphResult::Ok(Json(key))
                },
            ),
        )
        .route(
            "/applications/{id}/removeKey",
            post(
                |State(state): State<GraphState>,
                 Authenticated(caller): Authenticated,
                 Path(id): Path<String>,
                 JsonObject(body): JsonObject| async move {
                    state.directory.applications().remove_key(&caller, &id, &body).await?;
                    GraphResult::Ok(StatusCode::NO_CONTENT)
                },
            ),
        )
}

/// The routes both resources share, bound to the resource.
fn resource_routes(resource: &'static Resource) -> Router<GraphState> {
    let set = resource.set;
    Router::new()
        .route(
            &format!("/{set}"),
            get(
                move |State(state): State<GraphState>,
                      Authenticated(caller): Authenticated,
                      options: QueryOptions| async move {
                    list(&state, resource, &caller, options).await
                },
            )
            .post(
                move |State(state): State<GraphState>,
                      Authenticated(caller): Authenticated,
                      JsonObject(body): JsonObject| async move {
                    create(&state, resource, &caller, &body).await
                },
            ),
        )
        .route(
            &format!("/{set}/$count"),
            get(
                move |State(state): State<GraphState>,
                      Authenticated(caller): Authenticated,
                      mut options: QueryOptions| async move {
                    let collection = Collection::Queryable(resource.query);
                    let page = counted(&state, &mut options, resource.set, collection, |listing| async {
                        Ok(state.directory.applications().list(&caller, resource.kind, listing).await?)
                    })
                    .await?;
                    GraphResult::Ok(text_count(page))
                },
            ),
        )
        .route(
            &format!("/{set}/{{id}}"),
            get(
                move |State(state): State<GraphState>,
                      Authenticated(caller): Authenticated,
                      Path(id): Path<String>,
                      options: QueryOptions| async move {
                    read(&state, resource, &caller, &id, options).await
                },
            )
            .patch(
                move |State(state): State<GraphState>,
                      Authenticated(caller): Authenticated,
                      Path(id): Path<String>,
                      JsonObject(body): JsonObject| async move {
                    state.directory.applications().update(&caller, resource.kind, &id, &body).await?;
                    GraphResult::Ok(StatusCode::NO_CONTENT)
                },
            )
            .delete(
                move |State(state): State<GraphState>,
                      Authenticated(caller): Authenticated,
                      Path(id): Path<String>| async move {
                    state
                        .directory
                        .applications().delete(&caller, resource.kind, &id)
                        .await?;
                    GraphResult::Ok(StatusCode::NO_CONTENT)
                },
            ),
        )
        .route(
            &format!("/{set}/{{id}}/addPassword"),
            post(
                move |State(state): State<GraphState>,
                      Authenticated(caller): Authenticated,
                      Path(id): Path<String>,
                      JsonObject(body): JsonObject| async move {
                    add_password(&state, resource, &caller, &id, &body).await
                },
            ),
        )
        .route(
            &format!("/{set}/{{id}}/removePassword"),
            post(
                move |State(state): State<GraphState>,
                      Authenticated(caller): Authenticated,
                      Path(id): Path<String>,
                      JsonObject(body): JsonObject| async move {
                    state
                        .directory
                        .applications().remove_password(&caller, resource.kind, &id, &body)
                        .await?;
                    GraphResult::Ok(StatusCode::NO_CONTENT)
                },
            ),
        )
}

/// What differs between the two resources.
struct Resource {
    kind: ObjectKind,
    /// The collection's query vocabulary.
    query: &'static query::Resource,
    table: &'static [Property],
    type_name: &'static str,
    set: &'static str,
}

const APPLICATIONS: Resource = Resource {
    kind: ObjectKind::Application,
    query: &query::APPLICATIONS,
    table: APPLICATION,
    type_name: "application",
    set: "applications",
};
const SERVICE_PRINCIPALS: Resource = Resource {
    kind: ObjectKind::ServicePrincipal,
    query: &query::SERVICE_PRINCIPALS,
    table: SERVICE_PRINCIPAL,
    type_name: "servicePrincipal",
    set: "servicePrincipals",
};

fn checked(resource: &Resource, options: QueryOptions) -> GraphResult<QueryOptions> {
    options.check_select(resource.table, resource.type_name)?;
    Ok(options)
}

fn object_json(record: &ObjectRecord, options: &QueryOptions) -> Map<String, Value> {
    object_properties(record, odata::selection(options.select.as_ref()))
}

async fn create(
    state: &GraphState,
    resource: &Resource,
    caller: &gatehouse_core::Caller,
    body: &Map<String, Value>,
) -> GraphResult<(StatusCode, Json<Value>)> {
    let record = match resource.kind {
        ObjectKind::ServicePrincipal => state.directory.applications().create_service_principal(caller, body).await?,
        _ => state.directory.applications().create_application(caller, body).await?,
    };
    let body = object_json(&record, &QueryOptions::default());
    Ok((StatusCode::CREATED, Json(odata::entity(resource.set, None, body))))
}

async fn read(
    state: &GraphState,
    resource: &Resource,
    caller: &gatehouse_core::Caller,
    id: &str,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    let options = checked(resource, options)?;
    let record = state.directory.applications().get(caller, resource.kind, id).await?;
    Ok(Json(odata::entity(resource.set, options.select.as_ref(), object_json(&record, &options))))
}

async fn list(
    state: &GraphState,
    resource: &Resource,
    caller: &gatehouse_core::Caller,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    let mut options = checked(resource, options)?;
    let key = state.directory.paging_key();
    let listing = options.listing(key, resource.set, Collection::Queryable(resource.query))?;
    let page = state.directory.applications().list(caller, resource.kind, listing).await?;
    let items = page.items.iter().map(|r| Value::Object(object_json(r, &options))).collect();
    Ok(Json(odata::collection(key, resource.set, resource.set, &options, &page, items)))
}

async fn add_password(
    state: &GraphState,
    resource: &Resource,
    caller: &gatehouse_core::Caller,
    id: &str,
    body: &Map<String, Value>,
) -> GraphResult<Json<Value>> {
    let secret = state.directory.applications().add_password(caller, resource.kind, id, body).await?;
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(format!("{}/$metadata#microsoft.graph.passwordCredential", odata::base_url())),
    );
    if let Value::Object(credential) = secret.credential {
        out.extend(credential);
    }
    Ok(Json(Value::Object(out)))
}
