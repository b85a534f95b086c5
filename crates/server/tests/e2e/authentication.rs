//! Bearer tokens: only valid, unexpired tokens of the right tenant and audience get in; tenants never
//! see each other.

use crate::support::{claims, new_user, sqlite_server};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gatehouse_core::tenants::NewTenant;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn assert_refused(server: &crate::support::Server, token: &str, why: &str) {
    let (status, body) = server.call(token, Method::GET, "/v1.0/users", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken", "{why}");
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused() {
    let server = sqlite_server().await;
    let tenant = server.tenant.tenant_id;
    let good = server.admin_token().await;
    assert_eq!(server.call(&good, Method::GET, "/v1.0/users", None).await.0, StatusCode::OK);
    let original = claims(&good);

    let with = |name: &str, value: Value| {
        let mut c = original.clone();
        c[name] = value;
        c
    };
    let reissued = server.forge(tenant, &original).await;
    assert_eq!(
        server.call(&reissued, Method::GET, "/v1.0/users", None).await.0,
        StatusCode::OK,
        "the forging helper signs valid tokens"
    );

    assert_refused(&server, &server.forge(tenant, &with("aud", json!("api://someone-else"))).await, "wrong audience")
        .await;
    assert_refused(
        &server,
        &server.forge(tenant, &with("iss", json!("https://evil.test/x/v2.0"))).await,
        "wrong issuer",
    )
    .await;
    assert_refused(
        &server,
        &server.forge(tenant, &with("iss", json!(format!("https://evil.test/{tenant}/v2.0")))).await,
        "an issuer that only ends like this tenant's",
    )
    .await;
    let now = server.clock.now_seconds();
    assert_refused(&server, &server.forge(tenant, &with("exp", json!(now - 1))).await, "expired").await;
    assert_refused(&server, &server.forge(tenant, &with("nbf", json!(now + 3600))).await, "not yet valid").await;

    let other = server
        .directory
        .tenants()
        .create(NewTenant { domain: Some("fabrikam.gatehouse.test".into()), ..NewTenant::default() })
        .await
        .unwrap();
    let wrong_tenant = with("tid", json!(other.tenant_id));
    assert_refused(&server, &server.forge(tenant, &wrong_tenant).await, "signed by tenant A, claiming tenant B").await;

    let (header, rest) = good.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let mut escalated = original.clone();
    escalated["roles"] = json!(["Directory.ReadWrite.All", "User.ReadWrite.All", "Application.ReadWrite.All"]);
    escalated["tid"] = json!(other.tenant_id);
    let tampered = format!("{header}.{}.{signature}", URL_SAFE_NO_PAD.encode(escalated.to_string()));
    assert_refused(&server, &tampered, "tampered claims").await;

    let none_header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": claims_kid(&good)}).to_string());
    let unsigned = format!("{none_header}.{}.", URL_SAFE_NO_PAD.encode(original.to_string()));
    assert_refused(&server, &unsigned, "alg none").await;
    let hs_header = URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "typ": "JWT", "kid": claims_kid(&good)}).to_string());
    assert_refused(
        &server,
        &format!("{hs_header}.{}.{signature}", URL_SAFE_NO_PAD.encode(original.to_string())),
        "alg HS256",
    )
    .await;
    assert_refused(&server, "not-a-jwt", "garbage").await;
    let (status, body) = server.http.get(server.url("/v1.0/users")).send().await.map(|r| (r.status(), r)).unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.headers().get("www-authenticate").is_some());

    // A good token stops working when it expires, cached or not.
    server.clock.advance(chrono::Duration::seconds(3600));
    assert_refused(&server, &good, "expired after an hour").await;
}

fn claims_kid(token: &str) -> String {
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn tenants_are_isolated() {
    let server = sqlite_server().await;
    let a = server.admin_token().await;
    let other = server
        .directory
        .tenants()
        .create(NewTenant { domain: Some("fabrikam.gatehouse.test".into()), ..NewTenant::default() })
        .await
        .unwrap();
    let b = server.token(&other.tenant_id.to_string(), &other.client_id.to_string(), &other.client_secret).await;

    let (_, ada) = server.call(&a, Method::POST, "/v1.0/users", Some(new_user("ada"))).await;
    let ada_id = ada["id"].as_str().unwrap();
    let (status, _) = server.call(&b, Method::GET, &format!("/v1.0/users/{ada_id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "B cannot read A's user by id");
    let (status, _) = server.call(&b, Method::GET, "/v1.0/users/ada@contoso.gatehouse.test", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nor by UPN");
    let (status, _) =
        server.call(&b, Method::PATCH, &format!("/v1.0/users/{ada_id}"), Some(json!({"jobTitle": "x"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nor change it");
    let (status, _) = server.call(&b, Method::DELETE, &format!("/v1.0/users/{ada_id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nor delete it");
    let (_, listed) = server.call(&b, Method::GET, "/v1.0/users", None).await;
    let upns: Vec<&str> =
        listed["value"].as_array().unwrap().iter().map(|u| u["userPrincipalName"].as_str().unwrap()).collect();
    assert_eq!(upns, ["admin@fabrikam.gatehouse.test"]);
    let (status, body) = server.call(&b, Method::POST, "/v1.0/users", Some(new_user("eve"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "B cannot create users in A's domain: {body}");

    // A's credentials are not B's: at B's token endpoint they are an unknown client.
    let t = &server.tenant;
    let (status, body) =
        server.token_response(&other.tenant_id.to_string(), &t.client_id.to_string(), &t.client_secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn wrong_client_secrets_are_throttled_per_client_and_per_source() {
    let server = sqlite_server().await;
    let t = &server.tenant;
    let (tenant, client) = (t.tenant_id.to_string(), t.client_id.to_string());
    for _ in 0..10 {
        let (status, body) = server.token_response(&tenant, &client, "a-wrong-guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    let (status, body) = server.token_response(&tenant, &client, &t.client_secret).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the right secret is refused while locked out: {body}");
    assert_eq!(body["error"], "invalid_client");
    let response = server
        .http
        .post(server.url(&format!("/{tenant}/oauth2/v2.0/token")))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client),
            ("client_secret", &t.client_secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    server.clock.advance(chrono::Duration::seconds(61));
    server.token(&tenant, &client, &t.client_secret).await;

    // Guesses spread over many clients lock the source address out.
    for _ in 0..30 {
        let (status, _) = server.token_response(&tenant, &uuid::Uuid::new_v4().to_string(), "a-wrong-guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = server.token_response(&tenant, &client, &t.client_secret).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the source is locked out for every client");
    server.clock.advance(chrono::Duration::seconds(61));
    server.token(&tenant, &client, &t.client_secret).await;

    let short = NewTenant {
        domain: Some("short.gatehouse.test".into()),
        client_secret: Some("a".repeat(31)),
        ..NewTenant::default()
    };
    assert!(server.directory.tenants().create(short).await.is_err(), "a preset secret needs 32 characters");
}
