//! The sign-in log: exactly one record per attempt at every door, under 30 seconds of concurrent load of good
//! and bad sign-ins; Graph's filters and paging; the Conditional Access results each record carries.

use crate::sign_in::PASSWORD;
use crate::support::{servers, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;

const SIGN_INS: &str = "/v1.0/auditLogs/signIns";
/// How long the load runs.
const LOAD: std::time::Duration = std::time::Duration::from_secs(30);

/// Every record a query selects, following `@odata.nextLink` page by page.
async fn all(server: &Server, token: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next = Some(server.url(&format!("{SIGN_INS}?{query}")));
    while let Some(url) = next {
        let response = server.http.get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.unwrap();
        out.extend(page["value"].as_array().unwrap().iter().cloned());
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    out
}

#[tokio::test]
async fn every_attempt_is_recorded_once_and_found_by_graphs_filters() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let client = server.client(&admin, true, "User.Read").await;
        let ann = server.member(&admin, "ann").await;
        server.member(&admin, "bob").await;
        let blocked = json!({
            "displayName": "Block Bob", "state": "enabled",
            "conditions": {"users": {"includeUsers": ["All"], "excludeUsers": [ann.clone()]}, "applications": {"includeApplications": ["All"]}},
            "grantControls": {"operator": "OR", "builtInControls": ["block"]},
        });
        let confirmed = server
            .http
            .post(server.url("/v1.0/identity/conditionalAccess/policies"))
            .bearer_auth(&admin)
            .header("Prefer", "lockout-confirmed")
            .json(&blocked)
            .send()
            .await
            .unwrap();
        assert_eq!(confirmed.status(), StatusCode::CREATED);
        let watching = json!({
            "displayName": "Watch everyone", "state": "enabledForReportingButNotEnforced",
            "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
        });
        let (status, _) =
            server.call(&admin, Method::POST, "/v1.0/identity/conditionalAccess/policies", Some(watching)).await;
        assert_eq!(status, StatusCode::CREATED);

        // Thirty seconds of concurrent load: good and bad sign-ins of four kinds, each counted as it is answered.
        let kinds = [
            ("ann@contoso.gatehouse.test", PASSWORD, 0),
            ("ann@contoso.gatehouse.test", "Wr0ng-Kestr3l!", 50126),
            ("nobody@contoso.gatehouse.test", PASSWORD, 50034),
            ("bob@contoso.gatehouse.test", PASSWORD, 53003),
        ];
        let mut tasks = Vec::new();
        let until = std::time::Instant::now() + LOAD;
        for worker in 0..8usize {
            let (server_url, client_id, tenant) = (server.base.clone(), client.app_id.clone(), tenant.clone());
            tasks.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut counts: HashMap<i64, usize> = HashMap::new();
                for n in 0.. {
                    if std::time::Instant::now() >= until {
                        break;
                    }
                    let (user, password, _) = kinds[(worker + n) % kinds.len()];
                    let password = if password == PASSWORD { password.to_owned() } else { format!("{password}{n}") };
                    let form = [
                        ("grant_type", "password"),
                        ("client_id", client_id.as_str()),
                        ("username", user),
                        ("password", password.as_str()),
                        ("scope", "User.Read offline_access"),
                    ];
                    let response =
                        http.post(format!("{server_url}/{tenant}/oauth2/v2.0/token")).form(&form).send().await.unwrap();
                    let body: Value = response.json().await.unwrap();
                    let code = body["error_codes"][0].as_i64().unwrap_or(0);
                    *counts.entry(code).or_default() += 1;
                }
                counts
            }));
        }
        let mut answered: HashMap<i64, usize> = HashMap::new();
        for task in tasks {
            for (code, count) in task.await.unwrap() {
                *answered.entry(code).or_default() += count;
            }
        }
        let attempts: usize = answered.values().sum();
        assert!(attempts >= 8 * 4, "{engine}: the load ran: {answered:?}");
        for code in [0, 50126, 50034, 53003] {
            assert!(answered.contains_key(&code), "{engine}: every kind was answered as expected: {answered:?}");
        }

        let records = all(&server, &admin, "$top=1000").await;
        assert_eq!(records.len(), attempts, "{engine}: one record per attempt");
        let mut recorded: HashMap<i64, usize> = HashMap::new();
        for record in &records {
            *recorded.entry(record["status"]["errorCode"].as_i64().unwrap()).or_default() += 1;
        }
        assert_eq!(recorded, answered, "{engine}: the records say what the answers said");

        let success = records.iter().find(|r| r["status"]["errorCode"] == 0).unwrap();
        assert_eq!(success["userId"], ann.as_str());
        assert_eq!(success["userPrincipalName"], "ann@contoso.gatehouse.test");
        assert_eq!(success["appId"], client.app_id.as_str());
        assert_eq!(success["resourceDisplayName"], "Microsoft Graph");
        assert_eq!(success["clientAppUsed"], "Mobile Apps and Desktop clients");
        assert_eq!(success["isInteractive"], true);
        assert_eq!(success["ipAddress"], "127.0.0.1");
        assert_eq!(success["conditionalAccessStatus"], "notApplied", "{engine}: {success}");
        let results: Vec<&str> = success["appliedConditionalAccessPolicies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["result"].as_str().unwrap())
            .collect();
        assert!(results.contains(&"notApplied") && results.contains(&"reportOnlyInterrupted"), "{engine}: {results:?}");
        let block = records.iter().find(|r| r["status"]["errorCode"] == 53003).unwrap();
        assert_eq!(block["conditionalAccessStatus"], "failure", "{engine}: {block}");
        let path = format!("{SIGN_INS}/{}", success["id"].as_str().unwrap());
        let (status, one) = server.call(&admin, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {one}");
        assert_eq!(one["id"], success["id"]);
        let missing = format!("{SIGN_INS}/{}", uuid::Uuid::new_v4());
        assert_eq!(server.call(&admin, Method::GET, &missing, None).await.0, StatusCode::NOT_FOUND, "{engine}");
        let unknown = records.iter().find(|r| r["status"]["errorCode"] == 50034).unwrap();
        assert_eq!(unknown["userId"], Value::Null);
        assert_eq!(unknown["userPrincipalName"], "nobody@contoso.gatehouse.test");

        // Graph's filters.
        let by_code = all(&server, &admin, "$filter=status/errorCode%20eq%2050126").await;
        assert_eq!(by_code.len(), answered[&50126], "{engine}");
        let by_user = all(&server, &admin, &format!("$filter=userId%20eq%20'{ann}'&$top=50")).await;
        let of_ann: usize = answered.iter().filter(|(code, _)| ![50034, 53003].contains(*code)).map(|(_, n)| n).sum();
        assert_eq!(by_user.len(), of_ann, "{engine}: {answered:?}");
        let by_name = all(&server, &admin, "$filter=userPrincipalName%20eq%20'BOB@contoso.gatehouse.test'").await;
        assert_eq!(by_name.len(), answered[&53003], "{engine}");
        let by_app = all(&server, &admin, &format!("$filter=appId%20eq%20'{}'", client.app_id)).await;
        assert_eq!(by_app.len(), attempts, "{engine}");
        server.clock.advance(chrono::Duration::seconds(10));
        let since = gatehouse_core::schema::format_time(gatehouse_core::Clock::now(server.clock.as_ref()));
        let recent = all(&server, &admin, &format!("$filter=createdDateTime%20ge%20{since}")).await;
        assert!(recent.is_empty(), "{engine}: nothing since");
        let (status, body) =
            server.call(&admin, Method::GET, &format!("{SIGN_INS}?$filter=displayName%20eq%20'x'"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {body}");

        // A refresh is a non-interactive sign-in; the pages' wrong password an interactive failure.
        let (_, good) = server
            .password_grant(&tenant, &client.app_id, "ann@contoso.gatehouse.test", PASSWORD, "User.Read offline_access")
            .await;
        let (status, _) = server.refresh_grant(&tenant, &client.app_id, good["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        let recent = all(&server, &admin, &format!("$filter=createdDateTime%20ge%20{since}")).await;
        assert_eq!(recent.len(), 2, "{engine}: {recent:?}");
        assert_eq!(recent.iter().filter(|r| r["isInteractive"] == false).count(), 1, "{engine}");

        // Reading the log needs AuditLog.Read.All (or a role that reads it).
        let member =
            server.password_grant(&tenant, &client.app_id, "ann@contoso.gatehouse.test", PASSWORD, "User.Read").await.1
                ["access_token"]
                .as_str()
                .unwrap()
                .to_owned();
        assert_eq!(server.call(&member, Method::GET, SIGN_INS, None).await.0, StatusCode::FORBIDDEN, "{engine}");
    }
}

/// A sign-in through the pages leaves one record, committed with the code it gave out: interactive, from a
/// browser, a success; a wrong password at the same page leaves its own failure.
#[tokio::test]
async fn a_sign_in_through_the_pages_is_recorded_once() {
    use crate::password_pages::Browser;
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let client = server.client(&admin, true, "User.Read").await;
        let redirect = "http://localhost:7777/callback";
        let body = json!({"publicClient": {"redirectUris": [redirect]}});
        let path = format!("/v1.0/applications/{}", client.object);
        assert_eq!(server.call(&admin, Method::PATCH, &path, Some(body)).await.0, StatusCode::NO_CONTENT);
        let ann = server.member(&admin, "ann").await;
        let tenant = server.tenant.tenant_id;
        let query = [
            ("client_id", client.app_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", redirect),
            ("scope", "User.Read"),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "S256"),
        ];
        let authorize = server.url(&format!("/{tenant}/oauth2/v2.0/authorize"));
        let url = reqwest::Url::parse_with_params(&authorize, &query).unwrap();
        let upn = "ann@contoso.gatehouse.test";
        let browser = Browser::new();
        let form = browser.get(url.as_str()).await;
        let wrong = browser.submit(&authorize, &form, &[("login", upn), ("passwd", "Wr0ng!Kestr3l")]).await;
        assert!(wrong.text.contains("AADSTS50126"), "{engine}: {}", wrong.text);
        let landed = browser.submit(&authorize, &wrong, &[("login", upn), ("passwd", PASSWORD)]).await;
        assert_eq!(landed.status, StatusCode::FOUND, "{engine}: {}", landed.text);
        assert!(landed.location.as_deref().unwrap_or_default().contains("code="), "{engine}: {:?}", landed.location);

        let records = all(&server, &admin, &format!("$filter=userId eq '{ann}'")).await;
        let mut codes: Vec<i64> = records.iter().map(|r| r["status"]["errorCode"].as_i64().unwrap()).collect();
        codes.sort();
        assert_eq!(codes, [0, 50126], "{engine}: one record each: {records:?}");
        let success = records.iter().find(|r| r["status"]["errorCode"] == 0).unwrap();
        assert_eq!(success["isInteractive"], true, "{engine}");
        assert_eq!(success["clientAppUsed"], "Browser", "{engine}");
        assert_eq!(success["appId"], client.app_id.as_str(), "{engine}");
        assert_eq!(success["resourceDisplayName"], "Microsoft Graph", "{engine}");
    }
}
