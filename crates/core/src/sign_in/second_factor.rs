//! The second factor at the pages, when a Conditional Access policy requires multifactor authentication or
//! the person holds an authenticator app (a method once registered is asked for at every sign-in): a
//! code from the person's authenticator app (each time step used once, a wrong code counted by smart lockout
//! like a wrong password); for a person with no app yet, a code sent to their email address where the
//! tenant's authentication methods policy enables email codes for them, or else registering an app there —
//! Entra's registration at sign-in — proved by its first code. Either way the session then carries `mfa`
//! beside `pwd`. The methods policy decides which methods a person may use and register.
//!
//! Nothing in progress is stored: a registration's secret travels sealed by the master key in a signed,
//! ten-minute ticket, and becomes the person's method only with a right code; an email code's ticket
//! carries a keyed digest of the code.

use super::authorize::Session;
use super::reset::CodeMail;
use super::{Browser, Lockout, SignIn};
use crate::conditional_access::evaluate::{Context, Requirement};
use crate::conditional_access::platform_of;
use crate::conditional_access::policy::{ClientApp, REGISTER_SECURITY_INFO};
use crate::credentials::method_policy::Method;
use crate::credentials::totp;
use crate::kernel::error::{Error, Result};
use crate::store::ObjectRecord;
use chrono::Duration;
use serde_json::{json, Value};
use std::net::IpAddr;

const REGISTRATION_PURPOSE: &str = "totp-registration";
const EMAIL_PURPOSE: &str = "email-code";
const REGISTRATION_MINUTES: i64 = 10;
/// The issuer an authenticator app shows beside the account.
const ISSUER: &str = "Gatehouse";

/// What the pages ask for the second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactor {
    /// A code from the person's authenticator app.
    Code,
    /// The person has none: register one with this secret (base32, and as the `otpauth://` URI a QR code
    /// carries), then enter its code; the ticket goes back with the code.
    Register { secret: String, uri: String, ticket: String },
    /// A code was sent to the person's email address (`to`, masked); the ticket goes back with the code.
    Email { ticket: String, to: String },
}

fn no_method() -> Error {
    super::grant_error(
        "AADSTS50072: The sign-in needs a second factor, and no method your organization allows is available to you. Ask your administrator.",
    )
}

/// An address as a page may show it: its first character and its domain.
pub(super) fn masked(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => format!("{}•••@{domain}", local.chars().next().unwrap_or('•')),
        None => "•••".to_owned(),
    }
}

/// Where a person's email codes go: their first alternate address, else their own mailbox.
fn email_address(user: &ObjectRecord) -> Option<String> {
    let first = user.doc.get("otherMails").and_then(Value::as_array).and_then(|m| m.first()).and_then(Value::as_str);
    first.or_else(|| user.doc.get("mail").and_then(Value::as_str)).map(str::to_owned)
}

fn wrong_code() -> Error {
    Error::invalid_property(
        "otc",
        "AADSTS50181: The code you entered is not correct. Enter the code your authenticator app shows now.",
    )
}

impl SignIn<'_> {
    async fn session_user(&self, session: &Session) -> Result<ObjectRecord> {
        self.standing_user(session.tenant, session.user, session.auth_time)
            .await
            .ok_or_else(|| super::grant_error("AADSTS50173: The sign-in is no longer valid. Sign in again."))
    }

    /// Whether the person holds an authenticator app the methods policy lets them use: then every sign-in
    /// they make asks for its code (as Keycloak's conditional one-time code, and Entra once per-user MFA is
    /// enforced), whatever Conditional Access requires.
    pub(super) async fn holds_app(&self, tenant: uuid::Uuid, user: &ObjectRecord) -> Result<bool> {
        let methods = self.directory.authentication_methods();
        Ok(!methods.secrets(user).is_empty() && methods.allowed(tenant, user, Method::SoftwareOath).await?)
    }

    /// What a person signed in at Gatehouse's own pages (My Account, the admin center) must still prove
    /// before those pages serve them: their app's code, when they hold one and the session has no second
    /// factor yet.
    pub async fn page_factor(&self, session: &Session) -> Result<Option<SecondFactor>> {
        if session.methods.iter().any(|m| m == "mfa") {
            return Ok(None);
        }
        let user = self.session_user(session).await?;
        Ok(self.holds_app(session.tenant, &user).await?.then_some(SecondFactor::Code))
    }

    /// What the person signed in with `session` is asked for the second factor: their app's code, an email
    /// code (sent now), or a new app to register — as the methods policy allows them.
    pub async fn second_factor(&self, session: &Session) -> Result<SecondFactor> {
        let user = self.session_user(session).await?;
        let methods = self.directory.authentication_methods();
        let apps = methods.allowed(session.tenant, &user, Method::SoftwareOath).await?;
        if apps && !methods.secrets(&user).is_empty() {
            return Ok(SecondFactor::Code);
        }
        if let Some(address) = email_address(&user) {
            if methods.allowed(session.tenant, &user, Method::Email).await? {
                return self.email_code(session.tenant, &user, &address).await;
            }
        }
        match apps {
            true => self.registration(session, &user),
            false => Err(no_method()),
        }
    }

    /// Sends a new code to the person's address; the ticket it is entered with.
    async fn email_code(&self, tenant: uuid::Uuid, user: &ObjectRecord, address: &str) -> Result<SecondFactor> {
        let payload = json!({"t": tenant, "u": user.id});
        let (code, ticket) = self.code_ticket(EMAIL_PURPOSE, payload, Duration::minutes(REGISTRATION_MINUTES));
        self.send_code(tenant, user, address, CodeMail::SignIn, &code).await?;
        Ok(SecondFactor::Email { ticket, to: masked(address) })
    }

    /// A field of a ticket made for `purpose` and the person of `session`; `None` for any other ticket, or
    /// one that expired.
    fn ticket_field(&self, purpose: &str, ticket: &str, session: &Session, field: &str) -> Option<String> {
        let payload = self.open(purpose, ticket)?;
        let mine = payload.get("t") == Some(&json!(session.tenant)) && payload.get("u") == Some(&json!(session.user));
        payload.get(field).and_then(Value::as_str).filter(|_| mine).map(str::to_owned)
    }

    /// A code from the person's email, with the ticket [`SignIn::second_factor`] gave, entered from
    /// `source`: the session, now with `mfa`.
    pub async fn verify_email_factor(
        &self,
        session: &Session,
        ticket: &str,
        code: &str,
        source: Option<IpAddr>,
    ) -> Result<Session> {
        let expired = || Error::invalid_property("otc", "The code expired. Sign in again for a new one.");
        let ticket = self.open_code_ticket(EMAIL_PURPOSE, ticket).ok_or_else(expired)?;
        if ticket.id("t") != Some(session.tenant) || ticket.id("u") != Some(session.user) {
            return Err(expired());
        }
        match self.check_code_ticket(&ticket, (session.tenant, session.user), code, source).await? {
            true => Ok(with_mfa(session)),
            false => Err(wrong_code()),
        }
    }

    /// The person's own security info (My Sign-ins), seen from `browser`: their authenticator apps, listed,
    /// and a new one to register — or, for a person who holds one and has not proved a second factor in this
    /// session, the code first (`SecondFactor::Code`), so a stolen password cannot add a method. Conditional
    /// Access policies on the user action "register security information" apply: one that blocks refuses
    /// the registration, one that requires multifactor authentication asks for the code first (a person
    /// with no method yet needs a temporary access pass, as in Entra).
    pub async fn security_info(
        &self,
        session: &Session,
        browser: &Browser,
    ) -> Result<(Vec<serde_json::Map<String, Value>>, SecondFactor)> {
        let user = self.session_user(session).await?;
        let system = crate::Caller::System { tenant: session.tenant };
        let methods = self.directory.authentication_methods();
        let apps = methods.software_oath_methods(&system, &user.id.to_string()).await?;
        let proven = session.methods.iter().any(|m| m == "mfa");
        if !methods.allowed(session.tenant, &user, Method::SoftwareOath).await? {
            return Err(super::grant_error(
                "Your organization's authentication methods policy does not let you register an authenticator app.",
            ));
        }
        match self.registration_requirement(session, &user, browser).await? {
            Requirement::Block => Err(super::grant_error(
                "AADSTS53003: Access has been blocked by Conditional Access policies: security info cannot be registered from here.",
            )),
            Requirement::Mfa if apps.is_empty() => Err(super::grant_error(
                "AADSTS50076: A Conditional Access policy requires multifactor authentication to register security info. Sign in with a temporary access pass.",
            )),
            Requirement::Mfa => Ok((apps, SecondFactor::Code)),
            Requirement::Nothing if apps.is_empty() || proven => Ok((apps, self.registration(session, &user)?)),
            Requirement::Nothing => Ok((apps, SecondFactor::Code)),
        }
    }

    /// The person removes one of their authenticator apps from their security info: only in a session that
    /// proved a second factor, so a stolen password cannot take a method away either.
    pub async fn remove_app(&self, session: &Session, id: &str) -> Result<()> {
        if !session.methods.iter().any(|m| m == "mfa") {
            return Err(super::grant_error("AADSTS50076: Enter a code from your authenticator app first."));
        }
        self.session_user(session).await?;
        self.directory.authentication_methods().remove_own(session.tenant, session.user, id).await
    }

    /// What Conditional Access requires of the person registering security info from `browser` (Entra's
    /// user action), given the methods of the session.
    async fn registration_requirement(
        &self,
        session: &Session,
        user: &ObjectRecord,
        browser: &Browser,
    ) -> Result<Requirement> {
        let context = Context {
            user_action: Some(REGISTER_SECURITY_INFO.to_owned()),
            client_app: Some(ClientApp::Browser),
            platform: browser.user_agent.as_deref().and_then(platform_of),
            ip: browser.ip,
            ..Context::default()
        };
        let mfa = session.methods.iter().any(|m| m == "mfa");
        let outcome = self.directory.conditional_access().evaluate(session.tenant, user, &context, mfa).await?;
        Ok(outcome.requirement)
    }

    /// A new authenticator app to register for the person, sealed in its ticket.
    fn registration(&self, session: &Session, user: &ObjectRecord) -> Result<SecondFactor> {
        let mut secret = [0u8; totp::SECRET_BYTES];
        self.directory.random().fill(&mut secret);
        let sealed = self.directory.master.seal(self.directory.random(), &secret)?;
        let payload = json!({"t": session.tenant, "u": session.user, "s": sealed});
        let ticket = self.seal(REGISTRATION_PURPOSE, &payload, Duration::minutes(REGISTRATION_MINUTES));
        let account = user.doc.get("userPrincipalName").and_then(Value::as_str).unwrap_or_default();
        Ok(SecondFactor::Register {
            secret: totp::base32(&secret),
            uri: totp::provisioning_uri(&secret, ISSUER, account),
            ticket,
        })
    }

    /// What a person who signed in with multifactor authentication but holds no authenticator app (a temporary
    /// access pass) is offered next: registering one.
    pub async fn onboarding(&self, session: &Session) -> Result<Option<SecondFactor>> {
        if !session.methods.iter().any(|m| m == "mfa") {
            return Ok(None);
        }
        let user = self.session_user(session).await?;
        let methods = self.directory.authentication_methods();
        match methods.secrets(&user).is_empty() && methods.allowed(session.tenant, &user, Method::SoftwareOath).await? {
            true => Ok(Some(self.registration(session, &user)?)),
            false => Ok(None),
        }
    }

    /// A code from the person's authenticator app, entered from `source`: the session, now with `mfa`.
    pub async fn verify_second_factor(&self, session: &Session, code: &str, source: Option<IpAddr>) -> Result<Session> {
        let user = self.session_user(session).await?;
        let methods = self.directory.authentication_methods();
        if !methods.allowed(session.tenant, &user, Method::SoftwareOath).await? {
            return Err(no_method());
        }
        self.spend_code(session, &methods.secrets(&user), code, source, false).await?;
        Ok(with_mfa(session))
    }

    /// Registers the authenticator app of a ticket [`SignIn::second_factor`] gave, proved by its code: the
    /// session, now with `mfa`.
    pub async fn register_second_factor(
        &self,
        session: &Session,
        ticket: &str,
        code: &str,
        source: Option<IpAddr>,
    ) -> Result<Session> {
        let expired = || Error::invalid_property("otc", "The registration expired. Sign in again to start it anew.");
        let sealed = self.ticket_field(REGISTRATION_PURPOSE, ticket, session, "s").ok_or_else(expired)?;
        let secret = self.directory.master.open(&sealed)?;
        self.spend_code(session, std::slice::from_ref(&secret), code, source, true).await?;
        self.directory.authentication_methods().add_software_oath(session.tenant, session.user, &secret).await?;
        Ok(with_mfa(session))
    }

    /// Accepts a code of one of `secrets` whose time step is not spent yet, and spends it; a wrong code is a
    /// wrong entry to smart lockout, and a locked person gets no further. A new app's first code (`first`)
    /// proves the new secret: it is accepted even when another app's code spent its step already.
    async fn spend_code(
        &self,
        session: &Session,
        secrets: &[Vec<u8>],
        code: &str,
        source: Option<IpAddr>,
        first: bool,
    ) -> Result<()> {
        let (tenant, user) = (session.tenant, session.user);
        let stored = self.directory.store.lockout(tenant, user).await.map_err(Error::from)?;
        let state = stored.as_ref().map(|s| Lockout::read(&s.state)).unwrap_or_default();
        let source = source.map(|ip| ip.to_string());
        let familiar = state.familiar(source.as_deref());
        let now = self.directory.now().timestamp();
        if state.locked(familiar, now) {
            return Err(super::grant_error(
                "AADSTS50053: Your account is locked because of too many attempts with an incorrect code or password. Try again later.",
            ));
        }
        let after = if first { i64::MIN } else { state.totp_step() };
        let step = secrets.iter().find_map(|secret| totp::matching_step(secret, code, now, after));
        let Some(step) = step else {
            let wrong = self.wrong_entry("wrong-otp", user, code.trim());
            self.count_entry(tenant, user, stored, familiar, source.as_deref(), Some(wrong)).await?;
            return Err(wrong_code());
        };
        if first && step <= state.totp_step() {
            return Ok(());
        }
        match self.change_lockout(tenant, user, stored, |state| state.spend_step(step)).await? {
            true => Ok(()),
            false => Err(wrong_code()),
        }
    }
}

fn with_mfa(session: &Session) -> Session {
    let mut methods = session.methods.clone();
    if !methods.iter().any(|m| m == "mfa") {
        methods.push("mfa".into());
    }
    Session { methods, ..session.clone() }
}
