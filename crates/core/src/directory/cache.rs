//! This node's cache of users read by id (`GET /users/{id}`), kept fresh from the change log: a read of a
//! cached user costs no store round trip.
//!
//! - **This node's writes** evict the objects they change as they commit, so a node reads its own writes.
//! - **Other nodes' writes** are evicted when this node follows the tenant's change log, which the server does
//!   on every wake-up of its processors (at least every quarter second): that bounds how stale a read can be.
//! - A tenant is cached only once this node follows its log; a read that raced with an eviction is not kept
//!   (every eviction moves the tenant's generation, and a read is kept only if the generation it started
//!   under still holds); a purge clears the tenant (it also clears other users' managers).
//! - At most [`CAPACITY`] objects; when full, the cache starts over.
//!
//! Reads that decide writes (updates' current versions) never come from here.

use crate::store::{Change, ChangeKind, ChangeRecord, ObjectRecord, Write};
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

/// The most objects cached at once.
pub const CAPACITY: usize = 50_000;

/// The objects a committed batch changed.
#[derive(Default)]
pub(crate) struct Eviction {
    ids: Vec<Uuid>,
    everything: bool,
}

#[derive(Default)]
pub(crate) struct ObjectCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    objects: HashMap<(Uuid, Uuid), ObjectRecord>,
    tenants: HashMap<Uuid, View>,
}

/// How far this node has followed a tenant's change log, and how many evictions it has seen.
#[derive(Clone, Copy)]
struct View {
    followed: i64,
    generation: u64,
}

impl State {
    fn evict(&mut self, tenant: Uuid, ids: impl IntoIterator<Item = Uuid>, everything: bool) {
        if everything {
            self.objects.retain(|(cached, _), _| *cached != tenant);
        } else {
            for id in ids {
                self.objects.remove(&(tenant, id));
            }
        }
        if let Some(view) = self.tenants.get_mut(&tenant) {
            view.generation += 1;
        }
    }
}

impl ObjectCache {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, tenant: Uuid, id: Uuid) -> Option<ObjectRecord> {
        self.read(tenant, id, ObjectRecord::clone)
    }

    /// What `read` takes from a kept object, without copying the object.
    pub(crate) fn read<T>(&self, tenant: Uuid, id: Uuid, read: impl FnOnce(&ObjectRecord) -> T) -> Option<T> {
        self.state().objects.get(&(tenant, id)).map(read)
    }

    /// The generation a read starts under, when the tenant is followed.
    pub(crate) fn generation(&self, tenant: Uuid) -> Option<u64> {
        self.state().tenants.get(&tenant).map(|v| v.generation)
    }

    /// Keeps a live object read from the store, unless an eviction came since its read began.
    pub(crate) fn keep(&self, tenant: Uuid, object: ObjectRecord, generation: u64) {
        let mut state = self.state();
        if object.deleted_at.is_some() || state.tenants.get(&tenant).map(|v| v.generation) != Some(generation) {
            return;
        }
        if state.objects.len() >= CAPACITY {
            state.objects.clear();
        }
        state.objects.insert((tenant, object.id), object);
    }

    /// Where this node's following of the tenant's log stands; `None` before it starts.
    pub(crate) fn followed(&self, tenant: Uuid) -> Option<i64> {
        self.state().tenants.get(&tenant).map(|v| v.followed)
    }

    /// Starts following a tenant's log at `position` (its last record now), with nothing cached.
    pub(crate) fn start(&self, tenant: Uuid, position: i64) {
        self.state().tenants.entry(tenant).or_insert(View { followed: position, generation: 0 });
    }

    /// Applies change records read from the log: evicts what they changed and moves past them.
    pub(crate) fn follow(&self, tenant: Uuid, changes: &[ChangeRecord]) {
        let Some(last) = changes.last().map(|c| c.seq) else { return };
        let objects = changes.iter().filter_map(|c| match c.change {
            Change::Object { id, kind, .. } => Some((id, kind)),
            _ => None,
        });
        let everything = objects.clone().any(|(_, kind)| kind == ChangeKind::Purged);
        let ids = objects.map(|(id, _)| id);
        let mut state = self.state();
        state.evict(tenant, ids, everything);
        if let Some(view) = state.tenants.get_mut(&tenant) {
            view.followed = view.followed.max(last);
        }
    }

    /// What a batch changes, to evict once it has committed: its objects, or the whole tenant for a purge.
    pub(crate) fn eviction(writes: &[Write]) -> Eviction {
        let mut eviction = Eviction::default();
        for write in writes {
            match write {
                Write::InsertObject(object) | Write::UpdateObject { object, .. } => eviction.ids.push(object.id),
                Write::SoftDelete { id, .. } | Write::Restore { id, .. } => eviction.ids.push(*id),
                Write::Purge { .. } => eviction.everything = true,
                _ => {}
            }
        }
        eviction
    }

    /// Evicts what a batch this node committed changed.
    pub(crate) fn written(&self, tenant: Uuid, eviction: Eviction) {
        if eviction.everything || !eviction.ids.is_empty() {
            self.state().evict(tenant, eviction.ids, eviction.everything);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ObjectKind;
    use chrono::Utc;
    use serde_json::Map;

    fn user(id: u128) -> ObjectRecord {
        ObjectRecord {
            id: Uuid::from_u128(id),
            kind: ObjectKind::User,
            version: 1,
            unique_key: None,
            manager: None,
            doc: Map::new(),
            created_at: Utc::now(),
            deleted_at: None,
        }
    }

    fn change(seq: i64, id: u128, kind: ChangeKind) -> ChangeRecord {
        ChangeRecord {
            seq,
            change: Change::object(ObjectKind::User, Uuid::from_u128(id), kind, vec![]),
            at: Utc::now(),
        }
    }

    #[test]
    fn only_followed_tenants_are_cached_and_a_read_overtaken_by_an_eviction_is_not_kept() {
        let (cache, tenant) = (ObjectCache::default(), Uuid::from_u128(7));
        assert_eq!(cache.generation(tenant), None, "not followed yet: nothing is kept");
        cache.start(tenant, 10);
        let generation = cache.generation(tenant).unwrap_or_default();
        cache.keep(tenant, user(1), generation);
        assert!(cache.get(tenant, Uuid::from_u128(1)).is_some());

        let stale = cache.generation(tenant).unwrap_or_default();
        cache.follow(tenant, &[change(11, 2, ChangeKind::Updated)]);
        cache.keep(tenant, user(2), stale);
        assert!(cache.get(tenant, Uuid::from_u128(2)).is_none(), "read before the eviction, not kept");
        assert_eq!(cache.followed(tenant), Some(11));
        assert!(cache.get(tenant, Uuid::from_u128(1)).is_some(), "others stay");

        cache.written(
            tenant,
            ObjectCache::eviction(&[Write::UpdateObject {
                previous: Default::default(),
                object: user(1),
                expected_version: 1,
                attributes: vec![],
                before: None,
            }]),
        );
        assert!(cache.get(tenant, Uuid::from_u128(1)).is_none(), "this node's own write evicts");

        let generation = cache.generation(tenant).unwrap_or_default();
        cache.keep(tenant, user(3), generation);
        cache.keep(tenant, user(4), generation);
        cache.follow(tenant, &[change(12, 9, ChangeKind::Purged)]);
        assert!(cache.get(tenant, Uuid::from_u128(3)).is_none(), "a purge clears the tenant");
        assert!(cache.get(tenant, Uuid::from_u128(4)).is_none());
    }
}
