//! A Conditional Access policy as Graph writes it (`conditionalAccessPolicy`), checked and normalised: what
//! Gatehouse can evaluate is kept, what it cannot (risk, devices, compliant devices, terms of use,
//! authentication strengths, workload identities) is refused with the reason, never silently ignored. The
//! normalised document is what Graph shows back (unset lists `[]`, unset objects `null`), and what
//! [`Policy::read`] turns into the form evaluation reads.

use crate::auth::roles::role;
use crate::kernel::error::{Error, Result};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// Whether a policy is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Enabled,
    Disabled,
    /// `enabledForReportingButNotEnforced`: evaluated and recorded, never enforced.
    ReportOnly,
}

/// The kinds of client Gatehouse tells apart (`clientAppTypes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientApp {
    Browser,
    MobileAppsAndDesktopClients,
}

impl ClientApp {
    pub fn name(self) -> &'static str {
        match self {
            ClientApp::Browser => "browser",
            ClientApp::MobileAppsAndDesktopClients => "mobileAppsAndDesktopClients",
        }
    }
}

/// Device platforms (`platforms`), as told from a User-Agent.
pub const PLATFORMS: [&str; 6] = ["android", "iOS", "windows", "windowsPhone", "macOS", "linux"];

/// The grant controls Gatehouse enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Block,
    Mfa,
}

/// A policy's grant: `block`, or the controls of which all (`AND`) or one (`OR`) must be satisfied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub all: bool,
    pub controls: Vec<Control>,
}

/// Include and exclude lists of one condition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lists {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

/// A policy, as evaluation reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub id: String,
    pub display_name: String,
    pub state: State,
    /// Users by id, or `All`, `None`, `GuestsOrExternalUsers`.
    pub users: Lists,
    pub groups: Lists,
    pub roles: Lists,
    /// Whether the guest-or-external-user types included or excluded take in guests.
    pub guests: (bool, bool),
    /// Applications by app id, or `All`, `None`.
    pub applications: Lists,
    pub user_actions: Vec<String>,
    /// Empty: every client.
    pub client_apps: Vec<String>,
    pub platforms: Option<Lists>,
    /// Named locations by id, or `All`, `AllTrusted`.
    pub locations: Option<Lists>,
    pub grant: Option<Grant>,
    /// How long a sign-in counts before the person must sign in again (`signInFrequency`), in seconds;
    /// zero for `everyTime`.
    pub sign_in_frequency: Option<i64>,
    /// `persistentBrowser`: whether the browser session persists (`always`) or ends with the browser (`never`).
    pub persistent_browser: Option<bool>,
}

/// The user action of registering security information (Entra's `urn:user:registersecurityinfo`).
pub const REGISTER_SECURITY_INFO: &str = "urn:user:registersecurityinfo";

fn wrong(message: impl Into<String>) -> Error {
    Error::invalid_property("conditionalAccessPolicy", message)
}

fn strings(value: Option<&Value>, name: &str) -> Result<Vec<String>> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| wrong(format!("{name} is a list of strings."))))
            .collect(),
        Some(_) => Err(wrong(format!("{name} is a list of strings."))),
    }
}

fn object<'a>(value: Option<&'a Value>, name: &str) -> Result<Option<&'a Map<String, Value>>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(wrong(format!("{name} is an object."))),
    }
}

/// Refuses a condition or control that is set, naming why Gatehouse cannot evaluate it.
fn unsupported(value: Option<&Value>, name: &str, why: &str) -> Result<()> {
    let set = match value {
        None | Some(Value::Null) => false,
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Object(map)) => map.get("isEnabled") != Some(&Value::Bool(false)),
        Some(_) => true,
    };
    match set {
        true => Err(wrong(format!("{name} cannot be evaluated here: {why}"))),
        false => Ok(()),
    }
}

/// Each id a GUID, or one of the keywords.
fn ids_or(values: &[String], keywords: &[&str], name: &str) -> Result<Vec<String>> {
    values
        .iter()
        .map(|v| match keywords.iter().find(|k| k.eq_ignore_ascii_case(v)) {
            Some(keyword) => Ok((*keyword).to_owned()),
            None => Uuid::parse_str(v)
                .map(|id| id.to_string())
                .map_err(|_| wrong(format!("'{v}' in {name} is neither an id nor one of {}.", keywords.join(", ")))),
        })
        .collect()
}

fn lists(map: &Map<String, Value>, include: &str, exclude: &str, keywords: &[&str]) -> Result<Lists> {
    Ok(Lists {
        include: ids_or(&strings(map.get(include), include)?, keywords, include)?,
        exclude: ids_or(&strings(map.get(exclude), exclude)?, keywords, exclude)?,
    })
}

/// The guest-or-external-user types a `conditionalAccessGuestsOrExternalUsers` names, and whether they take
/// in this directory's guests (`internalGuest`, `b2bCollaborationGuest`).
fn guest_types(value: Option<&Value>, name: &str) -> Result<(bool, Value)> {
    let Some(map) = object(value, name)? else { return Ok((false, Value::Null)) };
    const TYPES: [&str; 7] = [
        "none",
        "internalGuest",
        "b2bCollaborationGuest",
        "b2bCollaborationMember",
        "b2bDirectConnectUser",
        "otherExternalUser",
        "serviceProvider",
    ];
    let text = map.get("guestOrExternalUserTypes").and_then(Value::as_str).unwrap_or_default();
    let types: Vec<&str> = text.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
    if let Some(bad) = types.iter().find(|t| !TYPES.contains(t)) {
        return Err(wrong(format!("'{bad}' is not a guest or external user type.")));
    }
    let kind = map.get("externalTenants").and_then(|t| t.get("membershipKind")).and_then(Value::as_str);
    if kind.is_some_and(|k| k != "all") {
        return Err(wrong(format!("{name}: only externalTenants with membershipKind 'all' can be evaluated here.")));
    }
    let guests = types.iter().any(|t| *t == "internalGuest" || *t == "b2bCollaborationGuest");
    let shown = json!({
        "guestOrExternalUserTypes": types.join(","),
        "externalTenants": {"@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants", "membershipKind": "all"},
    });
    Ok((guests, shown))
}

/// Checks a policy's body (`known_locations`: the ids of the tenant's named locations) and returns its
/// normalised document, with `id`, `createdDateTime` and `modifiedDateTime` as given.
pub fn normalise(body: &Map<String, Value>, known_locations: &[String]) -> Result<Map<String, Value>> {
    let display_name = body.get("displayName").and_then(Value::as_str).map(str::trim).unwrap_or_default();
    if display_name.is_empty() || display_name.chars().count() > 256 {
        return Err(wrong("displayName is required, at most 256 characters."));
    }
    let state = body.get("state").and_then(Value::as_str).unwrap_or_default();
    if !["enabled", "disabled", "enabledForReportingButNotEnforced"].contains(&state) {
        return Err(wrong("state is enabled, disabled or enabledForReportingButNotEnforced."));
    }
    let conditions = object(body.get("conditions"), "conditions")?.ok_or_else(|| wrong("conditions are required."))?;
    let risk = "risk detection is not available, so no sign-in or user risk is ever known.";
    unsupported(conditions.get("signInRiskLevels"), "signInRiskLevels", risk)?;
    unsupported(conditions.get("userRiskLevels"), "userRiskLevels", risk)?;
    unsupported(conditions.get("servicePrincipalRiskLevels"), "servicePrincipalRiskLevels", risk)?;
    unsupported(conditions.get("insiderRiskLevels"), "insiderRiskLevels", risk)?;
    let devices = "no device is registered or managed here.";
    unsupported(conditions.get("devices"), "devices", devices)?;
    unsupported(conditions.get("deviceStates"), "deviceStates", devices)?;
    unsupported(
        conditions.get("clientApplications"),
        "clientApplications",
        "policies for workload identities are not supported.",
    )?;
    unsupported(conditions.get("times"), "times", "time conditions are not supported.")?;
    unsupported(
        conditions.get("authenticationFlows"),
        "authenticationFlows",
        "authentication flows are not told apart.",
    )?;

    let users = object(conditions.get("users"), "users")?.ok_or_else(|| wrong("conditions.users is required."))?;
    let user_keywords = ["All", "None", "GuestsOrExternalUsers"];
    let user_lists = lists(users, "includeUsers", "excludeUsers", &user_keywords)?;
    let group_lists = lists(users, "includeGroups", "excludeGroups", &[])?;
    let role_lists = lists(users, "includeRoles", "excludeRoles", &[])?;
    if let Some(unknown) = role_lists.include.iter().chain(&role_lists.exclude).find(|r| role(r).is_none()) {
        return Err(wrong(format!("'{unknown}' is not the template id of a built-in directory role.")));
    }
    let (_, include_guests_shown) =
        guest_types(users.get("includeGuestsOrExternalUsers"), "includeGuestsOrExternalUsers")?;
    let (_, exclude_guests_shown) =
        guest_types(users.get("excludeGuestsOrExternalUsers"), "excludeGuestsOrExternalUsers")?;
    let includes_someone = !user_lists.include.is_empty()
        || !group_lists.include.is_empty()
        || !role_lists.include.is_empty()
        || !include_guests_shown.is_null();
    if !includes_someone {
        return Err(wrong("conditions.users must include users, groups, roles or guests (or None)."));
    }

    let apps = object(conditions.get("applications"), "applications")?
        .ok_or_else(|| wrong("conditions.applications is required."))?;
    unsupported(
        apps.get("includeAuthenticationContextClassReferences"),
        "includeAuthenticationContextClassReferences",
        "authentication contexts are not supported.",
    )?;
    unsupported(apps.get("applicationFilter"), "applicationFilter", "application filters are not supported.")?;
    let app_lists = lists(apps, "includeApplications", "excludeApplications", &["All", "None"])
        .map_err(|_| wrong("Applications are app ids, All or None (Office365 and MicrosoftAdminPortals name Microsoft's apps, which are not here)."))?;
    let user_actions = strings(apps.get("includeUserActions"), "includeUserActions")?;
    if let Some(bad) = user_actions.iter().find(|a| a.as_str() != REGISTER_SECURITY_INFO) {
        return Err(wrong(format!("The user action '{bad}' is not supported; '{REGISTER_SECURITY_INFO}' is.")));
    }
    if app_lists.include.is_empty() == user_actions.is_empty() {
        return Err(wrong("conditions.applications names either included applications or a user action."));
    }

    let client_apps = strings(conditions.get("clientAppTypes"), "clientAppTypes")?;
    const CLIENT_APPS: [&str; 6] =
        ["all", "browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "easSupported", "other"];
    if let Some(bad) = client_apps.iter().find(|c| !CLIENT_APPS.contains(&c.as_str())) {
        return Err(wrong(format!("'{bad}' is not a client app type.")));
    }
    let client_apps = if client_apps.is_empty() { vec!["all".to_owned()] } else { client_apps };

    let platforms = match object(conditions.get("platforms"), "platforms")? {
        None => Value::Null,
        Some(map) => {
            let mut names = PLATFORMS.to_vec();
            names.push("all");
            let check = |name: &str| -> Result<Vec<String>> {
                let given = strings(map.get(name), name)?;
                given
                    .iter()
                    .map(|p| {
                        names
                            .iter()
                            .find(|n| n.eq_ignore_ascii_case(p))
                            .map(|n| (*n).to_owned())
                            .ok_or_else(|| wrong(format!("'{p}' is not a device platform.")))
                    })
                    .collect()
            };
            json!({"includePlatforms": check("includePlatforms")?, "excludePlatforms": check("excludePlatforms")?})
        }
    };

    let locations = match object(conditions.get("locations"), "locations")? {
        None => Value::Null,
        Some(map) => {
            let keywords = ["All", "AllTrusted"];
            let named = lists(map, "includeLocations", "excludeLocations", &keywords)?;
            let unknown = named
                .include
                .iter()
                .chain(&named.exclude)
                .find(|l| !keywords.contains(&l.as_str()) && !known_locations.contains(l));
            if let Some(unknown) = unknown {
                return Err(wrong(format!("No named location has id '{unknown}'.")));
            }
            json!({"includeLocations": named.include, "excludeLocations": named.exclude})
        }
    };

    let grant = match object(body.get("grantControls"), "grantControls")? {
        None => Value::Null,
        Some(map) => {
            let operator = map.get("operator").and_then(Value::as_str).unwrap_or("OR").to_ascii_uppercase();
            if operator != "AND" && operator != "OR" {
                return Err(wrong("grantControls.operator is AND or OR."));
            }
            let controls = strings(map.get("builtInControls"), "builtInControls")?;
            for control in &controls {
                match control.as_str() {
                    "block" | "mfa" => {}
                    "passwordChange" => {
                        return Err(wrong(
                            "passwordChange needs a user-risk condition, and risk detection is not available.",
                        ))
                    }
                    other => {
                        return Err(wrong(format!(
                            "The grant control '{other}' cannot be enforced here: no device is managed and no app is protected."
                        )))
                    }
                }
            }
            if controls.iter().any(|c| c == "block") && controls.len() > 1 {
                return Err(wrong("block is a grant control of its own."));
            }
            unsupported(map.get("customAuthenticationFactors"), "customAuthenticationFactors", "none exist here.")?;
            unsupported(map.get("termsOfUse"), "termsOfUse", "terms of use are not supported.")?;
            unsupported(map.get("authenticationStrength"), "authenticationStrength", "use the mfa control.")?;
            json!({
                "operator": operator,
                "builtInControls": controls,
                "customAuthenticationFactors": [],
                "termsOfUse": [],
                "authenticationStrength": null,
            })
        }
    };

    let session = match object(body.get("sessionControls"), "sessionControls")? {
        None => Value::Null,
        Some(map) => {
            let why = "no app session is proxied or restricted here.";
            unsupported(map.get("applicationEnforcedRestrictions"), "applicationEnforcedRestrictions", why)?;
            unsupported(map.get("cloudAppSecurity"), "cloudAppSecurity", why)?;
            let frequency = match object(map.get("signInFrequency"), "signInFrequency")? {
                Some(f) if f.get("isEnabled") == Some(&Value::Bool(true)) => {
                    let interval = f.get("frequencyInterval").and_then(Value::as_str).unwrap_or("timeBased");
                    match interval {
                        "everyTime" => {
                            json!({"isEnabled": true, "type": null, "value": null, "authenticationType": "primaryAndSecondaryAuthentication", "frequencyInterval": "everyTime"})
                        }
                        "timeBased" => {
                            let kind = f.get("type").and_then(Value::as_str).unwrap_or_default();
                            let value = f.get("value").and_then(Value::as_i64).unwrap_or_default();
                            let range = match kind {
                                "hours" => 1..=23,
                                "days" => 1..=365,
                                _ => return Err(wrong("signInFrequency.type is hours or days.")),
                            };
                            if !range.contains(&value) {
                                return Err(wrong("signInFrequency.value is 1–23 hours or 1–365 days."));
                            }
                            json!({"isEnabled": true, "type": kind, "value": value, "authenticationType": "primaryAndSecondaryAuthentication", "frequencyInterval": "timeBased"})
                        }
                        _ => return Err(wrong("signInFrequency.frequencyInterval is timeBased or everyTime.")),
                    }
                }
                _ => Value::Null,
            };
            let persistent = match object(map.get("persistentBrowser"), "persistentBrowser")? {
                Some(p) if p.get("isEnabled") == Some(&Value::Bool(true)) => {
                    let mode = p.get("mode").and_then(Value::as_str).unwrap_or_default();
                    if mode != "always" && mode != "never" {
                        return Err(wrong("persistentBrowser.mode is always or never."));
                    }
                    json!({"isEnabled": true, "mode": mode})
                }
                _ => Value::Null,
            };
            json!({
                "applicationEnforcedRestrictions": null,
                "cloudAppSecurity": null,
                "disableResilienceDefaults": map.get("disableResilienceDefaults").cloned().unwrap_or(Value::Null),
                "signInFrequency": frequency,
                "persistentBrowser": persistent,
            })
        }
    };

    let mut out = Map::new();
    for name in ["id", "createdDateTime", "modifiedDateTime"] {
        out.insert(name.into(), body.get(name).cloned().unwrap_or(Value::Null));
    }
    out.insert("templateId".into(), Value::Null);
    out.insert("displayName".into(), json!(display_name));
    out.insert("state".into(), json!(state));
    out.insert(
        "conditions".into(),
        json!({
            "userRiskLevels": [],
            "signInRiskLevels": [],
            "servicePrincipalRiskLevels": [],
            "clientAppTypes": client_apps,
            "platforms": platforms,
            "locations": locations,
            "times": null,
            "deviceStates": null,
            "devices": null,
            "clientApplications": null,
            "applications": {
                "includeApplications": app_lists.include,
                "excludeApplications": app_lists.exclude,
                "includeUserActions": user_actions,
                "includeAuthenticationContextClassReferences": [],
                "applicationFilter": null,
            },
            "users": {
                "includeUsers": user_lists.include,
                "excludeUsers": user_lists.exclude,
                "includeGroups": group_lists.include,
                "excludeGroups": group_lists.exclude,
                "includeRoles": role_lists.include,
                "excludeRoles": role_lists.exclude,
                "includeGuestsOrExternalUsers": include_guests_shown,
                "excludeGuestsOrExternalUsers": exclude_guests_shown,
            },
        }),
    );
    out.insert("grantControls".into(), grant);
    out.insert("sessionControls".into(), session);
    Ok(out)
}

impl Policy {
    /// The policy a normalised document holds.
    pub fn read(doc: &Map<String, Value>) -> Policy {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
        let list = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
        };
        let pair = |v: Option<&Value>, include: &str, exclude: &str| Lists {
            include: list(v.and_then(|m| m.get(include))),
            exclude: list(v.and_then(|m| m.get(exclude))),
        };
        let conditions = doc.get("conditions");
        let users = conditions.and_then(|c| c.get("users"));
        let apps = conditions.and_then(|c| c.get("applications"));
        let takes_guests = |name: &str| {
            users
                .and_then(|u| u.get(name))
                .and_then(|g| g.get("guestOrExternalUserTypes"))
                .and_then(Value::as_str)
                .is_some_and(|t| t.split(',').any(|t| t == "internalGuest" || t == "b2bCollaborationGuest"))
        };
        let optional = |name: &str, include: &str, exclude: &str| {
            conditions.and_then(|c| c.get(name)).filter(|v| !v.is_null()).map(|v| pair(Some(v), include, exclude))
        };
        let grant = doc.get("grantControls").filter(|g| !g.is_null()).map(|g| Grant {
            all: g.get("operator").and_then(Value::as_str) == Some("AND"),
            controls: list(g.get("builtInControls"))
                .iter()
                .map(|c| if c == "block" { Control::Block } else { Control::Mfa })
                .collect(),
        });
        let session = doc.get("sessionControls");
        let frequency = session.and_then(|s| s.get("signInFrequency")).filter(|f| !f.is_null()).map(|f| {
            let value = f.get("value").and_then(Value::as_i64).unwrap_or_default();
            match f.get("type").and_then(Value::as_str) {
                Some("hours") => value * 3600,
                Some("days") => value * 86_400,
                _ => 0,
            }
        });
        let persistent = session
            .and_then(|s| s.get("persistentBrowser"))
            .and_then(|p| p.get("mode"))
            .and_then(Value::as_str)
            .map(|mode| mode == "always");
        Policy {
            id: text(doc.get("id")),
            display_name: text(doc.get("displayName")),
            state: match doc.get("state").and_then(Value::as_str) {
                Some("enabled") => State::Enabled,
                Some("enabledForReportingButNotEnforced") => State::ReportOnly,
                _ => State::Disabled,
            },
            users: pair(users, "includeUsers", "excludeUsers"),
            groups: pair(users, "includeGroups", "excludeGroups"),
            roles: pair(users, "includeRoles", "excludeRoles"),
            guests: (takes_guests("includeGuestsOrExternalUsers"), takes_guests("excludeGuestsOrExternalUsers")),
            applications: pair(apps, "includeApplications", "excludeApplications"),
            user_actions: list(apps.and_then(|a| a.get("includeUserActions"))),
            client_apps: list(conditions.and_then(|c| c.get("clientAppTypes"))),
            platforms: optional("platforms", "includePlatforms", "excludePlatforms"),
            locations: optional("locations", "includeLocations", "excludeLocations"),
            grant,
            sign_in_frequency: frequency,
            persistent_browser: persistent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(extra: Value) -> Map<String, Value> {
        let mut base = json!({
            "displayName": "MFA for everyone",
            "state": "enabled",
            "conditions": {
                "users": {"includeUsers": ["All"]},
                "applications": {"includeApplications": ["All"]},
            },
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
        });
        if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                base.insert(k.clone(), v.clone());
            }
        }
        base.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_policy_is_normalised_as_graph_echoes_it() {
        let doc = normalise(&body(json!({})), &[]).expect("a valid policy");
        assert_eq!(doc["conditions"]["clientAppTypes"], json!(["all"]));
        assert_eq!(doc["conditions"]["users"]["excludeUsers"], json!([]));
        assert_eq!(doc["conditions"]["platforms"], Value::Null);
        assert_eq!(doc["grantControls"]["builtInControls"], json!(["mfa"]));
        let policy = Policy::read(&doc);
        assert_eq!(policy.state, State::Enabled);
        assert_eq!(policy.grant, Some(Grant { all: false, controls: vec![Control::Mfa] }));
    }

    #[test]
    fn what_cannot_be_evaluated_is_refused_with_the_reason() {
        let cases = [
            (
                json!({"conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}, "signInRiskLevels": ["high"]}}),
                "risk",
            ),
            (json!({"grantControls": {"operator": "OR", "builtInControls": ["compliantDevice"]}}), "compliantDevice"),
            (json!({"grantControls": {"operator": "AND", "builtInControls": ["mfa", "passwordChange"]}}), "user-risk"),
            (json!({"grantControls": {"operator": "OR", "builtInControls": ["block", "mfa"]}}), "of its own"),
            (
                json!({"conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["Office365"]}}}),
                "Office365",
            ),
            (json!({"conditions": {"users": {}, "applications": {"includeApplications": ["All"]}}}), "must include"),
            (
                json!({"conditions": {"users": {"includeRoles": ["not-a-role"]}, "applications": {"includeApplications": ["All"]}}}),
                "neither an id",
            ),
            (
                json!({"conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}, "locations": {"includeLocations": ["2e0a5b38-a6c5-4a52-9a3a-1d2b0a7d1f00"]}}}),
                "No named location",
            ),
            (
                json!({"sessionControls": {"signInFrequency": {"isEnabled": true, "type": "hours", "value": 30}}}),
                "1–23",
            ),
            (json!({"state": "on"}), "state"),
        ];
        for (extra, said) in cases {
            let error = normalise(&body(extra.clone()), &[]).expect_err(&extra.to_string());
            assert!(error.message.contains(said), "{said}: {}", error.message);
        }
    }
}
