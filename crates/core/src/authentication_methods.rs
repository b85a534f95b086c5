//! Users' authentication methods beyond the password: software OATH tokens (an authenticator app's TOTP),
//! kept in the user's document ([`METHODS_KEY`], never a Graph property) with each secret sealed by the
//! master key. People register one at a sign-in that needs a second factor; administrators list and delete
//! them through Graph (`/users/{id}/authentication/softwareOathMethods`), the secret never shown.

use crate::auth::authorization::{require, Action};
use crate::kernel::error::{Error, Result};
use crate::schema::format_time;
use crate::store::ObjectRecord;
use crate::{Caller, Directory};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// Internal document key: the user's methods other than the password.
pub const METHODS_KEY: &str = "_authenticationMethods";
/// The most software OATH tokens one user holds.
const MOST_TOKENS: usize = 5;

fn tokens(user: &ObjectRecord) -> Vec<Map<String, Value>> {
    let items = user.doc.get(METHODS_KEY).and_then(Value::as_array);
    items
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .filter(|m| m.get("type") == Some(&json!("softwareOath")))
        .cloned()
        .collect()
}

/// A method as Graph shows it (`softwareOathAuthenticationMethod`): the secret is never shown.
fn shown(method: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("@odata.type".into(), json!("#microsoft.graph.softwareOathAuthenticationMethod"));
    out.insert("id".into(), method.get("id").cloned().unwrap_or(Value::Null));
    out.insert("secretKey".into(), Value::Null);
    out.insert("createdDateTime".into(), method.get("createdDateTime").cloned().unwrap_or(Value::Null));
    out
}

/// The authentication methods service.
pub struct AuthenticationMethods<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The authentication methods service.
    pub fn authentication_methods(&self) -> AuthenticationMethods<'_> {
        AuthenticationMethods { directory: self }
    }
}

impl AuthenticationMethods<'_> {
    /// A user's software OATH tokens.
    pub async fn software_oath_methods(&self, caller: &Caller, key: &str) -> Result<Vec<Map<String, Value>>> {
        require(caller, Action::ReadAuthenticationMethods)?;
        let user = self.directory.users().live_user(caller, key).await?;
        Ok(tokens(&user).iter().map(shown).collect())
    }

    pub async fn software_oath_method(&self, caller: &Caller, key: &str, id: &str) -> Result<Map<String, Value>> {
        let methods = self.software_oath_methods(caller, key).await?;
        methods.into_iter().find(|m| m.get("id") == Some(&json!(id))).ok_or_else(|| Error::not_found(id))
    }

    /// An administrator removes a user's token (Entra's rule on privileged users applies).
    pub async fn delete_software_oath_method(&self, caller: &Caller, key: &str, id: &str) -> Result<()> {
        require(caller, Action::ManageAuthenticationMethods)?;
        let id = id.to_owned();
        let action = Action::ManageAuthenticationMethods;
        self.directory
            .users()
            .change_document(caller, key, METHODS_KEY, action, |doc| {
                let methods =
                    doc.get_mut(METHODS_KEY).and_then(Value::as_array_mut).ok_or_else(|| Error::not_found(&id))?;
                let before = methods.len();
                methods.retain(|m| m.get("id") != Some(&json!(id)));
                match methods.len() == before {
                    true => Err(Error::not_found(&id)),
                    false => Ok(()),
                }
            })
            .await
    }

    /// Adds a token the person proved they hold (the secret, sealed here).
    pub(crate) async fn add_software_oath(&self, tenant: Uuid, user: Uuid, secret: &[u8]) -> Result<()> {
        let sealed = self.directory.master.seal(self.directory.random(), secret)?;
        let method = json!({
            "id": self.directory.random().uuid().to_string(),
            "type": "softwareOath",
            "secret": sealed,
            "createdDateTime": format_time(self.directory.now()),
        });
        let system = Caller::System { tenant };
        let action = Action::ManageAuthenticationMethods;
        self.directory
            .users()
            .change_document(&system, &user.to_string(), METHODS_KEY, action, |doc| {
                let methods = doc.entry(METHODS_KEY).or_insert_with(|| json!([]));
                let methods = methods.as_array_mut().ok_or_else(|| Error::internal("methods are a list"))?;
                if methods.len() >= MOST_TOKENS {
                    return Err(Error::invalid(format!("A user holds at most {MOST_TOKENS} authenticator apps.")));
                }
                methods.push(method.clone());
                Ok(())
            })
            .await
    }

    /// The secrets of a user's tokens, opened.
    pub(crate) fn secrets(&self, user: &ObjectRecord) -> Vec<Vec<u8>> {
        let master = &self.directory.master;
        tokens(user)
            .iter()
            .filter_map(|m| m.get("secret").and_then(Value::as_str))
            .filter_map(|s| master.open(s).ok())
            .collect()
    }
}
