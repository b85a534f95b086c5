//! Directory roles through Graph with real user tokens: role assignments, what each administrator role
//! may and may not do, Entra's rule on privileged targets, and role changes that count from the next request.

use crate::sign_in::PASSWORD;
use crate::support::{servers, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const HELPDESK: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";
const USER_ADMIN: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";
const LICENSE_ADMIN: &str = "4d6ac14f-3453-41d0-bef9-a3e0c569773a";
const GROUPS_ADMIN: &str = "fdd7a751-b60b-444a-984c-02652fe8fa1c";
const GLOBAL_READER: &str = "f2ef992c-3afb-46b9-b7cf-a126ee74c451";
const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";
const E3: &str = "6fd2c87f-b296-42f0-b197-1e91e994b900";
const ASSIGNMENTS: &str = "/v1.0/roleManagement/directory/roleAssignments";

impl Server {
    /// Assigns a directory role; returns the assignment's id.
    pub(crate) async fn assign_role(&self, admin: &str, role: &str, principal: &str) -> String {
        let body = json!({"roleDefinitionId": role, "principalId": principal, "directoryScopeId": "/"});
        let (status, assignment) = self.call(admin, Method::POST, ASSIGNMENTS, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{assignment}");
        assignment["id"].as_str().unwrap().to_owned()
    }

    /// A token for `alias` signed in to `client` with everything the person may do.
    pub(crate) async fn user_token(&self, client: &str, alias: &str) -> String {
        let tenant = self.tenant.tenant_id.to_string();
        let upn = format!("{alias}@contoso.gatehouse.test");
        let scope = "https://graph.microsoft.com/.default";
        let (status, body) = self.password_grant(&tenant, client, &upn, PASSWORD, scope).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }
}

fn refused(engine: &str, (status, body): (StatusCode, Value), why: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: {why}: {body}");
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied", "{engine}: {why}");
}

#[tokio::test]
async fn administrators_do_what_their_roles_allow_and_nothing_more() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let client = server.client(&admin, true, "Directory.AccessAsUser.All").await.app_id;
        let aliases = ["hd", "ua", "la", "gx", "gr", "tm", "boss"];
        let mut ids = std::collections::HashMap::new();
        for alias in aliases {
            ids.insert(alias, server.member(&admin, alias).await);
        }
        for (alias, role) in [
            ("hd", HELPDESK),
            ("ua", USER_ADMIN),
            ("la", LICENSE_ADMIN),
            ("gx", GROUPS_ADMIN),
            ("gr", GLOBAL_READER),
            ("boss", GLOBAL_ADMIN),
        ] {
            server.assign_role(&admin, role, &ids[alias]).await;
        }
        let token = |alias: &'static str| server.user_token(&client, alias);
        let (hd, ua, la, gx, gr) =
            (token("hd").await, token("ua").await, token("la").await, token("gx").await, token("gr").await);
        let user = |alias: &str| format!("/v1.0/users/{}", ids[alias]);
        let reset = json!({"passwordProfile": {"password": "R3set!Kestr3l", "forceChangePasswordNextSignIn": true}});

        let (status, body) = server.call(&hd, Method::PATCH, &user("tm"), Some(reset.clone())).await;
        assert_eq!(
            status,
            StatusCode::NO_CONTENT,
            "{engine}: a Helpdesk Administrator resets a member's password: {body}"
        );
        refused(
            engine,
            server.call(&hd, Method::PATCH, &user("ua"), Some(reset.clone())).await,
            "not a User Administrator's",
        );
        refused(
            engine,
            server.call(&hd, Method::PATCH, &user("boss"), Some(reset.clone())).await,
            "not a Global Administrator's",
        );
        refused(
            engine,
            server.call(&hd, Method::POST, "/v1.0/users", Some(crate::support::new_user("x1"))).await,
            "no creating",
        );
        let rename = json!({"displayName": "Renamed"});
        refused(engine, server.call(&hd, Method::PATCH, &user("tm"), Some(rename.clone())).await, "no other writes");

        let subscribe = json!({"skuPartNumber": "ENTERPRISEPACK", "prepaidUnits": {"enabled": 5}});
        assert_eq!(
            server.call(&admin, Method::POST, "/v1.0/subscribedSkus", Some(subscribe)).await.0,
            StatusCode::CREATED
        );
        let mut new_user = crate::support::new_user("made-by-ua");
        new_user["usageLocation"] = json!("US");
        let (status, made) = server.call(&ua, Method::POST, "/v1.0/users", Some(new_user)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: a User Administrator creates users: {made}");
        let license = json!({"addLicenses": [{"skuId": E3}], "removeLicenses": []});
        let path = format!("/v1.0/users/{}/assignLicense", made["id"].as_str().unwrap());
        let (status, body) = server.call(&ua, Method::POST, &path, Some(license.clone())).await;
        assert_eq!(status, StatusCode::OK, "{engine}: and assigns licenses: {body}");
        refused(
            engine,
            server.call(&ua, Method::PATCH, &user("boss"), Some(reset.clone())).await,
            "not a Global Administrator's",
        );

        let (status, body) = server.call(&la, Method::PATCH, &user("tm"), Some(json!({"usageLocation": "NL"}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: a License Administrator sets usageLocation: {body}");
        let path = format!("{}/assignLicense", user("tm"));
        let (status, body) = server.call(&la, Method::POST, &path, Some(license.clone())).await;
        assert_eq!(status, StatusCode::OK, "{engine}: and assigns licenses: {body}");
        refused(
            engine,
            server.call(&la, Method::POST, "/v1.0/users", Some(crate::support::new_user("x2"))).await,
            "no creating",
        );
        refused(engine, server.call(&la, Method::PATCH, &user("tm"), Some(rename.clone())).await, "usageLocation only");

        let group =
            json!({"displayName": "team", "mailEnabled": false, "mailNickname": "team", "securityEnabled": true});
        let (status, team) = server.call(&gx, Method::POST, "/v1.0/groups", Some(group)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: a Groups Administrator creates groups: {team}");
        let member = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", ids["tm"])});
        let path = format!("/v1.0/groups/{}/members/$ref", team["id"].as_str().unwrap());
        assert_eq!(
            server.call(&gx, Method::POST, &path, Some(member.clone())).await.0,
            StatusCode::NO_CONTENT,
            "{engine}"
        );
        let privileged = json!({"displayName": "admins", "mailEnabled": false, "mailNickname": "admins", "securityEnabled": true, "isAssignableToRole": true});
        let (status, admins) = server.call(&admin, Method::POST, "/v1.0/groups", Some(privileged)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {admins}");
        let path = format!("/v1.0/groups/{}/members/$ref", admins["id"].as_str().unwrap());
        refused(engine, server.call(&gx, Method::POST, &path, Some(member)).await, "not a role-assignable group");
        refused(engine, server.call(&gx, Method::PATCH, &user("tm"), Some(rename.clone())).await, "no user writes");

        for path in ["/v1.0/users", "/v1.0/subscribedSkus", "/v1.0/oauth2PermissionGrants", ASSIGNMENTS] {
            let (status, body) = server.call(&gr, Method::GET, path, None).await;
            assert_eq!(status, StatusCode::OK, "{engine}: a Global Reader reads {path}: {body}");
        }
        refused(
            engine,
            server.call(&gr, Method::POST, "/v1.0/users", Some(crate::support::new_user("x3"))).await,
            "reads only",
        );
        refused(engine, server.call(&gr, Method::PATCH, &user("tm"), Some(rename)).await, "reads only");

        let filter = format!("{ASSIGNMENTS}?$filter=principalId eq '{}'&$expand=principal", ids["gr"]);
        let (status, held) = server.call(&gr, Method::GET, &filter, None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {held}");
        let held = held["value"].as_array().unwrap().clone();
        assert_eq!(held.len(), 1, "{engine}: {held:?}");
        assert_eq!(held[0]["roleDefinitionId"], GLOBAL_READER);
        assert_eq!(held[0]["principal"]["userPrincipalName"], "gr@contoso.gatehouse.test");
        let (_, members) =
            server.call(&gr, Method::GET, &format!("/v1.0/directoryRoles/{HELPDESK}/members"), None).await;
        assert_eq!(members["value"][0]["id"], ids["hd"].as_str(), "{engine}: {members}");
        let id = held[0]["id"].as_str().unwrap();
        refused(
            engine,
            server.call(&gr, Method::DELETE, &format!("{ASSIGNMENTS}/{id}"), None).await,
            "no role management",
        );
        let (status, _) = server.call(&admin, Method::DELETE, &format!("{ASSIGNMENTS}/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}");
        refused(
            engine,
            server.call(&gr, Method::GET, "/v1.0/subscribedSkus", None).await,
            "the removed role counts at once",
        );

        let filter = format!("{ASSIGNMENTS}?$filter=roleDefinitionId eq '{GLOBAL_ADMIN}'");
        let (_, globals) = server.call(&admin, Method::GET, &filter, None).await;
        assert_eq!(
            globals["value"].as_array().map(Vec::len),
            Some(2),
            "{engine}: the first administrator and boss: {globals}"
        );
        let mut globals = globals["value"].as_array().unwrap().clone();
        globals.sort_by_key(|a| a["principalId"] != ids["boss"].as_str());
        for (assignment, expected) in globals.iter().zip([StatusCode::NO_CONTENT, StatusCode::BAD_REQUEST]) {
            let path = format!("{ASSIGNMENTS}/{}", assignment["id"].as_str().unwrap());
            let (status, body) = server.call(&admin, Method::DELETE, &path, None).await;
            assert_eq!(status, expected, "{engine}: boss goes, the last Global Administrator stays: {body}");
        }
    }
}

#[tokio::test]
async fn authentication_administrators_reset_passwords_through_the_password_method() {
    const AUTHENTICATION_ADMIN: &str = "c4e39bd9-1100-46d3-8c65-fb160da0071f";
    const PASSWORD_METHOD: &str = "28c10230-6103-485e-b985-444c60001490";
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let client = server.client(&admin, true, "Directory.AccessAsUser.All").await.app_id;
        let mut ids = std::collections::HashMap::new();
        for alias in ["aa", "hd", "tm", "boss"] {
            ids.insert(alias, server.member(&admin, alias).await);
        }
        for (alias, role) in [("aa", AUTHENTICATION_ADMIN), ("hd", HELPDESK), ("boss", GLOBAL_ADMIN)] {
            server.assign_role(&admin, role, &ids[alias]).await;
        }
        let (aa, hd) = (server.user_token(&client, "aa").await, server.user_token(&client, "hd").await);
        let reset =
            |alias: &str| format!("/v1.0/users/{}/authentication/methods/{PASSWORD_METHOD}/resetPassword", ids[alias]);

        let (status, methods) = server
            .call(&aa, Method::GET, &format!("/v1.0/users/{}/authentication/passwordMethods", ids["tm"]), None)
            .await;
        assert_eq!(
            (status, &methods["value"][0]["id"]),
            (StatusCode::OK, &json!(PASSWORD_METHOD)),
            "{engine}: {methods}"
        );
        assert_eq!(methods["value"][0]["password"], Value::Null, "{engine}: never shown");

        let response =
            server.http.post(server.url(&reset("tm"))).bearer_auth(&aa).json(&json!({})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{engine}");
        let location = response.headers()[reqwest::header::LOCATION].to_str().unwrap().to_owned();
        let generated: Value = response.json().await.unwrap();
        let password = generated["newPassword"].as_str().unwrap().to_owned();
        assert_eq!(password.len(), 16, "{engine}: {generated}");
        let operation = location.split("/v1.0").nth(1).map(|p| format!("/v1.0{p}")).unwrap();
        let (status, state) = server.call(&aa, Method::GET, &operation, None).await;
        assert_eq!((status, &state["status"]), (StatusCode::OK, &json!("succeeded")), "{engine}: {state}");
        let tenant = server.tenant.tenant_id.to_string();
        let (status, body) =
            server.password_grant(&tenant, &client, "tm@contoso.gatehouse.test", &password, "User.Read").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {body}");
        assert!(
            body["error_description"].as_str().unwrap().starts_with("AADSTS50055"),
            "{engine}: the generated password is right, and must be changed first: {body}"
        );

        let given = json!({"newPassword": "Tr4vel-Kite-Moss"});
        for (token, path, why) in [
            (&aa, reset("aa"), "never on oneself"),
            (&aa, reset("boss"), "not a Global Administrator's"),
            (&hd, reset("tm"), "a Helpdesk Administrator resets with passwordProfile, not here"),
            (&admin, reset("tm"), "delegated only"),
        ] {
            let (status, body) = server.call(token, Method::POST, &path, Some(given.clone())).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: {why}: {body}");
        }
        let wrong_method =
            format!("/v1.0/users/{}/authentication/methods/{}/resetPassword", ids["tm"], uuid::Uuid::new_v4());
        let (status, _) = server.call(&aa, Method::POST, &wrong_method, Some(given)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{engine}");
    }
}

/// One request per action, as the role table names it: the request a holder of a role makes, and the
/// action that decides it.
fn request_of(
    action: gatehouse_core::auth::authorization::Action,
    target: &str,
    run: &str,
) -> (Method, String, Option<Value>) {
    use gatehouse_core::auth::authorization::Action::*;
    let user = format!("/v1.0/users/{target}");
    match action {
        ReadUsers => (Method::GET, "/v1.0/users".into(), None),
        WriteUsers => (Method::POST, "/v1.0/users".into(), Some(crate::support::new_user(&format!("made-{run}")))),
        ReadGroups => (Method::GET, "/v1.0/groups".into(), None),
        WriteGroups => {
            let body = json!({"displayName": run, "mailEnabled": false, "mailNickname": format!("g-{run}"), "securityEnabled": true});
            (Method::POST, "/v1.0/groups".into(), Some(body))
        }
        WriteUsageLocation => (Method::PATCH, user, Some(json!({"usageLocation": "CA"}))),
        ResetPasswords => {
            let body =
                json!({"passwordProfile": {"password": "Tr4vel-Kite-Moss", "forceChangePasswordNextSignIn": false}});
            (Method::PATCH, user, Some(body))
        }
        RevokeSessions => (Method::POST, format!("{user}/revokeSignInSessions"), None),
        AssignLicenses => {
            let body = json!({"addLicenses": [{"skuId": E3}], "removeLicenses": []});
            (Method::POST, format!("{user}/assignLicense"), Some(body))
        }
        ReadOrganization => (Method::GET, "/v1.0/subscribedSkus".into(), None),
        WriteApplications => (Method::POST, "/v1.0/applications".into(), Some(json!({"displayName": run}))),
        ReadPermissionGrants => (Method::GET, "/v1.0/oauth2PermissionGrants".into(), None),
        ReadDirectorySettings => (Method::GET, "/v1.0/groupSettings".into(), None),
        ReadRoles => (Method::GET, ASSIGNMENTS.into(), None),
        WriteRoles => {
            let body = json!({"roleDefinitionId": "88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "principalId": target, "directoryScopeId": "/"});
            (Method::POST, ASSIGNMENTS.into(), Some(body))
        }
        other => panic!("no request for {other:?}"),
    }
}

/// The role matrix through Graph, cell by cell: for each built-in role, a person holding it alone makes one
/// request per action with their own token; what the role table (the code's own, `user_may`) allows must
/// succeed and what it does not must be `403`.
#[tokio::test]
async fn every_role_is_allowed_what_the_table_says_through_graph() {
    use gatehouse_core::auth::authorization::{user_may, Action::*, Standing, Target};
    use gatehouse_core::auth::roles::ROLES;
    let actions = [
        ReadUsers,
        ReadGroups,
        ReadOrganization,
        ReadPermissionGrants,
        ReadDirectorySettings,
        ReadRoles,
        WriteUsageLocation,
        AssignLicenses,
        ResetPasswords,
        RevokeSessions,
        WriteUsers,
        WriteGroups,
        WriteApplications,
        WriteRoles,
    ];
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let client = server.client(&admin, true, "Directory.AccessAsUser.All").await.app_id;
        let subscribe = json!({"skuPartNumber": "ENTERPRISEPACK", "prepaidUnits": {"enabled": 50}});
        assert_eq!(
            server.call(&admin, Method::POST, "/v1.0/subscribedSkus", Some(subscribe)).await.0,
            StatusCode::CREATED
        );
        let mut cells = 0;
        for (n, role) in ROLES.iter().enumerate() {
            let (holder, target) = (format!("holder{n}"), format!("target{n}"));
            let holder_id = server.member(&admin, &holder).await;
            let target_id = server.member(&admin, &target).await;
            let located = json!({"usageLocation": "US"});
            server.call(&admin, Method::PATCH, &format!("/v1.0/users/{target_id}"), Some(located)).await;
            server.assign_role(&admin, role.id, &holder_id).await;
            let upn = format!("{holder}@contoso.gatehouse.test");
            let tenant = server.tenant.tenant_id.to_string();
            let (status, issued) =
                server.password_grant(&tenant, &client, &upn, PASSWORD, "https://graph.microsoft.com/.default").await;
            assert_eq!(status, StatusCode::OK, "{issued}");
            let token = issued["access_token"].as_str().unwrap();
            for action in actions {
                let (method, path, body) = request_of(action, &target_id, &format!("{n}-{action:?}").to_lowercase());
                let (status, answer) = server.call(token, method.clone(), &path, body).await;
                let allowed = user_may(&[role.id.to_owned()], Standing::Member, action, &Target::Tenant);
                match allowed {
                    true => assert!(
                        status.is_success(),
                        "{engine}: {} may {action:?}: {method} {path}: {status} {answer}",
                        role.name
                    ),
                    false => assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{engine}: {} may not {action:?}: {method} {path}: {answer}",
                        role.name
                    ),
                }
                cells += 1;
            }
        }
        assert_eq!(cells, ROLES.len() * actions.len());
    }
}
