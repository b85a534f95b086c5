//! The callers of Gatehouse's own web pages: a person signed in at Gatehouse's sign-in form, acting in the
//! admin center with what their directory roles allow, or on My Account for themselves. Entra's admin
//! center is a first-party client holding the admin's delegated access to everything
//! (`Directory.AccessAsUser.All`); My Account holds what a person needs of their own account. Every use
//! case intersects those scopes with the person's roles, so the pages show and do exactly what the roles
//! allow, and decide nothing themselves.

use super::authorize::Session;
use super::log::Seen;
use super::{Browser, SignIn};
use crate::applications::AuthenticatedClient;
use crate::auth::authorization::Permissions;
use crate::auth::authorization::Standing;
use crate::auth::scopes::{Scope, Scopes};
use crate::conditional_access::policy::ClientApp;
use crate::kernel::error::{Error, Result};
use crate::Caller;
use uuid::Uuid;

/// The admin center's client id: the Azure portal's, as Entra's admin center signs in with it.
pub const ADMIN_CENTER_APP_ID: Uuid = uuid::uuid!("c44b4083-3bb0-49c1-b47d-974e53cbdf3c");
/// My Account's client id: Entra's "My Profile" app.
pub const MY_ACCOUNT_APP_ID: Uuid = uuid::uuid!("8c59ead7-d703-4a27-9e55-c96a0054c8d2");

/// Gatehouse's own pages a person signs in to, as the sign-in log names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstParty {
    AdminCenter,
    MyAccount,
    MySignIns,
}

/// My Sign-ins' client id: Entra's "My Signins" app.
pub const MY_SIGN_INS_APP_ID: Uuid = uuid::uuid!("19db86c3-b2b9-44cc-b339-36da233a3be2");

impl FirstParty {
    /// The page's client as a sign-in record names it (it is no registered application of the tenant).
    fn client(self) -> AuthenticatedClient {
        let (app_id, name) = match self {
            FirstParty::AdminCenter => (ADMIN_CENTER_APP_ID, "Azure Portal"),
            FirstParty::MyAccount => (MY_ACCOUNT_APP_ID, "My Profile"),
            FirstParty::MySignIns => (MY_SIGN_INS_APP_ID, "My Signins"),
        };
        AuthenticatedClient {
            app_id,
            display_name: name.to_owned(),
            service_principal: Uuid::nil(),
            permissions: Permissions::default(),
            roles: Vec::new(),
            group_claims: None,
            id_token_claims: Vec::new(),
        }
    }
}

impl SignIn<'_> {
    /// Records a sign-in to one of Gatehouse's pages from `browser`, once the person gave every factor
    /// the page asks for: the sign-in log shows the admin center and My Account as Entra shows its
    /// portals.
    pub async fn log_page_sign_in(&self, session: &Session, page: FirstParty, browser: &Browser) -> Result<()> {
        let mut seen = Seen::new(browser.origin(ClientApp::Browser, &session.methods), "");
        seen.tenant = Some(session.tenant);
        seen.user = self.standing_user(session.tenant, session.user, session.auth_time).await;
        seen.client = Some(page.client());
        self.log(&seen, true, None).await
    }

    /// The caller the admin center acts as for the session's person: their roles read now (an assignment
    /// or removal counts at the next page), members only (Entra keeps guests out of its admin center).
    pub async fn admin_center(&self, session: &Session) -> Result<Caller> {
        self.page_caller(session, ADMIN_CENTER_APP_ID, false).await
    }

    /// The caller My Account acts as for the session's person, member or guest (its pages ask only for the
    /// person's own profile, groups and password).
    pub async fn my_account(&self, session: &Session) -> Result<Caller> {
        self.page_caller(session, MY_ACCOUNT_APP_ID, true).await
    }

    /// The caller, once the session has every factor the person must give ([`SignIn::page_factor`]).
    async fn page_caller(&self, session: &Session, app_id: Uuid, guests: bool) -> Result<Caller> {
        if self.page_factor(session).await?.is_some() {
            return Err(super::grant_error(
                "AADSTS50076: You hold an authenticator app: sign in again and enter its code.",
            ));
        }
        let scopes: Scopes = [Scope::DirectoryAccessAsUserAll].into_iter().collect();
        let caller = self.directory.tokens().delegated(session.tenant, session.user, app_id, scopes).await?;
        match &caller {
            Caller::User { standing, .. } if !guests && *standing != Standing::Member => {
                Err(Error { message: "Guests cannot use the admin center.".into(), ..Error::forbidden() })
            }
            _ => Ok(caller),
        }
    }
}
