//! `POST /$batch`: up to 20 Graph requests in one, each dispatched through the same routes — and so
//! authenticated and authorized — exactly as if it had been sent alone.
//!
//! Requests run one after another in the order given, which satisfies every `dependsOn`; a request whose
//! dependency failed is answered `424 Failed Dependency` without running.

use crate::error::{GraphError, GraphResult};
use crate::GraphState;
use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use tower::ServiceExt;

/// Graph's limit on requests per batch.
pub const MAX_REQUESTS: usize = 20;

/// One sub-request, validated.
struct Step {
    id: String,
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Option<Value>,
    depends_on: Vec<String>,
}

fn parse(body: &Map<String, Value>) -> GraphResult<Vec<Step>> {
    let requests = body
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| GraphError::bad_request("The batch must contain a 'requests' array."))?;
    if requests.is_empty() || requests.len() > MAX_REQUESTS {
        return Err(GraphError::bad_request(format!(
            "The batch must contain between 1 and {MAX_REQUESTS} requests; it contains {}.",
            requests.len()
        )));
    }
    let mut steps: Vec<Step> = Vec::with_capacity(requests.len());
    for request in requests {
        let field = |name: &str| request.get(name).and_then(Value::as_str).map(str::to_owned);
        let id = field("id").ok_or_else(|| GraphError::bad_request("Every batch request needs an 'id'."))?;
        if steps.iter().any(|s| s.id == id) {
            return Err(GraphError::bad_request(format!("Batch request id '{id}' is used more than once.")));
        }
        let method = field("method")
            .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
            .ok_or_else(|| GraphError::bad_request(format!("Batch request '{id}' needs a valid 'method'.")))?;
        let url =
            field("url").ok_or_else(|| GraphError::bad_request(format!("Batch request '{id}' needs a 'url'.")))?;
        let mut headers = HeaderMap::new();
        if let Some(given) = request.get("headers").and_then(Value::as_object) {
            for (name, value) in given {
                let (Ok(name), Some(Ok(value))) =
                    (HeaderName::from_bytes(name.as_bytes()), value.as_str().map(HeaderValue::from_str))
                else {
                    return Err(GraphError::bad_request(format!(
                        "Batch request '{id}' has an invalid header '{name}'."
                    )));
                };
                headers.insert(name, value);
            }
        }
        let body = request.get("body").cloned().filter(|b| !b.is_null());
        if body.is_some() && !headers.contains_key(header::CONTENT_TYPE) {
            return Err(GraphError::bad_request(format!(
                "Batch request '{id}' has a body but no Content-Type header."
            )));
        }
        let depends_on = match request.get("dependsOn") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ids)) => ids.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(_) => return Err(GraphError::bad_request(format!("Batch request '{id}': dependsOn must be a list."))),
        };
        for dependency in &depends_on {
            if !steps.iter().any(|s| &s.id == dependency) {
                return Err(GraphError::bad_request(format!(
                    "Batch request '{id}' depends on '{dependency}', which is not an earlier request of the batch."
                )));
            }
        }
        steps.push(Step { id, method, url, headers, body, depends_on });
    }
    Ok(steps)
}

/// The relative URL of a sub-request as a path of the Graph routes.
fn route(url: &str) -> Option<String> {
    if url.contains("://") {
        return None;
    }
    let path = url.trim_start_matches('/');
    let path = path.strip_prefix("v1.0/").unwrap_or(path);
    Some(format!("/{path}"))
}

/// The routes a batch dispatches to, and what authenticates the batch itself.
#[derive(Clone)]
pub struct BatchState {
    pub routes: Router,
    pub graph: GraphState,
}

pub async fn batch(
    State(BatchState { routes, graph }): State<BatchState>,
    outer: HeaderMap,
    crate::body::JsonObject(body): crate::body::JsonObject,
) -> GraphResult<Json<Value>> {
    crate::auth::authenticate(&outer, &graph).await?;
    let steps = parse(&body)?;
    let mut statuses: HashMap<String, StatusCode> = HashMap::new();
    let mut responses = Vec::with_capacity(steps.len());
    for step in steps {
        let failed = step.depends_on.iter().any(|d| statuses.get(d).is_none_or(|s| !s.is_success()));
        let (status, headers, body) = if failed {
            let error =
                json!({"error": {"code": "FailedDependency", "message": "A request this one depends on failed."}});
            (StatusCode::FAILED_DEPENDENCY, json_headers(), error)
        } else {
            run(&routes, &outer, &step).await
        };
        statuses.insert(step.id.clone(), status);
        responses.push(json!({"id": step.id, "status": status.as_u16(), "headers": headers, "body": body}));
    }
    Ok(Json(json!({ "responses": responses })))
}

/// The headers a batched response carries, spelled as Graph spells them: clients look them up by exact name
/// (the JavaScript SDK's `BatchResponseContent` reads a body as JSON only under `Content-Type`).
const RETURNED_HEADERS: [(header::HeaderName, &str); 2] =
    [(header::CONTENT_TYPE, "Content-Type"), (header::RETRY_AFTER, "Retry-After")];

/// The headers of an error the batch itself answers for one of its requests.
fn json_headers() -> Map<String, Value> {
    Map::from_iter([("Content-Type".to_owned(), json!("application/json"))])
}

async fn run(routes: &Router, outer: &HeaderMap, step: &Step) -> (StatusCode, Map<String, Value>, Value) {
    let Some(path) = route(&step.url) else {
        let error =
            json!({"error": {"code": "Request_BadRequest", "message": "A batch request URL must be relative."}});
        return (StatusCode::BAD_REQUEST, json_headers(), error);
    };
    let mut request = Request::builder().method(step.method.clone()).uri(path);
    for name in [header::AUTHORIZATION, HeaderName::from_static("consistencylevel")] {
        if let Some(value) = outer.get(&name) {
            request = request.header(name, value);
        }
    }
    for (name, value) in &step.headers {
        request = request.header(name, value);
    }
    let body = step.body.as_ref().map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
    let Ok(request) = request.body(body) else {
        let error = json!({"error": {"code": "Request_BadRequest", "message": "The batch request is malformed."}});
        return (StatusCode::BAD_REQUEST, json_headers(), error);
    };
    let response = match routes.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let mut headers = Map::new();
    for (name, spelled) in RETURNED_HEADERS {
        if let Some(value) = response.headers().get(name).and_then(|v| v.to_str().ok()) {
            headers.insert(spelled.into(), json!(value));
        }
    }
    let bytes = to_bytes(response.into_body(), crate::MAX_BODY_BYTES * 4).await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        if bytes.is_empty() {
            Value::Null
        } else {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        }
    });
    (status, headers, body)
}
