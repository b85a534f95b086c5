//! The tenant's subscriptions (`subscribedSkus` and the admin view of a subscription): seats bought and taken.

use super::*;

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

pub(super) fn uuid_list(value: Option<&Value>) -> Vec<Uuid> {
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

impl Licensing<'_> {
    /// `GET /subscribedSkus`: the tenant's subscriptions with their consumed units.
    pub async fn subscribed_skus(&self, caller: &Caller) -> Result<Vec<Value>> {
        require(caller, Action::ReadOrganization)?;
        let q = ObjectQuery { limit: 10_000, ..ObjectQuery::of(ObjectKind::Subscription) };
        let records = self.directory.store.objects(caller.tenant(), &q).await.map_err(Error::from)?;
        let mut out = Vec::new();
        for record in records {
            out.push(self.sku_json(caller, &record).await?);
        }
        Ok(out)
    }

    pub(super) async fn sku_json(&self, caller: &Caller, record: &ObjectRecord) -> Result<Value> {
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
                    None => self.directory.random().uuid(),
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
                        None => self.directory.random().uuid(),
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
        let record = self.directory.new_object(ObjectKind::Subscription, Some(sku), doc, self.directory.now());
        self.directory.commit(caller, vec![Write::InsertObject(record.clone())]).await.map_err(|e| {
            write_error(e, "The tenant already has a subscription to this product; change its units instead.")
        })?;
        self.sku_json(caller, &record).await
    }

    /// A subscription by Graph's id (`{tenant}_{skuId}`), its skuId, or a catalog product's part number.
    pub(super) async fn subscription_record(&self, caller: &Caller, id: &str) -> Result<ObjectRecord> {
        schema::check_text("id", id)?;
        let sku = match catalog().product(id) {
            Some(product) => product.sku_id.to_string(),
            None => id.rsplit('_').next().unwrap_or(id).to_lowercase(),
        };
        self.directory
            .store
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
        let mut turn =
            self.directory.turn(caller, self.subscription_record(caller, id).await?.id, "subscription").await?;
        loop {
            let current = self.subscription_record(caller, id).await?;
            let mut record = current.clone();
            set_units(&mut record.doc, body)?;
            let attributes = vec!["prepaidUnits".into(), "capabilityStatus".into()];
            let write = Write::update(&current, record, attributes);
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, vec![write]).await? {
                return committed.map_err(|other| write_error(other, "conflict"));
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
        self.directory
            .commit(caller, vec![Write::Purge { kind: ObjectKind::Subscription, id: record.id }])
            .await
            .map_err(|e| write_error(e, "conflict"))?;
        Ok(())
    }
}

/// `prepaidUnits` (`enabled`, `suspended`, `warning`, `lockedOut`, non-negative integers) and
/// `capabilityStatus` (`Enabled`, `Warning`, `Suspended`, `LockedOut`) from a body into a subscription.
pub(super) fn set_units(doc: &mut Map<String, Value>, body: &Map<String, Value>) -> Result<()> {
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
