//! SCIM 2.0 inbound: the request sequence Microsoft documents that Entra's provisioning sends (its quirks
//! included: `"op": "Replace"`, `"False"` as a string) replayed against `/scim/v2/Users`, and the directory
//! checked through Graph; a user pushed in over SCIM lands in a dynamic group; malformed, unknown and
//! unauthorized requests get SCIM's error bodies.

use crate::support::{servers, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A SCIM request with `token`, its body sent as `application/scim+json` as Entra sends it: the status, the
/// content type and the body.
async fn scim(
    server: &Server,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, String, Value) {
    let mut request = server.http.request(method, server.url(&format!("/scim/v2{path}"))).bearer_auth(token);
    if let Some(body) = body {
        request = request.header("content-type", "application/scim+json").body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = response.text().await.unwrap();
    (status, kind, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn filter(expression: &str) -> String {
    format!(
        "/Users?filter={}",
        reqwest::Url::parse("http://x/").unwrap().join(&format!("?{expression}")).unwrap().query().unwrap()
    )
}

#[tokio::test]
async fn entras_provisioning_sequence_reaches_the_directory() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let (token, provisioner) = server.app_with(&admin, &["User.ReadWrite.All"]).await;
        let rule = json!({
            "displayName": "Sales", "mailNickname": "sales", "mailEnabled": false, "securityEnabled": true,
            "groupTypes": ["DynamicMembership"], "membershipRule": "user.department -eq \"Sales\"",
            "membershipRuleProcessingState": "On",
        });
        let (_, sales) = server.call(&admin, Method::POST, "/v1.0/groups", Some(rule)).await;
        let name = "Test_User_dfeef4c5-5681-4387-b016-bdf221e82081";

        // Entra first asks whether the user exists, then creates it.
        let (status, kind, found) =
            scim(&server, &token, Method::GET, &filter(&format!("userName eq \"{name}\"")), None).await;
        assert_eq!((status, kind.as_str()), (StatusCode::OK, "application/scim+json"), "{engine}: {found}");
        assert_eq!(found["totalResults"], 0, "{engine}: {found}");
        let create = json!({
            "active": true,
            "emails": [{"primary": true, "type": "work", "value": "Test_User_11bb11bb-cccc-dddd-eeee-ffffffffffff@testuser.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": [],
            "schemas": [USER, ENTERPRISE],
            "userName": name,
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            ENTERPRISE: {"department": "Sales"},
        });
        let (status, _, created) = scim(&server, &token, Method::POST, "/Users", Some(create.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {created}");
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(created["userName"], name, "{engine}: SCIM's user name, as given");
        assert_eq!(created["externalId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
        assert_eq!(created["meta"]["resourceType"], "User");
        let (status, _, again) = scim(&server, &token, Method::POST, "/Users", Some(create)).await;
        assert_eq!(
            (status, again["scimType"].as_str()),
            (StatusCode::CONFLICT, Some("uniqueness")),
            "{engine}: {again}"
        );
        let (status, _, read) = scim(&server, &token, Method::GET, &format!("/Users/{id}"), None).await;
        assert_eq!((status, read["id"].as_str()), (StatusCode::OK, Some(id.as_str())), "{engine}");
        let (_, _, found) = scim(&server, &token, Method::GET, &filter(&format!("userName eq \"{name}\"")), None).await;
        assert_eq!(found["totalResults"], 1, "{engine}: {found}");
        assert_eq!(found["Resources"][0]["id"], id.as_str());

        // The same person through Graph, in the dynamic group its department puts it in.
        let select =
            "$select=userPrincipalName,mail,givenName,surname,onPremisesImmutableId,department,accountEnabled,creationType";
        let (_, graph) = server.call(&admin, Method::GET, &format!("/v1.0/users/{id}?{select}"), None).await;
        assert_eq!(graph["mail"], "Test_User_11bb11bb-cccc-dddd-eeee-ffffffffffff@testuser.com", "{engine}: {graph}");
        let upn = format!("{}@contoso.gatehouse.test", name.to_lowercase());
        assert_eq!(
            graph["userPrincipalName"].as_str().map(str::to_lowercase),
            Some(upn),
            "{engine}: the default domain"
        );
        assert_eq!((graph["givenName"].as_str(), graph["surname"].as_str()), (Some("givenName"), Some("familyName")));
        assert_eq!(graph["onPremisesImmutableId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
        assert_eq!(graph["accountEnabled"], true);
        crate::dynamic::settled(&server).await;
        let members = format!("/v1.0/groups/{}/members", sales["id"].as_str().unwrap());
        let (_, members) = server.call(&admin, Method::GET, &members, None).await;
        assert_eq!(members["value"][0]["id"], id.as_str(), "{engine}: {members}");

        // Entra's updates: `Replace` with paths, a string `False`.
        let update = json!({"schemas": [PATCH], "Operations": [
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        ]});
        let (status, _, patched) = scim(&server, &token, Method::PATCH, &format!("/Users/{id}"), Some(update)).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {patched}");
        assert_eq!(patched["emails"][0]["value"], "updatedEmail@microsoft.com");
        assert_eq!(patched["name"]["familyName"], "updatedFamilyName");
        let disable =
            json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
        let (status, _, disabled) = scim(&server, &token, Method::PATCH, &format!("/Users/{id}"), Some(disable)).await;
        assert_eq!((status, disabled["active"].as_bool()), (StatusCode::OK, Some(false)), "{engine}: {disabled}");
        let (_, graph) = server.call(&admin, Method::GET, &format!("/v1.0/users/{id}?{select}"), None).await;
        assert_eq!(
            (graph["accountEnabled"].as_bool(), graph["surname"].as_str()),
            (Some(false), Some("updatedFamilyName"))
        );

        // Versions: `If-Match` with the version read changes; with a version passed since, 412 and nothing.
        let read =
            server.http.get(server.url(&format!("/scim/v2/Users/{id}"))).bearer_auth(&token).send().await.unwrap();
        let etag = read.headers()["etag"].to_str().unwrap().to_owned();
        let title = |value: &str| json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": value}]});
        let patch = |etag: String, body: Value| {
            let url = server.url(&format!("/scim/v2/Users/{id}"));
            let request = server.http.patch(url).bearer_auth(&token).header("if-match", etag);
            request.header("content-type", "application/scim+json").body(body.to_string()).send()
        };
        assert_eq!(patch(etag.clone(), title("Buyer")).await.unwrap().status(), StatusCode::OK, "{engine}: {etag}");
        let stale = patch(etag.clone(), title("Seller")).await.unwrap();
        assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED, "{engine}");
        let (_, _, now) = scim(&server, &token, Method::GET, &format!("/Users/{id}"), None).await;
        assert_eq!(now["title"], "Buyer", "{engine}: the stale change was not made");

        // The audit log names the provisioning app.
        let (_, audits) = server.call(&admin, Method::GET, "/v1.0/auditLogs/directoryAudits", None).await;
        let added = audits["value"].as_array().unwrap().iter().find(|a| a["activityDisplayName"] == "Add user");
        let added = added.map(|a| a["initiatedBy"]["app"]["servicePrincipalId"].clone());
        assert_eq!(added, Some(json!(provisioner)), "{engine}: {audits}");

        // A delete names the version it saw, too.
        let url = server.url(&format!("/scim/v2/Users/{id}"));
        let stale = server.http.delete(&url).bearer_auth(&token).header("if-match", etag.clone()).send().await.unwrap();
        assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED, "{engine}");
        let (status, _, _) = scim(&server, &token, Method::GET, &format!("/Users/{id}"), None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: a stale delete deleted nothing");

        // Delete, then the id is gone.
        assert_eq!(
            scim(&server, &token, Method::DELETE, &format!("/Users/{id}"), None).await.0,
            StatusCode::NO_CONTENT
        );
        let (status, _, gone) = scim(&server, &token, Method::GET, &format!("/Users/{id}"), None).await;
        assert_eq!(
            (status, gone["schemas"][0].as_str(), gone["status"].as_str()),
            (StatusCode::NOT_FOUND, Some(ERROR), Some("404"))
        );
    }
}

/// The ids of a SCIM group's members, sorted.
fn member_ids(group: &Value) -> Vec<String> {
    let members = group["members"].as_array().cloned().unwrap_or_default();
    let mut ids: Vec<String> = members.iter().map(|m| m["value"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn entras_group_requests_reach_the_directory() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let (token, _) = server.app_with(&admin, &["User.ReadWrite.All", "Group.ReadWrite.All"]).await;
        let mut people = Vec::new();
        for name in ["Zoe", "Ann", "Max"] {
            let body = json!({"schemas": [USER], "userName": format!("{name}.scim"), "displayName": name});
            let (status, _, made) = scim(&server, &token, Method::POST, "/Users", Some(body)).await;
            assert_eq!(status, StatusCode::CREATED, "{engine}: {made}");
            people.push(made["id"].as_str().unwrap().to_owned());
        }
        let (ann, max, zoe) = (people[1].clone(), people[2].clone(), people[0].clone());

        // Sorting by a mapped attribute, either way.
        let (_, _, sorted) =
            scim(&server, &token, Method::GET, "/Users?sortBy=displayName&sortOrder=descending&count=2", None).await;
        let names: Vec<&str> =
            sorted["Resources"].as_array().unwrap().iter().map(|u| u["displayName"].as_str().unwrap()).collect();
        assert_eq!(names.first(), Some(&"Zoe"), "{engine}: {sorted}");

        // Entra's group sequence: create (no members), find by name without members, rename, add and remove
        // members, delete.
        let create = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName_cc1ff4e2", "meta": {"resourceType": "Group"}, "members": []});
        let (status, _, group) = scim(&server, &token, Method::POST, "/Groups", Some(create)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {group}");
        let id = group["id"].as_str().unwrap().to_owned();
        assert_eq!(group["externalId"], "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159");
        let by_name = "/Groups?excludedAttributes=members&filter=displayName%20eq%20%22displayName_cc1ff4e2%22";
        let (_, _, found) = scim(&server, &token, Method::GET, by_name, None).await;
        assert_eq!(
            (found["totalResults"].as_u64(), found["Resources"][0]["id"].as_str()),
            (Some(1), Some(id.as_str())),
            "{engine}: {found}"
        );
        assert!(found["Resources"][0].get("members").is_none(), "{engine}: members excluded");
        let path = format!("/Groups/{id}");
        let rename = json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "displayName", "value": "1879db59updatedDisplayName"}]});
        let (status, _, renamed) = scim(&server, &token, Method::PATCH, &path, Some(rename)).await;
        assert_eq!(
            (status, renamed["displayName"].as_str()),
            (StatusCode::OK, Some("1879db59updatedDisplayName")),
            "{engine}"
        );
        let add = json!({"schemas": [PATCH], "Operations": [{"op": "Add", "path": "members", "value": [{"$ref": null, "value": ann}, {"$ref": null, "value": max}]}]});
        let (status, _, added) = scim(&server, &token, Method::PATCH, &path, Some(add.clone())).await;
        let mut both = vec![ann.clone(), max.clone()];
        both.sort();
        assert_eq!((status, member_ids(&added)), (StatusCode::OK, both.clone()), "{engine}: {added}");
        let (status, _, again) = scim(&server, &token, Method::PATCH, &path, Some(add)).await;
        assert_eq!(
            (status, member_ids(&again)),
            (StatusCode::OK, both),
            "{engine}: adding members twice changes nothing"
        );
        let (_, graph) = server.call(&admin, Method::GET, &format!("/v1.0/groups/{id}/members?$select=id"), None).await;
        assert_eq!(graph["value"].as_array().map(Vec::len), Some(2), "{engine}: {graph}");
        let remove = json!({"schemas": [PATCH], "Operations": [{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": ann}]}]});
        let (_, _, removed) = scim(&server, &token, Method::PATCH, &path, Some(remove)).await;
        assert_eq!(member_ids(&removed), vec![max.clone()], "{engine}: {removed}");
        let by_filter = json!({"schemas": [PATCH], "Operations": [
            {"op": "remove", "path": format!("members[value eq \"{max}\"]")},
            {"op": "add", "path": "members", "value": [{"value": zoe}]},
        ]});
        let (_, _, swapped) = scim(&server, &token, Method::PATCH, &path, Some(by_filter)).await;
        assert_eq!(member_ids(&swapped), vec![zoe.clone()], "{engine}: {swapped}");

        // A bad member in a request changes nothing of it.
        let bad = json!({"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "displayName", "value": "Never"},
            {"op": "add", "path": "members", "value": [{"value": "00000000-0000-0000-0000-000000000001"}]},
        ]});
        let (status, _, refused) = scim(&server, &token, Method::PATCH, &path, Some(bad)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{engine}: {refused}");
        let (_, _, still) = scim(&server, &token, Method::GET, &path, None).await;
        assert_eq!(
            (still["displayName"].as_str(), member_ids(&still)),
            (Some("1879db59updatedDisplayName"), vec![zoe.clone()])
        );

        // PUT names the whole group: its members become the list.
        let put = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Replaced", "members": [{"value": ann}]});
        let (status, _, replaced) = scim(&server, &token, Method::PUT, &path, Some(put)).await;
        assert_eq!((status, member_ids(&replaced)), (StatusCode::OK, vec![ann.clone()]), "{engine}: {replaced}");
        assert!(replaced.get("externalId").is_none(), "{engine}: what a PUT leaves out is cleared");

        // A dynamic group's members are its rule's, over SCIM as over Graph.
        let rule = json!({
            "displayName": "Rule", "mailNickname": "rule", "mailEnabled": false, "securityEnabled": true,
            "groupTypes": ["DynamicMembership"], "membershipRule": "user.department -eq \"Ops\"",
            "membershipRuleProcessingState": "On",
        });
        let (_, dynamic) = server.call(&admin, Method::POST, "/v1.0/groups", Some(rule)).await;
        let add =
            json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": ann}]}]});
        let dynamic_path = format!("/Groups/{}", dynamic["id"].as_str().unwrap());
        let (status, _, _) = scim(&server, &token, Method::PATCH, &dynamic_path, Some(add)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}");

        assert_eq!(scim(&server, &token, Method::DELETE, &path, None).await.0, StatusCode::NO_CONTENT, "{engine}");
        let (status, _, _) = scim(&server, &token, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{engine}");
    }
}

#[tokio::test]
async fn bulk_requests_run_in_order_with_bulk_ids() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let (token, _) = server.app_with(&admin, &["SynchronizationData-User.Upload"]).await;
        let graph_write = json!({
            "accountEnabled": true, "displayName": "x", "mailNickname": "x",
            "userPrincipalName": "x@contoso.gatehouse.test", "passwordProfile": {"password": "Correct-Horse-9-Battery"},
        });
        let (status, _) = server.call(&token, Method::POST, "/v1.0/users", Some(graph_write)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: the provisioning permission opens SCIM only");
        let user = |name: &str| json!({"schemas": [USER], "userName": name, "displayName": name});
        let request = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "qwerty", "data": user("alice.bulk")},
            {"method": "POST", "path": "/Groups", "bulkId": "ytrewq", "data": {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Tour Guides",
                "members": [{"type": "User", "value": "bulkId:qwerty"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "twice", "data": user("alice.bulk")},
            {"method": "PATCH", "path": "/Users/bulkId:qwerty", "data": {"schemas": [PATCH], "Operations": [
                {"op": "replace", "path": "title", "value": "Guide"}]}},
            {"method": "POST", "path": "/Groups", "data": {"displayName": "Dangling", "members": [{"value": "bulkId:nowhere"}]}},
        ]});
        let (status, _, answer) = scim(&server, &token, Method::POST, "/Bulk", Some(request)).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {answer}");
        let statuses: Vec<&str> =
            answer["Operations"].as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["201", "201", "409", "200", "400"], "{engine}: {answer}");
        assert_eq!(answer["Operations"][2]["response"]["scimType"], "uniqueness", "{engine}: {answer}");
        let group = answer["Operations"][1]["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
        let alice = answer["Operations"][0]["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
        let (_, _, read) = scim(&server, &token, Method::GET, &format!("/Groups/{group}"), None).await;
        assert_eq!(member_ids(&read), vec![alice.clone()], "{engine}: the bulkId named the user created first");
        let (_, _, alice_read) = scim(&server, &token, Method::GET, &format!("/Users/{alice}"), None).await;
        assert_eq!(alice_read["title"], "Guide", "{engine}");
        let (_, graph) = server.call(&admin, Method::GET, "/v1.0/groups?$filter=displayName eq 'Dangling'", None).await;
        assert_eq!(graph["value"].as_array().map(Vec::len), Some(0), "{engine}: a failed operation wrote nothing");

        // Consecutive creates are written together, each with its own outcome.
        let many: Vec<Value> = ["b1", "b2", "b1", "", "b3"]
            .iter()
            .map(|name| json!({"method": "POST", "path": "/Users", "data": user(&format!("{name}.many"))}))
            .collect();
        let mut many = many;
        many[3]["data"] = json!({"schemas": [USER], "displayName": "no user name"});
        let (_, _, answer) = scim(&server, &token, Method::POST, "/Bulk", Some(json!({"Operations": many}))).await;
        let statuses: Vec<&str> =
            answer["Operations"].as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["201", "201", "409", "400", "201"], "{engine}: {answer}");
        for name in ["b1", "b2", "b3"] {
            let (_, _, found) =
                scim(&server, &token, Method::GET, &filter(&format!("userName eq \"{name}.many\"")), None).await;
            assert_eq!(found["totalResults"], 1, "{engine}: {name}: {found}");
        }
        let upn = "b1.many@contoso.gatehouse.test";
        let (_, graph) = server
            .call(&admin, Method::GET, &format!("/v1.0/users/{upn}?$select=lastPasswordChangeDateTime"), None)
            .await;
        assert_eq!(
            graph["lastPasswordChangeDateTime"],
            Value::Null,
            "{engine}: pushed in without a password, it has none: {graph}"
        );

        // failOnErrors: the run stops after that many errors.
        let stops = json!({"failOnErrors": 1, "Operations": [
            {"method": "POST", "path": "/Users", "data": user("alice.bulk")},
            {"method": "POST", "path": "/Users", "data": user("never.bulk")},
        ]});
        let (_, _, stopped) = scim(&server, &token, Method::POST, "/Bulk", Some(stops)).await;
        assert_eq!(stopped["Operations"].as_array().map(Vec::len), Some(1), "{engine}: {stopped}");
        let (_, _, never) = scim(&server, &token, Method::GET, &filter("userName eq \"never.bulk\""), None).await;
        assert_eq!(never["totalResults"], 0, "{engine}: {never}");
    }
}

/// A request (token, method, path, body) and the status and `scimType` it must get.
type Case<'a> = (&'a str, Method, String, Option<Value>, StatusCode, Option<&'a str>);

#[tokio::test]
async fn bad_scim_requests_get_scims_errors() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let (token, _) = server.app_with(&admin, &["User.ReadWrite.All"]).await;
        let (reader, _) = server.app_with(&admin, &["User.Read.All"]).await;
        let body = json!({"schemas": [USER], "userName": "ann"});
        let cases: Vec<Case> = vec![
            ("", Method::GET, "/Users".into(), None, StatusCode::UNAUTHORIZED, None),
            (&reader, Method::POST, "/Users".into(), Some(body.clone()), StatusCode::FORBIDDEN, None),
            (&token, Method::GET, filter("userName eq ann"), None, StatusCode::BAD_REQUEST, Some("invalidFilter")),
            (&token, Method::GET, filter("nickName eq \"x\""), None, StatusCode::BAD_REQUEST, Some("invalidFilter")),
            (
                &token,
                Method::POST,
                "/Users".into(),
                Some(json!({"schemas": [USER]})),
                StatusCode::BAD_REQUEST,
                Some("invalidValue"),
            ),
            (&token, Method::GET, "/Users/not-an-id".into(), None, StatusCode::NOT_FOUND, None),
            (&reader, Method::POST, "/Groups".into(), Some(json!({"displayName": "x"})), StatusCode::FORBIDDEN, None),
            (&token, Method::GET, "/Users?sortBy=nickName".into(), None, StatusCode::BAD_REQUEST, Some("invalidValue")),
            (&token, Method::GET, "/Nothing".into(), None, StatusCode::NOT_FOUND, None),
            (&token, Method::PATCH, "/Users".into(), Some(json!({})), StatusCode::METHOD_NOT_ALLOWED, None),
        ];
        for (token, method, path, body, status, kind) in cases {
            let (got, _, answer) = scim(&server, token, method.clone(), &path, body).await;
            assert_eq!(got, status, "{engine}: {method} {path}: {answer}");
            assert_eq!(answer["schemas"][0], ERROR, "{engine}: {answer}");
            assert_eq!(answer["scimType"].as_str(), kind, "{engine}: {method} {path}: {answer}");
        }
        let malformed =
            server.http.post(server.url("/scim/v2/Users")).bearer_auth(&token).body("{not json").send().await.unwrap();
        assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
        let answer: Value = malformed.json().await.unwrap();
        assert_eq!(answer["scimType"], "invalidSyntax", "{engine}");
        let (_, _, made) = scim(&server, &token, Method::POST, "/Users", Some(body)).await;
        let id = made["id"].as_str().unwrap();
        let bad_path =
            json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "nickName2", "value": "x"}]});
        let (status, _, answer) = scim(&server, &token, Method::PATCH, &format!("/Users/{id}"), Some(bad_path)).await;
        assert_eq!((status, answer["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidPath")), "{engine}");
        let (status, _, config) = scim(&server, &token, Method::GET, "/ServiceProviderConfig", None).await;
        assert_eq!((status, config["patch"]["supported"].as_bool()), (StatusCode::OK, Some(true)), "{engine}");
        let (_, _, schemas) = scim(&server, &token, Method::GET, "/Schemas", None).await;
        assert_eq!(schemas["totalResults"], 3, "{engine}: {schemas}");
    }
}
