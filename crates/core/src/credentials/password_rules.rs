//! The password rules a tenant's directory settings make (the `Password Rule Settings` template of Graph's
//! `groupSettings`): the custom banned-password list and smart lockout's threshold and duration. The
//! settings themselves are the tenants feature's (its `settings` module); the rules are read here, by
//! every password check and sign-in.

use crate::store::TenantRecord;
use serde_json::{Map, Value};

/// Internal organization key: the tenant's settings by template id, each `{"id", "values": {name: value}}`.
pub const SETTINGS_KEY: &str = "_directorySettings";
/// The most terms of a custom banned-password list.
pub const MOST_CUSTOM_TERMS: usize = 1000;

/// A setting's value type, as templates name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Boolean,
    Int32 {
        min: i64,
        max: i64,
    },
    /// Text (a banned-password list: terms separated by tabs).
    Text,
}

/// One value a template defines.
#[derive(Debug, Clone, Copy)]
pub struct TemplateValue {
    pub name: &'static str,
    pub ty: ValueType,
    pub default: &'static str,
    pub description: &'static str,
}

/// A settings template.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    pub id: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
    pub values: &'static [TemplateValue],
}

pub const PASSWORD_RULE_SETTINGS: &str = "5cf42378-d67d-4f36-ba46-e8b86229381d";

/// The templates Gatehouse offers.
pub const TEMPLATES: [Template; 1] = [Template {
    id: PASSWORD_RULE_SETTINGS,
    display_name: "Password Rule Settings",
    description: "Settings for managing tenant-wide password rules.",
    values: &[
        TemplateValue {
            name: "BannedPasswordCheckOnPremisesMode",
            ty: ValueType::Text,
            default: "Audit",
            description:
                "How passwords are checked on premises (Enforce or Audit); kept as set, no on-premises agent here.",
        },
        TemplateValue {
            name: "EnableBannedPasswordCheckOnPremises",
            ty: ValueType::Boolean,
            default: "True",
            description: "Whether the banned list is checked on premises; kept as set, no on-premises agent here.",
        },
        TemplateValue {
            name: "EnableBannedPasswordCheck",
            ty: ValueType::Boolean,
            default: "True",
            description: "Whether the custom banned-password list is checked.",
        },
        TemplateValue {
            name: "LockoutDurationInSeconds",
            ty: ValueType::Int32 { min: 5, max: 86_400 },
            default: "60",
            description: "How long the first smart lockout lasts, in seconds.",
        },
        TemplateValue {
            name: "LockoutThreshold",
            ty: ValueType::Int32 { min: 1, max: 100 },
            default: "10",
            description: "How many failed sign-ins lock an account.",
        },
        TemplateValue {
            name: "BannedPasswordList",
            ty: ValueType::Text,
            default: "",
            description: "The custom banned-password list: up to 1,000 terms of 4 to 16 characters, separated by tabs.",
        },
    ],
}];

/// The password rules a tenant's settings make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordRules {
    /// The custom banned-password list, when it is checked.
    pub custom_banned: Vec<String>,
    pub lockout_threshold: u32,
    pub lockout_seconds: i64,
}

/// A template by id.
pub fn template(id: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.id.eq_ignore_ascii_case(id))
}

/// The tenant's settings: template, setting id and values.
pub fn stored(tenant: &TenantRecord) -> Vec<(&'static Template, String, Map<String, Value>)> {
    let settings = tenant.organization.get(SETTINGS_KEY).and_then(Value::as_object);
    settings
        .into_iter()
        .flatten()
        .filter_map(|(template_id, setting)| {
            let id = setting.get("id").and_then(Value::as_str)?.to_owned();
            let values = setting.get("values").and_then(Value::as_object).cloned().unwrap_or_default();
            Some((template(template_id)?, id, values))
        })
        .collect()
}

/// The password rules of a tenant: its `Password Rule Settings`, or the defaults.
pub fn password_rules(tenant: &TenantRecord) -> PasswordRules {
    let settings = stored(tenant);
    let values = settings.iter().find(|(t, _, _)| t.id == PASSWORD_RULE_SETTINGS).map(|(_, _, v)| v.clone());
    let values = values.unwrap_or_default();
    let value = |name: &str| {
        let default = TEMPLATES[0].values.iter().find(|v| v.name == name).map(|v| v.default).unwrap_or_default();
        values.get(name).and_then(Value::as_str).unwrap_or(default).to_owned()
    };
    let enforced = value("EnableBannedPasswordCheck").eq_ignore_ascii_case("true");
    PasswordRules {
        custom_banned: match enforced {
            true => value("BannedPasswordList")
                .split('\t')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            false => Vec::new(),
        },
        lockout_threshold: value("LockoutThreshold").parse().unwrap_or(10),
        lockout_seconds: value("LockoutDurationInSeconds").parse().unwrap_or(60),
    }
}

/// Internal organization key: each domain's password validity in days (`passwordValidityPeriodInDays`).
pub const VALIDITY_KEY: &str = "_passwordValidity";
/// Graph's value for passwords that never expire (Entra's default since 2021).
pub const NEVER_EXPIRES: i64 = 2_147_483_647;

/// How many days a password of a user of `domain` stays valid.
pub fn validity_days(tenant: &TenantRecord, domain: &str) -> i64 {
    let days = tenant.organization.get(VALIDITY_KEY).and_then(|v| v.get(domain.to_lowercase()));
    days.and_then(Value::as_i64).unwrap_or(NEVER_EXPIRES)
}

/// Whether a user's password has expired at `now`: its domain's validity has passed since
/// `lastPasswordChangeDateTime`, and the user's `passwordPolicies` do not say `DisablePasswordExpiration`.
pub fn password_expired(tenant: &TenantRecord, user: &Map<String, Value>, now: chrono::DateTime<chrono::Utc>) -> bool {
    let text = |name: &str| user.get(name).and_then(Value::as_str).unwrap_or_default();
    if text("passwordPolicies").contains("DisablePasswordExpiration") {
        return false;
    }
    let domain = text("userPrincipalName").rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    let days = validity_days(tenant, domain);
    let changed = chrono::DateTime::parse_from_rfc3339(text("lastPasswordChangeDateTime")).ok();
    days < NEVER_EXPIRES
        && changed.is_some_and(|at| now >= at.with_timezone(&chrono::Utc) + chrono::Duration::days(days))
}
