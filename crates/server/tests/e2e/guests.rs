//! Guests after their invitation: they sign in to apps at the tenant's pages with a code mailed to them
//! (tokens whose `idp` is `mail` and whose `acct` says guest); a wrong code, an unredeemed invitation and a
//! tenant that turned the codes off are refused; what a guest reads of the directory follows the tenant's
//! guest access level; invitations follow the allowed or blocked domains; Conditional Access, app roles, group
//! licensing and the sign-in log see guests as guests.

use crate::password_pages::{code_in, Browser};
use crate::support::{claims, servers, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const REDIRECT: &str = "https://apps.partner.example/signin-oidc";
const POLICY: &str = "/v1.0/policies/authorizationPolicy";
const LIMITED: &str = "10dae51f-b6af-4016-8d66-8c2a99b929b3";
const RESTRICTED: &str = "2af84b1e-32c8-42b7-82bc-daa82404023b";
const AS_MEMBERS: &str = "a0b1b346-4d3e-4e8b-98f8-753987be4970";
/// Microsoft Entra ID P1's SKU.
const P1: &str = "078d2b04-f1bd-4111-bbd4-b4b1b354cef4";

/// Invites `email` and redeems the invitation with the mailed code: the guest's id.
async fn accepted_guest(server: &Server, admin: &str, email: &str) -> String {
    let body = json!({"invitedUserEmailAddress": email, "inviteRedirectUrl": REDIRECT});
    let (status, invited) = server.call(admin, Method::POST, "/v1.0/invitations", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    let browser = Browser::new();
    let review = browser.get(invited["inviteRedeemUrl"].as_str().unwrap()).await;
    let redeem = server.url(&format!("/{}/redeem", server.tenant.tenant_id));
    let asked = browser.submit(&redeem, &review, &[("send", "1")]).await;
    let code = code_in(server.mail_to(email).await.last().unwrap());
    let done = browser.submit(&redeem, &asked, &[("otc", &code)]).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.text);
    invited["invitedUser"]["id"].as_str().unwrap().to_owned()
}

/// The sign-in page of an authorization request of `client` at the tenant's own address.
async fn sign_in_page(server: &Server, browser: &Browser, client: &str) -> (String, crate::password_pages::Page) {
    let tenant = server.tenant.tenant_id.to_string();
    let query = [
        ("client_id", client),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile User.Read Directory.Read.All"),
        ("nonce", "n-0S6_WzA2Mj"),
    ];
    let url = server.url(&format!("/{tenant}/oauth2/v2.0/authorize"));
    let page = browser.get(reqwest::Url::parse_with_params(&url, &query).unwrap().as_str()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("id=\"idSendCode\""), "the tenant's page offers guests a code: {}", page.text);
    (url, page)
}

/// Asks for a code for `email` at the sign-in page: the page that follows.
async fn ask_code(server: &Server, client: &str, email: &str) -> (Browser, String, crate::password_pages::Page) {
    let browser = Browser::new();
    let (url, page) = sign_in_page(server, &browser, client).await;
    let asked = browser.submit(&url, &page, &[("login", email), ("otp", "1")]).await;
    (browser, url, asked)
}

/// Signs the guest `email` in to `client` (a web app) with a mailed code: the token response.
async fn guest_tokens(server: &Server, client: &crate::sign_in::Client, email: &str) -> Value {
    let (browser, url, asked) = ask_code(server, &client.app_id, email).await;
    assert!(asked.text.contains("name=\"otc\"") && asked.text.contains("sent-to"), "{}", asked.text);
    let code = code_in(server.mail_to(&email.to_lowercase()).await.last().unwrap());
    redeemed(server, client, browser.submit(&url, &asked, &[("otc", &code)]).await).await
}

/// Signs the member `upn` in to `client` with their password: the token response.
async fn member_tokens(server: &Server, client: &crate::sign_in::Client, upn: &str) -> Value {
    let browser = Browser::new();
    let (url, page) = sign_in_page(server, &browser, &client.app_id).await;
    let done = browser.submit(&url, &page, &[("login", upn), ("passwd", crate::sign_in::PASSWORD)]).await;
    redeemed(server, client, done).await
}

/// The tokens for the code the sign-in's last page (`done`) sent the browser back with.
async fn redeemed(server: &Server, client: &crate::sign_in::Client, done: crate::password_pages::Page) -> Value {
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.text);
    let location = reqwest::Url::parse(done.location.as_deref().unwrap()).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).unwrap();
    let tenant = server.tenant.tenant_id.to_string();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", &client.app_id),
        ("client_secret", &client.secret),
        ("code", &code),
        ("redirect_uri", REDIRECT),
    ];
    let (status, tokens) = server.grant(&tenant, &form).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

/// A web app with admin consent for `User.Read Directory.Read.All`, asking for `acct` in its id tokens, with
/// an app role for users.
async fn partner_app(server: &Server, admin: &str) -> (crate::sign_in::Client, uuid::Uuid) {
    let client = server.client(admin, false, "User.Read Directory.Read.All").await;
    let role = uuid::Uuid::new_v4();
    let body = json!({
        "web": {"redirectUris": [REDIRECT]},
        "optionalClaims": {"idToken": [{"name": "acct"}]},
        "appRoles": [{"id": role, "allowedMemberTypes": ["User"], "displayName": "Partner", "value": "Partner.Read"}],
    });
    let path = format!("/v1.0/applications/{}", client.object);
    let (status, answer) = server.call(admin, Method::PATCH, &path, Some(body)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    (client, role)
}

#[tokio::test]
async fn guests_sign_in_to_apps_with_codes_mailed_to_them() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let (client, role) = partner_app(&server, &admin).await;
        let guest = accepted_guest(&server, &admin, "pat@partner.example").await;
        let assignment = json!({"principalId": guest, "resourceId": client.sp, "appRoleId": role});
        let path = format!("/v1.0/users/{guest}/appRoleAssignments");
        assert_eq!(server.call(&admin, Method::POST, &path, Some(assignment)).await.0, StatusCode::CREATED);

        // The guest signs in with a code; the tokens say who proved whom.
        let tokens = guest_tokens(&server, &client, "Pat@Partner.example").await;
        let id = claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["oid"], guest.as_str(), "{engine}: {id}");
        assert_eq!(id["idp"], "mail", "{engine}: the guest's identity was proved by mail");
        assert_eq!(id["acct"], 1, "{engine}: acct marks a guest");
        assert_eq!(id["roles"], json!(["Partner.Read"]), "{engine}: the guest holds the app role");
        assert!(id["preferred_username"].as_str().unwrap().contains("#EXT#"), "{engine}: {id}");
        let access = claims(tokens["access_token"].as_str().unwrap());
        assert_eq!(access["idp"], "mail", "{engine}");
        assert_eq!(access["amr"], json!(["otp"]), "{engine}");
        assert!(access["wids"].as_array().unwrap().contains(&json!(LIMITED)), "{engine}: {access}");
        let own = tokens["access_token"].as_str().unwrap();
        let (status, me) = server.call(own, Method::GET, "/v1.0/me?$select=id,userType", None).await;
        assert_eq!((status, me["userType"].as_str()), (StatusCode::OK, Some("Guest")), "{engine}: {me}");

        // A member's tokens say otherwise.
        server.member(&admin, "mia").await;
        let member = member_tokens(&server, &client, "mia@contoso.gatehouse.test").await;
        let id = claims(member["id_token"].as_str().unwrap());
        assert_eq!(id["acct"], 0, "{engine}");
        assert_eq!(id["idp"], Value::Null, "{engine}: a member's idp is the issuer, left out of the id token");

        // Refusals: a wrong code, a member asking for a code, an invitation still to redeem, codes turned off.
        let (browser, url, asked) = ask_code(&server, &client.app_id, "pat@partner.example").await;
        let wrong = browser.submit(&url, &asked, &[("otc", "000000")]).await;
        assert!(wrong.text.contains("AADSTS50181"), "{engine}: {}", wrong.text);
        let (_, _, member) = ask_code(&server, &client.app_id, "mia@contoso.gatehouse.test").await;
        assert!(member.text.contains("role=\"alert\"") && !member.text.contains("name=\"otc\""), "{engine}");
        let body = json!({"invitedUserEmailAddress": "lee@partner.example", "inviteRedirectUrl": REDIRECT});
        server.call(&admin, Method::POST, "/v1.0/invitations", Some(body)).await;
        let (_, _, pending) = ask_code(&server, &client.app_id, "lee@partner.example").await;
        assert!(pending.text.contains("not been redeemed"), "{engine}: {}", pending.text);
        let email = "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Email";
        let (_, configuration) = server.call(&admin, Method::GET, email, None).await;
        assert_eq!(configuration["allowExternalIdToUseEmailOtp"], "default", "{engine}: {configuration}");
        let off = json!({"@odata.type": "#microsoft.graph.emailAuthenticationMethodConfiguration", "allowExternalIdToUseEmailOtp": "disabled"});
        assert_eq!(server.call(&admin, Method::PATCH, email, Some(off)).await.0, StatusCode::NO_CONTENT, "{engine}");
        let (_, _, off) = ask_code(&server, &client.app_id, "pat@partner.example").await;
        assert!(off.text.contains("turned off"), "{engine}: {}", off.text);
        let on = json!({"allowExternalIdToUseEmailOtp": "enabled"});
        assert_eq!(server.call(&admin, Method::PATCH, email, Some(on)).await.0, StatusCode::NO_CONTENT, "{engine}");

        // Conditional Access for guests blocks the guest, not the member.
        let policy = json!({
            "displayName": "No guests in this app", "state": "enabled",
            "conditions": {"users": {"includeUsers": ["GuestsOrExternalUsers"]},
                           "applications": {"includeApplications": [client.app_id]}},
            "grantControls": {"operator": "OR", "builtInControls": ["block"]},
        });
        let (status, made) =
            server.call(&admin, Method::POST, "/v1.0/identity/conditionalAccess/policies", Some(policy)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {made}");
        let (browser, url, asked) = ask_code(&server, &client.app_id, "pat@partner.example").await;
        let code = code_in(server.mail_to("pat@partner.example").await.last().unwrap());
        let blocked = browser.submit(&url, &asked, &[("otc", &code)]).await;
        assert!(blocked.text.contains("AADSTS53003"), "{engine}: {}", blocked.text);
        member_tokens(&server, &client, "mia@contoso.gatehouse.test").await;

        // The sign-in log tells guests apart.
        let (_, log) = server.call(&admin, Method::GET, "/v1.0/auditLogs/signIns", None).await;
        let records = log["value"].as_array().unwrap();
        let guests: Vec<&Value> = records.iter().filter(|r| r["userId"] == guest.as_str()).collect();
        assert!(guests.iter().all(|r| r["userType"] == "guest" && r["crossTenantAccessType"] == "b2bCollaboration"));
        assert!(guests.iter().any(|r| r["status"]["errorCode"] == 53003), "{engine}: the blocked sign-in is logged");
        assert!(guests.iter().any(|r| r["status"]["errorCode"] == 50181), "{engine}: the wrong code is logged");
        let members = records.iter().filter(|r| r["userPrincipalName"] == "mia@contoso.gatehouse.test");
        assert!(members.clone().count() > 0 && members.clone().all(|r| r["userType"] == "member"), "{engine}");
    }
}

#[tokio::test]
async fn what_guests_read_follows_the_guest_access_level_and_invitations_the_domain_lists() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let (client, _) = partner_app(&server, &admin).await;
        let guest = accepted_guest(&server, &admin, "kim@partner.example").await;
        let mia = server.member(&admin, "mia").await;
        let body = json!({"displayName": "Partners", "mailEnabled": false, "mailNickname": "partners", "securityEnabled": true,
                          "members@odata.bind": [format!("https://graph.microsoft.com/v1.0/directoryObjects/{guest}")]});
        let (status, group) = server.call(&admin, Method::POST, "/v1.0/groups", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {group}");
        let group = group["id"].as_str().unwrap().to_owned();

        // The group's licence reaches the guest, like any member (the organization's country standing in).
        let subscribe = json!({"skuPartNumber": "AAD_PREMIUM", "prepaidUnits": {"enabled": 5}});
        assert_eq!(
            server.call(&admin, Method::POST, "/v1.0/subscribedSkus", Some(subscribe)).await.0,
            StatusCode::CREATED
        );
        let license = json!({"addLicenses": [{"skuId": P1}], "removeLicenses": []});
        let path = format!("/v1.0/groups/{group}/assignLicense");
        assert_eq!(server.call(&admin, Method::POST, &path, Some(license)).await.0, StatusCode::ACCEPTED, "{engine}");
        crate::dynamic::settled(&server).await;
        let path = format!("/v1.0/users/{guest}?$select=assignedLicenses,licenseAssignmentStates");
        let (_, licensed) = server.call(&admin, Method::GET, &path, None).await;
        assert_eq!(licensed["assignedLicenses"][0]["skuId"], P1, "{engine}: {licensed}");
        assert_eq!(licensed["licenseAssignmentStates"][0]["state"], "Active", "{engine}: {licensed}");

        // What each level reads, with the same token: the level counts from the next request.
        let tokens = guest_tokens(&server, &client, "kim@partner.example").await;
        let token = tokens["access_token"].as_str().unwrap();
        let reads = [
            "/v1.0/me".to_owned(),
            "/v1.0/me/memberOf".to_owned(),
            format!("/v1.0/users/{mia}"),
            format!("/v1.0/groups/{group}"),
            "/v1.0/users".to_owned(),
            "/v1.0/groups".to_owned(),
        ];
        for (role, allowed) in [
            (LIMITED, [true, true, true, true, false, false]),
            (RESTRICTED, [true, true, false, false, false, false]),
            (AS_MEMBERS, [true, true, true, true, true, true]),
        ] {
            let (status, _) = server.call(&admin, Method::PATCH, POLICY, Some(json!({"guestUserRoleId": role}))).await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{engine}");
            for (path, allowed) in reads.iter().zip(allowed) {
                let (status, body) = server.call(token, Method::GET, path, None).await;
                let expected = if allowed { StatusCode::OK } else { StatusCode::FORBIDDEN };
                assert_eq!(status, expected, "{engine}: {role} {path}: {body}");
            }
        }
        let (_, policy) = server.call(&admin, Method::GET, POLICY, None).await;
        assert_eq!(policy["guestUserRoleId"], AS_MEMBERS, "{engine}");

        // Invitations go only where the lists allow; an allow list and a block list never stand together.
        let invite = |email: &str| {
            let body = json!({"invitedUserEmailAddress": email, "inviteRedirectUrl": REDIRECT});
            let (server, admin) = (&server, &admin);
            async move { server.call(admin, Method::POST, "/v1.0/invitations", Some(body)).await }
        };
        let blocked = json!({"blockedDomains": ["gmail.example", "*.spam.example"]});
        assert_eq!(server.call(&admin, Method::PATCH, POLICY, Some(blocked)).await.0, StatusCode::NO_CONTENT);
        let (status, body) = invite("ann@gmail.example").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: {body}");
        assert_eq!(body["error"]["code"], "Authorization_RequestDenied", "{engine}");
        assert_eq!(invite("bo@eu.spam.example").await.0, StatusCode::FORBIDDEN, "{engine}");
        assert_eq!(invite("cy@partner.example").await.0, StatusCode::CREATED, "{engine}");
        let both = json!({"allowedDomains": ["partner.example"]});
        assert_eq!(server.call(&admin, Method::PATCH, POLICY, Some(both)).await.0, StatusCode::BAD_REQUEST);
        let allow = json!({"allowedDomains": ["partner.example"], "blockedDomains": []});
        assert_eq!(server.call(&admin, Method::PATCH, POLICY, Some(allow)).await.0, StatusCode::NO_CONTENT);
        assert_eq!(invite("dee@elsewhere.example").await.0, StatusCode::FORBIDDEN, "{engine}");
        assert_eq!(invite("eve@partner.example").await.0, StatusCode::CREATED, "{engine}");
        let (_, policy) = server.call(&admin, Method::GET, POLICY, None).await;
        assert_eq!(policy["allowedDomains"], json!(["partner.example"]), "{engine}: {policy}");
        assert_eq!(policy["blockedDomains"], json!([]), "{engine}");
        for bad in [json!({"allowedDomains": "partner.example"}), json!({"blockedDomains": ["not a domain"]})] {
            assert_eq!(server.call(&admin, Method::PATCH, POLICY, Some(bad)).await.0, StatusCode::BAD_REQUEST);
        }
    }
}
