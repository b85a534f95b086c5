//! The store failing under a running server: requests fail fast with 503 and Retry-After, readiness says so,
//! and service resumes when the store is back.

use crate::support::Server;
use reqwest::{Method, StatusCode};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A TCP relay on loopback to `target`, which can be cut (every connection dropped, new ones refused) and
/// mended: PostgreSQL going away and coming back, as the server sees it.
async fn relay(target: u16) -> (u16, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (up, watching) = watch::channel(true);
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else { return };
            if !*watching.borrow() {
                continue;
            }
            let mut watching = watching.clone();
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", target)).await else { return };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    _ = watching.wait_for(|up| !*up) => {}
                }
            });
        }
    });
    (port, up)
}

#[tokio::test]
async fn postgresql_going_away_answers_503_fast_and_service_resumes() {
    let Some(cluster) = gatehouse_testkit::postgres::cluster() else {
        return;
    };
    let direct = cluster.create_database().await;
    let (port, up) = relay(cluster.port).await;
    let url = direct.replace(&format!(":{}/", cluster.port), &format!(":{port}/"));
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let server = Server::start("postgres", &url, dir).await;
    let token = server.admin_token().await;
    assert_eq!(server.call(&token, Method::GET, "/v1.0/users", None).await.0, StatusCode::OK);

    up.send_replace(false);
    // Past what this node caches of clients and tokens, so that every request needs the store.
    server.clock.advance(chrono::Duration::seconds(gatehouse_core::applications::CLIENT_CACHE_SECONDS + 1));
    let started = Instant::now();
    let ready = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let response = server.http.get(server.url("/v1.0/users")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ServiceUnavailable", "{body}");
    let t = &server.tenant;
    let (status, body) =
        server.token_response(&t.tenant_id.to_string(), &t.client_id.to_string(), &t.client_secret).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    let (status, body) = server.call(&token, Method::POST, "/v1.0/users", Some(crate::support::new_user("ada"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(started.elapsed() < Duration::from_secs(15), "four requests failed in {:?}", started.elapsed());

    up.send_replace(true);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = server.call(&token, Method::POST, "/v1.0/users", Some(crate::support::new_user("ada"))).await;
        if status == StatusCode::CREATED {
            break;
        }
        assert!(Instant::now() < deadline, "service resumes: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ready = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK, "ready again once a write succeeds");
}
