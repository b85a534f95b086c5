//! The router and its layers.

use crate::metrics::Metrics;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use gatehouse_core::kernel::request::{self, RequestContext};
use gatehouse_core::Directory;
use std::sync::Arc;
use std::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;

/// How the server is reached, for absolute links and issuers.
#[derive(Debug, Clone)]
pub struct Addressing {
    /// A fixed public URL; when absent, each request's Host header is used.
    pub public_url: Option<String>,
    pub https: bool,
}

#[derive(Clone)]
struct Operations {
    directory: Arc<Directory>,
    metrics: Arc<Metrics>,
    addressing: Arc<Addressing>,
}

/// Where `/metrics` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsExposure {
    /// On the main listener, beside the API.
    Here,
    /// On a listener of its own ([`metrics_router`]), so the main one need not expose it.
    Elsewhere,
}

pub fn router(
    directory: Arc<Directory>,
    addressing: Addressing,
    metrics: Arc<Metrics>,
    exposure: MetricsExposure,
) -> Router {
    let operations =
        Operations { directory: directory.clone(), metrics: metrics.clone(), addressing: Arc::new(addressing) };
    let operational = Router::new().route("/healthz", get(|| async { "ok" })).route("/readyz", get(ready));
    let operational = match exposure {
        MetricsExposure::Here => operational.merge(metrics_router(metrics)),
        MetricsExposure::Elsewhere => operational,
    };
    operational
        .with_state(operations.clone())
        .nest("/v1.0", gatehouse_graph::router(directory.clone()))
        .nest("/beta", gatehouse_graph::beta_router(directory.clone()))
        .nest("/scim/v2", gatehouse_scim::router(directory.clone()))
        .merge(gatehouse_identity::router(directory))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(operations, context))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            gatehouse_graph::GraphError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "An internal error occurred.",
            )
            .into_response()
        }))
}

async fn ready(State(operations): State<Operations>) -> Response {
    if operations.directory.ready().await {
        "ready".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
    }
}

/// `/metrics` alone, for a listener of its own or to merge into the main router.
pub fn metrics_router<S: Clone + Send + Sync + 'static>(metrics: Arc<Metrics>) -> Router<S> {
    Router::new().route(
        "/metrics",
        get(move || {
            let text = metrics.render();
            async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
        }),
    )
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": "not_found", "error_description": "No such endpoint."})),
    )
        .into_response()
}

/// A Host header value safe to put into links: host name or address characters and a port.
fn clean_host(value: &str) -> Option<&str> {
    let ok = !value.is_empty()
        && value.len() <= 255
        && value.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
    ok.then_some(value)
}

/// Sets the request context, answers with `request-id`, logs, and counts.
async fn context(State(operations): State<Operations>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128)
        .map(str::to_owned);
    let base_url = match &operations.addressing.public_url {
        Some(url) => url.clone(),
        None => {
            let host = request
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .or_else(|| request.uri().authority().map(|a| a.as_str()))
                .and_then(clean_host)
                .unwrap_or("localhost");
            format!("{}://{host}", if operations.addressing.https { "https" } else { "http" })
        }
    };
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().clone();
    let context =
        RequestContext { request_id: request_id.clone(), client_request_id: client_request_id.clone(), base_url };
    let path_is_text = percent_encoding::percent_decode_str(request.uri().path()).decode_utf8().is_ok();
    let mut response = match path_is_text {
        true => request::scope(context, next.run(request)).await,
        false => {
            let refused = gatehouse_graph::GraphError::bad_request("The request URL's path is not valid UTF-8.");
            request::scope(context, async { refused.into_response() }).await
        }
    };
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    operations.metrics.record(&method, &route, status, elapsed);
    let method = crate::metrics::method_label(&method);
    if status >= 500 {
        tracing::warn!(request_id, method, route, status, elapsed_us = elapsed.as_micros() as u64, "request failed");
    } else if status >= 400 {
        tracing::info!(request_id, method, route, status, elapsed_us = elapsed.as_micros() as u64, "request refused");
    } else {
        tracing::debug!(request_id, method, route, status, elapsed_us = elapsed.as_micros() as u64, "request served");
    }
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("request-id", value);
    }
    if let Some(value) = client_request_id.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert("client-request-id", value);
    }
    response
}
