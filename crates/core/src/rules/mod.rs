//! Entra's dynamic membership rule language for users: the parser, its checks and error messages, and the
//! compilation of a rule into the directory's query AST (so the store evaluates a rule in bulk with the same
//! SQL compiler as `$filter`, and the in-process evaluator decides single users).
//!
//! Accepted as the documentation writes it: optional hyphens on operators, an en dash for the hyphen,
//! case-insensitive property and operator names, `"…"` strings with a backtick before an inner `"`, `'…'`
//! strings with `''` for an inner `'`, lists in `[…]` of either, `null`, booleans, date-time literals and
//! `system.now -plus <ISO 8601 duration>`. Precedence from high to low: comparisons, `-not`, `-and`, `-or`,
//! `-any`/`-all` (whose predicate runs to the end of its expression or parenthesis).

mod compile;
pub mod group_rule;
mod lexer;
mod parser;
mod render;

pub use compile::{compile, reads_clock, sources};
pub use parser::parse;
pub use render::render;

use crate::filter::{Filter, Literal, Op, Test};
use crate::kernel::text::fold;
use crate::schema::{canonical_time, format_time, EXTENSION_ATTRIBUTES};
use chrono::{DateTime, Duration, Utc};
use std::fmt;
use uuid::Uuid;

/// Longest rule Entra accepts, in characters.
pub const MAX_RULE_LENGTH: usize = 3072;
/// Source groups one `memberOf` rule may name.
pub const MAX_MEMBER_OF_GROUPS: usize = 50;
/// Deepest nesting of parentheses and `-not` accepted.
const MAX_DEPTH: usize = 32;

/// What Entra calls the kinds of rule errors, so a message says which kind of fix is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleErrorKind {
    UnsupportedAttribute,
    UnsupportedOperator,
    Compilation,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub kind: RuleErrorKind,
    /// Character offset (from 0) where the problem was found.
    pub position: usize,
    pub detail: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let category = match self.kind {
            RuleErrorKind::UnsupportedAttribute => "Attribute not supported",
            RuleErrorKind::UnsupportedOperator => "Operator isn't supported on attribute",
            RuleErrorKind::Compilation => "Query compilation error",
        };
        write!(f, "{category} at position {}: {}", self.position + 1, self.detail)
    }
}

fn error(kind: RuleErrorKind, position: usize, detail: impl Into<String>) -> RuleError {
    RuleError { kind, position, detail: detail.into() }
}

/// The value type of a rule attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    Bool,
    DateTime,
    String,
    /// A collection of strings: compared per element (`-any`/`-all`, or a direct comparison meaning any).
    Strings,
    /// `assignedPlans`: elements with `servicePlanId`, `capabilityStatus`, `service`.
    Plans,
}

/// A user attribute a rule reads: its rule name, the directory property holding it (as the store indexes
/// it), the Graph property whose change can change it, and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub indexed: String,
    pub source: String,
    pub ty: AttributeType,
}

/// A row of the attribute table: rule name, indexed property, source property, type.
type Row = (&'static str, &'static str, &'static str, AttributeType);

const fn a(name: &'static str, indexed: &'static str, source: &'static str, ty: AttributeType) -> Row {
    (name, indexed, source, ty)
}

const fn text(name: &'static str) -> Row {
    a(name, name, name, AttributeType::String)
}

use AttributeType::{Bool, DateTime as Date, Plans, Strings};

/// The user attributes of the rule language, by their rule names.
const ATTRIBUTES: &[Row] = &[
    a("accountEnabled", "accountEnabled", "accountEnabled", Bool),
    a("dirSyncEnabled", "onPremisesSyncEnabled", "onPremisesSyncEnabled", Bool),
    a("employeeHireDate", "employeeHireDate", "employeeHireDate", Date),
    text("city"),
    text("country"),
    text("companyName"),
    text("department"),
    text("displayName"),
    text("employeeId"),
    a("facsimileTelephoneNumber", "faxNumber", "faxNumber", AttributeType::String),
    text("givenName"),
    text("jobTitle"),
    text("mail"),
    text("mailNickname"),
    a("mobile", "mobilePhone", "mobilePhone", AttributeType::String),
    a("objectId", "id", "id", AttributeType::String),
    text("onPremisesDistinguishedName"),
    text("onPremisesSecurityIdentifier"),
    text("passwordPolicies"),
    a("physicalDeliveryOfficeName", "officeLocation", "officeLocation", AttributeType::String),
    text("postalCode"),
    text("preferredLanguage"),
    text("sipProxyAddress"),
    text("state"),
    text("streetAddress"),
    text("surname"),
    a("telephoneNumber", "businessPhones", "businessPhones", Strings),
    text("usageLocation"),
    text("userPrincipalName"),
    text("userType"),
    a("otherMails", "otherMails", "otherMails", Strings),
    a("proxyAddresses", "proxyAddresses", "proxyAddresses", Strings),
    a("assignedPlans", "assignedPlans", "assignedPlans", Plans),
];

/// The fields of an `assignedPlans` element, in the order its indexed form lists them.
pub const PLAN_FIELDS: [&str; 3] = ["servicePlanId", "capabilityStatus", "service"];

/// Whether a directory property name is a directory extension (`extension_<appId without dashes>_<name>`).
pub fn is_directory_extension(name: &str) -> bool {
    name.strip_prefix("extension_").and_then(|rest| rest.split_once('_')).is_some_and(|(app, attribute)| {
        app.len() == 32 && app.chars().all(|c| c.is_ascii_hexdigit()) && !attribute.is_empty()
    })
}

/// A rule attribute by name (case-insensitive), including extension attributes and directory extensions.
fn attribute(name: &str) -> Option<Attribute> {
    let owned = |(name, indexed, source, ty): Row| Attribute {
        name: name.to_owned(),
        indexed: indexed.to_owned(),
        source: source.to_owned(),
        ty,
    };
    if let Some(found) = ATTRIBUTES.iter().find(|a| a.0.eq_ignore_ascii_case(name)) {
        return Some(owned(*found));
    }
    if let Some(ext) = EXTENSION_ATTRIBUTES.iter().find(|e| e.eq_ignore_ascii_case(name)) {
        return Some(owned(a(ext, ext, "onPremisesExtensionAttributes", AttributeType::String)));
    }
    is_directory_extension(name).then(|| Attribute {
        name: name.to_owned(),
        indexed: name.to_owned(),
        source: name.to_owned(),
        ty: AttributeType::String,
    })
}

/// A comparison operator of the rule language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleOp {
    Eq,
    Ne,
    StartsWith,
    NotStartsWith,
    EndsWith,
    NotEndsWith,
    Contains,
    NotContains,
    Match,
    NotMatch,
    In,
    NotIn,
    Le,
    Ge,
}

const OPERATORS: &[(&str, RuleOp)] = &[
    ("eq", RuleOp::Eq),
    ("ne", RuleOp::Ne),
    ("startswith", RuleOp::StartsWith),
    ("notstartswith", RuleOp::NotStartsWith),
    ("endswith", RuleOp::EndsWith),
    ("notendswith", RuleOp::NotEndsWith),
    ("contains", RuleOp::Contains),
    ("notcontains", RuleOp::NotContains),
    ("match", RuleOp::Match),
    ("notmatch", RuleOp::NotMatch),
    ("in", RuleOp::In),
    ("notin", RuleOp::NotIn),
    ("le", RuleOp::Le),
    ("ge", RuleOp::Ge),
];

impl RuleOp {
    pub fn name(self) -> &'static str {
        match self {
            RuleOp::Eq => "-eq",
            RuleOp::Ne => "-ne",
            RuleOp::StartsWith => "-startsWith",
            RuleOp::NotStartsWith => "-notStartsWith",
            RuleOp::EndsWith => "-endsWith",
            RuleOp::NotEndsWith => "-notEndsWith",
            RuleOp::Contains => "-contains",
            RuleOp::NotContains => "-notContains",
            RuleOp::Match => "-match",
            RuleOp::NotMatch => "-notMatch",
            RuleOp::In => "-in",
            RuleOp::NotIn => "-notIn",
            RuleOp::Le => "-le",
            RuleOp::Ge => "-ge",
        }
    }
}

/// A value a rule compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleValue {
    Null,
    Bool(bool),
    Text(String),
    List(Vec<String>),
    /// A fixed date-time.
    Time(DateTime<Utc>),
    /// `system.now`, plus an offset.
    Now(Duration),
}

/// What a predicate inside `-any`/`-all` compares: the element itself (`_`) or a plan's field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Element,
    PlanField(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    And(Box<Rule>, Box<Rule>),
    Or(Box<Rule>, Box<Rule>),
    Not(Box<Rule>),
    Compare {
        attribute: Attribute,
        op: RuleOp,
        value: RuleValue,
    },
    /// `user.<collection> -any|-all (<predicate over items>)`.
    Collection {
        attribute: Attribute,
        all: bool,
        predicate: Box<ItemRule>,
    },
    /// `Direct Reports for "<manager id>"`: the manager's direct reports, one level.
    DirectReports(Uuid),
    /// `user.memberOf -any (group.objectId -in [...])`: direct members of any of the groups.
    MemberOf(Vec<Uuid>),
}

/// A predicate over one element of a collection.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemRule {
    And(Box<ItemRule>, Box<ItemRule>),
    Or(Box<ItemRule>, Box<ItemRule>),
    Not(Box<ItemRule>),
    Compare { item: Item, op: RuleOp, value: RuleValue },
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    /// Every example rule of the contract, verbatim (device rules excepted: they are refused as such).
    const DOCUMENTED: &[&str] = &[
        r#"user.department -eq "Sales""#,
        r#"(user.department -eq "Sales") -or (user.department -eq "Marketing")"#,
        r#"(user.department -eq "Sales") -and -not (user.jobTitle -startsWith "SDE")"#,
        r#"user.country –eq "US" –and (user.department –eq "Marketing" –or user.department –eq "Sales")"#,
        r#"user.department -in ["50001","50002","50003","50005","50006","50007","50008","50016","50020","50024","50038","50039","51100"]"#,
        r#"user.employeehiredate -ge system.now -plus p1d"#,
        r#"user.employeehiredate -le 2020-06-10T18:13:20Z"#,
        r#"user.displayName -match "^Da.*""#,
        r#"user.mail –ne null"#,
        r#"user.department -eq null"#,
        r#"user.mail -notEndsWith "@Contoso.com""#,
        r#"user.mailNickname -endsWith "-vendor""#,
        r#"user.passwordPolicies -eq "DisableStrongPassword""#,
        r#"user.userType -eq "Member""#,
        r#"user.otherMails -startsWith "alias@domain""#,
        r#"user.assignedPlans -any (assignedPlan.servicePlanId -eq "efb87545-963c-4e0d-99df-69c6916d9eb0" -and assignedPlan.capabilityStatus -eq "Enabled")"#,
        r#"user.assignedPlans -any (assignedPlan.service -eq "SCO" -and assignedPlan.capabilityStatus -eq "Enabled")"#,
        r#"user.assignedPlans -all (assignedPlan.servicePlanId -eq null)"#,
        r#"(user.proxyAddresses -any (_ -startsWith "contoso"))"#,
        r#"Direct Reports for "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb""#,
        r#"(user.objectId -ne null) -and (user.userType -eq "Member")"#,
        r#"(user.extensionAttribute15 -eq "Marketing")"#,
        r#"user.extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber -eq "123""#,
        r#"user.memberof -any (group.objectId -in ['aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb'])"#,
        r#"user.department -eq "Accounts" -and user.city -in ["Lagos", "Ibadan", "Kaduna", "Abuja", "Port Harcourt"]"#,
        r#"user.city -notin ["Lagos", "Ibadan", "Kaduna", "Abuja", "Port Harcourt"]"#,
    ];

    #[test]
    fn every_documented_example_parses() {
        for rule in DOCUMENTED {
            assert!(parse(rule).is_ok(), "{rule}: {:?}", parse(rule));
        }
    }

    fn property(name: &str, test: Test) -> Filter {
        Filter::Property { property: name.into(), test }
    }

    fn eq(value: &str) -> Test {
        Test::Compare(Op::Eq, Literal::Text(value.into()))
    }

    #[test]
    fn documented_examples_mean_what_the_documentation_says() {
        let now =
            DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default();
        let compiled = |rule: &str| parse(rule).map(|r| compile(&r, now));
        let cases: Vec<(&str, Filter)> = vec![
            (DOCUMENTED[0], property("department", eq("sales"))),
            (
                DOCUMENTED[2],
                Filter::And(
                    Box::new(property("department", eq("sales"))),
                    Box::new(Filter::Not(Box::new(property("jobTitle", Test::StartsWith("sde".into()))))),
                ),
            ),
            (
                DOCUMENTED[3],
                Filter::And(
                    Box::new(property("country", eq("us"))),
                    Box::new(Filter::Or(
                        Box::new(property("department", eq("marketing"))),
                        Box::new(property("department", eq("sales"))),
                    )),
                ),
            ),
            (
                DOCUMENTED[5],
                property("employeeHireDate", Test::Compare(Op::Ge, Literal::Text("2026-01-02T00:00:00Z".into()))),
            ),
            (
                DOCUMENTED[6],
                property("employeeHireDate", Test::Compare(Op::Le, Literal::Text("2020-06-10T18:13:20Z".into()))),
            ),
            (DOCUMENTED[8], property("mail", Test::Compare(Op::Ne, Literal::Null))),
            (DOCUMENTED[10], Filter::Not(Box::new(property("mail", Test::EndsWith("@contoso.com".into()))))),
            (
                DOCUMENTED[14],
                Filter::Any { property: "otherMails".into(), test: Test::StartsWith("alias@domain".into()) },
            ),
            (
                DOCUMENTED[15],
                Filter::Any {
                    property: "assignedPlans".into(),
                    test: Test::All(vec![
                        Test::Field { index: 0, test: Box::new(eq("efb87545-963c-4e0d-99df-69c6916d9eb0")) },
                        Test::Field { index: 1, test: Box::new(eq("enabled")) },
                    ]),
                },
            ),
            (
                DOCUMENTED[18],
                Filter::Any { property: "proxyAddresses".into(), test: Test::StartsWith("contoso".into()) },
            ),
            (DOCUMENTED[19], property("manager", eq("aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb"))),
            (DOCUMENTED[21], property("extensionAttribute15", eq("marketing"))),
            (DOCUMENTED[22], property("extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber", eq("123"))),
            (DOCUMENTED[23], Filter::MemberOf(vec!["aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb".into()])),
            (
                DOCUMENTED[25],
                Filter::Not(Box::new(property(
                    "city",
                    Test::In(vec![
                        "lagos".into(),
                        "ibadan".into(),
                        "kaduna".into(),
                        "abuja".into(),
                        "port harcourt".into(),
                    ]),
                ))),
            ),
        ];
        for (rule, expected) in cases {
            assert_eq!(compiled(rule), Ok(expected), "{rule}");
        }
    }

    #[test]
    fn errors_name_their_category_and_position() {
        let cases = [
            ("(user.invalidProperty -eq \"Value\")", RuleErrorKind::UnsupportedAttribute, 1),
            ("(user.accountEnabled -contains true)", RuleErrorKind::UnsupportedOperator, 21),
            ("user.department -eq \"Sales\" user.city -eq \"Oslo\"", RuleErrorKind::Compilation, 28),
            ("user.mail -match \"*@domain.ext\"", RuleErrorKind::Compilation, 10),
            ("user.department -eq", RuleErrorKind::Compilation, 19),
            ("user.department -eq \"Sales", RuleErrorKind::Compilation, 20),
            ("user.department -in \"Sales\"", RuleErrorKind::Compilation, 20),
            ("user.department -eq [\"a\"]", RuleErrorKind::Compilation, 20),
            ("device.deviceOSType -eq \"iPad\"", RuleErrorKind::UnsupportedAttribute, 0),
            ("user.city -any (_ -eq \"x\")", RuleErrorKind::UnsupportedOperator, 10),
            ("user.department -le \"x\"", RuleErrorKind::UnsupportedOperator, 16),
            ("user.mail -startsWith null", RuleErrorKind::UnsupportedOperator, 10),
            ("user.memberOf -any (group.objectId -in ['x'])", RuleErrorKind::Compilation, 35),
            (
                "user.memberOf -any (group.objectId -in ['aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb']) -and user.city -eq \"x\"",
                RuleErrorKind::Compilation,
                0,
            ),
            ("", RuleErrorKind::Compilation, 0),
            ("user.proxyAddresses -any (user.city -eq \"x\")", RuleErrorKind::UnsupportedAttribute, 26),
        ];
        for (rule, kind, position) in cases {
            let found = parse(rule).err();
            assert_eq!(found.as_ref().map(|e| (e.kind, e.position)), Some((kind, position)), "{rule}: {found:?}");
        }
        let long = format!("user.department -eq \"{}\"", "x".repeat(MAX_RULE_LENGTH));
        assert!(parse(&long).is_err());
        let message = parse("(user.invalidProperty -eq \"Value\")").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.starts_with("Attribute not supported at position 2:"), "{message}");
    }

    #[test]
    fn accepts_what_the_documentation_writes() {
        let same = [
            ("user.department -eq \"Sales\"", "USER.DEPARTMENT EQ \"Sales\""),
            ("user.department -eq \"Sales\"", "user.department –EQ 'Sales'"),
            ("user.accountEnabled -eq true", "user.accountEnabled -eq True"),
            ("-not (user.city -eq \"Oslo\")", "-not(user.city -eq \"Oslo\")"),
        ];
        for (a, b) in same {
            assert_eq!(parse(a).ok(), parse(b).ok(), "{a} / {b}");
            assert!(parse(a).is_ok(), "{a}");
        }
        assert_eq!(
            parse("user.jobTitle -eq \"a `\"quoted`\" title\"").ok(),
            Some(Rule::Compare {
                attribute: attribute("jobTitle").expect("jobTitle"),
                op: RuleOp::Eq,
                value: RuleValue::Text("a \"quoted\" title".into()),
            })
        );
        assert_eq!(
            parse("user.jobTitle -eq 'O''Brien'").ok().map(|r| compile(&r, Utc::now())),
            Some(property("jobTitle", eq("o'brien")))
        );
        let precedence = parse("user.city -eq \"a\" -or user.city -eq \"b\" -and -not user.city -eq \"c\"").ok();
        let city = |v: &str| {
            Box::new(Rule::Compare {
                attribute: attribute("city").expect("city"),
                op: RuleOp::Eq,
                value: RuleValue::Text(v.into()),
            })
        };
        assert_eq!(
            precedence,
            Some(Rule::Or(city("a"), Box::new(Rule::And(city("b"), Box::new(Rule::Not(city("c")))))))
        );
        assert_eq!(parser::parse_duration("p1d"), Some(Duration::days(1)));
        assert_eq!(parser::parse_duration("PT12H30M"), Some(Duration::minutes(750)));
        assert_eq!(parser::parse_duration("-p7d"), Some(Duration::days(-7)));
        assert_eq!(parser::parse_duration("p"), None);
        assert_eq!(sources(&parse(DOCUMENTED[3]).expect("parses")), vec!["country", "department"]);
        assert_eq!(sources(&parse(DOCUMENTED[21]).expect("parses")), vec!["onPremisesExtensionAttributes"]);
        assert!(reads_clock(&parse(DOCUMENTED[5]).expect("parses")));
    }

    #[test]
    fn rendered_rules_parse_back_to_themselves() {
        for rule in DOCUMENTED {
            let parsed = parse(rule).expect("parses");
            assert_eq!(parse(&render(&parsed)).ok(), Some(parsed.clone()), "{rule} -> {}", render(&parsed));
        }
    }

    #[test]
    fn never_panics_on_arbitrary_input() {
        let alphabet = "user.departmnt -eqornadlisy()[]\"'`,_–0123456789:TZp+ \u{10FFFF}é";
        for input in gatehouse_testkit::fixtures::arbitrary_inputs(alphabet, 0x2545_F491_4F6C_DD1D, 30_000, 60) {
            if let Ok(rule) = parse(&input) {
                let _ = compile(&rule, Utc::now());
            }
        }
        for rule in DOCUMENTED {
            for cut in 0..rule.chars().count() {
                let prefix: String = rule.chars().take(cut).collect();
                let _ = parse(&prefix);
            }
        }
    }
}
