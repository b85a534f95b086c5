//! Groups, members and owners, nesting, transitive reads, contacts, delete and restore — on every engine.

use crate::support::{new_user, servers, Server};
use gatehouse_core::store::{Change, ChangeKind, Relation, Store};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, HashSet};

fn group(name: &str, nickname: &str, kind: &str) -> Value {
    let (mail_enabled, security_enabled, types) = match kind {
        "security" => (false, true, json!([])),
        "mailSecurity" => (true, true, json!([])),
        "distribution" => (true, false, json!([])),
        _ => (true, false, json!(["Unified"])),
    };
    json!({
        "displayName": name,
        "mailNickname": nickname,
        "mailEnabled": mail_enabled,
        "securityEnabled": security_enabled,
        "groupTypes": types,
    })
}

async fn create(server: &Server, token: &str, path: &str, body: Value) -> String {
    let (status, created) = server.call(token, Method::POST, path, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{}: {created}", server.engine);
    created["id"].as_str().unwrap().to_owned()
}

fn reference(server: &Server, id: &str) -> Value {
    json!({"@odata.id": format!("{}/v1.0/directoryObjects/{id}", server.base)})
}

async fn add(server: &Server, token: &str, group: &str, relation: &str, member: &str) -> (StatusCode, Value) {
    let path = format!("/v1.0/groups/{group}/{relation}/$ref");
    server.call(token, Method::POST, &path, Some(reference(server, member))).await
}

/// Every id in a relationship, following next links.
async fn ids(server: &Server, token: &str, path: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut next = Some(server.url(path));
    while let Some(url) = next {
        let path = url.strip_prefix(&server.base).unwrap().to_owned();
        let (status, page) = server.call(token, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        for item in page["value"].as_array().unwrap() {
            assert!(out.insert(item["id"].as_str().unwrap().to_owned()), "{path}: {item} listed twice");
        }
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    out
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn groups_members_owners_and_restores() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let mut users = Vec::new();
        for alias in ["gina", "hal", "ivy"] {
            users.push(create(&server, &admin, "/v1.0/users", new_user(alias)).await);
        }
        let (gina, hal, ivy) = (users[0].clone(), users[1].clone(), users[2].clone());
        let contact =
            create(&server, &admin, "/v1.0/contacts", json!({"displayName": "Pat Vendor", "mail": "pat@vendor.test"}))
                .await;

        let (status, team) =
            server.call(&admin, Method::POST, "/v1.0/groups", Some(group("Team Rocket", "rocket", "unified"))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {team}");
        assert_eq!(team["mail"], "rocket@contoso.gatehouse.test");
        assert_eq!(team["proxyAddresses"], json!(["SMTP:rocket@contoso.gatehouse.test"]));
        assert_eq!(team["visibility"], "Public");
        assert_eq!(team["groupTypes"], json!(["Unified"]));
        assert!(team["securityIdentifier"].as_str().unwrap().starts_with("S-1-12-1-"));
        let team = team["id"].as_str().unwrap().to_owned();
        let (status, dup) =
            server.call(&admin, Method::POST, "/v1.0/groups", Some(group("Other", "Rocket", "unified"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            dup["error"]["message"],
            "Another object with the same value for property mailNickname already exists."
        );

        let staff = create(&server, &admin, "/v1.0/groups", group("Staff", "staff", "security")).await;
        let (_, read) = server.call(&admin, Method::GET, &format!("/v1.0/groups/{staff}"), None).await;
        assert_eq!(read["mail"], Value::Null, "{engine}: a security group has no mail");
        assert_eq!(read["visibility"], Value::Null);
        assert_eq!(read["securityEnabled"], true);
        let mail_security = create(&server, &admin, "/v1.0/groups", group("Ops", "ops", "mailSecurity")).await;
        let list = create(&server, &admin, "/v1.0/groups", group("Newsletter", "news", "distribution")).await;

        // Members of every kind, then the rules a member add must keep.
        assert_eq!(add(&server, &admin, &staff, "members", &gina).await.0, StatusCode::NO_CONTENT);
        assert_eq!(add(&server, &admin, &staff, "members", &contact).await.0, StatusCode::NO_CONTENT);
        assert_eq!(add(&server, &admin, &staff, "members", &mail_security).await.0, StatusCode::NO_CONTENT);
        assert_eq!(add(&server, &admin, &mail_security, "members", &hal).await.0, StatusCode::NO_CONTENT);
        let (status, body) = add(&server, &admin, &staff, "members", &gina).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["error"]["message"],
            "One or more added object references already exist for the following modified properties: 'members'."
        );
        let (status, body) = add(&server, &admin, &team, "members", &staff).await;
        assert_eq!((status, body["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!("Request_BadRequest")));
        assert!(body["error"]["message"].as_str().unwrap().starts_with("Unified Groups cannot be added"));
        let (status, _) = add(&server, &admin, &mail_security, "members", &staff).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: a cycle through nesting");
        let (status, _) = add(&server, &admin, &staff, "members", &staff).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: a group in itself");
        let missing = uuid::Uuid::new_v4().to_string();
        let (status, body) = add(&server, &admin, &staff, "members", &missing).await;
        assert_eq!((status, body["error"]["code"].clone()), (StatusCode::NOT_FOUND, json!("Request_ResourceNotFound")));

        let (_, members) = server.call(&admin, Method::GET, &format!("/v1.0/groups/{staff}/members"), None).await;
        let types: BTreeSet<&str> =
            members["value"].as_array().unwrap().iter().map(|m| m["@odata.type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            ["#microsoft.graph.group", "#microsoft.graph.orgContact", "#microsoft.graph.user"].into_iter().collect()
        );
        assert!(members["@odata.context"].as_str().unwrap().ends_with("$metadata#directoryObjects"));
        let users_only = ids(&server, &admin, &format!("/v1.0/groups/{staff}/members/microsoft.graph.user")).await;
        assert_eq!(users_only, set(&[&gina]));
        assert_eq!(
            ids(&server, &admin, &format!("/v1.0/groups/{staff}/transitiveMembers")).await,
            set(&[&gina, &contact, &mail_security, &hal])
        );
        assert_eq!(
            ids(&server, &admin, &format!("/v1.0/users/{hal}/transitiveMemberOf")).await,
            set(&[&mail_security, &staff])
        );
        assert_eq!(ids(&server, &admin, &format!("/v1.0/users/{hal}/memberOf")).await, set(&[&mail_security]));
        assert_eq!(ids(&server, &admin, &format!("/v1.0/contacts/{contact}/memberOf")).await, set(&[&staff]));
        let (status, count) =
            server.call(&admin, Method::GET, &format!("/v1.0/groups/{staff}/members/$count"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: $count needs ConsistencyLevel: {count}");
        let (_, count) = server
            .advanced(&admin, &format!("/v1.0/groups/{staff}/transitiveMembers/microsoft.graph.user/$count"))
            .await;
        assert_eq!(count, 2);
        let (_, filtered) = server
            .advanced(
                &admin,
                &format!("/v1.0/groups/{staff}/members?$count=true&$filter=startswith(displayName,'User')"),
            )
            .await;
        assert_eq!(filtered["@odata.count"], 1, "{engine}: {filtered}");
        let (status, _) = server
            .call(
                &admin,
                Method::GET,
                &format!("/v1.0/groups/{staff}/members?$filter=startswith(displayName,'U')"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: filtering a relationship is an advanced query");

        // The member functions, transitive like Graph's.
        let path = format!("/v1.0/users/{hal}/checkMemberGroups");
        let (status, checked) =
            server.call(&admin, Method::POST, &path, Some(json!({"groupIds": [staff, team, missing]}))).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {checked}");
        assert_eq!(checked["value"], json!([staff]));
        let too_many: Vec<String> = (0..21).map(|_| uuid::Uuid::new_v4().to_string()).collect();
        let (status, _) = server.call(&admin, Method::POST, &path, Some(json!({"groupIds": too_many}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let path = format!("/v1.0/users/{hal}/getMemberGroups");
        let (_, all) = server.call(&admin, Method::POST, &path, Some(json!({"securityEnabledOnly": false}))).await;
        let all: BTreeSet<String> =
            all["value"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().into()).collect();
        assert_eq!(all, set(&[&staff, &mail_security]));
        let path = format!("/v1.0/groups/{mail_security}/getMemberObjects");
        let (_, objects) = server.call(&admin, Method::POST, &path, Some(json!({"securityEnabledOnly": true}))).await;
        assert_eq!(objects["value"], json!([staff]));

        // Owners: users and service principals; the last one stays.
        assert_eq!(add(&server, &admin, &team, "owners", &ivy).await.0, StatusCode::NO_CONTENT);
        let (status, _) = add(&server, &admin, &team, "owners", &contact).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{engine}: a contact cannot own a group");
        let (status, body) =
            server.call(&admin, Method::DELETE, &format!("/v1.0/groups/{team}/owners/{ivy}/$ref"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {body}");
        assert_eq!(ids(&server, &admin, &format!("/v1.0/users/{ivy}/ownedObjects")).await, set(&[&team]));

        // Binds: all or nothing, at most 20.
        let bind = |ids: &[&str]| -> Vec<String> {
            ids.iter().map(|id| format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")).collect()
        };
        let patch = json!({"description": "everyone", "members@odata.bind": bind(&[&hal, &missing])});
        let (status, _) = server.call(&admin, Method::PATCH, &format!("/v1.0/groups/{list}"), Some(patch)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, unchanged) = server.call(&admin, Method::GET, &format!("/v1.0/groups/{list}"), None).await;
        assert_eq!(unchanged["description"], Value::Null, "{engine}: nothing of a failed patch is applied");
        assert!(ids(&server, &admin, &format!("/v1.0/groups/{list}/members")).await.is_empty());
        let patch = json!({"description": "everyone", "members@odata.bind": bind(&[&hal, &ivy]), "owners@odata.bind": bind(&[&gina])});
        let (status, body) = server.call(&admin, Method::PATCH, &format!("/v1.0/groups/{list}"), Some(patch)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
        assert_eq!(ids(&server, &admin, &format!("/v1.0/groups/{list}/members")).await, set(&[&hal, &ivy]));
        assert_eq!(ids(&server, &admin, &format!("/v1.0/groups/{list}/owners")).await, set(&[&gina]));
        let crowd: Vec<String> = (0..21).map(|_| uuid::Uuid::new_v4().to_string()).collect();
        let crowd: Vec<&str> = crowd.iter().map(String::as_str).collect();
        let mut body = group("Crowd", "crowd", "security");
        body["members@odata.bind"] = json!(bind(&crowd));
        let (status, refused) = server.call(&admin, Method::POST, "/v1.0/groups", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(refused["error"]["message"], "A resource cannot contain more than 20 link changes");
        let mut body = group("Founders", "founders", "security");
        body["members@odata.bind"] = json!(bind(&[&gina, &hal]));
        body["owners@odata.bind"] = json!(bind(&[&ivy]));
        let founders = create(&server, &admin, "/v1.0/groups", body).await;
        assert_eq!(ids(&server, &admin, &format!("/v1.0/groups/{founders}/members")).await, set(&[&gina, &hal]));

        // $expand=memberOf on users.
        let (_, expanded) =
            server.call(&admin, Method::GET, &format!("/v1.0/users/{hal}?$expand=memberOf"), None).await;
        let expanded: BTreeSet<String> =
            expanded["memberOf"].as_array().unwrap().iter().map(|g| g["id"].as_str().unwrap().into()).collect();
        assert_eq!(expanded, set(&[&mail_security, &list, &founders]));

        // Removing a member; deleting and restoring users and groups with their memberships.
        let (status, _) =
            server.call(&admin, Method::DELETE, &format!("/v1.0/groups/{staff}/members/{contact}/$ref"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) =
            server.call(&admin, Method::DELETE, &format!("/v1.0/groups/{staff}/members/{contact}/$ref"), None).await;
        assert_eq!((status, body["error"]["code"].clone()), (StatusCode::NOT_FOUND, json!("Request_ResourceNotFound")));
        let before = server.store.changes(server.tenant.tenant_id, 0, 1_000_000).await.unwrap().len();
        assert_eq!(
            server.call(&admin, Method::DELETE, &format!("/v1.0/users/{hal}"), None).await.0,
            StatusCode::NO_CONTENT
        );
        let changes = server.store.changes(server.tenant.tenant_id, before as i64, 1_000).await.unwrap();
        let suspended: BTreeSet<String> = changes
            .iter()
            .filter_map(|c| match c.change {
                Change::Link { relation: Relation::Member, group, member, kind: ChangeKind::Deleted, .. } => {
                    Some(format!("{group}/{member}"))
                }
                _ => None,
            })
            .collect();
        let expected: BTreeSet<String> =
            [&mail_security, &list, &founders].iter().map(|g| format!("{g}/{hal}")).collect();
        assert_eq!(suspended, expected, "{engine}: the change log records every membership the delete suspends");
        assert!(ids(&server, &admin, &format!("/v1.0/groups/{list}/members")).await == set(&[&ivy]));
        assert_eq!(
            ids(&server, &admin, &format!("/v1.0/groups/{staff}/transitiveMembers")).await,
            set(&[&gina, &mail_security])
        );
        let path = format!("/v1.0/directory/deletedItems/{hal}/restore");
        assert_eq!(server.call(&admin, Method::POST, &path, None).await.0, StatusCode::OK);
        assert_eq!(
            ids(&server, &admin, &format!("/v1.0/users/{hal}/memberOf")).await,
            set(&[&mail_security, &list, &founders])
        );

        assert_eq!(
            server.call(&admin, Method::DELETE, &format!("/v1.0/groups/{mail_security}"), None).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(ids(&server, &admin, &format!("/v1.0/groups/{staff}/members")).await, set(&[&gina]));
        assert_eq!(
            ids(&server, &admin, &format!("/v1.0/users/{hal}/transitiveMemberOf")).await,
            set(&[&list, &founders])
        );
        let deleted = ids(&server, &admin, "/v1.0/directory/deletedItems/microsoft.graph.group").await;
        assert_eq!(deleted, set(&[&mail_security]));
        let path = format!("/v1.0/directory/deletedItems/{mail_security}/restore");
        let (status, restored) = server.call(&admin, Method::POST, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {restored}");
        assert_eq!(restored["@odata.type"], "#microsoft.graph.group");
        assert_eq!(
            ids(&server, &admin, &format!("/v1.0/groups/{staff}/transitiveMembers")).await,
            set(&[&gina, &mail_security, &hal]),
            "{engine}: the group comes back into its parents and with its members"
        );

        // Listing and filtering groups.
        let response = server
            .http
            .get(server.url("/v1.0/groups?$filter=groupTypes/any(c:c eq 'Unified')&$select=id,displayName"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        let unified: Value = response.json().await.unwrap();
        let names: Vec<&str> =
            unified["value"].as_array().unwrap().iter().map(|g| g["displayName"].as_str().unwrap()).collect();
        assert_eq!(names, ["Team Rocket"], "{engine}: {unified}");
        let (_, mail_enabled) = server
            .call(&admin, Method::GET, "/v1.0/groups?$filter=mailEnabled eq true&$orderby=displayName", None)
            .await;
        assert_eq!(mail_enabled["error"]["code"], "Request_UnsupportedQuery", "{engine}: $orderby with $filter");
        let (_, by_name) =
            server.call(&admin, Method::GET, "/v1.0/groups?$orderby=displayName desc&$top=2", None).await;
        let names: Vec<&str> =
            by_name["value"].as_array().unwrap().iter().map(|g| g["displayName"].as_str().unwrap()).collect();
        assert_eq!(names, ["Team Rocket", "Staff"]);
        assert!(by_name["@odata.nextLink"].is_string());
        let (_, starts) =
            server.call(&admin, Method::GET, "/v1.0/groups?$filter=startswith(mailNickname,'new')", None).await;
        assert_eq!(starts["value"][0]["id"], list.as_str());
    }
}

#[tokio::test]
async fn group_permissions_are_enforced() {
    let server = crate::support::sqlite_server().await;
    let admin = server.admin_token().await;
    let user = create(&server, &admin, "/v1.0/users", new_user("kit")).await;
    let staff = create(&server, &admin, "/v1.0/groups", group("Staff", "staff", "security")).await;
    let (members_writer, _) = server.app_with(&admin, &["GroupMember.ReadWrite.All"]).await;
    let (group_reader, _) = server.app_with(&admin, &["Group.Read.All"]).await;
    let (contact_reader, _) = server.app_with(&admin, &["OrgContact.Read.All"]).await;

    assert_eq!(add(&server, &members_writer, &staff, "members", &user).await.0, StatusCode::NO_CONTENT);
    let (status, _) =
        server.call(&members_writer, Method::POST, "/v1.0/groups", Some(group("X", "x", "security"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "GroupMember.ReadWrite.All does not create groups");
    assert_eq!(server.call(&group_reader, Method::GET, "/v1.0/groups", None).await.0, StatusCode::OK);
    let (status, _) = server.call(&group_reader, Method::GET, &format!("/v1.0/groups/{staff}/members"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = add(&server, &group_reader, &staff, "owners", &user).await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("Authorization_RequestDenied")));
    assert_eq!(server.call(&contact_reader, Method::GET, "/v1.0/contacts", None).await.0, StatusCode::OK);
    assert_eq!(server.call(&contact_reader, Method::GET, "/v1.0/groups", None).await.0, StatusCode::FORBIDDEN);
    let (status, _) =
        server.call(&contact_reader, Method::POST, "/v1.0/contacts", Some(json!({"displayName": "Z"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let mut admins = group("Helpdesk admins", "helpdesk", "security");
    admins["isAssignableToRole"] = json!(true);
    let (status, assignable) = server.call(&admin, Method::POST, "/v1.0/groups", Some(admins)).await;
    assert_eq!(status, StatusCode::CREATED, "{assignable}");
    assert_eq!(assignable["visibility"], "Private");
    let assignable = assignable["id"].as_str().unwrap().to_owned();
    let (status, _) = add(&server, &members_writer, &assignable, "members", &user).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "role-assignable groups need RoleManagement.ReadWrite.Directory");
    let (status, body) = add(&server, &admin, &assignable, "members", &staff).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let patch = json!({"isAssignableToRole": false});
    let (status, _) = server.call(&admin, Method::PATCH, &format!("/v1.0/groups/{assignable}"), Some(patch)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "isAssignableToRole is set on create only");
}

#[tokio::test]
async fn contacts_are_directory_objects() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let body = json!({
            "displayName": "Rae Supplier",
            "givenName": "Rae",
            "mail": "rae@supplier.test",
            "companyName": "Supplier Ltd",
            "addresses": [{"city": "Leeds", "countryOrRegion": "GB"}],
            "phones": [{"type": "business", "number": "+44 113 000"}],
        });
        let (status, contact) = server.call(&admin, Method::POST, "/v1.0/contacts", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {contact}");
        assert_eq!(contact["mailNickname"], "rae");
        assert_eq!(contact["proxyAddresses"], json!(["SMTP:rae@supplier.test"]));
        assert_eq!(contact["phones"].as_array().unwrap().len(), 3, "{engine}: every phone type is listed");
        let id = contact["id"].as_str().unwrap().to_owned();
        let patch = json!({"jobTitle": "Buyer", "phones": [{"type": "pager", "number": "1"}]});
        let (status, _) = server.call(&admin, Method::PATCH, &format!("/v1.0/contacts/{id}"), Some(patch)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: pager is not a contact phone type");
        let (status, _) = server
            .call(&admin, Method::PATCH, &format!("/v1.0/contacts/{id}"), Some(json!({"jobTitle": "Buyer"})))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, found) = server.call(&admin, Method::GET, "/v1.0/contacts?$filter=jobTitle eq 'buyer'", None).await;
        assert_eq!(found["value"][0]["id"], id.as_str(), "{engine}: {found}");
        assert_eq!(found["value"][0]["addresses"][0]["city"], "Leeds");
        let (status, _) = server.call(&admin, Method::POST, "/v1.0/contacts", Some(json!({"mail": "x@y.test"}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: displayName is required");
        assert_eq!(
            server.call(&admin, Method::DELETE, &format!("/v1.0/contacts/{id}"), None).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            server.call(&admin, Method::GET, &format!("/v1.0/contacts/{id}"), None).await.0,
            StatusCode::NOT_FOUND
        );
    }
}

/// A deterministic pseudo-random sequence for generated graphs.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The containment edges added so far, as the test expects the server to hold them.
#[derive(Default)]
struct Dag {
    parents: HashMap<String, Vec<String>>,
    edges: HashSet<(String, String)>,
}

impl Dag {
    fn link(&mut self, parent: &str, child: &str) -> bool {
        let fresh = self.edges.insert((parent.to_owned(), child.to_owned()));
        if fresh {
            self.parents.entry(child.to_owned()).or_default().push(parent.to_owned());
        }
        fresh
    }
}

/// Every group a member reaches by following `contains` edges upward, computed here independently.
fn ancestors(parents: &HashMap<String, Vec<String>>, start: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![start.to_owned()];
    while let Some(node) = stack.pop() {
        for parent in parents.get(&node).into_iter().flatten() {
            if seen.insert(parent.clone()) {
                stack.push(parent.clone());
            }
        }
    }
    seen
}

#[tokio::test]
async fn nesting_on_a_random_dag_matches_an_independent_computation() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let mut rng = Rng(0x5EED_CAFE_F00D_BEEF);
        // Groups in layers: a chain through all 12 layers guarantees depth ≥ 10, extra edges go downward only.
        let layers = 12;
        let mut groups: Vec<(usize, String)> = Vec::new();
        for layer in 0..layers {
            for i in 0..3 {
                let nickname = format!("g{layer}x{i}");
                let id = create(&server, &admin, "/v1.0/groups", group(&nickname, &nickname, "security")).await;
                groups.push((layer, id));
            }
        }
        let mut users = Vec::new();
        for i in 0..8 {
            users.push(create(&server, &admin, "/v1.0/users", new_user(&format!("dag{i}"))).await);
        }
        let mut graph = Dag::default();
        for layer in 1..layers {
            let (parent, child) = (&groups[(layer - 1) * 3].1, &groups[layer * 3].1);
            if graph.link(parent, child) {
                assert_eq!(add(&server, &admin, parent, "members", child).await.0, StatusCode::NO_CONTENT);
            }
        }
        for _ in 0..40 {
            let (a, b) = (rng.below(groups.len()), rng.below(groups.len()));
            let ((la, pa), (lb, pb)) = (&groups[a], &groups[b]);
            if la < lb && graph.link(pa, pb) {
                assert_eq!(add(&server, &admin, pa, "members", pb).await.0, StatusCode::NO_CONTENT, "{engine}");
            }
        }
        for user in &users {
            for _ in 0..2 {
                let g = &groups[rng.below(groups.len())].1;
                if graph.link(g, user) {
                    assert_eq!(add(&server, &admin, g, "members", user).await.0, StatusCode::NO_CONTENT);
                }
            }
        }
        // Upward edges close a cycle exactly when the parent is already below the child.
        for _ in 0..25 {
            let (a, b) = (rng.below(groups.len()), rng.below(groups.len()));
            let (parent, child) = (&groups[a].1, &groups[b].1);
            if graph.edges.contains(&(parent.clone(), child.clone())) {
                continue;
            }
            let cycle = parent == child || ancestors(&graph.parents, parent).contains(child);
            let (status, body) = add(&server, &admin, parent, "members", child).await;
            if cycle {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {body}");
            } else {
                assert_eq!(status, StatusCode::NO_CONTENT, "{engine}: {body}");
                graph.link(parent, child);
            }
        }
        let depth_chain = ancestors(&graph.parents, &groups[(layers - 1) * 3].1);
        assert!(depth_chain.len() >= 10, "{engine}: the generated graph nests at least 10 deep");
        for member in groups.iter().map(|(_, g)| g).chain(users.iter()) {
            let expected = ancestors(&graph.parents, member);
            let set_name = if users.contains(member) { "users" } else { "groups" };
            let got = ids(&server, &admin, &format!("/v1.0/{set_name}/{member}/transitiveMemberOf")).await;
            assert_eq!(got, expected, "{engine}: transitiveMemberOf of {member}");
        }
        for (_, g) in &groups {
            let expected: BTreeSet<String> = groups
                .iter()
                .map(|(_, x)| x)
                .chain(users.iter())
                .filter(|x| ancestors(&graph.parents, x).contains(g))
                .cloned()
                .collect();
            let got = ids(&server, &admin, &format!("/v1.0/groups/{g}/transitiveMembers?$top=7")).await;
            assert_eq!(got, expected, "{engine}: transitiveMembers of {g}");
            let direct: BTreeSet<String> =
                graph.edges.iter().filter(|(parent, _)| parent == g).map(|(_, child)| child.clone()).collect();
            let got = ids(&server, &admin, &format!("/v1.0/groups/{g}/members?$top=2")).await;
            assert_eq!(got, direct, "{engine}: members of {g}, two to a page");
            let (_, count) = server.advanced(&admin, &format!("/v1.0/groups/{g}/members/$count")).await;
            assert_eq!(count, direct.len(), "{engine}: members/$count of {g}");
            let (_, count) =
                server.advanced(&admin, &format!("/v1.0/groups/{g}/members/microsoft.graph.user/$count")).await;
            assert_eq!(count, direct.iter().filter(|x| users.contains(x)).count(), "{engine}: user members of {g}");
        }
        for member in groups.iter().map(|(_, g)| g).chain(users.iter()) {
            let direct: BTreeSet<String> =
                graph.edges.iter().filter(|(_, child)| child == member).map(|(parent, _)| parent.clone()).collect();
            let set_name = if users.contains(member) { "users" } else { "groups" };
            let got = ids(&server, &admin, &format!("/v1.0/{set_name}/{member}/memberOf?$top=1")).await;
            assert_eq!(got, direct, "{engine}: memberOf of {member}, one to a page");
        }
    }
}
