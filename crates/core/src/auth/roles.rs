//! Directory roles and Entra's rule for sensitive actions on privileged users: the seed of the role matrix.
//!
//! A sensitive action on a user (changing its password, user principal name, `accountEnabled`, phones or
//! other mails; deleting or restoring it) is allowed by the permission alone (`User.ReadWrite.All`) only on a
//! user who holds no directory role and belongs to no role-assignable group. On anyone else the caller must
//! also hold a role that Entra lets act on every role the target holds: Global Administrator and Privileged
//! Authentication Administrator act on everyone; Password, Helpdesk, Authentication and User Administrators
//! on the few roles Entra's table lists for each; an app's roles are those of its service principal.
//!
//! The roles an object holds are a list of role template ids in its document under [`ROLES_KEY`], never shown
//! by Graph as a property (role assignments are their own resource): the first tenant's administrator holds
//! Global Administrator, and the administration app Privileged Authentication Administrator.

use crate::store::ObjectRecord;
use serde_json::{json, Value};

pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
pub const PRIVILEGED_AUTHENTICATION_ADMINISTRATOR: &str = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13";
pub const USER_ADMINISTRATOR: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";
pub const GROUPS_ADMINISTRATOR: &str = "fdd7a751-b60b-444a-984c-02652fe8fa1c";
pub const LICENSE_ADMINISTRATOR: &str = "4d6ac14f-3453-41d0-bef9-a3e0c569773a";
pub const HELPDESK_ADMINISTRATOR: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";
pub const PASSWORD_ADMINISTRATOR: &str = "966707d0-3269-4727-9be2-8c3a10f19b9d";
pub const AUTHENTICATION_ADMINISTRATOR: &str = "c4e39bd9-1100-46d3-8c65-fb160da0071f";
pub const PRIVILEGED_ROLE_ADMINISTRATOR: &str = "e8611ab8-c189-46e8-94e1-60213ab1f814";
pub const GLOBAL_READER: &str = "f2ef992c-3afb-46b9-b7cf-a126ee74c451";
pub const CONDITIONAL_ACCESS_ADMINISTRATOR: &str = "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9";
pub const AUTHENTICATION_POLICY_ADMINISTRATOR: &str = "0526716b-113d-4c15-b2c8-68e3c22b9f80";
pub const SECURITY_ADMINISTRATOR: &str = "194ae4cb-b126-40b2-bd5b-6091b380977d";
pub const APPLICATION_ADMINISTRATOR: &str = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3";
pub const GUEST_INVITER: &str = "95e79109-95c0-4d8e-aee3-d01accf2d47b";
pub const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";
pub const DIRECTORY_WRITERS: &str = "9360feb5-f418-4baa-8175-e2a00bac4301";

/// A built-in directory role: its template id (also its role definition id), Entra's name and description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
}

/// The built-in roles Gatehouse knows, as Entra names them. What each allows is the authorization table's
/// ([`crate::auth::authorization::role_allows`]).
pub const ROLES: [Role; 17] = [
    Role { id: GLOBAL_ADMINISTRATOR, name: "Global Administrator", description: "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities." },
    Role { id: USER_ADMINISTRATOR, name: "User Administrator", description: "Can manage all aspects of users and groups, including resetting passwords for limited admins." },
    Role { id: GROUPS_ADMINISTRATOR, name: "Groups Administrator", description: "Members of this role can create/manage groups, create/manage groups settings like naming and expiration policies, and view groups activity and audit reports." },
    Role { id: LICENSE_ADMINISTRATOR, name: "License Administrator", description: "Can manage product licenses on users and groups." },
    Role { id: GUEST_INVITER, name: "Guest Inviter", description: "Can invite guest users independent of the 'members can invite guests' setting." },
    Role { id: HELPDESK_ADMINISTRATOR, name: "Helpdesk Administrator", description: "Can reset passwords for non-administrators and Helpdesk Administrators." },
    Role { id: PASSWORD_ADMINISTRATOR, name: "Password Administrator", description: "Can reset passwords for non-administrators and Password Administrators." },
    Role { id: AUTHENTICATION_ADMINISTRATOR, name: "Authentication Administrator", description: "Can access to view, set and reset authentication method information for any non-admin user." },
    Role { id: PRIVILEGED_AUTHENTICATION_ADMINISTRATOR, name: "Privileged Authentication Administrator", description: "Can access to view, set and reset authentication method information for any user (admin or non-admin)." },
    Role { id: PRIVILEGED_ROLE_ADMINISTRATOR, name: "Privileged Role Administrator", description: "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management." },
    Role { id: GLOBAL_READER, name: "Global Reader", description: "Can read everything that a Global Administrator can, but not update anything." },
    Role { id: CONDITIONAL_ACCESS_ADMINISTRATOR, name: "Conditional Access Administrator", description: "Can manage Conditional Access capabilities." },
    Role { id: AUTHENTICATION_POLICY_ADMINISTRATOR, name: "Authentication Policy Administrator", description: "Can create and manage the authentication methods policy, tenant-wide MFA settings, password protection policy, and verifiable credentials." },
    Role { id: SECURITY_ADMINISTRATOR, name: "Security Administrator", description: "Can read security information and reports, and manage configuration in Microsoft Entra ID and Office 365." },
    Role { id: APPLICATION_ADMINISTRATOR, name: "Application Administrator", description: "Can create and manage all aspects of app registrations and enterprise apps." },
    Role { id: DIRECTORY_READERS, name: "Directory Readers", description: "Can read basic directory information. Commonly used to grant directory read access to applications and guests." },
    Role { id: DIRECTORY_WRITERS, name: "Directory Writers", description: "Can read and write basic directory information. For granting access to applications, not intended for users." },
];

/// A built-in role by its template id.
pub fn role(id: &str) -> Option<&'static Role> {
    ROLES.iter().find(|r| r.id.eq_ignore_ascii_case(id))
}

/// The role every member holds implicitly (Entra's "User" role template), shown in a token's `wids`.
pub const MEMBER_ROLE: &str = "b79fbf4d-3ef9-4689-8143-76b194e85509";
/// The role every guest holds implicitly ("Guest User"), shown in a token's `wids`.
pub const GUEST_ROLE: &str = "10dae51f-b6af-4016-8d66-8c2a99b929b3";

pub use crate::schema::ROLES_KEY;

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

/// Whether a user is a guest (`userType` Guest).
pub fn is_guest(user: &ObjectRecord) -> bool {
    user.doc.get("userType").and_then(Value::as_str) == Some("Guest")
}

/// The directory roles a user holds as a token's `wids` names them: those assigned, and the implicit one of
/// members or guests.
pub fn wids(user: &ObjectRecord) -> Vec<String> {
    let implicit = if is_guest(user) { GUEST_ROLE } else { MEMBER_ROLE };
    roles_of(user).into_iter().chain([implicit]).map(str::to_owned).collect()
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
