//! Graph's query language over users: `$filter` per property and operator, `$search`, `$orderby`,
//! `$count`, `/users/$count`, and paging that carries the query — on every engine.

use crate::support::{new_user, servers, Server};
use gatehouse_core::query::USERS;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The people every query here runs against (the tenant's administrator is there too).
fn people() -> Vec<Value> {
    let person = |alias: &str, extra: Value| {
        let mut user = crate::support::new_user(alias);
        if let (Some(user), Some(extra)) = (user.as_object_mut(), extra.as_object()) {
            user.extend(extra.clone());
        }
        user
    };
    vec![
        person(
            "ann",
            json!({"displayName": "Ann Lee", "city": "Oslo", "jobTitle": "Engineer", "department": "Sales",
            "mail": "ann@contoso.gatehouse.test", "otherMails": ["ann.lee@home.test"], "usageLocation": "NO",
            "employeeHireDate": "2020-01-15T00:00:00Z"}),
        ),
        person(
            "anna",
            json!({"displayName": "Anna Berg", "city": "oslo", "jobTitle": "Senior Engineer", "department": "R&D",
            "accountEnabled": false, "employeeHireDate": "2023-06-01T00:00:00Z"}),
        ),
        person(
            "bob",
            json!({"displayName": "Bob Ånström", "city": "Bergen", "jobTitle": "Manager", "department": "Sales",
            "mail": "bob@fabrikam.test", "otherMails": ["bob@home.test", "b@x.test"], "userType": "Guest"}),
        ),
        person("asa", json!({"displayName": "Åsa Öberg", "department": "Support", "employeeId": "E-7"})),
        person(
            "carl",
            json!({"displayName": "Carl O'Neil", "city": "Zürich", "jobTitle": "engineer",
            "otherMails": ["carl@x.test"], "passwordPolicies": "DisablePasswordExpiration"}),
        ),
    ]
}

async fn seeded() -> Vec<(Server, String)> {
    let mut out = Vec::new();
    for server in servers().await {
        let token = server.admin_token().await;
        for person in people() {
            let (status, body) = server.call(&token, Method::POST, "/v1.0/users", Some(person)).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        out.push((server, token));
    }
    out
}

fn aliases(body: &Value) -> Vec<String> {
    let mut found: Vec<String> = body["value"]
        .as_array()
        .map(|users| {
            users
                .iter()
                .map(|u| {
                    u["userPrincipalName"].as_str().unwrap_or_default().split('@').next().unwrap_or_default().to_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

fn encode(filter: &str) -> String {
    filter.replace('%', "%25").replace(' ', "%20").replace('\'', "%27").replace('&', "%26").replace('+', "%2B")
}

#[tokio::test]
async fn every_supported_operator_returns_the_right_users() {
    let cases: &[(&str, &[&str])] = &[
        ("displayName eq 'ann lee'", &["ann"]),
        ("displayName ne 'Ann Lee'", &["admin", "anna", "asa", "bob", "carl"]),
        ("startswith(displayName,'ann')", &["ann", "anna"]),
        ("startswith(displayName,'åsa')", &["asa"]),
        ("displayName ge 'B' and displayName le 'C'", &["bob"]),
        ("displayName in ('Ann Lee', 'carl o''neil')", &["ann", "carl"]),
        ("not(startswith(displayName,'a'))", &["admin", "asa", "bob", "carl"]),
        ("city eq 'OSLO'", &["ann", "anna"]),
        ("city eq null", &["admin", "asa"]),
        ("city ne null", &["ann", "anna", "bob", "carl"]),
        ("city eq 'zürich'", &["carl"]),
        ("jobTitle eq 'engineer'", &["ann", "carl"]),
        ("startswith(jobTitle,'sen')", &["anna"]),
        ("department eq 'Sales'", &["ann", "bob"]),
        ("department in ('support', 'r&d')", &["anna", "asa"]),
        ("mail eq 'bob@fabrikam.test'", &["bob"]),
        ("endswith(mail,'@contoso.gatehouse.test')", &["ann"]),
        ("endswith(userPrincipalName,'a@contoso.gatehouse.test')", &["anna", "asa"]),
        ("startswith(userPrincipalName,'an')", &["ann", "anna"]),
        ("userPrincipalName eq 'BOB@contoso.gatehouse.test'", &["bob"]),
        ("accountEnabled eq false", &["anna"]),
        ("userType eq 'Guest'", &["bob"]),
        ("usageLocation eq 'no'", &["ann"]),
        ("employeeId eq 'E-7'", &["asa"]),
        ("employeeHireDate ge 2021-01-01T00:00:00Z", &["anna"]),
        ("employeeHireDate le 2021-01-01T00:00:00Z", &["ann"]),
        ("employeeHireDate le 2023-06-01T01:00:00+01:00", &["ann", "anna"]),
        ("employeeHireDate ge 2023-06-01T00:00:01Z", &[]),
        ("otherMails/any(x:x eq 'B@X.TEST')", &["bob"]),
        ("otherMails/any(x:startswith(x,'ann'))", &["ann"]),
        ("otherMails/any(x:endswith(x,'@x.test'))", &["bob", "carl"]),
        ("proxyAddresses/any(p:startswith(p,'smtp:bob'))", &["bob"]),
        ("passwordPolicies ne null", &["carl"]),
        ("(city eq 'oslo' or city eq 'bergen') and department eq 'sales'", &["ann", "bob"]),
    ];
    for (server, token) in seeded().await {
        let engine = server.engine;
        for (filter, expected) in cases {
            let path = format!("/v1.0/users?$count=true&$select=userPrincipalName&$filter={}", encode(filter));
            let (status, body) = server.advanced(&token, &path).await;
            assert_eq!(status, StatusCode::OK, "{engine} {filter}: {body}");
            let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
            expected.sort();
            assert_eq!(aliases(&body), expected, "{engine} {filter}");
            assert_eq!(body["@odata.count"], expected.len(), "{engine} {filter}");
        }
    }
}

#[tokio::test]
async fn every_unsupported_operator_gets_graphs_error() {
    let servers = seeded().await;
    let (server, token) = &servers[0];
    let properties = [
        "id",
        "accountEnabled",
        "userType",
        "displayName",
        "userPrincipalName",
        "mail",
        "givenName",
        "department",
        "city",
        "jobTitle",
        "createdDateTime",
        "employeeHireDate",
        "otherMails",
        "businessPhones",
        "passwordPolicies",
    ];
    let mut refused = 0;
    for property in properties {
        let Some(support) = USERS.support(property) else { continue };
        let (text, date) = ("'x'", "2020-01-01T00:00:00Z");
        let value = match property {
            "accountEnabled" => "true",
            "id" => "'0b5b6c39-0000-4000-8000-000000000000'",
            "createdDateTime" | "employeeHireDate" => date,
            _ => text,
        };
        let operators = [
            (support.starts_with, format!("startswith({property},'x')")),
            (support.ends_with, format!("endswith({property},'x')")),
            (support.range, format!("{property} ge {value}")),
            (support.null, format!("{property} eq null")),
            (support.eq, format!("{property} eq {value}")),
        ];
        for (supported, filter) in operators {
            if supported || support.collection {
                continue;
            }
            let path = format!("/v1.0/users?$count=true&$filter={}", encode(&filter));
            let (status, body) = server.advanced(token, &path).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{filter}: {body}");
            assert_eq!(body["error"]["code"], "Request_UnsupportedQuery", "{filter}: {body}");
            refused += 1;
        }
        if support.collection {
            let (status, body) =
                server.advanced(token, &format!("/v1.0/users?$count=true&$filter={property}%20eq%20'x'")).await;
            assert_eq!(
                (status, body["error"]["code"].clone()),
                (StatusCode::BAD_REQUEST, json!("Request_UnsupportedQuery")),
                "{property}"
            );
            refused += 1;
        }
    }
    assert!(refused >= 10, "{refused}");
    let (status, body) = server.advanced(token, "/v1.0/users?$filter=shoeSize%20eq%20'9'").await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!("Request_BadRequest")));
}

#[tokio::test]
async fn advanced_queries_follow_graphs_rules() {
    for (server, token) in seeded().await {
        let (status, body) = server.call(&token, Method::GET, "/v1.0/users?$filter=city%20ne%20'oslo'", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "ne needs ConsistencyLevel and $count: {body}");
        assert!(body["error"]["message"].as_str().unwrap().starts_with("Operator 'ne' is not supported"));
        let (status, _) = server.advanced(&token, "/v1.0/users?$filter=city%20ne%20'oslo'").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "the header alone is not enough for ne");
        let (status, body) = server.call(&token, Method::GET, "/v1.0/users?$count=true", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.get("@odata.count").is_none(), "without the header $count is silently ignored");
        let (status, body) = server.call(&token, Method::GET, "/v1.0/users?$search=%22displayName:ann%22", None).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!("Request_UnsupportedQuery"))
        );
        let (status, body) =
            server.call(&token, Method::GET, "/v1.0/users?$filter=city%20eq%20'oslo'&$orderby=displayName", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "$filter with $orderby needs advanced mode: {body}");

        let (status, body) = server
            .advanced(
                &token,
                "/v1.0/users?$search=%22displayName:lee%22%20OR%20%22displayName:bob%22&$select=userPrincipalName",
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(aliases(&body), ["ann", "bob"], "words of displayName, any of them");
        let (_, body) = server.advanced(&token, "/v1.0/users?$search=%22mail:bob%22&$select=userPrincipalName").await;
        assert_eq!(aliases(&body), ["bob"]);

        let (_, body) =
            server.call(&token, Method::GET, "/v1.0/users?$orderby=displayName%20desc&$select=displayName", None).await;
        let names: Vec<&str> =
            body["value"].as_array().unwrap().iter().map(|u| u["displayName"].as_str().unwrap()).collect();
        assert_eq!(names, ["Åsa Öberg", "Global Administrator", "Carl O'Neil", "Bob Ånström", "Anna Berg", "Ann Lee"]);

        let count = server
            .http
            .get(server.url("/v1.0/users/$count?$filter=city%20eq%20'oslo'"))
            .bearer_auth(&token)
            .header("ConsistencyLevel", "eventual")
            .send()
            .await
            .unwrap();
        assert_eq!(count.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(count.text().await.unwrap(), "2");
        let (status, body) = server.call(&token, Method::GET, "/v1.0/users/$count", None).await;
        assert_eq!((status, body["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!("Request_BadRequest")));
    }
}

#[tokio::test]
async fn next_links_carry_the_query_and_the_advanced_mode() {
    for (server, token) in seeded().await {
        let first = "/v1.0/users?$top=1&$count=true&$select=userPrincipalName&$filter=not(city%20eq%20'bergen')&$orderby=userPrincipalName";
        let (status, mut page) = server.advanced(&token, first).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["@odata.count"], 5);
        let mut seen = aliases(&page);
        while let Some(next) = page["@odata.nextLink"].as_str().map(str::to_owned) {
            // Follow-up pages without the header, as msgraph-sdk's page iterator sends them.
            let (status, body) = server.call(&token, Method::GET, next.strip_prefix(&server.base).unwrap(), None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert!(body.get("@odata.count").is_none(), "the count is on the first page only");
            seen.extend(aliases(&body));
            page = body;
        }
        assert_eq!(seen, ["admin", "ann", "anna", "asa", "carl"], "in UPN order, bob filtered out");
        // Several keys, each with its direction: namesakes ordered by UPN, descending.
        for alias in ["sam1", "sam2", "sam3"] {
            let mut user = new_user(alias);
            user["displayName"] = json!(if alias == "sam3" { "Sam Zed" } else { "Sam Same" });
            let (status, body) = server.call(&token, Method::POST, "/v1.0/users", Some(user)).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        for (order, expected) in [
            ("displayName,userPrincipalName%20desc", ["sam2", "sam1", "sam3"]),
            ("displayName%20desc,userPrincipalName", ["sam3", "sam1", "sam2"]),
            ("userPrincipalName%20desc,displayName", ["sam3", "sam2", "sam1"]),
        ] {
            let path = format!(
                "/v1.0/users?$top=1&$count=true&$select=userPrincipalName&$filter=startswith(displayName,'sam')&$orderby={order}"
            );
            let (status, mut page) = server.advanced(&token, &path).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let mut seen = Vec::new();
            loop {
                let upn = page["value"][0]["userPrincipalName"].as_str().unwrap();
                seen.push(upn.split('@').next().unwrap().to_owned());
                let Some(next) = page["@odata.nextLink"].as_str().map(str::to_owned) else { break };
                (_, page) = server.call(&token, Method::GET, next.strip_prefix(&server.base).unwrap(), None).await;
            }
            assert_eq!(seen, expected, "$orderby={order}, a page at a time");
        }
        let (status, body) =
            server.advanced(&token, "/v1.0/users?$count=true&$orderby=displayName,displayName%20desc").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "the same key twice: {body}");
        let (_, page) = server.advanced(&token, "/v1.0/users?$top=1&$filter=city%20eq%20'oslo'").await;
        let next = page["@odata.nextLink"].as_str().unwrap().replace("oslo", "bergen");
        let (status, _) = server.call(&token, Method::GET, next.strip_prefix(&server.base).unwrap(), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "a token only works with the query it was made for");
    }
}

#[tokio::test]
async fn expand_manager() {
    for (server, token) in seeded().await {
        let (_, ann) = server.call(&token, Method::GET, "/v1.0/users/ann@contoso.gatehouse.test", None).await;
        let boss =
            json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{}", ann["id"].as_str().unwrap())});
        server.call(&token, Method::PUT, "/v1.0/users/bob@contoso.gatehouse.test/manager/$ref", Some(boss)).await;
        let (status, bob) =
            server.call(&token, Method::GET, "/v1.0/users/bob@contoso.gatehouse.test?$expand=manager", None).await;
        assert_eq!(status, StatusCode::OK, "{bob}");
        assert_eq!(bob["manager"]["displayName"], "Ann Lee");
        assert_eq!(bob["manager"]["@odata.type"], "#microsoft.graph.user");
        let (_, page) = server
            .call(&token, Method::GET, "/v1.0/users?$expand=manager&$top=2&$select=userPrincipalName", None)
            .await;
        let mut managed = 0;
        let mut next = Some(page);
        while let Some(page) = next {
            for user in page["value"].as_array().unwrap() {
                if user.get("manager").is_some() {
                    assert_eq!(user["userPrincipalName"], "bob@contoso.gatehouse.test");
                    managed += 1;
                }
            }
            next = match page["@odata.nextLink"].as_str() {
                Some(link) => {
                    Some(server.call(&token, Method::GET, link.strip_prefix(&server.base).unwrap(), None).await.1)
                }
                None => None,
            };
        }
        assert_eq!(managed, 1, "the expansion follows every page");
        let (status, body) = server.advanced(&token, "/v1.0/users?$expand=manager&$count=true").await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!("Request_UnsupportedQuery"))
        );
        let (status, body) = server.call(&token, Method::GET, "/v1.0/users?$expand=memberOf&$top=5", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["value"].as_array().unwrap().iter().all(|u| u["memberOf"] == json!([])), "{body}");
        let (status, _) = server.call(&token, Method::GET, "/v1.0/users?$expand=directReports", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}

/// Every string property Graph documents as filterable: each supported operator finds the one user that
/// holds a value, in any letter case.
#[tokio::test]
async fn every_documented_string_property_filters() {
    let properties = [
        "givenName",
        "surname",
        "mailNickname",
        "jobTitle",
        "companyName",
        "city",
        "state",
        "country",
        "streetAddress",
        "postalCode",
        "officeLocation",
        "mobilePhone",
        "faxNumber",
        "preferredLanguage",
        "employeeId",
        "employeeType",
        "department",
        "displayName",
        "mail",
        "userPrincipalName",
    ];
    for server in servers().await {
        let token = server.admin_token().await;
        let mut holder = crate::support::new_user("holder");
        for property in properties {
            let value = match property {
                "mail" => "Zed.Value@contoso.gatehouse.test".to_owned(),
                "userPrincipalName" => "zedvalue@contoso.gatehouse.test".to_owned(),
                "mailNickname" => "ZedValue".to_owned(),
                "employeeId" => "ZedV".to_owned(),
                _ => "Zed Value".to_owned(),
            };
            holder[property] = json!(value);
        }
        let (status, body) = server.call(&token, Method::POST, "/v1.0/users", Some(holder.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        for property in properties {
            let support = USERS.support(property).unwrap();
            let value = holder[property].as_str().unwrap().to_uppercase();
            let prefix: String = value.chars().take(3).collect();
            let mut filters = vec![format!("{property} eq '{value}'"), format!("{property} in ('{value}', 'nobody')")];
            if support.starts_with {
                filters.push(format!("startswith({property},'{prefix}')"));
            }
            if support.range {
                filters.push(format!("{property} ge '{value}' and {property} le '{value}'"));
            }
            for filter in filters {
                let path = format!("/v1.0/users?$count=true&$select=userPrincipalName&$filter={}", encode(&filter));
                let (status, body) = server.advanced(&token, &path).await;
                assert_eq!(status, StatusCode::OK, "{} {filter}: {body}", server.engine);
                assert_eq!(aliases(&body), ["zedvalue"], "{} {filter}", server.engine);
            }
            if support.null {
                let path = format!(
                    "/v1.0/users?$count=true&$select=userPrincipalName&$filter={}",
                    encode(&format!("{property} ne null"))
                );
                let (_, body) = server.advanced(&token, &path).await;
                assert!(aliases(&body).contains(&"zedvalue".to_owned()), "{property} ne null");
            }
        }
    }
}

#[tokio::test]
async fn lists_order_by_creation_time_in_advanced_mode() {
    for server in servers().await {
        let token = server.admin_token().await;
        // Made in the order carl, ann, bob, minutes apart, so creation order is neither name nor UPN order.
        for alias in ["carl", "ann", "bob"] {
            server.clock.advance(chrono::Duration::minutes(5));
            let mut user = new_user(alias);
            user["city"] = json!("Oslo");
            let (status, body) = server.call(&token, Method::POST, "/v1.0/users", Some(user)).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let path =
            "/v1.0/users?$count=true&$select=userPrincipalName&$filter=city%20eq%20'oslo'&$orderby=createdDateTime";
        let (status, body) = server.advanced(&token, path).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", server.engine);
        let upns: Vec<&str> =
            body["value"].as_array().unwrap().iter().map(|u| u["userPrincipalName"].as_str().unwrap()).collect();
        assert_eq!(upns, ["carl@contoso.gatehouse.test", "ann@contoso.gatehouse.test", "bob@contoso.gatehouse.test"]);
        let (status, body) = server.advanced(&token, &format!("{path}%20desc&$top=2")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["value"][0]["userPrincipalName"], "bob@contoso.gatehouse.test");
        let next = body["@odata.nextLink"].as_str().unwrap().strip_prefix(&server.base).unwrap().to_owned();
        let (_, rest) = server.call(&token, Method::GET, &next, None).await;
        assert_eq!(rest["value"][0]["userPrincipalName"], "carl@contoso.gatehouse.test", "paging keeps the order");
        let (status, body) = server.call(&token, Method::GET, "/v1.0/users?$orderby=createdDateTime", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "Graph orders users by creation only in advanced mode: {body}");
        for collection in ["groups", "servicePrincipals", "applications"] {
            let (status, body) = server
                .advanced(&token, &format!("/v1.0/{collection}?$count=true&$orderby=createdDateTime%20desc"))
                .await;
            assert_eq!(status, StatusCode::OK, "{collection}: {body}");
        }
    }
}
