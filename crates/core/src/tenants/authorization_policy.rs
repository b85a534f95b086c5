//! The tenant's authorization policy (Graph's `/policies/authorizationPolicy`), as far as Gatehouse keeps
//! it: who may invite guests (`allowInvitesFrom`) and the role guests get (`guestUserRoleId`). Kept in the
//! organization record; without a change, Entra's defaults: everyone may invite, guests get the Guest User
//! role. Read with `Policy.Read.All`, changed with `Policy.ReadWrite.Authorization`.

use crate::auth::authorization::{require, Action};
use crate::kernel::error::{Error, Result};
use crate::{Caller, Directory};
use serde_json::{json, Map, Value};

/// Internal organization key of the policy.
const POLICY_KEY: &str = "_authorizationPolicy";
/// Who may invite guests, most restrictive first.
pub const INVITERS: [&str; 4] = ["none", "adminsAndGuestInviters", "adminsGuestInvitersAndAllMembers", "everyone"];
/// The roles guests may get: User (as members), Guest User, Restricted Guest User.
const GUEST_ROLES: [&str; 3] = [
    "a0b1b346-4d3e-4e8b-98f8-753987be4970",
    "10dae51f-b6af-4016-8d66-8c2a99b929b3",
    "2af84b1e-32c8-42b7-82bc-daa82404023b",
];

/// A setting of the policy, stored or by default.
fn setting(organization: &Map<String, Value>, name: &str, default: &'static str) -> String {
    let stored = organization.get(POLICY_KEY).and_then(|p| p.get(name)).and_then(Value::as_str);
    stored.unwrap_or(default).to_owned()
}

/// Who may invite guests (one of [`INVITERS`]).
pub fn allow_invites_from(organization: &Map<String, Value>) -> String {
    setting(organization, "allowInvitesFrom", "everyone")
}

/// The policy service.
pub struct AuthorizationPolicy<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The authorization policy service.
    pub fn authorization_policy(&self) -> AuthorizationPolicy<'_> {
        AuthorizationPolicy { directory: self }
    }
}

impl AuthorizationPolicy<'_> {
    /// The policy as Graph shows it.
    pub async fn get(&self, caller: &Caller) -> Result<Map<String, Value>> {
        require(caller, Action::ReadPolicies)?;
        let organization = self.directory.tenant_record(caller.tenant()).await?.organization;
        let doc = json!({
            "id": "authorizationPolicy",
            "displayName": "Authorization Policy",
            "description": "Used to manage authorization related settings across the company.",
            "allowInvitesFrom": allow_invites_from(&organization),
            "guestUserRoleId": setting(&organization, "guestUserRoleId", GUEST_ROLES[1]),
        });
        Ok(doc.as_object().cloned().unwrap_or_default())
    }

    /// Changes `allowInvitesFrom` and `guestUserRoleId`; the policy's other settings are not kept here and
    /// are refused.
    pub async fn update(&self, caller: &Caller, body: &Map<String, Value>) -> Result<()> {
        require(caller, Action::WriteAuthorizationPolicy)?;
        let mut changes = Map::new();
        for (name, value) in body {
            let allowed: &[&str] = match name.as_str() {
                "@odata.type" | "id" => continue,
                "allowInvitesFrom" => &INVITERS,
                "guestUserRoleId" => &GUEST_ROLES,
                other => {
                    return Err(Error::invalid_property(
                        other,
                        format!(
                            "'{other}' is not a setting Gatehouse keeps: allowInvitesFrom and guestUserRoleId are."
                        ),
                    ))
                }
            };
            let value = value
                .as_str()
                .filter(|v| allowed.contains(v))
                .ok_or_else(|| Error::invalid_property(name, format!("{name} is one of: {}.", allowed.join(", "))))?;
            changes.insert(name.clone(), json!(value));
        }
        self.directory
            .organization()
            .change(caller, vec![POLICY_KEY.to_owned()], |organization| {
                let policy = organization.entry(POLICY_KEY).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(policy) = policy {
                    policy.extend(changes.clone());
                }
                Ok(())
            })
            .await
    }
}
