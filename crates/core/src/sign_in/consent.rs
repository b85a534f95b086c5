//! Delegated permission grants (Graph's `oauth2PermissionGrants`): which scopes of a resource a client may
//! use for everyone (`AllPrincipals`, admin consent) or for one user (`Principal`).

use crate::applications::CachedClient;
use crate::auth::authorization::{require, Action};
use crate::auth::scopes::Scope;
use crate::directory::write_error;
use crate::kernel::error::{Error, Result};
use crate::sign_in::policy::Names;
use crate::sign_in::resource::Resource;
use crate::store::{ObjectKind, PermissionGrantRecord, Write};
use crate::{Caller, Directory};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// The permission grants service.
pub struct Consent<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The delegated permission grants service.
    pub fn consent(&self) -> Consent<'_> {
        Consent { directory: self }
    }
}

const ALL_PRINCIPALS: &str = "AllPrincipals";
const PRINCIPAL: &str = "Principal";

/// A grant as Graph shows it.
pub fn grant_json(grant: &PermissionGrantRecord) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(grant.id));
    out.insert("clientId".into(), json!(grant.client));
    out.insert("consentType".into(), json!(if grant.principal.is_some() { PRINCIPAL } else { ALL_PRINCIPALS }));
    out.insert("principalId".into(), json!(grant.principal));
    out.insert("resourceId".into(), json!(grant.resource));
    out.insert("scope".into(), json!(grant.scope));
    out
}

impl Consent<'_> {
    pub async fn list(&self, caller: &Caller) -> Result<Vec<PermissionGrantRecord>> {
        require(caller, Action::ReadPermissionGrants)?;
        self.directory.store.permission_grants(caller.tenant(), None).await.map_err(Error::from)
    }

    pub async fn get(&self, caller: &Caller, id: &str) -> Result<PermissionGrantRecord> {
        self.list(caller)
            .await?
            .into_iter()
            .find(|g| g.id.to_string().eq_ignore_ascii_case(id))
            .ok_or_else(|| Error::not_found(id))
    }

    /// Grants scopes of a resource to a client, for everyone or for one user. The client and resource are
    /// live service principals of the tenant, the user a live user, and every scope one the resource defines.
    pub async fn create(&self, caller: &Caller, body: &Map<String, Value>) -> Result<PermissionGrantRecord> {
        require(caller, Action::WritePermissionGrants)?;
        let tenant = caller.tenant();
        let text = |name: &str| body.get(name).and_then(Value::as_str);
        let id_of = |name: &str| {
            text(name).and_then(|v| Uuid::parse_str(v).ok()).ok_or_else(|| {
                Error::invalid_property(
                    name,
                    format!("Invalid value specified for property '{name}' of resource 'OAuth2PermissionGrant'."),
                )
            })
        };
        let (client, resource) = (id_of("clientId")?, id_of("resourceId")?);
        let principal = match text("consentType") {
            Some(t) if t.eq_ignore_ascii_case(ALL_PRINCIPALS) => None,
            Some(t) if t.eq_ignore_ascii_case(PRINCIPAL) => Some(id_of("principalId")?),
            _ => {
                return Err(Error::invalid_property(
                    "consentType",
                    "Invalid value specified for property 'consentType': expected 'AllPrincipals' or 'Principal'.",
                ))
            }
        };
        for (id, kind) in [(client, ObjectKind::ServicePrincipal), (resource, ObjectKind::ServicePrincipal)]
            .into_iter()
            .chain(principal.map(|p| (p, ObjectKind::User)))
        {
            let found = self.directory.store.object(tenant, kind, id).await.map_err(Error::from)?;
            if found.is_none_or(|o| o.deleted_at.is_some()) {
                return Err(Error::invalid_property(
                    "id",
                    format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
                ));
            }
        }
        let scope = self.check_scope(tenant, resource, text("scope").unwrap_or_default()).await?;
        let grant = PermissionGrantRecord {
            id: self.directory.random().uuid(),
            client,
            principal,
            resource,
            scope,
            created_at: self.directory.now(),
        };
        self.directory
            .commit(caller, vec![Write::AddPermissionGrant(grant.clone())])
            .await
            .map_err(|e| write_error(e, "Permission entry already exists."))?;
        Ok(grant)
    }

    /// Replaces a grant's scopes.
    pub async fn update(&self, caller: &Caller, id: &str, body: &Map<String, Value>) -> Result<()> {
        require(caller, Action::WritePermissionGrants)?;
        let grant = self.get(caller, id).await?;
        let scope = body.get("scope").and_then(Value::as_str).ok_or_else(|| {
            Error::invalid_property(
                "scope",
                "Invalid value specified for property 'scope' of resource 'OAuth2PermissionGrant'.",
            )
        })?;
        let scope = self.check_scope(caller.tenant(), grant.resource, scope).await?;
        self.directory
            .commit(caller, vec![Write::UpdatePermissionGrant { id: grant.id, scope }])
            .await
            .map_err(|e| write_error(e, "conflict"))?;
        Ok(())
    }

    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<()> {
        require(caller, Action::WritePermissionGrants)?;
        let grant = self.get(caller, id).await?;
        self.directory
            .commit(caller, vec![Write::RemovePermissionGrant { id: grant.id }])
            .await
            .map_err(|e| write_error(e, "conflict"))?;
        Ok(())
    }

    /// The scope text normalised (space-separated, the resource's spelling), each scope one the resource
    /// defines: Microsoft Graph's catalog, or the delegated scopes of the tenant's API whose service
    /// principal it is.
    async fn check_scope(&self, tenant: Uuid, resource: Uuid, scope: &str) -> Result<String> {
        let graph = self.directory.graph_principal(tenant).await?;
        let api = match graph == Some(resource) {
            true => None,
            false => {
                let sp = self.directory.store.object(tenant, ObjectKind::ServicePrincipal, resource).await;
                let app_id =
                    sp.map_err(Error::from)?.and_then(|sp| sp.unique_key).and_then(|k| Uuid::parse_str(&k).ok());
                match app_id {
                    Some(app_id) => self.directory.applications().client(tenant, app_id).await?,
                    None => None,
                }
            }
        };
        let mut names = Names::new();
        for name in scope.split_whitespace() {
            let known = match &api {
                None => Scope::from_name(name).filter(|_| graph == Some(resource)).map(|s| s.name().to_owned()),
                Some(api) => {
                    api.api().scopes.iter().find(|s| s.value.eq_ignore_ascii_case(name)).map(|s| s.value.clone())
                }
            };
            let known = known.ok_or_else(|| {
                Error::invalid_property(
                    "scope",
                    format!("The scope '{name}' is not defined by the resource '{resource}'."),
                )
            })?;
            names.insert(known);
        }
        Ok(scope_text(&names))
    }

    /// A person's consent at the pages: their grant to the client for the resource joins `names`.
    pub(crate) async fn record_user_consent(
        &self,
        tenant: Uuid,
        client: Uuid,
        resource: Uuid,
        user: Uuid,
        names: &Names,
    ) -> Result<()> {
        let grants = self.directory.store.permission_grants(tenant, Some(client)).await.map_err(Error::from)?;
        let system = Caller::System { tenant };
        let write = match grants.iter().find(|g| g.resource == resource && g.principal == Some(user)) {
            Some(grant) => {
                let joined: Names =
                    grant.scope.split_whitespace().map(str::to_owned).chain(names.iter().cloned()).collect();
                Write::UpdatePermissionGrant { id: grant.id, scope: scope_text(&joined) }
            }
            None => Write::AddPermissionGrant(PermissionGrantRecord {
                id: self.directory.random().uuid(),
                client,
                principal: Some(user),
                resource,
                scope: scope_text(names),
                created_at: self.directory.now(),
            }),
        };
        self.directory
            .commit(&system, vec![write])
            .await
            .map_err(|e| write_error(e, "Permission entry already exists."))?;
        Ok(())
    }

    /// The scopes of a resource a client may use for a user: the union of its grants for everyone and for
    /// that user, as this node's client cache knows them ([`crate::applications::CLIENT_CACHE_SECONDS`]),
    /// and those the resource pre-authorizes the client for.
    pub(crate) async fn consented(
        &self,
        tenant: Uuid,
        client: &CachedClient,
        resource: &Resource,
        user: Uuid,
    ) -> Result<Names> {
        let principal = resource.principal(self.directory, tenant).await?;
        let granted = client
            .grants()
            .iter()
            .filter(|g| g.resource == principal && g.principal.is_none_or(|p| p == user))
            .flat_map(|g| g.scope.split_whitespace().map(str::to_owned));
        Ok(granted.chain(resource.pre_authorized(client.authenticated().app_id)).collect())
    }
}

/// A grant's `scope`: the names, space-separated.
fn scope_text(names: &Names) -> String {
    names.iter().map(String::as_str).collect::<Vec<_>>().join(" ")
}
