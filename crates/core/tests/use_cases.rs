//! Use cases driven through the core alone, without HTTP, on both stores (PostgreSQL when it is installed;
//! `GATEHOUSE_REQUIRE_POSTGRES=1` makes its absence a failure).

use gatehouse_core::credentials::passwords::HashParams;
use gatehouse_core::credentials::secrets::MasterKey;
use gatehouse_core::kernel::random::SystemRandom;
use gatehouse_core::{Clock, Directory, DirectoryConfig};
use gatehouse_store::SqlStore;
use gatehouse_testkit::fixtures::new_user;
use serde_json::{json, Value};
use std::sync::Arc;

/// Password hashing cheap enough for tests (set explicitly; production uses its own parameters).
const CHEAP_HASH: HashParams = HashParams { memory_kib: 256, iterations: 1, parallelism: 1 };

/// A directory on the database at `url`, for tests that call use cases without HTTP.
async fn directory(url: &str, clock: Arc<dyn Clock>) -> Directory {
    let store = Arc::new(SqlStore::connect(url).await.expect("the test database opens"));
    let config = DirectoryConfig { hash_params: CHEAP_HASH, ..DirectoryConfig::default() };
    Directory::new(store, clock, MasterKey::generate(&SystemRandom), config)
}

/// A dynamic group's status is `Running`, not `Succeeded`, while changes wait for the processor: here a node
/// without processors of its own writes, and its processor runs only when the test says.
#[tokio::test]
async fn the_processing_status_is_running_while_changes_wait() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, url) in gatehouse_testkit::postgres::engines(dir.path()).await {
        let clock = std::sync::Arc::new(gatehouse_core::kernel::clock::ManualClock::new(chrono::Utc::now()));
        let directory = directory(&url, clock).await;
        let spec =
            gatehouse_core::tenants::NewTenant { domain: Some("contoso.gatehouse.test".into()), ..Default::default() };
        let tenant = directory.tenants().create(spec).await.unwrap().tenant_id;
        let caller = gatehouse_core::Caller::System { tenant };
        let body = |value: Value| value.as_object().unwrap().clone();
        let group = directory
            .groups()
            .create(
                &caller,
                &body(json!({"displayName": "Sales", "mailNickname": "sales", "mailEnabled": false,
                    "securityEnabled": true, "groupTypes": ["DynamicMembership"],
                    "membershipRule": "user.department -eq \"Sales\"", "membershipRuleProcessingState": "On"})),
                &Default::default(),
            )
            .await
            .unwrap();
        let status =
            || async { directory.membership().processing_status(&caller, &group).await.unwrap()["status"].clone() };
        assert_eq!(status().await, "NotStarted", "{engine}");
        let process = || directory.process(tenant, "the-only-node", &gatehouse_core::membership::DynamicMembership);
        while process().await.unwrap() > 0 {}
        assert_eq!(status().await, "Succeeded", "{engine}");
        let mut ann = new_user("ann");
        ann["department"] = json!("Sales");
        directory.users().create(&caller, &body(ann)).await.unwrap();
        assert_eq!(status().await, "Running", "{engine}: a change waits for the processor");
        while process().await.unwrap() > 0 {}
        assert_eq!(status().await, "Succeeded", "{engine}");
    }
}

/// The core holds every adapter to the same bounds as Graph's: a page of 1 to 999 objects, and no more than
/// `MAX_DEPTH` nested `not`s or `MAX_IN` values in a list, whichever adapter built the listing.
#[tokio::test]
async fn the_core_bounds_every_listing() {
    use gatehouse_core::filter::{Filter, Literal, Op, Test, MAX_DEPTH, MAX_IN};
    use gatehouse_core::query::{Listing, MAX_PAGE};
    use gatehouse_core::ErrorKind;
    let dir = tempfile::tempdir().unwrap();
    for (engine, url) in gatehouse_testkit::postgres::engines(dir.path()).await {
        let directory = directory(&url, std::sync::Arc::new(gatehouse_core::SystemClock)).await;
        let spec =
            gatehouse_core::tenants::NewTenant { domain: Some("contoso.gatehouse.test".into()), ..Default::default() };
        let tenant = directory.tenants().create(spec).await.unwrap().tenant_id;
        let caller = gatehouse_core::Caller::System { tenant };
        let users = directory.users();
        let list =
            |top: u32, filter: Option<Filter>| users.list(&caller, Listing { top, filter, ..Listing::default() });
        for top in [0, MAX_PAGE + 1] {
            let refused = list(top, None).await.map(|_| ()).unwrap_err();
            assert_eq!(refused.kind, ErrorKind::Invalid, "{engine}: $top={top}: {refused}");
        }
        assert_eq!(list(MAX_PAGE, None).await.unwrap().items.len(), 1, "{engine}: the admin");
        let city = |n: usize| Filter::Property { property: "city".into(), test: Test::In(vec!["x".into(); n]) };
        assert!(list(10, Some(city(MAX_IN))).await.is_ok(), "{engine}");
        assert_eq!(list(10, Some(city(MAX_IN + 1))).await.map(|_| ()).unwrap_err().kind, ErrorKind::Invalid);
        let mut nested =
            Filter::Property { property: "city".into(), test: Test::Compare(Op::Eq, Literal::Text("x".into())) };
        for _ in 0..MAX_DEPTH {
            nested = Filter::Not(Box::new(nested));
        }
        assert!(list(10, Some(nested.clone())).await.is_ok(), "{engine}");
        let deeper = Filter::Not(Box::new(nested));
        assert_eq!(list(10, Some(deeper)).await.map(|_| ()).unwrap_err().kind, ErrorKind::Invalid, "{engine}");
    }
}

/// The directory draws ids and secrets from the source of randomness it is given: the same source gives the
/// same tenant id and bootstrap client, and object ids still follow the order objects are made in.
#[tokio::test]
async fn randomness_comes_from_the_source_the_directory_is_given() {
    use gatehouse_core::kernel::random::Random;
    use std::sync::{Arc, Mutex};

    /// A repeatable source: a counter run through a mixing function.
    struct Counting(Mutex<u64>);
    impl Random for Counting {
        fn fill(&self, bytes: &mut [u8]) {
            let mut state = self.0.lock().unwrap();
            for byte in bytes {
                *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                *byte = (*state >> 33) as u8;
            }
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let mut made = Vec::new();
    for (engine, url) in gatehouse_testkit::postgres::engines(dir.path()).await {
        let directory = directory(&url, Arc::new(gatehouse_core::SystemClock))
            .await
            .with_random(Arc::new(Counting(Mutex::new(42))));
        let spec = gatehouse_core::tenants::NewTenant {
            domain: Some(format!("{engine}.gatehouse.test")),
            ..Default::default()
        };
        let created = directory.tenants().create(spec).await.unwrap();
        let expected: &dyn Random = &Counting(Mutex::new(42));
        assert_eq!(created.tenant_id, expected.uuid(), "{engine}: the tenant id is the source's first draw");
        let caller = gatehouse_core::Caller::System { tenant: created.tenant_id };
        let mut ids = Vec::new();
        for n in 0..5 {
            let body = json!({"displayName": format!("Contact {n}")});
            ids.push(directory.contacts().create(&caller, body.as_object().unwrap()).await.unwrap().id);
        }
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{engine}: ids in the order made");
        made.push((created.client_id, created.client_secret));
    }
    assert!(made.windows(2).all(|pair| pair[0] == pair[1]), "the same source, the same bootstrap client");
}

/// A commit wakes the node's change processors only when it logged a change: one that logs none (the
/// processors' own leases and cursors, a sign-in record, a refresh token's rotation) gives them nothing to do.
#[tokio::test]
async fn only_a_commit_that_logs_a_change_wakes_the_processors() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    for (engine, url) in gatehouse_testkit::postgres::engines(dir.path()).await {
        let directory = directory(&url, Arc::new(gatehouse_core::SystemClock)).await;
        let spec =
            gatehouse_core::tenants::NewTenant { domain: Some("contoso.gatehouse.test".into()), ..Default::default() };
        let tenant = directory.tenants().create(spec).await.unwrap().tenant_id;
        let caller = gatehouse_core::Caller::System { tenant };
        let woken = || async { tokio::time::timeout(Duration::from_millis(200), directory.committed()).await.is_ok() };
        directory.users().create(&caller, new_user("ann").as_object().unwrap()).await.unwrap();
        assert!(woken().await, "{engine}: a new user is a change");
        // The processor takes its lease and moves its cursor past the new user's record: two commits.
        directory.process(tenant, "the-only-node", &gatehouse_core::membership::DynamicMembership).await.unwrap();
        assert!(!woken().await, "{engine}: a lease and a cursor log no change");
        directory.users().create(&caller, new_user("bob").as_object().unwrap()).await.unwrap();
        assert!(woken().await, "{engine}: so does a second user");
    }
}
