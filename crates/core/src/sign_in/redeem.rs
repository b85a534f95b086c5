//! Redeeming a B2B invitation at the pages (`/{tenant}/redeem`): the link's ticket names the guest and the
//! invitation; the person asks for a code, which goes to the invited address (thirty minutes, within the
//! allowance of codes, a wrong one counted by smart lockout), and by entering it accepts the invitation: the
//! guest's `externalUserState` becomes Accepted and they go on to the invitation's redirect URL. An
//! invitation is redeemed once; inviting the person again (`resetRedemption`) makes a new one.

use super::reset::CodeMail;
use super::SignIn;
use crate::kernel::error::{Error, Result};
use crate::schema::format_time;
use crate::store::{ObjectRecord, Write};
use crate::Caller;
use chrono::Duration;
use serde_json::{json, Value};
use std::net::IpAddr;
use uuid::Uuid;

/// Internal document key of a guest's pending invitation: its id and where redemption leads.
pub const INVITATION_KEY: &str = "_invitation";
/// The purpose a redemption link's ticket is sealed for.
pub const REDEEM_PURPOSE: &str = "invitation";
const CODE_PURPOSE: &str = "invitation-code";
/// How long a redemption code stays good.
pub const CODE_MINUTES: i64 = 30;

/// A pending invitation, as the redemption page shows it.
#[derive(Debug, Clone)]
pub struct Invited {
    pub email: String,
    pub organization: String,
    /// Where the person goes once they accept (the invitation's redirect URL).
    pub redirect: String,
}

fn invalid() -> Error {
    Error::invalid("This invitation link is not valid, or the invitation was redeemed already or sent again.")
}

fn wrong_code() -> Error {
    Error::invalid_property("otc", "The code you entered is not correct. Check the code and try again.")
}

impl SignIn<'_> {
    /// The guest and invitation of a link's ticket, while the invitation waits: tenant, guest, invitation id.
    async fn pending(&self, ticket: &str) -> Result<(Uuid, ObjectRecord, String)> {
        let payload = self.open(REDEEM_PURPOSE, ticket).ok_or_else(invalid)?;
        let id = |name: &str| payload.get(name).and_then(Value::as_str).and_then(|v| Uuid::parse_str(v).ok());
        let (tenant, user) = (id("t").ok_or_else(invalid)?, id("u").ok_or_else(invalid)?);
        let invitation = payload.get("i").and_then(Value::as_str).ok_or_else(invalid)?.to_owned();
        let guest = self.find_user(tenant, &user.to_string()).await.ok_or_else(invalid)?;
        let waiting = guest.doc.get(INVITATION_KEY).and_then(|i| i.get("id")) == Some(&json!(invitation))
            && guest.doc.get("externalUserState") == Some(&json!("PendingAcceptance"));
        match waiting {
            true => Ok((tenant, guest, invitation)),
            false => Err(invalid()),
        }
    }

    /// The invitation a link names, while it waits.
    pub async fn invited(&self, ticket: &str) -> Result<Invited> {
        let (tenant, guest, _) = self.pending(ticket).await?;
        let organization = self.directory.tenant_record(tenant).await?.display_name;
        let email = guest.doc.get("mail").and_then(Value::as_str).unwrap_or_default().to_owned();
        let redirect = guest.doc.get(INVITATION_KEY).and_then(|i| i.get("redirect")).and_then(Value::as_str);
        Ok(Invited { email, organization, redirect: redirect.unwrap_or_default().to_owned() })
    }

    /// Sends a code to the invited address; the ticket it is entered with.
    pub async fn send_redemption_code(&self, ticket: &str) -> Result<String> {
        let (tenant, guest, invitation) = self.pending(ticket).await?;
        let email = guest.doc.get("mail").and_then(Value::as_str).ok_or_else(invalid)?.to_owned();
        let payload = json!({"t": tenant, "u": guest.id, "i": invitation});
        let (code, ticket) = self.code_ticket(CODE_PURPOSE, payload, Duration::minutes(CODE_MINUTES));
        self.send_code(tenant, &guest, &email, CodeMail::Redemption, &code).await?;
        Ok(ticket)
    }

    /// Redeems the invitation of `ticket` with the code from the mail, entered from `source`: the URL the
    /// person goes on to.
    pub async fn redeem_invitation(
        &self,
        ticket: &str,
        code_ticket: &str,
        code: &str,
        source: Option<IpAddr>,
    ) -> Result<String> {
        let (tenant, guest, invitation) = self.pending(ticket).await?;
        let expired = || Error::invalid_property("otc", "The code expired. Ask for a new one.");
        let ticket = self.open_code_ticket(CODE_PURPOSE, code_ticket).ok_or_else(expired)?;
        let payload = &ticket.payload;
        if payload.get("u") != Some(&json!(guest.id)) || payload.get("i") != Some(&json!(invitation)) {
            return Err(expired());
        }
        if !self.check_code_ticket(&ticket, (tenant, guest.id), code, source).await? {
            return Err(wrong_code());
        }
        let redirect = guest.doc.get(INVITATION_KEY).and_then(|i| i.get("redirect")).and_then(Value::as_str);
        let redirect = redirect.ok_or_else(invalid)?.to_owned();
        let mut accepted = guest.clone();
        accepted.doc.remove(INVITATION_KEY);
        accepted.doc.insert("externalUserState".into(), json!("Accepted"));
        accepted.doc.insert("externalUserStateChangeDateTime".into(), json!(format_time(self.directory.now())));
        let attributes =
            [INVITATION_KEY, "externalUserState", "externalUserStateChangeDateTime"].map(str::to_owned).to_vec();
        let person = Caller::SelfService { tenant, user: guest.id };
        let write = Write::update(&guest, accepted, attributes);
        self.directory.commit(&person, vec![write]).await.map_err(|_| invalid())?;
        Ok(redirect)
    }
}
