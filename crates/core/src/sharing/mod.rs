//! Sharing without an account (`docs/design/0012-sharing.md`): a resource of the tenant — an application
//! with an identifier, such as a team site — is shared with an outside address by a link. The outsider opens
//! the link, proves the address with a code mailed there, and the resource gets a short-lived token for
//! them, audience-bound to it alone, with the access the sharer chose (view or edit); no user object is
//! made. Where the tenant allows it, a link anyone holding it opens (anonymous) is shared too.
//!
//! Graph's shapes are OneDrive's: `POST /applications/{id}/invite` and `createLink` make links, each shown
//! as a `permission`; `GET …/permissions` lists them and `DELETE …/permissions/{id}` revokes one at once.
//! Who shares: the resource's own application, administrators who manage applications, and members
//! assigned to the resource (through a client with `Application.ReadWrite.All`), who see and revoke the
//! links they made. The tenant's authorization policy says whether outsiders (`sharingCapability`) and how
//! long links live (`sharingLinkExpirationInDays`); invitations' domain lists apply.
//!
//! A link's codes live thirty minutes and are counted like a person's (five mailed an hour, a wrong one
//! towards lockout), under the link's id. Every use is a change: the audit log shows who shared, each use
//! with the address that proved itself, and each revocation. A revoked link stops at once: its page, its
//! codes, and token introspection (`/oauth2/v2.0/introspect`) of the tokens it gave.

pub mod open;

use crate::auth::authorization::{decide, Action, Target};
use crate::auth::guest_policy::{invitations_reach, sharing_capability, sharing_days, SHARING};
use crate::directory::write_error;
use crate::invitations::email_address;
use crate::kernel::error::{Error, ErrorKind, Result};
use crate::kernel::request;
use crate::outbox::Mail;
use crate::schema::format_time;
use crate::store::audit::Initiator;
use crate::store::{ObjectKind, ObjectRecord, SharingLinkRecord, StoreError, Write};
use crate::{Caller, Directory};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

const LINK_PURPOSE: &str = "sharing-link";
const CODE_PURPOSE: &str = "sharing-code";
/// How long a code mailed for a link stays good.
const CODE_MINUTES: i64 = 30;
/// How long a token a link gives lives.
pub const TOKEN_SECONDS: i64 = 600;
/// Who a use of an anonymous link is, in the audit log.
const ANYONE: &str = "anyone with the link";
/// The most addresses one invitation shares with.
const MOST_RECIPIENTS: usize = 20;

/// The sharing service.
pub struct Sharing<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The sharing service.
    pub fn sharing(&self) -> Sharing<'_> {
        Sharing { directory: self }
    }
}

/// A link as its page shows it.
#[derive(Debug, Clone)]
pub struct Shared {
    pub organization: String,
    /// The shared resource's display name.
    pub resource: String,
    pub edit: bool,
    /// Whether anyone holding the link opens it (no code).
    pub anonymous: bool,
}

/// What opening a link gives: a token for the resource, and where the resource takes it.
#[derive(Debug, Clone)]
pub struct Opened {
    pub access_token: String,
    pub expires_in: i64,
    /// The resource's first web redirect URI.
    pub redirect_uri: String,
}

/// Who may see and revoke which links of a resource.
enum Reach {
    /// Every link: the resource itself and administrators.
    All,
    /// Those this person shared.
    Own(Uuid),
}

fn gone() -> Error {
    Error::invalid("This link was removed, or it expired. Ask the person who shared it for a new one.")
}

fn refused(message: &str) -> Error {
    Error::new(ErrorKind::Forbidden, message).with_code("accessDenied")
}

fn wrong_code() -> Error {
    Error::invalid_property("otc", "The code you entered is not correct. Check the code in the email and try again.")
}

/// The resource's first web redirect URI, where a link's visitors arrive with their token.
fn landing(app: &ObjectRecord) -> Option<String> {
    let uris = app.doc.get("web").and_then(|w| w.get("redirectUris")).and_then(Value::as_array)?;
    uris.first().and_then(Value::as_str).map(str::to_owned)
}

fn text<'a>(app: &'a ObjectRecord, name: &str) -> &'a str {
    app.doc.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// OneDrive's roles of a link's access.
fn roles(edit: bool) -> Value {
    json!([if edit { "write" } else { "read" }])
}

impl Sharing<'_> {
    /// The application `key` names, shareable: it has an identifier and a web redirect URI.
    async fn resource(&self, caller: &Caller, key: &str) -> Result<ObjectRecord> {
        let system = Caller::System { tenant: caller.tenant() };
        let app = self.directory.live_of(&system, key, &[ObjectKind::Application]).await?;
        let identified = app.doc.get("identifierUris").and_then(Value::as_array).is_some_and(|u| !u.is_empty());
        if !identified || landing(&app).is_none() {
            return Err(Error::invalid(
                "Only a resource shares: an application with an identifier URI and a web redirect URI, where shared visitors arrive.",
            ));
        }
        Ok(app)
    }

    /// Who the caller may see and revoke links of `app` for, if they may share it at all.
    async fn reach(&self, caller: &Caller, app: &ObjectRecord) -> Result<Reach> {
        match caller {
            Caller::App { app_id, .. } if text(app, "appId") == app_id.to_string() => return Ok(Reach::All),
            Caller::User { user, .. } if decide(caller, Action::ShareResources, &Target::Tenant).is_err() => {
                let tenant = caller.tenant();
                let app_id = Uuid::parse_str(text(app, "appId")).map_err(|_| Error::forbidden())?;
                let client = self.directory.applications().client(tenant, app_id).await?;
                let sp = client.map(|c| c.authenticated().service_principal).ok_or_else(Error::forbidden)?;
                let assigned = self.directory.sign_in().held_roles(tenant, sp, *user).await?.is_some();
                let target = if assigned { Target::AssignedResource } else { Target::Tenant };
                decide(caller, Action::ShareResources, &target)?;
                return Ok(Reach::Own(*user));
            }
            _ => {}
        }
        decide(caller, Action::ShareResources, &Target::Tenant)?;
        Ok(Reach::All)
    }

    /// What the tenant allows: links for outsiders (and anonymous ones when `anonymous`), and the latest a
    /// link may expire; `asked` is the expiry a body asked for.
    async fn allowed_expiry(&self, tenant: Uuid, anonymous: bool, asked: Option<&Value>) -> Result<DateTime<Utc>> {
        let organization = self.directory.tenant_record(tenant).await?.organization;
        let capability = sharing_capability(&organization);
        let allowed = match anonymous {
            true => capability == SHARING[3],
            false => capability == SHARING[2] || capability == SHARING[3],
        };
        if !allowed {
            return Err(refused(match anonymous {
                true => "Your organization does not allow links that anyone can open.",
                false => "Your organization does not allow sharing with people outside it.",
            }));
        }
        let now = self.directory.now();
        let latest = now + Duration::days(sharing_days(&organization));
        match asked {
            None | Some(Value::Null) => Ok(latest),
            Some(value) => {
                let wrong = |message: &str| Error::invalid_property("expirationDateTime", message.to_owned());
                let at = value.as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok());
                let at =
                    at.map(|t| t.with_timezone(&Utc)).ok_or_else(|| wrong("expirationDateTime is a date and time."))?;
                match (at > now, at <= latest) {
                    (true, true) => Ok(at),
                    (false, _) => Err(wrong("expirationDateTime is in the future.")),
                    (_, false) => Err(wrong("Links expire within the days your organization allows.")),
                }
            }
        }
    }

    /// `POST /applications/{id}/invite`: shares the resource with each address of `recipients`, mailing each
    /// their link unless `sendInvitation` is false; the new links as `permission`s.
    pub async fn invite(
        &self,
        caller: &Caller,
        key: &str,
        body: &Map<String, Value>,
    ) -> Result<Vec<Map<String, Value>>> {
        let app = self.resource(caller, key).await?;
        self.reach(caller, &app).await?;
        let tenant = caller.tenant();
        let recipients = body.get("recipients").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        if recipients.is_empty() || recipients.len() > MOST_RECIPIENTS {
            return Err(Error::invalid_property(
                "recipients",
                format!("recipients names 1 to {MOST_RECIPIENTS} people, each by email."),
            ));
        }
        let edit = access(body.get("roles"))?;
        let expires = self.allowed_expiry(tenant, false, body.get("expirationDateTime")).await?;
        let send = body.get("sendInvitation") != Some(&Value::Bool(false));
        let message = body.get("message").and_then(Value::as_str).unwrap_or_default();
        let organization = self.directory.tenant_record(tenant).await?;
        let mut links = Vec::with_capacity(recipients.len());
        let mut writes = Vec::new();
        for recipient in recipients {
            let email = recipient.get("email").and_then(Value::as_str).unwrap_or_default();
            let email = email_address(email)
                .map_err(|_| Error::invalid_property("recipients", "Each recipient has a valid email address."))?;
            let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            if !invitations_reach(&organization.organization, domain) {
                return Err(refused(&format!(
                    "Sharing with '{domain}' is blocked by the organization's collaboration restrictions."
                )));
            }
            let link = self.new_link(caller, &app, Some(email.clone()), edit, expires);
            if send {
                let mail = self.message((tenant, &organization.display_name), &app, &link, message);
                writes.push(self.directory.outbox().queue(mail));
            }
            writes.push(Write::CreateSharingLink(link.clone()));
            links.push(link);
        }
        self.directory.commit(caller, writes).await.map_err(|e| write_error(e, "conflict"))?;
        Ok(links.iter().map(|link| self.permission(tenant, link)).collect())
    }

    /// `POST /applications/{id}/createLink` with `scope` `anonymous`: a link anyone holding it opens.
    pub async fn create_link(
        &self,
        caller: &Caller,
        key: &str,
        body: &Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        let app = self.resource(caller, key).await?;
        self.reach(caller, &app).await?;
        if body.get("scope").and_then(Value::as_str) != Some("anonymous") {
            return Err(Error::invalid_property(
                "scope",
                "createLink makes links anyone can open (scope 'anonymous'); share with people by invite.",
            ));
        }
        let edit = match body.get("type").and_then(Value::as_str) {
            Some("view") => false,
            Some("edit") => true,
            _ => return Err(Error::invalid_property("type", "A link's type is 'view' or 'edit'.")),
        };
        let expires = self.allowed_expiry(caller.tenant(), true, body.get("expirationDateTime")).await?;
        let link = self.new_link(caller, &app, None, edit, expires);
        let write = Write::CreateSharingLink(link.clone());
        self.directory.commit(caller, vec![write]).await.map_err(|e| write_error(e, "conflict"))?;
        Ok(self.permission(caller.tenant(), &link))
    }

    /// `GET /applications/{id}/permissions`: the resource's links that stand (not revoked) the caller sees.
    pub async fn list(&self, caller: &Caller, key: &str) -> Result<Vec<Map<String, Value>>> {
        let app = self.resource(caller, key).await?;
        let reach = self.reach(caller, &app).await?;
        let links = self.directory.store.sharing_links(caller.tenant(), Some(app.id)).await.map_err(Error::from)?;
        let seen = links.iter().filter(|l| l.revoked_at.is_none() && sees(&reach, l));
        Ok(seen.map(|link| self.permission(caller.tenant(), link)).collect())
    }

    /// `DELETE /applications/{id}/permissions/{link}`: revokes the link at once.
    pub async fn revoke(&self, caller: &Caller, key: &str, id: &str) -> Result<()> {
        let app = self.resource(caller, key).await?;
        let reach = self.reach(caller, &app).await?;
        let tenant = caller.tenant();
        let missing = || Error::not_found(id);
        let link_id = Uuid::parse_str(id).map_err(|_| missing())?;
        let link = self.directory.store.sharing_link(tenant, link_id).await.map_err(Error::from)?;
        let link = link.filter(|l| l.resource == app.id && l.revoked_at.is_none() && sees(&reach, l));
        let link = link.ok_or_else(missing)?;
        let write = Write::RevokeSharingLink { id: link.id, at: self.directory.now() };
        match self.directory.commit(caller, vec![write]).await {
            Ok(_) => Ok(()),
            Err(StoreError::Missing) => Err(missing()),
            Err(other) => Err(other.into()),
        }
    }

    fn new_link(
        &self,
        caller: &Caller,
        app: &ObjectRecord,
        recipient: Option<String>,
        edit: bool,
        expires_at: DateTime<Utc>,
    ) -> SharingLinkRecord {
        SharingLinkRecord {
            id: self.directory.random().uuid(),
            resource: app.id,
            shared_by: caller.initiator().encode(),
            recipient,
            edit,
            created_at: self.directory.now(),
            expires_at,
            revoked_at: None,
            uses: 0,
            last_used_at: None,
        }
    }

    /// The link's address: the share page of the tenant, with a sealed ticket good until the link expires.
    fn web_url(&self, tenant: Uuid, link: &SharingLinkRecord) -> String {
        let payload = json!({"t": tenant, "l": link.id});
        let ticket = self.directory.sign_in().seal_until(LINK_PURPOSE, &payload, link.expires_at);
        format!("{}/{tenant}/share?ticket={ticket}", request::current().base_url)
    }

    /// A link as Graph's `permission`.
    fn permission(&self, tenant: Uuid, link: &SharingLinkRecord) -> Map<String, Value> {
        let scope = if link.recipient.is_some() { "users" } else { "anonymous" };
        let mut doc = json!({
            "id": link.id,
            "roles": roles(link.edit),
            "expirationDateTime": format_time(link.expires_at),
            "hasPassword": false,
            "link": {"type": if link.edit { "edit" } else { "view" }, "scope": scope, "webUrl": self.web_url(tenant, link), "preventsDownload": false},
            "grantedBy": granted_by(&link.shared_by),
            "uses": link.uses,
            "lastUsedDateTime": link.last_used_at.map(format_time),
        });
        if let (Some(email), Value::Object(map)) = (&link.recipient, &mut doc) {
            map.insert("invitation".into(), json!({"email": email, "signInRequired": true}));
            map.insert("grantedToIdentitiesV2".into(), json!([{"user": {"email": email}}]));
        }
        doc.as_object().cloned().unwrap_or_default()
    }

    fn message(
        &self,
        (tenant, organization): (Uuid, &str),
        app: &ObjectRecord,
        link: &SharingLinkRecord,
        note: &str,
    ) -> Mail {
        let resource = text(app, "displayName");
        let note = match note.trim() {
            "" => String::new(),
            note => format!("Message:\n{note}\n\n"),
        };
        let access = if link.edit { "view and edit" } else { "view" };
        let url = self.web_url(tenant, link);
        Mail {
            kind: "sharingInvitation",
            to: link.recipient.clone().unwrap_or_default(),
            subject: format!("{organization} shared \"{resource}\" with you"),
            text: format!(
                "{organization} shared \"{resource}\" with you, to {access}.\n\n{note}Open it: {url}\n\nYou will be asked for a code we send to this address. The link works until {}.\n",
                format_time(link.expires_at)
            ),
        }
    }
}

/// Whether a reach takes in a link.
fn sees(reach: &Reach, link: &SharingLinkRecord) -> bool {
    match reach {
        Reach::All => true,
        Reach::Own(user) => Initiator::decode(&link.shared_by).user() == Some(*user),
    }
}

/// Who shared, as Graph's `identitySet`.
fn granted_by(shared_by: &str) -> Value {
    match Initiator::decode(shared_by) {
        Initiator::User(id) | Initiator::SelfService(id) => json!({"user": {"id": id}}),
        Initiator::App { app_id, .. } => json!({"application": {"id": app_id}}),
        Initiator::System => Value::Null,
    }
}

/// A body's `roles`: `read` (the default) or `write`.
fn access(roles: Option<&Value>) -> Result<bool> {
    let wrong = || Error::invalid_property("roles", "roles is ['read'] or ['write'].");
    match roles {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Array(items)) => match items.as_slice() {
            [Value::String(role)] if role == "read" => Ok(false),
            [Value::String(role)] if role == "write" => Ok(true),
            _ => Err(wrong()),
        },
        Some(_) => Err(wrong()),
    }
}
