//! Bad input: every case gets the right 4xx Graph error, and the store is unchanged afterwards.

use crate::support::{new_user, servers, sqlite_server, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// How a case sends its body.
enum Body {
    None,
    Json(Value),
    Raw(&'static str, String),
}

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: Body,
    status: StatusCode,
    code: &'static str,
}

fn user_with(change: impl FnOnce(&mut Value)) -> Body {
    let mut body = new_user("zed");
    change(&mut body);
    Body::Json(body)
}

fn case(name: &'static str, method: Method, path: &str, body: Body, status: u16, code: &'static str) -> Case {
    Case { name, method, path: path.to_owned(), body, status: StatusCode::from_u16(status).unwrap(), code }
}

#[tokio::test]
async fn every_bad_request_is_refused_and_nothing_is_written() {
    let server = sqlite_server().await;
    let token = server.admin_token().await;
    let (_, ada) = server.call(&token, Method::POST, "/v1.0/users", Some(new_user("ada"))).await;
    let ada = ada["id"].as_str().unwrap().to_owned();
    let (_, bob) = server.call(&token, Method::POST, "/v1.0/users", Some(new_user("bob"))).await;
    let bob = bob["id"].as_str().unwrap().to_owned();
    let ada_path = format!("/v1.0/users/{ada}");
    let missing = "/v1.0/users/0b5b6c39-0000-4000-8000-000000000000";
    let bad = "Request_BadRequest";
    let not_found = "Request_ResourceNotFound";
    let post = Method::POST;
    let patch = Method::PATCH;
    let users = "/v1.0/users";
    let cases = vec![
        case(
            "malformed JSON",
            post.clone(),
            users,
            Body::Raw("application/json", "{\"displayName\":".into()),
            400,
            bad,
        ),
        case("JSON that is not an object", post.clone(), users, Body::Json(json!([1, 2])), 400, bad),
        case("not JSON at all", post.clone(), users, Body::Raw("text/plain", "hello".into()), 415, bad),
        case(
            "oversized body",
            post.clone(),
            users,
            Body::Raw("application/json", format!("{{\"displayName\":\"{}\"}}", "x".repeat(2 * 1024 * 1024))),
            413,
            "Request_EntityTooLarge",
        ),
        case(
            "missing displayName",
            post.clone(),
            users,
            user_with(|u| {
                u.as_object_mut().unwrap().remove("displayName");
            }),
            400,
            bad,
        ),
        case(
            "missing accountEnabled",
            post.clone(),
            users,
            user_with(|u| {
                u.as_object_mut().unwrap().remove("accountEnabled");
            }),
            400,
            bad,
        ),
        case(
            "missing mailNickname",
            post.clone(),
            users,
            user_with(|u| {
                u.as_object_mut().unwrap().remove("mailNickname");
            }),
            400,
            bad,
        ),
        case(
            "missing userPrincipalName",
            post.clone(),
            users,
            user_with(|u| {
                u.as_object_mut().unwrap().remove("userPrincipalName");
            }),
            400,
            bad,
        ),
        case(
            "missing passwordProfile",
            post.clone(),
            users,
            user_with(|u| {
                u.as_object_mut().unwrap().remove("passwordProfile");
            }),
            400,
            bad,
        ),
        case("empty displayName", post.clone(), users, user_with(|u| u["displayName"] = json!("  ")), 400, bad),
        case("unknown property", post.clone(), users, user_with(|u| u["favouriteColour"] = json!("blue")), 400, bad),
        case("read-only id", post.clone(), users, user_with(|u| u["id"] = json!(ada)), 400, bad),
        case(
            "read-only createdDateTime",
            post.clone(),
            users,
            user_with(|u| u["createdDateTime"] = json!("2020-01-01T00:00:00Z")),
            400,
            bad,
        ),
        case(
            "read-only proxyAddresses",
            post.clone(),
            users,
            user_with(|u| u["proxyAddresses"] = json!(["SMTP:a@b.c"])),
            400,
            bad,
        ),
        case("boolean as string", post.clone(), users, user_with(|u| u["accountEnabled"] = json!("yes")), 400, bad),
        case("string as number", post.clone(), users, user_with(|u| u["displayName"] = json!(5)), 400, bad),
        case("collection as string", post.clone(), users, user_with(|u| u["businessPhones"] = json!("555")), 400, bad),
        case(
            "displayName too long",
            post.clone(),
            users,
            user_with(|u| u["displayName"] = json!("x".repeat(257))),
            400,
            bad,
        ),
        case(
            "date that is not a date",
            post.clone(),
            users,
            user_with(|u| u["employeeHireDate"] = json!("next tuesday")),
            400,
            bad,
        ),
        case("UPN without @", post.clone(), users, user_with(|u| u["userPrincipalName"] = json!("zed")), 400, bad),
        case(
            "UPN in a foreign domain",
            post.clone(),
            users,
            user_with(|u| u["userPrincipalName"] = json!("zed@fabrikam.test")),
            400,
            bad,
        ),
        case(
            "UPN with a space",
            post.clone(),
            users,
            user_with(|u| u["userPrincipalName"] = json!("z ed@contoso.gatehouse.test")),
            400,
            bad,
        ),
        case(
            "UPN with a dot before @",
            post.clone(),
            users,
            user_with(|u| u["userPrincipalName"] = json!("zed.@contoso.gatehouse.test")),
            400,
            bad,
        ),
        case(
            "UPN alias too long",
            post.clone(),
            users,
            user_with(|u| u["userPrincipalName"] = json!(format!("{}@contoso.gatehouse.test", "z".repeat(65)))),
            400,
            bad,
        ),
        case(
            "duplicate UPN",
            post.clone(),
            users,
            user_with(|u| u["userPrincipalName"] = json!("ada@contoso.gatehouse.test")),
            400,
            bad,
        ),
        case(
            "duplicate UPN in other case",
            post.clone(),
            users,
            user_with(|u| u["userPrincipalName"] = json!("ADA@Contoso.Gatehouse.Test")),
            400,
            bad,
        ),
        case(
            "weak password",
            post.clone(),
            users,
            user_with(|u| u["passwordProfile"]["password"] = json!("password")),
            400,
            bad,
        ),
        case(
            "short password",
            post.clone(),
            users,
            user_with(|u| u["passwordProfile"]["password"] = json!("Aa1!")),
            400,
            bad,
        ),
        case(
            "password that is a number",
            post.clone(),
            users,
            user_with(|u| u["passwordProfile"]["password"] = json!(12345678)),
            400,
            bad,
        ),
        case(
            "unknown passwordProfile member",
            post.clone(),
            users,
            user_with(|u| u["passwordProfile"]["hint"] = json!("x")),
            400,
            bad,
        ),
        case(
            "three-letter usageLocation",
            post.clone(),
            users,
            user_with(|u| u["usageLocation"] = json!("USA")),
            400,
            bad,
        ),
        case("unknown userType", post.clone(), users, user_with(|u| u["userType"] = json!("Admin")), 400, bad),
        case(
            "mailNickname with a space",
            post.clone(),
            users,
            user_with(|u| u["mailNickname"] = json!("z ed")),
            400,
            bad,
        ),
        case(
            "extensionAttribute16",
            post.clone(),
            users,
            user_with(|u| u["onPremisesExtensionAttributes"] = json!({"extensionAttribute16": "x"})),
            400,
            bad,
        ),
        case(
            "another @odata.type",
            post.clone(),
            users,
            user_with(|u| u["@odata.type"] = json!("#microsoft.graph.group")),
            400,
            bad,
        ),
        case("clearing displayName", patch.clone(), &ada_path, Body::Json(json!({"displayName": null})), 400, bad),
        case("patching an unknown property", patch.clone(), &ada_path, Body::Json(json!({"shoeSize": 9})), 400, bad),
        case(
            "patching a read-only property",
            patch.clone(),
            &ada_path,
            Body::Json(json!({"creationType": "Invitation"})),
            400,
            bad,
        ),
        case(
            "patching to a taken UPN",
            patch.clone(),
            &ada_path,
            Body::Json(json!({"userPrincipalName": "bob@contoso.gatehouse.test"})),
            400,
            bad,
        ),
        case(
            "patching a weak password",
            patch.clone(),
            &ada_path,
            Body::Json(json!({"passwordProfile": {"password": "abc"}})),
            400,
            bad,
        ),
        case("patching a missing user", patch.clone(), missing, Body::Json(json!({"jobTitle": "x"})), 404, not_found),
        case("deleting a missing user", Method::DELETE, missing, Body::None, 404, not_found),
        case("$top too large", Method::GET, "/v1.0/users?$top=1000", Body::None, 400, bad),
        case("$top zero", Method::GET, "/v1.0/users?$top=0", Body::None, 400, bad),
        case("$select of an unknown property", Method::GET, "/v1.0/users?$select=id,shoeSize", Body::None, 400, bad),
        case(
            "$filter on an unfilterable property",
            Method::GET,
            "/v1.0/users?$filter=aboutMe%20eq%20'x'",
            Body::None,
            400,
            bad,
        ),
        case(
            "$filter with an operator the property lacks",
            Method::GET,
            "/v1.0/users?$filter=startswith(department,'a')",
            Body::None,
            400,
            "Request_UnsupportedQuery",
        ),
        case("malformed $filter", Method::GET, "/v1.0/users?$filter=displayName%20eq", Body::None, 400, bad),
        case(
            "$search without ConsistencyLevel",
            Method::GET,
            "/v1.0/users?$search=%22displayName:a%22",
            Body::None,
            400,
            "Request_UnsupportedQuery",
        ),
        case(
            "$orderby on an unsupported property",
            Method::GET,
            "/v1.0/users?$orderby=jobTitle",
            Body::None,
            400,
            "Request_UnsupportedQuery",
        ),
        case(
            "tampered $skiptoken",
            Method::GET,
            "/v1.0/users?$skiptoken=AAAAAAAAAAAAAAAAAAAAAA.forged",
            Body::None,
            400,
            bad,
        ),
        case(
            "an advanced operator without ConsistencyLevel",
            Method::GET,
            "/v1.0/users?$filter=displayName%20ne%20'x'",
            Body::None,
            400,
            "Request_UnsupportedQuery",
        ),
        case(
            "manager reference on a foreign host",
            Method::PUT,
            &format!("{ada_path}/manager/$ref"),
            Body::Json(json!({"@odata.id": format!("https://evil.test/v1.0/users/{bob}")})),
            400,
            bad,
        ),
        case(
            "manager reference without @odata.id",
            Method::PUT,
            &format!("{ada_path}/manager/$ref"),
            Body::Json(json!({"id": bob})),
            400,
            bad,
        ),
        case(
            "a missing manager",
            Method::PUT,
            &format!("{ada_path}/manager/$ref"),
            Body::Json(json!({"@odata.id": format!("https://graph.microsoft.com{missing}")})),
            404,
            not_found,
        ),
        case(
            "being one's own manager",
            Method::PUT,
            &format!("{ada_path}/manager/$ref"),
            Body::Json(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{ada}")})),
            400,
            bad,
        ),
        case(
            "restoring a live user",
            post.clone(),
            &format!("/v1.0/directory/deletedItems/{ada}/restore"),
            Body::None,
            404,
            not_found,
        ),
        case("a method Graph does not allow", Method::PUT, users, Body::Json(json!({})), 405, bad),
        case("an unknown segment", Method::GET, "/v1.0/gadgets", Body::None, 400, "BadRequest"),
        case(
            "an application without a name",
            post.clone(),
            "/v1.0/applications",
            Body::Json(json!({"description": "x"})),
            400,
            bad,
        ),
        case(
            "a service principal for no app",
            post.clone(),
            "/v1.0/servicePrincipals",
            Body::Json(json!({"appId": "0b5b6c39-0000-4000-8000-000000000000"})),
            400,
            bad,
        ),
        case(
            "a secret for a missing app",
            post.clone(),
            "/v1.0/applications/0b5b6c39-0000-4000-8000-000000000000/addPassword",
            Body::Json(json!({})),
            404,
            not_found,
        ),
    ];
    assert!(cases.len() >= 30);

    refused_without_a_trace(&server, &token, cases).await;
}

/// Sends every case; each must get its Graph error with a clear message, and the store must be unchanged.
async fn refused_without_a_trace(server: &Server, token: &str, cases: Vec<Case>) {
    let before = server.snapshot().await;
    for case in cases {
        let mut request = server.http.request(case.method.clone(), server.url(&case.path)).bearer_auth(token);
        request = match case.body {
            Body::None => request,
            Body::Json(value) => request.json(&value),
            Body::Raw(content_type, text) => request.header("content-type", content_type).body(text),
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        assert!(response.headers().get("request-id").is_some(), "{} {}", server.engine, case.name);
        let body: Value =
            response.json().await.unwrap_or_else(|e| panic!("{} {}: not JSON: {e}", server.engine, case.name));
        assert_eq!(status, case.status, "{} {}: {body}", server.engine, case.name);
        assert_eq!(body["error"]["code"], case.code, "{} {}: {body}", server.engine, case.name);
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.len() > 10, "{} {}: a clear message, got {message:?}", server.engine, case.name);
        assert!(body["error"]["innerError"]["request-id"].is_string(), "{} {}", server.engine, case.name);
        assert!(body["error"]["innerError"]["date"].is_string(), "{} {}", server.engine, case.name);
    }
    assert_eq!(server.snapshot().await, before, "a refused request changed the store");
}

fn group_with(change: impl FnOnce(&mut Value)) -> Body {
    let mut body = json!({"displayName": "Bad", "mailNickname": "bad", "mailEnabled": false, "securityEnabled": true});
    change(&mut body);
    Body::Json(body)
}

#[tokio::test]
async fn every_bad_group_request_is_refused_and_nothing_is_written() {
    let server = sqlite_server().await;
    let token = server.admin_token().await;
    let create = |body: Value| {
        let (server, token) = (&server, &token);
        async move {
            let (status, created) = server.call(token, Method::POST, "/v1.0/groups", Some(body)).await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            created["id"].as_str().unwrap().to_owned()
        }
    };
    let (_, ada) = server.call(&token, Method::POST, "/v1.0/users", Some(new_user("ada"))).await;
    let ada = ada["id"].as_str().unwrap().to_owned();
    let outer =
        create(json!({"displayName": "Outer", "mailNickname": "outer", "mailEnabled": false, "securityEnabled": true}))
            .await;
    let inner =
        create(json!({"displayName": "Inner", "mailNickname": "inner", "mailEnabled": false, "securityEnabled": true}))
            .await;
    let team = create(json!({"displayName": "Team", "mailNickname": "team", "mailEnabled": true, "securityEnabled": false, "groupTypes": ["Unified"]})).await;
    let nobody = create(json!({"displayName": "Nobody", "mailNickname": "nobody", "mailEnabled": false, "securityEnabled": true, "groupTypes": ["DynamicMembership"], "membershipRule": "user.department -eq \"Nobody\""})).await;
    let reference =
        |id: &str| Body::Json(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")}));
    for (group, relation, member) in [(&outer, "members", &inner), (&team, "owners", &ada)] {
        let path = format!("/v1.0/groups/{group}/{relation}/$ref");
        let Body::Json(body) = reference(member) else { unreachable!() };
        assert_eq!(server.call(&token, Method::POST, &path, Some(body)).await.0, StatusCode::NO_CONTENT);
    }
    let missing = "0b5b6c39-0000-4000-8000-000000000000";
    let url = |id: &str| format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}");
    let (bad, unsupported, not_found) = ("Request_BadRequest", "Request_UnsupportedQuery", "Request_ResourceNotFound");
    let (post, patch, get, delete) = (Method::POST, Method::PATCH, Method::GET, Method::DELETE);
    let groups = "/v1.0/groups";
    let outer_path = format!("/v1.0/groups/{outer}");
    let members_ref = format!("/v1.0/groups/{outer}/members/$ref");
    let cases = vec![
        case(
            "a group without mailEnabled",
            post.clone(),
            groups,
            group_with(|g| {
                g.as_object_mut().unwrap().remove("mailEnabled");
            }),
            400,
            bad,
        ),
        case(
            "a mailNickname with a space",
            post.clone(),
            groups,
            group_with(|g| g["mailNickname"] = json!("bad nick")),
            400,
            bad,
        ),
        case(
            "a mailNickname with a dot",
            post.clone(),
            groups,
            group_with(|g| g["mailNickname"] = json!("bad.nick")),
            400,
            bad,
        ),
        case(
            "neither mail- nor security-enabled",
            post.clone(),
            groups,
            group_with(|g| g["securityEnabled"] = json!(false)),
            400,
            bad,
        ),
        case(
            "a Microsoft 365 group without mail",
            post.clone(),
            groups,
            group_with(|g| g["groupTypes"] = json!(["Unified"])),
            400,
            bad,
        ),
        case(
            "an unknown group type",
            post.clone(),
            groups,
            group_with(|g| g["groupTypes"] = json!(["Bogus"])),
            400,
            bad,
        ),
        case(
            "dynamic membership, not yet offered",
            post.clone(),
            groups,
            group_with(|g| g["groupTypes"] = json!(["DynamicMembership"])),
            400,
            bad,
        ),
        case("an unknown group property", post.clone(), groups, group_with(|g| g["shoeSize"] = json!(9)), 400, bad),
        case(
            "a read-only group property",
            post.clone(),
            groups,
            group_with(|g| g["mail"] = json!("x@y.test")),
            400,
            bad,
        ),
        case(
            "an unknown visibility",
            post.clone(),
            groups,
            group_with(|g| g["visibility"] = json!("Secret")),
            400,
            bad,
        ),
        case(
            "hidden membership on a security group",
            post.clone(),
            groups,
            group_with(|g| g["visibility"] = json!("HiddenMembership")),
            400,
            bad,
        ),
        case(
            "role-assignable without security",
            post.clone(),
            groups,
            group_with(|g| {
                g["isAssignableToRole"] = json!(true);
                g["securityEnabled"] = json!(false);
                g["mailEnabled"] = json!(true);
            }),
            400,
            bad,
        ),
        case(
            "members@odata.bind that is not a list",
            post.clone(),
            groups,
            group_with(|g| g["members@odata.bind"] = json!(url(&ada))),
            400,
            bad,
        ),
        case(
            "members@odata.bind with a foreign URL",
            post.clone(),
            groups,
            group_with(|g| g["members@odata.bind"] = json!(["https://evil.test/v1.0/users/x"])),
            400,
            bad,
        ),
        case(
            "21 bound links",
            post.clone(),
            groups,
            group_with(|g| g["members@odata.bind"] = json!((0..21).map(|_| url(&ada)).collect::<Vec<_>>())),
            400,
            bad,
        ),
        case(
            "a bound member that does not exist",
            post.clone(),
            groups,
            group_with(|g| g["members@odata.bind"] = json!([url(&ada), url(missing)])),
            404,
            not_found,
        ),
        case(
            "a group bound as owner",
            post.clone(),
            groups,
            group_with(|g| g["owners@odata.bind"] = json!([url(&inner)])),
            404,
            not_found,
        ),
        case(
            "the same member bound twice",
            post.clone(),
            groups,
            group_with(|g| g["members@odata.bind"] = json!([url(&ada), url(&ada)])),
            400,
            bad,
        ),
        case("a $ref without @odata.id", post.clone(), &members_ref, Body::Json(json!({})), 400, bad),
        case(
            "a $ref to a missing group",
            post.clone(),
            &format!("/v1.0/groups/{missing}/members/$ref"),
            reference(&ada),
            404,
            not_found,
        ),
        case("a $ref to a missing object", post.clone(), &members_ref, reference(missing), 404, not_found),
        case("a duplicate member", post.clone(), &members_ref, reference(&inner), 400, bad),
        case(
            "a $ref on transitiveMembers",
            post.clone(),
            &format!("/v1.0/groups/{outer}/transitiveMembers/$ref"),
            reference(&ada),
            400,
            bad,
        ),
        case(
            "a group into a Microsoft 365 group",
            post.clone(),
            &format!("/v1.0/groups/{team}/members/$ref"),
            reference(&inner),
            400,
            bad,
        ),
        case("a cycle", post.clone(), &format!("/v1.0/groups/{inner}/members/$ref"), reference(&outer), 400, bad),
        case("a group in itself", post.clone(), &members_ref, reference(&outer), 400, bad),
        case(
            "removing a non-member",
            delete.clone(),
            &format!("/v1.0/groups/{outer}/members/{ada}/$ref"),
            Body::None,
            404,
            not_found,
        ),
        case(
            "removing the last owner",
            delete.clone(),
            &format!("/v1.0/groups/{team}/owners/{ada}/$ref"),
            Body::None,
            400,
            bad,
        ),
        case(
            "a cast to a type members cannot have",
            get.clone(),
            &format!("/v1.0/groups/{outer}/members/microsoft.graph.application"),
            Body::None,
            400,
            unsupported,
        ),
        case(
            "an unknown relationship",
            get.clone(),
            &format!("/v1.0/groups/{outer}/bogus"),
            Body::None,
            400,
            "BadRequest",
        ),
        case(
            "memberOf cast to users",
            get.clone(),
            &format!("/v1.0/users/{ada}/memberOf/microsoft.graph.user"),
            Body::None,
            400,
            unsupported,
        ),
        case(
            "checkMemberGroups without groupIds",
            post.clone(),
            &format!("/v1.0/users/{ada}/checkMemberGroups"),
            Body::Json(json!({})),
            400,
            bad,
        ),
        case(
            "checkMemberGroups with 21 ids",
            post.clone(),
            &format!("/v1.0/users/{ada}/checkMemberGroups"),
            Body::Json(json!({"groupIds": (0..21).map(|_| missing).collect::<Vec<_>>()})),
            400,
            bad,
        ),
        case(
            "getMemberGroups with a string flag",
            post.clone(),
            &format!("/v1.0/users/{ada}/getMemberGroups"),
            Body::Json(json!({"securityEnabledOnly": "yes"})),
            400,
            bad,
        ),
        case(
            "filtering groups by visibility",
            get.clone(),
            "/v1.0/groups?$filter=visibility eq 'Public'",
            Body::None,
            400,
            unsupported,
        ),
        case("ordering groups by mail", get.clone(), "/v1.0/groups?$orderby=mail", Body::None, 400, unsupported),
        case(
            "filtering members without advanced mode",
            get.clone(),
            &format!("/v1.0/groups/{outer}/members?$filter=displayName eq 'x'"),
            Body::None,
            400,
            unsupported,
        ),
        case(
            "turning a group into a Microsoft 365 group",
            patch.clone(),
            &outer_path,
            Body::Json(json!({"groupTypes": ["Unified"], "mailEnabled": true})),
            400,
            bad,
        ),
        case(
            "changing isAssignableToRole",
            patch.clone(),
            &outer_path,
            Body::Json(json!({"isAssignableToRole": true})),
            400,
            bad,
        ),
        case("clearing displayName", patch.clone(), &outer_path, Body::Json(json!({"displayName": null})), 400, bad),
        case("a missing group", get.clone(), &format!("/v1.0/groups/{missing}"), Body::None, 404, not_found),
        case("a user read as a group", get.clone(), &format!("/v1.0/groups/{ada}"), Body::None, 404, not_found),
        case(
            "a dynamic group without a rule",
            post.clone(),
            groups,
            group_with(|g| g["groupTypes"] = json!(["DynamicMembership"])),
            400,
            bad,
        ),
        case(
            "a dynamic group with a broken rule",
            post.clone(),
            groups,
            group_with(|g| {
                g["groupTypes"] = json!(["DynamicMembership"]);
                g["membershipRule"] = json!("user.department -eq");
            }),
            400,
            bad,
        ),
        case(
            "a rule over 3,072 characters",
            post.clone(),
            groups,
            group_with(|g| {
                g["groupTypes"] = json!(["DynamicMembership"]);
                g["membershipRule"] = json!(format!("user.department -eq \"{}\"", "x".repeat(3100)));
            }),
            400,
            bad,
        ),
        case(
            "a rule on an assigned group",
            post.clone(),
            groups,
            group_with(|g| g["membershipRule"] = json!("user.department -eq \"x\"")),
            400,
            bad,
        ),
        case(
            "an unknown processing state",
            post.clone(),
            groups,
            group_with(|g| {
                g["groupTypes"] = json!(["DynamicMembership"]);
                g["membershipRule"] = json!("user.city -eq \"x\"");
                g["membershipRuleProcessingState"] = json!("Stopped");
            }),
            400,
            bad,
        ),
        case(
            "a role-assignable dynamic group",
            post.clone(),
            groups,
            group_with(|g| {
                g["groupTypes"] = json!(["DynamicMembership"]);
                g["membershipRule"] = json!("user.city -eq \"x\"");
                g["isAssignableToRole"] = json!(true);
            }),
            400,
            bad,
        ),
        case(
            "binding members to a dynamic group",
            post.clone(),
            groups,
            group_with(|g| {
                g["groupTypes"] = json!(["DynamicMembership"]);
                g["membershipRule"] = json!("user.city -eq \"x\"");
                g["members@odata.bind"] = json!([url(&ada)]);
            }),
            403,
            "Authorization_RequestDenied",
        ),
        case(
            "a member added by hand to a dynamic group",
            post.clone(),
            &format!("/v1.0/groups/{nobody}/members/$ref"),
            reference(&ada),
            403,
            "Authorization_RequestDenied",
        ),
        case(
            "a broken rule patched onto a dynamic group",
            patch.clone(),
            &format!("/v1.0/groups/{nobody}"),
            Body::Json(json!({"membershipRule": "(user.city -eq \"x\""})),
            400,
            bad,
        ),
        case(
            "validating without a rule",
            post.clone(),
            "/v1.0/groups/evaluateDynamicMembership",
            Body::Json(json!({"memberId": ada})),
            400,
            bad,
        ),
        case(
            "validating against 21 users",
            post.clone(),
            "/v1.0/groups/evaluateDynamicMembership",
            Body::Json(
                json!({"membershipRule": "user.city -eq \"x\"", "memberIds": (0..21).map(|_| ada.clone()).collect::<Vec<_>>()}),
            ),
            400,
            bad,
        ),
        case(
            "validating against a missing user",
            post.clone(),
            "/v1.0/groups/evaluateDynamicMembership",
            Body::Json(json!({"membershipRule": "user.city -eq \"x\"", "memberId": missing})),
            404,
            not_found,
        ),
        case(
            "validating an assigned group's rule",
            post.clone(),
            &format!("/v1.0/groups/{outer}/evaluateDynamicMembership"),
            Body::Json(json!({"memberId": ada})),
            400,
            bad,
        ),
        case(
            "a contact without displayName",
            post.clone(),
            "/v1.0/contacts",
            Body::Json(json!({"mail": "x@y.test"})),
            400,
            bad,
        ),
        case(
            "a contact with a bad mail",
            post.clone(),
            "/v1.0/contacts",
            Body::Json(json!({"displayName": "X", "mail": "nope"})),
            400,
            bad,
        ),
        case(
            "a contact with two addresses",
            post.clone(),
            "/v1.0/contacts",
            Body::Json(json!({"displayName": "X", "addresses": [{}, {}]})),
            400,
            bad,
        ),
        case(
            "a contact with a pager",
            post.clone(),
            "/v1.0/contacts",
            Body::Json(json!({"displayName": "X", "phones": [{"type": "pager", "number": "1"}]})),
            400,
            bad,
        ),
    ];
    assert!(cases.len() >= 40);
    refused_without_a_trace(&server, &token, cases).await;
}

#[tokio::test]
async fn every_bad_licensing_request_is_refused_and_nothing_is_written() {
    let server = sqlite_server().await;
    let token = server.admin_token().await;
    let e3 = "6fd2c87f-b296-42f0-b197-1e91e994b900";
    let body = json!({"skuPartNumber": "ENTERPRISEPACK", "prepaidUnits": {"enabled": 1}});
    assert_eq!(server.call(&token, Method::POST, "/v1.0/subscribedSkus", Some(body)).await.0, StatusCode::CREATED);
    let mut located = new_user("ada");
    located["usageLocation"] = json!("NL");
    let (_, ada) = server.call(&token, Method::POST, "/v1.0/users", Some(located)).await;
    let ada = ada["id"].as_str().unwrap().to_owned();
    let assign = format!("/v1.0/users/{ada}/assignLicense");
    let add = json!({"addLicenses": [{"skuId": e3}], "removeLicenses": []});
    assert_eq!(server.call(&token, Method::POST, &assign, Some(add)).await.0, StatusCode::OK);
    let (_, bob) = server.call(&token, Method::POST, "/v1.0/users", Some(new_user("bob"))).await;
    let bob = bob["id"].as_str().unwrap().to_owned();
    let (_, team) = server
        .call(&token, Method::POST, "/v1.0/groups", Some(json!({"displayName": "Team", "mailNickname": "team", "mailEnabled": true, "securityEnabled": false, "groupTypes": ["Unified"]})))
        .await;
    let team = team["id"].as_str().unwrap().to_owned();
    let missing = "0b5b6c39-0000-4000-8000-000000000000";
    let bad = "Request_BadRequest";
    let post = Method::POST;
    let skus = "/v1.0/subscribedSkus";
    let cases = vec![
        case(
            "a product not in the catalog",
            post.clone(),
            skus,
            Body::Json(json!({"skuPartNumber": "NOPE"})),
            400,
            bad,
        ),
        case(
            "a subscription without a product",
            post.clone(),
            skus,
            Body::Json(json!({"prepaidUnits": {"enabled": 1}})),
            400,
            bad,
        ),
        case(
            "a second subscription to one product",
            post.clone(),
            skus,
            Body::Json(json!({"skuPartNumber": "ENTERPRISEPACK"})),
            400,
            bad,
        ),
        case(
            "negative seats",
            post.clone(),
            skus,
            Body::Json(json!({"skuPartNumber": "AAD_PREMIUM", "prepaidUnits": {"enabled": -1}})),
            400,
            bad,
        ),
        case(
            "an unknown kind of seat",
            post.clone(),
            skus,
            Body::Json(json!({"skuPartNumber": "AAD_PREMIUM", "prepaidUnits": {"spare": 1}})),
            400,
            bad,
        ),
        case(
            "an unknown subscription status",
            Method::PATCH,
            &format!("{skus}/{e3}"),
            Body::Json(json!({"capabilityStatus": "Paused"})),
            400,
            bad,
        ),
        case(
            "a custom plan without a name",
            post.clone(),
            skus,
            Body::Json(json!({"skuPartNumber": "CUSTOM", "servicePlans": [{"servicePlanId": missing}]})),
            400,
            bad,
        ),
        case("retiring a subscription in use", Method::DELETE, &format!("{skus}/{e3}"), Body::None, 400, bad),
        case(
            "a missing subscription",
            Method::GET,
            &format!("{skus}/{missing}"),
            Body::None,
            404,
            "Request_ResourceNotFound",
        ),
        case(
            "assignLicense without addLicenses",
            post.clone(),
            &assign,
            Body::Json(json!({"removeLicenses": []})),
            400,
            bad,
        ),
        case(
            "assignLicense without removeLicenses",
            post.clone(),
            &assign,
            Body::Json(json!({"addLicenses": []})),
            400,
            bad,
        ),
        case(
            "a skuId that is not a GUID",
            post.clone(),
            &assign,
            Body::Json(json!({"addLicenses": [{"skuId": "E3"}], "removeLicenses": []})),
            400,
            bad,
        ),
        case(
            "a product the tenant does not have",
            post.clone(),
            &assign,
            Body::Json(json!({"addLicenses": [{"skuId": missing}], "removeLicenses": []})),
            400,
            bad,
        ),
        case(
            "a disabled plan of another product",
            post.clone(),
            &assign,
            Body::Json(json!({"addLicenses": [{"skuId": e3, "disabledPlans": [missing]}], "removeLicenses": []})),
            400,
            bad,
        ),
        case(
            "removing a license the user lacks",
            post.clone(),
            &format!("/v1.0/users/{bob}/assignLicense"),
            Body::Json(json!({"addLicenses": [], "removeLicenses": [e3]})),
            400,
            bad,
        ),
        case(
            "a license for a user without usage location",
            post.clone(),
            &format!("/v1.0/users/{bob}/assignLicense"),
            Body::Json(json!({"addLicenses": [{"skuId": e3}], "removeLicenses": []})),
            400,
            bad,
        ),
        case(
            "a license for a missing user",
            post.clone(),
            &format!("/v1.0/users/{missing}/assignLicense"),
            Body::Json(json!({"addLicenses": [], "removeLicenses": []})),
            404,
            "Request_ResourceNotFound",
        ),
        case(
            "a license to a group that is not security-enabled",
            post.clone(),
            &format!("/v1.0/groups/{team}/assignLicense"),
            Body::Json(json!({"addLicenses": [{"skuId": e3}], "removeLicenses": []})),
            400,
            bad,
        ),
        case(
            "filtering licenses by another member",
            Method::GET,
            &format!("/v1.0/users?$filter=assignedLicenses/any(x:x/servicePlanId eq {e3})"),
            Body::None,
            400,
            bad,
        ),
    ];
    refused_without_a_trace(&server, &token, cases).await;
    let (_, held) =
        server.call(&token, Method::GET, &format!("/v1.0/users/{ada}?$select=assignedLicenses"), None).await;
    assert_eq!(held["assignedLicenses"][0]["skuId"], e3, "the refused requests left ada's license alone");
}

#[tokio::test]
async fn the_duplicate_upn_message_is_graphs() {
    let server = sqlite_server().await;
    let token = server.admin_token().await;
    server.call(&token, Method::POST, "/v1.0/users", Some(new_user("ada"))).await;
    let (_, body) = server.call(&token, Method::POST, "/v1.0/users", Some(new_user("ada"))).await;
    assert_eq!(
        body["error"]["message"],
        "Another object with the same value for property userPrincipalName already exists."
    );
    let mut weak = new_user("zed");
    weak["passwordProfile"]["password"] = json!("password");
    let (_, body) = server.call(&token, Method::POST, "/v1.0/users", Some(weak)).await;
    assert_eq!(
        body["error"]["message"],
        "The specified password does not comply with password complexity requirements. Please provide a different password."
    );
}

/// A NUL character (U+0000) in any string the client sends — a body property, a member of a nested value or
/// collection, a `$filter` or `$search` literal, a key in the path or in a reference — is refused with
/// Graph's 400 on every engine, and nothing is written.
#[tokio::test]
async fn nul_characters_are_refused_on_every_engine() {
    for server in servers().await {
        let engine = server.engine;
        let token = server.admin_token().await;
        let (_, ada) = server.call(&token, Method::POST, "/v1.0/users", Some(new_user("ada"))).await;
        let ada = ada["id"].as_str().unwrap().to_owned();
        let (_, app) =
            server.call(&token, Method::POST, "/v1.0/applications", Some(json!({"displayName": "App"}))).await;
        let app = app["id"].as_str().unwrap().to_owned();
        let (_, group) = server
            .call(
                &token,
                Method::POST,
                "/v1.0/groups",
                Some(json!({"displayName": "G", "mailNickname": "g", "mailEnabled": false, "securityEnabled": true})),
            )
            .await;
        let group = group["id"].as_str().unwrap().to_owned();
        let (ada_path, nul_upn) = (format!("/v1.0/users/{ada}"), "/v1.0/users/ada%00@contoso.gatehouse.test");
        let (post, patch, get, bad) = (Method::POST, Method::PATCH, Method::GET, "Request_BadRequest");
        let users = "/v1.0/users";
        let cases = vec![
            case("a body property", post.clone(), users, user_with(|u| u["displayName"] = json!("Ze\u{0}d")), 400, bad),
            case(
                "a collection's string",
                post.clone(),
                users,
                user_with(|u| u["businessPhones"] = json!(["555\u{0}1"])),
                400,
                bad,
            ),
            case(
                "a complex value's member",
                post.clone(),
                users,
                user_with(|u| u["onPremisesExtensionAttributes"] = json!({"extensionAttribute1": "a\u{0}"})),
                400,
                bad,
            ),
            case(
                "a password",
                post.clone(),
                users,
                user_with(|u| u["passwordProfile"]["password"] = json!("Str0ng!\u{0}Kestr3l")),
                400,
                bad,
            ),
            case("a patched property", patch.clone(), &ada_path, Body::Json(json!({"jobTitle": "x\u{0}"})), 400, bad),
            case(
                "a patched collection",
                patch.clone(),
                &ada_path,
                Body::Json(json!({"otherMails": ["a\u{0}@b.test"]})),
                400,
                bad,
            ),
            case(
                "a group's name",
                post.clone(),
                "/v1.0/groups",
                group_with(|g| g["displayName"] = json!("\u{0}")),
                400,
                bad,
            ),
            case(
                "a group's rule",
                post.clone(),
                "/v1.0/groups",
                group_with(|g| {
                    g["groupTypes"] = json!(["DynamicMembership"]);
                    g["membershipRule"] = json!("user.department -eq \"a\u{0}\"");
                }),
                400,
                bad,
            ),
            case(
                "a bound member's URL",
                post.clone(),
                "/v1.0/groups",
                group_with(|g| {
                    g["members@odata.bind"] =
                        json!(["https://graph.microsoft.com/v1.0/users/ada\u{0}@contoso.gatehouse.test"])
                }),
                400,
                bad,
            ),
            case(
                "a contact's name",
                post.clone(),
                "/v1.0/contacts",
                Body::Json(json!({"displayName": "C\u{0}"})),
                400,
                bad,
            ),
            case(
                "an application's name",
                post.clone(),
                "/v1.0/applications",
                Body::Json(json!({"displayName": "A\u{0}"})),
                400,
                bad,
            ),
            case(
                "a secret's name",
                post.clone(),
                &format!("/v1.0/applications/{app}/addPassword"),
                Body::Json(json!({"passwordCredential": {"displayName": "k\u{0}"}})),
                400,
                bad,
            ),
            case(
                "a custom product",
                post.clone(),
                "/v1.0/subscribedSkus",
                Body::Json(
                    json!({"skuPartNumber": "P\u{0}", "servicePlans": [{"servicePlanName": "S"}], "prepaidUnits": {"enabled": 1}}),
                ),
                400,
                bad,
            ),
            case(
                "a rule evaluated",
                post.clone(),
                "/v1.0/groups/evaluateDynamicMembership",
                Body::Json(json!({"membershipRule": "user.department -eq \"\u{0}\"", "memberIds": [ada]})),
                400,
                bad,
            ),
            case(
                "a user named to evaluate",
                post.clone(),
                "/v1.0/groups/evaluateDynamicMembership",
                Body::Json(
                    json!({"membershipRule": "user.department -eq \"x\"", "memberIds": ["ada\u{0}@contoso.gatehouse.test"]}),
                ),
                400,
                bad,
            ),
            case(
                "a $filter literal",
                get.clone(),
                "/v1.0/users?$filter=displayName%20eq%20'a%00b'",
                Body::None,
                400,
                bad,
            ),
            case(
                "a startswith literal",
                get.clone(),
                "/v1.0/groups?$filter=startswith(displayName,'%00')",
                Body::None,
                400,
                bad,
            ),
            case(
                "an in literal",
                get.clone(),
                "/v1.0/users?$filter=userPrincipalName%20in%20('a%00@contoso.gatehouse.test')",
                Body::None,
                400,
                bad,
            ),
            case("a UPN in the path", get.clone(), nul_upn, Body::None, 400, bad),
            case("a UPN patched", patch.clone(), nul_upn, Body::Json(json!({"jobTitle": "x"})), 400, bad),
            case("a UPN deleted", Method::DELETE, nul_upn, Body::None, 400, bad),
            case("a UPN's memberships", get.clone(), &format!("{nul_upn}/memberOf"), Body::None, 400, bad),
            case("a group id in the path", get.clone(), "/v1.0/groups/%00", Body::None, 400, bad),
            case("a product in the path", get.clone(), "/v1.0/subscribedSkus/E5%00", Body::None, 400, bad),
            case(
                "a manager reference",
                Method::PUT,
                &format!("{ada_path}/manager/$ref"),
                Body::Json(
                    json!({"@odata.id": "https://graph.microsoft.com/v1.0/users/bob%00@contoso.gatehouse.test"}),
                ),
                400,
                bad,
            ),
            case(
                "a member reference",
                post.clone(),
                &format!("/v1.0/groups/{group}/members/$ref"),
                Body::Json(json!({"@odata.id": "https://graph.microsoft.com/v1.0/users/ada\u{0}"})),
                400,
                bad,
            ),
        ];
        let before = server.snapshot().await;
        refused_without_a_trace(&server, &token, cases).await;
        let (status, body) = server.advanced(&token, "/v1.0/users?$search=%22displayName:a%00%22&$count=true").await;
        assert_eq!((status, &body["error"]["code"]), (StatusCode::BAD_REQUEST, &json!(bad)), "{engine}: {body}");
        assert_eq!(server.snapshot().await, before, "{engine}: a refused request changed the store");
    }
}
