//! The bearer-token extractor: every Graph handler that takes a [`Caller`] gets one the core vouched for.

use crate::error::GraphError;
use crate::GraphState;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use gatehouse_core::Caller;

pub struct Authenticated(pub Caller);

impl FromRequestParts<GraphState> for Authenticated {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, state: &GraphState) -> Result<Self, Self::Rejection> {
        authenticate(&parts.headers, state).await.map(Authenticated)
    }
}

/// The caller a request's bearer token names, or Graph's 401.
pub async fn authenticate(headers: &HeaderMap, state: &GraphState) -> Result<Caller, GraphError> {
    let unauthenticated =
        |message: &str| GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message);
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthenticated("Access token is empty."))?
        .to_str()
        .map_err(|_| unauthenticated("Access token is malformed."))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthenticated("Access token is empty."))?;
    Ok(state.directory.tokens().authenticate(token).await?)
}
