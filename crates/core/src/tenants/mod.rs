//! Tenants: creation with everything a tenant needs to be administered from the first minute.
//!
//! Creating a tenant is one batch: the tenant and its domains, its first signing key, the Microsoft Graph
//! service principal (the resource whose app roles are Graph's application permissions), an administrator
//! user and an administration app with a client secret and Graph permissions.

pub mod authorization_policy;
pub mod domains;
pub mod methods_policy;
pub mod organization;
pub mod settings;

use crate::applications::{application_doc, service_principal_doc};
use crate::auth::authorization::{Permission, GRAPH_APP_ID};
use crate::auth::roles;
use crate::auth::scopes::Scope;
use crate::credentials::keys::SigningKey;
use crate::credentials::passwords;
use crate::credentials::secrets;
use crate::kernel::error::{Error, Result};
use crate::kernel::random::{Random, Rng};
use crate::schema::format_time;
use crate::store::{AppRoleAssignmentRecord, ObjectKind, SecretRecord, SigningKeyRecord, TenantRecord, Write};
use crate::tenants::organization::{country_code, initial_settings, DEFAULT_COUNTRY};
use crate::users::{check_user_principal_name, FORCE_CHANGE};
use crate::Directory;
use rand::seq::SliceRandom;
use rand::Rng as _;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// What to create; every `None` is generated.
#[derive(Debug, Clone, Default)]
pub struct NewTenant {
    pub id: Option<Uuid>,
    pub display_name: Option<String>,
    pub domain: Option<String>,
    /// The organization's country, an ISO 3166-1 alpha-2 code (default US).
    pub country: Option<String>,
    pub admin_user_principal_name: Option<String>,
    pub admin_password: Option<String>,
    pub client_id: Option<Uuid>,
    pub client_secret: Option<String>,
}

/// The credentials of a new tenant, shown once.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantBootstrap {
    pub tenant_id: Uuid,
    pub tenant_domain: String,
    pub admin_user_principal_name: String,
    pub admin_password: String,
    pub client_id: Uuid,
    pub client_secret: String,
}

/// The permissions the administration app is granted.
const ADMIN_APP_PERMISSIONS: [Permission; 17] = [
    Permission::DirectoryReadWriteAll,
    Permission::UserReadWriteAll,
    Permission::GroupReadWriteAll,
    Permission::ApplicationReadWriteAll,
    Permission::AppRoleAssignmentReadWriteAll,
    Permission::RoleManagementReadWriteDirectory,
    Permission::LicenseAssignmentReadWriteAll,
    Permission::OrganizationReadWriteAll,
    Permission::DomainReadWriteAll,
    Permission::DelegatedPermissionGrantReadWriteAll,
    Permission::PolicyReadAll,
    Permission::PolicyReadWriteConditionalAccess,
    Permission::PolicyReadWriteAuthenticationMethod,
    Permission::UserAuthenticationMethodReadWriteAll,
    Permission::AuditLogReadAll,
    Permission::UserInviteAll,
    Permission::PolicyReadWriteAuthorization,
];

/// Years an initial client secret stays valid.
const BOOTSTRAP_SECRET_YEARS: i64 = 2;

pub(crate) fn check_domain(domain: &str) -> Result<String> {
    let domain = domain.trim().to_ascii_lowercase();
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    if domain.len() > 48 || !domain.contains('.') || !labels_ok {
        return Err(Error::invalid_property("domain", format!("'{domain}' is not a valid domain name.")));
    }
    Ok(domain)
}

/// A random password that meets the complexity rule: 20 characters from all four classes.
pub fn generate_password(random: &dyn Random) -> String {
    const CLASSES: [&[u8]; 4] =
        [b"abcdefghijkmnopqrstuvwxyz", b"ABCDEFGHJKLMNPQRSTUVWXYZ", b"23456789", b"!#%+-=?@^_~"];
    let mut rng = Rng(random);
    let mut chars: Vec<char> = CLASSES.iter().map(|class| class[rng.gen_range(0..class.len())] as char).collect();
    let all: Vec<u8> = CLASSES.concat();
    chars.extend((0..16).map(|_| all[rng.gen_range(0..all.len())] as char));
    chars.shuffle(&mut rng);
    chars.into_iter().collect()
}

/// The deployment fact naming the tenant the first start made.
const FIRST_TENANT: &str = "first-tenant";

/// Tenants: creating one (with its first admin, Graph's service principal and the administration app),
/// claiming the deployment's first, recovering access, as a service on the directory's context (shaped
/// like the domains service).
pub struct Tenants<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The tenants service.
    pub fn tenants(&self) -> Tenants<'_> {
        Tenants { directory: self }
    }
}

impl Tenants<'_> {
    /// Creates a tenant with its administrator and administration app, in one batch.
    pub async fn create(&self, spec: NewTenant) -> Result<TenantBootstrap> {
        let (writes, created) = self.tenant_batch(spec).await?;
        self.directory
            .store
            .commit(created.tenant_id, writes, self.directory.now())
            .await
            .map_err(|e| crate::directory::write_error(e, "The tenant, its domain or its client id already exists."))?;
        Ok(created)
    }

    /// The first start's tenant: created and claimed as the deployment's first in one batch, so that of nodes
    /// starting together on an empty database exactly one creates it. `None` when another node's first start
    /// made it (this one joins), or when the deployment has it already.
    pub async fn create_first(&self, spec: NewTenant) -> Result<Option<TenantBootstrap>> {
        if self.directory.store.deployment(FIRST_TENANT).await.map_err(Error::from)?.is_some() {
            return Ok(None);
        }
        let (mut writes, created) = self.tenant_batch(spec).await?;
        writes.push(Write::ClaimDeployment { name: FIRST_TENANT.into(), value: created.tenant_id.to_string() });
        match self.directory.store.commit(created.tenant_id, writes, self.directory.now()).await {
            Ok(_) => Ok(Some(created)),
            Err(crate::store::StoreError::Conflict(_))
                if self.directory.store.deployment(FIRST_TENANT).await.map_err(Error::from)?.is_some() =>
            {
                Ok(None)
            }
            Err(other) => Err(crate::directory::write_error(other, "The first tenant could not be created.")),
        }
    }

    /// The writes that create a tenant, and the credentials they make.
    async fn tenant_batch(&self, spec: NewTenant) -> Result<(Vec<Write>, TenantBootstrap)> {
        let id = spec.id.unwrap_or_else(|| self.directory.random().uuid());
        let short = id.simple().to_string();
        let domain = check_domain(&spec.domain.unwrap_or_else(|| format!("t{}.gatehouse.test", &short[..8])))?;
        let display_name = spec.display_name.unwrap_or_else(|| domain.clone());
        let country = country_code(spec.country.as_deref().unwrap_or(DEFAULT_COUNTRY))?;
        let now = self.directory.now();
        let tenant = TenantRecord {
            id,
            display_name,
            initial_domain: domain.clone(),
            default_domain: domain.clone(),
            domains: vec![domain.clone()],
            created_at: now,
            organization: initial_settings(&country),
            version: 1,
        };
        if self.directory.store.tenant(&id.to_string()).await.map_err(Error::from)?.is_some()
            || self.directory.store.tenant(&domain).await.map_err(Error::from)?.is_some()
        {
            return Err(Error::conflict(format!("A tenant with id {id} or domain {domain} already exists.")));
        }

        let upn = spec.admin_user_principal_name.unwrap_or_else(|| format!("admin@{domain}"));
        let upn = check_user_principal_name(&upn, &tenant.domains)?;
        let password = spec.admin_password.unwrap_or_else(|| generate_password(self.directory.random()));
        passwords::check_complexity(&password, true)?;
        let hash = self.directory.hasher.hash(password.clone(), self.directory.salt()).await?;
        let nickname = upn.split('@').next().unwrap_or("admin").to_owned();
        let mut admin_doc = Map::new();
        for (key, value) in [
            ("accountEnabled", json!(true)),
            ("displayName", json!("Global Administrator")),
            ("mailNickname", json!(nickname)),
            ("userPrincipalName", json!(upn)),
            ("userType", json!("Member")),
            ("proxyAddresses", json!([])),
            ("lastPasswordChangeDateTime", json!(format_time(now))),
            (FORCE_CHANGE, json!(false)),
            (roles::ROLES_KEY, roles::holding(&[roles::GLOBAL_ADMINISTRATOR])),
        ] {
            admin_doc.insert(key.to_owned(), value);
        }
        let admin = self.directory.new_object(ObjectKind::User, Some(upn.to_lowercase()), admin_doc, now);

        let (signing, der) = SigningKey::generate(self.directory.random())?;
        let key = SigningKeyRecord {
            kid: signing.kid.clone(),
            sealed_private_key: self.directory.master.seal(self.directory.random(), &der)?,
            created_at: now,
        };

        let graph = self.directory.new_object(
            ObjectKind::ServicePrincipal,
            Some(GRAPH_APP_ID.to_owned()),
            graph_service_principal(),
            now,
        );
        let client_id = spec.client_id.unwrap_or_else(|| self.directory.random().uuid());
        let client_secret = spec.client_secret.unwrap_or_else(|| secrets::new_client_secret(self.directory.random()));
        let mut writes = vec![
            Write::CreateTenant(tenant),
            Write::AddSigningKey(key),
            Write::InsertObject(graph.clone()),
            Write::InsertObject(admin.clone()),
            Write::SetPassword { user: admin.id, hash },
        ];
        let administration =
            AdminApp { client_id, secret: &client_secret, name: "Gatehouse administration", purpose: "bootstrap" };
        writes.extend(administration.writes(self.directory, graph.id, now)?);
        let created = TenantBootstrap {
            tenant_id: id,
            tenant_domain: domain,
            admin_user_principal_name: upn,
            admin_password: password,
            client_id,
            client_secret,
        };
        Ok((writes, created))
    }

    /// Break-glass for the operator, run on the server's data: a new administration app in the tenant with a
    /// new client secret, Graph's administration permissions and the Privileged Authentication Administrator
    /// role, whatever was deleted or changed through the API (Microsoft Graph's service principal is made again
    /// if it is gone). Logged as a warning, and in the change log as the objects it creates.
    pub async fn recover(&self, tenant: Uuid) -> Result<Recovery> {
        let now = self.directory.now();
        let mut writes = Vec::new();
        let graph = match self.directory.graph_principal(tenant).await? {
            Some(graph) => graph,
            None => {
                let graph = self.directory.new_object(
                    ObjectKind::ServicePrincipal,
                    Some(GRAPH_APP_ID.to_owned()),
                    graph_service_principal(),
                    now,
                );
                writes.push(Write::InsertObject(graph.clone()));
                graph.id
            }
        };
        let client_id = self.directory.random().uuid();
        let client_secret = secrets::new_client_secret(self.directory.random());
        let name = format!("Gatehouse recovery {}", format_time(now));
        let recovery = AdminApp { client_id, secret: &client_secret, name: &name, purpose: "recovery" };
        writes.extend(recovery.writes(self.directory, graph, now)?);
        self.directory
            .store
            .commit(tenant, writes, now)
            .await
            .map_err(|e| crate::directory::write_error(e, "The recovery app could not be created."))?;
        tracing::warn!(%tenant, %client_id, "the operator issued recovery credentials: a new administration app");
        Ok(Recovery { tenant_id: tenant, client_id, client_secret })
    }

    /// Every tenant; for the operator's CLI and the bootstrap check.
    pub async fn list(&self) -> Result<Vec<crate::store::TenantRecord>> {
        self.directory.store.tenants().await.map_err(Error::from)
    }
}

/// Credentials the operator's recovery issued.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recovery {
    pub tenant_id: Uuid,
    pub client_id: Uuid,
    pub client_secret: String,
}

/// An administration app: an application and its service principal holding Privileged Authentication
/// Administrator, a client secret, and Graph's administration permissions.
struct AdminApp<'a> {
    client_id: Uuid,
    secret: &'a str,
    name: &'a str,
    /// The secret's display name.
    purpose: &'a str,
}

impl AdminApp<'_> {
    fn writes(&self, directory: &Directory, graph: Uuid, now: chrono::DateTime<chrono::Utc>) -> Result<Vec<Write>> {
        if self.secret.len() < 32 {
            return Err(Error::invalid_property("clientSecret", "A client secret must have at least 32 characters."));
        }
        let key = self.client_id.to_string();
        let app_doc = application_doc(self.client_id, self.name);
        let app = directory.new_object(ObjectKind::Application, Some(key.clone()), app_doc.clone(), now);
        let mut sp_doc = service_principal_doc(&app_doc);
        sp_doc.insert(roles::ROLES_KEY.into(), roles::holding(&[roles::PRIVILEGED_AUTHENTICATION_ADMINISTRATOR]));
        let sp = directory.new_object(ObjectKind::ServicePrincipal, Some(key), sp_doc, now);
        let secret = SecretRecord {
            owner: app.id,
            key_id: directory.random().uuid(),
            digest: secrets::digest(self.secret),
            hint: self.secret.chars().take(3).collect(),
            display_name: Some(self.purpose.into()),
            start: now,
            end: now + chrono::Duration::days(365 * BOOTSTRAP_SECRET_YEARS),
        };
        let mut writes = vec![Write::InsertObject(app), Write::InsertObject(sp.clone()), Write::AddSecret(secret)];
        for permission in ADMIN_APP_PERMISSIONS {
            writes.push(Write::AddAppRoleAssignment(AppRoleAssignmentRecord {
                id: directory.random().uuid(),
                principal: sp.id,
                resource: graph,
                app_role_id: Uuid::parse_str(permission.app_role_id()).map_err(Error::internal)?,
                created_at: now,
            }));
        }
        Ok(writes)
    }
}

/// Microsoft Graph's service principal's document: its app roles are the application permissions Gatehouse enforces.
fn graph_service_principal() -> Map<String, Value> {
    let roles: Vec<Value> = Permission::ALL
        .iter()
        .map(|p| {
            json!({
                "id": p.app_role_id(),
                "value": p.name(),
                "displayName": p.description(),
                "description": p.description(),
                "allowedMemberTypes": ["Application"],
                "isEnabled": true,
                "origin": "Application",
            })
        })
        .collect();
    let mut doc = application_doc(Uuid::parse_str(GRAPH_APP_ID).unwrap_or_default(), "Microsoft Graph");
    doc = service_principal_doc(&doc);
    doc.insert("appRoles".into(), Value::Array(roles));
    let scopes: Vec<Value> = Scope::ALL
        .iter()
        .filter(|s| !s.is_openid())
        .map(|s| {
            let admin = s.admin_consent_required();
            json!({
                "id": s.id(),
                "value": s.name(),
                "type": if admin { "Admin" } else { "User" },
                "adminConsentDisplayName": s.name(),
                "adminConsentDescription": s.name(),
                "userConsentDisplayName": s.name(),
                "userConsentDescription": s.name(),
                "isEnabled": true,
            })
        })
        .collect();
    doc.insert("oauth2PermissionScopes".into(), Value::Array(scopes));
    doc.insert("servicePrincipalNames".into(), json!([crate::auth::authorization::GRAPH_RESOURCE, GRAPH_APP_ID]));
    doc
}
