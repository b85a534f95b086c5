//! `/applications` and `/servicePrincipals`: registration, client secrets, and app role assignments.

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::GraphResult;
use crate::odata::{self, QueryOptions};
use crate::GraphState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use gatehouse_core::applications::{
    object_properties, AppRoleAssignment, APPLICATION, SERVICE_PRINCIPAL,
};
use gatehouse_core::schema::{format_time, Property};
use gatehouse_core::store::{ObjectKind, ObjectRecord};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub fn routes() -> Router<GraphState> {
    Router::new()
        .route(
            "/applications",
            get(list_applications).post(create_application),
        )
        .route(
            "/applications/{id}",
            get(read_application).delete(delete_application),
        )
        .route(
            "/applications/{id}/addPassword",
            post(add_application_password),
        )
        .route(
            "/applications/{id}/removePassword",
            post(remove_application_password),
        )
        .route(
            "/servicePrincipals",
            get(list_service_principals).post(create_service_principal),
        )
        .route(
            "/servicePrincipals/{id}",
            get(read_service_principal).delete(delete_service_principal),
        )
        .route(
            "/servicePrincipals/{id}/addPassword",
            post(add_service_principal_password),
        )
        .route(
            "/servicePrincipals/{id}/removePassword",
            post(remove_service_principal_password),
        )
        .route(
            "/servicePrincipals/{id}/appRoleAssignments",
            get(list_assignments).post(assign),
        )
        .route(
            "/servicePrincipals/{id}/appRoleAssignments/{assignment}",
            delete(unassign),
        )
}

type Params = Query<HashMap<String, String>>;

/// What differs between the two resources.
struct Resource {
    kind: ObjectKind,
    table: &'static [Property],
    type_name: &'static str,
    set: &'static str,
}

const APPLICATIONS: Resource = Resource {
    kind: ObjectKind::Application,
    table: APPLICATION,
    type_name: "application",
    set: "applications",
};
const SERVICE_PRINCIPALS: Resource = Resource {
    kind: ObjectKind::ServicePrincipal,
    table: SERVICE_PRINCIPAL,
    type_name: "servicePrincipal",
    set: "servicePrincipals",
};

fn options(resource: &Resource, params: &HashMap<String, String>) -> GraphResult<QueryOptions> {
    let options = QueryOptions::parse(params)?;
    options.check_select(resource.table, resource.type_name)?;
    Ok(options)
}

fn object_json(
    resource: &Resource,
    record: &ObjectRecord,
    options: &QueryOptions,
) -> Map<String, Value> {
    odata::project(
        &object_properties(record),
        resource.table,
        options.select.as_ref(),
    )
}

async fn create(
    state: &GraphState,
    resource: &Resource,
    caller: &gatehouse_core::Caller,
    body: &Map<String, Value>,
) -> GraphResult<(StatusCode, Json<Value>)> {
    let record = match resource.kind {
        ObjectKind::ServicePrincipal => {
            state
                .directory
                .create_service_principal(caller, body)
                .await?
        }
        _ => state.directory.create_application(caller, body).await?,
    };
    let body = object_json(resource, &record, &QueryOptions::default());
    Ok((
        StatusCode::CREATED,
        Json(odata::entity(resource.set, None, body)),
    ))
}

async fn read(
    state: &GraphState,
    resource: &Resource,
    caller: &gatehouse_core::Caller,
    id: &str,
    params: &HashMap<String, String>,
) -> GraphResult<Json<Value>> {
    let options = options(resource, params)?;
    let record = state
        .directory
        .get_object(caller, resource.kind, id)
        .await?;
    Ok(Json(odata::entity(
        resource.set,
        options.select.as_ref(),
        object_json(resource, &record, &options),
    )))
}

async fn list(
    state: &GraphState,
    resource: &Resource,
    caller: &gatehouse_core::Caller,
    params: &HashMap<String, String>,
) -> GraphResult<Json<Value>> {
    let options = options(resource, params)?;
    let key = state.directory.master_key();
    let after = options
        .skiptoken
        .as_deref()
        .map(|t| odata::open_skiptoken(key, resource.set, t))
        .transpose()?;
    let page = state
        .directory
        .list_objects(caller, resource.kind, after, options.top)
        .await?;
    let items = page
        .items
        .iter()
        .map(|r| Value::Object(object_json(resource, r, &options)))
        .collect();
    Ok(Json(odata::collection(
        key,
        resource.set,
        resource.set,
        &options,
        &page,
        items,
    )))
}

async fn add_password(
    state: &GraphState,
    resource: &Resource,
    caller: &gatehouse_core::Caller,
    id: &str,
    body: &Map<String, Value>,
) -> GraphResult<Json<Value>> {
    let secret = state
        .directory
        .add_password(caller, resource.kind, id, body)
        .await?;
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/$metadata#microsoft.graph.passwordCredential",
            odata::base_url()
        )),
    );
    if let Value::Object(credential) = secret.credential {
        out.extend(credential);
    }
    Ok(Json(Value::Object(out)))
}

async fn create_application(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    JsonObject(body): JsonObject,
) -> GraphResult<(StatusCode, Json<Value>)> {
    create(&state, &APPLICATIONS, &caller, &body).await
}

async fn create_service_principal(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    JsonObject(body): JsonObject,
) -> GraphResult<(StatusCode, Json<Value>)> {
    create(&state, &SERVICE_PRINCIPALS, &caller, &body).await
}

async fn read_application(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    Query(params): Params,
) -> GraphResult<Json<Value>> {
    read(&state, &APPLICATIONS, &caller, &id, &params).await
}

async fn read_service_principal(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    Query(params): Params,
) -> GraphResult<Json<Value>> {
    read(&state, &SERVICE_PRINCIPALS, &caller, &id, &params).await
}

async fn list_applications(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Query(params): Params,
) -> GraphResult<Json<Value>> {
    list(&state, &APPLICATIONS, &caller, &params).await
}

async fn list_service_principals(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Query(params): Params,
) -> GraphResult<Json<Value>> {
    list(&state, &SERVICE_PRINCIPALS, &caller, &params).await
}

async fn delete_application(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<StatusCode> {
    state
        .directory
        .delete_object(&caller, ObjectKind::Application, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_service_principal(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<StatusCode> {
    state
        .directory
        .delete_object(&caller, ObjectKind::ServicePrincipal, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_application_password(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> GraphResult<Json<Value>> {
    add_password(&state, &APPLICATIONS, &caller, &id, &body).await
}

async fn add_service_principal_password(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> GraphResult<Json<Value>> {
    add_password(&state, &SERVICE_PRINCIPALS, &caller, &id, &body).await
}

async fn remove_application_password(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> GraphResult<StatusCode> {
    state
        .directory
        .remove_password(&caller, ObjectKind::Application, &id, &body)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_service_principal_password(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> GraphResult<StatusCode> {
    state
        .directory
        .remove_password(&caller, ObjectKind::ServicePrincipal, &id, &body)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn assignment_json(assignment: &AppRoleAssignment) -> Map<String, Value> {
    let record = &assignment.record;
    let Value::Object(body) = json!({
        "id": record.id,
        "appRoleId": record.app_role_id,
        "createdDateTime": format_time(record.created_at),
        "deletedDateTime": null,
        "principalDisplayName": assignment.principal_display_name,
        "principalId": record.principal,
        "principalType": "ServicePrincipal",
        "resourceDisplayName": assignment.resource_display_name,
        "resourceId": record.resource,
    }) else {
        return Map::new();
    };
    body
}

async fn assign(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> GraphResult<(StatusCode, Json<Value>)> {
    let assignment = state.directory.assign_app_role(&caller, &id, &body).await?;
    let context = format!("servicePrincipals('{id}')/appRoleAssignments");
    Ok((
        StatusCode::CREATED,
        Json(odata::entity(&context, None, assignment_json(&assignment))),
    ))
}

async fn list_assignments(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let assignments = state.directory.app_role_assignments(&caller, &id).await?;
    let items: Vec<Value> = assignments
        .iter()
        .map(|a| Value::Object(assignment_json(a)))
        .collect();
    Ok(Json(json!({
        "@odata.context": odata::context_url(&format!("servicePrincipals('{id}')/appRoleAssignments"), None),
        "value": items,
    })))
}

async fn unassign(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path((id, assignment)): Path<(String, String)>,
) -> GraphResult<StatusCode> {
    state
        .directory
        .remove_app_role_assignment(&caller, &id, &assignment)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
