//! An in-process server with a manual clock, and helpers to talk to it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{TimeZone, Utc};
use gatehouse::app::{self, Addressing};
use gatehouse_core::auth::authorization::Permission;
use gatehouse_core::credentials::keys::SigningKey;
use gatehouse_core::credentials::passwords::HashParams;
use gatehouse_core::credentials::secrets::MasterKey;
use gatehouse_core::kernel::clock::ManualClock;
use gatehouse_core::store::Store;
use gatehouse_core::tenants::{NewTenant, TenantBootstrap};
use gatehouse_core::{Directory, DirectoryConfig};
use gatehouse_store::SqlStore;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::oneshot;

const CHEAP_HASH: HashParams = HashParams { memory_kib: 256, iterations: 1, parallelism: 1 };

/// The directory settings of the tests' servers: cheap hashing, everything else as in production.
pub fn cheap_hashing() -> DirectoryConfig {
    DirectoryConfig { hash_params: CHEAP_HASH, ..DirectoryConfig::default() }
}

pub struct Server {
    pub base: String,
    pub store: Arc<SqlStore>,
    pub directory: Arc<Directory>,
    pub clock: Arc<ManualClock>,
    pub master: MasterKey,
    pub tenant: TenantBootstrap,
    pub http: reqwest::Client,
    pub engine: &'static str,
    /// The name server the directory verifies domains with.
    pub zone: crate::zone::Zone,
    /// The folder the directory's email is written to.
    pub outbox: std::path::PathBuf,
    stop: Option<oneshot::Sender<()>>,
    _dir: Arc<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One in-process server per engine the machine offers.
pub async fn servers() -> Vec<Server> {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut out = Vec::new();
    for (engine, url) in gatehouse_testkit::postgres::engines(dir.path()).await {
        out.push(Server::start(engine, &url, dir.clone()).await);
    }
    out
}

pub async fn sqlite_server() -> Server {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
    Server::start("sqlite", &url, dir).await
}

impl Server {
    pub async fn start(engine: &'static str, url: &str, dir: Arc<tempfile::TempDir>) -> Server {
        Server::start_with(engine, url, dir, gatehouse::Limits::default()).await
    }

    /// A SQLite server with the given connection limits.
    pub async fn limited(limits: gatehouse::Limits) -> Server {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
        Server::start_with("sqlite", &url, dir, limits).await
    }

    pub async fn start_with(
        engine: &'static str,
        url: &str,
        dir: Arc<tempfile::TempDir>,
        limits: gatehouse::Limits,
    ) -> Server {
        Server::start_mailing(engine, url, dir, limits, None, cheap_hashing()).await
    }

    /// A SQLite server that hashes passwords with `params` on `threads` hashing threads.
    pub async fn hashing(params: HashParams, threads: usize) -> Server {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
        let config = DirectoryConfig { hash_params: params, hash_concurrency: threads, ..DirectoryConfig::default() };
        Server::start_mailing("sqlite", &url, dir, gatehouse::Limits::default(), None, config).await
    }

    /// A SQLite server whose mail goes to the SMTP relay of `smtp_url`.
    pub async fn smtp(smtp_url: &str) -> Server {
        Server::smtp_trusting(smtp_url, None).await
    }

    /// A server whose mail goes to the SMTP relay of `smtp_url`, its certificate issued by the authority of the
    /// PEM file `ca`.
    pub async fn smtp_trusting(smtp_url: &str, ca: Option<&std::path::Path>) -> Server {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
        let from = "Contoso <no-reply@contoso.gatehouse.test>";
        let mailer = gatehouse::smtp::SmtpMailer::new(smtp_url, from, std::time::Duration::from_secs(30), ca).unwrap();
        let mailer: Arc<dyn gatehouse_core::kernel::mail::Mailer> = Arc::new(mailer);
        Server::start_mailing("sqlite", &url, dir, gatehouse::Limits::default(), Some(mailer), cheap_hashing()).await
    }

    /// A server whose mail goes through `mailer`, or to a folder of its own (`outbox`).
    async fn start_mailing(
        engine: &'static str,
        url: &str,
        dir: Arc<tempfile::TempDir>,
        limits: gatehouse::Limits,
        mailer: Option<Arc<dyn gatehouse_core::kernel::mail::Mailer>>,
        config: DirectoryConfig,
    ) -> Server {
        let store = Arc::new(SqlStore::connect(url).await.unwrap());
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()));
        let master = MasterKey::generate(&gatehouse_core::kernel::random::SystemRandom);
        let zone = crate::zone::Zone::start().await;
        let dns = gatehouse::dns::resolver(Some(zone.address)).unwrap();
        let outbox = dir.path().join(format!("outbox-{}", uuid::Uuid::new_v4().simple()));
        let mailer = mailer.unwrap_or_else(|| Arc::new(gatehouse::outbox::FileOutbox::new(outbox.clone())));
        let directory = Directory::new(store.clone(), clock.clone(), master.clone(), config).with_dns(dns);
        let client = gatehouse::scim_client::HttpScimClient::new(std::time::Duration::from_secs(5)).unwrap();
        let directory = Arc::new(directory.with_mailer(mailer).with_scim_client(Arc::new(client)));
        let tenant = directory
            .tenants()
            .create(NewTenant { domain: Some("contoso.gatehouse.test".into()), ..NewTenant::default() })
            .await
            .unwrap();
        gatehouse::spawn_processors(directory.clone(), uuid::Uuid::new_v4().to_string());
        gatehouse::deliver_mail(directory.clone());
        gatehouse::provision(directory.clone(), uuid::Uuid::new_v4().to_string());
        let metrics = Arc::new(gatehouse::metrics::Metrics::of(directory.clone()));
        let addressing = Addressing { public_url: None, https: false };
        let router = app::router(directory.clone(), addressing, metrics, app::MetricsExposure::Here);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(gatehouse::serve(listener, None, router, limits, async move {
            let _ = stopped.await;
        }));
        Server {
            base,
            store,
            directory,
            clock,
            master,
            tenant,
            http: reqwest::Client::new(),
            engine,
            zone,
            outbox,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// The messages written to `address` so far, oldest first, once the outbox has delivered what it holds.
    pub async fn mail_to(&self, address: &str) -> Vec<String> {
        let tenant = self.tenant.tenant_id;
        for _ in 0..400 {
            let pending = self.store.mail(tenant, Some(gatehouse_core::store::MailState::Pending), 1).await.unwrap();
            if pending.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let Ok(entries) = std::fs::read_dir(&self.outbox) else { return Vec::new() };
        let mut names: Vec<_> =
            entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "eml")).collect();
        names.sort();
        let to = format!("\r\nTo: {address}\r\n");
        names.into_iter().map(|p| std::fs::read_to_string(p).unwrap()).filter(|m| m.contains(&to)).collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Requests a client-credentials token; returns the status and the JSON body.
    pub async fn token_response(&self, tenant: &str, client_id: &str, secret: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(&format!("/{tenant}/oauth2/v2.0/token")))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    pub async fn token(&self, tenant: &str, client_id: &str, secret: &str) -> String {
        let (status, body) = self.token_response(tenant, client_id, secret).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn admin_token(&self) -> String {
        let t = &self.tenant;
        self.token(&t.tenant_id.to_string(), &t.client_id.to_string(), &t.client_secret).await
    }

    /// Sends a Graph request with a token; returns status and body (JSON, or a string for non-JSON).
    pub async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// GET with the advanced-query header (`ConsistencyLevel: eventual`); returns status and body.
    pub async fn advanced(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .header("ConsistencyLevel", "eventual")
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// The object id of the tenant's Microsoft Graph service principal, as a client finds it.
    pub async fn graph_principal(&self, token: &str) -> String {
        let (_, principals) = self.call(token, Method::GET, "/v1.0/servicePrincipals", None).await;
        let graph = principals["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["appId"] == "00000003-0000-0000-c000-000000000000");
        graph.unwrap()["id"].as_str().unwrap().to_owned()
    }

    /// A token signed with the tenant's real key over arbitrary claims, for adversarial tests.
    pub async fn forge(&self, tenant: uuid::Uuid, claims: &Value) -> String {
        let keys = self.store.signing_keys(tenant).await.unwrap();
        let der = self.master.open(&keys[0].sealed_private_key).unwrap();
        SigningKey::from_pkcs8(&der).unwrap().sign(claims).unwrap()
    }

    /// Everything a failed request must not have changed: the change log's length and the user list.
    pub async fn snapshot(&self) -> (usize, Value) {
        let changes = self.store.changes(self.tenant.tenant_id, 0, 1_000_000).await.unwrap().len();
        let token = self.admin_token().await;
        let (_, users) = self.call(&token, Method::GET, "/v1.0/users?$top=999&$select=*", None).await;
        (changes, users["value"].clone())
    }
}

/// The claims of a JWT, decoded without checking.
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub use gatehouse_testkit::fixtures::new_user;

impl Server {
    /// A new app holding exactly the named Graph permissions: its token and its service principal's id.
    pub async fn app_with(&self, admin: &str, permissions: &[&str]) -> (String, String) {
        let (_, app) =
            self.call(admin, Method::POST, "/v1.0/applications", Some(json!({"displayName": "scoped app"}))).await;
        let (app_id, object) = (app["appId"].as_str().unwrap().to_owned(), app["id"].as_str().unwrap().to_owned());
        let (_, sp) = self.call(admin, Method::POST, "/v1.0/servicePrincipals", Some(json!({"appId": app_id}))).await;
        let sp_id = sp["id"].as_str().unwrap().to_owned();
        let path = format!("/v1.0/applications/{object}/addPassword");
        let (_, secret) = self.call(admin, Method::POST, &path, Some(json!({"passwordCredential": {}}))).await;
        let graph = self.graph_principal(admin).await;
        for name in permissions {
            let role = Permission::from_name(name).unwrap().app_role_id();
            let grant = json!({"principalId": sp_id, "resourceId": graph, "appRoleId": role});
            let path = format!("/v1.0/servicePrincipals/{sp_id}/appRoleAssignments");
            let (status, body) = self.call(admin, Method::POST, &path, Some(grant)).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let token =
            self.token(&self.tenant.tenant_id.to_string(), &app_id, secret["secretText"].as_str().unwrap()).await;
        (token, sp_id)
    }
}

/// An SMTP server on loopback that keeps what it receives in a maildir.
pub struct Relay {
    _child: tokio::process::Child,
}

impl Relay {
    pub async fn start(port: u16, maildir: &std::path::Path) -> Relay {
        let python = gatehouse_testkit::python::interop_python(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")));
        let child = tokio::process::Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Relay { _child: child };
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the SMTP server did not start");
    }

    /// A relay that speaks TLS (`mode` `starttls`, or `tls` from the first byte) with the certificate and key
    /// given, and wants the login `mailer` with `password`.
    pub async fn secure(
        port: u16,
        maildir: &std::path::Path,
        mode: &str,
        (cert, key): (&std::path::Path, &std::path::Path),
        password: &str,
    ) -> Relay {
        let python = gatehouse_testkit::python::interop_python(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/smtp_relay.py");
        let mut child = tokio::process::Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(maildir)
            .arg(mode)
            .args([cert, key])
            .args(["mailer", password])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
        let ready = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line()).await;
        assert!(matches!(ready, Ok(Ok(Some(ref line))) if line == "ready"), "the SMTP server did not start: {ready:?}");
        Relay { _child: child }
    }
}

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
