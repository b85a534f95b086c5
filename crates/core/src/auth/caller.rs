//! The authenticated principal behind a request. Every use case takes one as its first argument.

use crate::auth::authorization::{Permissions, Standing};
use crate::auth::scopes::Scopes;
use crate::store::audit::Initiator;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An application acting as itself (client-credentials token), holding application permissions.
    App {
        tenant: Uuid,
        /// The object id of the app's service principal in the tenant (the token's `oid`).
        service_principal: Uuid,
        app_id: Uuid,
        permissions: Permissions,
    },
    /// A person signed in to an application (a delegated token): the application may do what both its
    /// scopes and the person allow.
    User {
        tenant: Uuid,
        /// The user's object id (the token's `oid`).
        user: Uuid,
        /// The client the person signed in to (the token's `azp`).
        app_id: Uuid,
        /// The delegated scopes granted to the client (the token's `scp`).
        scopes: Scopes,
        /// The directory roles the person held when the token was issued (the token's `wids`).
        roles: Vec<String>,
        /// Whether the person is a member or a guest, and what the tenant lets its guests read.
        standing: Standing,
    },
    /// Gatehouse itself: bootstrap, the CLI run by the operator, background processors.
    System { tenant: Uuid },
    /// Gatehouse's own pages acting for a person on their own account, once the pages have established who
    /// they are and what they may do (changing or resetting their password, registering security info). Trusted
    /// as the system is; the audit log names the person. Only the core's sign-in pages make one.
    SelfService { tenant: Uuid, user: Uuid },
}

impl Caller {
    pub fn tenant(&self) -> Uuid {
        match self {
            Caller::App { tenant, .. }
            | Caller::User { tenant, .. }
            | Caller::System { tenant }
            | Caller::SelfService { tenant, .. } => *tenant,
        }
    }

    /// Who the audit log names for the caller's changes.
    pub fn initiator(&self) -> Initiator {
        match self {
            Caller::App { service_principal, app_id, .. } => {
                Initiator::App { service_principal: *service_principal, app_id: *app_id }
            }
            Caller::User { user, .. } => Initiator::User(*user),
            Caller::SelfService { user, .. } => Initiator::SelfService(*user),
            Caller::System { .. } => Initiator::System,
        }
    }

    /// The signed-in user's id, for a delegated caller.
    pub fn user(&self) -> Option<Uuid> {
        match self {
            Caller::User { user, .. } => Some(*user),
            _ => None,
        }
    }
}
