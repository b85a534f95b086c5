//! The tenant's own APIs as resources: an application exposes delegated scopes under its identifier URI,
//! people get tokens for it (its scopes, their app roles of it, their groups, its optional claims) after
//! consent or pre-authorization, and apps get app-only tokens with its application roles.

use crate::sign_in::{assert_grant_error, hidden, location_query, pair, set_cookie, PASSWORD};
use crate::support::{claims, servers, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

#[tokio::test]
async fn a_tenants_own_api_is_a_resource_with_its_own_tokens() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let uri = format!("api://files-{}", Uuid::new_v4().simple());
        let (read, admin_scope, editors, sync) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let scope = |id: Uuid, value: &str, kind: &str, enabled: bool| json!({"id": id, "value": value, "type": kind, "isEnabled": enabled, "adminConsentDisplayName": value});
        let api = json!({
            "displayName": "Files API",
            "identifierUris": [uri],
            "api": {"oauth2PermissionScopes": [scope(read, "Files.Read", "User", true), scope(admin_scope, "Files.Admin", "Admin", true)]},
            "appRoles": [
                {"id": editors, "allowedMemberTypes": ["User"], "displayName": "Editors", "value": "Editors"},
                {"id": sync, "allowedMemberTypes": ["Application"], "displayName": "Sync", "value": "Sync"},
            ],
            "groupMembershipClaims": "SecurityGroup",
            "optionalClaims": {"accessToken": [{"name": "upn"}, {"name": "family_name"}]},
        });
        let (status, app) = server.call(&admin, Method::POST, "/v1.0/applications", Some(api.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {app}");
        assert_eq!(app["api"]["oauth2PermissionScopes"][1]["type"], "Admin", "{engine}");
        assert_eq!(app["optionalClaims"]["accessToken"][0]["name"], "upn", "{engine}");
        let app_path = format!("/v1.0/applications/{}", app["id"].as_str().unwrap());
        let api_app_id = app["appId"].as_str().unwrap().to_owned();
        let (_, sp) =
            server.call(&admin, Method::POST, "/v1.0/servicePrincipals", Some(json!({"appId": api_app_id}))).await;
        let api_sp = sp["id"].as_str().unwrap().to_owned();
        assert_eq!(sp["oauth2PermissionScopes"].as_array().map(Vec::len), Some(2), "{engine}: {sp}");
        assert_eq!(sp["servicePrincipalNames"], json!([api_app_id, uri]), "{engine}");

        for (body, why) in [
            (json!({"displayName": "copy", "identifierUris": [uri]}), "an identifier URI names one application"),
            (json!({"displayName": "x", "identifierUris": ["https://files.elsewhere.test"]}), "not a verified domain"),
        ] {
            let (status, error) = server.call(&admin, Method::POST, "/v1.0/applications", Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {why}: {error}");
        }
        let dropped = json!({"api": {"oauth2PermissionScopes": [scope(read, "Files.Read", "User", true)]}});
        let (status, error) = server.call(&admin, Method::PATCH, &app_path, Some(dropped)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: an enabled scope is disabled first: {error}");

        let client = server.client(&admin, true, "User.Read").await;
        let user = server.member(&admin, "fiona").await;
        let upn = "fiona@contoso.gatehouse.test";
        let files_read = format!("{uri}/Files.Read");
        let refused = server.password_grant(&tenant, &client.app_id, upn, PASSWORD, &files_read).await;
        assert_grant_error(engine, &refused, "invalid_grant", "AADSTS65001");
        let mixed =
            server.password_grant(&tenant, &client.app_id, upn, PASSWORD, &format!("User.Read {files_read}")).await;
        assert_grant_error(engine, &mixed, "invalid_scope", "AADSTS28000");
        let unknown =
            server.password_grant(&tenant, &client.app_id, upn, PASSWORD, "api://nothing-here/Files.Read").await;
        assert_grant_error(engine, &unknown, "invalid_resource", "AADSTS500011");
        let undefined =
            server.password_grant(&tenant, &client.app_id, upn, PASSWORD, &format!("{uri}/Files.Write")).await;
        assert_grant_error(engine, &undefined, "invalid_scope", "AADSTS70011");

        let grant =
            json!({"clientId": client.sp, "consentType": "AllPrincipals", "resourceId": api_sp, "scope": "files.read"});
        let (status, body) = server.call(&admin, Method::POST, "/v1.0/oauth2PermissionGrants", Some(grant)).await;
        assert_eq!((status, &body["scope"]), (StatusCode::CREATED, &json!("Files.Read")), "{engine}: {body}");
        let bad_grant =
            json!({"clientId": client.sp, "consentType": "AllPrincipals", "resourceId": api_sp, "scope": "User.Read"});
        let (status, _) = server.call(&admin, Method::POST, "/v1.0/oauth2PermissionGrants", Some(bad_grant)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: the API does not define Graph's scopes");

        let group =
            json!({"displayName": "editors", "mailEnabled": false, "mailNickname": "editors", "securityEnabled": true});
        let (_, group) = server.call(&admin, Method::POST, "/v1.0/groups", Some(group)).await;
        let group = group["id"].as_str().unwrap().to_owned();
        let member = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{user}")});
        server.call(&admin, Method::POST, &format!("/v1.0/groups/{group}/members/$ref"), Some(member)).await;
        let assignment = json!({"principalId": group, "resourceId": api_sp, "appRoleId": editors});
        let path = format!("/v1.0/groups/{group}/appRoleAssignments");
        assert_eq!(server.call(&admin, Method::POST, &path, Some(assignment)).await.0, StatusCode::CREATED);

        let scope = format!("{files_read} openid offline_access");
        let (status, body) = server.password_grant(&tenant, &client.app_id, upn, PASSWORD, &scope).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {body}");
        assert_eq!(body["scope"], format!("{files_read} openid offline_access"), "{engine}");
        let access = claims(body["access_token"].as_str().unwrap());
        assert_eq!(access["aud"], uri.as_str(), "{engine}: a version 1 API is named by the URI asked with");
        assert_eq!(access["scp"], "Files.Read", "{engine}: the API's scopes only");
        assert_eq!(access["roles"], json!(["Editors"]), "{engine}: through her group");
        assert_eq!(access["groups"], json!([group]), "{engine}");
        assert_eq!(access["upn"], upn, "{engine}: an optional claim");
        assert_eq!(access["azp"], client.app_id.as_str());
        let id = claims(body["id_token"].as_str().unwrap());
        assert_eq!(id["aud"], client.app_id.as_str(), "{engine}: the id token is the client's");
        assert!(id.get("roles").is_none(), "{engine}: the client has no roles of its own");
        let token = body["access_token"].as_str().unwrap();
        let (status, _) = server.call(token, Method::GET, "/v1.0/me", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{engine}: Graph takes only its own tokens");

        let refresh = body["refresh_token"].as_str().unwrap();
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", client.app_id.as_str()),
            ("refresh_token", refresh),
            ("scope", "User.Read"),
        ];
        let (status, graph) = server.grant(&tenant, &form).await;
        assert_eq!(status, StatusCode::OK, "{engine}: one refresh token, any consented resource: {graph}");
        assert_eq!(claims(graph["access_token"].as_str().unwrap())["aud"], "https://graph.microsoft.com");

        let admin_only = format!("{uri}/Files.Admin");
        let refused = server.password_grant(&tenant, &client.app_id, upn, PASSWORD, &admin_only).await;
        assert_grant_error(engine, &refused, "invalid_grant", "AADSTS65001");
        let (_, current) = server.call(&admin, Method::GET, &app_path, None).await;
        let mut api_settings = current["api"].clone();
        api_settings["requestedAccessTokenVersion"] = json!(2);
        api_settings["preAuthorizedApplications"] =
            json!([{"appId": client.app_id, "delegatedPermissionIds": [admin_scope]}]);
        let (status, body) = server.call(&admin, Method::PATCH, &app_path, Some(json!({"api": api_settings}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        let (status, body) = server.password_grant(&tenant, &client.app_id, upn, PASSWORD, &admin_only).await;
        assert_eq!(status, StatusCode::OK, "{engine}: a pre-authorized client needs no consent: {body}");
        let access = claims(body["access_token"].as_str().unwrap());
        assert_eq!(access["aud"], api_app_id.as_str(), "{engine}: a version 2 API is named by its app id");
        assert_eq!(access["scp"], "Files.Admin");
        let by_app_id =
            server.password_grant(&tenant, &client.app_id, upn, PASSWORD, &format!("{api_app_id}/.default")).await;
        assert_eq!(by_app_id.0, StatusCode::OK, "{engine}: {}", by_app_id.1);
        assert_eq!(claims(by_app_id.1["access_token"].as_str().unwrap())["scp"], "Files.Admin Files.Read");

        let daemon = server.client(&admin, false, "").await;
        let app_only = |scope: String| {
            let form = vec![
                ("grant_type", "client_credentials".to_owned()),
                ("client_id", daemon.app_id.clone()),
                ("client_secret", daemon.secret.clone()),
                ("scope", scope),
            ];
            let url = server.url(&format!("/{tenant}/oauth2/v2.0/token"));
            let request = server.http.post(url).form(&form).send();
            async move {
                let response = request.await.unwrap();
                (response.status(), response.json::<Value>().await.unwrap())
            }
        };
        let (status, body) = app_only(format!("{uri}/.default")).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {body}");
        assert!(claims(body["access_token"].as_str().unwrap()).get("roles").is_none_or(|r| r == &json!([])));
        let assignment = json!({"principalId": daemon.sp, "resourceId": api_sp, "appRoleId": sync});
        let path = format!("/v1.0/servicePrincipals/{}/appRoleAssignments", daemon.sp);
        let (status, body) = server.call(&admin, Method::POST, &path, Some(assignment)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {body}");
        let (status, body) = app_only(format!("{uri}/.default")).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {body}");
        let access = claims(body["access_token"].as_str().unwrap());
        assert_eq!((&access["aud"], &access["roles"]), (&json!(api_app_id), &json!(["Sync"])), "{engine}");
        let (status, body) = app_only("api://nothing-here/.default".to_owned()).await;
        assert_eq!((status, &body["error"]), (StatusCode::BAD_REQUEST, &json!("invalid_resource")), "{engine}");
    }
}

/// An API with a user scope `Files.Read` and an admin scope `Files.Admin`: its identifier URI and
/// service principal.
async fn files_api(server: &Server, admin: &str) -> (String, String) {
    let uri = format!("api://files-{}", Uuid::new_v4().simple());
    let scope = |value: &str, kind: &str| json!({"id": Uuid::new_v4(), "value": value, "type": kind});
    let body = json!({
        "displayName": "Files API",
        "identifierUris": [uri],
        "api": {"oauth2PermissionScopes": [scope("Files.Read", "User"), scope("Files.Admin", "Admin")]},
    });
    let (status, app) = server.call(admin, Method::POST, "/v1.0/applications", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let body = json!({"appId": app["appId"]});
    let (_, sp) = server.call(admin, Method::POST, "/v1.0/servicePrincipals", Some(body)).await;
    (uri, sp["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn people_consent_to_an_apis_scopes_at_the_pages() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let (uri, api_sp) = files_api(&server, &admin).await;
        let client = server.client(&admin, false, "").await;
        let redirect = "http://localhost:7778/callback";
        let body = json!({"publicClient": {"redirectUris": [redirect]}});
        let path = format!("/v1.0/applications/{}", client.object);
        assert_eq!(server.call(&admin, Method::PATCH, &path, Some(body)).await.0, StatusCode::NO_CONTENT);
        server.member(&admin, "hana").await;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let verifier = "another-verifier-of-at-least-forty-three-characters-987654";
        let challenge = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            <sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()),
        );
        let endpoint = server.url(&format!("/{tenant}/oauth2/v2.0/authorize"));
        let sign_in = |scope: String| {
            let query = [
                ("client_id", client.app_id.clone()),
                ("response_type", "code".to_owned()),
                ("redirect_uri", redirect.to_owned()),
                ("scope", scope),
                ("code_challenge", challenge.clone()),
                ("code_challenge_method", "S256".to_owned()),
            ];
            let url = reqwest::Url::parse_with_params(&endpoint, &query).unwrap();
            let (http, endpoint) = (&http, &endpoint);
            async move {
                let form = http.get(url).send().await.unwrap();
                let csrf = pair(&set_cookie(&form, "gatehouse_csrf").unwrap()).to_owned();
                let page = form.text().await.unwrap();
                let fields = [
                    ("ctx", hidden(&page, "ctx")),
                    ("csrf", hidden(&page, "csrf")),
                    ("login", "hana@contoso.gatehouse.test".to_owned()),
                    ("passwd", PASSWORD.to_owned()),
                ];
                let consent = http.post(endpoint).header(reqwest::header::COOKIE, csrf).form(&fields).send().await;
                let consent = consent.unwrap();
                assert_eq!(consent.status(), StatusCode::OK, "the consent page");
                let cookies = format!(
                    "{}; {}",
                    pair(&set_cookie(&consent, "gatehouse_csrf").unwrap()),
                    pair(&set_cookie(&consent, "gatehouse_session").unwrap())
                );
                let page = consent.text().await.unwrap();
                let answer = [
                    ("ctx", hidden(&page, "ctx")),
                    ("csrf", hidden(&page, "csrf")),
                    ("scopes", hidden(&page, "scopes")),
                    ("consent", "Accept".to_owned()),
                ];
                let accepted = http.post(endpoint).header(reqwest::header::COOKIE, cookies).form(&answer).send().await;
                (page, accepted.unwrap())
            }
        };

        let (page, refused) = sign_in(format!("{uri}/Files.Admin")).await;
        assert!(page.contains(&format!("{uri}/Files.Admin")), "{engine}: the page names the scope: {page}");
        let text = refused.text().await.unwrap();
        assert!(text.contains("AADSTS90094"), "{engine}: only an administrator consents to it: {text}");

        let (page, accepted) = sign_in(format!("{uri}/Files.Read openid")).await;
        assert!(page.contains(&format!("{uri}/Files.Read")), "{engine}: {page}");
        assert_eq!(accepted.status(), StatusCode::FOUND, "{engine}");
        let code = location_query(&accepted)["code"].clone();
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", client.app_id.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ];
        let (status, tokens) = server.grant(&tenant, &form).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {tokens}");
        let access = claims(tokens["access_token"].as_str().unwrap());
        assert_eq!((&access["aud"], &access["scp"]), (&json!(uri), &json!("Files.Read")), "{engine}");
        assert_eq!(tokens["scope"], format!("{uri}/Files.Read openid"), "{engine}");

        let (_, grants) = server.call(&admin, Method::GET, "/v1.0/oauth2PermissionGrants", None).await;
        let hers: Vec<&Value> = grants["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["clientId"] == client.sp.as_str() && g["resourceId"] == api_sp.as_str())
            .collect();
        assert_eq!(hers.len(), 1, "{engine}: {grants}");
        assert_eq!((&hers[0]["consentType"], &hers[0]["scope"]), (&json!("Principal"), &json!("Files.Read")));
    }
}
