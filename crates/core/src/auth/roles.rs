//! Directory roles and Entra's rule for sensitive actions on privileged users: the seed of the role matrix.
//!
//! A sensitive action on a user (changing its password, user principal name, `accountEnabled`, phones or
//! other mails; deleting or restoring it) is allowed by the permission alone (`User.ReadWrite.All`) only on a
//! user who holds no directory role and belongs to no role-assignable group. On anyone else the caller must
//! also hold a role that Entra lets act on every role the target holds: Global Administrator and Privileged
//! Authentication Administrator act on everyone; Password, Helpdesk, Authentication and User Administrators
//! on the few roles Entra's table lists for each; an app's roles are those of its service principal.
//!
//! Until role assignments arrive as their own resource, the roles an object holds are a list of role template
//! ids in its document under [`ROLES_KEY`], never shown by Graph: the first tenant's administrator holds
//! Global Administrator, and the administration app Privileged Authentication Administrator.

use crate::store::ObjectRecord;
use serde_json::{json, Value};

pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
pub const PRIVILEGED_AUTHENTICATION_ADMINISTRATOR: &str = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13";
const USER_ADMINISTRATOR: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";
const GROUPS_ADMINISTRATOR: &str = "fdd7a751-b60b-444a-984c-02652fe8fa1c";
const HELPDESK_ADMINISTRATOR: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";
const PASSWORD_ADMINISTRATOR: &str = "966707d0-3269-4727-9be2-8c3a10f19b9d";
const AUTHENTICATION_ADMINISTRATOR: &str = "c4e39bd9-1100-46d3-8c65-fb160da0071f";
const GUEST_INVITER: &str = "95e79109-95c0-4d8e-aee3-d01accf2d47b";
const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";

/// The role every member holds implicitly (Entra's "User" role template), shown in a token's `wids`.
pub const MEMBER_ROLE: &str = "b79fbf4d-3ef9-4689-8143-76b194e85509";
/// The role every guest holds implicitly ("Guest User"), shown in a token's `wids`.
pub const GUEST_ROLE: &str = "10dae51f-b6af-4016-8d66-8c2a99b929b3";

/// Internal document key: the directory roles (template ids) the object holds. Not a Graph property.
pub const ROLES_KEY: &str = "_directoryRoles";

/// The user properties whose change is a sensitive action.
pub const SENSITIVE_USER_PROPERTIES: &[&str] = &[
    "accountEnabled",
    "businessPhones",
    "mobilePhone",
    "onPremisesImmutableId",
    "otherMails",
    "passwordProfile",
    "userPrincipalName",
];

/// The roles an object holds.
pub fn roles_of(record: &ObjectRecord) -> Vec<&str> {
    record
        .doc
        .get(ROLES_KEY)
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The document value that gives an object `roles`.
pub fn holding(roles: &[&str]) -> Value {
    json!(roles)
}

/// The roles on whose holders a role may take sensitive actions, beyond users with no role; `None` for a role
/// that acts on everyone.
fn reach(role: &str) -> Option<&'static [&'static str]> {
    const BASE: &[&str] = &[DIRECTORY_READERS, GUEST_INVITER, PASSWORD_ADMINISTRATOR];
    const HELPDESK: &[&str] = &[DIRECTORY_READERS, GUEST_INVITER, PASSWORD_ADMINISTRATOR, HELPDESK_ADMINISTRATOR];
    const AUTHENTICATION: &[&str] =
        &[DIRECTORY_READERS, GUEST_INVITER, PASSWORD_ADMINISTRATOR, AUTHENTICATION_ADMINISTRATOR];
    const USERS: &[&str] = &[
        DIRECTORY_READERS,
        GUEST_INVITER,
        PASSWORD_ADMINISTRATOR,
        HELPDESK_ADMINISTRATOR,
        GROUPS_ADMINISTRATOR,
        USER_ADMINISTRATOR,
    ];
    match role {
        GLOBAL_ADMINISTRATOR | PRIVILEGED_AUTHENTICATION_ADMINISTRATOR => None,
        PASSWORD_ADMINISTRATOR => Some(BASE),
        HELPDESK_ADMINISTRATOR => Some(HELPDESK),
        AUTHENTICATION_ADMINISTRATOR => Some(AUTHENTICATION),
        USER_ADMINISTRATOR => Some(USERS),
        _ => Some(&[]),
    }
}

/// Entra's rule: whether a caller holding `actor` roles may take sensitive actions on a user holding `target`
/// roles (`in_role_assignable_group`: the user is a member or owner of a role-assignable group).
pub fn may_act_on(actor: &[&str], target: &[&str], in_role_assignable_group: bool) -> bool {
    if target.is_empty() && !in_role_assignable_group {
        return true;
    }
    actor.iter().any(|role| match reach(role) {
        None => true,
        Some(reachable) => !in_role_assignable_group && target.iter().all(|t| reachable.contains(t)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_follows_entras_table() {
        let cases: &[(&[&str], &[&str], bool, bool)] = &[
            (&[], &[], false, true),
            (&[], &[GLOBAL_ADMINISTRATOR], false, false),
            (&[], &[DIRECTORY_READERS], false, false),
            (&[], &[], true, false),
            (&[GLOBAL_ADMINISTRATOR], &[GLOBAL_ADMINISTRATOR], true, true),
            (&[PRIVILEGED_AUTHENTICATION_ADMINISTRATOR], &[GLOBAL_ADMINISTRATOR], false, true),
            (&[PASSWORD_ADMINISTRATOR], &[DIRECTORY_READERS, GUEST_INVITER], false, true),
            (&[PASSWORD_ADMINISTRATOR], &[HELPDESK_ADMINISTRATOR], false, false),
            (&[HELPDESK_ADMINISTRATOR], &[HELPDESK_ADMINISTRATOR], false, true),
            (&[HELPDESK_ADMINISTRATOR], &[USER_ADMINISTRATOR], false, false),
            (&[AUTHENTICATION_ADMINISTRATOR], &[HELPDESK_ADMINISTRATOR], false, false),
            (&[USER_ADMINISTRATOR], &[GROUPS_ADMINISTRATOR, USER_ADMINISTRATOR], false, true),
            (&[USER_ADMINISTRATOR], &[AUTHENTICATION_ADMINISTRATOR], false, false),
            (&[USER_ADMINISTRATOR], &[GLOBAL_ADMINISTRATOR], false, false),
            (&[USER_ADMINISTRATOR], &[], true, false),
            (&[DIRECTORY_READERS], &[DIRECTORY_READERS], false, false),
        ];
        for (actor, target, group, allowed) in cases {
            assert_eq!(may_act_on(actor, target, *group), *allowed, "{actor:?} on {target:?} (group {group})");
        }
    }
}
