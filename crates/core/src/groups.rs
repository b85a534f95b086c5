//! Groups: security groups, mail-enabled security and distribution groups, Microsoft 365 groups; their
//! members and owners, nesting, and transitive membership.
//!
//! Invariants: a mail-enabled group's mailNickname is unique among the tenant's live groups (it is the
//! group's unique key, and its mail is `mailNickname@initial domain`); a Microsoft 365 group contains no
//! groups; a role-assignable group contains no groups; no group contains itself, directly or through
//! nesting (checked inside the write's transaction); a group has at most 100 owners and never loses its
//! last owner. Every change, links included, is one store batch.

use crate::auth::authorization::{decide, require, Action, Target};
use crate::directory::contention::object_id;
use crate::directory::objects::{at_version, moved_on, Page};
use crate::directory::write_error;
use crate::filter::{Filter, Literal, Op, Test};
use crate::kernel::error::{Error, ErrorKind, Result};
use crate::query::Listing;
use crate::rules::{
    self,
    group_rule::{group_types, is_dynamic, member_of_rule, DYNAMIC, MEMBER_OF_RULE, MEMBER_OF_SOURCES},
};
use crate::schema::{self, format_time, Selection, GROUP};
use crate::store::{Link, ObjectKind, ObjectQuery, ObjectRecord, Relation, Scope, StoreError, Write};
use crate::{Caller, Directory};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

pub const DUPLICATE_NICKNAME: &str = "Another object with the same value for property mailNickname already exists.";
/// Link changes one request may carry (`members@odata.bind` and `owners@odata.bind` together).
pub const MAX_LINK_CHANGES: usize = 20;
pub const MAX_OWNERS: u64 = 100;
/// Ids `checkMemberGroups` and `checkMemberObjects` take at once.
pub const MAX_CHECKED_IDS: usize = 20;
/// Groups `getMemberGroups` and `getMemberObjects` return at most.
pub const MAX_MEMBER_GROUPS: u32 = 11_000;
/// Items an expanded relationship carries (`$expand=memberOf`).
pub const MAX_EXPANDED: u32 = 20;
const REQUIRED_ON_CREATE: &[&str] = &["displayName", "mailEnabled", "mailNickname", "securityEnabled"];
const UNIFIED: &str = "Unified";
const NICKNAME_FORBIDDEN: &str = "@()\\[]\";:.<>, ";
/// Groups with a memberOf rule a tenant may have (Entra's limit).
pub const MAX_MEMBER_OF_RULE_GROUPS: u64 = 500;

/// Members and owners a create or update binds, by relation, as object ids (Graph names them in
/// `members@odata.bind` and `owners@odata.bind`).
/// The body that creates a group, as Graph's `POST /groups` takes it: a security group, or (`unified`) a
/// Microsoft 365 group; with a rule, a dynamic one whose processing is on. Without a nickname, the name's
/// ASCII letters and digits, lower-case, make one.
pub fn new_group_body(name: &str, nickname: Option<&str>, unified: bool, rule: Option<&str>) -> Map<String, Value> {
    let nickname = nickname.map(str::to_owned).unwrap_or_else(|| {
        let kept: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        if kept.is_empty() {
            "group".to_owned()
        } else {
            kept.to_lowercase()
        }
    });
    let mut types: Vec<&str> = if unified { vec!["Unified"] } else { vec![] };
    let mut body = Map::new();
    body.insert("displayName".into(), json!(name));
    body.insert("mailNickname".into(), json!(nickname));
    body.insert("mailEnabled".into(), json!(unified));
    body.insert("securityEnabled".into(), json!(!unified));
    if let Some(rule) = rule {
        types.push("DynamicMembership");
        body.insert("membershipRule".into(), json!(rule));
        body.insert("membershipRuleProcessingState".into(), json!("On"));
    }
    body.insert("groupTypes".into(), json!(types));
    body
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binds {
    pub members: Vec<String>,
    pub owners: Vec<String>,
}

/// How a write changes a group's links.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Links<'a> {
    /// Graph's binds: each a new member or owner, at most [`MAX_LINK_CHANGES`] in all.
    Bound(&'a Binds),
    /// SCIM's member edits (object ids): adding a member already there or removing one not there (or no
    /// longer live) does nothing; at most [`MAX_MEMBER_EDITS`] in all.
    Edited { add: &'a [String], remove: &'a [String] },
}

/// Member edits one SCIM request may carry.
pub const MAX_MEMBER_EDITS: usize = 1_000;

impl Binds {
    fn len(&self) -> usize {
        self.members.len() + self.owners.len()
    }

    fn by_relation(&self) -> [(Relation, &Vec<String>); 2] {
        [(Relation::Member, &self.members), (Relation::Owner, &self.owners)]
    }
}

impl Links<'_> {
    /// Refuses more changes than one request may carry: binds counted together on a create (`together`),
    /// by relation on an update, as Graph counts them.
    fn check_size(&self, together: bool) -> Result<()> {
        let bound = |binds: &Binds| match together {
            true => binds.len(),
            false => binds.members.len().max(binds.owners.len()),
        };
        match self {
            Links::Bound(binds) if bound(binds) > MAX_LINK_CHANGES => {
                Err(Error::invalid("A resource cannot contain more than 20 link changes"))
            }
            Links::Edited { add, remove } if add.len() + remove.len() > MAX_MEMBER_EDITS => {
                Err(Error::invalid(format!("A request changes at most {MAX_MEMBER_EDITS} members.")))
            }
            _ => Ok(()),
        }
    }
}

fn invalid(property: &str) -> Error {
    Error::invalid_property(property, format!("Invalid value specified for property '{property}' of resource 'Group'."))
}

fn flag(doc: &Map<String, Value>, name: &str) -> bool {
    doc.get(name).and_then(Value::as_bool).unwrap_or(false)
}

/// Whether the group is a Microsoft 365 group.
pub fn is_unified(group: &ObjectRecord) -> bool {
    group_types(&group.doc).iter().any(|t| t == UNIFIED)
}

fn is_role_assignable(group: &ObjectRecord) -> bool {
    flag(&group.doc, "isAssignableToRole")
}

/// Entra's security identifier for a cloud group: `S-1-12-1-` and the object id as four little-endian words.
fn security_identifier(id: Uuid) -> String {
    let bytes = id.to_bytes_le();
    let words: Vec<String> =
        bytes.chunks(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]).to_string()).collect();
    format!("S-1-12-1-{}", words.join("-"))
}

/// Cross-property rules and derived values, applied after a create or a patch has been merged into the
/// group as it was before (`None` for a create).
fn normalise(
    doc: &mut Map<String, Value>,
    before: Option<&Map<String, Value>>,
    domain: &str,
) -> Result<Option<String>> {
    match doc.get("displayName") {
        Some(Value::String(name)) if !name.trim().is_empty() => {}
        _ => return Err(invalid("displayName")),
    }
    let nickname = match doc.get("mailNickname") {
        Some(Value::String(nick))
            if !nick.is_empty()
                && !nick.chars().any(|c| !c.is_ascii() || c.is_ascii_control() || NICKNAME_FORBIDDEN.contains(c)) =>
        {
            nick.clone()
        }
        _ => return Err(invalid("mailNickname")),
    };
    let types = group_types(doc);
    if let Some(other) = types.iter().find(|t| *t != UNIFIED && *t != DYNAMIC) {
        return Err(Error::invalid_property(
            "groupTypes",
            format!("Invalid value '{other}' in 'groupTypes'; allowed: Unified, DynamicMembership."),
        ));
    }
    let unified = types.iter().any(|t| t == UNIFIED);
    check_membership_rule(doc, before, types.iter().any(|t| t == DYNAMIC))?;
    let (mail_enabled, security_enabled) = (flag(doc, "mailEnabled"), flag(doc, "securityEnabled"));
    if unified && !mail_enabled {
        return Err(Error::invalid_property("mailEnabled", "A Microsoft 365 group must be mail-enabled."));
    }
    if !mail_enabled && !security_enabled {
        return Err(Error::invalid_property(
            "securityEnabled",
            "A group must be mail-enabled, security-enabled or both.",
        ));
    }
    if flag(doc, "isAssignableToRole") {
        if types.iter().any(|t| t == DYNAMIC) {
            return Err(Error::invalid_property(
                "isAssignableToRole",
                "A group assignable to roles cannot have dynamic membership.",
            ));
        }
        if !security_enabled {
            return Err(Error::invalid_property(
                "isAssignableToRole",
                "A group assignable to roles must be security-enabled.",
            ));
        }
        match doc.get("visibility").and_then(Value::as_str) {
            None | Some("Private") => {
                doc.insert("visibility".into(), json!("Private"));
            }
            Some(_) => {
                return Err(Error::invalid_property(
                    "visibility",
                    "A group assignable to roles must have visibility 'Private'.",
                ))
            }
        }
    }
    if doc.get("visibility").and_then(Value::as_str) == Some("HiddenMembership") && !unified {
        return Err(Error::invalid_property(
            "visibility",
            "Visibility 'HiddenMembership' is only available for Microsoft 365 groups.",
        ));
    }
    if unified && doc.get("visibility").is_none_or(Value::is_null) {
        doc.insert("visibility".into(), json!("Public"));
    }
    if mail_enabled {
        let mail = format!("{nickname}@{domain}");
        doc.insert("proxyAddresses".into(), json!([format!("SMTP:{mail}")]));
        doc.insert("mail".into(), json!(mail));
        Ok(Some(crate::kernel::text::fold(&nickname)))
    } else {
        doc.insert("proxyAddresses".into(), json!([]));
        doc.remove("mail");
        Ok(None)
    }
}

/// A dynamic group needs a valid rule and a processing state (`On` unless set). A group without
/// DynamicMembership takes neither: it keeps (inert) the rule and state it had while dynamic, as Entra does
/// when a group is made static by removing DynamicMembership and pausing its rule, and may clear them, but
/// it cannot be given a new rule, nor a new state except in the request that makes it static.
fn check_membership_rule(
    doc: &mut Map<String, Value>,
    before: Option<&Map<String, Value>>,
    dynamic: bool,
) -> Result<()> {
    let rule = doc.get("membershipRule").and_then(Value::as_str).map(str::to_owned);
    match (dynamic, rule) {
        (true, Some(rule)) => {
            rules::parse(&rule).map_err(|e| {
                Error::invalid_property(
                    "membershipRule",
                    format!("Invalid value specified for property 'membershipRule': {e}"),
                )
            })?;
            doc.entry("membershipRuleProcessingState").or_insert_with(|| json!("On"));
            Ok(())
        }
        (true, None) => Err(Error::invalid_property(
            "membershipRule",
            "A group whose groupTypes include DynamicMembership needs a membershipRule.",
        )),
        (false, _) => {
            let was_dynamic = before.is_some_and(|b| group_types(b).iter().any(|t| t == DYNAMIC));
            for name in ["membershipRule", "membershipRuleProcessingState"] {
                let value = doc.get(name).filter(|v| !v.is_null());
                let kept = value == before.and_then(|b| b.get(name));
                let converting = was_dynamic && name == "membershipRuleProcessingState";
                if value.is_some() && !kept && !converting {
                    return Err(Error::invalid_property(
                        name,
                        format!("Property '{name}' applies only to groups whose groupTypes include DynamicMembership."),
                    ));
                }
            }
            Ok(())
        }
    }
}

fn indexed(property: &str, value: String) -> Filter {
    Filter::Any { property: property.into(), test: Test::Compare(Op::Eq, Literal::Text(value)) }
}

/// Every group property with its current value.
pub fn group_properties(record: &ObjectRecord, selection: Selection<'_>) -> Map<String, Value> {
    schema::properties(GROUP, record, selection, |property| match property.name {
        "renewedDateTime" => Some(json!(format_time(record.created_at))),
        "securityIdentifier" => Some(json!(security_identifier(record.id))),
        "isAssignableToRole" => Some(json!(is_role_assignable(record))),
        "assignedLicenses" => Some(record.doc.get("assignedLicenses").cloned().unwrap_or_else(|| json!([]))),
        _ => None,
    })
}

/// Groups, their members and owners, as a service on the directory's context (shaped like the domains
/// service).
pub struct Groups<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The groups service.
    pub fn groups(&self) -> Groups<'_> {
        Groups { directory: self }
    }
}

impl Groups<'_> {
    pub async fn create(&self, caller: &Caller, body: &Map<String, Value>, binds: &Binds) -> Result<ObjectRecord> {
        self.create_keeping(caller, body, &Map::new(), Links::Bound(binds)).await
    }

    /// [`Groups::create`] with the internal values `kept` (names that begin with `_`, which no body may
    /// set) and the links as `links` makes them.
    pub(crate) async fn create_keeping(
        &self,
        caller: &Caller,
        body: &Map<String, Value>,
        kept: &Map<String, Value>,
        links: Links<'_>,
    ) -> Result<ObjectRecord> {
        require(caller, Action::WriteGroups)?;
        let mut doc = schema::check_body(GROUP, "group", &["members", "owners"], body)?;
        for name in REQUIRED_ON_CREATE {
            if doc.get(*name).is_none_or(Value::is_null) {
                return Err(Error::invalid_property(
                    name,
                    format!("A value is required for property '{name}' of resource 'Group'."),
                ));
            }
        }
        links.check_size(true)?;
        let tenant = self.directory.tenant_record(caller.tenant()).await?;
        doc.entry("groupTypes").or_insert_with(|| json!([]));
        let unique_key = normalise(&mut doc, None, &tenant.initial_domain)?;
        doc.extend(kept.iter().filter(|(name, _)| name.starts_with('_')).map(|(k, v)| (k.clone(), v.clone())));
        let now = self.directory.now();
        let record = self.directory.new_object(ObjectKind::Group, unique_key, doc, now);
        self.check_member_of_rule(caller, &record, None).await?;
        let mut writes = vec![Write::InsertObject(record.clone())];
        writes.extend(self.link_writes(caller, &record, links).await?);
        self.directory.commit(caller, writes).await.map_err(|e| link_error(e, record.id, Relation::Member))?;
        Ok(record)
    }

    /// Entra's limits on memberOf rules: at most [`MAX_MEMBER_OF_RULE_GROUPS`] groups with one in a tenant,
    /// and no nesting — a memberOf rule names no group that has a memberOf rule, and a group another memberOf
    /// rule names cannot take one.
    async fn check_member_of_rule(
        &self,
        caller: &Caller,
        group: &ObjectRecord,
        before: Option<&ObjectRecord>,
    ) -> Result<()> {
        let Some(sources) = member_of_rule(group) else { return Ok(()) };
        let invalid = |message: &str| Error::invalid_property("membershipRule", message);
        let count = |filter: Filter| {
            let query = ObjectQuery { filter: Some(filter), ..ObjectQuery::of(ObjectKind::Group) };
            async move { self.directory.store.count(caller.tenant(), &query).await.map_err(Error::from) }
        };
        if before.and_then(member_of_rule).is_none()
            && count(indexed(MEMBER_OF_RULE, "true".into())).await? >= MAX_MEMBER_OF_RULE_GROUPS
        {
            return Err(invalid("A tenant can have at most 500 dynamic groups with a memberOf rule."));
        }
        if count(indexed(MEMBER_OF_SOURCES, group.id.to_string())).await? > 0 {
            return Err(invalid(
                "This group is named by another group's memberOf rule, so its own rule cannot be a memberOf rule.",
            ));
        }
        let named = self.directory.store.any_objects(caller.tenant(), &sources).await.map_err(Error::from)?;
        if named.iter().any(|g| g.kind == ObjectKind::Group && g.deleted_at.is_none() && member_of_rule(g).is_some()) {
            return Err(invalid("A memberOf rule cannot name a group whose own rule is a memberOf rule."));
        }
        Ok(())
    }

    /// A live group by object id.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<ObjectRecord> {
        require(caller, Action::ReadGroups)?;
        self.live_group(caller, id).await
    }

    async fn live_group(&self, caller: &Caller, id: &str) -> Result<ObjectRecord> {
        self.directory.live_of(caller, id, &[ObjectKind::Group]).await
    }

    pub async fn list(&self, caller: &Caller, listing: Listing) -> Result<Page> {
        decide(caller, Action::ReadGroups, &Target::Collection)?;
        self.directory.page(caller, ObjectQuery::of(ObjectKind::Group), listing).await
    }

    /// Updates a group's properties and binds further members and owners, all or nothing.
    pub async fn update(&self, caller: &Caller, id: &str, patch: &Map<String, Value>, binds: &Binds) -> Result<()> {
        self.update_keeping(caller, id, patch, &Map::new(), Links::Bound(binds), None).await
    }

    /// [`Groups::update`], also setting (or, `null`, removing) the internal values `kept` in the same
    /// write, the links changed as `links` says, and only while the group is at the version `expected`
    /// when one is named (else a `Conflict` on `version`).
    pub(crate) async fn update_keeping(
        &self,
        caller: &Caller,
        id: &str,
        patch: &Map<String, Value>,
        kept: &Map<String, Value>,
        links: Links<'_>,
        expected: Option<i64>,
    ) -> Result<()> {
        require(caller, Action::WriteGroups)?;
        let changes = schema::check_body(GROUP, "group", &["members", "owners"], patch)?;
        if changes.contains_key("isAssignableToRole") {
            return Err(Error::invalid_property(
                "isAssignableToRole",
                "Property 'isAssignableToRole' can only be set when the group is created.",
            ));
        }
        links.check_size(false)?;
        let tenant = self.directory.tenant_record(caller.tenant()).await?;
        let group = object_id(id)?;
        let mut turn = self.directory.turn(caller, group, "group").await?;
        loop {
            let current = self.live_group(caller, id).await?;
            if expected.is_some_and(|version| version != current.version) {
                return Err(moved_on());
            }
            let mut record = current.clone();
            for (name, value) in changes.iter().chain(kept.iter().filter(|(name, _)| name.starts_with('_'))) {
                if value.is_null() {
                    record.doc.remove(name);
                } else {
                    record.doc.insert(name.clone(), value.clone());
                }
            }
            if is_unified(&record) != is_unified(&current) {
                return Err(Error::invalid_property(
                    "groupTypes",
                    "A group cannot be changed into or out of a Microsoft 365 group.",
                ));
            }
            if changes.get("visibility").and_then(Value::as_str) == Some("HiddenMembership")
                && current.doc.get("visibility").and_then(Value::as_str) != Some("HiddenMembership")
            {
                return Err(Error::invalid_property(
                    "visibility",
                    "Visibility 'HiddenMembership' can only be set when the group is created.",
                ));
            }
            record.unique_key = normalise(&mut record.doc, Some(&current.doc), &tenant.initial_domain)?;
            self.check_member_of_rule(caller, &record, Some(&current)).await?;
            let mut writes = Vec::new();
            if !changes.is_empty() || !kept.is_empty() {
                let attributes = changes.keys().chain(kept.keys()).cloned().collect();
                writes.push(Write::update(&current, record.clone(), attributes));
            }
            writes.extend(self.link_writes(caller, &record, links).await?);
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, writes).await? {
                return committed.map_err(|other| link_error(other, group, Relation::Member));
            }
        }
    }

    /// Moves the group to deleted items; its memberships and its members' are suspended until a restore.
    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<()> {
        self.delete_at(caller, id, None).await
    }

    /// [`Groups::delete`], only while the group is at the version `expected` when one is named (else a
    /// `Conflict` on `version`).
    pub(crate) async fn delete_at(&self, caller: &Caller, id: &str, expected: Option<i64>) -> Result<()> {
        require(caller, Action::WriteGroups)?;
        let group = self.live_group(caller, id).await?;
        if group.doc.get("assignedLicenses").and_then(Value::as_array).is_some_and(|l| !l.is_empty()) {
            return Err(Error::invalid(
                "The group has licenses assigned; remove them with assignLicense before deleting the group.",
            ));
        }
        let write = self.directory.soft_delete(caller, ObjectKind::Group, group.id).await?;
        self.directory.commit(caller, vec![at_version(write, &group, expected)?]).await.map_err(|e| {
            match (e, expected) {
                (StoreError::Missing, Some(_)) => moved_on(),
                (other, _) => write_error(other, DUPLICATE_NICKNAME),
            }
        })?;
        Ok(())
    }

    async fn link_writes(&self, caller: &Caller, group: &ObjectRecord, links: Links<'_>) -> Result<Vec<Write>> {
        match links {
            Links::Bound(binds) => self.bind_writes(caller, group, binds).await,
            Links::Edited { add, remove } => self.edit_writes(caller, group, add, remove).await,
        }
    }

    /// The writes that make SCIM's member edits: each add checked as a single add is, and what is already
    /// so left alone.
    async fn edit_writes(
        &self,
        caller: &Caller,
        group: &ObjectRecord,
        add: &[String],
        remove: &[String],
    ) -> Result<Vec<Write>> {
        if add.is_empty() && remove.is_empty() {
            return Ok(Vec::new());
        }
        self.require_link_change(caller, group, Relation::Member)?;
        let (mut writes, mut seen) = (Vec::new(), std::collections::HashSet::new());
        for (id, adding) in add.iter().map(|id| (id, true)).chain(remove.iter().map(|id| (id, false))) {
            let object = match self.directory.live_of(caller, id, link_kinds(Relation::Member)).await {
                Ok(object) => object,
                Err(e) if e.kind == ErrorKind::NotFound && !adding => continue,
                Err(e) => return Err(e),
            };
            let link = match adding {
                true => checked_link(group, Relation::Member, &object)?,
                false => {
                    Link { group: group.id, relation: Relation::Member, member: object.id, member_kind: object.kind }
                }
            };
            let existing = self.directory.store.has_link(caller.tenant(), &link).await.map_err(Error::from)?;
            if seen.insert(link) && existing != adding {
                writes.push(if adding { Write::AddLink(link) } else { Write::RemoveLink(link) });
            }
        }
        Ok(writes)
    }

    /// The writes that add the bound members and owners to a group, each checked as a single add is.
    async fn bind_writes(&self, caller: &Caller, group: &ObjectRecord, binds: &Binds) -> Result<Vec<Write>> {
        let mut writes = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (relation, ids) in binds.by_relation() {
            if !ids.is_empty() {
                self.require_link_change(caller, group, relation)?;
            }
            for id in ids {
                let object = self.directory.live_of(caller, id, link_kinds(relation)).await?;
                let link = checked_link(group, relation, &object)?;
                let existing = self.directory.store.has_link(caller.tenant(), &link).await.map_err(Error::from)?;
                if existing || !seen.insert(link) {
                    return Err(duplicate(relation));
                }
                writes.push(Write::AddLink(link));
            }
        }
        if !binds.owners.is_empty() {
            let owners = self.count_links(caller, group.id, Relation::Owner).await?;
            if owners + binds.owners.len() as u64 > MAX_OWNERS {
                return Err(too_many_owners());
            }
        }
        Ok(writes)
    }

    /// A dynamic group's members are its rule's: changing them by hand is refused as Graph refuses it.
    fn require_link_change(&self, caller: &Caller, group: &ObjectRecord, relation: Relation) -> Result<()> {
        decide(caller, Action::WriteMemberships, &Target::Group { role_assignable: is_role_assignable(group) })?;
        if relation == Relation::Member && is_dynamic(group) {
            return Err(Error::forbidden());
        }
        Ok(())
    }

    async fn count_links(&self, caller: &Caller, group: Uuid, relation: Relation) -> Result<u64> {
        let query = ObjectQuery { scope: Some(Scope::Members { group, relation }), ..ObjectQuery::default() };
        self.directory.store.count(caller.tenant(), &query).await.map_err(Error::from)
    }

    /// `POST /groups/{id}/members/$ref` and `/owners/$ref`.
    pub async fn add_link(&self, caller: &Caller, group: &str, relation: Relation, member: &str) -> Result<()> {
        require(caller, Action::WriteMemberships)?;
        let [group, object] = self
            .directory
            .live_objects(caller, [(group, &[ObjectKind::Group]), (member, link_kinds(relation))])
            .await?;
        self.require_link_change(caller, &group, relation)?;
        let link = checked_link(&group, relation, &object)?;
        if relation == Relation::Owner && self.count_links(caller, group.id, relation).await? >= MAX_OWNERS {
            return Err(too_many_owners());
        }
        self.directory
            .commit(caller, vec![Write::AddLink(link)])
            .await
            .map_err(|e| link_error(e, group.id, relation))?;
        Ok(())
    }

    /// `DELETE /groups/{id}/members/{id}/$ref` and `/owners/{id}/$ref`. A group that has owners keeps at
    /// least one.
    pub async fn remove_link(&self, caller: &Caller, group: &str, relation: Relation, member: &str) -> Result<()> {
        require(caller, Action::WriteMemberships)?;
        let [group, object] = self
            .directory
            .live_objects(caller, [(group, &[ObjectKind::Group]), (member, link_kinds(relation))])
            .await?;
        self.require_link_change(caller, &group, relation)?;
        let link = Link { group: group.id, relation, member: object.id, member_kind: object.kind };
        if !self.directory.store.has_link(caller.tenant(), &link).await.map_err(Error::from)? {
            return Err(Error::not_found(member));
        }
        if relation == Relation::Owner && self.count_links(caller, group.id, relation).await? <= 1 {
            return Err(Error::invalid("The group must have at least one owner, hence this owner cannot be removed."));
        }
        self.directory.commit(caller, vec![Write::RemoveLink(link)]).await.map_err(|e| match e {
            StoreError::Missing => Error::not_found(member),
            other => write_error(other, DUPLICATE_NICKNAME),
        })?;
        Ok(())
    }

    /// A page of a group's members or owners (direct, or every member through nesting), optionally of one kind.
    pub async fn group_links(
        &self,
        caller: &Caller,
        group: &str,
        relation: Relation,
        transitive: bool,
        kind: Option<ObjectKind>,
        listing: Listing,
    ) -> Result<Page> {
        require(caller, Action::ReadMemberships)?;
        let group = self.live_group(caller, group).await?;
        let scope = match transitive {
            true => Scope::TransitiveMembers { group: group.id },
            false => Scope::Members { group: group.id, relation },
        };
        self.directory.page(caller, ObjectQuery { kind, scope: Some(scope), ..ObjectQuery::default() }, listing).await
    }

    /// A page of the groups an object is a member of (directly or through nesting), or (`Owner`) owns.
    pub async fn member_of(
        &self,
        caller: &Caller,
        object: &str,
        relation: Relation,
        transitive: bool,
        listing: Listing,
    ) -> Result<Page> {
        let own = caller.user().is_some_and(|user| user.to_string().eq_ignore_ascii_case(object));
        decide(caller, Action::ReadMemberships, if own { &Target::OwnProfile } else { &Target::Tenant })?;
        let object = self.member_object(caller, object).await?;
        let scope = match transitive {
            true => Scope::TransitiveMemberOf { member: object.id },
            false => Scope::MemberOf { member: object.id, relation },
        };
        let query = ObjectQuery { kind: Some(ObjectKind::Group), scope: Some(scope), ..ObjectQuery::default() };
        self.directory.page(caller, query, listing).await
    }

    /// A live object that can belong to groups: user, group, contact or service principal.
    async fn member_object(&self, caller: &Caller, id: &str) -> Result<ObjectRecord> {
        self.directory.live_of(caller, id, link_kinds(Relation::Member)).await
    }

    /// The groups each user is a direct member of, at most [`MAX_EXPANDED`] each; for `$expand=memberOf`.
    pub async fn memberships_of(
        &self,
        caller: &Caller,
        objects: &[ObjectRecord],
    ) -> Result<HashMap<Uuid, Vec<ObjectRecord>>> {
        require(caller, Action::ReadMemberships)?;
        let mut out = HashMap::new();
        for object in objects {
            let query = ObjectQuery {
                kind: Some(ObjectKind::Group),
                scope: Some(Scope::MemberOf { member: object.id, relation: Relation::Member }),
                limit: MAX_EXPANDED,
                ..ObjectQuery::default()
            };
            out.insert(object.id, self.directory.store.objects(caller.tenant(), &query).await.map_err(Error::from)?);
        }
        Ok(out)
    }

    /// The ids of every group the object belongs to through nesting, security groups only when asked;
    /// Graph's `getMemberGroups` and `getMemberObjects`.
    pub async fn member_groups(&self, caller: &Caller, object: &str, security_only: bool) -> Result<Vec<Uuid>> {
        require(caller, Action::ReadMemberships)?;
        let object = self.member_object(caller, object).await?;
        let filter = security_only.then(|| Filter::Property {
            property: "securityEnabled".into(),
            test: Test::Compare(Op::Eq, Literal::Text("true".into())),
        });
        let query = ObjectQuery {
            kind: Some(ObjectKind::Group),
            scope: Some(Scope::TransitiveMemberOf { member: object.id }),
            filter,
            limit: MAX_MEMBER_GROUPS + 1,
            ..ObjectQuery::default()
        };
        let groups = self.directory.store.objects(caller.tenant(), &query).await.map_err(Error::from)?;
        if groups.len() > MAX_MEMBER_GROUPS as usize {
            return Err(Error::new(
                ErrorKind::Invalid,
                format!("The object belongs to more than {MAX_MEMBER_GROUPS} groups; the result is too large."),
            )
            .with_code("DirectoryResultSizeLimitExceeded"));
        }
        Ok(groups.into_iter().map(|g| g.id).collect())
    }

    /// Which of the given groups the object belongs to through nesting; Graph's `checkMemberGroups` and
    /// `checkMemberObjects`. Ids that name no group are not in the answer.
    pub async fn check_member_groups(&self, caller: &Caller, object: &str, ids: &[String]) -> Result<Vec<Uuid>> {
        require(caller, Action::ReadMemberships)?;
        if ids.len() > MAX_CHECKED_IDS {
            return Err(Error::invalid(format!("At most {MAX_CHECKED_IDS} ids can be checked in one request.")));
        }
        let object = self.member_object(caller, object).await?;
        let wanted: Vec<String> =
            ids.iter().filter_map(|id| Uuid::parse_str(id).ok()).map(|id| id.to_string()).collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let query = ObjectQuery {
            kind: Some(ObjectKind::Group),
            scope: Some(Scope::TransitiveMemberOf { member: object.id }),
            filter: Some(Filter::Property { property: "id".into(), test: Test::In(wanted) }),
            limit: MAX_CHECKED_IDS as u32,
            ..ObjectQuery::default()
        };
        let groups = self.directory.store.objects(caller.tenant(), &query).await.map_err(Error::from)?;
        Ok(groups.into_iter().map(|g| g.id).collect())
    }
}

/// The kinds of object a group's members (or owners) can be.
fn link_kinds(relation: Relation) -> &'static [ObjectKind] {
    match relation {
        Relation::Member => &[ObjectKind::User, ObjectKind::Group, ObjectKind::Contact, ObjectKind::ServicePrincipal],
        Relation::Owner => &[ObjectKind::User, ObjectKind::ServicePrincipal],
    }
}

/// The link a member or owner add would make, with the rules that can be checked before the write (a
/// duplicate is found by the write itself, on the links' primary key).
fn checked_link(group: &ObjectRecord, relation: Relation, object: &ObjectRecord) -> Result<Link> {
    if relation == Relation::Member && object.kind == ObjectKind::Group {
        if is_unified(group) {
            return Err(Error::invalid(
                "Unified Groups cannot be added to Unified Groups. paramName: Members, paramValue: , objectType: Microsoft.Online.DirectoryServices.Group",
            ));
        }
        if is_role_assignable(group) {
            return Err(Error::invalid(
                "Nesting is currently not supported for groups that can be assigned to a role.",
            ));
        }
        if object.id == group.id {
            return Err(cycle(group.id));
        }
    }
    Ok(Link { group: group.id, relation, member: object.id, member_kind: object.kind })
}

fn duplicate(relation: Relation) -> Error {
    Error::invalid(format!(
        "One or more added object references already exist for the following modified properties: '{}'.",
        relation.property()
    ))
}

fn too_many_owners() -> Error {
    Error::invalid(format!("A group can have at most {MAX_OWNERS} owners."))
}

fn cycle(group: Uuid) -> Error {
    Error::invalid(format!("The request would make group '{group}' a member of itself, directly or through nesting."))
}

/// Maps a store failure of a group write: a cycle found inside the transaction, a duplicate link or a
/// taken mailNickname.
fn link_error(error: StoreError, group: Uuid, relation: Relation) -> Error {
    match error {
        StoreError::Conflict(what) if what == "cycle" => cycle(group),
        StoreError::Conflict(what) if what.contains("links") => duplicate(relation),
        other => write_error(other, DUPLICATE_NICKNAME),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_identifiers_follow_entra() {
        let id = Uuid::parse_str("2e2f3a2c-9d8b-4f6e-a1b2-c3d4e5f60718").unwrap_or_default();
        assert_eq!(security_identifier(id), "S-1-12-1-774847020-1332649355-3569595041-403175141");
    }
}
