//! What every feature does with objects, once: read a live object, list a page of objects (with the
//! bounds every listing obeys), move an object to deleted items, and gather what the decision on a sensitive
//! action on a user reads.

use crate::auth::authorization::{decide, Action, Privilege, Target};
use crate::auth::roles::roles_of;
use crate::filter::Filter;
use crate::kernel::error::{Error, ErrorKind, Result};
use crate::query::{self, Listing};
use crate::schema;
use crate::store::{Cursor, ObjectKind, ObjectQuery, ObjectRecord, Write};
use crate::{Caller, Directory};
use uuid::Uuid;

/// A page of objects, the cursor after its last one if more may follow, and the count of all pages
/// when it was asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<ObjectRecord>,
    pub next: Option<Cursor>,
    pub count: Option<u64>,
}

impl Directory {
    /// A new object at version 1, made at `now`, with a new id from the directory's clock and randomness.
    pub(crate) fn new_object(
        &self,
        kind: ObjectKind,
        unique_key: Option<String>,
        doc: serde_json::Map<String, serde_json::Value>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> ObjectRecord {
        let id = self.new_object_id();
        ObjectRecord { id, kind, version: 1, unique_key, manager: None, doc, created_at: now, deleted_at: None }
    }

    /// A live object of the kind, by id.
    pub(crate) async fn live_object(&self, caller: &Caller, kind: ObjectKind, id: &str) -> Result<ObjectRecord> {
        schema::check_text("id", id)?;
        let parsed = Uuid::parse_str(id).map_err(|_| Error::not_found(id))?;
        self.store
            .object(caller.tenant(), kind, parsed)
            .await
            .map_err(Error::from)?
            .filter(|o| o.deleted_at.is_none())
            .ok_or_else(|| Error::not_found(id))
    }

    /// A live object by id, of one of the kinds.
    pub(crate) async fn live_of(&self, caller: &Caller, id: &str, kinds: &[ObjectKind]) -> Result<ObjectRecord> {
        let [object] = self.live_objects(caller, [(id, kinds)]).await?;
        Ok(object)
    }

    /// Live objects by id, each of one of its kinds, read in one round trip; the first one missing is the
    /// error.
    pub(crate) async fn live_objects<const N: usize>(
        &self,
        caller: &Caller,
        wanted: [(&str, &[ObjectKind]); N],
    ) -> Result<[ObjectRecord; N]> {
        wanted.iter().try_for_each(|(id, _)| schema::check_text("id", id))?;
        let ids: Vec<Uuid> = wanted.iter().filter_map(|(id, _)| Uuid::parse_str(id).ok()).collect();
        let mut found = self.store.any_objects(caller.tenant(), &ids).await.map_err(Error::from)?;
        found.retain(|o| o.deleted_at.is_none());
        let mut out = Vec::with_capacity(N);
        for (id, kinds) in wanted {
            let object = Uuid::parse_str(id)
                .ok()
                .and_then(|parsed| found.iter().find(|o| o.id == parsed && kinds.contains(&o.kind)))
                .ok_or_else(|| Error::not_found(id))?;
            out.push(object.clone());
        }
        Ok(out.try_into().unwrap_or_else(|_| unreachable!("one object per id asked for")))
    }

    /// A page of the objects `base` selects (its kind, scope, manager, deleted state) that match the
    /// listing, in its order; the filter is checked against the vocabulary of the listed kind.
    pub(crate) async fn page(&self, caller: &Caller, base: ObjectQuery, listing: Listing) -> Result<Page> {
        query::check_page_size(listing.top)?;
        if let Some(filter) = &listing.filter {
            if !filter.within_bounds() {
                return Err(Error::invalid(format!(
                    "The filter nests deeper than {} levels or lists more than {} values.",
                    crate::filter::MAX_DEPTH,
                    crate::filter::MAX_IN
                )));
            }
            let resource = match base.kind {
                None => Some(&query::DIRECTORY_OBJECTS),
                Some(kind) => query::resource_of(kind),
            };
            let resource = resource.ok_or_else(|| {
                Error::new(ErrorKind::UnsupportedQuery, "$filter is not supported on this collection yet.")
            })?;
            query::check_filter(resource, filter)?;
        }
        let top = listing.top;
        let filter = match (base.filter.clone(), listing.filter.map(query::resolve_derived)) {
            (Some(a), Some(b)) => Some(Filter::And(Box::new(a), Box::new(b))),
            (a, b) => a.or(b),
        };
        let query = ObjectQuery { filter, order: listing.order, after: listing.after, limit: top + 1, ..base };
        let tenant = caller.tenant();
        let count = match listing.count {
            true => Some(self.store.count(tenant, &query).await.map_err(Error::from)?),
            false => None,
        };
        let mut items = self.store.objects(tenant, &query).await.map_err(Error::from)?;
        let next = if items.len() > top as usize {
            items.truncate(top as usize);
            items.last().map(|last| Cursor::at(&query.order, last))
        } else {
            None
        };
        Ok(Page { items, next, count })
    }

    /// The write that moves an object to deleted items, suspending the links at either end of it.
    pub(crate) async fn soft_delete(&self, caller: &Caller, kind: ObjectKind, id: Uuid) -> Result<Write> {
        let links = self.store.links(caller.tenant(), id, true).await.map_err(Error::from)?;
        Ok(Write::SoftDelete { kind, id, at: self.now(), links, version: None })
    }
}

impl Directory {
    /// Allows a sensitive action on `target` (a user) or refuses it as Entra does: gathers the facts the
    /// decision reads (the roles of both, the target's role-assignable groups) when the target has any.
    pub(crate) async fn check_sensitive(&self, caller: &Caller, action: Action, target: &ObjectRecord) -> Result<()> {
        let (tenant, actor) = match caller {
            Caller::App { tenant, service_principal, .. } => (tenant, Some(*service_principal)),
            Caller::User { tenant, .. } => (tenant, None),
            Caller::System { .. } | Caller::SelfService { .. } => return Ok(()),
        };
        let target_roles = roles_of(target);
        let links = self.store.links(*tenant, target.id, true).await.map_err(Error::from)?;
        let groups: Vec<uuid::Uuid> = links.iter().filter(|l| l.member == target.id).map(|l| l.group).collect();
        let in_role_assignable_group = !groups.is_empty()
            && self
                .store
                .any_objects(*tenant, &groups)
                .await
                .map_err(Error::from)?
                .iter()
                .any(|g| g.doc.get("isAssignableToRole") == Some(&serde_json::Value::Bool(true)));
        // Only a privileged target makes the caller's own roles matter.
        let principal = match (actor, target_roles.is_empty() && !in_role_assignable_group) {
            (Some(service_principal), false) => self
                .store
                .object(*tenant, ObjectKind::ServicePrincipal, service_principal)
                .await
                .map_err(Error::from)?,
            _ => None,
        };
        let actor_roles = match caller {
            Caller::User { roles, .. } => roles.iter().map(String::as_str).collect(),
            _ => principal.as_ref().map(roles_of).unwrap_or_default(),
        };
        let privilege = Privilege { actor_roles, target_roles, in_role_assignable_group };
        decide(caller, action, &Target::SensitiveUser(&privilege))
    }
}

/// A soft delete made only while `object` is at the version `expected`, when one is named; refused at once
/// when it has moved on already.
pub(crate) fn at_version(write: Write, object: &ObjectRecord, expected: Option<i64>) -> Result<Write> {
    if expected.is_some_and(|version| version != object.version) {
        return Err(moved_on());
    }
    Ok(match write {
        Write::SoftDelete { kind, id, at, links, .. } => Write::SoftDelete { kind, id, at, links, version: expected },
        other => other,
    })
}

/// The error of a write whose object changed since the version the request names (`If-Match`).
pub(crate) fn moved_on() -> Error {
    let moved = Error::conflict("The object changed since the version the request names.");
    Error { target: Some("version".into()), ..moved }
}
