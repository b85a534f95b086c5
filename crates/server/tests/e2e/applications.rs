//! Applications, service principals, client secrets, and granting Graph permissions.

use crate::support::{claims, new_user, servers};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const USER_READ_ALL: &str = "df021288-bdef-4463-88db-98f22de89214";

#[tokio::test]
async fn an_app_gets_exactly_the_permissions_granted_to_it() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();

        let (status, app) =
            server.call(&admin, Method::POST, "/v1.0/applications", Some(json!({"displayName": "HR sync"}))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {app}");
        let app_id = app["appId"].as_str().unwrap().to_owned();
        let app_object = app["id"].as_str().unwrap().to_owned();
        let (status, sp) =
            server.call(&admin, Method::POST, "/v1.0/servicePrincipals", Some(json!({"appId": app_id}))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {sp}");
        let sp_id = sp["id"].as_str().unwrap().to_owned();
        let (status, again) =
            server.call(&admin, Method::POST, "/v1.0/servicePrincipals", Some(json!({"appId": app_id}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "one service principal per app: {again}");

        let (status, secret) = server
            .call(
                &admin,
                Method::POST,
                &format!("/v1.0/applications/{app_object}/addPassword"),
                Some(json!({"passwordCredential": {"displayName": "ci"}})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{engine}: {secret}");
        let text = secret["secretText"].as_str().unwrap().to_owned();
        let key_id = secret["keyId"].as_str().unwrap().to_owned();
        assert_eq!(secret["hint"].as_str().unwrap(), &text[..3]);
        let (_, stored) = server.call(&admin, Method::GET, &format!("/v1.0/applications/{app_object}"), None).await;
        assert_eq!(stored["passwordCredentials"][0]["keyId"], key_id.as_str());
        assert_eq!(stored["passwordCredentials"][0]["secretText"], Value::Null, "a secret is shown once");

        let bare = server.token(&tenant, &app_id, &text).await;
        assert_eq!(claims(&bare)["roles"], json!([]));
        let (status, denied) = server.call(&bare, Method::GET, "/v1.0/users", None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(denied["error"]["code"], "Authorization_RequestDenied");

        let graph = server.graph_principal(&admin).await;
        let grant = json!({"principalId": sp_id, "resourceId": graph, "appRoleId": USER_READ_ALL});
        let path = format!("/v1.0/servicePrincipals/{sp_id}/appRoleAssignments");
        let (status, assignment) = server.call(&admin, Method::POST, &path, Some(grant.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {assignment}");
        let (status, _) = server.call(&admin, Method::POST, &path, Some(grant)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "the same grant twice");

        let reader = server.token(&tenant, &app_id, &text).await;
        assert_eq!(claims(&reader)["roles"], json!(["User.Read.All"]));
        assert_eq!(server.call(&reader, Method::GET, "/v1.0/users", None).await.0, StatusCode::OK);
        let (status, body) = server.call(&reader, Method::POST, "/v1.0/users", Some(new_user("mallory"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, _) =
            server.call(&reader, Method::POST, "/v1.0/applications", Some(json!({"displayName": "x"}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let (_, listed) = server.call(&admin, Method::GET, &path, None).await;
        let assignment_id = listed["value"][0]["id"].as_str().unwrap().to_owned();
        assert_eq!(listed["value"][0]["resourceDisplayName"], "Microsoft Graph");
        let (status, _) = server.call(&admin, Method::DELETE, &format!("{path}/{assignment_id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(claims(&server.token(&tenant, &app_id, &text).await)["roles"], json!([]));

        let (status, _) = server
            .call(
                &admin,
                Method::POST,
                &format!("/v1.0/applications/{app_object}/removePassword"),
                Some(json!({"keyId": key_id})),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, refused) = server.token_response(&tenant, &app_id, &text).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{engine}: {refused}");
        assert_eq!(refused["error"], "invalid_client");

        let (status, _) = server.call(&admin, Method::DELETE, &format!("/v1.0/applications/{app_object}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = server.call(&admin, Method::GET, &format!("/v1.0/servicePrincipals/{sp_id}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "the app's service principal goes with it");
        let (_, deleted) =
            server.call(&admin, Method::GET, "/v1.0/directory/deletedItems/microsoft.graph.application", None).await;
        assert_eq!(deleted["value"][0]["id"], app_object.as_str(), "{deleted}");
    }
}

#[tokio::test]
async fn the_token_endpoint_speaks_oauth() {
    let server = crate::support::sqlite_server().await;
    let t = &server.tenant;
    let tenant = t.tenant_id.to_string();

    // client_secret_basic, by tenant domain.
    let response = server
        .http
        .post(server.url(&format!("/{}/oauth2/v2.0/token", t.tenant_domain.to_uppercase())))
        .basic_auth(t.client_id, Some(&t.client_secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap();
    let c = claims(token);
    assert_eq!(c["tid"], tenant.as_str());
    assert_eq!(c["iss"], format!("{}/{tenant}/v2.0", server.base));
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    assert_eq!(c["azp"], t.client_id.to_string());
    assert_eq!(c["ver"], "2.0");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 3599);
    let mut roles: Vec<&str> = c["roles"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    roles.sort();
    assert_eq!(
        roles,
        [
            "AppRoleAssignment.ReadWrite.All",
            "Application.ReadWrite.All",
            "AuditLog.Read.All",
            "DelegatedPermissionGrant.ReadWrite.All",
            "Directory.ReadWrite.All",
            "Domain.ReadWrite.All",
            "Group.ReadWrite.All",
            "LicenseAssignment.ReadWrite.All",
            "Organization.ReadWrite.All",
            "Policy.Read.All",
            "Policy.ReadWrite.AuthenticationMethod",
            "Policy.ReadWrite.Authorization",
            "Policy.ReadWrite.ConditionalAccess",
            "RoleManagement.ReadWrite.Directory",
            "User.Invite.All",
            "User.ReadWrite.All",
            "UserAuthenticationMethod.ReadWrite.All"
        ]
    );

    let discovery: Value = server
        .http
        .get(server.url(&format!("/{tenant}/v2.0/.well-known/openid-configuration")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], c["iss"]);
    let keys: Value =
        server.http.get(discovery["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(keys["keys"][0]["kid"], header["kid"]);
    assert_eq!(header["alg"], "RS256");

    type Form<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Form, StatusCode, &str); 7] = [
        (&[("grant_type", "implicit"), ("client_id", "x")], StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        (&[("grant_type", "password"), ("client_id", "x")], StatusCode::BAD_REQUEST, "invalid_request"),
        (&[("client_id", "x")], StatusCode::BAD_REQUEST, "invalid_request"),
        (
            &[("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "00000000-0000-0000-0000-000000000001"),
                ("client_secret", "nope"),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            &[("grant_type", "client_credentials"), ("client_id", "c"), ("client_secret", "s"), ("scope", "User.Read")],
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "c"),
                ("client_secret", "s"),
                ("scope", "https://example.com/.default"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_resource",
        ),
    ];
    for (form, status, error) in cases {
        let response =
            server.http.post(server.url(&format!("/{tenant}/oauth2/v2.0/token"))).form(form).send().await.unwrap();
        assert_eq!(response.status(), status, "{form:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error, "{form:?}: {body}");
        assert!(body["error_description"].is_string());
    }
    let (status, wrong_secret) = server.token_response(&tenant, &t.client_id.to_string(), "not-the-secret").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_secret["error_codes"], json!([7000215]));
    let response = server
        .http
        .post(server.url("/nowhere.test/oauth2/v2.0/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

/// Applications and service principals answer the same query language as users, with their own vocabulary:
/// how a script finds "the service principal of this appId" or "every app whose name starts with Payroll".
#[tokio::test]
async fn applications_and_service_principals_answer_graph_queries() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let mut app_ids = Vec::new();
        for (name, tags) in [
            ("Payroll Sync", json!(["hr", "nightly"])),
            ("payroll reports", json!(["hr"])),
            ("Expense tool", json!([])),
        ] {
            let (status, app) = server
                .call(&admin, Method::POST, "/v1.0/applications", Some(json!({"displayName": name, "tags": tags})))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{engine}: {app}");
            app_ids.push(app["appId"].as_str().unwrap().to_owned());
            server.clock.advance(chrono::Duration::seconds(1));
        }
        let (status, sp) =
            server.call(&admin, Method::POST, "/v1.0/servicePrincipals", Some(json!({"appId": app_ids[1]}))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {sp}");

        let names = |body: &Value| -> Vec<String> {
            body["value"].as_array().unwrap().iter().map(|a| a["displayName"].as_str().unwrap().to_owned()).collect()
        };
        let get = |path: &'static str| {
            let (server, admin) = (&server, &admin);
            async move { server.call(admin, Method::GET, path, None).await }
        };
        let (status, body) = get("/v1.0/applications?$filter=startswith(displayName,'PAYROLL')").await;
        assert_eq!(status, StatusCode::OK, "{engine}: {body}");
        let mut found = names(&body);
        found.sort();
        assert_eq!(found, ["Payroll Sync", "payroll reports"], "{engine}: case-insensitive prefix");
        let (_, body) = get("/v1.0/applications?$filter=tags/any(t:t%20eq%20'nightly')").await;
        assert_eq!(names(&body), ["Payroll Sync"], "{engine}");

        let path = format!("/v1.0/applications?$filter=appId%20eq%20'{}'", app_ids[2]);
        let (_, body) = server.call(&admin, Method::GET, &path, None).await;
        assert_eq!(names(&body), ["Expense tool"], "{engine}");
        let path = format!("/v1.0/servicePrincipals?$filter=appId%20eq%20'{}'", app_ids[1]);
        let (_, body) = server.call(&admin, Method::GET, &path, None).await;
        assert_eq!(names(&body), ["payroll reports"], "{engine}: a service principal found by its app's id");
        let (_, body) = get("/v1.0/servicePrincipals?$filter=startswith(displayName,'payroll')").await;
        assert_eq!(names(&body), ["payroll reports"], "{engine}: no service principal for the other app");

        let (status, body) = get("/v1.0/applications?$filter=startswith(appId,'0')").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: an application's appId filters with eq only");
        assert_eq!(body["error"]["code"], "Request_UnsupportedQuery");
        let (status, body) = get("/v1.0/applications?$filter=notes%20eq%20'x'").await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!("Request_UnsupportedQuery"))
        );
        let (status, _) = get("/v1.0/applications?$filter=displayName%20ne%20'Expense%20tool'").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: ne is an advanced query");

        let (status, body) = server
            .advanced(
                &admin,
                "/v1.0/applications?$count=true&$filter=tags/any(t:t%20eq%20'hr')&$orderby=displayName%20desc",
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{engine}: {body}");
        assert_eq!(names(&body), ["Payroll Sync", "payroll reports"], "{engine}: folded names, descending");
        assert_eq!(body["@odata.count"], 2);
        let (_, body) = get("/v1.0/applications?$orderby=createdDateTime%20desc&$top=2").await;
        assert_eq!(names(&body), ["Expense tool", "payroll reports"], "{engine}: newest first");
        let (_, body) = server.advanced(&admin, "/v1.0/applications?$search=%22displayName:sync%22").await;
        assert_eq!(names(&body), ["Payroll Sync"], "{engine}: a word of the name");
        let (_, count) =
            server.advanced(&admin, "/v1.0/applications/$count?$filter=startswith(displayName,'payroll')").await;
        assert_eq!(count, 2, "{engine}");
        let (_, count) =
            server.advanced(&admin, "/v1.0/servicePrincipals/$count?$filter=accountEnabled%20eq%20true").await;
        assert!(count.as_u64().unwrap() >= 2, "{engine}: Graph's and this app's service principals: {count}");
    }
}

#[tokio::test]
async fn a_deleted_app_comes_back_with_its_service_principal_and_grants_and_a_disabled_one_gets_no_token() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let (_, app) =
            server.call(&admin, Method::POST, "/v1.0/applications", Some(json!({"displayName": "ops"}))).await;
        let (app_id, app_object) = (app["appId"].as_str().unwrap().to_owned(), app["id"].as_str().unwrap().to_owned());
        let (_, sp) =
            server.call(&admin, Method::POST, "/v1.0/servicePrincipals", Some(json!({"appId": app_id}))).await;
        let sp_id = sp["id"].as_str().unwrap().to_owned();
        let path = format!("/v1.0/applications/{app_object}/addPassword");
        let (_, secret) = server.call(&admin, Method::POST, &path, Some(json!({"passwordCredential": {}}))).await;
        let secret = secret["secretText"].as_str().unwrap().to_owned();
        let graph = server.graph_principal(&admin).await;
        let grant = json!({"principalId": sp_id, "resourceId": graph, "appRoleId": USER_READ_ALL});
        let assignments = format!("/v1.0/servicePrincipals/{sp_id}/appRoleAssignments");
        let (status, _) = server.call(&admin, Method::POST, &assignments, Some(grant)).await;
        assert_eq!(status, StatusCode::CREATED);
        let token = server.token(&tenant, &app_id, &secret).await;
        assert_eq!(server.call(&token, Method::GET, "/v1.0/users", None).await.0, StatusCode::OK);

        let (status, _) = server.call(&admin, Method::DELETE, &format!("/v1.0/applications/{app_object}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = server.call(&token, Method::GET, "/v1.0/users", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{engine}: a deleted app's tokens stop at once");
        let (_, deleted) = server
            .call(&admin, Method::GET, "/v1.0/directory/deletedItems/microsoft.graph.servicePrincipal", None)
            .await;
        assert_eq!(
            deleted["value"][0]["id"],
            sp_id.as_str(),
            "{engine}: the service principal is in deleted items: {deleted}"
        );
        let (status, body) =
            server.call(&admin, Method::POST, &format!("/v1.0/directory/deletedItems/{sp_id}/restore"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: its application first: {body}");
        let (status, body) = server
            .call(&admin, Method::POST, &format!("/v1.0/directory/deletedItems/{app_object}/restore"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{engine}: {body}");
        let (status, _) = server.call(&admin, Method::GET, &format!("/v1.0/servicePrincipals/{sp_id}"), None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: the service principal came back with its application");
        let (_, granted) = server.call(&admin, Method::GET, &assignments, None).await;
        assert_eq!(granted["value"][0]["appRoleId"], USER_READ_ALL, "{engine}: with its grants: {granted}");
        let token = server.token(&tenant, &app_id, &secret).await;
        assert_eq!(
            server.call(&token, Method::GET, "/v1.0/users", None).await.0,
            StatusCode::OK,
            "{engine}: and its secret"
        );

        let principal = format!("/v1.0/servicePrincipals/{sp_id}");
        let (status, body) =
            server.call(&admin, Method::PATCH, &principal, Some(json!({"accountEnabled": false}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        let (status, _) = server.call(&token, Method::GET, "/v1.0/users", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{engine}: a disabled service principal's tokens stop");
        let (status, refused) = server.token_response(&tenant, &app_id, &secret).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {refused}");
        assert_eq!(refused["error"], "unauthorized_client");
        let (status, _) = server.call(&admin, Method::PATCH, &principal, Some(json!({"accountEnabled": true}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let token = server.token(&tenant, &app_id, &secret).await;
        assert_eq!(server.call(&token, Method::GET, "/v1.0/users", None).await.0, StatusCode::OK);

        let graph_path = format!("/v1.0/servicePrincipals/{graph}");
        let (status, _) = server.call(&admin, Method::PATCH, &graph_path, Some(json!({"accountEnabled": false}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: Microsoft Graph's service principal stays");
        let (status, _) = server.call(&admin, Method::PATCH, &principal, Some(json!({"appId": "x"}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: read-only properties are refused");
    }
}
