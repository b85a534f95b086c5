//! The store conformance suite: the same behaviour, checked on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, TimeZone, Utc};
use gatehouse_core::filter::{Filter, Literal, Op, Test};
use gatehouse_core::query::{self};
use gatehouse_core::store::{
    AppRoleAssignmentRecord, Change, ChangeKind, Cursor, DomainRecord, Link, LockoutRecord, ObjectKind, ObjectQuery,
    ObjectRecord, OrderBy, PasswordEntry, RefreshFamilyRecord, Relation, Scope, SecretRecord, SignInQuery,
    SignInRecord, Sort, Store, StoreError, TenantRecord, UserName, Write,
};
use gatehouse_store::{SqlStore, StoreOptions};
use serde_json::{json, Map, Value};
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
        default_domain: domain.into(),
        domains: vec![domain.into()],
        created_at: now(),
        organization: json!({"countryLetterCode": "NL"}).as_object().cloned().unwrap(),
        version: 1,
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
    ObjectQuery { kind: Some(ObjectKind::User), deleted, limit: 100, ..ObjectQuery::default() }
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

        // Every tenant comes with all its domains, in one listing.
        let two = TenantRecord {
            domains: vec!["fabrikam.test".into(), "fabrikam.example".into()],
            ..tenant("fabrikam.test")
        };
        store.commit(two.id, vec![Write::CreateTenant(two.clone())], now()).await.unwrap();
        let listed: Vec<(Uuid, Vec<String>)> =
            store.tenants().await.unwrap().into_iter().map(|t| (t.id, t.domains)).collect();
        let mut expected = vec![
            (t.id, vec!["contoso.test".to_owned()]),
            (two.id, vec!["fabrikam.example".to_owned(), "fabrikam.test".to_owned()]),
        ];
        expected.sort();
        assert_eq!(listed, expected, "created together, so in id order");
        assert_eq!(store.tenant("FABRIKAM.example").await.unwrap().map(|r| r.id), Some(two.id));
    })
    .await;
}

#[tokio::test]
async fn organization_settings_are_kept_with_their_version() {
    on_every_engine(|store| async move {
        let t = new_tenant(&store, "contoso.test").await;
        assert_eq!(
            store.tenant(&t.id.to_string()).await.unwrap().map(|r| (r.organization, r.version)),
            Some((t.organization.clone(), 1))
        );
        let settings = json!({"countryLetterCode": "BE", "technicalNotificationMails": ["tech@contoso.test"]});
        let update = |expected_version| Write::UpdateOrganization {
            previous: Default::default(),
            organization: settings.as_object().cloned().unwrap(),
            expected_version,
            attributes: vec!["countryLetterCode".into(), "technicalNotificationMails".into()],
        };
        store.commit(t.id, vec![update(1)], now()).await.unwrap();
        let read = store.tenant("contoso.test").await.unwrap().unwrap();
        assert_eq!((Value::Object(read.organization), read.version), (settings.clone(), 2));
        assert_eq!(
            store.commit(t.id, vec![update(1)], now()).await,
            Err(StoreError::VersionMismatch),
            "a stale version"
        );
        let changes = store.changes(t.id, 1, 10).await.unwrap();
        assert_eq!(changes.len(), 1);
        let [subject, id, kind, _] = changes[0].change.encode();
        assert_eq!((subject.as_str(), id, kind.as_str()), ("organization", t.id.to_string(), "updated"));
    })
    .await;
}

#[tokio::test]
async fn a_verified_domain_names_one_tenant_and_is_removed_only_when_unused() {
    on_every_engine(|store| async move {
        let contoso = new_tenant(&store, "contoso.test").await;
        let fabrikam = new_tenant(&store, "fabrikam.test").await;
        let domain = |name: &str| DomainRecord {
            name: name.into(),
            verified: false,
            code: Some("MS=ms12345678".into()),
            created_at: now(),
        };
        for tenant in [contoso.id, fabrikam.id] {
            store.commit(tenant, vec![Write::AddDomain(domain("shared.example"))], now()).await.unwrap();
        }
        let duplicate = store.commit(contoso.id, vec![Write::AddDomain(domain("shared.example"))], now()).await;
        assert!(matches!(duplicate, Err(StoreError::Conflict(_))), "{duplicate:?}");
        assert!(store.tenant("shared.example").await.unwrap().is_none(), "an unverified domain names no tenant");
        let listed = store.domains(contoso.id).await.unwrap();
        assert_eq!(
            listed.iter().map(|d| (d.name.as_str(), d.verified)).collect::<Vec<_>>(),
            vec![("contoso.test", true), ("shared.example", false)]
        );
        assert_eq!((listed[0].code.as_deref(), listed[1].code.as_deref()), (None, Some("MS=ms12345678")));

        let verify = || vec![Write::VerifyDomain { name: "shared.example".into() }];
        store.commit(contoso.id, verify(), now()).await.unwrap();
        assert_eq!(store.commit(contoso.id, verify(), now()).await, Err(StoreError::Missing), "verified already");
        let taken = store.commit(fabrikam.id, verify(), now()).await;
        assert!(matches!(taken, Err(StoreError::Conflict(_))), "one tenant holds a verified domain: {taken:?}");
        let resolved = store.tenant("SHARED.example").await.unwrap().unwrap();
        assert_eq!((resolved.id, resolved.domains.len()), (contoso.id, 2));
        assert!(!store.domains(fabrikam.id).await.unwrap()[1].verified, "its batch left nothing behind");

        let default = |name: &str| vec![Write::SetDefaultDomain { name: name.into() }];
        assert_eq!(store.commit(fabrikam.id, default("shared.example"), now()).await, Err(StoreError::Missing));
        store.commit(contoso.id, default("shared.example"), now()).await.unwrap();
        assert_eq!(store.tenant("contoso.test").await.unwrap().unwrap().default_domain, "shared.example");

        // Removal: not the default or initial domain, not while a user (deleted or not) or a subdomain uses it.
        let remove = |name: &str| vec![Write::RemoveDomain { name: name.into() }];
        let in_use = |result: Result<i64, StoreError>| matches!(result, Err(StoreError::Conflict(_)));
        assert!(in_use(store.commit(contoso.id, remove("shared.example"), now()).await), "the default");
        store.commit(contoso.id, default("contoso.test"), now()).await.unwrap();
        assert!(in_use(store.commit(contoso.id, remove("contoso.test"), now()).await), "the initial");
        let verified_sub = DomainRecord { verified: true, ..domain("eu.shared.example") };
        store.commit(contoso.id, vec![Write::AddDomain(verified_sub)], now()).await.unwrap();
        let mut ada = user("ada@shared.example");
        ada.doc.insert("proxyAddresses".into(), json!(["SMTP:ada@shared.example"]));
        store.commit(contoso.id, vec![Write::InsertObject(ada.clone())], now()).await.unwrap();
        assert!(in_use(store.commit(contoso.id, remove("shared.example"), now()).await), "a subdomain");
        store.commit(contoso.id, remove("eu.shared.example"), now()).await.unwrap();
        let deleted = Write::SoftDelete { kind: ObjectKind::User, id: ada.id, at: now(), links: vec![], version: None };
        store.commit(contoso.id, vec![deleted], now()).await.unwrap();
        assert!(in_use(store.commit(contoso.id, remove("shared.example"), now()).await), "a deleted user");
        assert!(store.commit(fabrikam.id, remove("shared.example"), now()).await.is_ok(), "the other's is its own");
        store.commit(contoso.id, vec![Write::Purge { kind: ObjectKind::User, id: ada.id }], now()).await.unwrap();
        store.commit(contoso.id, remove("shared.example"), now()).await.unwrap();
        assert!(store.tenant("shared.example").await.unwrap().is_none());
        assert_eq!(store.domains(contoso.id).await.unwrap().len(), 1);
        store.commit(fabrikam.id, vec![Write::AddDomain(domain("shared.example"))], now()).await.unwrap();
        store.commit(fabrikam.id, verify(), now()).await.unwrap();
        assert_eq!(store.tenant("shared.example").await.unwrap().map(|t| t.id), Some(fabrikam.id), "free again");
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
        let attributes = vec!["displayName".to_owned(), "userPrincipalName".to_owned()];
        assert_eq!(changes[1].change, Change::object(ObjectKind::User, ada.id, ChangeKind::Created, attributes));
        let password = vec!["passwordProfile".to_owned()];
        assert_eq!(changes[2].change, Change::object(ObjectKind::User, ada.id, ChangeKind::Updated, password));

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
        // Every third writer wants the same UPN: one of them gets it, the others fail alone, and batches
        // committed together with a failing one (both engines' group commit) are not disturbed by it: each
        // keeps its own values, though the failing batch stopped before its second statement.
        for i in 0..36 {
            let store = store.clone();
            let upn = if i % 3 == 2 { "dup@contoso.test".to_owned() } else { format!("u{i}@contoso.test") };
            let mut person = user(&upn);
            person.doc.insert("displayName".into(), json!(format!("u{i}")));
            let password = Write::SetPassword { user: person.id, hash: format!("hash of u{i}") };
            tasks.push(tokio::spawn(async move {
                store.commit(t.id, vec![Write::InsertObject(person), password], now()).await
            }));
        }
        let (mut seqs, mut conflicts) = (Vec::new(), 0);
        for task in tasks {
            match task.await.unwrap() {
                Ok(seq) => seqs.push(seq),
                Err(StoreError::Conflict(_)) => conflicts += 1,
                Err(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(conflicts, 11, "one writer of the shared UPN wins");
        seqs.sort();
        assert_eq!(seqs, (3..=51).step_by(2).collect::<Vec<i64>>());
        let logged: Vec<i64> = store.changes(t.id, 0, 100).await.unwrap().iter().map(|c| c.seq).collect();
        assert_eq!(logged, (1..=51).collect::<Vec<i64>>());
        let users = store.objects(t.id, &users_query(false)).await.unwrap();
        assert_eq!(users.len(), 25, "every acknowledged write is there, and only those");
        for person in users {
            let name = person.doc["displayName"].as_str().unwrap_or_default().to_owned();
            if person.unique_key.as_deref() != Some("dup@contoso.test") {
                assert_eq!(person.unique_key, Some(format!("{name}@contoso.test")));
            }
            let hash = store.password_hash(t.id, person.id).await.unwrap();
            assert_eq!(hash.as_deref(), Some(format!("hash of {name}").as_str()));
        }
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
            previous: Default::default(),
            before: None,
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
            .commit(
                t.id,
                vec![Write::SoftDelete { kind: ObjectKind::User, id: ada.id, at: now(), links: vec![], version: None }],
                now(),
            )
            .await
            .unwrap();
        assert!(store.object_by_key(t.id, ObjectKind::User, "ada@contoso.test").await.unwrap().is_none());
        assert_eq!(store.objects(t.id, &users_query(true)).await.unwrap().len(), 1);
        assert!(store.objects(t.id, &users_query(false)).await.unwrap().is_empty());

        let successor = user("Ada@contoso.test");
        store.commit(t.id, vec![Write::InsertObject(successor.clone())], now()).await.unwrap();
        let restore =
            store.commit(t.id, vec![Write::Restore { kind: ObjectKind::User, id: ada.id, links: vec![] }], now()).await;
        assert!(matches!(restore, Err(StoreError::Conflict(_))), "{restore:?}");

        store
            .commit(
                t.id,
                vec![Write::SoftDelete {
                    kind: ObjectKind::User,
                    id: successor.id,
                    at: now(),
                    links: vec![],
                    version: None,
                }],
                now(),
            )
            .await
            .unwrap();
        store
            .commit(t.id, vec![Write::Restore { kind: ObjectKind::User, id: ada.id, links: vec![] }], now())
            .await
            .unwrap();
        assert_eq!(
            store.object_by_key(t.id, ObjectKind::User, "ada@contoso.test").await.unwrap().map(|u| u.id),
            Some(ada.id)
        );

        assert_eq!(store.count(t.id, &users_query(false)).await.unwrap(), 1, "live users are counted");
        assert_eq!(store.count(t.id, &users_query(true)).await.unwrap(), 1, "and deleted ones");
        store.commit(t.id, vec![Write::Purge { kind: ObjectKind::User, id: successor.id }], now()).await.unwrap();
        assert_eq!(store.count(t.id, &users_query(true)).await.unwrap(), 0, "purging uncounts");
        let cutoff = now() + Duration::days(31);
        let expired = store.deleted_before(cutoff, 10).await.unwrap();
        assert!(expired.is_empty(), "{expired:?}");
        store
            .commit(
                t.id,
                vec![Write::SoftDelete { kind: ObjectKind::User, id: ada.id, at: now(), links: vec![], version: None }],
                now(),
            )
            .await
            .unwrap();
        assert_eq!(store.deleted_before(cutoff, 10).await.unwrap(), vec![(t.id, ObjectKind::User, ada.id)]);
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

/// A password sign-in reads the user it names with their hash and lockout state in one round trip, each
/// there or not on its own: only a live user of the tenant, by id or by folded name.
#[tokio::test]
async fn a_password_user_comes_with_the_hash_and_the_lockout_state_whichever_exist() {
    on_every_engine(|store| async move {
        let (t, other) = (new_tenant(&store, "contoso.test").await, new_tenant(&store, "fabrikam.test").await);
        let (ada, bob) = (user("ada@contoso.test"), user("bob@contoso.test"));
        let inserts = vec![Write::InsertObject(ada.clone()), Write::InsertObject(bob.clone())];
        store.commit(t.id, inserts, now()).await.unwrap();
        let entry = |tenant, name| {
            let store = store.clone();
            async move {
                let found = store.password_user(tenant, name).await.unwrap();
                found.map(|(user, entry): (ObjectRecord, PasswordEntry)| (user.id, entry))
            }
        };
        assert_eq!(
            entry(t.id, UserName::Principal("ada@contoso.test")).await,
            Some((ada.id, PasswordEntry::default()))
        );
        assert_eq!(entry(t.id, UserName::Principal("nobody@contoso.test")).await, None);

        let locked = |expected_version| Write::SetLockout { user: bob.id, state: "{}".into(), expected_version };
        store.commit(t.id, vec![locked(None)], now()).await.unwrap();
        let state = LockoutRecord { state: "{}".into(), version: 1 };
        let alone = PasswordEntry { hash: None, lockout: Some(state.clone()) };
        assert_eq!(entry(t.id, UserName::Id(bob.id)).await, Some((bob.id, alone)), "a lockout state alone");

        store.commit(t.id, vec![Write::SetPassword { user: ada.id, hash: "h".into() }], now()).await.unwrap();
        let alone = PasswordEntry { hash: Some("h".into()), lockout: None };
        assert_eq!(entry(t.id, UserName::Id(ada.id)).await, Some((ada.id, alone)), "a hash alone");

        let writes = vec![Write::SetPassword { user: bob.id, hash: "b".into() }, locked(Some(1))];
        store.commit(t.id, writes, now()).await.unwrap();
        let both = PasswordEntry { hash: Some("b".into()), lockout: Some(LockoutRecord { version: 2, ..state }) };
        assert_eq!(entry(t.id, UserName::Principal("bob@contoso.test")).await, Some((bob.id, both)), "both");
        assert_eq!(entry(other.id, UserName::Id(bob.id)).await, None, "another tenant's");

        let delete = Write::SoftDelete { kind: ObjectKind::User, id: bob.id, at: now(), links: vec![], version: None };
        store.commit(t.id, vec![delete], now()).await.unwrap();
        assert_eq!(entry(t.id, UserName::Principal("bob@contoso.test")).await, None, "a deleted user");
    })
    .await;
}

/// The statements written most often — a sign-in's record, a refresh token's rotation — behave the same
/// whichever way the engine runs them (PostgreSQL's group function runs them as cached static SQL when no
/// parameter is null, and through `EXECUTE` otherwise): records with and without a user and app read back
/// whole, and a rotation from a generation the family has left affects nothing and conflicts.
#[tokio::test]
async fn sign_in_records_and_refresh_rotations_are_written_as_given() {
    on_every_engine(|store| async move {
        let t = new_tenant(&store, "contoso.test").await;
        let at = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let record = |user: Option<Uuid>, app: Option<Uuid>, error_code| SignInRecord {
            id: Uuid::new_v4(),
            at,
            user,
            user_principal_name: "ada@contoso.test".into(),
            app,
            error_code,
            doc: json!({"status": {"errorCode": error_code}, "note": "it's"}).as_object().unwrap().clone(),
        };
        let known = record(Some(Uuid::new_v4()), Some(Uuid::new_v4()), 0);
        let unknown = record(None, None, 50034);
        let logged = vec![Write::LogSignIns(vec![known.clone()]), Write::LogSignIns(vec![unknown.clone()])];
        for write in logged {
            store.commit(t.id, vec![write], now()).await.unwrap();
        }
        let query = SignInQuery { limit: 10, ..SignInQuery::default() };
        let mut read = store.sign_ins(t.id, &query).await.unwrap();
        read.sort_by_key(|r| r.error_code);
        assert_eq!(read, vec![known, unknown]);

        let family = RefreshFamilyRecord {
            id: Uuid::new_v4(),
            user: Uuid::new_v4(),
            client: Uuid::new_v4(),
            scopes: "openid".into(),
            generation: 0,
            auth_time: at,
            methods: "pwd".into(),
            expires_at: at,
            sliding: true,
            revoked: false,
        };
        store.commit(t.id, vec![Write::StartRefreshFamily(family.clone())], now()).await.unwrap();
        let later = at + Duration::days(1);
        let rotate = |from| Write::RotateRefreshFamily { id: family.id, from, expires_at: later };
        store.commit(t.id, vec![rotate(0)], now()).await.unwrap();
        let stale = store.commit(t.id, vec![rotate(0)], now()).await;
        assert_eq!(stale, Err(StoreError::Conflict("generation".into())), "a used generation");
        let rotated = store.refresh_family(t.id, family.id).await.unwrap().unwrap();
        assert_eq!((rotated.generation, rotated.expires_at), (1, later));
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
            after = page.last().map(|o| Cursor::after(o.id));
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

/// A small deterministic generator, so a failing case can be reproduced from its seed.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const NAMES: &[&str] = &["Ann Lee", "anna Berg", "Bob Ånström", "ÅSA Öberg", "Carl O'Neil", "Dee", "Émile Zola", "ann"];
const CITIES: &[&str] = &["Oslo", "oslo", "Bergen", "Åre", "Zürich"];
const MAILS: &[&str] = &["a@x.test", "ann@y.test", "b@x.test", "åsa@z.test"];

fn random_user(dice: &mut Dice, i: usize) -> ObjectRecord {
    let mut record = user(&format!("u{i}@contoso.test"));
    record.doc.insert("displayName".into(), json!(dice.pick(NAMES)));
    if dice.below(3) > 0 {
        record.doc.insert("city".into(), json!(dice.pick(CITIES)));
    }
    record.doc.insert("accountEnabled".into(), json!(dice.below(2) == 0));
    let mails: Vec<&str> = (0..dice.below(3)).map(|_| dice.pick(MAILS)).collect();
    record.doc.insert("otherMails".into(), json!(mails));
    record.created_at = now() + Duration::days(dice.below(10) as i64);
    record
}

fn random_test(dice: &mut Dice, values: &[&str]) -> Test {
    let value = gatehouse_core::kernel::text::fold(dice.pick(values));
    match dice.below(11) {
        7 => Test::Contains(value.chars().skip(1).take(2).collect()),
        8 => Test::Matches(["^a", "n$", "a.e", "^(ann|bob)", "[öå]", "o'n"][dice.below(6)].into()),
        9 => Test::Not(Box::new(Test::StartsWith(value.chars().take(1).collect()))),
        10 => Test::AnyOf(vec![Test::Contains("%".into()), Test::Contains(value.chars().take(2).collect())]),
        0 => Test::Compare(Op::Eq, Literal::Text(value)),
        1 => Test::Compare(Op::Ge, Literal::Text(value)),
        2 => Test::Compare(Op::Le, Literal::Text(value)),
        3 => Test::In(vec![value, gatehouse_core::kernel::text::fold(dice.pick(values))]),
        4 => Test::StartsWith(value.chars().take(1 + dice.below(3)).collect()),
        5 => {
            Test::EndsWith(value.chars().rev().take(1 + dice.below(3)).collect::<Vec<_>>().into_iter().rev().collect())
        }
        _ => Test::Compare(Op::Ne, Literal::Text(value)),
    }
}

fn random_filter(dice: &mut Dice, depth: usize) -> Filter {
    let choice = if depth > 2 { 4 + dice.below(6) } else { dice.below(10) };
    match choice {
        0 => Filter::And(Box::new(random_filter(dice, depth + 1)), Box::new(random_filter(dice, depth + 1))),
        1 => Filter::Or(Box::new(random_filter(dice, depth + 1)), Box::new(random_filter(dice, depth + 1))),
        2 => Filter::Not(Box::new(random_filter(dice, depth + 1))),
        3 => match dice.below(3) {
            0 => Filter::Property { property: "city".into(), test: Test::Compare(Op::Eq, Literal::Null) },
            1 => Filter::Property { property: "id".into(), test: Test::Compare(Op::Ne, Literal::Null) },
            _ => Filter::Property { property: "city".into(), test: Test::Compare(Op::Ne, Literal::Null) },
        },
        4 => Filter::Property { property: "displayName".into(), test: random_test(dice, NAMES) },
        5 => Filter::Property { property: "city".into(), test: random_test(dice, CITIES) },
        6 => Filter::Any { property: "otherMails".into(), test: random_test(dice, MAILS) },
        7 => Filter::All { property: "otherMails".into(), test: random_test(dice, MAILS) },
        8 => Filter::Word {
            property: "displayName".into(),
            prefix: gatehouse_core::kernel::text::fold(dice.pick(NAMES)).chars().take(2).collect(),
        },
        _ => Filter::Property {
            property: "accountEnabled".into(),
            test: Test::Compare(Op::Eq, Literal::Text(["true", "false"][dice.below(2)].into())),
        },
    }
}

#[tokio::test]
async fn sql_filters_agree_with_the_in_process_evaluator() {
    on_every_engine(|store| async move {
        let t = new_tenant(&store, "contoso.test").await;
        let mut dice = Dice(0x5EED_1234_ABCD_0001);
        let users: Vec<ObjectRecord> = (0..80).map(|i| random_user(&mut dice, i)).collect();
        store.commit(t.id, users.iter().cloned().map(Write::InsertObject).collect(), now()).await.unwrap();
        for round in 0..300 {
            let filter = random_filter(&mut dice, 0);
            let mut expected: Vec<Uuid> = users.iter().filter(|u| query::matches(&filter, u)).map(|u| u.id).collect();
            expected.sort_by_key(|id| id.to_string());
            let q = ObjectQuery { filter: Some(filter.clone()), limit: 1000, ..users_query(false) };
            let got: Vec<Uuid> = store.objects(t.id, &q).await.unwrap().iter().map(|o| o.id).collect();
            assert_eq!(got, expected, "round {round}: {filter:?}");
            assert_eq!(store.count(t.id, &q).await.unwrap(), expected.len() as u64, "round {round}: {filter:?}");
            let mut paged = Vec::new();
            let mut after = None;
            loop {
                let q =
                    ObjectQuery { filter: Some(filter.clone()), limit: 7, after: after.clone(), ..users_query(false) };
                let page = store.objects(t.id, &q).await.unwrap();
                paged.extend(page.iter().map(|o| o.id));
                match page.last() {
                    Some(last) if page.len() == 7 => after = Some(Cursor::after(last.id)),
                    _ => break,
                }
            }
            assert_eq!(paged, expected, "round {round}, in pages of 7: {filter:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn pages_in_any_order_walk_every_object_once_under_concurrent_writes() {
    on_every_engine(|store| async move {
        let t = new_tenant(&store, "contoso.test").await;
        let mut dice = Dice(0xFEED_0000_0000_0042);
        let users: Vec<ObjectRecord> = (0..50).map(|i| random_user(&mut dice, i)).collect();
        store.commit(t.id, users.iter().cloned().map(Write::InsertObject).collect(), now()).await.unwrap();
        let mut added = 0;
        let sort = |by, descending| Sort { by, descending };
        let orders = [
            vec![],
            vec![sort(OrderBy::DisplayName, false)],
            vec![sort(OrderBy::DisplayName, true)],
            vec![sort(OrderBy::DisplayName, false), sort(OrderBy::Created, true)],
            vec![sort(OrderBy::Created, false), sort(OrderBy::DisplayName, true), sort(OrderBy::UniqueKey, false)],
        ];
        for order in orders {
            let mut after: Option<Cursor> = None;
            let mut seen: Vec<ObjectRecord> = Vec::new();
            loop {
                let q = ObjectQuery { order: order.clone(), after: after.clone(), limit: 7, ..users_query(false) };
                let page = store.objects(t.id, &q).await.unwrap();
                let Some(last) = page.last() else { break };
                after = Some(Cursor::at(&order, last));
                seen.extend(page);
                // Objects created behind the cursor must not disturb the walk.
                added += 1;
                store
                    .commit(t.id, vec![Write::InsertObject(random_user(&mut dice, 1000 + added))], now())
                    .await
                    .unwrap();
            }
            let compare = |a: &ObjectRecord, b: &ObjectRecord| {
                let mut ordering = std::cmp::Ordering::Equal;
                for s in &order {
                    let keys = match s.by {
                        OrderBy::Created => a.created_at.cmp(&b.created_at),
                        by => by.key(a).cmp(&by.key(b)),
                    };
                    ordering = ordering.then(if s.descending { keys.reverse() } else { keys });
                }
                let ids = a.id.cmp(&b.id);
                ordering.then(if order.last().is_some_and(|s| s.descending) { ids.reverse() } else { ids })
            };
            let mut ordered = seen.clone();
            ordered.sort_by(compare);
            let ids = |records: &[ObjectRecord]| records.iter().map(|r| r.id).collect::<Vec<_>>();
            assert_eq!(ids(&seen), ids(&ordered), "{order:?}: in order");
            let mut distinct = ids(&seen);
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), seen.len(), "{order:?}: no object twice");
            for original in &users {
                assert!(distinct.contains(&original.id), "{order:?}: every object that existed throughout is seen");
            }
        }
    })
    .await;
}

fn group(name: &str) -> ObjectRecord {
    let mut record = user(&format!("{name}@groups.test"));
    record.kind = ObjectKind::Group;
    record.unique_key = None;
    record.doc = Map::from_iter([("displayName".to_owned(), json!(name))]);
    record
}

fn member(group: &ObjectRecord, member: &ObjectRecord) -> Link {
    Link { group: group.id, relation: Relation::Member, member: member.id, member_kind: member.kind }
}

async fn scoped(store: &SqlStore, tenant: Uuid, scope: Scope) -> Vec<Uuid> {
    let q = ObjectQuery { scope: Some(scope), limit: 1000, ..ObjectQuery::default() };
    let mut ids: Vec<Uuid> = store.objects(tenant, &q).await.unwrap().iter().map(|o| o.id).collect();
    ids.sort();
    let mut listed: Vec<Uuid> = store.object_ids(tenant, &q).await.unwrap().iter().map(|(id, _)| *id).collect();
    listed.sort();
    assert_eq!(listed, ids, "ids alone list the same objects");
    ids
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

#[tokio::test]
async fn links_nest_without_cycles_and_follow_their_ends_through_delete_and_restore() {
    on_every_engine(|store| async move {
        let t = new_tenant(&store, "contoso.test").await;
        let other = new_tenant(&store, "fabrikam.test").await;
        let (u1, u2) = (user("u1@contoso.test"), user("u2@contoso.test"));
        let (g1, g2, g3) = (group("g1"), group("g2"), group("g3"));
        let objects = [&u1, &u2, &g1, &g2, &g3].map(|o| Write::InsertObject(o.clone())).to_vec();
        store.commit(t.id, objects, now()).await.unwrap();
        let links = [member(&g1, &u1), member(&g1, &g2), member(&g2, &g3), member(&g3, &u2)];
        store.commit(t.id, links.iter().copied().map(Write::AddLink).collect(), now()).await.unwrap();

        for (parent, child) in [(&g3, &g1), (&g2, &g2), (&g3, &g2)] {
            let cycle = store.commit(t.id, vec![Write::AddLink(member(parent, child))], now()).await;
            assert_eq!(
                cycle,
                Err(StoreError::Conflict("cycle".into())),
                "{} in {}",
                child.doc["displayName"],
                parent.doc["displayName"]
            );
        }
        let duplicate = store.commit(t.id, vec![Write::AddLink(member(&g1, &u1))], now()).await;
        assert!(matches!(duplicate, Err(StoreError::Conflict(_))), "{duplicate:?}");
        let absent = store.commit(t.id, vec![Write::RemoveLink(member(&g2, &u1))], now()).await;
        assert_eq!(absent, Err(StoreError::Missing));

        assert_eq!(
            scoped(&store, t.id, Scope::TransitiveMembers { group: g1.id }).await,
            sorted(vec![u1.id, g2.id, g3.id, u2.id])
        );
        assert_eq!(
            scoped(&store, t.id, Scope::TransitiveMemberOf { member: u2.id }).await,
            sorted(vec![g1.id, g2.id, g3.id])
        );
        assert_eq!(
            scoped(&store, t.id, Scope::Members { group: g1.id, relation: Relation::Member }).await,
            sorted(vec![u1.id, g2.id])
        );
        assert_eq!(
            scoped(&store, t.id, Scope::MemberOf { member: g3.id, relation: Relation::Member }).await,
            vec![g2.id]
        );
        assert!(scoped(&store, t.id, Scope::Members { group: g1.id, relation: Relation::Owner }).await.is_empty());
        assert!(
            scoped(&store, other.id, Scope::TransitiveMembers { group: g1.id }).await.is_empty(),
            "tenant isolation"
        );

        let mut groups: Vec<(Uuid, Uuid)> = store
            .memberships(t.id, &[u1.id, g3.id, u2.id])
            .await
            .unwrap()
            .iter()
            .map(|l| (l.member, l.group))
            .collect();
        groups.sort();
        let mut expected = vec![(u1.id, g1.id), (g3.id, g2.id), (u2.id, g3.id)];
        expected.sort();
        assert_eq!(groups, expected, "the direct groups of several objects at once");
        assert!(store.memberships(other.id, &[u1.id]).await.unwrap().is_empty(), "tenant isolation");

        let suspended = store.links(t.id, g2.id, true).await.unwrap();
        assert_eq!(suspended.len(), 2);
        let last = store
            .commit(
                t.id,
                vec![Write::SoftDelete {
                    kind: ObjectKind::Group,
                    id: g2.id,
                    at: now(),
                    links: suspended.clone(),
                    version: None,
                }],
                now(),
            )
            .await
            .unwrap();
        let logged = store.changes(t.id, last - 3, 10).await.unwrap();
        let kinds: Vec<(String, String)> = logged
            .iter()
            .map(|c| {
                let [subject, _, kind, _] = c.change.encode();
                (subject, kind)
            })
            .collect();
        let deleted = |subject: &str| (subject.to_owned(), "deleted".to_owned());
        assert_eq!(kinds, [deleted("group"), deleted("members"), deleted("members")]);
        assert_eq!(scoped(&store, t.id, Scope::TransitiveMembers { group: g1.id }).await, vec![u1.id]);
        assert_eq!(scoped(&store, t.id, Scope::TransitiveMemberOf { member: u2.id }).await, vec![g3.id]);
        assert!(store.links(t.id, g2.id, true).await.unwrap().is_empty());
        assert_eq!(
            sorted(store.links(t.id, g2.id, false).await.unwrap().iter().map(|l| l.member).collect()),
            sorted(vec![g2.id, g3.id])
        );

        store
            .commit(
                t.id,
                vec![Write::SoftDelete {
                    kind: ObjectKind::User,
                    id: u2.id,
                    at: now(),
                    links: store.links(t.id, u2.id, true).await.unwrap(),
                    version: None,
                }],
                now(),
            )
            .await
            .unwrap();
        let resumable = store.links(t.id, g2.id, false).await.unwrap();
        store
            .commit(t.id, vec![Write::Restore { kind: ObjectKind::Group, id: g2.id, links: resumable }], now())
            .await
            .unwrap();
        assert_eq!(
            scoped(&store, t.id, Scope::TransitiveMembers { group: g1.id }).await,
            sorted(vec![u1.id, g2.id, g3.id]),
            "u2 is still deleted"
        );
        store
            .commit(
                t.id,
                vec![Write::Restore {
                    kind: ObjectKind::User,
                    id: u2.id,
                    links: store.links(t.id, u2.id, false).await.unwrap(),
                }],
                now(),
            )
            .await
            .unwrap();
        assert_eq!(
            scoped(&store, t.id, Scope::TransitiveMemberOf { member: u2.id }).await,
            sorted(vec![g1.id, g2.id, g3.id])
        );

        store.commit(t.id, vec![Write::RemoveLink(member(&g1, &u1))], now()).await.unwrap();
        store.commit(t.id, vec![Write::Purge { kind: ObjectKind::Group, id: g3.id }], now()).await.unwrap();
        assert_eq!(scoped(&store, t.id, Scope::TransitiveMembers { group: g1.id }).await, vec![g2.id]);
        assert!(store.links(t.id, u2.id, true).await.unwrap().is_empty(), "a purge takes its links with it");
    })
    .await;
}

#[tokio::test]
async fn concurrent_nesting_never_closes_a_cycle() {
    on_every_engine(|store| async move {
        let t = new_tenant(&store, "contoso.test").await;
        for round in 0..20 {
            let (a, b) = (group(&format!("a{round}")), group(&format!("b{round}")));
            store
                .commit(t.id, vec![Write::InsertObject(a.clone()), Write::InsertObject(b.clone())], now())
                .await
                .unwrap();
            let (first, second) = (store.clone(), store.clone());
            let (ab, ba) = (member(&a, &b), member(&b, &a));
            let one = tokio::spawn(async move { first.commit(t.id, vec![Write::AddLink(ab)], now()).await });
            let two = tokio::spawn(async move { second.commit(t.id, vec![Write::AddLink(ba)], now()).await });
            let results = [one.await.unwrap(), two.await.unwrap()];
            assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "round {round}: {results:?}");
            assert!(results.contains(&Err(StoreError::Conflict("cycle".into()))), "round {round}: {results:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn an_update_given_its_old_values_writes_only_the_difference() {
    on_every_engine(|store| async move {
        let t = new_tenant(&store, "contoso.test").await;
        let mut ada = user("ada@contoso.test");
        ada.doc.insert("city".into(), json!("Oslo"));
        ada.doc.insert("assignedLicenses".into(), json!([{"skuId": "6fd2c87f-b296-42f0-b197-1e91e994b900"}]));
        store.commit(t.id, vec![Write::InsertObject(ada.clone())], now()).await.unwrap();
        let sku = |value: &str| Filter::Any {
            property: "assignedLicenses".into(),
            test: Test::Compare(Op::Eq, Literal::Text(value.into())),
        };
        let city = |value: &str| Filter::Property {
            property: "city".into(),
            test: Test::Compare(Op::Eq, Literal::Text(value.into())),
        };
        let mut changed = ada.clone();
        changed.doc.insert("city".into(), json!("Bergen"));
        changed.doc.insert("assignedLicenses".into(), json!([{"skuId": "078d2b04-f1bd-4111-bbd4-b4b1b354cef4"}]));
        let write = Write::UpdateObject {
            previous: Default::default(),
            object: changed,
            expected_version: 1,
            attributes: vec!["city".into(), "assignedLicenses".into()],
            before: Some(query::index_values(&ada)),
        };
        store.commit(t.id, vec![write], now()).await.unwrap();
        for (filter, expected) in [
            (city("oslo"), 0),
            (city("bergen"), 1),
            (sku("6fd2c87f-b296-42f0-b197-1e91e994b900"), 0),
            (sku("078d2b04-f1bd-4111-bbd4-b4b1b354cef4"), 1),
        ] {
            let q = ObjectQuery { filter: Some(filter.clone()), ..users_query(false) };
            assert_eq!(store.count(t.id, &q).await.unwrap(), expected, "{filter:?}");
        }
        assert_eq!(
            store.value_count(t.id, "assignedLicenses", "6fd2c87f-b296-42f0-b197-1e91e994b900").await.unwrap(),
            0
        );
        assert_eq!(
            store.value_count(t.id, "assignedLicenses", "078d2b04-f1bd-4111-bbd4-b4b1b354cef4").await.unwrap(),
            1
        );
    })
    .await;
}

/// Many updates given their old values, in one batch, are written together: every document, value and count
/// moves, and one stale version fails the whole batch before anything is written.
/// `people` each given a license and a city, as updates given their old values at `version`.
fn licensed(people: &[ObjectRecord], version: i64) -> Vec<Write> {
    people
        .iter()
        .map(|p| {
            let mut changed = p.clone();
            changed.doc.insert("assignedLicenses".into(), json!([{"skuId": E3}]));
            changed.doc.insert("city".into(), json!("O'Hare \\ ☃"));
            Write::UpdateObject {
                previous: Default::default(),
                object: changed,
                expected_version: version,
                attributes: vec!["assignedLicenses".into()],
                before: Some(query::index_values(p)),
            }
        })
        .collect()
}

const E3: &str = "6fd2c87f-b296-42f0-b197-1e91e994b900";

/// `n` users of the tenant's domain, inserted.
async fn people(store: &SqlStore, t: &TenantRecord, prefix: &str, n: usize) -> Vec<ObjectRecord> {
    let people: Vec<ObjectRecord> = (0..n).map(|i| user(&format!("{prefix}{i}@{}", t.initial_domain))).collect();
    let inserts = people.iter().cloned().map(Write::InsertObject).collect();
    store.commit(t.id, inserts, now()).await.unwrap();
    people
}

/// Five updates (one request's batch) and 150 (a bulk batch, whose rows PostgreSQL writes before it takes
/// the tenant's sequence) alike.
#[tokio::test]
async fn updates_given_their_old_values_are_written_together_and_all_or_nothing() {
    on_every_engine(|store| async move {
        let t = new_tenant(&store, "together.test").await;
        for (n, prefix) in [(5, "p"), (150, "q")] {
            let people = people(&store, &t, prefix, n).await;
            let counted = store.value_count(t.id, "assignedLicenses", E3).await.unwrap();
            let mut stale = licensed(&people, 1);
            if let Some(Write::UpdateObject { expected_version, .. }) = stale.get_mut(3) {
                *expected_version = 7;
            }
            let failed = store.commit(t.id, stale, now()).await;
            assert!(matches!(failed, Err(StoreError::VersionMismatch)), "{n}: {failed:?}");
            let unchanged = store.value_count(t.id, "assignedLicenses", E3).await.unwrap();
            assert_eq!(unchanged, counted, "{n}: nothing of the batch stays");
            let before = store.changes(t.id, 0, u32::MAX).await.unwrap().len();
            store.commit(t.id, licensed(&people, 1), now()).await.unwrap();
            let changes = store.changes(t.id, 0, u32::MAX).await.unwrap();
            let logged: Vec<String> = changes[before..].iter().map(|c| c.change.encode()[1].clone()).collect();
            let ids: Vec<String> = people.iter().map(|p| p.id.to_string()).collect();
            assert_eq!(logged, ids, "{n}: one change each, in order");
            let counted_now = store.value_count(t.id, "assignedLicenses", E3).await.unwrap();
            assert_eq!(counted_now, counted + n as u64);
            for p in &people {
                let stored = store.object(t.id, ObjectKind::User, p.id).await.unwrap().unwrap();
                assert_eq!((stored.version, &stored.doc["city"]), (2, &json!("O'Hare \\ ☃")));
            }
        }
        let q = ObjectQuery {
            filter: Some(Filter::Any {
                property: "assignedLicenses".into(),
                test: Test::Compare(Op::Eq, Literal::Text(E3.into())),
            }),
            ..users_query(false)
        };
        assert_eq!(store.count(t.id, &q).await.unwrap(), 155);
    })
    .await;
}

/// Bulk updates running at once (PostgreSQL writes their rows side by side) and requests' writes among
/// them: every batch's changes are numbered without gaps, together and in commit order, and the counts
/// add up.
#[tokio::test]
async fn bulk_updates_side_by_side_keep_the_change_log_gapless() {
    on_every_engine(|store| async move {
        let t = new_tenant(&store, "side.test").await;
        let mut tasks = Vec::new();
        for b in 0..4 {
            let people = people(&store, &t, &format!("b{b}-"), 120).await;
            let bulk = store.clone();
            tasks.push(tokio::spawn(async move { bulk.commit(t.id, licensed(&people, 1), now()).await }));
            let single = store.clone();
            let upn = format!("single{b}@side.test");
            tasks.push(tokio::spawn(
                async move { single.commit(t.id, vec![Write::InsertObject(user(&upn))], now()).await },
            ));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let changes = store.changes(t.id, 0, u32::MAX).await.unwrap();
        let seqs: Vec<i64> = changes.iter().map(|c| c.seq).collect();
        assert_eq!(seqs, (1..=changes.len() as i64).collect::<Vec<_>>(), "gapless");
        let updated: Vec<i64> = changes
            .iter()
            .filter(|c| matches!(c.change, Change::Object { kind: ChangeKind::Updated, .. }))
            .map(|c| c.seq)
            .collect();
        assert_eq!(updated.len(), 480);
        for bulk in updated.chunks(120) {
            assert_eq!(bulk[119] - bulk[0], 119, "a batch's changes are numbered together");
        }
        assert_eq!(store.value_count(t.id, "assignedLicenses", E3).await.unwrap(), 480);
    })
    .await;
}

/// PostgreSQL: a node keeps no more connections to the database than its options allow, however many
/// requests read at once; below the limit, as many as the reads need.
#[tokio::test]
async fn a_node_keeps_at_most_its_configured_connections() {
    let Some(cluster) = gatehouse_testkit::postgres::cluster() else { return };
    for max_connections in [2, 6] {
        let url = cluster.create_database().await;
        let store = Arc::new(SqlStore::connect_with(&url, StoreOptions { max_connections }).await.unwrap());
        new_tenant(&store, "pool.test").await;
        let readers: Vec<_> = (0..64)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    for _ in 0..10 {
                        store.tenants().await.unwrap();
                    }
                })
            })
            .collect();
        for reader in readers {
            reader.await.unwrap();
        }
        let raw = sqlx::PgPool::connect(&url).await.unwrap();
        let others =
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";
        let open: i64 = sqlx::query_scalar(others).fetch_one(&raw).await.unwrap();
        assert!(open <= i64::from(max_connections), "{open} connections open, at most {max_connections}");
        assert!(open > 1, "the reads at once opened more than one: {open}");
    }
}

/// PostgreSQL: a bulk update writes its rows before it takes the tenant's sequence, the other way round
/// from every other writer. A writer that holds the sequence and then wants one of those rows does not
/// deadlock: the bulk batch gives way (rolls back and runs again in the usual order) and finds the row
/// changed.
#[tokio::test]
async fn a_bulk_update_gives_way_to_a_writer_holding_the_sequence() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, url) in gatehouse_testkit::postgres::engines(dir.path()).await {
        if engine != "postgres" {
            continue;
        }
        let store = Arc::new(SqlStore::connect(&url).await.unwrap());
        let t = new_tenant(&store, "way.test").await;
        let people = people(&store, &t, "w", 150).await;
        let raw = sqlx::PgPool::connect(&url).await.unwrap();
        let mut writer = raw.begin().await.unwrap();
        sqlx::query("UPDATE tenants SET change_seq = change_seq WHERE id = $1")
            .bind(t.id.to_string())
            .execute(&mut *writer)
            .await
            .unwrap();
        let bulk = tokio::spawn({
            let (store, people) = (store.clone(), people.clone());
            async move { store.commit(t.id, licensed(&people, 1), now()).await }
        });
        // The bulk batch has written its rows and waits for the sequence.
        let waiting =
            "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE tenants%'";
        for _ in 0..500 {
            if sqlx::query_scalar::<_, i64>(waiting).fetch_one(&raw).await.unwrap() > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        let changed = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            sqlx::query("UPDATE objects SET version = version + 1 WHERE tenant_id = $1 AND id = $2")
                .bind(t.id.to_string())
                .bind(people[0].id.to_string())
                .execute(&mut *writer),
        )
        .await
        .expect("the writer is not kept waiting");
        assert_eq!(changed.unwrap().rows_affected(), 1, "no deadlock");
        writer.commit().await.unwrap();
        let refused = bulk.await.unwrap();
        assert!(matches!(refused, Err(StoreError::VersionMismatch)), "{refused:?}");
        assert_eq!(store.value_count(t.id, "assignedLicenses", E3).await.unwrap(), 0, "nothing of the batch stays");
        let second = store.object(t.id, ObjectKind::User, people[1].id).await.unwrap().unwrap();
        assert_eq!(second.version, 1);
    }
}

/// A bulk batch (PostgreSQL writes its parameters into scripts) keeps every character of every value and
/// checks every statement that must affect a row.
#[tokio::test]
async fn bulk_batches_keep_every_character_and_are_all_or_nothing() {
    on_every_engine(|store| async move {
        let t = new_tenant(&store, "bulk.test").await;
        let tricky = "O'Brien '' \\ \\' $1 $$x$$ ; DROP TABLE objects; -- \"quoted\" \u{e5}\u{1F600}";
        let users: Vec<ObjectRecord> = (0..40)
            .map(|i| {
                let mut u = user(&format!("bulk{i}@bulk.test"));
                u.doc.insert("displayName".into(), json!(format!("{tricky} {i}")));
                u.doc.insert("city".into(), json!(tricky));
                u
            })
            .collect();
        store.commit(t.id, users.iter().cloned().map(Write::InsertObject).collect(), now()).await.unwrap();
        for u in &users {
            let stored = store.object(t.id, ObjectKind::User, u.id).await.unwrap().unwrap();
            assert_eq!(stored.doc, u.doc);
        }
        let city = Filter::Property {
            property: "city".into(),
            test: Test::Compare(Op::Eq, Literal::Text(gatehouse_core::kernel::text::fold(tricky))),
        };
        let q = ObjectQuery { filter: Some(city), ..users_query(false) };
        assert_eq!(store.count(t.id, &q).await.unwrap(), 40, "the values are indexed as given");

        // One stale version among forty updates fails the batch, and none of them is applied.
        let updates: Vec<Write> = users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let mut changed = u.clone();
                changed.doc.insert("jobTitle".into(), json!("Changed"));
                let expected_version = if i == 39 { 7 } else { 1 };
                Write::UpdateObject {
                    previous: Default::default(),
                    object: changed,
                    expected_version,
                    attributes: vec!["jobTitle".into()],
                    before: None,
                }
            })
            .collect();
        assert_eq!(store.commit(t.id, updates, now()).await, Err(StoreError::VersionMismatch));
        let first = store.object(t.id, ObjectKind::User, users[0].id).await.unwrap().unwrap();
        assert_eq!((first.version, first.doc.get("jobTitle")), (1, None));
    })
    .await;
}

#[tokio::test]
async fn provisioning_jobs_move_by_compare_and_set_and_keep_what_they_made() {
    use gatehouse_core::store::{
        ProvisionedRecord, ProvisioningJobRecord, ProvisioningLogQuery, ProvisioningLogRecord,
    };
    on_every_engine(|store| async move {
        let (a, b) = (new_tenant(&store, "jobs-a.test").await, new_tenant(&store, "jobs-b.test").await);
        let job = ProvisioningJobRecord {
            id: Uuid::new_v4(),
            service_principal: Uuid::new_v4(),
            doc: json!({"status": {"code": "NotRun"}}).as_object().cloned().unwrap(),
            seq: None,
            version: 0,
            holder: None,
            lease_until: None,
            due_at: Some(now()),
            created_at: now(),
        };
        store.commit(a.id, vec![Write::PutProvisioningJob { job: job.clone(), expected: 0 }], now()).await.unwrap();
        assert_eq!(store.due_provisioning_jobs(now()).await.unwrap(), vec![(a.id, job.id)]);
        assert_eq!(store.provisioning_jobs(b.id, None).await.unwrap(), vec![], "tenant isolation");
        // A claim moves the version; a second claim from the version read before fails.
        let claimed = ProvisioningJobRecord {
            holder: Some("node-1".into()),
            lease_until: Some(now() + Duration::seconds(60)),
            ..job.clone()
        };
        let claim = |expected| Write::PutProvisioningJob { job: claimed.clone(), expected };
        store.commit(a.id, vec![claim(1)], now()).await.unwrap();
        assert!(matches!(store.commit(a.id, vec![claim(1)], now()).await, Err(StoreError::VersionMismatch)));
        assert!(store.due_provisioning_jobs(now()).await.unwrap().is_empty(), "a held job is not due");
        let read = store.provisioning_job(a.id, job.id).await.unwrap().unwrap();
        assert_eq!((read.version, read.holder.as_deref(), read.seq), (2, Some("node-1"), None));

        // What a job made of an object is replaced, read in batches, and forgotten with the job.
        let object = Uuid::new_v4();
        let made = |target: &str| ProvisionedRecord {
            job: job.id,
            object,
            target_id: target.into(),
            doc: json!({"sent": {"active": true}}).as_object().cloned().unwrap(),
        };
        store
            .commit(a.id, vec![Write::SetProvisioned(made("t-1")), Write::SetProvisioned(made("t-2"))], now())
            .await
            .unwrap();
        let found = store.provisioned(a.id, job.id, &[object, Uuid::new_v4()]).await.unwrap();
        assert_eq!(found, vec![made("t-2")]);
        assert!(store.provisioned(b.id, job.id, &[object]).await.unwrap().is_empty());

        // The log, newest first, filtered.
        let entry = |minutes: i64, status: &str| ProvisioningLogRecord {
            id: Uuid::new_v4(),
            job: job.id,
            object: Some(object),
            at: now() + Duration::minutes(minutes),
            action: "create".into(),
            status: status.into(),
            doc: Map::new(),
        };
        let entries = vec![entry(0, "failure"), entry(1, "success"), entry(2, "failure")];
        store.commit(a.id, vec![Write::LogProvisioning(entries.clone())], now()).await.unwrap();
        let query =
            ProvisioningLogQuery { status: Some("failure".into()), limit: 10, ..ProvisioningLogQuery::default() };
        let failures = store.provisioning_log(a.id, &query).await.unwrap();
        assert_eq!(failures, vec![entries[2].clone(), entries[0].clone()]);
        let of_job = ProvisioningLogQuery {
            job: Some(job.id),
            object: Some(object),
            limit: 1,
            ..ProvisioningLogQuery::default()
        };
        assert_eq!(store.provisioning_log(a.id, &of_job).await.unwrap(), vec![entries[2].clone()]);

        store.commit(a.id, vec![Write::DeleteProvisioningJob { id: job.id }], now()).await.unwrap();
        assert!(store.provisioning_job(a.id, job.id).await.unwrap().is_none());
        assert!(store.provisioned(a.id, job.id, &[object]).await.unwrap().is_empty());
        assert_eq!(store.provisioning_log(a.id, &of_job).await.unwrap().len(), 1, "the log stays");
    })
    .await;
}

#[tokio::test]
async fn a_soft_delete_at_a_version_happens_only_at_that_version() {
    on_every_engine(|store| async move {
        let t = new_tenant(&store, "versions-delete.test").await;
        let ada = user("ada@versions-delete.test");
        store.commit(t.id, vec![Write::InsertObject(ada.clone())], now()).await.unwrap();
        let delete =
            |version| Write::SoftDelete { kind: ObjectKind::User, id: ada.id, at: now(), links: vec![], version };
        assert!(matches!(store.commit(t.id, vec![delete(Some(7))], now()).await, Err(StoreError::Missing)));
        assert!(store.object(t.id, ObjectKind::User, ada.id).await.unwrap().unwrap().deleted_at.is_none());
        store.commit(t.id, vec![delete(Some(ada.version))], now()).await.unwrap();
        assert!(store.object(t.id, ObjectKind::User, ada.id).await.unwrap().unwrap().deleted_at.is_some());
    })
    .await;
}
