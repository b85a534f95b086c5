//! The admin center's users: the list with search, a new user, a user's page and its actions.

use super::{
    admin_page, ask_delete, deleted, download_link, home, input, listing_of, may, next_link, refused, search_form,
    select, status_of, table, Admin, AdminForm, Searched, PURPOSE,
};
use crate::pages::{escape, hidden_fields, redirect};
use crate::IdentityState;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use gatehouse_core::auth::authorization::Action;
use gatehouse_core::filter::{Filter, Literal, Op, Test};
use gatehouse_core::kernel::error::Error;
use gatehouse_core::licensing::licenses_of;
use gatehouse_core::query::Listing;
use gatehouse_core::role_management::AssignmentFilter;
use gatehouse_core::store::{ObjectKind, ObjectRecord, Relation};
use gatehouse_core::Caller;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// `GET /{tenant}/admin/users?search=…&page=…`: users by display name, a page at a time, those whose name
/// or user name starts with the search when there is one.
pub async fn users(
    State(state): State<IdentityState>,
    Admin { tenant, caller }: Admin,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (search, mut listing) = listing_of(&state, &query, "admin-users", Searched::NamesOrUserNames);
    let chosen = Chosen::of(&query);
    listing.filter = chosen.narrowed(listing.filter.take());
    let page = match state.directory.users().list(&caller, listing).await {
        Ok(page) => page,
        Err(e) => return refused(&tenant, &caller, &e),
    };
    let path = format!("{}/users", home(&tenant));
    let rows: Vec<String> = page
        .items
        .iter()
        .map(|user| {
            let text = |name: &str| escape(user.doc.get(name).and_then(Value::as_str).unwrap_or_default());
            let enabled = user.doc.get("accountEnabled").and_then(Value::as_bool).unwrap_or(false);
            format!(
                "<tr><td><a href=\"{path}/{id}\">{name}</a></td><td>{upn}</td><td>{kind}</td><td>{state}</td></tr>\n",
                path = escape(&path),
                id = user.id,
                name = text("displayName"),
                upn = text("userPrincipalName"),
                kind = text("userType"),
                state = if enabled { "Enabled" } else { "Sign-in blocked" },
            )
        })
        .collect();
    let empty = match search.is_empty() {
        true => "There are no users yet.".to_owned(),
        false => format!("No user's name or user name starts with “{search}”."),
    };
    let skus = state.directory.licensing().subscribed_skus(&caller).await.unwrap_or_default();
    let products: Vec<(String, String)> = skus
        .iter()
        .map(|sku| {
            (
                sku["skuId"].as_str().unwrap_or_default().to_owned(),
                sku["skuPartNumber"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let next = match chosen.is_empty() {
        true => next_link(&state, "admin-users", &path, &search, page.next),
        false => String::new(),
    };
    let body = format!(
        "<h1>Users</h1>\n<p><a href=\"{}/users/deleted\">Deleted users</a></p>\n{}\n{}\n{}\n{}\n{next}",
        escape(&home(&tenant)),
        search_form(&path, "Search by name, or by user name (type its @)", &search),
        chosen.form(&path, &products),
        download_link(&path, &query),
        table("Users", &["Name", "User name", "Type", "State"], &rows, &empty),
    );
    admin_page(&tenant, &caller, "Users", &body, &[])
}

/// The users list's filters, as Entra's admin center offers them: the user type, sign-in state,
/// department and a licence held.
pub(super) struct Chosen {
    kind: String,
    state: String,
    department: String,
    licence: String,
}

impl Chosen {
    pub(super) fn of(query: &HashMap<String, String>) -> Chosen {
        let value = |name: &str| query.get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
        Chosen {
            kind: value("type"),
            state: value("state"),
            department: value("department"),
            licence: value("licence"),
        }
    }

    fn is_empty(&self) -> bool {
        self.kind.is_empty() && self.state.is_empty() && self.department.is_empty() && self.licence.is_empty()
    }

    /// The listing's filter with the chosen ones added.
    pub(super) fn narrowed(&self, filter: Option<Filter>) -> Option<Filter> {
        let equals = |property: &str, value: &str| Filter::Property {
            property: property.into(),
            test: Test::Compare(Op::Eq, Literal::Text(gatehouse_core::kernel::text::fold(value))),
        };
        let mut chosen = Vec::new();
        if matches!(self.kind.as_str(), "Member" | "Guest") {
            chosen.push(equals("userType", &self.kind));
        }
        match self.state.as_str() {
            "enabled" => chosen.push(equals("accountEnabled", "true")),
            "blocked" => chosen.push(equals("accountEnabled", "false")),
            _ => {}
        }
        if !self.department.is_empty() {
            chosen.push(equals("department", &self.department));
        }
        if let Ok(sku) = uuid::Uuid::parse_str(&self.licence) {
            let test = Test::Compare(Op::Eq, Literal::Text(sku.to_string()));
            chosen.push(Filter::Any { property: "assignedLicenses".into(), test });
        }
        filter.into_iter().chain(chosen).reduce(|a, b| Filter::And(Box::new(a), Box::new(b)))
    }

    /// The filter form (applied with the search; a filtered list shows its first page), the licences to
    /// choose from being the tenant's products the caller may read.
    fn form(&self, path: &str, products: &[(String, String)]) -> String {
        format!(
            "<form method=\"get\" action=\"{}\" class=\"filters\" aria-label=\"Filters\">\n{}\n{}\n{}\n{}\n<p><button type=\"submit\" name=\"filter\" value=\"1\">Filter</button></p>\n</form>",
            escape(path),
            select("type", "User type", &[("", "Any"), ("Member", "Member"), ("Guest", "Guest")], &self.kind),
            select("state", "Sign-in", &[("", "Any"), ("enabled", "Allowed"), ("blocked", "Blocked")], &self.state),
            input("department", "Department", "text", &self.department, None, ""),
            match products.is_empty() {
                true => String::new(),
                false => {
                    let mut choices: Vec<(&str, &str)> = vec![("", "Any")];
                    choices.extend(products.iter().map(|(id, name)| (id.as_str(), name.as_str())));
                    select("licence", "Holds the licence", &choices, &self.licence)
                }
            },
        )
    }
}

/// How many of a user's groups their page lists.
const LISTED: u32 = 100;

/// The properties whose problems the new-user form shows beside a field; any other is said above the form.
const FIELDS: [&str; 4] = ["displayName", "userPrincipalName", "passwordProfile", "password"];

/// The new-user form, with what was entered (never the password) and each problem next to its field.
fn new_user_form(
    state: &IdentityState,
    (tenant, caller): (&str, &Caller),
    entered: &HashMap<String, String>,
    problem: Option<&Error>,
) -> Response {
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "form": "new-user"}));
    let value = |name: &str| entered.get(name).map(String::as_str).unwrap_or_default();
    let target = problem.and_then(|p| p.target.as_deref());
    let at =
        |names: &[&str]| problem.filter(|_| target.is_some_and(|t| names.contains(&t))).map(|p| p.message.as_str());
    let general = problem
        .filter(|_| at(&FIELDS).is_none())
        .map(|p| format!("<p role=\"alert\">{}</p>\n", escape(&p.message)))
        .unwrap_or_default();
    let body = format!(
        "<h1>New user</h1>\n{general}<form method=\"post\" action=\"{base}/users/new\">\n{fields}\n{name}\n{upn}\n{password}\n<p><input id=\"blocked\" name=\"blocked\" type=\"checkbox\" value=\"1\"> <label for=\"blocked\">Block sign-in</label></p>\n<p><button type=\"submit\">Create</button> <a href=\"{base}/users\">Cancel</a></p>\n</form>",
        base = escape(&home(tenant)),
        name = input("displayName", "Display name", "text", value("displayName"), at(&["displayName"]), " required"),
        upn = input(
            "userPrincipalName",
            "User name (name@domain)",
            "email",
            value("userPrincipalName"),
            at(&["userPrincipalName"]),
            " required"
        ),
        password = input(
            "password",
            "Initial password (the user changes it at first sign-in)",
            "password",
            "",
            at(&["passwordProfile", "password"]),
            " required autocomplete=\"new-password\""
        ),
    );
    let mut response = admin_page(tenant, caller, "New user", &body, &[csrf]);
    if let Some(problem) = problem {
        *response.status_mut() = status_of(problem);
    }
    response
}

/// `GET /{tenant}/admin/users/new`.
pub async fn new_user(State(state): State<IdentityState>, Admin { tenant, caller }: Admin) -> Response {
    new_user_form(&state, (&tenant, &caller), &HashMap::new(), None)
}

/// `POST /{tenant}/admin/users/new`: creates the user through the core, as Graph's `POST /users` would.
pub async fn create_user(
    State(state): State<IdentityState>,
    AdminForm { tenant, caller, form }: AdminForm,
) -> Response {
    let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or_default();
    let upn = field("userPrincipalName");
    let nickname: String =
        upn.split('@').next().unwrap_or_default().chars().filter(char::is_ascii_alphanumeric).collect();
    let body = json!({
        "accountEnabled": field("blocked") != "1",
        "displayName": field("displayName"),
        "userPrincipalName": upn,
        "mailNickname": if nickname.is_empty() { "user".to_owned() } else { nickname },
        "passwordProfile": {"password": form.get("password").cloned().unwrap_or_default(), "forceChangePasswordNextSignIn": true},
    });
    let body: Map<String, Value> = body.as_object().cloned().unwrap_or_default();
    match state.directory.users().create(&caller, &body).await {
        Ok(user) => redirect(&format!("{}/users/{}?done=created", home(&tenant), user.id), &[]),
        Err(e) => new_user_form(&state, (&tenant, &caller), &form, Some(&e)),
    }
}

/// The user's page: their properties and the actions the caller may take, each its own form.
async fn user_page(state: &IdentityState, tenant: &str, caller: &Caller, id: &str, note: Option<&str>) -> Response {
    let user = match state.directory.users().get(caller, id).await {
        Ok(user) => user,
        Err(e) => return refused(tenant, caller, &e),
    };
    let text = |name: &str| escape(user.doc.get(name).and_then(Value::as_str).unwrap_or_default());
    let enabled = user.doc.get("accountEnabled").and_then(Value::as_bool).unwrap_or(false);
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "object": user.id}));
    let action = format!("{}/users/{}", escape(&home(tenant)), user.id);
    let form = |inner: String| format!("<form method=\"post\" action=\"{action}\">\n{fields}\n{inner}\n</form>");
    let button = |name: &str, label: &str| {
        form(format!("<button type=\"submit\" name=\"action\" value=\"{name}\">{label}</button>"))
    };
    let mut actions = Vec::new();
    if may(caller, Action::WriteUsers) {
        actions.push(match enabled {
            true => button("disable", "Block sign-in"),
            false => button("enable", "Allow sign-in"),
        });
    }
    if may(caller, Action::ResetPasswords) {
        actions.push(button("reset", "Reset password"));
    }
    if may(caller, Action::RevokeSessions) {
        actions.push(button("revoke", "Revoke sessions"));
    }
    if may(caller, Action::ManageAuthenticationMethods) {
        actions.push(button("reregister", "Require re-register MFA"));
    }
    if may(caller, Action::WriteUsers) {
        actions.push(button("delete", "Delete user"));
    }
    let edit = match may(caller, Action::WriteUsers) {
        true => format!(
            "<h2>Properties</h2>\n<form method=\"post\" action=\"{action}\">\n{fields}\n{}\n{}\n{}\n{}\n<p><button type=\"submit\" name=\"action\" value=\"edit\">Save</button></p>\n</form>",
            input("displayName", "Name", "text", &text("displayName"), None, " required"),
            input("jobTitle", "Job title", "text", &text("jobTitle"), None, ""),
            input("department", "Department", "text", &text("department"), None, ""),
            input("usageLocation", "Usage location (two letters)", "text", &text("usageLocation"), None, " maxlength=\"2\""),
        ),
        false => String::new(),
    };
    let note = note.map(|n| format!("<p role=\"status\" class=\"note\">{n}</p>\n")).unwrap_or_default();
    let actions = match actions.is_empty() {
        true => "<p class=\"empty\">Your roles allow no changes to this user.</p>".to_owned(),
        false => actions.join("\n"),
    };
    let about = about(state, caller, &user, &form).await;
    let body = format!(
        "<h1>{name}</h1>\n{note}<dl>\n<dt>User name</dt><dd id=\"upn\">{upn}</dd>\n<dt>Type</dt><dd>{kind}</dd>\n<dt>Sign-in</dt><dd id=\"state\">{state}</dd>\n<dt>Department</dt><dd>{department}</dd>\n<dt>Job title</dt><dd>{job}</dd>\n<dt>Usage location</dt><dd>{location}</dd>\n<dt>Object id</dt><dd>{id}</dd>\n</dl>\n<h2>Actions</h2>\n<div class=\"actions\">{actions}</div>\n{edit}\n{about}",
        location = text("usageLocation"),
        name = text("displayName"),
        upn = text("userPrincipalName"),
        kind = text("userType"),
        state = if enabled { "Allowed" } else { "Blocked" },
        department = text("department"),
        job = text("jobTitle"),
        id = user.id,
    );
    admin_page(tenant, caller, "User", &body, &[csrf])
}

/// What the user's page shows of the user beyond their properties, as far as the caller may read it: their
/// groups, licences (each with its state, and where it comes from), directory roles and authenticator apps.
async fn about(
    state: &IdentityState,
    caller: &Caller,
    user: &ObjectRecord,
    form: &impl Fn(String) -> String,
) -> String {
    let id = user.id.to_string();
    let listing = Listing { filter: None, order: Vec::new(), after: None, top: LISTED, count: false };
    let groups = state.directory.groups().member_of(caller, &id, Relation::Member, false, listing).await;
    let group_rows: Vec<String> = groups
        .map(|page| page.items)
        .unwrap_or_default()
        .iter()
        .map(|group| {
            let name = escape(group.doc.get("displayName").and_then(Value::as_str).unwrap_or_default());
            format!("<tr><td><a href=\"../groups/{}\">{name}</a></td></tr>\n", group.id)
        })
        .collect();
    let skus = state.directory.licensing().subscribed_skus(caller).await.unwrap_or_default();
    let assigns = may(caller, Action::AssignLicenses);
    let licence_rows: Vec<String> = user
        .doc
        .get("licenseAssignmentStates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|held| {
            let sku = held["skuId"].as_str().unwrap_or_default();
            let product =
                skus.iter().find(|s| s["skuId"] == sku).and_then(|s| s["skuPartNumber"].as_str()).unwrap_or(sku);
            let from = match held["assignedByGroup"].as_str() {
                Some(group) => format!("<a href=\"../groups/{}\">a group</a>", escape(group)),
                None => "Direct".to_owned(),
            };
            let state_text = match held["error"].as_str().filter(|e| *e != "None") {
                Some(error) => format!("Error: {}", escape(error)),
                None => escape(held["state"].as_str().unwrap_or_default()),
            };
            let remove = match (assigns, held["assignedByGroup"].is_null()) {
                (true, true) => form(format!(
                    "<input type=\"hidden\" name=\"sku\" value=\"{}\"><button type=\"submit\" name=\"action\" value=\"remove-license\" aria-label=\"Remove {}\">Remove</button>",
                    escape(sku),
                    escape(product)
                )),
                _ => String::new(),
            };
            format!("<tr><td>{}</td><td>{from}</td><td>{state_text}</td><td>{remove}</td></tr>\n", escape(product))
        })
        .collect();
    let held: Vec<String> =
        licenses_of(user.doc.get("assignedLicenses")).into_iter().map(|(sku, _)| sku.to_string()).collect();
    let choices: Vec<(&str, &str)> = skus
        .iter()
        .filter(|s| !held.iter().any(|sku| s["skuId"] == sku.as_str()))
        .map(|s| (s["skuId"].as_str().unwrap_or_default(), s["skuPartNumber"].as_str().unwrap_or_default()))
        .collect();
    let assign = match assigns && !choices.is_empty() {
        true => form(format!(
            "{}<p><button type=\"submit\" name=\"action\" value=\"assign-license\">Assign</button></p>",
            select("sku", "Assign a licence directly", &choices, "")
        )),
        false => String::new(),
    };
    let filter = AssignmentFilter { role: None, principal: Some(user.id) };
    let roles = state.directory.role_management().assignments(caller, &filter).await.unwrap_or_default();
    let role_rows: Vec<String> = roles.iter().map(|a| format!("<tr><td>{}</td></tr>\n", escape(a.role.name))).collect();
    let methods = match may(caller, Action::ReadAuthenticationMethods) {
        true => {
            let apps = state.directory.authentication_methods().software_oath_methods(caller, &id).await;
            let count = apps.map(|apps| apps.len()).unwrap_or_default();
            format!(
                "<h2>Authentication methods</h2>\n<p id=\"methods\">Password; {count} authenticator app{}.</p>\n",
                if count == 1 { "" } else { "s" }
            )
        }
        false => String::new(),
    };
    format!(
        "<h2>Groups</h2>\n{}\n<h2>Licences</h2>\n{}\n{assign}\n<h2>Roles</h2>\n{}\n{methods}",
        table("Groups the user is a direct member of", &["Group"], &group_rows, "The user is in no groups."),
        table("Licences", &["Product", "Assigned", "State", "Action"], &licence_rows, "The user holds no licences."),
        table("Directory roles", &["Role"], &role_rows, "The user holds no directory roles."),
    )
}

/// `GET /{tenant}/admin/users/deleted`: deleted users (restorable for 30 days), each with its Restore button.
pub async fn deleted_users(State(state): State<IdentityState>, Admin { tenant, caller }: Admin) -> Response {
    deleted_page(&state, (&tenant, &caller), None).await
}

async fn deleted_page(state: &IdentityState, (tenant, caller): (&str, &Caller), note: Option<&str>) -> Response {
    let listing = Listing { filter: None, order: Vec::new(), after: None, top: LISTED, count: false };
    let page = match state.directory.deleted().list(caller, ObjectKind::User, listing).await {
        Ok(page) => page,
        Err(e) => return refused(tenant, caller, &e),
    };
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "form": "deleted-users"}));
    let action = format!("{}/users/deleted", escape(&home(tenant)));
    let restores = may(caller, Action::WriteUsers);
    let rows: Vec<String> = page
        .items
        .iter()
        .map(|user| {
            let text = |name: &str| escape(user.doc.get(name).and_then(Value::as_str).unwrap_or_default());
            let restore = match restores {
                true => format!(
                    "<form method=\"post\" action=\"{action}\">\n{fields}\n<input type=\"hidden\" name=\"user\" value=\"{}\"><button type=\"submit\" name=\"action\" value=\"restore\" aria-label=\"Restore {}\">Restore</button>\n</form>",
                    user.id,
                    text("displayName")
                ),
                false => String::new(),
            };
            let deleted = user.deleted_at.map(|at| at.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default();
            format!("<tr><td>{}</td><td>{}</td><td>{deleted}</td><td>{restore}</td></tr>\n", text("displayName"), text("userPrincipalName"))
        })
        .collect();
    let note = note.map(|n| format!("<p role=\"status\" class=\"note\">{}</p>\n", escape(n))).unwrap_or_default();
    let body = format!(
        "<h1>Deleted users</h1>\n{note}<p>A deleted user can be restored for 30 days, with their groups, licences and roles.</p>\n{}",
        table("Deleted users (the first hundred)", &["Name", "User name", "Deleted", "Action"], &rows, "No user was deleted in the last 30 days.")
    );
    admin_page(tenant, caller, "Deleted users", &body, &[csrf])
}

/// `POST /{tenant}/admin/users/deleted`: a deleted user restored.
pub async fn restore_user(
    State(state): State<IdentityState>,
    AdminForm { tenant, caller, form }: AdminForm,
) -> Response {
    let user = form.get("user").map(String::as_str).unwrap_or_default();
    match state.directory.deleted().restore(&caller, user).await {
        Ok(restored) => {
            let name = restored.doc.get("userPrincipalName").and_then(Value::as_str).unwrap_or_default();
            deleted_page(&state, (&tenant, &caller), Some(&format!("{name} was restored."))).await
        }
        Err(e) => refused(&tenant, &caller, &e),
    }
}

/// `GET /{tenant}/admin/users/{id}`.
pub async fn user(
    State(state): State<IdentityState>,
    Admin { tenant, caller }: Admin,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let note = (query.get("done").map(String::as_str) == Some("created")).then_some("The user was created.");
    user_page(&state, &tenant, &caller, &id, note).await
}

/// `POST /{tenant}/admin/users/{id}`: one action on the user; deletion only once confirmed.
pub async fn user_action(
    State(state): State<IdentityState>,
    Path((_, id)): Path<(String, String)>,
    AdminForm { tenant, caller, form }: AdminForm,
) -> Response {
    let users = state.directory.users();
    let enabled = |on: bool| json!({"accountEnabled": on}).as_object().cloned().unwrap_or_default();
    let done = match form.get("action").map(String::as_str).unwrap_or_default() {
        "disable" => users.update(&caller, &id, &enabled(false)).await.map(|()| "Sign-in is blocked.".to_owned()),
        "enable" => users.update(&caller, &id, &enabled(true)).await.map(|()| "Sign-in is allowed.".to_owned()),
        "revoke" => users
            .revoke_sign_in_sessions(&caller, &id)
            .await
            .map(|()| "Every session and refresh token of the user was revoked.".to_owned()),
        "reset" => users.reset_password(&caller, &id).await.map(|password| {
            format!(
                "The password was reset. Give the user this temporary password; it is shown only now, and they change it at their next sign-in: <code id=\"temporary\">{}</code>",
                escape(&password)
            )
        }),
        licence @ ("assign-license" | "remove-license") => {
            let sku = form.get("sku").map(|v| v.trim()).unwrap_or_default();
            let body = match licence {
                "assign-license" => json!({"addLicenses": [{"skuId": sku, "disabledPlans": []}], "removeLicenses": []}),
                _ => json!({"addLicenses": [], "removeLicenses": [sku]}),
            };
            let body = body.as_object().cloned().unwrap_or_default();
            state.directory.licensing().assign_license(&caller, &id, &body).await.map(|_| "The user's licences were changed.".to_owned())
        }
        "reregister" => state.directory.authentication_methods().require_reregistration(&caller, &id).await.map(|count| {
            format!("{count} authenticator app(s) removed: the user registers a method again at their next sign-in that needs one.")
        }),
        "edit" => {
            let value = |name: &str| match form.get(name).map(|v| v.trim()).unwrap_or_default() {
                "" => Value::Null,
                text => json!(text),
            };
            let patch = json!({
                "displayName": value("displayName"),
                "jobTitle": value("jobTitle"),
                "department": value("department"),
                "usageLocation": value("usageLocation"),
            });
            let patch = patch.as_object().cloned().unwrap_or_default();
            users.update(&caller, &id, &patch).await.map(|()| "The user's properties were saved.".to_owned())
        }
        "delete" => {
            let found = users.get(&caller, &id).await;
            let consequence = "The user goes to deleted users and can be restored for 30 days. Their sign-ins stop at once.";
            return ask_delete(&state, (&tenant, &caller), ("users", &id), found, consequence);
        }
        "delete-confirmed" => return deleted(&tenant, &caller, "users", users.delete(&caller, &id).await),
        _ => Err(Error::invalid("Choose an action.")),
    };
    match done {
        Ok(note) => user_page(&state, &tenant, &caller, &id, Some(&note)).await,
        Err(e) => refused(&tenant, &caller, &e),
    }
}
