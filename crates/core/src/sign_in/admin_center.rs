//! The admin center's caller: a person signed in at Gatehouse's own pages, acting in the admin center with
//! what their directory roles allow. Entra's admin center is a first-party client holding the admin's
//! delegated access to everything (`Directory.AccessAsUser.All`); every use case intersects that with the
//! person's roles, so the pages show and do exactly what the roles allow, and decide nothing themselves.

use super::authorize::Session;
use super::SignIn;
use crate::auth::authorization::Standing;
use crate::auth::roles::{is_guest, wids};
use crate::auth::scopes::{Scope, Scopes};
use crate::kernel::error::{Error, Result};
use crate::store::ObjectKind;
use crate::Caller;
use uuid::Uuid;

/// The admin center's client id: the Azure portal's, as Entra's admin center signs in with it.
pub const ADMIN_CENTER_APP_ID: Uuid = uuid::uuid!("c44b4083-3bb0-49c1-b47d-974e53cbdf3c");

impl SignIn<'_> {
    /// The caller the admin center acts as for the session's person: their roles read now (an assignment
    /// or removal counts at the next page), members only (Entra keeps guests out of its admin center).
    pub async fn admin_center(&self, session: &Session) -> Result<Caller> {
        let (tenant, user) = (session.tenant, session.user);
        let record = self.directory.store.object(tenant, ObjectKind::User, user).await.map_err(Error::from)?;
        let record =
            record.filter(|r| r.deleted_at.is_none()).ok_or_else(|| Error::unauthenticated("Sign in again."))?;
        if is_guest(&record) {
            return Err(Error { message: "Guests cannot use the admin center.".into(), ..Error::forbidden() });
        }
        let roles = self.directory.role_management().held_by(tenant, user, wids(&record)).await?;
        let scopes: Scopes = [Scope::DirectoryAccessAsUserAll].into_iter().collect();
        Ok(Caller::User { tenant, user, app_id: ADMIN_CENTER_APP_ID, scopes, roles, standing: Standing::Member })
    }
}
