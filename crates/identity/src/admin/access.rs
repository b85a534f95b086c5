//! The admin center's Conditional Access: the tenant's policies with their state (turned on, off or to
//! report-only; deleted after confirmation), a new policy for the common case (who, which apps, block or
//! require multifactor authentication), and the What If tool, which judges a hypothetical sign-in against
//! every policy exactly as a real one is judged (the core's `what_if`, Graph's evaluate). For those who read
//! policies; changes for those who manage them.

use super::{
    admin_page, confirm_page, home, input, may, refused, select, table, unless_allowed, Admin, AdminForm, Confirmation,
    PURPOSE,
};
use crate::pages::{escape, hidden_fields};
use crate::IdentityState;
use axum::extract::{Query, State};
use axum::response::Response;
use gatehouse_core::auth::authorization::Action;
use gatehouse_core::kernel::error::Error;
use gatehouse_core::Caller;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

const STATES: [(&str, &str); 3] =
    [("enabled", "On"), ("enabledForReportingButNotEnforced", "Report-only"), ("disabled", "Off")];
const CLIENT_APPS: [(&str, &str); 3] =
    [("all", "Any"), ("browser", "Browser"), ("mobileAppsAndDesktopClients", "Mobile apps and desktop clients")];
const PLATFORM_CHOICES: [(&str, &str); 7] = [
    ("all", "Any"),
    ("android", "Android"),
    ("iOS", "iOS"),
    ("windows", "Windows"),
    ("windowsPhone", "Windows Phone"),
    ("macOS", "macOS"),
    ("linux", "Linux"),
];

fn label_of<'a>(choices: &[(&'a str, &'a str)], value: &str) -> &'a str {
    choices.iter().find(|(v, _)| *v == value).map_or("", |(_, text)| *text)
}

fn body_of(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// What a policy grants or blocks, in a few words.
fn grant_of(policy: &Map<String, Value>) -> String {
    let controls = policy.get("grantControls").and_then(|g| g.get("builtInControls")).and_then(Value::as_array);
    let controls: Vec<&str> = controls.into_iter().flatten().filter_map(Value::as_str).collect();
    match controls.as_slice() {
        [] => "Session controls only".to_owned(),
        ["block"] => "Block access".to_owned(),
        ["mfa"] => "Require multifactor authentication".to_owned(),
        other => other.join(", "),
    }
}

/// A user or group named on the new-policy form, as the policy's users condition.
async fn users_condition(state: &IdentityState, caller: &Caller, who: &str) -> Result<Value, Error> {
    if who.is_empty() || who.eq_ignore_ascii_case("all") {
        return Ok(json!({"includeUsers": ["All"]}));
    }
    if let Ok(user) = state.directory.users().get(caller, who).await {
        return Ok(json!({"includeUsers": [user.id]}));
    }
    match state.directory.groups().get(caller, who).await {
        Ok(group) => Ok(json!({"includeGroups": [group.id]})),
        Err(_) => {
            Err(Error::invalid_property("who", format!("No user has the user name '{who}', and no group the id.")))
        }
    }
}

/// The page: the policies, the new-policy form, and the What If tool with its last result.
async fn access_page(
    state: &IdentityState,
    (tenant, caller): (&str, &Caller),
    note: Option<&str>,
    problem: Option<&Error>,
    what_if: Option<String>,
) -> Response {
    let access = state.directory.conditional_access();
    let policies = match access.policies(caller).await {
        Ok(policies) => policies,
        Err(e) => return refused(tenant, caller, &e),
    };
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "form": "conditional-access"}));
    let action = format!("{}/conditional-access", escape(&home(tenant)));
    let form = |inner: String| format!("<form method=\"post\" action=\"{action}\">\n{fields}\n{inner}\n</form>");
    let writes = may(caller, Action::WritePolicies);
    let rows: Vec<String> = policies
        .iter()
        .map(|policy| {
            let text = |name: &str| policy.get(name).and_then(Value::as_str).unwrap_or_default();
            let id = escape(text("id"));
            let name = escape(text("displayName"));
            let change = match writes {
                true => {
                    let choices: Vec<(&str, &str)> = STATES.to_vec();
                    form(format!(
                        "<input type=\"hidden\" name=\"policy\" value=\"{id}\">{}<button type=\"submit\" name=\"action\" value=\"state\">Save</button> <button type=\"submit\" name=\"action\" value=\"delete\" aria-label=\"Delete {name}\">Delete</button>",
                        select(&format!("state-{id}"), &format!("State of {name}"), &choices, text("state"))
                    ))
                }
                false => String::new(),
            };
            format!(
                "<tr><td>{name}</td><td class=\"policy-state\">{}</td><td>{}</td><td>{change}</td></tr>\n",
                label_of(&STATES, text("state")),
                escape(&grant_of(policy)),
            )
        })
        .collect();
    let at = |name: &str| problem.filter(|p| p.target.as_deref() == Some(name)).map(|p| p.message.as_str());
    let general = problem
        .filter(|p| !matches!(p.target.as_deref(), Some("who" | "displayName")))
        .map(|p| format!("<p role=\"alert\">{}</p>\n", escape(&p.message)))
        .unwrap_or_default();
    let new_policy = match writes {
        true => format!(
            "<h2>New policy</h2>\n{general}{}",
            form(format!(
                "{}\n{}\n<p>Applications: all.</p>\n{}\n{}\n<p><input id=\"confirmed\" name=\"confirmed\" type=\"checkbox\" value=\"1\"> <label for=\"confirmed\">I understand this policy may block my own access</label></p>\n<p><button type=\"submit\" name=\"action\" value=\"create\">Create</button></p>",
                input("displayName", "Name", "text", "", at("displayName"), " required"),
                input("who", "Users: a user name or a group's id (empty for all users)", "text", "", at("who"), ""),
                select("grant", "Grant", &[("mfa", "Require multifactor authentication"), ("block", "Block access")], "mfa"),
                select("state", "State", &STATES, "enabledForReportingButNotEnforced"),
            ))
        ),
        false => String::new(),
    };
    let what_if_form = format!(
        "<h2>What If</h2>\n<p>How the policies judge a sign-in, as a real one is judged.</p>\n<form method=\"get\" action=\"{action}\">\n{}\n{}\n{}\n{}\n{}\n<p><button type=\"submit\" name=\"whatif\" value=\"1\">What If</button></p>\n</form>\n{}",
        input("user", "User name", "text", "", None, " required"),
        input("app", "Application id (empty for any)", "text", "", None, ""),
        select("clientApp", "Client app", &CLIENT_APPS, "all"),
        select("platform", "Device platform", &PLATFORM_CHOICES, "all"),
        input("ip", "IP address (optional)", "text", "", None, ""),
        what_if.unwrap_or_default(),
    );
    let note = note.map(|n| format!("<p role=\"status\" class=\"note\">{}</p>\n", escape(n))).unwrap_or_default();
    let body = format!(
        "<h1>Conditional Access</h1>\n{note}{}\n{new_policy}\n{what_if_form}",
        table("Policies", &["Name", "State", "Grant", "Change"], &rows, "There are no Conditional Access policies."),
    );
    let mut response = admin_page(tenant, caller, "Conditional Access", &body, &[csrf]);
    if let Some(problem) = problem {
        *response.status_mut() = super::status_of(problem);
    }
    response
}

/// The What If result for the query's sign-in: every policy, whether it applies and why not.
async fn what_if(state: &IdentityState, caller: &Caller, query: &HashMap<String, String>) -> String {
    let field = |name: &str| query.get(name).map(|v| v.trim()).unwrap_or_default();
    let user = match state.directory.users().get(caller, field("user")).await {
        Ok(user) => user,
        Err(e) => return format!("<p role=\"alert\">{}</p>", escape(&e.message)),
    };
    let apps = match field("app") {
        "" => json!(["All"]),
        app => json!([app]),
    };
    let mut conditions = json!({"clientAppType": field("clientApp"), "devicePlatform": field("platform")});
    if !field("ip").is_empty() {
        conditions["ipAddress"] = json!(field("ip"));
    }
    let body = json!({
        "signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn", "userId": user.id},
        "signInContext": {"@odata.type": "#microsoft.graph.applicationContext", "includeApplications": apps},
        "signInConditions": conditions,
    });
    let judged = match state.directory.conditional_access().what_if(caller, &body_of(body)).await {
        Ok(judged) => judged,
        Err(e) => return format!("<p role=\"alert\">{}</p>", escape(&e.message)),
    };
    let rows: Vec<String> = judged
        .iter()
        .map(|policy| {
            let applies = policy.get("policyApplies") == Some(&Value::Bool(true));
            let reasons = policy.get("analysisReasons").and_then(Value::as_str).unwrap_or_default();
            format!(
                "<tr><td>{}</td><td class=\"applies\">{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(policy.get("displayName").and_then(Value::as_str).unwrap_or_default()),
                if applies { "Applies" } else { "Does not apply" },
                escape(&grant_of(policy)),
                if applies { String::new() } else { escape(reasons) },
            )
        })
        .collect();
    let name = user.doc.get("userPrincipalName").and_then(Value::as_str).unwrap_or_default();
    format!(
        "<section aria-labelledby=\"what-if-result\"><h3 id=\"what-if-result\">For {}</h3>\n{}</section>",
        escape(name),
        table(
            "How each policy judges the sign-in",
            &["Policy", "Result", "Grant", "Why not"],
            &rows,
            "There are no policies to judge it."
        )
    )
}

/// `GET /{tenant}/admin/conditional-access[?whatif=1&user=…&app=…&clientApp=…&platform=…&ip=…]`.
pub async fn conditional_access(
    State(state): State<IdentityState>,
    Admin { tenant, caller }: Admin,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(response) = unless_allowed(&tenant, &caller, Action::ReadPolicies, "reading Conditional Access") {
        return response;
    }
    let result = match query.contains_key("whatif") {
        true => Some(what_if(&state, &caller, &query).await),
        false => None,
    };
    access_page(&state, (&tenant, &caller), None, None, result).await
}

/// `POST /{tenant}/admin/conditional-access`: a policy created, its state changed, or deleted once
/// confirmed.
pub async fn conditional_access_action(
    State(state): State<IdentityState>,
    AdminForm { tenant, caller, form }: AdminForm,
) -> Response {
    let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or_default();
    let access = state.directory.conditional_access();
    let policy = field("policy");
    let done = match field("action") {
        "create" => match users_condition(&state, &caller, field("who")).await {
            Ok(users) => {
                let body = json!({
                    "displayName": field("displayName"),
                    "state": field("state"),
                    "conditions": {"users": users, "applications": {"includeApplications": ["All"]}},
                    "grantControls": {"operator": "OR", "builtInControls": [field("grant")]},
                });
                access
                    .create_policy(&caller, &body_of(body), field("confirmed") == "1")
                    .await
                    .map(|_| "The policy was created.".to_owned())
            }
            Err(e) => Err(e),
        },
        "state" => {
            let body = json!({"state": field(&format!("state-{policy}"))});
            access
                .update_policy(&caller, policy, &body_of(body), false)
                .await
                .map(|()| "The policy was saved.".to_owned())
        }
        "delete" => {
            let action = format!("{}/conditional-access", home(&tenant));
            let consequence = "Sign-ins are no longer judged by it, from the next one on.";
            let asked = Confirmation::new("Delete this policy?", consequence, (&action, "delete-confirmed"));
            return confirm_page(&state, (&tenant, &caller), asked.carrying("policy", policy));
        }
        "delete-confirmed" => {
            access.delete_policy(&caller, policy).await.map(|()| "The policy was deleted.".to_owned())
        }
        _ => Err(Error::invalid("Choose an action.")),
    };
    match done {
        Ok(note) => access_page(&state, (&tenant, &caller), Some(&note), None, None).await,
        Err(e) if field("action") == "create" => access_page(&state, (&tenant, &caller), None, Some(&e), None).await,
        Err(e) => refused(&tenant, &caller, &e),
    }
}
