//! Brief caches of what the hot paths of sign-in and token checks read from the store on every request but
//! which changes a few times a year: a tenant's clients, a tenant's own record. An entry serves while it is
//! younger than its cache's lifetime and no commit on this node has touched its [`Subject`] since it was
//! read. So a change made on this node shows at once, and one made on another node within the lifetime.

use crate::store::{ObjectKind, Write};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// What a brief cache holds of a tenant, and so what a commit must make it read again.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Subject {
    /// Its applications and service principals, with their secrets, app role assignments and delegated
    /// permission grants.
    Clients,
    /// The tenant's record: its organization's settings and its domains.
    Tenant,
}

impl Subject {
    /// The subject a write changes, if any.
    pub(crate) fn of(write: &Write) -> Option<Subject> {
        let client_kind = |kind: &ObjectKind| matches!(kind, ObjectKind::Application | ObjectKind::ServicePrincipal);
        match write {
            Write::InsertObject(object) | Write::UpdateObject { object, .. } => {
                client_kind(&object.kind).then_some(Subject::Clients)
            }
            Write::SoftDelete { kind, .. } | Write::Restore { kind, .. } | Write::Purge { kind, .. } => {
                client_kind(kind).then_some(Subject::Clients)
            }
            Write::AddSecret(_)
            | Write::RemoveSecret { .. }
            | Write::AddAppRoleAssignment(_)
            | Write::RemoveAppRoleAssignment { .. }
            | Write::AddPermissionGrant(_)
            | Write::UpdatePermissionGrant { .. }
            | Write::RemovePermissionGrant { .. } => Some(Subject::Clients),
            Write::CreateTenant(_)
            | Write::UpdateOrganization { .. }
            | Write::AddDomain(_)
            | Write::VerifyDomain { .. }
            | Write::SetDefaultDomain { .. }
            | Write::RemoveDomain { .. } => Some(Subject::Tenant),
            _ => None,
        }
    }
}

/// How many commits on this node have touched each tenant's subjects.
#[derive(Default)]
pub(crate) struct Touches(Mutex<HashMap<(Uuid, Subject), u64>>);

impl Touches {
    /// Notes what a commit's writes touched, once the commit is done or has failed (so that a read begun
    /// before it is not kept as fresh).
    pub(crate) fn note(&self, tenant: Uuid, writes: &[Subject]) {
        let mut touches = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for subject in writes {
            *touches.entry((tenant, *subject)).or_default() += 1;
        }
    }

    /// The count for a tenant's subject, taken before reading it from the store.
    pub(crate) fn count(&self, tenant: Uuid, subject: Subject) -> u64 {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&(tenant, subject)).copied().unwrap_or_default()
    }
}

/// How long a brief cache's entries serve, and how many it holds (a full cache starts again empty).
pub(crate) struct Lifetime {
    pub seconds: i64,
    pub capacity: usize,
}

/// One brief cache: values by key, each with when it was read and its subject's count of touches then.
pub(crate) struct Brief<K, V>(Mutex<HashMap<K, Entry<V>>>);

struct Entry<V> {
    value: Arc<V>,
    read: i64,
    touches: u64,
}

impl<K, V> Default for Brief<K, V> {
    fn default() -> Self {
        Brief(Mutex::new(HashMap::new()))
    }
}

impl<K: Hash + Eq, V> Brief<K, V> {
    /// The value kept for `key`, if it was read less than the lifetime before `now` and its subject has not
    /// been touched on this node since (`touches` is the count now).
    pub(crate) fn fresh(&self, key: &K, now: i64, touches: u64, lifetime: &Lifetime) -> Option<Arc<V>> {
        let entries = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get(key)?;
        (now - entry.read < lifetime.seconds && entry.touches == touches).then(|| entry.value.clone())
    }

    /// Keeps `value`, read at `now` when its subject's count of touches was `touches`.
    pub(crate) fn keep(&self, key: K, value: Arc<V>, now: i64, touches: u64, lifetime: &Lifetime) {
        let mut entries = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= lifetime.capacity {
            entries.clear();
        }
        entries.insert(key, Entry { value, read: now, touches });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFETIME: Lifetime = Lifetime { seconds: 5, capacity: 2 };

    #[test]
    fn an_entry_serves_until_its_lifetime_ends_or_its_subject_is_touched() {
        let (touches, cache) = (Touches::default(), Brief::<Uuid, &str>::default());
        let (tenant, other) = (Uuid::new_v4(), Uuid::new_v4());
        let counted = touches.count(tenant, Subject::Tenant);
        cache.keep(tenant, Arc::new("read"), 100, counted, &LIFETIME);
        assert_eq!(cache.fresh(&tenant, 104, counted, &LIFETIME).as_deref(), Some(&"read"));
        assert!(cache.fresh(&tenant, 105, counted, &LIFETIME).is_none(), "five seconds old is stale");
        touches.note(other, &[Subject::Tenant]);
        touches.note(tenant, &[Subject::Clients]);
        assert_eq!(touches.count(tenant, Subject::Tenant), counted, "other tenants' and subjects' touches");
        touches.note(tenant, &[Subject::Tenant]);
        let now_counted = touches.count(tenant, Subject::Tenant);
        assert!(cache.fresh(&tenant, 101, now_counted, &LIFETIME).is_none(), "a touch on this node makes it stale");
    }

    #[test]
    fn a_full_cache_starts_again_empty() {
        let cache = Brief::<u8, u8>::default();
        for key in 0..3 {
            cache.keep(key, Arc::new(key), 0, 0, &LIFETIME);
        }
        assert!(cache.fresh(&0, 0, 0, &LIFETIME).is_none() && cache.fresh(&1, 0, 0, &LIFETIME).is_none());
        assert_eq!(cache.fresh(&2, 0, 0, &LIFETIME).as_deref(), Some(&2));
    }

    #[test]
    fn tenant_and_client_writes_have_their_subjects() {
        let domain = Write::SetDefaultDomain { name: "contoso.test".into() };
        assert_eq!(Subject::of(&domain), Some(Subject::Tenant));
        let secret = Write::RemoveSecret { owner: Uuid::new_v4(), key_id: Uuid::new_v4() };
        assert_eq!(Subject::of(&secret), Some(Subject::Clients));
        assert_eq!(Subject::of(&Write::SetPassword { user: Uuid::new_v4(), hash: String::new() }), None);
    }
}
