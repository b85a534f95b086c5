//! The SCIM service's groups: the group use cases (`Groups::create_keeping`, `update_keeping`, `delete`)
//! with SCIM's shapes, so a group pushed in over SCIM obeys Graph's rules, authorization and audit; its
//! member edits are one write with its property changes.

use super::groups::{self, GroupChanges, Member};
use super::{Listed, Query, Scim, FURTHEST_INDEX};
use crate::groups::Links;
use crate::kernel::error::Result;
use crate::kernel::request;
use crate::query::{Listing, MAX_PAGE};
use crate::store::{ObjectKind, ObjectRecord, Relation};
use crate::Caller;
use serde_json::{Map, Value};

impl Scim<'_> {
    /// A group's direct members that SCIM shows (users and groups), the first [`FURTHEST_INDEX`] of them.
    async fn members(&self, caller: &Caller, group: &ObjectRecord) -> Result<Vec<Member>> {
        let mut members: Vec<Member> = Vec::new();
        let mut after = None;
        loop {
            let listing = Listing { filter: None, order: Vec::new(), after, top: MAX_PAGE, count: false };
            let id = group.id.to_string();
            let page = self.directory.groups().group_links(caller, &id, Relation::Member, false, None, listing).await?;
            let shown = page.items.iter().filter(|r| matches!(r.kind, ObjectKind::User | ObjectKind::Group));
            members.extend(shown.map(Member::of));
            match page.next {
                Some(next) if members.len() < FURTHEST_INDEX => after = Some(next),
                _ => break,
            }
        }
        members.truncate(FURTHEST_INDEX);
        Ok(members)
    }

    async fn shown_group(
        &self,
        caller: &Caller,
        record: &ObjectRecord,
        with_members: bool,
    ) -> Result<Map<String, Value>> {
        let members = match with_members {
            true => Some(self.members(caller, record).await?),
            false => None,
        };
        Ok(groups::to_scim(record, members.as_deref(), &request::current().base_url))
    }

    /// A new security group with its members, in one write.
    pub(super) async fn create_group(&self, caller: &Caller, body: &Map<String, Value>) -> Result<Map<String, Value>> {
        let changes = groups::changes_of(body)?;
        let links = Links::Edited { add: &changes.add, remove: &[] };
        let body = groups::new_group(&changes.changes);
        let record = self.directory.groups().create_keeping(caller, &body, &changes.kept, links).await?;
        self.shown_group(caller, &record, true).await
    }

    pub(super) async fn group(&self, caller: &Caller, id: &str, with_members: bool) -> Result<Map<String, Value>> {
        let record = self.directory.groups().get(caller, id).await?;
        self.shown_group(caller, &record, with_members).await
    }

    pub(super) async fn groups(&self, caller: &Caller, query: &Query<'_>, with_members: bool) -> Result<Listed> {
        let (records, total) = self.listed(caller, ObjectKind::Group, groups::attribute, query, |f| f).await?;
        let mut resources = Vec::with_capacity(records.len());
        for record in &records {
            resources.push(self.shown_group(caller, record, with_members).await?);
        }
        Ok(Listed { resources, total })
    }

    pub(super) async fn changed_group(
        &self,
        caller: &Caller,
        id: &str,
        mut changes: GroupChanges,
        expected: Option<i64>,
    ) -> Result<Map<String, Value>> {
        let group = self.directory.groups().get(caller, id).await?;
        if changes.replace_members {
            let current = self.members(caller, &group).await?;
            let staying: std::collections::HashSet<&String> = changes.add.iter().collect();
            changes.remove.extend(current.into_iter().map(|m| m.id).filter(|m| !staying.contains(m)));
        }
        let links = Links::Edited { add: &changes.add, remove: &changes.remove };
        self.directory.groups().update_keeping(caller, id, &changes.changes, &changes.kept, links, expected).await?;
        let record = self.directory.groups().get(caller, id).await?;
        self.shown_group(caller, &record, true).await
    }
}
