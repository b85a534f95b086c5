//! Authorization: what a caller may do. Deny unless a grant allows.
//!
//! Application permissions are Microsoft Graph's app roles, with Graph's own ids, so a permission granted
//! here is granted the same way as in Entra: an app role assignment from the client's service principal to
//! the tenant's Microsoft Graph service principal.

use crate::auth::caller::Caller;
use crate::auth::roles::{may_act_on, GLOBAL_ADMINISTRATOR};
use crate::auth::scopes::Scope;
use crate::kernel::error::{Error, Result};
use crate::store::ObjectKind;

/// Microsoft Graph's application id, the same in every tenant.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// The resource a client-credentials request names for Graph.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// Whether a scope's resource part names Microsoft Graph (its URI or its app id).
pub fn is_graph(resource: &str) -> bool {
    let resource = resource.trim_end_matches('/');
    resource.eq_ignore_ascii_case(GRAPH_RESOURCE) || resource.eq_ignore_ascii_case(GRAPH_APP_ID)
}

/// One Graph application permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    UserReadAll,
    UserReadWriteAll,
    DirectoryReadAll,
    DirectoryReadWriteAll,
    ApplicationReadAll,
    ApplicationReadWriteAll,
    AppRoleAssignmentReadWriteAll,
    GroupReadAll,
    GroupReadWriteAll,
    GroupMemberReadAll,
    GroupMemberReadWriteAll,
    OrgContactReadAll,
    RoleManagementReadWriteDirectory,
    LicenseAssignmentReadWriteAll,
    OrganizationReadAll,
    OrganizationReadWriteAll,
    DomainReadAll,
    DomainReadWriteAll,
    DelegatedPermissionGrantReadWriteAll,
    RoleManagementReadDirectory,
    UserPasswordProfileReadWriteAll,
    UserAuthenticationMethodReadWriteAll,
    PolicyReadAll,
    PolicyReadWriteConditionalAccess,
    AuditLogReadAll,
    PolicyReadWriteAuthenticationMethod,
    UserInviteAll,
    PolicyReadWriteAuthorization,
    SynchronizationReadWriteAll,
    SynchronizationDataUserUpload,
}

impl Permission {
    pub const ALL: [Permission; 30] = [
        Permission::UserReadAll,
        Permission::UserReadWriteAll,
        Permission::DirectoryReadAll,
        Permission::DirectoryReadWriteAll,
        Permission::ApplicationReadAll,
        Permission::ApplicationReadWriteAll,
        Permission::AppRoleAssignmentReadWriteAll,
        Permission::GroupReadAll,
        Permission::GroupReadWriteAll,
        Permission::GroupMemberReadAll,
        Permission::GroupMemberReadWriteAll,
        Permission::OrgContactReadAll,
        Permission::RoleManagementReadWriteDirectory,
        Permission::LicenseAssignmentReadWriteAll,
        Permission::OrganizationReadAll,
        Permission::OrganizationReadWriteAll,
        Permission::DomainReadAll,
        Permission::DomainReadWriteAll,
        Permission::DelegatedPermissionGrantReadWriteAll,
        Permission::RoleManagementReadDirectory,
        Permission::UserPasswordProfileReadWriteAll,
        Permission::UserAuthenticationMethodReadWriteAll,
        Permission::PolicyReadAll,
        Permission::PolicyReadWriteConditionalAccess,
        Permission::AuditLogReadAll,
        Permission::PolicyReadWriteAuthenticationMethod,
        Permission::UserInviteAll,
        Permission::PolicyReadWriteAuthorization,
        Permission::SynchronizationReadWriteAll,
        Permission::SynchronizationDataUserUpload,
    ];

    /// The permission's name as it appears in a token's `roles` claim.
    pub fn name(self) -> &'static str {
        match self {
            Permission::UserReadAll => "User.Read.All",
            Permission::UserReadWriteAll => "User.ReadWrite.All",
            Permission::DirectoryReadAll => "Directory.Read.All",
            Permission::DirectoryReadWriteAll => "Directory.ReadWrite.All",
            Permission::ApplicationReadAll => "Application.Read.All",
            Permission::ApplicationReadWriteAll => "Application.ReadWrite.All",
            Permission::AppRoleAssignmentReadWriteAll => "AppRoleAssignment.ReadWrite.All",
            Permission::GroupReadAll => "Group.Read.All",
            Permission::GroupReadWriteAll => "Group.ReadWrite.All",
            Permission::GroupMemberReadAll => "GroupMember.Read.All",
            Permission::GroupMemberReadWriteAll => "GroupMember.ReadWrite.All",
            Permission::OrgContactReadAll => "OrgContact.Read.All",
            Permission::RoleManagementReadWriteDirectory => "RoleManagement.ReadWrite.Directory",
            Permission::LicenseAssignmentReadWriteAll => "LicenseAssignment.ReadWrite.All",
            Permission::OrganizationReadAll => "Organization.Read.All",
            Permission::OrganizationReadWriteAll => "Organization.ReadWrite.All",
            Permission::DomainReadAll => "Domain.Read.All",
            Permission::DomainReadWriteAll => "Domain.ReadWrite.All",
            Permission::DelegatedPermissionGrantReadWriteAll => "DelegatedPermissionGrant.ReadWrite.All",
            Permission::RoleManagementReadDirectory => "RoleManagement.Read.Directory",
            Permission::UserPasswordProfileReadWriteAll => "User-PasswordProfile.ReadWrite.All",
            Permission::UserAuthenticationMethodReadWriteAll => "UserAuthenticationMethod.ReadWrite.All",
            Permission::PolicyReadAll => "Policy.Read.All",
            Permission::PolicyReadWriteConditionalAccess => "Policy.ReadWrite.ConditionalAccess",
            Permission::AuditLogReadAll => "AuditLog.Read.All",
            Permission::PolicyReadWriteAuthenticationMethod => "Policy.ReadWrite.AuthenticationMethod",
            Permission::UserInviteAll => "User.Invite.All",
            Permission::PolicyReadWriteAuthorization => "Policy.ReadWrite.Authorization",
            Permission::SynchronizationReadWriteAll => "Synchronization.ReadWrite.All",
            Permission::SynchronizationDataUserUpload => "SynchronizationData-User.Upload",
        }
    }

    /// Graph's app role id for the permission (identical in every Entra tenant).
    pub fn app_role_id(self) -> &'static str {
        match self {
            Permission::UserReadAll => "df021288-bdef-4463-88db-98f22de89214",
            Permission::UserReadWriteAll => "741f803b-c850-494e-b5df-cde7c675a1ca",
            Permission::DirectoryReadAll => "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
            Permission::DirectoryReadWriteAll => "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
            Permission::ApplicationReadAll => "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
            Permission::ApplicationReadWriteAll => "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
            Permission::AppRoleAssignmentReadWriteAll => "06b708a9-e830-4db3-a914-8e69da51d44f",
            Permission::GroupReadAll => "5b567255-7703-4780-807c-7be8301ae99b",
            Permission::GroupReadWriteAll => "62a82d76-70ea-41e2-9197-370581804d09",
            Permission::GroupMemberReadAll => "98830695-27a2-44f7-8c18-0c3ebc9698f6",
            Permission::GroupMemberReadWriteAll => "dbaae8cf-10b5-4b86-a4a1-f871c94c6695",
            Permission::OrgContactReadAll => "e1a88a34-94c4-4418-be12-c87b00e26bea",
            Permission::RoleManagementReadWriteDirectory => "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8",
            Permission::LicenseAssignmentReadWriteAll => "5facf0c1-8979-4e95-abcf-ff3d079771c0",
            Permission::OrganizationReadAll => "498476ce-e0fe-48b0-b801-37ba7e2685c6",
            Permission::OrganizationReadWriteAll => "292d869f-3427-49a8-9dab-8c70152b74e9",
            Permission::DomainReadAll => "dbb9058a-0e50-45d7-ae91-66909b5d4664",
            Permission::DomainReadWriteAll => "7e05723c-0bb0-42da-be95-ae9f08a6e53c",
            Permission::DelegatedPermissionGrantReadWriteAll => "8e8e4742-1d95-4f68-9d56-6ee75648c72a",
            Permission::RoleManagementReadDirectory => "483bed4a-2ad3-4361-a73b-c83ccdbdc53c",
            Permission::UserPasswordProfileReadWriteAll => "cc117bb9-00cf-4eb8-b580-ea2a878fe8f7",
            Permission::UserAuthenticationMethodReadWriteAll => "50483e42-d915-4231-9639-7fdb7fd190e5",
            Permission::PolicyReadAll => "246dd0d5-5bd0-4def-940b-0421030a5b68",
            Permission::PolicyReadWriteConditionalAccess => "01c0a623-fc9b-48e9-b794-0756f8e8f067",
            Permission::AuditLogReadAll => "b0afded3-3588-46d8-8b3d-9842eff778da",
            Permission::PolicyReadWriteAuthenticationMethod => "29c18626-4985-4dcd-85c0-193eef327366",
            Permission::UserInviteAll => "09850681-111b-4a89-9bed-3f2cae46d706",
            Permission::PolicyReadWriteAuthorization => "fb221be6-99f2-473f-bd32-01c6a0e9ca3b",
            Permission::SynchronizationReadWriteAll => "9b50c33d-700f-43b1-b2eb-87e89b703581",
            Permission::SynchronizationDataUserUpload => "db31e92a-b9ea-4d87-bf6a-75a37a9ca35a",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Permission::UserReadAll => "Read all users' full profiles",
            Permission::UserReadWriteAll => "Read and write all users' full profiles",
            Permission::DirectoryReadAll => "Read directory data",
            Permission::DirectoryReadWriteAll => "Read and write directory data",
            Permission::ApplicationReadAll => "Read all applications",
            Permission::ApplicationReadWriteAll => "Read and write all applications",
            Permission::AppRoleAssignmentReadWriteAll => "Manage app permission grants and app role assignments",
            Permission::GroupReadAll => "Read all groups",
            Permission::GroupReadWriteAll => "Read and write all groups",
            Permission::GroupMemberReadAll => "Read all group memberships",
            Permission::GroupMemberReadWriteAll => "Read and write all group memberships",
            Permission::OrgContactReadAll => "Read organizational contacts",
            Permission::RoleManagementReadWriteDirectory => "Read and write all directory RBAC settings",
            Permission::LicenseAssignmentReadWriteAll => "Manage all license assignments",
            Permission::OrganizationReadAll => "Read organization information",
            Permission::OrganizationReadWriteAll => "Read and write organization information",
            Permission::DomainReadAll => "Read domains",
            Permission::DomainReadWriteAll => "Read and write domains",
            Permission::DelegatedPermissionGrantReadWriteAll => "Manage all delegated permission grants",
            Permission::RoleManagementReadDirectory => "Read all directory RBAC settings",
            Permission::UserPasswordProfileReadWriteAll => {
                "Read and write all password profiles and reset user passwords"
            }
            Permission::UserAuthenticationMethodReadWriteAll => "Read and write all users' authentication methods",
            Permission::PolicyReadAll => "Read your organization's policies",
            Permission::PolicyReadWriteConditionalAccess => {
                "Read and write your organization's conditional access policies"
            }
            Permission::AuditLogReadAll => "Read all audit log data",
            Permission::PolicyReadWriteAuthenticationMethod => "Read and write all authentication method policies",
            Permission::UserInviteAll => "Invite guest users to the organization",
            Permission::PolicyReadWriteAuthorization => "Read and write your organization's authorization policy",
            Permission::SynchronizationReadWriteAll => "Read and write all Azure AD synchronization data",
            Permission::SynchronizationDataUserUpload => "Upload user data to the identity synchronization service",
        }
    }

    pub fn from_name(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(name))
    }

    pub fn from_app_role_id(id: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.app_role_id().eq_ignore_ascii_case(id))
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of permissions, as carried by a token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Permissions(u32);

impl Permissions {
    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    pub fn insert(&mut self, permission: Permission) {
        self.0 |= permission.bit();
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.contains(*p))
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = Permissions::default();
        for p in iter {
            set.insert(p);
        }
        set
    }
}

/// What a use case is about to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ReadUsers,
    WriteUsers,
    ReadApplications,
    WriteApplications,
    GrantAppRoles,
    ReadGroups,
    WriteGroups,
    /// Read who belongs to (and owns) groups.
    ReadMemberships,
    /// Add and remove members and owners.
    WriteMemberships,
    /// Change the members of a role-assignable group, on top of [`Action::WriteMemberships`].
    WriteRoleAssignableMemberships,
    ReadContacts,
    WriteContacts,
    /// Assign and remove licenses, directly or to groups.
    AssignLicenses,
    /// Read the organization's subscriptions.
    ReadOrganization,
    /// Read the organization itself: its profile, country and verified domains (`/organization`).
    ReadOrganizationProfile,
    /// Add, change and retire subscriptions; change the organization's settings.
    WriteOrganization,
    /// Read the tenant's domains and their verification records.
    ReadDomains,
    /// Add, verify, change and remove domains.
    WriteDomains,
    /// Read the delegated permission grants (consent).
    ReadPermissionGrants,
    /// Grant, change and revoke delegated permissions on behalf of users (admin consent).
    WritePermissionGrants,
    /// Change one's own password, proving the current one (`changePassword`): only a signed-in user, for
    /// themselves, with `Directory.AccessAsUser.All`.
    ChangeOwnPassword,
    /// Set or reset another user's password (`passwordProfile`).
    ResetPasswords,
    /// End a user's sign-in sessions (`revokeSignInSessions`).
    RevokeSessions,
    /// Set a user's `usageLocation` alone (what licensing needs).
    WriteUsageLocation,
    /// Read role definitions, role assignments and directory roles.
    ReadRoles,
    /// Assign and remove directory roles.
    WriteRoles,
    /// Read the tenant's directory settings (password rules).
    ReadDirectorySettings,
    /// Change the tenant's directory settings.
    WriteDirectorySettings,
    /// Read users' authentication methods.
    ReadAuthenticationMethods,
    /// Reset and remove users' authentication methods (a password's `resetPassword`).
    ManageAuthenticationMethods,
    /// Read Conditional Access policies and named locations, and ask what they would do (What If).
    ReadPolicies,
    /// Create, change and delete Conditional Access policies and named locations.
    WritePolicies,
    /// Read the sign-in and audit logs.
    ReadAuditLogs,
    /// Change the tenant's authentication methods policy.
    WriteAuthenticationMethodsPolicy,
    /// Invite people from outside as guests.
    InviteGuests,
    /// Change the tenant's authorization policy (who may invite, what guests may do).
    WriteAuthorizationPolicy,
    /// Share a resource (an application) with people who have no account, and revoke its links.
    ShareResources,
    /// Read provisioning jobs and their status.
    ReadSynchronization,
    /// Create, start, pause, restart and delete provisioning jobs and set their credentials.
    ManageSynchronization,
}

impl Action {
    /// The permissions any one of which allows the action.
    fn allowed_by(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Action::ReadUsers => &[UserReadAll, UserReadWriteAll, DirectoryReadAll, DirectoryReadWriteAll],
            Action::WriteUsers => &[UserReadWriteAll, DirectoryReadWriteAll],
            Action::ReadApplications => {
                &[ApplicationReadAll, ApplicationReadWriteAll, DirectoryReadAll, DirectoryReadWriteAll]
            }
            Action::WriteApplications | Action::ShareResources => &[ApplicationReadWriteAll],
            Action::GrantAppRoles => &[AppRoleAssignmentReadWriteAll],
            Action::ReadGroups => &[GroupReadAll, GroupReadWriteAll, DirectoryReadAll, DirectoryReadWriteAll],
            Action::WriteGroups => &[GroupReadWriteAll, DirectoryReadWriteAll],
            Action::ReadMemberships => &[
                GroupMemberReadAll,
                GroupMemberReadWriteAll,
                GroupReadAll,
                GroupReadWriteAll,
                DirectoryReadAll,
                DirectoryReadWriteAll,
            ],
            Action::WriteMemberships => &[GroupMemberReadWriteAll, GroupReadWriteAll, DirectoryReadWriteAll],
            Action::WriteRoleAssignableMemberships => &[RoleManagementReadWriteDirectory],
            Action::ReadContacts => &[OrgContactReadAll, DirectoryReadAll, DirectoryReadWriteAll],
            Action::WriteContacts => &[DirectoryReadWriteAll],
            Action::AssignLicenses => &[LicenseAssignmentReadWriteAll, UserReadWriteAll, DirectoryReadWriteAll],
            Action::ReadOrganization => &[
                OrganizationReadAll,
                OrganizationReadWriteAll,
                LicenseAssignmentReadWriteAll,
                DirectoryReadAll,
                DirectoryReadWriteAll,
            ],
            Action::ReadOrganizationProfile => {
                &[OrganizationReadAll, OrganizationReadWriteAll, DirectoryReadAll, DirectoryReadWriteAll]
            }
            Action::WriteOrganization => &[OrganizationReadWriteAll],
            Action::ReadDomains => &[DomainReadAll, DomainReadWriteAll, DirectoryReadAll, DirectoryReadWriteAll],
            Action::WriteDomains => &[DomainReadWriteAll],
            Action::ReadPermissionGrants => {
                &[DelegatedPermissionGrantReadWriteAll, DirectoryReadAll, DirectoryReadWriteAll]
            }
            Action::WritePermissionGrants => &[DelegatedPermissionGrantReadWriteAll],
            Action::ChangeOwnPassword => &[],
            Action::ResetPasswords => &[UserPasswordProfileReadWriteAll, UserReadWriteAll, DirectoryReadWriteAll],
            Action::RevokeSessions => &[UserReadWriteAll, DirectoryReadWriteAll],
            Action::WriteUsageLocation => &[UserReadWriteAll, DirectoryReadWriteAll],
            Action::ReadRoles => &[
                RoleManagementReadDirectory,
                RoleManagementReadWriteDirectory,
                DirectoryReadAll,
                DirectoryReadWriteAll,
            ],
            Action::WriteRoles => &[RoleManagementReadWriteDirectory],
            Action::ReadDirectorySettings => &[DirectoryReadAll, DirectoryReadWriteAll],
            Action::WriteDirectorySettings => &[DirectoryReadWriteAll],
            Action::ReadAuthenticationMethods | Action::ManageAuthenticationMethods => {
                &[UserAuthenticationMethodReadWriteAll]
            }
            Action::ReadPolicies => &[
                PolicyReadAll,
                PolicyReadWriteConditionalAccess,
                PolicyReadWriteAuthenticationMethod,
                PolicyReadWriteAuthorization,
            ],
            Action::WriteAuthorizationPolicy => &[PolicyReadWriteAuthorization],
            Action::WriteAuthenticationMethodsPolicy => &[PolicyReadWriteAuthenticationMethod],
            Action::InviteGuests => &[UserInviteAll, UserReadWriteAll, DirectoryReadWriteAll],
            Action::WritePolicies => &[PolicyReadWriteConditionalAccess],
            Action::ReadAuditLogs => &[AuditLogReadAll],
            Action::ReadSynchronization => &[SynchronizationReadWriteAll, ApplicationReadAll, ApplicationReadWriteAll],
            Action::ManageSynchronization => &[SynchronizationReadWriteAll, ApplicationReadWriteAll],
        }
    }

    /// Every action, for tables and tests that go through them all.
    pub const ALL: [Action; 39] = [
        Action::ReadUsers,
        Action::WriteUsers,
        Action::ReadApplications,
        Action::WriteApplications,
        Action::GrantAppRoles,
        Action::ReadGroups,
        Action::WriteGroups,
        Action::ReadMemberships,
        Action::WriteMemberships,
        Action::WriteRoleAssignableMemberships,
        Action::ReadContacts,
        Action::WriteContacts,
        Action::AssignLicenses,
        Action::ReadOrganization,
        Action::ReadOrganizationProfile,
        Action::WriteOrganization,
        Action::ReadDomains,
        Action::WriteDomains,
        Action::ReadPermissionGrants,
        Action::WritePermissionGrants,
        Action::ChangeOwnPassword,
        Action::ResetPasswords,
        Action::RevokeSessions,
        Action::WriteUsageLocation,
        Action::ReadRoles,
        Action::WriteRoles,
        Action::ReadDirectorySettings,
        Action::WriteDirectorySettings,
        Action::ReadAuthenticationMethods,
        Action::ManageAuthenticationMethods,
        Action::ReadPolicies,
        Action::WritePolicies,
        Action::ReadAuditLogs,
        Action::WriteAuthenticationMethodsPolicy,
        Action::InviteGuests,
        Action::WriteAuthorizationPolicy,
        Action::ShareResources,
        Action::ReadSynchronization,
        Action::ManageSynchronization,
    ];

    /// The actions on a target: the action itself, and what the target adds (a role-assignable group's
    /// members and settings are role management).
    fn needed(self, target: &Target<'_>) -> impl Iterator<Item = Action> {
        let extra = match target {
            Target::Group { role_assignable: true }
                if matches!(self, Action::WriteMemberships | Action::WriteGroups) =>
            {
                Some(Action::WriteRoleAssignableMemberships)
            }
            _ => None,
        };
        std::iter::once(self).chain(extra)
    }
}

/// What every member may do (Entra's default user permissions): read the directory — users, groups and their
/// members, contacts, applications, the organization's profile and domains, and directory roles.
const MEMBER_DEFAULTS: &[Action] = &[
    Action::ReadUsers,
    Action::ReadGroups,
    Action::ReadMemberships,
    Action::ReadContacts,
    Action::ReadApplications,
    Action::ReadOrganizationProfile,
    Action::ReadDomains,
    Action::ReadRoles,
];

/// What a guest with limited access (Entra's Guest User role, the default) reads: a user, a group, a group's
/// members or an object's groups that it names, and the organization's profile — never a whole collection.
const LIMITED_GUEST_DEFAULTS: &[Action] =
    &[Action::ReadUsers, Action::ReadGroups, Action::ReadMemberships, Action::ReadOrganizationProfile];

/// Who a signed-in person is to the directory's default permissions: a member, or a guest with the access the
/// tenant's authorization policy gives guests (`guestUserRoleId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// A member: Entra's default user permissions ([`MEMBER_DEFAULTS`]).
    Member,
    /// A guest with the same access as members (the User role).
    GuestAsMember,
    /// A guest with limited access (Guest User, Entra's default): [`LIMITED_GUEST_DEFAULTS`].
    LimitedGuest,
    /// A guest restricted to their own objects (Restricted Guest User): their profile and their groups.
    RestrictedGuest,
}

impl Standing {
    pub fn is_guest(self) -> bool {
        self != Standing::Member
    }
}

/// Everything there is to read (Global Reader).
const EVERY_READ: &[Action] = &[
    Action::ReadUsers,
    Action::ReadGroups,
    Action::ReadMemberships,
    Action::ReadContacts,
    Action::ReadApplications,
    Action::ReadOrganization,
    Action::ReadOrganizationProfile,
    Action::ReadDomains,
    Action::ReadPermissionGrants,
    Action::ReadRoles,
    Action::ReadDirectorySettings,
    Action::ReadAuthenticationMethods,
    Action::ReadPolicies,
    Action::ReadAuditLogs,
    Action::ReadSynchronization,
];

/// The role table: what each built-in directory role allows its holders beyond a member's defaults, from
/// Entra's permissions reference as far as Gatehouse has the actions (Conditional Access, invitations and
/// authentication methods join their roles with the issues that build them). Global Administrator allows
/// everything; who may act on which privileged user is [`may_act_on`]'s, on top of this.
const ROLE_TABLE: &[(&str, &[Action])] = {
    use crate::auth::roles::*;
    use Action::*;
    &[
        (GLOBAL_READER, EVERY_READ),
        (DIRECTORY_READERS, MEMBER_DEFAULTS),
        (DIRECTORY_WRITERS, &[WriteUsers, WriteGroups, WriteMemberships, WriteUsageLocation]),
        (
            USER_ADMINISTRATOR,
            &[
                WriteUsers,
                ResetPasswords,
                RevokeSessions,
                WriteUsageLocation,
                WriteGroups,
                WriteMemberships,
                AssignLicenses,
                ReadOrganization,
                InviteGuests,
            ],
        ),
        (GROUPS_ADMINISTRATOR, &[WriteGroups, WriteMemberships]),
        (LICENSE_ADMINISTRATOR, &[AssignLicenses, WriteUsageLocation, ReadOrganization]),
        (HELPDESK_ADMINISTRATOR, &[ResetPasswords, RevokeSessions]),
        (PASSWORD_ADMINISTRATOR, &[ResetPasswords]),
        (
            AUTHENTICATION_ADMINISTRATOR,
            &[ResetPasswords, RevokeSessions, ReadAuthenticationMethods, ManageAuthenticationMethods],
        ),
        (
            PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
            &[ResetPasswords, RevokeSessions, ReadAuthenticationMethods, ManageAuthenticationMethods],
        ),
        (
            PRIVILEGED_ROLE_ADMINISTRATOR,
            &[WriteRoles, WriteRoleAssignableMemberships, ReadPermissionGrants, WritePermissionGrants],
        ),
        (
            APPLICATION_ADMINISTRATOR,
            &[
                WriteApplications,
                GrantAppRoles,
                ReadPermissionGrants,
                WritePermissionGrants,
                ShareResources,
                ReadSynchronization,
                ManageSynchronization,
            ],
        ),
        (
            SECURITY_ADMINISTRATOR,
            &[
                ReadPermissionGrants,
                ReadDirectorySettings,
                WriteDirectorySettings,
                ReadPolicies,
                WritePolicies,
                ReadAuditLogs,
            ],
        ),
        (CONDITIONAL_ACCESS_ADMINISTRATOR, &[ReadPolicies, WritePolicies]),
        (AUTHENTICATION_POLICY_ADMINISTRATOR, &[ReadPolicies, WriteAuthenticationMethodsPolicy]),
        (GUEST_INVITER, &[InviteGuests]),
    ]
};

/// Whether holding `role` allows `action` (beyond a member's defaults).
pub fn role_allows(role: &str, action: Action) -> bool {
    role == GLOBAL_ADMINISTRATOR
        || ROLE_TABLE.iter().any(|(id, actions)| id.eq_ignore_ascii_case(role) && actions.contains(&action))
}

/// The read and the write action on objects of a kind, for use cases that take objects of several kinds
/// (an app role assignment's principal, a deleted item). Every kind is named: a new kind must be given its
/// actions here.
pub fn object_actions(kind: ObjectKind) -> (Action, Action) {
    match kind {
        ObjectKind::User => (Action::ReadUsers, Action::WriteUsers),
        ObjectKind::Group => (Action::ReadGroups, Action::WriteGroups),
        ObjectKind::Application | ObjectKind::ServicePrincipal => (Action::ReadApplications, Action::WriteApplications),
        ObjectKind::Contact => (Action::ReadContacts, Action::WriteContacts),
        ObjectKind::Subscription => (Action::ReadOrganization, Action::WriteOrganization),
    }
}

/// What an action is done to, as far as the decision depends on it.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// The tenant, a collection, or an object whose kind the action names: the action alone decides.
    Tenant,
    /// A group whose members or owners change: a role-assignable group's need role management as well.
    Group { role_assignable: bool },
    /// A user on whom a sensitive action is done (deleting, restoring, purging, changing a password or a
    /// sensitive property): who may act on a privileged user is Entra's rule ([`may_act_on`]).
    SensitiveUser(&'a Privilege<'a>),
    /// The signed-in user's own profile (`/me`), and their own groups.
    OwnProfile,
    /// A whole collection (listing users or groups): what a guest with limited access never reads.
    Collection,
    /// A resource (an application) the signed-in member is assigned to, which they may share.
    AssignedResource,
}

/// The facts Entra's rule on sensitive actions reads: the caller's directory roles, the target's, and
/// whether the target belongs to a role-assignable group.
#[derive(Debug, Clone, Default)]
pub struct Privilege<'a> {
    pub actor_roles: Vec<&'a str>,
    pub target_roles: Vec<&'a str>,
    pub in_role_assignable_group: bool,
}

/// The one authorization decision: allows `action` on `target` or returns `Forbidden`. An application needs
/// one of the permissions of the action and of what the target adds ([`Action::needed`]). A signed-in user's
/// client needs the same of the permissions its scopes reach to ([`crate::auth::scopes::Scopes::reach`]), and
/// the user must be allowed each of them by a member's defaults or a role they hold ([`user_may`]); reading
/// one's own profile needs any Graph scope (`User.Read` at least). A sensitive action on a privileged user
/// is Entra's rule on top ([`may_act_on`]). The system caller may do anything in its own tenant.
pub fn decide(caller: &Caller, action: Action, target: &Target<'_>) -> Result<()> {
    let allowed = match caller {
        Caller::System { .. } | Caller::SelfService { .. } => true,
        Caller::App { permissions, .. } => permitted(*permissions, action, target),
        Caller::User { scopes, roles, standing, .. } => match target {
            Target::OwnProfile => match action {
                Action::ReadUsers | Action::ReadMemberships => scopes.iter().any(|s| !s.is_openid()),
                Action::ChangeOwnPassword => scopes.contains(Scope::DirectoryAccessAsUserAll),
                _ => false,
            },
            _ => {
                permitted(scopes.reach(), action, target)
                    && action.needed(target).all(|needed| user_may(roles, *standing, needed, target))
            }
        },
    };
    if allowed {
        Ok(())
    } else {
        Err(Error::forbidden())
    }
}

/// Whether `permissions` allow `action` on `target`.
fn permitted(permissions: Permissions, action: Action, target: &Target<'_>) -> bool {
    let granted = |action: Action| action.allowed_by().iter().any(|p| permissions.contains(*p));
    action.needed(target).all(granted)
        && match target {
            Target::SensitiveUser(privilege) => {
                may_act_on(&privilege.actor_roles, &privilege.target_roles, privilege.in_role_assignable_group)
            }
            Target::Tenant
            | Target::OwnProfile
            | Target::Collection
            | Target::AssignedResource
            | Target::Group { .. } => true,
        }
}

/// What a signed-in user may do to `target`, whatever the client's scopes: what the roles they hold allow
/// ([`role_allows`]), and the defaults of their [`Standing`]: a member's (and a guest's given as much) are
/// Entra's default user permissions ([`MEMBER_DEFAULTS`]: read the directory, change nothing of others); a
/// guest with limited access reads what it names, never a collection; a restricted guest nothing beyond
/// their own profile ([`Target::OwnProfile`]). A member shares the resources they are assigned to. Anyone may ask to invite guests: the tenant's authorization
/// policy decides who does.
pub fn user_may(roles: &[String], standing: Standing, action: Action, target: &Target<'_>) -> bool {
    let default = action == Action::InviteGuests
        || match standing {
            Standing::Member if action == Action::ShareResources => matches!(target, Target::AssignedResource),
            Standing::Member | Standing::GuestAsMember => MEMBER_DEFAULTS.contains(&action),
            Standing::LimitedGuest => LIMITED_GUEST_DEFAULTS.contains(&action) && !matches!(target, Target::Collection),
            Standing::RestrictedGuest => false,
        };
    default || roles.iter().any(|role| role_allows(role, action))
}

/// [`decide`] for an action whose target adds nothing ([`Target::Tenant`]).
pub fn require(caller: &Caller, action: Action) -> Result<()> {
    decide(caller, action, &Target::Tenant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn app(perms: &[Permission]) -> Caller {
        Caller::App {
            tenant: Uuid::nil(),
            service_principal: Uuid::nil(),
            app_id: Uuid::nil(),
            permissions: perms.iter().copied().collect(),
        }
    }

    #[test]
    fn the_matrix_denies_unless_a_permission_allows() {
        use Action::*;
        use Permission::*;
        let cases: &[(&[Permission], Action, bool)] = &[
            (&[], ReadUsers, false),
            (&[UserReadAll], ReadUsers, true),
            (&[UserReadAll], WriteUsers, false),
            (&[DirectoryReadAll], WriteUsers, false),
            (&[DirectoryReadAll], ReadUsers, true),
            (&[UserReadWriteAll], WriteUsers, true),
            (&[DirectoryReadWriteAll], WriteUsers, true),
            (&[DirectoryReadWriteAll], WriteApplications, false),
            (&[ApplicationReadWriteAll], WriteApplications, true),
            (&[ApplicationReadWriteAll], ReadUsers, false),
            (&[DirectoryReadAll], ReadApplications, true),
            (&[UserReadWriteAll], GrantAppRoles, false),
            (&[AppRoleAssignmentReadWriteAll], GrantAppRoles, true),
            (&[GroupReadAll], ReadGroups, true),
            (&[GroupReadAll], WriteGroups, false),
            (&[GroupReadAll], ReadMemberships, true),
            (&[GroupMemberReadAll], ReadGroups, false),
            (&[GroupMemberReadAll], ReadMemberships, true),
            (&[GroupMemberReadAll], WriteMemberships, false),
            (&[GroupMemberReadWriteAll], WriteMemberships, true),
            (&[GroupMemberReadWriteAll], WriteGroups, false),
            (&[GroupReadWriteAll], WriteMemberships, true),
            (&[DirectoryReadWriteAll], WriteRoleAssignableMemberships, false),
            (&[RoleManagementReadWriteDirectory], WriteRoleAssignableMemberships, true),
            (&[OrgContactReadAll], ReadContacts, true),
            (&[OrgContactReadAll], WriteContacts, false),
            (&[UserReadAll], ReadContacts, false),
            (&[DirectoryReadWriteAll], WriteContacts, true),
            (&[LicenseAssignmentReadWriteAll], AssignLicenses, true),
            (&[GroupReadWriteAll], AssignLicenses, false),
            (&[OrganizationReadAll], ReadOrganization, true),
            (&[OrganizationReadAll], WriteOrganization, false),
            (&[DirectoryReadWriteAll], WriteOrganization, false),
            (&[OrganizationReadWriteAll], WriteOrganization, true),
            (&[DirectoryReadAll], ReadOrganizationProfile, true),
            (&[LicenseAssignmentReadWriteAll], ReadOrganizationProfile, false),
            (&[UserReadAll], ReadOrganizationProfile, false),
            (&[DomainReadAll], ReadDomains, true),
            (&[DirectoryReadAll], ReadDomains, true),
            (&[DomainReadAll], WriteDomains, false),
            (&[DirectoryReadWriteAll], WriteDomains, false),
            (&[OrganizationReadWriteAll], WriteDomains, false),
            (&[DomainReadWriteAll], WriteDomains, true),
            (&[DirectoryReadAll], ReadPermissionGrants, true),
            (&[DirectoryReadWriteAll], WritePermissionGrants, false),
            (&[AppRoleAssignmentReadWriteAll], WritePermissionGrants, false),
            (&[DelegatedPermissionGrantReadWriteAll], WritePermissionGrants, true),
        ];
        for (perms, action, allowed) in cases {
            assert_eq!(require(&app(perms), *action).is_ok(), *allowed, "{perms:?} {action:?}");
        }
    }

    #[test]
    fn targets_add_to_what_the_action_needs() {
        use crate::auth::roles::GLOBAL_ADMINISTRATOR;
        use Permission::*;
        let plain = Target::Group { role_assignable: false };
        let role_assignable = Target::Group { role_assignable: true };
        let admin = Privilege { target_roles: vec![GLOBAL_ADMINISTRATOR], ..Privilege::default() };
        let by_peer = Privilege {
            actor_roles: vec![GLOBAL_ADMINISTRATOR],
            target_roles: vec![GLOBAL_ADMINISTRATOR],
            in_role_assignable_group: false,
        };
        let in_group = Privilege { in_role_assignable_group: true, ..Privilege::default() };
        let nobody = Privilege::default();
        let cases: &[(&[Permission], Action, Target<'_>, bool)] = &[
            (&[GroupMemberReadWriteAll], Action::WriteMemberships, plain, true),
            (&[GroupMemberReadWriteAll], Action::WriteMemberships, role_assignable, false),
            (
                &[GroupMemberReadWriteAll, RoleManagementReadWriteDirectory],
                Action::WriteMemberships,
                role_assignable,
                true,
            ),
            (&[RoleManagementReadWriteDirectory], Action::WriteMemberships, role_assignable, false),
            (&[GroupReadAll], Action::ReadMemberships, role_assignable, true),
            (&[UserReadWriteAll], Action::WriteUsers, Target::SensitiveUser(&nobody), true),
            (&[UserReadWriteAll], Action::WriteUsers, Target::SensitiveUser(&admin), false),
            (&[UserReadWriteAll], Action::WriteUsers, Target::SensitiveUser(&by_peer), true),
            (&[UserReadAll], Action::WriteUsers, Target::SensitiveUser(&by_peer), false),
            (&[UserReadWriteAll], Action::WriteUsers, Target::SensitiveUser(&in_group), false),
        ];
        for (perms, action, target, allowed) in cases {
            assert_eq!(decide(&app(perms), *action, target).is_ok(), *allowed, "{perms:?} {action:?} {target:?}");
            assert!(decide(&Caller::System { tenant: Uuid::nil() }, *action, target).is_ok(), "the system may");
        }
    }

    #[test]
    fn a_signed_in_user_may_do_what_both_the_scopes_and_the_person_allow() {
        use crate::auth::scopes::Scopes;
        use Action::*;
        let user = |scopes: &str, roles: &[&str], standing: Standing| Caller::User {
            tenant: Uuid::nil(),
            user: Uuid::nil(),
            app_id: Uuid::nil(),
            scopes: Scopes::parse(scopes),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            standing,
        };
        let member = |scopes: &str| user(scopes, &[], Standing::Member);
        let admin = |scopes: &str| user(scopes, &[GLOBAL_ADMINISTRATOR], Standing::Member);
        let guest = |scopes: &str| user(scopes, &[], Standing::RestrictedGuest);
        let limited = |scopes: &str| user(scopes, &[], Standing::LimitedGuest);
        let as_member = |scopes: &str| user(scopes, &[], Standing::GuestAsMember);
        let cases: &[(Caller, Action, Target<'_>, bool)] = &[
            (member("User.Read"), ReadUsers, Target::OwnProfile, true),
            (guest("User.Read"), ReadUsers, Target::OwnProfile, true),
            (member("openid profile"), ReadUsers, Target::OwnProfile, false),
            (member(""), ReadUsers, Target::OwnProfile, false),
            (member("User.ReadWrite.All"), WriteUsers, Target::OwnProfile, false),
            (member("User.Read"), ReadUsers, Target::Tenant, false),
            (member("User.Read.All"), ReadUsers, Target::Tenant, true),
            (member("Directory.Read.All"), ReadGroups, Target::Tenant, true),
            (member("Directory.ReadWrite.All"), WriteUsers, Target::Tenant, false),
            (member("Directory.ReadWrite.All"), WriteGroups, Target::Tenant, false),
            (guest("Directory.Read.All"), ReadUsers, Target::Tenant, false),
            (guest("User.Read"), ReadMemberships, Target::OwnProfile, true),
            (guest("Directory.Read.All"), ReadGroups, Target::Tenant, false),
            (limited("Directory.Read.All"), ReadUsers, Target::Tenant, true),
            (limited("Directory.Read.All"), ReadUsers, Target::Collection, false),
            (limited("Directory.Read.All"), ReadGroups, Target::Collection, false),
            (limited("Directory.Read.All"), ReadContacts, Target::Tenant, false),
            (limited("User.Read"), ReadUsers, Target::Tenant, false),
            (as_member("Directory.Read.All"), ReadUsers, Target::Collection, true),
            (as_member("Directory.ReadWrite.All"), WriteUsers, Target::Tenant, false),
            (member("Directory.Read.All"), ReadUsers, Target::Collection, true),
            (member("Application.ReadWrite.All"), ShareResources, Target::AssignedResource, true),
            (member("Application.ReadWrite.All"), ShareResources, Target::Tenant, false),
            (member("User.Read"), ShareResources, Target::AssignedResource, false),
            (as_member("Application.ReadWrite.All"), ShareResources, Target::AssignedResource, false),
            (admin("Application.ReadWrite.All"), ShareResources, Target::Tenant, true),
            (admin("User.Read"), ReadUsers, Target::Tenant, false),
            (admin("User.ReadWrite.All"), WriteUsers, Target::Tenant, true),
            (admin("Directory.ReadWrite.All"), WriteDomains, Target::Tenant, false),
            (member("User.Read"), ChangeOwnPassword, Target::OwnProfile, false),
            (member("Directory.AccessAsUser.All"), ChangeOwnPassword, Target::OwnProfile, true),
            (admin("Directory.AccessAsUser.All"), ChangeOwnPassword, Target::Tenant, false),
        ];
        for (caller, action, target, allowed) in cases {
            assert_eq!(decide(caller, *action, target).is_ok(), *allowed, "{caller:?} {action:?} {target:?}");
        }
    }

    /// Cells of the role matrix written by hand from Microsoft's permissions reference, apart from
    /// [`ROLE_TABLE`]: what a holder of each role may do with a token that reaches everything.
    #[test]
    fn the_role_table_says_what_entras_documentation_says() {
        use crate::auth::roles::*;
        use Action::*;
        let cells: &[(&str, Action, bool)] = &[
            (GLOBAL_ADMINISTRATOR, WriteUsers, true),
            (GLOBAL_ADMINISTRATOR, WriteRoles, true),
            (GLOBAL_ADMINISTRATOR, WriteDomains, true),
            (GLOBAL_ADMINISTRATOR, WriteRoleAssignableMemberships, true),
            (GLOBAL_READER, ReadUsers, true),
            (GLOBAL_READER, ReadOrganization, true),
            (GLOBAL_READER, ReadPermissionGrants, true),
            (GLOBAL_READER, ReadRoles, true),
            (GLOBAL_READER, WriteUsers, false),
            (GLOBAL_READER, WriteGroups, false),
            (GLOBAL_READER, ResetPasswords, false),
            (GLOBAL_READER, AssignLicenses, false),
            (USER_ADMINISTRATOR, WriteUsers, true),
            (USER_ADMINISTRATOR, ResetPasswords, true),
            (USER_ADMINISTRATOR, RevokeSessions, true),
            (USER_ADMINISTRATOR, WriteGroups, true),
            (USER_ADMINISTRATOR, WriteMemberships, true),
            (USER_ADMINISTRATOR, AssignLicenses, true),
            (USER_ADMINISTRATOR, WriteUsageLocation, true),
            (USER_ADMINISTRATOR, WriteRoles, false),
            (USER_ADMINISTRATOR, WriteApplications, false),
            (USER_ADMINISTRATOR, WriteRoleAssignableMemberships, false),
            (GROUPS_ADMINISTRATOR, WriteGroups, true),
            (GROUPS_ADMINISTRATOR, WriteMemberships, true),
            (GROUPS_ADMINISTRATOR, WriteUsers, false),
            (GROUPS_ADMINISTRATOR, ResetPasswords, false),
            (GROUPS_ADMINISTRATOR, WriteRoleAssignableMemberships, false),
            (LICENSE_ADMINISTRATOR, AssignLicenses, true),
            (LICENSE_ADMINISTRATOR, WriteUsageLocation, true),
            (LICENSE_ADMINISTRATOR, ReadOrganization, true),
            (LICENSE_ADMINISTRATOR, WriteUsers, false),
            (LICENSE_ADMINISTRATOR, WriteGroups, false),
            (HELPDESK_ADMINISTRATOR, ResetPasswords, true),
            (HELPDESK_ADMINISTRATOR, RevokeSessions, true),
            (HELPDESK_ADMINISTRATOR, WriteUsers, false),
            (HELPDESK_ADMINISTRATOR, AssignLicenses, false),
            (PASSWORD_ADMINISTRATOR, ResetPasswords, true),
            (PASSWORD_ADMINISTRATOR, RevokeSessions, false),
            (PASSWORD_ADMINISTRATOR, WriteUsers, false),
            (AUTHENTICATION_ADMINISTRATOR, ResetPasswords, true),
            (AUTHENTICATION_ADMINISTRATOR, WriteUsers, false),
            (PRIVILEGED_AUTHENTICATION_ADMINISTRATOR, ResetPasswords, true),
            (PRIVILEGED_AUTHENTICATION_ADMINISTRATOR, WriteRoles, false),
            (PRIVILEGED_ROLE_ADMINISTRATOR, WriteRoles, true),
            (PRIVILEGED_ROLE_ADMINISTRATOR, WriteRoleAssignableMemberships, true),
            (PRIVILEGED_ROLE_ADMINISTRATOR, WritePermissionGrants, true),
            (PRIVILEGED_ROLE_ADMINISTRATOR, WriteUsers, false),
            (PRIVILEGED_ROLE_ADMINISTRATOR, ResetPasswords, false),
            (APPLICATION_ADMINISTRATOR, WriteApplications, true),
            (APPLICATION_ADMINISTRATOR, GrantAppRoles, true),
            (APPLICATION_ADMINISTRATOR, WritePermissionGrants, true),
            (APPLICATION_ADMINISTRATOR, WriteUsers, false),
            (APPLICATION_ADMINISTRATOR, WriteRoles, false),
            (DIRECTORY_READERS, ReadUsers, true),
            (DIRECTORY_READERS, ReadGroups, true),
            (DIRECTORY_READERS, WriteUsers, false),
            (DIRECTORY_WRITERS, WriteUsers, true),
            (DIRECTORY_WRITERS, WriteGroups, true),
            (DIRECTORY_WRITERS, ResetPasswords, false),
            (DIRECTORY_WRITERS, WriteRoles, false),
            (GUEST_INVITER, WriteUsers, false),
            (CONDITIONAL_ACCESS_ADMINISTRATOR, WriteUsers, false),
            (SECURITY_ADMINISTRATOR, WriteUsers, false),
            (SECURITY_ADMINISTRATOR, ReadPermissionGrants, true),
            (MEMBER_ROLE, ReadUsers, true),
            (MEMBER_ROLE, WriteUsers, false),
        ];
        assert!(cells.len() >= 60);
        for (role, action, allowed) in cells {
            let roles = vec![role.to_string()];
            let may = user_may(&roles, Standing::Member, *action, &Target::Tenant);
            assert_eq!(may, *allowed, "{:?} {action:?}", crate::auth::roles::role(role));
        }
        for role in ROLES {
            let roles = vec![role.id.to_owned()];
            for action in Action::ALL {
                let may = user_may(&roles, Standing::RestrictedGuest, action, &Target::Tenant);
                let own = action == InviteGuests || role_allows(role.id, action);
                assert!(!may || own, "a restricted guest's defaults are none");
            }
            let may = user_may(&roles, Standing::Member, ReadUsers, &Target::Tenant);
            assert!(may, "{}: every holder reads what members read", role.name);
        }
    }

    #[test]
    fn every_object_kind_has_its_actions() {
        assert!(
            require(&app(&Permission::ALL), Action::ChangeOwnPassword).is_err(),
            "no app changes a password as its own"
        );
        for kind in ObjectKind::ALL {
            let (read, write) = object_actions(kind);
            assert_ne!(read, write, "{kind:?}");
            let writer = app(write.allowed_by());
            assert!(require(&writer, write).is_ok(), "{kind:?}");
        }
    }

    #[test]
    fn permission_names_and_ids_round_trip() {
        for p in Permission::ALL {
            assert_eq!(Permission::from_name(p.name()), Some(p));
            assert_eq!(Permission::from_app_role_id(p.app_role_id()), Some(p));
        }
    }
}
