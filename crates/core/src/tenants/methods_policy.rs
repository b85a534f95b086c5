//! The tenant's authentication methods policy (Graph's `/policies/authenticationMethodsPolicy` and its
//! `authenticationMethodConfigurations`): read with `Policy.Read.All`, changed with
//! `Policy.ReadWrite.AuthenticationMethod` or by an Authentication Policy Administrator. The policy itself
//! and what it allows are [`crate::credentials::method_policy`]'s; the sign-in pages and the methods'
//! use cases enforce it.

use crate::auth::authorization::{require, Action};
use crate::credentials::method_policy::{policy_json, Configuration, Method, POLICY_KEY};
use crate::kernel::error::{Error, Result};
use crate::store::ObjectKind;
use crate::{Caller, Directory};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The authentication methods policy service.
pub struct MethodsPolicy<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The authentication methods policy service.
    pub fn methods_policy(&self) -> MethodsPolicy<'_> {
        MethodsPolicy { directory: self }
    }
}

fn method(id: &str) -> Result<Method> {
    Method::parse(id).ok_or_else(|| Error::not_found(id))
}

impl MethodsPolicy<'_> {
    pub async fn get(&self, caller: &Caller) -> Result<Map<String, Value>> {
        require(caller, Action::ReadPolicies)?;
        Ok(policy_json(&self.directory.tenant_record(caller.tenant()).await?.organization))
    }

    /// One method's configuration (`SoftwareOath`, `TemporaryAccessPass`, `Email`).
    pub async fn configuration(&self, caller: &Caller, id: &str) -> Result<Map<String, Value>> {
        require(caller, Action::ReadPolicies)?;
        let method = method(id)?;
        let organization = self.directory.tenant_record(caller.tenant()).await?.organization;
        Ok(Configuration::of(&organization, method).to_json(method))
    }

    /// Changes a method's state and targets; every group a target names must exist.
    pub async fn update_configuration(&self, caller: &Caller, id: &str, body: &Map<String, Value>) -> Result<()> {
        require(caller, Action::WriteAuthenticationMethodsPolicy)?;
        let method = method(id)?;
        let organization = self.directory.tenant_record(caller.tenant()).await?.organization;
        let wanted = Configuration::of(&organization, method).patched(body)?;
        for group in wanted.include.iter().chain(&wanted.exclude).filter_map(|id| Uuid::parse_str(id).ok()) {
            let found = self.directory.store.object(caller.tenant(), ObjectKind::Group, group).await;
            if found.map_err(Error::from)?.is_none_or(|g| g.deleted_at.is_some()) {
                return Err(Error::invalid_property("includeTargets", format!("No group has id '{group}'.")));
            }
        }
        self.directory
            .organization()
            .change(caller, vec![POLICY_KEY.to_owned()], |organization| {
                let patched = Configuration::of(organization, method).patched(body)?;
                let policy = organization.entry(POLICY_KEY).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(policy) = policy {
                    policy.insert(method.id().to_owned(), patched.stored());
                }
                Ok(())
            })
            .await
    }
}
