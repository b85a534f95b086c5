//! Health, readiness, metrics and request ids.

use crate::support::sqlite_server;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn health_readiness_metrics_and_request_ids() {
    let server = sqlite_server().await;
    let health = server.http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    let token = server.admin_token().await;
    let response = server
        .http
        .get(server.url("/v1.0/users/nobody@contoso.gatehouse.test"))
        .bearer_auth(&token)
        .header("client-request-id", "my-correlation-id")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let request_id = response.headers()["request-id"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["client-request-id"], "my-correlation-id");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["innerError"]["request-id"], request_id.as_str());
    assert_eq!(body["error"]["innerError"]["client-request-id"], "my-correlation-id");

    server.call(&token, Method::GET, "/v1.0/users", None).await;
    let metrics = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"gatehouse_http_requests_total{method="GET",route="/v1.0/users/{id}",status="404"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"gatehouse_http_requests_total{method="GET",route="/v1.0/users",status="200"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"gatehouse_http_request_duration_seconds_count{route="/{tenant}/oauth2/v2.0/token"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_path_that_is_not_utf8_gets_graphs_error_body() {
    let server = sqlite_server().await;
    let token = server.admin_token().await;
    for path in ["/v1.0/users/%FF%FE", "/v1.0/groups/%C3%28", "/%FF/oauth2/v2.0/token"] {
        let (status, body) = server.call(&token, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["code"], "Request_BadRequest", "{path}: {body}");
        assert!(body["error"]["innerError"]["request-id"].is_string(), "{body}");
    }
}
