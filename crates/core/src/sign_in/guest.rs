//! Guests sign in with a code mailed to them (Entra's email one-time passcode): a guest whose identity the
//! `mail` issuer gave (an invited person who proved their address) enters their email address at the
//! tenant's own sign-in page, asks for a code, and enters it. The code lives thirty minutes, is counted by
//! the allowance of codes and a wrong one by smart lockout, like every mailed code; the session it starts
//! carries `otp` and lasts the pages' 24 hours. Guests sign in at their host's own address (a tenant id or
//! domain), never `organizations` or `common`, which find a tenant by the account's domain. A guest who has
//! not redeemed their invitation yet redeems it first; the tenant's email methods policy
//! (`allowExternalIdToUseEmailOtp`) may turn the codes off.

use super::authorize::Session;
use super::log::Seen;
use super::reset::{CodeMail, CodeTicket};
use super::second_factor::masked;
use super::{grant_error, Browser, SignIn, Tenancy};
use crate::conditional_access::policy::ClientApp;
use crate::credentials::method_policy::guests_use_email_codes;
use crate::kernel::error::{Error, Result};
use crate::store::ObjectRecord;
use crate::users::signs_in_by_mail;
use chrono::Duration;
use serde_json::{json, Value};
use uuid::Uuid;

const CODE_PURPOSE: &str = "guest-code";
/// How long a guest's sign-in code stays good.
pub(super) const CODE_MINUTES: i64 = 30;
/// What a session started with a mailed code says the person proved (`amr`).
pub const ONE_TIME_CODE: &str = "otp";

/// A code sent: the ticket it is entered with, and where it went (masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSent {
    pub ticket: String,
    pub to: String,
}

/// The user principal name a guest invited as `email` has in a tenant whose initial domain is `domain`.
pub fn guest_name(email: &str, domain: &str) -> String {
    format!("{}#EXT#@{domain}", email.trim().to_lowercase().replace('@', "_"))
}

fn unknown() -> Error {
    grant_error(
        "AADSTS50034: The user account does not exist in this organization, or does not sign in with a code. Sign in with your password.",
    )
}

impl SignIn<'_> {
    /// The guest of `tenant` who signs in as `login` (their email address, or their `#EXT#` name) with codes.
    async fn code_guest(&self, tenant: Uuid, login: &str) -> Option<ObjectRecord> {
        let login = login.trim().to_lowercase();
        let name = match login.contains("#ext#") {
            true => login,
            false => guest_name(&login, &self.directory.tenant_record(tenant).await.ok()?.initial_domain),
        };
        self.find_user(tenant, &name).await.filter(signs_in_by_mail)
    }

    /// Sends a sign-in code to the guest who signs in as `login` at the tenant the URL names: the ticket the
    /// code is entered with. A refusal (no such guest, an invitation still to redeem, codes turned off) is
    /// recorded in the sign-in log.
    pub async fn send_guest_code(&self, tenancy: Tenancy, login: &str, browser: &Browser) -> Result<CodeSent> {
        let Tenancy::Tenant(tenant) = tenancy else {
            return Err(grant_error(
                "AADSTS50020: Guests sign in at the address of the organization that invited them, not /organizations or /common.",
            ));
        };
        let guest = self.code_guest(tenant, login).await;
        let result = self.guest_code(tenant, guest.as_ref()).await;
        if let Err(error) = &result {
            let mut seen = Seen::new(browser.origin(ClientApp::Browser, &[ONE_TIME_CODE.to_owned()]), login);
            seen.tenant = Some(tenant);
            seen.user = guest;
            self.log(&seen, true, Some(error)).await?;
        }
        result
    }

    async fn guest_code(&self, tenant: Uuid, guest: Option<&ObjectRecord>) -> Result<CodeSent> {
        let guest = guest.ok_or_else(unknown)?;
        let organization = self.directory.tenant_record(tenant).await?.organization;
        if !guests_use_email_codes(&organization) {
            return Err(grant_error(
                "Your organization has turned off sign-in codes by email for guests. Ask its administrator.",
            ));
        }
        if guest.doc.get("accountEnabled") != Some(&json!(true)) {
            return Err(grant_error("AADSTS50057: The user account is disabled."));
        }
        if guest.doc.get("externalUserState") == Some(&json!("PendingAcceptance")) {
            return Err(grant_error(
                "Your invitation has not been redeemed yet. Open the link in the invitation email first.",
            ));
        }
        let address = guest.doc.get("mail").and_then(Value::as_str).ok_or_else(unknown)?.to_owned();
        let payload = json!({"t": tenant, "u": guest.id});
        let (code, ticket) = self.code_ticket(CODE_PURPOSE, payload, Duration::minutes(CODE_MINUTES));
        self.send_code(tenant, guest, &address, CodeMail::GuestSignIn, &code).await?;
        Ok(CodeSent { ticket, to: masked(&address) })
    }

    /// The session of a guest's code entered at `tenancy` with the ticket [`SignIn::send_guest_code`] gave. A
    /// wrong code is a wrong entry to smart lockout and, like an expired one, recorded in the sign-in log.
    pub async fn guest_code_session(
        &self,
        tenancy: Tenancy,
        ticket: &str,
        code: &str,
        browser: &Browser,
    ) -> Result<Session> {
        let expired = || Error::invalid_property("otc", "The code expired. Ask for a new one.");
        let ticket = self.open_code_ticket(CODE_PURPOSE, ticket).ok_or_else(expired)?;
        let (tenant, user) = (ticket.id("t").ok_or_else(expired)?, ticket.id("u").ok_or_else(expired)?);
        if matches!(tenancy, Tenancy::Tenant(named) if named != tenant) {
            return Err(expired());
        }
        let guest = self.find_user(tenant, &user.to_string()).await;
        let result = self.guest_code_entered(tenant, guest.as_ref(), &ticket, code, browser).await;
        if let Err(error) = &result {
            let name = guest.as_ref().and_then(|g| g.doc.get("mail")).and_then(Value::as_str).unwrap_or_default();
            let mut seen = Seen::new(browser.origin(ClientApp::Browser, &[ONE_TIME_CODE.to_owned()]), name);
            seen.tenant = Some(tenant);
            seen.user = guest;
            self.log(&seen, true, Some(error)).await?;
        }
        result
    }

    async fn guest_code_entered(
        &self,
        tenant: Uuid,
        guest: Option<&ObjectRecord>,
        ticket: &CodeTicket,
        code: &str,
        browser: &Browser,
    ) -> Result<Session> {
        let guest = guest.filter(|g| g.doc.get("accountEnabled") == Some(&json!(true))).ok_or_else(unknown)?;
        if !self.check_code_ticket(ticket, (tenant, guest.id), code, browser.ip).await? {
            return Err(Error::invalid_property(
                "otc",
                "AADSTS50181: The code you entered is not correct. Check the code in the email and try again.",
            ));
        }
        Ok(Session { tenant, user: guest.id, auth_time: self.directory.now(), methods: vec![ONE_TIME_CODE.to_owned()] })
    }
}
