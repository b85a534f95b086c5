//! The second factor at the pages, when a Conditional Access policy requires multifactor authentication: a
//! code from the person's authenticator app (each time step used once, a wrong code counted by smart lockout
//! like a wrong password), or, for a person with no app yet, registering one there — Entra's registration at
//! sign-in — proved by its first code. Either way the session then carries `mfa` beside `pwd`.
//!
//! A registration in progress is stored nowhere: its secret travels sealed by the master key in a signed,
//! ten-minute ticket, and becomes the person's method only with a right code.

use super::authorize::Session;
use super::{Lockout, SignIn};
use crate::credentials::totp;
use crate::kernel::error::{Error, Result};
use crate::store::ObjectRecord;
use chrono::Duration;
use serde_json::{json, Value};
use std::net::IpAddr;

const REGISTRATION_PURPOSE: &str = "totp-registration";
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

    /// What the person signed in with `session` is asked for the second factor.
    pub async fn second_factor(&self, session: &Session) -> Result<SecondFactor> {
        let user = self.session_user(session).await?;
        if !self.directory.authentication_methods().secrets(&user).is_empty() {
            return Ok(SecondFactor::Code);
        }
        self.registration(session, &user)
    }

    /// The person's own security info (My Sign-ins): their authenticator apps, listed, and a new one to
    /// register — or, for a person who holds one and has not proved a second factor in this session, the
    /// code first (`SecondFactor::Code`), so a stolen password cannot add a method.
    pub async fn security_info(
        &self,
        session: &Session,
    ) -> Result<(Vec<serde_json::Map<String, Value>>, SecondFactor)> {
        let user = self.session_user(session).await?;
        let system = crate::Caller::System { tenant: session.tenant };
        let methods = self.directory.authentication_methods();
        let apps = methods.software_oath_methods(&system, &user.id.to_string()).await?;
        let proven = session.methods.iter().any(|m| m == "mfa");
        match apps.is_empty() || proven {
            true => Ok((apps, self.registration(session, &user)?)),
            false => Ok((apps, SecondFactor::Code)),
        }
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
        match self.second_factor(session).await? {
            SecondFactor::Code => Ok(None),
            register => Ok(Some(register)),
        }
    }

    /// A code from the person's authenticator app, entered from `source`: the session, now with `mfa`.
    pub async fn verify_second_factor(&self, session: &Session, code: &str, source: Option<IpAddr>) -> Result<Session> {
        let user = self.session_user(session).await?;
        let secrets = self.directory.authentication_methods().secrets(&user);
        self.spend_code(session, &secrets, code, source, false).await?;
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
        let payload = self.open(REGISTRATION_PURPOSE, ticket).ok_or_else(expired)?;
        let mine = payload.get("t") == Some(&json!(session.tenant)) && payload.get("u") == Some(&json!(session.user));
        let sealed = payload.get("s").and_then(Value::as_str).filter(|_| mine).ok_or_else(expired)?;
        let secret = self.directory.master.open(sealed)?;
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
