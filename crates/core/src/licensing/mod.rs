//! Licensing: a tenant's subscriptions (Graph's `subscribedSku`), the catalog of Microsoft 365 products they
//! come from, and the assignment of licenses to users — directly, with Entra's rules and errors.
//!
//! A user's licenses are resolved from their sources (direct assignment first, then groups) by one pure
//! function, [`resolve`]: seats (`CountViolation`), service plans that cannot be held together
//! (`MutuallyExclusiveViolation`), plans that need others (`DependencyViolation`) and, for a direct
//! assignment, a missing usage location (`ProhibitedInUsageLocationViolation`). A license held through
//! several sources takes one seat, and its disabled plans are those every source disables. Seats are
//! re-checked inside the write's transaction, so concurrent assignments cannot oversubscribe a product.

use crate::auth::authorization::{require, Action};
use crate::changelog::{ChangeProcessor, Outcome, Round};
use crate::directory::contention::object_id;
use crate::directory::write_error;
use crate::filter::{Filter, Literal, Op, Test};
use crate::kernel::error::{Error, ErrorKind, Result};
use crate::schema::{self, format_time};
use crate::store::{ChangeRecord, ObjectKind, ObjectQuery, ObjectRecord, StoreError, Write};
use crate::{Caller, Directory};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;
use uuid::Uuid;

/// The document key of a user's directly assigned licenses (internal; Graph shows the resolved ones).
pub const DIRECT: &str = "_directLicenses";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogPlan {
    pub service_plan_id: Uuid,
    pub service_plan_name: String,
    pub service: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogProduct {
    pub sku_id: Uuid,
    pub sku_part_number: String,
    pub display_name: String,
    pub service_plans: Vec<CatalogPlan>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExclusiveGroup {
    service_plan_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Dependency {
    service_plan_id: Uuid,
    requires_any_of: Vec<Uuid>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Catalog {
    pub products: Vec<CatalogProduct>,
    exclusive: Vec<ExclusiveGroup>,
    dependencies: Vec<Dependency>,
}

/// Microsoft's products and service plans with their public identifiers, and the plan rules Entra enforces.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        serde_json::from_str(include_str!("../../data/license-catalog.json")).unwrap_or(Catalog {
            products: Vec::new(),
            exclusive: Vec::new(),
            dependencies: Vec::new(),
        })
    })
}

impl Catalog {
    pub fn product(&self, key: &str) -> Option<&CatalogProduct> {
        self.products
            .iter()
            .find(|p| p.sku_part_number.eq_ignore_ascii_case(key) || p.sku_id.to_string() == key.to_lowercase())
    }
}

/// A subscription as the resolver needs it.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub sku: Uuid,
    pub part_number: String,
    /// Seats that may be held: enabled plus warning (grace) units.
    pub capacity: u64,
    pub enabled: bool,
    /// Service plans: id, name, service.
    pub plans: Vec<(Uuid, String, Option<String>)>,
    /// Products this one cannot be held with (custom products declare them).
    pub exclusive_with: Vec<Uuid>,
    /// Plans that need one of the listed plans (custom products declare them; the catalog's apply to all).
    pub dependencies: Vec<(Uuid, Vec<Uuid>)>,
}

fn uuid_list(value: Option<&Value>) -> Vec<Uuid> {
    value
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str()).filter_map(|s| Uuid::parse_str(s).ok()).collect())
        .unwrap_or_default()
}

impl Subscription {
    pub fn from_record(record: &ObjectRecord) -> Option<Subscription> {
        let doc = &record.doc;
        let sku = doc.get("skuId").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())?;
        let units = |name: &str| doc.get("prepaidUnits").and_then(|u| u.get(name)).and_then(Value::as_u64).unwrap_or(0);
        let status = doc.get("capabilityStatus").and_then(Value::as_str).unwrap_or("Enabled");
        let plans = doc
            .get("servicePlans")
            .and_then(Value::as_array)
            .map(|plans| {
                plans
                    .iter()
                    .filter_map(|p| {
                        let id =
                            p.get("servicePlanId").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())?;
                        let name = p.get("servicePlanName").and_then(Value::as_str).unwrap_or_default().to_owned();
                        let service = p.get("_service").and_then(Value::as_str).map(str::to_owned);
                        Some((id, name, service))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let dependencies = doc
            .get("_dependencies")
            .and_then(Value::as_object)
            .map(|deps| {
                deps.iter()
                    .filter_map(|(plan, needs)| Some((Uuid::parse_str(plan).ok()?, uuid_list(Some(needs)))))
                    .collect()
            })
            .unwrap_or_default();
        Some(Subscription {
            sku,
            part_number: doc.get("skuPartNumber").and_then(Value::as_str).unwrap_or_default().to_owned(),
            capacity: units("enabled") + units("warning"),
            enabled: matches!(status, "Enabled" | "Warning"),
            plans,
            exclusive_with: uuid_list(doc.get("_exclusiveWith")),
            dependencies,
        })
    }
}

/// One source of licenses for a user: direct assignment (`group` none) or a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub group: Option<Uuid>,
    pub licenses: Vec<(Uuid, BTreeSet<Uuid>)>,
}

/// What a user holds once every source is resolved.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resolution {
    /// Held SKUs with the plans every source that grants them disables.
    pub held: BTreeMap<Uuid, BTreeSet<Uuid>>,
    /// Per source and SKU: its state.
    pub states: Vec<LicenseState>,
}

/// How one license from one source stands for a user.
#[derive(Debug, Clone, PartialEq)]
pub struct LicenseState {
    /// The group it comes from; `None` when assigned directly.
    pub group: Option<Uuid>,
    pub sku: Uuid,
    pub disabled: BTreeSet<Uuid>,
    /// Entra's error, or `None` when active.
    pub error: Option<&'static str>,
}

/// The context a resolution needs besides the user's sources.
pub struct Tenancy<'a> {
    pub subscriptions: &'a HashMap<Uuid, Subscription>,
    /// Seats in use per SKU by users other than this one.
    pub taken_by_others: &'a HashMap<Uuid, u64>,
}

fn enabled_plans(subscription: &Subscription, disabled: &BTreeSet<Uuid>) -> Vec<Uuid> {
    subscription.plans.iter().map(|p| p.0).filter(|p| !disabled.contains(p)).collect()
}

/// Resolves a user's licenses from their sources, in order: a source whose every license can be held adds
/// them; a source with one failing license adds none of its licenses and records why.
///
/// Only a direct assignment needs the user's own usage location: as in Entra, group-based licensing takes
/// the organization's country for a member that has none, and every tenant has one (no product is
/// restricted by country here).
pub fn resolve(usage_location: Option<&str>, sources: &[Source], tenancy: &Tenancy<'_>) -> Resolution {
    let mut out = Resolution::default();
    let rules = catalog();
    for source in sources {
        let mut failure: Option<(Uuid, &'static str)> = None;
        if usage_location.is_none() && source.group.is_none() && !source.licenses.is_empty() {
            failure = source.licenses.first().map(|(sku, _)| (*sku, "ProhibitedInUsageLocationViolation"));
        }
        let mut trial = out.held.clone();
        for (sku, disabled) in &source.licenses {
            if failure.is_some() {
                break;
            }
            let Some(subscription) = tenancy.subscriptions.get(sku).filter(|s| s.enabled) else {
                failure = Some((*sku, "Other"));
                break;
            };
            let already = trial.contains_key(sku);
            let taken = tenancy.taken_by_others.get(sku).copied().unwrap_or(0);
            if !already && taken + 1 > subscription.capacity {
                failure = Some((*sku, "CountViolation"));
                break;
            }
            let held_plans: BTreeSet<Uuid> = trial
                .iter()
                .filter(|(other, _)| *other != sku)
                .filter_map(|(other, off)| tenancy.subscriptions.get(other).map(|s| enabled_plans(s, off)))
                .flatten()
                .collect();
            let held_skus: Vec<Uuid> = trial.keys().copied().filter(|other| other != sku).collect();
            let mine = enabled_plans(subscription, disabled);
            let exclusive_product = subscription.exclusive_with.iter().any(|x| held_skus.contains(x))
                || held_skus
                    .iter()
                    .any(|h| tenancy.subscriptions.get(h).is_some_and(|s| s.exclusive_with.contains(sku)));
            let exclusive_plan = rules.exclusive.iter().any(|group| {
                mine.iter().any(|p| group.service_plan_ids.contains(p))
                    && held_plans.iter().any(|h| group.service_plan_ids.contains(h) && !mine.contains(h))
            });
            if exclusive_product || exclusive_plan {
                failure = Some((*sku, "MutuallyExclusiveViolation"));
                break;
            }
            let merged = trial.entry(*sku).or_insert_with(|| disabled.clone());
            *merged = merged.intersection(disabled).copied().collect();
        }
        if failure.is_none() {
            let enabled: BTreeSet<Uuid> = trial
                .iter()
                .filter_map(|(sku, off)| tenancy.subscriptions.get(sku).map(|s| enabled_plans(s, off)))
                .flatten()
                .collect();
            let unmet = source.licenses.iter().find(|(sku, _)| {
                tenancy.subscriptions.get(sku).is_some_and(|s| {
                    let needs = rules
                        .dependencies
                        .iter()
                        .map(|d| (d.service_plan_id, d.requires_any_of.clone()))
                        .chain(s.dependencies.iter().cloned());
                    needs
                        .into_iter()
                        .any(|(plan, any_of)| enabled.contains(&plan) && !any_of.iter().any(|r| enabled.contains(r)))
                })
            });
            if let Some((sku, _)) = unmet {
                failure = Some((*sku, "DependencyViolation"));
            }
        }
        match failure {
            None => out.held = trial,
            Some((failed, error)) => {
                for (sku, disabled) in &source.licenses {
                    let error = if *sku == failed { error } else { "Other" };
                    out.states.push(LicenseState {
                        group: source.group,
                        sku: *sku,
                        disabled: disabled.clone(),
                        error: Some(error),
                    });
                }
                continue;
            }
        }
        for (sku, disabled) in &source.licenses {
            out.states.push(LicenseState { group: source.group, sku: *sku, disabled: disabled.clone(), error: None });
        }
    }
    out
}

/// The message Graph gives a direct assignment that fails with the error.
fn direct_error(error: &str, sku: Uuid, part_number: &str) -> Error {
    let message = match error {
        "CountViolation" => format!("Subscription {sku} does not have any available licenses."),
        "MutuallyExclusiveViolation" => format!(
            "License assignment failed because service plans in {part_number} cannot be assigned together with plans the user already has."
        ),
        "DependencyViolation" => format!(
            "License assignment failed because a service plan in {part_number} depends on a service plan the user does not have."
        ),
        "ProhibitedInUsageLocationViolation" => "License assignment cannot be done for user with invalid usage location.".to_owned(),
        _ => format!("License {sku} does not correspond to a valid company License."),
    };
    Error::invalid(message)
}

/// The sources of a user's licenses: direct, then each licensed group the user is a direct member of.
fn direct_source(user: &ObjectRecord) -> Source {
    Source { group: None, licenses: licenses_of(user.doc.get(DIRECT)) }
}

/// `[{skuId, disabledPlans}]` as (sku, disabled plans).
pub fn licenses_of(value: Option<&Value>) -> Vec<(Uuid, BTreeSet<Uuid>)> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|l| {
                    let sku = l.get("skuId").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())?;
                    Some((sku, uuid_list(l.get("disabledPlans")).into_iter().collect()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn licenses_json(licenses: &[(Uuid, BTreeSet<Uuid>)]) -> Value {
    Value::Array(
        licenses
            .iter()
            .map(|(sku, off)| json!({"skuId": sku, "disabledPlans": off.iter().collect::<Vec<_>>()}))
            .collect(),
    )
}

/// Writes a resolution into the user's document: `assignedLicenses`, `assignedPlans`, `licenseAssignmentStates`.
pub fn apply(
    doc: &mut Map<String, Value>,
    resolution: &Resolution,
    subscriptions: &HashMap<Uuid, Subscription>,
    at: &str,
) {
    let held: Vec<(Uuid, BTreeSet<Uuid>)> = resolution.held.iter().map(|(s, d)| (*s, d.clone())).collect();
    doc.insert("assignedLicenses".into(), licenses_json(&held));
    let mut plans = BTreeMap::new();
    for (sku, off) in &resolution.held {
        if let Some(subscription) = subscriptions.get(sku) {
            for (plan, _, service) in subscription.plans.iter().filter(|p| !off.contains(&p.0)) {
                plans.entry(*plan).or_insert_with(|| {
                    json!({"assignedDateTime": at, "capabilityStatus": "Enabled", "service": service, "servicePlanId": plan})
                });
            }
        }
    }
    doc.insert("assignedPlans".into(), Value::Array(plans.into_values().collect()));
    let states: Vec<Value> = resolution
        .states
        .iter()
        .map(|state| {
            json!({
                "assignedByGroup": state.group,
                "disabledPlans": state.disabled.iter().collect::<Vec<_>>(),
                "error": state.error.unwrap_or("None"),
                "lastUpdatedDateTime": at,
                "skuId": state.sku,
                "state": if state.error.is_some() { "Error" } else { "Active" },
            })
        })
        .collect();
    doc.insert("licenseAssignmentStates".into(), Value::Array(states));
}

/// A license request's `{skuId, disabledPlans}` items.
fn requested(body: &Map<String, Value>, name: &str) -> Result<Vec<(Uuid, BTreeSet<Uuid>)>> {
    let Some(items) = body.get(name) else {
        return Err(Error::invalid_property(name, format!("The request body must contain '{name}'.")));
    };
    let items =
        items.as_array().ok_or_else(|| Error::invalid_property(name, format!("'{name}' must be a collection.")))?;
    items
        .iter()
        .map(|item| {
            let sku = item.get("skuId").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok());
            let sku =
                sku.ok_or_else(|| Error::invalid_property(name, format!("Each of '{name}' needs a skuId GUID.")))?;
            let disabled = match item.get("disabledPlans") {
                None | Some(Value::Null) => BTreeSet::new(),
                Some(Value::Array(plans)) => plans
                    .iter()
                    .map(|p| p.as_str().and_then(|s| Uuid::parse_str(s).ok()))
                    .collect::<Option<BTreeSet<Uuid>>>()
                    .ok_or_else(|| Error::invalid_property(name, "disabledPlans must list service plan GUIDs."))?,
                Some(_) => return Err(Error::invalid_property(name, "disabledPlans must list service plan GUIDs.")),
            };
            Ok((sku, disabled))
        })
        .collect()
}

/// The statement-level seat check a license write carries: fails the batch with `Conflict("seats")` when
/// the SKU ends up held by more users than it has seats.
pub fn seat_guards(subscriptions: &HashMap<Uuid, Subscription>, skus: impl IntoIterator<Item = Uuid>) -> Vec<Write> {
    skus.into_iter()
        .filter_map(|sku| subscriptions.get(&sku).map(|s| Write::CheckSeats { sku, capacity: s.capacity }))
        .collect()
}

impl Directory {
    /// The tenant's subscriptions by SKU.
    pub(crate) async fn subscriptions(&self, caller: &Caller) -> Result<HashMap<Uuid, Subscription>> {
        let q = ObjectQuery { limit: 10_000, ..ObjectQuery::of(ObjectKind::Subscription) };
        let records = self.store.objects(caller.tenant(), &q).await.map_err(Error::from)?;
        Ok(records.iter().filter_map(Subscription::from_record).map(|s| (s.sku, s)).collect())
    }

    /// How many live users hold the SKU.
    pub(crate) async fn seats_taken(&self, caller: &Caller, sku: Uuid) -> Result<u64> {
        self.store.value_count(caller.tenant(), "assignedLicenses", &sku.to_string()).await.map_err(Error::from)
    }

    /// Seats in use per SKU by users other than `user`.
    pub(crate) async fn taken_by_others(
        &self,
        caller: &Caller,
        user: &ObjectRecord,
        skus: impl IntoIterator<Item = Uuid>,
    ) -> Result<HashMap<Uuid, u64>> {
        let held: BTreeSet<Uuid> = licenses_of(user.doc.get("assignedLicenses")).into_iter().map(|(s, _)| s).collect();
        let mut out = HashMap::new();
        for sku in skus.into_iter().collect::<BTreeSet<_>>() {
            let taken = self.seats_taken(caller, sku).await?;
            out.insert(sku, taken.saturating_sub(u64::from(held.contains(&sku))));
        }
        Ok(out)
    }

    /// `POST /users/{id}/assignLicense`: adds and removes direct licenses, all or nothing.
    pub async fn assign_license(&self, caller: &Caller, key: &str, body: &Map<String, Value>) -> Result<ObjectRecord> {
        require(caller, Action::AssignLicenses)?;
        let add = requested(body, "addLicenses")?;
        let remove: Vec<Uuid> = match body.get("removeLicenses") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().and_then(|s| Uuid::parse_str(s).ok()))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Error::invalid_property("removeLicenses", "removeLicenses must list skuId GUIDs."))?,
            _ => {
                return Err(Error::invalid_property(
                    "removeLicenses",
                    "The request body must contain 'removeLicenses'.",
                ))
            }
        };
        let mut turn = self.turn(caller, self.user_id(caller, key).await?, "user").await?;
        loop {
            let subscriptions = self.subscriptions(caller).await?;
            for (sku, disabled) in &add {
                let subscription = subscriptions.get(sku).ok_or_else(|| direct_error("Other", *sku, ""))?;
                if let Some(plan) = disabled.iter().find(|p| !subscription.plans.iter().any(|x| x.0 == **p)) {
                    return Err(Error::invalid(format!("Service plan {plan} is not part of license {sku}.")));
                }
            }
            let user = self.live_user(caller, key).await?;
            let mut direct = direct_source(&user);
            if let Some(sku) = remove.iter().find(|sku| !direct.licenses.iter().any(|(s, _)| s == *sku)) {
                return Err(Error::invalid(format!(
                    "User does not have a corresponding license {sku} assigned directly."
                )));
            }
            direct.licenses.retain(|(sku, _)| !remove.contains(sku));
            for (sku, disabled) in &add {
                match direct.licenses.iter_mut().find(|(s, _)| s == sku) {
                    Some(existing) => existing.1 = disabled.clone(),
                    None => direct.licenses.push((*sku, disabled.clone())),
                }
            }
            let usage = user.doc.get("usageLocation").and_then(Value::as_str).map(str::to_owned);
            if usage.is_none() && !add.is_empty() {
                return Err(direct_error("ProhibitedInUsageLocationViolation", Uuid::nil(), ""));
            }
            let mut sources = vec![direct.clone()];
            let groups = self.direct_groups(caller, user.id).await?;
            sources.extend(self.group_sources(caller, groups, &mut HashMap::new()).await?);
            let skus: BTreeSet<Uuid> = sources.iter().flat_map(|s| s.licenses.iter().map(|(sku, _)| *sku)).collect();
            let taken = self.taken_by_others(caller, &user, skus.iter().copied()).await?;
            let resolution = resolve(
                usage.as_deref(),
                &sources,
                &Tenancy { subscriptions: &subscriptions, taken_by_others: &taken },
            );
            if let Some(failed) = resolution.states.iter().find(|state| state.group.is_none() && state.error.is_some())
            {
                let part = subscriptions.get(&failed.sku).map(|s| s.part_number.clone()).unwrap_or_default();
                return Err(direct_error(failed.error.unwrap_or("Other"), failed.sku, &part));
            }
            let mut record = user.clone();
            record.doc.insert(DIRECT.into(), licenses_json(&direct.licenses));
            apply(&mut record.doc, &resolution, &subscriptions, &format_time(self.now()));
            let attributes = vec!["assignedLicenses".into(), "assignedPlans".into(), "licenseAssignmentStates".into()];
            let mut writes = vec![Write::UpdateObject {
                before: None,
                object: record.clone(),
                expected_version: user.version,
                attributes,
            }];
            writes.extend(seat_guards(&subscriptions, add.iter().map(|(sku, _)| *sku)));
            match self.commit(caller, writes).await {
                Ok(_) => return Ok(ObjectRecord { version: user.version + 1, ..record }),
                Err(StoreError::VersionMismatch) => turn.overtaken().await?,
                Err(StoreError::Conflict(what)) if what == "seats" => {
                    let sku = add.first().map(|(s, _)| *s).unwrap_or_default();
                    return Err(direct_error("CountViolation", sku, ""));
                }
                Err(other) => return Err(write_error(other, "conflict")),
            }
        }
    }

    /// The groups a user is a direct member of.
    async fn direct_groups(&self, caller: &Caller, user: Uuid) -> Result<Vec<Uuid>> {
        let links = self.store.links(caller.tenant(), user, true).await.map_err(Error::from)?;
        Ok(links
            .iter()
            .filter(|l| l.member == user && l.relation == crate::store::Relation::Member)
            .map(|l| l.group)
            .collect())
    }

    /// The licensed groups the user is a direct member of, as license sources in group-id order; `known`
    /// holds the licenses of groups already read (a bulk round reads each group once).
    pub(crate) async fn group_sources(
        &self,
        caller: &Caller,
        mut groups: Vec<Uuid>,
        known: &mut HashMap<Uuid, Vec<(Uuid, BTreeSet<Uuid>)>>,
    ) -> Result<Vec<Source>> {
        groups.sort();
        let mut out = Vec::new();
        for group in groups {
            let licenses = match known.get(&group) {
                Some(licenses) => licenses.clone(),
                None => {
                    let record =
                        self.store.object(caller.tenant(), ObjectKind::Group, group).await.map_err(Error::from)?;
                    let licenses = record
                        .filter(|g| g.deleted_at.is_none())
                        .map(|g| licenses_of(g.doc.get("assignedLicenses")))
                        .unwrap_or_default();
                    known.insert(group, licenses.clone());
                    licenses
                }
            };
            if !licenses.is_empty() {
                out.push(Source { group: Some(group), licenses });
            }
        }
        Ok(out)
    }

    /// The user's licenses with their service plans, as Graph's `licenseDetails`.
    pub async fn license_details(&self, caller: &Caller, key: &str) -> Result<Vec<Value>> {
        require(caller, Action::ReadUsers)?;
        let user = self.live_user(caller, key).await?;
        let subscriptions = self.subscriptions(caller).await?;
        Ok(licenses_of(user.doc.get("assignedLicenses"))
            .iter()
            .filter_map(|(sku, off)| {
                let subscription = subscriptions.get(sku)?;
                let plans: Vec<Value> = subscription
                    .plans
                    .iter()
                    .map(|(id, name, _)| {
                        json!({
                            "servicePlanId": id, "servicePlanName": name, "appliesTo": "User",
                            "provisioningStatus": if off.contains(id) { "Disabled" } else { "Success" },
                        })
                    })
                    .collect();
                Some(json!({"id": format!("{sku}"), "skuId": sku, "skuPartNumber": subscription.part_number, "servicePlans": plans}))
            })
            .collect())
    }

    /// `GET /subscribedSkus`: the tenant's subscriptions with their consumed units.
    pub async fn subscribed_skus(&self, caller: &Caller) -> Result<Vec<Value>> {
        require(caller, Action::ReadOrganization)?;
        let q = ObjectQuery { limit: 10_000, ..ObjectQuery::of(ObjectKind::Subscription) };
        let records = self.store.objects(caller.tenant(), &q).await.map_err(Error::from)?;
        let mut out = Vec::new();
        for record in records {
            out.push(self.sku_json(caller, &record).await?);
        }
        Ok(out)
    }

    async fn sku_json(&self, caller: &Caller, record: &ObjectRecord) -> Result<Value> {
        let sku = record.unique_key.clone().unwrap_or_default();
        let consumed = match Uuid::parse_str(&sku) {
            Ok(id) => self.seats_taken(caller, id).await?,
            Err(_) => 0,
        };
        let mut body = Map::new();
        body.insert("id".into(), json!(format!("{}_{sku}", caller.tenant())));
        body.insert("accountId".into(), json!(caller.tenant()));
        body.insert("appliesTo".into(), json!("User"));
        for name in ["capabilityStatus", "skuId", "skuPartNumber", "prepaidUnits"] {
            body.insert(name.into(), record.doc.get(name).cloned().unwrap_or(Value::Null));
        }
        body.insert("consumedUnits".into(), json!(consumed));
        body.insert("subscriptionIds".into(), json!([record.id]));
        let plans: Vec<Value> = record
            .doc
            .get("servicePlans")
            .and_then(Value::as_array)
            .map(|plans| {
                plans
                    .iter()
                    .map(|p| {
                        json!({
                            "servicePlanId": p.get("servicePlanId"), "servicePlanName": p.get("servicePlanName"),
                            "provisioningStatus": "Success", "appliesTo": "User",
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        body.insert("servicePlans".into(), Value::Array(plans));
        Ok(Value::Object(body))
    }

    /// Adds a subscription to the tenant: a catalog product by part number or skuId, or a custom product
    /// with its own service plans (`servicePlans: [{servicePlanName, servicePlanId?, dependsOn?}]`) and
    /// `mutuallyExclusiveWith` products.
    pub async fn add_subscription(&self, caller: &Caller, body: &Map<String, Value>) -> Result<Value> {
        require(caller, Action::WriteOrganization)?;
        body.iter().try_for_each(|(name, value)| schema::check_texts(name, value))?;
        let key =
            body.get("skuPartNumber").or_else(|| body.get("skuId")).and_then(Value::as_str).ok_or_else(|| {
                Error::invalid_property("skuPartNumber", "Name the product by skuPartNumber or skuId.")
            })?;
        let mut doc = Map::new();
        match (catalog().product(key), body.get("servicePlans")) {
            (Some(product), None) => {
                doc.insert("skuId".into(), json!(product.sku_id));
                doc.insert("skuPartNumber".into(), json!(product.sku_part_number));
                doc.insert("displayName".into(), json!(product.display_name));
                let plans: Vec<Value> = product
                    .service_plans
                    .iter()
                    .map(|p| json!({"servicePlanId": p.service_plan_id, "servicePlanName": p.service_plan_name, "_service": p.service}))
                    .collect();
                doc.insert("servicePlans".into(), Value::Array(plans));
            }
            (_, Some(Value::Array(plans))) if !plans.is_empty() => {
                let sku = match body.get("skuId").and_then(Value::as_str) {
                    Some(id) => {
                        Uuid::parse_str(id).map_err(|_| Error::invalid_property("skuId", "skuId must be a GUID."))?
                    }
                    None => Uuid::new_v4(),
                };
                doc.insert("skuId".into(), json!(sku));
                doc.insert(
                    "skuPartNumber".into(),
                    json!(body.get("skuPartNumber").and_then(Value::as_str).unwrap_or(key)),
                );
                let mut checked = Vec::new();
                let mut dependencies = Map::new();
                for plan in plans {
                    let name = plan.get("servicePlanName").and_then(Value::as_str).filter(|n| !n.is_empty());
                    let name = name.ok_or_else(|| {
                        Error::invalid_property("servicePlans", "Each service plan needs a servicePlanName.")
                    })?;
                    let id = match plan.get("servicePlanId").and_then(Value::as_str) {
                        Some(id) => Uuid::parse_str(id)
                            .map_err(|_| Error::invalid_property("servicePlans", "servicePlanId must be a GUID."))?,
                        None => Uuid::new_v4(),
                    };
                    let needs = uuid_list(plan.get("dependsOn"));
                    if !needs.is_empty() {
                        dependencies.insert(id.to_string(), json!(needs));
                    }
                    checked
                        .push(json!({"servicePlanId": id, "servicePlanName": name, "_service": plan.get("service")}));
                }
                doc.insert("servicePlans".into(), Value::Array(checked));
                doc.insert("_dependencies".into(), Value::Object(dependencies));
                doc.insert("_exclusiveWith".into(), json!(uuid_list(body.get("mutuallyExclusiveWith"))));
            }
            _ => {
                return Err(Error::invalid_property(
                    "skuPartNumber",
                    format!("'{key}' is not a product of the catalog; a custom product lists its servicePlans."),
                ))
            }
        }
        set_units(&mut doc, body)?;
        let sku = doc.get("skuId").and_then(Value::as_str).unwrap_or_default().to_owned();
        let record = ObjectRecord {
            id: crate::store::new_object_id(),
            kind: ObjectKind::Subscription,
            version: 1,
            unique_key: Some(sku),
            manager: None,
            doc,
            created_at: self.now(),
            deleted_at: None,
        };
        self.commit(caller, vec![Write::InsertObject(record.clone())]).await.map_err(|e| {
            write_error(e, "The tenant already has a subscription to this product; change its units instead.")
        })?;
        self.sku_json(caller, &record).await
    }

    /// A subscription by Graph's id (`{tenant}_{skuId}`), its skuId, or a catalog product's part number.
    async fn subscription_record(&self, caller: &Caller, id: &str) -> Result<ObjectRecord> {
        schema::check_text("id", id)?;
        let sku = match catalog().product(id) {
            Some(product) => product.sku_id.to_string(),
            None => id.rsplit('_').next().unwrap_or(id).to_lowercase(),
        };
        self.store
            .object_by_key(caller.tenant(), ObjectKind::Subscription, &sku)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::not_found(id))
    }

    pub async fn get_subscription(&self, caller: &Caller, id: &str) -> Result<Value> {
        require(caller, Action::ReadOrganization)?;
        let record = self.subscription_record(caller, id).await?;
        self.sku_json(caller, &record).await
    }

    /// Changes a subscription's units or status.
    pub async fn update_subscription(&self, caller: &Caller, id: &str, body: &Map<String, Value>) -> Result<()> {
        require(caller, Action::WriteOrganization)?;
        let mut turn = self.turn(caller, self.subscription_record(caller, id).await?.id, "subscription").await?;
        loop {
            let current = self.subscription_record(caller, id).await?;
            let mut record = current.clone();
            set_units(&mut record.doc, body)?;
            let attributes = vec!["prepaidUnits".into(), "capabilityStatus".into()];
            match self
                .commit(
                    caller,
                    vec![Write::UpdateObject {
                        before: None,
                        object: record,
                        expected_version: current.version,
                        attributes,
                    }],
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::VersionMismatch) => turn.overtaken().await?,
                Err(other) => return Err(write_error(other, "conflict")),
            }
        }
    }

    /// Retires a subscription no user holds any more.
    pub async fn retire_subscription(&self, caller: &Caller, id: &str) -> Result<()> {
        require(caller, Action::WriteOrganization)?;
        let record = self.subscription_record(caller, id).await?;
        let sku = Uuid::parse_str(record.unique_key.as_deref().unwrap_or_default()).map_err(Error::internal)?;
        let taken = self.seats_taken(caller, sku).await?;
        if taken > 0 {
            return Err(Error::new(
                ErrorKind::Invalid,
                format!("{taken} users hold this product; remove their licenses before retiring the subscription."),
            ));
        }
        self.commit(caller, vec![Write::Purge { kind: ObjectKind::Subscription, id: record.id }])
            .await
            .map_err(|e| write_error(e, "conflict"))?;
        Ok(())
    }
}

/// The group-licensing processor: members hold the licenses of the groups they are in.
pub struct GroupLicensing;

#[async_trait::async_trait]
impl ChangeProcessor for GroupLicensing {
    fn name(&self) -> &'static str {
        "licensing"
    }

    async fn round(
        &self,
        directory: &Directory,
        caller: &Caller,
        holder: &str,
        round: Round,
        changes: &[ChangeRecord],
    ) -> Result<Outcome> {
        directory.licensing_round(caller, holder, round, changes).await
    }
}

/// Users reconciled per transaction of a group's bulk license processing.
const USERS_PER_BATCH: usize = 2000;

/// What one licensing round knows: the tenant's subscriptions, seats taken per SKU (kept current as the
/// round changes users), and the licenses of the groups it has looked at.
struct Ledger {
    subscriptions: HashMap<Uuid, Subscription>,
    taken: HashMap<Uuid, u64>,
    groups: HashMap<Uuid, Vec<(Uuid, BTreeSet<Uuid>)>>,
}

impl Directory {
    /// `POST /groups/{id}/assignLicense`: sets the group's licenses; members get them from the licensing
    /// processor. A group must be security-enabled to hold licenses.
    pub async fn assign_group_license(
        &self,
        caller: &Caller,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<ObjectRecord> {
        require(caller, Action::AssignLicenses)?;
        let add = requested(body, "addLicenses")?;
        let remove: Vec<Uuid> = uuid_list(body.get("removeLicenses"));
        if !matches!(body.get("removeLicenses"), Some(Value::Array(_))) {
            return Err(Error::invalid_property("removeLicenses", "The request body must contain 'removeLicenses'."));
        }
        let mut turn = self.turn(caller, object_id(id)?, "group").await?;
        loop {
            let subscriptions = self.subscriptions(caller).await?;
            for (sku, disabled) in &add {
                let subscription = subscriptions.get(sku).ok_or_else(|| direct_error("Other", *sku, ""))?;
                if let Some(plan) = disabled.iter().find(|p| !subscription.plans.iter().any(|x| x.0 == **p)) {
                    return Err(Error::invalid(format!("Service plan {plan} is not part of license {sku}.")));
                }
            }
            let group = self.get_group(caller, id).await?;
            if !group.doc.get("securityEnabled").and_then(Value::as_bool).unwrap_or(false) {
                return Err(Error::invalid("Licenses can be assigned only to security-enabled groups."));
            }
            let mut licenses = licenses_of(group.doc.get("assignedLicenses"));
            if let Some(sku) = remove.iter().find(|sku| !licenses.iter().any(|(s, _)| s == *sku)) {
                return Err(Error::invalid(format!("The group does not have license {sku} assigned.")));
            }
            licenses.retain(|(sku, _)| !remove.contains(sku));
            for (sku, disabled) in &add {
                match licenses.iter_mut().find(|(s, _)| s == sku) {
                    Some(existing) => existing.1 = disabled.clone(),
                    None => licenses.push((*sku, disabled.clone())),
                }
            }
            let mut record = group.clone();
            record.doc.insert("assignedLicenses".into(), licenses_json(&licenses));
            record.doc.insert("licenseProcessingState".into(), json!({"state": "QueuedForProcessing"}));
            let write = Write::UpdateObject {
                before: None,
                object: record.clone(),
                expected_version: group.version,
                attributes: vec!["assignedLicenses".into()],
            };
            match self.commit(caller, vec![write]).await {
                Ok(_) => return Ok(record),
                Err(StoreError::VersionMismatch) => turn.overtaken().await?,
                Err(other) => return Err(write_error(other, "conflict")),
            }
        }
    }

    /// A page of the group's direct members whose licenses from the group are in error.
    pub async fn members_with_license_errors(
        &self,
        caller: &Caller,
        id: &str,
        listing: crate::query::Listing,
    ) -> Result<crate::users::Page> {
        require(caller, Action::ReadMemberships)?;
        let group = self.get_group(caller, id).await?;
        let filter = Filter::Any {
            property: "licenseErrorGroups".into(),
            test: Test::Compare(Op::Eq, Literal::Text(group.id.to_string())),
        };
        let base = ObjectQuery {
            kind: Some(ObjectKind::User),
            scope: Some(crate::store::Scope::Members { group: group.id, relation: crate::store::Relation::Member }),
            filter: Some(filter),
            ..ObjectQuery::default()
        };
        self.page(caller, base, listing).await
    }

    /// `POST /users/{id}/reprocessLicenseAssignment`: resolves the user's licenses again now (seats freed
    /// since an error are offered again).
    pub async fn reprocess_licenses(&self, caller: &Caller, key: &str) -> Result<ObjectRecord> {
        require(caller, Action::AssignLicenses)?;
        let mut turn = self.turn(caller, self.user_id(caller, key).await?, "user").await?;
        loop {
            let user = self.live_user(caller, key).await?;
            let mut ledger = self.ledger(caller).await?;
            let groups = self.direct_groups(caller, user.id).await?;
            let Some((write, gained)) = self.reconcile(caller, &user, groups, &mut ledger).await? else {
                return Ok(user);
            };
            let Write::UpdateObject { object, .. } = &write else {
                return Ok(user);
            };
            let record = ObjectRecord { version: user.version + 1, ..object.clone() };
            let mut writes = vec![write];
            writes.extend(seat_guards(&ledger.subscriptions, gained));
            match self.commit(caller, writes).await {
                Ok(_) => return Ok(record),
                Err(StoreError::VersionMismatch) => turn.overtaken().await?,
                Err(other) => return Err(write_error(other, "conflict")),
            }
        }
    }

    async fn ledger(&self, caller: &Caller) -> Result<Ledger> {
        let subscriptions = self.subscriptions(caller).await?;
        let mut taken = HashMap::new();
        for sku in subscriptions.keys() {
            taken.insert(*sku, self.seats_taken(caller, *sku).await?);
        }
        Ok(Ledger { subscriptions, taken, groups: HashMap::new() })
    }

    /// The user's licenses resolved again from its sources (its direct assignment and `groups`, the groups
    /// it is a direct member of): the write that records them and the SKUs the user gains (whose seats the
    /// write must check), or `None` when nothing changes. Keeps the ledger's seat counts current.
    async fn reconcile(
        &self,
        caller: &Caller,
        user: &ObjectRecord,
        groups: Vec<Uuid>,
        ledger: &mut Ledger,
    ) -> Result<Option<(Write, Vec<Uuid>)>> {
        let mut sources = vec![direct_source(user)];
        sources.extend(self.group_sources(caller, groups, &mut ledger.groups).await?);
        let held: BTreeSet<Uuid> = licenses_of(user.doc.get("assignedLicenses")).into_iter().map(|(s, _)| s).collect();
        let others: HashMap<Uuid, u64> =
            ledger.taken.iter().map(|(sku, n)| (*sku, n.saturating_sub(u64::from(held.contains(sku))))).collect();
        let usage = user.doc.get("usageLocation").and_then(Value::as_str);
        let resolution =
            resolve(usage, &sources, &Tenancy { subscriptions: &ledger.subscriptions, taken_by_others: &others });
        let mut doc = user.doc.clone();
        let stamp = user
            .doc
            .get("licenseAssignmentStates")
            .and_then(|s| s.get(0))
            .and_then(|s| s.get("lastUpdatedDateTime"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        apply(&mut doc, &resolution, &ledger.subscriptions, stamp.as_deref().unwrap_or_default());
        let unchanged = ["assignedLicenses", "licenseAssignmentStates"].iter().all(|k| doc.get(*k) == user.doc.get(*k))
            || (resolution.states.is_empty() && user.doc.get("licenseAssignmentStates").is_none());
        if unchanged {
            return Ok(None);
        }
        apply(&mut doc, &resolution, &ledger.subscriptions, &format_time(self.now()));
        let mut gained = Vec::new();
        for sku in ledger.subscriptions.keys() {
            let before = held.contains(sku);
            let after = resolution.held.contains_key(sku);
            let count = ledger.taken.entry(*sku).or_insert(0);
            match (before, after) {
                (false, true) => {
                    *count += 1;
                    gained.push(*sku);
                }
                (true, false) => *count = count.saturating_sub(1),
                _ => {}
            }
        }
        let object = ObjectRecord { doc, ..user.clone() };
        let attributes = vec!["assignedLicenses".into(), "assignedPlans".into(), "licenseAssignmentStates".into()];
        let before = Some(crate::query::index_values(user));
        Ok(Some((Write::UpdateObject { before, object, expected_version: user.version, attributes }, gained)))
    }

    /// The writes that resolve one page of a group's user members again (with the seat checks and the lease's
    /// renewal), and where the next page starts; `None` past the last member. Users resolved here are taken
    /// out of `users`.
    async fn license_page(
        &self,
        caller: &Caller,
        holder: &str,
        group: Uuid,
        after: Option<crate::store::Cursor>,
        ledger: &mut Ledger,
        users: &mut BTreeSet<Uuid>,
    ) -> Result<Option<(Vec<Write>, Option<crate::store::Cursor>)>> {
        use crate::store::{Relation, Scope};
        let tenant = caller.tenant();
        let q = ObjectQuery {
            kind: Some(ObjectKind::User),
            scope: Some(Scope::Members { group, relation: Relation::Member }),
            after,
            limit: USERS_PER_BATCH as u32,
            ..ObjectQuery::default()
        };
        let chunk = self.store.objects(tenant, &q).await.map_err(Error::from)?;
        let Some(last) = chunk.last() else { return Ok(None) };
        let next = (chunk.len() == USERS_PER_BATCH).then(|| crate::store::Cursor::after(last.id));
        let ids: Vec<Uuid> = chunk.iter().map(|u| u.id).collect();
        let mut memberships: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for link in self.store.memberships(tenant, &ids).await.map_err(Error::from)? {
            memberships.entry(link.member).or_default().push(link.group);
        }
        let mut batch = Vec::new();
        let mut gained = BTreeSet::new();
        for user in &chunk {
            users.remove(&user.id);
            let groups = memberships.remove(&user.id).unwrap_or_default();
            if let Some((write, skus)) = self.reconcile(caller, user, groups, ledger).await? {
                batch.push(write);
                gained.extend(skus);
            }
        }
        batch.extend(seat_guards(&ledger.subscriptions, gained));
        batch.push(self.lease_renewal(holder, GroupLicensing.name()));
        Ok(Some((batch, next)))
    }

    /// One round of group-based licensing: users whose group memberships, group licenses or usage location
    /// changed are resolved again; a group whose licenses changed has all its direct user members resolved,
    /// in batches, and its processing state set.
    pub(crate) async fn licensing_round(
        &self,
        caller: &Caller,
        holder: &str,
        _round: Round,
        changes: &[ChangeRecord],
    ) -> Result<Outcome> {
        use crate::store::ChangeKind;
        let tenant = caller.tenant();
        let mut users: BTreeSet<Uuid> = BTreeSet::new();
        let mut groups: BTreeSet<Uuid> = BTreeSet::new();
        let mut licensed: HashMap<Uuid, bool> = HashMap::new();
        for change in changes {
            match (change.object_type.as_str(), change.kind) {
                ("members", _) if change.attributes.first().map(String::as_str) == Some("user") => {
                    let Some((group, member)) = change.object_id.split_once('/') else { continue };
                    let (Ok(group), Ok(member)) = (Uuid::parse_str(group), Uuid::parse_str(member)) else { continue };
                    let has = match licensed.get(&group) {
                        Some(has) => *has,
                        None => {
                            let record =
                                self.store.object(tenant, ObjectKind::Group, group).await.map_err(Error::from)?;
                            let has = record.is_some_and(|g| !licenses_of(g.doc.get("assignedLicenses")).is_empty());
                            licensed.insert(group, has);
                            has
                        }
                    };
                    if has {
                        users.insert(member);
                    }
                }
                ("group", ChangeKind::Updated) if change.attributes.iter().any(|a| a == "assignedLicenses") => {
                    if let Ok(id) = Uuid::parse_str(&change.object_id) {
                        groups.insert(id);
                    }
                }
                ("user", ChangeKind::Updated) if change.attributes.iter().any(|a| a == "usageLocation") => {
                    if let Ok(id) = Uuid::parse_str(&change.object_id) {
                        users.insert(id);
                    }
                }
                ("user", ChangeKind::Restored) => {
                    if let Ok(id) = Uuid::parse_str(&change.object_id) {
                        users.insert(id);
                    }
                }
                _ => {}
            }
        }
        if users.is_empty() && groups.is_empty() {
            return Ok(Outcome { writes: Vec::new(), committed: false });
        }
        let mut ledger = self.ledger(caller).await?;
        let mut committed = false;
        for group in &groups {
            // A page of members at a time, so a group of any size is processed in bounded memory; the next
            // page is read and resolved while the last one commits.
            let (mut after, mut more, mut pending) = (None, true, None);
            while more || pending.is_some() {
                let write = async {
                    match pending.take() {
                        Some(batch) => self.commit(caller, batch).await.map(|_| true),
                        None => Ok(false),
                    }
                };
                let read = async {
                    match more {
                        true => self.license_page(caller, holder, *group, after.take(), &mut ledger, &mut users).await,
                        false => Ok(None),
                    }
                };
                let (written, page) = tokio::join!(write, read);
                committed |= written.map_err(|e| Error::conflict(format!("licensing: {e}")))?;
                match page? {
                    Some((batch, next)) => {
                        pending = Some(batch);
                        more = next.is_some();
                        after = next;
                    }
                    None => more = false,
                }
            }
            let record = self.store.object(tenant, ObjectKind::Group, *group).await.map_err(Error::from)?;
            if let Some(mut record) = record.filter(|g| g.deleted_at.is_none()) {
                let version = record.version;
                record.doc.insert("licenseProcessingState".into(), json!({"state": "ProcessingComplete"}));
                let attributes = vec!["licenseProcessingState".into()];
                let write = Write::UpdateObject { before: None, object: record, expected_version: version, attributes };
                self.commit(caller, vec![write]).await.map_err(|e| Error::conflict(format!("licensing: {e}")))?;
            }
        }
        let mut writes = Vec::new();
        let mut gained = BTreeSet::new();
        for id in users {
            let user = self.store.object(tenant, ObjectKind::User, id).await.map_err(Error::from)?;
            if let Some(user) = user.filter(|u| u.deleted_at.is_none()) {
                let groups = self.direct_groups(caller, user.id).await?;
                if let Some((write, skus)) = self.reconcile(caller, &user, groups, &mut ledger).await? {
                    writes.push(write);
                    gained.extend(skus);
                }
            }
        }
        writes.extend(seat_guards(&ledger.subscriptions, gained));
        Ok(Outcome { writes, committed })
    }
}

/// `prepaidUnits` (`enabled`, `suspended`, `warning`, `lockedOut`, non-negative integers) and
/// `capabilityStatus` (`Enabled`, `Warning`, `Suspended`, `LockedOut`) from a body into a subscription.
fn set_units(doc: &mut Map<String, Value>, body: &Map<String, Value>) -> Result<()> {
    let mut units = doc.get("prepaidUnits").and_then(Value::as_object).cloned().unwrap_or_default();
    for name in ["enabled", "suspended", "warning", "lockedOut"] {
        units.entry(name.to_owned()).or_insert(json!(0));
    }
    if let Some(given) = body.get("prepaidUnits") {
        let given = given
            .as_object()
            .ok_or_else(|| Error::invalid_property("prepaidUnits", "prepaidUnits must be an object."))?;
        for (name, value) in given {
            if !units.contains_key(name) {
                return Err(Error::invalid_property(
                    "prepaidUnits",
                    format!("'{name}' is not a kind of prepaid unit."),
                ));
            }
            let count = value.as_u64().filter(|n| *n <= 10_000_000).ok_or_else(|| {
                Error::invalid_property("prepaidUnits", format!("prepaidUnits.{name} must be a whole number of seats."))
            })?;
            units.insert(name.clone(), json!(count));
        }
    }
    doc.insert("prepaidUnits".into(), Value::Object(units));
    let status = match body.get("capabilityStatus") {
        Some(value) => value
            .as_str()
            .and_then(|s| {
                ["Enabled", "Warning", "Suspended", "LockedOut"].into_iter().find(|x| x.eq_ignore_ascii_case(s))
            })
            .ok_or_else(|| {
                Error::invalid_property(
                    "capabilityStatus",
                    "capabilityStatus is Enabled, Warning, Suspended or LockedOut.",
                )
            })?,
        None => doc.get("capabilityStatus").and_then(Value::as_str).map_or("Enabled", |s| {
            if s == "Warning" {
                "Warning"
            } else {
                "Enabled"
            }
        }),
    };
    doc.insert("capabilityStatus".into(), json!(status));
    Ok(())
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn subscription(part: &str, capacity: u64) -> Subscription {
        let product = catalog().product(part).expect("in the catalog");
        Subscription {
            sku: product.sku_id,
            part_number: part.into(),
            capacity,
            enabled: true,
            plans: product
                .service_plans
                .iter()
                .map(|p| (p.service_plan_id, p.service_plan_name.clone(), p.service.clone()))
                .collect(),
            exclusive_with: Vec::new(),
            dependencies: Vec::new(),
        }
    }

    #[test]
    fn the_catalog_holds_the_products_with_their_public_ids() {
        let e3 = catalog().product("ENTERPRISEPACK").expect("Office 365 E3");
        assert_eq!(e3.sku_id.to_string(), "6fd2c87f-b296-42f0-b197-1e91e994b900");
        assert!(e3
            .service_plans
            .iter()
            .any(|p| p.service_plan_id.to_string() == "efb87545-963c-4e0d-99df-69c6916d9eb0"));
        for part in [
            "STANDARDPACK",
            "ENTERPRISEPREMIUM",
            "SPE_E3",
            "SPE_E5",
            "O365_BUSINESS_ESSENTIALS",
            "O365_BUSINESS_PREMIUM",
            "SPB",
            "AAD_PREMIUM",
            "AAD_PREMIUM_P2",
            "EXCHANGESTANDARD",
            "EXCHANGEENTERPRISE",
        ] {
            assert!(catalog().product(part).is_some(), "{part}");
        }
        assert_eq!(
            catalog().product("078d2b04-f1bd-4111-bbd4-b4b1b354cef4").map(|p| p.sku_part_number.as_str()),
            Some("AAD_PREMIUM")
        );
    }

    #[test]
    fn resolution_follows_entras_rules() {
        let subs: HashMap<Uuid, Subscription> = [
            subscription("STANDARDPACK", 10),
            subscription("ENTERPRISEPACK", 1),
            subscription("AAD_PREMIUM", 5),
            subscription("MCOMEETADV", 5),
        ]
        .into_iter()
        .map(|s| (s.sku, s))
        .collect();
        let sku = |p: &str| catalog().product(p).expect("product").sku_id;
        let none = HashMap::new();
        let tenancy = Tenancy { subscriptions: &subs, taken_by_others: &none };
        let source = |group: Option<Uuid>, skus: &[&str]| Source {
            group,
            licenses: skus.iter().map(|p| (sku(p), BTreeSet::new())).collect(),
        };
        let group = Some(Uuid::new_v4());

        let both = resolve(Some("NL"), &[source(None, &["AAD_PREMIUM"]), source(group, &["AAD_PREMIUM"])], &tenancy);
        assert_eq!(both.held.len(), 1, "one seat for a license held twice");
        assert!(both.states.iter().all(|s| s.error.is_none()));

        let conflict = resolve(
            Some("NL"),
            &[source(None, &["STANDARDPACK"]), source(group, &["ENTERPRISEPACK", "AAD_PREMIUM"])],
            &tenancy,
        );
        assert_eq!(conflict.held.keys().copied().collect::<Vec<_>>(), vec![sku("STANDARDPACK")]);
        assert_eq!(conflict.states[1].error, Some("MutuallyExclusiveViolation"));
        assert_eq!(conflict.states[2].error, Some("Other"), "one failing license blocks the group's others");

        let taken: HashMap<Uuid, u64> = [(sku("ENTERPRISEPACK"), 1)].into_iter().collect();
        let full = resolve(
            Some("NL"),
            &[source(group, &["ENTERPRISEPACK"])],
            &Tenancy { subscriptions: &subs, taken_by_others: &taken },
        );
        assert_eq!(full.states[0].error, Some("CountViolation"));
        assert!(full.held.is_empty());

        let dependency = resolve(Some("NL"), &[source(None, &["MCOMEETADV"])], &tenancy);
        assert_eq!(dependency.states[0].error, Some("DependencyViolation"));
        let satisfied = resolve(Some("NL"), &[source(None, &["ENTERPRISEPACK", "MCOMEETADV"])], &tenancy);
        assert!(satisfied.states.iter().all(|s| s.error.is_none()), "{satisfied:?}");

        let nowhere = resolve(None, &[source(None, &["AAD_PREMIUM"]), source(group, &["AAD_PREMIUM"])], &tenancy);
        assert_eq!(nowhere.states[0].error, Some("ProhibitedInUsageLocationViolation"), "direct needs a location");
        assert_eq!(nowhere.states[1].error, None, "a group's license takes the organization's country");
        assert_eq!(nowhere.held.len(), 1);

        let p1 = sku("AAD_PREMIUM");
        let plans: Vec<Uuid> = subs[&p1].plans.iter().map(|p| p.0).collect();
        let partly = |off: &[Uuid]| Source { group: None, licenses: vec![(p1, off.iter().copied().collect())] };
        let mut second = partly(&plans[..2]);
        second.group = group;
        let combined = resolve(Some("NL"), &[partly(&plans[..1]), second], &tenancy);
        assert_eq!(
            combined.held[&p1],
            plans[..1].iter().copied().collect(),
            "disabled plans are those every source disables"
        );
    }
}
