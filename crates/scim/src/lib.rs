//! The SCIM 2.0 adapter (`/scim/v2`): routes, bodies in `application/scim+json` (or `application/json`),
//! list responses and SCIM error bodies (RFC 7644 §3.12) over the core's SCIM service. The tenant is the
//! bearer token's: an app token from the tenant's token endpoint, allowed what its permissions allow, as in
//! Graph, or (`SynchronizationData-User.Upload`) what a provisioning client may do here.

mod discovery;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use gatehouse_core::kernel::request;
use gatehouse_core::scim::{Edit, Kind, Query as ListQuery};
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
            (ErrorKind::Invalid, Some("tooMany")) => Some("tooMany"),
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

impl ScimError {
    /// The error's body (RFC 7644 §3.12).
    fn body(&self) -> Value {
        let mut body =
            json!({"schemas": [ERROR_SCHEMA], "status": self.status.as_u16().to_string(), "detail": self.detail});
        if let (Some(kind), Value::Object(map)) = (self.scim_type, &mut body) {
            map.insert("scimType".into(), json!(kind));
        }
        body
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        scim(self.status, self.body())
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
    Ok(gatehouse_core::scim::acting(state.directory.tokens().authenticate(token).await?))
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

/// A list's query, from the URL or a `.search` body, with the attributes to show.
#[derive(Clone)]
struct Search<'a> {
    query: ListQuery<'a>,
    attributes: Vec<String>,
    excluded: Vec<String>,
}

impl Search<'_> {
    /// Whether the resources shown keep their members (a group's members are read only then).
    fn shows_members(&self) -> bool {
        match self.attributes.is_empty() {
            true => !self.excluded.iter().any(|n| n == "members"),
            false => self.attributes.iter().any(|n| n == "members" || n.starts_with("members.")),
        }
    }
}

async fn searched(state: &ScimState, caller: &Caller, kinds: &[Kind], search: Search<'_>) -> Answer {
    let start = search.query.start.max(1);
    let (mut resources, mut total, mut refused) = (Vec::new(), 0, None);
    for kind in kinds {
        // Across kinds (the root's `.search`), the pages run on: one kind's resources, then the next's.
        let query = ListQuery {
            start: (start as u64).saturating_sub(total).max(1) as usize,
            count: search.query.count.saturating_sub(resources.len()),
            ..search.query.clone()
        };
        let page = state.directory.scim().list(caller, *kind, &query, search.shows_members()).await;
        match page {
            Ok(page) => {
                total += page.total;
                resources.extend(page.resources);
            }
            // A filter one kind cannot read finds none of that kind, unless no kind can read it.
            Err(e) if kinds.len() > 1 && e.kind == ErrorKind::Invalid => refused = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    if let (Some(e), true) = (refused, resources.is_empty() && total == 0 && kinds.len() > 1) {
        return Err(e.into());
    }
    let shown = resources.into_iter().map(|r| Value::Object(project(r, &search.attributes, &search.excluded)));
    Ok(list(shown.collect(), total, start))
}

/// A list's query from URL parameters.
fn url_search(query: &HashMap<String, String>) -> Result<Search<'_>, ScimError> {
    let get = |name: &str| query.get(name).map(String::as_str);
    Ok(Search {
        query: ListQuery {
            filter: get("filter"),
            sort_by: get("sortBy"),
            descending: descending(get("sortOrder"))?,
            start: number(query, "startIndex", 1)?,
            count: number(query, "count", 100)?,
        },
        attributes: names(get("attributes")),
        excluded: names(get("excludedAttributes")),
    })
}

/// `sortOrder`: `ascending` (the default) or `descending`.
fn descending(order: Option<&str>) -> Result<bool, ScimError> {
    match order.map(str::to_ascii_lowercase).as_deref() {
        None | Some("ascending") => Ok(false),
        Some("descending") => Ok(true),
        Some(_) => {
            Err(ScimError::new(StatusCode::BAD_REQUEST, Some("invalidValue"), "sortOrder is ascending or descending."))
        }
    }
}

async fn list_of(state: &ScimState, headers: &HeaderMap, query: &HashMap<String, String>, kinds: &[Kind]) -> Answer {
    let caller = caller(state, headers).await?;
    searched(state, &caller, kinds, url_search(query)?).await
}

/// `POST /Users/.search`, `/Groups/.search` and the root's `/.search` (RFC 7644 §3.4.3): the query in a
/// `SearchRequest` body.
async fn search(state: &ScimState, headers: &HeaderMap, body: &Bytes, kinds: &[Kind]) -> Answer {
    let caller = caller(state, headers).await?;
    let body = object(body)?;
    let text = |name: &str| body.get(name).and_then(Value::as_str);
    let list_of = |name: &str| match body.get(name) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_ascii_lowercase).collect(),
        _ => names(text(name)),
    };
    let whole =
        |name: &str, default: usize| body.get(name).and_then(Value::as_i64).map_or(default, |n| n.max(0) as usize);
    let search = Search {
        query: ListQuery {
            filter: text("filter"),
            sort_by: text("sortBy"),
            descending: descending(text("sortOrder"))?,
            start: whole("startIndex", 1),
            count: whole("count", 100),
        },
        attributes: list_of("attributes"),
        excluded: list_of("excludedAttributes"),
    };
    searched(state, &caller, kinds, search).await
}

async fn create(state: &ScimState, headers: &HeaderMap, body: &Bytes, kind: Kind) -> Answer {
    let caller = caller(state, headers).await?;
    let created = state.directory.scim().create(&caller, kind, &object(body)?).await?;
    Ok(resource(StatusCode::CREATED, created))
}

async fn read(state: &ScimState, headers: &HeaderMap, id: &str, query: &HashMap<String, String>, kind: Kind) -> Answer {
    let caller = caller(state, headers).await?;
    let get = |name: &str| names(query.get(name).map(String::as_str));
    let shown =
        Search { query: ListQuery::default(), attributes: get("attributes"), excluded: get("excludedAttributes") };
    let found = state.directory.scim().get(&caller, kind, id, shown.shows_members()).await?;
    Ok(resource(StatusCode::OK, project(found, &shown.attributes, &shown.excluded)))
}

async fn change(state: &ScimState, headers: &HeaderMap, id: &str, body: &Bytes, kind: Kind, edit: Edit) -> Answer {
    let caller = caller(state, headers).await?;
    let changed = state.directory.scim().change(&caller, kind, id, &object(body)?, edit, if_match(headers)).await?;
    Ok(resource(StatusCode::OK, changed))
}

async fn delete(state: &ScimState, headers: &HeaderMap, id: &str, kind: Kind) -> Answer {
    let caller = caller(state, headers).await?;
    state.directory.scim().delete(&caller, kind, id, if_match(headers)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The version an `If-Match` header names, if any.
fn if_match(headers: &HeaderMap) -> Option<i64> {
    gatehouse_core::scim::version_of(headers.get(header::IF_MATCH)?.to_str().unwrap_or_default())
}

/// `POST /Bulk` (RFC 7644 §3.7): each operation's status, and its resource's location and version or its
/// error.
async fn bulk(State(state): State<ScimState>, headers: HeaderMap, body: Bytes) -> Answer {
    let caller = caller(&state, &headers).await?;
    let done = state.directory.scim().bulk(&caller, &object(&body)?).await?;
    let operations: Vec<Value> = done
        .into_iter()
        .map(|done| {
            let mut shown = Map::new();
            shown.insert("method".into(), json!(done.method));
            if let Some(bulk_id) = done.bulk_id {
                shown.insert("bulkId".into(), json!(bulk_id));
            }
            match done.outcome {
                Ok(outcome) => {
                    let meta = outcome.resource.as_ref().and_then(|r| r.get("meta"));
                    for field in ["location", "version"] {
                        if let Some(value) = meta.and_then(|m| m.get(field)) {
                            shown.insert(field.into(), value.clone());
                        }
                    }
                    shown.insert("status".into(), json!(outcome.status.to_string()));
                }
                Err(e) => {
                    let error = ScimError::from(e);
                    shown.insert("status".into(), json!(error.status.as_u16().to_string()));
                    shown.insert("response".into(), error.body());
                }
            }
            Value::Object(shown)
        })
        .collect();
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"], "Operations": operations});
    Ok(scim(StatusCode::OK, body))
}

/// The whole list of discovery documents.
fn counted(documents: Vec<Value>) -> Response {
    let total = documents.len() as u64;
    list(documents, total, 1)
}

/// One of the discovery documents, by id.
fn one_of(documents: Vec<Value>, id: &str) -> Answer {
    documents
        .into_iter()
        .find(|d| d.get("id").and_then(Value::as_str) == Some(id))
        .map(|d| scim(StatusCode::OK, d))
        .ok_or_else(|| ScimError::new(StatusCode::NOT_FOUND, None, format!("'{id}' is not served here.")))
}

/// One resource type's routes, at `endpoint`.
fn routes_of(kind: Kind, endpoint: &str) -> Router<ScimState> {
    type Id = Path<String>;
    type Params = Query<HashMap<String, String>>;
    Router::new()
        .route(
            endpoint,
            get(move |State(state): State<ScimState>, headers: HeaderMap, Query(query): Params| async move {
                list_of(&state, &headers, &query, &[kind]).await
            })
            .post(move |State(state): State<ScimState>, headers: HeaderMap, body: Bytes| async move {
                create(&state, &headers, &body, kind).await
            }),
        )
        .route(
            &format!("{endpoint}/.search"),
            post(move |State(state): State<ScimState>, headers: HeaderMap, body: Bytes| async move {
                search(&state, &headers, &body, &[kind]).await
            }),
        )
        .route(
            &format!("{endpoint}/{{id}}"),
            get(move |State(state): State<ScimState>, headers: HeaderMap, Path(id): Id, Query(query): Params| async move {
                read(&state, &headers, &id, &query, kind).await
            })
            .put(move |State(state): State<ScimState>, headers: HeaderMap, Path(id): Id, body: Bytes| async move {
                change(&state, &headers, &id, &body, kind, Edit::Replace).await
            })
            .patch(move |State(state): State<ScimState>, headers: HeaderMap, Path(id): Id, body: Bytes| async move {
                change(&state, &headers, &id, &body, kind, Edit::Patch).await
            })
            .delete(move |State(state): State<ScimState>, headers: HeaderMap, Path(id): Id| async move {
                delete(&state, &headers, &id, kind).await
            }),
        )
}

/// The SCIM routes, to be mounted at `/scim/v2`.
pub fn router(directory: Arc<Directory>) -> Router {
    let base = || request::current().base_url;
    Router::new()
        .route(
            "/ServiceProviderConfig",
            get(move || async move { scim(StatusCode::OK, discovery::service_provider_config(&base())) }),
        )
        .route("/ResourceTypes", get(move || async move { counted(discovery::resource_types(&base())) }))
        .route(
            "/ResourceTypes/{id}",
            get(move |Path(id): Path<String>| async move { one_of(discovery::resource_types(&base()), &id) }),
        )
        .route("/Schemas", get(move || async move { counted(discovery::schemas(&base())) }))
        .route(
            "/Schemas/{id}",
            get(move |Path(id): Path<String>| async move { one_of(discovery::schemas(&base()), &id) }),
        )
        .route(
            "/.search",
            post(|State(state): State<ScimState>, headers: HeaderMap, body: Bytes| async move {
                search(&state, &headers, &body, &[Kind::User, Kind::Group]).await
            }),
        )
        .route("/Bulk", post(bulk))
        .merge(routes_of(Kind::User, "/Users"))
        .merge(routes_of(Kind::Group, "/Groups"))
        .fallback(|| async { ScimError::new(StatusCode::NOT_FOUND, None, "No such endpoint.") })
        .method_not_allowed_fallback(|| async {
            ScimError::new(StatusCode::METHOD_NOT_ALLOWED, None, "The endpoint does not take that method.")
        })
        .with_state(ScimState { directory })
}
