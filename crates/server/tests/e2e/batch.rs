//! `POST /v1.0/$batch`.

use crate::support::{new_user, sqlite_server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn by_id<'a>(body: &'a Value, id: &str) -> &'a Value {
    body["responses"].as_array().unwrap().iter().find(|r| r["id"] == id).unwrap()
}

#[tokio::test]
async fn a_batch_runs_each_request_as_if_sent_alone() {
    let server = sqlite_server().await;
    let token = server.admin_token().await;
    let batch = json!({"requests": [
        {"id": "1", "method": "POST", "url": "/users", "headers": {"Content-Type": "application/json"}, "body": new_user("ada")},
        {"id": "2", "method": "GET", "url": "/users/ada@contoso.gatehouse.test?$select=displayName", "dependsOn": ["1"]},
        {"id": "3", "method": "POST", "url": "/users", "headers": {"Content-Type": "application/json"}, "body": new_user("ada")},
        {"id": "4", "method": "GET", "url": "users?$top=1", "dependsOn": ["3"]},
        {"id": "5", "method": "GET", "url": "https://graph.microsoft.com/v1.0/users"},
        {"id": "6", "method": "GET", "url": "/users?$count=true&$filter=startswith(displayName,'User%20a')", "headers": {"ConsistencyLevel": "eventual"}},
    ]});
    let (status, body) = server.call(&token, Method::POST, "/v1.0/$batch", Some(batch)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(by_id(&body, "1")["status"], 201);
    assert_eq!(by_id(&body, "2")["status"], 200);
    assert_eq!(by_id(&body, "2")["body"]["displayName"], "User ada");
    assert_eq!(by_id(&body, "3")["status"], 400, "a duplicate UPN fails alone");
    assert_eq!(by_id(&body, "3")["body"]["error"]["code"], "Request_BadRequest");
    assert_eq!(by_id(&body, "4")["status"], 424, "its dependant is not run");
    assert_eq!(by_id(&body, "5")["status"], 400, "absolute URLs are refused");
    assert_eq!(by_id(&body, "6")["body"]["@odata.count"], 1, "per-request headers apply");
    for id in ["1", "2", "3", "4", "5"] {
        let headers = by_id(&body, id)["headers"].as_object().unwrap();
        let names: Vec<&String> = headers.keys().collect();
        assert!(
            headers["Content-Type"].as_str().unwrap().starts_with("application/json"),
            "response {id} names its content type as Graph spells it: {names:?}"
        );
        assert!(!headers.contains_key("content-type"), "{names:?}");
    }

    // Each sub-request is authorized on its own: a reader cannot write through a batch.
    let graph = server.graph_principal(&token).await;
    let (_, app) =
        server.call(&token, Method::POST, "/v1.0/applications", Some(json!({"displayName": "reader"}))).await;
    let (_, sp) =
        server.call(&token, Method::POST, "/v1.0/servicePrincipals", Some(json!({"appId": app["appId"]}))).await;
    let grant =
        json!({"principalId": sp["id"], "resourceId": graph, "appRoleId": "df021288-bdef-4463-88db-98f22de89214"});
    server
        .call(
            &token,
            Method::POST,
            &format!("/v1.0/servicePrincipals/{}/appRoleAssignments", sp["id"].as_str().unwrap()),
            Some(grant),
        )
        .await;
    let (_, secret) = server
        .call(
            &token,
            Method::POST,
            &format!("/v1.0/applications/{}/addPassword", app["id"].as_str().unwrap()),
            Some(json!({})),
        )
        .await;
    let reader = server
        .token(
            &server.tenant.tenant_id.to_string(),
            app["appId"].as_str().unwrap(),
            secret["secretText"].as_str().unwrap(),
        )
        .await;
    let attempt = json!({"requests": [
        {"id": "r", "method": "GET", "url": "/users"},
        {"id": "w", "method": "POST", "url": "/users", "headers": {"Content-Type": "application/json"}, "body": new_user("eve")},
    ]});
    let (status, body) = server.call(&reader, Method::POST, "/v1.0/$batch", Some(attempt)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id(&body, "r")["status"], 200);
    assert_eq!(by_id(&body, "w")["status"], 403);
    assert_eq!(by_id(&body, "w")["body"]["error"]["code"], "Authorization_RequestDenied");
}

#[tokio::test]
async fn malformed_batches_are_refused_whole() {
    let server = sqlite_server().await;
    let token = server.admin_token().await;
    let get = |id: &str| json!({"id": id, "method": "GET", "url": "/users"});
    let too_many: Vec<Value> = (0..21).map(|i| get(&i.to_string())).collect();
    for (name, batch) in [
        ("no requests", json!({})),
        ("empty", json!({"requests": []})),
        ("21 requests", json!({"requests": too_many})),
        ("duplicate ids", json!({"requests": [get("1"), get("1")]})),
        (
            "a body without Content-Type",
            json!({"requests": [{"id": "1", "method": "POST", "url": "/users", "body": {}}]}),
        ),
        (
            "an unknown dependency",
            json!({"requests": [{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["9"]}]}),
        ),
    ] {
        let before = server.snapshot().await;
        let (status, body) = server.call(&token, Method::POST, "/v1.0/$batch", Some(batch)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        assert_eq!(body["error"]["code"], "Request_BadRequest", "{name}");
        assert_eq!(server.snapshot().await, before, "{name}");
    }
    let response =
        server.http.post(server.url("/v1.0/$batch")).json(&json!({"requests": [get("1")]})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "the batch itself needs a valid token");
}
