//! Applications, service principals, their client secrets, and app role assignments (how an app is
//! granted Graph application permissions, exactly as in Entra).
//!
//! Invariants: an application's `appId` is unique among the tenant's live applications, and at most one
//! live service principal exists per `appId`; a client secret's text is shown once, in the response that
//! created it, and afterwards exists only as a digest.

mod assignments;
mod clients;
mod keys;
pub mod registration;
pub mod tokens;

pub(crate) use clients::CachedClient;
pub use clients::{
    AuthenticatedClient, AuthorizeClient, ClientProof, ProofKind, RedirectKind, SignInClient, CLIENT_CACHE_SECONDS,
};

use crate::auth::authorization::{object_actions, require, Action, GRAPH_APP_ID};
use crate::credentials::secrets;
use crate::directory::contention::object_id;
use crate::directory::objects::Page;
use crate::directory::write_error;
use crate::filter::{Filter, Literal, Op, Test};
use crate::kernel::error::{Error, Result};
use crate::query::Listing;
use crate::schema::{self, format_time, Selection, APPLICATION, SERVICE_PRINCIPAL};
use crate::store::{AppRoleAssignmentRecord, ObjectKind, ObjectQuery, ObjectRecord, SecretRecord, Write};
use crate::{Caller, Directory};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// A new client secret, with its text: the only time the text is available.
#[derive(Debug, Clone)]
pub struct NewSecret {
    pub credential: Value,
}

/// An app role assignment as Graph shows it.
#[derive(Debug, Clone)]
pub struct AppRoleAssignment {
    pub record: AppRoleAssignmentRecord,
    /// `User`, `Group` or `ServicePrincipal`.
    pub principal_type: &'static str,
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
        let domains = self.directory.tenant_record(caller.tenant()).await?.domains;
        registration::check(&mut doc, None, &domains)?;
        self.unique_identifier_uris(caller, &doc, None).await?;
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

    /// The live application an identifier URI names (compared as Graph's `eq` compares).
    pub(crate) async fn by_identifier_uri(&self, tenant: Uuid, uri: &str) -> Result<Option<ObjectRecord>> {
        let test = Test::Compare(Op::Eq, Literal::Text(uri.to_owned()));
        let filter = Filter::Any { property: "identifierUris".into(), test };
        let query = ObjectQuery { filter: Some(filter), limit: 1, ..ObjectQuery::of(ObjectKind::Application) };
        Ok(self.directory.store.objects(tenant, &query).await.map_err(Error::from)?.into_iter().next())
    }

    /// Entra's rule that an identifier URI names one application of the tenant.
    async fn unique_identifier_uris(
        &self,
        caller: &Caller,
        doc: &Map<String, Value>,
        this: Option<Uuid>,
    ) -> Result<()> {
        let uris = doc.get("identifierUris").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
        for uri in uris {
            if self.by_identifier_uri(caller.tenant(), uri).await?.is_some_and(|other| Some(other.id) != this) {
                return Err(Error::invalid_property(
                    "identifierUris",
                    "Another object with the same value for property identifierUris already exists.",
                ));
            }
        }
        Ok(())
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
        if kind == ObjectKind::Application {
            let domains = self.directory.tenant_record(caller.tenant()).await?.domains;
            registration::check(&mut changes, Some(&target.doc), &domains)?;
            self.unique_identifier_uris(caller, &changes, Some(target.id)).await?;
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
            let mut writes = Vec::new();
            // A service principal shows its application's app roles, scopes and identifier URIs, as in Entra.
            if kind == ObjectKind::Application && registration::MIRRORED_FROM.iter().any(|p| changes.contains_key(*p)) {
                let key = record.unique_key.clone().unwrap_or_default();
                let store = &self.directory.store;
                let principal = store.object_by_key(caller.tenant(), ObjectKind::ServicePrincipal, &key).await;
                if let Some(sp) = principal.map_err(Error::from)? {
                    let mut mirrored = sp.clone();
                    let mut attributes = Vec::new();
                    for (name, value) in registration::mirrored(&record.doc) {
                        mirrored.doc.insert(name.to_owned(), value);
                        attributes.push(name.to_owned());
                    }
                    writes.push(Write::update(&sp, mirrored, attributes));
                }
            }
            let attributes = changes.keys().cloned().collect();
            writes.insert(0, Write::update(&current, record, attributes));
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, writes).await? {
                return committed.map_err(|other| write_error(other, "conflict"));
            }
        }
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
            let writes =
                vec![Write::update(&target, record, vec!["passwordCredentials".into()]), Write::AddSecret(owned)];
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
                Write::update(&target, record, vec!["passwordCredentials".into()]),
                Write::RemoveSecret { owner: target.id, key_id },
            ];
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, writes).await? {
                return committed.map_err(|other| write_error(other, "conflict"));
            }
        }
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
    for (name, value) in registration::mirrored(application) {
        doc.insert(name.to_owned(), value);
    }
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
