//! The admin center's tenant settings: password protection (smart lockout's threshold and duration, the
//! custom banned-password list; Graph's `Password Rule Settings` directory setting) and external
//! collaboration (who may invite guests, what guests may read; Graph's authorization policy). Each part is
//! shown to those who read it and saved by those who may change it, through the same use cases as Graph.

use super::{admin_page, home, may, refused, select, table, Admin, AdminForm, PURPOSE};
use crate::pages::{escape, hidden_fields};
use crate::IdentityState;
use axum::extract::State;
use axum::response::Response;
use gatehouse_core::auth::authorization::Action;
use gatehouse_core::auth::guest_policy::{GUEST_ROLES, INVITERS};
use gatehouse_core::credentials::password_rules::{PASSWORD_RULE_SETTINGS, TEMPLATES};
use gatehouse_core::kernel::error::Error;
use gatehouse_core::Caller;
use serde_json::{json, Map, Value};

const INVITER_NAMES: [&str; 4] = [
    "No one in the organization",
    "Administrators and Guest Inviters",
    "Administrators, Guest Inviters and members",
    "Anyone, guests included",
];
const GUEST_ROLE_NAMES: [&str; 3] =
    ["Same access as members", "Limited access (default)", "Restricted access: their own objects only"];

fn body_of(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// The choices of a setting: its values, each with its name.
fn choices<'a>(values: &[&'a str], names: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    values.iter().copied().zip(names.iter().copied()).collect()
}

/// The tenant's password rule values (its setting's, else the template's defaults) and the setting's id.
async fn password_rules(state: &IdentityState, caller: &Caller) -> Result<(Map<String, Value>, Option<String>), Error> {
    let settings = state.directory.directory_settings().list(caller).await?;
    let setting =
        settings.into_iter().find(|s| s.get("templateId").and_then(Value::as_str) == Some(PASSWORD_RULE_SETTINGS));
    let defaults = TEMPLATES.iter().find(|t| t.id == PASSWORD_RULE_SETTINGS).map(|t| t.values).unwrap_or_default();
    let mut values: Map<String, Value> = defaults.iter().map(|v| (v.name.to_owned(), json!(v.default))).collect();
    let id = setting.as_ref().and_then(|s| s.get("id")).and_then(Value::as_str).map(str::to_owned);
    for item in setting.as_ref().and_then(|s| s.get("values")).and_then(Value::as_array).into_iter().flatten() {
        if let (Some(name), Some(value)) = (item["name"].as_str(), item.get("value")) {
            values.insert(name.to_owned(), value.clone());
        }
    }
    Ok((values, id))
}

async fn settings_page(state: &IdentityState, (tenant, caller): (&str, &Caller), note: Option<&str>) -> Response {
    let reads_rules = may(caller, Action::ReadDirectorySettings);
    let reads_policy = may(caller, Action::ReadPolicies);
    if !reads_rules && !reads_policy {
        let error =
            Error { message: "Your roles do not include reading the tenant's settings.".into(), ..Error::forbidden() };
        return refused(tenant, caller, &error);
    }
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "form": "settings"}));
    let action = format!("{}/settings", escape(&home(tenant)));
    let save = |name: &str, allowed: bool| match allowed {
        true => format!("<p><button type=\"submit\" name=\"action\" value=\"{name}\">Save</button></p>"),
        false => "<p class=\"empty\">Your roles allow reading these settings, not changing them.</p>".to_owned(),
    };
    let rules = match reads_rules {
        true => match password_rules(state, caller).await {
            Ok((values, _)) => {
                let text = |name: &str| escape(values.get(name).and_then(Value::as_str).unwrap_or_default());
                let checked = if text("EnableBannedPasswordCheck") == "True" { " checked" } else { "" };
                let banned = text("BannedPasswordList").replace('\t', "\n");
                format!(
                    "<h2>Password protection</h2>\n<form method=\"post\" action=\"{action}\">\n{fields}\n<p><label for=\"threshold\">Lockout threshold (failed sign-ins)</label>\n<input id=\"threshold\" name=\"threshold\" type=\"number\" min=\"1\" max=\"100\" value=\"{}\" required></p>\n<p><label for=\"duration\">Lockout duration (seconds)</label>\n<input id=\"duration\" name=\"duration\" type=\"number\" min=\"5\" max=\"86400\" value=\"{}\" required></p>\n<p><input id=\"enforce\" name=\"enforce\" type=\"checkbox\" value=\"1\"{checked}> <label for=\"enforce\">Enforce the custom banned-password list</label></p>\n<p><label for=\"banned\">Custom banned passwords (one a line)</label>\n<textarea id=\"banned\" name=\"banned\" rows=\"6\">{banned}</textarea></p>\n{}</form>",
                    text("LockoutThreshold"),
                    text("LockoutDurationInSeconds"),
                    save("password-rules", may(caller, Action::WriteDirectorySettings)),
                )
            }
            Err(e) => format!("<p role=\"alert\">{}</p>", escape(&e.message)),
        },
        false => String::new(),
    };
    let collaboration = match reads_policy {
        true => match state.directory.authorization_policy().get(caller).await {
            Ok(policy) => {
                let text = |name: &str| policy.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
                let domains = |name: &str| {
                    let listed = policy.get(name).and_then(Value::as_array).into_iter().flatten();
                    listed.filter_map(Value::as_str).map(escape).collect::<Vec<_>>().join(", ")
                };
                format!(
                    "<h2>External collaboration</h2>\n<form method=\"post\" action=\"{action}\">\n{fields}\n{}\n{}\n{}\n{}</form>",
                    select("invites", "Who can invite guests", &choices(&INVITERS, &INVITER_NAMES), &text("allowInvitesFrom")),
                    select("guestRole", "What guests can read", &choices(&GUEST_ROLES, &GUEST_ROLE_NAMES), &text("guestUserRoleId")),
                    table(
                        "Domains invitations may go to",
                        &["Allowed only", "Blocked"],
                        &[format!("<tr><td>{}</td><td>{}</td></tr>\n", domains("allowedDomains"), domains("blockedDomains"))],
                        ""
                    ),
                    save("collaboration", may(caller, Action::WriteAuthorizationPolicy)),
                )
            }
            Err(e) => format!("<p role=\"alert\">{}</p>", escape(&e.message)),
        },
        false => String::new(),
    };
    let note = note.map(|n| format!("<p role=\"status\" class=\"note\">{}</p>\n", escape(n))).unwrap_or_default();
    let body = format!("<h1>Settings</h1>\n{note}{rules}\n{collaboration}");
    admin_page(tenant, caller, "Settings", &body, &[csrf])
}

/// `GET /{tenant}/admin/settings`.
pub async fn settings(State(state): State<IdentityState>, Admin { tenant, caller }: Admin) -> Response {
    settings_page(&state, (&tenant, &caller), None).await
}

/// `POST /{tenant}/admin/settings`: password protection or external collaboration saved.
pub async fn save_settings(
    State(state): State<IdentityState>,
    AdminForm { tenant, caller, form }: AdminForm,
) -> Response {
    let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or_default();
    let saved = match field("action") {
        "password-rules" => {
            let banned: Vec<&str> = field("banned").lines().map(str::trim).filter(|t| !t.is_empty()).collect();
            let values = json!([
                {"name": "LockoutThreshold", "value": field("threshold")},
                {"name": "LockoutDurationInSeconds", "value": field("duration")},
                {"name": "EnableBannedPasswordCheck", "value": if field("enforce") == "1" { "True" } else { "False" }},
                {"name": "BannedPasswordList", "value": banned.join("\t")},
            ]);
            let settings = state.directory.directory_settings();
            match password_rules(&state, &caller).await {
                Ok((_, Some(id))) => settings.update(&caller, &id, &body_of(json!({"values": values}))).await,
                Ok((_, None)) => {
                    let body = json!({"templateId": PASSWORD_RULE_SETTINGS, "values": values});
                    settings.create(&caller, &body_of(body)).await.map(|_| ())
                }
                Err(e) => Err(e),
            }
        }
        "collaboration" => {
            let body = json!({"allowInvitesFrom": field("invites"), "guestUserRoleId": field("guestRole")});
            state.directory.authorization_policy().update(&caller, &body_of(body)).await
        }
        _ => Err(Error::invalid("Choose what to save.")),
    };
    match saved {
        Ok(()) => settings_page(&state, (&tenant, &caller), Some("The settings were saved.")).await,
        Err(e) => refused(&tenant, &caller, &e),
    }
}
