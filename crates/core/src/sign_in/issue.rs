//! The issue stage: one claims builder for every token a sign-in yields (Entra's v2 claims), and the
//! response's other parts (`client_info`, the refresh token).

use crate::applications::registration::OPTIONAL_CLAIMS;
use crate::applications::tokens::issuer;
use crate::applications::{AuthenticatedClient, ProofKind};
use crate::auth::authorization::GRAPH_RESOURCE;
use crate::auth::roles::is_guest;
use crate::auth::scopes::{Scope, Scopes};
use crate::directory::TenantKeys;
use crate::kernel::error::{Error, Result};
use crate::sign_in::resource::{Granted, Resource};
use crate::sign_in::SignIn;
use crate::store::ObjectRecord;
use crate::users::signs_in_by_mail;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use uuid::Uuid;

/// What a successful sign-in hands the client.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: i64,
    /// The scopes granted, as the response's `scope` names them.
    pub scope: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
    /// MSAL's account key: the user's object id and tenant, base64url JSON.
    pub client_info: String,
}

/// Who signed in, to what, and how: what the tokens say.
pub(crate) struct Subject<'a> {
    pub tenant: Uuid,
    pub user: &'a ObjectRecord,
    pub client: &'a AuthenticatedClient,
    /// What the client proved itself with (`azpacr`: 0 for nothing, a public client).
    pub proof: Option<ProofKind>,
    /// The OpenID Connect scopes granted.
    pub openid: Scopes,
    pub auth_time: DateTime<Utc>,
    pub methods: &'a [String],
    pub nonce: Option<&'a str>,
    /// The values of the client's app roles the user holds (the id token's `roles`).
    pub roles: Vec<String>,
    /// The user's groups when the application asks for them (the id token's `groups`, or its overage).
    pub groups: Option<Vec<Uuid>>,
}

/// What an access token says of the resource it is for.
pub(crate) struct Audience {
    pub aud: String,
    pub scp: String,
    /// The values of the resource's app roles the user holds.
    pub roles: Vec<String>,
    /// The user's groups, when the resource asks for them.
    pub groups: Option<Vec<Uuid>>,
    /// The optional claims the resource asks for.
    pub claims: Vec<String>,
}

/// The most groups a JWT names; beyond it the token points to where they can be read (Entra's overage).
pub const GROUPS_IN_TOKEN: usize = 200;

/// What every token of one issue shares: the tenant's signing key, the time and the issuer.
pub(crate) struct Stamp {
    keys: Arc<TenantKeys>,
    now: i64,
    iss: String,
    /// The public base URL (the groups overage points under it).
    base: String,
}

impl Stamp {
    /// Signs a token of these claims, with the issuer and the time of the stamp (`iss`, `iat`, `nbf`), to
    /// live `lifetime` seconds (`exp`).
    pub(crate) fn sign(&self, mut claims: Map<String, Value>, lifetime: i64) -> Result<String> {
        for (name, value) in [
            ("iss", json!(self.iss)),
            ("iat", json!(self.now)),
            ("nbf", json!(self.now)),
            ("exp", json!(self.now + lifetime)),
        ] {
            claims.insert(name.to_owned(), value);
        }
        self.keys.signing.sign(&Value::Object(claims))
    }
}

impl SignIn<'_> {
    /// The stamp of tokens issued now by `tenant` under the public base URL `base`.
    pub(crate) async fn stamp(&self, tenant: Uuid, base: &str) -> Result<Stamp> {
        let directory = self.directory;
        let keys = directory.tenant_keys(tenant).await?.ok_or_else(|| Error::internal("tenant has no signing key"))?;
        Ok(Stamp {
            keys,
            now: directory.now().timestamp(),
            iss: issuer(base, tenant),
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// What the access token of a grant says of its resource: Graph by its URI, with the scopes; an API by
    /// its app id (version 2) or the identifier URI the client asked with, with its scopes, the user's roles
    /// of it, their groups when it asks, and its optional claims.
    pub(crate) async fn audience(&self, tenant: Uuid, granted: &Granted, user: &ObjectRecord) -> Result<Audience> {
        let scp = granted.scp();
        match &granted.resource {
            Resource::Graph => Ok(Audience {
                aud: GRAPH_RESOURCE.to_owned(),
                scp,
                roles: Vec::new(),
                groups: None,
                claims: Vec::new(),
            }),
            Resource::Api { api, identifier } => {
                let (roles, groups) = self.about(tenant, api.authenticated(), user).await?;
                let aud = match api.api().version_two {
                    true => api.authenticated().app_id.to_string(),
                    false => identifier.clone(),
                };
                Ok(Audience { aud, scp, roles, groups, claims: api.access_token_claims().to_vec() })
            }
        }
    }

    /// Signs the access token and, when `openid` was granted, the id token; with `aside`, aside from the async
    /// worker ([`crate::credentials::keys::aside`]).
    pub(crate) async fn sign_user_tokens(
        &self,
        subject: &Subject<'_>,
        audience: &Audience,
        base: &str,
        aside: bool,
    ) -> Result<(String, Option<String>)> {
        let directory = self.directory;
        let stamp = self.stamp(subject.tenant, base).await?;
        let (now, iss) = (stamp.now, &stamp.iss);
        let user = subject.user;
        let text = |name: &str| user.doc.get(name).and_then(Value::as_str).map(str::to_owned);
        let mut uti = [0u8; 16];
        directory.random().fill(&mut uti);
        let roles = directory.role_management().held(subject.tenant, user).await?;
        let mut access = Map::new();
        for (name, value) in [
            ("aud", json!(audience.aud)),
            ("iss", json!(iss)),
            ("iat", json!(now)),
            ("nbf", json!(now)),
            ("exp", json!(now + directory.config.access_token_lifetime)),
            ("azp", json!(subject.client.app_id)),
            ("azpacr", json!(subject.proof.map(ProofKind::acr).unwrap_or("0"))),
            ("amr", json!(subject.methods)),
            ("idp", json!(identity_provider(user, iss))),
            ("idtyp", json!("user")),
            ("name", json!(text("displayName"))),
            ("oid", json!(user.id)),
            ("preferred_username", json!(text("userPrincipalName"))),
            ("scp", json!(audience.scp)),
            ("sub", json!(self.pairwise_subject(subject.tenant, subject.client.app_id, user.id))),
            ("tid", json!(subject.tenant)),
            ("uti", json!(URL_SAFE_NO_PAD.encode(uti))),
            ("ver", json!("2.0")),
            ("wids", json!(roles)),
        ] {
            access.insert(name.to_owned(), value);
        }
        about_user(&mut access, user, &audience.roles, audience.groups.as_deref(), &stamp.base);
        optional_claims(&mut access, user, &audience.claims);
        let sign = || {
            let access_token = stamp.keys.signing.sign(&Value::Object(access))?;
            if !subject.openid.contains(Scope::OpenId) {
                return Ok((access_token, None));
            }
            let id_token = self.sign_id_token(subject, &stamp, Some(("at_hash", half_hash(&access_token))))?;
            Ok((access_token, Some(id_token)))
        };
        match aside {
            true => crate::credentials::keys::aside(sign),
            false => sign(),
        }
    }

    /// The id token; `bound` ties it to what it travels with (`at_hash` of an access token, `c_hash` of a
    /// code), as OpenID Connect asks.
    pub(crate) fn sign_id_token(
        &self,
        subject: &Subject<'_>,
        stamp: &Stamp,
        bound: Option<(&str, String)>,
    ) -> Result<String> {
        let directory = self.directory;
        let (now, iss) = (stamp.now, &stamp.iss);
        let user = subject.user;
        let text = |name: &str| user.doc.get(name).and_then(Value::as_str).map(str::to_owned);
        let mut id = Map::new();
        for (name, value) in [
            ("aud", json!(subject.client.app_id)),
            ("iss", json!(iss)),
            ("iat", json!(now)),
            ("nbf", json!(now)),
            ("exp", json!(now + directory.config.access_token_lifetime)),
            ("auth_time", json!(subject.auth_time.timestamp())),
            ("oid", json!(user.id)),
            ("sub", json!(self.pairwise_subject(subject.tenant, subject.client.app_id, user.id))),
            ("tid", json!(subject.tenant)),
            ("ver", json!("2.0")),
        ] {
            id.insert(name.to_owned(), value);
        }
        if let Some((name, hash)) = bound {
            id.insert(name.to_owned(), json!(hash));
        }
        if let Some(nonce) = subject.nonce {
            id.insert("nonce".into(), json!(nonce));
        }
        let idp = identity_provider(user, iss);
        if idp != *iss {
            id.insert("idp".into(), json!(idp));
        }
        if subject.openid.contains(Scope::Profile) {
            id.insert("name".into(), json!(text("displayName")));
            id.insert("preferred_username".into(), json!(text("userPrincipalName")));
        }
        if let (true, Some(mail)) = (subject.openid.contains(Scope::Email), text("mail")) {
            id.insert("email".into(), json!(mail));
        }
        about_user(&mut id, user, &subject.roles, subject.groups.as_deref(), &stamp.base);
        optional_claims(&mut id, user, &subject.client.id_token_claims);
        stamp.keys.signing.sign(&Value::Object(id))
    }

    /// The user's `sub` for one app: the same for every sign-in to that app, different for every other app,
    /// and revealing neither id (Entra's pairwise subject).
    fn pairwise_subject(&self, tenant: Uuid, app: Uuid, user: Uuid) -> String {
        let data = [b"sub".as_slice(), tenant.as_bytes(), app.as_bytes(), user.as_bytes()].concat();
        URL_SAFE_NO_PAD.encode(self.directory.master.token_mac(&data))
    }
}

/// A token's `roles` (when the user holds any) and `groups` (when asked for; beyond
/// [`GROUPS_IN_TOKEN`], Entra's overage pointing to where they can be read).
fn about_user(
    claims: &mut Map<String, Value>,
    user: &ObjectRecord,
    roles: &[String],
    groups: Option<&[Uuid]>,
    base: &str,
) {
    if !roles.is_empty() {
        claims.insert("roles".into(), json!(roles));
    }
    match groups {
        Some(groups) if groups.len() > GROUPS_IN_TOKEN => {
            let endpoint = format!("{base}/v1.0/users/{}/getMemberObjects", user.id);
            claims.insert("_claim_names".into(), json!({"groups": "src1"}));
            claims.insert("_claim_sources".into(), json!({"src1": {"endpoint": endpoint}}));
        }
        Some(groups) => {
            claims.insert("groups".into(), json!(groups));
        }
        None => {}
    }
}

/// Who proved the person's identity (`idp`): the issuer itself for its own users, `mail` for a guest who
/// signs in with codes mailed to them (Entra's email one-time passcode).
fn identity_provider(user: &ObjectRecord, iss: &str) -> String {
    match signs_in_by_mail(user) {
        true => "mail".to_owned(),
        false => iss.to_owned(),
    }
}

/// The optional claims an application asked for that Gatehouse issues: `acct` (0 for a member, 1 for a
/// guest) and those of a user's properties ([`OPTIONAL_CLAIMS`]) where the user has the value; a claim the
/// token already carries is left as it is.
fn optional_claims(claims: &mut Map<String, Value>, user: &ObjectRecord, asked: &[String]) {
    if asked.iter().any(|a| a == "acct") {
        claims.entry("acct").or_insert_with(|| json!(u8::from(is_guest(user))));
    }
    for (claim, property) in OPTIONAL_CLAIMS {
        if let (true, Some(value)) = (asked.iter().any(|a| a == claim), user.doc.get(property).and_then(Value::as_str))
        {
            claims.entry(claim).or_insert_with(|| json!(value));
        }
    }
}

/// OpenID Connect's `at_hash`/`c_hash`: the left half of the SHA-256 of the value, base64url.
pub fn half_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// MSAL's `client_info`: `{"uid": user, "utid": tenant}`, base64url.
pub fn client_info(tenant: Uuid, user: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(json!({"uid": user, "utid": tenant}).to_string())
}
