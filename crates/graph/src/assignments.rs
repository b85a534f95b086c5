//! App role assignments: `users|groups|servicePrincipals/{id}/appRoleAssignments` (what a principal
//! holds) and `servicePrincipals/{id}/appRoleAssignedTo` (who holds a resource's roles).

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::GraphResult;
use crate::odata;
use crate::GraphState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use gatehouse_core::applications::AppRoleAssignment;
use gatehouse_core::schema::format_time;
use gatehouse_core::store::ObjectKind;
use serde_json::{json, Map, Value};

pub fn routes() -> Router<GraphState> {
    Router::new()
        .route("/users/{id}/appRoleAssignments", get(list_of_user).post(assign_to_user))
        .route("/users/{id}/appRoleAssignments/{assignment}", delete(remove_of_user))
        .route("/groups/{id}/appRoleAssignments", get(list_of_group).post(assign_to_group))
        .route("/groups/{id}/appRoleAssignments/{assignment}", delete(remove_of_group))
        .route("/servicePrincipals/{id}/appRoleAssignments", get(list_of_principal).post(assign_to_principal))
        .route("/servicePrincipals/{id}/appRoleAssignments/{assignment}", delete(remove_of_principal))
        .route("/servicePrincipals/{id}/appRoleAssignedTo", get(list_assigned_to).post(assign_at_resource))
        .route("/servicePrincipals/{id}/appRoleAssignedTo/{assignment}", delete(remove_at_resource))
}

fn assignment_json(assignment: &AppRoleAssignment) -> Map<String, Value> {
    let record = &assignment.record;
    let mut out = Map::new();
    for (name, value) in [
        ("id", json!(record.id)),
        ("appRoleId", json!(record.app_role_id)),
        ("createdDateTime", json!(format_time(record.created_at))),
        ("deletedDateTime", Value::Null),
        ("principalDisplayName", json!(assignment.principal_display_name)),
        ("principalId", json!(record.principal)),
        ("principalType", json!(assignment.principal_type)),
        ("resourceDisplayName", json!(assignment.resource_display_name)),
        ("resourceId", json!(record.resource)),
    ] {
        out.insert(name.to_owned(), value);
    }
    out
}

fn segment(kind: Option<ObjectKind>) -> (&'static str, &'static str) {
    match kind {
        Some(ObjectKind::User) => ("users", "appRoleAssignments"),
        Some(ObjectKind::Group) => ("groups", "appRoleAssignments"),
        Some(_) => ("servicePrincipals", "appRoleAssignments"),
        None => ("servicePrincipals", "appRoleAssignedTo"),
    }
}

async fn assign(
    state: GraphState,
    caller: gatehouse_core::Caller,
    kind: Option<ObjectKind>,
    id: String,
    body: Map<String, Value>,
) -> GraphResult<(StatusCode, Json<Value>)> {
    let assignment = state.directory.applications().assign_app_role(&caller, kind, &id, &body).await?;
    let (collection, navigation) = segment(kind);
    let context = format!("{collection}('{id}')/{navigation}");
    Ok((StatusCode::CREATED, Json(odata::entity(&context, None, assignment_json(&assignment)))))
}

async fn list(
    state: GraphState,
    caller: gatehouse_core::Caller,
    kind: Option<ObjectKind>,
    id: String,
) -> GraphResult<Json<Value>> {
    let applications = state.directory.applications();
    let assignments = match kind {
        Some(kind) => applications.app_role_assignments(&caller, kind, &id).await?,
        None => applications.app_role_assigned_to(&caller, &id).await?,
    };
    let (collection, navigation) = segment(kind);
    Ok(Json(json!({
        "@odata.context": odata::context_url(&format!("{collection}('{id}')/{navigation}"), None),
        "value": assignments.iter().map(|a| Value::Object(assignment_json(a))).collect::<Vec<_>>(),
    })))
}

async fn remove(
    state: GraphState,
    caller: gatehouse_core::Caller,
    kind: Option<ObjectKind>,
    (id, assignment): (String, String),
) -> GraphResult<StatusCode> {
    state.directory.applications().remove_app_role_assignment(&caller, kind, &id, &assignment).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The handlers of one principal kind (or of the resource, for `None`).
macro_rules! handlers {
    ($kind:expr, $list:ident, $assign:ident, $remove:ident) => {
        async fn $list(
            State(state): State<GraphState>,
            Authenticated(caller): Authenticated,
            Path(id): Path<String>,
        ) -> GraphResult<Json<Value>> {
            list(state, caller, $kind, id).await
        }

        async fn $assign(
            State(state): State<GraphState>,
            Authenticated(caller): Authenticated,
            Path(id): Path<String>,
            JsonObject(body): JsonObject,
        ) -> GraphResult<(StatusCode, Json<Value>)> {
            assign(state, caller, $kind, id, body).await
        }

        async fn $remove(
            State(state): State<GraphState>,
            Authenticated(caller): Authenticated,
            Path(ids): Path<(String, String)>,
        ) -> GraphResult<StatusCode> {
            remove(state, caller, $kind, ids).await
        }
    };
}

handlers!(Some(ObjectKind::User), list_of_user, assign_to_user, remove_of_user);
handlers!(Some(ObjectKind::Group), list_of_group, assign_to_group, remove_of_group);
handlers!(Some(ObjectKind::ServicePrincipal), list_of_principal, assign_to_principal, remove_of_principal);
handlers!(None, list_assigned_to, assign_at_resource, remove_at_resource);
