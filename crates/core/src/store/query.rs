//! What a list of objects asks of the store: its kind and scope, its filter, its order and where the
//! previous page ended.

use super::{sort_name, ObjectKind, ObjectRecord, Relation};
use crate::filter::Filter;
use uuid::Uuid;

/// A property a list can be ordered by; every order ends with the object id, which makes it total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderBy {
    /// Folded display name.
    DisplayName,
    /// Folded unique key (a user's UPN).
    UniqueKey,
    /// Creation time.
    Created,
}

impl OrderBy {
    /// The object's value of this key, as a cursor carries it.
    pub fn key(self, record: &ObjectRecord) -> String {
        match self {
            OrderBy::DisplayName => sort_name(record),
            OrderBy::UniqueKey => record.unique_key.clone().unwrap_or_default(),
            OrderBy::Created => record.created_at.timestamp_micros().to_string(),
        }
    }
}

/// One key of a list's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub by: OrderBy,
    pub descending: bool,
}

/// Where the previous page ended: its last object's sort keys (one per [`Sort`] of the order; none when
/// ordered by id) and id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    pub keys: Vec<String>,
    pub id: Uuid,
}

impl Cursor {
    /// After this object, in id order.
    pub fn after(id: Uuid) -> Cursor {
        Cursor { keys: Vec::new(), id }
    }

    /// After this object, in the given order.
    pub fn at(order: &[Sort], record: &ObjectRecord) -> Cursor {
        Cursor { keys: order.iter().map(|sort| sort.by.key(record)).collect(), id: record.id }
    }
}

/// Narrows a list to the objects related to one object through group links (active links only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The direct members (or owners) of a group.
    Members { group: Uuid, relation: Relation },
    /// The groups the object is a direct member (or owner) of.
    MemberOf { member: Uuid, relation: Relation },
    /// Every member of a group, through nested groups.
    TransitiveMembers { group: Uuid },
    /// Every group the object is a member of, through nested groups.
    TransitiveMemberOf { member: Uuid },
}

/// Selects a page of objects, in a keyset order, after a cursor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObjectQuery {
    /// Only objects of this kind; `None` for any kind (scoped lists that mix kinds).
    pub kind: Option<ObjectKind>,
    /// Only objects related to another one through group links.
    pub scope: Option<Scope>,
    /// Soft-deleted objects instead of live ones.
    pub deleted: bool,
    /// Only the direct reports of this manager.
    pub manager: Option<Uuid>,
    /// Only objects that match.
    pub filter: Option<Filter>,
    /// The order's keys, before the id that ends every order (ascending unless the last key descends);
    /// empty for id order.
    pub order: Vec<Sort>,
    pub after: Option<Cursor>,
    pub limit: u32,
}

impl ObjectQuery {
    /// The live objects of a kind, in id order.
    pub fn of(kind: ObjectKind) -> ObjectQuery {
        ObjectQuery { kind: Some(kind), ..ObjectQuery::default() }
    }
}
