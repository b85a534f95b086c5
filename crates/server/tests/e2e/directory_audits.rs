//! The directory audit log: a record for every kind of change, with Entra's activity names, who made it
//! (an app, a person, Gatehouse's own processors), the targets and their old and new values, never a secret;
//! Graph's filters, paging and reads by id; only readers of audit logs may read it.

use crate::dynamic::settled;
use crate::support::{new_user, servers, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const AUDITS: &str = "/v1.0/auditLogs/directoryAudits";
const USER_ADMIN: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";
const E3: &str = "6fd2c87f-b296-42f0-b197-1e91e994b900";

/// Every record a filter selects, newest first, following `@odata.nextLink` page by page.
async fn audits(server: &Server, token: &str, filter: &str, top: usize) -> Vec<Value> {
    let filter = percent_encoding::utf8_percent_encode(filter, percent_encoding::NON_ALPHANUMERIC);
    let mut next = Some(server.url(&format!("{AUDITS}?$top={top}&$filter={filter}")));
    let mut out = Vec::new();
    while let Some(url) = next {
        let response = server.http.get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.unwrap();
        assert!(page["value"].as_array().unwrap().len() <= top);
        out.extend(page["value"].as_array().unwrap().iter().cloned());
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    out
}

/// The newest record of an activity about a target.
async fn latest(server: &Server, token: &str, activity: &str, target: &str) -> Value {
    let filter = format!("activityDisplayName eq '{activity}' and targetResources/any(t: t/id eq '{target}')");
    let found = audits(server, token, &filter, 100).await;
    if found.is_empty() {
        let log = audits(server, token, "activityDateTime ge 2000-01-01T00:00:00Z", 1000).await;
        panic!("{}: no '{activity}' record of {target} in {log:#?}", server.engine);
    }
    found[0].clone()
}

/// The modified property of that name of a record's first target.
fn modified<'a>(record: &'a Value, name: &str) -> &'a Value {
    let properties = record["targetResources"][0]["modifiedProperties"].as_array().unwrap();
    properties.iter().find(|p| p["displayName"] == name).unwrap_or_else(|| panic!("no {name} in {record}"))
}

#[tokio::test]
async fn every_change_is_audited_with_who_made_it_and_its_old_and_new_values() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let admin_app = server.tenant.client_id.to_string();

        // An app adds a user: its properties as set, the password never.
        let mut body = new_user("carol");
        body["department"] = json!("Sales");
        let secret_password = body["passwordProfile"]["password"].as_str().unwrap().to_owned();
        let (status, carol) = server.call(&admin, Method::POST, "/v1.0/users", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED);
        let carol = carol["id"].as_str().unwrap().to_owned();
        let added = latest(&server, &admin, "Add user", &carol).await;
        assert_eq!(added["category"], "UserManagement", "{engine}");
        assert_eq!(added["loggedByService"], "Core Directory");
        assert_eq!(added["operationType"], "Add");
        assert_eq!(added["result"], "success");
        assert_eq!(added["initiatedBy"]["app"]["appId"], admin_app.as_str(), "{engine}: {added}");
        assert_eq!(added["initiatedBy"]["user"], Value::Null);
        let target = &added["targetResources"][0];
        assert_eq!(target["type"], "User");
        assert_eq!(target["userPrincipalName"], "carol@contoso.gatehouse.test");
        assert_eq!(modified(&added, "Department")["newValue"], r#"["Sales"]"#);
        assert_eq!(modified(&added, "Department")["oldValue"], "[]");
        assert!(!added.to_string().contains(&secret_password), "{engine}: the password shows");
        assert!(!added.to_string().contains("passwordProfile") && !added.to_string().contains("PasswordProfile"));

        // An update: the old and the new value, and the names of what changed.
        let path = format!("/v1.0/users/{carol}");
        server.call(&admin, Method::PATCH, &path, Some(json!({"department": "Legal", "usageLocation": "US"}))).await;
        let updated = latest(&server, &admin, "Update user", &carol).await;
        assert_eq!(modified(&updated, "Department")["oldValue"], r#"["Sales"]"#, "{engine}: {updated}");
        assert_eq!(modified(&updated, "Department")["newValue"], r#"["Legal"]"#);
        assert_eq!(
            modified(&updated, "Included Updated Properties")["newValue"],
            json!("Department, UsageLocation").to_string()
        );

        // A password reset by an administrator names no password.
        let reset =
            json!({"passwordProfile": {"password": "Fresh-Heron-5511!", "forceChangePasswordNextSignIn": false}});
        assert_eq!(server.call(&admin, Method::PATCH, &path, Some(reset)).await.0, StatusCode::NO_CONTENT);
        let record = latest(&server, &admin, "Reset user password", &carol).await;
        assert!(!record.to_string().contains("Fresh-Heron-5511!"), "{engine}: {record}");

        // Licenses.
        let sku = json!({"skuPartNumber": "ENTERPRISEPACK", "prepaidUnits": {"enabled": 5}});
        assert_eq!(server.call(&admin, Method::POST, "/v1.0/subscribedSkus", Some(sku)).await.0, StatusCode::CREATED);
        let assign = json!({"addLicenses": [{"skuId": E3, "disabledPlans": []}], "removeLicenses": []});
        let (status, body) = server.call(&admin, Method::POST, &format!("{path}/assignLicense"), Some(assign)).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {body}");
        let licensed = latest(&server, &admin, "Change user license", &carol).await;
        assert!(modified(&licensed, "AssignedLicenses")["newValue"].as_str().unwrap().contains(E3));
        assert_eq!(modified(&licensed, "AssignedLicenses")["oldValue"], "[]");

        // A group, a member added and removed: both ends named, the group's id on the member's side.
        let group = json!({"displayName": "Auditors", "mailNickname": "auditors", "mailEnabled": false, "securityEnabled": true});
        let (_, group) = server.call(&admin, Method::POST, "/v1.0/groups", Some(group)).await;
        let group = group["id"].as_str().unwrap().to_owned();
        let reference = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{carol}")});
        let members = format!("/v1.0/groups/{group}/members");
        assert_eq!(
            server.call(&admin, Method::POST, &format!("{members}/$ref"), Some(reference)).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            server.call(&admin, Method::DELETE, &format!("{members}/{carol}/$ref"), None).await.0,
            StatusCode::NO_CONTENT
        );
        let joined = latest(&server, &admin, "Add member to group", &group).await;
        assert_eq!(joined["category"], "GroupManagement");
        assert_eq!(joined["targetResources"][0]["id"], carol.as_str());
        assert_eq!(joined["targetResources"][1]["id"], group.as_str());
        assert_eq!(joined["targetResources"][1]["displayName"], "Auditors");
        assert_eq!(modified(&joined, "Group.ObjectID")["newValue"], json!(group).to_string());
        let of_group = audits(&server, &admin, &format!("targetResources/any(t: t/id eq '{group}')"), 100).await;
        let activities: Vec<&str> = of_group.iter().map(|r| r["activityDisplayName"].as_str().unwrap()).collect();
        assert_eq!(activities, ["Remove member from group", "Add member to group", "Add group"], "{engine}");

        // Gatehouse's own processors: a dynamic group takes carol in.
        let dynamic = json!({
            "displayName": "Legal team", "mailNickname": "legal", "mailEnabled": false, "securityEnabled": true,
            "groupTypes": ["DynamicMembership"], "membershipRule": "user.department -eq \"Legal\"",
            "membershipRuleProcessingState": "On",
        });
        let (status, legal) = server.call(&admin, Method::POST, "/v1.0/groups", Some(dynamic)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {legal}");
        let legal = legal["id"].as_str().unwrap().to_owned();
        settled(&server).await;
        let processed = latest(&server, &admin, "Add member to group", &legal).await;
        assert_eq!(processed["initiatedBy"]["app"]["displayName"], "Gatehouse", "{engine}: {processed}");
        assert_eq!(processed["targetResources"][0]["id"], carol.as_str());

        // A directory role, and a person who holds it changing a user: the person is named.
        let ann = server.member(&admin, "ann").await;
        server.assign_role(&admin, USER_ADMIN, &ann).await;
        let role = latest(&server, &admin, "Add member to role", &ann).await;
        assert_eq!(role["category"], "RoleManagement", "{engine}: {role}");
        let client = server.client(&admin, true, "User.ReadWrite.All").await;
        let ann_token = server.user_token(&client.app_id, "ann").await;

        // Applications, their secrets and consent: the secret never shows.
        let registered = latest(&server, &admin, "Add application", &client.object).await;
        assert_eq!(registered["category"], "ApplicationManagement", "{engine}: {registered}");
        assert_eq!(registered["targetResources"][0]["type"], "Application");
        latest(&server, &admin, "Add service principal", &client.sp).await;
        let grants = audits(&server, &admin, "activityDisplayName eq 'Add delegated permission grant'", 100).await;
        let consent = grants.iter().find(|g| g["targetResources"][1]["id"] == client.sp.as_str());
        let consent = consent.unwrap_or_else(|| panic!("{engine}: no consent record for the client: {grants:?}"));
        assert_eq!(consent["targetResources"][1]["type"], "ServicePrincipal", "{engine}: {consent}");
        let add_password = format!("/v1.0/applications/{}/addPassword", client.object);
        let (status, secret) =
            server.call(&admin, Method::POST, &add_password, Some(json!({"passwordCredential": {}}))).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {secret}");
        let secret_text = secret["secretText"].as_str().unwrap();
        let credentials =
            latest(&server, &admin, "Update application – Certificates and secrets management ", &client.object).await;
        assert!(!credentials.to_string().contains(secret_text), "{engine}: the secret shows: {credentials}");
        assert!(modified(&credentials, "PasswordCredentials")["newValue"].as_str().unwrap().contains("hint"));
        let (status, _) = server.call(&ann_token, Method::PATCH, &path, Some(json!({"jobTitle": "Counsel"}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let by_ann = audits(&server, &admin, &format!("initiatedBy/user/id eq '{ann}'"), 100).await;
        assert_eq!(by_ann.len(), 1, "{engine}: {by_ann:?}");
        assert_eq!(by_ann[0]["activityDisplayName"], "Update user");
        assert_eq!(by_ann[0]["initiatedBy"]["user"]["userPrincipalName"], "ann@contoso.gatehouse.test");
        assert_eq!(modified(&by_ann[0], "JobTitle")["newValue"], r#"["Counsel"]"#);
        assert_eq!(
            server.call(&ann_token, Method::GET, AUDITS, None).await.0,
            StatusCode::FORBIDDEN,
            "{engine}: a User Administrator reads no audit log"
        );

        // Security info an administrator registers for a user: logged by Authentication Methods, no pass.
        let passes = format!("{path}/authentication/temporaryAccessPassMethods");
        let (status, made) = server.call(&admin, Method::POST, &passes, Some(json!({"lifetimeInMinutes": 60}))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {made}");
        let pass = made["temporaryAccessPass"].as_str().unwrap();
        let registered = latest(&server, &admin, "Admin registered security info", &carol).await;
        assert_eq!(registered["loggedByService"], "Authentication Methods");
        assert!(!registered.to_string().contains(pass), "{engine}: the pass shows: {registered}");

        // Conditional Access: the whole policy before and after.
        let policy = json!({
            "displayName": "Watch Legal", "state": "enabledForReportingButNotEnforced",
            "conditions": {"users": {"includeGroups": [legal.clone()]}, "applications": {"includeApplications": ["All"]}},
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
        });
        let policies = "/v1.0/identity/conditionalAccess/policies";
        let (status, created) = server.call(&admin, Method::POST, policies, Some(policy)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {created}");
        let policy = created["id"].as_str().unwrap().to_owned();
        let renamed = json!({"displayName": "Watch the Legal team"});
        let (status, _) = server.call(&admin, Method::PATCH, &format!("{policies}/{policy}"), Some(renamed)).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let changed = latest(&server, &admin, "Update conditional access policy", &policy).await;
        assert_eq!(changed["category"], "Policy");
        assert_eq!(changed["loggedByService"], "Conditional Access");
        assert_eq!(changed["targetResources"][0]["displayName"], "Watch the Legal team");
        let old: Value =
            serde_json::from_str(modified(&changed, "ConditionalAccessPolicy")["oldValue"].as_str().unwrap()).unwrap();
        assert_eq!(old["displayName"], "Watch Legal", "{engine}");

        // The organization, and a deletion and restore.
        let organization = format!("/v1.0/organization/{}", server.tenant.tenant_id);
        let (status, _) =
            server.call(&admin, Method::PATCH, &organization, Some(json!({"preferredLanguage": "fr-FR"}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let company = audits(&server, &admin, "activityDisplayName eq 'Set Company Information'", 10).await;
        assert_eq!(modified(&company[0], "PreferredLanguage")["newValue"], r#"["fr-FR"]"#, "{engine}: {company:?}");
        assert_eq!(server.call(&admin, Method::DELETE, &path, None).await.0, StatusCode::NO_CONTENT);
        let restore = format!("/v1.0/directory/deletedItems/{carol}/restore");
        assert_eq!(server.call(&admin, Method::POST, &restore, None).await.0, StatusCode::OK);
        latest(&server, &admin, "Delete user", &carol).await;
        latest(&server, &admin, "Restore user", &carol).await;

        // Filters, paging and reads by id agree with the whole log.
        let everything = audits(&server, &admin, "activityDateTime ge 2000-01-01T00:00:00Z", 1000).await;
        let paged = audits(&server, &admin, "activityDateTime ge 2000-01-01T00:00:00Z", 3).await;
        assert_eq!(everything, paged, "{engine}: pages of three give the whole log");
        let ids: Vec<&str> = everything.iter().map(|r| r["id"].as_str().unwrap()).collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "{engine}: ids are unique");
        let groups = audits(&server, &admin, "category eq 'GroupManagement'", 100).await;
        assert!(groups.len() >= 4 && groups.iter().all(|r| r["category"] == "GroupManagement"), "{engine}");
        let expected = everything.iter().filter(|r| r["category"] == "GroupManagement").count();
        assert_eq!(groups.len(), expected, "{engine}");
        let later = audits(&server, &admin, "activityDateTime gt 2999-01-01T00:00:00Z", 10).await;
        assert!(later.is_empty());
        let (status, one) = server.call(&admin, Method::GET, &format!("{AUDITS}/{}", ids[3]), None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {one}");
        assert_eq!(one["id"], ids[3]);
        assert_eq!(one["activityDisplayName"], everything[3]["activityDisplayName"]);
        let (status, _) = server.call(&admin, Method::GET, &format!("{AUDITS}/Directory_nothing_1"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, error) =
            server.call(&admin, Method::GET, &format!("{AUDITS}?$filter=result%20eq%20'failure'"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {error}");
        assert!(error["error"]["message"].as_str().unwrap().contains("activityDateTime"));
    }
}
