//! The real binary: first start, crash durability, graceful shutdown, two nodes on one database, HTTPS.

use gatehouse_testkit::postgres;
use gatehouse_testkit::process::{Launch, ServerProcess};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub const BINARY: &str = env!("CARGO_BIN_EXE_gatehouse");

pub fn launch<'a>(data_dir: &'a Path, url: &'a str, master_key: Option<&'a str>) -> Launch<'a> {
    Launch { binary: Path::new(BINARY), data_dir, database_url: url, master_key, tls: None, env: HashMap::new() }
}

/// A client that trusts the development CA, when one is given.
pub fn client(ca: Option<&Path>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).unwrap();
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
    }
    builder.build().unwrap()
}

pub async fn token(http: &reqwest::Client, base: &str, bootstrap: &Value) -> String {
    let response = http
        .post(format!("{base}/{}/oauth2/v2.0/token", bootstrap["tenantId"].as_str().unwrap()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", bootstrap["clientId"].as_str().unwrap()),
            ("client_secret", bootstrap["clientSecret"].as_str().unwrap()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

/// A GET with a bearer token, its body as JSON.
pub async fn get_json(http: &reqwest::Client, url: impl reqwest::IntoUrl, token: &str) -> Value {
    http.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

/// The binary started on a data directory and database: the process, its bootstrap output, the tenant's
/// domain, a client and the admin app's token.
async fn started(data: &Path, url: &str) -> (ServerProcess, Value, String, reqwest::Client, String) {
    let server = ServerProcess::start(launch(data, url, None));
    let bootstrap = server.bootstrap.clone().unwrap();
    let domain = bootstrap["tenantDomain"].as_str().unwrap().to_owned();
    let http = client(None);
    let token = token(&http, &server.base_url, &bootstrap).await;
    (server, bootstrap, domain, http, token)
}

fn user(alias: &str, domain: &str) -> Value {
    json!({
        "accountEnabled": true, "displayName": alias, "mailNickname": alias,
        "userPrincipalName": format!("{alias}@{domain}"),
        "passwordProfile": {"password": "Durab1e!pass"},
    })
}

async fn create(http: &reqwest::Client, base: &str, token: &str, alias: &str, domain: &str) -> Result<String, String> {
    let response = http
        .post(format!("{base}/v1.0/users"))
        .bearer_auth(token)
        .json(&user(alias, domain))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != StatusCode::CREATED {
        return Err(format!("status {}", response.status()));
    }
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    Ok(body["id"].as_str().unwrap_or_default().to_owned())
}

async fn exists(http: &reqwest::Client, base: &str, token: &str, id: &str) -> bool {
    let response = http.get(format!("{base}/v1.0/users/{id}")).bearer_auth(token).send().await.unwrap();
    response.status() == StatusCode::OK
}

#[tokio::test]
async fn acknowledged_creates_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, url) in postgres::engines(dir.path()).await {
        let data = dir.path().join(engine);
        let (mut server, bootstrap, domain, http, token) = started(&data, &url).await;
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let enough = Arc::new(tokio::sync::Notify::new());
        let mut writers = Vec::new();
        for writer in 0..6 {
            let (http, base, token, domain) = (http.clone(), server.base_url.clone(), token.clone(), domain.clone());
            let (acknowledged, count, enough) = (acknowledged.clone(), count.clone(), enough.clone());
            writers.push(tokio::spawn(async move {
                for i in 0..10_000 {
                    match create(&http, &base, &token, &format!("w{writer}n{i}"), &domain).await {
                        Ok(id) => {
                            acknowledged.lock().unwrap().push(id);
                            if count.fetch_add(1, Ordering::SeqCst) + 1 == 60 {
                                enough.notify_one();
                            }
                        }
                        Err(_) => return,
                    }
                }
            }));
        }
        enough.notified().await;
        server.kill_hard();
        for writer in writers {
            writer.await.unwrap();
        }
        let acknowledged = acknowledged.lock().unwrap().clone();
        assert!(acknowledged.len() >= 60, "{engine}");

        let restarted = ServerProcess::start(launch(&data, &url, None));
        assert!(restarted.bootstrap.is_none(), "{engine}: a restart does not bootstrap again");
        let token = crate::processes::token(&http, &restarted.base_url, &bootstrap).await;
        for id in &acknowledged {
            assert!(exists(&http, &restarted.base_url, &token, id).await, "{engine}: acknowledged user {id} was lost");
        }
        eprintln!("{engine}: {} acknowledged creates all survived kill -9", acknowledged.len());
    }
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
    let mut slow = launch(dir.path(), &url, None);
    // Expensive hashing keeps the creates in flight long enough to stop the server under them.
    slow.env.insert("GATEHOUSE_PASSWORD_HASH_MEMORY_KIB".into(), "65536".into());
    slow.env.insert("GATEHOUSE_PASSWORD_HASH_ITERATIONS".into(), "4".into());
    let mut server = ServerProcess::start(slow);
    let bootstrap = server.bootstrap.clone().unwrap();
    let domain = bootstrap["tenantDomain"].as_str().unwrap().to_owned();
    let http = client(None);
    let token = token(&http, &server.base_url, &bootstrap).await;
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (http, base, token, domain) = (http.clone(), server.base_url.clone(), token.clone(), domain.clone());
        requests.spawn(async move { create(&http, &base, &token, &format!("inflight{i}"), &domain).await });
    }
    let first = requests.join_next().await.unwrap().unwrap();
    let code = server.terminate();
    let mut ids = vec![first.expect("the first create succeeds")];
    while let Some(result) = requests.join_next().await {
        ids.push(result.unwrap().expect("an in-flight create finished despite the shutdown"));
    }
    assert_eq!(code, Some(0), "a clean exit");
    let restarted = ServerProcess::start(launch(dir.path(), &url, None));
    let token = crate::processes::token(&http, &restarted.base_url, &bootstrap).await;
    for id in ids {
        assert!(exists(&http, &restarted.base_url, &token, &id).await);
    }
}

#[tokio::test]
async fn two_nodes_on_one_postgres_database_agree() {
    let Some(cluster) = postgres::cluster() else {
        return;
    };
    let url = cluster.create_database().await;
    let dir = tempfile::tempdir().unwrap();
    let key = gatehouse_core::credentials::secrets::MasterKey::generate(&gatehouse_core::kernel::random::SystemRandom)
        .encode();
    // Nodes behind one load balancer share its public URL, so each accepts the tokens the others issue.
    let node = |name: &str| {
        let data = dir.path().join(name);
        let mut launched = launch(&data, &url, Some(&key));
        launched.env.insert("GATEHOUSE_PUBLIC_URL".into(), "https://gatehouse.cluster.test".into());
        ServerProcess::start(launched)
    };
    let one = node("one");
    let bootstrap = one.bootstrap.clone().unwrap();
    let two = node("two");
    assert!(two.bootstrap.is_none(), "the second node joins the first one's tenant");
    let domain = bootstrap["tenantDomain"].as_str().unwrap().to_owned();
    let http = client(None);
    let token_one = token(&http, &one.base_url, &bootstrap).await;
    let token_two = token(&http, &two.base_url, &bootstrap).await;

    let via_one = create(&http, &one.base_url, &token_one, "made-on-one", &domain).await.unwrap();
    let via_two = create(&http, &two.base_url, &token_two, "made-on-two", &domain).await.unwrap();
    assert!(
        exists(&http, &two.base_url, &token_one, &via_one).await,
        "node two reads node one's user, with node one's token"
    );
    assert!(exists(&http, &one.base_url, &token_two, &via_two).await, "and the other way round");
    let clash = create(&http, &two.base_url, &token_two, "made-on-one", &domain).await;
    assert_eq!(clash, Err("status 400 Bad Request".to_owned()), "uniqueness holds across nodes");

    let response = http
        .patch(format!("{}/v1.0/users/{via_one}", two.base_url))
        .bearer_auth(&token_two)
        .json(&json!({"jobTitle": "Shared"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let read: Value =
        get_json(&http, format!("{}/v1.0/users/{via_one}?$select=jobTitle", one.base_url), &token_one).await;
    assert_eq!(read["jobTitle"], "Shared");

    let stranger =
        gatehouse_core::credentials::secrets::MasterKey::generate(&gatehouse_core::kernel::random::SystemRandom)
            .encode();
    let refused = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url, "--data-dir"])
        .arg(dir.path().join("three"))
        .env("GATEHOUSE_MASTER_KEY", stranger)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!refused.status.success(), "a node with another master key refuses to start");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("master key"));
}

/// Makes the development certificates with the real command.
pub fn dev_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let out = dir.join("tls");
    let status = Command::new(BINARY).args(["dev-cert", "--out"]).arg(&out).stdout(Stdio::null()).status().unwrap();
    assert!(status.success());
    (out.join("ca.pem"), out.join("cert.pem"), out.join("key.pem"))
}

#[tokio::test]
async fn https_with_the_development_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = dev_certificates(dir.path());
    let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
    let mut secure = launch(dir.path(), &url, None);
    secure.tls = Some((cert, key));
    let presets = [
        ("TENANT_ID", "7d3e2f4a-1b2c-4d5e-8f90-a1b2c3d4e5f6"),
        ("TENANT_DOMAIN", "contoso.gatehouse.test"),
        ("ADMIN_USER_PRINCIPAL_NAME", "root@contoso.gatehouse.test"),
        ("ADMIN_PASSWORD", "Preset-Kestr3l!"),
        ("CLIENT_ID", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"),
        ("CLIENT_SECRET", "preset-client-secret-0123456789-abcdef"),
    ];
    for (name, value) in presets {
        secure.env.insert(format!("GATEHOUSE_BOOTSTRAP_{name}"), value.into());
    }
    let server = ServerProcess::start(secure);
    assert!(server.base_url.starts_with("https://localhost:"));
    let bootstrap = server.bootstrap.clone().unwrap();
    let keys = ["tenantId", "tenantDomain", "adminUserPrincipalName", "adminPassword", "clientId", "clientSecret"];
    for ((_, preset), key) in presets.iter().zip(keys) {
        assert_eq!(bootstrap[key], *preset, "the bootstrap takes the preset {key}");
    }
    let http = client(Some(&ca));
    let token = token(&http, &server.base_url, &bootstrap).await;
    let issuer = crate::support::claims(&token)["iss"].as_str().unwrap().to_owned();
    assert!(issuer.starts_with(&server.base_url), "{issuer}");
    let users: Value = get_json(&http, format!("{}/v1.0/users", server.base_url), &token).await;
    assert!(users["@odata.context"].as_str().unwrap().starts_with("https://localhost:"));
    assert!(
        client(None).get(format!("{}/healthz", server.base_url)).send().await.is_err(),
        "an untrusted certificate is refused"
    );
}

#[tokio::test]
async fn first_start_prints_a_working_example_and_tenant_create_adds_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .envs(gatehouse_testkit::process::TEST_HASH_ENV)
        .env_remove("GATEHOUSE_MASTER_KEY")
        .env_remove("GATEHOUSE_DATA_DIR")
        .env_remove("GATEHOUSE_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let done = line.contains("/v1.0/users");
        printed.push(line);
        if done {
            break;
        }
    }
    let text = printed.join("\n");
    assert!(text.contains("client secret"), "{text}");
    assert!(dir.path().join("gatehouse-data").join("gatehouse.db").exists(), "the default data directory");
    let example = text.split("Get a token and list the users:").nth(1).unwrap();
    let output = tokio::process::Command::new("bash").arg("-c").arg(example).output().await.unwrap();
    let listed: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{example}\n{}", String::from_utf8_lossy(&output.stdout)));
    assert!(listed["value"][0]["userPrincipalName"].as_str().unwrap().starts_with("admin@"), "{listed}");

    let created = Command::new(BINARY)
        .args(["tenant", "create", "--domain", "fabrikam.gatehouse.test", "--name", "Fabrikam"])
        .current_dir(dir.path())
        .envs(gatehouse_testkit::process::TEST_HASH_ENV)
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let fabrikam: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(fabrikam["tenantDomain"], "fabrikam.gatehouse.test");
    let url = example.split_whitespace().find(|w| w.starts_with("http://")).unwrap();
    let base = url.split('/').take(3).collect::<Vec<_>>().join("/");
    let http = client(None);
    let token = token(&http, &base, &fabrikam).await;
    let users: Value = get_json(&http, format!("{base}/v1.0/users"), &token).await;
    assert_eq!(users["value"][0]["userPrincipalName"], "admin@fabrikam.gatehouse.test");

    // Subscriptions come from the command line too, and Graph sees them at once.
    let cli = |args: &[&str]| {
        let output = Command::new(BINARY).args(args).current_dir(dir.path()).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(cli(&["subscription", "catalog"]).contains("SPE_E3\t05e9a617-0261-4cee-bb44-138d3ef5d965"));
    cli(&["subscription", "add", "--tenant", "fabrikam.gatehouse.test", "--sku", "SPE_E3", "--units", "25"]);
    cli(&["subscription", "set", "--tenant", "fabrikam.gatehouse.test", "--sku", "SPE_E3", "--units", "30"]);
    let listed = cli(&["subscription", "list", "--tenant", "fabrikam.gatehouse.test"]);
    assert!(listed.starts_with("SPE_E3\t05e9a617-0261-4cee-bb44-138d3ef5d965\t0/30\tEnabled"), "{listed}");
    let skus: Value = get_json(&http, format!("{base}/v1.0/subscribedSkus"), &token).await;
    assert_eq!(skus["value"][0]["prepaidUnits"]["enabled"], 30, "{skus}");
    cli(&["subscription", "retire", "--tenant", "fabrikam.gatehouse.test", "--sku", "SPE_E3"]);
    assert!(cli(&["subscription", "list", "--tenant", "fabrikam.gatehouse.test"]).is_empty());
    let _ = child.kill().await;
}

/// Every id in a Graph collection, following next links.
async fn collect_ids(http: &reqwest::Client, first: String, token: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut next = Some(first);
    while let Some(url) = next {
        let page = get_json(http, url, token).await;
        ids.extend(page["value"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()));
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    ids
}

#[tokio::test]
async fn dynamic_membership_converges_after_kill_9_during_processing() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, url) in postgres::engines(dir.path()).await {
        let data = dir.path().join(format!("dynamic-{engine}"));
        let (mut server, bootstrap, domain, http, token) = started(&data, &url).await;
        let mut creating = tokio::task::JoinSet::new();
        for worker in 0..8 {
            let (http, base, token, domain) = (http.clone(), server.base_url.clone(), token.clone(), domain.clone());
            creating.spawn(async move {
                let mut ids = Vec::new();
                for i in (worker..2200).step_by(8) {
                    let mut body = user(&format!("ops{i}"), &domain);
                    body["department"] = json!(if i % 13 == 0 { "Sales" } else { "Ops" });
                    let response =
                        http.post(format!("{base}/v1.0/users")).bearer_auth(&token).json(&body).send().await.unwrap();
                    assert_eq!(response.status(), StatusCode::CREATED);
                    let created: Value = response.json().await.unwrap();
                    if i % 13 != 0 {
                        ids.push(created["id"].as_str().unwrap().to_owned());
                    }
                }
                ids
            });
        }
        let mut expected = Vec::new();
        while let Some(ids) = creating.join_next().await {
            expected.extend(ids.unwrap());
        }
        let group = json!({
            "displayName": "Ops", "mailNickname": "ops", "mailEnabled": false, "securityEnabled": true,
            "groupTypes": ["DynamicMembership"], "membershipRule": "user.department -eq \"Ops\"",
        });
        let response = http
            .post(format!("{}/v1.0/groups", server.base_url))
            .bearer_auth(&token)
            .json(&group)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let group = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        // Kill the server as soon as the bulk evaluation has committed its first batch.
        let first_page = format!("{}/v1.0/groups/{group}/members?$top=1", server.base_url);
        let mut seen = 0;
        for _ in 0..2000 {
            seen = get_json(&http, &first_page, &token).await["value"].as_array().map_or(0, Vec::len);
            if seen > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        server.kill_hard();
        let restarted = ServerProcess::start(launch(&data, &url, None));
        let token = crate::processes::token(&http, &restarted.base_url, &bootstrap).await;
        let members = members_when(&http, &restarted.base_url, &token, &group, expected.len(), 300).await;
        let unique: std::collections::BTreeSet<&String> = members.iter().collect();
        assert_eq!(unique.len(), members.len(), "{engine}: no member twice");
        let expected: std::collections::BTreeSet<&String> = expected.iter().collect();
        assert_eq!(unique, expected, "{engine}: the rule's users, no more and no fewer");
        eprintln!("{engine}: killed after {seen} visible member(s); {} members after restart", members.len());
    }
}

/// The ids of a group's members, polled until `expected` of them show or `tries` tenths of a second pass.
async fn members_when(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    group: &str,
    expected: usize,
    tries: u32,
) -> Vec<String> {
    let all = format!("{base}/v1.0/groups/{group}/members?$top=999&$select=id");
    let mut members = Vec::new();
    for _ in 0..tries {
        members = collect_ids(http, all.clone(), token).await;
        if members.len() >= expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    members
}

#[tokio::test]
async fn restarted_nodes_take_the_processors_back_at_once() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, url) in postgres::engines(dir.path()).await {
        let data = dir.path().join(format!("handover-{engine}"));
        let (mut first, bootstrap, domain, http, token) = started(&data, &url).await;
        let group = json!({
            "displayName": "Sales", "mailNickname": "sales", "mailEnabled": false, "securityEnabled": true,
            "groupTypes": ["DynamicMembership"], "membershipRule": "user.department -eq \"Sales\"",
        });
        let response =
            http.post(format!("{}/v1.0/groups", first.base_url)).bearer_auth(&token).json(&group).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let group = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let sales = |alias: &str| {
            let mut body = user(alias, &domain);
            body["department"] = json!("Sales");
            body
        };
        let response =
            http.post(format!("{}/v1.0/users", first.base_url)).bearer_auth(&token).json(&sales("ann")).send().await;
        assert_eq!(response.unwrap().status(), StatusCode::CREATED);
        let seen = members_when(&http, &first.base_url, &token, &group, 1, 100).await;
        assert_eq!(
            seen.len(),
            1,
            "{engine}: the first node processed the change (and so holds the processors' leases)"
        );
        assert_eq!(first.terminate(), Some(0), "{engine}: a clean exit");
        let second = ServerProcess::start(launch(&data, &url, None));
        let token = crate::processes::token(&http, &second.base_url, &bootstrap).await;
        let response =
            http.post(format!("{}/v1.0/users", second.base_url)).bearer_auth(&token).json(&sales("bob")).send().await;
        assert_eq!(response.unwrap().status(), StatusCode::CREATED);
        // The leases last 30 s and are renewed when half has run: had the first node kept them, the second
        // could not process for at least 15 s.
        let seen = members_when(&http, &second.base_url, &token, &group, 2, 100).await;
        assert_eq!(seen.len(), 2, "{engine}: the restarted node processes at once");

        // Killed outright, the node cannot release its leases; restarted on its data directory it is the same
        // node, and takes them back at once.
        let mut second = second;
        second.kill_hard();
        let third = ServerProcess::start(launch(&data, &url, None));
        let token = crate::processes::token(&http, &third.base_url, &bootstrap).await;
        let response =
            http.post(format!("{}/v1.0/users", third.base_url)).bearer_auth(&token).json(&sales("cyd")).send().await;
        assert_eq!(response.unwrap().status(), StatusCode::CREATED);
        let seen = members_when(&http, &third.base_url, &token, &group, 3, 100).await;
        assert_eq!(seen.len(), 3, "{engine}: a node restarted after kill -9 processes at once");
    }
}

/// The value of `name=` in a log line written for people.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|word| word.strip_prefix(&format!("{name}=")))
}

#[tokio::test]
async fn a_private_first_start_with_logs_for_people_and_metrics_apart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = dir.path().join("boot.json");
    // A permissive umask: the files must be private all the same.
    let script = format!(
        "umask 000; exec {BINARY} serve --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --log-format pretty --data-dir {} --bootstrap-output {}",
        data.display(),
        output.display()
    );
    let mut child = tokio::process::Command::new("bash")
        .args(["-c", &script])
        .envs(gatehouse_testkit::process::TEST_HASH_ENV)
        .env_remove("GATEHOUSE_MASTER_KEY")
        .env_remove("GATEHOUSE_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut logs = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut api, mut metrics) = (None, None);
    while api.is_none() {
        let line = logs.next_line().await.unwrap().expect("the server logs until it listens");
        assert!(!line.starts_with('{'), "logs for people, not JSON: {line}");
        if line.contains("serving metrics") {
            metrics = field(&line, "address").map(str::to_owned);
        } else if line.contains("listening") {
            api = field(&line, "address").map(str::to_owned);
        }
    }
    let (api, metrics) = (api.unwrap(), metrics.expect("the metrics listener is logged first"));
    let bootstrap: Value = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    let http = client(None);
    let base = format!("http://{api}");
    let token = token(&http, &base, &bootstrap).await;
    let _ = get_json(&http, format!("{base}/v1.0/users"), &token).await;
    let exposed = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(exposed.status(), StatusCode::NOT_FOUND, "the API listener does not serve metrics");
    let text = http.get(format!("http://{metrics}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"route="/v1.0/users",status="200"} 1"#), "{text}");

    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data directory");
    for file in ["gatehouse.db", "gatehouse.db-wal", "gatehouse.db-shm", "master.key"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    assert_eq!(mode(&output), 0o600, "the bootstrap file");

    let _ = child.start_kill();
    let mut printed = String::new();
    use tokio::io::AsyncReadExt;
    child.stdout.take().unwrap().read_to_string(&mut printed).await.unwrap();
    assert!(printed.contains(&output.display().to_string()), "stdout names the file: {printed}");
    for secret in ["clientSecret", "adminPassword"] {
        let value = bootstrap[secret].as_str().unwrap();
        assert!(!printed.contains(value), "{secret} stays off stdout when written to a file");
    }
}

#[tokio::test]
async fn nodes_starting_together_on_an_empty_database_make_one_tenant() {
    let Some(cluster) = postgres::cluster() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = gatehouse_core::credentials::secrets::MasterKey::generate(&gatehouse_core::kernel::random::SystemRandom)
        .encode();
    for attempt in 0..5 {
        let url = cluster.create_database().await;
        let (one, two) = std::thread::scope(|scope| {
            let start = |name: String| {
                let (data, url, key) = (dir.path().join(name), url.clone(), key.clone());
                scope.spawn(move || ServerProcess::start(launch(&data, &url, Some(&key))))
            };
            let (one, two) = (start(format!("one-{attempt}")), start(format!("two-{attempt}")));
            (one.join().unwrap(), two.join().unwrap())
        });
        let made: Vec<&Value> = [&one, &two].iter().filter_map(|node| node.bootstrap.as_ref()).collect();
        assert_eq!(made.len(), 1, "attempt {attempt}: exactly one node makes the first tenant");
        let http = client(None);
        for node in [&one, &two] {
            let token = token(&http, &node.base_url, made[0]).await;
            let tenants: Value = get_json(&http, format!("{}/v1.0/users", node.base_url), &token).await;
            assert_eq!(tenants["value"].as_array().unwrap().len(), 1, "attempt {attempt}: one administrator");
        }
    }

    // With different master keys, whichever node makes the tenant runs, and the other refuses to start.
    for attempt in 0..3 {
        let url = cluster.create_database().await;
        let node = |n: usize| {
            tokio::process::Command::new(BINARY)
                .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url, "--data-dir"])
                .arg(dir.path().join(format!("keys-{attempt}-{n}")))
                .envs(gatehouse_testkit::process::TEST_HASH_ENV)
                .env(
                    "GATEHOUSE_MASTER_KEY",
                    gatehouse_core::credentials::secrets::MasterKey::generate(
                        &gatehouse_core::kernel::random::SystemRandom,
                    )
                    .encode(),
                )
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .unwrap()
        };
        let mut children = [node(0), node(1)];
        let [first, second] = &mut children;
        let (loser, status) = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            tokio::select! {
                status = first.wait() => (0, status.unwrap()),
                status = second.wait() => (1, status.unwrap()),
            }
        })
        .await
        .expect("one node refuses to start");
        assert!(!status.success(), "attempt {attempt}");
        let mut stderr = String::new();
        use tokio::io::AsyncReadExt;
        children[loser].stderr.take().unwrap().read_to_string(&mut stderr).await.unwrap();
        assert!(stderr.contains("master key"), "attempt {attempt}: {stderr}");
        let winner = &mut children[1 - loser];
        assert!(winner.try_wait().unwrap().is_none(), "attempt {attempt}: the other node runs");
    }
}

#[tokio::test]
async fn the_operator_recovers_a_tenant_whose_administration_app_was_deleted() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, url) in postgres::engines(dir.path()).await {
        let data = dir.path().join(format!("recover-{engine}"));
        let (server, bootstrap, domain, http, token) = started(&data, &url).await;
        let base = &server.base_url;
        let client = bootstrap["clientId"].as_str().unwrap();
        let apps = get_json(&http, format!("{base}/v1.0/applications?$filter=appId eq '{client}'"), &token).await;
        let app = apps["value"][0]["id"].as_str().unwrap().to_owned();
        let deleted = http.delete(format!("{base}/v1.0/applications/{app}")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT, "{engine}");
        let refused = http.get(format!("{base}/v1.0/users")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{engine}: the tenant has lost its administration app");

        let output = Command::new(BINARY)
            .args(["tenant", "recover", "--tenant", &domain, "--database-url", &url, "--data-dir"])
            .arg(&data)
            .envs(gatehouse_testkit::process::TEST_HASH_ENV)
            .env_remove("GATEHOUSE_MASTER_KEY")
            .output()
            .unwrap();
        assert!(output.status.success(), "{engine}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("recovery credentials"),
            "{engine}: the recovery is logged"
        );
        let recovered: Value = serde_json::from_slice(&output.stdout).unwrap();
        let mut credentials = bootstrap.clone();
        credentials["clientId"] = recovered["clientId"].clone();
        credentials["clientSecret"] = recovered["clientSecret"].clone();
        let token = crate::processes::token(&http, base, &credentials).await;
        let restored = http
            .post(format!("{base}/v1.0/directory/deletedItems/{app}/restore"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(restored.status(), StatusCode::OK, "{engine}: the recovered administrator restores the app");
        let original = crate::processes::token(&http, base, &bootstrap).await;
        let users = get_json(&http, format!("{base}/v1.0/users"), &original).await;
        assert!(users["value"].as_array().is_some_and(|u| !u.is_empty()), "{engine}: {users}");
    }
}
