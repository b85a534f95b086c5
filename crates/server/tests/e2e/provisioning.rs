//! Provisioning into a SaaS app: a real third-party SCIM server (`scim2-server`, from PyPI) runs on
//! loopback as the app, and the tests read its state over SCIM — a group assigned to the app brings its
//! members there within seconds, a change of a user follows, a member removed from the group is made
//! inactive; an app that was down is caught up after, nothing lost or doubled; an app that refuses the
//! credentials, or most requests, puts the job in quarantine with its reason.

use crate::support::{free_port, servers, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const TOKEN: &str = "app-secret-token";

/// `scim2-server` on loopback, holding its resources in memory.
struct ScimApp {
    base: String,
    _child: tokio::process::Child,
}

impl ScimApp {
    async fn start(port: u16) -> ScimApp {
        let python = gatehouse_testkit::python::interop_python(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")));
        let child = tokio::process::Command::new(python)
            .args(["-c", "import sys; from scim2_server.testserver.cli import main; sys.exit(main())"])
            .args(["--bearer-token", TOKEN, "--port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return ScimApp { base: format!("http://127.0.0.1:{port}/v2"), _child: child };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the SCIM server did not start");
    }

    /// Every resource of an endpoint (`Users`, `Groups`).
    async fn all(&self, endpoint: &str) -> Vec<Value> {
        let url = format!("{}/{endpoint}?count=1000", self.base);
        let answer: Value =
            reqwest::Client::new().get(url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
        answer["Resources"].as_array().cloned().unwrap_or_default()
    }

    async fn user(&self, user_name: &str) -> Option<Value> {
        self.all("Users").await.into_iter().find(|u| u["userName"].as_str() == Some(user_name))
    }
}

/// Waits until `check` holds of the app (at most 20 seconds), advancing the server's clock by `step`
/// each time (runs waiting on a retry are due by the directory's clock); `what` says what was awaited.
async fn eventually<F, Fut>(server: &Server, step: chrono::Duration, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..80 {
        if check().await {
            return;
        }
        server.clock.advance(step);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{}: {what} did not happen", server.engine);
}

/// An app (its service principal) with a job that provisions into `base` with `token`; the job's id.
async fn provisioned_app(server: &Server, admin: &str, base: &str, token: &str) -> (String, String) {
    let (_, principal) = server.app_with(admin, &[]).await;
    let jobs = format!("/v1.0/servicePrincipals/{principal}/synchronization/jobs");
    let (status, job) = server.call(admin, Method::POST, &jobs, Some(json!({"templateId": "scim"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["status"]["code"], "NotConfigured", "{job}");
    let job = job["id"].as_str().unwrap().to_owned();
    let secrets = json!({"value": [{"key": "BaseAddress", "value": base}, {"key": "SecretToken", "value": token}]});
    let path = format!("/v1.0/servicePrincipals/{principal}/synchronization/secrets");
    let (status, body) = server.call(admin, Method::PUT, &path, Some(secrets)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    (principal, job)
}

async fn start(server: &Server, admin: &str, principal: &str, job: &str) {
    let path = format!("/v1.0/servicePrincipals/{principal}/synchronization/jobs/{job}/start");
    let (status, body) = server.call(admin, Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

/// A group with new members named `names`, assigned to the app; the group's id and the members' ids.
async fn assigned_group(server: &Server, admin: &str, principal: &str, names: &[&str]) -> (String, Vec<String>) {
    let group = json!({"displayName": "Sales", "mailNickname": "sales", "mailEnabled": false, "securityEnabled": true});
    let (_, group) = server.call(admin, Method::POST, "/v1.0/groups", Some(group)).await;
    let group = group["id"].as_str().unwrap().to_owned();
    let mut members = Vec::new();
    for name in names {
        let user = json!({
            "accountEnabled": true, "displayName": name, "mailNickname": name, "department": "Sales",
            "userPrincipalName": format!("{name}@contoso.gatehouse.test"), "givenName": name, "surname": "Lee",
            "passwordProfile": {"password": "Correct-Horse-9-Battery"},
        });
        let (status, user) = server.call(admin, Method::POST, "/v1.0/users", Some(user)).await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        let id = user["id"].as_str().unwrap().to_owned();
        let reference = json!({"@odata.id": format!("{}/v1.0/directoryObjects/{id}", server.base)});
        let path = format!("/v1.0/groups/{group}/members/$ref");
        assert_eq!(server.call(admin, Method::POST, &path, Some(reference)).await.0, StatusCode::NO_CONTENT);
        members.push(id);
    }
    let assignment = json!({"principalId": group, "resourceId": principal, "appRoleId": uuid::Uuid::nil()});
    let path = format!("/v1.0/servicePrincipals/{principal}/appRoleAssignedTo");
    let (status, body) = server.call(admin, Method::POST, &path, Some(assignment)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (group, members)
}

#[tokio::test]
async fn an_assigned_groups_members_reach_the_app_and_follow_the_directory() {
    for server in servers().await {
        let engine = server.engine;
        let app = ScimApp::start(free_port()).await;
        let admin = server.admin_token().await;
        let (principal, job) = provisioned_app(&server, &admin, &app.base, TOKEN).await;
        let (group, members) = assigned_group(&server, &admin, &principal, &["ann", "bob"]).await;
        start(&server, &admin, &principal, &job).await;

        let ann = "ann@contoso.gatehouse.test";
        let step = chrono::Duration::zero();
        eventually(&server, step, "the members' arrival", || async {
            app.all("Users").await.len() == 2
                && app.all("Groups").await.first().is_some_and(|g| g["members"].as_array().map(Vec::len) == Some(2))
        })
        .await;
        let arrived = app.user(ann).await.unwrap();
        assert_eq!(arrived["active"], true, "{engine}: {arrived}");
        assert_eq!(arrived["name"]["givenName"], "ann", "{engine}: {arrived}");
        assert_eq!(arrived["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"], "Sales");
        let groups = app.all("Groups").await;
        assert_eq!((groups.len(), groups[0]["externalId"].as_str()), (1, Some(group.as_str())), "{engine}: {groups:?}");

        // A change of the user follows.
        let path = format!("/v1.0/users/{}", members[0]);
        let change = json!({"department": "Field Sales", "city": "Oslo"});
        assert_eq!(server.call(&admin, Method::PATCH, &path, Some(change)).await.0, StatusCode::NO_CONTENT);
        eventually(&server, step, "the department's change", || async {
            app.user(ann).await.is_some_and(|u| {
                u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"] == "Field Sales"
                    && u["addresses"][0]["locality"] == "Oslo"
            })
        })
        .await;

        // A member removed from the group leaves the app's group and is made inactive there.
        let path = format!("/v1.0/groups/{group}/members/{}/$ref", members[1]);
        assert_eq!(server.call(&admin, Method::DELETE, &path, None).await.0, StatusCode::NO_CONTENT);
        eventually(&server, step, "bob's deactivation", || async {
            let bob = app.user("bob@contoso.gatehouse.test").await;
            let groups = app.all("Groups").await;
            bob.is_some_and(|b| b["active"] == false) && groups[0]["members"].as_array().map(Vec::len) == Some(1)
        })
        .await;
        assert_eq!(app.all("Users").await.len(), 2, "{engine}: nothing doubled");

        // The job's status and the provisioning log.
        let path = format!("/v1.0/servicePrincipals/{principal}/synchronization/jobs/{job}");
        let (_, status) = server.call(&admin, Method::GET, &path, None).await;
        assert_eq!(status["status"]["code"], "Active", "{engine}: {status}");
        assert_eq!(status["status"]["synchronizedEntryCountByType"][0], json!({"key": "User", "value": 2}), "{status}");
        let filter = format!("/v1.0/auditLogs/provisioning?$filter=jobId eq '{job}'");
        let (status, log) = server.call(&admin, Method::GET, &filter, None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {log}");
        let actions: Vec<(&str, &str)> = log["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (e["provisioningAction"].as_str().unwrap(), e["provisioningStatusInfo"]["status"].as_str().unwrap())
            })
            .collect();
        for expected in [("create", "success"), ("update", "success"), ("disable", "success")] {
            assert!(actions.contains(&expected), "{engine}: {expected:?} in {actions:?}");
        }
        // On demand, with the job paused: a new member now; someone out of scope not at all.
        let jobs = format!("/v1.0/servicePrincipals/{principal}/synchronization/jobs/{job}");
        assert_eq!(server.call(&admin, Method::POST, &format!("{jobs}/pause"), None).await.0, StatusCode::NO_CONTENT);
        let (_, paused) = server.call(&admin, Method::GET, &jobs, None).await;
        assert_eq!(paused["status"]["code"], "Paused", "{engine}: {paused}");
        let mut outsiders = Vec::new();
        for name in ["cat", "dan"] {
            let user = json!({
                "accountEnabled": true, "displayName": name, "mailNickname": name,
                "userPrincipalName": format!("{name}@contoso.gatehouse.test"),
                "passwordProfile": {"password": "Correct-Horse-9-Battery"},
            });
            let (_, user) = server.call(&admin, Method::POST, "/v1.0/users", Some(user)).await;
            outsiders.push(user["id"].as_str().unwrap().to_owned());
        }
        let reference = json!({"@odata.id": format!("{}/v1.0/directoryObjects/{}", server.base, outsiders[0])});
        let path = format!("/v1.0/groups/{group}/members/$ref");
        assert_eq!(server.call(&admin, Method::POST, &path, Some(reference)).await.0, StatusCode::NO_CONTENT);
        let on_demand = |id: &str| json!({"parameters": [{"ruleId": "scim", "subjects": [{"objectId": id, "objectTypeName": "User"}]}]});
        let path = format!("{jobs}/provisionOnDemand");
        let (status, pair) = server.call(&admin, Method::POST, &path, Some(on_demand(&outsiders[0]))).await;
        assert_eq!((status, pair["key"].as_str()), (StatusCode::OK, Some("success")), "{engine}: {pair}");
        let steps: Value = serde_json::from_str(pair["value"].as_str().unwrap()).unwrap();
        assert_eq!(steps[0]["provisioningAction"], "create", "{engine}: {steps}");
        assert!(app.user("cat@contoso.gatehouse.test").await.is_some(), "{engine}: provisioned at once");
        let (_, pair) = server.call(&admin, Method::POST, &path, Some(on_demand(&outsiders[1]))).await;
        assert_eq!(pair["value"], "[]", "{engine}: out of scope, nothing done: {pair}");
        assert!(app.user("dan@contoso.gatehouse.test").await.is_none(), "{engine}");

        let mine = format!("/v1.0/auditLogs/provisioning?$filter=sourceIdentity/id eq '{}'", members[1]);
        let (_, bobs) = server.call(&admin, Method::GET, &mine, None).await;
        assert!(bobs["value"].as_array().unwrap().iter().all(|e| e["sourceIdentity"]["id"] == members[1].as_str()));
        assert_eq!(bobs["value"][0]["provisioningAction"], "disable", "{engine}: newest first: {bobs}");
    }
}

#[tokio::test]
async fn an_app_that_was_down_is_caught_up_after() {
    for server in servers().await {
        let engine = server.engine;
        let port = free_port();
        let admin = server.admin_token().await;
        let base = format!("http://127.0.0.1:{port}/v2");
        let (principal, job) = provisioned_app(&server, &admin, &base, TOKEN).await;
        let (_, members) = assigned_group(&server, &admin, &principal, &["cy", "di", "ed"]).await;
        start(&server, &admin, &principal, &job).await;
        let path = format!("/v1.0/servicePrincipals/{principal}/synchronization/jobs/{job}");
        let failed = || async {
            let (_, job) = server.call(&admin, Method::GET, &path, None).await;
            job["status"]["lastExecution"]["state"] == "Failed"
        };
        eventually(&server, chrono::Duration::zero(), "a failed run", failed).await;
        let (_, down) = server.call(&admin, Method::GET, &path, None).await;
        assert_eq!(down["status"]["code"], "Active", "{engine}: an app out of reach is retried, not quarantined");

        // A change while the app is down is not lost.
        let change = json!({"jobTitle": "Buyer"});
        let user = format!("/v1.0/users/{}", members[0]);
        assert_eq!(server.call(&admin, Method::PATCH, &user, Some(change)).await.0, StatusCode::NO_CONTENT);
        let app = ScimApp::start(port).await;
        eventually(&server, chrono::Duration::seconds(30), "the catch-up", || async {
            app.all("Users").await.len() == 3
        })
        .await;
        eventually(&server, chrono::Duration::seconds(30), "the change made while down", || async {
            app.user("cy@contoso.gatehouse.test").await.is_some_and(|u| u["title"] == "Buyer")
        })
        .await;
        eventually(&server, chrono::Duration::seconds(30), "the group's arrival", || async {
            app.all("Groups").await.first().is_some_and(|g| g["members"].as_array().map(Vec::len) == Some(3))
        })
        .await;
        assert_eq!(app.all("Groups").await.len(), 1, "{engine}: one group, not two");
        assert_eq!(app.all("Users").await.len(), 3, "{engine}: nothing doubled");
    }
}

#[tokio::test]
async fn an_app_that_refuses_puts_the_job_in_quarantine() {
    for server in servers().await {
        let engine = server.engine;
        let app = ScimApp::start(free_port()).await;
        let admin = server.admin_token().await;
        // Wrong credentials: quarantined at once.
        let (principal, job) = provisioned_app(&server, &admin, &app.base, "not-the-token").await;
        assigned_group(&server, &admin, &principal, &["fay"]).await;
        start(&server, &admin, &principal, &job).await;
        let path = format!("/v1.0/servicePrincipals/{principal}/synchronization/jobs/{job}");
        let quarantined = |path: String| {
            let (server, admin) = (&server, &admin);
            async move {
                let (_, job) = server.call(admin, Method::GET, &path, None).await;
                job["status"]["code"] == "Quarantine"
            }
        };
        eventually(&server, chrono::Duration::zero(), "the quarantine", || quarantined(path.clone())).await;
        let (synchronizer, _) = server.app_with(&admin, &["Synchronization.ReadWrite.All"]).await;
        let (_, job_now) = server.call(&synchronizer, Method::GET, &path, None).await;
        assert_eq!(job_now["status"]["quarantine"]["reason"], "EncounteredQuarantineException", "{engine}: {job_now}");
        let (reader, _) = server.app_with(&admin, &["User.Read.All"]).await;
        assert_eq!(server.call(&reader, Method::GET, &path, None).await.0, StatusCode::FORBIDDEN, "{engine}");
        let logs = "/v1.0/auditLogs/provisioning";
        assert_eq!(server.call(&reader, Method::GET, logs, None).await.0, StatusCode::FORBIDDEN, "{engine}");

        // An app that refuses most requests (here: a base address it serves nothing at).
        let wrong = format!("{}/nothing-here", app.base);
        let (principal, job) = provisioned_app(&server, &admin, &wrong, TOKEN).await;
        let names: Vec<String> = (0..12).map(|n| format!("gus{n}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assigned_group(&server, &admin, &principal, &names).await;
        start(&server, &admin, &principal, &job).await;
        let path = format!("/v1.0/servicePrincipals/{principal}/synchronization/jobs/{job}");
        eventually(&server, chrono::Duration::zero(), "the quarantine", || quarantined(path.clone())).await;
        let (_, job_now) = server.call(&admin, Method::GET, &path, None).await;
        assert_eq!(
            job_now["status"]["quarantine"]["reason"], "EncounteredEscrowProportionThreshold",
            "{engine}: {job_now}"
        );
        assert!(app.all("Users").await.is_empty(), "{engine}");

        // A restart clears the quarantine (the job is tried again at once).
        let restart = format!("{path}/restart");
        let body = json!({"criteria": {"resetScope": "Full"}});
        assert_eq!(server.call(&admin, Method::POST, &restart, Some(body)).await.0, StatusCode::NO_CONTENT);
        let (_, restarted) = server.call(&admin, Method::GET, &path, None).await;
        assert_ne!(restarted["status"]["quarantine"]["reason"], "EncounteredQuarantineException", "{engine}");
    }
}

#[tokio::test]
async fn attribute_mappings_are_entras_expressions() {
    for server in servers().await {
        let engine = server.engine;
        let app = ScimApp::start(free_port()).await;
        let admin = server.admin_token().await;
        let (principal, job) = provisioned_app(&server, &admin, &app.base, TOKEN).await;
        let schema_path = format!("/v1.0/servicePrincipals/{principal}/synchronization/jobs/{job}/schema");
        let (status, schema) = server.call(&admin, Method::GET, &schema_path, None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {schema}");
        let mappings = schema["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"].clone();
        let user_name = mappings.as_array().unwrap().iter().find(|m| m["targetAttributeName"] == "userName").unwrap();
        assert_eq!(
            (user_name["source"]["name"].as_str(), user_name["matchingPriority"].as_u64()),
            (Some("userPrincipalName"), Some(1))
        );

        // An administrator's mappings: a function, a constant, and a plain attribute.
        let mapping = |target: &str, expression: &str, matching: u32| json!({"targetAttributeName": target, "source": {"expression": expression, "type": "Function"}, "matchingPriority": matching});
        let mut schema = schema.clone();
        schema["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"] = json!([
            mapping("userName", "ToLower([userPrincipalName], )", 1),
            mapping("active", "Switch([IsSoftDeleted], , \"False\", \"True\", \"True\", \"False\")", 0),
            mapping("displayName", "Join(\", \", [surname], [givenName])", 0),
            mapping("title", "ToUpper(Coalesce([jobTitle], \"staff\"))", 0),
            mapping("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization", "\"Contoso Ltd\"", 0),
        ]);
        let mut broken = schema.clone();
        broken["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][2] =
            mapping("displayName", "Join(\", \", [surname]", 0);
        let (status, _) = server.call(&admin, Method::PUT, &schema_path, Some(broken)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: a malformed expression is refused");
        let (status, body) = server.call(&admin, Method::PUT, &schema_path, Some(schema)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");

        assigned_group(&server, &admin, &principal, &["Hal"]).await;
        start(&server, &admin, &principal, &job).await;
        eventually(&server, chrono::Duration::zero(), "Hal's arrival", || async {
            app.user("hal@contoso.gatehouse.test").await.is_some()
        })
        .await;
        let hal = app.user("hal@contoso.gatehouse.test").await.unwrap();
        assert_eq!(hal["displayName"], "Lee, Hal", "{engine}: {hal}");
        assert_eq!(hal["title"], "STAFF", "{engine}: {hal}");
        assert_eq!(hal["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["organization"], "Contoso Ltd");
        assert!(hal.get("emails").is_none(), "{engine}: what no mapping names is not sent: {hal}");
        let (_, read) = server.call(&admin, Method::GET, &schema_path, None).await;
        let count = read["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"].as_array().map(Vec::len);
        assert_eq!(count, Some(5), "{engine}: {read}");
    }
}

#[tokio::test]
async fn the_admin_center_shows_a_job_its_log_and_pauses_it() {
    let server = crate::support::sqlite_server().await;
    let app = ScimApp::start(free_port()).await;
    let admin = server.admin_token().await;
    let (principal, job) = provisioned_app(&server, &admin, &app.base, TOKEN).await;
    assigned_group(&server, &admin, &principal, &["ann"]).await;
    start(&server, &admin, &principal, &job).await;
    eventually(&server, chrono::Duration::zero(), "Ann's arrival", || async {
        app.user("ann@contoso.gatehouse.test").await.is_some()
    })
    .await;
    let gia = server.member(&admin, "gia").await;
    server.assign_role(&admin, crate::admin_center::GLOBAL_ADMIN, &gia).await;
    let browser = crate::admin_center::signed_in(&server, "gia").await;
    let (_, sp) = server.call(&admin, Method::GET, &format!("/v1.0/servicePrincipals/{principal}"), None).await;
    let filter = format!("/v1.0/applications?$filter=appId eq '{}'", sp["appId"].as_str().unwrap());
    let (_, apps) = server.call(&admin, Method::GET, &filter, None).await;
    let page_url =
        server.url(&format!("/contoso.gatehouse.test/admin/apps/{}", apps["value"][0]["id"].as_str().unwrap()));
    let page = browser.get(&page_url).await;
    assert!(page.text.contains("<td class=\"job-state\">Active</td>"), "{}", page.text);
    assert!(page.text.contains("1 user"), "the count in the app: {}", page.text);
    let log = page.text.split("Provisioning log").nth(1).unwrap_or_default();
    assert!(log.contains("<td>ann</td><td>create</td><td>success"), "the log: {log}");
    let paused = browser.submit(&page_url, &page, &[("action", "pause"), ("job", &job)]).await;
    assert!(paused.text.contains("<td class=\"job-state\">Paused</td>"), "{}", paused.text);
    let path = format!("/v1.0/servicePrincipals/{principal}/synchronization/jobs/{job}");
    assert_eq!(server.call(&admin, Method::GET, &path, None).await.1["status"]["code"], "Paused");
}
