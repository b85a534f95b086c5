//! Conditional Access: the policy table, each case judged twice — by Graph's What If API and by a real
//! sign-in (the password grant, or the pages in a browser's shoes) from a loopback address of its own with
//! its own User-Agent — and both must agree with the expectation written here.

use crate::password_pages::Browser;
use crate::sign_in::PASSWORD;
use crate::support::{new_user, servers, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;

const POLICIES: &str = "/v1.0/identity/conditionalAccess/policies";
const LOCATIONS: &str = "/v1.0/identity/conditionalAccess/namedLocations";
const GRAPH: &str = "00000003-0000-0000-c000-000000000000";
const HELPDESK: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";
const WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36";
const MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Safari/605.1.15";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";
const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36";
const LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36";
const NO_AGENT: &str = "";

/// Where a case's sign-in goes through.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Door {
    /// The password grant: a mobile or desktop client.
    Ropc,
    /// The authorize pages: a browser.
    Pages,
}

/// One case: the policies (with `{name}` placeholders for the tenant's ids), who signs in where from, and
/// whether each policy applies.
struct Case {
    name: &'static str,
    policies: Vec<Value>,
    who: &'static str,
    client: &'static str,
    door: Door,
    ip: u8,
    agent: &'static str,
    applies: Vec<bool>,
}

/// A policy: its users and applications conditions, other conditions, grant controls and state.
fn policy(users: Value, apps: Value, more: Value, grant: Value, state: &str) -> Value {
    let mut conditions = json!({"users": users, "applications": apps});
    for (k, v) in more.as_object().cloned().unwrap_or_default() {
        conditions[k] = v;
    }
    json!({"displayName": "case policy", "state": state, "conditions": conditions, "grantControls": grant})
}

/// A policy on every user and application, with no other condition.
fn for_everyone(grant: Value, state: &str) -> Value {
    policy(all_users(), all_apps(), json!({}), grant, state)
}

fn block() -> Value {
    json!({"operator": "OR", "builtInControls": ["block"]})
}

fn mfa() -> Value {
    json!({"operator": "OR", "builtInControls": ["mfa"]})
}

fn all_users() -> Value {
    json!({"includeUsers": ["All"]})
}

fn all_apps() -> Value {
    json!({"includeApplications": ["All"]})
}

/// A blocking policy on users, with every application.
fn users_case(name: &'static str, users: Value, who: &'static str, applies: bool) -> Case {
    Case {
        name,
        policies: vec![policy(users, all_apps(), json!({}), block(), "enabled")],
        who,
        client: "a",
        door: Door::Ropc,
        ip: 1,
        agent: NO_AGENT,
        applies: vec![applies],
    }
}

/// A blocking policy for everyone with one more condition, signed in to by ann through `door`.
fn condition_case(name: &'static str, more: Value, door: Door, ip: u8, agent: &'static str, applies: bool) -> Case {
    Case {
        name,
        policies: vec![policy(all_users(), all_apps(), more, block(), "enabled")],
        who: "ann",
        client: "a",
        door,
        ip,
        agent,
        applies: vec![applies],
    }
}

fn apps_case(name: &'static str, apps: Value, client: &'static str, door: Door, applies: bool) -> Case {
    Case {
        name,
        policies: vec![policy(all_users(), apps, json!({}), block(), "enabled")],
        who: "ann",
        client,
        door,
        ip: 1,
        agent: NO_AGENT,
        applies: vec![applies],
    }
}

/// Policies judged for `who` signing in to client a with the password grant, from 127.0.0.1, no User-Agent.
fn ropc(name: &'static str, policies: Vec<Value>, who: &'static str, applies: Vec<bool>) -> Case {
    Case { name, policies, who, client: "a", door: Door::Ropc, ip: 1, agent: NO_AGENT, applies }
}

fn cases() -> Vec<Case> {
    use Door::*;
    let guests = |types: &str| json!({"guestOrExternalUserTypes": types, "externalTenants": {"@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants", "membershipKind": "all"}});
    let platforms = |include: Value, exclude: Value| json!({"platforms": {"includePlatforms": include, "excludePlatforms": exclude}});
    let locations = |include: Value, exclude: Value| json!({"locations": {"includeLocations": include, "excludeLocations": exclude}});
    let clients = |types: Value| json!({"clientAppTypes": types});
    let combined = || {
        let more = json!({
            "platforms": {"includePlatforms": ["windows"]},
            "locations": {"includeLocations": ["{office}"]},
        });
        policy(all_users(), json!({"includeApplications": ["{a}"]}), more, block(), "enabled")
    };
    let cases = vec![
        users_case("everyone", all_users(), "ann", true),
        users_case("nobody", json!({"includeUsers": ["None"]}), "ann", false),
        users_case("another user", json!({"includeUsers": ["{bob}"]}), "ann", false),
        users_case("the user", json!({"includeUsers": ["{bob}"]}), "bob", true),
        users_case("everyone but the user", json!({"includeUsers": ["All"], "excludeUsers": ["{ann}"]}), "ann", false),
        users_case("everyone but another", json!({"includeUsers": ["All"], "excludeUsers": ["{ann}"]}), "bob", true),
        users_case("the user's group", json!({"includeGroups": ["{sales}"]}), "bob", true),
        users_case("a group the user is not in", json!({"includeGroups": ["{sales}"]}), "ann", false),
        users_case(
            "everyone but a group",
            json!({"includeUsers": ["All"], "excludeGroups": ["{sales}"]}),
            "bob",
            false,
        ),
        users_case("a group holding the user's group", json!({"includeGroups": ["{region}"]}), "bob", true),
        users_case("the user's role", json!({"includeRoles": [HELPDESK]}), "dan", true),
        users_case("a role the user lacks", json!({"includeRoles": [HELPDESK]}), "ann", false),
        users_case("everyone but a role", json!({"includeUsers": ["All"], "excludeRoles": [HELPDESK]}), "dan", false),
        users_case("guests, a guest", json!({"includeUsers": ["GuestsOrExternalUsers"]}), "cat", true),
        users_case("guests, a member", json!({"includeUsers": ["GuestsOrExternalUsers"]}), "ann", false),
        users_case(
            "everyone but guests, a guest",
            json!({"includeUsers": ["All"], "excludeUsers": ["GuestsOrExternalUsers"]}),
            "cat",
            false,
        ),
        users_case(
            "everyone but guests, a member",
            json!({"includeUsers": ["All"], "excludeUsers": ["GuestsOrExternalUsers"]}),
            "ann",
            true,
        ),
        users_case(
            "B2B collaboration guests",
            json!({"includeGuestsOrExternalUsers": guests("b2bCollaborationGuest")}),
            "cat",
            true,
        ),
        users_case(
            "direct-connect users only",
            json!({"includeGuestsOrExternalUsers": guests("b2bDirectConnectUser")}),
            "cat",
            false,
        ),
        users_case(
            "a group, less one of its members",
            json!({"includeGroups": ["{sales}"], "excludeUsers": ["{bob}"]}),
            "bob",
            false,
        ),
        users_case("a role or a user", json!({"includeRoles": [HELPDESK], "includeUsers": ["{ann}"]}), "ann", true),
        apps_case("the client", json!({"includeApplications": ["{a}"]}), "a", Ropc, true),
        apps_case("another client", json!({"includeApplications": ["{b}"]}), "a", Ropc, false),
        apps_case(
            "all but the client",
            json!({"includeApplications": ["All"], "excludeApplications": ["{a}"]}),
            "a",
            Ropc,
            false,
        ),
        apps_case("the resource", json!({"includeApplications": [GRAPH]}), "a", Ropc, true),
        apps_case(
            "all but the resource",
            json!({"includeApplications": ["All"], "excludeApplications": [GRAPH]}),
            "a",
            Ropc,
            false,
        ),
        apps_case("no application", json!({"includeApplications": ["None"]}), "a", Ropc, false),
        apps_case("a user action", json!({"includeUserActions": ["urn:user:registersecurityinfo"]}), "a", Ropc, false),
        apps_case("the client, at the pages", json!({"includeApplications": ["{a}"]}), "a", Pages, true),
        apps_case("another client, at the pages", json!({"includeApplications": ["{b}"]}), "a", Pages, false),
        apps_case("the second client", json!({"includeApplications": ["{b}"]}), "b", Ropc, true),
        condition_case("browsers, the password grant", clients(json!(["browser"])), Ropc, 1, NO_AGENT, false),
        condition_case(
            "desktop clients, the password grant",
            clients(json!(["mobileAppsAndDesktopClients"])),
            Ropc,
            1,
            NO_AGENT,
            true,
        ),
        condition_case("browsers, the pages", clients(json!(["browser"])), Pages, 1, WINDOWS, true),
        condition_case(
            "desktop clients, the pages",
            clients(json!(["mobileAppsAndDesktopClients"])),
            Pages,
            1,
            WINDOWS,
            false,
        ),
        condition_case("all client apps, the pages", clients(json!(["all"])), Pages, 1, MAC, true),
        condition_case(
            "legacy clients only",
            clients(json!(["exchangeActiveSync", "other"])),
            Ropc,
            1,
            NO_AGENT,
            false,
        ),
        condition_case("Windows, from Windows", platforms(json!(["windows"]), json!([])), Ropc, 1, WINDOWS, true),
        condition_case("Windows, from a Mac", platforms(json!(["windows"]), json!([])), Ropc, 1, MAC, false),
        condition_case(
            "all but iOS, from an iPhone",
            platforms(json!(["all"]), json!(["iOS"])),
            Ropc,
            1,
            IPHONE,
            false,
        ),
        condition_case("all but iOS, from Android", platforms(json!(["all"]), json!(["iOS"])), Ropc, 1, ANDROID, true),
        condition_case("Android, unknown platform", platforms(json!(["android"]), json!([])), Ropc, 1, NO_AGENT, false),
        condition_case(
            "all platforms, unknown platform",
            platforms(json!(["all"]), json!([])),
            Ropc,
            1,
            NO_AGENT,
            true,
        ),
        condition_case("Linux, from Linux", platforms(json!(["linux"]), json!([])), Ropc, 1, LINUX, true),
        condition_case("macOS, at the pages from a Mac", platforms(json!(["macOS"]), json!([])), Pages, 1, MAC, true),
        condition_case("any location", locations(json!(["All"]), json!([])), Ropc, 1, NO_AGENT, true),
        condition_case("the office, from it", locations(json!(["{office}"]), json!([])), Ropc, 2, NO_AGENT, true),
        condition_case(
            "the office, from elsewhere",
            locations(json!(["{office}"]), json!([])),
            Ropc,
            1,
            NO_AGENT,
            false,
        ),
        condition_case(
            "untrusted places, from the office",
            locations(json!(["All"]), json!(["AllTrusted"])),
            Ropc,
            2,
            NO_AGENT,
            false,
        ),
        condition_case(
            "untrusted places, from the lab",
            locations(json!(["All"]), json!(["AllTrusted"])),
            Ropc,
            3,
            NO_AGENT,
            true,
        ),
        condition_case(
            "trusted places, from the lab",
            locations(json!(["AllTrusted"]), json!([])),
            Ropc,
            3,
            NO_AGENT,
            false,
        ),
        condition_case("the lab, from it", locations(json!(["{lab}"]), json!([])), Ropc, 3, NO_AGENT, true),
        condition_case("unknown countries", locations(json!(["{unknown}"]), json!([])), Ropc, 1, NO_AGENT, true),
        condition_case("all but a known country", locations(json!(["All"]), json!(["{nl}"])), Ropc, 1, NO_AGENT, true),
        condition_case(
            "the office, at the pages from it",
            locations(json!(["{office}"]), json!([])),
            Pages,
            2,
            LINUX,
            true,
        ),
        ropc("a disabled policy", vec![for_everyone(block(), "disabled")], "ann", vec![false]),
        ropc(
            "a report-only block",
            vec![for_everyone(block(), "enabledForReportingButNotEnforced")],
            "ann",
            vec![true],
        ),
        Case {
            door: Pages,
            agent: WINDOWS,
            ..ropc(
                "a report-only second factor",
                vec![for_everyone(mfa(), "enabledForReportingButNotEnforced")],
                "ann",
                vec![true],
            )
        },
        ropc("a second factor, the password grant", vec![for_everyone(mfa(), "enabled")], "ann", vec![true]),
        Case {
            door: Pages,
            agent: WINDOWS,
            ..ropc("a second factor, the pages", vec![for_everyone(mfa(), "enabled")], "ann", vec![true])
        },
        ropc(
            "all of a second factor",
            vec![policy(
                all_users(),
                all_apps(),
                json!({}),
                json!({"operator": "AND", "builtInControls": ["mfa"]}),
                "enabled",
            )],
            "ann",
            vec![true],
        ),
        ropc(
            "block wins over a second factor",
            vec![
                policy(json!({"includeUsers": ["{bob}"]}), all_apps(), json!({}), block(), "enabled"),
                for_everyone(mfa(), "enabled"),
            ],
            "bob",
            vec![true, true],
        ),
        ropc(
            "the second factor where the block does not apply",
            vec![
                policy(json!({"includeUsers": ["{bob}"]}), all_apps(), json!({}), block(), "enabled"),
                for_everyone(mfa(), "enabled"),
            ],
            "ann",
            vec![false, true],
        ),
        ropc(
            "neither of two policies",
            vec![
                policy(json!({"includeGroups": ["{sales}"]}), all_apps(), json!({}), mfa(), "enabled"),
                policy(json!({"includeUsers": ["GuestsOrExternalUsers"]}), all_apps(), json!({}), block(), "enabled"),
            ],
            "ann",
            vec![false, false],
        ),
        ropc(
            "a session control only",
            vec![{
                let mut p = for_everyone(Value::Null, "enabled");
                p["sessionControls"] = json!({"signInFrequency": {"isEnabled": true, "type": "hours", "value": 4}});
                p
            }],
            "ann",
            vec![true],
        ),
        Case { ip: 2, agent: WINDOWS, ..ropc("every condition holds", vec![combined()], "bob", vec![true]) },
        Case { agent: WINDOWS, ..ropc("all but the location", vec![combined()], "bob", vec![false]) },
        Case { ip: 2, agent: MAC, ..ropc("all but the platform", vec![combined()], "bob", vec![false]) },
        Case {
            client: "b",
            ip: 2,
            agent: WINDOWS,
            ..ropc("all but the application", vec![combined()], "bob", vec![false])
        },
    ];
    cases
}

/// What the enforced policies that apply come to: `blocked`, `mfa` or `allowed`.
fn expected_outcome(case: &Case) -> &'static str {
    let applying: Vec<&Value> = case
        .policies
        .iter()
        .zip(&case.applies)
        .filter(|(p, applies)| **applies && p["state"] == "enabled")
        .map(|(p, _)| p)
        .collect();
    let controls = |p: &Value| p["grantControls"]["builtInControls"].as_array().cloned().unwrap_or_default();
    if applying.iter().any(|p| controls(p).contains(&json!("block"))) {
        "blocked"
    } else if applying.iter().any(|p| controls(p).contains(&json!("mfa"))) {
        "mfa"
    } else {
        "allowed"
    }
}

/// The platform Graph's What If names for a User-Agent of the table.
fn platform(agent: &str) -> Option<&'static str> {
    [(WINDOWS, "windows"), (MAC, "macOS"), (IPHONE, "iOS"), (ANDROID, "android"), (LINUX, "linux")]
        .into_iter()
        .find(|(a, _)| *a == agent)
        .map(|(_, p)| p)
}

struct Tenant {
    ids: HashMap<&'static str, String>,
    clients: HashMap<&'static str, crate::sign_in::Client>,
}

impl Tenant {
    fn fill(&self, value: &Value) -> Value {
        let mut text = value.to_string();
        for (name, id) in &self.ids {
            text = text.replace(&format!("{{{name}}}"), id);
        }
        serde_json::from_str(&text).unwrap()
    }
}

async fn tenant(server: &Server, admin: &str) -> Tenant {
    let mut ids = HashMap::new();
    for alias in ["ann", "bob", "dan"] {
        ids.insert(alias, server.member(admin, alias).await);
    }
    let mut guest = new_user("cat");
    guest["userType"] = json!("Guest");
    guest["passwordProfile"]["forceChangePasswordNextSignIn"] = json!(false);
    guest["passwordProfile"]["password"] = json!(PASSWORD);
    let (status, cat) = server.call(admin, Method::POST, "/v1.0/users", Some(guest)).await;
    assert_eq!(status, StatusCode::CREATED, "{cat}");
    ids.insert("cat", cat["id"].as_str().unwrap().to_owned());
    let group =
        |name: &str| json!({"displayName": name, "mailEnabled": false, "mailNickname": name, "securityEnabled": true});
    for name in ["sales", "region"] {
        let (status, made) = server.call(admin, Method::POST, "/v1.0/groups", Some(group(name))).await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        ids.insert(if name == "sales" { "sales" } else { "region" }, made["id"].as_str().unwrap().to_owned());
    }
    let add = |group: &str, member: &str| {
        let body = json!({"@odata.id": format!("{}/v1.0/directoryObjects/{member}", server.base)});
        (format!("/v1.0/groups/{group}/members/$ref"), body)
    };
    for (group, member) in [(ids["sales"].clone(), ids["bob"].clone()), (ids["region"].clone(), ids["sales"].clone())] {
        let (path, body) = add(&group, &member);
        assert_eq!(server.call(admin, Method::POST, &path, Some(body)).await.0, StatusCode::NO_CONTENT);
    }
    let role = json!({"roleDefinitionId": HELPDESK, "principalId": ids["dan"], "directoryScopeId": "/"});
    let (status, body) =
        server.call(admin, Method::POST, "/v1.0/roleManagement/directory/roleAssignments", Some(role)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let ip = |name: &str, cidr: &str, trusted: bool| json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": name, "isTrusted": trusted, "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": cidr}]});
    let country = |name: &str, unknown: bool| json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": name, "countriesAndRegions": ["NL"], "includeUnknownCountriesAndRegions": unknown});
    for (name, body) in [
        ("office", ip("Office", "127.0.0.2/32", true)),
        ("lab", ip("Lab", "127.0.0.3/32", false)),
        ("unknown", country("Unknown places", true)),
        ("nl", country("The Netherlands", false)),
    ] {
        let (status, made) = server.call(admin, Method::POST, LOCATIONS, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        ids.insert(name, made["id"].as_str().unwrap().to_owned());
    }
    let mut clients = HashMap::new();
    for name in ["a", "b"] {
        let client = page_client(server, admin).await;
        ids.insert(name, client.app_id.clone());
        clients.insert(name, client);
    }
    Tenant { ids, clients }
}

const REDIRECT: &str = "http://localhost:7777/callback";

/// The authorize URL of a code flow with PKCE (the verifier [`VERIFIER`]) for `client` at the pages, with
/// `prompt` when given.
fn authorize_url(server: &Server, client: &str, prompt: Option<&str>) -> String {
    let challenge = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        <sha2::Sha256 as sha2::Digest>::digest(VERIFIER.as_bytes()),
    );
    let mut query = vec![
        ("client_id", client),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid User.Read"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    query.extend(prompt.map(|p| ("prompt", p)));
    let authorize = server.url(&format!("/{}/oauth2/v2.0/authorize", server.tenant.tenant_id));
    reqwest::Url::parse_with_params(&authorize, &query).unwrap().to_string()
}

/// A public client with consent for User.Read that the pages redirect to [`REDIRECT`].
async fn page_client(server: &Server, admin: &str) -> crate::sign_in::Client {
    let client = server.client(admin, true, "User.Read").await;
    let body = json!({"publicClient": {"redirectUris": [REDIRECT]}});
    let path = format!("/v1.0/applications/{}", client.object);
    assert_eq!(server.call(admin, Method::PATCH, &path, Some(body)).await.0, StatusCode::NO_CONTENT);
    client
}
const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-0123456789";

/// The case's sign-in, for real: `allowed`, `blocked` or `mfa`, read from the answer.
async fn sign_in(server: &Server, tenant: &Tenant, case: &Case) -> String {
    let tenant_id = server.tenant.tenant_id.to_string();
    let client = &tenant.clients[case.client].app_id;
    let upn = format!("{}@contoso.gatehouse.test", case.who);
    let source = std::net::IpAddr::from([127, 0, 0, case.ip]);
    let mut headers = reqwest::header::HeaderMap::new();
    if !case.agent.is_empty() {
        headers.insert(reqwest::header::USER_AGENT, case.agent.parse().unwrap());
    }
    let http = reqwest::Client::builder()
        .local_address(source)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let text = match case.door {
        Door::Ropc => {
            let form = [
                ("grant_type", "password"),
                ("client_id", client.as_str()),
                ("username", upn.as_str()),
                ("password", PASSWORD),
                ("scope", "User.Read"),
            ];
            let url = server.url(&format!("/{tenant_id}/oauth2/v2.0/token"));
            let response = http.post(url).form(&form).send().await.unwrap();
            if response.status() == StatusCode::OK {
                return "allowed".into();
            }
            response.text().await.unwrap()
        }
        Door::Pages => {
            let browser = Browser::with(http);
            let authorize = server.url(&format!("/{tenant_id}/oauth2/v2.0/authorize"));
            let form = browser.get(&authorize_url(server, client, None)).await;
            let answer = browser.submit(&authorize, &form, &[("login", &upn), ("passwd", PASSWORD)]).await;
            if answer.status == StatusCode::FOUND && answer.location.as_deref().is_some_and(|l| l.contains("code=")) {
                return "allowed".into();
            }
            answer.text
        }
    };
    let second_factor_page = case.door == Door::Pages && text.contains("<title>Verify your identity</title>");
    if text.contains("AADSTS53003") {
        "blocked".into()
    } else if second_factor_page || (text.contains("AADSTS50076") && text.contains("interaction_required")) {
        "mfa".into()
    } else {
        format!("unexpected: {text}")
    }
}

#[tokio::test]
async fn the_policy_table_holds_in_what_if_and_in_real_sign_ins() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant = tenant(&server, &admin).await;
        let cases = cases();
        assert!(cases.len() >= 60, "{} cases", cases.len());
        let mut confirmed = reqwest::header::HeaderMap::new();
        confirmed.insert("Prefer", "lockout-confirmed".parse().unwrap());
        for case in &cases {
            let (_, listed) = server.call(&admin, Method::GET, POLICIES, None).await;
            for old in listed["value"].as_array().unwrap() {
                let path = format!("{POLICIES}/{}", old["id"].as_str().unwrap());
                assert_eq!(server.call(&admin, Method::DELETE, &path, None).await.0, StatusCode::NO_CONTENT);
            }
            let mut ids = Vec::new();
            for body in &case.policies {
                let response = server
                    .http
                    .post(server.url(POLICIES))
                    .bearer_auth(&admin)
                    .headers(confirmed.clone())
                    .json(&tenant.fill(body))
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let made: Value = response.json().await.unwrap();
                assert_eq!(status, StatusCode::CREATED, "{engine} {}: {made}", case.name);
                ids.push(made["id"].as_str().unwrap().to_owned());
            }
            let mut conditions = json!({
                "clientAppType": if case.door == Door::Pages { "browser" } else { "mobileAppsAndDesktopClients" },
                "ipAddress": format!("127.0.0.{}", case.ip),
            });
            if let Some(platform) = platform(case.agent) {
                conditions["devicePlatform"] = json!(platform);
            }
            let what_if = json!({
                "signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn", "userId": tenant.ids[case.who]},
                "signInContext": {"@odata.type": "#microsoft.graph.applicationContext", "includeApplications": [tenant.ids[case.client], GRAPH]},
                "signInConditions": conditions,
            });
            let (status, results) =
                server.call(&admin, Method::POST, "/v1.0/identity/conditionalAccess/evaluate", Some(what_if)).await;
            assert_eq!(status, StatusCode::OK, "{engine} {}: {results}", case.name);
            for (id, applies) in ids.iter().zip(&case.applies) {
                let result = results["value"].as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).unwrap();
                assert_eq!(result["policyApplies"], json!(applies), "{engine} {}: what if says {result}", case.name);
                assert_eq!(result["analysisReasons"] == "notSet", *applies, "{engine} {}: {result}", case.name);
            }
            let outcome = sign_in(&server, &tenant, case).await;
            assert_eq!(outcome, expected_outcome(case), "{engine} {}: the real sign-in", case.name);
        }
    }
}

#[tokio::test]
async fn policies_are_checked_guarded_and_enforced_at_every_door() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant_id = server.tenant.tenant_id.to_string();
        let client = server.client(&admin, true, "User.Read Policy.ReadWrite.ConditionalAccess").await;
        let everyone = for_everyone(block(), "enabled");

        let (status, body) = server.call(&admin, Method::POST, POLICIES, Some(everyone.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: blocking everyone needs confirming: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("every user"), "{engine}: {body}");
        let risky = policy(all_users(), all_apps(), json!({"signInRiskLevels": ["high"]}), mfa(), "enabled");
        let (status, body) = server.call(&admin, Method::POST, POLICIES, Some(risky)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("risk"), "{engine}: the reason is given: {body}");
        let (_, before) = server.call(&admin, Method::GET, POLICIES, None).await;
        assert_eq!(before["value"], json!([]), "{engine}: nothing was written");

        // A Conditional Access Administrator manages policies with their own token; blocking themselves from
        // Graph needs confirming; a User Administrator may not touch policies.
        let carla = server.member(&admin, "carla").await;
        let urs = server.member(&admin, "urs").await;
        for (role, principal) in
            [("b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", &carla), ("fe930be7-5e62-47db-91af-98c3a49a38b1", &urs)]
        {
            let body = json!({"roleDefinitionId": role, "principalId": principal, "directoryScopeId": "/"});
            let path = "/v1.0/roleManagement/directory/roleAssignments";
            assert_eq!(server.call(&admin, Method::POST, path, Some(body)).await.0, StatusCode::CREATED);
        }
        let token = |alias: &'static str| {
            let server = &server;
            let (tenant_id, client) = (tenant_id.clone(), client.app_id.clone());
            async move {
                let upn = format!("{alias}@contoso.gatehouse.test");
                let scope = "Policy.ReadWrite.ConditionalAccess offline_access";
                let (status, body) = server.password_grant(&tenant_id, &client, &upn, PASSWORD, scope).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                (body["access_token"].as_str().unwrap().to_owned(), body["refresh_token"].as_str().unwrap().to_owned())
            }
        };
        let (carla_token, carla_refresh) = token("carla").await;
        let (urs_token, _) = token("urs").await;
        let mine = policy(json!({"includeUsers": [carla.clone()]}), all_apps(), json!({}), block(), "enabled");
        let (status, body) = server.call(&urs_token, Method::POST, POLICIES, Some(mine.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: {body}");
        let (status, body) = server.call(&carla_token, Method::POST, POLICIES, Some(mine.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("block you"), "{engine}: {body}");
        let mut for_urs = mine.clone();
        for_urs["conditions"]["users"] = json!({"includeUsers": [urs.clone()]});
        for_urs["displayName"] = json!("Block Urs");
        let (status, made) = server.call(&carla_token, Method::POST, POLICIES, Some(for_urs)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {made}");
        assert_eq!(
            made["@odata.context"].as_str().unwrap().rsplit('#').next(),
            Some("identity/conditionalAccess/policies/$entity")
        );
        let path = format!("{POLICIES}/{}", made["id"].as_str().unwrap());
        let (_, shown) = server.call(&carla_token, Method::GET, &path, None).await;
        assert_eq!(shown["conditions"]["users"]["includeUsers"], json!([urs.clone()]), "{engine}: {shown}");
        assert_eq!(shown["conditions"]["platforms"], Value::Null, "{engine}: unset objects are null");

        // Every door enforces it: the password grant, and a refresh of a token issued before.
        let upn = "urs@contoso.gatehouse.test";
        let blocked = server.password_grant(&tenant_id, &client.app_id, upn, PASSWORD, "User.Read").await;
        crate::sign_in::assert_grant_error(engine, &blocked, "invalid_grant", "AADSTS53003");
        let (status, rotated) = server.refresh_grant(&tenant_id, &client.app_id, &carla_refresh).await;
        assert_eq!(status, StatusCode::OK, "{engine}: others sign in");
        let carla_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
        let patch = json!({"conditions": {"users": {"includeUsers": [carla.clone(), urs.clone()]}}, "state": "enabledForReportingButNotEnforced"});
        assert_eq!(server.call(&carla_token, Method::PATCH, &path, Some(patch)).await.0, StatusCode::NO_CONTENT);
        let (_, shown) = server.call(&carla_token, Method::GET, &path, None).await;
        assert_eq!(
            shown["conditions"]["applications"]["includeApplications"],
            json!(["All"]),
            "{engine}: the rest stays"
        );
        assert_eq!(shown["state"], "enabledForReportingButNotEnforced");
        let (status, body) = server.password_grant(&tenant_id, &client.app_id, upn, PASSWORD, "User.Read").await;
        assert_eq!(status, StatusCode::OK, "{engine}: report-only is not enforced: {body}");
        let enable = json!({"state": "enabled"});
        let confirmed = server
            .http
            .patch(server.url(&path))
            .bearer_auth(&carla_token)
            .header("Prefer", "lockout-confirmed")
            .json(&enable)
            .send()
            .await
            .unwrap();
        assert_eq!(confirmed.status(), StatusCode::NO_CONTENT, "{engine}: confirmed, it is enabled");
        let refreshed = server.refresh_grant(&tenant_id, &client.app_id, &carla_refresh).await;
        crate::sign_in::assert_grant_error(engine, &refreshed, "invalid_grant", "AADSTS53003");

        // Named locations: checked, and not deleted while a policy names them.
        let bad = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Bad", "ipRanges": [{"cidrAddress": "10.0.0.0/33"}]});
        assert_eq!(server.call(&admin, Method::POST, LOCATIONS, Some(bad)).await.0, StatusCode::BAD_REQUEST);
        let office = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Office", "isTrusted": true, "ipRanges": [{"cidrAddress": "192.0.2.0/24"}]});
        let (status, location) = server.call(&admin, Method::POST, LOCATIONS, Some(office)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {location}");
        let location_path = format!("{LOCATIONS}/{}", location["id"].as_str().unwrap());
        let named = policy(
            json!({"includeUsers": [urs.clone()]}),
            all_apps(),
            json!({"locations": {"includeLocations": [location["id"]]}}),
            mfa(),
            "disabled",
        );
        assert_eq!(server.call(&admin, Method::POST, POLICIES, Some(named)).await.0, StatusCode::CREATED);
        assert_eq!(server.call(&admin, Method::DELETE, &location_path, None).await.0, StatusCode::BAD_REQUEST);
        let rename = json!({"displayName": "Head office"});
        assert_eq!(server.call(&admin, Method::PATCH, &location_path, Some(rename)).await.0, StatusCode::NO_CONTENT);
        let (_, shown) = server.call(&admin, Method::GET, &location_path, None).await;
        assert_eq!(shown["displayName"], "Head office");
        assert_eq!(shown["ipRanges"][0]["cidrAddress"], "192.0.2.0/24", "{engine}: {shown}");

        // At most 195 policies.
        let (_, listed) = server.call(&admin, Method::GET, POLICIES, None).await;
        let quiet = policy(json!({"includeUsers": ["None"]}), all_apps(), json!({}), mfa(), "disabled");
        for _ in listed["value"].as_array().unwrap().len()..195 {
            assert_eq!(server.call(&admin, Method::POST, POLICIES, Some(quiet.clone())).await.0, StatusCode::CREATED);
        }
        let (status, body) = server.call(&admin, Method::POST, POLICIES, Some(quiet)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: the 196th: {body}");
    }
}

/// A TOTP code written here from RFC 6238, apart from the server's: the key from its base32 text, HMAC-SHA1
/// of the 30-second step, six digits.
fn totp(base32: &str, unix: i64) -> String {
    let mut bits = 0u64;
    let mut count = 0;
    let mut key = Vec::new();
    for c in base32.chars() {
        let value = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".find(c).unwrap() as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            key.push((bits >> count) as u8);
        }
    }
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key),
        &(unix / 30).to_be_bytes(),
    );
    let digest = tag.as_ref();
    let offset = (digest[19] & 0x0f) as usize;
    let number =
        u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    format!("{:06}", number % 1_000_000)
}

/// The text of an element of a page, by its id.
fn element(page: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = page.find(&marker).map(|i| i + marker.len()).unwrap();
    page[start..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_second_factor_is_registered_and_given_at_the_pages_and_the_device_login() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant_id = server.tenant.tenant_id.to_string();
        let client = page_client(&server, &admin).await;
        let ann = server.member(&admin, "ann").await;
        let upn = "ann@contoso.gatehouse.test";
        let required = policy(json!({"includeUsers": [ann.clone()]}), all_apps(), json!({}), mfa(), "enabled");
        assert_eq!(server.call(&admin, Method::POST, POLICIES, Some(required)).await.0, StatusCode::CREATED);
        let ropc = server.password_grant(&tenant_id, &client.app_id, upn, PASSWORD, "User.Read").await;
        assert_eq!(ropc.1["error"], "interaction_required", "{engine}: {}", ropc.1);

        let now = || gatehouse_core::Clock::now(server.clock.as_ref()).timestamp();
        let authorize = server.url(&format!("/{tenant_id}/oauth2/v2.0/authorize"));
        let start = authorize_url(&server, &client.app_id, None);
        let sign_in = |browser: Browser| {
            let (start, authorize) = (start.clone(), authorize.clone());
            async move {
                let form = browser.get(&start).await;
                let asked = browser.submit(&authorize, &form, &[("login", upn), ("passwd", PASSWORD)]).await;
                (browser, asked)
            }
        };

        // First sign-in: no app yet, so one is registered there, proved by its code.
        let (browser, asked) = sign_in(Browser::new()).await;
        assert!(asked.text.contains("Set up your authenticator app"), "{engine}: {}", asked.text);
        let secret = element(&asked.text, "secret");
        assert!(element(&asked.text, "uri").contains(&format!("secret={secret}")), "{engine}");
        let wrong = if totp(&secret, now()) == "000000" { "111111" } else { "000000" };
        let refused = browser.submit(&authorize, &asked, &[("otc", wrong)]).await;
        assert!(refused.text.contains("not correct"), "{engine}: {}", refused.text);
        assert!(refused.text.contains(&secret), "{engine}: the same key is shown again");
        let done = browser.submit(&authorize, &refused, &[("otc", &totp(&secret, now()))]).await;
        assert_eq!(done.status, StatusCode::FOUND, "{engine}: {}", done.text);
        let location = reqwest::Url::parse(done.location.as_deref().unwrap()).unwrap();
        let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        let redeemed = [
            ("grant_type", "authorization_code"),
            ("client_id", client.app_id.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ];
        let (status, tokens) = server.grant(&tenant_id, &redeemed).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {tokens}");
        let claims = crate::support::claims(tokens["access_token"].as_str().unwrap());
        assert_eq!(claims["amr"], json!(["pwd", "mfa"]), "{engine}: {claims}");

        let path = format!("/v1.0/users/{ann}/authentication/softwareOathMethods");
        let (status, listed) = server.call(&admin, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {listed}");
        assert_eq!(listed["value"].as_array().unwrap().len(), 1, "{engine}: {listed}");
        assert_eq!(listed["value"][0]["secretKey"], Value::Null, "{engine}: the secret is never shown");
        let (_, all) =
            server.call(&admin, Method::GET, &format!("/v1.0/users/{ann}/authentication/methods"), None).await;
        assert_eq!(all["value"].as_array().unwrap().len(), 2, "{engine}: the password and the app: {all}");

        // Second sign-in: the code is asked; the one just used is spent, the next step's is good.
        let (browser, asked) = sign_in(Browser::new()).await;
        assert!(asked.text.contains("Enter code") && !asked.text.contains(&secret), "{engine}: {}", asked.text);
        let spent = browser.submit(&authorize, &asked, &[("otc", &totp(&secret, now()))]).await;
        assert!(spent.text.contains("not correct"), "{engine}: a code is used once: {}", spent.text);
        server.clock.advance(chrono::Duration::seconds(30));
        let done = browser.submit(&authorize, &spent, &[("otc", &totp(&secret, now()))]).await;
        assert_eq!(done.status, StatusCode::FOUND, "{engine}: {}", done.text);
        let silent = browser.get(&start).await;
        assert_eq!(silent.status, StatusCode::FOUND, "{engine}: the session carries the second factor");

        // The device login asks for it too, before the device is approved.
        let form = [("client_id", client.app_id.as_str()), ("scope", "User.Read")];
        let url = server.url(&format!("/{tenant_id}/oauth2/v2.0/devicecode"));
        let started: Value = server.http.post(url).form(&form).send().await.unwrap().json().await.unwrap();
        let device = Browser::new();
        let login = server.url(&format!("/{tenant_id}/devicelogin"));
        let page = device.get(&login).await;
        let page = device.submit(&login, &page, &[("otc", started["user_code"].as_str().unwrap())]).await;
        let page = device.submit(&login, &page, &[("login", upn), ("passwd", PASSWORD)]).await;
        let page = device.submit(&login, &page, &[("approve", "Continue")]).await;
        assert!(page.text.contains("Enter code"), "{engine}: {}", page.text);
        server.clock.advance(chrono::Duration::seconds(30));
        let page = device.submit(&login, &page, &[("otc", &totp(&secret, now()))]).await;
        assert!(page.text.contains("You're signed in"), "{engine}: {}", page.text);
        let poll = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", client.app_id.as_str()),
            ("device_code", started["device_code"].as_str().unwrap()),
        ];
        let (status, tokens) = server.grant(&tenant_id, &poll).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {tokens}");
        let claims = crate::support::claims(tokens["access_token"].as_str().unwrap());
        assert_eq!(claims["amr"], json!(["pwd", "mfa"]), "{engine}");

        // An administrator removes the app: the next sign-in registers one anew.
        let id = listed["value"][0]["id"].as_str().unwrap();
        let path = format!("/v1.0/users/{ann}/authentication/softwareOathMethods/{id}");
        assert_eq!(server.call(&admin, Method::DELETE, &path, None).await.0, StatusCode::NO_CONTENT);
        let (_, asked) = sign_in(Browser::new()).await;
        assert!(asked.text.contains("Set up your authenticator app"), "{engine}: {}", asked.text);
    }
}

#[tokio::test]
async fn sign_in_frequency_asks_for_a_new_sign_in_once_it_has_passed() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant_id = server.tenant.tenant_id.to_string();
        let client = page_client(&server, &admin).await;
        server.member(&admin, "ivy").await;
        let upn = "ivy@contoso.gatehouse.test";
        let mut hourly = for_everyone(Value::Null, "enabled");
        hourly["sessionControls"] = json!({"signInFrequency": {"isEnabled": true, "type": "hours", "value": 1}});
        assert_eq!(server.call(&admin, Method::POST, POLICIES, Some(hourly)).await.0, StatusCode::CREATED);

        let (status, tokens) =
            server.password_grant(&tenant_id, &client.app_id, upn, PASSWORD, "User.Read offline_access").await;
        assert_eq!(status, StatusCode::OK, "{engine}: {tokens}");
        server.clock.advance(chrono::Duration::minutes(30));
        let (status, tokens) =
            server.refresh_grant(&tenant_id, &client.app_id, tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{engine}: within the hour: {tokens}");

        let browser = Browser::new();
        let query =
            |prompt: &'static str| authorize_url(&server, &client.app_id, Some(prompt).filter(|p| !p.is_empty()));
        let form = browser.get(&query("")).await;
        let authorize = server.url(&format!("/{tenant_id}/oauth2/v2.0/authorize"));
        let signed_in = browser.submit(&authorize, &form, &[("login", upn), ("passwd", PASSWORD)]).await;
        assert_eq!(signed_in.status, StatusCode::FOUND, "{engine}: {}", signed_in.text);
        assert_eq!(browser.get(&query("none")).await.status, StatusCode::FOUND, "{engine}: the session stands");

        server.clock.advance(chrono::Duration::minutes(61));
        let refused = server.refresh_grant(&tenant_id, &client.app_id, tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!(refused.1["error"], "interaction_required", "{engine}: {}", refused.1);
        assert!(refused.1["error_description"].as_str().unwrap().starts_with("AADSTS70044"), "{engine}");
        let silent = browser.get(&query("none")).await;
        let location = silent.location.unwrap_or_default();
        assert!(location.contains("error=login_required"), "{engine}: {location}");
        let asked = browser.get(&query("")).await;
        assert!(asked.text.contains("name=\"passwd\""), "{engine}: the password is asked again: {}", asked.text);
        let again = browser.submit(&authorize, &asked, &[("login", upn), ("passwd", PASSWORD)]).await;
        assert_eq!(again.status, StatusCode::FOUND, "{engine}: a new sign-in counts from now: {}", again.text);
    }
}

#[tokio::test]
async fn a_temporary_access_pass_signs_a_new_user_in_to_register_an_app() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant_id = server.tenant.tenant_id.to_string();
        let client = page_client(&server, &admin).await;
        let mut newcomer = new_user("neo");
        newcomer["passwordProfile"]["forceChangePasswordNextSignIn"] = json!(false);
        let (_, neo) = server.call(&admin, Method::POST, "/v1.0/users", Some(newcomer)).await;
        let neo = neo["id"].as_str().unwrap().to_owned();
        let upn = "neo@contoso.gatehouse.test";
        let required = policy(json!({"includeUsers": [neo.clone()]}), all_apps(), json!({}), mfa(), "enabled");
        assert_eq!(server.call(&admin, Method::POST, POLICIES, Some(required)).await.0, StatusCode::CREATED);

        let passes = format!("/v1.0/users/{neo}/authentication/temporaryAccessPassMethods");
        let too_long = json!({"lifetimeInMinutes": 50_000});
        assert_eq!(server.call(&admin, Method::POST, &passes, Some(too_long)).await.0, StatusCode::BAD_REQUEST);
        let (status, made) = server
            .call(&admin, Method::POST, &passes, Some(json!({"lifetimeInMinutes": 60, "isUsableOnce": true})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {made}");
        let pass = made["temporaryAccessPass"].as_str().unwrap().to_owned();
        assert_eq!(made["isUsable"], true);
        assert_eq!(
            server.call(&admin, Method::POST, &passes, Some(json!({}))).await.0,
            StatusCode::BAD_REQUEST,
            "{engine}: one per user"
        );
        let (_, listed) = server.call(&admin, Method::GET, &passes, None).await;
        assert_eq!(listed["value"][0]["temporaryAccessPass"], Value::Null, "{engine}: shown once: {listed}");
        let ropc = server.password_grant(&tenant_id, &client.app_id, upn, &pass, "User.Read").await;
        crate::sign_in::assert_grant_error(engine, &ropc, "invalid_grant", "AADSTS50126");

        let now = || gatehouse_core::Clock::now(server.clock.as_ref()).timestamp();
        let browser = Browser::new();
        let authorize = server.url(&format!("/{tenant_id}/oauth2/v2.0/authorize"));
        let start = authorize_url(&server, &client.app_id, None);
        let form = browser.get(&start).await;
        let asked = browser.submit(&authorize, &form, &[("login", upn), ("passwd", &pass)]).await;
        assert!(asked.text.contains("Set up your authenticator app"), "{engine}: {}", asked.text);
        let secret = element(&asked.text, "secret");
        let done = browser.submit(&authorize, &asked, &[("otc", &totp(&secret, now()))]).await;
        assert_eq!(done.status, StatusCode::FOUND, "{engine}: {}", done.text);
        let apps = format!("/v1.0/users/{neo}/authentication/softwareOathMethods");
        assert_eq!(
            server.call(&admin, Method::GET, &apps, None).await.1["value"].as_array().unwrap().len(),
            1,
            "{engine}"
        );
        let (_, listed) = server.call(&admin, Method::GET, &passes, None).await;
        assert_eq!(listed["value"][0]["methodUsabilityReason"], "OneTimeUsed", "{engine}: {listed}");

        let again = Browser::new();
        let form = again.get(&start).await;
        let refused = again.submit(&authorize, &form, &[("login", upn), ("passwd", &pass)]).await;
        assert!(refused.text.contains("AADSTS50126"), "{engine}: a pass good once is spent: {}", refused.text);
        let id = listed["value"][0]["id"].as_str().unwrap();
        assert_eq!(
            server.call(&admin, Method::DELETE, &format!("{passes}/{id}"), None).await.0,
            StatusCode::NO_CONTENT
        );
        let (status, lasting) =
            server.call(&admin, Method::POST, &passes, Some(json!({"lifetimeInMinutes": 10}))).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {lasting}");
        server.clock.advance(chrono::Duration::minutes(11));
        let late = Browser::new();
        let form = late.get(&start).await;
        let lapsed = late
            .submit(&authorize, &form, &[("login", upn), ("passwd", lasting["temporaryAccessPass"].as_str().unwrap())])
            .await;
        assert!(lapsed.text.contains("AADSTS50126"), "{engine}: a lapsed pass is refused: {}", lapsed.text);
    }
}

#[tokio::test]
async fn a_persistent_browser_session_outlives_the_browser_only_when_a_policy_says_so() {
    let server = crate::support::sqlite_server().await;
    let admin = server.admin_token().await;
    let client = page_client(&server, &admin).await;
    server.member(&admin, "pia").await;
    let authorize = server.url(&format!("/{}/oauth2/v2.0/authorize", server.tenant.tenant_id));
    let session_cookie = |page: &crate::password_pages::Page| {
        page.set_cookies.iter().find(|c| c.starts_with("gatehouse_session=")).cloned().unwrap_or_default()
    };
    let sign_in = || async {
        let browser = Browser::new();
        let form = browser.get(&authorize_url(&server, &client.app_id, None)).await;
        browser.submit(&authorize, &form, &[("login", "pia@contoso.gatehouse.test"), ("passwd", PASSWORD)]).await
    };
    let plain = sign_in().await;
    assert_eq!(plain.status, StatusCode::FOUND);
    assert!(!session_cookie(&plain).contains("Max-Age"), "a session ends with the browser: {:?}", plain.set_cookies);
    let mut lasting = for_everyone(Value::Null, "enabled");
    lasting["sessionControls"] = json!({"persistentBrowser": {"isEnabled": true, "mode": "always"}});
    assert_eq!(server.call(&admin, Method::POST, POLICIES, Some(lasting)).await.0, StatusCode::CREATED);
    let kept = sign_in().await;
    assert_eq!(kept.status, StatusCode::FOUND);
    assert!(session_cookie(&kept).contains("Max-Age=86400"), "{:?}", kept.set_cookies);
}

#[tokio::test]
async fn people_add_authenticator_apps_at_my_sign_ins() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let ola = server.member(&admin, "ola").await;
        let upn = "ola@contoso.gatehouse.test";
        let page = server.url("/contoso.gatehouse.test/mysignins");
        let now = || gatehouse_core::Clock::now(server.clock.as_ref()).timestamp();

        let browser = Browser::new();
        let form = browser.get(&page).await;
        assert!(form.text.contains("name=\"passwd\""), "{engine}: signed out, the page asks to sign in");
        let info = browser.submit(&page, &form, &[("login", upn), ("passwd", PASSWORD)]).await;
        assert!(info.text.contains("You have no authenticator app yet"), "{engine}: {}", info.text);
        assert!(info.text.contains("Set up your authenticator app"), "{engine}: a first app needs no code");
        let qr = info.text.split("id=\"qr\"").nth(1).unwrap_or_default();
        assert!(qr.contains("<svg") && qr.contains("<path"), "{engine}: a QR code to scan: {}", info.text);
        let secret = element(&info.text, "secret");
        let added = browser.submit(&page, &info, &[("otc", &totp(&secret, now()))]).await;
        assert!(added.text.contains("Your authenticator app was added"), "{engine}: {}", added.text);
        assert!(added.text.contains("id=\"methods\""), "{engine}: {}", added.text);
        let apps = format!("/v1.0/users/{ola}/authentication/softwareOathMethods");
        assert_eq!(server.call(&admin, Method::GET, &apps, None).await.1["value"].as_array().unwrap().len(), 1);

        // Another browser, the password alone: the app's code first, then another app may be added.
        let other = Browser::new();
        let form = other.get(&page).await;
        let info = other.submit(&page, &form, &[("login", upn), ("passwd", PASSWORD)]).await;
        assert!(info.text.contains("Enter code") && !info.text.contains("id=\"secret\""), "{engine}: {}", info.text);
        let wrong = other.submit(&page, &info, &[("otc", "000000")]).await;
        assert!(wrong.text.contains("role=\"alert\""), "{engine}: {}", wrong.text);
        server.clock.advance(chrono::Duration::seconds(30));
        let proven = other.submit(&page, &wrong, &[("otc", &totp(&secret, now()))]).await;
        assert!(proven.text.contains("Set up your authenticator app"), "{engine}: {}", proven.text);
        let second = element(&proven.text, "secret");
        assert_ne!(second, secret, "{engine}: a new key");
        let added = other.submit(&page, &proven, &[("otc", &totp(&second, now()))]).await;
        assert!(added.text.contains("Your authenticator app was added"), "{engine}: {}", added.text);
        assert_eq!(server.call(&admin, Method::GET, &apps, None).await.1["value"].as_array().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn an_app_once_registered_is_asked_for_at_every_sign_in_without_a_policy() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant_id = server.tenant.tenant_id.to_string();
        let client = page_client(&server, &admin).await;
        let bea = server.member(&admin, "bea").await;
        let upn = "bea@contoso.gatehouse.test";
        let now = || gatehouse_core::Clock::now(server.clock.as_ref()).timestamp();
        let scope = "User.Read offline_access";
        let (status, before) = server.password_grant(&tenant_id, &client.app_id, upn, PASSWORD, scope).await;
        assert_eq!(status, StatusCode::OK, "{engine}: a password alone, while no app is registered: {before}");

        let page = server.url("/contoso.gatehouse.test/mysignins");
        let info_browser = Browser::new();
        let form = info_browser.get(&page).await;
        let info = info_browser.submit(&page, &form, &[("login", upn), ("passwd", PASSWORD)]).await;
        let secret = element(&info.text, "secret");
        let added = info_browser.submit(&page, &info, &[("otc", &totp(&secret, now()))]).await;
        assert!(added.text.contains("Your authenticator app was added"), "{engine}: {}", added.text);
        let step = || {
            server.clock.advance(chrono::Duration::seconds(30));
            totp(&secret, now())
        };

        // No policy asks for it; the app itself does, wherever the person signs in now.
        let ropc = server.password_grant(&tenant_id, &client.app_id, upn, PASSWORD, scope).await;
        assert_eq!(ropc.1["error"], "interaction_required", "{engine}: {}", ropc.1);
        assert!(ropc.1["error_description"].as_str().unwrap().starts_with("AADSTS50076"), "{engine}: {}", ropc.1);
        let refresh = before["refresh_token"].as_str().unwrap();
        let (status, refreshed) = server.refresh_grant(&tenant_id, &client.app_id, refresh).await;
        assert_eq!(status, StatusCode::OK, "{engine}: a refresh token goes on from its sign-in: {refreshed}");

        let authorize = server.url(&format!("/{tenant_id}/oauth2/v2.0/authorize"));
        let start = authorize_url(&server, &client.app_id, None);
        let browser = Browser::new();
        let form = browser.get(&start).await;
        let asked = browser.submit(&authorize, &form, &[("login", upn), ("passwd", PASSWORD)]).await;
        assert!(asked.text.contains("Enter code"), "{engine}: {}", asked.text);
        let done = browser.submit(&authorize, &asked, &[("otc", &step())]).await;
        assert_eq!(done.status, StatusCode::FOUND, "{engine}: {}", done.text);

        // Gatehouse's own pages ask for it after the password, and serve nothing before it.
        for (door, landing) in
            [("myaccount", "/contoso.gatehouse.test/myaccount"), ("admin", "/contoso.gatehouse.test/admin/users")]
        {
            let url = server.url(&format!("/contoso.gatehouse.test/{door}"));
            let browser = Browser::new();
            let form = browser.get(&url).await;
            let asked = browser.submit(&url, &form, &[("login", upn), ("passwd", PASSWORD)]).await;
            assert!(asked.text.contains("Enter code"), "{engine} {door}: {}", asked.text);
            let wrong = browser.submit(&url, &asked, &[("otc", "12345x")]).await;
            assert!(
                wrong.text.contains("not correct") && wrong.text.contains("Enter code"),
                "{engine} {door}: {}",
                wrong.text
            );
            let early = browser.get(&server.url(landing)).await;
            assert!(!early.text.contains(upn), "{engine} {door}: nothing before the code: {}", early.text);
            let form = browser.get(&url).await;
            let wrong = browser.submit(&url, &form, &[("login", upn), ("passwd", PASSWORD)]).await;
            let done = browser.submit(&url, &wrong, &[("otc", &step())]).await;
            assert_eq!(done.status, StatusCode::FOUND, "{engine} {door}: {}", done.text);
            let landed = browser.get(&server.url(landing)).await;
            assert_eq!(landed.status, StatusCode::OK, "{engine} {door}");
            assert!(landed.text.contains(upn), "{engine} {door}: {}", landed.text);
        }

        // The person removes the app at their security info (after confirming): the password alone serves again.
        let info = info_browser.get(&page).await;
        assert!(info.text.contains("value=\"remove\""), "{engine}: {}", info.text);
        let path = format!("/v1.0/users/{bea}/authentication/softwareOathMethods");
        let (_, listed) = server.call(&admin, Method::GET, &path, None).await;
        let method = listed["value"][0]["id"].as_str().unwrap();
        let asked = info_browser.submit(&page, &info, &[("action", "remove"), ("method", method)]).await;
        assert!(asked.text.contains("Remove this authenticator app?"), "{engine}: {}", asked.text);
        let removed = info_browser.submit(&page, &asked, &[("action", "remove-confirmed")]).await;
        assert!(removed.text.contains("Your authenticator app was removed"), "{engine}: {}", removed.text);
        let (status, tokens) = server.password_grant(&tenant_id, &client.app_id, upn, PASSWORD, scope).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {tokens}");

        // An app registered again, then removed by an administrator ("Require re-register MFA").
        let info = info_browser.get(&page).await;
        let secret = element(&info.text, "secret");
        let added = info_browser.submit(&page, &info, &[("otc", &totp(&secret, now()))]).await;
        assert!(added.text.contains("Your authenticator app was added"), "{engine}: {}", added.text);
        let gia = server.member(&admin, "gia").await;
        server.assign_role(&admin, crate::admin_center::GLOBAL_ADMIN, &gia).await;
        let admin_browser = crate::admin_center::signed_in(&server, "gia").await;
        let user_page = server.url(&format!("/contoso.gatehouse.test/admin/users/{bea}"));
        let shown = admin_browser.get(&user_page).await;
        assert!(shown.text.contains("1 authenticator app."), "{engine}: {}", shown.text);
        let done = admin_browser.submit(&user_page, &shown, &[("action", "reregister")]).await;
        assert!(done.text.contains("1 authenticator app(s) removed"), "{engine}: {}", done.text);
        assert_eq!(server.call(&admin, Method::GET, &path, None).await.1["value"], json!([]), "{engine}");
    }
}

#[tokio::test]
async fn registering_security_info_follows_the_policies_on_its_user_action() {
    let server = crate::support::sqlite_server().await;
    let admin = server.admin_token().await;
    server.member(&admin, "una").await;
    let upn = "una@contoso.gatehouse.test";
    let page = server.url("/contoso.gatehouse.test/mysignins");
    let office = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Office", "isTrusted": true,
                        "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "10.0.0.0/8"}]});
    let (status, office) = server.call(&admin, Method::POST, LOCATIONS, Some(office)).await;
    assert_eq!(status, StatusCode::CREATED, "{office}");
    let office = format!("{LOCATIONS}/{}", office["id"].as_str().unwrap());
    let registration = json!({"includeUserActions": ["urn:user:registersecurityinfo"]});
    let outside = json!({"locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}});
    let (status, created) = server
        .call(&admin, Method::POST, POLICIES, Some(policy(all_users(), registration, outside, block(), "enabled")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let rule = format!("{POLICIES}/{}", created["id"].as_str().unwrap());
    let signed_in = || async {
        let browser = Browser::new();
        let form = browser.get(&page).await;
        browser.submit(&page, &form, &[("login", upn), ("passwd", PASSWORD)]).await
    };

    let outside_office = signed_in().await;
    assert!(outside_office.text.contains("AADSTS53003"), "blocked outside the office: {}", outside_office.text);
    assert!(!outside_office.text.contains("Set up your authenticator app"));
    let client = server.client(&admin, true, "User.Read").await;
    let tenant = server.tenant.tenant_id.to_string();
    let (status, _) = server.password_grant(&tenant, &client.app_id, upn, PASSWORD, "User.Read").await;
    assert_eq!(status, StatusCode::OK, "signing in to an app is not the user action");

    let loopback = json!({"@odata.type": "#microsoft.graph.ipNamedLocation",
                          "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "127.0.0.0/8"}]});
    assert_eq!(server.call(&admin, Method::PATCH, &office, Some(loopback)).await.0, StatusCode::NO_CONTENT);
    let in_office = signed_in().await;
    assert!(in_office.text.contains("Set up your authenticator app"), "allowed in the office: {}", in_office.text);

    let required = json!({"grantControls": mfa(), "conditions": {"users": all_users(),
                          "applications": {"includeUserActions": ["urn:user:registersecurityinfo"]},
                          "locations": {"includeLocations": ["All"]}}});
    assert_eq!(server.call(&admin, Method::PATCH, &rule, Some(required)).await.0, StatusCode::NO_CONTENT);
    let without_method = signed_in().await;
    assert!(without_method.text.contains("AADSTS50076"), "a first method needs a pass: {}", without_method.text);
}

/// The eight-digit code of the newest message to `address`.
async fn mailed_code(server: &Server, address: &str) -> String {
    let mail = server.mail_to(address).await.pop().unwrap_or_default();
    let at = mail.find("verification code is: ").unwrap_or_else(|| panic!("no code in {mail}")) + 22;
    mail[at..at + 8].to_owned()
}

#[tokio::test]
async fn the_methods_policy_decides_which_second_factors_people_use() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let tenant_id = server.tenant.tenant_id.to_string();
        let policy_path = "/v1.0/policies/authenticationMethodsPolicy";
        let configuration = |id: &str| format!("{policy_path}/authenticationMethodConfigurations/{id}");
        let (status, read) = server.call(&admin, Method::GET, policy_path, None).await;
        assert_eq!(status, StatusCode::OK, "{engine}: {read}");
        let states: HashMap<String, String> = read["authenticationMethodConfigurations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_str().unwrap().to_owned(), c["state"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(states["SoftwareOath"], "enabled", "{engine}: {read}");
        assert_eq!(states["TemporaryAccessPass"], "enabled");
        assert_eq!(states["Email"], "disabled", "{engine}: email codes need the tenant to allow them");

        // Email codes for one group.
        let eve = server.member(&admin, "eve").await;
        let ray = server.member(&admin, "ray").await;
        for (user, address) in [(&eve, "eve@home.example"), (&ray, "ray@home.example")] {
            let path = format!("/v1.0/users/{user}");
            let body = json!({"otherMails": [address]});
            assert_eq!(server.call(&admin, Method::PATCH, &path, Some(body)).await.0, StatusCode::NO_CONTENT);
        }
        let group = json!({"displayName": "Email codes", "mailNickname": "emailcodes", "mailEnabled": false, "securityEnabled": true,
                           "members@odata.bind": [format!("https://graph.microsoft.com/v1.0/users/{eve}")]});
        let (status, group) = server.call(&admin, Method::POST, "/v1.0/groups", Some(group)).await;
        assert_eq!(status, StatusCode::CREATED, "{engine}: {group}");
        let group = group["id"].as_str().unwrap().to_owned();
        let nobody =
            json!({"state": "enabled", "includeTargets": [{"targetType": "group", "id": uuid::Uuid::new_v4()}]});
        let (status, body) = server.call(&admin, Method::PATCH, &configuration("Email"), Some(nobody)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: a group that does not exist: {body}");
        let (reader, _) = server.app_with(&admin, &["Policy.Read.All"]).await;
        let enable = json!({"state": "enabled", "includeTargets": [{"targetType": "group", "id": group.clone()}]});
        let (status, _) = server.call(&reader, Method::PATCH, &configuration("Email"), Some(enable.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{engine}: reading policies is not writing them");
        assert_eq!(server.call(&reader, Method::GET, &configuration("Email"), None).await.0, StatusCode::OK);
        let (status, _) = server.call(&admin, Method::PATCH, &configuration("Email"), Some(enable)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{engine}");
        let (_, email) = server.call(&admin, Method::GET, &configuration("Email"), None).await;
        assert_eq!(email["state"], "enabled");
        assert_eq!(email["includeTargets"][0]["id"], group.as_str(), "{engine}: {email}");

        // Both must prove a second factor: eve gets an email code, ray (outside the group) registers an app.
        let required =
            policy(json!({"includeUsers": [eve.clone(), ray.clone()]}), all_apps(), json!({}), mfa(), "enabled");
        assert_eq!(server.call(&admin, Method::POST, POLICIES, Some(required)).await.0, StatusCode::CREATED);
        let client = page_client(&server, &admin).await;
        let authorize = server.url(&format!("/{tenant_id}/oauth2/v2.0/authorize"));
        let start = authorize_url(&server, &client.app_id, None);
        let sign_in = |upn: &'static str| {
            let (start, authorize) = (start.clone(), authorize.clone());
            async move {
                let browser = Browser::new();
                let form = browser.get(&start).await;
                let asked = browser.submit(&authorize, &form, &[("login", upn), ("passwd", PASSWORD)]).await;
                (browser, asked)
            }
        };
        let (browser, asked) = sign_in("eve@contoso.gatehouse.test").await;
        assert!(asked.text.contains("We emailed a code to"), "{engine}: {}", asked.text);
        assert_eq!(element(&asked.text, "sent-to"), "e•••@home.example");
        let code = mailed_code(&server, "eve@home.example").await;
        let wrong = if code == "00000000" { "11111111" } else { "00000000" };
        let refused = browser.submit(&authorize, &asked, &[("otc", wrong)]).await;
        assert!(refused.text.contains("not correct"), "{engine}: {}", refused.text);
        let done = browser.submit(&authorize, &refused, &[("otc", &code)]).await;
        assert_eq!(done.status, StatusCode::FOUND, "{engine}: {}", done.text);
        assert!(done.location.as_deref().unwrap().starts_with(REDIRECT), "{engine}");
        let (_, asked) = sign_in("ray@contoso.gatehouse.test").await;
        assert!(asked.text.contains("Set up your authenticator app"), "{engine}: {}", asked.text);
        assert!(server.mail_to("ray@home.example").await.is_empty(), "{engine}: ray gets no email code");

        // Without authenticator apps, ray has nothing to prove a second factor with; without passes, none are made.
        let off = json!({"state": "disabled"});
        let (status, _) = server.call(&admin, Method::PATCH, &configuration("SoftwareOath"), Some(off.clone())).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, asked) = sign_in("ray@contoso.gatehouse.test").await;
        assert!(asked.text.contains("AADSTS50072"), "{engine}: {}", asked.text);
        let (status, _) = server.call(&admin, Method::PATCH, &configuration("TemporaryAccessPass"), Some(off)).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let passes = format!("/v1.0/users/{ray}/authentication/temporaryAccessPassMethods");
        let (status, body) = server.call(&admin, Method::POST, &passes, Some(json!({}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{engine}: {body}");

        let audits = "/v1.0/auditLogs/directoryAudits?$filter=activityDisplayName%20eq%20'Authentication%20Methods%20Policy%20Update'";
        let (_, updates) = server.call(&admin, Method::GET, audits, None).await;
        assert_eq!(updates["value"].as_array().unwrap().len(), 3, "{engine}: {updates}");
    }
}
