//! Licensing: subscriptions, direct and group-based assignment, Entra's error states — on every engine.

use crate::dynamic::settled;
use crate::support::{new_user, servers, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const E1: &str = "18181a46-0d4e-45cd-891e-60aabd171b4e";
const E3: &str = "6fd2c87f-b296-42f0-b197-1e91e994b900";
const P1: &str = "078d2b04-f1bd-4111-bbd4-b4b1b354cef4";
const AUDIO: &str = "0c266dff-15dd-4b49-8397-2bb16070ed52";
const EXCHANGE_PLAN_2: &str = "efb87545-963c-4e0d-99df-69c6916d9eb0";

async fn user(server: &Server, token: &str, alias: &str, location: Option<&str>) -> String {
    let mut body = new_user(alias);
    if let Some(location) = location {
        body["usageLocation"] = json!(location);
    }
    let (status, created) = server.call(token, Method::POST, "/v1.0/users", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn assign(server: &Server, token: &str, user: &str, add: Value, remove: Value) -> (StatusCode, Value) {
    let body = json!({"addLicenses": add, "removeLicenses": remove});
    server.call(token, Method::POST, &format!("/v1.0/users/{user}/assignLicense"), Some(body)).await
}

async fn subscribe(server: &Server, token: &str, part: &str, seats: u64) {
    let body = json!({"skuPartNumber": part, "prepaidUnits": {"enabled": seats}});
    let (status, created) = server.call(token, Method::POST, "/v1.0/subscribedSkus", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

async fn consumed(server: &Server, token: &str, sku: &str) -> u64 {
    let (_, skus) = server.call(token, Method::GET, "/v1.0/subscribedSkus", None).await;
    let found = skus["value"].as_array().unwrap().iter().find(|s| s["skuId"] == sku).cloned().unwrap();
    found["consumedUnits"].as_u64().unwrap()
}

async fn licenses(server: &Server, token: &str, user: &str) -> Value {
    let path = format!("/v1.0/users/{user}?$select=assignedLicenses,assignedPlans,licenseAssignmentStates");
    server.call(token, Method::GET, &path, None).await.1
}

fn skus(user: &Value) -> Vec<String> {
    let mut out: Vec<String> =
        user["assignedLicenses"].as_array().unwrap().iter().map(|l| l["skuId"].as_str().unwrap().to_owned()).collect();
    out.sort();
    out
}

async fn add_member(server: &Server, token: &str, group: &str, member: &str) {
    let reference = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{member}")});
    let (status, body) =
        server.call(token, Method::POST, &format!("/v1.0/groups/{group}/members/$ref"), Some(reference)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

async fn security_group(server: &Server, token: &str, name: &str) -> String {
    let body = json!({"displayName": name, "mailNickname": name, "mailEnabled": false, "securityEnabled": true});
    let (_, group) = server.call(token, Method::POST, "/v1.0/groups", Some(body)).await;
    group["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn direct_assignment_follows_entras_rules() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        subscribe(&server, &admin, "ENTERPRISEPACK", 2).await;
        subscribe(&server, &admin, "STANDARDPACK", 5).await;
        subscribe(&server, &admin, "MCOMEETADV", 5).await;
        let (status, again) = server
            .call(&admin, Method::POST, "/v1.0/subscribedSkus", Some(json!({"skuPartNumber": "ENTERPRISEPACK"})))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {again}");
        let (_, skus_listed) = server.call(&admin, Method::GET, "/v1.0/subscribedSkus", None).await;
        let e3 = skus_listed["value"].as_array().unwrap().iter().find(|s| s["skuId"] == E3).cloned().unwrap();
        assert_eq!(e3["skuPartNumber"], "ENTERPRISEPACK");
        assert_eq!(e3["prepaidUnits"]["enabled"], 2);
        assert_eq!(e3["consumedUnits"], 0);
        assert!(e3["servicePlans"].as_array().unwrap().iter().any(|p| p["servicePlanName"] == "EXCHANGE_S_ENTERPRISE"));

        let ada = user(&server, &admin, "ada", Some("NL")).await;
        let bob = user(&server, &admin, "bob", Some("NL")).await;
        let cyd = user(&server, &admin, "cyd", None).await;

        let (status, body) = assign(&server, &admin, &cyd, json!([{"skuId": E3}]), json!([])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("usage location"));

        let (status, assigned) =
            assign(&server, &admin, &ada, json!([{"skuId": E3, "disabledPlans": [EXCHANGE_PLAN_2]}]), json!([])).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {assigned}");
        assert_eq!(assigned["id"], ada.as_str());
        assert_eq!(
            assigned["assignedLicenses"],
            json!([{"skuId": E3, "disabledPlans": [EXCHANGE_PLAN_2]}]),
            "{engine}: the response carries the new assignments"
        );
        assert!(assigned["assignedPlans"].as_array().is_some_and(|p| !p.is_empty()), "{engine}: {assigned}");
        let held = licenses(&server, &admin, &ada).await;
        assert_eq!(held["assignedLicenses"], json!([{"skuId": E3, "disabledPlans": [EXCHANGE_PLAN_2]}]));
        let plans = held["assignedPlans"].as_array().unwrap();
        assert!(
            !plans.iter().any(|p| p["servicePlanId"] == EXCHANGE_PLAN_2),
            "{engine}: a disabled plan is not assigned"
        );
        assert!(plans.iter().all(|p| p["capabilityStatus"] == "Enabled"));
        assert_eq!(held["licenseAssignmentStates"][0]["state"], "Active");
        assert_eq!(held["licenseAssignmentStates"][0]["assignedByGroup"], Value::Null);
        let (_, details) = server.call(&admin, Method::GET, &format!("/v1.0/users/{ada}/licenseDetails"), None).await;
        let exchange = details["value"][0]["servicePlans"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["servicePlanId"] == EXCHANGE_PLAN_2)
            .cloned();
        assert_eq!(exchange.unwrap()["provisioningStatus"], "Disabled", "{engine}: {details}");

        let (_, found) = server
            .call(
                &admin,
                Method::GET,
                &format!("/v1.0/users?$filter=assignedLicenses/any(x:x/skuId eq {E3})&$select=id"),
                None,
            )
            .await;
        assert_eq!(found["value"], json!([{"id": ada}]), "{engine}: {found}");

        assert_eq!(assign(&server, &admin, &bob, json!([{"skuId": E3}]), json!([])).await.0, StatusCode::OK);
        let patch = json!({"usageLocation": "GB"});
        server.call(&admin, Method::PATCH, &format!("/v1.0/users/{cyd}"), Some(patch)).await;
        let (status, body) = assign(&server, &admin, &cyd, json!([{"skuId": E3}]), json!([])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: no seats left");
        assert!(body["error"]["message"].as_str().unwrap().contains("does not have any available licenses"), "{body}");
        assert!(skus(&licenses(&server, &admin, &cyd).await).is_empty(), "{engine}: nothing changed");
        assert_eq!(consumed(&server, &admin, E3).await, 2);

        let (status, body) = assign(&server, &admin, &ada, json!([{"skuId": E1}]), json!([])).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{engine}: SharePoint Plan 1 and Plan 2 cannot be held together: {body}"
        );
        let (status, body) = assign(&server, &admin, &cyd, json!([{"skuId": AUDIO}]), json!([])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: Audio Conferencing needs Skype for Business: {body}");
        assert_eq!(assign(&server, &admin, &bob, json!([{"skuId": AUDIO}]), json!([])).await.0, StatusCode::OK);

        let (status, _) = assign(&server, &admin, &ada, json!([]), json!([E3])).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(consumed(&server, &admin, E3).await, 1, "{engine}: a removed license frees its seat");
        assert_eq!(assign(&server, &admin, &cyd, json!([{"skuId": E3}]), json!([])).await.0, StatusCode::OK);

        let (status, _) = server.call(&admin, Method::DELETE, &format!("/v1.0/subscribedSkus/{E3}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: a subscription in use is not retired");
        let patch = json!({"prepaidUnits": {"enabled": 10, "warning": 1}});
        let (status, _) = server.call(&admin, Method::PATCH, &format!("/v1.0/subscribedSkus/{E3}"), Some(patch)).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, sku) = server
            .call(&admin, Method::GET, &format!("/v1.0/subscribedSkus/{}_{E3}", server.tenant.tenant_id), None)
            .await;
        assert_eq!(sku["prepaidUnits"]["enabled"], 10, "{engine}: {sku}");

        let (assigner, _) = server.app_with(&admin, &["LicenseAssignment.ReadWrite.All"]).await;
        assert_eq!(assign(&server, &assigner, &ada, json!([{"skuId": E3}]), json!([])).await.0, StatusCode::OK);
        let (status, _) = server
            .call(&assigner, Method::POST, "/v1.0/subscribedSkus", Some(json!({"skuPartNumber": "AAD_PREMIUM"})))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: subscriptions need Organization.ReadWrite.All");
        let (reader, _) = server.app_with(&admin, &["Organization.Read.All"]).await;
        assert_eq!(server.call(&reader, Method::GET, "/v1.0/subscribedSkus", None).await.0, StatusCode::OK);
        assert_eq!(assign(&server, &reader, &ada, json!([]), json!([E3])).await.0, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn group_licenses_reach_members_with_entras_error_states() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        subscribe(&server, &admin, "AAD_PREMIUM", 2).await;
        subscribe(&server, &admin, "STANDARDPACK", 10).await;
        subscribe(&server, &admin, "ENTERPRISEPACK", 10).await;
        let (ann, ben, cal) = (
            user(&server, &admin, "ann", Some("NL")).await,
            user(&server, &admin, "ben", Some("NL")).await,
            user(&server, &admin, "cal", Some("NL")).await,
        );
        let staff = security_group(&server, &admin, "staff").await;
        let (status, group) = server
            .call(
                &admin,
                Method::POST,
                &format!("/v1.0/groups/{staff}/assignLicense"),
                Some(json!({"addLicenses": [{"skuId": P1}], "removeLicenses": []})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{engine}: {group}");
        // Ann holds P1 directly before she joins (afterwards, the group's processing may have given the two
        // seats to the others first, and her direct assignment would rightly find none left).
        let (status, body) = assign(&server, &admin, &ann, json!([{"skuId": P1}]), json!([])).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {body}");
        for member in [&ann, &ben, &cal] {
            add_member(&server, &admin, &staff, member).await;
        }
        settled(&server).await;
        let ann_licenses = licenses(&server, &admin, &ann).await;
        assert_eq!(skus(&ann_licenses), vec![P1.to_owned()]);
        assert_eq!(
            ann_licenses["licenseAssignmentStates"].as_array().unwrap().len(),
            2,
            "{engine}: direct and inherited"
        );
        assert_eq!(consumed(&server, &admin, P1).await, 2, "{engine}: ann holds P1 twice but takes one seat");
        let mut states = Vec::new();
        for member in [&ben, &cal] {
            states.push(licenses(&server, &admin, member).await["licenseAssignmentStates"][0].clone());
        }
        let errors: Vec<&str> = states.iter().map(|s| s["error"].as_str().unwrap()).collect();
        assert!(
            errors.contains(&"CountViolation") && errors.contains(&"None"),
            "{engine}: one seat left for two: {states:?}"
        );
        let (_, erring) =
            server.call(&admin, Method::GET, &format!("/v1.0/groups/{staff}/membersWithLicenseErrors"), None).await;
        assert_eq!(erring["value"].as_array().unwrap().len(), 1, "{engine}: {erring}");
        let waiting = erring["value"][0]["id"].as_str().unwrap().to_owned();
        let (_, group) = server
            .call(
                &admin,
                Method::GET,
                &format!("/v1.0/groups/{staff}?$select=assignedLicenses,licenseProcessingState"),
                None,
            )
            .await;
        assert_eq!(group["licenseProcessingState"]["state"], "ProcessingComplete", "{engine}: {group}");

        // A freed seat goes to the member in error when it is reprocessed.
        assert_eq!(assign(&server, &admin, &ann, json!([]), json!([P1])).await.0, StatusCode::OK);
        let path = format!("/v1.0/groups/{staff}/members/{ann}/$ref");
        assert_eq!(server.call(&admin, Method::DELETE, &path, None).await.0, StatusCode::NO_CONTENT);
        settled(&server).await;
        assert!(
            skus(&licenses(&server, &admin, &ann).await).is_empty(),
            "{engine}: leaving the group removes its licenses"
        );
        let (status, reprocessed) =
            server.call(&admin, Method::POST, &format!("/v1.0/users/{waiting}/reprocessLicenseAssignment"), None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {reprocessed}");
        assert_eq!(skus(&licenses(&server, &admin, &waiting).await), vec![P1.to_owned()]);

        // One failing license blocks the group's other licenses for that member.
        let suite = security_group(&server, &admin, "suite").await;
        let body = json!({"addLicenses": [{"skuId": E3}, {"skuId": P1}], "removeLicenses": []});
        server.call(&admin, Method::POST, &format!("/v1.0/groups/{suite}/assignLicense"), Some(body)).await;
        assert_eq!(assign(&server, &admin, &ann, json!([{"skuId": E1}]), json!([])).await.0, StatusCode::OK);
        add_member(&server, &admin, &suite, &ann).await;
        settled(&server).await;
        let ann_licenses = licenses(&server, &admin, &ann).await;
        assert_eq!(skus(&ann_licenses), vec![E1.to_owned()], "{engine}: {ann_licenses}");
        let errors: Vec<&str> = ann_licenses["licenseAssignmentStates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["assignedByGroup"] == suite.as_str())
            .map(|s| s["error"].as_str().unwrap())
            .collect();
        assert!(errors.contains(&"MutuallyExclusiveViolation"), "{engine}: {errors:?}");

        // A group holding licenses is not deleted; a dynamic group grants licenses as attributes change.
        let (status, _) = server.call(&admin, Method::DELETE, &format!("/v1.0/groups/{suite}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let dynamic = json!({
            "displayName": "Sales licensed", "mailNickname": "saleslic", "mailEnabled": false, "securityEnabled": true,
            "groupTypes": ["DynamicMembership"], "membershipRule": "user.department -eq \"Sales\"",
        });
        let (_, dynamic) = server.call(&admin, Method::POST, "/v1.0/groups", Some(dynamic)).await;
        let dynamic = dynamic["id"].as_str().unwrap().to_owned();
        let body = json!({"addLicenses": [{"skuId": E3}], "removeLicenses": []});
        server.call(&admin, Method::POST, &format!("/v1.0/groups/{dynamic}/assignLicense"), Some(body)).await;
        server.call(&admin, Method::PATCH, &format!("/v1.0/users/{cal}"), Some(json!({"department": "Sales"}))).await;
        settled(&server).await;
        let cal_licenses = licenses(&server, &admin, &cal).await;
        assert!(
            skus(&cal_licenses).contains(&E3.to_owned()),
            "{engine}: an attribute change granted a license: {cal_licenses}"
        );
        let rule = format!("user.assignedPlans -any (assignedPlan.servicePlanId -eq \"{EXCHANGE_PLAN_2}\" -and assignedPlan.capabilityStatus -eq \"Enabled\")");
        let exchange = json!({
            "displayName": "Exchange users", "mailNickname": "exusers", "mailEnabled": false, "securityEnabled": true,
            "groupTypes": ["DynamicMembership"], "membershipRule": rule,
        });
        let (_, exchange) = server.call(&admin, Method::POST, "/v1.0/groups", Some(exchange)).await;
        settled(&server).await;
        let (_, members) = server
            .call(&admin, Method::GET, &format!("/v1.0/groups/{}/members", exchange["id"].as_str().unwrap()), None)
            .await;
        let ids: Vec<&str> = members["value"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(ids, vec![cal.as_str()], "{engine}: assignedPlans feed dynamic rules: {members}");
    }
}

#[tokio::test]
async fn seats_hold_under_concurrent_assignments_and_membership_changes() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        subscribe(&server, &admin, "AAD_PREMIUM", 5).await;
        let group = security_group(&server, &admin, "contended").await;
        let body = json!({"addLicenses": [{"skuId": P1}], "removeLicenses": []});
        server.call(&admin, Method::POST, &format!("/v1.0/groups/{group}/assignLicense"), Some(body)).await;
        let mut users = Vec::new();
        for i in 0..16 {
            users.push(user(&server, &admin, &format!("seat{i}"), Some("NL")).await);
        }
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..8u64 {
            let (http, base, token, users, group) =
                (server.http.clone(), server.base.clone(), admin.clone(), users.clone(), group.clone());
            let engine = engine.to_owned();
            tasks.spawn(async move {
                let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ worker;
                for step in 0..12 {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let user = &users[(state % users.len() as u64) as usize];
                    let request = match (worker % 2, step % 2) {
                        (0, 0) => http
                            .post(format!("{base}/v1.0/users/{user}/assignLicense"))
                            .json(&json!({"addLicenses": [{"skuId": P1}], "removeLicenses": []})),
                        (0, _) => http
                            .post(format!("{base}/v1.0/users/{user}/assignLicense"))
                            .json(&json!({"addLicenses": [], "removeLicenses": [P1]})),
                        (_, 0) => http.post(format!("{base}/v1.0/groups/{group}/members/$ref")).json(
                            &json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{user}")}),
                        ),
                        _ => http.delete(format!("{base}/v1.0/groups/{group}/members/{user}/$ref")),
                    };
                    let response = request.bearer_auth(&token).send().await.unwrap();
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    assert!(status.is_success() || status.is_client_error(), "{engine}: {status} {body}");
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
            let taken = consumed(&server, &admin, P1).await;
            assert!(taken <= 5, "{engine}: {taken} seats of 5 in use");
        }
        settled(&server).await;
        let (_, listed) =
            server.call(&admin, Method::GET, "/v1.0/users?$select=id,assignedLicenses&$top=999", None).await;
        let holders = listed["value"].as_array().unwrap().iter().filter(|u| skus(u).contains(&P1.to_owned())).count();
        let taken = consumed(&server, &admin, P1).await;
        assert_eq!(taken, holders as u64, "{engine}: consumedUnits counts the users holding the product");
        assert!(taken <= 5, "{engine}: never more than the seats bought");
    }
}

#[tokio::test]
async fn a_group_license_pages_through_a_large_group_until_the_seats_run_out() {
    use gatehouse_core::store::{Link, ObjectKind, ObjectRecord, Relation, Store, Write};
    // More members than one licensing batch takes (2,000), so the pages are resolved while the one before
    // commits; fewer seats than members, so the seat count must carry from page to page.
    const MEMBERS: usize = 2300;
    const SEATS: u64 = 2100;
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        subscribe(&server, &admin, "AAD_PREMIUM", SEATS).await;
        let group = security_group(&server, &admin, "everyone").await;
        let group_id = uuid::Uuid::parse_str(&group).unwrap();
        let tenant = server.tenant.tenant_id;
        let now = gatehouse_core::Clock::now(server.clock.as_ref());
        for first in (0..MEMBERS).step_by(500) {
            let mut writes = Vec::new();
            for n in first..(first + 500).min(MEMBERS) {
                let upn = format!("bulk{n}@contoso.gatehouse.test");
                let doc = json!({"displayName": format!("Bulk {n}"), "mailNickname": format!("bulk{n}"),
                    "userPrincipalName": upn, "accountEnabled": true, "usageLocation": "NO", "userType": "Member"});
                let user = ObjectRecord {
                    id: uuid::Uuid::now_v7(),
                    kind: ObjectKind::User,
                    version: 1,
                    unique_key: Some(upn),
                    manager: None,
                    doc: doc.as_object().unwrap().clone(),
                    created_at: now,
                    deleted_at: None,
                };
                let link = Link {
                    group: group_id,
                    relation: Relation::Member,
                    member: user.id,
                    member_kind: ObjectKind::User,
                };
                writes.extend([Write::InsertObject(user), Write::AddLink(link)]);
            }
            server.store.commit(tenant, writes, now).await.unwrap();
        }
        let body = json!({"addLicenses": [{"skuId": P1}], "removeLicenses": []});
        let path = format!("/v1.0/groups/{group}/assignLicense");
        assert_eq!(server.call(&admin, Method::POST, &path, Some(body)).await.0, StatusCode::ACCEPTED);
        settled(&server).await;
        let path = format!("/v1.0/groups/{group}?$select=licenseProcessingState");
        let (_, state) = server.call(&admin, Method::GET, &path, None).await;
        assert_eq!(state["licenseProcessingState"]["state"], "ProcessingComplete", "{engine}: {state}");
        let path = "/v1.0/groups?$filter=hasMembersWithLicenseErrors%20eq%20true&$select=id";
        let (_, erring) = server.call(&admin, Method::GET, path, None).await;
        assert_eq!(erring["value"], json!([{"id": group}]), "{engine}: the group has members in error: {erring}");
        let path = "/v1.0/groups?$filter=hasMembersWithLicenseErrors%20eq%20false&$select=id";
        let (_, clean) = server.call(&admin, Method::GET, path, None).await;
        assert!(!clean["value"].as_array().unwrap().iter().any(|g| g["id"] == group), "{engine}: {clean}");
        assert_eq!(consumed(&server, &admin, P1).await, SEATS, "{engine}: every seat is taken, and no more");
        let mut licensed = 0;
        let mut short = 0;
        let mut next =
            Some(format!("/v1.0/groups/{group}/members?$select=assignedLicenses,licenseAssignmentStates&$top=999"));
        while let Some(path) = next.take() {
            let (status, page) = server.call(&admin, Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{engine}: {page}");
            for user in page["value"].as_array().unwrap() {
                match skus(user).as_slice() {
                    [sku] if sku == P1 => licensed += 1,
                    [] => {
                        assert_eq!(user["licenseAssignmentStates"][0]["error"], "CountViolation", "{engine}: {user}");
                        short += 1;
                    }
                    other => panic!("{engine}: unexpected licenses {other:?}"),
                }
            }
            next = page["@odata.nextLink"].as_str().map(|url| url.strip_prefix(&server.base).unwrap().to_owned());
        }
        assert_eq!((licensed, short), (SEATS as usize, MEMBERS - SEATS as usize), "{engine}");
    }
}

/// A member without a usage location gets a group's license (Entra takes the organization's country), while
/// a direct assignment still needs the user's own location.
#[tokio::test]
async fn group_licenses_take_the_organizations_country_for_members_without_a_location() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        subscribe(&server, &admin, "AAD_PREMIUM", 5).await;
        let nomad = user(&server, &admin, "nomad", None).await;
        let staff = security_group(&server, &admin, "staff").await;
        let body = json!({"addLicenses": [{"skuId": P1}], "removeLicenses": []});
        let (status, group) =
            server.call(&admin, Method::POST, &format!("/v1.0/groups/{staff}/assignLicense"), Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{engine}: {group}");
        add_member(&server, &admin, &staff, &nomad).await;
        settled(&server).await;
        let held = licenses(&server, &admin, &nomad).await;
        assert_eq!(skus(&held), vec![P1.to_owned()], "{engine}: {held}");
        let state = &held["licenseAssignmentStates"][0];
        assert_eq!((state["state"].as_str(), state["error"].as_str()), (Some("Active"), Some("None")), "{engine}");
        assert_eq!(state["assignedByGroup"], staff.as_str());
        assert_eq!(consumed(&server, &admin, P1).await, 1, "{engine}");
        let (_, erring) =
            server.call(&admin, Method::GET, &format!("/v1.0/groups/{staff}/membersWithLicenseErrors"), None).await;
        assert_eq!(erring["value"], json!([]), "{engine}");

        let (status, body) = assign(&server, &admin, &nomad, json!([{"skuId": P1}]), json!([])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: direct assignment needs the user's location: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("usage location"), "{engine}: {body}");
        assert_eq!(skus(&licenses(&server, &admin, &nomad).await), vec![P1.to_owned()], "{engine}: unchanged");
    }
}
