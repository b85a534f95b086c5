//! Group-based licensing: groups hold licenses, and the licensing processor resolves their members.

use super::*;

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
        directory.licensing().licensing_round(caller, holder, round, changes).await
    }
}

/// Users reconciled per transaction of a group's bulk license processing.
pub(super) const USERS_PER_BATCH: usize = 2000;

/// The pages of a group's members committing at once: on PostgreSQL two write their members' rows side by
/// side, one core each, and only take the tenant's sequence in turn (see the store's bulk batches).
const PAGES_IN_FLIGHT: usize = 2;

/// What one licensing round knows: the tenant's subscriptions, seats taken per SKU (kept current as the
/// round changes users), and the licenses of the groups it has looked at.
pub(super) struct Ledger {
    subscriptions: HashMap<Uuid, Subscription>,
    taken: HashMap<Uuid, u64>,
    groups: HashMap<Uuid, Vec<(Uuid, BTreeSet<Uuid>)>>,
}

impl Licensing<'_> {
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
        let mut turn = self.directory.turn(caller, object_id(id)?, "group").await?;
        loop {
            let subscriptions = self.subscriptions(caller).await?;
            super::direct::check_requested(&subscriptions, &add)?;
            let group = self.directory.groups().get(caller, id).await?;
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
            let write = Write::update(&group, record.clone(), vec!["assignedLicenses".into()]);
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, vec![write]).await? {
                return committed.map(|()| record).map_err(|other| write_error(other, "conflict"));
            }
        }
    }

    /// A page of the group's direct members whose licenses from the group are in error.
    pub async fn members_with_license_errors(
        &self,
        caller: &Caller,
        id: &str,
        listing: crate::query::Listing,
    ) -> Result<crate::directory::objects::Page> {
        require(caller, Action::ReadMemberships)?;
        let group = self.directory.groups().get(caller, id).await?;
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
        self.directory.page(caller, base, listing).await
    }

    /// `POST /users/{id}/reprocessLicenseAssignment`: resolves the user's licenses again now (seats freed
    /// since an error are offered again).
    pub async fn reprocess_licenses(&self, caller: &Caller, key: &str) -> Result<ObjectRecord> {
        require(caller, Action::AssignLicenses)?;
        let mut turn = self.directory.turn(caller, self.directory.users().user_id(caller, key).await?, "user").await?;
        loop {
            let user = self.directory.users().live_user(caller, key).await?;
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
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, writes).await? {
                return committed.map(|()| record).map_err(|other| write_error(other, "conflict"));
            }
        }
    }

    pub(super) async fn ledger(&self, caller: &Caller) -> Result<Ledger> {
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
    pub(super) async fn reconcile(
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
        apply(&mut doc, &resolution, &ledger.subscriptions, &format_time(self.directory.now()));
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
        Ok(Some((Write::update_indexed(user, object, attributes, before), gained)))
    }

    /// The writes that resolve one page of a group's user members again (with the seat checks and the lease's
    /// renewal), and where the next page starts; `None` past the last member. Users resolved here are taken
    /// out of `users`.
    pub(super) async fn license_page(
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
        let chunk = self.directory.store.objects(tenant, &q).await.map_err(Error::from)?;
        let Some(last) = chunk.last() else { return Ok(None) };
        let next = (chunk.len() == USERS_PER_BATCH).then(|| crate::store::Cursor::after(last.id));
        let ids: Vec<Uuid> = chunk.iter().map(|u| u.id).collect();
        let mut memberships: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for link in self.directory.store.memberships(tenant, &ids).await.map_err(Error::from)? {
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
        batch.push(self.directory.lease_renewal(holder, GroupLicensing.name()));
        Ok(Some((batch, next)))
    }

    /// Resolves every direct user member of the group again, a page at a time so that a group of any size
    /// is processed in bounded memory, the next page read and resolved while up to [`PAGES_IN_FLIGHT`]
    /// commit; `true` when anything was committed.
    async fn license_members(
        &self,
        caller: &Caller,
        holder: &str,
        group: Uuid,
        ledger: &mut Ledger,
        users: &mut BTreeSet<Uuid>,
    ) -> Result<bool> {
        use futures_util::StreamExt;
        fn settled(written: std::result::Result<i64, crate::store::StoreError>) -> Result<()> {
            written.map(drop).map_err(|e| Error::conflict(format!("licensing: {e}")))
        }
        let (mut after, mut more, mut committed) = (None, true, false);
        let mut writing = futures_util::stream::FuturesOrdered::new();
        while more || !writing.is_empty() {
            if !more || writing.len() == PAGES_IN_FLIGHT {
                if let Some(written) = writing.next().await {
                    settled(written)?;
                    committed = true;
                }
                continue;
            }
            let read = self.license_page(caller, holder, group, after.take(), ledger, users);
            tokio::pin!(read);
            let page = loop {
                tokio::select! {
                    page = &mut read => break page?,
                    Some(written) = writing.next(), if !writing.is_empty() => {
                        settled(written)?;
                        committed = true;
                    }
                }
            };
            match page {
                Some((batch, next)) => {
                    writing.push_back(self.directory.commit(caller, batch));
                    more = next.is_some();
                    after = next;
                }
                None => more = false,
            }
        }
        Ok(committed)
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
        use crate::store::{Change, ChangeKind, Relation};
        let tenant = caller.tenant();
        let mut users: BTreeSet<Uuid> = BTreeSet::new();
        let mut groups: BTreeSet<Uuid> = BTreeSet::new();
        let mut licensed: HashMap<Uuid, bool> = HashMap::new();
        for record in changes {
            match &record.change {
                &Change::Link { relation: Relation::Member, group, member, member_kind: ObjectKind::User, .. } => {
                    let has = match licensed.get(&group) {
                        Some(has) => *has,
                        None => {
                            let record = self
                                .directory
                                .store
                                .object(tenant, ObjectKind::Group, group)
                                .await
                                .map_err(Error::from)?;
                            let has = record.is_some_and(|g| !licenses_of(g.doc.get("assignedLicenses")).is_empty());
                            licensed.insert(group, has);
                            has
                        }
                    };
                    if has {
                        users.insert(member);
                    }
                }
                change @ &Change::Object { object: ObjectKind::Group, id, kind: ChangeKind::Updated, .. }
                    if change.touches(&["assignedLicenses"]) =>
                {
                    groups.insert(id);
                }
                change @ &Change::Object { object: ObjectKind::User, id, kind: ChangeKind::Updated, .. }
                    if change.touches(&["usageLocation"]) =>
                {
                    users.insert(id);
                }
                &Change::Object { object: ObjectKind::User, id, kind: ChangeKind::Restored, .. } => {
                    users.insert(id);
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
            committed |= self.license_members(caller, holder, *group, &mut ledger, &mut users).await?;
            let record = self.directory.store.object(tenant, ObjectKind::Group, *group).await.map_err(Error::from)?;
            if let Some(current) = record.filter(|g| g.deleted_at.is_none()) {
                let mut record = current.clone();
                record.doc.insert("licenseProcessingState".into(), json!({"state": "ProcessingComplete"}));
                let write = Write::update(&current, record, vec!["licenseProcessingState".into()]);
                self.directory
                    .commit(caller, vec![write])
                    .await
                    .map_err(|e| Error::conflict(format!("licensing: {e}")))?;
            }
        }
        let mut writes = Vec::new();
        let mut gained = BTreeSet::new();
        for id in users {
            let user = self.directory.store.object(tenant, ObjectKind::User, id).await.map_err(Error::from)?;
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
