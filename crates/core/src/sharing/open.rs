//! Opening a link at the share page (`/{tenant}/share?ticket=…`), and token introspection for resources.
//!
//! A link for an address asks for the address, mails a code there when it is the one the link was shared
//! with (and says nothing different when it is not), and opens with the code. A link anyone opens opens at
//! once. Each opening is a use, counted in the transaction that checks the link still stands; it gives a
//! token for the resource alone (`aud` its app id), ten minutes long, with `roles` `Shared.View` or
//! `Shared.Edit`, `idtyp` `sharing`, the link's id (`sharing_link`), and for an address `email` and `idp`
//! `mail`; its `sub` is pairwise for the link and address. No directory object stands behind it.

use super::{gone, landing, wrong_code, Opened, Shared, Sharing, ANYONE, CODE_MINUTES, CODE_PURPOSE};
use super::{text, LINK_PURPOSE, TOKEN_SECONDS};
use crate::kernel::error::{Error, Result};
use crate::outbox::Mail;
use crate::sign_in::ClientRequest;
use crate::store::{ObjectKind, ObjectRecord, SharingLinkRecord, StoreError, Write};
use crate::Caller;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Duration;
use serde_json::{json, Map, Value};
use std::net::IpAddr;
use uuid::Uuid;

impl Sharing<'_> {
    /// The tenant, link and resource of a page's ticket, while the link stands.
    async fn standing(&self, ticket: &str) -> Result<(Uuid, SharingLinkRecord, ObjectRecord)> {
        let payload = self.directory.sign_in().open(LINK_PURPOSE, ticket).ok_or_else(gone)?;
        let id = |name: &str| payload.get(name).and_then(Value::as_str).and_then(|v| Uuid::parse_str(v).ok());
        let (tenant, link) = (id("t").ok_or_else(gone)?, id("l").ok_or_else(gone)?);
        let link = self.directory.store.sharing_link(tenant, link).await.map_err(Error::from)?;
        let link = link.filter(|l| l.open_at(self.directory.now())).ok_or_else(gone)?;
        let system = Caller::System { tenant };
        let key = link.resource.to_string();
        let app = self.directory.live_of(&system, &key, &[ObjectKind::Application]).await.map_err(|_| gone())?;
        Ok((tenant, link, app))
    }

    /// The link of a page's ticket, as the page shows it.
    pub async fn shared(&self, ticket: &str) -> Result<Shared> {
        let (tenant, link, app) = self.standing(ticket).await?;
        Ok(Shared {
            organization: self.directory.tenant_record(tenant).await?.display_name,
            resource: text(&app, "displayName").to_owned(),
            edit: link.edit,
            anonymous: link.recipient.is_none(),
        })
    }

    /// Sends a code to `email` when the link was shared with it, within the link's allowance of codes; the
    /// ticket the code is entered with either way, so the page tells no one whom a link names.
    pub async fn send_code(&self, ticket: &str, email: &str) -> Result<String> {
        let (tenant, link, app) = self.standing(ticket).await?;
        let Some(recipient) = &link.recipient else {
            return Err(Error::invalid("This link opens without a code."));
        };
        let email = email.trim().to_lowercase();
        let sign_in = self.directory.sign_in();
        let payload = json!({"t": tenant, "l": link.id, "e": email});
        let (code, ticket) = sign_in.code_ticket(CODE_PURPOSE, payload, Duration::minutes(CODE_MINUTES));
        if *recipient == email {
            let resource = text(&app, "displayName");
            let mail = Mail {
                kind: "sharingCode",
                to: email.clone(),
                subject: format!("Your code to open \"{resource}\""),
                text: format!(
                    "Someone is opening \"{resource}\", shared with {email}.\n\nYour verification code is: {code}\n\nIt is good for {CODE_MINUTES} minutes. If this was not you, you can ignore this message.\n"
                ),
            };
            sign_in.mail_code(tenant, link.id, mail).await?;
        }
        Ok(ticket)
    }

    /// Opens the link of `ticket` with the code mailed for it, entered from `source`; `base` is the public
    /// base URL (the token's issuer is under it).
    pub async fn open_with_code(
        &self,
        ticket: &str,
        code_ticket: &str,
        code: &str,
        (source, base): (Option<IpAddr>, &str),
    ) -> Result<Opened> {
        let (tenant, link, app) = self.standing(ticket).await?;
        let sign_in = self.directory.sign_in();
        let expired = || Error::invalid_property("otc", "The code expired. Ask for a new one.");
        let ticket = sign_in.open_code_ticket(CODE_PURPOSE, code_ticket).ok_or_else(expired)?;
        if ticket.id("l") != Some(link.id) {
            return Err(expired());
        }
        let email = ticket.payload.get("e").and_then(Value::as_str).ok_or_else(expired)?.to_owned();
        if !sign_in.check_code_ticket(&ticket, (tenant, link.id), code, source).await? {
            return Err(wrong_code());
        }
        self.use_link(tenant, &link, &app, Some(&email), base).await
    }

    /// Opens a link anyone holding it opens.
    pub async fn open_anonymous(&self, ticket: &str, base: &str) -> Result<Opened> {
        let (tenant, link, app) = self.standing(ticket).await?;
        if link.recipient.is_some() {
            return Err(Error::invalid("This link opens with a code sent to the address it was shared with."));
        }
        self.use_link(tenant, &link, &app, None, base).await
    }

    /// Counts the use (refused if the link was revoked or expired meanwhile) and signs the resource's token.
    async fn use_link(
        &self,
        tenant: Uuid,
        link: &SharingLinkRecord,
        app: &ObjectRecord,
        email: Option<&str>,
        base: &str,
    ) -> Result<Opened> {
        let write =
            Write::UseSharingLink { id: link.id, by: email.unwrap_or(ANYONE).to_owned(), at: self.directory.now() };
        match self.directory.commit(&Caller::System { tenant }, vec![write]).await {
            Ok(_) => {}
            Err(StoreError::Missing) => return Err(gone()),
            Err(other) => return Err(other.into()),
        }
        let sign_in = self.directory.sign_in();
        let stamp = sign_in.stamp(tenant, base).await?;
        let subject = [b"sharing\0".as_slice(), link.id.as_bytes(), email.unwrap_or_default().as_bytes()].concat();
        let mut uti = [0u8; 16];
        self.directory.random().fill(&mut uti);
        let mut claims = Map::new();
        for (name, value) in [
            ("aud", json!(text(app, "appId"))),
            ("sub", json!(URL_SAFE_NO_PAD.encode(self.directory.master.token_mac(&subject)))),
            ("tid", json!(tenant)),
            ("idtyp", json!("sharing")),
            ("roles", json!([if link.edit { "Shared.Edit" } else { "Shared.View" }])),
            ("sharing_link", json!(link.id)),
            ("uti", json!(URL_SAFE_NO_PAD.encode(uti))),
            ("ver", json!("2.0")),
        ] {
            claims.insert(name.to_owned(), value);
        }
        if let Some(email) = email {
            claims.insert("email".into(), json!(email));
            claims.insert("idp".into(), json!("mail"));
        }
        let redirect_uri = landing(app).ok_or_else(gone)?;
        Ok(Opened { access_token: stamp.sign(claims, TOKEN_SECONDS)?, expires_in: TOKEN_SECONDS, redirect_uri })
    }

    /// Token introspection (RFC 7662) for a resource, which proves itself as a confidential client does at the
    /// token endpoint: whether `token` stands — signed by the tenant, unexpired, for this resource (`aud` its
    /// app id) and, for a token a sharing link gave, the link not revoked or expired since. Only `active`
    /// answers a token that does not stand.
    pub async fn introspect(
        &self,
        tenant: Uuid,
        request: &ClientRequest<'_>,
        token: &str,
    ) -> Result<Map<String, Value>> {
        let proof = request.proof.ok_or_else(|| {
            Error::unauthenticated(
                "AADSTS7000218: The request body must contain 'client_secret' or 'client_assertion'.",
            )
        })?;
        let tokens = self.directory.tokens();
        let (client, _) = tokens
            .authenticate_client_throttled(tenant, request.client_id, proof, request.base, request.source)
            .await?;
        let inactive = || json!({"active": false}).as_object().cloned().unwrap_or_default();
        let Ok((issued_by, claims)) = tokens.verified(token).await else { return Ok(inactive()) };
        let now = self.directory.now();
        let expires = claims.get("exp").and_then(Value::as_i64).unwrap_or_default();
        let ours = claims.get("aud").and_then(Value::as_str) == Some(client.app_id.to_string().as_str());
        if issued_by != tenant || !ours || now.timestamp() >= expires {
            return Ok(inactive());
        }
        if let Some(link) = claims.get("sharing_link").and_then(Value::as_str).and_then(|l| Uuid::parse_str(l).ok()) {
            let link = self.directory.store.sharing_link(tenant, link).await.map_err(Error::from)?;
            if !link.is_some_and(|l| l.open_at(now)) {
                return Ok(inactive());
            }
        }
        let mut answer = claims.as_object().cloned().unwrap_or_default();
        answer.insert("active".into(), json!(true));
        answer.insert("token_type".into(), json!("Bearer"));
        Ok(answer)
    }
}
