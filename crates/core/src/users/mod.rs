//! Users: create, read, update, soft delete, restore, manager links.
//!
//! Invariants: a user's UPN is `alias@domain` with a domain of its tenant and is unique among the tenant's
//! live users, compared case-insensitively; the password exists only as an argon2id hash in its own table
//! and is never part of the user document; every change is one store batch.

mod bulk;
mod shown;

pub use bulk::{NewUser, Password};

use shown::password_notice;
pub use shown::{signs_in_by_mail, user_properties};

use crate::auth::authorization::{decide, require, Action, Target};
use crate::credentials::password_rules::password_rules;
use crate::credentials::{banned, passwords};
use crate::directory::objects::{at_version, moved_on, Page};
use crate::directory::write_error;
use crate::kernel::error::{Error, Result};
use crate::outbox::Mail;
use crate::query::Listing;
use crate::rules;
use crate::schema::{self, format_time, USER};
use crate::store::{ObjectKind, ObjectQuery, ObjectRecord, StoreError, TenantRecord, Write};
use crate::{Caller, Directory};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

pub const DUPLICATE_UPN: &str = "Another object with the same value for property userPrincipalName already exists.";
const REQUIRED_ON_CREATE: &[&str] = &["accountEnabled", "displayName", "mailNickname", "userPrincipalName"];
/// Internal document key: the user must change the password at next sign-in. Not a Graph property.
pub const FORCE_CHANGE: &str = "_forceChangePassword";
/// The user's property naming when sign-ins start to count: tokens of earlier sign-ins are refused.
pub const SESSIONS_VALID_FROM: &str = "signInSessionsValidFromDateTime";
/// Internal document key: the same instant in microseconds. The property keeps whole seconds, which cannot
/// tell a sign-in made just after a password change from one made just before it in the same second.
const SESSIONS_VALID_FROM_MICROS: &str = "_sessionsValidFromMicros";

/// The password part of a create or update.
#[derive(Debug, Clone)]
struct PasswordProfile {
    password: Option<String>,
    force_change: bool,
    force_change_with_mfa: bool,
}

fn required_message(property: &str) -> String {
    format!("Invalid value specified for property '{property}' of resource 'User'.")
}

/// What a change of a user is, for the authorization table: its `usageLocation` alone (License
/// Administrators may), its password alone (a reset: Helpdesk and Password Administrators may), or anything
/// else (a write of the user).
fn update_action(changes: &Map<String, Value>, password: bool) -> Action {
    match (changes.keys().all(|name| name == "usageLocation"), password) {
        (true, false) if !changes.is_empty() => Action::WriteUsageLocation,
        (true, true) => Action::ResetPasswords,
        _ => Action::WriteUsers,
    }
}

/// Checks a Graph request body against the user table; returns the checked properties and the password.
/// Directory extensions (`extension_<app id>_<name>`) are kept as given when they hold a single value.
fn check_body(body: &Map<String, Value>) -> Result<(Map<String, Value>, Option<PasswordProfile>)> {
    let (extensions, properties): (Map<String, Value>, Map<String, Value>) =
        body.clone().into_iter().partition(|(name, _)| rules::is_directory_extension(name));
    let mut checked = schema::check_body(USER, "user", &[], &properties)?;
    for (name, value) in extensions {
        if !(value.is_string() || value.is_boolean() || value.is_number() || value.is_null()) {
            return Err(Error::invalid_property(
                &name,
                format!("Invalid value for property '{name}': a directory extension holds a single value."),
            ));
        }
        checked.insert(name, value);
    }
    let password = checked.remove("passwordProfile").as_ref().map(parse_password_profile).transpose()?;
    Ok((checked, password))
}

fn parse_password_profile(value: &Value) -> Result<PasswordProfile> {
    let object = value.as_object().ok_or_else(|| {
        Error::invalid_property("passwordProfile", "Invalid value for property 'passwordProfile': expected an object.")
    })?;
    let mut profile = PasswordProfile { password: None, force_change: false, force_change_with_mfa: false };
    for (key, member) in object {
        match key.as_str() {
            "password" => match member {
                Value::String(text) => profile.password = Some(text.clone()),
                Value::Null => {}
                _ => {
                    return Err(Error::invalid_property(
                        "passwordProfile",
                        "passwordProfile.password must be a string.",
                    ))
                }
            },
            "forceChangePasswordNextSignIn" | "forceChangePasswordNextSignInWithMfa" => {
                let flag = match member {
                    Value::Bool(b) => *b,
                    Value::Null => false,
                    _ => {
                        return Err(Error::invalid_property(
                            "passwordProfile",
                            format!("passwordProfile.{key} must be a boolean."),
                        ))
                    }
                };
                if key == "forceChangePasswordNextSignIn" {
                    profile.force_change = flag;
                } else {
                    profile.force_change_with_mfa = flag;
                }
            }
            k if k.starts_with("@odata.") => {}
            other => {
                return Err(Error::invalid_property(
                    "passwordProfile",
                    format!("Property '{other}' does not exist on 'passwordProfile'."),
                ))
            }
        }
    }
    Ok(profile)
}

const UPN_CHARS: &str = "'.-_!#^~";

/// Checks a UPN against Entra's rules and the tenant's domains; returns it with the domain lower-cased.
pub fn check_user_principal_name(upn: &str, domains: &[String]) -> Result<String> {
    let invalid = |why: &str| {
        Error::invalid_property(
            "userPrincipalName",
            format!("Invalid value specified for property 'userPrincipalName' of resource 'User': {why}"),
        )
    };
    let (alias, domain) = upn.rsplit_once('@').ok_or_else(|| invalid("it must have the form alias@domain."))?;
    if alias.is_empty() || alias.len() > 64 {
        return Err(invalid("the part before '@' must be 1 to 64 characters."));
    }
    if domain.len() > 48 || upn.len() > 113 {
        return Err(invalid("the domain may have at most 48 characters and the whole name at most 113."));
    }
    if let Some(bad) = alias.chars().find(|c| !(c.is_ascii_alphanumeric() || UPN_CHARS.contains(*c))) {
        return Err(invalid(&format!("the character '{bad}' is not allowed.")));
    }
    if alias.starts_with('.') || alias.ends_with('.') {
        return Err(invalid("the part before '@' may not begin or end with '.'."));
    }
    let domain = domain.to_ascii_lowercase();
    if !domains.contains(&domain) {
        return Err(Error::invalid_property(
            "userPrincipalName",
            format!(
                "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization: '{domain}' is not one of them."
            ),
        ));
    }
    Ok(format!("{alias}@{domain}"))
}

const NICKNAME_FORBIDDEN: &str = "@()\\[]\";:<>, ";

fn check_mail_nickname(nickname: &str) -> Result<()> {
    if nickname.is_empty()
        || nickname.chars().any(|c| !c.is_ascii() || c.is_ascii_control() || NICKNAME_FORBIDDEN.contains(c))
    {
        return Err(Error::invalid_property("mailNickname", required_message("mailNickname")));
    }
    Ok(())
}

/// Cross-property rules and derived values, applied after a create or a patch has been merged.
fn normalise(doc: &mut Map<String, Value>) -> Result<()> {
    for name in ["displayName", "accountEnabled"] {
        let present = match doc.get(name) {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(Value::Bool(_)) => true,
            _ => false,
        };
        if !present {
            return Err(Error::invalid_property(name, required_message(name)));
        }
    }
    match doc.get("mailNickname") {
        Some(Value::String(nick)) => check_mail_nickname(nick)?,
        _ => return Err(Error::invalid_property("mailNickname", required_message("mailNickname"))),
    }
    if let Some(Value::String(location)) = doc.get("usageLocation") {
        if location.len() != 2 || !location.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(Error::invalid_property(
                "usageLocation",
                "Invalid value specified for property 'usageLocation': expected a two-letter ISO 3166 country code.",
            ));
        }
        let upper = location.to_ascii_uppercase();
        doc.insert("usageLocation".into(), Value::String(upper));
    }
    if let Some(Value::String(mail)) = doc.get("mail") {
        if !mail.contains('@') {
            return Err(Error::invalid_property(
                "mail",
                "Invalid value specified for property 'mail': not an email address.",
            ));
        }
    }
    let proxy = match doc.get("mail") {
        Some(Value::String(mail)) => json!([format!("SMTP:{mail}")]),
        _ => json!([]),
    };
    doc.insert("proxyAddresses".into(), proxy);
    Ok(())
}

/// Entra's checks of a new password: its complexity (unless the user's `passwordPolicies` say
/// `DisableStrongPassword`), then the banned lists (the global one, and the tenant's custom one when its
/// `Password Rule Settings` enforce it), with the user's first and last names and the tenant's name
/// ([`banned`]).
fn check_new_password(password: &str, user: &Map<String, Value>, tenant: &TenantRecord) -> Result<()> {
    passwords::check_complexity(password, strong_passwords(user))?;
    let text = |doc: &Map<String, Value>, name: &str| doc.get(name).and_then(Value::as_str).map(str::to_owned);
    let names = [text(user, "givenName"), text(user, "surname"), text(&tenant.organization, "displayName")];
    let rules = password_rules(tenant);
    let custom = banned::Terms::of(rules.custom_banned.iter().map(String::as_str));
    let context = banned::Context { custom: Some(&custom), names: names.into_iter().flatten().collect() };
    match banned::allowed(password, &context) {
        true => Ok(()),
        false => Err(Error::invalid_property("passwordProfile", passwords::COMPLEXITY_MESSAGE)),
    }
}

/// The id of every user's password method (Entra's, the same everywhere).
pub const PASSWORD_METHOD: &str = "28c10230-6103-485e-b985-444c60001490";

/// Marks a user's document for a new password: when it changed (sign-ins before then stand no more), and
/// whether it must be changed at the next sign-in.
fn mark_password_change(doc: &mut Map<String, Value>, force: bool, now: DateTime<Utc>) {
    doc.insert("lastPasswordChangeDateTime".into(), json!(format_time(now)));
    mark_sessions_revoked(doc, now);
    doc.insert(FORCE_CHANGE.into(), json!(force));
}

/// Marks a user's document so that their sign-ins made until `now` stand no more.
fn mark_sessions_revoked(doc: &mut Map<String, Value>, now: DateTime<Utc>) {
    doc.insert(SESSIONS_VALID_FROM.into(), json!(format_time(now)));
    doc.insert(SESSIONS_VALID_FROM_MICROS.into(), json!(now.timestamp_micros()));
}

/// Whether a sign-in made at `auth_time` was made before the user's sessions were last revoked (a password
/// change, `revokeSignInSessions`), and so stands no more.
pub fn sessions_revoked(user: &Map<String, Value>, auth_time: DateTime<Utc>) -> bool {
    if let Some(micros) = user.get(SESSIONS_VALID_FROM_MICROS).and_then(Value::as_i64) {
        return auth_time.timestamp_micros() <= micros;
    }
    let valid_from = user
        .get(SESSIONS_VALID_FROM)
        .and_then(Value::as_str)
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc)));
    valid_from.is_some_and(|from| auth_time.timestamp() <= from.timestamp())
}

fn strong_passwords(doc: &Map<String, Value>) -> bool {
    !doc.get("passwordPolicies").and_then(Value::as_str).unwrap_or_default().contains("DisableStrongPassword")
}

/// A user principal name as the store keys users by it.
pub(crate) fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// Users, as a service on the directory's context (shaped like the domains service).
pub struct Users<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The users service.
    pub fn users(&self) -> Users<'_> {
        Users { directory: self }
    }
}

impl Users<'_> {
    pub async fn create(&self, caller: &Caller, body: &Map<String, Value>) -> Result<ObjectRecord> {
        self.create_keeping(caller, body, &Map::new()).await
    }

    /// [`Users::create`], the user also keeping the internal values `kept` (names that begin with `_`,
    /// which no body may set): what another door to the directory remembers of the user.
    pub(crate) async fn create_keeping(
        &self,
        caller: &Caller,
        body: &Map<String, Value>,
        kept: &Map<String, Value>,
    ) -> Result<ObjectRecord> {
        require(caller, Action::WriteUsers)?;
        let tenant = self.directory.tenant_record(caller.tenant()).await?;
        let (record, writes) = self.prepared(caller, &tenant, body, kept, Password::Required).await?;
        self.directory.commit(caller, writes).await.map_err(|e| write_error(e, DUPLICATE_UPN))?;
        Ok(record)
    }

    /// Refuses a UPN another live user has, before the expensive part of a write (hashing a password); the
    /// store's unique index still decides races.
    pub(super) async fn check_upn_free(&self, caller: &Caller, upn: &str, except: Option<Uuid>) -> Result<()> {
        let holder = self
            .directory
            .store
            .object_by_key(caller.tenant(), ObjectKind::User, &fold(upn))
            .await
            .map_err(Error::from)?;
        match holder {
            Some(other) if other.deleted_at.is_none() && Some(other.id) != except => {
                Err(Error::conflict(DUPLICATE_UPN))
            }
            _ => Ok(()),
        }
    }

    /// A live user by object id or UPN; by id from this node's cache when it holds the user
    /// ([`crate::directory::cache`]).
    /// A signed-in user reads their own profile by id (`/me`).
    pub async fn get(&self, caller: &Caller, key: &str) -> Result<ObjectRecord> {
        let own = caller.user().is_some_and(|user| user.to_string().eq_ignore_ascii_case(key));
        decide(caller, Action::ReadUsers, if own { &Target::OwnProfile } else { &Target::Tenant })?;
        let tenant = caller.tenant();
        let Ok(id) = Uuid::parse_str(key) else { return self.live_user(caller, key).await };
        if let Some(user) = self.directory.cache.get(tenant, id).filter(|o| o.kind == ObjectKind::User) {
            return Ok(user);
        }
        let generation = self.directory.cache.generation(tenant);
        let user = self.live_user(caller, key).await?;
        if let Some(generation) = generation {
            self.directory.cache.keep(tenant, user.clone(), generation);
        }
        Ok(user)
    }

    /// The object id a user key names (an id, or a UPN looked up), for the user's write lock.
    pub(crate) async fn user_id(&self, caller: &Caller, key: &str) -> Result<Uuid> {
        match Uuid::parse_str(key) {
            Ok(id) => Ok(id),
            Err(_) => Ok(self.live_user(caller, key).await?.id),
        }
    }

    pub(crate) async fn live_user(&self, caller: &Caller, key: &str) -> Result<ObjectRecord> {
        schema::check_text("id", key)?;
        let tenant = caller.tenant();
        let found = match Uuid::parse_str(key) {
            Ok(id) => self.directory.store.object(tenant, ObjectKind::User, id).await,
            Err(_) => self.directory.store.object_by_key(tenant, ObjectKind::User, &fold(key)).await,
        }
        .map_err(Error::from)?;
        found.filter(|u| u.deleted_at.is_none()).ok_or_else(|| Error::not_found(key))
    }

    /// A page of the tenant's users that match the listing's filter, in its order.
    pub async fn list(&self, caller: &Caller, listing: Listing) -> Result<Page> {
        decide(caller, Action::ReadUsers, &Target::Collection)?;
        self.directory.page(caller, ObjectQuery::of(ObjectKind::User), listing).await
    }

    pub async fn update(&self, caller: &Caller, key: &str, patch: &Map<String, Value>) -> Result<()> {
        self.update_keeping(caller, key, patch, &Map::new(), None).await
    }

    /// [`Users::update`], also setting (or, `null`, removing) the internal values `kept` (names that begin
    /// with `_`) in the same write, and only while the user is at the version `expected` when one is named
    /// (else a `Conflict` on `version`).
    pub(crate) async fn update_keeping(
        &self,
        caller: &Caller,
        key: &str,
        patch: &Map<String, Value>,
        kept: &Map<String, Value>,
        expected: Option<i64>,
    ) -> Result<()> {
        let (changes, profile) = check_body(patch)?;
        let action = update_action(&changes, profile.is_some());
        require(caller, action)?;
        if profile.is_some() {
            require(caller, Action::ResetPasswords)?;
        }
        let tenant = self.directory.tenant_record(caller.tenant()).await?;
        let new_password = match profile {
            Some(PasswordProfile { password: Some(password), force_change, force_change_with_mfa }) => {
                Some((password, force_change || force_change_with_mfa))
            }
            _ => None,
        };
        let mut hash = None;
        let mut turn = self.directory.turn(caller, self.user_id(caller, key).await?, "user").await?;
        let sensitive = new_password.is_some()
            || changes.keys().any(|name| crate::auth::roles::SENSITIVE_USER_PROPERTIES.contains(&name.as_str()));
        loop {
            let current = self.live_user(caller, key).await?;
            if expected.is_some_and(|version| version != current.version) {
                return Err(moved_on());
            }
            if sensitive {
                self.directory.check_sensitive(caller, action, &current).await?;
            }
            let mut record = current.clone();
            let mut attributes: Vec<String> = changes.keys().cloned().collect();
            for (name, value) in &changes {
                if name == "userPrincipalName" {
                    let upn = check_user_principal_name(value.as_str().unwrap_or_default(), &tenant.domains)?;
                    record.unique_key = Some(fold(&upn));
                    record.doc.insert(name.clone(), Value::String(upn));
                } else if value.is_null() {
                    record.doc.remove(name);
                } else {
                    record.doc.insert(name.clone(), value.clone());
                }
            }
            normalise(&mut record.doc)?;
            for (name, value) in kept.iter().filter(|(name, _)| name.starts_with('_')) {
                match value.is_null() {
                    true => record.doc.remove(name),
                    false => record.doc.insert(name.clone(), value.clone()),
                };
                attributes.push(name.clone());
            }
            let mut writes = Vec::new();
            if let Some((password, force)) = &new_password {
                check_new_password(password, &record.doc, &tenant)?;
                if hash.is_none() {
                    if let Some(upn) = record.doc.get("userPrincipalName").and_then(Value::as_str) {
                        self.check_upn_free(caller, upn, Some(record.id)).await?;
                    }
                    hash = Some(self.directory.hasher.hash(password.clone(), self.directory.salt()).await?);
                }
                mark_password_change(&mut record.doc, *force, self.directory.now());
                attributes.push("passwordProfile".into());
                if let Some(hash) = &hash {
                    writes.push(Write::SetPassword { user: record.id, hash: hash.clone() });
                }
            }
            writes.insert(0, Write::update(&current, record, attributes));
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, writes).await? {
                return committed.map_err(|other| write_error(other, DUPLICATE_UPN));
            }
        }
    }

    /// `changePassword`: the signed-in user changes their own password, proving the current one. Like any
    /// password change it ends their other sign-ins (`signInSessionsValidFromDateTime`).
    pub async fn change_password(&self, caller: &Caller, key: &str, current: &str, new: &str) -> Result<()> {
        let own = caller.user().is_some_and(|user| user.to_string().eq_ignore_ascii_case(key));
        decide(caller, Action::ChangeOwnPassword, if own { &Target::OwnProfile } else { &Target::Tenant })?;
        let user = self.live_user(caller, key).await?;
        let hash = self.directory.store.password_hash(caller.tenant(), user.id).await.map_err(Error::from)?;
        if !self.directory.hasher.verify(current.to_owned(), hash).await? {
            return Err(Error::invalid_property("currentPassword", "The current password is not correct."));
        }
        self.replace_proven_password(caller, &user, current, new).await.map(|_| ())
    }

    /// The user's own change of a password they proved (`changePassword`, or the sign-in pages when the
    /// password has expired or was set by an administrator): the new one must differ from it and pass the
    /// tenant's rules.
    pub(crate) async fn replace_proven_password(
        &self,
        caller: &Caller,
        user: &ObjectRecord,
        current: &str,
        new: &str,
    ) -> Result<DateTime<Utc>> {
        if new == current {
            return Err(Error::invalid_property("newPassword", "The new password cannot be the current password."));
        }
        self.replace_password(caller, user, new).await
    }

    /// Sets a password the user chose (their own change, or a self-service reset) once it passes the tenant's
    /// rules, and tells them by email in the same transaction (Entra's notice of a password reset), so that a
    /// change they did not make does not go unseen; returns the instant of the change (sign-ins until then
    /// stand no more).
    pub(crate) async fn replace_password(
        &self,
        caller: &Caller,
        user: &ObjectRecord,
        new: &str,
    ) -> Result<DateTime<Utc>> {
        let tenant = self.directory.tenant_record(caller.tenant()).await?;
        check_new_password(new, &user.doc, &tenant)?;
        let hash = self.directory.hasher.hash(new.to_owned(), self.directory.salt()).await?;
        let notice = password_notice(&tenant.display_name, user, self.directory.now());
        self.set_password(caller, &user.id.to_string(), hash, false, notice).await
    }

    /// Sets a user's password (hashed already): a change that ends their sign-ins before now, and that they
    /// must follow with a change of their own at the next sign-in when `force`.
    /// Returns the instant of the change.
    async fn set_password(
        &self,
        caller: &Caller,
        key: &str,
        hash: String,
        force: bool,
        notice: Option<Mail>,
    ) -> Result<DateTime<Utc>> {
        let mut turn = self.directory.turn(caller, self.user_id(caller, key).await?, "user").await?;
        loop {
            let current = self.live_user(caller, key).await?;
            let mut record = current.clone();
            let now = self.directory.now();
            mark_password_change(&mut record.doc, force, now);
            let attributes = vec!["passwordProfile".into()];
            let mut writes = vec![
                Write::update(&current, record, attributes),
                Write::SetPassword { user: current.id, hash: hash.clone() },
            ];
            writes.extend(notice.clone().map(|mail| self.directory.outbox().queue(mail)));
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, writes).await? {
                return committed.map(|_| now).map_err(|other| write_error(other, DUPLICATE_UPN));
            }
        }
    }

    /// `resetPassword` on a user's password method: an Authentication or Privileged Authentication
    /// Administrator (or a Global Administrator) sets a new password — the one given, or one generated and
    /// returned — in a delegated call, never on themselves, subject to Entra's rule on privileged users. The
    /// user must change it at the next sign-in. Returns the generated password, if any, and the operation's id.
    pub async fn reset_password_method(
        &self,
        caller: &Caller,
        key: &str,
        method: &str,
        new: Option<&str>,
    ) -> Result<(Option<String>, String)> {
        if !method.eq_ignore_ascii_case(PASSWORD_METHOD) {
            return Err(Error::not_found(method));
        }
        require(caller, Action::ManageAuthenticationMethods)?;
        self.reset_as(caller, key, new, Action::ManageAuthenticationMethods).await
    }

    /// The admin center's "Reset password": a generated temporary password, which the user changes at the
    /// next sign-in, set by whoever may reset passwords (Helpdesk, Password, User and Authentication
    /// Administrators, within Entra's rule on privileged users), never on themselves. Returns it.
    pub async fn reset_password(&self, caller: &Caller, key: &str) -> Result<String> {
        require(caller, Action::ResetPasswords)?;
        let (generated, _) = self.reset_as(caller, key, None, Action::ResetPasswords).await?;
        generated.ok_or_else(|| Error::internal("no password was generated"))
    }

    /// Sets the user's password (`new`, or one generated and returned) as a reset by a person allowed
    /// `action`; the user must change it at the next sign-in.
    async fn reset_as(
        &self,
        caller: &Caller,
        key: &str,
        new: Option<&str>,
        action: Action,
    ) -> Result<(Option<String>, String)> {
        let user = self.live_user(caller, key).await?;
        if matches!(caller, Caller::App { .. }) || caller.user() == Some(user.id) {
            return Err(Error::forbidden());
        }
        self.directory.check_sensitive(caller, action, &user).await?;
        let tenant = self.directory.tenant_record(caller.tenant()).await?;
        let (password, generated) = match new {
            Some(password) => (password.to_owned(), None),
            None => {
                let password = self.generated_password(&user.doc, &tenant)?;
                (password.clone(), Some(password))
            }
        };
        check_new_password(&password, &user.doc, &tenant)?;
        let hash = self.directory.hasher.hash(password, self.directory.salt()).await?;
        self.set_password(caller, key, hash, true, None).await?;
        Ok((generated, self.operation_id(user.id)))
    }

    /// A password of 16 characters of every class that passes the tenant's checks.
    fn generated_password(&self, user: &Map<String, Value>, tenant: &TenantRecord) -> Result<String> {
        const CLASSES: [&str; 4] = ["ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz", "23456789", "!#%+-=?@_"];
        for _ in 0..16 {
            let password: String = (0..16)
                .map(|n| {
                    let class = CLASSES[n % CLASSES.len()].as_bytes();
                    char::from(class[self.directory.random().below(class.len() as u64) as usize])
                })
                .collect();
            if check_new_password(&password, user, tenant).is_ok() {
                return Ok(password);
            }
        }
        Err(Error::internal("no generated password passed the password checks"))
    }

    /// The id of a password reset's operation: the user and the time, MAC'd, so that it can be read back
    /// without being stored.
    fn operation_id(&self, user: Uuid) -> String {
        let at = self.directory.now().timestamp().to_be_bytes();
        let body = [user.as_bytes().as_slice(), &at].concat();
        let tag = self.directory.master.token_mac(&[b"reset-operation\0".as_slice(), &body].concat());
        URL_SAFE_NO_PAD.encode([body.as_slice(), &tag].concat())
    }

    /// A password reset's operation, as Graph shows it (`authenticationOperation`): it succeeded when it was
    /// made, the reset being done by the time it is answered.
    pub async fn reset_operation(&self, caller: &Caller, key: &str, id: &str) -> Result<Map<String, Value>> {
        require(caller, Action::ManageAuthenticationMethods)?;
        let user = self.live_user(caller, key).await?;
        let bytes = URL_SAFE_NO_PAD.decode(id).map_err(|_| Error::not_found(id))?;
        let (body, tag) = (bytes.get(..24).ok_or_else(|| Error::not_found(id))?, bytes.get(24..).unwrap_or_default());
        let signed = [b"reset-operation\0".as_slice(), body].concat();
        let at = i64::from_be_bytes(body[16..24].try_into().map_err(|_| Error::not_found(id))?);
        if body[..16] != *user.id.as_bytes() || !self.directory.master.verify_token_mac(&signed, tag) {
            return Err(Error::not_found(id));
        }
        let at = chrono::DateTime::from_timestamp(at, 0).map(format_time).unwrap_or_default();
        let mut out = Map::new();
        out.insert("id".into(), json!(id));
        out.insert("status".into(), json!("succeeded"));
        out.insert("createdDateTime".into(), json!(at));
        out.insert("lastActionDateTime".into(), json!(at));
        out.insert("resourceLocation".into(), Value::Null);
        Ok(out)
    }

    /// A user's password method (`passwordAuthenticationMethod`, the one id [`PASSWORD_METHOD`]): the
    /// password never shown, made when it was last changed.
    pub async fn password_method(&self, caller: &Caller, key: &str, method: &str) -> Result<Map<String, Value>> {
        require(caller, Action::ReadAuthenticationMethods)?;
        if !method.eq_ignore_ascii_case(PASSWORD_METHOD) {
            return Err(Error::not_found(method));
        }
        let user = self.live_user(caller, key).await?;
        let mut out = Map::new();
        out.insert("id".into(), json!(PASSWORD_METHOD));
        out.insert("password".into(), Value::Null);
        out.insert(
            "createdDateTime".into(),
            user.doc.get("lastPasswordChangeDateTime").cloned().unwrap_or(Value::Null),
        );
        Ok(out)
    }

    /// Revokes every refresh token and session of the user (Graph's `revokeSignInSessions`): sign-ins
    /// before now no longer count. A password change does the same.
    pub async fn revoke_sign_in_sessions(&self, caller: &Caller, key: &str) -> Result<()> {
        require(caller, Action::RevokeSessions)?;
        let now = self.directory.now();
        self.change_document(caller, key, SESSIONS_VALID_FROM, Action::RevokeSessions, |doc| {
            mark_sessions_revoked(doc, now);
            Ok(())
        })
        .await
    }

    /// One change of a user's document beyond what Graph's PATCH reaches (sessions, authentication methods),
    /// recorded under `attribute`: `edit` changes it, again on the fresh record when another change came
    /// first; `action` is what the caller does to the user, by Entra's rule on privileged targets.
    pub(crate) async fn change_document(
        &self,
        caller: &Caller,
        key: &str,
        attribute: &str,
        action: Action,
        edit: impl Fn(&mut Map<String, Value>) -> Result<()>,
    ) -> Result<()> {
        let mut turn = self.directory.turn(caller, self.user_id(caller, key).await?, "user").await?;
        loop {
            let current = self.live_user(caller, key).await?;
            self.directory.check_sensitive(caller, action, &current).await?;
            let mut record = current.clone();
            edit(&mut record.doc)?;
            let attributes = vec![attribute.to_owned()];
            let writes = vec![Write::update(&current, record, attributes)];
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, writes).await? {
                return committed.map_err(|other| write_error(other, DUPLICATE_UPN));
            }
        }
    }

    /// Moves the user to deleted items, restorable for the retention period.
    pub async fn delete(&self, caller: &Caller, key: &str) -> Result<()> {
        self.delete_at(caller, key, None).await
    }

    /// [`Users::delete`], only while the user is at the version `expected` when one is named (else a
    /// `Conflict` on `version`).
    pub(crate) async fn delete_at(&self, caller: &Caller, key: &str, expected: Option<i64>) -> Result<()> {
        require(caller, Action::WriteUsers)?;
        let user = self.live_user(caller, key).await?;
        self.directory.check_sensitive(caller, Action::WriteUsers, &user).await?;
        let write = self.directory.soft_delete(caller, ObjectKind::User, user.id).await?;
        self.directory.commit(caller, vec![at_version(write, &user, expected)?]).await.map_err(|e| {
            match (e, expected) {
                (StoreError::Missing, Some(_)) => moved_on(),
                (other, _) => write_error(other, DUPLICATE_UPN),
            }
        })?;
        Ok(())
    }

    pub async fn set_manager(&self, caller: &Caller, key: &str, manager: &str) -> Result<()> {
        require(caller, Action::WriteUsers)?;
        let manager = self.live_user(caller, manager).await?;
        let mut turn = self.directory.turn(caller, self.user_id(caller, key).await?, "user").await?;
        loop {
            let user = self.live_user(caller, key).await?;
            if user.id == manager.id {
                return Err(Error::invalid("A user cannot be their own manager."));
            }
            if let Some(committed) =
                self.directory.commit_attempt(caller, &mut turn, vec![manager_write(&user, Some(manager.id))]).await?
            {
                return committed.map_err(|e| write_error(e, DUPLICATE_UPN));
            }
        }
    }

    pub async fn remove_manager(&self, caller: &Caller, key: &str) -> Result<()> {
        require(caller, Action::WriteUsers)?;
        let mut turn = self.directory.turn(caller, self.user_id(caller, key).await?, "user").await?;
        loop {
            let user = self.live_user(caller, key).await?;
            if user.manager.is_none() {
                return Err(Error::not_found("manager"));
            }
            if let Some(committed) =
                self.directory.commit_attempt(caller, &mut turn, vec![manager_write(&user, None)]).await?
            {
                return committed.map_err(|e| write_error(e, DUPLICATE_UPN));
            }
        }
    }

    pub async fn get_manager(&self, caller: &Caller, key: &str) -> Result<ObjectRecord> {
        require(caller, Action::ReadUsers)?;
        let user = self.live_user(caller, key).await?;
        let manager = user.manager.ok_or_else(|| Error::not_found("manager"))?;
        self.live_user(caller, &manager.to_string()).await.map_err(|_| Error::not_found("manager"))
    }

    /// The live managers of the given users, by user id; for `$expand=manager`.
    pub async fn managers_of(&self, caller: &Caller, users: &[ObjectRecord]) -> Result<HashMap<Uuid, ObjectRecord>> {
        require(caller, Action::ReadUsers)?;
        let mut out = HashMap::new();
        for user in users {
            if let Some(manager) = user.manager {
                let found = self
                    .directory
                    .store
                    .object(caller.tenant(), ObjectKind::User, manager)
                    .await
                    .map_err(Error::from)?;
                if let Some(manager) = found.filter(|m| m.deleted_at.is_none()) {
                    out.insert(user.id, manager);
                }
            }
        }
        Ok(out)
    }

    pub async fn direct_reports(&self, caller: &Caller, key: &str, listing: Listing) -> Result<Page> {
        require(caller, Action::ReadUsers)?;
        let user = self.live_user(caller, key).await?;
        self.directory
            .page(caller, ObjectQuery { manager: Some(user.id), ..ObjectQuery::of(ObjectKind::User) }, listing)
            .await
    }
}

/// The write that sets (or removes) the user's manager.
fn manager_write(user: &ObjectRecord, manager: Option<Uuid>) -> Write {
    let object = ObjectRecord { manager, ..user.clone() };
    Write::update(user, object, vec!["manager".into()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upn_rules() {
        let domains = vec!["contoso.test".to_owned()];
        assert_eq!(check_user_principal_name("Ada.L@Contoso.Test", &domains), Ok("Ada.L@contoso.test".into()));
        for bad in [
            "ada",
            "@contoso.test",
            "ada@fabrikam.test",
            "ad a@contoso.test",
            "ada.@contoso.test",
            ".ada@contoso.test",
            "ädå@contoso.test",
            &format!("{}@contoso.test", "a".repeat(65)),
        ] {
            assert!(check_user_principal_name(bad, &domains).is_err(), "{bad}");
        }
    }
}
