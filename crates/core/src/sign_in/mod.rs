//! Sign-in: one pipeline (identify → authenticate → evaluate policy → issue → record) behind every front
//! door of the identity platform (`docs/design/0010-sign-in.md`). The doors built so far are the token
//! endpoint's password grant (ROPC) and its refresh-token grant; each drives the same stages, so a rule
//! written once (a disabled account, an app that requires assignment, consent) holds at every door.
//!
//! Errors carry Entra's AADSTS codes. Those that OAuth sends as `invalid_grant` name the target
//! [`GRANT`]; those that need the person again (consent, a password change) name [`INTERACTION`].

pub mod admin_center;
pub mod authorize;
pub mod consent;
pub mod device;
pub mod guest;
pub mod issue;
pub mod lockout;
pub mod log;
pub mod policy;
pub mod redeem;
pub mod refresh;
pub mod reset;
pub mod resource;
pub mod second_factor;

use crate::applications::{AuthenticatedClient, ClientProof, ProofKind};
use crate::auth::scopes::{Scope, Scopes};
use crate::conditional_access::evaluate::Context;
use crate::conditional_access::platform_of;
use crate::conditional_access::policy::ClientApp;
use crate::credentials::password_rules::{password_expired, password_rules};
use crate::kernel::error::{Error, Result};
use crate::store::{LockoutRecord, ObjectRecord, PasswordEntry, RefreshFamilyRecord, StoreError, UserName, Write};
use crate::users::{sessions_revoked, FORCE_CHANGE};
use crate::{Caller, Directory};
use authorize::Authorized;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use issue::{client_info, Issued, Subject};
use lockout::Lockout;
use log::Seen;
use policy::{Asked, Block, Decision, Facts, Interaction};
use refresh::{Families, RefreshToken};
use resource::{Granted, Resource, ScopeRequest};
use serde_json::Value;
use std::net::IpAddr;
use uuid::Uuid;

/// The error target of failures OAuth reports as `invalid_grant`.
pub const GRANT: &str = "grant";
/// The error target of failures that need the person to interact (`invalid_grant` with a suberror).
pub const INTERACTION: &str = "interaction";

/// How long a refresh token lives unless used: each use slides it on (Entra's 90 days of inactivity).
const REFRESH_LIFETIME_DAYS: i64 = 90;
/// A single-page app's refresh tokens live this long from the sign-in, whatever their use (Entra's rule for
/// tokens a browser holds).
const SPA_REFRESH_HOURS: i64 = 24;

/// How the URL named the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tenancy {
    /// A tenant by id or verified domain.
    Tenant(Uuid),
    /// `organizations`: the tenant of the account that signs in.
    Organizations,
    /// `common`: as `organizations` here, where every account is a work account.
    Common,
}

/// Who is granted what, for the issue stage.
struct Grant<'a> {
    tenant: Uuid,
    client: &'a AuthenticatedClient,
    /// What the client proved itself with (none: a public client).
    proof: Option<ProofKind>,
    user: &'a ObjectRecord,
    granted: Granted,
}

/// The refresh-token family a grant's refresh token belongs to.
enum Family {
    /// A new family with this id (used only when `offline_access` was granted); a single-page app's lives a
    /// fixed 24 hours, any other's 90 days from its last use.
    Start { id: Uuid, spa: bool },
    /// The family's next token, after a rotation.
    Rotated(RefreshToken),
}

/// The browser a page's request comes from.
#[derive(Debug, Clone, Default)]
pub struct Browser {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl Browser {
    /// A sign-in from this browser, by a client of that kind, with those methods.
    fn origin(&self, client_app: ClientApp, methods: &[String]) -> Origin {
        Origin {
            client_app,
            ip: self.ip,
            user_agent: self.user_agent.clone(),
            methods: methods.to_vec(),
            auth_time: None,
            refreshed: false,
        }
    }
}

/// Where a sign-in comes from, through what kind of client, and what the person proved: what Conditional
/// Access reads of it.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub client_app: ClientApp,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// The sign-in's `amr` values (`pwd`, `mfa`).
    pub methods: Vec<String>,
    /// When the person signed in, for a sign-in that goes on from an earlier one (a browser's session, a
    /// refresh token); none for one made now.
    pub auth_time: Option<DateTime<Utc>>,
    /// The sign-in is a refresh token's: it goes on from a sign-in made earlier, without the person.
    pub refreshed: bool,
}

/// What every token request says of its client.
#[derive(Debug, Clone)]
pub struct ClientRequest<'a> {
    pub client_id: &'a str,
    /// The client's proof (a secret or a client assertion), when it showed one.
    pub proof: Option<ClientProof<'a>>,
    /// The `scope` parameter.
    pub scope: &'a str,
    /// The public base URL (the tokens' issuer is under it).
    pub base: &'a str,
    pub source: Option<IpAddr>,
    /// The browser origin of a cross-origin request (a single-page app's), from its `Origin` header.
    pub origin: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

impl ClientRequest<'_> {
    /// The request's origin, for a sign-in by a client of that kind with those methods.
    fn origin_of(&self, client_app: ClientApp, methods: &[String]) -> Origin {
        Origin {
            client_app,
            ip: self.source,
            user_agent: self.user_agent.map(str::to_owned),
            methods: methods.to_vec(),
            auth_time: None,
            refreshed: false,
        }
    }
}

/// The sign-in service.
pub struct SignIn<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The sign-in service.
    pub fn sign_in(&self) -> SignIn<'_> {
        SignIn { directory: self }
    }
}

fn grant_error(message: impl Into<String>) -> Error {
    Error::invalid_property(GRANT, message)
}

impl SignIn<'_> {
    /// The password grant (ROPC): the client signs the person in with their name and password. The attempt
    /// is recorded in the sign-in log, whatever its end.
    pub async fn password(
        &self,
        tenancy: Tenancy,
        request: &ClientRequest<'_>,
        username: &str,
        password: &str,
    ) -> Result<Issued> {
        let origin = request.origin_of(ClientApp::MobileAppsAndDesktopClients, &["pwd".to_owned()]);
        let mut seen = Seen::new(origin, username);
        let result = self.password_grant(tenancy, request, username, password, &mut seen).await;
        self.log(&seen, true, result.as_ref().err()).await?;
        result
    }

    async fn password_grant(
        &self,
        tenancy: Tenancy,
        request: &ClientRequest<'_>,
        username: &str,
        password: &str,
        seen: &mut Seen,
    ) -> Result<Issued> {
        let tenant = match tenancy {
            Tenancy::Tenant(tenant) => tenant,
            Tenancy::Common => {
                return Err(Error::invalid(
                    "AADSTS90002: The password grant is not supported on the /common endpoint; use the tenant's own or /organizations.",
                ))
            }
            Tenancy::Organizations => self.tenant_of(username).await?,
        };
        seen.tenant = Some(tenant);
        let entered = self.find_password_user(tenant, username).await?;
        seen.user = entered.as_ref().map(|(user, _)| user.clone());
        let asked = self.resolve_scope(tenant, request.scope).await?;
        seen.resource = Some(asked.resource.clone());
        let applications = self.directory.applications();
        let client = applications
            .sign_in_client(tenant, request.client_id, request.proof.map(|p| (p, request.base)), false)
            .await?;
        seen.client = Some(client.client.clone());
        let user = self.check_password(tenant, entered, password, request.source).await?;
        let origin = seen.origin.clone();
        let decision = self.decide(tenant, &client.client, client.assignment_required, &user, &asked, seen).await?;
        let granted = granted(decision, asked, &client.client)?;
        let family = Family::Start { id: self.directory.random().uuid(), spa: false };
        let grant = Grant { tenant, client: &client.client, proof: client.proof, user: &user, granted };
        self.issue(grant, self.directory.now(), &origin.methods, None, request.base, family).await
    }

    /// The authenticate stage for a password: [`SignIn::verify_password`], and the password must not need
    /// changing first (expired, or set by an administrator): AADSTS50055 where it does.
    pub(super) async fn check_password(
        &self,
        tenant: Uuid,
        user: Option<(ObjectRecord, PasswordEntry)>,
        password: &str,
        source: Option<IpAddr>,
    ) -> Result<ObjectRecord> {
        let user = self.verify_password(tenant, user, password, source).await?;
        match self.must_change_password(tenant, &user).await? {
            true => Err(password_change_required()),
            false => Ok(user),
        }
    }

    /// Whether the user must change their password before signing in: it expired, or an administrator set it.
    async fn must_change_password(&self, tenant: Uuid, user: &ObjectRecord) -> Result<bool> {
        if user.doc.get(FORCE_CHANGE) == Some(&Value::Bool(true)) {
            return Ok(true);
        }
        let settings = self.directory.tenant_settings(tenant).await?;
        Ok(password_expired(&settings, &user.doc, self.directory.now()))
    }

    /// The live user a password sign-in names (by user principal name, or by object id), with their
    /// password's hash and lockout state: one read.
    pub(super) async fn find_password_user(
        &self,
        tenant: Uuid,
        name: &str,
    ) -> Result<Option<(ObjectRecord, PasswordEntry)>> {
        if crate::schema::check_text("username", name).is_err() {
            return Ok(None);
        }
        let folded = crate::users::fold(name);
        let name = Uuid::parse_str(name).map_or(UserName::Principal(&folded), UserName::Id);
        self.directory.store.password_user(tenant, name).await.map_err(Error::from)
    }

    /// The user whose password it is — `user`, the live user of the name entered as
    /// [`SignIn::find_password_user`] found them (none for an unknown name) —, unless smart lockout holds
    /// their password entries from this kind of place ([`lockout`]). An unknown name costs one hash, as a
    /// wrong password does. A password hashed with other parameters than today's is hashed again with
    /// today's once it is proven right.
    pub(super) async fn verify_password(
        &self,
        tenant: Uuid,
        user: Option<(ObjectRecord, PasswordEntry)>,
        password: &str,
        source: Option<IpAddr>,
    ) -> Result<ObjectRecord> {
        let source = source.map(|ip| ip.to_string());
        let (user, PasswordEntry { hash, lockout: stored }) = match user {
            Some((user, entry)) => (Some(user), entry),
            None => (None, PasswordEntry::default()),
        };
        let state = stored.as_ref().map(|s| Lockout::read(&s.state)).unwrap_or_default();
        let familiar = state.familiar(source.as_deref());
        let now = self.directory.now().timestamp();
        if user.is_some() && state.locked(familiar, now) {
            return Err(grant_error(
                "AADSTS50053: Your account is locked because you've tried to sign in too many times with an incorrect user ID or password. Try again later.",
            ));
        }
        let hasher = &self.directory.hasher;
        let verified = hasher.verify(password.to_owned(), hash.clone()).await?;
        let Some(user) = user else {
            return Err(grant_error(format!(
                "AADSTS50034: The user account {{EmailHidden}} does not exist in the {tenant} directory. To sign into this application, the account must be added to the directory."
            )));
        };
        let wrong = (!verified).then(|| self.wrong_entry("wrong-password", user.id, password));
        self.count_entry(tenant, user.id, stored, familiar, source.as_deref(), wrong.clone()).await?;
        if wrong.is_some() {
            return Err(grant_error("AADSTS50126: Error validating credentials due to invalid username or password."));
        }
        if hash.is_some_and(|h| !hasher.params().made(&h)) {
            let rehashed = hasher.hash(password.to_owned(), self.directory.salt()).await?;
            let write = Write::RehashPassword { user: user.id, hash: rehashed };
            self.directory.commit(&Caller::System { tenant }, vec![write]).await?;
        }
        Ok(user)
    }

    /// The digest a wrong entry (a password, a reset code) is remembered by: keyed, short, never the text.
    fn wrong_entry(&self, kind: &str, user: Uuid, text: &str) -> String {
        let data = [kind.as_bytes(), b"\0", user.as_bytes(), text.as_bytes()].concat();
        URL_SAFE_NO_PAD.encode(&self.directory.master.token_mac(&data)[..12])
    }

    /// Records a password entry in the user's lockout state: a wrong one by its digest, against the tenant's
    /// lockout policy; a right one makes its source familiar.
    async fn count_entry(
        &self,
        tenant: Uuid,
        user: Uuid,
        stored: Option<LockoutRecord>,
        familiar: bool,
        source: Option<&str>,
        wrong: Option<String>,
    ) -> Result<()> {
        match wrong {
            Some(digest) => {
                let settings = self.directory.tenant_settings(tenant).await?;
                let rules = password_rules(&settings);
                let policy = lockout::Policy { threshold: rules.lockout_threshold, seconds: rules.lockout_seconds };
                let now = self.directory.now().timestamp();
                self.change_lockout(tenant, user, stored, |state| state.failed(familiar, digest.clone(), now, policy))
                    .await
                    .map(|_| ())
            }
            None => {
                self.change_lockout(tenant, user, stored, |state| state.succeeded(familiar, source)).await.map(|_| ())
            }
        }
    }

    /// Changes the user's lockout state by compare-and-set: a concurrent change is read again and this one
    /// applied on top. `change` says whether it changed anything; so does the answer.
    pub(crate) async fn change_lockout(
        &self,
        tenant: Uuid,
        user: Uuid,
        mut stored: Option<LockoutRecord>,
        change: impl Fn(&mut Lockout) -> bool,
    ) -> Result<bool> {
        loop {
            let mut state = stored.as_ref().map(|s| Lockout::read(&s.state)).unwrap_or_default();
            if !change(&mut state) {
                return Ok(false);
            }
            let write =
                Write::SetLockout { user, state: state.write(), expected_version: stored.as_ref().map(|s| s.version) };
            match self.directory.commit(&Caller::System { tenant }, vec![write]).await {
                Ok(_) => return Ok(true),
                Err(StoreError::Conflict(_)) => {
                    stored = self.directory.store.lockout(tenant, user).await.map_err(Error::from)?;
                }
                Err(other) => return Err(other.into()),
            }
        }
    }

    /// The refresh-token grant: the token is exchanged for new tokens and a new refresh token, once. A token
    /// used a second time revokes every token of its sign-in.
    ///
    /// Refreshes are non-interactive sign-ins in the sign-in log: a success's record is committed with the
    /// rotation, in one transaction; a failure's goes through the log's writer.
    pub async fn refresh(&self, tenancy: Tenancy, request: &ClientRequest<'_>, token: &str) -> Result<Issued> {
        let mut seen = Seen::new(request.origin_of(ClientApp::MobileAppsAndDesktopClients, &[]), "");
        let result = self.refresh_grant(tenancy, request, token, &mut seen).await;
        if let Err(error) = &result {
            self.log(&seen, false, Some(error)).await?;
        }
        result
    }

    async fn refresh_grant(
        &self,
        tenancy: Tenancy,
        request: &ClientRequest<'_>,
        token: &str,
        seen: &mut Seen,
    ) -> Result<Issued> {
        let malformed = || grant_error("AADSTS9002313: Invalid request. Request is malformed or invalid.");
        let presented = RefreshToken::decode(token, &self.directory.master).ok_or_else(malformed)?;
        let tenant = presented.tenant;
        if matches!(tenancy, Tenancy::Tenant(named) if named != tenant) {
            return Err(grant_error(
                "AADSTS50020: The refresh token was issued by another tenant than the one this request names.",
            ));
        }
        seen.tenant = Some(tenant);
        let families = self.directory.node_state::<Families>();
        let family = match families.get(tenant, presented.family) {
            Some(kept) if kept.generation == presented.generation => kept,
            _ => {
                let store = &self.directory.store;
                let read = store.refresh_family(tenant, presented.family).await.map_err(Error::from)?;
                let read = read.ok_or_else(malformed)?;
                families.keep(tenant, read.clone());
                read
            }
        };
        let applications = self.directory.applications();
        let client = applications
            .sign_in_client(tenant, request.client_id, request.proof.map(|p| (p, request.base)), true)
            .await?;
        seen.client = Some(client.client.clone());
        seen.user = self.find_user(tenant, &family.user.to_string()).await;
        if client.client.app_id != family.client {
            return Err(grant_error("AADSTS70000: The refresh token was issued to a different client."));
        }
        if family.revoked {
            return Err(revoked());
        }
        if presented.generation != family.generation {
            self.revoke(tenant, family.id).await?;
            return Err(revoked());
        }
        let now = self.directory.now();
        if now >= family.expires_at {
            return Err(grant_error(match family.sliding {
                true => "AADSTS700082: The refresh token has expired due to inactivity. The token was issued long ago and was not used since.",
                false => "AADSTS700084: The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of 1.00:00:00, which cannot be extended.",
            }));
        }
        let user = seen
            .user
            .clone()
            .ok_or_else(|| grant_error("AADSTS50034: The user account does not exist in the directory."))?;
        if sessions_revoked(&user.doc, family.auth_time) {
            return Err(revoked());
        }
        let held = Scopes::parse(&family.scopes);
        let mut asked = match request.scope.trim() {
            "" => ScopeRequest {
                openid: held.iter().filter(|s| s.is_openid()).collect(),
                resource: Resource::Graph,
                asked: Asked::Default,
            },
            scope => self.resolve_scope(tenant, scope).await?,
        };
        asked.openid = asked.openid.intersect(held);
        seen.resource = Some(asked.resource.clone());
        let methods: Vec<String> = family.methods.split_whitespace().map(str::to_owned).collect();
        let browser = !family.sliding || client.proof.is_some();
        let kind = if browser { ClientApp::Browser } else { ClientApp::MobileAppsAndDesktopClients };
        let origin = request.origin_of(kind, &methods);
        seen.origin = Origin { auth_time: Some(family.auth_time), refreshed: true, ..origin };
        let decision = self.decide(tenant, &client.client, client.assignment_required, &user, &asked, seen).await?;
        let granted = granted(decision, asked, &client.client)?;
        let expires_at = match family.sliding {
            true => now + Duration::days(REFRESH_LIFETIME_DAYS),
            false => family.expires_at,
        };
        let rotate = Write::RotateRefreshFamily { id: family.id, from: family.generation, expires_at };
        let logged = Write::LogSignIns(vec![self.record(seen, false, None)]);
        match self.directory.commit(&Caller::System { tenant }, vec![rotate, logged]).await {
            Ok(_) => {
                families.keep(tenant, RefreshFamilyRecord { generation: family.generation + 1, expires_at, ..family })
            }
            Err(StoreError::Conflict(_)) => {
                self.revoke(tenant, family.id).await?;
                return Err(revoked());
            }
            Err(other) => return Err(other.into()),
        }
        let next = RefreshToken { generation: family.generation + 1, ..presented };
        let grant = Grant { tenant, client: &client.client, proof: client.proof, user: &user, granted };
        self.issue(grant, family.auth_time, &methods, None, request.base, Family::Rotated(next)).await
    }

    /// OpenID Connect's userinfo: the signed-in user, for a token that was granted `openid` (Graph's own
    /// authorization is not involved: reading one's own claims needs no Graph scope).
    pub async fn userinfo(&self, caller: &Caller) -> Result<ObjectRecord> {
        let Caller::User { tenant, user, scopes, .. } = caller else {
            return Err(Error::unauthenticated("userinfo takes a user's access token."));
        };
        if !scopes.contains(Scope::OpenId) {
            return Err(Error::forbidden());
        }
        self.find_user(*tenant, &user.to_string()).await.ok_or_else(|| Error::unauthenticated("The user is gone."))
    }

    /// The tenant that holds an account's domain (`organizations`).
    async fn tenant_of(&self, username: &str) -> Result<Uuid> {
        let domain = username.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        self.directory.resolve_tenant(domain).await.map_err(|_| {
            grant_error(format!(
                "AADSTS50034: The user account {{EmailHidden}} does not exist in any tenant here. Domain '{domain}' is unknown."
            ))
        })
    }

    /// A live user by UPN or object id (by id from this node's object cache when it holds the user).
    async fn find_user(&self, tenant: Uuid, key: &str) -> Option<ObjectRecord> {
        self.directory.users().get(&Caller::System { tenant }, key).await.ok()
    }

    /// The policy stage: gathers the facts (Conditional Access's outcome for this sign-in among them) and
    /// decides.
    async fn decide(
        &self,
        tenant: Uuid,
        client: &AuthenticatedClient,
        assignment_required: bool,
        user: &ObjectRecord,
        request: &ScopeRequest,
        seen: &mut Seen,
    ) -> Result<Decision> {
        let origin = &seen.origin;
        let sp = client.service_principal;
        let unassigned = assignment_required && self.held_roles(tenant, sp, user.id).await?.is_none();
        let cached = self.directory.applications().client(tenant, client.app_id).await?;
        let cached = cached.ok_or_else(|| Error::unauthenticated("The application is gone."))?;
        let resource = &request.resource;
        let consented = self.directory.consent().consented(tenant, &cached, resource, user.id).await?;
        let context = Context {
            applications: vec![client.app_id.to_string(), resource.app_id()],
            user_action: None,
            client_app: Some(origin.client_app),
            platform: origin.user_agent.as_deref().and_then(platform_of),
            ip: origin.ip,
        };
        let mfa = origin.methods.iter().any(|m| m == "mfa");
        let holds_app = !mfa && !origin.refreshed && self.holds_app(tenant, user).await?;
        let access = self.directory.conditional_access().evaluate(tenant, user, &context, mfa).await?;
        let requirement = access.requirement;
        let now = self.directory.now();
        let stale = match (access.sign_in_frequency, seen.origin.auth_time) {
            (Some(0), Some(_)) => true,
            (Some(seconds), Some(at)) => (now - at).num_seconds() > seconds,
            _ => false,
        };
        seen.access = Some(access);
        let facts = Facts {
            account_enabled: user.doc.get("accountEnabled") == Some(&Value::Bool(true)),
            must_change_password: user.doc.get(FORCE_CHANGE) == Some(&Value::Bool(true)),
            unassigned,
            asked: request.asked.clone(),
            consented,
            fallback: resource.fallback(&cached),
            access: requirement,
            holds_app,
            mfa,
            stale,
        };
        Ok(policy::evaluate(&facts))
    }

    /// The app roles of the client (its service principal) the user holds, directly or through a group they
    /// are a direct member of (Entra does not follow nesting here); `None` when they hold no assignment at
    /// all (default access counts as one).
    pub(crate) async fn held_roles(&self, tenant: Uuid, client: Uuid, user: Uuid) -> Result<Option<Vec<Uuid>>> {
        let store = &self.directory.store;
        let groups = store.memberships(tenant, &[user]).await.map_err(Error::from)?;
        let mut held: Option<Vec<Uuid>> = None;
        for principal in [user].into_iter().chain(groups.iter().map(|l| l.group)) {
            let assignments = store.app_role_assignments(tenant, principal).await.map_err(Error::from)?;
            for assignment in assignments.iter().filter(|a| a.resource == client) {
                held.get_or_insert_with(Vec::new).push(assignment.app_role_id);
            }
        }
        Ok(held)
    }

    /// The issue and record stages: signs the tokens and, with `offline_access`, starts the refresh-token
    /// family (or hands out its rotated token).
    async fn issue(
        &self,
        grant: Grant<'_>,
        auth_time: DateTime<Utc>,
        methods: &[String],
        nonce: Option<&str>,
        base: &str,
        family: Family,
    ) -> Result<Issued> {
        let Grant { tenant, client, proof, user, granted } = grant;
        let openid = granted.openid;
        let (roles, groups) = match openid.contains(Scope::OpenId) {
            true => self.about(tenant, client, user).await?,
            false => (Vec::new(), None),
        };
        let subject = Subject { tenant, user, client, proof, openid, auth_time, methods, nonce, roles, groups };
        let audience = self.audience(tenant, &granted, user).await?;
        // A sign-in's tokens are signed aside from the async worker, a refresh's inline (see `keys::aside`).
        let aside = matches!(family, Family::Start { .. });
        let (access_token, id_token) = self.sign_user_tokens(&subject, &audience, base, aside).await?;
        let refresh_token = match (family, openid.contains(Scope::OfflineAccess)) {
            (Family::Rotated(next), _) => Some(next.encode(&self.directory.master)),
            (Family::Start { id, spa }, true) => {
                let now = self.directory.now();
                let lifetime =
                    if spa { Duration::hours(SPA_REFRESH_HOURS) } else { Duration::days(REFRESH_LIFETIME_DAYS) };
                let family = RefreshFamilyRecord {
                    id,
                    user: user.id,
                    client: client.app_id,
                    scopes: granted.to_text(),
                    generation: 0,
                    auth_time,
                    methods: methods.join(" "),
                    expires_at: now + lifetime,
                    sliding: !spa,
                    revoked: false,
                };
                let start = vec![Write::StartRefreshFamily(family.clone())];
                self.directory.commit(&Caller::System { tenant }, start).await?;
                self.directory.node_state::<Families>().keep(tenant, family);
                Some(RefreshToken { tenant, family: id, generation: 0 }.encode(&self.directory.master))
            }
            (Family::Start { .. }, false) => None,
        };
        Ok(Issued {
            access_token,
            expires_in: self.directory.config.access_token_lifetime,
            scope: granted.to_text(),
            id_token,
            refresh_token,
            client_info: client_info(tenant, user.id),
        })
    }

    /// What an id token says of the user for the client: the values of the client's app roles they hold,
    /// and, when the application asks (`groupMembershipClaims`), the groups they belong to (transitively;
    /// security groups only for `SecurityGroup`).
    async fn about(
        &self,
        tenant: Uuid,
        client: &AuthenticatedClient,
        user: &ObjectRecord,
    ) -> Result<(Vec<String>, Option<Vec<Uuid>>)> {
        let roles = match client.roles.is_empty() {
            true => Vec::new(),
            false => {
                let held = self.held_roles(tenant, client.service_principal, user.id).await?.unwrap_or_default();
                client.roles.iter().filter(|(id, _)| held.contains(id)).map(|(_, value)| value.clone()).collect()
            }
        };
        let groups = match client.group_claims.as_deref() {
            Some(kind @ ("SecurityGroup" | "All")) => {
                let system = Caller::System { tenant };
                let key = user.id.to_string();
                Some(self.directory.groups().member_groups(&system, &key, kind == "SecurityGroup").await?)
            }
            _ => None,
        };
        Ok((roles, groups))
    }

    async fn revoke(&self, tenant: Uuid, family: Uuid) -> Result<()> {
        tracing::warn!(%tenant, %family, "a refresh token was used twice; every token of its sign-in is revoked");
        self.directory.node_state::<Families>().forget(tenant, family);
        self.directory.commit(&Caller::System { tenant }, vec![Write::RevokeRefreshFamily { id: family }]).await?;
        Ok(())
    }
}

/// The policy's answer to a request at a door that cannot ask the person anything: what is granted, or
/// Entra's error.
fn granted(decision: Decision, request: ScopeRequest, client: &AuthenticatedClient) -> Result<Granted> {
    match decision {
        Decision::Grant(names) => Ok(Granted { openid: request.openid, resource: request.resource, names }),
        other => Err(refusal(other, client)),
    }
}

/// The policy's answer to a request at a door that can ask the person: what is granted, or what to ask the
/// person first (the scopes to consent to, qualified as a `scope` parameter names them; the second factor),
/// or Entra's error.
fn granted_or_asked(
    decision: Decision,
    request: ScopeRequest,
    client: &AuthenticatedClient,
) -> Result<std::result::Result<Granted, Authorized>> {
    match decision {
        Decision::Require(Interaction::Consent(missing)) => {
            Ok(Err(Authorized::Consent(missing.iter().map(|name| request.resource.qualified(name)).collect())))
        }
        Decision::Require(Interaction::Mfa) => Ok(Err(Authorized::SecondFactor)),
        Decision::Require(Interaction::SignInAgain) => Ok(Err(Authorized::SignInAgain)),
        other => granted(other, request, client).map(Ok),
    }
}

/// Entra's error for a decision that grants nothing.
fn refusal(decision: Decision, client: &AuthenticatedClient) -> Error {
    let (app, name) = (client.app_id, &client.display_name);
    match decision {
        Decision::Grant(_) => Error::internal("a grant is not a refusal"),
        Decision::Block(Block::Disabled) => grant_error(
            "AADSTS50057: The user account is disabled. The user object in Active Directory backing this account has been disabled.",
        ),
        Decision::Block(Block::Unassigned) => grant_error(format!(
            "AADSTS50105: Your administrator has configured the application {name} ('{app}') to block users unless they are specifically granted ('assigned') access to the application."
        )),
        Decision::Require(Interaction::Consent(_)) => Error::invalid_property(
            INTERACTION,
            format!("AADSTS65001: The user or administrator has not consented to use the application with ID '{app}' named '{name}'. Send an interactive authorization request for this user and resource."),
        ),
        Decision::Require(Interaction::PasswordChange) => password_change_required(),
        Decision::Block(Block::ConditionalAccess) => grant_error(
            "AADSTS53003: Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
        ),
        Decision::Require(Interaction::SignInAgain) => Error::invalid_property(
            INTERACTION,
            "AADSTS70044: The session has expired or is invalid due to sign-in frequency checks by conditional access.",
        ),
        Decision::Require(Interaction::Mfa) => Error::invalid_property(
            INTERACTION,
            format!("AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{app}'."),
        ),
    }
}

/// Entra's error for a password that must be changed (expired, or set by an administrator) before anything else.
fn password_change_required() -> Error {
    Error::invalid_property(
        INTERACTION,
        "AADSTS50055: The password is expired. The user must change it at an interactive sign-in.",
    )
}

fn revoked() -> Error {
    grant_error(
        "AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password, or the token was used twice.",
    )
}
