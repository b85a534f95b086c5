//! The store conformance suite: the same behaviour, checked on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, TimeZone, Utc};
use gatehouse_core::store::{
    AppRoleAssignmentRecord, ChangeKind, ObjectKind, ObjectQuery, ObjectRecord, SecretRecord, Store, StoreError,
    TenantRecord, Write,
};
use gatehouse_store::SqlStore;
use serde_json::{json, Map};
use std::sync::Arc;
use uuid::Uuid;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
}

fn tenant(domain: &str) -> TenantRecord {
    TenantRecord {
        id: Uuid::new_v4(),
        display_name: domain.into(),
        initial_domain: domain.into(),
        domains: vec![domain.into()],
        created_at: now(),
    }
}

fn user(upn: &str) -> ObjectRecord {
    let mut doc = Map::new();
    doc.insert("userPrincipalName".into(), json!(upn));
    doc.insert("displayName".into(), json!("Someone"));
    ObjectRecord {
        id: Uuid::new_v4(),
        kind: ObjectKind::User,
        version: 1,
        unique_key: Some(upn.to_lowercase()),
        manager: None,
        doc,
        created_at: now(),
        deleted_at: None,
    }
}

fn users_query(deleted: bool) -> ObjectQuery {
    ObjectQuery { kind: ObjectKind::User, deleted, manager: None, after: None, limit: 100 }
}

/// Runs `check` against a fresh store of every engine the machine has.
async fn on_every_engine<F, Fut>(check: F)
where
    F: Fn(Arc<SqlStore>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    for (engine, url) in gatehouse_testkit::postgres::engines(dir.path()).await {
        eprintln!("conformance on {engine}");
        let store = Arc::new(SqlStore::connect(&url).await.unwrap_or_else(|e| panic!("{engine}: {e}")));
        check(store).await;
    }
}

async fn new_tenant(store: &SqlStore, domain: &str) -> TenantRecord {
    let record = tenant(domain);
    store.commit(record.id, vec![Write::CreateTenant(record.clone())], now()).await.unwrap();
    record
}

#[tokio::test]
async fn tenants_are_found_by_id_and_domain_case_insensitively() {
    on_every_engine(|store| async move {
        let t = new_tenant(&store, "contoso.test").await;
        assert_eq!(store.tenant(&t.id.to_string()).await.unwrap().map(|r| r.id), Some(t.id));
        assert_eq!(
            store.tenant("CONTOSO.test").await.unwrap().map(|r| r.domains),
            Some(vec!["contoso.test".to_owned()])
        );
        assert!(store.tenant("fabrikam.test").await.unwrap().is_none());
        let again = TenantRecord { id: Uuid::new_v4(), ..tenant("contoso.test") };
        let clash = store.commit(again.id, vec![Write::CreateTenant(again.clone())], now()).await;
        assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
        assert_eq!(store.tenants().await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn every_write_appends_one_ordered_change_in_the_same_transaction() {
    on_every_engine(|store| async move {
        let t = new_tenant(&store, "contoso.test").await;
        let ada = user("ada@contoso.test");
        let seq = store
            .commit(
                t.id,
                vec![Write::InsertObject(ada.clone()), Write::SetPassword { user: ada.id, hash: "h".into() }],
                now(),
            )
            .await
            .unwrap();
        assert_eq!(seq, 3);
        let changes = store.changes(t.id, 0, 100).await.unwrap();
        assert_eq!(changes.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(changes[1].kind, ChangeKind::Created);
        assert_eq!(changes[1].object_id, ada.id.to_string());
        assert_eq!(changes[1].attributes, vec!["displayName".to_owned(), "userPrincipalName".to_owned()]);
        assert_eq!(changes[2].attributes, vec!["passwordProfile".to_owned()]);

        // A failing batch leaves neither its writes nor its change records behind.
        let bob = user("bob@contoso.test");
        let clash = user("ADA@contoso.test");
        let failed =
            store.commit(t.id, vec![Write::InsertObject(bob.clone()), Write::InsertObject(clash)], now()).await;
        assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
        assert!(store.object(t.id, ObjectKind::User, bob.id).await.unwrap().is_none());
        assert_eq!(store.changes(t.id, 0, 100).await.unwrap().len(), 3);
        assert_eq!(store.changes(t.id, 2, 100).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn concurrent_writers_get_gapless_unique_sequence_numbers() {
    on_every_engine(|store| async move {
        let t = new_tenant(&store, "contoso.test").await;
        let mut tasks = Vec::new();
        for i in 0..24 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.commit(t.id, vec![Write::InsertObject(user(&format!("u{i}@contoso.test")))], now()).await.unwrap()
            }));
        }
        let mut seqs = Vec::new();
        for task in tasks {
            seqs.push(task.await.unwrap());
        }
        seqs.sort();
        assert_eq!(seqs, (2..=25).collect::<Vec<i64>>());
        let logged: Vec<i64> = store.changes(t.id, 0, 100).await.unwrap().iter().map(|c| c.seq).collect();
        assert_eq!(logged, (1..=25).collect::<Vec<i64>>());
    })
    .await;
}

#[tokio::test]
async fn updates_are_optimistic() {
    on_every_engine(|store| async move {
        let t = new_tenant(&store, "contoso.test").await;
        let ada = user("ada@contoso.test");
        store.commit(t.id, vec![Write::InsertObject(ada.clone())], now()).await.unwrap();
        let mut changed = ada.clone();
        changed.doc.insert("jobTitle".into(), json!("Engineer"));
        let update = |version| Write::UpdateObject {
            object: changed.clone(),
            expected_version: version,
            attributes: vec!["jobTitle".into()],
        };
        store.commit(t.id, vec![update(1)], now()).await.unwrap();
        assert_eq!(store.commit(t.id, vec![update(1)], now()).await, Err(StoreError::VersionMismatch));
        let read = store.object(t.id, ObjectKind::User, ada.id).await.unwrap().unwrap();
        assert_eq!(read.version, 2);
        assert_eq!(read.doc["jobTitle"], "Engineer");
    })
    .await;
}

#[tokio::test]
async fn soft_delete_frees_the_unique_value_and_restore_checks_it() {
    on_every_engine(|store| async move {
        let t = new_tenant(&store, "contoso.test").await;
        let ada = user("ada@contoso.test");
        store.commit(t.id, vec![Write::InsertObject(ada.clone())], now()).await.unwrap();
        store
            .commit(t.id, vec![Write::SoftDelete { kind: ObjectKind::User, id: ada.id, at: now() }], now())
            .await
            .unwrap();
        assert!(store.object_by_key(t.id, ObjectKind::User, "ada@contoso.test").await.unwrap().is_none());
        assert_eq!(store.objects(t.id, &users_query(true)).await.unwrap().len(), 1);
        assert!(store.objects(t.id, &users_query(false)).await.unwrap().is_empty());

        let successor = user("Ada@contoso.test");
        store.commit(t.id, vec![Write::InsertObject(successor.clone())], now()).await.unwrap();
        let restore = store.commit(t.id, vec![Write::Restore { kind: ObjectKind::User, id: ada.id }], now()).await;
        assert!(matches!(restore, Err(StoreError::Conflict(_))), "{restore:?}");

        store
            .commit(t.id, vec![Write::SoftDelete { kind: ObjectKind::User, id: successor.id, at: now() }], now())
            .await
            .unwrap();
        store.commit(t.id, vec![Write::Restore { kind: ObjectKind::User, id: ada.id }], now()).await.unwrap();
        assert_eq!(
            store.object_by_key(t.id, ObjectKind::User, "ada@contoso.test").await.unwrap().map(|u| u.id),
            Some(ada.id)
        );

        let cutoff = now() + Duration::days(31);
        let expired = store.deleted_before(cutoff, 10).await.unwrap();
        assert_eq!(expired, vec![(t.id, ObjectKind::User, successor.id)]);
        assert!(store.deleted_before(now() - Duration::days(1), 10).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn purge_removes_everything_that_hangs_off_an_object() {
    on_every_engine(|store| async move {
        let t = new_tenant(&store, "contoso.test").await;
        let manager = user("boss@contoso.test");
        let mut report = user("ada@contoso.test");
        report.manager = Some(manager.id);
        let secret = SecretRecord {
            owner: manager.id,
            key_id: Uuid::new_v4(),
            digest: "d".into(),
            hint: "abc".into(),
            display_name: None,
            start: now(),
            end: now() + Duration::days(1),
        };
        let grant = AppRoleAssignmentRecord {
            id: Uuid::new_v4(),
            principal: manager.id,
            resource: report.id,
            app_role_id: Uuid::new_v4(),
            created_at: now(),
        };
        store
            .commit(
                t.id,
                vec![
                    Write::InsertObject(manager.clone()),
                    Write::InsertObject(report.clone()),
                    Write::SetPassword { user: manager.id, hash: "h".into() },
                    Write::AddSecret(secret),
                    Write::AddAppRoleAssignment(grant.clone()),
                ],
                now(),
            )
            .await
            .unwrap();
        let reports = ObjectQuery { manager: Some(manager.id), ..users_query(false) };
        assert_eq!(store.objects(t.id, &reports).await.unwrap().len(), 1);
        let duplicate = store
            .commit(
                t.id,
                vec![Write::AddAppRoleAssignment(AppRoleAssignmentRecord { id: Uuid::new_v4(), ..grant })],
                now(),
            )
            .await;
        assert!(matches!(duplicate, Err(StoreError::Conflict(_))), "{duplicate:?}");

        store.commit(t.id, vec![Write::Purge { kind: ObjectKind::User, id: manager.id }], now()).await.unwrap();
        assert!(store.object(t.id, ObjectKind::User, manager.id).await.unwrap().is_none());
        assert!(store.password_hash(t.id, manager.id).await.unwrap().is_none());
        assert!(store.secrets(t.id, &[manager.id, report.id]).await.unwrap().is_empty());
        assert!(store.app_role_assignments(t.id, manager.id).await.unwrap().is_empty());
        assert_eq!(store.object(t.id, ObjectKind::User, report.id).await.unwrap().unwrap().manager, None);
        let missing = store.commit(t.id, vec![Write::Purge { kind: ObjectKind::User, id: manager.id }], now()).await;
        assert_eq!(missing, Err(StoreError::Missing));
    })
    .await;
}

#[tokio::test]
async fn keyset_pages_are_disjoint_ordered_and_isolated_by_tenant() {
    on_every_engine(|store| async move {
        let a = new_tenant(&store, "a.test").await;
        let b = new_tenant(&store, "b.test").await;
        let writes: Vec<Write> = (0..25).map(|i| Write::InsertObject(user(&format!("u{i}@a.test")))).collect();
        store.commit(a.id, writes, now()).await.unwrap();
        store.commit(b.id, vec![Write::InsertObject(user("u0@b.test"))], now()).await.unwrap();

        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store.objects(a.id, &ObjectQuery { after, limit: 7, ..users_query(false) }).await.unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().map(|o| o.id);
            seen.extend(page.into_iter().map(|o| o.id));
        }
        let mut sorted = seen.clone();
        sorted.sort_by_key(|id| id.to_string());
        assert_eq!(seen, sorted);
        assert_eq!(seen.len(), 25);
        assert_eq!(store.objects(b.id, &users_query(false)).await.unwrap().len(), 1);
        let foreign = store.objects(b.id, &users_query(false)).await.unwrap()[0].id;
        assert!(store.object(a.id, ObjectKind::User, foreign).await.unwrap().is_none());
        assert!(store.object_by_key(a.id, ObjectKind::User, "u0@b.test").await.unwrap().is_none());
        let both = [ObjectKind::User, ObjectKind::Application];
        assert_eq!(store.objects_by_key(a.id, &both, "u3@a.test").await.unwrap().len(), 1);
        assert!(store.objects_by_key(a.id, &[ObjectKind::Application], "u3@a.test").await.unwrap().is_empty());
        assert!(store.objects_by_key(b.id, &both, "u3@a.test").await.unwrap().is_empty());
    })
    .await;
}
