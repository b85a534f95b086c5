//! The SCIM 2.0 adapter (`/scim/v2`): routes, bodies in `application/scim+json` (or `application/json`),
//! list responses and SCIM error bodies (RFC 7644 §3.12) over the core's SCIM service. The tenant is the
//! bearer token's: an app token from the tenant's token endpoint, allowed what its permissions allow, as in
//! Graph.

mod discovery;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use gatehouse_core::kernel::request;
use gatehouse_core::{Caller, Directory, Error, ErrorKind};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const CONTENT_TYPE: &str = "application/scim+json";
/// The most bytes a request body may hold.
const MOST_BODY: usize = 1 << 20;

#[derive(Clone)]
struct ScimState {
    directory: Arc<Directory>,
}

/// A SCIM error: its status, `scimType` where SCIM names one, and what went wrong.
struct ScimError {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
}

impl ScimError {
    fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        Self { status, scim_type, detail: detail.into() }
    }
}

impl From<Error> for ScimError {
    fn from(e: Error) -> Self {
        let scim_type = match (e.kind, e.target.as_deref()) {
            (ErrorKind::Invalid, Some("filter")) | (ErrorKind::UnsupportedQuery, _) => Some("invalidFilter"),
            (ErrorKind::Invalid, Some("invalidPath")) => Some("invalidPath"),
            (ErrorKind::Invalid, Some("noTarget")) => Some("noTarget"),
            (ErrorKind::Invalid, _) => Some("invalidValue"),
            (ErrorKind::Conflict, _) => Some("uniqueness"),
            _ => None,
        };
        let status = match e.kind {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Invalid | ErrorKind::UnsupportedQuery => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::Throttled => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let detail = match e.kind {
            ErrorKind::NotFound => "No resource has that id.".to_owned(),
            _ => e.message,
        };
        ScimError::new(status, scim_type, detail)
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body =
            json!({"schemas": [ERROR_SCHEMA], "status": self.status.as_u16().to_string(), "detail": self.detail});
        if let (Some(kind), Value::Object(map)) = (self.scim_type, &mut body) {
            map.insert("scimType".into(), json!(kind));
        }
        scim(self.status, body)
    }
}

type Answer = Result<Response, ScimError>;

/// A SCIM response body.
fn scim(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// A resource, with its `ETag` and (created) its `Location`.
fn resource(status: StatusCode, body: Map<String, Value>) -> Response {
    let meta = body.get("meta").cloned().unwrap_or_default();
    let mut response = scim(status, Value::Object(body));
    for (name, field) in [(header::ETAG, "version"), (header::LOCATION, "location")] {
        let value = meta.get(field).and_then(Value::as_str).and_then(|v| HeaderValue::from_str(v).ok());
        if let (Some(value), true) = (value, name != header::LOCATION || status == StatusCode::CREATED) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn list(resources: Vec<Value>, total: u64, start: usize) -> Response {
    let body = json!({
        "schemas": [discovery::LIST], "totalResults": total, "startIndex": start, "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    scim(StatusCode::OK, body)
}

/// The caller a request's bearer token names, or SCIM's 401.
async fn caller(state: &ScimState, headers: &HeaderMap) -> Result<Caller, ScimError> {
    let unauthenticated = |detail: &str| ScimError::new(StatusCode::UNAUTHORIZED, None, detail);
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).map(str::trim);
    let token = token.filter(|t| !t.is_empty()).ok_or_else(|| unauthenticated("A bearer token is required."))?;
    Ok(state.directory.tokens().authenticate(token).await?)
}

/// A request body: one JSON object.
fn object(body: &Bytes) -> Result<Map<String, Value>, ScimError> {
    let invalid = |detail: &str| ScimError::new(StatusCode::BAD_REQUEST, Some("invalidSyntax"), detail);
    if body.len() > MOST_BODY {
        return Err(ScimError::new(StatusCode::PAYLOAD_TOO_LARGE, None, "The request body is too large."));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(invalid("The request body is not a JSON object.")),
    }
}

/// A positive whole number of the query, or its default.
fn number(query: &HashMap<String, String>, name: &str, default: usize) -> Result<usize, ScimError> {
    match query.get(name) {
        None => Ok(default),
        Some(text) => text
            .parse::<i64>()
            .map(|n| n.max(0) as usize)
            .map_err(|_| ScimError::new(StatusCode::BAD_REQUEST, Some("invalidValue"), format!("{name} is a number."))),
    }
}

async fn users(
    State(state): State<ScimState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Answer {
    let caller = caller(&state, &headers).await?;
    let start = number(&query, "startIndex", 1)?.max(1);
    let count = number(&query, "count", 100)?;
    let filter = query.get("filter").map(String::as_str);
    let listed = state.directory.scim().users(&caller, filter, start, count).await?;
    Ok(list(listed.resources.into_iter().map(Value::Object).collect(), listed.total, start))
}

async fn create_user(State(state): State<ScimState>, headers: HeaderMap, body: Bytes) -> Answer {
    let caller = caller(&state, &headers).await?;
    let created = state.directory.scim().create_user(&caller, &object(&body)?).await?;
    Ok(resource(StatusCode::CREATED, created))
}

async fn user(State(state): State<ScimState>, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    let caller = caller(&state, &headers).await?;
    Ok(resource(StatusCode::OK, state.directory.scim().user(&caller, &id).await?))
}

async fn replace_user(
    State(state): State<ScimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let caller = caller(&state, &headers).await?;
    Ok(resource(StatusCode::OK, state.directory.scim().replace_user(&caller, &id, &object(&body)?).await?))
}

async fn patch_user(State(state): State<ScimState>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Answer {
    let caller = caller(&state, &headers).await?;
    Ok(resource(StatusCode::OK, state.directory.scim().patch_user(&caller, &id, &object(&body)?).await?))
}

async fn delete_user(State(state): State<ScimState>, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    let caller = caller(&state, &headers).await?;
    state.directory.scim().delete_user(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// One of the discovery documents, by id.
fn one_of(documents: Vec<Value>, id: &str) -> Answer {
    documents
        .into_iter()
        .find(|d| d.get("id").and_then(Value::as_str) == Some(id))
        .map(|d| scim(StatusCode::OK, d))
        .ok_or_else(|| ScimError::new(StatusCode::NOT_FOUND, None, format!("'{id}' is not served here.")))
}

/// The SCIM routes, to be mounted at `/scim/v2`.
pub fn router(directory: Arc<Directory>) -> Router {
    let base = || request::current().base_url;
    Router::new()
        .route(
            "/ServiceProviderConfig",
            get(move || async move { scim(StatusCode::OK, discovery::service_provider_config(&base())) }),
        )
        .route("/ResourceTypes", get(move || async move { list(discovery::resource_types(&base()), 1, 1) }))
        .route(
            "/ResourceTypes/{id}",
            get(move |Path(id): Path<String>| async move { one_of(discovery::resource_types(&base()), &id) }),
        )
        .route("/Schemas", get(move || async move { list(discovery::schemas(&base()), 2, 1) }))
        .route(
            "/Schemas/{id}",
            get(move |Path(id): Path<String>| async move { one_of(discovery::schemas(&base()), &id) }),
        )
        .route("/Users", get(users).post(create_user))
        .route("/Users/{id}", get(user).put(replace_user).patch(patch_user).delete(delete_user))
        .fallback(|| async { ScimError::new(StatusCode::NOT_FOUND, None, "No such endpoint.") })
        .with_state(ScimState { directory })
}
