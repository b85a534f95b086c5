//! Directory role assignments (Graph's `/roleManagement/directory`): the built-in role definitions, read
//! only, and their assignments at the tenant scope (`/`) to users, role-assignable groups and service
//! principals. An assignment is its role in the principal's document ([`ROLES_KEY`]), so every read of the
//! principal (the bearer check reads the user on every request) sees it at once; its id is the role and
//! the principal, base64url, so no second record can disagree with it.
//!
//! A user holds the roles assigned to them and to the role-assignable groups they are a member of (such
//! groups cannot be nested). Which groups hold roles is kept per tenant on this node for
//! [`GROUP_ROLES_SECONDS`], and forgotten at once when this node changes an assignment.

use crate::auth::authorization::{require, Action};
use crate::auth::roles::{role, roles_of, wids, Role, GLOBAL_ADMINISTRATOR, ROLES, ROLES_KEY};
use crate::directory::write_error;
use crate::filter::{Filter, Test};
use crate::kernel::error::{Error, Result};
use crate::store::{ObjectKind, ObjectQuery, ObjectRecord, Write};
use crate::{Caller, Directory};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// How long a node trusts its list of the groups that hold roles, in seconds (for changes other nodes make).
pub const GROUP_ROLES_SECONDS: i64 = 5;

/// The most principals of one kind a listing of assignments reads.
const MOST_HOLDERS: u32 = 5000;

/// One role assignment.
#[derive(Debug, Clone)]
pub struct RoleAssignment {
    pub id: String,
    pub role: &'static Role,
    pub principal: ObjectRecord,
}

/// What a listing of assignments is narrowed to (`$filter` on `roleDefinitionId` or `principalId`).
#[derive(Debug, Clone, Default)]
pub struct AssignmentFilter {
    pub role: Option<String>,
    pub principal: Option<Uuid>,
}

/// The role management service.
pub struct RoleManagement<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The role management service.
    pub fn role_management(&self) -> RoleManagement<'_> {
        RoleManagement { directory: self }
    }
}

/// The groups of each tenant that hold roles, as this node last read them.
#[derive(Default)]
struct GroupRoles(Mutex<HashMap<Uuid, CachedGroupRoles>>);

struct CachedGroupRoles {
    groups: Arc<HashMap<Uuid, Vec<String>>>,
    loaded: i64,
}

/// An assignment's id: its role and principal, base64url.
fn assignment_id(role: &Role, principal: Uuid) -> String {
    let role = Uuid::parse_str(role.id).unwrap_or_default();
    URL_SAFE_NO_PAD.encode([role.as_bytes().as_slice(), principal.as_bytes()].concat())
}

/// The role and principal an assignment id names.
fn parse_assignment_id(id: &str) -> Option<(&'static Role, Uuid)> {
    let bytes = URL_SAFE_NO_PAD.decode(id).ok()?;
    let (role_id, principal) = (Uuid::from_slice(bytes.get(..16)?).ok()?, Uuid::from_slice(bytes.get(16..)?).ok()?);
    Some((role(&role_id.to_string())?, principal))
}

/// A role definition as Graph shows it (`unifiedRoleDefinition`).
pub fn definition_json(role: &Role) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(role.id));
    out.insert("templateId".into(), json!(role.id));
    out.insert("displayName".into(), json!(role.name));
    out.insert("description".into(), json!(role.description));
    out.insert("isBuiltIn".into(), json!(true));
    out.insert("isEnabled".into(), json!(true));
    out.insert("resourceScopes".into(), json!(["/"]));
    out.insert("version".into(), json!("1"));
    let actions: Vec<String> = Action::ALL
        .iter()
        .filter(|a| crate::auth::authorization::role_allows(role.id, **a))
        .map(|a| format!("gatehouse.directory/{a:?}"))
        .collect();
    out.insert("rolePermissions".into(), json!([{"allowedResourceActions": actions, "condition": null}]));
    out
}

impl RoleManagement<'_> {
    /// The built-in role definitions.
    pub fn definitions(&self, caller: &Caller) -> Result<&'static [Role]> {
        require(caller, Action::ReadRoles)?;
        Ok(&ROLES)
    }

    /// One role definition by id (its template id).
    pub fn definition(&self, caller: &Caller, id: &str) -> Result<&'static Role> {
        require(caller, Action::ReadRoles)?;
        role(id).ok_or_else(|| Error::not_found(id))
    }

    /// The assignments, narrowed by role or principal.
    pub async fn assignments(&self, caller: &Caller, filter: &AssignmentFilter) -> Result<Vec<RoleAssignment>> {
        require(caller, Action::ReadRoles)?;
        let tenant = caller.tenant();
        let roles: Vec<&'static Role> = match &filter.role {
            Some(id) => role(id).into_iter().collect(),
            None => ROLES.iter().collect(),
        };
        let holders = match filter.principal {
            Some(principal) => self.directory.store.any_objects(tenant, &[principal]).await.map_err(Error::from)?,
            None => {
                let ids: Vec<String> = roles.iter().map(|r| r.id.to_owned()).collect();
                let held = Filter::Any { property: ROLES_KEY.into(), test: Test::In(ids) };
                let mut holders = Vec::new();
                for kind in [ObjectKind::User, ObjectKind::Group, ObjectKind::ServicePrincipal] {
                    let query =
                        ObjectQuery { filter: Some(held.clone()), limit: MOST_HOLDERS, ..ObjectQuery::of(kind) };
                    holders.extend(self.directory.store.objects(tenant, &query).await.map_err(Error::from)?);
                }
                holders
            }
        };
        let mut out = Vec::new();
        for principal in holders.into_iter().filter(|p| p.deleted_at.is_none()) {
            for held in roles_of(&principal).into_iter().filter_map(role) {
                if roles.contains(&held) {
                    out.push(RoleAssignment {
                        id: assignment_id(held, principal.id),
                        role: held,
                        principal: principal.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// One assignment by id.
    pub async fn assignment(&self, caller: &Caller, id: &str) -> Result<RoleAssignment> {
        require(caller, Action::ReadRoles)?;
        let (held, principal) = parse_assignment_id(id).ok_or_else(|| Error::not_found(id))?;
        let filter = AssignmentFilter { role: Some(held.id.to_owned()), principal: Some(principal) };
        self.assignments(caller, &filter).await?.into_iter().next().ok_or_else(|| Error::not_found(id))
    }

    /// Assigns a role at the tenant scope (`directoryScopeId` `/`) to a user, a role-assignable group or a
    /// service principal.
    pub async fn assign(&self, caller: &Caller, body: &Map<String, Value>) -> Result<RoleAssignment> {
        require(caller, Action::WriteRoles)?;
        let text = |name: &str| body.get(name).and_then(Value::as_str);
        if text("directoryScopeId").is_some_and(|scope| scope != "/") {
            return Err(Error::invalid_property(
                "directoryScopeId",
                "Only the tenant scope ('/') is supported for directory role assignments here.",
            ));
        }
        self.assign_to(caller, text("roleDefinitionId").unwrap_or_default(), text("principalId").unwrap_or_default())
            .await
    }

    /// Assigns a role (by id) to a principal (by object id) at the tenant scope: a role assignment's
    /// creation, and a legacy directory role's new member.
    pub async fn assign_to(&self, caller: &Caller, role_id: &str, principal: &str) -> Result<RoleAssignment> {
        require(caller, Action::WriteRoles)?;
        let held = role(role_id).ok_or_else(|| {
            Error::invalid_property("roleDefinitionId", "Invalid value specified for property 'roleDefinitionId'.")
        })?;
        let principal = Uuid::parse_str(principal).map_err(|_| {
            Error::invalid_property("principalId", "Invalid value specified for property 'principalId'.")
        })?;
        let mut turn = self.directory.turn(caller, principal, "object").await?;
        loop {
            let target = self.principal(caller.tenant(), principal).await?;
            if target.kind == ObjectKind::Group && target.doc.get("isAssignableToRole") != Some(&Value::Bool(true)) {
                return Err(Error::invalid_property(
                    "principalId",
                    "Only groups created with isAssignableToRole set to true can be assigned a directory role.",
                ));
            }
            let mut roles: Vec<&str> = roles_of(&target);
            if roles.iter().any(|r| r.eq_ignore_ascii_case(held.id)) {
                return Err(Error::conflict(
                    "A conflicting object with one or more of the specified property values is present in the directory.",
                ));
            }
            roles.push(held.id);
            let write = self.with_roles(&target, &roles);
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, vec![write]).await? {
                committed.map_err(|e| write_error(e, "conflict"))?;
                self.forget_group_roles(caller.tenant());
                return Ok(RoleAssignment { id: assignment_id(held, target.id), role: held, principal: target });
            }
        }
    }

    /// Removes a role from a principal (a legacy directory role's member).
    pub async fn unassign_from(&self, caller: &Caller, role_id: &str, principal: &str) -> Result<()> {
        let held = self.definition(caller, role_id)?;
        let principal = Uuid::parse_str(principal).map_err(|_| Error::not_found(principal))?;
        self.unassign(caller, &assignment_id(held, principal)).await
    }

    /// Activates a directory role from its template (`POST /directoryRoles`): every built-in role is active
    /// here, so this checks the caller and the template and answers with the role.
    pub fn activate(&self, caller: &Caller, template: &str) -> Result<&'static Role> {
        require(caller, Action::WriteRoles)?;
        role(template).ok_or_else(|| {
            Error::invalid_property(
                "roleTemplateId",
                format!("Invalid value specified for property 'roleTemplateId': '{template}'."),
            )
        })
    }

    /// Removes an assignment. The tenant keeps at least one user who is a Global Administrator.
    pub async fn unassign(&self, caller: &Caller, id: &str) -> Result<()> {
        require(caller, Action::WriteRoles)?;
        let (held, principal) = parse_assignment_id(id).ok_or_else(|| Error::not_found(id))?;
        let mut turn = self.directory.turn(caller, principal, "object").await?;
        loop {
            let target = self.principal(caller.tenant(), principal).await.map_err(|_| Error::not_found(id))?;
            let roles: Vec<&str> = roles_of(&target).into_iter().filter(|r| !r.eq_ignore_ascii_case(held.id)).collect();
            if roles.len() == roles_of(&target).len() {
                return Err(Error::not_found(id));
            }
            if held.id == GLOBAL_ADMINISTRATOR && target.kind == ObjectKind::User {
                let filter = AssignmentFilter { role: Some(GLOBAL_ADMINISTRATOR.into()), principal: None };
                let admins = self.assignments(&Caller::System { tenant: caller.tenant() }, &filter).await?;
                if admins.iter().filter(|a| a.principal.kind == ObjectKind::User).count() <= 1 {
                    return Err(Error::invalid("The last Global Administrator of the tenant cannot be removed."));
                }
            }
            let write = self.with_roles(&target, &roles);
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, vec![write]).await? {
                committed.map_err(|e| write_error(e, "conflict"))?;
                self.forget_group_roles(caller.tenant());
                return Ok(());
            }
        }
    }

    /// The live principal an assignment names: a user, a group or a service principal.
    async fn principal(&self, tenant: Uuid, id: Uuid) -> Result<ObjectRecord> {
        let found = self.directory.store.any_objects(tenant, &[id]).await.map_err(Error::from)?;
        found
            .into_iter()
            .find(|o| {
                o.deleted_at.is_none()
                    && matches!(o.kind, ObjectKind::User | ObjectKind::Group | ObjectKind::ServicePrincipal)
            })
            .ok_or_else(|| {
                Error::invalid_property(
                    "principalId",
                    format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
                )
            })
    }

    fn with_roles(&self, target: &ObjectRecord, roles: &[&str]) -> Write {
        let mut record = target.clone();
        match roles.is_empty() {
            true => record.doc.remove(ROLES_KEY),
            false => record.doc.insert(ROLES_KEY.into(), json!(roles)),
        };
        Write::update(target, record, vec![ROLES_KEY.into()])
    }

    /// The directory roles a user holds, as a token's `wids` and the authorization layer name them: their
    /// own, the implicit one of members or guests, and those of the role-assignable groups they are a member
    /// of.
    pub(crate) async fn held(&self, tenant: Uuid, user: &ObjectRecord) -> Result<Vec<String>> {
        self.held_by(tenant, user.id, wids(user)).await
    }

    /// [`RoleManagement::held`] for the user of that id, whose own roles (`wids`) were read already.
    pub(crate) async fn held_by(&self, tenant: Uuid, user: Uuid, mut roles: Vec<String>) -> Result<Vec<String>> {
        let groups = self.groups_with_roles(tenant).await?;
        if groups.is_empty() {
            return Ok(roles);
        }
        let links = self.directory.store.memberships(tenant, &[user]).await.map_err(Error::from)?;
        roles.extend(links.iter().filter_map(|l| groups.get(&l.group)).flatten().cloned());
        Ok(roles)
    }

    /// The tenant's groups that hold roles, from this node's cache while it is younger than
    /// [`GROUP_ROLES_SECONDS`].
    async fn groups_with_roles(&self, tenant: Uuid) -> Result<Arc<HashMap<Uuid, Vec<String>>>> {
        let now = self.directory.now().timestamp();
        let cache = self.directory.node_state::<GroupRoles>();
        if let Some(cached) = cache.0.lock().unwrap_or_else(|p| p.into_inner()).get(&tenant) {
            if now - cached.loaded < GROUP_ROLES_SECONDS {
                return Ok(cached.groups.clone());
            }
        }
        let ids: Vec<String> = ROLES.iter().map(|r| r.id.to_owned()).collect();
        let held = Filter::Any { property: ROLES_KEY.into(), test: Test::In(ids) };
        let query = ObjectQuery { filter: Some(held), limit: MOST_HOLDERS, ..ObjectQuery::of(ObjectKind::Group) };
        let groups = self.directory.store.objects(tenant, &query).await.map_err(Error::from)?;
        let groups: HashMap<Uuid, Vec<String>> =
            groups.iter().map(|g| (g.id, roles_of(g).into_iter().map(str::to_owned).collect())).collect();
        let groups = Arc::new(groups);
        let fresh = CachedGroupRoles { groups: groups.clone(), loaded: now };
        cache.0.lock().unwrap_or_else(|p| p.into_inner()).insert(tenant, fresh);
        Ok(groups)
    }

    fn forget_group_roles(&self, tenant: Uuid) {
        self.directory.node_state::<GroupRoles>().0.lock().unwrap_or_else(|p| p.into_inner()).remove(&tenant);
    }
}
