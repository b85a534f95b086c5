//! What the tenant's authorization policy says of guests, as the organization record keeps it: who may
//! invite them (`allowInvitesFrom`), the role they get (`guestUserRoleId`, hence their [`Standing`]), and the
//! domains invitations may go to (an allow list or a block list, Entra's collaboration restrictions). Graph's `/policies/authorizationPolicy` shows and changes it
//! (the tenants feature); without a change, Entra's defaults: everyone may invite, guests
//! get the Guest User role (limited access), any domain.

use crate::auth::authorization::Standing;
use serde_json::{Map, Value};

/// Internal organization key of the policy.
pub const POLICY_KEY: &str = "_authorizationPolicy";
/// Who may invite guests, most restrictive first.
pub const INVITERS: [&str; 4] = ["none", "adminsAndGuestInviters", "adminsGuestInvitersAndAllMembers", "everyone"];
/// The roles guests may get: User (as members), Guest User (limited), Restricted Guest User.
pub const GUEST_ROLES: [&str; 3] = [
    "a0b1b346-4d3e-4e8b-98f8-753987be4970",
    "10dae51f-b6af-4016-8d66-8c2a99b929b3",
    "2af84b1e-32c8-42b7-82bc-daa82404023b",
];

/// The keys of the domains invitations may go to, and may not.
pub const ALLOWED_DOMAINS: &str = "allowedDomains";
pub const BLOCKED_DOMAINS: &str = "blockedDomains";

/// Whether the tenant's resources may be shared with people who have no account (SharePoint's
/// `sharingCapability`): not at all (`disabled`), only with guests already in the directory
/// (`existingExternalUserSharingOnly`, so no link here), with outsiders who prove their address by a mailed
/// code (`externalUserSharingOnly`, the default), or by links anyone holding them opens too
/// (`externalUserAndGuestSharing`).
pub const SHARING: [&str; 4] =
    ["disabled", "existingExternalUserSharingOnly", "externalUserSharingOnly", "externalUserAndGuestSharing"];
/// The key of the sharing capability.
pub const SHARING_CAPABILITY: &str = "sharingCapability";
/// The key of the most days a sharing link lives.
pub const SHARING_DAYS: &str = "sharingLinkExpirationInDays";
/// The most days a sharing link lives by default, and at most.
pub const DEFAULT_SHARING_DAYS: i64 = 30;
pub const MOST_SHARING_DAYS: i64 = 730;

/// A setting of the policy, stored or by default.
pub fn setting<'a>(organization: &'a Map<String, Value>, name: &str, default: &'a str) -> &'a str {
    let stored = organization.get(POLICY_KEY).and_then(|p| p.get(name)).and_then(Value::as_str);
    stored.unwrap_or(default)
}

/// Who may invite guests (one of [`INVITERS`]).
pub fn allow_invites_from(organization: &Map<String, Value>) -> &str {
    setting(organization, "allowInvitesFrom", "everyone")
}

/// The role guests get (one of [`GUEST_ROLES`]).
pub fn guest_role(organization: &Map<String, Value>) -> &str {
    setting(organization, "guestUserRoleId", GUEST_ROLES[1])
}

/// The standing of the tenant's guests.
pub fn guest_standing(organization: &Map<String, Value>) -> Standing {
    match guest_role(organization) {
        role if role == GUEST_ROLES[0] => Standing::GuestAsMember,
        role if role == GUEST_ROLES[2] => Standing::RestrictedGuest,
        _ => Standing::LimitedGuest,
    }
}

/// The tenant's sharing capability (one of [`SHARING`]).
pub fn sharing_capability(organization: &Map<String, Value>) -> &str {
    setting(organization, SHARING_CAPABILITY, SHARING[2])
}

/// The most days a sharing link lives.
pub fn sharing_days(organization: &Map<String, Value>) -> i64 {
    let stored = organization.get(POLICY_KEY).and_then(|p| p.get(SHARING_DAYS)).and_then(Value::as_i64);
    stored.unwrap_or(DEFAULT_SHARING_DAYS)
}

/// A list of domains of the policy ([`ALLOWED_DOMAINS`] or [`BLOCKED_DOMAINS`]).
pub fn domains(organization: &Map<String, Value>, list: &str) -> Vec<String> {
    let stored = organization.get(POLICY_KEY).and_then(|p| p.get(list)).and_then(Value::as_array);
    stored.map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default()
}

/// Whether invitations may go to an address at `domain`: it is on the allow list when there is one, and on
/// no block list; an entry `*.contoso.com` stands for contoso.com's subdomains.
pub fn invitations_reach(organization: &Map<String, Value>, domain: &str) -> bool {
    let domain = domain.to_lowercase();
    let listed = |list: &str| {
        domains(organization, list).iter().any(|entry| match entry.strip_prefix("*.") {
            Some(parent) => domain.ends_with(&format!(".{parent}")),
            None => *entry == domain,
        })
    };
    let allowed = domains(organization, ALLOWED_DOMAINS);
    (allowed.is_empty() || listed(ALLOWED_DOMAINS)) && !listed(BLOCKED_DOMAINS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn guests_have_limited_access_unless_the_policy_says_otherwise() {
        let mut organization = Map::new();
        assert_eq!(guest_standing(&organization), Standing::LimitedGuest);
        assert_eq!(allow_invites_from(&organization), "everyone");
        for (role, standing) in
            GUEST_ROLES.iter().zip([Standing::GuestAsMember, Standing::LimitedGuest, Standing::RestrictedGuest])
        {
            organization.insert(POLICY_KEY.into(), json!({"guestUserRoleId": role}));
            assert_eq!(guest_standing(&organization), standing);
        }
    }

    #[test]
    fn invitations_follow_the_allow_or_block_list() {
        let mut organization = Map::new();
        assert!(invitations_reach(&organization, "anywhere.example"));
        organization.insert(POLICY_KEY.into(), json!({"blockedDomains": ["gmail.com", "*.spam.example"]}));
        assert!(!invitations_reach(&organization, "Gmail.com"));
        assert!(!invitations_reach(&organization, "mail.spam.example"));
        assert!(invitations_reach(&organization, "spam.example"));
        organization.insert(POLICY_KEY.into(), json!({"allowedDomains": ["partner.example"]}));
        assert!(invitations_reach(&organization, "partner.example"));
        assert!(!invitations_reach(&organization, "sub.partner.example"));
        assert!(!invitations_reach(&organization, "other.example"));
    }
}
