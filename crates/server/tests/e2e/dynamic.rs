//! Dynamic membership: rules on groups, processing from the change log, validation — on every engine.

use crate::support::{new_user, servers, Server};
use gatehouse_core::processors;
use gatehouse_core::query;
use gatehouse_core::rules;
use gatehouse_core::store::{ObjectKind, ObjectQuery, Relation, Scope, Store};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

fn dynamic(name: &str, rule: &str) -> Value {
    json!({
        "displayName": name,
        "mailNickname": name.to_lowercase().replace(' ', ""),
        "mailEnabled": false,
        "securityEnabled": true,
        "groupTypes": ["DynamicMembership"],
        "membershipRule": rule,
    })
}

/// Waits until every processor has applied every change in the log, their own included.
pub async fn settled(server: &Server) {
    let tenant = server.tenant.tenant_id;
    for _ in 0..400 {
        if processors::caught_up(server.store.as_ref(), tenant).await.unwrap() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{}: the change processors did not catch up", server.engine);
}

async fn members(server: &Server, group: &str) -> BTreeSet<String> {
    let group = uuid::Uuid::parse_str(group).unwrap();
    let q = ObjectQuery {
        scope: Some(Scope::Members { group, relation: Relation::Member }),
        limit: 100_000,
        ..ObjectQuery::default()
    };
    server.store.objects(server.tenant.tenant_id, &q).await.unwrap().iter().map(|o| o.id.to_string()).collect()
}

/// The group's members as its rule decides them from scratch: every live user through the in-process
/// evaluator, independent of the processor and of the SQL compiler.
async fn from_scratch(server: &Server, group: &str) -> BTreeSet<String> {
    let tenant = server.tenant.tenant_id;
    let record = server.store.object(tenant, ObjectKind::Group, uuid::Uuid::parse_str(group).unwrap()).await.unwrap();
    let rule = rules::parse(record.unwrap().doc["membershipRule"].as_str().unwrap()).unwrap();
    let filter = rules::compile(&rule, server.directory.now());
    let users =
        server.store.objects(tenant, &ObjectQuery { limit: 100_000, ..ObjectQuery::of(ObjectKind::User) }).await;
    users.unwrap().iter().filter(|u| query::matches(&filter, u)).map(|u| u.id.to_string()).collect()
}

#[tokio::test]
async fn dynamic_groups_follow_their_rules() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let mut sales = new_user("sal");
        sales["department"] = json!("Sales");
        let (_, sal) = server.call(&admin, Method::POST, "/v1.0/users", Some(sales)).await;
        let sal = sal["id"].as_str().unwrap().to_owned();
        let (_, rex) = server.call(&admin, Method::POST, "/v1.0/users", Some(new_user("rex"))).await;
        let rex = rex["id"].as_str().unwrap().to_owned();

        let (status, group) = server
            .call(&admin, Method::POST, "/v1.0/groups", Some(dynamic("Sales team", "user.department -eq \"sales\"")))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {group}");
        assert_eq!(group["membershipRuleProcessingState"], "On");
        let id = group["id"].as_str().unwrap().to_owned();
        settled(&server).await;
        assert_eq!(members(&server, &id).await, BTreeSet::from([sal.clone()]), "{engine}: the rule's users");
        let path = format!("/v1.0/groups/{id}?$select=membershipRuleProcessingStatus");
        let (_, status) = server.call(&admin, Method::GET, &path, None).await;
        assert_eq!(status["membershipRuleProcessingStatus"]["status"], "Succeeded", "{engine}: {status}");

        // An attribute change moves the user; an unrelated one does not touch the group.
        let patch = json!({"department": "Sales"});
        server.call(&admin, Method::PATCH, &format!("/v1.0/users/{rex}"), Some(patch)).await;
        settled(&server).await;
        assert_eq!(members(&server, &id).await, BTreeSet::from([sal.clone(), rex.clone()]));
        let before = server.store.changes(server.tenant.tenant_id, 0, u32::MAX).await.unwrap().len();
        server.call(&admin, Method::PATCH, &format!("/v1.0/users/{rex}"), Some(json!({"jobTitle": "Rep"}))).await;
        settled(&server).await;
        let after = server.store.changes(server.tenant.tenant_id, 0, u32::MAX).await.unwrap().len();
        assert_eq!(after, before + 1, "{engine}: a change no rule reads writes no membership");

        // Manual changes are refused; rule changes, pausing and switching work as in Entra.
        let reference = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{rex}")});
        let (status, body) =
            server.call(&admin, Method::POST, &format!("/v1.0/groups/{id}/members/$ref"), Some(reference)).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (StatusCode::FORBIDDEN, json!("Authorization_RequestDenied"))
        );
        let (status, body) = server
            .call(
                &admin,
                Method::PATCH,
                &format!("/v1.0/groups/{id}"),
                Some(json!({"membershipRule": "user.department -eq"})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["error"]["message"].as_str().unwrap().contains("Query compilation error at position"), "{body}");
        let paused = json!({"membershipRuleProcessingState": "Paused", "membershipRule": "user.userPrincipalName -startsWith \"rex\""});
        server.call(&admin, Method::PATCH, &format!("/v1.0/groups/{id}"), Some(paused)).await;
        settled(&server).await;
        assert_eq!(members(&server, &id).await, BTreeSet::from([sal.clone(), rex.clone()]), "{engine}: paused");
        let (_, status) = server.call(&admin, Method::GET, &path, None).await;
        assert_eq!(status["membershipRuleProcessingStatus"]["status"], "Paused");
        server
            .call(
                &admin,
                Method::PATCH,
                &format!("/v1.0/groups/{id}"),
                Some(json!({"membershipRuleProcessingState": "On"})),
            )
            .await;
        settled(&server).await;
        assert_eq!(members(&server, &id).await, BTreeSet::from([rex.clone()]), "{engine}: resumed with the new rule");
        let assigned = json!({"groupTypes": [], "membershipRule": null, "membershipRuleProcessingState": null});
        let (status, body) = server.call(&admin, Method::PATCH, &format!("/v1.0/groups/{id}"), Some(assigned)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        let reference = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{sal}")});
        let (status, _) =
            server.call(&admin, Method::POST, &format!("/v1.0/groups/{id}/members/$ref"), Some(reference)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: an assigned group takes members by hand again");
        assert_eq!(members(&server, &id).await, BTreeSet::from([sal.clone(), rex.clone()]));

        // Validating a rule against users, clause by clause.
        let body = json!({
            "membershipRule": "(user.department -eq \"Sales\") -and -not (user.userPrincipalName -startsWith \"rex\")",
            "memberIds": [sal, rex],
        });
        let (status, checked) =
            server.call(&admin, Method::POST, "/v1.0/groups/evaluateDynamicMembership", Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {checked}");
        assert_eq!(checked["value"][0]["membershipRuleEvaluationResult"], true);
        assert_eq!(checked["value"][1]["membershipRuleEvaluationResult"], false);
        let clauses = &checked["value"][1]["membershipRuleEvaluationDetails"]["expressionEvaluationDetails"];
        assert_eq!(clauses[0]["expressionResult"], true, "{checked}");
        assert_eq!(clauses[0]["propertyToEvaluate"]["propertyValue"], "Sales");
        assert_eq!(clauses[1]["expressionResult"], false);
        let (status, _) = server
            .call(
                &admin,
                Method::POST,
                "/v1.0/groups/evaluateDynamicMembership",
                Some(json!({"membershipRule": "user.x -eq 1", "memberId": sal})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}

/// Entra's documented switches: removing DynamicMembership and pausing the rule makes a dynamic group static
/// with the members it has (its rule kept, inert), open to changes by hand; adding DynamicMembership back with
/// a rule and processing On replaces every member with the rule's users.
#[tokio::test]
async fn dynamic_groups_turn_static_and_back() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let mut ids = Vec::new();
        for (alias, department) in [("ann", "Sales"), ("bob", "Sales"), ("cy", "Legal")] {
            let mut user = new_user(alias);
            user["department"] = json!(department);
            let (status, body) = server.call(&admin, Method::POST, "/v1.0/users", Some(user)).await;
            assert_eq!(status, StatusCode::CREATED, "{engine}: {body}");
            ids.push(body["id"].as_str().unwrap().to_owned());
        }
        let (ann, bob, cy) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
        let rule = "user.department -eq \"Sales\"";
        let (_, group) = server.call(&admin, Method::POST, "/v1.0/groups", Some(dynamic("Turning", rule))).await;
        let id = group["id"].as_str().unwrap().to_owned();
        let path = format!("/v1.0/groups/{id}");
        settled(&server).await;
        assert_eq!(members(&server, &id).await, BTreeSet::from([ann.clone(), bob.clone()]), "{engine}");

        let to_static = json!({"groupTypes": [], "membershipRuleProcessingState": "Paused"});
        let (status, body) = server.call(&admin, Method::PATCH, &path, Some(to_static)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        let (_, group) = server.call(&admin, Method::GET, &path, None).await;
        assert_eq!(group["groupTypes"], json!([]), "{engine}: {group}");
        assert_eq!(group["membershipRule"], rule, "{engine}: the rule is kept");
        assert_eq!(group["membershipRuleProcessingState"], "Paused", "{engine}: {group}");

        // The rule no longer moves anyone: a user who stops matching stays, one who starts matching stays out.
        for (user, department) in [(&bob, "Legal"), (&cy, "Sales")] {
            let patch = json!({"department": department});
            let (status, body) = server.call(&admin, Method::PATCH, &format!("/v1.0/users/{user}"), Some(patch)).await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        }
        settled(&server).await;
        assert_eq!(members(&server, &id).await, BTreeSet::from([ann.clone(), bob.clone()]), "{engine}: kept");

        // Members are changed by hand now.
        let reference =
            |user: &str| json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{user}")});
        let (status, body) =
            server.call(&admin, Method::POST, &format!("{path}/members/$ref"), Some(reference(&cy))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        let (status, body) = server.call(&admin, Method::DELETE, &format!("{path}/members/{ann}/$ref"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        settled(&server).await;
        assert_eq!(members(&server, &id).await, BTreeSet::from([bob.clone(), cy.clone()]), "{engine}: by hand");

        // A static group takes no new rule or state, and its kept ones do not stand in the way of other changes.
        for refused in
            [json!({"membershipRule": "user.department -eq \"Legal\""}), json!({"membershipRuleProcessingState": "On"})]
        {
            let (status, body) = server.call(&admin, Method::PATCH, &path, Some(refused.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {refused}: {body}");
            assert_eq!(body["error"]["code"], "Request_BadRequest", "{engine}: {body}");
        }
        let (status, body) = server.call(&admin, Method::PATCH, &path, Some(json!({"description": "static"}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        let (_, group) = server.call(&admin, Method::GET, &path, None).await;
        assert_eq!(
            (&group["membershipRule"], &group["membershipRuleProcessingState"]),
            (&json!(rule), &json!("Paused")),
            "{engine}: {group}"
        );

        // Back to dynamic: the members by hand that the new rule does not select go, its users come in.
        let to_dynamic = json!({
            "groupTypes": ["DynamicMembership"],
            "membershipRule": "user.department -eq \"Legal\"",
            "membershipRuleProcessingState": "On",
        });
        let (status, body) = server.call(&admin, Method::PATCH, &path, Some(to_dynamic)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        settled(&server).await;
        assert_eq!(members(&server, &id).await, BTreeSet::from([bob.clone()]), "{engine}: the rule's users only");
        assert_eq!(members(&server, &id).await, from_scratch(&server, &id).await, "{engine}");
        let (status, _) =
            server.call(&admin, Method::POST, &format!("{path}/members/$ref"), Some(reference(&ann))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: dynamic again, so no members by hand");
    }
}

/// A small deterministic random source.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const DEPARTMENTS: &[&str] = &["Sales", "R&D", "Support", "Legal"];
const CITIES: &[&str] = &["Oslo", "Lagos", "Åre", "Zürich"];
const RULES: &[&str] = &[
    "user.department -eq \"Sales\"",
    "user.department -in [\"Support\", \"Legal\"] -and user.city -ne \"Oslo\"",
    "user.city -startsWith \"o\" -or user.jobTitle -contains \"lead\"",
    "-not (user.department -eq \"R&D\") -and user.accountEnabled -eq true",
    "user.jobTitle -match \"^(team|tech) lead$\"",
    "user.otherMails -any (_ -endsWith \"@partner.test\")",
    "user.extensionAttribute3 -eq \"blue\"",
    "user.objectId -ne null",
];

#[tokio::test]
async fn membership_always_equals_a_from_scratch_evaluation() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let mut dice = Dice(0xD1CE_5EED_0000_0042);
        let mut groups = Vec::new();
        for (i, rule) in RULES.iter().enumerate().take(4) {
            let (_, group) =
                server.call(&admin, Method::POST, "/v1.0/groups", Some(dynamic(&format!("Dyn {i}"), rule))).await;
            groups.push(group["id"].as_str().unwrap().to_owned());
        }
        let mut users: Vec<String> = Vec::new();
        let mut deleted: Vec<String> = Vec::new();
        for step in 0..120 {
            match dice.below(10) {
                0..=2 => {
                    let mut user = new_user(&format!("p{step}"));
                    user["department"] = json!(dice.pick(DEPARTMENTS));
                    user["city"] = json!(dice.pick(CITIES));
                    let (status, created) = server.call(&admin, Method::POST, "/v1.0/users", Some(user)).await;
                    assert_eq!(status, StatusCode::CREATED, "{created}");
                    users.push(created["id"].as_str().unwrap().to_owned());
                }
                3..=6 if !users.is_empty() => {
                    let user = &users[dice.below(users.len())];
                    let patch = match dice.below(6) {
                        0 => json!({"department": dice.pick(DEPARTMENTS)}),
                        1 => json!({"city": dice.pick(CITIES)}),
                        2 => json!({"jobTitle": dice.pick(&["Team lead", "tech lead", "Engineer", "Lead engineer"])}),
                        3 => json!({"accountEnabled": dice.below(2) == 0}),
                        4 => json!({"otherMails": [dice.pick(&["a@partner.test", "b@home.test"])]}),
                        _ => {
                            json!({"onPremisesExtensionAttributes": {"extensionAttribute3": dice.pick(&["blue", "red"])}})
                        }
                    };
                    let (status, body) =
                        server.call(&admin, Method::PATCH, &format!("/v1.0/users/{user}"), Some(patch)).await;
                    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
                }
                7 if !users.is_empty() => {
                    let user = users.swap_remove(dice.below(users.len()));
                    server.call(&admin, Method::DELETE, &format!("/v1.0/users/{user}"), None).await;
                    deleted.push(user);
                }
                8 if !deleted.is_empty() => {
                    let user = deleted.swap_remove(dice.below(deleted.len()));
                    server
                        .call(&admin, Method::POST, &format!("/v1.0/directory/deletedItems/{user}/restore"), None)
                        .await;
                    users.push(user);
                }
                _ => {
                    let group = &groups[dice.below(groups.len())];
                    let patch = json!({"membershipRule": dice.pick(RULES)});
                    let (status, body) =
                        server.call(&admin, Method::PATCH, &format!("/v1.0/groups/{group}"), Some(patch)).await;
                    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
                }
            }
            if step % 15 == 14 {
                settled(&server).await;
                for group in &groups {
                    assert_eq!(
                        members(&server, group).await,
                        from_scratch(&server, group).await,
                        "{engine}: step {step}"
                    );
                }
            }
        }
    }
}

/// A rule that reads `system.now` changes its members as time passes, with no change to the directory.
#[tokio::test]
async fn clock_rules_follow_the_clock() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let now = server.directory.now();
        let mut hires = Vec::new();
        for (alias, days) in [("early", -1), ("soon", 2), ("late", 30)] {
            let mut user = new_user(alias);
            user["employeeHireDate"] =
                json!((now + chrono::Duration::days(days)).format("%Y-%m-%dT%H:%M:%SZ").to_string());
            let (status, body) = server.call(&admin, Method::POST, "/v1.0/users", Some(user)).await;
            assert_eq!(status, StatusCode::CREATED, "{engine}: {body}");
            hires.push(body["id"].as_str().unwrap().to_owned());
        }
        let rule = "user.employeeHireDate -le system.now";
        let (_, group) = server.call(&admin, Method::POST, "/v1.0/groups", Some(dynamic("Hired", rule))).await;
        let id = group["id"].as_str().unwrap().to_owned();
        settled(&server).await;
        assert_eq!(members(&server, &id).await, BTreeSet::from([hires[0].clone()]), "{engine}: hired so far");

        // Three days on, with nothing written, the periodic round brings in the user hired since.
        server.clock.advance(chrono::Duration::days(3));
        let mut found = BTreeSet::new();
        for _ in 0..200 {
            found = members(&server, &id).await;
            if found.len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(found, BTreeSet::from([hires[0].clone(), hires[1].clone()]), "{engine}: hired by now");
        assert_eq!(found, from_scratch(&server, &id).await, "{engine}: as a from-scratch evaluation says");

        // A user change is evaluated at the current time too: the late hire's date moves to an hour ago (on
        // the same day, so the comparison is of times, not only of dates).
        let past = (server.directory.now() - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let path = format!("/v1.0/users/{}", hires[2]);
        let admin = server.admin_token().await;
        let (status, body) = server.call(&admin, Method::PATCH, &path, Some(json!({"employeeHireDate": past}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        settled(&server).await;
        assert_eq!(members(&server, &id).await.len(), 3, "{engine}: every user hired by now, an hour ago included");
    }
}

/// memberOf rules follow their source groups' direct members, within Entra's limits: no nesting, and at most
/// 500 such groups in a tenant.
#[tokio::test]
async fn member_of_rules_follow_their_sources_within_entras_limits() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let mut users = Vec::new();
        for alias in ["mo1", "mo2", "mo3"] {
            let (_, user) = server.call(&admin, Method::POST, "/v1.0/users", Some(new_user(alias))).await;
            users.push(user["id"].as_str().unwrap().to_owned());
        }
        let mut sources = Vec::new();
        for (name, member) in [("Source A", &users[0]), ("Source B", &users[1])] {
            let mut body = dynamic(name, "");
            body["groupTypes"] = json!([]);
            body.as_object_mut().unwrap().remove("membershipRule");
            body["members@odata.bind"] = json!([format!("https://graph.microsoft.com/v1.0/directoryObjects/{member}")]);
            let (status, group) = server.call(&admin, Method::POST, "/v1.0/groups", Some(body)).await;
            assert_eq!(status, StatusCode::CREATED, "{engine}: {group}");
            sources.push(group["id"].as_str().unwrap().to_owned());
        }
        let rule = format!("user.memberOf -any (group.objectId -in ['{}', '{}'])", sources[0], sources[1]);
        let (status, group) = server.call(&admin, Method::POST, "/v1.0/groups", Some(dynamic("Both", &rule))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {group}");
        let both = group["id"].as_str().unwrap().to_owned();
        settled(&server).await;
        assert_eq!(members(&server, &both).await, BTreeSet::from([users[0].clone(), users[1].clone()]), "{engine}");

        // The sources' membership changes reach the rule's group.
        let reference = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", users[2])});
        let path = format!("/v1.0/groups/{}/members/$ref", sources[0]);
        assert_eq!(server.call(&admin, Method::POST, &path, Some(reference)).await.0, StatusCode::NO_CONTENT);
        let path = format!("/v1.0/groups/{}/members/{}/$ref", sources[0], users[0]);
        assert_eq!(server.call(&admin, Method::DELETE, &path, None).await.0, StatusCode::NO_CONTENT);
        settled(&server).await;
        assert_eq!(members(&server, &both).await, BTreeSet::from([users[1].clone(), users[2].clone()]), "{engine}");

        // No nesting, either way round.
        let nested = format!("user.memberOf -any (group.objectId -in ['{both}'])");
        let (status, body) = server.call(&admin, Method::POST, "/v1.0/groups", Some(dynamic("Nested", &nested))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("memberOf rule"), "{engine}: {body}");
        let other = format!("user.memberOf -any (group.objectId -in ['{}'])", users[0]);
        let patch = json!({"groupTypes": ["DynamicMembership"], "membershipRule": other});
        let (status, body) =
            server.call(&admin, Method::PATCH, &format!("/v1.0/groups/{}", sources[1]), Some(patch)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: a named source cannot take a memberOf rule: {body}");

        // The 501st memberOf group of the tenant is refused; changing one of the 500 is not.
        let now = server.directory.now();
        let fillers: Vec<gatehouse_core::store::Write> = (1..500)
            .map(|n| {
                let doc = dynamic(&format!("Filler {n}"), &rule);
                gatehouse_core::store::Write::InsertObject(gatehouse_core::store::ObjectRecord {
                    id: uuid::Uuid::new_v4(),
                    kind: ObjectKind::Group,
                    version: 1,
                    unique_key: None,
                    manager: None,
                    doc: doc.as_object().unwrap().clone(),
                    created_at: now,
                    deleted_at: None,
                })
            })
            .collect();
        server.store.commit(server.tenant.tenant_id, fillers, now).await.unwrap();
        let (status, body) = server.call(&admin, Method::POST, "/v1.0/groups", Some(dynamic("One more", &rule))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("at most 500"), "{engine}: {body}");
        let patch = json!({"membershipRule": format!("user.memberOf -any (group.objectId -in ['{}'])", sources[0])});
        let (status, body) = server.call(&admin, Method::PATCH, &format!("/v1.0/groups/{both}"), Some(patch)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
    }
}
