//! Applications, service principals, their client secrets, and app role assignments (how an app is
//! granted Graph application permissions, exactly as in Entra).
//!
//! Invariants: an application's `appId` is unique among the tenant's live applications, and at most one
//! live service principal exists per `appId`; a client secret's text is shown once, in the response that
//! created it, and afterwards exists only as a digest.

pub mod tokens;

use crate::auth::authorization::{object_actions, require, Action, Permission, Permissions, GRAPH_APP_ID};
use crate::credentials::certificates::{self, ClientCertificate};
use crate::credentials::secrets;
use crate::directory::contention::object_id;
use crate::directory::objects::Page;
use crate::directory::write_error;
use crate::kernel::error::{Error, ErrorKind, Result};
use crate::query::Listing;
use crate::schema::{self, format_time, Selection, APPLICATION, SERVICE_PRINCIPAL};
use crate::store::{
    AppRoleAssignmentRecord, ObjectKind, ObjectQuery, ObjectRecord, PermissionGrantRecord, SecretRecord, Write,
};
use crate::{Caller, Directory};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// What the token endpoint learns about an authenticated client.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    pub app_id: Uuid,
    pub display_name: String,
    pub service_principal: Uuid,
    pub permissions: Permissions,
}

/// How a confidential client proves itself at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientProof<'a> {
    /// A client secret (`client_secret_post` or `client_secret_basic`).
    Secret(&'a str),
    /// A JWT signed with one of its certificates (`private_key_jwt`).
    Assertion(&'a str),
}

/// What a client proved itself with; tokens say it as `azpacr`/`appidacr` (1 secret, 2 certificate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofKind {
    Secret,
    Certificate,
}

impl ProofKind {
    pub fn acr(self) -> &'static str {
        match self {
            ProofKind::Secret => "1",
            ProofKind::Certificate => "2",
        }
    }
}

/// Seconds of clock skew tolerated on a client assertion's `nbf`.
const ASSERTION_SKEW: i64 = 300;
/// The longest a client assertion may be valid for, in seconds.
const ASSERTION_LIFETIME: i64 = 3600;

/// What sign-in needs to know of a client besides who it is.
#[derive(Debug, Clone)]
pub struct SignInClient {
    pub client: AuthenticatedClient,
    /// What the client proved itself with: nothing (a public client; `azpacr` 0), a secret or a certificate.
    pub proof: Option<ProofKind>,
    /// The service principal's `appRoleAssignmentRequired`: only users assigned an app role (directly or
    /// through a group they are a direct member of) may sign in.
    pub assignment_required: bool,
}

/// Where a client's redirect URI is registered, which decides how it must redeem a code: a web app with
/// its secret; a single-page app or a public client (mobile, desktop) with PKCE and no secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    Web,
    Spa,
    Public,
}

impl RedirectKind {
    const ALL: [(RedirectKind, &'static str); 3] =
        [(RedirectKind::Web, "web"), (RedirectKind::Spa, "spa"), (RedirectKind::Public, "publicClient")];
}

/// A client as the authorization endpoint sees it: who it is, and where its redirect URI is registered.
#[derive(Debug, Clone)]
pub struct AuthorizeClient {
    pub client: AuthenticatedClient,
    pub redirect: RedirectKind,
    pub assignment_required: bool,
}

/// Whether a redirect URI matches a registered one: exactly, except that a public client's loopback
/// address may come on any port (Entra's rule for native apps).
fn redirect_matches(kind: RedirectKind, registered: &str, given: &str) -> bool {
    if registered == given {
        return true;
    }
    let without_port = |uri: &str| -> Option<String> {
        let rest = uri.strip_prefix("http://")?;
        let (authority, path) =
            rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, String::new()));
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => authority,
        };
        ["localhost", "127.0.0.1", "[::1]"].contains(&host).then(|| format!("{host}{path}"))
    };
    kind == RedirectKind::Public && without_port(registered).is_some_and(|r| Some(r) == without_port(given))
}

/// A new client secret, with its text: the only time the text is available.
#[derive(Debug, Clone)]
pub struct NewSecret {
    pub credential: Value,
}

/// An app role assignment as Graph shows it.
#[derive(Debug, Clone)]
pub struct AppRoleAssignment {
    pub record: AppRoleAssignmentRecord,
    pub principal_display_name: Option<String>,
    pub resource_display_name: Option<String>,
}

/// Applications and service principals, their secrets and app role assignments, and the token endpoint's
/// view of clients, as a service on the directory's context (shaped like the domains service).
pub struct Applications<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The applications service.
    pub fn applications(&self) -> Applications<'_> {
        Applications { directory: self }
    }
}

impl Applications<'_> {
    pub async fn create_application(&self, caller: &Caller, body: &Map<String, Value>) -> Result<ObjectRecord> {
        require(caller, Action::WriteApplications)?;
        let mut doc = schema::check_body(APPLICATION, "application", &[], body)?;
        if let Some(keys) = doc.get_mut("keyCredentials") {
            *keys = self.key_credentials(keys)?;
        }
        if doc.get("displayName").and_then(Value::as_str).is_none_or(|d| d.trim().is_empty()) {
            return Err(Error::invalid_property(
                "displayName",
                "Invalid value specified for property 'displayName' of resource 'Application'.",
            ));
        }
        let app_id = self.directory.random().uuid();
        doc.insert("appId".into(), json!(app_id));
        doc.entry("signInAudience").or_insert_with(|| json!("AzureADMyOrg"));
        doc.insert("passwordCredentials".into(), json!([]));
        let record =
            self.directory.new_object(ObjectKind::Application, Some(app_id.to_string()), doc, self.directory.now());
        self.directory
            .commit(caller, vec![Write::InsertObject(record.clone())])
            .await
            .map_err(|e| write_error(e, "An application with this appId already exists."))?;
        Ok(record)
    }

    pub async fn create_service_principal(&self, caller: &Caller, body: &Map<String, Value>) -> Result<ObjectRecord> {
        require(caller, Action::WriteApplications)?;
        let mut doc = schema::check_body(SERVICE_PRINCIPAL, "servicePrincipal", &[], body)?;
        let app_id = doc.get("appId").and_then(Value::as_str).unwrap_or_default().to_owned();
        let application = Uuid::parse_str(&app_id).ok().map(|_| app_id.to_lowercase()).ok_or_else(|| {
            Error::invalid_property(
                "appId",
                "Invalid value specified for property 'appId' of resource 'ServicePrincipal'.",
            )
        })?;
        let app = self
            .directory
            .store
            .object_by_key(caller.tenant(), ObjectKind::Application, &application)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| {
                Error::invalid_property(
                    "appId",
                    format!("No application with appId '{application}' exists in this tenant."),
                )
            })?;
        let mut base = service_principal_doc(&app.doc);
        base.append(&mut doc);
        base.insert("passwordCredentials".into(), json!([]));
        base.insert("servicePrincipalNames".into(), json!([application]));
        let record = self.directory.new_object(
            ObjectKind::ServicePrincipal,
            Some(application.clone()),
            base,
            self.directory.now(),
        );
        self.directory.commit(caller, vec![Write::InsertObject(record.clone())]).await.map_err(|e| {
            write_error(
                e,
                &format!("The service principal cannot be created, updated, or restored because the service principal name {application} is already in use."),
            )
        })?;
        Ok(record)
    }

    /// A live application or service principal by object id.
    pub async fn get(&self, caller: &Caller, kind: ObjectKind, id: &str) -> Result<ObjectRecord> {
        require(caller, object_actions(kind).0)?;
        self.directory.live_object(caller, kind, id).await
    }

    pub async fn list(&self, caller: &Caller, kind: ObjectKind, listing: Listing) -> Result<Page> {
        require(caller, object_actions(kind).0)?;
        self.directory.page(caller, ObjectQuery::of(kind), listing).await
    }

    /// Deletes an application or a service principal to deleted items, as Entra does: an application takes its
    /// service principal with it; a service principal keeps its secrets and grants there, so a restore brings
    /// it back as it was. Tokens issued to a deleted service principal stop working at once on this node.
    pub async fn delete(&self, caller: &Caller, kind: ObjectKind, id: &str) -> Result<()> {
        require(caller, object_actions(kind).1)?;
        let target = self.directory.live_object(caller, kind, id).await?;
        if target.unique_key.as_deref() == Some(GRAPH_APP_ID) {
            return Err(Error::invalid("Microsoft Graph's service principal cannot be deleted."));
        }
        let mut writes = vec![self.directory.soft_delete(caller, kind, target.id).await?];
        if kind == ObjectKind::Application {
            let key = target.unique_key.clone().unwrap_or_default();
            let principal = self.directory.store.object_by_key(caller.tenant(), ObjectKind::ServicePrincipal, &key);
            if let Some(sp) = principal.await.map_err(Error::from)? {
                writes.push(self.directory.soft_delete(caller, ObjectKind::ServicePrincipal, sp.id).await?);
            }
        }
        self.directory.commit(caller, writes).await.map_err(|e| write_error(e, "conflict"))?;
        Ok(())
    }

    /// `PATCH` of an application or a service principal: the writable properties of its table. A service
    /// principal whose `accountEnabled` turns false gets no token, and the tokens it has stop working (at once
    /// on this node, within [`CLIENT_CACHE_SECONDS`] on others).
    pub async fn update(&self, caller: &Caller, kind: ObjectKind, id: &str, patch: &Map<String, Value>) -> Result<()> {
        require(caller, object_actions(kind).1)?;
        let (table, type_name) = match kind {
            ObjectKind::Application => (APPLICATION, "application"),
            _ => (SERVICE_PRINCIPAL, "servicePrincipal"),
        };
        let mut changes = schema::check_body(table, type_name, &[], patch)?;
        if let Some(keys) = changes.get_mut("keyCredentials") {
            *keys = self.key_credentials(keys)?;
        }
        if changes.contains_key("appId") {
            return Err(Error::invalid_property("appId", "Property 'appId' is read-only and cannot be set."));
        }
        let target = self.directory.live_object(caller, kind, id).await?;
        if target.unique_key.as_deref() == Some(GRAPH_APP_ID) {
            return Err(Error::invalid("Microsoft Graph's service principal cannot be changed."));
        }
        let mut turn = self.directory.turn(caller, target.id, type_name).await?;
        loop {
            let current = self.directory.live_object(caller, kind, id).await?;
            let mut record = current.clone();
            for (name, value) in &changes {
                match value {
                    Value::Null => record.doc.remove(name),
                    value => record.doc.insert(name.clone(), value.clone()),
                };
            }
            if record.doc.get("displayName").and_then(Value::as_str).is_none_or(|d| d.trim().is_empty()) {
                return Err(Error::invalid_property(
                    "displayName",
                    format!("Invalid value specified for property 'displayName' of resource '{type_name}'."),
                ));
            }
            let attributes = changes.keys().cloned().collect();
            let write =
                Write::UpdateObject { before: None, object: record, expected_version: current.version, attributes };
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, vec![write]).await? {
                return committed.map_err(|other| write_error(other, "conflict"));
            }
        }
    }

    /// An application's certificates as given (`type` AsymmetricX509Cert, `usage` Verify, `key` the base64
    /// DER certificate), checked and completed as Entra stores them: a `keyId`, the SHA-1 thumbprint as
    /// `customKeyIdentifier`, and the certificate's validity as start and end.
    fn key_credentials(&self, given: &Value) -> Result<Value> {
        let wrong = |what: &str| {
            Error::invalid_property(
                "keyCredentials",
                format!("Invalid value specified for property 'keyCredentials': {what}."),
            )
        };
        let Value::Array(items) = given else { return Err(wrong("expected a list")) };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let text = |name: &str| item.get(name).and_then(Value::as_str);
            if !text("type").is_some_and(|t| t.eq_ignore_ascii_case("AsymmetricX509Cert")) {
                return Err(wrong("type must be 'AsymmetricX509Cert'"));
            }
            if !text("usage").is_some_and(|u| u.eq_ignore_ascii_case("Verify")) {
                return Err(wrong("usage must be 'Verify'"));
            }
            let key = text("key").ok_or_else(|| wrong("key is required"))?;
            let certificate = certificates::parse_key_credential(key)?;
            let key_id = match text("keyId") {
                Some(id) => Uuid::parse_str(id).map_err(|_| wrong("keyId must be a GUID"))?,
                None => self.directory.random().uuid(),
            };
            let thumbprint: String = certificate.sha1.iter().map(|b| format!("{b:02X}")).collect();
            out.push(json!({
                "keyId": key_id,
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
                "key": key.trim(),
                "displayName": text("displayName"),
                "customKeyIdentifier": thumbprint,
                "startDateTime": format_time(certificate.not_before),
                "endDateTime": format_time(certificate.not_after),
            }));
        }
        Ok(Value::Array(out))
    }

    /// `addPassword`: a new client secret on an application or service principal.
    pub async fn add_password(
        &self,
        caller: &Caller,
        kind: ObjectKind,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<NewSecret> {
        require(caller, Action::WriteApplications)?;
        let requested = match body.get("passwordCredential") {
            None | Some(Value::Null) => Map::new(),
            Some(credential @ Value::Object(object)) => {
                schema::check_texts("passwordCredential", credential)?;
                object.clone()
            }
            Some(_) => {
                return Err(Error::invalid_property("passwordCredential", "passwordCredential must be an object."))
            }
        };
        let now = self.directory.now();
        let time = |name: &str, default: DateTime<Utc>| -> Result<DateTime<Utc>> {
            match requested.get(name) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::String(text)) => DateTime::parse_from_rfc3339(text)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| Error::invalid_property(name, format!("'{text}' is not an ISO 8601 date-time."))),
                Some(_) => Err(Error::invalid_property(name, format!("{name} must be a date-time string."))),
            }
        };
        let start = time("startDateTime", now)?;
        let end = time("endDateTime", now + chrono::Duration::days(730))?;
        if end <= start {
            return Err(Error::invalid_property("endDateTime", "endDateTime must be later than startDateTime."));
        }
        let display_name = match requested.get("displayName") {
            Some(Value::String(name)) if name.chars().count() <= 256 => Some(name.clone()),
            None | Some(Value::Null) => None,
            Some(_) => {
                return Err(Error::invalid_property(
                    "displayName",
                    "displayName must be a string of at most 256 characters.",
                ))
            }
        };
        let text = secrets::new_client_secret(self.directory.random());
        let secret = SecretRecord {
            owner: Uuid::nil(),
            key_id: self.directory.random().uuid(),
            digest: secrets::digest(&text),
            hint: text.chars().take(3).collect(),
            display_name,
            start,
            end,
        };
        let shown = credential_json(&secret);
        let mut turn = self.directory.turn(caller, object_id(id)?, "object").await?;
        loop {
            let target = self.directory.live_object(caller, kind, id).await?;
            let mut record = target.clone();
            let list = record.doc.entry("passwordCredentials").or_insert_with(|| json!([]));
            if let Value::Array(items) = list {
                items.push(shown.clone());
            }
            let owned = SecretRecord { owner: target.id, ..secret.clone() };
            let writes = vec![
                Write::UpdateObject {
                    before: None,
                    object: record,
                    expected_version: target.version,
                    attributes: vec!["passwordCredentials".into()],
                },
                Write::AddSecret(owned),
            ];
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, writes).await? {
                committed.map_err(|other| write_error(other, "conflict"))?;
                break;
            }
        }
        let mut credential = shown;
        credential["secretText"] = json!(text);
        Ok(NewSecret { credential })
    }

    /// `removePassword`: revokes a client secret by key id.
    pub async fn remove_password(
        &self,
        caller: &Caller,
        kind: ObjectKind,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<()> {
        require(caller, Action::WriteApplications)?;
        let key_id =
            body.get("keyId").and_then(Value::as_str).and_then(|k| Uuid::parse_str(k).ok()).ok_or_else(|| {
                Error::invalid_property("keyId", "keyId must be the GUID of one of the object's password credentials.")
            })?;
        let mut turn = self.directory.turn(caller, object_id(id)?, "object").await?;
        loop {
            let target = self.directory.live_object(caller, kind, id).await?;
            let mut record = target.clone();
            let mut found = false;
            if let Some(Value::Array(items)) = record.doc.get_mut("passwordCredentials") {
                let before = items.len();
                items.retain(|c| c.get("keyId").and_then(Value::as_str) != Some(&key_id.to_string()));
                found = items.len() != before;
            }
            if !found {
                return Err(Error::not_found(key_id));
            }
            let writes = vec![
                Write::UpdateObject {
                    before: None,
                    object: record,
                    expected_version: target.version,
                    attributes: vec!["passwordCredentials".into()],
                },
                Write::RemoveSecret { owner: target.id, key_id },
            ];
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, writes).await? {
                return committed.map_err(|other| write_error(other, "conflict"));
            }
        }
    }

    /// Grants an app role (for Graph: an application permission) to a service principal.
    pub async fn assign_app_role(
        &self,
        caller: &Caller,
        principal: &str,
        body: &Map<String, Value>,
    ) -> Result<AppRoleAssignment> {
        require(caller, Action::GrantAppRoles)?;
        let guid = |name: &str| -> Result<Uuid> {
            body.get(name)
                .and_then(Value::as_str)
                .and_then(|v| Uuid::parse_str(v).ok())
                .ok_or_else(|| Error::invalid_property(name, format!("{name} must be a GUID.")))
        };
        for (name, value) in body {
            if !(name.starts_with("@odata.") || ["principalId", "resourceId", "appRoleId"].contains(&name.as_str())) {
                return Err(Error::invalid_property(
                    name,
                    format!("Property '{name}' does not exist as a declared property or extension property."),
                ));
            }
            if name.starts_with("@odata.") {
                schema::check_odata_type(name, value, "appRoleAssignment")?;
            }
        }
        let sp = self.directory.live_object(caller, ObjectKind::ServicePrincipal, principal).await?;
        if guid("principalId")? != sp.id {
            return Err(Error::invalid_property(
                "principalId",
                "principalId must be the service principal in the request URL.",
            ));
        }
        let resource_id = guid("resourceId")?;
        let resource =
            self.directory.live_object(caller, ObjectKind::ServicePrincipal, &resource_id.to_string()).await.map_err(
                |_| {
                    Error::invalid_property(
                        "resourceId",
                        format!("Resource service principal '{resource_id}' does not exist."),
                    )
                },
            )?;
        let role = guid("appRoleId")?;
        // Graph's permissions are Gatehouse's own: a tenant made before a permission existed can grant it too.
        let graph_permission = resource.unique_key.as_deref() == Some(GRAPH_APP_ID)
            && Permission::from_app_role_id(&role.to_string()).is_some();
        let defined = graph_permission
            || resource.doc.get("appRoles").and_then(Value::as_array).is_some_and(|roles| {
                roles.iter().any(|r| r.get("id").and_then(Value::as_str) == Some(&role.to_string()))
            });
        if !defined {
            return Err(Error::invalid_property(
                "appRoleId",
                format!(
                    "Permission being assigned was not found on application '{}'.",
                    resource.unique_key.clone().unwrap_or_default()
                ),
            ));
        }
        let existing = self.directory.store.app_role_assignments(caller.tenant(), sp.id).await.map_err(Error::from)?;
        if existing.iter().any(|a| a.resource == resource.id && a.app_role_id == role) {
            return Err(Error::conflict("Permission being assigned already exists on the object."));
        }
        let record = AppRoleAssignmentRecord {
            id: self.directory.random().uuid(),
            principal: sp.id,
            resource: resource.id,
            app_role_id: role,
            created_at: self.directory.now(),
        };
        self.directory
            .commit(caller, vec![Write::AddAppRoleAssignment(record.clone())])
            .await
            .map_err(|e| write_error(e, "Permission being assigned already exists on the object."))?;
        Ok(AppRoleAssignment {
            record,
            principal_display_name: sp.doc.get("displayName").and_then(Value::as_str).map(str::to_owned),
            resource_display_name: resource.doc.get("displayName").and_then(Value::as_str).map(str::to_owned),
        })
    }

    pub async fn app_role_assignments(&self, caller: &Caller, principal: &str) -> Result<Vec<AppRoleAssignment>> {
        require(caller, Action::ReadApplications)?;
        let sp = self.directory.live_object(caller, ObjectKind::ServicePrincipal, principal).await?;
        let records = self.directory.store.app_role_assignments(caller.tenant(), sp.id).await.map_err(Error::from)?;
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            let resource = self
                .directory
                .store
                .object(caller.tenant(), ObjectKind::ServicePrincipal, record.resource)
                .await
                .map_err(Error::from)?;
            out.push(AppRoleAssignment {
                principal_display_name: sp.doc.get("displayName").and_then(Value::as_str).map(str::to_owned),
                resource_display_name: resource
                    .and_then(|r| r.doc.get("displayName").and_then(Value::as_str).map(str::to_owned)),
                record,
            });
        }
        Ok(out)
    }

    pub async fn remove_app_role_assignment(&self, caller: &Caller, principal: &str, assignment: &str) -> Result<()> {
        require(caller, Action::GrantAppRoles)?;
        let sp = self.directory.live_object(caller, ObjectKind::ServicePrincipal, principal).await?;
        let records = self.directory.store.app_role_assignments(caller.tenant(), sp.id).await.map_err(Error::from)?;
        let target = records
            .iter()
            .find(|a| a.id.to_string().eq_ignore_ascii_case(assignment))
            .ok_or_else(|| Error::not_found(assignment))?;
        self.directory
            .commit(caller, vec![Write::RemoveAppRoleAssignment { id: target.id }])
            .await
            .map_err(|e| write_error(e, "conflict"))?;
        Ok(())
    }

    /// The check of a confidential client: the client exists (application and service principal), its
    /// proof holds — one of its secrets matches (constant-time) within its validity, or its client assertion
    /// is signed by one of its certificates, for this tenant's token endpoint, by and about the client, in
    /// its time, and never seen before — and its service principal is enabled. What a client is comes from
    /// this node's short-lived client cache ([`Applications::client`]).
    pub async fn authenticate_client(
        &self,
        tenant: Uuid,
        client_id: &str,
        proof: ClientProof<'_>,
        base: &str,
    ) -> Result<(AuthenticatedClient, ProofKind)> {
        let key = client_id.to_lowercase();
        let unknown = || {
            Error::unauthenticated(format!(
                "AADSTS700016: Application with identifier '{client_id}' was not found in the directory."
            ))
        };
        let app_id = Uuid::parse_str(&key).map_err(|_| unknown())?;
        let client = self.client(tenant, app_id).await?.ok_or_else(unknown)?;
        let now = self.directory.now();
        let kind = match proof {
            ClientProof::Secret(secret) => {
                let valid =
                    client.secrets.iter().any(|s| s.start <= now && now < s.end && secrets::matches(secret, &s.digest));
                if !valid {
                    return Err(Error::unauthenticated(format!(
                        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                    )));
                }
                ProofKind::Secret
            }
            ClientProof::Assertion(assertion) => {
                let claims = certificates::verify_assertion(assertion, &client.certificates, now)?;
                self.check_assertion(tenant, app_id, &claims, base).await?;
                ProofKind::Certificate
            }
        };
        if !client.enabled {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!("AADSTS7000112: Application '{client_id}' is disabled."),
            ));
        }
        Ok((client.authenticated.clone(), kind))
    }

    /// A signed client assertion's claims: issued by and about the client, for one of this tenant's token
    /// endpoints, within its time, and with a `jti` never used before (recorded until it expires, in the
    /// store, so that no node of the deployment accepts it twice).
    async fn check_assertion(&self, tenant: Uuid, app_id: Uuid, claims: &Value, base: &str) -> Result<()> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
        let client = app_id.to_string();
        if !text("iss").eq_ignore_ascii_case(&client) || !text("sub").eq_ignore_ascii_case(&client) {
            return Err(Error::unauthenticated(
                "AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter.",
            ));
        }
        let record = self.directory.tenant_record(tenant).await?;
        let base = base.trim_end_matches('/');
        let endpoints: Vec<String> = std::iter::once(tenant.to_string())
            .chain(record.domains.iter().cloned())
            .flat_map(|name| [format!("{base}/{name}/oauth2/v2.0/token"), format!("{base}/{name}/oauth2/token")])
            .collect();
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ours = |aud: &str| endpoints.iter().any(|e| e.eq_ignore_ascii_case(aud.trim_end_matches('/')));
        if !audiences.iter().any(|a| ours(a)) {
            return Err(Error::unauthenticated(
                "AADSTS700023: Client assertion audience claim does not match this tenant's token endpoint.",
            ));
        }
        let now = self.directory.now().timestamp();
        // NumericDate may have a fraction (MSAL sends `time.time()`); whole seconds are enough here.
        let time = |name: &str| claims.get(name).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)));
        let within = match (time("exp"), time("nbf").or(time("iat"))) {
            (Some(exp), Some(nbf)) => nbf <= now + ASSERTION_SKEW && now < exp && exp - nbf <= ASSERTION_LIFETIME,
            _ => false,
        };
        if !within {
            return Err(Error::unauthenticated("AADSTS700024: Client assertion is not within its valid time range."));
        }
        let jti = text("jti");
        if jti.is_empty() || jti.len() > 256 {
            return Err(Error::unauthenticated(
                "AADSTS700027: Client assertion must carry a 'jti' of up to 256 characters.",
            ));
        }
        let expires = chrono::DateTime::from_timestamp(time("exp").unwrap_or(now), 0).unwrap_or_default();
        let write =
            Write::UseAssertion { client: app_id, jti: jti.to_owned(), expires_at: expires, now: self.directory.now() };
        match self.directory.commit(&Caller::System { tenant }, vec![write]).await {
            Ok(_) => Ok(()),
            Err(crate::store::StoreError::Conflict(_)) => Err(Error::unauthenticated(
                "AADSTS700027: Client assertion was used already: its 'jti' was seen before.",
            )),
            Err(other) => Err(other.into()),
        }
    }

    /// A client signing a person in, as [`Applications::authenticate_client`] checks it when it shows a
    /// proof (with the base URL its token endpoint was addressed at, for a client assertion's audience). A client that shows none must be a public client: one with `isFallbackPublicClient` (which
    /// opens the password and device-code grants), or, when `redirected`, one whose redirect URIs are a
    /// mobile, desktop or single-page app's (which may refresh the tokens its codes gave).
    pub async fn sign_in_client(
        &self,
        tenant: Uuid,
        client_id: &str,
        proof: Option<(ClientProof<'_>, &str)>,
        redirected: bool,
    ) -> Result<SignInClient> {
        let unknown = || {
            Error::unauthenticated(format!(
                "AADSTS700016: Application with identifier '{client_id}' was not found in the directory."
            ))
        };
        let app_id = Uuid::parse_str(client_id).map_err(|_| unknown())?;
        let client = self.client(tenant, app_id).await?.ok_or_else(unknown)?;
        let proof = match proof {
            Some((proof, base)) => {
                let tokens = self.directory.tokens();
                Some(tokens.authenticate_client_throttled(tenant, client_id, proof, base, None).await?.1)
            }
            None if client.public_fallback => None,
            None if redirected && client.redirects.iter().any(|(kind, _)| *kind != RedirectKind::Web) => None,
            None => {
                return Err(Error::unauthenticated(
                    "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                ))
            }
        };
        if !client.enabled {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!("AADSTS7000112: Application '{client_id}' is disabled."),
            ));
        }
        Ok(SignInClient {
            client: client.authenticated.clone(),
            proof,
            assignment_required: client.assignment_required,
        })
    }

    /// The client a sign-in page serves, if `redirect_uri` is one of its registered ones (AADSTS50011
    /// otherwise: shown on the page, never redirected to).
    pub async fn authorize_client(&self, tenant: Uuid, client_id: &str, redirect_uri: &str) -> Result<AuthorizeClient> {
        let unknown = || {
            Error::invalid_property(
                "client_id",
                format!("AADSTS700016: Application with identifier '{client_id}' was not found in the directory."),
            )
        };
        let app_id = Uuid::parse_str(client_id).map_err(|_| unknown())?;
        let client = self.client(tenant, app_id).await?.ok_or_else(unknown)?;
        let redirect = client
            .redirects
            .iter()
            .find(|(kind, registered)| redirect_matches(*kind, registered, redirect_uri))
            .map(|(kind, _)| *kind)
            .ok_or_else(|| {
                Error::invalid_property(
                    "redirect_uri",
                    format!("AADSTS50011: The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."),
                )
            })?;
        if !client.enabled {
            return Err(Error::invalid_property(
                "client_id",
                format!("AADSTS7000112: Application '{client_id}' is disabled."),
            ));
        }
        Ok(AuthorizeClient {
            client: client.authenticated.clone(),
            redirect,
            assignment_required: client.assignment_required,
        })
    }

    /// A client as the token endpoint needs it, from this node's cache while it is younger than
    /// [`CLIENT_CACHE_SECONDS`], else from the store (four reads). The cache forgets a tenant's clients when
    /// this node changes any application, service principal, secret or grant of it, so it is exact
    /// for changes made here and at most [`CLIENT_CACHE_SECONDS`] old for changes made on other nodes. Unknown
    /// clients are not remembered.
    pub(crate) async fn client(&self, tenant: Uuid, app_id: Uuid) -> Result<Option<Arc<CachedClient>>> {
        let now = self.directory.now().timestamp();
        let changes = self.directory.client_changes(tenant);
        let cache = self.directory.node_state::<ClientCache>();
        if let Some(client) = cache.0.lock().unwrap_or_else(|p| p.into_inner()).get(&(tenant, app_id)) {
            if now - client.loaded < CLIENT_CACHE_SECONDS && client.changes == changes {
                return Ok(Some(client.clone()));
            }
        }
        let key = app_id.to_string();
        let kinds = [ObjectKind::Application, ObjectKind::ServicePrincipal];
        let found = self.directory.store.objects_by_key(tenant, &kinds, &key).await.map_err(Error::from)?;
        let of_kind = |kind| found.iter().find(|o| o.kind == kind);
        let (Some(app), Some(sp)) = (of_kind(ObjectKind::Application), of_kind(ObjectKind::ServicePrincipal)) else {
            return Ok(None);
        };
        let secrets = self.directory.store.secrets(tenant, &[app.id, sp.id]).await.map_err(Error::from)?;
        let grants = self.directory.store.permission_grants(tenant, Some(sp.id)).await.map_err(Error::from)?;
        let permissions = match self.directory.graph_principal(tenant).await? {
            Some(graph) => self
                .directory
                .store
                .app_role_assignments(tenant, sp.id)
                .await
                .map_err(Error::from)?
                .iter()
                .filter(|a| a.resource == graph)
                .filter_map(|a| Permission::from_app_role_id(&a.app_role_id.to_string()))
                .collect(),
            None => Permissions::default(),
        };
        let client = Arc::new(CachedClient {
            authenticated: AuthenticatedClient {
                app_id,
                display_name: app.doc.get("displayName").and_then(Value::as_str).unwrap_or_default().to_owned(),
                service_principal: sp.id,
                permissions,
            },
            secrets,
            grants,
            enabled: sp.doc.get("accountEnabled") != Some(&Value::Bool(false)),
            public_fallback: app.doc.get("isFallbackPublicClient") == Some(&Value::Bool(true)),
            certificates: app
                .doc
                .get("keyCredentials")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|k| k.get("key").and_then(Value::as_str))
                .filter_map(|key| certificates::parse_key_credential(key).ok())
                .collect(),
            redirects: RedirectKind::ALL
                .iter()
                .flat_map(|(kind, property)| {
                    let uris = app.doc.get(*property).and_then(|p| p.get("redirectUris")).and_then(Value::as_array);
                    uris.into_iter().flatten().filter_map(Value::as_str).map(|uri| (*kind, uri.to_owned()))
                })
                .collect(),
            assignment_required: sp.doc.get("appRoleAssignmentRequired") == Some(&Value::Bool(true)),
            loaded: now,
            changes,
        });
        let mut clients = cache.0.lock().unwrap_or_else(|p| p.into_inner());
        if clients.len() >= CLIENT_CACHE_CAPACITY {
            clients.clear();
        }
        clients.insert((tenant, app_id), client.clone());
        Ok(Some(client))
    }
}

/// How long a node trusts its cached view of a client, in seconds: how stale a secret's removal, a grant's
/// change or a service principal's disabling made on another node can be here.
pub const CLIENT_CACHE_SECONDS: i64 = 5;

/// The most clients a node caches at once.
const CLIENT_CACHE_CAPACITY: usize = 10_000;

/// A client as cached for the token endpoint and the check of bearer tokens.
pub(crate) struct CachedClient {
    authenticated: AuthenticatedClient,
    secrets: Vec<SecretRecord>,
    /// The delegated permission grants to the client.
    grants: Vec<PermissionGrantRecord>,
    enabled: bool,
    public_fallback: bool,
    /// The application's certificates, for client assertions.
    certificates: Vec<ClientCertificate>,
    assignment_required: bool,
    /// The registered redirect URIs, by where they are registered.
    redirects: Vec<(RedirectKind, String)>,
    /// When it was read from the store (seconds).
    loaded: i64,
    /// The tenant's count of client changes on this node when it was read.
    changes: u64,
}

/// The token endpoint's clients, by tenant and app id, briefly (see [`Applications::client`]).
#[derive(Default)]
struct ClientCache(Mutex<HashMap<(Uuid, Uuid), Arc<CachedClient>>>);

impl CachedClient {
    /// Whether tokens issued to `service_principal` stand: it is this client's, live and enabled.
    pub(crate) fn admits(&self, service_principal: Uuid) -> bool {
        self.enabled && self.authenticated.service_principal == service_principal
    }

    /// The delegated permission grants to the client.
    pub(crate) fn grants(&self) -> &[PermissionGrantRecord] {
        &self.grants
    }

    /// The application's display name.
    pub(crate) fn display_name(&self) -> &str {
        &self.authenticated.display_name
    }

    /// Whether the client's service principal is enabled.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }
}

pub(crate) fn application_doc(app_id: Uuid, display_name: &str) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("appId".into(), json!(app_id));
    doc.insert("displayName".into(), json!(display_name));
    doc.insert("signInAudience".into(), json!("AzureADMyOrg"));
    doc
}

pub(crate) fn service_principal_doc(application: &Map<String, Value>) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("appId".into(), application.get("appId").cloned().unwrap_or(Value::Null));
    doc.insert("displayName".into(), application.get("displayName").cloned().unwrap_or(Value::Null));
    doc.insert("accountEnabled".into(), json!(true));
    doc.insert("servicePrincipalType".into(), json!("Application"));
    doc.insert("appRoles".into(), json!([]));
    doc
}

fn credential_json(secret: &SecretRecord) -> Value {
    json!({
        "customKeyIdentifier": null,
        "displayName": secret.display_name,
        "endDateTime": format_time(secret.end),
        "hint": secret.hint,
        "keyId": secret.key_id,
        "secretText": null,
        "startDateTime": format_time(secret.start),
    })
}

/// Every property of an application or service principal with its current value.
pub fn object_properties(record: &ObjectRecord, selection: Selection<'_>) -> Map<String, Value> {
    let table = match record.kind {
        ObjectKind::ServicePrincipal => SERVICE_PRINCIPAL,
        _ => APPLICATION,
    };
    let mut properties = schema::properties(table, record, selection, |property| {
        let listed = property.name.ends_with("Credentials") || property.name == "appRoles";
        (listed && !record.doc.contains_key(property.name)).then(|| json!([]))
    });
    if let Some(Value::Array(keys)) = properties.get_mut("keyCredentials") {
        for key in keys.iter_mut().filter_map(Value::as_object_mut) {
            key.insert("key".into(), Value::Null);
        }
    }
    properties
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_match_exactly_but_for_a_public_clients_loopback_port() {
        use RedirectKind::*;
        let cases = [
            (Web, "https://app.test/cb", "https://app.test/cb", true),
            (Web, "https://app.test/cb", "https://app.test/cb/", false),
            (Web, "https://app.test/cb", "https://APP.test/cb", false),
            (Web, "http://localhost:8080/cb", "http://localhost:9090/cb", false),
            (Public, "http://localhost", "http://localhost:53124", true),
            (Public, "http://localhost:8080/cb", "http://localhost:9090/cb", true),
            (Public, "http://127.0.0.1/cb", "http://127.0.0.1:1/cb", true),
            (Public, "http://localhost/cb", "http://localhost:1/other", false),
            (Public, "http://localhost", "http://localhost.evil.test:80", false),
            (Public, "http://localhost", "http://evil.test:80", false),
            (Spa, "http://localhost:3000", "http://localhost:3001", false),
        ];
        for (kind, registered, given, matches) in cases {
            assert_eq!(redirect_matches(kind, registered, given), matches, "{kind:?} {registered} {given}");
        }
    }
}
