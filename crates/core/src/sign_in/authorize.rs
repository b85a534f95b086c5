//! The authorization-code door: a person signs in at the pages (or already has, per the browser's
//! session), the policy decides, and the client gets a code it redeems once at the token endpoint.
//!
//! The core keeps no per-browser state: a session is a signed, expiring value the pages put in a cookie,
//! and it stands only while its user is live and enabled and has not had their sessions revoked (a
//! password change, `revokeSignInSessions`) since it began. Codes are stored as digests, single use, ten
//! minutes; a code redeemed twice revokes the refresh tokens its first redemption started.

use super::log::Seen;
use super::policy::Asked;
use super::resource::Granted;
use super::{grant_error, granted_or_asked, Browser, Family, Grant, Origin, SignIn, Tenancy};
use crate::applications::{AuthenticatedClient, AuthorizeClient, RedirectKind};
use crate::conditional_access::policy::ClientApp;
use crate::credentials::secrets;
use crate::kernel::error::{Error, Result};
use crate::store::{AuthorizationCodeRecord, StoreError, Write};
use crate::Caller;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::issue::{half_hash, Issued, Subject};

/// How long a code may wait for its redemption.
const CODE_LIFETIME_MINUTES: i64 = 10;
/// How long a browser's session lasts without a new sign-in.
pub const SESSION_HOURS: i64 = 24;

/// A browser's sign-in, as its cookie carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub tenant: Uuid,
    pub user: Uuid,
    pub auth_time: DateTime<Utc>,
    /// What the person proved (`amr` values).
    pub methods: Vec<String>,
}

/// An authorization request, checked: the client and its redirect URI first, since errors before that
/// point must be shown on the page rather than sent to an unverified address.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub tenant: Uuid,
    pub client: AuthorizeClient,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub challenge: Option<String>,
    pub challenge_method: Option<String>,
    pub response: ResponseType,
}

/// What an authorization request asks to get back (`response_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    Code,
    /// The hybrid flow: a code and an id token bound to it (`c_hash`).
    CodeIdToken,
    /// An id token alone (the implicit flow's sign-in).
    IdToken,
}

impl ResponseType {
    /// Parses `response_type` (its words in any order); `None` for what is not served (access tokens in
    /// the front channel among them).
    pub fn parse(text: &str) -> Option<ResponseType> {
        let mut words: Vec<&str> = text.split_whitespace().collect();
        words.sort_unstable();
        match words.as_slice() {
            ["code"] => Some(ResponseType::Code),
            ["code", "id_token"] => Some(ResponseType::CodeIdToken),
            ["id_token"] => Some(ResponseType::IdToken),
            _ => None,
        }
    }

    /// Whether the answer carries an id token (and so goes in the fragment or a form post, never the query).
    pub fn has_id_token(self) -> bool {
        self != ResponseType::Code
    }
}

/// What a password entered at the pages comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entered {
    SignedIn(Session),
    /// The password is right but must be changed before the sign-in goes on (expired, or set by an
    /// administrator): the pages ask for a new one ([`SignIn::change_password_session`]).
    MustChangePassword,
}

/// What an authorization request comes to once a person is signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorized {
    /// Answer the client with these (none for the device door, whose device polls for its tokens);
    /// `persistent` when a Conditional Access policy says whether the browser's session outlives the browser.
    Granted { code: Option<String>, id_token: Option<String>, persistent: Option<bool> },
    /// Ask the person to consent to these scopes first (as a `scope` parameter names them).
    Consent(Vec<String>),
    /// Ask the person for a second factor first ([`super::second_factor`]).
    SecondFactor,
    /// Ask the person to sign in again: the session is older than a policy's sign-in frequency allows.
    SignInAgain,
}

/// The value and MAC purposes of signed values, so that one can never pass for another.
fn mac_input(purpose: &str, body: &[u8]) -> Vec<u8> {
    [purpose.as_bytes(), b"\0", body].concat()
}

impl SignIn<'_> {
    /// A value the pages hand the browser and get back untampered: `payload` with an expiry, MAC'd with the
    /// master key under `purpose`.
    pub fn seal(&self, purpose: &str, payload: &Value, lifetime: Duration) -> String {
        self.seal_until(purpose, payload, self.directory.now() + lifetime)
    }

    /// [`SignIn::seal`], good until `until`.
    pub fn seal_until(&self, purpose: &str, payload: &Value, until: DateTime<Utc>) -> String {
        let expires = until.timestamp();
        let body = URL_SAFE_NO_PAD.encode(json!({"p": payload, "e": expires}).to_string());
        let tag = URL_SAFE_NO_PAD.encode(self.directory.master.token_mac(&mac_input(purpose, body.as_bytes())));
        format!("{body}.{tag}")
    }

    /// The payload of a value [`SignIn::seal`] made for `purpose`, if it is untampered and unexpired.
    pub fn open(&self, purpose: &str, sealed: &str) -> Option<Value> {
        let (body, tag) = sealed.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if !self.directory.master.verify_token_mac(&mac_input(purpose, body.as_bytes()), &tag) {
            return None;
        }
        let value: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        let expires = value.get("e")?.as_i64()?;
        (self.directory.now().timestamp() < expires).then(|| value.get("p").cloned()).flatten()
    }

    /// Checks the client and redirect URI of an authorization request, and that a public client or a
    /// single-page app uses PKCE with S256.
    pub async fn authorize_request(
        &self,
        tenant: Uuid,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
        pkce: (Option<&str>, Option<&str>),
        (response_type, nonce): (&str, Option<&str>),
    ) -> Result<AuthorizeRequest> {
        let client = self.directory.applications().authorize_client(tenant, client_id, redirect_uri).await?;
        let unsupported = || {
            Error::invalid_property(
                "response_type",
                format!("AADSTS700054: response_type '{response_type}' is not enabled for the application."),
            )
        };
        let response = ResponseType::parse(response_type).ok_or_else(unsupported)?;
        if response.has_id_token() {
            if !client.id_token_issuance {
                return Err(unsupported());
            }
            if nonce.is_none() {
                return Err(Error::invalid("AADSTS90014: The required field 'nonce' is missing from the request."));
            }
        }
        self.resolve_scope(tenant, scope).await?;
        let (challenge, method) = pkce;
        let method = challenge.map(|_| method.unwrap_or("plain"));
        if let Some(m) = method {
            if m != "S256" && m != "plain" {
                return Err(Error::invalid("AADSTS501491: Invalid code_challenge_method. Use S256 or plain."));
            }
        }
        if response != ResponseType::IdToken && client.redirect != RedirectKind::Web && method != Some("S256") {
            return Err(Error::invalid(
                "AADSTS9002325: Proof Key for Code Exchange is required for cross-origin authorization code redemption and for public clients: send code_challenge with code_challenge_method S256.",
            ));
        }
        Ok(AuthorizeRequest {
            tenant,
            client,
            redirect_uri: redirect_uri.to_owned(),
            scope: scope.to_owned(),
            nonce: nonce.map(str::to_owned),
            challenge: challenge.map(str::to_owned),
            challenge_method: method.map(str::to_owned),
            response,
        })
    }

    /// The authenticate stage of the pages: a password entered from `source`, giving a session, unless the
    /// password must be changed first.
    ///
    /// A failed entry is recorded in the sign-in log; a successful one is recorded when the sign-in it begins
    /// comes to its answer.
    pub async fn password_session(
        &self,
        tenancy: Tenancy,
        username: &str,
        password: &str,
        browser: &Browser,
    ) -> Result<Entered> {
        let tenant = self.tenant_named(tenancy, username).await?;
        let entered = self.find_password_user(tenant, username).await?;
        let user = entered.as_ref().map(|(user, _)| user.clone());
        if let Some(session) = self.pass_session(tenant, user.as_ref(), password).await? {
            return Ok(Entered::SignedIn(session));
        }
        let user = match self.verify_password(tenant, entered, password, browser.ip).await {
            Ok(user) => user,
            Err(error) => {
                let mut seen = Seen::new(browser.origin(ClientApp::Browser, &["pwd".to_owned()]), username);
                seen.tenant = Some(tenant);
                seen.user = user;
                self.log(&seen, true, Some(&error)).await?;
                return Err(error);
            }
        };
        match self.must_change_password(tenant, &user).await? {
            true => Ok(Entered::MustChangePassword),
            false => Ok(Entered::SignedIn(self.new_session(tenant, user.id))),
        }
    }

    /// The pages' password change inside a sign-in: the current password, proven as at any sign-in (smart
    /// lockout counts it), is replaced by a new one that passes the tenant's rules, ending the user's earlier
    /// sign-ins; the session begins after that, even on a clock that has not moved since.
    pub async fn change_password_session(
        &self,
        tenancy: Tenancy,
        username: &str,
        (current, new): (&str, &str),
        source: Option<std::net::IpAddr>,
    ) -> Result<Session> {
        let tenant = self.tenant_named(tenancy, username).await?;
        let entered = self.find_password_user(tenant, username).await?;
        let user = self.verify_password(tenant, entered, current, source).await?;
        let person = Caller::SelfService { tenant, user: user.id };
        let changed = self.directory.users().replace_proven_password(&person, &user, current, new).await?;
        let auth_time = self.directory.now().max(changed + Duration::microseconds(1));
        Ok(Session { auth_time, ..self.new_session(tenant, user.id) })
    }

    /// The tenant a sign-in is for: the one the URL names, or the one that holds the account's domain.
    pub(super) async fn tenant_named(&self, tenancy: Tenancy, username: &str) -> Result<Uuid> {
        match tenancy {
            Tenancy::Tenant(tenant) => Ok(tenant),
            Tenancy::Organizations | Tenancy::Common => self.tenant_of(username).await,
        }
    }

    fn new_session(&self, tenant: Uuid, user: Uuid) -> Session {
        Session { tenant, user, auth_time: self.directory.now(), methods: vec!["pwd".into()] }
    }

    /// A session for a temporary access pass entered in place of the password: it counts as multifactor
    /// authentication, and a pass good once is spent. A pass is no pass while the authentication methods
    /// policy disables passes for the user.
    async fn pass_session(
        &self,
        tenant: Uuid,
        user: Option<&crate::store::ObjectRecord>,
        entered: &str,
    ) -> Result<Option<Session>> {
        let Some(user) = user else { return Ok(None) };
        let methods = self.directory.authentication_methods();
        let Some(pass) = methods.matching_pass(user, entered) else { return Ok(None) };
        if !methods.allowed(tenant, user, crate::credentials::method_policy::Method::TemporaryAccessPass).await? {
            return Ok(None);
        }
        methods.spend_pass(tenant, user.id, &pass).await?;
        Ok(Some(Session { methods: vec!["mfa".into()], ..self.new_session(tenant, user.id) }))
    }

    /// A session's cookie value.
    pub fn session_value(&self, session: &Session) -> String {
        let payload = json!({
            "t": session.tenant, "u": session.user, "a": session.auth_time.timestamp_micros(), "m": session.methods,
        });
        self.seal("session", &payload, Duration::hours(SESSION_HOURS))
    }

    /// The session a cookie value carries, while it stands.
    pub async fn session(&self, value: &str) -> Option<Session> {
        let payload = self.open("session", value)?;
        let id = |name: &str| payload.get(name).and_then(Value::as_str).and_then(|v| Uuid::parse_str(v).ok());
        let auth_time = Utc.timestamp_micros(payload.get("a")?.as_i64()?).single()?;
        let methods = payload.get("m")?.as_array()?.iter().filter_map(Value::as_str).map(str::to_owned).collect();
        let session = Session { tenant: id("t")?, user: id("u")?, auth_time, methods };
        self.standing_user(session.tenant, session.user, session.auth_time).await.map(|_| session)
    }

    /// The user of a sign-in made at `auth_time`, while it stands: live, enabled, and without their
    /// sessions revoked since.
    pub(super) async fn standing_user(
        &self,
        tenant: Uuid,
        user: Uuid,
        auth_time: DateTime<Utc>,
    ) -> Option<crate::store::ObjectRecord> {
        let user = self.find_user(tenant, &user.to_string()).await?;
        let enabled = user.doc.get("accountEnabled") == Some(&Value::Bool(true));
        (enabled && !crate::users::sessions_revoked(&user.doc, auth_time)).then_some(user)
    }

    /// The policy and issue stages of the pages: a code for the client, or the scopes the person must
    /// consent to first. Refusals (a disabled account, an unassigned user) are errors to show.
    pub async fn authorize(
        &self,
        session: &Session,
        request: &AuthorizeRequest,
        base: &str,
        browser: &Browser,
    ) -> Result<Authorized> {
        let origin = browser.origin(ClientApp::Browser, &session.methods);
        let mut seen = Seen::new(Origin { auth_time: Some(session.auth_time), ..origin }, "");
        seen.tenant = Some(request.tenant);
        seen.client = Some(request.client.client.clone());
        let result = self.authorize_signed_in(session, request, base, &mut seen).await;
        // A grant committed its record with its code.
        if !matches!(result, Ok(Authorized::Granted { .. })) {
            self.log_answer(&seen, &result).await?;
        }
        result
    }

    async fn authorize_signed_in(
        &self,
        session: &Session,
        request: &AuthorizeRequest,
        base: &str,
        seen: &mut Seen,
    ) -> Result<Authorized> {
        let tenant = request.tenant;
        if session.tenant != tenant {
            return Err(grant_error("AADSTS50020: The signed-in account is not of this tenant."));
        }
        seen.user = self.find_user(tenant, &session.user.to_string()).await;
        let user = seen
            .user
            .clone()
            .ok_or_else(|| grant_error("AADSTS50034: The user account does not exist in the directory."))?;
        let asked = self.resolve_scope(tenant, &request.scope).await?;
        seen.resource = Some(asked.resource.clone());
        let client = &request.client;
        let decision = self.decide(tenant, &client.client, client.assignment_required, &user, &asked, seen).await?;
        let granted = match granted_or_asked(decision, asked, &client.client)? {
            Ok(granted) => granted,
            Err(ask) => return Ok(ask),
        };
        let code = match request.response {
            ResponseType::IdToken => None,
            ResponseType::Code | ResponseType::CodeIdToken => Some(self.new_code(session, request, &user, &granted)),
        };
        let id_token = match request.response.has_id_token() {
            false => None,
            true => {
                let (roles, groups) = self.about(tenant, &client.client, &user).await?;
                let subject = Subject {
                    tenant,
                    user: &user,
                    client: &client.client,
                    proof: None,
                    openid: granted.openid,
                    auth_time: session.auth_time,
                    methods: &session.methods,
                    nonce: request.nonce.as_deref(),
                    roles,
                    groups,
                };
                let bound = code.as_ref().map(|(code, _)| ("c_hash", half_hash(code)));
                Some(self.sign_id_token(&subject, &self.stamp(tenant, base).await?, bound)?)
            }
        };
        let (code, created) = code.unzip();
        self.commit_record(tenant, self.record(seen, true, None), created.map(Write::CreateCode)).await?;
        let persistent = seen.access.as_ref().and_then(|access| access.persistent_browser);
        Ok(Authorized::Granted { code, id_token, persistent })
    }

    /// A new authorization code for what the policy granted, and its record to commit.
    fn new_code(
        &self,
        session: &Session,
        request: &AuthorizeRequest,
        user: &crate::store::ObjectRecord,
        granted: &Granted,
    ) -> (String, AuthorizationCodeRecord) {
        let (tenant, client) = (request.tenant, &request.client);
        let mut random = [0u8; 32];
        self.directory.random().fill(&mut random);
        let code = URL_SAFE_NO_PAD.encode([tenant.as_bytes().as_slice(), &random].concat());
        let now = self.directory.now();
        let record = AuthorizationCodeRecord {
            digest: secrets::digest(&code),
            client: client.client.app_id,
            redirect_uri: request.redirect_uri.clone(),
            user: user.id,
            scopes: granted.to_text(),
            nonce: request.nonce.clone(),
            challenge: request.challenge.clone(),
            challenge_method: request.challenge_method.clone(),
            auth_time: session.auth_time,
            methods: session.methods.join(" "),
            expires_at: now + Duration::minutes(CODE_LIFETIME_MINUTES),
            family: self.directory.random().uuid(),
            redeemed: false,
        };
        (code, record)
    }

    /// The scopes a request names, as the consent page lists them when it is asked for (`prompt=consent`):
    /// those named, or for `.default` what the resource falls back to.
    pub async fn requested(&self, request: &AuthorizeRequest) -> Result<Vec<String>> {
        let asked = self.resolve_scope(request.tenant, &request.scope).await?;
        let names = match asked.asked {
            Asked::Named(names) => names,
            Asked::Default => {
                let app_id = request.client.client.app_id;
                let client = self.directory.applications().client(request.tenant, app_id).await?;
                client.map(|c| asked.resource.fallback(&c)).unwrap_or_default()
            }
        };
        Ok(names.iter().map(|name| asked.resource.qualified(name)).collect())
    }

    /// Records the person's consent to the scopes `scope` names (as a `scope` parameter does) for the
    /// request's client.
    pub async fn consent(&self, session: &Session, request: &AuthorizeRequest, scope: &str) -> Result<()> {
        self.consent_for(session, &request.client.client, scope).await
    }

    /// Records the person's consent to the scopes `scope` names for a client: their own grant (`Principal`)
    /// for that resource, joined to what they consented to before. A member may consent to scopes that need
    /// no administrator; a Global Administrator to any.
    pub(super) async fn consent_for(&self, session: &Session, client: &AuthenticatedClient, scope: &str) -> Result<()> {
        let tenant = session.tenant;
        let user = self
            .find_user(tenant, &session.user.to_string())
            .await
            .ok_or_else(|| grant_error("AADSTS50034: The user account does not exist in the directory."))?;
        let asked = self.resolve_scope(tenant, scope).await?;
        let Asked::Named(names) = asked.asked else {
            return Err(grant_error("AADSTS65001: Consent names the scopes it grants."));
        };
        let admin = crate::auth::roles::roles_of(&user).contains(&crate::auth::roles::GLOBAL_ADMINISTRATOR);
        if !admin && names.iter().any(|name| asked.resource.admin_only(name)) {
            return Err(grant_error(format!(
                "AADSTS90094: {} needs permission to access resources in your organization that only an admin can grant. Please ask an admin to grant permission to this app before you can use it.",
                client.display_name
            )));
        }
        let resource = asked.resource.principal(self.directory, tenant).await?;
        self.directory.consent().record_user_consent(tenant, client.service_principal, resource, user.id, &names).await
    }

    /// The authorization-code grant: redeems a code once, for the client and redirect URI it was issued
    /// to, with the PKCE verifier when it was asked with a challenge, and a secret from a web app.
    pub async fn redeem(
        &self,
        tenancy: Tenancy,
        request: &super::ClientRequest<'_>,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&str>,
    ) -> Result<Issued> {
        let invalid = || grant_error("AADSTS70000: The provided value for the 'code' parameter is not valid.");
        let bytes = URL_SAFE_NO_PAD.decode(code.trim()).map_err(|_| invalid())?;
        let tenant = bytes.get(..16).and_then(|b| Uuid::from_slice(b).ok()).ok_or_else(invalid)?;
        if matches!(tenancy, Tenancy::Tenant(named) if named != tenant) {
            return Err(invalid());
        }
        let digest = secrets::digest(code.trim());
        let record = self.directory.store.authorization_code(tenant, &digest).await.map_err(Error::from)?;
        let record = record.ok_or_else(invalid)?;
        let client = self.directory.applications().authorize_client(tenant, request.client_id, redirect_uri).await;
        let client =
            client.map_err(|_| grant_error("AADSTS70000: The code was issued to another client or redirect URI."))?;
        if client.client.app_id != record.client || record.redirect_uri != redirect_uri {
            return Err(grant_error("AADSTS70000: The code was issued to another client or redirect URI."));
        }
        let proof = match (client.redirect, request.proof) {
            (_, Some(proof)) => {
                let tokens = self.directory.tokens();
                let base = request.base;
                Some(tokens.authenticate_client_throttled(tenant, request.client_id, proof, base, request.source).await?.1)
            }
            (RedirectKind::Web, None) => {
                return Err(Error::unauthenticated(
                    "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                ))
            }
            (RedirectKind::Spa | RedirectKind::Public, None) => None,
        };
        match (client.redirect, request.origin) {
            (RedirectKind::Spa, None) => {
                return Err(Error::invalid(
                    "AADSTS9002327: Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests.",
                ))
            }
            (RedirectKind::Web | RedirectKind::Public, Some(_)) => {
                return Err(Error::invalid(
                    "AADSTS9002326: Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type.",
                ))
            }
            _ => {}
        }
        if record.redeemed {
            self.revoke(tenant, record.family).await?;
            return Err(grant_error(
                "AADSTS54005: OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
            ));
        }
        let now = self.directory.now();
        if now >= record.expires_at {
            return Err(grant_error("AADSTS70008: The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource."));
        }
        if let Some(challenge) = &record.challenge {
            let verified = verifier.is_some_and(|v| match record.challenge_method.as_deref() {
                Some("S256") => URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == *challenge,
                _ => v == challenge,
            });
            if !verified {
                return Err(grant_error(
                    "AADSTS50148: The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
                ));
            }
        }
        match self.directory.commit(&Caller::System { tenant }, vec![Write::RedeemCode { digest }]).await {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => {
                self.revoke(tenant, record.family).await?;
                return Err(grant_error("AADSTS54005: OAuth2 Authorization code was already redeemed."));
            }
            Err(other) => return Err(other.into()),
        }
        let user = self.standing_user(tenant, record.user, record.auth_time).await.ok_or_else(|| {
            grant_error(
                "AADSTS50173: The grant was revoked: the account was disabled, deleted or its sessions revoked.",
            )
        })?;
        let methods: Vec<String> = record.methods.split_whitespace().map(str::to_owned).collect();
        let granted = Granted::of(self.resolve_scope(tenant, &record.scopes).await?);
        let grant = Grant { tenant, client: &client.client, proof, user: &user, granted };
        let nonce = record.nonce.as_deref();
        let family = Family::Start { id: record.family, spa: client.redirect == RedirectKind::Spa };
        self.issue(grant, record.auth_time, &methods, nonce, request.base, family).await
    }
}
