//! A rule as a filter over users, and what a rule reads.

use super::*;

/// The Graph properties whose change can change the rule's outcome for a user; `memberOf` for memberOf
/// rules (membership changes of their source groups), `manager` for direct-reports rules.
pub fn sources(rule: &Rule) -> Vec<String> {
    let mut out = Vec::new();
    collect_sources(rule, &mut out);
    out.sort_unstable();
    out.dedup();
    out
}

pub(super) fn collect_sources(rule: &Rule, out: &mut Vec<String>) {
    match rule {
        Rule::And(a, b) | Rule::Or(a, b) => {
            collect_sources(a, out);
            collect_sources(b, out);
        }
        Rule::Not(inner) => collect_sources(inner, out),
        Rule::Compare { attribute, .. } | Rule::Collection { attribute, .. } => out.push(attribute.source.clone()),
        Rule::DirectReports(_) => out.push("manager".to_owned()),
        Rule::MemberOf(_) => out.push("memberOf".to_owned()),
    }
}

/// Whether the rule reads the clock (`system.now`), and so must be re-evaluated as time passes.
pub fn reads_clock(rule: &Rule) -> bool {
    match rule {
        Rule::And(a, b) | Rule::Or(a, b) => reads_clock(a) || reads_clock(b),
        Rule::Not(inner) => reads_clock(inner),
        Rule::Compare { value: RuleValue::Now(_), .. } => true,
        _ => false,
    }
}

pub(super) fn literal(attribute: &Attribute, value: &RuleValue, now: DateTime<Utc>) -> Literal {
    match value {
        RuleValue::Null => Literal::Null,
        RuleValue::Bool(flag) => Literal::Text(flag.to_string()),
        RuleValue::Time(time) => Literal::Text(format_time(*time)),
        RuleValue::Now(offset) => Literal::Text(format_time(now + *offset)),
        RuleValue::Text(text) if attribute.ty == AttributeType::DateTime => Literal::Text(canonical_time(text)),
        RuleValue::Text(text) => Literal::Text(fold(text)),
        RuleValue::List(_) => Literal::Null,
    }
}

/// The value test of a comparison, and whether it is negated.
pub(super) fn test(attribute: &Attribute, op: RuleOp, value: &RuleValue, now: DateTime<Utc>) -> (Test, bool) {
    let text = || match literal(attribute, value, now) {
        Literal::Text(t) => t,
        Literal::Null => String::new(),
    };
    let list = || match value {
        RuleValue::List(items) => items.iter().map(|i| fold(i)).collect(),
        _ => Vec::new(),
    };
    match op {
        RuleOp::Eq => (Test::Compare(Op::Eq, literal(attribute, value, now)), false),
        RuleOp::Ne => (Test::Compare(Op::Ne, literal(attribute, value, now)), false),
        RuleOp::Le => (Test::Compare(Op::Le, literal(attribute, value, now)), false),
        RuleOp::Ge => (Test::Compare(Op::Ge, literal(attribute, value, now)), false),
        RuleOp::StartsWith => (Test::StartsWith(text()), false),
        RuleOp::NotStartsWith => (Test::StartsWith(text()), true),
        RuleOp::EndsWith => (Test::EndsWith(text()), false),
        RuleOp::NotEndsWith => (Test::EndsWith(text()), true),
        RuleOp::Contains => (Test::Contains(text()), false),
        RuleOp::NotContains => (Test::Contains(text()), true),
        RuleOp::Match => (Test::Matches(pattern(value)), false),
        RuleOp::NotMatch => (Test::Matches(pattern(value)), true),
        RuleOp::In => (Test::In(list()), false),
        RuleOp::NotIn => (Test::In(list()), true),
    }
}

/// Regular expressions match folded values, so they are applied case-insensitively.
pub(super) fn pattern(value: &RuleValue) -> String {
    match value {
        RuleValue::Text(text) => text.clone(),
        _ => String::new(),
    }
}

pub(super) fn negated(filter: Filter, negate: bool) -> Filter {
    if negate {
        Filter::Not(Box::new(filter))
    } else {
        filter
    }
}

/// The rule as a filter over users, with `system.now` read as `now`.
pub fn compile(rule: &Rule, now: DateTime<Utc>) -> Filter {
    match rule {
        Rule::And(a, b) => Filter::And(Box::new(compile(a, now)), Box::new(compile(b, now))),
        Rule::Or(a, b) => Filter::Or(Box::new(compile(a, now)), Box::new(compile(b, now))),
        Rule::Not(inner) => Filter::Not(Box::new(compile(inner, now))),
        Rule::Compare { attribute, op, value } => {
            let (test, negate) = test(attribute, *op, value, now);
            let property = attribute.indexed.clone();
            let filter = match attribute.ty {
                AttributeType::Strings => Filter::Any { property, test },
                _ => Filter::Property { property, test },
            };
            negated(filter, negate)
        }
        Rule::Collection { attribute, all, predicate } => {
            let property = attribute.indexed.clone();
            let test = match attribute.ty {
                AttributeType::Plans => plan_test(predicate),
                _ => element_test(predicate, attribute, now),
            };
            match all {
                true => Filter::All { property, test },
                false => Filter::Any { property, test },
            }
        }
        Rule::DirectReports(manager) => Filter::Property {
            property: "manager".into(),
            test: Test::Compare(Op::Eq, Literal::Text(manager.to_string())),
        },
        Rule::MemberOf(groups) => Filter::MemberOf(groups.iter().map(Uuid::to_string).collect()),
    }
}

/// A predicate over string elements as one value test.
pub(super) fn element_test(predicate: &ItemRule, attribute: &Attribute, now: DateTime<Utc>) -> Test {
    match predicate {
        ItemRule::Compare { op, value, .. } => {
            match test(&Attribute { ty: AttributeType::String, ..attribute.clone() }, *op, value, now) {
                (test, false) => test,
                (test, true) => Test::Not(Box::new(test)),
            }
        }
        ItemRule::And(a, b) => Test::All(vec![element_test(a, attribute, now), element_test(b, attribute, now)]),
        ItemRule::Or(a, b) => Test::AnyOf(vec![element_test(a, attribute, now), element_test(b, attribute, now)]),
        ItemRule::Not(inner) => Test::Not(Box::new(element_test(inner, attribute, now))),
    }
}

/// A predicate over plan elements, whose indexed form is `servicePlanId|capabilityStatus|service`
/// (folded): each field comparison becomes a test of that field.
pub(super) fn plan_test(predicate: &ItemRule) -> Test {
    match predicate {
        ItemRule::Compare { item: Item::PlanField(field), op, value } => {
            let field = *field;
            let literal = match value {
                RuleValue::Text(t) => Some(fold(t)),
                _ => None,
            };
            let test = match (op, literal) {
                (RuleOp::Eq | RuleOp::Ne, None) => {
                    Test::Field { index: field, test: Box::new(Test::Compare(Op::Eq, Literal::Text(String::new()))) }
                }
                (_, literal) => {
                    let value = literal.unwrap_or_default();
                    let inner = match op {
                        RuleOp::StartsWith | RuleOp::NotStartsWith => Test::StartsWith(value),
                        RuleOp::EndsWith | RuleOp::NotEndsWith => Test::EndsWith(value),
                        RuleOp::Contains | RuleOp::NotContains => Test::Contains(value),
                        RuleOp::Match | RuleOp::NotMatch => Test::Matches(value),
                        RuleOp::In | RuleOp::NotIn => Test::In(value_list(predicate).unwrap_or_default()),
                        _ => Test::Compare(Op::Eq, Literal::Text(value)),
                    };
                    Test::Field { index: field, test: Box::new(inner) }
                }
            };
            let negate = matches!(
                op,
                RuleOp::Ne
                    | RuleOp::NotStartsWith
                    | RuleOp::NotEndsWith
                    | RuleOp::NotContains
                    | RuleOp::NotMatch
                    | RuleOp::NotIn
            );
            if negate {
                Test::Not(Box::new(test))
            } else {
                test
            }
        }
        ItemRule::Compare { .. } => Test::Compare(Op::Eq, Literal::Null),
        ItemRule::And(a, b) => Test::All(vec![plan_test(a), plan_test(b)]),
        ItemRule::Or(a, b) => Test::AnyOf(vec![plan_test(a), plan_test(b)]),
        ItemRule::Not(inner) => Test::Not(Box::new(plan_test(inner))),
    }
}

pub(super) fn value_list(predicate: &ItemRule) -> Option<Vec<String>> {
    match predicate {
        ItemRule::Compare { value: RuleValue::List(items), .. } => Some(items.iter().map(|i| fold(i)).collect()),
        _ => None,
    }
}
