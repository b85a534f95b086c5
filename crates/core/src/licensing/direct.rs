//! Direct assignment (`assignLicense` on a user), license details, and the reads the other parts share.

use super::*;

impl Licensing<'_> {
    /// The tenant's subscriptions by SKU.
    pub(crate) async fn subscriptions(&self, caller: &Caller) -> Result<HashMap<Uuid, Subscription>> {
        let q = ObjectQuery { limit: 10_000, ..ObjectQuery::of(ObjectKind::Subscription) };
        let records = self.directory.store.objects(caller.tenant(), &q).await.map_err(Error::from)?;
        Ok(records.iter().filter_map(Subscription::from_record).map(|s| (s.sku, s)).collect())
    }

    /// How many live users hold the SKU.
    pub(crate) async fn seats_taken(&self, caller: &Caller, sku: Uuid) -> Result<u64> {
        self.directory
            .store
            .value_count(caller.tenant(), "assignedLicenses", &sku.to_string())
            .await
            .map_err(Error::from)
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
        let mut turn = self.directory.turn(caller, self.directory.users().user_id(caller, key).await?, "user").await?;
        loop {
            let subscriptions = self.subscriptions(caller).await?;
            check_requested(&subscriptions, &add)?;
            let user = self.directory.users().live_user(caller, key).await?;
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
            apply(&mut record.doc, &resolution, &subscriptions, &format_time(self.directory.now()));
            let attributes = vec!["assignedLicenses".into(), "assignedPlans".into(), "licenseAssignmentStates".into()];
            let mut writes = vec![Write::update(&user, record.clone(), attributes)];
            writes.extend(seat_guards(&subscriptions, add.iter().map(|(sku, _)| *sku)));
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, writes).await? {
                return committed.map(|()| ObjectRecord { version: user.version + 1, ..record }).map_err(|other| {
                    match other {
                        StoreError::Conflict(what) if what == "seats" => {
                            direct_error("CountViolation", add.first().map(|(s, _)| *s).unwrap_or_default(), "")
                        }
                        other => write_error(other, "conflict"),
                    }
                });
            }
        }
    }

    /// The groups a user is a direct member of.
    pub(super) async fn direct_groups(&self, caller: &Caller, user: Uuid) -> Result<Vec<Uuid>> {
        let links = self.directory.store.links(caller.tenant(), user, true).await.map_err(Error::from)?;
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
                    let record = self
                        .directory
                        .store
                        .object(caller.tenant(), ObjectKind::Group, group)
                        .await
                        .map_err(Error::from)?;
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
        let user = self.directory.users().live_user(caller, key).await?;
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
}

/// Refuses licenses the tenant has no subscription to, and disabled plans that are not part of their license.
pub(super) fn check_requested(
    subscriptions: &HashMap<Uuid, Subscription>,
    add: &[(Uuid, BTreeSet<Uuid>)],
) -> Result<()> {
    for (sku, disabled) in add {
        let subscription = subscriptions.get(sku).ok_or_else(|| direct_error("Other", *sku, ""))?;
        if let Some(plan) = disabled.iter().find(|p| !subscription.plans.iter().any(|x| x.0 == **p)) {
            return Err(Error::invalid(format!("Service plan {plan} is not part of license {sku}.")));
        }
    }
    Ok(())
}
