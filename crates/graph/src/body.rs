//! The JSON body extractor: a JSON object of at most [`crate::MAX_BODY_BYTES`], or a Graph error.

use crate::error::GraphError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde_json::{Map, Value};

pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = GraphError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                GraphError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Request_EntityTooLarge",
                    format!("The request body is larger than the {} bytes allowed.", crate::MAX_BODY_BYTES),
                )
            } else {
                GraphError::bad_request("The request body could not be read.")
            }
        })?;
        if !content_type.is_empty() && !content_type.starts_with("application/json") {
            return Err(GraphError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Request_BadRequest",
                format!("A request body of type '{content_type}' is not supported; send application/json."),
            ));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(object)) => Ok(JsonObject(object)),
            Ok(_) => Err(GraphError::bad_request("The request body must be a JSON object.")),
            Err(e) => Err(GraphError::bad_request(format!("Invalid JSON in the request body: {e}."))),
        }
    }
}
