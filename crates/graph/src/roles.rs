//! Directory roles: `/roleManagement/directory/roleDefinitions` and `roleAssignments` (the unified RBAC
//! API), and the legacy `/directoryRoles` (with their members) and `/directoryRoleTemplates` that tools
//! still call. A directory role here is its template: its id is the template id, and every built-in role is
//! activated.

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::{GraphError, GraphResult};
use crate::objects::object_json;
use crate::odata::{self, context_url, Expand, QueryOptions};
use crate::GraphState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use gatehouse_core::auth::roles::Role;
use gatehouse_core::role_management::{definition_json, AssignmentFilter, RoleAssignment};
use serde_json::{json, Map, Value};

const DEFINITIONS: &str = "roleManagement/directory/roleDefinitions";
const ASSIGNMENTS: &str = "roleManagement/directory/roleAssignments";

pub fn routes() -> Router<GraphState> {
    Router::new()
        .route("/roleManagement/directory/roleDefinitions", get(list_definitions))
        .route("/roleManagement/directory/roleDefinitions/{id}", get(read_definition))
        .route("/roleManagement/directory/roleAssignments", get(list_assignments).post(create_assignment))
        .route("/roleManagement/directory/roleAssignments/{id}", get(read_assignment).delete(remove_assignment))
        .route("/directoryRoleTemplates", get(list_templates))
        .route("/directoryRoleTemplates/{id}", get(read_template))
        .route("/directoryRoles", get(list_roles).post(activate_role))
        .route("/directoryRoles/{id}", get(read_role))
        .route("/directoryRoles/{id}/members", get(list_members))
        .route("/directoryRoles/{id}/members/$ref", post(add_member))
        .route("/directoryRoles/{id}/members/{member}/$ref", delete(remove_member))
}

fn assignment_json(assignment: &RoleAssignment, expand: Option<Expand>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(assignment.id));
    out.insert("roleDefinitionId".into(), json!(assignment.role.id));
    out.insert("principalId".into(), json!(assignment.principal.id));
    out.insert("directoryScopeId".into(), json!("/"));
    out.insert("appScopeId".into(), Value::Null);
    match expand {
        Some(Expand::Principal) => {
            let principal = object_json(&assignment.principal, &QueryOptions::default(), true);
            out.insert("principal".into(), Value::Object(principal));
        }
        Some(Expand::RoleDefinition) => {
            out.insert("roleDefinition".into(), Value::Object(definition_json(assignment.role)));
        }
        _ => {}
    }
    out
}

/// The legacy `directoryRole` and `directoryRoleTemplate` shape.
fn role_json(role: &Role, template: bool) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(role.id));
    out.insert("deletedDateTime".into(), Value::Null);
    out.insert("description".into(), json!(role.description));
    out.insert("displayName".into(), json!(role.name));
    if !template {
        out.insert("roleTemplateId".into(), json!(role.id));
    }
    out
}

/// `$filter` on role assignments: `principalId eq '…'` and `roleDefinitionId eq '…'`, alone or joined with
/// `and`.
fn assignment_filter(options: &QueryOptions) -> GraphResult<AssignmentFilter> {
    let mut filter = AssignmentFilter::default();
    let Some(text) = options.filter.as_deref() else { return Ok(filter) };
    let unsupported = || {
        GraphError::unsupported_query(
            "Role assignments are filtered by principalId eq '…' and roleDefinitionId eq '…', joined with and.",
        )
    };
    for clause in text.split(" and ") {
        let mut words = clause.trim().splitn(3, ' ');
        let (Some(name), Some(op), Some(value)) = (words.next(), words.next(), words.next()) else {
            return Err(unsupported());
        };
        let value = value.trim().strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).ok_or_else(unsupported)?;
        match (name, op.to_ascii_lowercase().as_str()) {
            ("principalId", "eq") => {
                filter.principal = Some(uuid::Uuid::parse_str(value).map_err(|_| {
                    GraphError::bad_request(format!("Invalid value '{value}' for principalId: expected a GUID."))
                })?)
            }
            ("roleDefinitionId", "eq") => filter.role = Some(value.to_owned()),
            _ => return Err(unsupported()),
        }
    }
    Ok(filter)
}

async fn list_definitions(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
) -> GraphResult<Json<Value>> {
    let roles = state.directory.role_management().definitions(&caller)?;
    let value: Vec<Value> = roles.iter().map(|r| Value::Object(definition_json(r))).collect();
    Ok(Json(json!({"@odata.context": context_url(DEFINITIONS, None), "value": value})))
}

async fn read_definition(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let role = state.directory.role_management().definition(&caller, &id)?;
    Ok(Json(odata::entity(DEFINITIONS, None, definition_json(role))))
}

async fn list_assignments(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    let filter = assignment_filter(&options)?;
    let assignments = state.directory.role_management().assignments(&caller, &filter).await?;
    let value: Vec<Value> = assignments.iter().map(|a| Value::Object(assignment_json(a, options.expand))).collect();
    Ok(Json(json!({"@odata.context": context_url(ASSIGNMENTS, None), "value": value})))
}

async fn read_assignment(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    let assignment = state.directory.role_management().assignment(&caller, &id).await?;
    Ok(Json(odata::entity(ASSIGNMENTS, None, assignment_json(&assignment, options.expand))))
}

async fn create_assignment(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    JsonObject(body): JsonObject,
) -> GraphResult<(StatusCode, Json<Value>)> {
    let assignment = state.directory.role_management().assign(&caller, &body).await?;
    Ok((StatusCode::CREATED, Json(odata::entity(ASSIGNMENTS, None, assignment_json(&assignment, None)))))
}

async fn remove_assignment(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<StatusCode> {
    state.directory.role_management().unassign(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_templates(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
) -> GraphResult<Json<Value>> {
    let roles = state.directory.role_management().definitions(&caller)?;
    let value: Vec<Value> = roles.iter().map(|r| Value::Object(role_json(r, true))).collect();
    Ok(Json(json!({"@odata.context": context_url("directoryRoleTemplates", None), "value": value})))
}

async fn read_template(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let role = state.directory.role_management().definition(&caller, &id)?;
    Ok(Json(odata::entity("directoryRoleTemplates", None, role_json(role, true))))
}

async fn list_roles(State(state): State<GraphState>, Authenticated(caller): Authenticated) -> GraphResult<Json<Value>> {
    let roles = state.directory.role_management().definitions(&caller)?;
    let value: Vec<Value> = roles.iter().map(|r| Value::Object(role_json(r, false))).collect();
    Ok(Json(json!({"@odata.context": context_url("directoryRoles", None), "value": value})))
}

/// The role a `/directoryRoles/{id}` segment names: by id, or `roleTemplateId='…'`.
fn role_key(id: &str) -> &str {
    id.strip_prefix("roleTemplateId=").map(|t| t.trim_matches('\'')).unwrap_or(id)
}

async fn read_role(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let role = state.directory.role_management().definition(&caller, role_key(&id))?;
    Ok(Json(odata::entity("directoryRoles", None, role_json(role, false))))
}

/// `POST /directoryRoles` activates a role from its template (every built-in role is active here).
async fn activate_role(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    JsonObject(body): JsonObject,
) -> GraphResult<(StatusCode, Json<Value>)> {
    let template = body.get("roleTemplateId").and_then(Value::as_str).unwrap_or_default();
    let role = state.directory.role_management().activate(&caller, template)?;
    Ok((StatusCode::CREATED, Json(odata::entity("directoryRoles", None, role_json(role, false)))))
}

async fn list_members(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let management = state.directory.role_management();
    let role = management.definition(&caller, role_key(&id))?;
    let filter = AssignmentFilter { role: Some(role.id.to_owned()), principal: None };
    let assignments = management.assignments(&caller, &filter).await?;
    let value: Vec<Value> =
        assignments.iter().map(|a| Value::Object(object_json(&a.principal, &QueryOptions::default(), true))).collect();
    Ok(Json(json!({"@odata.context": context_url("directoryObjects", None), "value": value})))
}

async fn add_member(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> GraphResult<StatusCode> {
    let reference = body.get("@odata.id").and_then(Value::as_str).unwrap_or_default();
    let member = reference.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
    state.directory.role_management().assign_to(&caller, role_key(&id), member).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path((id, member)): Path<(String, String)>,
) -> GraphResult<StatusCode> {
    state.directory.role_management().unassign_from(&caller, role_key(&id), &member).await?;
    Ok(StatusCode::NO_CONTENT)
}
