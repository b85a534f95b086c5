//! The Microsoft identity platform's OAuth 2.0 / OpenID Connect endpoints, per tenant:
//! discovery, signing keys, home realm discovery, and the token endpoint (client credentials, the password
//! grant, refresh tokens), which hands people's sign-ins to the core's sign-in pipeline.
//!
//! `{tenant}` in every path is the tenant's id or any of its domains, or `organizations`/`common`, where
//! the account that signs in names its tenant. Errors use OAuth's
//! `{"error","error_description"}` with Entra's extra fields (`error_codes`, `timestamp`, `trace_id`,
//! `correlation_id`). The pages a person meets (sign-in, consent, a password change the sign-in requires,
//! the second factor, device login, self-service password reset, My Sign-ins, My Account) live here too, and
//! so does the admin center (`/{tenant}/admin`), built on the same sign-in and pages.

mod admin;
mod device;
mod myaccount;
mod mysignins;
mod page_sign_in;
mod pages;
mod redeem;
mod reset;
mod share;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use gatehouse_core::applications::ClientProof;
use gatehouse_core::schema::format_time;
use gatehouse_core::sign_in::{self, issue::Issued, ClientRequest, Tenancy};
use gatehouse_core::{kernel::request, Directory, Error, ErrorKind};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Clone)]
struct IdentityState {
    directory: Arc<Directory>,
    /// The admin center's bulk imports running on this node.
    imports: Arc<admin::Imports>,
}

/// The address a request came from, where the server knows it (smart lockout and client throttling count by it).
pub(crate) type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

pub(crate) fn source_of(peer: Peer) -> Option<std::net::IpAddr> {
    peer.map(|Extension(ConnectInfo(address))| address.ip())
}

/// The browser a page's request comes from, as Conditional Access reads it.
pub(crate) fn browser_of(peer: Peer, headers: &HeaderMap) -> sign_in::Browser {
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    sign_in::Browser { ip: source_of(peer), user_agent }
}

pub fn router(directory: Arc<Directory>) -> Router {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(|state, tenant| async { public(discovery(state, tenant).await) }),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(|state, tenant| async { public(keys(state, tenant).await) }))
        .route("/{tenant}/oauth2/v2.0/token", post(token).options(token_preflight))
        .route("/{tenant}/oauth2/v2.0/authorize", get(pages::authorize).post(pages::authorize_form))
        .route("/{tenant}/oauth2/v2.0/logout", get(pages::logout).post(pages::logout))
        .route("/oidc/userinfo", get(userinfo).post(userinfo))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(device::devicecode))
        .route("/{tenant}/devicelogin", get(device::devicelogin).post(device::devicelogin_form))
        .route("/{tenant}/passwordreset", get(reset::password_reset).post(reset::password_reset_form))
        .route("/{tenant}/redeem", get(redeem::redeem).post(redeem::redeem_form))
        .route("/{tenant}/share", get(share::share).post(share::share_form))
        .route("/{tenant}/oauth2/v2.0/introspect", post(introspect))
        .route("/{tenant}/mysignins", get(mysignins::my_sign_ins).post(mysignins::my_sign_ins_form))
        .route("/{tenant}/myaccount", get(myaccount::my_account).post(myaccount::my_account_form))
        .route("/common/userrealm/{username}", get(user_realm))
        .route("/admin", get(admin::choose_tenant))
        .route(admin::STYLESHEET_PATH, get(admin::stylesheet))
        .route(admin::SCRIPT_PATH, get(admin::script))
        .route("/{tenant}/admin/groups/rule", get(admin::check_rule))
        .route("/{tenant}/admin", get(admin::admin).post(admin::admin_sign_in))
        .route("/{tenant}/admin/users", get(admin::users))
        .route("/{tenant}/admin/users/new", get(admin::new_user).post(admin::create_user))
        .route(
            "/{tenant}/admin/users/import",
            get(admin::import_form)
                .post(admin::start_import)
                .layer(axum::extract::DefaultBodyLimit::max(admin::MOST_UPLOAD_BYTES)),
        )
        .route("/{tenant}/admin/users/template.csv", get(admin::import_template))
        .route("/{tenant}/admin/users/export.csv", get(admin::export_users))
        .route("/{tenant}/admin/groups/export.csv", get(admin::export_groups))
        .route("/{tenant}/admin/users/deleted", get(admin::deleted_users).post(admin::restore_user))
        .route("/{tenant}/admin/users/import/{job}", get(admin::import_progress))
        .route("/{tenant}/admin/users/import/{job}/results.csv", get(admin::import_results))
        .route("/{tenant}/admin/users/{id}", get(admin::user).post(admin::user_action))
        .route("/{tenant}/admin/groups", get(admin::groups))
        .route("/{tenant}/admin/groups/new", get(admin::new_group).post(admin::create_group))
        .route("/{tenant}/admin/groups/{id}", get(admin::group).post(admin::group_action))
        .route("/{tenant}/admin/licenses", get(admin::licenses))
        .route("/{tenant}/admin/apps", get(admin::apps))
        .route("/{tenant}/admin/guests", get(admin::guests).post(admin::invite))
        .route("/{tenant}/admin/settings", get(admin::settings).post(admin::save_settings))
        .route(
            "/{tenant}/admin/conditional-access",
            get(admin::conditional_access).post(admin::conditional_access_action),
        )
        .route("/{tenant}/admin/apps/new", get(admin::new_app).post(admin::create_app))
        .route("/{tenant}/admin/apps/{id}", get(admin::app).post(admin::app_action))
        .route("/{tenant}/admin/roles", get(admin::roles))
        .route("/{tenant}/admin/logs/sign-ins", get(admin::sign_in_logs))
        .route("/{tenant}/admin/logs/audit", get(admin::audit_logs))
        .route("/{tenant}/admin/roles/{id}", get(admin::role).post(admin::role_action))
        .with_state(IdentityState { directory, imports: Arc::default() })
}

/// An OAuth error response.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// `Retry-After`, in seconds.
    retry_after: Option<u64>,
    /// Entra's `suberror`, which tells MSAL what the person must do (`consent_required`, …).
    suberror: Option<&'static str>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self { status, error, description: description.into(), retry_after: None, suberror: None }
    }
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        match (e.kind, e.target.as_deref()) {
            (ErrorKind::Unauthenticated, _) => OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", e.message),
            (ErrorKind::Forbidden, _) => OAuthError::new(StatusCode::BAD_REQUEST, "unauthorized_client", e.message),
            (ErrorKind::Invalid, Some("scope")) => OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", e.message),
            (ErrorKind::Invalid, Some(sign_in::device::DEVICE)) => {
                OAuthError::new(StatusCode::BAD_REQUEST, e.code.unwrap_or("invalid_grant"), e.message)
            }
            (ErrorKind::Invalid, Some(sign_in::GRANT)) => {
                OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", e.message)
            }
            (ErrorKind::Invalid, Some(sign_in::INTERACTION))
                if e.message.starts_with("AADSTS50076") || e.message.starts_with("AADSTS70044") =>
            {
                OAuthError::new(StatusCode::BAD_REQUEST, "interaction_required", e.message)
            }
            (ErrorKind::Invalid, Some(sign_in::INTERACTION)) => OAuthError {
                suberror: Some(if e.message.starts_with("AADSTS65001") {
                    "consent_required"
                } else {
                    "user_password_expired"
                }),
                ..OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", e.message)
            },
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
        let mut body = json!({
            "error": self.error,
            "error_description": self.description,
            "error_codes": code.map(|c| vec![c]).unwrap_or_default(),
            "timestamp": format_time(Utc::now()),
            "trace_id": context.request_id,
            "correlation_id": context.client_request_id.unwrap_or(context.request_id.clone()),
        });
        if let Some(suberror) = self.suberror {
            body["suberror"] = json!(suberror);
        }
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

fn unknown_tenant(tenant: &str) -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        format!("AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
    )
}

async fn tenant_id(state: &IdentityState, tenant: &str) -> Result<Uuid, OAuthError> {
    state.directory.resolve_tenant(tenant).await.map_err(|_| unknown_tenant(tenant))
}

/// The tenant a path names: one tenant by id or verified domain, or `organizations`/`common`, where the
/// account that signs in decides.
async fn tenancy(state: &IdentityState, tenant: &str) -> Result<Tenancy, OAuthError> {
    match tenant.to_ascii_lowercase().as_str() {
        "organizations" => Ok(Tenancy::Organizations),
        "common" => Ok(Tenancy::Common),
        _ => Ok(Tenancy::Tenant(tenant_id(state, tenant).await?)),
    }
}

async fn discovery(State(state): State<IdentityState>, Path(tenant): Path<String>) -> Result<Json<Value>, OAuthError> {
    let base = request::current().base_url;
    let (issuer, path) = match tenancy(&state, &tenant).await? {
        Tenancy::Tenant(id) => (gatehouse_core::applications::tokens::issuer(&base, id), id.to_string()),
        Tenancy::Organizations | Tenancy::Common => (format!("{base}/{{tenantid}}/v2.0"), tenant.to_ascii_lowercase()),
    };
    let host = base.split("://").nth(1).unwrap_or_default();
    Ok(Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/{path}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/{path}/oauth2/v2.0/token"),
        "device_authorization_endpoint": format!("{base}/{path}/oauth2/v2.0/devicecode"),
        "end_session_endpoint": format!("{base}/{path}/oauth2/v2.0/logout"),
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "jwks_uri": format!("{base}/{path}/discovery/v2.0/keys"),
        "kerberos_endpoint": format!("{base}/{path}/kerberos"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "grant_types_supported": ["authorization_code", "refresh_token", "password", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "request_uri_parameter_supported": false,
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "tenant_region_scope": null,
        "cloud_instance_name": "gatehouse",
        "cloud_graph_host_name": host,
        "msgraph_host": host,
        "rbac_url": base,
    })))
}

/// MSAL's home realm discovery before a password grant: every account here is a managed (cloud) account of
/// the tenant that holds its domain; an unknown domain is `Unknown`, as Entra answers.
async fn user_realm(State(state): State<IdentityState>, Path(username): Path<String>) -> Json<Value> {
    let domain = username.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
    let known = !domain.is_empty() && state.directory.resolve_tenant(&domain).await.is_ok();
    let mut realm = json!({
        "ver": "1.0",
        "account_type": if known { "Managed" } else { "Unknown" },
        "cloud_instance_name": "gatehouse",
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    });
    if known {
        realm["domain_name"] = json!(domain);
    }
    Json(realm)
}

async fn keys(State(state): State<IdentityState>, Path(tenant): Path<String>) -> Result<Json<Value>, OAuthError> {
    let id = tenant_id(&state, &tenant).await?;
    Ok(Json(state.directory.tokens().jwks(id).await?))
}

/// What a client showed to prove itself.
enum Shown {
    Secret(String),
    Assertion(String),
}

impl Shown {
    fn proof(&self) -> ClientProof<'_> {
        match self {
            Shown::Secret(secret) => ClientProof::Secret(secret),
            Shown::Assertion(assertion) => ClientProof::Assertion(assertion),
        }
    }
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The client's id and, when it showed one, its proof: a secret by `client_secret_basic` (Authorization
/// header) or `client_secret_post` (form), or a signed assertion by `private_key_jwt`. One method only.
fn client_auth(headers: &HeaderMap, form: &HashMap<String, String>) -> Result<(String, Option<Shown>), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
    let methods = [basic.is_some(), form.contains_key("client_secret"), form.contains_key("client_assertion")];
    if methods.iter().filter(|m| **m).count() > 1 {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS90014: Use only one client authentication method.",
        ));
    }
    if let Some(encoded) = basic {
        let not_basic = || {
            OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "The Authorization header is not valid Basic credentials.",
            )
        };
        let decoded =
            STANDARD.decode(encoded.trim()).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(not_basic)?;
        let (id, secret) = decoded.split_once(':').ok_or_else(not_basic)?;
        return Ok((form_decode(id), Some(Shown::Secret(form_decode(secret)))));
    }
    let id = required(form, "client_id")?.to_owned();
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("AADSTS50027: client_assertion_type must be '{JWT_BEARER}'."),
            ));
        }
        return Ok((id, Some(Shown::Assertion(assertion.clone()))));
    }
    Ok((id, form.get("client_secret").cloned().map(Shown::Secret)))
}

/// The request's form, or OAuth's `invalid_request`.
fn form_of(
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Result<HashMap<String, String>, OAuthError> {
    form.map(|Form(form)| form).map_err(|e| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("The request body is not a valid form: {e}"),
        )
    })
}

/// A form parameter the request must carry (AADSTS900144 without it).
fn required<'a>(form: &'a HashMap<String, String>, name: &str) -> Result<&'a str, OAuthError> {
    form.get(name).map(String::as_str).filter(|v| !v.is_empty()).ok_or_else(|| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("AADSTS900144: The request body must contain the following parameter: '{name}'."),
        )
    })
}

/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64.
fn form_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " ")).decode_utf8_lossy().into_owned()
}

/// The token endpoint. A browser's cross-origin request (a single-page app's, with `Origin`) is answered
/// with that origin allowed, errors included, so the app can read them; whether the client may redeem
/// cross-origin at all is the core's decision.
async fn token(
    state: State<IdentityState>,
    tenant: Path<String>,
    headers: HeaderMap,
    peer: Peer,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let origin = headers.get(header::ORIGIN).cloned();
    let mut response = token_grant(state, tenant, &headers, peer, form).await.into_response();
    if let Some(origin) = origin {
        response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        response.headers_mut().insert(header::VARY, header::HeaderValue::from_static("Origin"));
    }
    response
}

/// A browser's preflight before a cross-origin token request.
async fn token_preflight(headers: HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let out = response.headers_mut();
    if let Some(origin) = headers.get(header::ORIGIN) {
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
    out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, header::HeaderValue::from_static("POST, OPTIONS"));
    out.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        header::HeaderValue::from_static("content-type, client-request-id, x-client-sku, x-client-ver, x-client-os, x-client-cpu, x-ms-lib-capability"),
    );
    out.insert(header::ACCESS_CONTROL_MAX_AGE, header::HeaderValue::from_static("86400"));
    out.insert(header::VARY, header::HeaderValue::from_static("Origin"));
    response
}

/// Token introspection (RFC 7662) for resources: a resource, proving itself as a confidential client, asks
/// whether a token for it stands — a sharing link's token stops standing when its link is revoked.
async fn introspect(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    peer: Peer,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Result<Response, OAuthError> {
    let form = form_of(form)?;
    let Tenancy::Tenant(tenant) = tenancy(&state, &tenant).await? else {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS50059: Introspection names its tenant.",
        ));
    };
    let token = required(&form, "token")?;
    let (client_id, shown) = client_auth(&headers, &form)?;
    let base = request::current().base_url;
    let proof = shown.as_ref().map(Shown::proof);
    let client = ClientRequest {
        client_id: &client_id,
        proof,
        scope: "",
        base: &base,
        source: source_of(peer),
        origin: None,
        user_agent: None,
    };
    let answer = state.directory.sharing().introspect(tenant, &client, token).await?;
    Ok(Json(Value::Object(answer)).into_response())
}

/// Discovery and keys are public: any origin may read them.
fn public<T: IntoResponse>(response: T) -> Response {
    let mut response = response.into_response();
    response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, header::HeaderValue::from_static("*"));
    response
}

async fn token_grant(
    State(state): State<IdentityState>,
    Path(tenant): Path<String>,
    headers: &HeaderMap,
    peer: Peer,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Result<Response, OAuthError> {
    let form = form_of(form)?;
    let tenancy = tenancy(&state, &tenant).await?;
    let grant = required(&form, "grant_type")?;
    let (client_id, shown) = client_auth(headers, &form)?;
    let base = request::current().base_url;
    let source = source_of(peer);
    let scope = form.get("scope").map(String::as_str).unwrap_or_default();
    let proof = shown.as_ref().map(Shown::proof);
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let client = ClientRequest { client_id: &client_id, proof, scope, base: &base, source, origin, user_agent };
    let body = match grant {
        "client_credentials" => {
            let Tenancy::Tenant(id) = tenancy else {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "AADSTS50059: No tenant-identifying information found in either the request or implied by any provided credentials.",
                ));
            };
            let proof = proof.ok_or_else(|| {
                OAuthError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                )
            })?;
            required(&form, "scope")?;
            let issued = state.directory.tokens().issue_app_token(id, &client_id, proof, scope, &base, source).await?;
            json!({
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
                "ext_expires_in": issued.expires_in,
                "access_token": issued.access_token,
            })
        }
        "password" => {
            let (username, password) = (required(&form, "username")?, required(&form, "password")?);
            required(&form, "scope")?;
            let issued = state.directory.sign_in().password(tenancy, &client, username, password).await?;
            user_tokens(issued, &form)
        }
        "authorization_code" => {
            let (code, redirect_uri) = (required(&form, "code")?, required(&form, "redirect_uri")?);
            let verifier = form.get("code_verifier").map(String::as_str);
            let issued = state.directory.sign_in().redeem(tenancy, &client, code, redirect_uri, verifier).await?;
            user_tokens(issued, &form)
        }
        "urn:ietf:params:oauth:grant-type:device_code" | "device_code" => {
            let code = required(&form, "device_code")?;
            let issued = state.directory.sign_in().poll_device(tenancy, &client, code).await?;
            user_tokens(issued, &form)
        }
        "refresh_token" => {
            let token = required(&form, "refresh_token")?;
            let issued = state.directory.sign_in().refresh(tenancy, &client, token).await?;
            user_tokens(issued, &form)
        }
        other => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("AADSTS70003: The app requested an unsupported grant type '{other}'."),
            ))
        }
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// OpenID Connect's userinfo: the signed-in user's claims, for a user's access token.
async fn userinfo(State(state): State<IdentityState>, headers: HeaderMap) -> Response {
    let refused = || {
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer error=\"invalid_token\""));
        response
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token else { return refused() };
    let Ok(caller) = state.directory.tokens().authenticate(token).await else { return refused() };
    match state.directory.sign_in().userinfo(&caller).await {
        Ok(record) => {
            let text = |name: &str| record.doc.get(name).cloned().unwrap_or(Value::Null);
            Json(json!({
                "sub": token_subject(token),
                "name": text("displayName"),
                "given_name": text("givenName"),
                "family_name": text("surname"),
                "email": text("mail"),
            }))
            .into_response()
        }
        Err(_) => refused(),
    }
}

/// The `sub` claim of a token the core has just verified.
fn token_subject(token: &str) -> Value {
    token
        .split('.')
        .nth(1)
        .and_then(|payload| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|claims| claims.get("sub").cloned())
        .unwrap_or(Value::Null)
}

/// A sign-in's token response, as Entra writes it; `client_info` only when the client asked (MSAL does).
fn user_tokens(issued: Issued, form: &HashMap<String, String>) -> Value {
    let mut body = json!({
        "token_type": "Bearer",
        "scope": issued.scope,
        "expires_in": issued.expires_in,
        "ext_expires_in": issued.expires_in,
        "access_token": issued.access_token,
    });
    if let Some(refresh) = issued.refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    if let Some(id_token) = issued.id_token {
        body["id_token"] = json!(id_token);
    }
    if form.get("client_info").map(String::as_str) == Some("1") {
        body["client_info"] = json!(issued.client_info);
    }
    body
}
