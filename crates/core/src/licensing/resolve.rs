//! How a user's licenses resolve from their sources (direct and group assignments), as Entra resolves them,
//! with its error states.

use super::*;

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

pub(super) fn enabled_plans(subscription: &Subscription, disabled: &BTreeSet<Uuid>) -> Vec<Uuid> {
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
pub(super) fn direct_error(error: &str, sku: Uuid, part_number: &str) -> Error {
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
pub(super) fn direct_source(user: &ObjectRecord) -> Source {
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

pub(super) fn licenses_json(licenses: &[(Uuid, BTreeSet<Uuid>)]) -> Value {
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
pub(super) fn requested(body: &Map<String, Value>, name: &str) -> Result<Vec<(Uuid, BTreeSet<Uuid>)>> {
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
