//! What a delegated token is for: Microsoft Graph, or one of the tenant's own APIs (an application that
//! exposes delegated scopes, named by its app id or one of its identifier URIs), and what a `scope`
//! parameter asks of it. A request names one resource, as at Entra; OpenID Connect's scopes go with any.

use super::policy::{Asked, Names};
use super::SignIn;
use crate::applications::CachedClient;
use crate::auth::authorization::is_graph;
use crate::auth::scopes::{Scope, Scopes};
use crate::kernel::error::{Error, Result};
use crate::Directory;
use std::sync::Arc;
use uuid::Uuid;

/// The resource of a token.
#[derive(Clone)]
pub(crate) enum Resource {
    Graph,
    /// One of the tenant's APIs, with the identifier the request named it by (a version 1 token's `aud`,
    /// and the prefix of its scopes in a response's `scope`).
    Api {
        api: Arc<CachedClient>,
        identifier: String,
    },
}

/// What a `scope` parameter asks for.
#[derive(Clone)]
pub(crate) struct ScopeRequest {
    /// OpenID Connect's scopes.
    pub openid: Scopes,
    pub resource: Resource,
    pub asked: Asked,
}

/// What the policy granted: OpenID Connect's scopes, and scopes of one resource.
#[derive(Clone)]
pub(crate) struct Granted {
    pub openid: Scopes,
    pub resource: Resource,
    pub names: Names,
}

impl Resource {
    /// The resource application's app id (Conditional Access targets it).
    pub(crate) fn app_id(&self) -> String {
        match self {
            Resource::Graph => crate::auth::authorization::GRAPH_APP_ID.to_owned(),
            Resource::Api { api, .. } => api.authenticated().app_id.to_string(),
        }
    }

    /// The resource's own spelling of a delegated scope it defines, if `name` is one.
    fn canonical(&self, name: &str) -> Option<String> {
        match self {
            Resource::Graph => Scope::from_name(name).filter(|s| !s.is_openid()).map(|s| s.name().to_owned()),
            Resource::Api { api, .. } => {
                api.api().scopes.iter().find(|s| s.value.eq_ignore_ascii_case(name)).map(|s| s.value.clone())
            }
        }
    }

    /// Whether only an administrator may consent to the scope (Graph's catalog, an API's `type: Admin`).
    pub(crate) fn admin_only(&self, name: &str) -> bool {
        match self {
            Resource::Graph => Scope::from_name(name).is_none_or(Scope::admin_consent_required),
            Resource::Api { api, .. } => api.api().scopes.iter().find(|s| s.value == name).is_none_or(|s| s.admin),
        }
    }

    /// A scope as a `scope` parameter and a token response write it: Graph's bare, an API's under the
    /// identifier it was asked by.
    pub fn qualified(&self, name: &str) -> String {
        match self {
            Resource::Graph => name.to_owned(),
            Resource::Api { identifier, .. } => format!("{}/{name}", identifier.trim_end_matches('/')),
        }
    }

    /// The resource's service principal, to which consent is granted.
    pub(crate) async fn principal(&self, directory: &Directory, tenant: Uuid) -> Result<Uuid> {
        match self {
            Resource::Graph => {
                directory.graph_principal(tenant).await?.ok_or_else(|| Error::internal("no Graph principal"))
            }
            Resource::Api { api, .. } => Ok(api.authenticated().service_principal),
        }
    }

    /// What `.default` comes to when nothing is consented: Graph's `User.Read` (signing in reads the user's
    /// own profile); for an API, the scopes of it that the client's registration requires
    /// (`requiredResourceAccess`), else every one it defines.
    pub(crate) fn fallback(&self, client: &CachedClient) -> Names {
        match self {
            Resource::Graph => [Scope::UserRead.name().to_owned()].into(),
            Resource::Api { api, .. } => {
                let app = api.authenticated().app_id;
                let required: Names = api
                    .api()
                    .scopes
                    .iter()
                    .filter(|s| client.api().required.contains(&(app, s.id)))
                    .map(|s| s.value.clone())
                    .collect();
                match required.is_empty() {
                    true => api.api().scopes.iter().map(|s| s.value.clone()).collect(),
                    false => required,
                }
            }
        }
    }

    /// The scopes of an API a client is pre-authorized for (none of Graph's).
    pub(crate) fn pre_authorized(&self, client: Uuid) -> Names {
        let Resource::Api { api, .. } = self else { return Names::new() };
        let ids: Vec<Uuid> = api
            .api()
            .pre_authorized
            .iter()
            .filter(|(app, _)| *app == client)
            .flat_map(|(_, ids)| ids.clone())
            .collect();
        api.api().scopes.iter().filter(|s| ids.contains(&s.id)).map(|s| s.value.clone()).collect()
    }

    fn same(&self, other: &Resource) -> bool {
        match (self, other) {
            (Resource::Graph, Resource::Graph) => true,
            (Resource::Api { api: a, .. }, Resource::Api { api: b, .. }) => {
                a.authenticated().app_id == b.authenticated().app_id
            }
            _ => false,
        }
    }
}

impl Granted {
    /// The grant of a request the policy already decided (a stored code's or device approval's).
    pub fn of(request: ScopeRequest) -> Granted {
        let names = match request.asked {
            Asked::Named(names) => names,
            Asked::Default => Names::new(),
        };
        Granted { openid: request.openid, resource: request.resource, names }
    }

    /// As a token response's `scope` and a stored grant write it (and [`SignIn::resolve_scope`] reads it
    /// back): the resource's scopes, qualified, then OpenID Connect's. An API granted none of its scopes
    /// (a token for its app roles alone) is named by its `.default`.
    pub fn to_text(&self) -> String {
        let mut words: Vec<String> = self.names.iter().map(|n| self.resource.qualified(n)).collect();
        if words.is_empty() && matches!(self.resource, Resource::Api { .. }) {
            words.push(self.resource.qualified(".default"));
        }
        words.extend(self.openid.iter().map(|s| s.name().to_owned()));
        words.join(" ")
    }

    /// The access token's `scp`: the resource's scopes; Graph's tokens carry OpenID Connect's too, as
    /// Entra's do.
    pub fn scp(&self) -> String {
        let openid = match self.resource {
            Resource::Graph => self.openid,
            Resource::Api { .. } => Scopes::default(),
        };
        let openid = openid.iter().map(|s| s.name().to_owned());
        self.names.iter().cloned().chain(openid).collect::<Vec<_>>().join(" ")
    }
}

impl SignIn<'_> {
    /// Reads a `scope` parameter: OpenID Connect's scopes by bare name; Graph's by bare name, under Graph's
    /// URI or app id, or Graph's `.default`; an API's under its app id or an identifier URI, or its
    /// `.default`. One resource per request (AADSTS28000); unknown scopes are `invalid_scope` (AADSTS70011),
    /// unknown resources `invalid_resource` (AADSTS500011).
    pub(crate) async fn resolve_scope(&self, tenant: Uuid, text: &str) -> Result<ScopeRequest> {
        let invalid = |what: &str| {
            Error::invalid_property(
                "scope",
                format!("AADSTS70011: The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {what} is not valid."),
            )
        };
        let (mut openid, mut named, mut default) = (Scopes::default(), Names::new(), false);
        let mut resource: Option<Resource> = None;
        for item in text.split_whitespace() {
            let (target, name) = match item.rsplit_once('/') {
                Some((target, name)) => (Some(target), name),
                None => (None, item),
            };
            if let (None, Some(scope)) = (target, Scope::from_name(name).filter(|s| s.is_openid())) {
                openid.insert(scope);
                continue;
            }
            let this = match target {
                None => Resource::Graph,
                Some(target) if is_graph(target) => Resource::Graph,
                Some(target) => {
                    let api = self.directory.applications().resource(tenant, target).await?;
                    let api = api.ok_or_else(|| {
                        Error::invalid_property(
                            "resource",
                            format!("AADSTS500011: The resource principal named {target} was not found in the tenant named {tenant}."),
                        )
                    })?;
                    Resource::Api { api, identifier: target.to_owned() }
                }
            };
            let resource = match &resource {
                Some(current) if current.same(&this) => current,
                Some(_) => {
                    return Err(Error::invalid_property(
                        "scope",
                        "AADSTS28000: Provide value for the input parameter scope: scopes requested are for multiple resources, and a request names one.",
                    ))
                }
                None => resource.insert(this),
            };
            match (target, name) {
                (Some(_), ".default") => default = true,
                _ => {
                    named.insert(resource.canonical(name).ok_or_else(|| invalid(item))?);
                }
            }
        }
        if default && !named.is_empty() {
            return Err(invalid(text));
        }
        let asked = if default { Asked::Default } else { Asked::Named(named) };
        Ok(ScopeRequest { openid, resource: resource.unwrap_or(Resource::Graph), asked })
    }
}
