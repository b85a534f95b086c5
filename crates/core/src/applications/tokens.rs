//! Access tokens: issuing app-only tokens (client credentials) and turning a bearer token back into a
//! [`Caller`].
//!
//! A token is accepted only if: its header names RS256 and a `kid` of the tenant in its `tid` claim (so a
//! token of tenant A can never be checked against, or pass as, tenant B), the signature verifies, `iss` is
//! that tenant's issuer, `aud` is Microsoft Graph, and the clock is within `nbf`..`exp`. An app's token
//! (`idtyp` app) becomes [`Caller::App`]; a signed-in user's (`idtyp` user, issued by the sign-in
//! pipeline) becomes [`Caller::User`].

use crate::applications::{AuthenticatedClient, CachedClient, ClientProof, ProofKind};
use crate::auth::authorization::{is_graph, Permission, Standing, GRAPH_RESOURCE};
use crate::auth::guest_policy::guest_standing;
use crate::auth::roles::{is_guest, wids, GUEST_ROLE};
use crate::auth::scopes::Scopes;
use crate::credentials::keys;
use crate::credentials::throttle::Policy;
use crate::kernel::error::{Error, Result};
use crate::store::{ObjectKind, ObjectRecord};
use crate::{Caller, Directory};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use uuid::Uuid;

/// Clock skew tolerated on `nbf`, in seconds.
const NOT_BEFORE_SKEW: i64 = 300;

#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
}

/// The issuer of a tenant's tokens under a public base URL.
pub fn issuer(base: &str, tenant: Uuid) -> String {
    format!("{}/{tenant}/v2.0", base.trim_end_matches('/'))
}

/// The token endpoint and the check of bearer tokens, as a service on the directory's context (shaped like
/// the domains service).
pub struct Tokens<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The tokens service.
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens { directory: self }
    }
}

impl Tokens<'_> {
    /// The client-credentials grant: checks the client and the scope, and signs an app-only token. Failed
    /// client authentications are throttled per client and per source address ([`Policy`]) and logged with
    /// both.
    pub async fn issue_app_token(
        &self,
        tenant: Uuid,
        client_id: &str,
        proof: ClientProof<'_>,
        scope: &str,
        base: &str,
        source: Option<IpAddr>,
    ) -> Result<IssuedToken> {
        let scopes: Vec<&str> = scope.split_whitespace().collect();
        let resource = match scopes.as_slice() {
            [single] => single.strip_suffix("/.default").ok_or_else(|| {
                Error::invalid_property(
                    "scope",
                    format!("AADSTS1002012: The provided value for scope {single} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
                )
            })?,
            _ => {
                return Err(Error::invalid_property(
                    "scope",
                    "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a single scope value with /.default suffixed to the resource identifier.",
                ))
            }
        };
        let api = match is_graph(resource) {
            true => None,
            false => Some(self.directory.applications().resource(tenant, resource).await?.ok_or_else(|| {
                Error::invalid_property(
                    "resource",
                    format!("AADSTS500011: The resource principal named {resource} was not found in the tenant named {tenant}."),
                )
            })?),
        };
        let (client, proof) = self.authenticate_client_throttled(tenant, client_id, proof, base, source).await?;
        let (aud, roles) = match api {
            None => (
                GRAPH_RESOURCE.to_owned(),
                client.permissions.iter().map(Permission::name).map(str::to_owned).collect(),
            ),
            Some(api) => self.api_audience(tenant, &client, &api, resource).await?,
        };
        let keys =
            self.directory.tenant_keys(tenant).await?.ok_or_else(|| Error::internal("tenant has no signing key"))?;
        let now = self.directory.now().timestamp();
        let lifetime = self.directory.config.access_token_lifetime;
        let iss = issuer(base, tenant);
        let mut uti = [0u8; 16];
        self.directory.random().fill(&mut uti);
        let claims = json!({
            "aud": aud,
            "iss": iss,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "app_displayname": client.display_name,
            "appid": client.app_id,
            "appidacr": proof.acr(),
            "azp": client.app_id,
            "azpacr": proof.acr(),
            "idp": iss,
            "idtyp": "app",
            "oid": client.service_principal,
            "roles": roles,
            "sub": client.service_principal,
            "tid": tenant,
            "uti": URL_SAFE_NO_PAD.encode(uti),
            "ver": "2.0",
        });
        let access_token = keys.signing.sign(&claims)?;
        Ok(IssuedToken { access_token, expires_in: lifetime })
    }

    /// An app-only token's audience and roles for one of the tenant's APIs: its app id (version 2) or the
    /// identifier URI asked with, and the values of its app roles the client's service principal was
    /// assigned.
    async fn api_audience(
        &self,
        tenant: Uuid,
        client: &AuthenticatedClient,
        api: &CachedClient,
        resource: &str,
    ) -> Result<(String, Vec<String>)> {
        let store = &self.directory.store;
        let assignments = store.app_role_assignments(tenant, client.service_principal).await.map_err(Error::from)?;
        let held: Vec<Uuid> = assignments
            .iter()
            .filter(|a| a.resource == api.authenticated().service_principal)
            .map(|a| a.app_role_id)
            .collect();
        let roles =
            api.application_roles().iter().filter(|(id, _)| held.contains(id)).map(|(_, v)| v.clone()).collect();
        let aud = match api.api().version_two {
            true => api.authenticated().app_id.to_string(),
            false => resource.to_owned(),
        };
        Ok((aud, roles))
    }

    /// [`crate::applications::Applications::authenticate_client`] behind the failure throttle: a locked-out client or source is refused
    /// before its proof is looked at.
    pub(crate) async fn authenticate_client_throttled(
        &self,
        tenant: Uuid,
        client_id: &str,
        proof: ClientProof<'_>,
        base: &str,
        source: Option<IpAddr>,
    ) -> Result<(AuthenticatedClient, ProofKind)> {
        let now = self.directory.now().timestamp();
        let client_key = format!("client/{tenant}/{}", client_id.to_lowercase());
        let source_key = source.map(|ip| format!("source/{ip}"));
        let shown_id: String = client_id.chars().take(64).collect();
        let shown_source = source.map(|ip| ip.to_string()).unwrap_or_default();
        let locked = [Some(&client_key), source_key.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|key| self.directory.throttle.locked(key, now))
            .max();
        if let Some(seconds) = locked {
            tracing::warn!(%tenant, client_id = %shown_id, source = %shown_source, "client authentication refused: too many failures");
            return Err(Error::throttled(
                "AADSTS50196: The server terminated an operation because it encountered a client request loop: too many failed authentications. Try again later.",
                seconds,
            ));
        }
        let authenticated = self.directory.applications().authenticate_client(tenant, client_id, proof, base).await;
        if let Err(error) = &authenticated {
            if error.kind == crate::ErrorKind::Unauthenticated {
                tracing::warn!(%tenant, client_id = %shown_id, source = %shown_source, "client authentication failed");
                self.directory.throttle.fail(&client_key, now, Policy::CLIENT);
                if let Some(key) = &source_key {
                    self.directory.throttle.fail(key, now, Policy::SOURCE);
                }
            }
        }
        authenticated
    }

    /// The tenant's public keys as a JWK set.
    pub async fn jwks(&self, tenant: Uuid) -> Result<Value> {
        let keys =
            self.directory.tenant_keys(tenant).await?.ok_or_else(|| Error::internal("tenant has no signing key"))?;
        Ok(json!({ "keys": [keys.signing.jwk()] }))
    }

    /// The tenant and claims of a token one of the tenant's keys signed, issued under the base URL of the
    /// request; its audience and lifetime are the caller's to check.
    pub(crate) async fn verified(&self, token: &str) -> Result<(Uuid, Value)> {
        let parsed = keys::parse(token)?;
        let claims = &parsed.claims;
        let tenant = claims
            .get("tid")
            .and_then(Value::as_str)
            .and_then(|t| Uuid::parse_str(t).ok())
            .ok_or_else(|| Error::unauthenticated("Access token has no valid tenant."))?;
        let keys = self
            .directory
            .tenant_keys(tenant)
            .await?
            .ok_or_else(|| Error::unauthenticated("Access token's tenant is unknown."))?;
        let key = keys
            .verifying
            .iter()
            .find(|k| k.kid == parsed.kid)
            .ok_or_else(|| Error::unauthenticated("Access token was not signed by a key of its tenant."))?;
        parsed.verify(key)?;
        let expected_issuer = issuer(&crate::kernel::request::current().base_url, tenant);
        let issuer_ok = claims.get("iss").and_then(Value::as_str) == Some(expected_issuer.as_str());
        if !issuer_ok {
            return Err(Error::unauthenticated("Access token has an invalid issuer."));
        }
        Ok((tenant, parsed.claims))
    }

    /// Turns a bearer token into the caller it was issued to, or refuses it.
    pub async fn authenticate(&self, token: &str) -> Result<Caller> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = self.directory.now().timestamp();
        if let Some((caller, expires)) = self.directory.recall_token(&digest) {
            if now >= expires {
                return Err(expired());
            }
            return self.current(caller).await;
        }
        let (tenant, claims) = self.verified(token).await?;
        let claims = &claims;
        let audience_ok = claims.get("aud").and_then(Value::as_str).is_some_and(is_graph);
        if !audience_ok {
            return Err(Error::unauthenticated("Access token has an invalid audience."));
        }
        let time = |name: &str| claims.get(name).and_then(Value::as_i64);
        let (Some(not_before), Some(expires)) = (time("nbf"), time("exp")) else {
            return Err(Error::unauthenticated("Access token has no lifetime."));
        };
        if now >= expires {
            return Err(expired());
        }
        if now + NOT_BEFORE_SKEW < not_before {
            return Err(Error::unauthenticated("Access token is not yet valid."));
        }
        let id = |name: &str| claims.get(name).and_then(Value::as_str).and_then(|v| Uuid::parse_str(v).ok());
        let (Some(oid), Some(app_id)) = (id("oid"), id("azp")) else {
            return Err(Error::unauthenticated("Access token does not name its principal and application."));
        };
        let names = |name: &str| -> Vec<String> {
            let values = claims.get(name).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            values.iter().filter_map(Value::as_str).map(str::to_owned).collect()
        };
        let caller = match claims.get("idtyp").and_then(Value::as_str) {
            Some("app") => Caller::App {
                tenant,
                service_principal: oid,
                app_id,
                permissions: names("roles").iter().filter_map(|r| Permission::from_name(r)).collect(),
            },
            Some("user") => {
                let roles = names("wids");
                Caller::User {
                    tenant,
                    user: oid,
                    app_id,
                    scopes: Scopes::parse(claims.get("scp").and_then(Value::as_str).unwrap_or_default()),
                    standing: match roles.iter().any(|r| r == GUEST_ROLE) {
                        true => Standing::LimitedGuest,
                        false => Standing::Member,
                    },
                    roles,
                }
            }
            _ => return Err(Error::unauthenticated("Access token is neither an app's nor a user's.")),
        };
        let caller = self.current(caller).await?;
        self.directory.remember_token(digest, caller.clone(), expires);
        Ok(caller)
    }

    /// The caller as it stands now: refused if its service principal was deleted or disabled since its token
    /// was issued, as this node's client cache knows it ([`crate::applications::Applications::client`]: at once
    /// for changes made here, within [`crate::applications::CLIENT_CACHE_SECONDS`] for other nodes'); a
    /// signed-in user refused if deleted or disabled since, and otherwise given the directory roles they hold
    /// now (a role assigned or removed counts from the next request), as this node's object cache or the
    /// store knows them.
    async fn current(&self, caller: Caller) -> Result<Caller> {
        let (tenant, app_id) = match &caller {
            Caller::App { tenant, app_id, .. } | Caller::User { tenant, app_id, .. } => (*tenant, *app_id),
            Caller::System { .. } | Caller::SelfService { .. } => return Ok(caller),
        };
        let client = self.directory.applications().client(tenant, app_id).await?;
        let admitted = match &caller {
            Caller::App { service_principal, .. } => client.is_some_and(|c| c.admits(*service_principal)),
            _ => client.is_some_and(|c| c.enabled()),
        };
        if !admitted {
            return Err(Error::unauthenticated("The application's service principal is disabled or deleted."));
        }
        let Caller::User { user, app_id, scopes, .. } = caller else { return Ok(caller) };
        self.delegated(tenant, user, app_id, scopes).await
    }

    /// A signed-in user acting through `app_id` with `scopes`, as they stand now: refused if deleted or
    /// disabled, otherwise given the directory roles they hold now (a role assigned or removed counts from
    /// the next request) and their standing as member or guest, as this node's object cache or the store
    /// knows them. Tokens and Gatehouse's own pages alike.
    pub(crate) async fn delegated(&self, tenant: Uuid, user: Uuid, app_id: Uuid, scopes: Scopes) -> Result<Caller> {
        // What the caller needs of the user's record, read in place from this node's cache when it holds it.
        let standing = |r: &ObjectRecord| {
            let live = r.deleted_at.is_none() && r.doc.get("accountEnabled") == Some(&Value::Bool(true));
            live.then(|| (wids(r), is_guest(r)))
        };
        let facts = match self.directory.cache.read(tenant, user, standing) {
            Some(facts) => facts,
            None => {
                let record = self.directory.store.object(tenant, ObjectKind::User, user).await.map_err(Error::from)?;
                record.as_ref().and_then(standing)
            }
        };
        match facts {
            Some((own, guest)) => {
                let roles = self.directory.role_management().held_by(tenant, user, own).await?;
                let standing = match guest {
                    true => guest_standing(&self.directory.tenant_settings(tenant).await?.organization),
                    false => Standing::Member,
                };
                Ok(Caller::User { tenant, user, app_id, scopes, roles, standing })
            }
            None => Err(Error::unauthenticated("The signed-in user is disabled or deleted.")),
        }
    }
}

fn expired() -> Error {
    Error::unauthenticated("Lifetime validation failed, the token is expired.")
}
