//! Microsoft Graph's delegated permissions (OAuth 2.0 scopes), with Graph's own ids, and the OpenID
//! Connect scopes. A delegated token's `scp` names them; what each allows is the application permission of
//! the same reach ([`Scope::reach`]), always intersected with what the signed-in user may do.

use crate::auth::authorization::Permission;

/// One delegated scope of Microsoft Graph, or an OpenID Connect scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    OpenId,
    Profile,
    Email,
    OfflineAccess,
    UserRead,
    UserReadBasicAll,
    UserReadAll,
    UserReadWriteAll,
    GroupReadAll,
    GroupReadWriteAll,
    GroupMemberReadAll,
    DirectoryReadAll,
    DirectoryReadWriteAll,
    DirectoryAccessAsUserAll,
    RoleManagementReadDirectory,
    RoleManagementReadWriteDirectory,
    UserPasswordProfileReadWriteAll,
    UserAuthenticationMethodReadWriteAll,
    PolicyReadAll,
    PolicyReadWriteConditionalAccess,
    AuditLogReadAll,
    PolicyReadWriteAuthenticationMethod,
    UserInviteAll,
    PolicyReadWriteAuthorization,
    ApplicationReadWriteAll,
}

impl Scope {
    pub const ALL: [Scope; 25] = [
        Scope::OpenId,
        Scope::Profile,
        Scope::Email,
        Scope::OfflineAccess,
        Scope::UserRead,
        Scope::UserReadBasicAll,
        Scope::UserReadAll,
        Scope::UserReadWriteAll,
        Scope::GroupReadAll,
        Scope::GroupReadWriteAll,
        Scope::GroupMemberReadAll,
        Scope::DirectoryReadAll,
        Scope::DirectoryReadWriteAll,
        Scope::DirectoryAccessAsUserAll,
        Scope::RoleManagementReadDirectory,
        Scope::RoleManagementReadWriteDirectory,
        Scope::UserPasswordProfileReadWriteAll,
        Scope::UserAuthenticationMethodReadWriteAll,
        Scope::PolicyReadAll,
        Scope::PolicyReadWriteConditionalAccess,
        Scope::AuditLogReadAll,
        Scope::PolicyReadWriteAuthenticationMethod,
        Scope::UserInviteAll,
        Scope::PolicyReadWriteAuthorization,
        Scope::ApplicationReadWriteAll,
    ];

    /// The scope's value, as in `scp` and in a request's `scope`.
    pub fn name(self) -> &'static str {
        match self {
            Scope::OpenId => "openid",
            Scope::Profile => "profile",
            Scope::Email => "email",
            Scope::OfflineAccess => "offline_access",
            Scope::UserRead => "User.Read",
            Scope::UserReadBasicAll => "User.ReadBasic.All",
            Scope::UserReadAll => "User.Read.All",
            Scope::UserReadWriteAll => "User.ReadWrite.All",
            Scope::GroupReadAll => "Group.Read.All",
            Scope::GroupReadWriteAll => "Group.ReadWrite.All",
            Scope::GroupMemberReadAll => "GroupMember.Read.All",
            Scope::DirectoryReadAll => "Directory.Read.All",
            Scope::DirectoryReadWriteAll => "Directory.ReadWrite.All",
            Scope::DirectoryAccessAsUserAll => "Directory.AccessAsUser.All",
            Scope::RoleManagementReadDirectory => "RoleManagement.Read.Directory",
            Scope::RoleManagementReadWriteDirectory => "RoleManagement.ReadWrite.Directory",
            Scope::UserPasswordProfileReadWriteAll => "User-PasswordProfile.ReadWrite.All",
            Scope::UserAuthenticationMethodReadWriteAll => "UserAuthenticationMethod.ReadWrite.All",
            Scope::PolicyReadAll => "Policy.Read.All",
            Scope::PolicyReadWriteConditionalAccess => "Policy.ReadWrite.ConditionalAccess",
            Scope::AuditLogReadAll => "AuditLog.Read.All",
            Scope::PolicyReadWriteAuthenticationMethod => "Policy.ReadWrite.AuthenticationMethod",
            Scope::UserInviteAll => "User.Invite.All",
            Scope::PolicyReadWriteAuthorization => "Policy.ReadWrite.Authorization",
            Scope::ApplicationReadWriteAll => "Application.ReadWrite.All",
        }
    }

    /// Graph's id for the scope (its `oauth2PermissionScopes` entry, the same in every Entra tenant).
    pub fn id(self) -> &'static str {
        match self {
            Scope::OpenId => "37f7f235-527c-4136-accd-4a02d197296e",
            Scope::Profile => "14dad69e-099b-42c9-810b-d002981feec1",
            Scope::Email => "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0",
            Scope::OfflineAccess => "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
            Scope::UserRead => "e1fe6dd8-ba31-4d61-89e7-88639da4683d",
            Scope::UserReadBasicAll => "b340eb25-3456-403f-be2f-af7a0d370277",
            Scope::UserReadAll => "a154be20-db9c-4678-8ab7-66f6cc099a59",
            Scope::UserReadWriteAll => "204e0828-b5ca-4ad8-b9f3-f32a958e7cc4",
            Scope::GroupReadAll => "5f8c59db-677d-491f-a6b8-5f174b11ec1d",
            Scope::GroupReadWriteAll => "4e46008b-f24c-477d-8fff-7bb4ec7aafe0",
            Scope::GroupMemberReadAll => "bc024368-1153-4739-b217-4326f2e966d0",
            Scope::DirectoryReadAll => "06da0dbc-49e2-44d2-8312-53f166ab848a",
            Scope::DirectoryReadWriteAll => "c5366453-9fb0-48a5-a156-24f0c49a4b84",
            Scope::DirectoryAccessAsUserAll => "0e263e50-5827-48a4-b97c-d940288653c7",
            Scope::RoleManagementReadDirectory => "741c54c3-0c1e-44a1-818b-3f97ab4e8c83",
            Scope::RoleManagementReadWriteDirectory => "d01b97e9-cbc0-49fe-810a-750afd5527a3",
            Scope::UserPasswordProfileReadWriteAll => "56760768-b641-451f-8906-e1b8ab31bca7",
            Scope::UserAuthenticationMethodReadWriteAll => "b7887744-6746-4312-813d-72daeaee7e2d",
            Scope::PolicyReadAll => "572fea84-0151-49b2-9301-11cb16974376",
            Scope::PolicyReadWriteConditionalAccess => "ad902697-1014-4ef5-81ef-2b4301988e8c",
            Scope::AuditLogReadAll => "e4c9e354-4dc5-45b8-9e7c-e1393b0b1a20",
            Scope::PolicyReadWriteAuthenticationMethod => "7e823077-d88e-468f-a337-e18f1f0e6c7c",
            Scope::UserInviteAll => "63dd7cd9-b489-4adf-a28c-ac38b9a0f962",
            Scope::PolicyReadWriteAuthorization => "edd3c878-b384-41fd-95ad-e7407dd775be",
            Scope::ApplicationReadWriteAll => "bdfbf15f-ee85-4955-8675-146e8e5296b5",
        }
    }

    /// Whether only an administrator may consent to the scope (Entra's `type: Admin`).
    pub fn admin_consent_required(self) -> bool {
        !matches!(
            self,
            Scope::OpenId
                | Scope::Profile
                | Scope::Email
                | Scope::OfflineAccess
                | Scope::UserRead
                | Scope::UserReadBasicAll
        )
    }

    /// The scopes about the sign-in itself rather than an API (OpenID Connect's).
    pub fn is_openid(self) -> bool {
        matches!(self, Scope::OpenId | Scope::Profile | Scope::Email | Scope::OfflineAccess)
    }

    /// The application permission whose reach the scope has on the directory, if it reaches past the
    /// signed-in user's own profile. `User.ReadBasic.All` reads every user as `User.Read.All` does here: the
    /// basic profile is what Gatehouse's users are. `Directory.AccessAsUser.All` reaches every permission
    /// ([`Scopes::reach`]), which leaves what the user may do.
    pub fn reach(self) -> Option<Permission> {
        match self {
            Scope::UserReadBasicAll | Scope::UserReadAll => Some(Permission::UserReadAll),
            Scope::UserReadWriteAll => Some(Permission::UserReadWriteAll),
            Scope::GroupReadAll => Some(Permission::GroupReadAll),
            Scope::GroupReadWriteAll => Some(Permission::GroupReadWriteAll),
            Scope::GroupMemberReadAll => Some(Permission::GroupMemberReadAll),
            Scope::DirectoryReadAll => Some(Permission::DirectoryReadAll),
            Scope::DirectoryReadWriteAll | Scope::DirectoryAccessAsUserAll => Some(Permission::DirectoryReadWriteAll),
            Scope::RoleManagementReadDirectory => Some(Permission::RoleManagementReadDirectory),
            Scope::RoleManagementReadWriteDirectory => Some(Permission::RoleManagementReadWriteDirectory),
            Scope::UserPasswordProfileReadWriteAll => Some(Permission::UserPasswordProfileReadWriteAll),
            Scope::UserAuthenticationMethodReadWriteAll => Some(Permission::UserAuthenticationMethodReadWriteAll),
            Scope::PolicyReadAll => Some(Permission::PolicyReadAll),
            Scope::PolicyReadWriteConditionalAccess => Some(Permission::PolicyReadWriteConditionalAccess),
            Scope::AuditLogReadAll => Some(Permission::AuditLogReadAll),
            Scope::PolicyReadWriteAuthenticationMethod => Some(Permission::PolicyReadWriteAuthenticationMethod),
            Scope::UserInviteAll => Some(Permission::UserInviteAll),
            Scope::PolicyReadWriteAuthorization => Some(Permission::PolicyReadWriteAuthorization),
            Scope::ApplicationReadWriteAll => Some(Permission::ApplicationReadWriteAll),
            Scope::OpenId | Scope::Profile | Scope::Email | Scope::OfflineAccess | Scope::UserRead => None,
        }
    }

    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.name().eq_ignore_ascii_case(name))
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of scopes, as a delegated token carries them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes(u32);

impl Scopes {
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn insert(&mut self, scope: Scope) {
        self.0 |= scope.bit();
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// The scopes as `scp` writes them: space-separated, in catalog order.
    pub fn to_text(self) -> String {
        self.iter().map(Scope::name).collect::<Vec<_>>().join(" ")
    }

    /// Parses `scp`; names it does not know are left out.
    pub fn parse(text: &str) -> Scopes {
        text.split_whitespace().filter_map(Scope::from_name).collect()
    }

    /// The application permissions these scopes reach to; `Directory.AccessAsUser.All` reaches them all.
    pub fn reach(self) -> crate::auth::authorization::Permissions {
        if self.contains(Scope::DirectoryAccessAsUserAll) {
            return Permission::ALL.into_iter().collect();
        }
        self.iter().filter_map(Scope::reach).collect()
    }

    /// The scopes in both sets.
    pub fn intersect(self, other: Scopes) -> Scopes {
        Scopes(self.0 & other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut set = Scopes::default();
        for s in iter {
            set.insert(s);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_parse_skips_the_unknown() {
        for s in Scope::ALL {
            assert_eq!(Scope::from_name(s.name()), Some(s));
            assert_eq!(Scope::from_name(&s.name().to_uppercase()), Some(s));
        }
        let parsed = Scopes::parse("openid  User.Read Mail.Send profile");
        assert_eq!(parsed.to_text(), "openid profile User.Read");
        assert!(parsed.reach().iter().next().is_none(), "User.Read reaches only the user's own profile");
        assert!(Scopes::parse("User.ReadWrite.All").reach().contains(Permission::UserReadWriteAll));
        assert!(!Scope::UserRead.admin_consent_required());
        assert!(Scope::UserReadAll.admin_consent_required());
    }
}
