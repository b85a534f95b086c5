//! The admin center's bulk create without a browser: the upload checked like every form, the import run
//! through the core for the person who started it, its progress and result file theirs alone.

use crate::password_pages::{Browser, Page};
use crate::sign_in::PASSWORD;
use crate::support::{servers, Server};
use reqwest::{Method, StatusCode};

pub(crate) const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";
const HELPDESK: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";
const TEMPLATE: &str = "version:v1.0\nName [displayName] Required,User name [userPrincipalName] Required,Block sign in (Yes/No) [accountEnabled] Required,Department [department]\n";

/// A browser signed in to the admin center as `alias`.
pub(crate) async fn signed_in(server: &Server, alias: &str) -> Browser {
    let browser = Browser::new();
    let url = server.url("/contoso.gatehouse.test/admin");
    let form = browser.get(&url).await;
    let upn = format!("{alias}@contoso.gatehouse.test");
    let done = browser.submit(&url, &form, &[("login", &upn), ("passwd", PASSWORD)]).await;
    assert_eq!(done.status, StatusCode::FOUND, "{alias}: {}", done.text);
    browser
}

/// The import page once the import ended.
async fn ended(server: &Server, browser: &Browser, location: &str) -> Page {
    for _ in 0..600 {
        let page = browser.get(&server.url(location)).await;
        if !page.text.contains("Creating users") {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the import did not end");
}

#[tokio::test]
async fn bulk_create_runs_through_the_core_for_its_owner_alone() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let gia = server.member(&admin, "gia").await;
        server.assign_role(&admin, GLOBAL_ADMIN, &gia).await;
        let hal = server.member(&admin, "hal").await;
        server.assign_role(&admin, HELPDESK, &hal).await;
        let url = server.url("/contoso.gatehouse.test/admin/users/import");
        let rows = format!(
            "{TEMPLATE}Una,una@contoso.gatehouse.test,No,Sales\nVic,vic@contoso.gatehouse.test,Perhaps,Sales\nWen,wen@contoso.gatehouse.test,Yes,\n"
        );

        let browser = signed_in(&server, "gia").await;
        let form = browser.get(&url).await;
        assert!(form.text.contains("enctype=\"multipart/form-data\""), "{engine}: {}", form.text);
        let wrong = browser.upload(&url, &form, "file", ("people.csv", "Name,Department\nUna,Sales\n")).await;
        assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{engine}: {}", wrong.text);
        assert!(wrong.text.contains("id=\"file-error\""), "{engine}: said at the file: {}", wrong.text);
        let forged = Page { text: form.text.replace("name=\"csrf\" value=\"", "name=\"csrf\" value=\"x"), ..form };
        let refused = browser.upload(&url, &forged, "file", ("people.csv", &rows)).await;
        assert!(refused.text.contains("AADSTS90023"), "{engine}: a forged form: {}", refused.text);
        let (status, _) = server.call(&admin, Method::GET, "/v1.0/users/una@contoso.gatehouse.test", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{engine}: nothing was made");

        let form = browser.get(&url).await;
        let started = browser.upload(&url, &form, "file", ("people.csv", &rows)).await;
        assert_eq!(started.status, StatusCode::SEE_OTHER, "{engine}: {}", started.text);
        let progress = started.location.clone().unwrap();
        let page = ended(&server, &browser, &progress).await;
        assert!(page.text.contains("Finished: 2 created, 1 failed, of 3 rows."), "{engine}: {}", page.text);
        let results = browser.get(&server.url(&format!("{progress}/results.csv"))).await;
        assert_eq!(results.status, StatusCode::OK, "{engine}");
        let lines: Vec<&str> = results.text.lines().collect();
        assert_eq!(lines[0], "row,userPrincipalName,status,detail", "{engine}");
        assert!(
            lines[2].starts_with("2,vic@contoso.gatehouse.test,failed,") && lines[2].contains("Perhaps"),
            "{engine}"
        );
        let (_, wen) = server
            .call(&admin, Method::GET, "/v1.0/users/wen@contoso.gatehouse.test?$select=id,accountEnabled", None)
            .await;
        assert_eq!(lines[3], format!("3,wen@contoso.gatehouse.test,created,{}", wen["id"].as_str().unwrap()));
        assert_eq!(wen["accountEnabled"], false, "{engine}: Block sign in: Yes");
        let exported =
            browser.get(&server.url("/contoso.gatehouse.test/admin/users/export.csv?department=Sales")).await;
        let lines: Vec<&str> = exported.text.lines().collect();
        assert_eq!((lines.len(), lines[0]), (3, "version:v1.0"), "{engine}: {}", exported.text);
        assert!(lines[2].starts_with("Una,una@contoso.gatehouse.test,No,"), "{engine}: only Sales: {}", exported.text);
        let groups = browser.get(&server.url("/contoso.gatehouse.test/admin/groups/export.csv")).await;
        assert!(groups.text.starts_with("displayName,id,groupType,membershipType,membershipRule\n"), "{engine}");

        // A Helpdesk Administrator can neither import nor see another person's import.
        let helpdesk = signed_in(&server, "hal").await;
        let form = helpdesk.get(&url).await;
        assert_eq!(form.status, StatusCode::FORBIDDEN, "{engine}: {}", form.text);
        let theirs = helpdesk.get(&server.url(&progress)).await;
        assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{engine}: {}", theirs.text);
        let file = helpdesk.get(&server.url(&format!("{progress}/results.csv"))).await;
        assert_eq!(file.status, StatusCode::NOT_FOUND, "{engine}");
        let admin_form = browser.get(&url).await;
        let posted = helpdesk.upload(&url, &admin_form, "file", ("people.csv", &rows.replace("una", "uma"))).await;
        assert_eq!(posted.status, StatusCode::FORBIDDEN, "{engine}: {}", posted.text);
        let (status, _) = server.call(&admin, Method::GET, "/v1.0/users/uma@contoso.gatehouse.test", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{engine}: Helpdesk made nobody");
    }
}

#[tokio::test]
async fn an_app_is_registered_its_secret_shown_once_and_people_assigned() {
    let server = crate::support::sqlite_server().await;
    let admin = server.admin_token().await;
    let gia = server.member(&admin, "gia").await;
    server.assign_role(&admin, GLOBAL_ADMIN, &gia).await;
    let browser = signed_in(&server, "gia").await;
    let url = server.url("/contoso.gatehouse.test/admin/apps/new");
    let form = browser.get(&url).await;
    let made =
        browser.submit(&url, &form, &[("displayName", "Portal"), ("redirectUri", "https://portal.example/cb")]).await;
    assert_eq!(made.status, StatusCode::FOUND, "{}", made.text);
    let page_url = server.url(made.location.as_deref().unwrap());
    let page = browser.get(&page_url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("https://portal.example/cb"), "{}", page.text);
    let shown = browser.submit(&page_url, &page, &[("action", "add-secret"), ("description", "CI")]).await;
    let start = shown.text.find("id=\"secret\">").map(|i| i + "id=\"secret\">".len()).unwrap();
    let secret = shown.text[start..].split('<').next().unwrap().to_owned();
    let app_id = shown.text.split("id=\"app-id\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let tenant = server.tenant.tenant_id.to_string();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", app_id.as_str()),
        ("client_secret", secret.as_str()),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    assert_eq!(server.grant(&tenant, &form).await.0, StatusCode::OK, "the secret signs the app in");
    let again = browser.get(&page_url).await;
    assert!(!again.text.contains(&secret) && again.text.contains(&secret[..3]), "shown once, its hint kept");
    let (status, apps) =
        server.call(&admin, Method::GET, "/v1.0/applications?$filter=displayName eq 'Portal'", None).await;
    assert_eq!(status, StatusCode::OK, "{apps}");
    assert_eq!(apps["value"][0]["passwordCredentials"][0]["displayName"], "CI", "{apps}");
}

#[tokio::test]
async fn my_account_lists_the_persons_own_sign_ins_and_no_one_elses() {
    let server = crate::support::sqlite_server().await;
    let admin = server.admin_token().await;
    let tenant = server.tenant.tenant_id.to_string();
    let client = server.client(&admin, true, "User.Read").await;
    server.member(&admin, "ida").await;
    server.member(&admin, "jon").await;
    let (ida, jon) = ("ida@contoso.gatehouse.test", "jon@contoso.gatehouse.test");
    assert_eq!(server.password_grant(&tenant, &client.app_id, ida, PASSWORD, "User.Read").await.0, StatusCode::OK);
    let wrong = server.password_grant(&tenant, &client.app_id, ida, "not-her-password", "User.Read").await;
    assert_eq!(wrong.0, StatusCode::BAD_REQUEST);
    assert_eq!(server.password_grant(&tenant, &client.app_id, jon, PASSWORD, "User.Read").await.0, StatusCode::OK);
    let url = server.url("/contoso.gatehouse.test/myaccount");
    let browser = Browser::new();
    let form = browser.get(&url).await;
    browser.submit(&url, &form, &[("login", ida), ("passwd", PASSWORD)]).await;
    let mut recent = String::new();
    for _ in 0..100 {
        let page = browser.get(&url).await;
        recent = page.text.split("Your recent sign-ins").nth(1).unwrap_or_default().to_owned();
        if recent.contains("Unsuccessful") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(recent.contains("Successful") && recent.contains("Unsuccessful (50126)"), "{recent}");
    assert!(recent.contains("<td>My Profile</td>"), "the sign-in to My Account itself: {recent}");
    assert_eq!(recent.matches("<tr><td>").count(), 3, "Ida's three, not Jon's: {recent}");
}
