//! Deleted items: soft-deleted users, groups, contacts and applications, restorable until the retention
//! period ends. Deleting suspends the object's group links and restoring brings them back.

use crate::auth::authorization::{object_actions, require, Action};
use crate::directory::objects::Page;
use crate::directory::write_error;
use crate::filter::{Filter, Literal, Op, Test};
use crate::groups::DUPLICATE_NICKNAME;
use crate::kernel::error::{Error, Result};
use crate::query::Listing;
use crate::store::{ObjectKind, ObjectQuery, ObjectRecord, StoreError, Write};
use crate::users::DUPLICATE_UPN;
use crate::{Caller, Directory};
use uuid::Uuid;

/// The kinds that go to deleted items, with the permissions to read and to restore or purge them.
const RESTORABLE: [ObjectKind; 5] =
    [ObjectKind::User, ObjectKind::Application, ObjectKind::ServicePrincipal, ObjectKind::Group, ObjectKind::Contact];

/// What a unique-value clash means when an object of the kind is restored.
fn restore_conflict(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Group => DUPLICATE_NICKNAME,
        _ => DUPLICATE_UPN,
    }
}

/// Deleted items: listing, restoring and purging what was deleted, as a service on the directory's context
/// (shaped like the domains service).
pub struct Deleted<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The deleted service.
    pub fn deleted(&self) -> Deleted<'_> {
        Deleted { directory: self }
    }
}

impl Deleted<'_> {
    pub async fn list(&self, caller: &Caller, kind: ObjectKind, listing: Listing) -> Result<Page> {
        if !RESTORABLE.contains(&kind) {
            return Err(Error::not_found(kind.as_str()));
        }
        require(caller, object_actions(kind).0)?;
        self.directory.page(caller, ObjectQuery { deleted: true, ..ObjectQuery::of(kind) }, listing).await
    }

    /// A deleted object of any restorable kind the caller may read.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<ObjectRecord> {
        self.find_deleted(caller, id, false).await
    }

    async fn find_deleted(&self, caller: &Caller, id: &str, write: bool) -> Result<ObjectRecord> {
        crate::schema::check_text("id", id)?;
        let parsed = Uuid::parse_str(id).map_err(|_| Error::not_found(id))?;
        let mut denied = None;
        for kind in RESTORABLE {
            let (read, change) = object_actions(kind);
            let found = self.directory.store.object(caller.tenant(), kind, parsed).await.map_err(Error::from)?;
            if let Some(object) = found.filter(|o| o.deleted_at.is_some()) {
                match require(caller, if write { change } else { read }) {
                    Ok(()) => return Ok(object),
                    Err(e) => denied = Some(e),
                }
            }
        }
        Err(denied.unwrap_or_else(|| Error::not_found(id)))
    }

    /// Brings a deleted object back; fails if its unique value was taken meanwhile.
    pub async fn restore(&self, caller: &Caller, id: &str) -> Result<ObjectRecord> {
        let object = self.find_deleted(caller, id, true).await?;
        if object.kind == ObjectKind::User {
            self.directory.check_sensitive(caller, Action::WriteUsers, &object).await?;
        }
        let mut restored = vec![object.clone()];
        let key = object.unique_key.clone().unwrap_or_default();
        match object.kind {
            // An application comes back with the service principal that was deleted with it, as the admin
            // center restores them.
            ObjectKind::Application => {
                let principal = self.deleted_principal(caller, &key).await?;
                restored.extend(principal.filter(|sp| sp.deleted_at >= object.deleted_at));
            }
            // A service principal needs its application.
            ObjectKind::ServicePrincipal => {
                let app = self.directory.store.object_by_key(caller.tenant(), ObjectKind::Application, &key);
                if app.await.map_err(Error::from)?.is_none() {
                    return Err(Error::invalid(
                        "The service principal's application is deleted: restore the application first.",
                    ));
                }
            }
            _ => {}
        }
        let mut writes = Vec::new();
        for each in &restored {
            let links = self.directory.store.links(caller.tenant(), each.id, false).await.map_err(Error::from)?;
            writes.push(Write::Restore { kind: each.kind, id: each.id, links });
        }
        self.directory.commit(caller, writes).await.map_err(|e| write_error(e, restore_conflict(object.kind)))?;
        Ok(ObjectRecord { deleted_at: None, ..object })
    }

    /// The most recently deleted service principal of an application (by its `appId`).
    async fn deleted_principal(&self, caller: &Caller, app_id: &str) -> Result<Option<ObjectRecord>> {
        let filter = Filter::Property {
            property: "appId".into(),
            test: Test::Compare(Op::Eq, Literal::Text(crate::kernel::text::fold(app_id))),
        };
        let query = ObjectQuery {
            deleted: true,
            filter: Some(filter),
            limit: 100,
            ..ObjectQuery::of(ObjectKind::ServicePrincipal)
        };
        let deleted = self.directory.store.objects(caller.tenant(), &query).await.map_err(Error::from)?;
        Ok(deleted.into_iter().max_by_key(|o| o.deleted_at))
    }

    /// Deletes a deleted object for good.
    pub async fn purge(&self, caller: &Caller, id: &str) -> Result<()> {
        let object = self.find_deleted(caller, id, true).await?;
        if object.kind == ObjectKind::User {
            self.directory.check_sensitive(caller, Action::WriteUsers, &object).await?;
        }
        self.directory
            .commit(caller, vec![Write::Purge { kind: object.kind, id: object.id }])
            .await
            .map_err(|e| write_error(e, "conflict"))?;
        Ok(())
    }

    /// Purges every object deleted longer ago than the retention period; returns how many.
    pub async fn purge_expired(&self) -> Result<usize> {
        let cutoff = self.directory.now() - self.directory.config.deleted_retention;
        let mut purged = 0;
        loop {
            let batch = self.directory.store.deleted_before(cutoff, 500).await.map_err(Error::from)?;
            if batch.is_empty() {
                return Ok(purged);
            }
            for (tenant, kind, id) in batch {
                let system = Caller::System { tenant };
                match self.directory.commit(&system, vec![Write::Purge { kind, id }]).await {
                    Ok(_) => purged += 1,
                    // Another node purged it first.
                    Err(StoreError::Missing) => {}
                    Err(other) => return Err(write_error(other, "conflict")),
                }
            }
        }
    }
}
