//! The change log's records, typed, and their one encoding into the log's columns (`object_type`,
//! `object_id`, `kind`, `attributes`) and back.

use super::{ObjectKind, Relation};
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
    Restored,
    Purged,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Deleted => "deleted",
            ChangeKind::Restored => "restored",
            ChangeKind::Purged => "purged",
        }
    }

    pub fn parse(s: &str) -> Option<ChangeKind> {
        [ChangeKind::Created, ChangeKind::Updated, ChangeKind::Deleted, ChangeKind::Restored, ChangeKind::Purged]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// What one record of the change log says changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A directory object, with the properties (by Graph name) an update touched.
    Object { object: ObjectKind, id: Uuid, kind: ChangeKind, attributes: Vec<String> },
    /// A group's member or owner: `Created` when added, `Purged` when removed, `Deleted` when suspended
    /// (either end deleted), `Restored` when resumed.
    Link { relation: Relation, group: Uuid, member: Uuid, member_kind: ObjectKind, kind: ChangeKind },
    /// Anything else the log records, by name: `tenant`, `organization`, `domain`, `clientSecret`,
    /// `appRoleAssignment`, `signingKey` (and whatever a newer node writes, which this one passes over).
    Other { subject: String, id: String, kind: ChangeKind, attributes: Vec<String> },
}

impl Change {
    /// A change of an object.
    pub fn object(object: ObjectKind, id: Uuid, kind: ChangeKind, attributes: Vec<String>) -> Change {
        Change::Object { object, id, kind, attributes }
    }

    /// A change of something other than an object or a link.
    pub fn other(subject: &str, id: impl ToString, kind: ChangeKind, attributes: Vec<String>) -> Change {
        Change::Other { subject: subject.to_owned(), id: id.to_string(), kind, attributes }
    }

    pub fn kind(&self) -> ChangeKind {
        match self {
            Change::Object { kind, .. } | Change::Link { kind, .. } | Change::Other { kind, .. } => *kind,
        }
    }

    /// The log's columns: `object_type`, `object_id`, `kind`, and the attributes (a JSON array of strings).
    pub fn encode(&self) -> [String; 4] {
        let (subject, id, attributes): (&str, String, Vec<&str>) = match self {
            Change::Object { object, id, attributes, .. } => {
                (object.as_str(), id.to_string(), attributes.iter().map(String::as_str).collect())
            }
            Change::Link { relation, group, member, member_kind, .. } => {
                (relation.property(), format!("{group}/{member}"), vec![member_kind.as_str()])
            }
            Change::Other { subject, id, attributes, .. } => {
                (subject.as_str(), id.clone(), attributes.iter().map(String::as_str).collect())
            }
        };
        let attributes = serde_json::Value::from(attributes).to_string();
        [subject.to_owned(), id, self.kind().as_str().to_owned(), attributes]
    }

    /// A record read back from the log's columns; `None` when they are not a change this node writes in
    /// that shape (an object or link record whose ids do not parse, an unknown kind).
    pub fn decode(subject: &str, id: &str, kind: &str, attributes: &str) -> Option<Change> {
        let kind = ChangeKind::parse(kind)?;
        let attributes: Vec<String> = serde_json::from_str(attributes).ok()?;
        if let Some(relation) = [Relation::Member, Relation::Owner].into_iter().find(|r| r.property() == subject) {
            let (group, member) = id.split_once('/')?;
            let member_kind = ObjectKind::parse(attributes.first()?)?;
            let (group, member) = (Uuid::parse_str(group).ok()?, Uuid::parse_str(member).ok()?);
            return Some(Change::Link { relation, group, member, member_kind, kind });
        }
        Some(match ObjectKind::parse(subject) {
            Some(object) => Change::Object { object, id: Uuid::parse_str(id).ok()?, kind, attributes },
            None => Change::Other { subject: subject.to_owned(), id: id.to_owned(), kind, attributes },
        })
    }

    /// Whether the change touched any of the properties (an update of an object that names one of them).
    pub fn touches(&self, properties: &[&str]) -> bool {
        match self {
            Change::Object { attributes, .. } => attributes.iter().any(|a| properties.contains(&a.as_str())),
            _ => false,
        }
    }
}

/// One entry of a tenant's change log.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    pub seq: i64,
    pub change: Change,
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_reads_back_as_written() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let changes = [
            Change::object(ObjectKind::User, a, ChangeKind::Updated, vec!["department".into(), "city".into()]),
            Change::object(ObjectKind::ServicePrincipal, a, ChangeKind::Purged, vec![]),
            Change::Link {
                relation: Relation::Member,
                group: a,
                member: b,
                member_kind: ObjectKind::User,
                kind: ChangeKind::Created,
            },
            Change::Link {
                relation: Relation::Owner,
                group: a,
                member: b,
                member_kind: ObjectKind::ServicePrincipal,
                kind: ChangeKind::Deleted,
            },
            Change::other("domain", "contoso.com", ChangeKind::Created, vec![]),
            Change::other("tenant", a, ChangeKind::Updated, vec!["displayName".into()]),
        ];
        for change in changes {
            let [subject, id, kind, attributes] = change.encode();
            assert_eq!(Change::decode(&subject, &id, &kind, &attributes), Some(change));
        }
    }

    #[test]
    fn the_encoding_is_the_logs_existing_one() {
        let (a, b) = (Uuid::nil(), Uuid::max());
        let link = Change::Link {
            relation: Relation::Member,
            group: a,
            member: b,
            member_kind: ObjectKind::Group,
            kind: ChangeKind::Purged,
        };
        assert_eq!(link.encode(), ["members".to_owned(), format!("{a}/{b}"), "purged".into(), r#"["group"]"#.into()]);
        let user = Change::object(ObjectKind::User, a, ChangeKind::Updated, vec!["usageLocation".into()]);
        assert_eq!(user.encode(), ["user".to_owned(), a.to_string(), "updated".into(), r#"["usageLocation"]"#.into()]);
        assert_eq!(Change::decode("members", "not-ids", "created", r#"["user"]"#), None);
        assert_eq!(Change::decode("user", &a.to_string(), "renamed", "[]"), None);
    }
}
