//! The listener's limits: stalled connections are closed, and healthy clients are served meanwhile.

use crate::support::Server;
use gatehouse::Limits;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMITS: Limits =
    Limits { header_timeout: Duration::from_secs(1), idle_timeout: Duration::from_secs(3), max_connections: 8 };

/// How long the server took to close `socket` (reading until end of stream), or `None` if it was still open
/// after `within`.
async fn closed_within(socket: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(within.saturating_sub(started.elapsed()), socket.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn silent_and_idle_connections_are_closed_while_healthy_clients_are_served() {
    let server = Server::limited(LIMITS).await;
    // Four times the connection limit of sockets that never send a byte.
    let mut silent = Vec::new();
    for _ in 0..32 {
        silent.push(TcpStream::connect(address(&server)).await.unwrap());
    }
    let healthy = tokio::time::timeout(Duration::from_secs(20), server.http.get(server.url("/healthz")).send()).await;
    assert_eq!(healthy.expect("a healthy client is served").unwrap().status(), 200);
    for socket in &mut silent {
        assert!(closed_within(socket, Duration::from_secs(15)).await.is_some(), "a silent connection is closed");
    }

    // A keep-alive connection left idle after its response is closed after the header timeout.
    let mut kept = TcpStream::connect(address(&server)).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut response = [0u8; 512];
    let read = kept.read(&mut response).await.unwrap();
    assert!(String::from_utf8_lossy(&response[..read]).starts_with("HTTP/1.1 200"));
    let after =
        closed_within(&mut kept, Duration::from_secs(10)).await.expect("an idle keep-alive connection is closed");
    assert!(after < Duration::from_secs(5), "closed after {after:?}");
}

#[tokio::test]
async fn headers_dripped_slowly_and_stalled_bodies_are_cut_off() {
    let server = Server::limited(LIMITS).await;
    // One byte every 200 ms: the headers would take far longer than the header timeout.
    let mut drip = TcpStream::connect(address(&server)).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    let mut cut = false;
    for byte in request {
        if drip.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut probe = [0u8; 64];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(1), drip.read(&mut probe)).await {
            cut = true;
            break;
        }
    }
    assert!(cut, "a dripping client is cut off before its headers are complete");
    assert!(started.elapsed() < Duration::from_secs(6), "cut off after {:?}", started.elapsed());

    // Headers complete, then a body that never comes: the idle timeout closes it.
    let mut stalled = TcpStream::connect(address(&server)).await.unwrap();
    let head = format!(
        "POST /{}/oauth2/v2.0/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=",
        server.tenant.tenant_id
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let after = closed_within(&mut stalled, Duration::from_secs(15)).await.expect("a stalled body is cut off");
    assert!(after >= Duration::from_secs(2), "the idle timeout, not the header timeout: {after:?}");
    let health = server.http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}
