//! The admin center's groups: the list with search, a new group (a dynamic one with its rule checked and
//! previewed against the users it would hold), a group's page with its members and licences.

use super::{
    admin_page, ask_delete, deleted, download_link, home, input, listing_of, may, next_link, refused, search_form,
    status_of, table, Admin, AdminForm, Searched, PURPOSE,
};
use crate::pages::{escape, hidden_fields, redirect};
use crate::IdentityState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use gatehouse_core::auth::authorization::Action;
use gatehouse_core::groups::{new_group_body, Binds};
use gatehouse_core::kernel::error::Error;
use gatehouse_core::licensing::licenses_of;
use gatehouse_core::query::Listing;
use gatehouse_core::store::{ObjectRecord, Relation};
use gatehouse_core::Caller;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Users a rule's preview shows, and members a group's page shows.
const PREVIEWED: u32 = 10;
const MEMBERS_SHOWN: u32 = 100;

pub(super) fn kind_of(group: &ObjectRecord) -> (&'static str, &'static str) {
    let types: Vec<&str> =
        group.doc.get("groupTypes").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let kind = if types.contains(&"Unified") { "Microsoft 365" } else { "Security" };
    let membership = if types.contains(&"DynamicMembership") { "Dynamic" } else { "Assigned" };
    (kind, membership)
}

/// `GET /{tenant}/admin/groups?search=…&page=…`.
pub async fn groups(
    State(state): State<IdentityState>,
    Admin { tenant, caller }: Admin,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (search, listing) = listing_of(&state, &query, "admin-groups", Searched::Names);
    let page = match state.directory.groups().list(&caller, listing).await {
        Ok(page) => page,
        Err(e) => return refused(&tenant, &caller, &e),
    };
    let path = format!("{}/groups", home(&tenant));
    let rows: Vec<String> = page
        .items
        .iter()
        .map(|group| {
            let (kind, membership) = kind_of(group);
            let name = group.doc.get("displayName").and_then(Value::as_str).unwrap_or_default();
            format!(
                "<tr><td><a href=\"{}/{}\">{}</a></td><td>{kind}</td><td>{membership}</td></tr>\n",
                escape(&path),
                group.id,
                escape(name)
            )
        })
        .collect();
    let empty = match search.is_empty() {
        true => "There are no groups yet.".to_owned(),
        false => format!("No group's name starts with “{search}”."),
    };
    let body = format!(
        "<h1>Groups</h1>\n{}\n{}\n{}\n{}",
        search_form(&path, "Search by name", &search),
        download_link(&path, &query),
        table("Groups", &["Name", "Type", "Membership"], &rows, &empty),
        next_link(&state, "admin-groups", &path, &search, page.next),
    );
    admin_page(&tenant, &caller, "Groups", &body, &[])
}

/// What the new-group form was given.
struct Entered<'a> {
    name: &'a str,
    unified: bool,
    dynamic: bool,
    rule: &'a str,
}

impl<'a> Entered<'a> {
    fn of(form: &'a HashMap<String, String>) -> Entered<'a> {
        let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or_default();
        Entered {
            name: field("displayName"),
            unified: field("kind") == "microsoft365",
            dynamic: field("membership") == "dynamic",
            rule: field("membershipRule"),
        }
    }
}

/// The new-group form: what was entered, each problem next to its field, and a rule's preview when one was
/// asked for (the users it matches now, with their number).
fn new_group_form(
    state: &IdentityState,
    (tenant, caller): (&str, &Caller),
    entered: &Entered<'_>,
    problem: Option<&Error>,
    preview: Option<String>,
) -> Response {
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "form": "new-group"}));
    let target = problem.and_then(|p| p.target.as_deref());
    let at =
        |names: &[&str]| problem.filter(|_| target.is_some_and(|t| names.contains(&t))).map(|p| p.message.as_str());
    let general = problem
        .filter(|_| at(&["displayName", "mailNickname", "membershipRule"]).is_none())
        .map(|p| format!("<p role=\"alert\">{}</p>\n", escape(&p.message)))
        .unwrap_or_default();
    let checked = |on: bool| if on { " checked" } else { "" };
    let rule_error = at(&["membershipRule"])
        .map(|p| format!("\n<span class=\"field-error\" id=\"membershipRule-error\">{}</span>", escape(p)));
    let rule_described = match rule_error {
        Some(_) => " aria-describedby=\"membershipRule-error rule-help\" aria-invalid=\"true\"",
        None => " aria-describedby=\"rule-help\"",
    };
    let body = format!(
        "<h1>New group</h1>\n{general}<form method=\"post\" action=\"{base}/groups/new\">\n{fields}\n{name}\n<fieldset><legend>Group type</legend>\n<p><input id=\"kind-security\" name=\"kind\" type=\"radio\" value=\"security\"{security}> <label for=\"kind-security\">Security</label></p>\n<p><input id=\"kind-m365\" name=\"kind\" type=\"radio\" value=\"microsoft365\"{unified}> <label for=\"kind-m365\">Microsoft 365</label></p>\n</fieldset>\n<fieldset><legend>Membership</legend>\n<p><input id=\"membership-assigned\" name=\"membership\" type=\"radio\" value=\"assigned\"{assigned}> <label for=\"membership-assigned\">Assigned</label></p>\n<p><input id=\"membership-dynamic\" name=\"membership\" type=\"radio\" value=\"dynamic\"{dynamic}> <label for=\"membership-dynamic\">Dynamic: members by a rule</label></p>\n</fieldset>\n<p><label for=\"membershipRule\">Membership rule (dynamic groups)</label>\n<textarea id=\"membershipRule\" name=\"membershipRule\" rows=\"3\" cols=\"60\" data-check=\"{base}/groups/rule\"{rule_described}>{rule}</textarea>{rule_error}\n<span id=\"rule-live\" role=\"status\" aria-live=\"polite\"></span>\n<span id=\"rule-help\" class=\"help\">Entra's rule language, such as user.department -eq \"Sales\".</span></p>\n<p><button type=\"submit\" name=\"action\" value=\"preview\" formnovalidate>Check the rule and preview members</button> <button type=\"submit\" name=\"action\" value=\"create\">Create</button> <a href=\"{base}/groups\">Cancel</a></p>\n</form>\n{preview}",
        base = escape(&home(tenant)),
        name = input("displayName", "Name", "text", entered.name, at(&["displayName", "mailNickname"]), " required"),
        security = checked(!entered.unified),
        unified = checked(entered.unified),
        assigned = checked(!entered.dynamic),
        dynamic = checked(entered.dynamic),
        rule = escape(entered.rule),
        rule_error = rule_error.unwrap_or_default(),
        preview = preview.unwrap_or_default(),
    );
    let mut response = admin_page(tenant, caller, "New group", &body, &[csrf]);
    if let Some(problem) = problem {
        *response.status_mut() = status_of(problem);
    }
    response
}

/// `GET /{tenant}/admin/groups/new`.
pub async fn new_group(State(state): State<IdentityState>, Admin { tenant, caller }: Admin) -> Response {
    let entered = Entered { name: "", unified: false, dynamic: false, rule: "" };
    new_group_form(&state, (&tenant, &caller), &entered, None, None)
}

/// `POST /{tenant}/admin/groups/new`: the rule's check and preview, or the group made through the core.
pub async fn create_group(
    State(state): State<IdentityState>,
    AdminForm { tenant, caller, form }: AdminForm,
) -> Response {
    let entered = Entered::of(&form);
    if form.get("action").map(String::as_str) == Some("preview") {
        return match state.directory.membership().preview_rule(&caller, entered.rule, PREVIEWED).await {
            Ok(page) => {
                let rows: Vec<String> = page
                    .items
                    .iter()
                    .map(|user| {
                        let text = |name: &str| escape(user.doc.get(name).and_then(Value::as_str).unwrap_or_default());
                        format!("<tr><td>{}</td><td>{}</td></tr>\n", text("displayName"), text("userPrincipalName"))
                    })
                    .collect();
                let count = page.count.unwrap_or(rows.len() as u64);
                let preview = format!(
                    "<section aria-labelledby=\"preview\"><h2 id=\"preview\">Preview</h2>\n<p role=\"status\" id=\"matched\">The rule is valid. {count} {} it now.</p>\n{}</section>",
                    if count == 1 { "user matches" } else { "users match" },
                    table("Users the rule matches (the first ten)", &["Name", "User name"], &rows, "No user matches it now.")
                );
                new_group_form(&state, (&tenant, &caller), &entered, None, Some(preview))
            }
            Err(e) => new_group_form(&state, (&tenant, &caller), &entered, Some(&e), None),
        };
    }
    let rule = entered.dynamic.then_some(entered.rule);
    let body = new_group_body(entered.name, None, entered.unified, rule);
    match state.directory.groups().create(&caller, &body, &Binds::default()).await {
        Ok(group) => redirect(&format!("{}/groups/{}", home(&tenant), group.id), &[]),
        Err(e) => new_group_form(&state, (&tenant, &caller), &entered, Some(&e), None),
    }
}

/// `GET /{tenant}/admin/groups/rule?rule=…`: the rule checked as it is typed (the new-group form's script
/// asks): `{valid, message}`, the parse error or how many users match now.
pub async fn check_rule(
    State(state): State<IdentityState>,
    Admin { caller, .. }: Admin,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let rule = query.get("rule").map(String::as_str).unwrap_or_default();
    let answer = match state.directory.membership().preview_rule(&caller, rule, 1).await {
        Ok(page) => {
            let count = page.count.unwrap_or_default();
            let users = if count == 1 { "user matches" } else { "users match" };
            json!({"valid": true, "message": format!("The rule is valid. {count} {users} it now.")})
        }
        Err(e) => json!({"valid": false, "message": e.message}),
    };
    axum::Json(answer).into_response()
}

/// The group's page: its kind, rule and processing, its licences, its members, and the actions the
/// caller's roles allow.
async fn group_page(state: &IdentityState, tenant: &str, caller: &Caller, id: &str, note: Option<&str>) -> Response {
    let group = match state.directory.groups().get(caller, id).await {
        Ok(group) => group,
        Err(e) => return refused(tenant, caller, &e),
    };
    let listing = Listing { filter: None, order: Vec::new(), after: None, top: MEMBERS_SHOWN, count: false };
    let members =
        match state.directory.groups().group_links(caller, id, Relation::Member, false, None, listing.clone()).await {
            Ok(page) => page.items,
            Err(e) => return refused(tenant, caller, &e),
        };
    let owners = match state.directory.groups().group_links(caller, id, Relation::Owner, false, None, listing).await {
        Ok(page) => page.items,
        Err(e) => return refused(tenant, caller, &e),
    };
    let (kind, membership) = kind_of(&group);
    let dynamic = membership == "Dynamic";
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "object": group.id}));
    let action = format!("{}/groups/{}", escape(&home(tenant)), group.id);
    let form = |inner: String| format!("<form method=\"post\" action=\"{action}\">\n{fields}\n{inner}\n</form>");
    let editable = !dynamic && may(caller, Action::WriteMemberships);
    let rows: Vec<String> = members
        .iter()
        .map(|member| {
            let text = |name: &str| escape(member.doc.get(name).and_then(Value::as_str).unwrap_or_default());
            let remove = match editable {
                true => form(format!(
                    "<input type=\"hidden\" name=\"member\" value=\"{}\"><button type=\"submit\" name=\"action\" value=\"remove-member\" aria-label=\"Remove {}\">Remove</button>",
                    member.id,
                    text("displayName")
                )),
                false => String::new(),
            };
            format!("<tr><td>{}</td><td>{}</td><td>{remove}</td></tr>\n", text("displayName"), text("userPrincipalName"))
        })
        .collect();
    let owns = may(caller, Action::WriteGroups);
    let owner_rows: Vec<String> = owners
        .iter()
        .map(|owner| {
            let text = |name: &str| escape(owner.doc.get(name).and_then(Value::as_str).unwrap_or_default());
            let remove = match owns {
                true => form(format!(
                    "<input type=\"hidden\" name=\"owner\" value=\"{}\"><button type=\"submit\" name=\"action\" value=\"remove-owner\" aria-label=\"Remove owner {}\">Remove</button>",
                    owner.id,
                    text("displayName")
                )),
                false => String::new(),
            };
            format!("<tr><td>{}</td><td>{}</td><td>{remove}</td></tr>\n", text("displayName"), text("userPrincipalName"))
        })
        .collect();
    let add_owner = match owns {
        true => form(format!(
            "{}<p><button type=\"submit\" name=\"action\" value=\"add-owner\">Add owner</button></p>",
            input("owner", "Add an owner by user name", "text", "", None, " required")
        )),
        false => String::new(),
    };
    let add = match editable {
        true => form(format!(
            "{}<p><button type=\"submit\" name=\"action\" value=\"add-member\">Add member</button></p>",
            input("member", "Add a member by user name", "text", "", None, " required")
        )),
        false => String::new(),
    };
    let skus = match may(caller, Action::AssignLicenses) {
        true => state.directory.licensing().subscribed_skus(caller).await.unwrap_or_default(),
        false => Vec::new(),
    };
    let part_of = |sku: &str| {
        skus.iter()
            .find(|s| s["skuId"] == sku)
            .and_then(|s| s["skuPartNumber"].as_str())
            .map_or_else(|| sku.to_owned(), str::to_owned)
    };
    let held: Vec<String> =
        licenses_of(group.doc.get("assignedLicenses")).into_iter().map(|(sku, _)| sku.to_string()).collect();
    let licences = held
        .iter()
        .map(|sku| {
            let remove = match may(caller, Action::AssignLicenses) {
                true => form(format!(
                    "<input type=\"hidden\" name=\"sku\" value=\"{}\"><button type=\"submit\" name=\"action\" value=\"remove-license\">Remove</button>",
                    escape(sku)
                )),
                false => String::new(),
            };
            format!("<li><span class=\"licence\">{}</span> {remove}</li>", escape(&part_of(sku)))
        })
        .collect::<String>();
    let errors = match held.is_empty() {
        true => String::new(),
        false => licence_errors(state, caller, &group, &form).await,
    };
    let processing = group.doc.get("licenseProcessingState").and_then(|s| s["state"].as_str()).unwrap_or("—");
    let security = group.doc.get("securityEnabled").and_then(Value::as_bool).unwrap_or(false);
    let options: String = skus
        .iter()
        .filter(|s| !held.iter().any(|h| s["skuId"] == h.as_str()))
        .map(|s| {
            format!(
                "<option value=\"{}\">{}</option>",
                escape(s["skuId"].as_str().unwrap_or_default()),
                escape(s["skuPartNumber"].as_str().unwrap_or_default())
            )
        })
        .collect();
    let assign = match security && !options.is_empty() {
        true => form(format!("<p><label for=\"sku\">Assign a licence</label>\n<select id=\"sku\" name=\"sku\">{options}</select> <button type=\"submit\" name=\"action\" value=\"assign-license\">Assign</button></p>")),
        false => String::new(),
    };
    let delete = match may(caller, Action::WriteGroups) {
        true => form("<button type=\"submit\" name=\"action\" value=\"delete\">Delete group</button>".into()),
        false => String::new(),
    };
    let rule = group
        .doc
        .get("membershipRule")
        .and_then(Value::as_str)
        .map(|r| format!("<dt>Rule</dt><dd><code>{}</code></dd>\n", escape(r)))
        .unwrap_or_default();
    let note = note.map(|n| format!("<p role=\"status\" class=\"note\">{}</p>\n", escape(n))).unwrap_or_default();
    let name = escape(group.doc.get("displayName").and_then(Value::as_str).unwrap_or_default());
    let body = format!(
        "<h1>{name}</h1>\n{note}<dl>\n<dt>Type</dt><dd>{kind}</dd>\n<dt>Membership</dt><dd>{membership}</dd>\n{rule}<dt>Licence processing</dt><dd id=\"processing\">{processing}</dd>\n<dt>Object id</dt><dd>{id}</dd>\n</dl>\n<h2>Licences</h2>\n<ul id=\"licences\">{licences}</ul>\n{assign}\n{errors}<h2>Owners</h2>\n{owners}\n{add_owner}\n<h2>Members</h2>\n{members}\n{add}\n{delete}",
        owners = table("Owners", &["Name", "User name", "Action"], &owner_rows, "The group has no owners."),
        id = group.id,
        members = table("Direct members (the first hundred)", &["Name", "User name", "Action"], &rows, "The group has no members."),
    );
    admin_page(tenant, caller, "Group", &body, &[csrf])
}

/// What fixes a licence error, as Entra's admin center says it.
fn fix_for(error: &str) -> &'static str {
    match error {
        "CountViolation" => "Not enough licences: buy more, or free some, then reprocess.",
        "MutuallyExclusiveViolation" => {
            "A service plan conflicts with one the user already holds: remove the other licence or disable the plan."
        }
        "DependencyViolation" => "A service plan needs another the user lacks: assign the licence that has it.",
        "ProhibitedInUsageLocationViolation" => "Set the user's usage location, then reprocess.",
        _ => "Reprocess the user's licences; if it stays, remove and assign the licence again.",
    }
}

/// The group's members whose licences from it are in error (the first hundred): each error with its fix,
/// and the button that reprocesses the member.
async fn licence_errors(
    state: &IdentityState,
    caller: &Caller,
    group: &ObjectRecord,
    form: &impl Fn(String) -> String,
) -> String {
    let listing = Listing { filter: None, order: Vec::new(), after: None, top: MEMBERS_SHOWN, count: false };
    let id = group.id.to_string();
    let Ok(page) = state.directory.licensing().members_with_license_errors(caller, &id, listing).await else {
        return String::new();
    };
    let reprocess = may(caller, Action::AssignLicenses);
    let rows: Vec<String> = page
        .items
        .iter()
        .map(|member| {
            // Every licence from the group is in error with the one that failed; the others say `Other`.
            let states = member.doc.get("licenseAssignmentStates").and_then(Value::as_array);
            let errors: Vec<&str> = states
                .into_iter()
                .flatten()
                .filter(|s| s["assignedByGroup"] == id.as_str() && s["state"] == "Error")
                .filter_map(|s| s["error"].as_str())
                .collect();
            let error = errors.iter().find(|e| **e != "Other").or(errors.first()).copied().unwrap_or("Other");
            let text = |name: &str| escape(member.doc.get(name).and_then(Value::as_str).unwrap_or_default());
            let button = match reprocess {
                true => form(format!(
                    "<input type=\"hidden\" name=\"member\" value=\"{}\"><button type=\"submit\" name=\"action\" value=\"reprocess\" aria-label=\"Reprocess {}\">Reprocess</button>",
                    member.id,
                    text("displayName")
                )),
                false => String::new(),
            };
            format!(
                "<tr><td>{}</td><td class=\"licence-error\">{}</td><td>{}</td><td>{button}</td></tr>\n",
                text("userPrincipalName"),
                escape(error),
                fix_for(error)
            )
        })
        .collect();
    format!(
        "<h3>Licence errors</h3>\n{}\n",
        table(
            "Members whose licences from the group are in error",
            &["User name", "Error", "Fix", "Action"],
            &rows,
            "No member's licence is in error."
        )
    )
}

/// `GET /{tenant}/admin/groups/{id}`.
pub async fn group(
    State(state): State<IdentityState>,
    Admin { tenant, caller }: Admin,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    group_page(&state, &tenant, &caller, &id, None).await
}

/// `POST /{tenant}/admin/groups/{id}`: a member added or removed, a licence assigned or removed, or the
/// group deleted once confirmed.
pub async fn group_action(
    State(state): State<IdentityState>,
    Path((_, id)): Path<(String, String)>,
    AdminForm { tenant, caller, form }: AdminForm,
) -> Response {
    let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or_default();
    let groups = state.directory.groups();
    let licences = |add: Value, remove: Value| {
        json!({"addLicenses": add, "removeLicenses": remove}).as_object().cloned().unwrap_or_default()
    };
    let done = match field("action") {
        "add-member" => match state.directory.users().get(&caller, field("member")).await {
            Ok(user) => groups
                .add_link(&caller, &id, Relation::Member, &user.id.to_string())
                .await
                .map(|()| format!("{} was added.", field("member"))),
            Err(e) => Err(e),
        },
        "add-owner" => match state.directory.users().get(&caller, field("owner")).await {
            Ok(user) => groups
                .add_link(&caller, &id, Relation::Owner, &user.id.to_string())
                .await
                .map(|()| format!("{} is now an owner.", field("owner"))),
            Err(e) => Err(e),
        },
        "remove-owner" => groups
            .remove_link(&caller, &id, Relation::Owner, field("owner"))
            .await
            .map(|()| "The owner was removed.".to_owned()),
        "remove-member" => groups
            .remove_link(&caller, &id, Relation::Member, field("member"))
            .await
            .map(|()| "The member was removed.".to_owned()),
        "assign-license" => {
            let body = licences(json!([{"skuId": field("sku"), "disabledPlans": []}]), json!([]));
            state.directory.licensing().assign_group_license(&caller, &id, &body).await.map(|_| {
                "The licence was assigned: the group's members get it as licence processing reaches them.".to_owned()
            })
        }
        "remove-license" => {
            let body = licences(json!([]), json!([field("sku")]));
            state.directory.licensing().assign_group_license(&caller, &id, &body).await.map(|_| {
                "The licence was removed from the group: its members lose it unless they hold it otherwise.".to_owned()
            })
        }
        "reprocess" => state
            .directory
            .licensing()
            .reprocess_licenses(&caller, field("member"))
            .await
            .map(|_| "The member's licences were processed again.".to_owned()),
        "delete" => {
            let found = groups.get(&caller, &id).await;
            let consequence = "The group goes to deleted groups and can be restored for 30 days. Its members lose what it gave them: licences, app access and roles.";
            return ask_delete(&state, (&tenant, &caller), ("groups", &id), found, consequence);
        }
        "delete-confirmed" => return deleted(&tenant, &caller, "groups", groups.delete(&caller, &id).await),
        _ => Err(Error::invalid("Choose an action.")),
    };
    match done {
        Ok(note) => group_page(&state, &tenant, &caller, &id, Some(&note)).await,
        Err(e) => refused(&tenant, &caller, &e),
    }
}
