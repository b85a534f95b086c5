//! App role assignments: a resource's app roles (its access levels: a team site's Owners, Members,
//! Visitors; Graph's application permissions) granted to users, groups and service principals, as in
//! Entra. Sign-in reads them for `roles` claims and for apps that require assignment.

use super::{AppRoleAssignment, Applications};
use crate::auth::authorization::{object_actions, require, Action, Permission, GRAPH_APP_ID};
use crate::directory::write_error;
use crate::kernel::error::{Error, Result};
use crate::schema;
use crate::store::{AppRoleAssignmentRecord, ObjectKind, ObjectRecord, Write};
use crate::Caller;
use serde_json::{Map, Value};
use uuid::Uuid;

/// The kinds that hold app role assignments.
pub const PRINCIPAL_KINDS: [ObjectKind; 3] = [ObjectKind::User, ObjectKind::Group, ObjectKind::ServicePrincipal];

/// Graph's `principalType` of a principal kind.
fn principal_type(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::User => "User",
        ObjectKind::Group => "Group",
        _ => "ServicePrincipal",
    }
}

/// Entra's "default access" role: an assignment that grants access without a role, for resources that
/// define none.
const DEFAULT_ACCESS: Uuid = Uuid::nil();

fn display_name(record: &ObjectRecord) -> Option<String> {
    record.doc.get("displayName").and_then(Value::as_str).map(str::to_owned)
}

impl Applications<'_> {
    /// A live principal of one of [`PRINCIPAL_KINDS`] by id, whatever its kind.
    async fn principal(&self, caller: &Caller, id: Uuid) -> Result<ObjectRecord> {
        let found = self.directory.store.any_objects(caller.tenant(), &[id]).await.map_err(Error::from)?;
        found
            .into_iter()
            .find(|o| o.deleted_at.is_none() && PRINCIPAL_KINDS.contains(&o.kind))
            .ok_or_else(|| Error::invalid_property("principalId", format!("Principal '{id}' does not exist.")))
    }

    /// Grants an app role of a resource to a principal: at `principal` of `kind` (`users/{id}/appRoleAssignments`
    /// and the like), or at the resource (`servicePrincipals/{id}/appRoleAssignedTo`, `kind` `None`), the
    /// body naming the other end. The role must be one the resource defines, enabled, for the principal's
    /// kind (`User` covers users and groups, `Application` service principals), or default access.
    pub async fn assign_app_role(
        &self,
        caller: &Caller,
        kind: Option<ObjectKind>,
        path_id: &str,
        body: &Map<String, Value>,
    ) -> Result<AppRoleAssignment> {
        require(caller, Action::GrantAppRoles)?;
        let guid = |name: &str| -> Result<Uuid> {
            body.get(name)
                .and_then(Value::as_str)
                .and_then(|v| Uuid::parse_str(v).ok())
                .ok_or_else(|| Error::invalid_property(name, format!("{name} must be a GUID.")))
        };
        for (name, value) in body {
            if !(name.starts_with("@odata.") || ["principalId", "resourceId", "appRoleId"].contains(&name.as_str())) {
                return Err(Error::invalid_property(
                    name,
                    format!("Property '{name}' does not exist as a declared property or extension property."),
                ));
            }
            if name.starts_with("@odata.") {
                schema::check_odata_type(name, value, "appRoleAssignment")?;
            }
        }
        let principal = match kind {
            Some(kind) => {
                let principal = self.directory.live_object(caller, kind, path_id).await?;
                if guid("principalId")? != principal.id {
                    return Err(Error::invalid_property(
                        "principalId",
                        "principalId must be the object in the request URL.",
                    ));
                }
                principal
            }
            None => self.principal(caller, guid("principalId")?).await?,
        };
        let resource_id = guid("resourceId")?;
        let resource =
            self.directory.live_object(caller, ObjectKind::ServicePrincipal, &resource_id.to_string()).await.map_err(
                |_| {
                    Error::invalid_property(
                        "resourceId",
                        format!("Resource service principal '{resource_id}' does not exist."),
                    )
                },
            )?;
        if kind.is_none() && !resource.id.to_string().eq_ignore_ascii_case(path_id) {
            return Err(Error::invalid_property(
                "resourceId",
                "resourceId must be the service principal in the request URL.",
            ));
        }
        let role = guid("appRoleId")?;
        let member_type = if principal.kind == ObjectKind::ServicePrincipal { "Application" } else { "User" };
        // Graph's permissions are Gatehouse's own: a tenant made before a permission existed can grant it too.
        let graph_permission = resource.unique_key.as_deref() == Some(GRAPH_APP_ID)
            && member_type == "Application"
            && Permission::from_app_role_id(&role.to_string()).is_some();
        let defined = graph_permission
            || (role == DEFAULT_ACCESS && member_type == "User")
            || resource.doc.get("appRoles").and_then(Value::as_array).is_some_and(|roles| {
                roles.iter().any(|r| {
                    r.get("id").and_then(Value::as_str).is_some_and(|id| id.eq_ignore_ascii_case(&role.to_string()))
                        && r.get("isEnabled") != Some(&Value::Bool(false))
                        && r.get("allowedMemberTypes")
                            .and_then(Value::as_array)
                            .is_some_and(|types| types.iter().any(|t| t.as_str() == Some(member_type)))
                })
            });
        if !defined {
            return Err(Error::invalid_property(
                "appRoleId",
                format!(
                    "Permission being assigned was not found on application '{}'.",
                    resource.unique_key.clone().unwrap_or_default()
                ),
            ));
        }
        let existing =
            self.directory.store.app_role_assignments(caller.tenant(), principal.id).await.map_err(Error::from)?;
        if existing.iter().any(|a| a.resource == resource.id && a.app_role_id == role) {
            return Err(Error::conflict("Permission being assigned already exists on the object."));
        }
        let record = AppRoleAssignmentRecord {
            id: self.directory.random().uuid(),
            principal: principal.id,
            resource: resource.id,
            app_role_id: role,
            created_at: self.directory.now(),
        };
        self.directory
            .commit(caller, vec![Write::AddAppRoleAssignment(record.clone())])
            .await
            .map_err(|e| write_error(e, "Permission being assigned already exists on the object."))?;
        Ok(AppRoleAssignment {
            record,
            principal_type: principal_type(principal.kind),
            principal_display_name: display_name(&principal),
            resource_display_name: display_name(&resource),
        })
    }

    /// The assignments a principal of `kind` holds (`…/appRoleAssignments`).
    pub async fn app_role_assignments(
        &self,
        caller: &Caller,
        kind: ObjectKind,
        principal: &str,
    ) -> Result<Vec<AppRoleAssignment>> {
        require(caller, object_actions(kind).0)?;
        let principal = self.directory.live_object(caller, kind, principal).await?;
        let records =
            self.directory.store.app_role_assignments(caller.tenant(), principal.id).await.map_err(Error::from)?;
        let resources: Vec<Uuid> = records.iter().map(|r| r.resource).collect();
        let resources = self.directory.store.any_objects(caller.tenant(), &resources).await.map_err(Error::from)?;
        Ok(records
            .into_iter()
            .map(|record| AppRoleAssignment {
                principal_type: principal_type(principal.kind),
                principal_display_name: display_name(&principal),
                resource_display_name: resources.iter().find(|r| r.id == record.resource).and_then(display_name),
                record,
            })
            .collect())
    }

    /// The assignments to a resource (`servicePrincipals/{id}/appRoleAssignedTo`).
    pub async fn app_role_assigned_to(&self, caller: &Caller, resource: &str) -> Result<Vec<AppRoleAssignment>> {
        require(caller, Action::ReadApplications)?;
        let resource = self.directory.live_object(caller, ObjectKind::ServicePrincipal, resource).await?;
        let records =
            self.directory.store.app_role_assignments_to(caller.tenant(), resource.id).await.map_err(Error::from)?;
        let principals: Vec<Uuid> = records.iter().map(|r| r.principal).collect();
        let principals = self.directory.store.any_objects(caller.tenant(), &principals).await.map_err(Error::from)?;
        Ok(records
            .into_iter()
            .filter_map(|record| {
                let principal = principals.iter().find(|p| p.id == record.principal && p.deleted_at.is_none())?;
                Some(AppRoleAssignment {
                    principal_type: principal_type(principal.kind),
                    principal_display_name: display_name(principal),
                    resource_display_name: display_name(&resource),
                    record,
                })
            })
            .collect())
    }

    /// Removes an assignment, named by its principal (`kind` and `path_id`) or by its resource (`kind` `None`).
    pub async fn remove_app_role_assignment(
        &self,
        caller: &Caller,
        kind: Option<ObjectKind>,
        path_id: &str,
        assignment: &str,
    ) -> Result<()> {
        require(caller, Action::GrantAppRoles)?;
        let records = match kind {
            Some(kind) => {
                let principal = self.directory.live_object(caller, kind, path_id).await?;
                self.directory.store.app_role_assignments(caller.tenant(), principal.id).await
            }
            None => {
                let resource = self.directory.live_object(caller, ObjectKind::ServicePrincipal, path_id).await?;
                self.directory.store.app_role_assignments_to(caller.tenant(), resource.id).await
            }
        }
        .map_err(Error::from)?;
        let target = records
            .iter()
            .find(|a| a.id.to_string().eq_ignore_ascii_case(assignment))
            .ok_or_else(|| Error::not_found(assignment))?;
        self.directory
            .commit(
                caller,
                vec![Write::RemoveAppRoleAssignment {
                    id: target.id,
                    principal: target.principal,
                    resource: target.resource,
                }],
            )
            .await
            .map_err(|e| write_error(e, "conflict"))?;
        Ok(())
    }
}
