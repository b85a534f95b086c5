//! The admin center's roles and administrators: the built-in directory roles with how many hold each, a
//! role's holders, and assignments added and removed (after confirmation). For those who manage roles
//! (Privileged Role Administrator, Global Administrator): a Helpdesk Administrator gets no link and a
//! refusal, though every member may read roles through Graph, as in Entra.

use super::{
    admin_page, confirm_page, home, input, refused, table, unless_allowed, Admin, AdminForm, Confirmation, PURPOSE,
};
use crate::pages::{escape, hidden_fields};
use crate::IdentityState;
use axum::extract::{Path, State};
use axum::response::Response;
use gatehouse_core::auth::authorization::Action;
use gatehouse_core::kernel::error::Error;
use gatehouse_core::role_management::{AssignmentFilter, RoleAssignment};
use gatehouse_core::store::ObjectKind;
use gatehouse_core::Caller;
use serde_json::{json, Value};
use std::collections::HashMap;

/// `GET /{tenant}/admin/roles`: every built-in role, with how many hold it.
pub async fn roles(State(state): State<IdentityState>, Admin { tenant, caller }: Admin) -> Response {
    if let Some(response) = unless_allowed(&tenant, &caller, Action::WriteRoles, "managing roles") {
        return response;
    }
    let management = state.directory.role_management();
    let (definitions, assignments) =
        match (management.definitions(&caller), management.assignments(&caller, &AssignmentFilter::default()).await) {
            (Ok(definitions), Ok(assignments)) => (definitions, assignments),
            (Err(e), _) | (_, Err(e)) => return refused(&tenant, &caller, &e),
        };
    let mut held: HashMap<&str, usize> = HashMap::new();
    for assignment in &assignments {
        *held.entry(assignment.role.id).or_default() += 1;
    }
    let base = escape(&home(&tenant));
    let rows: Vec<String> = definitions
        .iter()
        .map(|role| {
            format!(
                "<tr><td><a href=\"{base}/roles/{}\">{}</a></td><td>{}</td><td class=\"holders\">{}</td></tr>\n",
                role.id,
                escape(role.name),
                escape(role.description),
                held.get(role.id).copied().unwrap_or_default(),
            )
        })
        .collect();
    let body = format!(
        "<h1>Roles and administrators</h1>\n{}",
        table("Built-in roles", &["Role", "Description", "Assignments"], &rows, "There are no roles.")
    );
    admin_page(&tenant, &caller, "Roles and administrators", &body, &[])
}

/// A holder's name, and their user name or what kind of object holds the role.
fn holder(assignment: &RoleAssignment) -> (String, String) {
    let doc = &assignment.principal.doc;
    let text = |name: &str| doc.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    let what = match assignment.principal.kind {
        ObjectKind::User => text("userPrincipalName"),
        ObjectKind::Group => "Group".to_owned(),
        _ => "Application".to_owned(),
    };
    (text("displayName"), what)
}

/// A role's page: what it allows, who holds it, and the forms that add and remove holders.
async fn role_page(state: &IdentityState, tenant: &str, caller: &Caller, id: &str, note: Option<&str>) -> Response {
    let management = state.directory.role_management();
    let role = match management.definition(caller, id) {
        Ok(role) => role,
        Err(e) => return refused(tenant, caller, &e),
    };
    let filter = AssignmentFilter { role: Some(role.id.to_owned()), principal: None };
    let assignments = match management.assignments(caller, &filter).await {
        Ok(assignments) => assignments,
        Err(e) => return refused(tenant, caller, &e),
    };
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "object": role.id}));
    let action = format!("{}/roles/{}", escape(&home(tenant)), role.id);
    let form = |inner: String| format!("<form method=\"post\" action=\"{action}\">\n{fields}\n{inner}\n</form>");
    let rows: Vec<String> = assignments
        .iter()
        .map(|assignment| {
            let (name, what) = holder(assignment);
            let remove = form(format!(
                "<input type=\"hidden\" name=\"principal\" value=\"{}\"><button type=\"submit\" name=\"action\" value=\"remove\" aria-label=\"Remove {}\">Remove</button>",
                assignment.principal.id,
                escape(&name)
            ));
            format!("<tr><td>{}</td><td>{}</td><td>{remove}</td></tr>\n", escape(&name), escape(&what))
        })
        .collect();
    let add = form(format!(
        "{}<p><button type=\"submit\" name=\"action\" value=\"add\">Add assignment</button></p>",
        input("member", "Assign to a user, by user name", "text", "", None, " required")
    ));
    let note = note.map(|n| format!("<p role=\"status\" class=\"note\">{}</p>\n", escape(n))).unwrap_or_default();
    let body = format!(
        "<h1>{name}</h1>\n{note}<p>{description}</p>\n<h2>Assignments</h2>\n{holders}\n{add}",
        name = escape(role.name),
        description = escape(role.description),
        holders =
            table("Who holds the role", &["Name", "User name or kind", "Action"], &rows, "Nobody holds the role."),
    );
    admin_page(tenant, caller, role.name, &body, &[csrf])
}

/// `GET /{tenant}/admin/roles/{id}`.
pub async fn role(
    State(state): State<IdentityState>,
    Admin { tenant, caller }: Admin,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    if let Some(response) = unless_allowed(&tenant, &caller, Action::WriteRoles, "managing roles") {
        return response;
    }
    role_page(&state, &tenant, &caller, &id, None).await
}

/// `POST /{tenant}/admin/roles/{id}`: a user given the role, or a holder's assignment removed once
/// confirmed.
pub async fn role_action(
    State(state): State<IdentityState>,
    Path((_, id)): Path<(String, String)>,
    AdminForm { tenant, caller, form }: AdminForm,
) -> Response {
    let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or_default();
    let management = state.directory.role_management();
    let done = match field("action") {
        "add" => match state.directory.users().get(&caller, field("member")).await {
            Ok(user) => management
                .assign_to(&caller, &id, &user.id.to_string())
                .await
                .map(|_| format!("{} now holds the role.", field("member"))),
            Err(e) => Err(e),
        },
        "remove" => {
            let action = format!("{}/roles/{id}", home(&tenant));
            let consequence = "The holder loses what the role allows at their next request.";
            let asked = Confirmation::new("Remove this assignment?", consequence, (&action, "remove-confirmed"));
            let asked = asked.labelled("Remove").on(&id).carrying("principal", field("principal"));
            return confirm_page(&state, (&tenant, &caller), asked);
        }
        "remove-confirmed" => management
            .unassign_from(&caller, &id, field("principal"))
            .await
            .map(|()| "The assignment was removed.".to_owned()),
        _ => Err(Error::invalid("Choose an action.")),
    };
    match done {
        Ok(note) => role_page(&state, &tenant, &caller, &id, Some(&note)).await,
        Err(e) => refused(&tenant, &caller, &e),
    }
}
