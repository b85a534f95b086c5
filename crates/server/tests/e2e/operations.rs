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
