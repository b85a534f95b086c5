//! Users' authentication methods beyond the password, kept in the user's document ([`METHODS_KEY`], never
//! a Graph property):
//! - software OATH tokens (an authenticator app's TOTP), each secret sealed by the master key. People
//!   register one at a sign-in that needs a second factor; administrators list and delete them through
//!   Graph (`/users/{id}/authentication/softwareOathMethods`), the secret never shown;
//! - a temporary access pass (`temporaryAccessPassMethods`, one per user): made by an administrator and
//!   shown once, kept as a keyed digest, good from its start for its lifetime (10 minutes to 30 days), once
//!   or until it lapses. It signs a person in at the pages in place of the password and counts as
//!   multifactor authentication, so a person without any method can sign in and register one.

use crate::auth::authorization::{require, Action};
use crate::credentials::method_policy::{Configuration, Method};
use crate::kernel::error::{Error, Result};
use crate::schema::format_time;
use crate::store::{ObjectKind, ObjectQuery, ObjectRecord, Scope};
use crate::{Caller, Directory};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// Internal document key: the user's methods other than the password.
pub const METHODS_KEY: &str = "_authenticationMethods";
/// The most software OATH tokens one user holds.
const MOST_TOKENS: usize = 5;

/// The lifetimes a temporary access pass may have, in minutes, and the one it gets by default.
const PASS_MINUTES: std::ops::RangeInclusive<i64> = 10..=43_200;
const PASS_DEFAULT_MINUTES: i64 = 60;
/// The characters of a temporary access pass (none that read alike), and its length.
const PASS_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!#%+";
const PASS_LENGTH: usize = 12;

/// The user's methods of one type.
fn of_type(user: &ObjectRecord, kind: &str) -> Vec<Map<String, Value>> {
    let items = user.doc.get(METHODS_KEY).and_then(Value::as_array);
    let items = items.into_iter().flatten().filter_map(Value::as_object);
    items.filter(|m| m.get("type") == Some(&json!(kind))).cloned().collect()
}

fn tokens(user: &ObjectRecord) -> Vec<Map<String, Value>> {
    of_type(user, "softwareOath")
}

/// Why a temporary access pass can or cannot be used at `now` (Graph's `methodUsabilityReason`).
fn pass_usability(pass: &Map<String, Value>, now: DateTime<Utc>) -> &'static str {
    let start = pass
        .get("startDateTime")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(now, |t| t.with_timezone(&Utc));
    let minutes = pass.get("lifetimeInMinutes").and_then(Value::as_i64).unwrap_or_default();
    if pass.get("used") == Some(&Value::Bool(true)) {
        "OneTimeUsed"
    } else if now < start {
        "NotYetValid"
    } else if now >= start + Duration::minutes(minutes) {
        "Expired"
    } else {
        "EnabledByPolicy"
    }
}

/// A pass as Graph shows it; the pass itself only when it was just made.
fn shown_pass(pass: &Map<String, Value>, now: DateTime<Utc>, made: Option<&str>) -> Map<String, Value> {
    let usability = pass_usability(pass, now);
    let mut out = Map::new();
    out.insert("@odata.type".into(), json!("#microsoft.graph.temporaryAccessPassAuthenticationMethod"));
    for name in ["id", "createdDateTime", "startDateTime", "lifetimeInMinutes", "isUsableOnce"] {
        out.insert(name.into(), pass.get(name).cloned().unwrap_or(Value::Null));
    }
    out.insert("temporaryAccessPass".into(), json!(made));
    out.insert("isUsable".into(), json!(usability == "EnabledByPolicy"));
    out.insert("methodUsabilityReason".into(), json!(usability));
    out
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

/// What a temporary access pass's keyed digest is taken over.
fn pass_input(user: Uuid, pass: &str) -> Vec<u8> {
    [b"temporary-access-pass\0".as_slice(), user.as_bytes(), pass.as_bytes()].concat()
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

    /// An administrator removes a user's token or pass (Entra's rule on privileged users applies).
    pub async fn delete_method(&self, caller: &Caller, key: &str, id: &str) -> Result<()> {
        require(caller, Action::ManageAuthenticationMethods)?;
        self.remove(caller, key, id).await
    }

    /// An administrator removes every authenticator app of the user at once (Entra's "Require re-register
    /// multifactor authentication"): the next sign-in that needs a second factor registers one anew. Answers
    /// how many were removed.
    pub async fn require_reregistration(&self, caller: &Caller, key: &str) -> Result<usize> {
        require(caller, Action::ManageAuthenticationMethods)?;
        let held = tokens(&self.directory.users().live_user(caller, key).await?).len();
        if held == 0 {
            return Ok(0);
        }
        let action = Action::ManageAuthenticationMethods;
        self.directory
            .users()
            .change_document(caller, key, METHODS_KEY, action, |doc| {
                if let Some(methods) = doc.get_mut(METHODS_KEY).and_then(Value::as_array_mut) {
                    methods.retain(|m| m.get("type") != Some(&json!("softwareOath")));
                }
                Ok(())
            })
            .await?;
        Ok(held)
    }

    /// A person removes one of their own methods (at their security info, having proved a second factor).
    pub(crate) async fn remove_own(&self, tenant: Uuid, user: Uuid, id: &str) -> Result<()> {
        self.remove(&Caller::SelfService { tenant, user }, &user.to_string(), id).await
    }

    async fn remove(&self, caller: &Caller, key: &str, id: &str) -> Result<()> {
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

    /// An administrator makes the user's temporary access pass (`lifetimeInMinutes`, `isUsableOnce`,
    /// `startDateTime`), shown in the answer only. One per user.
    pub async fn create_temporary_access_pass(
        &self,
        caller: &Caller,
        key: &str,
        body: &Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        require(caller, Action::ManageAuthenticationMethods)?;
        let minutes = match body.get("lifetimeInMinutes") {
            None | Some(Value::Null) => PASS_DEFAULT_MINUTES,
            Some(value) => value.as_i64().filter(|m| PASS_MINUTES.contains(m)).ok_or_else(|| {
                Error::invalid_property("lifetimeInMinutes", "lifetimeInMinutes is from 10 to 43200.")
            })?,
        };
        let once = body.get("isUsableOnce").and_then(Value::as_bool).unwrap_or(false);
        let now = self.directory.now();
        let start = match body.get("startDateTime").and_then(Value::as_str) {
            Some(text) => DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| Error::invalid_property("startDateTime", "startDateTime is a date and time."))?,
            None => now,
        };
        let random = self.directory.random();
        let length = PASS_ALPHABET.len() as u64;
        let pass: String = (0..PASS_LENGTH).map(|_| char::from(PASS_ALPHABET[random.below(length) as usize])).collect();
        let user = self.directory.users().user_id(caller, key).await?;
        let record = self.directory.users().get(&Caller::System { tenant: caller.tenant() }, &user.to_string()).await?;
        if !self.allowed(caller.tenant(), &record, Method::TemporaryAccessPass).await? {
            return Err(Error::invalid(
                "The authentication methods policy does not enable temporary access passes for this user.",
            ));
        }
        let method = json!({
            "id": random.uuid().to_string(),
            "type": "temporaryAccessPass",
            "digest": URL_SAFE_NO_PAD.encode(self.directory.master.token_mac(&pass_input(user, &pass))),
            "createdDateTime": format_time(now),
            "startDateTime": format_time(start),
            "lifetimeInMinutes": minutes,
            "isUsableOnce": once,
        });
        let action = Action::ManageAuthenticationMethods;
        self.directory
            .users()
            .change_document(caller, key, METHODS_KEY, action, |doc| {
                let methods = doc.entry(METHODS_KEY).or_insert_with(|| json!([]));
                let methods = methods.as_array_mut().ok_or_else(|| Error::internal("methods are a list"))?;
                if methods.iter().any(|m| m.get("type") == Some(&json!("temporaryAccessPass"))) {
                    return Err(Error::invalid(
                        "A user holds one temporary access pass: delete the one they have first.",
                    ));
                }
                methods.push(method.clone());
                Ok(())
            })
            .await?;
        let method = method.as_object().cloned().unwrap_or_default();
        Ok(shown_pass(&method, now, Some(&pass)))
    }

    /// Whether the tenant's authentication methods policy enables `method` for the user.
    pub(crate) async fn allowed(&self, tenant: Uuid, user: &ObjectRecord, method: Method) -> Result<bool> {
        let organization = self.directory.tenant_record(tenant).await?.organization;
        let configuration = Configuration::of(&organization, method);
        let groups = match configuration.names_groups() {
            true => {
                let scope = Scope::TransitiveMemberOf { member: user.id };
                let query = ObjectQuery { scope: Some(scope), limit: u32::MAX, ..ObjectQuery::of(ObjectKind::Group) };
                let found = self.directory.store.object_ids(tenant, &query).await.map_err(Error::from)?;
                found.into_iter().map(|(id, _)| id).collect()
            }
            false => Vec::new(),
        };
        Ok(configuration.allows(&groups))
    }

    /// The user's temporary access passes (one at most), without the pass.
    pub async fn temporary_access_passes(&self, caller: &Caller, key: &str) -> Result<Vec<Map<String, Value>>> {
        require(caller, Action::ReadAuthenticationMethods)?;
        let user = self.directory.users().live_user(caller, key).await?;
        let now = self.directory.now();
        Ok(of_type(&user, "temporaryAccessPass").iter().map(|p| shown_pass(p, now, None)).collect())
    }

    /// The id of the user's usable temporary access pass that `entered` is, if it is one.
    pub(crate) fn matching_pass(&self, user: &ObjectRecord, entered: &str) -> Option<String> {
        let now = self.directory.now();
        let data = pass_input(user.id, entered);
        of_type(user, "temporaryAccessPass").into_iter().find_map(|pass| {
            let digest = pass.get("digest").and_then(Value::as_str).and_then(|d| URL_SAFE_NO_PAD.decode(d).ok())?;
            let usable = pass_usability(&pass, now) == "EnabledByPolicy";
            let id = pass.get("id").and_then(Value::as_str).map(str::to_owned);
            id.filter(|_| usable && self.directory.master.verify_token_mac(&data, &digest))
        })
    }

    /// Spends a pass that is good once (a pass a concurrent sign-in spent refuses this one).
    pub(crate) async fn spend_pass(&self, tenant: Uuid, user: Uuid, id: &str) -> Result<()> {
        let person = Caller::SelfService { tenant, user };
        let action = Action::ManageAuthenticationMethods;
        self.directory
            .users()
            .change_document(&person, &user.to_string(), METHODS_KEY, action, |doc| {
                let methods = doc.get_mut(METHODS_KEY).and_then(Value::as_array_mut);
                let pass = methods
                    .and_then(|m| m.iter_mut().find(|m| m.get("id") == Some(&json!(id))))
                    .and_then(Value::as_object_mut)
                    .ok_or_else(|| Error::not_found(id))?;
                if pass.get("used") == Some(&Value::Bool(true)) {
                    return Err(Error::invalid("The temporary access pass was used already."));
                }
                if pass.get("isUsableOnce") == Some(&Value::Bool(true)) {
                    pass.insert("used".into(), json!(true));
                }
                Ok(())
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
        let person = Caller::SelfService { tenant, user };
        let action = Action::ManageAuthenticationMethods;
        self.directory
            .users()
            .change_document(&person, &user.to_string(), METHODS_KEY, action, |doc| {
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
