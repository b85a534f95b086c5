//! The rule language's parser and its checks of attributes, operators and values.

use super::lexer::*;
use super::*;

pub(super) struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    depth: usize,
    end: usize,
}

pub(super) fn operator(word: &str) -> Option<RuleOp> {
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

pub(super) fn describe(token: &Token) -> String {
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
pub(super) fn parse_duration(text: &str) -> Option<Duration> {
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
pub(super) fn check(attribute: &Attribute, op: RuleOp, value: &RuleValue, position: usize) -> Result<(), RuleError> {
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

pub(super) fn contains_member_of(rule: &Rule) -> bool {
    match rule {
        Rule::And(a, b) | Rule::Or(a, b) => contains_member_of(a) || contains_member_of(b),
        Rule::Not(inner) => contains_member_of(inner),
        Rule::MemberOf(_) => true,
        _ => false,
    }
}

/// The rest of `text` after the words, matched case-insensitively and separated by whitespace.
pub(super) fn strip_words<'a>(text: &'a str, words: &[&str]) -> Option<&'a str> {
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
