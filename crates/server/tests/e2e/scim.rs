//! SCIM 2.0 inbound: the request sequence Microsoft documents that Entra's provisioning sends (its quirks
//! included: `"op": "Replace"`, `"False"` as a string) replayed against `/scim/v2/Users`, and the directory
//! checked through Graph; a user pushed in over SCIM lands in a dynamic group; malformed, unknown and
//! unauthorized requests get SCIM's error bodies.

use crate::support::{servers, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A SCIM request with `token`, its body sent as `application/scim+json` as Entra sends it: the status, the
/// content type and the body.
async fn scim(
    server: &Server,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, String, Value) {
    let mut request = server.http.request(method, server.url(&format!("/scim/v2{path}"))).bearer_auth(token);
    if let Some(body) = body {
        request = request.header("content-type", "application/scim+json").body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = response.text().await.unwrap();
    (status, kind, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn filter(expression: &str) -> String {
    format!(
        "/Users?filter={}",
        reqwest::Url::parse("http://x/").unwrap().join(&format!("?{expression}")).unwrap().query().unwrap()
    )
}

#[tokio::test]
async fn entras_provisioning_sequence_reaches_the_directory() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let (token, provisioner) = server.app_with(&admin, &["User.ReadWrite.All"]).await;
        let rule = json!({
            "displayName": "Sales", "mailNickname": "sales", "mailEnabled": false, "securityEnabled": true,
            "groupTypes": ["DynamicMembership"], "membershipRule": "user.department -eq \"Sales\"",
            "membershipRuleProcessingState": "On",
        });
        let (_, sales) = server.call(&admin, Method::POST, "/v1.0/groups", Some(rule)).await;
        let name = "Test_User_dfeef4c5-5681-4387-b016-bdf221e82081";

        // Entra first asks whether the user exists, then creates it.
        let (status, kind, found) =
            scim(&server, &token, Method::GET, &filter(&format!("userName eq \"{name}\"")), None).await;
        assert_eq!((status, kind.as_str()), (StatusCode::OK, "application/scim+json"), "{engine}: {found}");
        assert_eq!(found["totalResults"], 0, "{engine}: {found}");
        let create = json!({
            "active": true,
            "emails": [{"primary": true, "type": "work", "value": "Test_User_11bb11bb-cccc-dddd-eeee-ffffffffffff@testuser.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": [],
            "schemas": [USER, ENTERPRISE],
            "userName": name,
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            ENTERPRISE: {"department": "Sales"},
        });
        let (status, _, created) = scim(&server, &token, Method::POST, "/Users", Some(create.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {created}");
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(created["userName"], name, "{engine}: SCIM's user name, as given");
        assert_eq!(created["externalId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
        assert_eq!(created["meta"]["resourceType"], "User");
        let (status, _, again) = scim(&server, &token, Method::POST, "/Users", Some(create)).await;
        assert_eq!(
            (status, again["scimType"].as_str()),
            (StatusCode::CONFLICT, Some("uniqueness")),
            "{engine}: {again}"
        );
        let (status, _, read) = scim(&server, &token, Method::GET, &format!("/Users/{id}"), None).await;
        assert_eq!((status, read["id"].as_str()), (StatusCode::OK, Some(id.as_str())), "{engine}");
        let (_, _, found) = scim(&server, &token, Method::GET, &filter(&format!("userName eq \"{name}\"")), None).await;
        assert_eq!(found["totalResults"], 1, "{engine}: {found}");
        assert_eq!(found["Resources"][0]["id"], id.as_str());

        // The same person through Graph, in the dynamic group its department puts it in.
        let select =
            "$select=userPrincipalName,mail,givenName,surname,onPremisesImmutableId,department,accountEnabled,creationType";
        let (_, graph) = server.call(&admin, Method::GET, &format!("/v1.0/users/{id}?{select}"), None).await;
        assert_eq!(graph["mail"], "Test_User_11bb11bb-cccc-dddd-eeee-ffffffffffff@testuser.com", "{engine}: {graph}");
        let upn = format!("{}@contoso.gatehouse.test", name.to_lowercase());
        assert_eq!(
            graph["userPrincipalName"].as_str().map(str::to_lowercase),
            Some(upn),
            "{engine}: the default domain"
        );
        assert_eq!((graph["givenName"].as_str(), graph["surname"].as_str()), (Some("givenName"), Some("familyName")));
        assert_eq!(graph["onPremisesImmutableId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
        assert_eq!(graph["accountEnabled"], true);
        crate::dynamic::settled(&server).await;
        let members = format!("/v1.0/groups/{}/members", sales["id"].as_str().unwrap());
        let (_, members) = server.call(&admin, Method::GET, &members, None).await;
        assert_eq!(members["value"][0]["id"], id.as_str(), "{engine}: {members}");

        // Entra's updates: `Replace` with paths, a string `False`.
        let update = json!({"schemas": [PATCH], "Operations": [
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        ]});
        let (status, _, patched) = scim(&server, &token, Method::PATCH, &format!("/Users/{id}"), Some(update)).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {patched}");
        assert_eq!(patched["emails"][0]["value"], "updatedEmail@microsoft.com");
        assert_eq!(patched["name"]["familyName"], "updatedFamilyName");
        let disable =
            json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
        let (status, _, disabled) = scim(&server, &token, Method::PATCH, &format!("/Users/{id}"), Some(disable)).await;
        assert_eq!((status, disabled["active"].as_bool()), (StatusCode::OK, Some(false)), "{engine}: {disabled}");
        let (_, graph) = server.call(&admin, Method::GET, &format!("/v1.0/users/{id}?{select}"), None).await;
        assert_eq!(
            (graph["accountEnabled"].as_bool(), graph["surname"].as_str()),
            (Some(false), Some("updatedFamilyName"))
        );

        // Versions: `If-Match` with the version read changes; with a version passed since, 412 and nothing.
        let read =
            server.http.get(server.url(&format!("/scim/v2/Users/{id}"))).bearer_auth(&token).send().await.unwrap();
        let etag = read.headers()["etag"].to_str().unwrap().to_owned();
        let title = |value: &str| json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": value}]});
        let patch = |etag: String, body: Value| {
            let url = server.url(&format!("/scim/v2/Users/{id}"));
            let request = server.http.patch(url).bearer_auth(&token).header("if-match", etag);
            request.header("content-type", "application/scim+json").body(body.to_string()).send()
        };
        assert_eq!(patch(etag.clone(), title("Buyer")).await.unwrap().status(), StatusCode::OK, "{engine}: {etag}");
        let stale = patch(etag.clone(), title("Seller")).await.unwrap();
        assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED, "{engine}");
        let (_, _, now) = scim(&server, &token, Method::GET, &format!("/Users/{id}"), None).await;
        assert_eq!(now["title"], "Buyer", "{engine}: the stale change was not made");

        // The audit log names the provisioning app.
        let (_, audits) = server.call(&admin, Method::GET, "/v1.0/auditLogs/directoryAudits", None).await;
        let added = audits["value"].as_array().unwrap().iter().find(|a| a["activityDisplayName"] == "Add user");
        let added = added.map(|a| a["initiatedBy"]["app"]["servicePrincipalId"].clone());
        assert_eq!(added, Some(json!(provisioner)), "{engine}: {audits}");

        // Delete, then the id is gone.
        assert_eq!(
            scim(&server, &token, Method::DELETE, &format!("/Users/{id}"), None).await.0,
            StatusCode::NO_CONTENT
        );
        let (status, _, gone) = scim(&server, &token, Method::GET, &format!("/Users/{id}"), None).await;
        assert_eq!(
            (status, gone["schemas"][0].as_str(), gone["status"].as_str()),
            (StatusCode::NOT_FOUND, Some(ERROR), Some("404"))
        );
    }
}

/// A request (token, method, path, body) and the status and `scimType` it must get.
type Case<'a> = (&'a str, Method, String, Option<Value>, StatusCode, Option<&'a str>);

#[tokio::test]
async fn bad_scim_requests_get_scims_errors() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let (token, _) = server.app_with(&admin, &["User.ReadWrite.All"]).await;
        let (reader, _) = server.app_with(&admin, &["User.Read.All"]).await;
        let body = json!({"schemas": [USER], "userName": "ann"});
        let cases: Vec<Case> = vec![
            ("", Method::GET, "/Users".into(), None, StatusCode::UNAUTHORIZED, None),
            (&reader, Method::POST, "/Users".into(), Some(body.clone()), StatusCode::FORBIDDEN, None),
            (&token, Method::GET, filter("userName eq ann"), None, StatusCode::BAD_REQUEST, Some("invalidFilter")),
            (&token, Method::GET, filter("nickName eq \"x\""), None, StatusCode::BAD_REQUEST, Some("invalidFilter")),
            (
                &token,
                Method::POST,
                "/Users".into(),
                Some(json!({"schemas": [USER]})),
                StatusCode::BAD_REQUEST,
                Some("invalidValue"),
            ),
            (&token, Method::GET, "/Users/not-an-id".into(), None, StatusCode::NOT_FOUND, None),
            (&token, Method::GET, "/Groups".into(), None, StatusCode::NOT_FOUND, None),
        ];
        for (token, method, path, body, status, kind) in cases {
            let (got, _, answer) = scim(&server, token, method.clone(), &path, body).await;
            assert_eq!(got, status, "{engine}: {method} {path}: {answer}");
            assert_eq!(answer["schemas"][0], ERROR, "{engine}: {answer}");
            assert_eq!(answer["scimType"].as_str(), kind, "{engine}: {method} {path}: {answer}");
        }
        let malformed =
            server.http.post(server.url("/scim/v2/Users")).bearer_auth(&token).body("{not json").send().await.unwrap();
        assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
        let answer: Value = malformed.json().await.unwrap();
        assert_eq!(answer["scimType"], "invalidSyntax", "{engine}");
        let (_, _, made) = scim(&server, &token, Method::POST, "/Users", Some(body)).await;
        let id = made["id"].as_str().unwrap();
        let bad_path =
            json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "nickName2", "value": "x"}]});
        let (status, _, answer) = scim(&server, &token, Method::PATCH, &format!("/Users/{id}"), Some(bad_path)).await;
        assert_eq!((status, answer["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidPath")), "{engine}");
        let (status, _, config) = scim(&server, &token, Method::GET, "/ServiceProviderConfig", None).await;
        assert_eq!((status, config["patch"]["supported"].as_bool()), (StatusCode::OK, Some(true)), "{engine}");
        let (_, _, schemas) = scim(&server, &token, Method::GET, "/Schemas", None).await;
        assert_eq!(schemas["totalResults"], 2, "{engine}: {schemas}");
    }
}
