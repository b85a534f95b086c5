//! The authenticated principal behind a request. Every use case takes one as its first argument.

use crate::auth::authorization::Permissions;
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
    /// Gatehouse itself: bootstrap, the CLI run by the operator, background processors.
    System { tenant: Uuid },
}

impl Caller {
    pub fn tenant(&self) -> Uuid {
        match self {
            Caller::App { tenant, .. } | Caller::System { tenant } => *tenant,
        }
    }
}
