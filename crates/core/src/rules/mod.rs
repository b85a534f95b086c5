//! Entra's dynamic membership rule language for users: the parser, its checks and error messages, and the
//! compilation of a rule into the directory's query AST (so the store evaluates a rule in bulk with the same
//! SQL compiler as `$filter`, and the in-process evaluator decides single users).
//!
//! Accepted as the documentation writes it: optional hyphens on operators, an en dash for the hyphen,
//! case-insensitive property and operator names, `"…"` strings with a backtick before an inner `"`, `'…'`
//! strings with `''` for an inner `'`, lists in `[…]` of either, `null`, booleans, date-time literals and
//! `system.now -plus <ISO 8601 duration>`. Precedence from high to low: comparisons, `-not`, `-and`, `-or`,
//! `-any`/`-all` (whose predicate runs to the end of its expression or parenthesis).

pub mod group_rule;

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

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A bare word: a property path, keyword or unquoted literal.
    Word(String),
    /// An operator word that was written with a hyphen (or en dash).
    Dashed(String),
    Text(String),
    Open,
    Close,
    OpenList,
    CloseList,
    Comma,
}

fn tokenize(input: &str) -> Result<Vec<(usize, Token)>, RuleError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((start, Token::Open));
                i += 1;
            }
            ')' => {
                out.push((start, Token::Close));
                i += 1;
            }
            '[' => {
                out.push((start, Token::OpenList));
                i += 1;
            }
            ']' => {
                out.push((start, Token::CloseList));
                i += 1;
            }
            ',' => {
                out.push((start, Token::Comma));
                i += 1;
            }
            '"' | '\'' | '“' | '”' => {
                let quote = c;
                let closing = |d: char| if quote == '\'' { d == '\'' } else { matches!(d, '"' | '“' | '”') };
                let mut value = String::new();
                i += 1;
                loop {
                    let Some(&d) = chars.get(i) else {
                        return Err(error(RuleErrorKind::Compilation, start, "the string is not closed"));
                    };
                    if quote != '\'' && d == '`' && chars.get(i + 1).is_some_and(|n| closing(*n)) {
                        value.push('"');
                        i += 2;
                    } else if quote == '\'' && d == '\'' && chars.get(i + 1) == Some(&'\'') {
                        value.push('\'');
                        i += 2;
                    } else if closing(d) {
                        i += 1;
                        break;
                    } else {
                        value.push(d);
                        i += 1;
                    }
                }
                out.push((start, Token::Text(value)));
            }
            '-' | '–' | '—' if chars.get(i + 1).is_some_and(|n| n.is_alphabetic()) => {
                i += 1;
                let word: String = chars[i..].iter().take_while(|c| c.is_alphanumeric()).collect();
                i += word.chars().count();
                out.push((start, Token::Dashed(word)));
            }
            c if c.is_alphanumeric() || c == '_' || c == '.' || c == '-' || c == ':' || c == '+' => {
                let word: String = chars[i..]
                    .iter()
                    .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | ':' | '+'))
                    .collect();
                i += word.chars().count();
                out.push((start, Token::Word(word)));
            }
            other => {
                return Err(error(RuleErrorKind::Compilation, start, format!("unexpected character '{other}'")));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    depth: usize,
    end: usize,
}

fn operator(word: &str) -> Option<RuleOp> {
    OPERATORS.iter().find(|(name, _)| name.eq_ignore_ascii_case(word)).map(|(_, op)| *op)
}

impl Parser {
    fn position(&self) -> usize {
        self.tokens.get(self.at).map(|(p, _)| *p).unwrap_or(self.end)
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).map(|(_, t)| t.clone());
        self.at += 1;
        token
    }

    fn compilation(&self, detail: impl Into<String>) -> RuleError {
        error(RuleErrorKind::Compilation, self.position(), detail)
    }

    /// Whether the next token is the keyword (with or without its hyphen).
    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Dashed(w) | Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn descend(&mut self) -> Result<(), RuleError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.compilation("the rule nests too deeply"));
        }
        Ok(())
    }

    fn expect_close(&mut self) -> Result<(), RuleError> {
        match self.next() {
            Some(Token::Close) => Ok(()),
            _ => {
                self.at -= 1;
                Err(self.compilation("expected ')'"))
            }
        }
    }

    fn or(&mut self) -> Result<Rule, RuleError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.at += 1;
            left = Rule::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Rule, RuleError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.at += 1;
            left = Rule::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Rule, RuleError> {
        if self.keyword("not") {
            self.at += 1;
            self.descend()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Rule::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Rule, RuleError> {
        let position = self.position();
        match self.next() {
            Some(Token::Open) => {
                self.descend()?;
                let inner = self.or()?;
                self.expect_close()?;
                self.depth -= 1;
                Ok(inner)
            }
            Some(Token::Word(word)) => self.comparison(position, &word),
            Some(other) => Err(error(
                RuleErrorKind::Compilation,
                position,
                format!("expected a property, found {}", describe(&other)),
            )),
            None => Err(self.compilation("the rule ends where a property was expected")),
        }
    }

    fn comparison(&mut self, position: usize, path: &str) -> Result<Rule, RuleError> {
        let Some((object, name)) = path.split_once('.') else {
            return Err(error(
                RuleErrorKind::Compilation,
                position,
                format!("expected 'user.<property>', found '{path}'"),
            ));
        };
        if !object.eq_ignore_ascii_case("user") {
            return Err(error(
                RuleErrorKind::UnsupportedAttribute,
                position,
                format!("'{path}': rules of user groups read 'user.' properties"),
            ));
        }
        if name.eq_ignore_ascii_case("memberOf") {
            return self.member_of(position);
        }
        let Some(attribute) = attribute(name) else {
            return Err(error(
                RuleErrorKind::UnsupportedAttribute,
                position,
                format!("'{path}' is not a property rules can read"),
            ));
        };
        let op_position = self.position();
        if self.keyword("any") || self.keyword("all") {
            let all = self.keyword("all");
            self.at += 1;
            if !matches!(attribute.ty, AttributeType::Strings | AttributeType::Plans) {
                return Err(error(
                    RuleErrorKind::UnsupportedOperator,
                    op_position,
                    format!("'{}' is not a collection; -any and -all apply to collections", attribute.name),
                ));
            }
            let predicate = self.item_or(&attribute)?;
            return Ok(Rule::Collection { attribute, all, predicate: Box::new(predicate) });
        }
        let op = self.operator()?;
        let value = self.value(op)?;
        check(&attribute, op, &value, op_position)?;
        if attribute.ty == AttributeType::Plans {
            return Err(error(
                RuleErrorKind::UnsupportedOperator,
                op_position,
                "assignedPlans is compared with -any or -all (assignedPlan.<field> ...)",
            ));
        }
        Ok(Rule::Compare { attribute, op, value })
    }

    fn operator(&mut self) -> Result<RuleOp, RuleError> {
        let position = self.position();
        match self.next() {
            Some(Token::Dashed(word) | Token::Word(word)) => operator(&word)
                .ok_or_else(|| error(RuleErrorKind::Compilation, position, format!("'{word}' is not an operator"))),
            Some(other) => Err(error(
                RuleErrorKind::Compilation,
                position,
                format!("expected an operator, found {}", describe(&other)),
            )),
            None => Err(error(RuleErrorKind::Compilation, position, "the rule ends where an operator was expected")),
        }
    }

    fn value(&mut self, op: RuleOp) -> Result<RuleValue, RuleError> {
        let position = self.position();
        let token = self.next();
        let value = match token {
            Some(Token::Text(text)) => RuleValue::Text(text),
            Some(Token::OpenList) => {
                let mut items = Vec::new();
                loop {
                    match self.next() {
                        Some(Token::Text(text)) => items.push(text),
                        Some(Token::CloseList) if items.is_empty() => break,
                        _ => {
                            self.at -= 1;
                            return Err(self.compilation("a list holds quoted strings separated by commas"));
                        }
                    }
                    match self.next() {
                        Some(Token::Comma) => continue,
                        Some(Token::CloseList) => break,
                        _ => {
                            self.at -= 1;
                            return Err(self.compilation("expected ',' or ']' in the list"));
                        }
                    }
                }
                RuleValue::List(items)
            }
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("null") => RuleValue::Null,
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("true") => RuleValue::Bool(true),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("false") => RuleValue::Bool(false),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("system.now") => {
                let mut offset = Duration::zero();
                if self.keyword("plus") {
                    self.at += 1;
                    let position = self.position();
                    match self.next() {
                        Some(Token::Word(duration) | Token::Text(duration)) => {
                            offset = parse_duration(&duration).ok_or_else(|| {
                                error(
                                    RuleErrorKind::Compilation,
                                    position,
                                    format!("'{duration}' is not an ISO 8601 duration such as p1d"),
                                )
                            })?;
                        }
                        _ => {
                            return Err(error(
                                RuleErrorKind::Compilation,
                                position,
                                "-plus takes a duration such as p1d",
                            ))
                        }
                    }
                }
                RuleValue::Now(offset)
            }
            Some(Token::Word(word)) => match DateTime::parse_from_rfc3339(&word) {
                Ok(time) => RuleValue::Time(time.with_timezone(&Utc)),
                Err(_) => {
                    return Err(error(
                        RuleErrorKind::Compilation,
                        position,
                        format!("'{word}' is not a value; quote strings"),
                    ))
                }
            },
            Some(other) => {
                return Err(error(
                    RuleErrorKind::Compilation,
                    position,
                    format!("expected a value, found {}", describe(&other)),
                ))
            }
            None => {
                return Err(error(RuleErrorKind::Compilation, position, "the rule ends where a value was expected"))
            }
        };
        let list_operator = matches!(op, RuleOp::In | RuleOp::NotIn);
        match (&value, list_operator) {
            (RuleValue::List(_), false) => Err(error(
                RuleErrorKind::Compilation,
                position,
                format!("{} compares with one value, not a list", op.name()),
            )),
            (RuleValue::List(_), true) => Ok(value),
            (_, true) => {
                Err(error(RuleErrorKind::Compilation, position, format!("{} takes a list in [...]", op.name())))
            }
            _ => Ok(value),
        }
    }

    /// A predicate inside `-any`/`-all`: parenthesized, or running to the end.
    fn item_or(&mut self, collection: &Attribute) -> Result<ItemRule, RuleError> {
        let mut left = self.item_and(collection)?;
        while self.keyword("or") {
            self.at += 1;
            left = ItemRule::Or(Box::new(left), Box::new(self.item_and(collection)?));
        }
        Ok(left)
    }

    fn item_and(&mut self, collection: &Attribute) -> Result<ItemRule, RuleError> {
        let mut left = self.item_unary(collection)?;
        while self.keyword("and") {
            self.at += 1;
            left = ItemRule::And(Box::new(left), Box::new(self.item_unary(collection)?));
        }
        Ok(left)
    }

    fn item_unary(&mut self, collection: &Attribute) -> Result<ItemRule, RuleError> {
        if self.keyword("not") {
            self.at += 1;
            self.descend()?;
            let inner = self.item_unary(collection)?;
            self.depth -= 1;
            return Ok(ItemRule::Not(Box::new(inner)));
        }
        let position = self.position();
        match self.next() {
            Some(Token::Open) => {
                self.descend()?;
                let inner = self.item_or(collection)?;
                self.expect_close()?;
                self.depth -= 1;
                Ok(inner)
            }
            Some(Token::Word(word)) => {
                let item = match collection.ty {
                    AttributeType::Plans => word
                        .split_once('.')
                        .filter(|(object, _)| object.eq_ignore_ascii_case("assignedPlan"))
                        .and_then(|(_, field)| PLAN_FIELDS.iter().position(|f| f.eq_ignore_ascii_case(field)))
                        .map(Item::PlanField),
                    _ => (word == "_").then_some(Item::Element),
                };
                let item = item.ok_or_else(|| {
                    let expected = match collection.ty {
                        AttributeType::Plans => {
                            "assignedPlan.servicePlanId, assignedPlan.capabilityStatus or assignedPlan.service"
                        }
                        _ => "'_' (the element)",
                    };
                    error(
                        RuleErrorKind::UnsupportedAttribute,
                        position,
                        format!("'{word}' inside {}: expected {expected}", collection.name),
                    )
                })?;
                let op_position = self.position();
                let op = self.operator()?;
                if collection.ty == AttributeType::Plans && matches!(op, RuleOp::Match | RuleOp::NotMatch) {
                    return Err(error(
                        RuleErrorKind::UnsupportedOperator,
                        op_position,
                        "assignedPlan fields are not matched with regular expressions",
                    ));
                }
                let value = self.value(op)?;
                let element = Attribute { ty: AttributeType::String, ..collection.clone() };
                check(&element, op, &value, op_position)?;
                Ok(ItemRule::Compare { item, op, value })
            }
            Some(other) => Err(error(
                RuleErrorKind::Compilation,
                position,
                format!("expected a predicate, found {}", describe(&other)),
            )),
            None => Err(self.compilation("the rule ends where a predicate was expected")),
        }
    }

    /// `user.memberOf -any (group.objectId -in [...])`.
    fn member_of(&mut self, position: usize) -> Result<Rule, RuleError> {
        let invalid = |at: usize| {
            error(
                RuleErrorKind::Compilation,
                at,
                "memberOf rules read: user.memberOf -any (group.objectId -in ['<group id>', ...])",
            )
        };
        if !self.keyword("any") {
            return Err(invalid(self.position()));
        }
        self.at += 1;
        let parenthesized = matches!(self.peek(), Some(Token::Open));
        if parenthesized {
            self.at += 1;
        }
        match self.next() {
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("group.objectId") => {}
            _ => return Err(invalid(self.position())),
        }
        let op_position = self.position();
        if self.operator()? != RuleOp::In {
            return Err(error(RuleErrorKind::UnsupportedOperator, op_position, "group.objectId is compared with -in"));
        }
        let RuleValue::List(ids) = self.value(RuleOp::In)? else {
            return Err(invalid(op_position));
        };
        if parenthesized {
            self.expect_close()?;
        }
        if ids.is_empty() || ids.len() > MAX_MEMBER_OF_GROUPS {
            return Err(error(
                RuleErrorKind::Compilation,
                position,
                format!("a memberOf rule names 1 to {MAX_MEMBER_OF_GROUPS} groups"),
            ));
        }
        let ids = ids
            .iter()
            .map(|id| {
                Uuid::parse_str(id)
                    .map_err(|_| error(RuleErrorKind::Compilation, op_position, format!("'{id}' is not a group id")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rule::MemberOf(ids))
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(w) => format!("'{w}'"),
        Token::Dashed(w) => format!("'-{w}'"),
        Token::Text(t) => format!("the string \"{t}\""),
        Token::Open => "'('".into(),
        Token::Close => "')'".into(),
        Token::OpenList => "'['".into(),
        Token::CloseList => "']'".into(),
        Token::Comma => "','".into(),
    }
}

/// ISO 8601 durations as Entra's examples write them: `p1d`, `P30D`, `PT12H`, `p1dt2h30m`, `-p7d`.
fn parse_duration(text: &str) -> Option<Duration> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let body = text.strip_prefix(['p', 'P'])?;
    let mut total = Duration::zero();
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for c in body.chars() {
        match c.to_ascii_lowercase() {
            't' if number.is_empty() => in_time = true,
            d if d.is_ascii_digit() => number.push(d),
            unit => {
                let n: i64 = number.parse().ok()?;
                number.clear();
                any = true;
                total += match (unit, in_time) {
                    ('w', false) => Duration::weeks(n),
                    ('d', false) => Duration::days(n),
                    ('h', true) => Duration::hours(n),
                    ('m', true) => Duration::minutes(n),
                    ('s', true) => Duration::seconds(n),
                    _ => return None,
                };
            }
        }
    }
    (any && number.is_empty()).then_some(if negative { -total } else { total })
}

/// Whether the operator and value suit the attribute's type.
fn check(attribute: &Attribute, op: RuleOp, value: &RuleValue, position: usize) -> Result<(), RuleError> {
    let unsupported = |why: &str| {
        error(RuleErrorKind::UnsupportedOperator, position, format!("{} on '{}': {why}", op.name(), attribute.name))
    };
    if matches!(value, RuleValue::Null) && !matches!(op, RuleOp::Eq | RuleOp::Ne) {
        return Err(unsupported("null is compared with -eq or -ne only"));
    }
    match attribute.ty {
        AttributeType::Bool => match (op, value) {
            (RuleOp::Eq | RuleOp::Ne, RuleValue::Bool(_) | RuleValue::Null) => Ok(()),
            (RuleOp::Eq | RuleOp::Ne, RuleValue::Text(t))
                if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false") =>
            {
                Ok(())
            }
            _ => Err(unsupported("a boolean is compared with -eq or -ne and true or false")),
        },
        AttributeType::DateTime => match (op, value) {
            (
                RuleOp::Eq | RuleOp::Ne | RuleOp::Le | RuleOp::Ge,
                RuleValue::Time(_) | RuleValue::Now(_) | RuleValue::Null,
            ) => Ok(()),
            (RuleOp::Eq | RuleOp::Ne | RuleOp::Le | RuleOp::Ge, RuleValue::Text(t))
                if DateTime::parse_from_rfc3339(t).is_ok() =>
            {
                Ok(())
            }
            _ => Err(unsupported("a date-time is compared with -eq, -ne, -le or -ge and a date-time or system.now")),
        },
        _ => match (op, value) {
            (RuleOp::Le | RuleOp::Ge, _) => Err(unsupported("-le and -ge compare date-times")),
            (_, RuleValue::Bool(_) | RuleValue::Time(_) | RuleValue::Now(_)) => {
                Err(unsupported("strings are compared with quoted strings"))
            }
            (RuleOp::Match | RuleOp::NotMatch, RuleValue::Text(pattern)) => regex::RegexBuilder::new(pattern)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
                .map(|_| ())
                .map_err(|e| {
                    error(
                        RuleErrorKind::Compilation,
                        position,
                        format!("'{pattern}' is not a valid regular expression: {e}"),
                    )
                }),
            _ => Ok(()),
        },
    }
}

/// Parses and checks a rule.
pub fn parse(input: &str) -> Result<Rule, RuleError> {
    if input.chars().count() > MAX_RULE_LENGTH {
        return Err(error(
            RuleErrorKind::Compilation,
            MAX_RULE_LENGTH,
            format!("the rule is longer than {MAX_RULE_LENGTH} characters"),
        ));
    }
    let trimmed = input.trim();
    if let Some(rest) = strip_words(trimmed, &["direct", "reports", "for"]) {
        let id = rest.trim().trim_matches(|c| matches!(c, '"' | '\'' | '“' | '”'));
        let offset = input.len() - rest.len();
        return Uuid::parse_str(id)
            .map(Rule::DirectReports)
            .map_err(|_| error(RuleErrorKind::Compilation, offset, format!("'{id}' is not a manager's object id")));
    }
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Err(error(RuleErrorKind::Compilation, 0, "the rule is empty"));
    }
    let mut parser = Parser { tokens, at: 0, depth: 0, end: input.chars().count() };
    let rule = parser.or()?;
    if parser.at < parser.tokens.len() {
        return Err(parser.compilation(match parser.peek() {
            Some(token) => format!("unexpected {} (a missing -and or -or?)", describe(token)),
            None => "unexpected end".to_owned(),
        }));
    }
    if contains_member_of(&rule) && !matches!(rule, Rule::MemberOf(_)) {
        return Err(error(
            RuleErrorKind::Compilation,
            0,
            "a memberOf rule stands alone: it cannot be combined with other expressions",
        ));
    }
    Ok(rule)
}

fn contains_member_of(rule: &Rule) -> bool {
    match rule {
        Rule::And(a, b) | Rule::Or(a, b) => contains_member_of(a) || contains_member_of(b),
        Rule::Not(inner) => contains_member_of(inner),
        Rule::MemberOf(_) => true,
        _ => false,
    }
}

/// The rest of `text` after the words, matched case-insensitively and separated by whitespace.
fn strip_words<'a>(text: &'a str, words: &[&str]) -> Option<&'a str> {
    let mut rest = text;
    for word in words {
        rest = rest.trim_start();
        let head = rest.get(..word.len())?;
        if !head.eq_ignore_ascii_case(word) {
            return None;
        }
        rest = &rest[word.len()..];
    }
    Some(rest)
}

fn render_value(value: &RuleValue) -> String {
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

fn render_item(rule: &ItemRule) -> String {
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

/// The Graph properties whose change can change the rule's outcome for a user; `memberOf` for memberOf
/// rules (membership changes of their source groups), `manager` for direct-reports rules.
pub fn sources(rule: &Rule) -> Vec<String> {
    let mut out = Vec::new();
    collect_sources(rule, &mut out);
    out.sort_unstable();
    out.dedup();
    out
}

fn collect_sources(rule: &Rule, out: &mut Vec<String>) {
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

fn literal(attribute: &Attribute, value: &RuleValue, now: DateTime<Utc>) -> Literal {
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
fn test(attribute: &Attribute, op: RuleOp, value: &RuleValue, now: DateTime<Utc>) -> (Test, bool) {
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
fn pattern(value: &RuleValue) -> String {
    match value {
        RuleValue::Text(text) => text.clone(),
        _ => String::new(),
    }
}

fn negated(filter: Filter, negate: bool) -> Filter {
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
fn element_test(predicate: &ItemRule, attribute: &Attribute, now: DateTime<Utc>) -> Test {
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
fn plan_test(predicate: &ItemRule) -> Test {
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

fn value_list(predicate: &ItemRule) -> Option<Vec<String>> {
    match predicate {
        ItemRule::Compare { value: RuleValue::List(items), .. } => Some(items.iter().map(|i| fold(i)).collect()),
        _ => None,
    }
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
        assert_eq!(parse_duration("p1d"), Some(Duration::days(1)));
        assert_eq!(parse_duration("PT12H30M"), Some(Duration::minutes(750)));
        assert_eq!(parse_duration("-p7d"), Some(Duration::days(-7)));
        assert_eq!(parse_duration("p"), None);
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
        let alphabet: Vec<char> = "user.departmnt -eqornadlisy()[]\"'`,_–0123456789:TZp+ \u{10FFFF}é".chars().collect();
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..30_000 {
            let length = (state % 60) as usize;
            let mut input = String::new();
            for _ in 0..length {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                input.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
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
