//! The Microsoft identity platform's OAuth 2.0 / OpenID Connect endpoints, per tenant:
//! discovery, signing keys, and the token endpoint.
//!
//! `{tenant}` in every path is the tenant's id or any of its domains. Errors use OAuth's
//! `{"error","error_description"}` with Entra's extra fields (`error_codes`, `timestamp`, `trace_id`,
//! `correlation_id`). Interactive sign-in (authorize, sign-in pages, MFA) comes later and lives here too.

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use gatehouse_core::schema::format_time;
use gatehouse_core::{kernel::request, Directory, Error, ErrorKind};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Clone)]
struct IdentityState {
    directory: Arc<Directory>,
}

pub fn router(directory: Arc<Directory>) -> Router {
    Router::new()
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(discovery))
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .with_state(IdentityState { directory })
}

/// An OAuth error response.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// `Retry-After`, in seconds.
    retry_after: Option<u64>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self { status, error, description: description.into(), retry_after: None }
    }
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        match (e.kind, e.target.as_deref()) {
            (ErrorKind::Unauthenticated, _) => OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", e.message),
            (ErrorKind::Forbidden, _) => OAuthError::new(StatusCode::BAD_REQUEST, "unauthorized_client", e.message),
            (ErrorKind::Invalid, Some("scope")) => OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", e.message),
            (ErrorKind::Invalid, Some("resource")) => {
                OAuthError::new(StatusCode::BAD_REQUEST, "invalid_resource", e.message)
            }
            (ErrorKind::Invalid | ErrorKind::Conflict | ErrorKind::UnsupportedQuery, _) => {
                OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", e.message)
            }
            (ErrorKind::NotFound, _) => OAuthError::new(StatusCode::BAD_REQUEST, "invalid_tenant", e.message),
            (ErrorKind::Throttled, _) => OAuthError {
                retry_after: e.retry_after,
                ..OAuthError::new(StatusCode::TOO_MANY_REQUESTS, "invalid_client", e.message)
            },
            (ErrorKind::Unavailable, _) => OAuthError {
                retry_after: e.retry_after,
                ..OAuthError::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", e.message)
            },
            (ErrorKind::Internal, _) => OAuthError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", e.message),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let context = request::current();
        let code: Option<u32> = self
            .description
            .strip_prefix("AADSTS")
            .and_then(|rest| rest.split(':').next())
            .and_then(|digits| digits.parse().ok());
        let body = json!({
            "error": self.error,
            "error_description": self.description,
            "error_codes": code.map(|c| vec![c]).unwrap_or_default(),
            "timestamp": format_time(Utc::now()),
            "trace_id": context.request_id,
            "correlation_id": context.client_request_id.unwrap_or(context.request_id.clone()),
        });
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

async fn tenant_id(state: &IdentityState, tenant: &str) -> Result<Uuid, OAuthError> {
    state.directory.resolve_tenant(tenant).await.map_err(|_| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        )
    })
}

async fn discovery(State(state): State<IdentityState>, Path(tenant): Path<String>) -> Result<Json<Value>, OAuthError> {
    let id = tenant_id(&state, &tenant).await?;
    let base = request::current().base_url;
    Ok(Json(json!({
        "issuer": gatehouse_core::applications::tokens::issuer(&base, id),
        "token_endpoint": format!("{base}/{id}/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/{id}/discovery/v2.0/keys"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "grant_types_supported": ["client_credentials"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "request_uri_parameter_supported": false,
        "tenant_region_scope": null,
        "cloud_instance_name": "gatehouse",
        "msgraph_host": base.split("://").nth(1).unwrap_or_default(),
    })))
}

async fn keys(State(state): State<IdentityState>, Path(tenant): Path<String>) -> Result<Json<Value>, OAuthError> {
    let id = tenant_id(&state, &tenant).await?;
    Ok(Json(state.directory.tokens().jwks(id).await?))
}

/// Client credentials from `client_secret_basic` (Authorization header) or `client_secret_post` (form).
fn client_credentials(headers: &HeaderMap, form: &HashMap<String, String>) -> Result<(String, String), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
    if let Some(encoded) = basic {
        if form.contains_key("client_secret") {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "AADSTS90014: Use only one client authentication method.",
            ));
        }
        let decoded =
            STANDARD.decode(encoded.trim()).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| {
                OAuthError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "The Authorization header is not valid Basic credentials.",
                )
            })?;
        let (id, secret) = decoded.split_once(':').ok_or_else(|| {
            OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "The Authorization header is not valid Basic credentials.",
            )
        })?;
        return Ok((form_decode(id), form_decode(secret)));
    }
    let id = form.get("client_id").cloned().ok_or_else(|| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
        )
    })?;
    let secret = form.get("client_secret").cloned().ok_or_else(|| {
        OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    })?;
    Ok((id, secret))
}

/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64.
fn form_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " ")).decode_utf8_lossy().into_owned()
}

async fn token(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Result<Response, OAuthError> {
    let Form(form) = form.map_err(|e| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("The request body is not a valid form: {e}"),
        )
    })?;
    let id = tenant_id(&state, &tenant).await?;
    let grant = form.get("grant_type").map(String::as_str).unwrap_or_default();
    match grant {
        "client_credentials" => {}
        "" => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "AADSTS900144: The request body must contain the following parameter: 'grant_type'.",
            ))
        }
        other => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("AADSTS70003: The app requested an unsupported grant type '{other}'."),
            ))
        }
    }
    let (client_id, secret) = client_credentials(&headers, &form)?;
    let scope = form.get("scope").map(String::as_str).unwrap_or_default();
    if scope.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter: 'scope'.",
        ));
    }
    let base = request::current().base_url;
    let source = peer.map(|Extension(ConnectInfo(address))| address.ip());
    let issued = state.directory.tokens().issue_app_token(id, &client_id, &secret, scope, &base, source).await?;
    let body = json!({
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "ext_expires_in": issued.expires_in,
        "access_token": issued.access_token,
    });
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}
