//! Self-service password reset ("Forgot my password") under Entra's one-gate policy for members: the person
//! proves they hold the alternate email address the directory knows for them (the first of `otherMails`)
//! with a code sent there, then chooses a new password that passes the tenant's rules. The reset ends their
//! earlier sign-ins, as any password change does, and ends any lockout.
//!
//! No reset in progress is stored. Each step hands the pages a sealed, expiring ticket for the next: the
//! first carries a keyed digest of the code, and both carry the version of the user's record when the code
//! was sent, so the change a ticket leads to (or any other change to the user) spends it. A wrong code is a
//! wrong entry to smart lockout, a locked user gets no further, and at most five codes an hour are sent to
//! one user.
//!
//! The answers never tell whether an account exists or may reset: an unknown name, a guest (who resets at
//! their home tenant), a disabled account, one without an alternate address, and an administrator (Entra's
//! two-gate policy for administrators needs a second method, which arrives with MFA) each get a ticket like
//! any other, and no code.

use super::{grant_error, SignIn, Tenancy};
use crate::auth::roles::{is_guest, GUEST_ROLE, MEMBER_ROLE};
use crate::kernel::error::{Error, Result};
use crate::outbox::Mail;
use crate::store::ObjectRecord;
use crate::Caller;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Duration;
use serde_json::{json, Value};
use std::net::IpAddr;
use uuid::Uuid;

/// How long a code, and the ticket after it, stay good.
const TICKET_MINUTES: i64 = 10;
/// The code's digits.
const CODE_DIGITS: u32 = 8;
const CODE_PURPOSE: &str = "reset-code";
const VERIFIED_PURPOSE: &str = "reset-verified";
/// The code ticket's field that carries the code's keyed digest.
const DIGEST: &str = "c";

/// What a code ticket is for, opened: its payload, and the keyed digest of its code.
#[derive(Debug, Clone)]
pub(crate) struct CodeTicket {
    purpose: String,
    pub payload: Value,
    tag: Vec<u8>,
}

impl CodeTicket {
    /// A field of the payload that names an object.
    pub fn id(&self, name: &str) -> Option<Uuid> {
        self.payload.get(name).and_then(Value::as_str).and_then(|v| Uuid::parse_str(v).ok())
    }
}

/// What a code ticket's digest is taken over: its purpose, its payload and the code.
fn ticket_input(purpose: &str, payload: &Value, code: &str) -> Vec<u8> {
    [purpose.as_bytes(), b"\0", payload.to_string().as_bytes(), b"\0", code.trim().as_bytes()].concat()
}

/// What a mailed code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CodeMail {
    PasswordReset,
    /// A second factor at sign-in.
    SignIn,
    /// Redeeming an invitation.
    Redemption,
    /// A guest's sign-in with a code in place of a password.
    GuestSignIn,
}

/// A ticket's contents.
struct Ticket {
    tenant: Uuid,
    user: Uuid,
    version: i64,
    /// The keyed digest of the code (a code ticket only).
    code: Option<Vec<u8>>,
}

impl Ticket {
    fn payload(&self) -> Value {
        let mut payload = json!({"t": self.tenant, "u": self.user, "v": self.version});
        if let Some(code) = &self.code {
            payload["c"] = json!(URL_SAFE_NO_PAD.encode(code));
        }
        payload
    }

    fn read(payload: &Value) -> Option<Ticket> {
        let id = |name: &str| payload.get(name).and_then(Value::as_str).and_then(|v| Uuid::parse_str(v).ok());
        let code = match payload.get("c").and_then(Value::as_str) {
            Some(text) => Some(URL_SAFE_NO_PAD.decode(text).ok()?),
            None => None,
        };
        Some(Ticket { tenant: id("t")?, user: id("u")?, version: payload.get("v")?.as_i64()?, code })
    }
}

fn expired() -> Error {
    Error::invalid_property(
        "code",
        "The verification code has expired, or the account changed since it was sent. Start again.",
    )
}

fn wrong_code() -> Error {
    Error::invalid_property("code", "The code you entered is not correct. Check the code and try again.")
}

/// What the keyed digest of a user's code is taken over.
fn code_input(user: Uuid, code: &str) -> Vec<u8> {
    [b"reset-code\0".as_slice(), user.as_bytes(), code.trim().as_bytes()].concat()
}

impl SignIn<'_> {
    /// The first step: sends a code to the account's alternate address when it may reset (see the module's
    /// notes), and gives the ticket the code is entered with.
    pub async fn start_reset(&self, tenancy: Tenancy, username: &str) -> Result<String> {
        let tenant = self.tenant_named(tenancy, username).await.ok();
        let user = match tenant {
            Some(tenant) => self.find_user(tenant, username).await,
            None => None,
        };
        let random = self.directory.random();
        let code = self.mailed_code();
        let (tenant, id, version) = match (&user, tenant) {
            (Some(user), Some(tenant)) => (tenant, user.id, user.version),
            _ => (tenant.unwrap_or_default(), random.uuid(), 0),
        };
        if let (Some(user), Some(address)) = (&user, self.reset_address(tenant, user.as_ref()).await?) {
            self.send_code(tenant, user, &address, CodeMail::PasswordReset, &code).await?;
        }
        let digest = self.directory.master.token_mac(&code_input(id, &code)).to_vec();
        let ticket = Ticket { tenant, user: id, version, code: Some(digest) };
        Ok(self.seal(CODE_PURPOSE, &ticket.payload(), Duration::minutes(TICKET_MINUTES)))
    }

    /// The second step: the code from the mail, entered from `source`, gives the ticket a new password is
    /// chosen with.
    pub async fn verify_reset_code(&self, ticket: &str, code: &str, source: Option<IpAddr>) -> Result<String> {
        let ticket = self.open(CODE_PURPOSE, ticket).as_ref().and_then(Ticket::read).ok_or_else(expired)?;
        let user = self.find_user(ticket.tenant, &ticket.user.to_string()).await;
        let Some(user) = user.filter(|u| u.version == ticket.version) else { return Err(wrong_code()) };
        let tag = ticket.code.clone().unwrap_or_default();
        let input = code_input(user.id, code);
        if !self.check_mailed_code(ticket.tenant, user.id, &tag, &input, code, source).await? {
            return Err(wrong_code());
        }
        let verified = Ticket { code: None, ..ticket };
        Ok(self.seal(VERIFIED_PURPOSE, &verified.payload(), Duration::minutes(TICKET_MINUTES)))
    }

    /// The last step: the new password replaces the old one, unless it is the same or fails the tenant's
    /// rules, and every lockout of the user ends.
    pub async fn complete_reset(&self, ticket: &str, new: &str) -> Result<()> {
        let ticket = self.open(VERIFIED_PURPOSE, ticket).as_ref().and_then(Ticket::read).ok_or_else(expired)?;
        let tenant = ticket.tenant;
        let user = self.find_user(tenant, &ticket.user.to_string()).await;
        let user = user.filter(|u| u.version == ticket.version).ok_or_else(expired)?;
        if self.reset_address(tenant, Some(&user)).await?.is_none() {
            return Err(expired());
        }
        let hash = self.directory.store.password_hash(tenant, user.id).await.map_err(Error::from)?;
        if let Some(hash) = hash {
            if self.directory.hasher.verify(new.to_owned(), Some(hash)).await? {
                return Err(Error::invalid_property("newPassword", "The new password cannot be the current password."));
            }
        }
        self.directory.users().replace_password(&Caller::SelfService { tenant, user: user.id }, &user, new).await?;
        let stored = self.directory.store.lockout(tenant, user.id).await.map_err(Error::from)?;
        self.change_lockout(tenant, user.id, stored, super::Lockout::unlock).await?;
        Ok(())
    }

    /// Where a user's reset code goes: the first alternate address of an enabled member who holds no
    /// administrator role; `None` for anyone else.
    async fn reset_address(&self, tenant: Uuid, user: Option<&ObjectRecord>) -> Result<Option<String>> {
        let Some(user) = user else { return Ok(None) };
        if user.doc.get("accountEnabled") != Some(&Value::Bool(true)) || is_guest(user) {
            return Ok(None);
        }
        let held = self.directory.role_management().held(tenant, user).await?;
        if held.iter().any(|role| role != MEMBER_ROLE && role != GUEST_ROLE) {
            return Ok(None);
        }
        let first = user.doc.get("otherMails").and_then(Value::as_array).and_then(|m| m.first());
        Ok(first.and_then(Value::as_str).map(str::to_owned))
    }

    /// A new code to mail: eight digits.
    pub(crate) fn mailed_code(&self) -> String {
        let random = self.directory.random();
        format!("{:0width$}", random.below(10u64.pow(CODE_DIGITS)), width = CODE_DIGITS as usize)
    }

    /// A new mailed code for `purpose` and the ticket it is entered with: `payload` (what the code is for —
    /// tenant, person, invitation, link) sealed with a keyed digest of the code over it, good for `lifetime`.
    /// Nothing in progress is stored.
    pub(crate) fn code_ticket(&self, purpose: &str, payload: Value, lifetime: Duration) -> (String, String) {
        let code = self.mailed_code();
        let digest = self.directory.master.token_mac(&ticket_input(purpose, &payload, &code));
        let mut sealed = payload;
        if let Value::Object(fields) = &mut sealed {
            fields.insert(DIGEST.into(), json!(URL_SAFE_NO_PAD.encode(digest)));
        }
        (code, self.seal(purpose, &sealed, lifetime))
    }

    /// What a code ticket made for `purpose` is for, while it is untampered and unexpired.
    pub(crate) fn open_code_ticket(&self, purpose: &str, ticket: &str) -> Option<CodeTicket> {
        let mut payload = self.open(purpose, ticket)?;
        let digest = payload.as_object_mut()?.remove(DIGEST)?;
        let tag = URL_SAFE_NO_PAD.decode(digest.as_str()?).ok()?;
        Some(CodeTicket { purpose: purpose.to_owned(), payload, tag })
    }

    /// Checks a code entered from `source` against its ticket, counted by smart lockout under `subject`
    /// (the person, or what the code opens); see [`SignIn::check_mailed_code`].
    pub(crate) async fn check_code_ticket(
        &self,
        ticket: &CodeTicket,
        (tenant, subject): (Uuid, Uuid),
        code: &str,
        source: Option<IpAddr>,
    ) -> Result<bool> {
        let input = ticket_input(&ticket.purpose, &ticket.payload, code);
        self.check_mailed_code(tenant, subject, &ticket.tag, &input, code, source).await
    }

    /// Checks a mailed code entered from `source` against its keyed digest (`tag`, over `input`): a locked
    /// person is refused, a wrong code is a wrong entry to smart lockout (`false`).
    pub(crate) async fn check_mailed_code(
        &self,
        tenant: Uuid,
        user: Uuid,
        tag: &[u8],
        input: &[u8],
        code: &str,
        source: Option<IpAddr>,
    ) -> Result<bool> {
        let source = source.map(|ip| ip.to_string());
        let stored = self.directory.store.lockout(tenant, user).await.map_err(Error::from)?;
        let state = stored.as_ref().map(|s| super::Lockout::read(&s.state)).unwrap_or_default();
        let familiar = state.familiar(source.as_deref());
        if state.locked(familiar, self.directory.now().timestamp()) {
            return Err(grant_error(
                "AADSTS50053: Your account is locked because of too many attempts with an incorrect code or password. Try again later.",
            ));
        }
        if self.directory.master.verify_token_mac(input, tag) {
            return Ok(true);
        }
        let wrong = self.wrong_entry("wrong-code", user, code.trim());
        self.count_entry(tenant, user, stored, familiar, source.as_deref(), Some(wrong)).await?;
        Ok(false)
    }

    /// Queues a code for the outbox, within the user's allowance of codes (five an hour, whatever they are
    /// for); a code beyond it is logged (without the code) and the person, told nothing different, never
    /// receives it.
    pub(super) async fn send_code(
        &self,
        tenant: Uuid,
        user: &ObjectRecord,
        address: &str,
        kind: CodeMail,
        code: &str,
    ) -> Result<()> {
        let organization = self.directory.tenant_record(tenant).await?.organization;
        let name = organization.get("displayName").and_then(Value::as_str).unwrap_or("your organization").to_owned();
        let upn = user.doc.get("userPrincipalName").and_then(Value::as_str).unwrap_or_default();
        let (kind, subject, text) = match kind {
            CodeMail::PasswordReset => (
                "passwordResetCode",
                format!("{name} account password reset code"),
                format!(
                    "Someone asked to reset the password of the {name} account {upn}.\n\nYour verification code is: {code}\n\nIt is good for {TICKET_MINUTES} minutes. If you did not ask for it, you can ignore this message: the password stays as it is.\n"
                ),
            ),
            CodeMail::Redemption => (
                "invitationCode",
                format!("{name} invitation verification code"),
                format!(
                    "Someone is accepting {name}'s invitation for {address}.\n\nYour verification code is: {code}\n\nIt is good for {minutes} minutes. If this was not you, you can ignore this message.\n",
                    minutes = super::redeem::CODE_MINUTES,
                ),
            ),
            CodeMail::GuestSignIn => (
                "guestSignInCode",
                format!("{name} sign-in code"),
                format!(
                    "Someone is signing in to {name}'s applications as {address}.\n\nYour verification code is: {code}\n\nIt is good for {minutes} minutes. If this was not you, you can ignore this message.\n",
                    minutes = super::guest::CODE_MINUTES,
                ),
            ),
            CodeMail::SignIn => (
                "signInCode",
                format!("{name} account verification code"),
                format!(
                    "Someone is signing in to the {name} account {upn} with its password.\n\nYour verification code is: {code}\n\nIt is good for {TICKET_MINUTES} minutes. If this was not you, change your password: someone else knows it.\n"
                ),
            ),
        };
        self.mail_code(tenant, user.id, Mail { kind, to: address.to_owned(), subject, text }).await
    }

    /// Queues a message that carries a code, within the allowance of codes of `subject` (five an hour,
    /// whatever they are for: a person's, or a sharing link's); a message beyond it is logged (without the
    /// code) and never sent, the person told nothing different.
    pub(crate) async fn mail_code(&self, tenant: Uuid, subject: Uuid, mail: Mail) -> Result<()> {
        let outbox = self.directory.outbox();
        if !outbox.sends() {
            tracing::warn!(%tenant, %subject, "a code was not sent: this node sends no email");
            return Ok(());
        }
        let now = self.directory.now().timestamp();
        let stored = self.directory.store.lockout(tenant, subject).await.map_err(Error::from)?;
        if !self.change_lockout(tenant, subject, stored, |state| state.mail(now)).await? {
            tracing::warn!(%tenant, %subject, "a code was not sent: too many codes this hour");
            return Ok(());
        }
        let queued = outbox.queue(mail);
        self.directory.commit(&Caller::System { tenant }, vec![queued]).await.map_err(Error::from)?;
        Ok(())
    }
}
