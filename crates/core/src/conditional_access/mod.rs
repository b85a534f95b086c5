//! Conditional Access (Graph's `/identity/conditionalAccess`): the tenant's policies and named locations,
//! the What If evaluation, and the evaluation of every user sign-in, all by [`evaluate`].
//!
//! Policies and named locations are kept together in one document per tenant (at most [`MOST_POLICIES`]
//! policies, as in Entra), changed by compare-and-set under the tenant's turn, so a policy and the
//! locations it names never disagree. Each node keeps them parsed per tenant for as long as the document's
//! version stands; a sign-in reads only that version. A policy Gatehouse could not evaluate is refused when it is
//! written ([`policy::normalise`]). Enabling a policy that blocks the administrator who writes it, or every
//! user, needs the request to say it means it (`Prefer: lockout-confirmed`).

pub mod evaluate;
pub mod locations;
pub mod policy;

use crate::auth::authorization::{require, Action, GRAPH_APP_ID};
use crate::auth::roles::is_guest;
use crate::directory::write_error;
use crate::kernel::error::{Error, Result};
use crate::schema::format_time;
use crate::store::{ObjectRecord, Write};
use crate::{Caller, Directory};
use evaluate::{judge, outcome, Context, Judged, Outcome, Subject};
use locations::Location;
use policy::{ClientApp, Policy, State, PLATFORMS, REGISTER_SECURITY_INFO};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

const POLICIES: &str = "policies";
const LOCATIONS: &str = "namedLocations";
/// The most policies a tenant holds (Entra's limit).
pub const MOST_POLICIES: usize = 195;

pub(crate) fn wrong(message: impl Into<String>) -> Error {
    Error::invalid_property("conditionalAccessPolicy", message)
}

fn has_id(item: &Map<String, Value>, id: &str) -> bool {
    item.get("id").and_then(Value::as_str) == Some(id)
}

/// The item of that id, or `404`.
fn find(items: Vec<Map<String, Value>>, id: &str) -> Result<Map<String, Value>> {
    items.into_iter().find(|item| has_id(item, id)).ok_or_else(|| Error::not_found(id))
}

/// Removes the item of that id, or answers `404`.
fn remove(items: &mut Vec<Map<String, Value>>, id: &str) -> Result<()> {
    let before = items.len();
    items.retain(|item| !has_id(item, id));
    match items.len() == before {
        true => Err(Error::not_found(id)),
        false => Ok(()),
    }
}

/// The items of one list of a tenant's document.
fn items(doc: &Map<String, Value>, list: &str) -> Vec<Map<String, Value>> {
    let items = doc.get(list).and_then(Value::as_array);
    items.into_iter().flatten().filter_map(Value::as_object).cloned().collect()
}

/// A tenant's policies and locations, parsed, as of one version of its document.
struct Compiled {
    version: i64,
    /// The policies' documents, as Graph shows them, in the order of `policies`.
    docs: Vec<Map<String, Value>>,
    policies: Vec<Policy>,
    locations: Vec<Location>,
}

/// Each tenant's parsed policies on this node, with when their version was last read from the store.
#[derive(Default)]
struct CompiledPolicies(Mutex<HashMap<Uuid, (Arc<Compiled>, i64)>>);

/// How long a node uses its parsed policies before it reads their version again: a change made on this
/// node applies to its next sign-in, one made on another node within these seconds (a refresh grant
/// would otherwise pay a read for a version that changes a few times a year).
const POLICY_CHECK_SECONDS: i64 = 5;

/// The Conditional Access service.
pub struct ConditionalAccess<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The Conditional Access service.
    pub fn conditional_access(&self) -> ConditionalAccess<'_> {
        ConditionalAccess { directory: self }
    }
}

/// What a what-if request or a sign-in says of itself, read from Graph's `signInConditions`.
fn conditions_context(conditions: Option<&Map<String, Value>>) -> Result<Context> {
    let text = |name: &str| conditions.and_then(|c| c.get(name)).and_then(Value::as_str);
    let client_app = match text("clientAppType") {
        None | Some("all") => None,
        Some("browser") => Some(ClientApp::Browser),
        Some("mobileAppsAndDesktopClients") => Some(ClientApp::MobileAppsAndDesktopClients),
        Some(other) => return Err(wrong(format!("'{other}' is not a client app type Gatehouse serves."))),
    };
    let platform = match text("devicePlatform") {
        None | Some("all") => None,
        Some(p) => Some(
            PLATFORMS
                .iter()
                .find(|known| known.eq_ignore_ascii_case(p))
                .map(|known| (*known).to_owned())
                .ok_or_else(|| wrong(format!("'{p}' is not a device platform.")))?,
        ),
    };
    let ip = match text("ipAddress") {
        None => None,
        Some(address) => Some(address.parse().map_err(|_| wrong(format!("'{address}' is not an IP address.")))?),
    };
    Ok(Context { applications: Vec::new(), user_action: None, client_app, platform, ip })
}

impl ConditionalAccess<'_> {
    /// The tenant's document and its version (an empty one, version 0, before its first policy).
    async fn document(&self, tenant: Uuid) -> Result<(Map<String, Value>, i64)> {
        let record = self.directory.store.conditional_access(tenant).await.map_err(Error::from)?;
        Ok(record.map(|r| (r.doc, r.version)).unwrap_or_default())
    }

    /// One list of the caller's tenant's document, for a caller who may read policies.
    async fn list(&self, caller: &Caller, list: &str) -> Result<Vec<Map<String, Value>>> {
        require(caller, Action::ReadPolicies)?;
        Ok(items(&self.document(caller.tenant()).await?.0, list))
    }

    pub async fn policies(&self, caller: &Caller) -> Result<Vec<Map<String, Value>>> {
        self.list(caller, POLICIES).await
    }

    pub async fn policy(&self, caller: &Caller, id: &str) -> Result<Map<String, Value>> {
        find(self.policies(caller).await?, id)
    }

    pub async fn locations(&self, caller: &Caller) -> Result<Vec<Map<String, Value>>> {
        self.list(caller, LOCATIONS).await
    }

    pub async fn location(&self, caller: &Caller, id: &str) -> Result<Map<String, Value>> {
        find(self.locations(caller).await?, id)
    }

    /// A new item's body with its id and times.
    fn stamped(&self, body: &Map<String, Value>) -> Map<String, Value> {
        let now = json!(format_time(self.directory.now()));
        let mut given = body.clone();
        given.insert("id".into(), json!(self.directory.random().uuid().to_string()));
        given.insert("createdDateTime".into(), now.clone());
        given.insert("modifiedDateTime".into(), now);
        given
    }

    /// Creates a policy (`confirmed`: the request says it means to enable a policy that blocks its own
    /// caller or every user).
    pub async fn create_policy(
        &self,
        caller: &Caller,
        body: &Map<String, Value>,
        confirmed: bool,
    ) -> Result<Map<String, Value>> {
        require(caller, Action::WritePolicies)?;
        let (current, _) = self.document(caller.tenant()).await?;
        let doc = policy::normalise(&self.stamped(body), &location_ids(&current))?;
        self.guard_lockout(caller, &doc, confirmed).await?;
        let written = doc.clone();
        self.change(caller, move |lists| {
            let policies = lists.entry(POLICIES).or_default();
            if policies.len() >= MOST_POLICIES {
                return Err(wrong(format!("A tenant holds at most {MOST_POLICIES} Conditional Access policies.")));
            }
            policies.push(written.clone());
            Ok(())
        })
        .await?;
        Ok(doc)
    }

    /// Changes a policy: the properties given replace the policy's, and within `conditions` each condition
    /// given replaces its own.
    pub async fn update_policy(
        &self,
        caller: &Caller,
        id: &str,
        body: &Map<String, Value>,
        confirmed: bool,
    ) -> Result<()> {
        require(caller, Action::WritePolicies)?;
        let (current, _) = self.document(caller.tenant()).await?;
        let before =
            items(&current, POLICIES).into_iter().find(|p| has_id(p, id)).ok_or_else(|| Error::not_found(id))?;
        let mut merged = before.clone();
        for (name, value) in body {
            match (name.as_str(), merged.get_mut("conditions").and_then(Value::as_object_mut), value.as_object()) {
                ("conditions", Some(conditions), Some(given)) => {
                    conditions.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                ("id" | "createdDateTime" | "modifiedDateTime", _, _) => {}
                _ => {
                    merged.insert(name.clone(), value.clone());
                }
            }
        }
        merged.insert("modifiedDateTime".into(), json!(format_time(self.directory.now())));
        let doc = policy::normalise(&merged, &location_ids(&current))?;
        self.guard_lockout(caller, &doc, confirmed).await?;
        let id = id.to_owned();
        self.change(caller, move |lists| {
            let policies = lists.entry(POLICIES).or_default();
            let slot = policies.iter_mut().find(|p| has_id(p, &id));
            *slot.ok_or_else(|| Error::not_found(&id))? = doc.clone();
            Ok(())
        })
        .await
    }

    pub async fn delete_policy(&self, caller: &Caller, id: &str) -> Result<()> {
        require(caller, Action::WritePolicies)?;
        let id = id.to_owned();
        self.change(caller, move |lists| remove(lists.entry(POLICIES).or_default(), &id)).await
    }

    pub async fn create_location(&self, caller: &Caller, body: &Map<String, Value>) -> Result<Map<String, Value>> {
        require(caller, Action::WritePolicies)?;
        let doc = locations::normalise(&self.stamped(body), None)?;
        let written = doc.clone();
        self.change(caller, move |lists| {
            lists.entry(LOCATIONS).or_default().push(written.clone());
            Ok(())
        })
        .await?;
        Ok(doc)
    }

    pub async fn update_location(&self, caller: &Caller, id: &str, body: &Map<String, Value>) -> Result<()> {
        require(caller, Action::WritePolicies)?;
        let mut body = body.clone();
        for fixed in ["id", "createdDateTime", "@odata.type"] {
            body.remove(fixed);
        }
        body.insert("modifiedDateTime".into(), json!(format_time(self.directory.now())));
        let id = id.to_owned();
        self.change(caller, move |lists| {
            let locations = lists.entry(LOCATIONS).or_default();
            let slot = locations.iter_mut().find(|l| has_id(l, &id));
            let slot = slot.ok_or_else(|| Error::not_found(&id))?;
            *slot = locations::normalise(&body, Some(slot))?;
            Ok(())
        })
        .await
    }

    /// Deletes a named location that no policy names.
    pub async fn delete_location(&self, caller: &Caller, id: &str) -> Result<()> {
        require(caller, Action::WritePolicies)?;
        let id = id.to_owned();
        self.change(caller, move |lists| {
            let named = lists.get(POLICIES).into_iter().flatten().any(|p| {
                let locations = p.get("conditions").and_then(|c| c.get("locations"));
                ["includeLocations", "excludeLocations"].iter().any(|side| {
                    let list = locations.and_then(|l| l.get(*side)).and_then(Value::as_array);
                    list.is_some_and(|l| l.iter().any(|v| v.as_str() == Some(&id)))
                })
            });
            if named {
                return Err(Error::invalid(format!(
                    "The named location '{id}' is used by a Conditional Access policy: remove it from the policy first."
                )));
            }
            remove(lists.entry(LOCATIONS).or_default(), &id)
        })
        .await
    }

    /// Graph's What If evaluation: a hypothetical sign-in (`signInIdentity` a user, `signInContext` the
    /// applications or the user action, `signInConditions` the client app type, platform and address)
    /// judged against every policy as a real sign-in is, each policy shown with `policyApplies` and, when it
    /// does not apply, the `analysisReasons`.
    pub async fn what_if(&self, caller: &Caller, body: &Map<String, Value>) -> Result<Vec<Map<String, Value>>> {
        require(caller, Action::ReadPolicies)?;
        let tenant = caller.tenant();
        let identity = body.get("signInIdentity").and_then(Value::as_object);
        let user_id = match identity.and_then(|i| i.get("@odata.type")).and_then(Value::as_str) {
            Some("#microsoft.graph.userSignIn") => identity.and_then(|i| i.get("userId")).and_then(Value::as_str),
            _ => return Err(wrong("signInIdentity is a #microsoft.graph.userSignIn with a userId.")),
        };
        let user = self.directory.users().get(&Caller::System { tenant }, user_id.unwrap_or_default()).await?;
        let mut context = conditions_context(body.get("signInConditions").and_then(Value::as_object))?;
        let sign_in_context = body.get("signInContext").and_then(Value::as_object);
        match sign_in_context.and_then(|c| c.get("@odata.type")).and_then(Value::as_str) {
            Some("#microsoft.graph.applicationContext") => {
                let apps = sign_in_context.and_then(|c| c.get("includeApplications")).and_then(Value::as_array);
                context.applications =
                    apps.into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect();
            }
            Some("#microsoft.graph.userActionContext") => {
                match sign_in_context.and_then(|c| c.get("userAction")).and_then(Value::as_str) {
                    Some("registerSecurityInformation") => context.user_action = Some(REGISTER_SECURITY_INFO.into()),
                    _ => return Err(wrong("userAction is registerSecurityInformation.")),
                }
            }
            _ => return Err(wrong("signInContext is an applicationContext or a userActionContext.")),
        }
        let only_applying = body.get("appliedPoliciesOnly") == Some(&Value::Bool(true));
        let compiled = self.compiled(tenant).await?;
        let facts = self.facts(tenant, &user, &compiled.policies).await?;
        let subject = facts.subject(&user);
        let mut out = Vec::new();
        for (policy, doc) in compiled.policies.iter().zip(&compiled.docs) {
            let judged = judge(policy, &subject, &context, &compiled.locations);
            if only_applying && !judged.applies {
                continue;
            }
            let mut shown = doc.clone();
            shown.insert("@odata.type".into(), json!("#microsoft.graph.whatIfAnalysisResult"));
            shown.insert("policyApplies".into(), json!(judged.applies));
            let reasons = if judged.applies { "notSet".to_owned() } else { judged.reasons.join(",") };
            shown.insert("analysisReasons".into(), json!(reasons));
            out.push(shown);
        }
        Ok(out)
    }

    /// The policies' outcome for a user's sign-in to `context`, having done multifactor authentication or
    /// not.
    pub(crate) async fn evaluate(
        &self,
        tenant: Uuid,
        user: &ObjectRecord,
        context: &Context,
        mfa: bool,
    ) -> Result<Outcome> {
        let compiled = self.compiled(tenant).await?;
        if compiled.policies.is_empty() {
            return Ok(outcome(&[], mfa));
        }
        let facts = self.facts(tenant, user, &compiled.policies).await?;
        let subject = facts.subject(user);
        let judged: Vec<Judged<'_>> =
            compiled.policies.iter().map(|p| judge(p, &subject, context, &compiled.locations)).collect();
        Ok(outcome(&judged, mfa))
    }

    /// The user's groups (transitively) and roles.
    /// The user's groups (transitively) and roles, each read only when some policy names any.
    async fn facts(&self, tenant: Uuid, user: &ObjectRecord, policies: &[Policy]) -> Result<Facts> {
        let names = |lists: fn(&Policy) -> &policy::Lists| {
            policies.iter().any(|p| !lists(p).include.is_empty() || !lists(p).exclude.is_empty())
        };
        let system = Caller::System { tenant };
        let groups = match names(|p| &p.groups) {
            true => self.directory.groups().member_groups(&system, &user.id.to_string(), false).await?,
            false => Vec::new(),
        };
        let roles = match names(|p| &p.roles) {
            true => self.directory.role_management().held(tenant, user).await?,
            false => Vec::new(),
        };
        Ok(Facts { groups, roles })
    }

    /// The tenant's parsed policies and locations, parsed again when its document changed.
    async fn compiled(&self, tenant: Uuid) -> Result<Arc<Compiled>> {
        let now = self.directory.now().timestamp();
        let cache = self.directory.node_state::<CompiledPolicies>();
        let cached = cache.0.lock().unwrap_or_else(|p| p.into_inner()).get(&tenant).cloned();
        if let Some((compiled, checked)) = &cached {
            if now - checked < POLICY_CHECK_SECONDS {
                return Ok(compiled.clone());
            }
        }
        let version = self.directory.store.conditional_access_version(tenant).await.map_err(Error::from)?;
        let compiled = match cached {
            Some((compiled, _)) if compiled.version == version => compiled,
            _ => {
                let (doc, version) = self.document(tenant).await?;
                let docs = items(&doc, POLICIES);
                Arc::new(Compiled {
                    version,
                    policies: docs.iter().map(Policy::read).collect(),
                    docs,
                    locations: items(&doc, LOCATIONS).iter().map(Location::read).collect(),
                })
            }
        };
        cache.0.lock().unwrap_or_else(|p| p.into_inner()).insert(tenant, (compiled.clone(), now));
        Ok(compiled)
    }

    /// Refuses to enable, unconfirmed, a blocking policy that would block every user of every application,
    /// or the signed-in administrator writing it from Graph.
    async fn guard_lockout(&self, caller: &Caller, doc: &Map<String, Value>, confirmed: bool) -> Result<()> {
        let policy = Policy::read(doc);
        let blocks = policy.grant.as_ref().is_some_and(|g| g.controls.contains(&policy::Control::Block));
        if confirmed || policy.state != State::Enabled || !blocks {
            return Ok(());
        }
        let everyone = policy.users.include.iter().any(|u| u == "All")
            && policy.users.exclude.is_empty()
            && policy.groups.exclude.is_empty()
            && policy.roles.exclude.is_empty()
            && policy.applications.include.iter().any(|a| a == "All")
            && policy.applications.exclude.is_empty();
        let caller_blocked = match caller.user() {
            Some(id) => {
                let tenant = caller.tenant();
                let user = self.directory.users().get(&Caller::System { tenant }, &id.to_string()).await?;
                let facts = self.facts(tenant, &user, std::slice::from_ref(&policy)).await?;
                let context = Context { applications: vec![GRAPH_APP_ID.to_owned()], ..Context::default() };
                let unconditional =
                    Policy { client_apps: Vec::new(), platforms: None, locations: None, ..policy.clone() };
                judge(&unconditional, &facts.subject(&user), &context, &[]).applies
            }
            None => false,
        };
        if everyone || caller_blocked {
            let whom = if caller_blocked { "you" } else { "every user" };
            return Err(wrong(format!(
                "This policy would block {whom} from signing in. Exclude yourself or an emergency account, try it in report-only mode first, or send the header 'Prefer: lockout-confirmed' to enable it anyway."
            )));
        }
        Ok(())
    }

    /// One change of the tenant's policies and locations, in the tenant's turn: `edit` changes the lists (or
    /// refuses), again on the fresh document when another change came first.
    async fn change(
        &self,
        caller: &Caller,
        edit: impl Fn(&mut HashMap<&'static str, Vec<Map<String, Value>>>) -> Result<()>,
    ) -> Result<()> {
        let tenant = caller.tenant();
        let mut turn = self.directory.turn(caller, tenant, "conditionalAccess").await?;
        loop {
            let (previous, version) = self.document(tenant).await?;
            let mut lists: HashMap<&'static str, Vec<Map<String, Value>>> =
                [POLICIES, LOCATIONS].into_iter().map(|list| (list, items(&previous, list))).collect();
            edit(&mut lists)?;
            let (policies, locations) = (lists.remove(POLICIES), lists.remove(LOCATIONS));
            let doc = json!({POLICIES: policies, LOCATIONS: locations}).as_object().cloned().unwrap_or_default();
            let write = Write::SetConditionalAccess { doc, previous, expected_version: version };
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, vec![write]).await? {
                self.directory
                    .node_state::<CompiledPolicies>()
                    .0
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&tenant);
                return committed.map_err(|other| write_error(other, "conflict"));
            }
        }
    }
}

/// The named locations' ids, for checking a policy's.
fn location_ids(doc: &Map<String, Value>) -> Vec<String> {
    items(doc, LOCATIONS).iter().filter_map(|l| l.get("id").and_then(Value::as_str).map(str::to_owned)).collect()
}

/// What evaluation reads of a user beyond their record.
struct Facts {
    groups: Vec<Uuid>,
    roles: Vec<String>,
}

impl Facts {
    fn subject<'a>(&'a self, user: &ObjectRecord) -> Subject<'a> {
        Subject { user: user.id, guest: is_guest(user), groups: &self.groups, roles: &self.roles }
    }
}

/// The platform a User-Agent names, as Conditional Access tells them apart.
pub fn platform_of(user_agent: &str) -> Option<String> {
    let ua = user_agent.to_ascii_lowercase();
    let platform = if ua.contains("windows phone") {
        "windowsPhone"
    } else if ua.contains("android") {
        "android"
    } else if ua.contains("iphone") || ua.contains("ipad") || ua.contains("ipod") {
        "iOS"
    } else if ua.contains("windows") {
        "windows"
    } else if ua.contains("mac os x") || ua.contains("macintosh") {
        "macOS"
    } else if ua.contains("linux") || ua.contains("x11") {
        "linux"
    } else {
        return None;
    };
    Some(platform.to_owned())
}
