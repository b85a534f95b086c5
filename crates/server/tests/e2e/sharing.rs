//! Sharing a resource with people who have no account: a member assigned to a team site shares it with an
//! outside address; the outsider opens the mailed link, proves the address with a mailed code, and the team
//! site gets a ten-minute token for itself alone (no user object is made); Graph refuses that token; a wrong
//! or expired code and another address are refused; owners list and revoke their links, and a revoked link
//! stops at once (its page, its codes, and introspection of the tokens it gave); the tenant's settings decide
//! whether outsiders and anonymous links are allowed and how long links live; the audit log has every use.

use crate::password_pages::{code_in, Browser, Page};
use crate::sign_in::{hidden, PASSWORD};
use crate::support::{claims, servers, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const LANDING: &str = "https://teamsite.example/shared";
const POLICY: &str = "/v1.0/policies/authorizationPolicy";
const OUTSIDER: &str = "oz@outside.example";

/// The team site: an application with an identifier and a web redirect URI, its service principal and a
/// secret (for introspection).
async fn team_site(server: &Server, admin: &str) -> crate::sign_in::Client {
    let site = server.client(admin, false, "").await;
    let body = json!({"displayName": "Team site", "identifierUris": [format!("api://{}", site.app_id)],
                      "web": {"redirectUris": [LANDING]}});
    let path = format!("/v1.0/applications/{}", site.object);
    let (status, answer) = server.call(admin, Method::PATCH, &path, Some(body)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    site
}

/// A member's token through a client with `Application.ReadWrite.All`.
async fn member_token(server: &Server, client: &str, alias: &str) -> String {
    let tenant = server.tenant.tenant_id.to_string();
    let upn = format!("{alias}@contoso.gatehouse.test");
    let (status, tokens) = server.password_grant(&tenant, client, &upn, PASSWORD, "Application.ReadWrite.All").await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// The token the last page posts to the team site.
fn posted_token(page: &Page) -> String {
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains(&format!("action=\"{LANDING}\"")), "{}", page.text);
    hidden(&page.text, "access_token")
}

/// Opens a link for `email` in a fresh browser: the code page.
async fn ask_code(server: &Server, url: &str, email: &str) -> (Browser, Page) {
    let browser = Browser::new();
    let page = browser.get(url).await;
    assert!(page.text.contains("Team site"), "{}", page.text);
    let share = server.url(&format!("/{}/share", server.tenant.tenant_id));
    let asked = browser.submit(&share, &page, &[("email", email), ("send", "1")]).await;
    assert!(asked.text.contains("name=\"otc\""), "{}", asked.text);
    (browser, asked)
}

/// Asks the token endpoint's introspection whether `token` stands, as the team site.
async fn introspect(server: &Server, site: &crate::sign_in::Client, token: &str) -> Value {
    let url = server.url(&format!("/{}/oauth2/v2.0/introspect", server.tenant.tenant_id));
    let form = [("client_id", site.app_id.as_str()), ("client_secret", site.secret.as_str()), ("token", token)];
    let response = server.http.post(url).form(&form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn outsiders_open_shared_resources_with_mailed_codes_until_the_link_is_revoked() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let share = server.url(&format!("/{}/share", server.tenant.tenant_id));
        let site = team_site(&server, &admin).await;
        let client = server.client(&admin, true, "Application.ReadWrite.All").await;
        let mia = server.member(&admin, "mia").await;
        server.member(&admin, "sam").await;
        let assignment = json!({"principalId": mia, "resourceId": site.sp, "appRoleId": uuid::Uuid::nil()});
        let path = format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo", site.sp);
        assert_eq!(server.call(&admin, Method::POST, &path, Some(assignment)).await.0, StatusCode::CREATED);
        let (mia_token, sam_token) =
            (member_token(&server, &client.app_id, "mia").await, member_token(&server, &client.app_id, "sam").await);
        let invite = format!("/v1.0/applications/{}/invite", site.object);
        let body = json!({"recipients": [{"email": "Oz@Outside.example"}], "roles": ["read"], "message": "The plans."});

        // Who shares: members assigned to the site, not others; only a resource shares.
        let (status, _) = server.call(&sam_token, Method::POST, &invite, Some(body.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: Sam is not assigned to the site");
        let not_a_resource = format!("/v1.0/applications/{}/invite", client.object);
        let (status, _) = server.call(&admin, Method::POST, &not_a_resource, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: an app without identifier and landing shares nothing");
        let (status, shared) = server.call(&mia_token, Method::POST, &invite, Some(body.clone())).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {shared}");
        let permission = &shared["value"][0];
        assert_eq!(permission["roles"], json!(["read"]), "{engine}: {permission}");
        assert_eq!(permission["invitation"]["email"], OUTSIDER);
        assert_eq!(permission["link"]["scope"], "users");
        assert_eq!(permission["grantedBy"]["user"]["id"], mia.as_str());
        let link = permission["link"]["webUrl"].as_str().unwrap().to_owned();
        let mail = server.mail_to(OUTSIDER).await;
        assert!(mail[0].contains("The plans.") && mail[0].contains(&link), "{engine}: {}", mail[0]);

        // Another address gets no code; a wrong code is refused; the right one opens the site.
        let (_, other) = ask_code(&server, &link, "eve@outside.example").await;
        assert!(server.mail_to("eve@outside.example").await.is_empty(), "{engine}: no code to another address");
        let browser = Browser::new();
        let wrong = browser.submit(&share, &other, &[("otc", "12345678")]).await;
        assert!(wrong.text.contains("role=\"alert\""), "{engine}: {}", wrong.text);
        let (browser, asked) = ask_code(&server, &link, OUTSIDER).await;
        let code = code_in(server.mail_to(OUTSIDER).await.last().unwrap());
        let bad = browser.submit(&share, &asked, &[("otc", "00000000")]).await;
        assert!(bad.text.contains("not correct"), "{engine}: {}", bad.text);
        let token = posted_token(&browser.submit(&share, &bad, &[("otc", &code)]).await);
        let shown = claims(&token);
        assert_eq!(shown["aud"], site.app_id.as_str(), "{engine}: for the site alone: {shown}");
        assert_eq!(shown["roles"], json!(["Shared.View"]), "{engine}");
        assert_eq!((shown["email"].as_str(), shown["idp"].as_str()), (Some(OUTSIDER), Some("mail")), "{engine}");
        assert_eq!(shown["idtyp"], "sharing");
        assert_eq!(shown["exp"].as_i64().unwrap() - shown["iat"].as_i64().unwrap(), 600, "{engine}: short-lived");
        assert!(shown.get("oid").is_none(), "{engine}: no directory object stands behind it");
        assert_eq!(server.call(&token, Method::GET, "/v1.0/users", None).await.0, StatusCode::UNAUTHORIZED);
        let (_, users) =
            server.advanced(&admin, "/v1.0/users?$filter=mail%20eq%20'oz@outside.example'&$count=true").await;
        assert_eq!(users["@odata.count"], 0, "{engine}: no account was made");
        assert_eq!(introspect(&server, &site, &token).await["active"], true, "{engine}");
        assert_eq!(introspect(&server, &client, &token).await["active"], false, "{engine}: another app's token");

        // Owners list their links (Sam sees none of Mia's) and revoke them: the link stops at once.
        let permissions = format!("/v1.0/applications/{}/permissions", site.object);
        let (_, listed) = server.call(&mia_token, Method::GET, &permissions, None).await;
        assert_eq!(listed["value"].as_array().unwrap().len(), 1, "{engine}: {listed}");
        assert_eq!(listed["value"][0]["uses"], 1, "{engine}");
        assert_eq!(server.call(&sam_token, Method::GET, &permissions, None).await.0, StatusCode::FORBIDDEN);
        let (browser, asked) = ask_code(&server, &link, OUTSIDER).await;
        let code = code_in(server.mail_to(OUTSIDER).await.last().unwrap());
        let id = permission["id"].as_str().unwrap();
        let revoke = format!("{permissions}/{id}");
        assert_eq!(server.call(&mia_token, Method::DELETE, &revoke, None).await.0, StatusCode::NO_CONTENT);
        assert_eq!(server.call(&mia_token, Method::DELETE, &revoke, None).await.0, StatusCode::NOT_FOUND);
        let refused = browser.submit(&share, &asked, &[("otc", &code)]).await;
        assert!(refused.text.contains("removed"), "{engine}: {}", refused.text);
        assert!(Browser::new().get(&link).await.text.contains("removed"), "{engine}: the link's page");
        assert_eq!(introspect(&server, &site, &token).await["active"], false, "{engine}: its tokens stand no more");
        let (_, listed) = server.call(&mia_token, Method::GET, &permissions, None).await;
        assert_eq!(listed["value"], json!([]), "{engine}");

        // An expired code is refused.
        let (_, shared) = server.call(&mia_token, Method::POST, &invite, Some(body.clone())).await;
        let link = shared["value"][0]["link"]["webUrl"].as_str().unwrap().to_owned();
        let (browser, asked) = ask_code(&server, &link, OUTSIDER).await;
        let code = code_in(server.mail_to(OUTSIDER).await.last().unwrap());
        server.clock.advance(chrono::Duration::minutes(31));
        let late = browser.submit(&share, &asked, &[("otc", &code)]).await;
        assert!(late.text.contains("expired"), "{engine}: {}", late.text);

        // The audit log has the sharing, each use (with the address that proved itself) and the revocation.
        let audits = "/v1.0/auditLogs/directoryAudits?$filter=loggedByService%20eq%20'Core%20Directory'";
        let (_, audits) = server.call(&admin, Method::GET, audits, None).await;
        let records = audits["value"].as_array().unwrap();
        let of = |activity: &str| records.iter().filter(|r| r["activityDisplayName"] == activity).count();
        assert_eq!((of("Add sharing link"), of("Use sharing link"), of("Remove sharing link")), (2, 1, 1), "{engine}");
        let used = records.iter().find(|r| r["activityDisplayName"] == "Use sharing link").unwrap();
        assert!(used.to_string().contains(OUTSIDER), "{engine}: {used}");
    }
}

#[tokio::test]
async fn the_tenant_decides_whether_outsiders_and_anonymous_links_may_open_its_resources_and_for_how_long() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let share = server.url(&format!("/{}/share", server.tenant.tenant_id));
        let site = team_site(&server, &admin).await;
        let create = format!("/v1.0/applications/{}/createLink", site.object);
        let invite = format!("/v1.0/applications/{}/invite", site.object);
        let anonymous = json!({"type": "edit", "scope": "anonymous"});

        // By default: outsiders with a code, no anonymous links, links for 30 days at most.
        let (_, policy) = server.call(&admin, Method::GET, POLICY, None).await;
        assert_eq!(policy["sharingCapability"], "externalUserSharingOnly", "{engine}: {policy}");
        assert_eq!(policy["sharingLinkExpirationInDays"], 30, "{engine}");
        let (status, body) = server.call(&admin, Method::POST, &create, Some(anonymous.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: {body}");
        let now = chrono::DateTime::from_timestamp(server.clock.now_seconds(), 0).unwrap();
        let later = (now + chrono::Duration::days(40)).to_rfc3339();
        let too_long =
            json!({"recipients": [{"email": OUTSIDER}], "expirationDateTime": later, "sendInvitation": false});
        assert_eq!(server.call(&admin, Method::POST, &invite, Some(too_long)).await.0, StatusCode::BAD_REQUEST);

        // Anonymous links, where allowed: anyone holding one gets in at once, until it expires.
        let settings = json!({"sharingCapability": "externalUserAndGuestSharing", "sharingLinkExpirationInDays": 2});
        assert_eq!(server.call(&admin, Method::PATCH, POLICY, Some(settings)).await.0, StatusCode::NO_CONTENT);
        let (status, made) = server.call(&admin, Method::POST, &create, Some(anonymous)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {made}");
        assert_eq!(made["link"]["scope"], "anonymous", "{engine}: {made}");
        let link = made["link"]["webUrl"].as_str().unwrap().to_owned();
        let browser = Browser::new();
        let page = browser.get(&link).await;
        let token = posted_token(&browser.submit(&share, &page, &[("open", "1")]).await);
        let shown = claims(&token);
        assert_eq!(shown["roles"], json!(["Shared.Edit"]), "{engine}: {shown}");
        assert!(shown.get("email").is_none() && shown.get("idp").is_none(), "{engine}: nobody proved anything");
        server.clock.advance(chrono::Duration::days(2) + chrono::Duration::minutes(1));
        assert!(Browser::new().get(&link).await.text.contains("expired"), "{engine}: links live 2 days here");

        // Nobody outside: sharing is refused.
        let admin = server.admin_token().await;
        let off = json!({"sharingCapability": "disabled"});
        assert_eq!(server.call(&admin, Method::PATCH, POLICY, Some(off)).await.0, StatusCode::NO_CONTENT);
        let body = json!({"recipients": [{"email": OUTSIDER}]});
        let (status, answer) = server.call(&admin, Method::POST, &invite, Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: {answer}");
        for bad in [json!({"sharingCapability": "sometimes"}), json!({"sharingLinkExpirationInDays": 0})] {
            assert_eq!(server.call(&admin, Method::PATCH, POLICY, Some(bad)).await.0, StatusCode::BAD_REQUEST);
        }
    }
}
