//! How a group's own document states its rule: whether it is dynamic, its rule parsed, and the groups a
//! memberOf rule reads (which the store indexes, so Entra's limits on memberOf rules can be checked).

use super::{parse, Rule};
use crate::store::ObjectRecord;
use serde_json::{Map, Value};
use uuid::Uuid;

/// The `groupTypes` value of a group whose members its rule keeps.
pub const DYNAMIC: &str = "DynamicMembership";
/// Index properties of groups whose rule is a memberOf rule: a marker, and each source group's id.
pub const MEMBER_OF_RULE: &str = "memberOfRule";
pub const MEMBER_OF_SOURCES: &str = "memberOfSources";

/// The group's `groupTypes`.
pub fn group_types(doc: &Map<String, Value>) -> Vec<String> {
    doc.get("groupTypes")
        .and_then(Value::as_array)
        .map(|types| types.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Whether the group's membership is kept by its rule.
pub fn is_dynamic(group: &ObjectRecord) -> bool {
    group_types(&group.doc).iter().any(|t| t == DYNAMIC)
}

/// A dynamic group's rule, parsed; `None` for an assigned group or a rule that no longer parses.
pub fn parsed_rule(group: &ObjectRecord) -> Option<Rule> {
    if !is_dynamic(group) {
        return None;
    }
    group.doc.get("membershipRule").and_then(Value::as_str).and_then(|r| parse(r).ok())
}

/// The source groups of a dynamic group whose rule is a memberOf rule.
pub fn member_of_rule(group: &ObjectRecord) -> Option<Vec<Uuid>> {
    match parsed_rule(group) {
        Some(Rule::MemberOf(sources)) => Some(sources),
        _ => None,
    }
}
