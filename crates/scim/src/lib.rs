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
            (ErrorKind::Conflict, Some("version")) => None,
            (ErrorKind::Conflict, _) => Some("uniqueness"),
            _ => None,
        };
        let status = match e.kind {
            ErrorKind::Conflict if e.target.as_deref() == Some("version") => StatusCode::PRECONDITION_FAILED,
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

/// The names of a comma-separated list (`attributes`, `excludedAttributes`), lower-cased.
fn names(list: Option<&str>) -> Vec<String> {
    let items = list.map(|l| l.split(',').map(|n| n.trim().to_ascii_lowercase()).collect::<Vec<_>>());
    items.unwrap_or_default().into_iter().filter(|n| !n.is_empty()).collect()
}

/// A complex value with only the sub-attributes `keep` takes.
fn keep_within(value: Value, keep: &dyn Fn(&str) -> bool) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.into_iter().filter(|(k, _)| keep(&k.to_ascii_lowercase())).collect()),
        other => other,
    }
}

/// A resource with only the `attributes` asked for, or without the `excludedAttributes` (RFC 7644
/// §3.4.2.5); `schemas` and `id` always stay. A name reaches one level down: `name.givenName`, or an
/// extension's attribute by its URN.
fn project(resource: Map<String, Value>, attributes: &[String], excluded: &[String]) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in resource {
        let lower = key.to_ascii_lowercase();
        let below = |list: &[String]| -> Vec<String> {
            let (dot, colon) = (format!("{lower}."), format!("{lower}:"));
            list.iter()
                .filter_map(|n| n.strip_prefix(&dot).or_else(|| n.strip_prefix(&colon)))
                .map(str::to_owned)
                .collect()
        };
        if key == "schemas" || key == "id" {
            out.insert(key, value);
        } else if !attributes.is_empty() {
            let wanted = below(attributes);
            if attributes.contains(&lower) {
                out.insert(key, value);
            } else if !wanted.is_empty() {
                out.insert(key, keep_within(value, &|k| wanted.iter().any(|w| w == k)));
            }
        } else if !excluded.contains(&lower) {
            let unwanted = below(excluded);
            out.insert(key, keep_within(value, &|k| !unwanted.iter().any(|w| w == k)));
        }
    }
    out
}

/// A query of users, from the URL or a `.search` body.
struct Search<'a> {
    filter: Option<&'a str>,
    start: usize,
    count: usize,
    attributes: Vec<String>,
    excluded: Vec<String>,
}

async fn searched(state: &ScimState, caller: &Caller, search: Search<'_>) -> Answer {
    let start = search.start.max(1);
    let listed = state.directory.scim().users(caller, search.filter, start, search.count).await?;
    let shown = listed.resources.into_iter().map(|r| Value::Object(project(r, &search.attributes, &search.excluded)));
    Ok(list(shown.collect(), listed.total, start))
}

async fn users(
    State(state): State<ScimState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Answer {
    let caller = caller(&state, &headers).await?;
    let get = |name: &str| query.get(name).map(String::as_str);
    let search = Search {
        filter: get("filter"),
        start: number(&query, "startIndex", 1)?,
        count: number(&query, "count", 100)?,
        attributes: names(get("attributes")),
        excluded: names(get("excludedAttributes")),
    };
    searched(&state, &caller, search).await
}

/// `POST /Users/.search` (RFC 7644 §3.4.3): the query in a `SearchRequest` body; also the root's
/// `/.search`, users being the one resource type served.
async fn search_users(State(state): State<ScimState>, headers: HeaderMap, body: Bytes) -> Answer {
    let caller = caller(&state, &headers).await?;
    let body = object(&body)?;
    let text = |name: &str| body.get(name).and_then(Value::as_str);
    let list_of = |name: &str| match body.get(name) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_ascii_lowercase).collect(),
        _ => names(text(name)),
    };
    let whole =
        |name: &str, default: usize| body.get(name).and_then(Value::as_i64).map_or(default, |n| n.max(0) as usize);
    let search = Search {
        filter: text("filter"),
        start: whole("startIndex", 1),
        count: whole("count", 100),
        attributes: list_of("attributes"),
        excluded: list_of("excludedAttributes"),
    };
    searched(&state, &caller, search).await
}

async fn create_user(State(state): State<ScimState>, headers: HeaderMap, body: Bytes) -> Answer {
    let caller = caller(&state, &headers).await?;
    let created = state.directory.scim().create_user(&caller, &object(&body)?).await?;
    Ok(resource(StatusCode::CREATED, created))
}

async fn user(
    State(state): State<ScimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Answer {
    let caller = caller(&state, &headers).await?;
    let (attributes, excluded) = (
        names(query.get("attributes").map(String::as_str)),
        names(query.get("excludedAttributes").map(String::as_str)),
    );
    let found = state.directory.scim().user(&caller, &id).await?;
    Ok(resource(StatusCode::OK, project(found, &attributes, &excluded)))
}

/// The version an `If-Match` header names (`W/"3"` or `"3"`); `None` without one or for `*`. A value that
/// names no version matches none.
fn if_match(headers: &HeaderMap) -> Option<i64> {
    let value = headers.get(header::IF_MATCH)?.to_str().unwrap_or_default().trim();
    if value == "*" {
        return None;
    }
    let quoted = value.strip_prefix("W/").unwrap_or(value).trim_matches('"');
    Some(quoted.parse().unwrap_or(-1))
}

async fn replace_user(
    State(state): State<ScimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let caller = caller(&state, &headers).await?;
    let replaced = state.directory.scim().replace_user(&caller, &id, &object(&body)?, if_match(&headers)).await?;
    Ok(resource(StatusCode::OK, replaced))
}

async fn patch_user(State(state): State<ScimState>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Answer {
    let caller = caller(&state, &headers).await?;
    let patched = state.directory.scim().patch_user(&caller, &id, &object(&body)?, if_match(&headers)).await?;
    Ok(resource(StatusCode::OK, patched))
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
        .route("/Users/.search", axum::routing::post(search_users))
        .route("/.search", axum::routing::post(search_users))
        .route("/Users/{id}", get(user).put(replace_user).patch(patch_user).delete(delete_user))
        .fallback(|| async { ScimError::new(StatusCode::NOT_FOUND, None, "No such endpoint.") })
        .with_state(ScimState { directory })
}
