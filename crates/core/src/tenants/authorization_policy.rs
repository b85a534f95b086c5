//! The tenant's authorization policy (Graph's `/policies/authorizationPolicy`), as far as Gatehouse keeps
//! it: who may invite guests (`allowInvitesFrom`), the role guests get (`guestUserRoleId`), and — Gatehouse's
//! addition, Entra's collaboration restrictions, which Graph v1.0 does not show — the domains invitations
//! may go to (`allowedDomains`) or may not (`blockedDomains`), one list or the other, and SharePoint's
//! `sharingCapability` with the most days a sharing link lives (`sharingLinkExpirationInDays`). Kept in the
//! organization record ([`crate::auth::guest_policy`]); without a change, Entra's defaults: everyone may
//! invite, guests get the Guest User role, any domain. Read with `Policy.Read.All`, changed with
//! `Policy.ReadWrite.Authorization`.

use crate::auth::authorization::{require, Action};
use crate::auth::guest_policy::{
    allow_invites_from, domains, guest_role, sharing_capability, sharing_days, ALLOWED_DOMAINS, BLOCKED_DOMAINS,
    GUEST_ROLES, INVITERS, MOST_SHARING_DAYS, POLICY_KEY, SHARING, SHARING_CAPABILITY, SHARING_DAYS,
};
use crate::kernel::error::{Error, Result};
use crate::{Caller, Directory};
use serde_json::{json, Map, Value};

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
            "guestUserRoleId": guest_role(&organization),
            "allowedDomains": domains(&organization, ALLOWED_DOMAINS),
            "blockedDomains": domains(&organization, BLOCKED_DOMAINS),
            SHARING_CAPABILITY: sharing_capability(&organization),
            SHARING_DAYS: sharing_days(&organization),
        });
        Ok(doc.as_object().cloned().unwrap_or_default())
    }

    /// Changes `allowInvitesFrom`, `guestUserRoleId` and the domain lists; the policy's other settings are
    /// not kept here and are refused.
    pub async fn update(&self, caller: &Caller, body: &Map<String, Value>) -> Result<()> {
        require(caller, Action::WriteAuthorizationPolicy)?;
        let mut changes = Map::new();
        for (name, value) in body {
            let allowed: &[&str] = match name.as_str() {
                "@odata.type" | "id" => continue,
                ALLOWED_DOMAINS | BLOCKED_DOMAINS => {
                    changes.insert(name.clone(), json!(domain_list(name, value)?));
                    continue;
                }
                SHARING_DAYS => {
                    let days = value.as_i64().filter(|d| (1..=MOST_SHARING_DAYS).contains(d)).ok_or_else(|| {
                        Error::invalid_property(name, format!("{name} is a whole number from 1 to {MOST_SHARING_DAYS}."))
                    })?;
                    changes.insert(name.clone(), json!(days));
                    continue;
                }
                SHARING_CAPABILITY => &SHARING,
                "allowInvitesFrom" => &INVITERS,
                "guestUserRoleId" => &GUEST_ROLES,
                other => {
                    return Err(Error::invalid_property(
                        other,
                        format!(
                            "'{other}' is not a setting Gatehouse keeps: allowInvitesFrom, guestUserRoleId, allowedDomains, blockedDomains, sharingCapability and sharingLinkExpirationInDays are."
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
                let both =
                    [ALLOWED_DOMAINS, BLOCKED_DOMAINS].iter().all(|list| !domains(organization, list).is_empty());
                match both {
                    true => Err(Error::invalid_property(
                        BLOCKED_DOMAINS,
                        "Invitations have an allow list or a block list of domains, not both: empty one first.",
                    )),
                    false => Ok(()),
                }
            })
            .await
    }
}

/// A list of domains as a body gives it: strings, each a domain name or `*.` and one, lower-cased.
fn domain_list(name: &str, value: &Value) -> Result<Vec<String>> {
    let wrong = || {
        Error::invalid_property(
            name,
            format!("{name} is a list of domain names, such as contoso.com or *.contoso.com."),
        )
    };
    let items = value.as_array().ok_or_else(wrong)?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let domain = item.as_str().map(|d| d.trim().to_lowercase()).ok_or_else(wrong)?;
        let bare = domain.strip_prefix("*.").unwrap_or(&domain);
        let fine = bare.contains('.')
            && !bare.contains("..")
            && bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !fine || domain.len() > 253 {
            return Err(wrong());
        }
        out.push(domain);
    }
    Ok(out)
}
