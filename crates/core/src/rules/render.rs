//! A rule written back in the rule language.

use super::*;

pub(super) fn render_value(value: &RuleValue) -> String {
    let quote = |t: &str| format!("\"{}\"", t.replace('"', "`\""));
    match value {
        RuleValue::Null => "null".into(),
        RuleValue::Bool(flag) => flag.to_string(),
        RuleValue::Text(text) => quote(text),
        RuleValue::List(items) => format!("[{}]", items.iter().map(|i| quote(i)).collect::<Vec<_>>().join(", ")),
        RuleValue::Time(time) => format_time(*time),
        RuleValue::Now(offset) if offset.is_zero() => "system.now".into(),
        RuleValue::Now(offset) => {
            let sign = if offset.num_seconds() < 0 { "-" } else { "" };
            format!("system.now -plus {sign}pt{}s", offset.num_seconds().abs())
        }
    }
}

pub(super) fn render_item(rule: &ItemRule) -> String {
    match rule {
        ItemRule::And(a, b) => format!("({} -and {})", render_item(a), render_item(b)),
        ItemRule::Or(a, b) => format!("({} -or {})", render_item(a), render_item(b)),
        ItemRule::Not(inner) => format!("-not ({})", render_item(inner)),
        ItemRule::Compare { item, op, value } => {
            let subject = match item {
                Item::Element => "_".to_owned(),
                Item::PlanField(index) => format!("assignedPlan.{}", PLAN_FIELDS[*index]),
            };
            format!("{subject} {} {}", op.name(), render_value(value))
        }
    }
}

/// A rule written back in the rule language, fully parenthesized; parsing it gives the same rule.
pub fn render(rule: &Rule) -> String {
    match rule {
        Rule::And(a, b) => format!("({} -and {})", render(a), render(b)),
        Rule::Or(a, b) => format!("({} -or {})", render(a), render(b)),
        Rule::Not(inner) => format!("-not ({})", render(inner)),
        Rule::Compare { attribute, op, value } => {
            format!("user.{} {} {}", attribute.name, op.name(), render_value(value))
        }
        Rule::Collection { attribute, all, predicate } => {
            let quantifier = if *all { "-all" } else { "-any" };
            format!("user.{} {quantifier} ({})", attribute.name, render_item(predicate))
        }
        Rule::DirectReports(manager) => format!("Direct Reports for \"{manager}\""),
        Rule::MemberOf(groups) => format!(
            "user.memberOf -any (group.objectId -in [{}])",
            groups.iter().map(|g| format!("'{g}'")).collect::<Vec<_>>().join(", ")
        ),
    }
}
