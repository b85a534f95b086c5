//! Dynamic membership: the change-log processor that keeps every dynamic group's members equal to its
//! rule, and the evaluation of rules against given users (Entra's "validate rules").
//!
//! The processor follows a tenant's change log from its cursor:
//! - a user's create, restore or update re-evaluates that user against the dynamic groups whose rules read
//!   a changed attribute (all of them for a create or restore), in process;
//! - a dynamic group's create, rule change, switch to dynamic or resume re-evaluates the group in bulk: the
//!   rule compiles to the query AST and the store selects the matching users, which are diffed against the
//!   members;
//! - a membership change of a group that `memberOf` rules name re-evaluates that member for those rules;
//! - a rule that reads `system.now` is evaluated at the time of each round, and re-evaluated in bulk by the
//!   processor's periodic round (every [`PERIODIC`](crate::changelog::PERIODIC)), since time changes who
//!   matches without any change to the directory.
//!
//! Membership changes are ordinary link writes, so they are change-log records themselves. Several nodes may
//! run processors against one database: a lease lets one of them work at a time, and every batch moves the
//! cursor with a compare-and-set in the same transaction as its membership writes, so a crash or a lost lease
//! never applies a change twice or skips one. Diffs are computed against the current membership, so
//! re-running a partly applied bulk evaluation converges to the same result.

use crate::auth::authorization::{require, Action};
use crate::changelog::{ChangeProcessor, Outcome, Round};
use crate::directory::objects::Page;
use crate::filter::Filter;
use crate::kernel::error::{Error, Result};
use crate::query::{self, Listing};
use crate::rules::group_rule::{is_dynamic, parsed_rule};
use crate::rules::{self, Rule};
use crate::store::{
    Change, ChangeKind, ChangeRecord, DynamicStatusRecord, Link, ObjectKind, ObjectQuery, ObjectRecord, Relation,
    Scope, Write,
};
use crate::{Caller, Directory};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Membership writes per transaction of a bulk evaluation.
const WRITES_PER_BATCH: usize = 5000;
/// Users one validation evaluates at most.
pub const MAX_VALIDATED_USERS: usize = 20;
/// Group properties whose change re-evaluates a dynamic group in bulk.
const RULE_PROPERTIES: [&str; 3] = ["membershipRule", "membershipRuleProcessingState", "groupTypes"];

/// The dynamic groups of a tenant as of a change-log position, kept between rounds so a round re-reads only
/// the groups its change records name.
/// The dynamic-membership processor: keeps dynamic groups' members equal to their rules' results.
pub struct DynamicMembership;

#[async_trait::async_trait]
impl ChangeProcessor for DynamicMembership {
    fn name(&self) -> &'static str {
        "dynamicMembership"
    }

    async fn round(
        &self,
        directory: &Directory,
        caller: &Caller,
        holder: &str,
        round: Round,
        changes: &[ChangeRecord],
    ) -> Result<Outcome> {
        directory.membership().dynamic_round(caller, holder, round, changes).await
    }
}

/// Each tenant's dynamic groups as this node's dynamic-membership processor last saw them.
#[derive(Default)]
struct DynamicCache(Mutex<HashMap<Uuid, DynamicGroups>>);

#[derive(Default)]
struct DynamicGroups {
    seq: i64,
    groups: HashMap<Uuid, Arc<DynamicGroup>>,
}

/// A dynamic group with its parsed rule, as one processing round sees it.
pub(crate) struct DynamicGroup {
    id: Uuid,
    rule: Rule,
    /// The rule as a filter (a rule that reads the clock is compiled afresh at each use instead).
    filter: Filter,
    sources: Vec<String>,
    paused: bool,
    reads_clock: bool,
}

impl DynamicGroup {
    /// The rule as a filter at `now`.
    fn filter_at(&self, now: DateTime<Utc>) -> std::borrow::Cow<'_, Filter> {
        if self.reads_clock {
            std::borrow::Cow::Owned(rules::compile(&self.rule, now))
        } else {
            std::borrow::Cow::Borrowed(&self.filter)
        }
    }

    fn reads_any(&self, attributes: &[String]) -> bool {
        self.sources.iter().any(|s| attributes.contains(s))
    }

    fn member_of_sources(&self) -> Vec<String> {
        match &self.rule {
            Rule::MemberOf(groups) => groups.iter().map(Uuid::to_string).collect(),
            _ => Vec::new(),
        }
    }
}

/// Whether the rule reads the user's group memberships.
fn names_member_of(rule: &Rule) -> bool {
    matches!(rule, Rule::MemberOf(_))
}

/// Dynamic membership: rules, their evaluation and the dynamic-membership processor's rounds, as a service
/// on the directory's context (shaped like the domains service).
pub struct Membership<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The membership service.
    pub fn membership(&self) -> Membership<'_> {
        Membership { directory: self }
    }
}

impl Membership<'_> {
    /// One round of dynamic membership: the membership writes for the changes, bulk evaluations committed
    /// on the way in batches of their own.
    pub(crate) async fn dynamic_round(
        &self,
        caller: &Caller,
        holder: &str,
        round: Round,
        changes: &[ChangeRecord],
    ) -> Result<Outcome> {
        let Round { handled, to, periodic, .. } = round;
        let groups = self.dynamic_groups_at(caller, handled, to, changes).await?;
        let by_id: HashMap<Uuid, &DynamicGroup> = groups.iter().map(|g| (g.id, g.as_ref())).collect();
        let mut bulk: BTreeSet<Uuid> = groups.iter().filter(|g| periodic && g.reads_clock).map(|g| g.id).collect();
        let mut users: HashMap<Uuid, Option<Vec<String>>> = HashMap::new();
        let member_of_sources: HashSet<String> = groups.iter().flat_map(|g| g.member_of_sources()).collect();
        for record in changes {
            match &record.change {
                Change::Object {
                    object: ObjectKind::User,
                    id,
                    kind: ChangeKind::Created | ChangeKind::Restored,
                    ..
                } => {
                    users.insert(*id, None);
                }
                Change::Object { object: ObjectKind::User, id, kind: ChangeKind::Updated, attributes } => {
                    if let Some(touched) = users.entry(*id).or_insert_with(|| Some(Vec::new())) {
                        touched.extend(attributes.iter().cloned());
                    }
                }
                Change::Object {
                    object: ObjectKind::Group,
                    id,
                    kind: ChangeKind::Created | ChangeKind::Restored,
                    ..
                } if by_id.contains_key(id) => {
                    bulk.insert(*id);
                }
                change @ Change::Object { object: ObjectKind::Group, id, kind: ChangeKind::Updated, .. }
                    if by_id.contains_key(id) && change.touches(&RULE_PROPERTIES) =>
                {
                    bulk.insert(*id);
                }
                Change::Link { relation: Relation::Member, group, member, member_kind: ObjectKind::User, .. }
                    if member_of_sources.contains(&group.to_string()) =>
                {
                    if let Some(touched) = users.entry(*member).or_insert_with(|| Some(Vec::new())) {
                        touched.push("memberOf".into());
                    }
                }
                _ => {}
            }
        }
        let now = self.directory.now();
        let mut writes = Vec::new();
        let mut touched: BTreeSet<Uuid> = BTreeSet::new();
        for (user, attributes) in &users {
            let candidates: Vec<&DynamicGroup> = groups
                .iter()
                .map(Arc::as_ref)
                .filter(|g| !g.paused && !bulk.contains(&g.id))
                .filter(|g| attributes.as_ref().is_none_or(|changed| g.reads_any(changed)))
                .collect();
            if candidates.is_empty() {
                continue;
            }
            for (link, add) in self.user_diff(caller, *user, &candidates, now).await? {
                touched.insert(link.group);
                writes.push(if add { Write::AddLink(link) } else { Write::RemoveLink(link) });
            }
        }
        for group in bulk.iter().filter_map(|id| by_id.get(id)) {
            if group.paused {
                continue;
            }
            let diff = self.group_diff(caller, group, now).await?;
            for chunk in diff.chunks(WRITES_PER_BATCH) {
                let links =
                    |wanted: bool| chunk.iter().filter(|(_, add)| *add == wanted).map(|(link, _)| *link).collect();
                let batch = vec![
                    Write::AddLinks(links(true)),
                    Write::RemoveLinks(links(false)),
                    self.directory.lease_renewal(holder, DynamicMembership.name()),
                ];
                self.directory
                    .commit(caller, batch)
                    .await
                    .map_err(|e| Error::conflict(format!("dynamic membership: {e}")))?;
            }
            writes.push(Write::SetDynamicStatus(DynamicStatusRecord {
                group: group.id,
                status: "Succeeded".into(),
                updated_at: now,
                evaluated_at: now,
                error: None,
            }));
        }
        for group in touched.iter().filter(|g| !bulk.contains(g)) {
            let evaluated = self.directory.store.dynamic_status(caller.tenant(), *group).await.map_err(Error::from)?;
            writes.push(Write::SetDynamicStatus(DynamicStatusRecord {
                group: *group,
                status: "Succeeded".into(),
                updated_at: now,
                evaluated_at: evaluated.map(|s| s.evaluated_at).unwrap_or(now),
                error: None,
            }));
        }
        Ok(Outcome { writes, committed: !bulk.is_empty() })
    }

    /// The tenant's dynamic groups as of change `to`: the cached set when it stands at `from`, with the groups
    /// the changes name re-read; otherwise all of them, loaded afresh.
    async fn dynamic_groups_at(
        &self,
        caller: &Caller,
        from: i64,
        to: i64,
        changes: &[ChangeRecord],
    ) -> Result<Vec<Arc<DynamicGroup>>> {
        let tenant = caller.tenant();
        let cached = {
            let caches = self.directory.node_state::<DynamicCache>();
            let mut caches = caches.0.lock().unwrap_or_else(|p| p.into_inner());
            caches.remove(&tenant).filter(|c| c.seq == from)
        };
        let groups = match cached {
            Some(cache) => {
                let mut groups = cache.groups;
                let named: BTreeSet<Uuid> = changes
                    .iter()
                    .filter_map(|c| match c.change {
                        Change::Object { object: ObjectKind::Group, id, .. } => Some(id),
                        _ => None,
                    })
                    .collect();
                for id in named {
                    let record =
                        self.directory.store.object(tenant, ObjectKind::Group, id).await.map_err(Error::from)?;
                    match record.filter(|g| g.deleted_at.is_none()).and_then(|g| self.dynamic_group(&g)) {
                        Some(group) => groups.insert(id, Arc::new(group)),
                        None => groups.remove(&id),
                    };
                }
                groups
            }
            None => self.dynamic_groups(caller).await?.into_iter().map(|g| (g.id, Arc::new(g))).collect(),
        };
        let list: Vec<Arc<DynamicGroup>> = groups.values().cloned().collect();
        let caches = self.directory.node_state::<DynamicCache>();
        caches.0.lock().unwrap_or_else(|p| p.into_inner()).insert(tenant, DynamicGroups { seq: to, groups });
        Ok(list)
    }

    fn dynamic_group(&self, group: &ObjectRecord) -> Option<DynamicGroup> {
        let parsed = parsed_rule(group)?;
        Some(DynamicGroup {
            id: group.id,
            filter: rules::compile(&parsed, self.directory.now()),
            sources: rules::sources(&parsed),
            reads_clock: rules::reads_clock(&parsed),
            rule: parsed,
            paused: group.doc.get("membershipRuleProcessingState").and_then(Value::as_str) == Some("Paused"),
        })
    }

    /// Every dynamic group of the tenant with its parsed rule; groups whose rule no longer parses are skipped.
    async fn dynamic_groups(&self, caller: &Caller) -> Result<Vec<DynamicGroup>> {
        let filter = Filter::Any {
            property: "groupTypes".into(),
            test: crate::filter::Test::Compare(
                crate::filter::Op::Eq,
                crate::filter::Literal::Text("dynamicmembership".into()),
            ),
        };
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let q = ObjectQuery {
                kind: Some(ObjectKind::Group),
                filter: Some(filter.clone()),
                after: after.clone(),
                limit: 1000,
                ..ObjectQuery::default()
            };
            let page = self.directory.store.objects(caller.tenant(), &q).await.map_err(Error::from)?;
            out.extend(page.iter().filter_map(|group| self.dynamic_group(group)));
            match page.last() {
                Some(last) if page.len() == 1000 => after = Some(crate::store::Cursor::after(last.id)),
                _ => return Ok(out),
            }
        }
    }

    /// The links to add (`true`) or remove for one user against the candidate groups.
    async fn user_diff(
        &self,
        caller: &Caller,
        user: Uuid,
        candidates: &[&DynamicGroup],
        now: DateTime<Utc>,
    ) -> Result<Vec<(Link, bool)>> {
        let tenant = caller.tenant();
        let record = self.directory.store.object(tenant, ObjectKind::User, user).await.map_err(Error::from)?;
        let Some(record) = record.filter(|r| r.deleted_at.is_none()) else {
            return Ok(Vec::new());
        };
        let links = self.directory.store.links(tenant, user, true).await.map_err(Error::from)?;
        let member_of: Vec<Uuid> =
            links.iter().filter(|l| l.member == user && l.relation == Relation::Member).map(|l| l.group).collect();
        let groups: Vec<String> = member_of.iter().map(Uuid::to_string).collect();
        let values = query::index_values(&record);
        let mut out = Vec::new();
        for group in candidates {
            let wanted = query::matches_indexed(&group.filter_at(now), &record, &values, &groups);
            let present = member_of.contains(&group.id);
            if wanted != present {
                let link =
                    Link { group: group.id, relation: Relation::Member, member: user, member_kind: ObjectKind::User };
                out.push((link, wanted));
            }
        }
        Ok(out)
    }

    /// The links to add (`true`) or remove for one group: its rule's users through the store's query
    /// compiler, against its current members.
    async fn group_diff(&self, caller: &Caller, group: &DynamicGroup, now: DateTime<Utc>) -> Result<Vec<(Link, bool)>> {
        let wanted = self
            .ids(
                caller,
                ObjectQuery {
                    kind: Some(ObjectKind::User),
                    filter: Some(group.filter_at(now).into_owned()),
                    ..ObjectQuery::default()
                },
            )
            .await?;
        let scope = Scope::Members { group: group.id, relation: Relation::Member };
        let members = self.ids(caller, ObjectQuery { scope: Some(scope), ..ObjectQuery::default() }).await?;
        let link = |member: Uuid, kind: ObjectKind| Link {
            group: group.id,
            relation: Relation::Member,
            member,
            member_kind: kind,
        };
        let mut out: Vec<(Link, bool)> = wanted
            .iter()
            .filter(|(id, _)| !members.contains_key(id))
            .map(|(id, kind)| (link(*id, *kind), true))
            .collect();
        out.extend(
            members.iter().filter(|(id, _)| !wanted.contains_key(id)).map(|(id, kind)| (link(*id, *kind), false)),
        );
        // In id order, so each batch writes neighbouring index entries (ids are time-ordered).
        out.sort_unstable_by_key(|(link, _)| link.member);
        Ok(out)
    }

    /// Every id (and kind) a query selects, a page at a time.
    async fn ids(&self, caller: &Caller, base: ObjectQuery) -> Result<HashMap<Uuid, ObjectKind>> {
        let mut out = HashMap::new();
        let mut after = None;
        loop {
            let q = ObjectQuery { after: after.clone(), limit: 5000, ..base.clone() };
            let page = self.directory.store.object_ids(caller.tenant(), &q).await.map_err(Error::from)?;
            out.extend(page.iter().copied());
            match page.last() {
                Some((last, _)) if page.len() == 5000 => after = Some(crate::store::Cursor::after(*last)),
                _ => return Ok(out),
            }
        }
    }

    /// A dynamic group's processing status as Graph beta shows it (`membershipRuleProcessingStatus`): a group
    /// whose last evaluation succeeded is `Running` while the tenant has changes the processor has not gone
    /// through yet, since they may change its members.
    pub async fn processing_status(&self, caller: &Caller, group: &ObjectRecord) -> Result<Value> {
        require(caller, Action::ReadGroups)?;
        if !is_dynamic(group) {
            return Ok(Value::Null);
        }
        let mut status = self.directory.store.dynamic_status(caller.tenant(), group.id).await.map_err(Error::from)?;
        if let Some(succeeded) = status.as_mut().filter(|s| s.status == "Succeeded") {
            if self.directory.backlog(caller.tenant(), DynamicMembership.name()).await? {
                succeeded.status = "Running".into();
            }
        }
        let paused = group.doc.get("membershipRuleProcessingState").and_then(Value::as_str) == Some("Paused");
        Ok(match status {
            _ if paused => {
                json!({"status": "Paused", "lastMembershipUpdated": status.map(|s| crate::schema::format_time(s.updated_at)), "errorMessage": null})
            }
            Some(s) => json!({
                "status": s.status,
                "lastMembershipUpdated": crate::schema::format_time(s.updated_at),
                "errorMessage": s.error,
            }),
            None => json!({"status": "NotStarted", "lastMembershipUpdated": null, "errorMessage": null}),
        })
    }

    /// Evaluates a rule (given, or a saved group's) against up to 20 users: per user, whether it matches
    /// and how each clause evaluated.
    pub async fn evaluate_rule(&self, caller: &Caller, rule: &str, users: &[String]) -> Result<Vec<Value>> {
        require(caller, Action::ReadGroups)?;
        require(caller, Action::ReadUsers)?;
        if users.is_empty() || users.len() > MAX_VALIDATED_USERS {
            return Err(Error::invalid(format!("Name 1 to {MAX_VALIDATED_USERS} users to evaluate the rule against.")));
        }
        crate::schema::check_text("membershipRule", rule)?;
        let parsed = rules::parse(rule).map_err(|e| Error::invalid_property("membershipRule", e.to_string()))?;
        let now = self.directory.now();
        let mut out = Vec::new();
        for key in users {
            let user = self.directory.users().get(caller, key).await?;
            let groups: Vec<String> = if names_member_of(&parsed) {
                self.directory
                    .store
                    .links(caller.tenant(), user.id, true)
                    .await
                    .map_err(Error::from)?
                    .iter()
                    .filter(|l| l.member == user.id && l.relation == Relation::Member)
                    .map(|l| l.group.to_string())
                    .collect()
            } else {
                Vec::new()
            };
            let details = explain(&parsed, &user, &groups, now);
            let mut entry = Map::new();
            entry.insert("memberId".into(), json!(user.id));
            entry.insert("membershipRule".into(), json!(rule));
            entry.insert("membershipRuleEvaluationResult".into(), details["expressionResult"].clone());
            entry.insert("membershipRuleEvaluationDetails".into(), details);
            out.push(Value::Object(entry));
        }
        Ok(out)
    }

    /// The users a rule would make members now, a page of them with their number: what a dynamic group of
    /// that rule would hold (its processing state aside). A rule that does not parse is refused with the
    /// parser's message, on `membershipRule`.
    pub async fn preview_rule(&self, caller: &Caller, rule: &str, top: u32) -> Result<Page> {
        require(caller, Action::ReadGroups)?;
        require(caller, Action::ReadUsers)?;
        crate::schema::check_text("membershipRule", rule)?;
        let parsed = rules::parse(rule).map_err(|e| Error::invalid_property("membershipRule", e.to_string()))?;
        let filter = rules::compile(&parsed, self.directory.now());
        let base = ObjectQuery { kind: Some(ObjectKind::User), ..ObjectQuery::default() };
        let listing = Listing { filter: Some(filter), order: Vec::new(), after: None, top, count: true };
        self.directory.page(caller, base, listing).await
    }

    /// The saved rule of a dynamic group.
    pub async fn group_rule(&self, caller: &Caller, group: &str) -> Result<String> {
        let group = self.directory.groups().get(caller, group).await?;
        group
            .doc
            .get("membershipRule")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::invalid("The group has no membership rule."))
    }
}

/// How a rule evaluated for a user, clause by clause, in Graph beta's `expressionEvaluationDetails` shape.
fn explain(rule: &Rule, user: &ObjectRecord, groups: &[String], now: DateTime<Utc>) -> Value {
    let result = query::matches_indexed(&rules::compile(rule, now), user, &query::index_values(user), groups);
    let children: Vec<Value> = match rule {
        Rule::And(a, b) | Rule::Or(a, b) => vec![explain(a, user, groups, now), explain(b, user, groups, now)],
        Rule::Not(inner) => vec![explain(inner, user, groups, now)],
        _ => Vec::new(),
    };
    let mut out = Map::new();
    out.insert("expression".into(), json!(rules::render(rule)));
    out.insert("expressionResult".into(), json!(result));
    if let Rule::Compare { attribute, .. } | Rule::Collection { attribute, .. } = rule {
        let value = match attribute.indexed.as_str() {
            "id" => json!(user.id),
            name => user.doc.get(name).cloned().unwrap_or(Value::Null),
        };
        out.insert("propertyToEvaluate".into(), json!({"propertyName": attribute.name, "propertyValue": value}));
    }
    if !children.is_empty() {
        out.insert("expressionEvaluationDetails".into(), Value::Array(children));
    }
    Value::Object(out)
}
