//! Smart lockout at the token endpoint: ten wrong passwords lock, the right one is refused while locked and
//! accepted after, a retyped wrong password counts once, and an attacker at an unfamiliar address cannot
//! lock the user out of the address they sign in from.

use crate::sign_in::{assert_grant_error, PASSWORD};
use crate::support::{servers, Server};
use reqwest::StatusCode;
use serde_json::Value;

/// A password grant sent from `source` (any 127/8 address reaches the server on loopback).
async fn password_from(
    server: &Server,
    source: [u8; 4],
    client: &str,
    username: &str,
    password: &str,
) -> (StatusCode, Value) {
    let http = reqwest::Client::builder().local_address(std::net::IpAddr::from(source)).build().unwrap();
    let tenant = server.tenant.tenant_id.to_string();
    let form = [
        ("grant_type", "password"),
        ("client_id", client),
        ("username", username),
        ("password", password),
        ("scope", "User.Read"),
    ];
    let response = http.post(server.url(&format!("/{tenant}/oauth2/v2.0/token"))).form(&form).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn smart_lockout_locks_the_attacker_out_and_not_the_user() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let client = server.client(&admin, true, "User.Read").await.app_id;
        let (home, elsewhere) = ([127, 0, 0, 1], [127, 0, 0, 2]);

        server.member(&admin, "max").await;
        let max = "max@contoso.gatehouse.test";
        for _ in 0..12 {
            let wrong = password_from(&server, home, &client, max, "Same-Wr0ng-Kestr3l").await;
            assert_grant_error(engine, &wrong, "invalid_grant", "AADSTS50126");
        }
        let (status, body) = password_from(&server, home, &client, max, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{engine}: one wrong password retyped counts once: {body}");
        for n in 0..10 {
            let wrong = password_from(&server, elsewhere, &client, max, &format!("Wr0ng-{n}")).await;
            assert_grant_error(engine, &wrong, "invalid_grant", "AADSTS50126");
        }
        let locked = password_from(&server, elsewhere, &client, max, PASSWORD).await;
        assert_grant_error(engine, &locked, "invalid_grant", "AADSTS50053");
        let (status, body) = password_from(&server, home, &client, max, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{engine}: the familiar address is counted apart: {body}");

        for n in 0..10 {
            password_from(&server, home, &client, max, &format!("Home-Wr0ng-{n}")).await;
        }
        let locked = password_from(&server, home, &client, max, PASSWORD).await;
        assert_grant_error(engine, &locked, "invalid_grant", "AADSTS50053");
        server.clock.advance(chrono::Duration::seconds(61));
        let (status, body) = password_from(&server, home, &client, max, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{engine}: the lockout ends after a minute: {body}");
    }
}

/// The password hash of a user, read from the store.
async fn stored_hash(server: &Server, user: &str) -> String {
    use gatehouse_core::store::Store;
    let user = uuid::Uuid::parse_str(user).unwrap();
    server.store.password_hash(server.tenant.tenant_id, user).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_password_hashed_with_old_parameters_is_hashed_again_at_sign_in() {
    use gatehouse_core::credentials::passwords::{hash_now, HashParams};
    use gatehouse_core::store::{Store, Write};
    use gatehouse_core::Clock;
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let client = server.client(&admin, true, "User.Read").await.app_id;
        let user = server.member(&admin, "old").await;
        let old = HashParams { memory_kib: 128, iterations: 2, parallelism: 1 };
        let hash = hash_now(PASSWORD, &[9; 16], old).unwrap();
        let write = Write::SetPassword { user: uuid::Uuid::parse_str(&user).unwrap(), hash: hash.clone() };
        server.store.commit(server.tenant.tenant_id, vec![write], server.clock.now()).await.unwrap();
        let upn = "old@contoso.gatehouse.test";
        let wrong = password_from(&server, [127, 0, 0, 1], &client, upn, "Wr0ng-Kestr3l").await;
        assert_grant_error(engine, &wrong, "invalid_grant", "AADSTS50126");
        assert_eq!(stored_hash(&server, &user).await, hash, "{engine}: a wrong password changes nothing");
        let (status, body) = password_from(&server, [127, 0, 0, 1], &client, upn, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {body}");
        let rehashed = stored_hash(&server, &user).await;
        assert!(server.directory.hasher().params().made(&rehashed), "{engine}: today's parameters: {rehashed}");
        let (status, _) = password_from(&server, [127, 0, 0, 1], &client, upn, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{engine}: the new hash holds the same password");
    }
}

#[tokio::test]
async fn banned_passwords_are_refused_and_others_taken() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let mut body = crate::support::new_user("adele");
        body["givenName"] = serde_json::json!("Adele");
        body["surname"] = serde_json::json!("Vance");
        let (status, user) = server.call(&admin, reqwest::Method::POST, "/v1.0/users", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {user}");
        let path = format!("/v1.0/users/{}", user["id"].as_str().unwrap());
        for (password, expected) in [
            ("P@ssw0rd123!", StatusCode::BAD_REQUEST),
            ("Qwerty1234!", StatusCode::BAD_REQUEST),
            ("AdeleV@nce1!", StatusCode::BAD_REQUEST),
            ("Tr4vel-Kite-Moss", StatusCode::NO_CONTENT),
        ] {
            let reset =
                serde_json::json!({"passwordProfile": {"password": password, "forceChangePasswordNextSignIn": false}});
            let (status, body) = server.call(&admin, reqwest::Method::PATCH, &path, Some(reset)).await;
            assert_eq!(status, expected, "{engine}: {password}: {body}");
            if status == StatusCode::BAD_REQUEST {
                assert!(body["error"]["message"].as_str().unwrap().contains("complexity"), "{engine}: {body}");
            }
        }
    }
}

#[tokio::test]
async fn password_rule_settings_add_banned_terms_and_tune_lockout() {
    use reqwest::Method;
    use serde_json::json;
    const TEMPLATE: &str = "5cf42378-d67d-4f36-ba46-e8b86229381d";
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let client = server.client(&admin, true, "User.Read").await.app_id;
        let (_, templates) = server.call(&admin, Method::GET, "/v1.0/groupSettingTemplates", None).await;
        assert_eq!(templates["value"][0]["displayName"], "Password Rule Settings", "{engine}: {templates}");
        let older = format!("/v1.0/directorySettingTemplates/{TEMPLATE}");
        let (status, template) = server.call(&admin, Method::GET, &older, None).await;
        assert_eq!((status, &template["id"]), (StatusCode::OK, &json!(TEMPLATE)), "{engine}: the older name answers");

        let user = server.member(&admin, "zed").await;
        let path = format!("/v1.0/users/{user}");
        let reset =
            |password: &str| json!({"passwordProfile": {"password": password, "forceChangePasswordNextSignIn": false}});
        let (status, body) = server.call(&admin, Method::PATCH, &path, Some(reset("Zorbl@x-Zorbl@x9"))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: no custom list yet: {body}");

        let setting = |values: serde_json::Value| json!({"templateId": TEMPLATE, "values": values});
        for bad in [
            json!([{"name": "BannedPasswordList", "value": "abc"}]),
            json!([{"name": "NoSuchValue", "value": "1"}]),
            json!([{"name": "LockoutThreshold", "value": "many"}]),
        ] {
            let (status, body) = server.call(&admin, Method::POST, "/v1.0/groupSettings", Some(setting(bad))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {body}");
        }
        let values = json!([
            {"name": "BannedPasswordList", "value": "zorblax\tfrobnitz"},
            {"name": "EnableBannedPasswordCheck", "value": "true"},
            {"name": "LockoutThreshold", "value": "3"},
            {"name": "LockoutDurationInSeconds", "value": "30"},
        ]);
        let (status, created) =
            server.call(&admin, Method::POST, "/v1.0/groupSettings", Some(setting(values.clone()))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {created}");
        let (status, _) = server.call(&admin, Method::POST, "/v1.0/groupSettings", Some(setting(values))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: one setting per template");
        let (_, listed) = server.call(&admin, Method::GET, "/v1.0/settings", None).await;
        assert_eq!(listed["value"][0]["id"], created["id"], "{engine}: the older name lists the same setting");

        let (status, body) = server.call(&admin, Method::PATCH, &path, Some(reset("Zorbl@x-Zorbl@x9"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: the custom list bans it now: {body}");
        let upn = "zed@contoso.gatehouse.test";
        for n in 0..3 {
            password_from(&server, [127, 0, 0, 1], &client, upn, &format!("Wr0ng-{n}")).await;
        }
        let current = "Zorbl@x-Zorbl@x9";
        let locked = password_from(&server, [127, 0, 0, 1], &client, upn, current).await;
        assert_grant_error(engine, &locked, "invalid_grant", "AADSTS50053");
        server.clock.advance(chrono::Duration::seconds(31));
        let (status, body) = password_from(&server, [127, 0, 0, 1], &client, upn, current).await;
        assert_eq!(status, StatusCode::OK, "{engine}: thirty seconds, as set: {body}");

        let id = created["id"].as_str().unwrap();
        let off = json!({"values": [{"name": "EnableBannedPasswordCheck", "value": "False"}]});
        let (status, _) = server.call(&admin, Method::PATCH, &format!("/v1.0/groupSettings/{id}"), Some(off)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}");
        let (status, body) = server.call(&admin, Method::PATCH, &path, Some(reset("Zorbl@x-Zorbl@x9"))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: the custom list is off: {body}");
        let (status, _) = server.call(&admin, Method::DELETE, &format!("/v1.0/groupSettings/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}");
    }
}

#[tokio::test]
async fn passwords_expire_by_their_domains_validity() {
    use reqwest::Method;
    use serde_json::json;
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let client = server.client(&admin, true, "User.Read").await.app_id;
        let user = server.member(&admin, "ivy").await;
        let domain = "/v1.0/domains/contoso.gatehouse.test";
        let (status, _) =
            server.call(&admin, Method::PATCH, domain, Some(json!({"passwordValidityPeriodInDays": 5}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: 14 days at least");
        let (status, body) =
            server.call(&admin, Method::PATCH, domain, Some(json!({"passwordValidityPeriodInDays": 90}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        let (_, shown) = server.call(&admin, Method::GET, domain, None).await;
        assert_eq!(shown["passwordValidityPeriodInDays"], 90, "{engine}: {shown}");

        let upn = "ivy@contoso.gatehouse.test";
        let (status, body) = password_from(&server, [127, 0, 0, 1], &client, upn, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {body}");
        server.clock.advance(chrono::Duration::days(91));
        let expired = password_from(&server, [127, 0, 0, 1], &client, upn, PASSWORD).await;
        assert_grant_error(engine, &expired, "invalid_grant", "AADSTS50055");
        let admin = server.admin_token().await;
        let policy = json!({"passwordPolicies": "DisablePasswordExpiration"});
        let (status, _) = server.call(&admin, Method::PATCH, &format!("/v1.0/users/{user}"), Some(policy)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}");
        let (status, body) = password_from(&server, [127, 0, 0, 1], &client, upn, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{engine}: the user's passwords do not expire: {body}");
    }
}
