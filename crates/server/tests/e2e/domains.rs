//! `/domains`: added unverified, verified by a real DNS lookup of their TXT or MX record, made default and
//! removed only when unused, on every engine; user principal names take verified domains only; the operator's
//! verification without DNS from the command line.

use crate::processes::{client, launch, token, BINARY};
use crate::support::{new_user, servers, Server};
use crate::zone::Zone;
use gatehouse_core::tenants::NewTenant;
use gatehouse_testkit::process::ServerProcess;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::process::Command;

fn user_on(alias: &str, domain: &str) -> Value {
    let mut user = new_user(alias);
    user["userPrincipalName"] = json!(format!("{alias}@{domain}"));
    user
}

async fn add(server: &Server, token: &str, name: &str) -> Value {
    let (status, added) = server.call(token, Method::POST, "/v1.0/domains", Some(json!({"id": name}))).await;
    assert_eq!(status, StatusCode::CREATED, "{}: {added}", server.engine);
    added
}

/// The TXT text that verifies a domain, from its verification records.
async fn code(server: &Server, token: &str, name: &str) -> String {
    let path = format!("/v1.0/domains/{name}/verificationDnsRecords");
    let (status, records) = server.call(token, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{}: {records}", server.engine);
    records["value"][0]["text"].as_str().unwrap().to_owned()
}

async fn verify(server: &Server, token: &str, name: &str) -> (StatusCode, Value) {
    server.call(token, Method::POST, &format!("/v1.0/domains/{name}/verify"), None).await
}

async fn delete(server: &Server, token: &str, name: &str) -> (StatusCode, Value) {
    server.call(token, Method::DELETE, &format!("/v1.0/domains/{name}"), None).await
}

#[tokio::test]
async fn domains_are_verified_by_dns_and_removed_when_unused() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;

        let (status, listed) = server.call(&admin, Method::GET, "/v1.0/domains", None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {listed}");
        assert!(listed["@odata.context"].as_str().unwrap().ends_with("/v1.0/$metadata#domains"));
        let initial = &listed["value"][0];
        assert_eq!(listed["value"].as_array().unwrap().len(), 1, "{engine}: {listed}");
        for (property, value) in [
            ("id", json!("contoso.gatehouse.test")),
            ("authenticationType", json!("Managed")),
            ("isDefault", json!(true)),
            ("isInitial", json!(true)),
            ("isVerified", json!(true)),
            ("isRoot", json!(true)),
            ("isAdminManaged", json!(true)),
            ("supportedServices", json!(["Email", "OfficeCommunicationsOnline"])),
        ] {
            assert_eq!(initial[property], value, "{engine}: {property} of {initial}");
        }

        let added = add(&server, &admin, "Fabrikam.com").await;
        assert!(added["@odata.context"].as_str().unwrap().ends_with("#domains/$entity"), "{added}");
        assert_eq!(added["id"], "fabrikam.com", "{engine}: names are lower-cased");
        for property in ["isVerified", "isDefault", "isInitial", "isRoot"] {
            assert_eq!(added[property], false, "{engine}: {property}");
        }
        let path = "/v1.0/domains/fabrikam.com/verificationDnsRecords";
        let (_, records) = server.call(&admin, Method::GET, path, None).await;
        let (txt, mx) = (&records["value"][0], &records["value"][1]);
        assert_eq!(txt["@odata.type"], "#microsoft.graph.domainDnsTxtRecord", "{engine}: {records}");
        assert_eq!((txt["label"].as_str(), txt["recordType"].as_str()), (Some("fabrikam.com"), Some("Txt")));
        assert_eq!((txt["ttl"].as_u64(), txt["isOptional"].as_bool()), (Some(3600), Some(false)));
        let text = txt["text"].as_str().unwrap().to_owned();
        assert!(text.starts_with("MS=ms") && text.len() == 13, "{engine}: {text}");
        assert_eq!(mx["@odata.type"], "#microsoft.graph.domainDnsMxRecord");
        assert_eq!(mx["mailExchange"], format!("{}.msv1.invalid", &text[3..]));
        assert_eq!((mx["recordType"].as_str(), mx["preference"].as_u64()), (Some("Mx"), Some(32767)));
        let (_, again) = server.call(&admin, Method::GET, path, None).await;
        assert_eq!(again, records, "{engine}: the records stay the same");

        // An unverified domain cannot be used, and DNS must show the tenant's own code.
        let (status, body) =
            server.call(&admin, Method::POST, "/v1.0/users", Some(user_on("ada", "fabrikam.com"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {body}");
        let (status, body) = verify(&server, &admin, "fabrikam.com").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().starts_with("Domain verification failed"), "{body}");
        server.zone.txt("fabrikam.com", "MS=ms00000000");
        server.zone.txt("fabrikam.com", "v=spf1 -all");
        assert_eq!(verify(&server, &admin, "fabrikam.com").await.0, StatusCode::BAD_REQUEST, "{engine}");
        server.zone.txt("fabrikam.com", &text);
        let (status, verified) = verify(&server, &admin, "FABRIKAM.com").await;
        assert_eq!(status, StatusCode::OK, "{engine}: {verified}");
        assert_eq!(verified["isVerified"], true);
        assert_eq!(verified["isRoot"], true);
        assert_eq!(verified["availabilityStatus"], "AvailableImmediately");
        let (status, body) = verify(&server, &admin, "fabrikam.com").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: only an unverified domain is verified: {body}");

        // A verified domain is usable at once: in names, in the organization, in identity-platform URLs.
        let (status, ada) =
            server.call(&admin, Method::POST, "/v1.0/users", Some(user_on("ada", "fabrikam.com"))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {ada}");
        let ada = ada["id"].as_str().unwrap().to_owned();
        let (_, organization) = server.call(&admin, Method::GET, "/v1.0/organization", None).await;
        let verified_domains = organization["value"][0]["verifiedDomains"].as_array().unwrap().clone();
        let fabrikam = verified_domains.iter().find(|d| d["name"] == "fabrikam.com").cloned();
        assert_eq!(
            fabrikam,
            Some(
                json!({"capabilities": "None", "isDefault": false, "isInitial": false, "name": "fabrikam.com", "type": "Managed"})
            ),
            "{engine}: {verified_domains:?}"
        );
        let t = &server.tenant;
        let (status, _) = server.token_response("fabrikam.com", &t.client_id.to_string(), &t.client_secret).await;
        assert_eq!(status, StatusCode::OK, "{engine}: the domain names the tenant in URLs");

        // A subdomain of a verified domain is verified when added.
        let sub = add(&server, &admin, "mail.fabrikam.com").await;
        assert_eq!((sub["isVerified"].as_bool(), sub["isRoot"].as_bool()), (Some(true), Some(false)), "{engine}");

        // Removal: never the initial or default domain, nor one in use, deleted users included.
        let before = server.snapshot().await;
        for name in ["contoso.gatehouse.test", "fabrikam.com"] {
            let (status, body) = delete(&server, &admin, name).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {name}: {body}");
            assert_eq!(body["error"]["code"], "Request_BadRequest");
        }
        assert_eq!(server.snapshot().await, before, "{engine}: nothing written");
        assert_eq!(delete(&server, &admin, "mail.fabrikam.com").await.0, StatusCode::NO_CONTENT, "{engine}");
        assert_eq!(
            server.call(&admin, Method::DELETE, &format!("/v1.0/users/{ada}"), None).await.0,
            StatusCode::NO_CONTENT
        );
        let (status, body) = delete(&server, &admin, "fabrikam.com").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: a deleted user still uses it: {body}");
        let purge = format!("/v1.0/directory/deletedItems/{ada}");
        assert_eq!(server.call(&admin, Method::DELETE, &purge, None).await.0, StatusCode::NO_CONTENT);
        assert_eq!(delete(&server, &admin, "fabrikam.com").await.0, StatusCode::NO_CONTENT, "{engine}");
        let (status, _) = server.call(&admin, Method::GET, "/v1.0/domains/fabrikam.com", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{engine}");
        let (status, _) = server.token_response("fabrikam.com", &t.client_id.to_string(), &t.client_secret).await;
        assert_ne!(status, StatusCode::OK, "{engine}: a removed domain names no tenant");
        let (status, _) = server.call(&admin, Method::POST, "/v1.0/users", Some(user_on("bob", "fabrikam.com"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: nor takes users");

        // The MX form verifies too; a verified domain can become the default one.
        let northwind = "northwind.example";
        add(&server, &admin, northwind).await;
        let default = json!({"isDefault": true});
        let path = format!("/v1.0/domains/{northwind}");
        let (status, body) = server.call(&admin, Method::PATCH, &path, Some(default.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: unverified: {body}");
        let mx_code = code(&server, &admin, northwind).await;
        server.zone.mx(northwind, &format!("{}.msv1.invalid", &mx_code[3..]));
        assert_eq!(verify(&server, &admin, northwind).await.0, StatusCode::OK, "{engine}");
        assert_eq!(server.call(&admin, Method::PATCH, &path, Some(default.clone())).await.0, StatusCode::NO_CONTENT);
        let (_, read) = server.call(&admin, Method::GET, &format!("{path}?$select=id,isDefault"), None).await;
        assert_eq!(read["isDefault"], true, "{engine}: {read}");
        assert_eq!(read.as_object().unwrap().len(), 3, "{engine}: {read}");
        let (_, initial) = server.call(&admin, Method::GET, "/v1.0/domains/contoso.gatehouse.test", None).await;
        assert_eq!((initial["isDefault"].as_bool(), initial["isInitial"].as_bool()), (Some(false), Some(true)));
        assert_eq!(delete(&server, &admin, northwind).await.0, StatusCode::BAD_REQUEST, "{engine}: the default");
        let initial_path = "/v1.0/domains/contoso.gatehouse.test";
        assert_eq!(server.call(&admin, Method::PATCH, initial_path, Some(default)).await.0, StatusCode::NO_CONTENT);
        assert_eq!(delete(&server, &admin, northwind).await.0, StatusCode::NO_CONTENT, "{engine}");

        // Bad requests are Graph's errors, nothing written.
        let before = server.snapshot().await;
        for (method, path, body) in [
            (Method::POST, "/v1.0/domains", Some(json!({"id": "not a domain"}))),
            (Method::POST, "/v1.0/domains", Some(json!({"id": "tailspin.example", "isDefault": true}))),
            (Method::POST, "/v1.0/domains", Some(json!({"name": "tailspin.example"}))),
            (Method::POST, "/v1.0/domains", Some(json!({"id": "contoso.gatehouse.test"}))),
            (Method::POST, "/v1.0/domains", Some(json!({"id": "nul\u{0}.example"}))),
            (Method::PATCH, initial_path, Some(json!({"isDefault": false}))),
            (Method::PATCH, initial_path, Some(json!({"supportedServices": ["Yammer"]}))),
            (Method::GET, "/v1.0/domains?$select=budget", None),
        ] {
            let (status, body) = server.call(&admin, method.clone(), path, body.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {method} {path} {body}");
            assert!(body["error"]["code"].is_string(), "{engine}: {body}");
        }
        for (method, path) in [
            (Method::GET, "/v1.0/domains/tailspin.example"),
            (Method::POST, "/v1.0/domains/tailspin.example/verify"),
            (Method::DELETE, "/v1.0/domains/tailspin.example"),
            (Method::GET, "/v1.0/domains/tailspin.example/verificationDnsRecords"),
        ] {
            let (status, body) = server.call(&admin, method.clone(), path, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{engine}: {method} {path}: {body}");
        }
        assert_eq!(server.snapshot().await, before, "{engine}: nothing written");
    }
}

#[tokio::test]
async fn domain_permissions_and_tenant_isolation() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        for (permission, read, write) in [
            ("Domain.Read.All", StatusCode::OK, StatusCode::FORBIDDEN),
            ("Directory.Read.All", StatusCode::OK, StatusCode::FORBIDDEN),
            ("Directory.ReadWrite.All", StatusCode::OK, StatusCode::FORBIDDEN),
            ("Organization.ReadWrite.All", StatusCode::FORBIDDEN, StatusCode::FORBIDDEN),
            ("Domain.ReadWrite.All", StatusCode::OK, StatusCode::CREATED),
        ] {
            let (token, _) = server.app_with(&admin, &[permission]).await;
            let (status, body) = server.call(&token, Method::GET, "/v1.0/domains", None).await;
            assert_eq!(status, read, "{engine}: {permission} reads: {body}");
            let name = format!("{}.example", permission.to_lowercase().replace('.', "-"));
            let (status, body) = server.call(&token, Method::POST, "/v1.0/domains", Some(json!({"id": name}))).await;
            assert_eq!(status, write, "{engine}: {permission} adds: {body}");
        }

        // Another tenant may add a domain this one verified, but not verify it, nor add its subdomains.
        add(&server, &admin, "shared.example").await;
        server.zone.txt("shared.example", &code(&server, &admin, "shared.example").await);
        assert_eq!(verify(&server, &admin, "shared.example").await.0, StatusCode::OK, "{engine}");
        let spec = NewTenant { domain: Some("fabrikam.gatehouse.test".into()), ..NewTenant::default() };
        let fabrikam = server.directory.tenants().create(spec).await.unwrap();
        let theirs = server
            .token(&fabrikam.tenant_id.to_string(), &fabrikam.client_id.to_string(), &fabrikam.client_secret)
            .await;
        let (_, listed) = server.call(&theirs, Method::GET, "/v1.0/domains", None).await;
        let names: Vec<&str> = listed["value"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["fabrikam.gatehouse.test"], "{engine}: only its own");
        let (status, _) = server.call(&theirs, Method::GET, "/v1.0/domains/contoso.gatehouse.test", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{engine}");
        assert_eq!(delete(&server, &theirs, "shared.example").await.0, StatusCode::NOT_FOUND, "{engine}");
        let (status, body) =
            server.call(&theirs, Method::POST, "/v1.0/domains", Some(json!({"id": "eu.shared.example"}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {body}");
        add(&server, &theirs, "shared.example").await;
        server.zone.txt("shared.example", &code(&server, &theirs, "shared.example").await);
        let (status, body) = verify(&server, &theirs, "shared.example").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("another tenant"), "{body}");
        let (status, _) =
            server.call(&theirs, Method::POST, "/v1.0/users", Some(user_on("eve", "shared.example"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: not theirs");
        let (status, _) =
            server.call(&admin, Method::POST, "/v1.0/users", Some(user_on("ann", "shared.example"))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: still ours");
    }
}

/// The binary verifies through the name server of `--dns-server` (here `GATEHOUSE_DNS_SERVER`), and the
/// operator marks a domain verified without DNS from the command line, which is logged. (Multi-threaded: the
/// test's name server answers the commands while the test waits for them.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_asks_the_configured_name_server_and_the_operator_can_skip_dns() {
    let zone = Zone::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
    let mut launched = launch(dir.path(), &url, None);
    launched.env.insert("GATEHOUSE_DNS_SERVER".into(), zone.address.to_string());
    let server = ServerProcess::start(launched);
    let http = client(None);
    let bootstrap = server.bootstrap.clone().unwrap();
    let admin = token(&http, &server.base_url, &bootstrap).await;
    let call = |method: Method, path: &str, body: Option<Value>| {
        let mut request = http.request(method, format!("{}/v1.0{path}", server.base_url)).bearer_auth(&admin);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for name in ["dns.example", "airgap.example"] {
        assert_eq!(call(Method::POST, "/domains", Some(json!({"id": name}))).await.0, StatusCode::CREATED);
    }
    let (_, records) = call(Method::GET, "/domains/dns.example/verificationDnsRecords", None).await;
    zone.txt("dns.example", records["value"][0]["text"].as_str().unwrap());
    let (status, verified) = call(Method::POST, "/domains/dns.example/verify", None).await;
    assert_eq!(status, StatusCode::OK, "{verified}");

    let tenant = bootstrap["tenantId"].as_str().unwrap();
    let cli = |args: &[&str]| {
        Command::new(BINARY)
            .args(args)
            .args(["--tenant", tenant, "--database-url", &url])
            .arg("--data-dir")
            .arg(dir.path())
            .env("GATEHOUSE_DNS_SERVER", zone.address.to_string())
            .env_remove("GATEHOUSE_MASTER_KEY")
            .output()
            .unwrap()
    };
    let refused = cli(&["domain", "verify", "--domain", "airgap.example"]);
    assert!(!refused.status.success(), "without --skip-dns the command looks at DNS too");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Domain verification failed"));
    let skipped = cli(&["domain", "verify", "--domain", "airgap.example", "--skip-dns"]);
    assert!(skipped.status.success(), "{}", String::from_utf8_lossy(&skipped.stderr));
    let printed: Value = serde_json::from_slice(&skipped.stdout).unwrap();
    assert_eq!(printed["isVerified"], true, "{printed}");
    assert!(String::from_utf8_lossy(&skipped.stderr).contains("verified a domain without a DNS check"), "logged");
    let listed = cli(&["domain", "list"]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains("airgap.example\ttrue\tfalse") && listed.contains("dns.example\ttrue\tfalse"), "{listed}");
    let mut user = new_user("ops");
    user["userPrincipalName"] = json!("ops@airgap.example");
    assert_eq!(call(Method::POST, "/users", Some(user)).await.0, StatusCode::CREATED, "usable at once");
}
