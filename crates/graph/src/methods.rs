//! A user's authentication methods: the password method (`passwordMethods`, `methods`), its
//! `resetPassword`, and the reset's operation; authenticator apps (`softwareOathMethods`: list, get, delete);
//! temporary access passes (`temporaryAccessPassMethods`: create, list, get, delete).

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::GraphResult;
use crate::odata::{self, context_url};
use crate::GraphState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_core::users::PASSWORD_METHOD;
use serde_json::{json, Value};

pub fn routes() -> Router<GraphState> {
    Router::new()
        .route("/users/{id}/authentication/passwordMethods", get(password_methods))
        .route("/users/{id}/authentication/passwordMethods/{method}", get(password_method))
        .route("/users/{id}/authentication/methods", get(methods))
        .route("/users/{id}/authentication/methods/{method}/resetPassword", post(reset_password))
        .route("/users/{id}/authentication/operations/{operation}", get(operation))
        .route("/users/{id}/authentication/softwareOathMethods", get(software_oath_methods))
        .route(
            "/users/{id}/authentication/softwareOathMethods/{method}",
            get(software_oath_method).delete(delete_method),
        )
        .route(
            "/users/{id}/authentication/temporaryAccessPassMethods",
            get(temporary_access_passes).post(create_temporary_access_pass),
        )
        .route(
            "/users/{id}/authentication/temporaryAccessPassMethods/{method}",
            get(temporary_access_pass).delete(delete_method),
        )
}

async fn temporary_access_passes(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let passes = state.directory.authentication_methods().temporary_access_passes(&caller, &id).await?;
    let value: Vec<Value> = passes.into_iter().map(Value::Object).collect();
    let context = context_url(&format!("users('{id}')/authentication/temporaryAccessPassMethods"), None);
    Ok(Json(json!({"@odata.context": context, "value": value})))
}

async fn temporary_access_pass(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path((id, method)): Path<(String, String)>,
) -> GraphResult<Json<Value>> {
    let passes = state.directory.authentication_methods().temporary_access_passes(&caller, &id).await?;
    let found = passes.into_iter().find(|p| p.get("id") == Some(&json!(method)));
    let found = found.ok_or_else(|| gatehouse_core::Error::not_found(&method))?;
    Ok(Json(odata::entity(&format!("users('{id}')/authentication/temporaryAccessPassMethods"), None, found)))
}

async fn create_temporary_access_pass(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> GraphResult<(StatusCode, Json<Value>)> {
    let made = state.directory.authentication_methods().create_temporary_access_pass(&caller, &id, &body).await?;
    let context = format!("users('{id}')/authentication/temporaryAccessPassMethods");
    Ok((StatusCode::CREATED, Json(odata::entity(&context, None, made))))
}

async fn software_oath_methods(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let methods = state.directory.authentication_methods().software_oath_methods(&caller, &id).await?;
    let value: Vec<Value> = methods.into_iter().map(Value::Object).collect();
    let context = context_url(&format!("users('{id}')/authentication/softwareOathMethods"), None);
    Ok(Json(json!({"@odata.context": context, "value": value})))
}

async fn software_oath_method(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path((id, method)): Path<(String, String)>,
) -> GraphResult<Json<Value>> {
    let found = state.directory.authentication_methods().software_oath_method(&caller, &id, &method).await?;
    Ok(Json(odata::entity(&format!("users('{id}')/authentication/softwareOathMethods"), None, found)))
}

async fn delete_method(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path((id, method)): Path<(String, String)>,
) -> GraphResult<StatusCode> {
    state.directory.authentication_methods().delete_method(&caller, &id, &method).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn password_methods(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let method = state.directory.users().password_method(&caller, &id, PASSWORD_METHOD).await?;
    let context = context_url(&format!("users('{id}')/authentication/passwordMethods"), None);
    Ok(Json(json!({"@odata.context": context, "value": [method]})))
}

async fn password_method(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path((id, method)): Path<(String, String)>,
) -> GraphResult<Json<Value>> {
    let found = state.directory.users().password_method(&caller, &id, &method).await?;
    Ok(Json(odata::entity(&format!("users('{id}')/authentication/passwordMethods"), None, found)))
}

async fn methods(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let mut method = state.directory.users().password_method(&caller, &id, PASSWORD_METHOD).await?;
    method.insert("@odata.type".into(), json!("#microsoft.graph.passwordAuthenticationMethod"));
    let methods = state.directory.authentication_methods();
    let apps = methods.software_oath_methods(&caller, &id).await?;
    let passes = methods.temporary_access_passes(&caller, &id).await?;
    let value: Vec<Value> = std::iter::once(method).chain(apps).chain(passes).map(Value::Object).collect();
    let context = context_url(&format!("users('{id}')/authentication/methods"), None);
    Ok(Json(json!({"@odata.context": context, "value": value})))
}

async fn reset_password(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path((id, method)): Path<(String, String)>,
    JsonObject(body): JsonObject,
) -> GraphResult<Response> {
    let given = body.get("newPassword").and_then(Value::as_str);
    let users = state.directory.users();
    let (generated, operation) = users.reset_password_method(&caller, &id, &method, given).await?;
    let location = format!("{}/users/{id}/authentication/operations/{operation}", odata::base_url());
    let body = match generated {
        Some(password) => Json(json!({"newPassword": password})).into_response(),
        None => ().into_response(),
    };
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], body).into_response())
}

async fn operation(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path((id, operation)): Path<(String, String)>,
) -> GraphResult<Json<Value>> {
    let found = state.directory.users().reset_operation(&caller, &id, &operation).await?;
    Ok(Json(odata::entity(&format!("users('{id}')/authentication/operations"), None, found)))
}
