//! SCIM 2.0 (RFC 7643/7644) as a door to the directory for HR systems and scripts that push people in
//! (`docs/design/0016-scim.md`). Every request goes through the same use cases as Graph — a SCIM-created user
//! obeys the same UPN, password, dynamic-group and audit rules, and the same authorization — with SCIM's
//! shapes mapped onto the directory's ([`users`]) and its filters read into the directory's own
//! ([`filter`]).

pub mod bulk;
pub mod filter;
mod group_service;
pub mod groups;
pub mod template;
pub mod users;

use crate::kernel::error::{Error, Result};
use crate::kernel::request;
use crate::query::{check_filter, resource_of, Listing, MAX_PAGE};
use crate::store::{ObjectKind, Sort};
use crate::{Caller, Directory};
use serde_json::{Map, Value};

/// The most results a list answers at once, and the furthest it pages by `startIndex` (beyond it, a
/// filter narrows the list).
pub const MOST_RESULTS: usize = MAX_PAGE as usize;
pub const FURTHEST_INDEX: usize = 10_000;

/// The resource types SCIM serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

/// How a write names a resource's new state: whole (`PUT`) or by operations (`PATCH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Replace,
    Patch,
}

/// A list's query: SCIM's `filter`, `sortBy`/`sortOrder`, `startIndex` (1-based) and `count`.
#[derive(Debug, Clone, Default)]
pub struct Query<'a> {
    pub filter: Option<&'a str>,
    pub sort_by: Option<&'a str>,
    pub descending: bool,
    pub start: usize,
    pub count: usize,
}

/// A page of a list: its resources and how many match in all.
#[derive(Debug, Clone)]
pub struct Listed {
    pub resources: Vec<Map<String, Value>>,
    pub total: u64,
}

/// The SCIM service.
pub struct Scim<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The SCIM service.
    pub fn scim(&self) -> Scim<'_> {
        Scim { directory: self }
    }
}

impl Scim<'_> {
    async fn default_domain(&self, caller: &Caller) -> Result<String> {
        Ok(self.directory.tenant_record(caller.tenant()).await?.default_domain)
    }

    fn shown(&self, record: &crate::store::ObjectRecord) -> Map<String, Value> {
        users::to_scim(record, &request::current().base_url)
    }

    /// A new user; one without a password has none until an administrator resets it or issues a temporary
    /// access pass.
    async fn create_user(&self, caller: &Caller, body: &Map<String, Value>) -> Result<Map<String, Value>> {
        let created = self.create_users(caller, std::slice::from_ref(body)).await?;
        created.into_iter().next().unwrap_or_else(|| Err(Error::internal("a create answered nothing")))
    }

    /// New users, written together ([`crate::users::Users::create_many`]); each one's outcome in order.
    pub(crate) async fn create_users(
        &self,
        caller: &Caller,
        bodies: &[Map<String, Value>],
    ) -> Result<Vec<Result<Map<String, Value>>>> {
        let domain = self.default_domain(caller).await?;
        let read: Vec<Result<crate::users::NewUser>> = bodies
            .iter()
            .map(|body| {
                let (mut changes, kept) = users::split_kept(users::changes_of(body, &domain)?);
                changes.retain(|_, value| !value.is_null());
                Ok((changes, kept))
            })
            .collect();
        let items: Vec<crate::users::NewUser> = read.iter().filter_map(|r| r.as_ref().ok()).cloned().collect();
        let mut created = self.directory.users().create_many(caller, &items).await?.into_iter();
        Ok(read
            .into_iter()
            .map(|r| match r {
                Ok(_) => created.next().unwrap_or_else(|| Err(Error::internal("a create answered nothing"))),
                Err(e) => Err(e),
            })
            .map(|r| r.map(|record| self.shown(&record)))
            .collect())
    }

    async fn user(&self, caller: &Caller, id: &str) -> Result<Map<String, Value>> {
        let record = self.directory.users().get(caller, id).await?;
        Ok(self.shown(&record))
    }

    async fn users(&self, caller: &Caller, query: &Query<'_>) -> Result<Listed> {
        let domain = self.default_domain(caller).await?;
        let (records, total) =
            self.listed(caller, ObjectKind::User, users::attribute, query, |f| qualify_user_names(f, &domain)).await?;
        Ok(Listed { resources: records.iter().map(|r| self.shown(r)).collect(), total })
    }

    /// The records of a list: the query read against the kind's attributes (`adjust` then applied to its
    /// filter) and paged as SCIM pages.
    async fn listed(
        &self,
        caller: &Caller,
        kind: ObjectKind,
        attributes: filter::Attributes,
        query: &Query<'_>,
        adjust: impl Fn(crate::filter::Filter) -> crate::filter::Filter,
    ) -> Result<(Vec<crate::store::ObjectRecord>, u64)> {
        let resource = resource_of(kind).ok_or_else(|| Error::internal("no query resource"))?;
        let filter = match query.filter {
            Some(text) => {
                let parsed = adjust(filter::parse(text, attributes)?);
                check_filter(resource, &parsed).map_err(|e| Error::invalid_property("filter", e.message))?;
                Some(parsed)
            }
            None => None,
        };
        let order = match query.sort_by {
            Some(path) => {
                let property = attributes(&path.to_ascii_lowercase());
                let orderable = resource.orderable.iter().find(|o| Some(o.name) == property);
                let orderable = orderable.ok_or_else(|| {
                    Error::invalid_property("sortBy", format!("A list cannot be sorted by '{path}'."))
                })?;
                vec![Sort { by: orderable.by, descending: query.descending }]
            }
            None => Vec::new(),
        };
        let start = query.start.max(1);
        if start > FURTHEST_INDEX {
            return Err(Error::invalid_property(
                "startIndex",
                format!("startIndex goes to {FURTHEST_INDEX} at most: filter the list."),
            ));
        }
        let count = query.count.min(MOST_RESULTS);
        let (mut skip, mut records, mut after, mut total) = (start - 1, Vec::new(), None, 0);
        loop {
            let top = (skip + count - records.len()).clamp(1, MOST_RESULTS) as u32;
            let listing = Listing { filter: filter.clone(), order: order.clone(), after, top, count: total == 0 };
            let page = match kind {
                ObjectKind::Group => self.directory.groups().list(caller, listing).await?,
                _ => self.directory.users().list(caller, listing).await?,
            };
            total = page.count.unwrap_or(total);
            for record in page.items {
                match skip {
                    0 if records.len() < count => records.push(record),
                    0 => {}
                    _ => skip -= 1,
                }
            }
            match page.next {
                Some(next) if records.len() < count && count > 0 => after = Some(next),
                _ => break,
            }
        }
        Ok((records, total))
    }

    async fn changed_user(
        &self,
        caller: &Caller,
        id: &str,
        changes: Map<String, Value>,
        expected: Option<i64>,
    ) -> Result<Map<String, Value>> {
        let (changes, kept) = users::split_kept(changes);
        self.directory.users().update_keeping(caller, id, &changes, &kept, expected).await?;
        self.user(caller, id).await
    }

    /// `POST /Users` or `/Groups`: a new resource.
    pub async fn create(&self, caller: &Caller, kind: Kind, body: &Map<String, Value>) -> Result<Map<String, Value>> {
        match kind {
            Kind::User => self.create_user(caller, body).await,
            Kind::Group => self.create_group(caller, body).await,
        }
    }

    /// `GET /Users/{id}` or `/Groups/{id}`; a group's members read only when they are to be shown.
    pub async fn get(&self, caller: &Caller, kind: Kind, id: &str, with_members: bool) -> Result<Map<String, Value>> {
        let id = Self::id(id)?;
        match kind {
            Kind::User => self.user(caller, &id).await,
            Kind::Group => self.group(caller, &id, with_members).await,
        }
    }

    /// A list (`GET` or `.search`): the resources matching the query's filter, in the order asked (else id
    /// order), from its 1-based `start`, at most `count`; groups with their members when they are to be
    /// shown.
    pub async fn list(&self, caller: &Caller, kind: Kind, query: &Query<'_>, with_members: bool) -> Result<Listed> {
        match kind {
            Kind::User => self.users(caller, query).await,
            Kind::Group => self.groups(caller, query, with_members).await,
        }
    }

    /// `PUT` (the resource replaced by the body: what it leaves out is cleared) or `PATCH` (the operations
    /// applied together, or none of them), while the resource is at the version `expected` (`If-Match`)
    /// when one is named.
    pub async fn change(
        &self,
        caller: &Caller,
        kind: Kind,
        id: &str,
        body: &Map<String, Value>,
        edit: Edit,
        expected: Option<i64>,
    ) -> Result<Map<String, Value>> {
        let id = Self::id(id)?;
        match kind {
            Kind::User => {
                let domain = self.default_domain(caller).await?;
                let changes = match edit {
                    Edit::Replace => users::changes_of(body, &domain)?,
                    Edit::Patch => users::patch_changes(body, &domain)?,
                };
                self.changed_user(caller, &id, changes, expected).await
            }
            Kind::Group => {
                let changes = match edit {
                    Edit::Replace => groups::changes_of(body)?,
                    Edit::Patch => groups::patch_changes(body)?,
                };
                self.changed_group(caller, &id, changes, expected).await
            }
        }
    }

    /// `DELETE`: the resource deleted (restorable, as Graph's delete), while at the version `expected`
    /// (`If-Match`) when one is named.
    pub async fn delete(&self, caller: &Caller, kind: Kind, id: &str, expected: Option<i64>) -> Result<()> {
        let id = Self::id(id)?;
        match kind {
            Kind::User => self.directory.users().delete_at(caller, &id, expected).await,
            Kind::Group => self.directory.groups().delete_at(caller, &id, expected).await,
        }
    }

    /// A resource id: an object id, never a user name (SCIM addresses resources by id alone).
    fn id(id: &str) -> Result<String> {
        uuid::Uuid::parse_str(id).map(|id| id.to_string()).map_err(|_| Error::not_found(id))
    }
}

/// A filter with each `userName` compared as the directory keeps it: with the default domain when it has
/// none, as users are created.
fn qualify_user_names(filter: crate::filter::Filter, domain: &str) -> crate::filter::Filter {
    use crate::filter::{Filter, Literal, Test};
    let qualify = |text: String| users::principal_name(&text, &crate::kernel::text::fold(domain));
    match filter {
        Filter::And(a, b) => {
            Filter::And(Box::new(qualify_user_names(*a, domain)), Box::new(qualify_user_names(*b, domain)))
        }
        Filter::Or(a, b) => {
            Filter::Or(Box::new(qualify_user_names(*a, domain)), Box::new(qualify_user_names(*b, domain)))
        }
        Filter::Not(a) => Filter::Not(Box::new(qualify_user_names(*a, domain))),
        Filter::Property { property, test: Test::Compare(op, Literal::Text(text)) }
            if property == "userPrincipalName" =>
        {
            Filter::Property { property, test: Test::Compare(op, Literal::Text(qualify(text))) }
        }
        other => other,
    }
}

/// The version an ETag names (`W/"3"` or `"3"`, as `If-Match` and a bulk operation's `version` carry it);
/// `None` for `*`. A value that names no version matches none.
pub fn version_of(etag: &str) -> Option<i64> {
    let etag = etag.trim();
    if etag == "*" {
        return None;
    }
    Some(etag.strip_prefix("W/").unwrap_or(etag).trim_matches('"').parse().unwrap_or(-1))
}

/// The caller a SCIM request acts as: an app holding `SynchronizationData-User.Upload` (the permission
/// Entra gives provisioning clients) writes and reads users and groups through SCIM as if it held
/// `User.ReadWrite.All` and `Group.ReadWrite.All` — through this door only; any other caller as itself.
pub fn acting(caller: Caller) -> Caller {
    use crate::auth::authorization::Permission;
    match caller {
        Caller::App { tenant, service_principal, app_id, mut permissions }
            if permissions.contains(Permission::SynchronizationDataUserUpload) =>
        {
            permissions.insert(Permission::UserReadWriteAll);
            permissions.insert(Permission::GroupReadWriteAll);
            Caller::App { tenant, service_principal, app_id, permissions }
        }
        other => other,
    }
}

/// What one `PATCH` operation does, given its op (lower-cased), path and value.
pub(crate) type Apply<'a> = dyn FnMut(&str, &str, Option<&Value>) -> Result<()> + 'a;

/// Applies a `PATCH`'s operations (RFC 7644 §3.5.2) in order: `add`, `replace` and `remove` in any case
/// (Entra sends `Replace`), each with its path — an `add` or `replace` without one carries an object of
/// attributes, each applied as if named by its path (dotted names included, as Entra sends them).
pub(crate) fn operations(body: &Map<String, Value>, apply: &mut Apply<'_>) -> Result<()> {
    let invalid = |message: &str| Error::invalid_property("invalidValue", message);
    let operations = body.get("Operations").and_then(Value::as_array);
    let operations = operations.filter(|o| !o.is_empty()).ok_or_else(|| invalid("Operations lists the changes."))?;
    for operation in operations {
        let op = operation.get("op").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
        let path = operation.get("path").and_then(Value::as_str);
        let value = operation.get("value");
        match (op.as_str(), path) {
            ("add" | "replace" | "remove", Some(path)) => apply(&op, path, value)?,
            ("remove", None) => {
                return Err(Error::invalid_property("noTarget", "A remove operation names its path."));
            }
            ("add" | "replace", None) => {
                let attributes = value
                    .and_then(Value::as_object)
                    .ok_or_else(|| invalid("An operation without a path carries an object of attributes."))?;
                for (name, value) in attributes {
                    apply(&op, name, Some(value))?;
                }
            }
            _ => return Err(invalid(&format!("'{op}' is not an operation: add, replace or remove."))),
        }
    }
    Ok(())
}
