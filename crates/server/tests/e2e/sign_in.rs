//! People sign in: the password grant, refresh tokens, consent, delegated calls to Graph (`/me`), on every
//! engine, with Entra's errors for everything that must fail.

use crate::support::{cheap_hashing, claims, new_user, servers, Server};
use gatehouse_core::sign_in::{ClientRequest, Tenancy};
use gatehouse_core::Directory;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub(crate) const PASSWORD: &str = "Str0ng!Kestr3l";

/// A registered client: its app id, service principal and a client secret.
pub(crate) struct Client {
    pub(crate) app_id: String,
    /// The application's object id.
    pub(crate) object: String,
    pub(crate) sp: String,
    pub(crate) secret: String,
}

impl Server {
    /// Registers an app (a public client when `public`), with admin consent for `scope` of Graph.
    pub(crate) async fn client(&self, admin: &str, public: bool, scope: &str) -> Client {
        let body = json!({"displayName": "sign-in app", "isFallbackPublicClient": public});
        let (status, app) = self.call(admin, Method::POST, "/v1.0/applications", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{app}");
        let app_id = app["appId"].as_str().unwrap().to_owned();
        let (_, sp) = self.call(admin, Method::POST, "/v1.0/servicePrincipals", Some(json!({"appId": app_id}))).await;
        let sp = sp["id"].as_str().unwrap().to_owned();
        let path = format!("/v1.0/applications/{}/addPassword", app["id"].as_str().unwrap());
        let (_, secret) = self.call(admin, Method::POST, &path, Some(json!({"passwordCredential": {}}))).await;
        if !scope.is_empty() {
            let graph = self.graph_principal(admin).await;
            let grant = json!({"clientId": sp, "consentType": "AllPrincipals", "resourceId": graph, "scope": scope});
            let (status, body) = self.call(admin, Method::POST, "/v1.0/oauth2PermissionGrants", Some(grant)).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let object = app["id"].as_str().unwrap().to_owned();
        Client { app_id, object, sp, secret: secret["secretText"].as_str().unwrap().to_owned() }
    }

    /// Posts a form to a tenant's token endpoint.
    pub(crate) async fn grant(&self, tenant: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let url = self.url(&format!("/{tenant}/oauth2/v2.0/token"));
        let response = self.http.post(url).form(form).send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }

    pub(crate) async fn password_grant(
        &self,
        tenant: &str,
        client: &str,
        username: &str,
        password: &str,
        scope: &str,
    ) -> (StatusCode, Value) {
        let form = [
            ("grant_type", "password"),
            ("client_id", client),
            ("username", username),
            ("password", password),
            ("scope", scope),
            ("client_info", "1"),
        ];
        self.grant(tenant, &form).await
    }

    pub(crate) async fn refresh_grant(&self, tenant: &str, client: &str, token: &str) -> (StatusCode, Value) {
        let form = [("grant_type", "refresh_token"), ("client_id", client), ("refresh_token", token)];
        self.grant(tenant, &form).await
    }

    pub(crate) async fn member(&self, admin: &str, alias: &str) -> String {
        let mut body = new_user(alias);
        body["passwordProfile"]["forceChangePasswordNextSignIn"] = json!(false);
        let (status, user) = self.call(admin, Method::POST, "/v1.0/users", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        user["id"].as_str().unwrap().to_owned()
    }
}

pub(crate) fn assert_grant_error(engine: &str, (status, body): &(StatusCode, Value), error: &str, code: &str) {
    assert_eq!(*status, StatusCode::BAD_REQUEST, "{engine}: {body}");
    assert_eq!(body["error"], error, "{engine}: {body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.starts_with(code), "{engine}: {code} expected: {body}");
}

#[tokio::test]
async fn a_person_signs_in_with_a_password_and_reads_their_own_profile() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let client = server.client(&admin, true, "User.Read").await;
        let user = server.member(&admin, "ada").await;
        let upn = "ada@contoso.gatehouse.test";
        let scope = "User.Read openid profile offline_access";

        let (status, body) = server.password_grant(&tenant, &client.app_id, upn, PASSWORD, scope).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {body}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], "User.Read openid profile offline_access", "{engine}");
        let access = claims(body["access_token"].as_str().unwrap());
        assert_eq!(access["idtyp"], "user");
        assert_eq!(access["oid"], user.as_str());
        assert_eq!(access["tid"], tenant.as_str());
        assert_eq!(access["azp"], client.app_id.as_str());
        assert_eq!(access["azpacr"], "0", "a public client proved nothing");
        assert_eq!(access["scp"], "User.Read openid profile offline_access");
        assert_eq!(access["amr"], json!(["pwd"]));
        assert_eq!(access["wids"], json!(["b79fbf4d-3ef9-4689-8143-76b194e85509"]), "a member's implicit role");
        let id = claims(body["id_token"].as_str().unwrap());
        assert_eq!(id["aud"], client.app_id.as_str(), "an id token is for the client");
        assert_eq!(id["preferred_username"], upn);
        assert_eq!(id["sub"], access["sub"], "one app sees one subject");
        assert_ne!(id["sub"], user.as_str(), "the subject is pairwise, not the object id");
        let info: Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                body["client_info"].as_str().unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(info, json!({"uid": user, "utid": tenant}));
        assert!(body["refresh_token"].as_str().is_some_and(|t| t.len() > 40));

        let token = body["access_token"].as_str().unwrap();
        let (status, groups) = server.call(token, Method::GET, "/v1.0/me/memberOf", None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: one's own memberships need User.Read, as Graph says: {groups}");
        let (status, me) = server.call(token, Method::GET, "/v1.0/me?$select=displayName,id", None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {me}");
        assert_eq!(me["id"], user.as_str());
        assert_eq!(me["displayName"], "User ada");
        let (status, _) = server.call(token, Method::GET, &format!("/v1.0/users/{user}"), None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: /users/{{own id}} is /me");
        let (status, info) = server.call(token, Method::GET, "/oidc/userinfo", None).await;
        assert_eq!((status, &info["name"]), (StatusCode::OK, &json!("User ada")), "{engine}: {info}");
        assert_eq!(info["sub"], access["sub"], "{engine}");
        let (status, _) = server.call(&server.admin_token().await, Method::GET, "/oidc/userinfo", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{engine}: an app has no userinfo");
        for (method, path, body) in [
            (Method::GET, "/v1.0/users".to_owned(), None),
            (Method::GET, format!("/v1.0/users/{}", server.tenant.admin_user_principal_name), None),
            (Method::POST, "/v1.0/users".to_owned(), Some(new_user("eve"))),
            (Method::PATCH, "/v1.0/me".to_owned(), Some(json!({"jobTitle": "CEO"}))),
        ] {
            let (status, body) = server.call(token, method.clone(), &path, body).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{engine}: User.Read reaches only one's own profile: {method} {path}: {body}"
            );
        }
        let (status, body) = server.call(&admin, Method::GET, "/v1.0/me", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: an app has no /me: {body}");

        let (status, body) = server.password_grant("organizations", &client.app_id, upn, PASSWORD, "User.Read").await;
        assert_eq!(status, StatusCode::OK, "{engine}: the account's domain names the tenant: {body}");
        assert!(
            body.get("refresh_token").is_none() && body.get("id_token").is_none(),
            "{engine}: neither was asked for"
        );
        let (status, body) = server.password_grant("common", &client.app_id, upn, PASSWORD, "User.Read").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: no password grant on /common: {body}");
    }
}

#[tokio::test]
async fn sign_ins_fail_as_entra_fails_them() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let public = server.client(&admin, true, "User.Read").await;
        let user = server.member(&admin, "bob").await;
        let upn = "bob@contoso.gatehouse.test";
        let before = server.snapshot().await;

        let wrong = server.password_grant(&tenant, &public.app_id, upn, "Wr0ng!Kestr3l", "User.Read").await;
        assert_grant_error(engine, &wrong, "invalid_grant", "AADSTS50126");
        let unknown = server
            .password_grant(&tenant, &public.app_id, "nobody@contoso.gatehouse.test", PASSWORD, "User.Read")
            .await;
        assert_grant_error(engine, &unknown, "invalid_grant", "AADSTS50034");
        let unconsented = server.password_grant(&tenant, &public.app_id, upn, PASSWORD, "User.Read.All").await;
        assert_grant_error(engine, &unconsented, "invalid_grant", "AADSTS65001");
        assert_eq!(unconsented.1["suberror"], "consent_required", "{engine}");
        let unknown_scope = server.password_grant(&tenant, &public.app_id, upn, PASSWORD, "Mail.Send").await;
        assert_grant_error(engine, &unknown_scope, "invalid_scope", "AADSTS70011");
        let wrong_client = server.password_grant(&tenant, &tenant, upn, PASSWORD, "User.Read").await;
        assert_eq!(wrong_client.0, StatusCode::UNAUTHORIZED, "{engine}: {}", wrong_client.1);
        assert_eq!(wrong_client.1["error"], "invalid_client");

        let confidential = server.client(&admin, false, "User.Read").await;
        let no_secret = server.password_grant(&tenant, &confidential.app_id, upn, PASSWORD, "User.Read").await;
        assert_eq!(no_secret.0, StatusCode::UNAUTHORIZED, "{engine}: {}", no_secret.1);
        assert!(no_secret.1["error_description"].as_str().unwrap().starts_with("AADSTS7000218"));
        let form = [
            ("grant_type", "password"),
            ("client_id", confidential.app_id.as_str()),
            ("client_secret", confidential.secret.as_str()),
            ("username", upn),
            ("password", PASSWORD),
            ("scope", "User.Read"),
        ];
        let with_secret = || server.grant(&tenant, &form);
        let (status, body) = with_secret().await;
        assert_eq!(status, StatusCode::OK, "{engine}: {body}");
        assert_eq!(claims(body["access_token"].as_str().unwrap())["azpacr"], "1", "{engine}: a secret was shown");

        let unconsented_app = server.client(&admin, true, "").await;
        let nothing = server.password_grant(&tenant, &unconsented_app.app_id, upn, PASSWORD, "User.Read").await;
        assert_grant_error(engine, &nothing, "invalid_grant", "AADSTS65001");

        let path = format!("/v1.0/servicePrincipals/{}", public.sp);
        let (status, _) =
            server.call(&admin, Method::PATCH, &path, Some(json!({"appRoleAssignmentRequired": true}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let unassigned = server.password_grant(&tenant, &public.app_id, upn, PASSWORD, "User.Read").await;
        assert_grant_error(engine, &unassigned, "invalid_grant", "AADSTS50105");

        let (status, _) = server
            .call(&admin, Method::PATCH, &format!("/v1.0/users/{user}"), Some(json!({"accountEnabled": false})))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let disabled = server.password_grant(&tenant, &confidential.app_id, upn, PASSWORD, "User.Read").await;
        assert_eq!(disabled.0, StatusCode::UNAUTHORIZED, "{engine}: the client is checked first");
        assert_grant_error(engine, &with_secret().await, "invalid_grant", "AADSTS50057");

        let (changes, users) = server.snapshot().await;
        assert!(changes > before.0, "{engine}: the admin's changes were logged");
        assert_eq!(users.as_array().map(Vec::len), before.1.as_array().map(Vec::len), "{engine}: no user appeared");
    }
}

/// Each node keeps the refresh families it knows: a token rotated on another node is taken here, and a
/// reuse is caught on the node whose copy of the family is stale.
#[tokio::test]
async fn refresh_tokens_rotate_across_nodes_and_a_reuse_is_caught_on_either() {
    for server in servers().await {
        let engine = server.engine;
        let nodes = two_nodes(&server, "di").await;
        let (tenant, app_id) = (server.tenant.tenant_id, nodes.client.app_id.as_str());
        let request = nodes.refresh_request();
        let refresh_of = |body: &Value| body["refresh_token"].as_str().unwrap().to_owned();

        let there = nodes.other.sign_in().refresh(Tenancy::Tenant(tenant), &request, &nodes.refresh).await;
        let second = there.unwrap_or_else(|e| panic!("{engine}: {e:?}")).refresh_token.unwrap();
        let (status, third) = server.refresh_grant(&tenant.to_string(), app_id, &second).await;
        assert_eq!(status, StatusCode::OK, "{engine}: this node's copy is a generation behind: {third}");
        let third = refresh_of(&third);

        let reused = nodes.other.sign_in().refresh(Tenancy::Tenant(tenant), &request, &second).await;
        let message = reused.err().map(|e| e.message).unwrap_or_default();
        assert!(
            message.starts_with("AADSTS50173"),
            "{engine}: the other node's copy is stale, the store is not: {message}"
        );
        let after = server.refresh_grant(&tenant.to_string(), app_id, &third).await;
        assert_grant_error(engine, &after, "invalid_grant", "AADSTS50173");
    }
}

/// A member signed in on the server with a refresh token, and a second node on the server's store (its
/// clock and keys, caches of its own).
struct TwoNodes {
    admin: String,
    client: Client,
    user: String,
    upn: String,
    refresh: String,
    other: Directory,
}

async fn two_nodes(server: &Server, alias: &str) -> TwoNodes {
    let admin = server.admin_token().await;
    let client = server.client(&admin, true, "User.Read").await;
    let user = server.member(&admin, alias).await;
    let upn = format!("{alias}@contoso.gatehouse.test");
    let tenant = server.tenant.tenant_id.to_string();
    let (_, body) = server.password_grant(&tenant, &client.app_id, &upn, PASSWORD, "User.Read offline_access").await;
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let config = cheap_hashing();
    let other = Directory::new(server.store.clone(), server.clock.clone(), server.master.clone(), config);
    TwoNodes { admin, client, user, upn, refresh, other }
}

impl TwoNodes {
    /// A refresh grant's request from the client, as a node's sign-in pipeline takes it.
    fn refresh_request(&self) -> ClientRequest<'_> {
        ClientRequest {
            client_id: &self.client.app_id,
            proof: None,
            scope: "",
            base: "https://gatehouse.test",
            source: None,
            origin: None,
            user_agent: None,
        }
    }
}

#[tokio::test]
async fn a_conditional_access_policy_made_on_one_node_applies_on_another_within_seconds() {
    for server in servers().await {
        let engine = server.engine;
        let nodes = two_nodes(&server, "fay").await;
        let tenant = server.tenant.tenant_id;
        let request = nodes.refresh_request();
        // The other node reads the tenant's policies (none yet) with its first grant.
        let there = nodes.other.sign_in().refresh(Tenancy::Tenant(tenant), &request, &nodes.refresh).await;
        let token = there.unwrap_or_else(|e| panic!("{engine}: {e:?}")).refresh_token.unwrap();

        let block = json!({
            "displayName": "Block Fay",
            "state": "enabled",
            "conditions": {"users": {"includeUsers": [nodes.user]}, "applications": {"includeApplications": ["All"]}},
            "grantControls": {"operator": "OR", "builtInControls": ["block"]},
        });
        let path = "/v1.0/identity/conditionalAccess/policies";
        let (status, made) = server.call(&nodes.admin, Method::POST, path, Some(block)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {made}");
        let here =
            server.password_grant(&tenant.to_string(), &nodes.client.app_id, &nodes.upn, PASSWORD, "User.Read").await;
        assert_grant_error(engine, &here, "invalid_grant", "AADSTS53003");

        // The other node reads the policies' version at most every few seconds: its copy still holds...
        let stale = nodes.other.sign_in().refresh(Tenancy::Tenant(tenant), &request, &token).await;
        let token = stale.unwrap_or_else(|e| panic!("{engine}: within the interval: {e:?}")).refresh_token.unwrap();
        // ...until they have passed, and then the policy applies there too.
        server.clock.advance(chrono::Duration::seconds(6));
        let blocked = nodes.other.sign_in().refresh(Tenancy::Tenant(tenant), &request, &token).await;
        let message = blocked.err().map(|e| e.message).unwrap_or_default();
        assert!(message.starts_with("AADSTS53003"), "{engine}: the policy reached the other node: {message}");
    }
}

/// A node keeps the tenant's record (its password and lockout policy) briefly: a change made on this node
/// applies to its next sign-in, one made on another node within seconds.
#[tokio::test]
async fn a_lockout_policy_made_on_one_node_applies_on_another_within_seconds() {
    for server in servers().await {
        let engine = server.engine;
        let nodes = two_nodes(&server, "gus").await;
        let (tenant, app_id) = (server.tenant.tenant_id, nodes.client.app_id.as_str());
        server.member(&nodes.admin, "hal").await;
        let hal = "hal@contoso.gatehouse.test";
        let request = ClientRequest { scope: "User.Read", ..nodes.refresh_request() };
        let (other, request) = (&nodes.other, &request);
        let there = |password: String| async move {
            let signed = other.sign_in().password(Tenancy::Tenant(tenant), request, hal, &password).await;
            signed.err().map(|e| e.message).unwrap_or_default()
        };
        assert_eq!(there(PASSWORD.to_owned()).await, "", "{engine}: the other node reads the record (10 tries)");

        let setting = json!({"templateId": "5cf42378-d67d-4f36-ba46-e8b86229381d",
            "values": [{"name": "LockoutThreshold", "value": "2"}]});
        let (status, made) = server.call(&nodes.admin, Method::POST, "/v1.0/groupSettings", Some(setting)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {made}");
        let tenant_id = tenant.to_string();
        for wrong in ["Wr0ng-1", "Wr0ng-2"] {
            let here = server.password_grant(&tenant_id, app_id, &nodes.upn, wrong, "User.Read").await;
            assert_grant_error(engine, &here, "invalid_grant", "AADSTS50126");
        }
        let here = server.password_grant(&tenant_id, app_id, &nodes.upn, PASSWORD, "User.Read").await;
        assert_grant_error(engine, &here, "invalid_grant", "AADSTS50053");

        // The other node's copy of the record still allows ten tries...
        for wrong in ["Wr0ng-1", "Wr0ng-2"] {
            assert!(there(wrong.to_owned()).await.starts_with("AADSTS50126"), "{engine}");
        }
        assert_eq!(there(PASSWORD.to_owned()).await, "", "{engine}: within the interval");
        // ...until it is five seconds old, and then two do there too.
        server.clock.advance(chrono::Duration::seconds(6));
        for wrong in ["Wr0ng-3", "Wr0ng-4"] {
            assert!(there(wrong.to_owned()).await.starts_with("AADSTS50126"), "{engine}");
        }
        let locked = there(PASSWORD.to_owned()).await;
        assert!(locked.starts_with("AADSTS50053"), "{engine}: the policy reached the other node: {locked}");
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_sign_in() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let client = server.client(&admin, true, "User.Read").await;
        let user = server.member(&admin, "cy").await;
        let upn = "cy@contoso.gatehouse.test";
        let sign_in = || server.password_grant(&tenant, &client.app_id, upn, PASSWORD, "User.Read offline_access");
        let refresh_of = |body: &Value| body["refresh_token"].as_str().unwrap().to_owned();

        let (_, first) = sign_in().await;
        let first = refresh_of(&first);
        let (status, second) = server.refresh_grant(&tenant, &client.app_id, &first).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {second}");
        let second = refresh_of(&second);
        assert_ne!(first, second, "{engine}: rotated on use");
        let (status, third) = server.refresh_grant("organizations", &client.app_id, &second).await;
        assert_eq!(status, StatusCode::OK, "{engine}: the token names its tenant: {third}");
        assert_eq!(claims(third["access_token"].as_str().unwrap())["oid"], user.as_str());
        let third = refresh_of(&third);

        let replay = server.refresh_grant(&tenant, &client.app_id, &first).await;
        assert_grant_error(engine, &replay, "invalid_grant", "AADSTS50173");
        let after = server.refresh_grant(&tenant, &client.app_id, &third).await;
        assert_grant_error(engine, &after, "invalid_grant", "AADSTS50173");

        let (_, fresh) = sign_in().await;
        let fresh = refresh_of(&fresh);
        let other = server.client(&admin, true, "User.Read").await;
        let stolen = server.refresh_grant(&tenant, &other.app_id, &fresh).await;
        assert_grant_error(engine, &stolen, "invalid_grant", "AADSTS70000");
        let mut forged = fresh.clone().into_bytes();
        forged[10] = if forged[10] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        let forged = server.refresh_grant(&tenant, &client.app_id, &forged).await;
        assert_grant_error(engine, &forged, "invalid_grant", "AADSTS9002313");
        let garbage = server.refresh_grant(&tenant, &client.app_id, "not-a-refresh-token").await;
        assert_grant_error(engine, &garbage, "invalid_grant", "AADSTS9002313");
        server
            .directory
            .tenants()
            .create(gatehouse_core::tenants::NewTenant {
                domain: Some("fabrikam.gatehouse.test".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let foreign = server.refresh_grant("fabrikam.gatehouse.test", &client.app_id, &fresh).await;
        assert_grant_error(engine, &foreign, "invalid_grant", "AADSTS50020");

        let path = format!("/v1.0/users/{user}/revokeSignInSessions");
        let (status, body) = server.call(&admin, Method::POST, &path, None).await;
        assert_eq!((status, &body["value"]), (StatusCode::OK, &json!(true)), "{engine}: {body}");
        let revoked = server.refresh_grant(&tenant, &client.app_id, &fresh).await;
        assert_grant_error(engine, &revoked, "invalid_grant", "AADSTS50173");

        server.clock.advance(chrono::Duration::seconds(2));
        let (_, again) = sign_in().await;
        let again = refresh_of(&again);
        server.clock.advance(chrono::Duration::seconds(2));
        let reset = json!({"passwordProfile": {"password": "N3w!Kestr3l", "forceChangePasswordNextSignIn": false}});
        let (status, _) = server.call(&admin, Method::PATCH, &format!("/v1.0/users/{user}"), Some(reset)).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let after_reset = server.refresh_grant(&tenant, &client.app_id, &again).await;
        assert_grant_error(engine, &after_reset, "invalid_grant", "AADSTS50173");

        server.clock.advance(chrono::Duration::seconds(2));
        let (status, body) =
            server.password_grant(&tenant, &client.app_id, upn, "N3w!Kestr3l", "User.Read offline_access").await;
        assert_eq!(status, StatusCode::OK, "{engine}: {body}");
        let last = refresh_of(&body);
        let access = body["access_token"].as_str().unwrap().to_owned();
        let (status, _) = server.call(&admin, Method::DELETE, &format!("/v1.0/users/{user}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let deleted = server.refresh_grant(&tenant, &client.app_id, &last).await;
        assert_grant_error(engine, &deleted, "invalid_grant", "AADSTS50034");
        let (status, _) = server.call(&access, Method::GET, "/v1.0/me", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{engine}: a deleted user's token stops working");
    }
}

#[tokio::test]
async fn delegated_calls_are_what_both_the_scopes_and_the_person_allow() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let client = server.client(&admin, true, "User.Read Directory.ReadWrite.All User.ReadWrite.All").await;
        let other = server.member(&admin, "dee").await;
        server.member(&admin, "eli").await;
        let scope = "https://graph.microsoft.com/.default";
        let (status, member) =
            server.password_grant(&tenant, &client.app_id, "eli@contoso.gatehouse.test", PASSWORD, scope).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {member}");
        assert_eq!(member["scope"], "Directory.ReadWrite.All User.Read User.ReadWrite.All", "{engine}");
        let member = member["access_token"].as_str().unwrap().to_owned();
        let (status, list) = server.call(&member, Method::GET, "/v1.0/users", None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: members read the directory: {list}");
        assert!(list["value"].as_array().unwrap().len() >= 3);
        let (status, _) = server.call(&member, Method::GET, "/v1.0/groups", None).await;
        assert_eq!(status, StatusCode::OK, "{engine}");
        let (status, body) = server.call(&member, Method::GET, "/v1.0/me/memberOf", None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: navigations under /me: {body}");
        let patch = Some(json!({"jobTitle": "Boss"}));
        let (status, _) = server.call(&member, Method::PATCH, &format!("/v1.0/users/{other}"), patch.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: a member changes nothing of others");
        let (status, _) = server.call(&member, Method::POST, "/v1.0/users", Some(new_user("fay"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}");

        let admin_upn = server.tenant.admin_user_principal_name.clone();
        let (status, global) =
            server.password_grant(&tenant, &client.app_id, &admin_upn, &server.tenant.admin_password, scope).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {global}");
        let global = global["access_token"].as_str().unwrap().to_owned();
        assert!(
            claims(&global)["wids"].as_array().unwrap().contains(&json!("62e90394-69f5-4237-9190-012177145e10")),
            "{engine}: the Global Administrator role is in wids"
        );
        let (status, body) = server.call(&global, Method::PATCH, &format!("/v1.0/users/{other}"), patch).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        let (status, _) = server.call(&global, Method::POST, "/v1.0/users", Some(new_user("fay"))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}");

        let narrow = server.client(&admin, true, "User.Read").await;
        let (_, narrow) = server
            .password_grant(&tenant, &narrow.app_id, &admin_upn, &server.tenant.admin_password, "User.Read")
            .await;
        let narrow = narrow["access_token"].as_str().unwrap().to_owned();
        let (status, _) = server.call(&narrow, Method::GET, "/v1.0/users", None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: an administrator's token reaches only its scopes");
    }
}

/// The value of a hidden form field in a page.
pub(crate) fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).map(|i| i + marker.len()).unwrap();
    page[start..].split('"').next().unwrap().replace("&amp;", "&")
}

/// The `name=value` of a `Set-Cookie` header named `name`, with its attributes.
pub(crate) fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

pub(crate) fn pair(cookie: &str) -> &str {
    cookie.split(';').next().unwrap()
}

pub(crate) fn location_query(response: &reqwest::Response) -> std::collections::HashMap<String, String> {
    let location = response.headers()[reqwest::header::LOCATION].to_str().unwrap();
    let url = reqwest::Url::parse(location).unwrap();
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

#[tokio::test]
async fn the_sign_in_pages_refuse_what_they_must() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let client = server.client(&admin, false, "User.Read").await;
        let redirect = "http://localhost:7777/callback";
        let body = json!({"publicClient": {"redirectUris": [redirect]}});
        let path = format!("/v1.0/applications/{}", client.object);
        let (status, body) = server.call(&admin, Method::PATCH, &path, Some(body)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        server.member(&admin, "gil").await;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let verifier: &'static str = "a-verifier-of-at-least-forty-three-characters-0123456789";
        let challenge = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            <sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()),
        );
        let authorize = |extra: &[(&str, &str)], redirect: &str| {
            let mut query = vec![
                ("client_id", client.app_id.as_str()),
                ("response_type", "code"),
                ("redirect_uri", redirect),
                ("scope", "openid User.Read"),
                ("state", "s-1"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ];
            query.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
            query.extend_from_slice(extra);
            let url = reqwest::Url::parse_with_params(&server.url(&format!("/{tenant}/oauth2/v2.0/authorize")), &query)
                .unwrap();
            http.get(url)
        };

        let mismatch = authorize(&[], "https://evil.test/callback").send().await.unwrap();
        assert_eq!(mismatch.status(), StatusCode::BAD_REQUEST, "{engine}");
        assert!(mismatch.headers().get(reqwest::header::LOCATION).is_none(), "{engine}: never redirected to");
        assert!(mismatch.text().await.unwrap().contains("AADSTS50011"));
        let unknown = authorize(&[("client_id", &tenant)], redirect).send().await.unwrap();
        assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
        assert!(unknown.text().await.unwrap().contains("AADSTS700016"), "{engine}");

        let silent = authorize(&[("prompt", "none")], redirect).send().await.unwrap();
        assert_eq!(silent.status(), StatusCode::FOUND, "{engine}");
        let answer = location_query(&silent);
        assert_eq!((answer["error"].as_str(), answer["state"].as_str()), ("login_required", "s-1"), "{engine}");
        let no_pkce =
            authorize(&[("code_challenge", ""), ("code_challenge_method", "")], redirect).send().await.unwrap();
        assert_eq!(no_pkce.status(), StatusCode::FOUND, "{engine}: a checked redirect URI gets the error");
        let answer = location_query(&no_pkce);
        assert_eq!(answer["error"], "invalid_request", "{engine}: a public client must use PKCE");
        let token_flow = authorize(&[("response_type", "token")], redirect).send().await.unwrap();
        assert_eq!(location_query(&token_flow)["error"], "unsupported_response_type", "{engine}");

        let form = authorize(&[], redirect).send().await.unwrap();
        assert_eq!(form.status(), StatusCode::OK);
        let headers = form.headers().clone();
        assert_eq!(headers["x-frame-options"], "DENY");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"), "{engine}: {csp}");
        let csrf_cookie = set_cookie(&form, "gatehouse_csrf").unwrap();
        assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Strict"), "{csrf_cookie}");
        let page = form.text().await.unwrap();
        assert!(
            page.contains("name=\"login\"")
                && page.contains("name=\"passwd\"")
                && page.contains("<label for=\"login\"")
        );
        let (ctx, csrf) = (hidden(&page, "ctx"), hidden(&page, "csrf"));
        let post = |cookie: Option<String>, fields: Vec<(&'static str, String)>| {
            let mut request = http.post(server.url(&format!("/{tenant}/oauth2/v2.0/authorize"))).form(&fields);
            if let Some(cookie) = cookie {
                request = request.header(reqwest::header::COOKIE, cookie);
            }
            request.send()
        };
        let login = |password: &str| {
            vec![
                ("ctx", ctx.clone()),
                ("csrf", csrf.clone()),
                ("login", "gil@contoso.gatehouse.test".to_owned()),
                ("passwd", password.to_owned()),
            ]
        };
        let forged = post(None, login(PASSWORD)).await.unwrap();
        assert_eq!(forged.status(), StatusCode::BAD_REQUEST, "{engine}: no CSRF cookie, no sign-in");
        assert!(set_cookie(&forged, "gatehouse_session").is_none());
        let other_cookie = Some("gatehouse_csrf=someone-elses".to_owned());
        assert_eq!(post(other_cookie, login(PASSWORD)).await.unwrap().status(), StatusCode::BAD_REQUEST, "{engine}");
        let wrong = post(Some(pair(&csrf_cookie).to_owned()), login("Wr0ng!Kestr3l")).await.unwrap();
        assert_eq!(wrong.status(), StatusCode::OK);
        let text = wrong.text().await.unwrap();
        assert!(text.contains("AADSTS50126") && !text.contains("Wr0ng!Kestr3l"), "{engine}: said, not echoed");

        let signed_in = post(Some(pair(&csrf_cookie).to_owned()), login(PASSWORD)).await.unwrap();
        assert_eq!(signed_in.status(), StatusCode::FOUND, "{engine}: consented already, so straight back");
        let session = set_cookie(&signed_in, "gatehouse_session").unwrap();
        assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"), "{session}");
        let answer = location_query(&signed_in);
        assert_eq!(answer["state"], "s-1");
        let code = answer["code"].clone();
        let redeem = |verifier: &'static str| {
            let form = [
                ("grant_type", "authorization_code".to_owned()),
                ("client_id", client.app_id.clone()),
                ("code", code.clone()),
                ("redirect_uri", redirect.to_owned()),
                ("code_verifier", verifier.to_owned()),
            ];
            let request = http.post(server.url(&format!("/{tenant}/oauth2/v2.0/token"))).form(&form);
            async move {
                let response = request.send().await.unwrap();
                (response.status(), response.json::<Value>().await.unwrap())
            }
        };
        assert_grant_error(engine, &redeem("not-the-verifier").await, "invalid_grant", "AADSTS50148");
        let (status, tokens) = redeem(verifier).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {tokens}");
        assert_eq!(claims(tokens["id_token"].as_str().unwrap())["aud"], client.app_id.as_str());
        assert_grant_error(engine, &redeem(verifier).await, "invalid_grant", "AADSTS54005");

        let again = authorize(&[], redirect).header(reqwest::header::COOKIE, pair(&session)).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::FOUND, "{engine}: single sign-on");
        assert!(location_query(&again).contains_key("code"));
        let forced = authorize(&[("prompt", "login")], redirect)
            .header(reqwest::header::COOKIE, pair(&session))
            .send()
            .await
            .unwrap();
        assert_eq!(forced.status(), StatusCode::OK, "{engine}: prompt=login asks again");

        let (_, users) = server.call(&admin, Method::GET, "/v1.0/users?$filter=mailNickname eq 'gil'", None).await;
        let gil = users["value"][0]["id"].as_str().unwrap().to_owned();
        let path = format!("/v1.0/users/{gil}/revokeSignInSessions");
        assert_eq!(server.call(&admin, Method::POST, &path, None).await.0, StatusCode::OK);
        let revoked = authorize(&[], redirect).header(reqwest::header::COOKIE, pair(&session)).send().await.unwrap();
        assert_eq!(revoked.status(), StatusCode::OK, "{engine}: a revoked session signs in no more");

        let logout = format!(
            "/{tenant}/oauth2/v2.0/logout?client_id={}&post_logout_redirect_uri=https://evil.test/",
            client.app_id
        );
        let out = http.get(server.url(&logout)).send().await.unwrap();
        assert_eq!(out.status(), StatusCode::OK, "{engine}: no open redirect");
        assert!(set_cookie(&out, "gatehouse_session").unwrap().contains("Max-Age=0"));
        let logout = format!(
            "/{tenant}/oauth2/v2.0/logout?client_id={}&post_logout_redirect_uri={redirect}&state=x",
            client.app_id
        );
        let out = http.get(server.url(&logout)).send().await.unwrap();
        assert_eq!(out.status(), StatusCode::FOUND, "{engine}");
        assert_eq!(out.headers()[reqwest::header::LOCATION], format!("{redirect}?state=x").as_str());
    }
}

#[tokio::test]
async fn device_codes_poll_as_rfc_8628_says() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let device = server.client(&admin, true, "User.Read").await;
        let confidential = server.client(&admin, false, "User.Read").await;
        server.member(&admin, "hal").await;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let start = |client: &str| {
            let form = [("client_id", client.to_owned()), ("scope", "User.Read offline_access".to_owned())];
            http.post(server.url(&format!("/{tenant}/oauth2/v2.0/devicecode"))).form(&form).send()
        };
        let refused = start(&confidential.app_id).await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{engine}: only public clients start device codes");
        let started: Value = start(&device.app_id).await.unwrap().json().await.unwrap();
        assert_eq!(started["expires_in"], 900);
        assert!(started["message"].as_str().unwrap().contains(started["user_code"].as_str().unwrap()));
        let code = started["device_code"].as_str().unwrap().to_owned();
        let poll = |code: String| {
            let form = [
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code".to_owned()),
                ("client_id", device.app_id.clone()),
                ("device_code", code),
            ];
            let request = http.post(server.url(&format!("/{tenant}/oauth2/v2.0/token"))).form(&form);
            async move {
                let response = request.send().await.unwrap();
                (response.status(), response.json::<Value>().await.unwrap())
            }
        };
        assert_eq!(poll(code.clone()).await.1["error"], "authorization_pending", "{engine}");
        assert_eq!(poll(code.clone()).await.1["error"], "slow_down", "{engine}: polled within the interval");
        server.clock.advance(chrono::Duration::seconds(6));
        assert_eq!(poll(code.clone()).await.1["error"], "authorization_pending", "{engine}");
        assert_eq!(poll("bm90LWEtY29kZQ".into()).await.1["error"], "bad_verification_code", "{engine}");

        // The person enters the code, signs in, and declines.
        let page =
            http.get(server.url(started["verification_uri"].as_str().unwrap().split_once(&server.base).unwrap().1));
        let page = page.send().await.unwrap();
        let csrf_cookie = pair(&set_cookie(&page, "gatehouse_csrf").unwrap()).to_owned();
        let text = page.text().await.unwrap();
        assert!(text.contains("name=\"otc\""), "{engine}: Entra's field name");
        let step = |fields: Vec<(&'static str, String)>, cookies: String| {
            http.post(server.url(&format!("/{tenant}/devicelogin")))
                .header(reqwest::header::COOKIE, cookies)
                .form(&fields)
                .send()
        };
        let (ctx, csrf) = (hidden(&text, "ctx"), hidden(&text, "csrf"));
        let user_code = started["user_code"].as_str().unwrap().to_owned();
        let wrong =
            step(vec![("ctx", ctx.clone()), ("csrf", csrf.clone()), ("otc", "BCDFGHJKL".into())], csrf_cookie.clone());
        assert!(
            wrong.await.unwrap().text().await.unwrap().contains("role=\"alert\""),
            "{engine}: a wrong code is said so"
        );
        let entered = step(vec![("ctx", ctx), ("csrf", csrf), ("otc", user_code.to_lowercase())], csrf_cookie.clone());
        let entered = entered.await.unwrap();
        let csrf_cookie = pair(&set_cookie(&entered, "gatehouse_csrf").unwrap()).to_owned();
        let text = entered.text().await.unwrap();
        assert!(text.contains("name=\"passwd\""), "{engine}: not signed in yet: {text}");
        let fields = vec![
            ("ctx", hidden(&text, "ctx")),
            ("csrf", hidden(&text, "csrf")),
            ("login", "hal@contoso.gatehouse.test".to_owned()),
            ("passwd", PASSWORD.to_owned()),
        ];
        let signed_in = step(fields, csrf_cookie).await.unwrap();
        let session = pair(&set_cookie(&signed_in, "gatehouse_session").unwrap()).to_owned();
        let csrf_cookie = pair(&set_cookie(&signed_in, "gatehouse_csrf").unwrap()).to_owned();
        let text = signed_in.text().await.unwrap();
        assert!(text.contains("Are you trying to sign in to"), "{engine}: {text}");
        let fields =
            vec![("ctx", hidden(&text, "ctx")), ("csrf", hidden(&text, "csrf")), ("approve", "Cancel".to_owned())];
        let declined = step(fields, format!("{csrf_cookie}; {session}")).await.unwrap().text().await.unwrap();
        assert!(declined.contains("Sign-in canceled"), "{engine}: {declined}");
        assert_eq!(poll(code.clone()).await.1["error"], "authorization_declined", "{engine}");

        let second: Value = start(&device.app_id).await.unwrap().json().await.unwrap();
        server.clock.advance(chrono::Duration::seconds(901));
        let expired = poll(second["device_code"].as_str().unwrap().to_owned()).await;
        assert_eq!(
            (expired.0, expired.1["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("expired_token")),
            "{engine}"
        );
    }
}

/// A client certificate: an RSA key (PKCS#8) and its self-signed certificate (DER).
fn client_certificate() -> (Vec<u8>, Vec<u8>) {
    let (_, pkcs8) =
        gatehouse_core::credentials::keys::SigningKey::generate(&gatehouse_core::kernel::random::SystemRandom).unwrap();
    let der = rustls::pki_types::PrivatePkcs8KeyDer::from(pkcs8.as_slice());
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256).unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["client.test".to_owned()]).unwrap().self_signed(&key).unwrap();
    (pkcs8, certificate.der().to_vec())
}

/// A client assertion (RS256, `x5t` = SHA-1 thumbprint) over `claims`.
fn assertion(pkcs8: &[u8], certificate: &[u8], claims: &Value) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let thumbprint = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, certificate);
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t": URL_SAFE_NO_PAD.encode(thumbprint.as_ref())});
    let signed =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let pair = ring::signature::RsaKeyPair::from_pkcs8(pkcs8).unwrap();
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(&ring::signature::RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), signed.as_bytes(), &mut signature)
        .unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[tokio::test]
async fn clients_prove_themselves_with_certificates() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let client = server.client(&admin, false, "").await;
        let (pkcs8, certificate) = client_certificate();
        let key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &certificate);
        let path = format!("/v1.0/applications/{}", client.object);
        let bad =
            json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": "bm90IGEgY2VydA=="}]});
        let (status, body) = server.call(&admin, Method::PATCH, &path, Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: not a certificate: {body}");
        let keys = json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": key, "displayName": "CN=client"}]});
        let (status, body) = server.call(&admin, Method::PATCH, &path, Some(keys)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        let (_, app) = server.call(&admin, Method::GET, &path, None).await;
        let shown = &app["keyCredentials"][0];
        assert_eq!(shown["key"], Value::Null, "{engine}: the key is not shown back");
        let sha1: String = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &certificate)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert_eq!(shown["customKeyIdentifier"], sha1.as_str(), "{engine}");

        let graph = server.graph_principal(&admin).await;
        let role = gatehouse_core::auth::authorization::Permission::UserReadAll.app_role_id();
        let grant = json!({"principalId": client.sp, "resourceId": graph, "appRoleId": role});
        let path = format!("/v1.0/servicePrincipals/{}/appRoleAssignments", client.sp);
        assert_eq!(server.call(&admin, Method::POST, &path, Some(grant)).await.0, StatusCode::CREATED);

        let now = server.clock.now_seconds();
        let audience = server.url(&format!("/{tenant}/oauth2/v2.0/token"));
        let claims = |aud: &str, jti: &str, exp: i64| json!({"aud": aud, "iss": client.app_id, "sub": client.app_id, "jti": jti, "nbf": now, "exp": exp});
        let present = |assertion: String| {
            let form = [
                ("grant_type", "client_credentials".to_owned()),
                ("client_id", client.app_id.clone()),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned()),
                ("client_assertion", assertion),
                ("scope", "https://graph.microsoft.com/.default".to_owned()),
            ];
            let request = server.http.post(server.url(&format!("/{tenant}/oauth2/v2.0/token"))).form(&form);
            async move {
                let response = request.send().await.unwrap();
                (response.status(), response.json::<Value>().await.unwrap())
            }
        };
        let good = assertion(&pkcs8, &certificate, &claims(&audience, "jti-1", now + 600));
        let (status, body) = present(good.clone()).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {body}");
        let token = claims_of(&body);
        assert_eq!(
            (token["azpacr"].as_str(), token["appidacr"].as_str()),
            (Some("2"), Some("2")),
            "{engine}: a certificate"
        );
        let (status, users) =
            server.call(body["access_token"].as_str().unwrap(), Method::GET, "/v1.0/users", None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {users}");

        let refusals = [
            (good, "AADSTS700027", "a replayed jti"),
            (
                assertion(&pkcs8, &certificate, &claims("https://evil.test/token", "jti-2", now + 600)),
                "AADSTS700023",
                "another audience",
            ),
            (assertion(&pkcs8, &certificate, &claims(&audience, "jti-3", now - 1)), "AADSTS700024", "expired"),
            (assertion(&pkcs8, &certificate, &claims(&audience, "", now + 600)), "AADSTS700027", "no jti"),
        ];
        for (assertion, code, why) in refusals {
            let (status, body) = present(assertion).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{engine}: {why}: {body}");
            assert!(body["error_description"].as_str().unwrap().starts_with(code), "{engine}: {why}: {body}");
        }
        let (other_key, other_certificate) = client_certificate();
        let (status, body) =
            present(assertion(&other_key, &other_certificate, &claims(&audience, "jti-4", now + 600))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{engine}: an unregistered certificate: {body}");
        let forged = assertion(&other_key, &certificate, &claims(&audience, "jti-5", now + 600));
        let (status, body) = present(forged).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{engine}: signed by another key: {body}");
        assert!(body["error_description"].as_str().unwrap().starts_with("AADSTS700027"));

        let (_, body) = present(assertion(&pkcs8, &certificate, &claims(&audience, "jti-6", now + 600))).await;
        let own = body["access_token"].as_str().unwrap().to_owned();
        let old_key_id = shown["keyId"].as_str().unwrap().to_owned();
        let (new_key, new_certificate) = (other_key, other_certificate);
        let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &new_certificate);
        let proof = |key: &[u8], certificate: &[u8], aud: &str| {
            let claims = json!({"aud": aud, "iss": client.object, "nbf": now, "exp": now + 600});
            assertion(key, certificate, &claims)
        };
        let legacy = "00000002-0000-0000-c000-000000000000";
        let add = |proof: String| {
            let body = json!({
                "keyCredential": {"type": "AsymmetricX509Cert", "usage": "Verify", "key": encoded},
                "passwordCredential": null,
                "proof": proof,
            });
            let path = format!("/v1.0/applications/{}/addKey", client.object);
            let (server, own) = (&server, &own);
            async move { server.call(own, Method::POST, &path, Some(body)).await }
        };
        for (proof, why) in [
            (proof(&new_key, &new_certificate, legacy), "signed by a certificate it does not hold yet"),
            (proof(&pkcs8, &certificate, "https://graph.microsoft.com"), "another audience"),
        ] {
            let (status, body) = add(proof).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {why}: {body}");
        }
        let stranger = server.client(&admin, false, "").await;
        let path = format!("/v1.0/applications/{}/addKey", client.object);
        let body = json!({"keyCredential": {"type": "AsymmetricX509Cert", "usage": "Verify", "key": encoded}, "proof": proof(&pkcs8, &certificate, legacy)});
        let stranger_token = server.token(&tenant, &stranger.app_id, &stranger.secret).await;
        let (status, _) = server.call(&stranger_token, Method::POST, &path, Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: another app may not roll this one's keys");
        let (status, added) = add(proof(&pkcs8, &certificate, legacy)).await;
        assert_eq!(status, StatusCode::OK, "{engine}: the app rolls its own key: {added}");
        assert_eq!(added["key"], Value::Null, "{engine}");
        let (status, body) =
            present(assertion(&new_key, &new_certificate, &claims(&audience, "jti-7", now + 600))).await;
        assert_eq!(status, StatusCode::OK, "{engine}: the new certificate signs in: {body}");
        let remove = json!({"keyId": old_key_id, "proof": proof(&new_key, &new_certificate, legacy)});
        let path = format!("/v1.0/applications/{}/removeKey", client.object);
        assert_eq!(server.call(&own, Method::POST, &path, Some(remove.clone())).await.0, StatusCode::NO_CONTENT);
        assert_eq!(server.call(&own, Method::POST, &path, Some(remove)).await.0, StatusCode::NOT_FOUND, "{engine}");
        let (status, _) = present(assertion(&pkcs8, &certificate, &claims(&audience, "jti-8", now + 600))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{engine}: the removed certificate signs in no more");
    }
}

fn claims_of(body: &Value) -> Value {
    claims(body["access_token"].as_str().unwrap())
}

#[tokio::test]
async fn app_roles_reach_users_through_direct_groups_only() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let client = server.client(&admin, true, "User.Read").await;
        let (owners, readers, sync) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let role = |id: uuid::Uuid, value: &str, types: &[&str]| json!({"id": id, "allowedMemberTypes": types, "displayName": value, "value": value});
        let path = format!("/v1.0/applications/{}", client.object);
        let duplicate = json!({"appRoles": [role(owners, "Owners", &["User"]), role(readers, "owners", &["User"])]});
        assert_eq!(
            server.call(&admin, Method::PATCH, &path, Some(duplicate)).await.0,
            StatusCode::BAD_REQUEST,
            "{engine}"
        );
        let roles = json!({"appRoles": [role(owners, "Owners", &["User"]), role(readers, "Readers", &["User"]), role(sync, "Sync", &["Application"])],
            "groupMembershipClaims": "SecurityGroup"});
        let (status, body) = server.call(&admin, Method::PATCH, &path, Some(roles)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        let (_, sp) = server.call(&admin, Method::GET, &format!("/v1.0/servicePrincipals/{}", client.sp), None).await;
        assert_eq!(sp["appRoles"].as_array().map(Vec::len), Some(3), "{engine}: the service principal shows them");

        let group = |name: &str| {
            let body =
                json!({"displayName": name, "mailEnabled": false, "mailNickname": name, "securityEnabled": true});
            let call = server.call(&admin, Method::POST, "/v1.0/groups", Some(body));
            async move { call.await.1["id"].as_str().unwrap().to_owned() }
        };
        let (outer, inner) = (group("outer").await, group("inner").await);
        let (ursula, walt, xena) = (
            server.member(&admin, "ursula").await,
            server.member(&admin, "walt").await,
            server.member(&admin, "xena").await,
        );
        let add = |group: &str, member: &str| {
            let body = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{member}")});
            let path = format!("/v1.0/groups/{group}/members/$ref");
            let (server, admin) = (&server, &admin);
            async move { server.call(admin, Method::POST, &path, Some(body)).await }
        };
        assert_eq!(add(&outer, &ursula).await.0, StatusCode::NO_CONTENT);
        assert_eq!(add(&inner, &walt).await.0, StatusCode::NO_CONTENT);
        assert_eq!(add(&outer, &inner).await.0, StatusCode::NO_CONTENT);

        let assign = |path: String, principal: &str, role: uuid::Uuid| {
            let body = json!({"principalId": principal, "resourceId": client.sp, "appRoleId": role});
            let (server, admin) = (&server, &admin);
            async move { server.call(admin, Method::POST, &path, Some(body)).await }
        };
        let (status, body) = assign(format!("/v1.0/groups/{outer}/appRoleAssignments"), &outer, owners).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {body}");
        assert_eq!(body["principalType"], "Group");
        let (status, _) =
            assign(format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo", client.sp), &inner, readers).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}");
        let (status, _) = assign(format!("/v1.0/users/{ursula}/appRoleAssignments"), &ursula, sync).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: an Application role is not for users");
        let (status, _) = assign(format!("/v1.0/users/{ursula}/appRoleAssignments"), &ursula, owners).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}");
        let (status, _) = assign(format!("/v1.0/users/{ursula}/appRoleAssignments"), &ursula, owners).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: once, as Entra says");
        let (_, assigned) = server
            .call(&admin, Method::GET, &format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo", client.sp), None)
            .await;
        let mut types: Vec<&str> =
            assigned["value"].as_array().unwrap().iter().map(|a| a["principalType"].as_str().unwrap()).collect();
        types.sort();
        assert_eq!(types, ["Group", "Group", "User"], "{engine}: {assigned}");

        let id_token = |upn: &'static str| {
            let call = server.password_grant(&tenant, &client.app_id, upn, PASSWORD, "openid User.Read");
            async move {
                let (status, body) = call.await;
                assert_eq!(status, StatusCode::OK, "{body}");
                claims(body["id_token"].as_str().unwrap())
            }
        };
        let ursula_token = id_token("ursula@contoso.gatehouse.test").await;
        assert_eq!(ursula_token["roles"], json!(["Owners"]), "{engine}: directly and through her group, once");
        assert_eq!(ursula_token["groups"], json!([outer]), "{engine}");
        let walt_token = id_token("walt@contoso.gatehouse.test").await;
        assert_eq!(
            walt_token["roles"],
            json!(["Readers"]),
            "{engine}: the outer group's role does not reach through nesting"
        );
        let mut groups: Vec<&str> =
            walt_token["groups"].as_array().unwrap().iter().map(|g| g.as_str().unwrap()).collect();
        groups.sort();
        let mut expected = [outer.as_str(), inner.as_str()];
        expected.sort();
        assert_eq!(groups, expected, "{engine}: groups are transitive");

        let required = json!({"appRoleAssignmentRequired": true});
        assert_eq!(
            server
                .call(&admin, Method::PATCH, &format!("/v1.0/servicePrincipals/{}", client.sp), Some(required))
                .await
                .0,
            StatusCode::NO_CONTENT
        );
        let refused =
            server.password_grant(&tenant, &client.app_id, "xena@contoso.gatehouse.test", PASSWORD, "User.Read").await;
        assert_grant_error(engine, &refused, "invalid_grant", "AADSTS50105");
        assert_eq!(
            id_token("walt@contoso.gatehouse.test").await["roles"],
            json!(["Readers"]),
            "{engine}: assigned through his group"
        );
        let (_, held) =
            server.call(&admin, Method::GET, &format!("/v1.0/users/{ursula}/appRoleAssignments"), None).await;
        let direct = held["value"][0]["id"].as_str().unwrap().to_owned();
        let path = format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo/{direct}", client.sp);
        assert_eq!(server.call(&admin, Method::DELETE, &path, None).await.0, StatusCode::NO_CONTENT, "{engine}");
        assert_eq!(
            id_token("ursula@contoso.gatehouse.test").await["roles"],
            json!(["Owners"]),
            "{engine}: still through her group"
        );
        let _ = xena;
    }
}

#[tokio::test]
async fn more_than_200_groups_become_an_overage_claim() {
    let server = crate::support::sqlite_server().await;
    let admin = server.admin_token().await;
    let tenant = server.tenant.tenant_id.to_string();
    let client = server.client(&admin, true, "User.Read").await;
    let path = format!("/v1.0/applications/{}", client.object);
    let claims_all = Some(json!({"groupMembershipClaims": "All"}));
    assert_eq!(server.call(&admin, Method::PATCH, &path, claims_all).await.0, StatusCode::NO_CONTENT);
    let user = server.member(&admin, "yuri").await;
    let mut joins = tokio::task::JoinSet::new();
    for n in 0..201 {
        let (http, url, admin, user) = (server.http.clone(), server.base.clone(), admin.clone(), user.clone());
        joins.spawn(async move {
            let body = json!({"displayName": format!("g{n}"), "mailEnabled": false, "mailNickname": format!("g{n}"),
                "securityEnabled": true, "members@odata.bind": [format!("https://graph.microsoft.com/v1.0/users/{user}")]});
            let response = http.post(format!("{url}/v1.0/groups")).bearer_auth(&admin).json(&body).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
        });
    }
    while let Some(done) = joins.join_next().await {
        done.unwrap();
    }
    let (status, body) = server
        .password_grant(&tenant, &client.app_id, "yuri@contoso.gatehouse.test", PASSWORD, "openid User.Read")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = claims(body["id_token"].as_str().unwrap());
    assert!(id.get("groups").is_none(), "201 groups are too many to name");
    assert_eq!(id["_claim_names"], json!({"groups": "src1"}));
    let endpoint = id["_claim_sources"]["src1"]["endpoint"].as_str().unwrap();
    assert!(endpoint.ends_with(&format!("/v1.0/users/{user}/getMemberObjects")), "{endpoint}");
}

#[tokio::test]
async fn people_change_their_own_password() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let client = server.client(&admin, true, "User.Read Directory.AccessAsUser.All").await;
        let user = server.member(&admin, "zoe").await;
        let upn = "zoe@contoso.gatehouse.test";
        let (_, narrow) = server.password_grant(&tenant, &client.app_id, upn, PASSWORD, "User.Read").await;
        let narrow = narrow["access_token"].as_str().unwrap().to_owned();
        let change = |token: String, current: &str, new: &str| {
            let body = json!({"currentPassword": current, "newPassword": new});
            let server = &server;
            async move { server.call(&token, Method::POST, "/v1.0/me/changePassword", Some(body)).await }
        };
        let (status, body) = change(narrow, PASSWORD, "N3w-Kestr3l!").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: User.Read is not enough: {body}");
        let (_, wide) = server
            .password_grant(&tenant, &client.app_id, upn, PASSWORD, "Directory.AccessAsUser.All offline_access")
            .await;
        let (token, refresh) =
            (wide["access_token"].as_str().unwrap().to_owned(), wide["refresh_token"].as_str().unwrap().to_owned());
        let (status, body) = change(token.clone(), "Wr0ng!Kestr3l", "N3w-Kestr3l!").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: the current password is proved: {body}");
        assert_eq!(change(token.clone(), PASSWORD, "weak").await.0, StatusCode::BAD_REQUEST, "{engine}: complexity");
        let path = format!("/v1.0/users/{}/changePassword", server.tenant.admin_user_principal_name);
        let body = json!({"currentPassword": PASSWORD, "newPassword": "N3w-Kestr3l!"});
        assert_eq!(
            server.call(&token, Method::POST, &path, Some(body)).await.0,
            StatusCode::FORBIDDEN,
            "{engine}: only one's own"
        );
        let app_change = server
            .call(
                &admin,
                Method::POST,
                &format!("/v1.0/users/{user}/changePassword"),
                Some(json!({"currentPassword": PASSWORD, "newPassword": "N3w-Kestr3l!"})),
            )
            .await;
        assert_eq!(app_change.0, StatusCode::FORBIDDEN, "{engine}: an app has no password of its own to change here");
        server.clock.advance(chrono::Duration::seconds(1));
        assert_eq!(change(token, PASSWORD, "N3w-Kestr3l!").await.0, StatusCode::NO_CONTENT, "{engine}");
        let old = server.password_grant(&tenant, &client.app_id, upn, PASSWORD, "User.Read").await;
        assert_grant_error(engine, &old, "invalid_grant", "AADSTS50126");
        server.clock.advance(chrono::Duration::seconds(1));
        let (status, _) = server.password_grant(&tenant, &client.app_id, upn, "N3w-Kestr3l!", "User.Read").await;
        assert_eq!(status, StatusCode::OK, "{engine}");
        let revoked = server.refresh_grant(&tenant, &client.app_id, &refresh).await;
        assert_grant_error(engine, &revoked, "invalid_grant", "AADSTS50173");
    }
}

/// Signs `upn` in through the pages for a code to `redirect` (PKCE with `verifier`), consent given already.
async fn code_through_pages(server: &Server, client: &str, redirect: &str, upn: &str, verifier: &str) -> String {
    let tenant = server.tenant.tenant_id.to_string();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let challenge = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        <sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()),
    );
    let query = [
        ("client_id", client),
        ("response_type", "code"),
        ("redirect_uri", redirect),
        ("scope", "openid offline_access User.Read"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let url =
        reqwest::Url::parse_with_params(&server.url(&format!("/{tenant}/oauth2/v2.0/authorize")), &query).unwrap();
    let form = http.get(url).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let csrf_cookie = pair(&set_cookie(&form, "gatehouse_csrf").unwrap()).to_owned();
    let page = form.text().await.unwrap();
    let fields = [
        ("ctx", hidden(&page, "ctx")),
        ("csrf", hidden(&page, "csrf")),
        ("login", upn.to_owned()),
        ("passwd", PASSWORD.to_owned()),
    ];
    let url = server.url(&format!("/{tenant}/oauth2/v2.0/authorize"));
    let signed_in = http.post(url).header(reqwest::header::COOKIE, csrf_cookie).form(&fields).send().await.unwrap();
    assert_eq!(signed_in.status(), StatusCode::FOUND);
    location_query(&signed_in)["code"].clone()
}

#[tokio::test]
async fn single_page_apps_redeem_cross_origin_and_refresh_for_a_day() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let client = server.client(&admin, false, "User.Read").await;
        let (spa, native) = ("http://localhost:3000/", "http://localhost:7000/cb");
        let body = json!({"spa": {"redirectUris": [spa]}, "publicClient": {"redirectUris": [native]}});
        let path = format!("/v1.0/applications/{}", client.object);
        assert_eq!(server.call(&admin, Method::PATCH, &path, Some(body)).await.0, StatusCode::NO_CONTENT);
        server.member(&admin, "sam").await;
        let upn = "sam@contoso.gatehouse.test";
        let verifier = "the-verifier-of-a-single-page-app-0123456789abcdef";
        let token_url = server.url(&format!("/{tenant}/oauth2/v2.0/token"));
        let redeem = |code: String, redirect: &'static str, origin: Option<&'static str>| {
            let form = [
                ("grant_type", "authorization_code".to_owned()),
                ("client_id", client.app_id.clone()),
                ("code", code),
                ("redirect_uri", redirect.to_owned()),
                ("code_verifier", verifier.to_owned()),
            ];
            let mut request = server.http.post(&token_url).form(&form);
            if let Some(origin) = origin {
                request = request.header(reqwest::header::ORIGIN, origin);
            }
            request.send()
        };

        let preflight =
            server.http.request(Method::OPTIONS, &token_url).header(reqwest::header::ORIGIN, "http://localhost:3000");
        let preflight = preflight.header("Access-Control-Request-Method", "POST").send().await.unwrap();
        assert_eq!(preflight.status(), StatusCode::NO_CONTENT, "{engine}");
        assert_eq!(preflight.headers()["access-control-allow-origin"], "http://localhost:3000");

        let code = code_through_pages(&server, &client.app_id, spa, upn, verifier).await;
        let same_origin = redeem(code.clone(), spa, None).await.unwrap();
        assert_eq!(same_origin.status(), StatusCode::BAD_REQUEST, "{engine}");
        assert!(
            same_origin.text().await.unwrap().contains("AADSTS9002327"),
            "{engine}: a SPA's code is redeemed cross-origin"
        );
        let answer = redeem(code, spa, Some("http://localhost:3000")).await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{engine}");
        assert_eq!(answer.headers()["access-control-allow-origin"], "http://localhost:3000", "{engine}");
        let tokens: Value = answer.json().await.unwrap();
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

        let native_code = code_through_pages(&server, &client.app_id, native, upn, verifier).await;
        let cross = redeem(native_code, native, Some("http://localhost:3000")).await.unwrap();
        assert_eq!(cross.status(), StatusCode::BAD_REQUEST, "{engine}");
        assert_eq!(
            cross.headers()["access-control-allow-origin"],
            "http://localhost:3000",
            "{engine}: errors are readable"
        );
        assert!(cross.text().await.unwrap().contains("AADSTS9002326"), "{engine}");

        server.clock.advance(chrono::Duration::hours(23));
        let (status, body) = server.refresh_grant(&tenant, &client.app_id, &refresh).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {body}");
        server.clock.advance(chrono::Duration::hours(2));
        let expired = server.refresh_grant(&tenant, &client.app_id, body["refresh_token"].as_str().unwrap()).await;
        assert_grant_error(engine, &expired, "invalid_grant", "AADSTS700084");
    }
}

#[tokio::test]
async fn the_hybrid_flow_binds_its_id_token_to_the_code() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = server.tenant.tenant_id.to_string();
        let client = server.client(&admin, false, "User.Read").await;
        let redirect = "https://app.test/signin-oidc";
        let path = format!("/v1.0/applications/{}", client.object);
        let web = |implicit: bool| json!({"web": {"redirectUris": [redirect], "implicitGrantSettings": {"enableIdTokenIssuance": implicit}}});
        assert_eq!(server.call(&admin, Method::PATCH, &path, Some(web(false))).await.0, StatusCode::NO_CONTENT);
        server.member(&admin, "hugo").await;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let authorize = |extra: &[(&str, &str)]| {
            let mut query = vec![
                ("client_id", client.app_id.as_str()),
                ("response_type", "code id_token"),
                ("redirect_uri", redirect),
                ("scope", "openid profile User.Read"),
                ("nonce", "n-0S6_WzA2Mj"),
                ("state", "s"),
                ("response_mode", "form_post"),
            ];
            query.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
            query.extend_from_slice(extra);
            let url = reqwest::Url::parse_with_params(&server.url(&format!("/{tenant}/oauth2/v2.0/authorize")), &query)
                .unwrap();
            http.get(url).send()
        };
        let disabled = authorize(&[("response_mode", "fragment")]).await.unwrap();
        let location = disabled.headers()[reqwest::header::LOCATION].to_str().unwrap().to_owned();
        assert!(
            location.contains("#error=unsupported_response_type"),
            "{engine}: id tokens are off for the app: {location}"
        );
        assert_eq!(server.call(&admin, Method::PATCH, &path, Some(web(true))).await.0, StatusCode::NO_CONTENT);
        let no_nonce = authorize(&[("nonce", ""), ("response_mode", "fragment")]).await.unwrap();
        assert!(
            no_nonce.headers()[reqwest::header::LOCATION].to_str().unwrap().contains("error=invalid_request"),
            "{engine}"
        );
        let in_query = authorize(&[("response_mode", "query")]).await.unwrap();
        assert!(
            in_query.headers()[reqwest::header::LOCATION].to_str().unwrap().contains("?error=invalid_request"),
            "{engine}"
        );

        let form = authorize(&[]).await.unwrap();
        let csrf_cookie = pair(&set_cookie(&form, "gatehouse_csrf").unwrap()).to_owned();
        let page = form.text().await.unwrap();
        let fields = [
            ("ctx", hidden(&page, "ctx")),
            ("csrf", hidden(&page, "csrf")),
            ("login", "hugo@contoso.gatehouse.test".to_owned()),
            ("passwd", PASSWORD.to_owned()),
        ];
        let url = server.url(&format!("/{tenant}/oauth2/v2.0/authorize"));
        let posted = http.post(url).header(reqwest::header::COOKIE, csrf_cookie).form(&fields).send().await.unwrap();
        assert_eq!(posted.status(), StatusCode::OK, "{engine}: form_post answers with a page");
        let csp = posted.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("form-action https://app.test"), "{engine}: {csp}");
        let page = posted.text().await.unwrap();
        assert!(page.contains("action=\"https://app.test/signin-oidc\""), "{engine}");
        let (code, id_token) = (hidden(&page, "code"), hidden(&page, "id_token"));
        let id = claims(&id_token);
        assert_eq!(id["nonce"], "n-0S6_WzA2Mj", "{engine}");
        let c_hash = {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(code.as_bytes());
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &digest[..16])
        };
        assert_eq!(id["c_hash"], c_hash.as_str(), "{engine}: the id token is bound to the code");
        assert_eq!(hidden(&page, "state"), "s");
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", client.app_id.as_str()),
            ("client_secret", client.secret.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
        ];
        let (status, body) = server.grant(&tenant, &form).await;
        assert_eq!(status, StatusCode::OK, "{engine}: a web app redeems with its secret: {body}");
        assert_eq!(claims(body["access_token"].as_str().unwrap())["azpacr"], "1");
    }
}

/// A flood of password sign-ins beyond what the hashing pool queues is refused at once, in OAuth's own shape
/// with `Retry-After`, while those it queued are served; afterwards the pool has drained and signs in again.
#[tokio::test]
async fn a_flood_of_password_sign_ins_beyond_the_queue_is_refused_and_the_rest_served() {
    // One hashing thread, and hashes slow enough that the flood outruns it.
    let slow =
        gatehouse_core::credentials::passwords::HashParams { memory_kib: 16 * 1024, iterations: 4, parallelism: 1 };
    let server = std::sync::Arc::new(Server::hashing(slow, 1).await);
    let admin = server.admin_token().await;
    let client = server.client(&admin, true, "User.Read").await;
    server.member(&admin, "flo").await;
    let tenant = server.tenant.tenant_id.to_string();
    let flood = 200;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..flood {
        let (server, tenant, app_id) = (server.clone(), tenant.clone(), client.app_id.clone());
        tasks.spawn(async move {
            let form = [
                ("grant_type", "password"),
                ("client_id", app_id.as_str()),
                ("username", "flo@contoso.gatehouse.test"),
                ("password", PASSWORD),
                ("scope", "User.Read"),
            ];
            let url = server.url(&format!("/{tenant}/oauth2/v2.0/token"));
            let response = server.http.post(url).form(&form).send().await.unwrap();
            let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            (response.status(), retry_after, response.json::<Value>().await.unwrap())
        });
    }
    let (mut served, mut refused) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        match done.unwrap() {
            (StatusCode::OK, _, body) => {
                assert!(body["access_token"].is_string(), "{body}");
                served += 1;
            }
            (StatusCode::SERVICE_UNAVAILABLE, retry_after, body) => {
                assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
                assert_eq!(body["error"], "temporarily_unavailable", "{body}");
                assert!(body["error_description"].as_str().unwrap().starts_with("AADSTS90033"), "{body}");
                refused += 1;
            }
            (status, _, body) => panic!("neither served nor refused: {status} {body}"),
        }
    }
    assert!(served >= 1 && refused >= 1, "served {served}, refused {refused}");
    assert_eq!(server.directory.hasher().peak(), 1, "one hash at a time");
    let (status, body) =
        server.password_grant(&tenant, &client.app_id, "flo@contoso.gatehouse.test", PASSWORD, "User.Read").await;
    assert_eq!(status, StatusCode::OK, "the pool has drained: {body}");
}
