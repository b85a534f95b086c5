//! `/organization`: the tenant with its country, read and changed as in Graph, on every engine; the country
//! from `tenant create` and the bootstrap presets.

use crate::processes::{client, get_json, launch, token, BINARY};
use crate::support::servers;
use gatehouse_core::tenants::NewTenant;
use gatehouse_testkit::process::ServerProcess;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::process::Command;

#[tokio::test]
async fn the_organization_is_the_tenant_with_its_country() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();

        let (status, listed) = server.call(&admin, Method::GET, "/v1.0/organization", None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {listed}");
        assert!(listed["@odata.context"].as_str().unwrap().ends_with("/v1.0/$metadata#organization"), "{listed}");
        let organization = &listed["value"][0];
        assert_eq!(listed["value"].as_array().unwrap().len(), 1);
        assert_eq!(organization["id"], tenant.as_str());
        assert_eq!(organization["displayName"], "contoso.gatehouse.test");
        assert_eq!(organization["countryLetterCode"], "US", "{engine}: the default country");
        assert_eq!(organization["preferredLanguage"], "en");
        assert_eq!(organization["tenantType"], "AAD");
        assert_eq!(organization["createdDateTime"], "2026-03-01T09:00:00Z");
        assert_eq!(organization["technicalNotificationMails"], json!([]));
        assert_eq!(organization["privacyProfile"], Value::Null);
        assert_eq!(
            organization["verifiedDomains"],
            json!([{
                "capabilities": "Email, OfficeCommunicationsOnline",
                "isDefault": true,
                "isInitial": true,
                "name": "contoso.gatehouse.test",
                "type": "Managed",
            }]),
            "{engine}"
        );

        let path = format!("/v1.0/organization/{tenant}");
        let (status, read) =
            server.call(&admin, Method::GET, &format!("{path}?$select=id,countryLetterCode"), None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {read}");
        assert!(read["@odata.context"].as_str().unwrap().ends_with("#organization(id,countryLetterCode)/$entity"));
        assert_eq!(read.as_object().unwrap().len(), 3, "{engine}: only what was selected: {read}");
        let (status, _) = server.call(&admin, Method::GET, &format!("{path}?$select=budget"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}");
        let other = uuid::Uuid::new_v4();
        let (status, body) = server.call(&admin, Method::GET, &format!("/v1.0/organization/{other}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{engine}: {body}");

        // What Graph lets a client change, and the country (Gatehouse's own addition).
        let changes = json!({
            "technicalNotificationMails": ["tech@contoso.com"],
            "marketingNotificationEmails": ["marketing@contoso.com"],
            "securityComplianceNotificationMails": ["security@contoso.com"],
            "securityComplianceNotificationPhones": ["(123) 456-7890"],
            "privacyProfile": {"contactEmail": "alice@contoso.com", "statementUrl": "https://contoso.com/privacy"},
            "countryLetterCode": "nl",
        });
        let (status, body) = server.call(&admin, Method::PATCH, &path, Some(changes)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        let (_, read) = server.call(&admin, Method::GET, &path, None).await;
        assert_eq!(read["countryLetterCode"], "NL", "{engine}: {read}");
        assert_eq!(read["technicalNotificationMails"], json!(["tech@contoso.com"]));
        assert_eq!(read["securityComplianceNotificationPhones"], json!(["(123) 456-7890"]));
        assert_eq!(read["privacyProfile"]["statementUrl"], "https://contoso.com/privacy");

        // Bad changes are refused whole, nothing written.
        let before = server.snapshot().await;
        for bad in [
            json!({"displayName": "Renamed", "countryLetterCode": "BE"}),
            json!({"countryLetterCode": "XX"}),
            json!({"countryLetterCode": null}),
            json!({"technicalNotificationMails": null}),
            json!({"technicalNotificationMails": ["nobody"], "countryLetterCode": "BE"}),
            json!({"verifiedDomains": []}),
            json!({"privacyProfile": {"phone": "1"}}),
        ] {
            let (status, body) = server.call(&admin, Method::PATCH, &path, Some(bad.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {bad}: {body}");
            assert_eq!(body["error"]["code"], "Request_BadRequest", "{engine}: {body}");
        }
        let (status, _) =
            server.call(&admin, Method::PATCH, &format!("/v1.0/organization/{other}"), Some(json!({}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{engine}: another tenant's id");
        assert_eq!(server.snapshot().await, before, "{engine}: nothing written");
        let (_, read) = server.call(&admin, Method::GET, &path, None).await;
        assert_eq!(read["countryLetterCode"], "NL");
        assert_eq!(read["displayName"], "contoso.gatehouse.test");
    }
}

#[tokio::test]
async fn organization_permissions_and_tenant_isolation() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let path = format!("/v1.0/organization/{}", server.tenant.tenant_id);
        for (permission, read, write) in [
            ("Organization.Read.All", StatusCode::OK, StatusCode::FORBIDDEN),
            ("Directory.Read.All", StatusCode::OK, StatusCode::FORBIDDEN),
            ("Directory.ReadWrite.All", StatusCode::OK, StatusCode::FORBIDDEN),
            ("Organization.ReadWrite.All", StatusCode::OK, StatusCode::NO_CONTENT),
            ("LicenseAssignment.ReadWrite.All", StatusCode::FORBIDDEN, StatusCode::FORBIDDEN),
            ("User.Read.All", StatusCode::FORBIDDEN, StatusCode::FORBIDDEN),
        ] {
            let (token, _) = server.app_with(&admin, &[permission]).await;
            let (status, body) = server.call(&token, Method::GET, "/v1.0/organization", None).await;
            assert_eq!(status, read, "{engine}: {permission} reads: {body}");
            let change = json!({"technicalNotificationMails": ["ops@contoso.com"]});
            let (status, body) = server.call(&token, Method::PATCH, &path, Some(change)).await;
            assert_eq!(status, write, "{engine}: {permission} writes: {body}");
        }

        let spec = NewTenant {
            domain: Some("fabrikam.gatehouse.test".into()),
            country: Some("be".into()),
            ..NewTenant::default()
        };
        let fabrikam = server.directory.tenants().create(spec).await.unwrap();
        let theirs = server
            .token(&fabrikam.tenant_id.to_string(), &fabrikam.client_id.to_string(), &fabrikam.client_secret)
            .await;
        let (_, listed) = server.call(&theirs, Method::GET, "/v1.0/organization", None).await;
        assert_eq!(listed["value"][0]["id"], fabrikam.tenant_id.to_string(), "{engine}");
        assert_eq!(listed["value"][0]["countryLetterCode"], "BE", "{engine}: the country given, upper-cased");
        let (status, _) = server.call(&theirs, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{engine}: another tenant's organization is not there");
        let (status, _) = server.call(&theirs, Method::PATCH, &path, Some(json!({"countryLetterCode": "DE"}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{engine}");
        let (_, ours) = server.call(&admin, Method::GET, &path, None).await;
        assert_eq!(ours["countryLetterCode"], "US", "{engine}: untouched");
        let bad = NewTenant {
            domain: Some("wingtip.gatehouse.test".into()),
            country: Some("XX".into()),
            ..NewTenant::default()
        };
        assert!(server.directory.tenants().create(bad).await.is_err(), "{engine}: an unknown country is refused");
    }
}

/// The first tenant's country from `GATEHOUSE_BOOTSTRAP_TENANT_COUNTRY`, another's from `tenant create --country`.
#[tokio::test]
async fn tenants_get_their_country_from_the_bootstrap_and_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
    let mut first = launch(dir.path(), &url, None);
    first.env.insert("GATEHOUSE_BOOTSTRAP_TENANT_COUNTRY".into(), "nl".into());
    let server = ServerProcess::start(first);
    let http = client(None);
    let bootstrap = server.bootstrap.clone().unwrap();
    let admin = token(&http, &server.base_url, &bootstrap).await;
    let organization = get_json(&http, format!("{}/v1.0/organization", server.base_url), &admin).await;
    assert_eq!(organization["value"][0]["countryLetterCode"], "NL", "{organization}");

    let create = |country: &str| {
        Command::new(BINARY)
            .args(["tenant", "create", "--domain", &format!("{country}.gatehouse.test"), "--country", country])
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--database-url", &url])
            .envs(gatehouse_testkit::process::TEST_HASH_ENV)
            .env_remove("GATEHOUSE_MASTER_KEY")
            .output()
            .unwrap()
    };
    let created = create("be");
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let belgian: Value = serde_json::from_slice(&created.stdout).unwrap();
    let theirs = token(&http, &server.base_url, &belgian).await;
    let organization = get_json(&http, format!("{}/v1.0/organization", server.base_url), &theirs).await;
    assert_eq!(organization["value"][0]["countryLetterCode"], "BE", "{organization}");
    let refused = create("xx");
    assert!(!refused.status.success(), "an unknown country is refused");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("countryLetterCode"));
}
