//! Graph's error body: `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use gatehouse_core::{kernel::request, Error, ErrorKind};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    pub fn unsupported_query(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", message)
    }
}

impl From<Error> for GraphError {
    fn from(error: Error) -> Self {
        let (status, code) = match error.kind {
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "Request_ResourceNotFound"),
            ErrorKind::Conflict | ErrorKind::Invalid => (StatusCode::BAD_REQUEST, "Request_BadRequest"),
            ErrorKind::Unauthenticated => (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"),
            ErrorKind::Forbidden => (StatusCode::FORBIDDEN, "Authorization_RequestDenied"),
            ErrorKind::UnsupportedQuery => (StatusCode::BAD_REQUEST, "Request_UnsupportedQuery"),
            ErrorKind::Throttled => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests"),
            ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
            ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
        };
        Self { retry_after: error.retry_after, ..Self::new(status, error.code.unwrap_or(code), error.message) }
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let context = request::current();
        let body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                    "request-id": context.request_id,
                    "client-request-id": context.client_request_id.unwrap_or(context.request_id.clone()),
                }
            }
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"\", error=\"invalid_token\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

pub type GraphResult<T> = Result<T, GraphError>;

pub async fn unknown_segment(uri: Uri) -> GraphError {
    let segment =
        uri.path().trim_start_matches("/v1.0").trim_start_matches('/').split('/').next().unwrap_or_default().to_owned();
    let segment: String = segment.chars().take(64).collect();
    GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", format!("Resource not found for the segment '{segment}'."))
}

pub async fn method_not_allowed() -> GraphError {
    GraphError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request target.",
    )
}
