//! Outgoing email through a real SMTP server on loopback (aiosmtpd, from the interop environment): a code
//! reaches the relay as text with its HTML alternative; a relay that refuses for a while gets the message
//! once it is back, and once only; a message that cannot be delivered is given up on after its attempts and
//! shown to administrators with its last error; a server killed (`kill -9`) while handing a message on
//! delivers it once after its restart; relays that want STARTTLS or TLS and a login get their mail.

use crate::password_pages::Browser;
use crate::processes::{dev_certificates, launch, token, BINARY};
use crate::support::{free_port, Relay, Server};
use gatehouse_core::outbox::MOST_ATTEMPTS;
use gatehouse_core::store::{MailRecord, MailState, Store};
use gatehouse_core::Caller;
use gatehouse_testkit::process::ServerProcess;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The messages a maildir holds.
fn received(maildir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for folder in ["new", "cur"] {
        for entry in std::fs::read_dir(maildir.join(folder)).into_iter().flatten() {
            out.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
    }
    out
}

/// Starts a password reset at `base` for `upn`.
async fn reset_at(base: &str, domain: &str, upn: &str) {
    let browser = Browser::new();
    let url = format!("{base}/{domain}/passwordreset");
    let page = browser.get(&url).await;
    browser.submit(&url, &page, &[("login", upn)]).await;
}

/// Starts a password reset for `alias`, whose code goes to `alias@example.org`.
async fn reset(server: &Server, alias: &str) {
    let upn = format!("{alias}@contoso.gatehouse.test");
    reset_at(&server.base, "contoso.gatehouse.test", &upn).await;
}

/// The outbox's message to `to`, once `done` holds for it.
async fn outbox_until(server: &Server, to: &str, done: impl Fn(&MailRecord) -> bool) -> MailRecord {
    let tenant = server.tenant.tenant_id;
    for _ in 0..400 {
        let mail = server.store.mail(tenant, None, 100).await.unwrap();
        if let Some(found) = mail.into_iter().find(|m| m.to == to && done(m)) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mail = server.store.mail(tenant, None, 100).await.unwrap();
    panic!("the message to {to} never got there: {mail:?}");
}

async fn wait_for(maildir: &Path, count: usize) -> Vec<String> {
    for _ in 0..400 {
        let messages = received(maildir);
        if messages.len() >= count {
            return messages;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    received(maildir)
}

#[tokio::test]
async fn mail_reaches_a_real_smtp_server_once_after_it_refused_and_is_given_up_on_in_the_end() {
    let port = free_port();
    let server = Server::smtp(&format!("smtp://127.0.0.1:{port}")).await;
    let admin = server.admin_token().await;
    for alias in ["amy", "bea"] {
        let user = server.member(&admin, alias).await;
        let mails = Some(json!({"otherMails": [format!("{alias}@example.org")]}));
        let path = format!("/v1.0/users/{user}");
        assert_eq!(server.call(&admin, Method::PATCH, &path, mails).await.0, StatusCode::NO_CONTENT);
    }
    let folder = tempfile::tempdir().unwrap();
    let maildir: PathBuf = folder.path().join("maildir");

    // The relay is down: the attempt fails and the message waits for its next one.
    reset(&server, "amy").await;
    let refused = outbox_until(&server, "amy@example.org", |m| m.attempts == 1 && m.claimed_until.is_none()).await;
    assert_eq!(refused.state, MailState::Pending);
    assert!(refused.last_error.is_some(), "{refused:?}");

    // It comes back: the message goes at its next attempt, once.
    let relay = Relay::start(port, &maildir).await;
    server.clock.advance(chrono::Duration::minutes(2));
    let messages = wait_for(&maildir, 1).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    assert!(message.contains("To: amy@example.org"), "{message}");
    assert!(message.contains("From: Contoso <no-reply@contoso.gatehouse.test>"), "{message}");
    assert!(message.contains(&format!("Message-ID: <{}@contoso.gatehouse.test>", refused.id.simple())), "{message}");
    assert!(message.contains("multipart/alternative") && message.contains("text/html"), "{message}");
    assert!(message.contains("verification code is"), "{message}");
    let sent = outbox_until(&server, "amy@example.org", |m| m.state == MailState::Sent).await;
    assert_eq!(sent.attempts, 2);
    server.clock.advance(chrono::Duration::hours(2));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(received(&maildir).len(), 1, "delivered once");

    // Down for good: after its attempts the message is dead, and administrators see why.
    drop(relay);
    reset(&server, "bea").await;
    for attempt in 1..=MOST_ATTEMPTS {
        outbox_until(&server, "bea@example.org", |m| m.attempts == attempt && m.claimed_until.is_none()).await;
        server.clock.advance(chrono::Duration::minutes(61));
    }
    let dead = outbox_until(&server, "bea@example.org", |m| m.state == MailState::Dead).await;
    assert_eq!(dead.attempts, MOST_ATTEMPTS);
    let system = Caller::System { tenant: server.tenant.tenant_id };
    let listed = server.directory.outbox().list(&system, Some(MailState::Dead), 10).await.unwrap();
    assert_eq!(listed.iter().map(|m| m.id).collect::<Vec<_>>(), [dead.id]);
    assert!(listed[0].last_error.is_some());
    assert_eq!(received(&maildir).len(), 1, "nothing more was delivered");
}

#[tokio::test]
async fn a_message_being_handed_on_when_the_server_is_killed_is_delivered_once_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = format!("sqlite://{}", data.join("gatehouse.db").display());
    // A relay that takes connections and never answers: the attempt hangs with the message claimed.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let (connected, mut waiting) = tokio::sync::mpsc::channel(4);
    let holding = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
            let _ = connected.send(()).await;
        }
    });
    let smtp = |port: u16| {
        let mut launched = launch(&data, &url, None);
        launched.env.insert("GATEHOUSE_SMTP_URL".into(), format!("smtp://127.0.0.1:{port}"));
        launched.env.insert("GATEHOUSE_MAIL_ATTEMPT_SECONDS".into(), "4".into());
        launched
    };
    std::fs::create_dir_all(&data).unwrap();
    let mut first = ServerProcess::start(smtp(silent_port));
    let bootstrap = first.bootstrap.clone().unwrap();
    let domain = bootstrap["tenantDomain"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let admin = token(&http, &first.base_url, &bootstrap).await;
    let body = json!({
        "accountEnabled": true, "displayName": "Kim", "mailNickname": "kim", "userPrincipalName": format!("kim@{domain}"),
        "passwordProfile": {"password": "Durab1e!pass"}, "otherMails": ["kim@example.org"],
    });
    let created = http.post(format!("{}/v1.0/users", first.base_url)).bearer_auth(&admin).json(&body).send().await;
    assert_eq!(created.unwrap().status(), StatusCode::CREATED);
    reset_at(&first.base_url, &domain, &format!("kim@{domain}")).await;
    tokio::time::timeout(Duration::from_secs(20), waiting.recv()).await.expect("the server tries the relay");
    first.kill_hard();
    holding.abort();

    let port = free_port();
    let folder = tempfile::tempdir().unwrap();
    let maildir = folder.path().join("maildir");
    let _relay = Relay::start(port, &maildir).await;
    let _second = ServerProcess::start(smtp(port));
    let messages = wait_for(&maildir, 1).await;
    assert_eq!(messages.len(), 1, "delivered after the restart");
    assert!(messages[0].contains("To: kim@example.org"), "{}", messages[0]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(received(&maildir).len(), 1, "and once");
    let listed = std::process::Command::new(BINARY)
        .args(["mail", "list", "--tenant", &domain, "--data-dir"])
        .arg(&data)
        .args(["--database-url", &url])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let fields: Vec<&str> = listed.trim().split('\t').collect();
    assert_eq!(fields.get(1..5), Some(&["sent", "2", "kim@example.org", "passwordResetCode"][..]), "{listed}");
}

/// A relay that wants STARTTLS and a login, and one that speaks TLS from the first byte: mail goes through
/// both, their private certificate authority trusted (`--smtp-ca-file`); a wrong password is a failed
/// attempt whose error the outbox keeps, and nothing reaches the relay.
#[tokio::test]
async fn mail_goes_over_starttls_and_tls_with_a_login() {
    let folder = tempfile::tempdir().unwrap();
    let (ca, cert, key) = dev_certificates(folder.path());
    for mode in ["starttls", "tls"] {
        let port = free_port();
        let maildir = folder.path().join(format!("maildir-{mode}"));
        let _relay = Relay::secure(port, &maildir, mode, (&cert, &key), "Relay-Pa55").await;
        let url = |password: &str| match mode {
            "starttls" => format!("smtp://mailer:{password}@localhost:{port}?tls=required"),
            _ => format!("smtps://mailer:{password}@localhost:{port}"),
        };

        let refused = Server::smtp_trusting(&url("wrong"), Some(&ca)).await;
        let admin = refused.admin_token().await;
        let user = refused.member(&admin, "amy").await;
        let mails = Some(json!({"otherMails": ["amy@example.org"]}));
        refused.call(&admin, Method::PATCH, &format!("/v1.0/users/{user}"), mails.clone()).await;
        reset(&refused, "amy").await;
        let failed = outbox_until(&refused, "amy@example.org", |m| m.attempts == 1 && m.claimed_until.is_none()).await;
        let error = failed.last_error.unwrap_or_default();
        assert!(error.contains("535") || error.to_lowercase().contains("auth"), "{mode}: {error}");

        let server = Server::smtp_trusting(&url("Relay-Pa55"), Some(&ca)).await;
        let admin = server.admin_token().await;
        let user = server.member(&admin, "amy").await;
        server.call(&admin, Method::PATCH, &format!("/v1.0/users/{user}"), mails).await;
        reset(&server, "amy").await;
        let messages = wait_for(&maildir, 1).await;
        assert_eq!(messages.len(), 1, "{mode}: only the right login delivers: {messages:?}");
        assert!(messages[0].contains("verification code is"), "{mode}: {}", messages[0]);
        outbox_until(&server, "amy@example.org", |m| m.state == MailState::Sent).await;
    }
}

/// A relay that takes the connection and never answers ends the attempt within its time
/// (`--mail-attempt-seconds`): the message waits for its next attempt with the error, and the delivery loop
/// goes on.
#[tokio::test]
async fn a_relay_that_never_answers_ends_the_attempt_in_time() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let holding = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let url = format!("sqlite://{}", data.join("gatehouse.db").display());
    let mut launched = launch(&data, &url, None);
    launched.env.insert("GATEHOUSE_SMTP_URL".into(), format!("smtp://127.0.0.1:{port}"));
    launched.env.insert("GATEHOUSE_MAIL_ATTEMPT_SECONDS".into(), "2".into());
    let server = ServerProcess::start(launched);
    let bootstrap = server.bootstrap.clone().unwrap();
    let domain = bootstrap["tenantDomain"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let admin = token(&http, &server.base_url, &bootstrap).await;
    let body = json!({
        "accountEnabled": true, "displayName": "Lee", "mailNickname": "lee", "userPrincipalName": format!("lee@{domain}"),
        "passwordProfile": {"password": "Durab1e!pass"}, "otherMails": ["lee@example.org"],
    });
    let created = http.post(format!("{}/v1.0/users", server.base_url)).bearer_auth(&admin).json(&body).send().await;
    assert_eq!(created.unwrap().status(), StatusCode::CREATED);
    reset_at(&server.base_url, &domain, &format!("lee@{domain}")).await;
    let mut listed = String::new();
    for _ in 0..300 {
        let output = std::process::Command::new(BINARY)
            .args(["mail", "list", "--tenant", &domain, "--data-dir"])
            .arg(&data)
            .args(["--database-url", &url])
            .output()
            .unwrap();
        listed = String::from_utf8_lossy(&output.stdout).into_owned();
        let fields: Vec<&str> = listed.trim().split('\t').collect();
        if fields.get(1..3) == Some(&["pending", "1"][..]) && fields.len() > 6 && !fields[6].is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fields: Vec<&str> = listed.trim().split('\t').collect();
    assert_eq!(fields.get(1..3), Some(&["pending", "1"][..]), "the attempt ended: {listed}");
    assert!(fields.len() > 6 && !fields[6].is_empty(), "with its error: {listed}");
    holding.abort();
}
