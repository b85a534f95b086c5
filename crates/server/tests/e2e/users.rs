//! The user lifecycle over the Graph API, on every engine.

use crate::support::{cheap_hashing, new_user, servers, Server};
use gatehouse_core::{Caller, Directory};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn user_lifecycle_on_every_engine() {
    for server in servers().await {
        let engine = server.engine;
        let token = server.admin_token().await;

        let (status, created) = server.call(&token, Method::POST, "/v1.0/users", Some(new_user("ada"))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {created}");
        assert!(created["@odata.context"].as_str().unwrap().ends_with("/v1.0/$metadata#users/$entity"));
        assert!(created.get("passwordProfile").is_none(), "{engine}: the password never comes back");
        let id = created["id"].as_str().unwrap().to_owned();

        let (status, by_upn) = server.call(&token, Method::GET, "/v1.0/users/ADA%40contoso.gatehouse.test", None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {by_upn}");
        assert_eq!(by_upn["id"], id.as_str());
        assert!(by_upn.get("accountEnabled").is_none(), "{engine}: not in the default property set");

        let patch = json!({
            "@odata.type": "#microsoft.graph.user",
            "jobTitle": "Engineer",
            "usageLocation": "gb",
            "employeeId": "E-1",
            "onPremisesExtensionAttributes": {"extensionAttribute3": "blue"},
            "accountEnabled": false,
        });
        let (status, body) = server.call(&token, Method::PATCH, &format!("/v1.0/users/{id}"), Some(patch)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        let select =
            "$select=id,jobTitle,usageLocation,employeeId,accountEnabled,onPremisesExtensionAttributes,userType";
        let (_, read) = server.call(&token, Method::GET, &format!("/v1.0/users/{id}?{select}"), None).await;
        assert_eq!(read["jobTitle"], "Engineer");
        assert_eq!(read["usageLocation"], "GB");
        assert_eq!(read["employeeId"], "E-1");
        assert_eq!(read["accountEnabled"], false);
        assert_eq!(read["userType"], "Member");
        assert_eq!(read["onPremisesExtensionAttributes"]["extensionAttribute3"], "blue");
        assert_eq!(read["onPremisesExtensionAttributes"]["extensionAttribute4"], serde_json::Value::Null);
        assert!(read.get("displayName").is_none(), "{engine}: $select limits the properties");
        assert!(read["@odata.context"].as_str().unwrap().contains("users(id,jobTitle"));

        for alias in ["bob", "cyd", "dan", "eve"] {
            let (status, body) = server.call(&token, Method::POST, "/v1.0/users", Some(new_user(alias))).await;
            assert_eq!(status, StatusCode::CREATED, "{engine}: {body}");
        }
        let mut seen = Vec::new();
        let mut next = Some(server.url("/v1.0/users?$top=2&$select=id,userPrincipalName"));
        let mut pages = 0;
        while let Some(url) = next {
            let path = url.strip_prefix(&server.base).unwrap().to_owned();
            let (status, page) = server.call(&token, Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{engine}: {page}");
            for user in page["value"].as_array().unwrap() {
                seen.push(user["userPrincipalName"].as_str().unwrap().to_owned());
                assert!(user.get("displayName").is_none());
            }
            next = page["@odata.nextLink"].as_str().map(str::to_owned);
            pages += 1;
        }
        assert_eq!(pages, 3, "{engine}: 6 users in pages of 2");
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 6, "{engine}: every user exactly once: {seen:?}");

        let boss = format!("{}/v1.0/users/{id}", server.base);
        let reference = json!({"@odata.id": boss});
        let (status, body) = server
            .call(&token, Method::PUT, "/v1.0/users/bob@contoso.gatehouse.test/manager/$ref", Some(reference))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        let graph_reference = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")});
        let (status, _) = server
            .call(&token, Method::PUT, "/v1.0/users/cyd@contoso.gatehouse.test/manager/$ref", Some(graph_reference))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, manager) =
            server.call(&token, Method::GET, "/v1.0/users/bob@contoso.gatehouse.test/manager", None).await;
        assert_eq!(manager["id"], id.as_str());
        assert_eq!(manager["@odata.type"], "#microsoft.graph.user");
        let (_, reports) = server.call(&token, Method::GET, &format!("/v1.0/users/{id}/directReports"), None).await;
        let mut names: Vec<&str> =
            reports["value"].as_array().unwrap().iter().map(|r| r["userPrincipalName"].as_str().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["bob@contoso.gatehouse.test", "cyd@contoso.gatehouse.test"]);
        let (_, refs) = server.call(&token, Method::GET, &format!("/v1.0/users/{id}/directReports/$ref"), None).await;
        let mut referenced: Vec<String> =
            refs["value"].as_array().unwrap().iter().map(|r| r["@odata.id"].as_str().unwrap().to_owned()).collect();
        referenced.sort();
        let mut expected: Vec<String> = reports["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{}/v1.0/directoryObjects/{}", server.base, r["id"].as_str().unwrap()))
            .collect();
        expected.sort();
        assert_eq!(referenced, expected, "{refs}");
        let (status, _) =
            server.call(&token, Method::DELETE, "/v1.0/users/cyd@contoso.gatehouse.test/manager/$ref", None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) =
            server.call(&token, Method::GET, "/v1.0/users/cyd@contoso.gatehouse.test/manager", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"]["code"], "Request_ResourceNotFound");

        let (status, _) = server.call(&token, Method::DELETE, &format!("/v1.0/users/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = server.call(&token, Method::GET, &format!("/v1.0/users/{id}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, deleted) =
            server.call(&token, Method::GET, "/v1.0/directory/deletedItems/microsoft.graph.user", None).await;
        let listed: Vec<&str> =
            deleted["value"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
        assert_eq!(listed, [id.as_str()], "{engine}: {deleted}");
        assert!(deleted["value"][0]["deletedDateTime"].is_string());
        let (status, one) = server.call(&token, Method::GET, &format!("/v1.0/directory/deletedItems/{id}"), None).await;
        assert_eq!(status, StatusCode::OK, "{one}");
        assert_eq!(one["@odata.type"], "#microsoft.graph.user");

        let (status, restored) =
            server.call(&token, Method::POST, &format!("/v1.0/directory/deletedItems/{id}/restore"), None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {restored}");
        let (status, _) = server.call(&token, Method::GET, &format!("/v1.0/users/{id}"), None).await;
        assert_eq!(status, StatusCode::OK);

        // Deleted, then purged for good.
        server.call(&token, Method::DELETE, &format!("/v1.0/users/{id}"), None).await;
        let (status, _) =
            server.call(&token, Method::DELETE, &format!("/v1.0/directory/deletedItems/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = server.call(&token, Method::GET, &format!("/v1.0/directory/deletedItems/{id}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Deleted items are purged once the 30 days are over, not before.
        server.call(&token, Method::DELETE, "/v1.0/users/eve@contoso.gatehouse.test", None).await;
        server.clock.advance(chrono::Duration::days(29));
        assert_eq!(server.directory.deleted().purge_expired().await.unwrap(), 0);
        server.clock.advance(chrono::Duration::days(2));
        assert_eq!(server.directory.deleted().purge_expired().await.unwrap(), 1);
        let (_, deleted) = server
            .call(&server.admin_token().await, Method::GET, "/v1.0/directory/deletedItems/graph.user", None)
            .await;
        assert_eq!(deleted["value"].as_array().unwrap().len(), 0, "{engine}: {deleted}");
    }
}

#[tokio::test]
async fn a_restore_whose_upn_was_taken_is_refused() {
    let server = crate::support::sqlite_server().await;
    let token = server.admin_token().await;
    let (_, first) = server.call(&token, Method::POST, "/v1.0/users", Some(new_user("ada"))).await;
    let id = first["id"].as_str().unwrap();
    server.call(&token, Method::DELETE, &format!("/v1.0/users/{id}"), None).await;
    let (status, _) = server.call(&token, Method::POST, "/v1.0/users", Some(new_user("ada"))).await;
    assert_eq!(status, StatusCode::CREATED, "a deleted user's UPN is free again");
    let (status, body) =
        server.call(&token, Method::POST, &format!("/v1.0/directory/deletedItems/{id}/restore"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "Request_BadRequest");
    let (status, _) = server.call(&token, Method::GET, &format!("/v1.0/directory/deletedItems/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "the user stays in deleted items");
}

/// Twenty changes of one user, each of another property.
const CHANGES: [(&str, &str); 20] = [
    ("jobTitle", "Engineer"),
    ("department", "Research"),
    ("city", "Utrecht"),
    ("companyName", "Contoso"),
    ("country", "Netherlands"),
    ("employeeType", "Contractor"),
    ("faxNumber", "+31 30 000 0001"),
    ("mobilePhone", "+31 6 0000 0002"),
    ("officeLocation", "B-12"),
    ("postalCode", "3511 AA"),
    ("state", "Utrecht"),
    ("streetAddress", "Domplein 1"),
    ("givenName", "Ada"),
    ("surname", "Lovelace"),
    ("employeeId", "E-20"),
    ("displayName", "Ada Lovelace"),
    ("onPremisesImmutableId", "ada-immutable"),
    ("preferredDataLocation", "EUR"),
    ("usageLocation", "NL"),
    ("ageGroup", "Adult"),
];

/// A new user: its id and its path.
async fn contended_user(server: &Server, token: &str) -> (String, String) {
    let (status, user) = server.call(token, Method::POST, "/v1.0/users", Some(new_user("ada"))).await;
    assert_eq!(status, StatusCode::CREATED, "{}: {user}", server.engine);
    let id = user["id"].as_str().unwrap().to_owned();
    (id.clone(), format!("/v1.0/users/{id}"))
}

/// Sends one PATCH per change at once; each must answer 204.
async fn patch_at_once(server: &Server, token: &str, path: &str, changes: &[(&'static str, &'static str)]) {
    let mut tasks = tokio::task::JoinSet::new();
    for (name, value) in changes {
        let request = server.http.patch(server.url(path)).bearer_auth(token).json(&json!({ *name: value }));
        let name = *name;
        tasks.spawn(async move {
            let response = request.send().await.unwrap();
            (name, response.status(), response.text().await.unwrap())
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (name, status, body) = done.unwrap();
        assert_eq!(status, StatusCode::NO_CONTENT, "{}: {name}: {body}", server.engine);
    }
}

/// Asserts the user holds every change.
async fn has_every_change(server: &Server, token: &str, path: &str) {
    let names: Vec<&str> = CHANGES.iter().map(|(name, _)| *name).collect();
    let (_, read) = server.call(token, Method::GET, &format!("{path}?$select={}", names.join(",")), None).await;
    for (name, value) in CHANGES {
        assert_eq!(read[name], value, "{}: {name} in {read}", server.engine);
    }
}

/// Twenty PATCHes of one user at once: every one lands (none answers "being changed by another request"), and
/// the user ends with all of them.
#[tokio::test]
async fn concurrent_updates_of_one_user_all_land() {
    for server in servers().await {
        let token = server.admin_token().await;
        let (_, path) = contended_user(&server, &token).await;
        patch_at_once(&server, &token, &path, &CHANGES).await;
        has_every_change(&server, &token, &path).await;
    }
}

/// The same from two nodes sharing the database: half the changes through this node's API, half at once
/// through a second node's directory, whose writes overtake this node's.
#[tokio::test]
async fn concurrent_updates_from_two_nodes_all_land() {
    for server in servers().await {
        let token = server.admin_token().await;
        let (id, path) = contended_user(&server, &token).await;
        let config = cheap_hashing();
        let other = Arc::new(Directory::new(server.store.clone(), server.clock.clone(), server.master.clone(), config));
        let caller = Caller::System { tenant: server.tenant.tenant_id };
        let (here, there) = CHANGES.split_at(CHANGES.len() / 2);
        let mut tasks = tokio::task::JoinSet::new();
        for (name, value) in there {
            let (other, caller, id) = (other.clone(), caller.clone(), id.clone());
            let patch = json!({ *name: value }).as_object().unwrap().clone();
            tasks.spawn(async move { other.users().update(&caller, &id, &patch).await });
        }
        patch_at_once(&server, &token, &path, here).await;
        while let Some(done) = tasks.join_next().await {
            assert_eq!(done.unwrap(), Ok(()), "{}", server.engine);
        }
        has_every_change(&server, &token, &path).await;
    }
}

#[tokio::test]
async fn a_taken_upn_is_refused_before_any_password_is_hashed_and_hashes_are_bounded() {
    for server in servers().await {
        let engine = server.engine;
        let token = server.admin_token().await;
        let (status, body) = server.call(&token, Method::POST, "/v1.0/users", Some(new_user("ada"))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let hashed = server.directory.hasher().computed();
        let server = Arc::new(server);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..64 {
            let (server, token) = (server.clone(), token.clone());
            tasks.spawn(async move { server.call(&token, Method::POST, "/v1.0/users", Some(new_user("ada"))).await });
        }
        while let Some(done) = tasks.join_next().await {
            let (status, body) = done.unwrap();
            assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {body}");
        }
        assert_eq!(server.directory.hasher().computed(), hashed, "{engine}: no password was hashed for a taken UPN");

        for n in 0..12 {
            let (server, token) = (server.clone(), token.clone());
            tasks.spawn(async move {
                server.call(&token, Method::POST, "/v1.0/users", Some(new_user(&format!("many{n}")))).await
            });
        }
        while let Some(done) = tasks.join_next().await {
            assert_eq!(done.unwrap().0, StatusCode::CREATED, "{engine}");
        }
        let limit = server.directory.config().hash_concurrency;
        let peak = server.directory.hasher().peak();
        assert!((1..=limit).contains(&peak), "{engine}: at most {limit} hashes at once, saw {peak}");
    }
}

#[tokio::test]
async fn sensitive_actions_on_privileged_users_need_a_privileged_role() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let (writer, _) = server.app_with(&admin, &["User.ReadWrite.All"]).await;
        let root = "/v1.0/users/admin@contoso.gatehouse.test";
        let password =
            json!({"passwordProfile": {"password": "An0ther!Kestr3l", "forceChangePasswordNextSignIn": false}});
        for (what, patch) in [
            ("password", password.clone()),
            ("user principal name", json!({"userPrincipalName": "root@contoso.gatehouse.test"})),
            ("accountEnabled", json!({"accountEnabled": false})),
            ("phones", json!({"businessPhones": ["+1 555 0100"]})),
            ("other mails", json!({"otherMails": ["attacker@evil.test"]})),
        ] {
            let (status, body) = server.call(&writer, Method::PATCH, root, Some(patch)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: {what} of a Global Administrator: {body}");
            assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
        }
        let (status, _) = server.call(&writer, Method::PATCH, root, Some(json!({"jobTitle": "Boss"}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: other properties stay writable");
        let (status, _) = server.call(&writer, Method::DELETE, root, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: deleting a Global Administrator");

        // A user with no role is the permission's to change.
        let (_, ada) = server.call(&admin, Method::POST, "/v1.0/users", Some(new_user("ada"))).await;
        let ada = format!("/v1.0/users/{}", ada["id"].as_str().unwrap());
        let (status, body) = server.call(&writer, Method::PATCH, &ada, Some(password.clone())).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");

        // A member of a role-assignable group is privileged too.
        let group = json!({"displayName": "Admins", "mailNickname": "admins", "mailEnabled": false,
            "securityEnabled": true, "isAssignableToRole": true});
        let (status, group) = server.call(&admin, Method::POST, "/v1.0/groups", Some(group)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {group}");
        let (_, bob) = server.call(&admin, Method::POST, "/v1.0/users", Some(new_user("bob"))).await;
        let reference = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", bob["id"].as_str().unwrap())});
        let path = format!("/v1.0/groups/{}/members/$ref", group["id"].as_str().unwrap());
        let (status, body) = server.call(&admin, Method::POST, &path, Some(reference)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        let bob = format!("/v1.0/users/{}", bob["id"].as_str().unwrap());
        let (status, _) = server.call(&writer, Method::PATCH, &bob, Some(json!({"accountEnabled": false}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: a member of a role-assignable group");

        // The administration app holds Privileged Authentication Administrator: it may.
        let (status, body) = server.call(&admin, Method::PATCH, root, Some(password.clone())).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        let (_, found) = server.call(&admin, Method::GET, &format!("{root}?$select=id"), None).await;
        let id = found["id"].as_str().unwrap().to_owned();
        let (status, _) = server.call(&admin, Method::DELETE, root, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}");
        let restore = format!("/v1.0/directory/deletedItems/{id}/restore");
        let (status, _) = server.call(&writer, Method::POST, &restore, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: restoring a Global Administrator");
        let (status, body) = server.call(&admin, Method::POST, &restore, None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {body}");
    }
}

/// Reads by id come from a node's cache: its own writes show at once, another node's within the interval at
/// which it follows the change log.
#[tokio::test]
async fn reads_by_id_see_this_nodes_writes_at_once_and_other_nodes_within_the_follow_interval() {
    for server in servers().await {
        let engine = server.engine;
        let token = server.admin_token().await;
        let (_, user) = server.call(&token, Method::POST, "/v1.0/users", Some(new_user("cached"))).await;
        let id = user["id"].as_str().unwrap().to_owned();
        let path = format!("/v1.0/users/{id}?$select=jobTitle");
        for _ in 0..3 {
            assert_eq!(server.call(&token, Method::GET, &path, None).await.0, StatusCode::OK);
        }
        let (status, _) =
            server.call(&token, Method::PATCH, &format!("/v1.0/users/{id}"), Some(json!({"jobTitle": "Mine"}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(server.call(&token, Method::GET, &path, None).await.1["jobTitle"], "Mine", "{engine}: at once");

        let config = cheap_hashing();
        let other = Directory::new(server.store.clone(), server.clock.clone(), server.master.clone(), config);
        let caller = Caller::System { tenant: server.tenant.tenant_id };
        let patch = json!({"jobTitle": "Theirs"}).as_object().unwrap().clone();
        other.users().update(&caller, &id, &patch).await.unwrap();
        let bound = Duration::from_millis(100) * 20;
        let changed = std::time::Instant::now();
        while server.call(&token, Method::GET, &path, None).await.1["jobTitle"] != "Theirs" {
            assert!(changed.elapsed() < bound, "{engine}: another node's write shows within the follow interval");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        other.users().delete(&caller, &id).await.unwrap();
        let deleted = std::time::Instant::now();
        while server.call(&token, Method::GET, &path, None).await.0 != StatusCode::NOT_FOUND {
            assert!(deleted.elapsed() < bound, "{engine}: another node's delete shows within the follow interval");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
