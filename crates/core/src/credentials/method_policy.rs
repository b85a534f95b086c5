//! The tenant's authentication methods policy (Graph's `authenticationMethodsPolicy`): which of the methods
//! Gatehouse offers beyond the password each user may register and use, by method: enabled or disabled, for
//! all users or for groups (`includeTargets`), some groups left out (`excludeTargets`). Kept in the
//! organization record under [`POLICY_KEY`]; a method never configured has its default: authenticator apps
//! (software OATH) and temporary access passes on for all users, email one-time codes off — a tenant allows
//! them explicitly.

use crate::kernel::error::{Error, Result};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// Internal organization key of the policy: each configured method's document, by its id.
pub const POLICY_KEY: &str = "_authenticationMethodsPolicy";
/// The email method's setting for guests' codes.
const EXTERNAL_OTP: &str = "allowExternalIdToUseEmailOtp";
/// The target that stands for every user.
const ALL_USERS: &str = "all_users";

/// A method the policy governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// An authenticator app's codes (TOTP).
    SoftwareOath,
    TemporaryAccessPass,
    /// A one-time code sent to the user's email address, as a second factor.
    Email,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::SoftwareOath, Method::TemporaryAccessPass, Method::Email];

    /// The configuration's id in Graph.
    pub fn id(self) -> &'static str {
        match self {
            Method::SoftwareOath => "SoftwareOath",
            Method::TemporaryAccessPass => "TemporaryAccessPass",
            Method::Email => "Email",
        }
    }

    fn odata_type(self) -> &'static str {
        match self {
            Method::SoftwareOath => "#microsoft.graph.softwareOathAuthenticationMethodConfiguration",
            Method::TemporaryAccessPass => "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration",
            Method::Email => "#microsoft.graph.emailAuthenticationMethodConfiguration",
        }
    }

    pub fn parse(id: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.id().eq_ignore_ascii_case(id))
    }

    fn enabled_by_default(self) -> bool {
        !matches!(self, Method::Email)
    }
}

/// One method's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration {
    pub enabled: bool,
    /// `all_users` or group ids.
    pub include: Vec<String>,
    /// Group ids.
    pub exclude: Vec<String>,
    /// Email codes only: whether guests sign in with codes mailed to them (`allowExternalIdToUseEmailOtp`:
    /// `default`, which is on, `enabled` or `disabled`), whatever the method's state for members.
    pub external_otp: Option<String>,
}

impl Configuration {
    fn default_for(method: Method) -> Configuration {
        Configuration {
            enabled: method.enabled_by_default(),
            include: vec![ALL_USERS.to_owned()],
            exclude: Vec::new(),
            external_otp: (method == Method::Email).then(|| "default".to_owned()),
        }
    }

    /// The method's configuration in the organization record (its default when never configured).
    pub fn of(organization: &Map<String, Value>, method: Method) -> Configuration {
        let stored = organization.get(POLICY_KEY).and_then(|p| p.get(method.id()));
        let Some(stored) = stored else { return Configuration::default_for(method) };
        let ids = |key: &str| -> Vec<String> {
            let items = stored.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            items.iter().filter_map(|t| t.get("id").and_then(Value::as_str).map(str::to_owned)).collect()
        };
        Configuration {
            enabled: stored.get("state") == Some(&json!("enabled")),
            include: ids("includeTargets"),
            exclude: ids("excludeTargets"),
            external_otp: (method == Method::Email).then(|| {
                let stored = stored.get(EXTERNAL_OTP).and_then(Value::as_str);
                stored.unwrap_or("default").to_owned()
            }),
        }
    }

    /// Whether the method is on for a user in `groups` (their groups, transitively).
    pub fn allows(&self, groups: &[Uuid]) -> bool {
        let member = |id: &String| groups.iter().any(|g| g.to_string().eq_ignore_ascii_case(id));
        self.enabled && self.include.iter().any(|t| t == ALL_USERS || member(t)) && !self.exclude.iter().any(member)
    }

    /// Whether deciding needs the user's groups.
    pub fn names_groups(&self) -> bool {
        self.enabled && (self.include.iter().any(|t| t != ALL_USERS) || !self.exclude.is_empty())
    }

    /// The configuration as Graph shows it (`authenticationMethodConfiguration`).
    pub fn to_json(&self, method: Method) -> Map<String, Value> {
        let included: Vec<Value> = self
            .include
            .iter()
            .map(|id| json!({"targetType": "group", "id": id, "isRegistrationRequired": false}))
            .collect();
        let excluded: Vec<Value> = self.exclude.iter().map(|id| json!({"targetType": "group", "id": id})).collect();
        let doc = json!({
            "@odata.type": method.odata_type(),
            "id": method.id(),
            "state": if self.enabled { "enabled" } else { "disabled" },
            "includeTargets": included,
            "excludeTargets": excluded,
        });
        let mut doc = doc.as_object().cloned().unwrap_or_default();
        if let Some(external) = &self.external_otp {
            doc.insert(EXTERNAL_OTP.into(), json!(external));
        }
        doc
    }

    /// The configuration with a `PATCH` body's `state`, `includeTargets` and `excludeTargets` applied;
    /// anything else is refused.
    pub fn patched(&self, body: &Map<String, Value>) -> Result<Configuration> {
        let mut out = self.clone();
        for (name, value) in body {
            match name.as_str() {
                "@odata.type" | "id" => {}
                "state" => {
                    out.enabled = match value.as_str() {
                        Some("enabled") => true,
                        Some("disabled") => false,
                        _ => return Err(Error::invalid_property("state", "The state is 'enabled' or 'disabled'.")),
                    }
                }
                "includeTargets" => out.include = targets(name, value, true)?,
                "excludeTargets" => out.exclude = targets(name, value, false)?,
                EXTERNAL_OTP if self.external_otp.is_some() => {
                    let value = value.as_str().filter(|v| ["default", "enabled", "disabled"].contains(v));
                    let wrong = || Error::invalid_property(name, "It is 'default', 'enabled' or 'disabled'.");
                    out.external_otp = Some(value.ok_or_else(wrong)?.to_owned());
                }
                other => {
                    return Err(Error::invalid_property(
                        other,
                        format!("'{other}' is not a setting Gatehouse keeps for this method."),
                    ))
                }
            }
        }
        if out.enabled && out.include.is_empty() {
            return Err(Error::invalid_property("includeTargets", "An enabled method names whom it is for."));
        }
        Ok(out)
    }

    /// The configuration as the organization record keeps it.
    pub fn stored(&self) -> Value {
        let targets = |ids: &[String]| ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>();
        let mut stored = json!({
            "state": if self.enabled { "enabled" } else { "disabled" },
            "includeTargets": targets(&self.include),
            "excludeTargets": targets(&self.exclude),
        });
        if let (Some(external), Value::Object(doc)) = (&self.external_otp, &mut stored) {
            doc.insert(EXTERNAL_OTP.into(), json!(external));
        }
        stored
    }
}

/// A list of targets: groups by id, and (to include) `all_users`.
fn targets(name: &str, value: &Value, include: bool) -> Result<Vec<String>> {
    let wrong = |what: &str| Error::invalid_property(name, what.to_owned());
    let items = value.as_array().ok_or_else(|| wrong("Targets are a list."))?;
    let mut out = Vec::new();
    for item in items {
        let kind = item.get("targetType").and_then(Value::as_str).unwrap_or("group");
        let id = item.get("id").and_then(Value::as_str).ok_or_else(|| wrong("Each target has an id."))?;
        if kind != "group" {
            return Err(wrong("Targets are groups ('targetType': 'group')."));
        }
        match (id, Uuid::parse_str(id)) {
            (ALL_USERS, _) if include => out.push(ALL_USERS.to_owned()),
            (_, Ok(group)) => out.push(group.to_string()),
            _ => return Err(wrong("A target is 'all_users' (to include) or a group's id.")),
        }
    }
    Ok(out)
}

/// Whether guests whose identity `mail` issued sign in with codes mailed to them (on unless disabled).
pub fn guests_use_email_codes(organization: &Map<String, Value>) -> bool {
    Configuration::of(organization, Method::Email).external_otp.as_deref() != Some("disabled")
}

/// The whole policy as Graph shows it.
pub fn policy_json(organization: &Map<String, Value>) -> Map<String, Value> {
    let configurations: Vec<Value> =
        Method::ALL.iter().map(|m| Value::Object(Configuration::of(organization, *m).to_json(*m))).collect();
    let doc = json!({
        "id": "authenticationMethodsPolicy",
        "displayName": "Authentication Methods Policy",
        "description": "The tenant-wide policy that controls which authentication methods are allowed in the tenant, authentication method registration requirements, and self-service password reset settings",
        "policyVersion": "1.5",
        "authenticationMethodConfigurations": configurations,
    });
    doc.as_object().cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_on_by_default_except_email_and_follow_their_targets() {
        let organization = Map::new();
        assert!(Configuration::of(&organization, Method::SoftwareOath).allows(&[]));
        assert!(!Configuration::of(&organization, Method::Email).allows(&[]));
        let (staff, interns) = (Uuid::now_v7(), Uuid::now_v7());
        let body = json!({"state": "enabled", "includeTargets": [{"targetType": "group", "id": staff.to_string()}],
                          "excludeTargets": [{"targetType": "group", "id": interns.to_string()}]});
        let email = Configuration::of(&organization, Method::Email).patched(body.as_object().unwrap()).unwrap();
        assert!(email.allows(&[staff]) && !email.allows(&[staff, interns]) && !email.allows(&[]));
        let mut organization = Map::new();
        organization.insert(POLICY_KEY.into(), json!({"Email": email.stored()}));
        assert_eq!(Configuration::of(&organization, Method::Email), email);
        assert!(guests_use_email_codes(&organization), "guests' codes are on by default");
        let off = email.patched(json!({"allowExternalIdToUseEmailOtp": "disabled"}).as_object().unwrap()).unwrap();
        organization.insert(POLICY_KEY.into(), json!({"Email": off.stored()}));
        assert!(!guests_use_email_codes(&organization));
        for bad in [
            json!({"state": "on"}),
            json!({"includeTargets": [{"targetType": "user", "id": staff.to_string()}]}),
            json!({"excludeTargets": [{"id": "all_users"}]}),
            json!({"includeTargets": []}),
            json!({"allowExternalIdToUseEmailOtp": "enabled"}),
        ] {
            let base = Configuration::of(&Map::new(), Method::SoftwareOath);
            assert!(base.patched(bad.as_object().unwrap()).is_err(), "{bad}");
        }
    }
}
