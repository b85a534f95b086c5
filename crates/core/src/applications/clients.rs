//! Clients as the identity platform sees them: who an application is when it asks for tokens, how it
//! proves itself (a secret or a certificate), where its redirect URIs are registered, and this node's
//! short-lived cache of all that.

use super::Applications;
use crate::auth::authorization::{Permission, Permissions};
use crate::credentials::certificates::{self, ClientCertificate};
use crate::credentials::secrets;
use crate::directory::brief::{Brief, Lifetime, Subject};
use crate::kernel::error::{Error, ErrorKind, Result};
use crate::store::{ObjectKind, PermissionGrantRecord, SecretRecord, Write};
use crate::Caller;
use serde_json::{Map, Value};
use std::sync::Arc;
use uuid::Uuid;

/// What the token endpoint learns about an authenticated client.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    pub app_id: Uuid,
    pub display_name: String,
    pub service_principal: Uuid,
    pub permissions: Permissions,
    /// The application's enabled app roles for users, by id, with their values (for `roles` claims).
    pub roles: Vec<(Uuid, String)>,
    /// The application's `groupMembershipClaims` (`SecurityGroup`, `All`, …), if any.
    pub group_claims: Option<String>,
    /// The optional claims it asks for in its id tokens.
    pub id_token_claims: Vec<String>,
}

/// How a confidential client proves itself at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientProof<'a> {
    /// A client secret (`client_secret_post` or `client_secret_basic`).
    Secret(&'a str),
    /// A JWT signed with one of its certificates (`private_key_jwt`).
    Assertion(&'a str),
}

/// What a client proved itself with; tokens say it as `azpacr`/`appidacr` (1 secret, 2 certificate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofKind {
    Secret,
    Certificate,
}

impl ProofKind {
    pub fn acr(self) -> &'static str {
        match self {
            ProofKind::Secret => "1",
            ProofKind::Certificate => "2",
        }
    }
}

/// Seconds of clock skew tolerated on a client assertion's `nbf`.
const ASSERTION_SKEW: i64 = 300;
/// The longest a client assertion may be valid for, in seconds.
const ASSERTION_LIFETIME: i64 = 3600;

/// What sign-in needs to know of a client besides who it is.
#[derive(Debug, Clone)]
pub struct SignInClient {
    pub client: AuthenticatedClient,
    /// What the client proved itself with: nothing (a public client; `azpacr` 0), a secret or a certificate.
    pub proof: Option<ProofKind>,
    /// The service principal's `appRoleAssignmentRequired`: only users assigned an app role (directly or
    /// through a group they are a direct member of) may sign in.
    pub assignment_required: bool,
}

/// Where a client's redirect URI is registered, which decides how it must redeem a code: a web app with
/// its secret; a single-page app or a public client (mobile, desktop) with PKCE and no secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    Web,
    Spa,
    Public,
}

impl RedirectKind {
    const ALL: [(RedirectKind, &'static str); 3] =
        [(RedirectKind::Web, "web"), (RedirectKind::Spa, "spa"), (RedirectKind::Public, "publicClient")];
}

/// A client as the authorization endpoint sees it: who it is, and where its redirect URI is registered.
#[derive(Debug, Clone)]
pub struct AuthorizeClient {
    pub client: AuthenticatedClient,
    pub redirect: RedirectKind,
    pub assignment_required: bool,
    /// The application's `web.implicitGrantSettings.enableIdTokenIssuance`: id tokens from the
    /// authorization endpoint itself (the hybrid and implicit flows).
    pub id_token_issuance: bool,
}

/// Whether a redirect URI matches a registered one: exactly, except that a public client's loopback
/// address may come on any port (Entra's rule for native apps).
fn redirect_matches(kind: RedirectKind, registered: &str, given: &str) -> bool {
    if registered == given {
        return true;
    }
    let without_port = |uri: &str| -> Option<String> {
        let rest = uri.strip_prefix("http://")?;
        let (authority, path) =
            rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, String::new()));
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => authority,
        };
        ["localhost", "127.0.0.1", "[::1]"].contains(&host).then(|| format!("{host}{path}"))
    };
    kind == RedirectKind::Public && without_port(registered).is_some_and(|r| Some(r) == without_port(given))
}

impl Applications<'_> {
    /// The check of a confidential client: the client exists (application and service principal), its
    /// proof holds — one of its secrets matches (constant-time) within its validity, or its client assertion
    /// is signed by one of its certificates, for this tenant's token endpoint, by and about the client, in
    /// its time, and never seen before — and its service principal is enabled. What a client is comes from
    /// this node's short-lived client cache ([`Applications::client`]).
    pub async fn authenticate_client(
        &self,
        tenant: Uuid,
        client_id: &str,
        proof: ClientProof<'_>,
        base: &str,
    ) -> Result<(AuthenticatedClient, ProofKind)> {
        let key = client_id.to_lowercase();
        let unknown = || {
            Error::unauthenticated(format!(
                "AADSTS700016: Application with identifier '{client_id}' was not found in the directory."
            ))
        };
        let app_id = Uuid::parse_str(&key).map_err(|_| unknown())?;
        let client = self.client(tenant, app_id).await?.ok_or_else(unknown)?;
        let now = self.directory.now();
        let kind = match proof {
            ClientProof::Secret(secret) => {
                let valid =
                    client.secrets.iter().any(|s| s.start <= now && now < s.end && secrets::matches(secret, &s.digest));
                if !valid {
                    return Err(Error::unauthenticated(format!(
                        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                    )));
                }
                ProofKind::Secret
            }
            ClientProof::Assertion(assertion) => {
                let claims = certificates::verify_assertion(assertion, &client.certificates, now)?;
                self.check_assertion(tenant, app_id, &claims, base).await?;
                ProofKind::Certificate
            }
        };
        if !client.enabled {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!("AADSTS7000112: Application '{client_id}' is disabled."),
            ));
        }
        Ok((client.authenticated.clone(), kind))
    }

    /// A signed client assertion's claims: issued by and about the client, for one of this tenant's token
    /// endpoints, within its time, and with a `jti` never used before (recorded until it expires, in the
    /// store, so that no node of the deployment accepts it twice).
    async fn check_assertion(&self, tenant: Uuid, app_id: Uuid, claims: &Value, base: &str) -> Result<()> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
        let client = app_id.to_string();
        if !text("iss").eq_ignore_ascii_case(&client) || !text("sub").eq_ignore_ascii_case(&client) {
            return Err(Error::unauthenticated(
                "AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter.",
            ));
        }
        let record = self.directory.tenant_settings(tenant).await?;
        let base = base.trim_end_matches('/');
        let endpoints: Vec<String> = std::iter::once(tenant.to_string())
            .chain(record.domains.iter().cloned())
            .flat_map(|name| [format!("{base}/{name}/oauth2/v2.0/token"), format!("{base}/{name}/oauth2/token")])
            .collect();
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ours = |aud: &str| endpoints.iter().any(|e| e.eq_ignore_ascii_case(aud.trim_end_matches('/')));
        if !audiences.iter().any(|a| ours(a)) {
            return Err(Error::unauthenticated(
                "AADSTS700023: Client assertion audience claim does not match this tenant's token endpoint.",
            ));
        }
        let now = self.directory.now().timestamp();
        // NumericDate may have a fraction (MSAL sends `time.time()`); whole seconds are enough here.
        let time = |name: &str| claims.get(name).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)));
        let within = match (time("exp"), time("nbf").or(time("iat"))) {
            (Some(exp), Some(nbf)) => nbf <= now + ASSERTION_SKEW && now < exp && exp - nbf <= ASSERTION_LIFETIME,
            _ => false,
        };
        if !within {
            return Err(Error::unauthenticated("AADSTS700024: Client assertion is not within its valid time range."));
        }
        let jti = text("jti");
        if jti.is_empty() || jti.len() > 256 {
            return Err(Error::unauthenticated(
                "AADSTS700027: Client assertion must carry a 'jti' of up to 256 characters.",
            ));
        }
        let expires = chrono::DateTime::from_timestamp(time("exp").unwrap_or(now), 0).unwrap_or_default();
        let write =
            Write::UseAssertion { client: app_id, jti: jti.to_owned(), expires_at: expires, now: self.directory.now() };
        match self.directory.commit(&Caller::System { tenant }, vec![write]).await {
            Ok(_) => Ok(()),
            Err(crate::store::StoreError::Conflict(_)) => Err(Error::unauthenticated(
                "AADSTS700027: Client assertion was used already: its 'jti' was seen before.",
            )),
            Err(other) => Err(other.into()),
        }
    }

    /// A client signing a person in, as [`Applications::authenticate_client`] checks it when it shows a
    /// proof (with the base URL its token endpoint was addressed at, for a client assertion's audience). A client that shows none must be a public client: one with `isFallbackPublicClient` (which
    /// opens the password and device-code grants), or, when `redirected`, one whose redirect URIs are a
    /// mobile, desktop or single-page app's (which may refresh the tokens its codes gave).
    pub async fn sign_in_client(
        &self,
        tenant: Uuid,
        client_id: &str,
        proof: Option<(ClientProof<'_>, &str)>,
        redirected: bool,
    ) -> Result<SignInClient> {
        let unknown = || {
            Error::unauthenticated(format!(
                "AADSTS700016: Application with identifier '{client_id}' was not found in the directory."
            ))
        };
        let app_id = Uuid::parse_str(client_id).map_err(|_| unknown())?;
        let client = self.client(tenant, app_id).await?.ok_or_else(unknown)?;
        let proof = match proof {
            Some((proof, base)) => {
                let tokens = self.directory.tokens();
                Some(tokens.authenticate_client_throttled(tenant, client_id, proof, base, None).await?.1)
            }
            None if client.public_fallback => None,
            None if redirected && client.redirects.iter().any(|(kind, _)| *kind != RedirectKind::Web) => None,
            None => {
                return Err(Error::unauthenticated(
                    "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                ))
            }
        };
        if !client.enabled {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!("AADSTS7000112: Application '{client_id}' is disabled."),
            ));
        }
        Ok(SignInClient {
            client: client.authenticated.clone(),
            proof,
            assignment_required: client.assignment_required,
        })
    }

    /// The client a sign-in page serves, if `redirect_uri` is one of its registered ones (AADSTS50011
    /// otherwise: shown on the page, never redirected to).
    pub async fn authorize_client(&self, tenant: Uuid, client_id: &str, redirect_uri: &str) -> Result<AuthorizeClient> {
        let unknown = || {
            Error::invalid_property(
                "client_id",
                format!("AADSTS700016: Application with identifier '{client_id}' was not found in the directory."),
            )
        };
        let app_id = Uuid::parse_str(client_id).map_err(|_| unknown())?;
        let client = self.client(tenant, app_id).await?.ok_or_else(unknown)?;
        let redirect = client
            .redirects
            .iter()
            .find(|(kind, registered)| redirect_matches(*kind, registered, redirect_uri))
            .map(|(kind, _)| *kind)
            .ok_or_else(|| {
                Error::invalid_property(
                    "redirect_uri",
                    format!("AADSTS50011: The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."),
                )
            })?;
        if !client.enabled {
            return Err(Error::invalid_property(
                "client_id",
                format!("AADSTS7000112: Application '{client_id}' is disabled."),
            ));
        }
        Ok(AuthorizeClient {
            client: client.authenticated.clone(),
            redirect,
            assignment_required: client.assignment_required,
            id_token_issuance: client.id_token_issuance,
        })
    }

    /// An application as a resource, by the identifier a scope names it with: its app id or one of its
    /// identifier URIs. It must have a service principal in the tenant, as Entra requires.
    pub(crate) async fn resource(&self, tenant: Uuid, identifier: &str) -> Result<Option<Arc<CachedClient>>> {
        let app_id = match Uuid::parse_str(identifier) {
            Ok(app_id) => Some(app_id),
            Err(_) => {
                let trimmed = identifier.trim_end_matches('/');
                let found = self.by_identifier_uri(tenant, trimmed).await?;
                found.and_then(|app| app.unique_key).and_then(|key| Uuid::parse_str(&key).ok())
            }
        };
        match app_id {
            Some(app_id) => self.client(tenant, app_id).await,
            None => Ok(None),
        }
    }

    /// A client as the token endpoint needs it, from this node's cache while it is younger than
    /// [`CLIENT_CACHE_SECONDS`], else from the store (four reads). The cache forgets a tenant's clients when
    /// this node changes any application, service principal, secret or grant of it, so it is exact
    /// for changes made here and at most [`CLIENT_CACHE_SECONDS`] old for changes made on other nodes. Unknown
    /// clients are not remembered.
    pub(crate) async fn client(&self, tenant: Uuid, app_id: Uuid) -> Result<Option<Arc<CachedClient>>> {
        let now = self.directory.now().timestamp();
        let touches = self.directory.touches.count(tenant, Subject::Clients);
        let cache = self.directory.node_state::<Brief<(Uuid, Uuid), CachedClient>>();
        if let Some(client) = cache.fresh(&(tenant, app_id), now, touches, &CLIENT_CACHE) {
            return Ok(Some(client));
        }
        let key = app_id.to_string();
        let kinds = [ObjectKind::Application, ObjectKind::ServicePrincipal];
        let found = self.directory.store.objects_by_key(tenant, &kinds, &key).await.map_err(Error::from)?;
        let of_kind = |kind| found.iter().find(|o| o.kind == kind);
        let (Some(app), Some(sp)) = (of_kind(ObjectKind::Application), of_kind(ObjectKind::ServicePrincipal)) else {
            return Ok(None);
        };
        let secrets = self.directory.store.secrets(tenant, &[app.id, sp.id]).await.map_err(Error::from)?;
        let grants = self.directory.store.permission_grants(tenant, Some(sp.id)).await.map_err(Error::from)?;
        let permissions = match self.directory.graph_principal(tenant).await? {
            Some(graph) => self
                .directory
                .store
                .app_role_assignments(tenant, sp.id)
                .await
                .map_err(Error::from)?
                .iter()
                .filter(|a| a.resource == graph)
                .filter_map(|a| Permission::from_app_role_id(&a.app_role_id.to_string()))
                .collect(),
            None => Permissions::default(),
        };
        let client = Arc::new(CachedClient {
            authenticated: AuthenticatedClient {
                app_id,
                display_name: app.doc.get("displayName").and_then(Value::as_str).unwrap_or_default().to_owned(),
                service_principal: sp.id,
                permissions,
                roles: enabled_roles(&app.doc, "User"),
                group_claims: app.doc.get("groupMembershipClaims").and_then(Value::as_str).map(str::to_owned),
                id_token_claims: optional_claims(&app.doc, "idToken"),
            },
            application_roles: enabled_roles(&app.doc, "Application"),
            api: ApiDefinition::of(&app.doc),
            access_token_claims: optional_claims(&app.doc, "accessToken"),
            secrets,
            grants,
            enabled: sp.doc.get("accountEnabled") != Some(&Value::Bool(false)),
            public_fallback: app.doc.get("isFallbackPublicClient") == Some(&Value::Bool(true)),
            certificates: super::keys::registered_certificates(&app.doc),
            id_token_issuance: app
                .doc
                .get("web")
                .and_then(|web| web.get("implicitGrantSettings"))
                .and_then(|settings| settings.get("enableIdTokenIssuance"))
                == Some(&Value::Bool(true)),
            redirects: RedirectKind::ALL
                .iter()
                .flat_map(|(kind, property)| {
                    let uris = app.doc.get(*property).and_then(|p| p.get("redirectUris")).and_then(Value::as_array);
                    uris.into_iter().flatten().filter_map(Value::as_str).map(|uri| (*kind, uri.to_owned()))
                })
                .collect(),
            assignment_required: sp.doc.get("appRoleAssignmentRequired") == Some(&Value::Bool(true)),
        });
        cache.keep((tenant, app_id), client.clone(), now, touches, &CLIENT_CACHE);
        Ok(Some(client))
    }
}

/// How long a node trusts its cached view of a client, in seconds: how stale a secret's removal, a grant's
/// change or a service principal's disabling made on another node can be here.
pub const CLIENT_CACHE_SECONDS: i64 = 5;

/// The client cache's lifetime, and the most clients a node caches at once.
const CLIENT_CACHE: Lifetime = Lifetime { seconds: CLIENT_CACHE_SECONDS, capacity: 10_000 };

/// The enabled app roles of an application that `member_type` (`User` or `Application`) may be assigned,
/// by id, with their values.
fn enabled_roles(app: &Map<String, Value>, member_type: &str) -> Vec<(Uuid, String)> {
    app.get("appRoles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| r.get("isEnabled") != Some(&Value::Bool(false)))
        .filter(|r| {
            r.get("allowedMemberTypes").and_then(Value::as_array).is_some_and(|t| t.contains(&member_type.into()))
        })
        .filter_map(|r| {
            let id = r.get("id").and_then(Value::as_str).and_then(|id| Uuid::parse_str(id).ok())?;
            Some((id, r.get("value").and_then(Value::as_str)?.to_owned()))
        })
        .collect()
}

/// The names of the optional claims an application asks for in one kind of token.
fn optional_claims(app: &Map<String, Value>, kind: &str) -> Vec<String> {
    let claims = app.get("optionalClaims").and_then(|c| c.get(kind)).and_then(Value::as_array);
    claims.into_iter().flatten().filter_map(|c| c.get("name").and_then(Value::as_str)).map(str::to_owned).collect()
}

/// A delegated scope an application's API defines, enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiScope {
    pub id: Uuid,
    pub value: String,
    /// Only an administrator may consent to it (`type: Admin`).
    pub admin: bool,
}

/// The API an application exposes, as the token endpoint uses it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ApiDefinition {
    pub scopes: Vec<ApiScope>,
    /// Its access tokens name it by app id (`requestedAccessTokenVersion` 2) rather than by the identifier
    /// URI the client asked with.
    pub version_two: bool,
    /// Clients it pre-authorizes: their users need not consent to these scopes.
    pub pre_authorized: Vec<(Uuid, Vec<Uuid>)>,
    /// The scopes of other resources the application's registration requires
    /// (`requiredResourceAccess`, type `Scope`), by resource app id and scope id.
    pub required: Vec<(Uuid, Uuid)>,
}

impl ApiDefinition {
    fn of(app: &Map<String, Value>) -> ApiDefinition {
        let api = app.get("api");
        let list = |value: Option<&Value>| value.and_then(Value::as_array).cloned().unwrap_or_default();
        let guid = |value: Option<&Value>| value.and_then(Value::as_str).and_then(|v| Uuid::parse_str(v).ok());
        let scopes = list(api.and_then(|a| a.get("oauth2PermissionScopes")))
            .iter()
            .filter(|s| s.get("isEnabled") != Some(&Value::Bool(false)))
            .filter_map(|s| {
                let value = s.get("value").and_then(Value::as_str)?.to_owned();
                Some(ApiScope { id: guid(s.get("id"))?, value, admin: s.get("type") == Some(&"Admin".into()) })
            })
            .collect();
        let pre_authorized = list(api.and_then(|a| a.get("preAuthorizedApplications")))
            .iter()
            .filter_map(|p| {
                let ids = list(p.get("delegatedPermissionIds")).iter().filter_map(|id| guid(Some(id))).collect();
                Some((guid(p.get("appId"))?, ids))
            })
            .collect();
        let required = list(app.get("requiredResourceAccess"))
            .iter()
            .flat_map(|r| {
                let resource = guid(r.get("resourceAppId"));
                let scopes =
                    list(r.get("resourceAccess")).into_iter().filter(|a| a.get("type") == Some(&"Scope".into()));
                scopes.filter_map(move |a| Some((resource?, guid(a.get("id"))?))).collect::<Vec<_>>()
            })
            .collect();
        ApiDefinition {
            scopes,
            version_two: api.and_then(|a| a.get("requestedAccessTokenVersion")).and_then(Value::as_i64) == Some(2),
            pre_authorized,
            required,
        }
    }
}

/// A client as cached for the token endpoint and the check of bearer tokens; an application as a resource
/// for the tokens of its API.
pub(crate) struct CachedClient {
    authenticated: AuthenticatedClient,
    /// The enabled app roles applications may be assigned (app-only tokens' `roles`).
    application_roles: Vec<(Uuid, String)>,
    api: ApiDefinition,
    /// The optional claims it asks for in access tokens for its API.
    access_token_claims: Vec<String>,
    secrets: Vec<SecretRecord>,
    /// The delegated permission grants to the client.
    grants: Vec<PermissionGrantRecord>,
    enabled: bool,
    public_fallback: bool,
    /// The application's certificates, for client assertions.
    certificates: Vec<ClientCertificate>,
    assignment_required: bool,
    /// The registered redirect URIs, by where they are registered.
    redirects: Vec<(RedirectKind, String)>,
    id_token_issuance: bool,
}

impl CachedClient {
    /// Whether tokens issued to `service_principal` stand: it is this client's, live and enabled.
    pub(crate) fn admits(&self, service_principal: Uuid) -> bool {
        self.enabled && self.authenticated.service_principal == service_principal
    }

    /// The delegated permission grants to the client.
    pub(crate) fn grants(&self) -> &[PermissionGrantRecord] {
        &self.grants
    }

    /// The application's display name.
    pub(crate) fn display_name(&self) -> &str {
        &self.authenticated.display_name
    }

    /// Whether the client's service principal is enabled.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Who the application is (as a client, or as a resource: its app id, service principal and roles).
    pub(crate) fn authenticated(&self) -> &AuthenticatedClient {
        &self.authenticated
    }

    /// The app roles applications may hold of it.
    pub(crate) fn application_roles(&self) -> &[(Uuid, String)] {
        &self.application_roles
    }

    /// The API it exposes.
    pub(crate) fn api(&self) -> &ApiDefinition {
        &self.api
    }

    /// The optional claims it asks for in access tokens for its API.
    pub(crate) fn access_token_claims(&self) -> &[String] {
        &self.access_token_claims
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_match_exactly_but_for_a_public_clients_loopback_port() {
        use RedirectKind::*;
        let cases = [
            (Web, "https://app.test/cb", "https://app.test/cb", true),
            (Web, "https://app.test/cb", "https://app.test/cb/", false),
            (Web, "https://app.test/cb", "https://APP.test/cb", false),
            (Web, "http://localhost:8080/cb", "http://localhost:9090/cb", false),
            (Public, "http://localhost", "http://localhost:53124", true),
            (Public, "http://localhost:8080/cb", "http://localhost:9090/cb", true),
            (Public, "http://127.0.0.1/cb", "http://127.0.0.1:1/cb", true),
            (Public, "http://localhost/cb", "http://localhost:1/other", false),
            (Public, "http://localhost", "http://localhost.evil.test:80", false),
            (Public, "http://localhost", "http://evil.test:80", false),
            (Spa, "http://localhost:3000", "http://localhost:3001", false),
        ];
        for (kind, registered, given, matches) in cases {
            assert_eq!(redirect_matches(kind, registered, given), matches, "{kind:?} {registered} {given}");
        }
    }
}
