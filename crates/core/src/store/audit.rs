//! What the change log tells the directory audit log. Every change record carries who made it (the
//! [`Initiator`]) and, when the audit log shows it, Entra's category and activity for it and the values it
//! replaced and set ([`Note`]). They are worked out here, from the write that made the record, while the
//! store writes the record: no write reaches the directory without them.

use super::{Change, ChangeKind, ObjectKind, Relation, Write};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// A person through an application (a delegated token).
    User(Uuid),
    /// A person on their own account through Gatehouse's own pages (password change and reset, security
    /// info).
    SelfService(Uuid),
    /// An application acting as itself: its service principal and app id.
    App { service_principal: Uuid, app_id: Uuid },
    /// Gatehouse itself: bootstrap, the operator's CLI, the processors (dynamic membership, group licensing).
    System,
}

impl Initiator {
    /// The initiator as the change log's `actor` column holds it.
    pub fn encode(&self) -> String {
        match self {
            Initiator::User(id) => format!("user:{id}"),
            Initiator::SelfService(id) => format!("self:{id}"),
            Initiator::App { service_principal, app_id } => format!("app:{service_principal}:{app_id}"),
            Initiator::System => "system".to_owned(),
        }
    }

    /// The initiator of an `actor` column; records written before the column was kept read as the system.
    pub fn decode(text: &str) -> Initiator {
        let id = |s: &str| Uuid::parse_str(s).ok();
        let parsed = match text.split(':').collect::<Vec<_>>().as_slice() {
            ["user", user] => id(user).map(Initiator::User),
            ["self", user] => id(user).map(Initiator::SelfService),
            ["app", sp, app] => {
                id(sp).zip(id(app)).map(|(service_principal, app_id)| Initiator::App { service_principal, app_id })
            }
            _ => None,
        };
        parsed.unwrap_or(Initiator::System)
    }

    /// The person who made the change, if a person did.
    pub fn user(&self) -> Option<Uuid> {
        match self {
            Initiator::User(id) | Initiator::SelfService(id) => Some(*id),
            _ => None,
        }
    }

    /// The `actor` values a filter on the person `user` matches.
    pub fn of_user(user: Uuid) -> [String; 2] {
        [Initiator::User(user).encode(), Initiator::SelfService(user).encode()]
    }
}

/// A property a change set, with its value before and after (JSON values; `None` when unset).
#[derive(Debug, Clone, PartialEq)]
pub struct Modified {
    pub name: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// What the audit log shows of a change record: Entra's category, activity, the service Entra logs it by
/// (`loggedByService`) and its kind of operation (`operationType`), and the properties it set.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub category: String,
    pub activity: String,
    pub service: String,
    pub operation: String,
    pub modified: Vec<Modified>,
}

/// Services that log directory changes, as Entra names them.
const CORE: &str = "Core Directory";
const METHODS: &str = "Authentication Methods";
const SSPR: &str = "Self-service Password Management";
const CONDITIONAL_ACCESS: &str = "Conditional Access";
const INVITED_USERS: &str = "Invited Users";

impl Note {
    fn new(category: &'static str, activity: &'static str, service: &'static str, operation: &'static str) -> Note {
        let owned = |s: &str| s.to_owned();
        Note {
            category: owned(category),
            activity: owned(activity),
            service: owned(service),
            operation: owned(operation),
            modified: Vec::new(),
        }
    }

    fn with(self, modified: &[Modified]) -> Note {
        Note { modified: modified.iter().filter(|m| !hidden(&m.name)).cloned().collect(), ..self }
    }
}

/// One record of the directory audit log: a change record with its note.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub seq: i64,
    /// The sequence number of the first record of the same commit (one use case), for the correlation id.
    pub batch: i64,
    pub change: Change,
    pub at: chrono::DateTime<chrono::Utc>,
    pub by: Initiator,
    pub note: Note,
}

/// What the directory audit log is asked for: records at or after `from`, at or before `until`, of a
/// category, activity and logging service, made by a person, concerning an object (or a link of it),
/// before `before` (a sequence number, for paging); newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    pub category: Option<String>,
    pub activity: Option<String>,
    pub service: Option<String>,
    pub user: Option<Uuid>,
    pub target: Option<String>,
    pub before: Option<i64>,
    pub limit: u32,
}

/// Properties whose values the audit log never shows: passwords, sealed secrets, and the directory's own
/// bookkeeping (every property whose name starts with `_`) — only that they changed.
fn hidden(name: &str) -> bool {
    name.starts_with('_') || name == "passwordProfile"
}

/// Properties the audit log leaves out: what follows from a user's `assignedLicenses` and the product
/// catalog (their service plans and the assignments' states), large and written for every member a group
/// licence reaches.
const DERIVED: [&str; 2] = ["assignedPlans", "licenseAssignmentStates"];

/// The properties a write set, by the id of the record they belong to, read before the write is planned.
/// They include hidden ones (whose growth tells a registered method from a deleted one); a [`Note`] never
/// does.
#[derive(Debug, Default)]
pub struct Values(Vec<(String, Vec<Modified>)>);

/// The Conditional Access document's lists and the subject of each one's items in the change log.
pub const CONDITIONAL_ACCESS_LISTS: [(&str, &str); 2] =
    [("policies", "conditionalAccessPolicy"), ("namedLocations", "namedLocation")];

/// The items of a Conditional Access document's list, by id.
fn items<'a>(doc: &'a Map<String, Value>, list: &str) -> Vec<(&'a str, &'a Value)> {
    let items = doc.get(list).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    items.iter().filter_map(|item| Some((item.get("id")?.as_str()?, item))).collect()
}

/// The change records of a replaced Conditional Access document: one per policy or named location added,
/// changed or removed.
pub fn conditional_access_changes(previous: &Map<String, Value>, doc: &Map<String, Value>) -> Vec<Change> {
    let mut changes = Vec::new();
    for (list, subject) in CONDITIONAL_ACCESS_LISTS {
        let (old, new) = (items(previous, list), items(doc, list));
        for (id, item) in &new {
            match old.iter().find(|(o, _)| o == id) {
                None => changes.push(Change::other(subject, id, ChangeKind::Created, vec![])),
                Some((_, before)) if before != item => {
                    changes.push(Change::other(subject, id, ChangeKind::Updated, vec![]))
                }
                Some(_) => {}
            }
        }
        for (id, _) in old.iter().filter(|(o, _)| !new.iter().any(|(n, _)| n == o)) {
            changes.push(Change::other(subject, id, ChangeKind::Purged, vec![]));
        }
    }
    changes
}

/// The item of that id.
fn find<'a>(items: &[(&str, &'a Value)], id: &str) -> Option<&'a Value> {
    items.iter().find(|(i, _)| *i == id).map(|(_, v)| *v)
}

impl Values {
    /// The values `write` sets: every shown property of a new object, the touched properties of an updated
    /// object or of the organization, and the policies and named locations of a Conditional Access document.
    pub fn of(write: &Write) -> Values {
        let property = |name: &String, old: Option<&Value>, new: Option<&Value>| Modified {
            name: name.clone(),
            old: old.cloned(),
            new: new.cloned(),
        };
        let entries = match write {
            Write::InsertObject(object) => {
                let set = object.doc.iter().filter(|(name, _)| !hidden(name) && !DERIVED.contains(&name.as_str()));
                vec![(object.id.to_string(), set.map(|(name, value)| property(name, None, Some(value))).collect())]
            }
            Write::UpdateObject { object, previous, attributes, .. } => {
                let kept = attributes.iter().filter(|name| !DERIVED.contains(&name.as_str()));
                let set = kept.map(|name| property(name, previous.get(name), object.doc.get(name)));
                vec![(object.id.to_string(), set.collect())]
            }
            Write::UpdateOrganization { organization, previous, attributes, .. } => {
                let set = attributes.iter().map(|name| property(name, previous.get(name), organization.get(name)));
                vec![(String::new(), set.collect())]
            }
            Write::SetConditionalAccess { doc, previous, .. } => CONDITIONAL_ACCESS_LISTS
                .iter()
                .flat_map(|(list, subject)| {
                    let (old, new) = (items(previous, list), items(doc, list));
                    let ids: Vec<&str> = new.iter().chain(&old).map(|(id, _)| *id).collect();
                    ids.into_iter().map(move |id| {
                        let name = match *subject {
                            "namedLocation" => "NamedLocation",
                            _ => "ConditionalAccessPolicy",
                        };
                        (id.to_owned(), vec![property(&name.to_owned(), find(&old, id), find(&new, id))])
                    })
                })
                .collect(),
            Write::CreateSharingLink(link) => {
                let set = [
                    ("Recipient", json!(link.recipient.as_deref().unwrap_or("anyone with the link"))),
                    ("Access", json!(if link.edit { "edit" } else { "view" })),
                    ("ExpirationDateTime", json!(link.expires_at.to_rfc3339())),
                ];
                let set = set.iter().map(|(name, value)| property(&(*name).to_owned(), None, Some(value)));
                vec![(link.id.to_string(), set.collect())]
            }
            Write::UseSharingLink { id, by, .. } => {
                vec![(id.to_string(), vec![property(&"UsedBy".to_owned(), None, Some(&json!(by)))])]
            }
            _ => Vec::new(),
        };
        Values(entries)
    }

    fn of_record(&self, id: &str) -> Vec<Modified> {
        self.0.iter().find(|(of, _)| of == id).map(|(_, set)| set.clone()).unwrap_or_default()
    }
}

/// Whether a list property holds more items after a change than before, fewer, or as many.
fn growth(modified: &[Modified], name: &str) -> std::cmp::Ordering {
    let length = |v: &Option<Value>| v.as_ref().and_then(Value::as_array).map_or(0, Vec::len);
    modified.iter().find(|m| m.name == name).map_or(std::cmp::Ordering::Equal, |m| length(&m.new).cmp(&length(&m.old)))
}

/// The note of an object's change.
fn object_note(object: ObjectKind, id: Uuid, kind: ChangeKind, by: &Initiator, raw: &[Modified]) -> Option<Note> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    use ChangeKind::*;
    let touched = |name: &str| raw.iter().any(|m| m.name == name);
    let own = by.user() == Some(id);
    let category = match object {
        ObjectKind::User => "UserManagement",
        ObjectKind::Group => "GroupManagement",
        ObjectKind::Application | ObjectKind::ServicePrincipal => "ApplicationManagement",
        ObjectKind::Contact => "Contact",
        ObjectKind::Subscription => "DirectoryManagement",
    };
    let invited = raw.iter().any(|m| m.name == "creationType" && m.new == Some(Value::from("Invitation")));
    let note = match (object, kind) {
        (ObjectKind::User, Created) if invited => Note::new(category, "Invite external user", INVITED_USERS, "Add"),
        (ObjectKind::User, Updated) if touched("externalUserState") => match by {
            Initiator::SelfService(_) => Note::new(category, "Redeem external user invite", INVITED_USERS, "Update"),
            _ => Note::new(category, "Invite external user", INVITED_USERS, "Update"),
        },
        (ObjectKind::User, Updated) if touched("passwordProfile") => match by {
            Initiator::SelfService(_) => Note::new(category, "Change password (self-service)", SSPR, "Update"),
            _ if own => Note::new(category, "Change user password", CORE, "Update"),
            _ => Note::new(category, "Reset user password", CORE, "Update"),
        },
        (ObjectKind::User, Updated) if touched("_authenticationMethods") => {
            let activity = match (own, growth(raw, "_authenticationMethods")) {
                (true, Greater) => "User registered security info",
                (true, Less) => "User deleted security info",
                (true, Equal) => "User updated security info",
                (false, Greater) => "Admin registered security info",
                (false, Less) => "Admin deleted security info",
                (false, Equal) => "Admin updated security info",
            };
            Note::new(category, activity, METHODS, "Update")
        }
        (ObjectKind::User | ObjectKind::Group, Updated) if touched("_directoryRoles") => {
            match growth(raw, "_directoryRoles") {
                Less => Note::new("RoleManagement", "Remove member from role", CORE, "Delete"),
                _ => Note::new("RoleManagement", "Add member to role", CORE, "Add"),
            }
        }
        (ObjectKind::User, Updated) if touched("_sessionsValidFromMicros") => {
            Note::new(category, "Invalidate all refresh tokens for user", CORE, "Update")
        }
        (ObjectKind::User, Updated) if touched("assignedLicenses") => {
            Note::new(category, "Change user license", CORE, "Update")
        }
        (ObjectKind::Group, Updated) if touched("assignedLicenses") => {
            Note::new(category, "Set group license", CORE, "Update")
        }
        (ObjectKind::Group, Updated) if touched("licenseProcessingState") => return None,
        (ObjectKind::Application, Updated) if touched("passwordCredentials") || touched("keyCredentials") => {
            Note::new(category, "Update application – Certificates and secrets management ", CORE, "Update")
        }
        (object, kind) => {
            let (activity, operation) = ACTIVITIES.iter().find(|a| a.0 == object && a.1 == kind).map(|a| (a.2, a.3))?;
            Note::new(category, activity, CORE, operation)
        }
    };
    Some(note.with(raw))
}

/// Entra's activities for the plain changes of each kind of object, with their operation types.
const ACTIVITIES: &[(ObjectKind, ChangeKind, &str, &str)] = {
    use ChangeKind::*;
    use ObjectKind::*;
    &[
        (User, Created, "Add user", "Add"),
        (User, Updated, "Update user", "Update"),
        (User, Deleted, "Delete user", "Delete"),
        (User, Restored, "Restore user", "Update"),
        (User, Purged, "Hard Delete user", "Delete"),
        (Group, Created, "Add group", "Add"),
        (Group, Updated, "Update group", "Update"),
        (Group, Deleted, "Delete group", "Delete"),
        (Group, Restored, "Restore group", "Update"),
        (Group, Purged, "Hard Delete group", "Delete"),
        (Application, Created, "Add application", "Add"),
        (Application, Updated, "Update application", "Update"),
        (Application, Deleted, "Delete application", "Delete"),
        (Application, Restored, "Restore application", "Update"),
        (Application, Purged, "Hard Delete application", "Delete"),
        (ServicePrincipal, Created, "Add service principal", "Add"),
        (ServicePrincipal, Updated, "Update service principal", "Update"),
        (ServicePrincipal, Deleted, "Remove service principal", "Delete"),
        (ServicePrincipal, Restored, "Restore service principal", "Update"),
        (ServicePrincipal, Purged, "Hard delete service principal", "Delete"),
        (Contact, Created, "Add contact", "Add"),
        (Contact, Updated, "Update contact", "Update"),
        (Contact, Deleted, "Delete contact", "Delete"),
        (Contact, Restored, "Restore contact", "Update"),
        (Contact, Purged, "Hard Delete contact", "Delete"),
        (Subscription, Created, "Add subscription", "Add"),
        (Subscription, Updated, "Update subscription", "Update"),
        (Subscription, Purged, "Delete subscription", "Delete"),
    ]
};

/// The note of a change record made by `write` (whose [`Values`] were read before it was planned) and
/// initiated by `by`; `None` for a record the audit log passes over: links suspended or resumed with a
/// deleted or restored object, a client secret's record (its application's update tells it), and the
/// directory's bookkeeping (signing keys, processors, the tenant's creation).
pub fn note(change: &Change, values: &Values, by: &Initiator) -> Option<Note> {
    use ChangeKind::*;
    let (groups, apps, directory) = ("GroupManagement", "ApplicationManagement", "DirectoryManagement");
    match change {
        Change::Object { object, id, kind, .. } => {
            object_note(*object, *id, *kind, by, &values.of_record(&id.to_string()))
        }
        Change::Link { relation, kind, .. } => Some(match (relation, kind) {
            (Relation::Member, Created) => Note::new(groups, "Add member to group", CORE, "Add"),
            (Relation::Member, Purged) => Note::new(groups, "Remove member from group", CORE, "Delete"),
            (Relation::Owner, Created) => Note::new(groups, "Add owner to group", CORE, "Add"),
            (Relation::Owner, Purged) => Note::new(groups, "Remove owner from group", CORE, "Delete"),
            _ => return None,
        }),
        Change::Other { subject, id, kind, attributes } => {
            let policy = |activity, operation| {
                Note::new("Policy", activity, CONDITIONAL_ACCESS, operation).with(&values.of_record(id))
            };
            Some(match (subject.as_str(), kind) {
                ("organization", _) if attributes.iter().any(|a| a == "_authorizationPolicy") => {
                    Note::new("Policy", "Update authorization policy", CORE, "Update")
                }
                ("organization", _) if attributes.iter().any(|a| a == "_authenticationMethodsPolicy") => {
                    Note::new("Policy", "Authentication Methods Policy Update", METHODS, "Update")
                }
                ("organization", _) => {
                    Note::new(directory, "Set Company Information", CORE, "Update").with(&values.of_record(""))
                }
                ("domain", Created) => Note::new(directory, "Add unverified domain", CORE, "Add"),
                ("domain", Updated) if attributes.iter().any(|a| a == "isDefault") => {
                    Note::new(directory, "Update domain", CORE, "Update")
                }
                ("domain", Updated) => Note::new(directory, "Verify domain", CORE, "Update"),
                ("domain", Purged) => Note::new(directory, "Remove verified domain", CORE, "Delete"),
                ("appRoleAssignment", Created) => Note::new(apps, "Add app role assignment", CORE, "Assign"),
                ("appRoleAssignment", Purged) => Note::new(apps, "Remove app role assignment", CORE, "Unassign"),
                ("oauth2PermissionGrant", Created) => Note::new(apps, "Add delegated permission grant", CORE, "Add"),
                ("oauth2PermissionGrant", Updated) => {
                    Note::new(apps, "Update delegated permission grant", CORE, "Update")
                }
                ("oauth2PermissionGrant", Purged) => {
                    Note::new(apps, "Remove delegated permission grant", CORE, "Delete")
                }
                ("conditionalAccessPolicy", Created) => policy("Add conditional access policy", "Add"),
                ("conditionalAccessPolicy", Updated) => policy("Update conditional access policy", "Update"),
                ("conditionalAccessPolicy", Purged) => policy("Delete conditional access policy", "Delete"),
                ("namedLocation", Created) => policy("Add named location", "Add"),
                ("namedLocation", Updated) => policy("Update named location", "Update"),
                ("namedLocation", Purged) => policy("Delete named location", "Delete"),
                ("sharingLink", kind) => {
                    let (activity, operation) = match kind {
                        Created => ("Add sharing link", "Add"),
                        Updated => ("Use sharing link", "Update"),
                        _ => ("Remove sharing link", "Delete"),
                    };
                    Note::new(apps, activity, CORE, operation).with(&values.of_record(id))
                }
                _ => return None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ObjectRecord;
    use serde_json::json;

    fn user(doc: Value) -> ObjectRecord {
        ObjectRecord {
            id: Uuid::nil(),
            kind: ObjectKind::User,
            version: 1,
            unique_key: None,
            manager: None,
            doc: doc.as_object().cloned().unwrap_or_default(),
            created_at: chrono::DateTime::default(),
            deleted_at: None,
        }
    }

    #[test]
    fn initiators_read_back_as_written() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        for by in [
            Initiator::User(a),
            Initiator::SelfService(a),
            Initiator::App { service_principal: a, app_id: b },
            Initiator::System,
        ] {
            assert_eq!(Initiator::decode(&by.encode()), by);
        }
        assert_eq!(Initiator::decode("user:not-a-guid"), Initiator::System);
    }

    #[test]
    fn an_update_tells_old_and_new_values_and_never_a_secret() {
        let before = user(json!({"department": "Sales", "_authenticationMethods": [{"secret": "sealed"}]}));
        let after = user(json!({"department": "Legal", "_authenticationMethods": []}));
        let write = Write::update(&before, after, vec!["department".into(), "_authenticationMethods".into()]);
        let change = Change::object(ObjectKind::User, Uuid::nil(), ChangeKind::Updated, vec![]);
        let note = note(&change, &Values::of(&write), &Initiator::User(Uuid::max())).expect("a note");
        assert_eq!(note.activity, "Admin deleted security info");
        assert_eq!(
            note.modified,
            [Modified { name: "department".into(), old: Some(json!("Sales")), new: Some(json!("Legal")) }]
        );
    }

    #[test]
    fn a_replaced_conditional_access_document_tells_each_policy() {
        let previous = json!({"policies": [{"id": "a", "state": "enabled"}, {"id": "b"}], "namedLocations": []});
        let doc = json!({"policies": [{"id": "a", "state": "disabled"}, {"id": "c"}], "namedLocations": [{"id": "l"}]});
        let (previous, doc) =
            (previous.as_object().cloned().unwrap_or_default(), doc.as_object().cloned().unwrap_or_default());
        let changes = conditional_access_changes(&previous, &doc);
        let kinds: Vec<(String, ChangeKind)> = changes
            .iter()
            .map(|c| match c {
                Change::Other { id, kind, .. } => (id.clone(), *kind),
                _ => (String::new(), ChangeKind::Created),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("a".to_owned(), ChangeKind::Updated),
                ("c".to_owned(), ChangeKind::Created),
                ("b".to_owned(), ChangeKind::Purged),
                ("l".to_owned(), ChangeKind::Created)
            ]
        );
        let write = Write::SetConditionalAccess { doc, previous, expected_version: 1 };
        let values = Values::of(&write);
        let updated = note(&changes[0], &values, &Initiator::System).expect("a note");
        assert_eq!(updated.activity, "Update conditional access policy");
        assert_eq!(updated.modified[0].old, Some(json!({"id": "a", "state": "enabled"})));
        assert_eq!(updated.modified[0].new, Some(json!({"id": "a", "state": "disabled"})));
    }
}
