//! OData `$filter`, `$search` and `$orderby`, parsed into the core's query AST against a collection's
//! vocabulary.
//!
//! The parser is total: any input yields an AST or a Graph error, never a panic (a property test feeds it
//! arbitrary strings). Literals are checked against the property's type and folded as the core compares.

use crate::error::{GraphError, GraphResult};
use chrono::{DateTime, Utc};
use gatehouse_core::filter::{Filter, Literal, Op, Test};
use gatehouse_core::kernel::text::fold;
use gatehouse_core::query::Resource;
use gatehouse_core::schema::{format_time, PropertyType};
use gatehouse_core::store::Sort;

use gatehouse_core::filter::{MAX_DEPTH, MAX_IN, MAX_TEXT};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
    Comma,
    Colon,
    Slash,
}

fn syntax(message: impl Into<String>) -> GraphError {
    GraphError::bad_request(format!("Invalid filter clause: {}", message.into()))
}

fn tokenize(input: &str) -> GraphResult<Vec<Token>> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' | ')' | ',' | ':' | '/' => {
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    ',' => Token::Comma,
                    ':' => Token::Colon,
                    _ => Token::Slash,
                });
                i += 1;
            }
            '\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(syntax("unterminated string literal")),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(other) => {
                            text.push(*other);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Text(text));
            }
            _ => {
                let date_like = c.is_ascii_digit() && chars.get(i + 4) == Some(&'-');
                let start = i;
                while i < chars.len() {
                    let d = chars[i];
                    let stop = d.is_whitespace() || "(),/'".contains(d) || (d == ':' && !date_like);
                    if stop {
                        break;
                    }
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    resource: &'static Resource,
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expect(&mut self, token: Token) -> GraphResult<()> {
        match self.next() {
            Some(t) if t == token => Ok(()),
            other => Err(syntax(format!("expected {token:?}, found {other:?}"))),
        }
    }

    fn descend(&mut self) -> GraphResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(syntax("the expression is nested too deeply"));
        }
        Ok(())
    }

    fn or(&mut self) -> GraphResult<Filter> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.next();
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> GraphResult<Filter> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.next();
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> GraphResult<Filter> {
        self.descend()?;
        let result = if self.keyword("not") {
            self.next();
            self.unary().map(|inner| Filter::Not(Box::new(inner)))
        } else {
            self.primary()
        };
        self.depth -= 1;
        result
    }

    fn primary(&mut self) -> GraphResult<Filter> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                self.expect(Token::Close)?;
                Ok(inner)
            }
            Some(Token::Word(word)) => {
                let lower = word.to_ascii_lowercase();
                if (lower == "startswith" || lower == "endswith") && self.peek() == Some(&Token::Open) {
                    self.next();
                    let property = self.property_name()?;
                    self.expect(Token::Comma)?;
                    let value = self.string_literal()?;
                    self.expect(Token::Close)?;
                    let test = if lower == "startswith" { Test::StartsWith(value) } else { Test::EndsWith(value) };
                    return Ok(Filter::Property { property, test });
                }
                self.comparison_or_lambda(word)
            }
            other => Err(syntax(format!("unexpected {other:?}"))),
        }
    }

    fn property_name(&mut self) -> GraphResult<String> {
        match self.next() {
            Some(Token::Word(word)) => Ok(word),
            other => Err(syntax(format!("expected a property, found {other:?}"))),
        }
    }

    fn string_literal(&mut self) -> GraphResult<String> {
        match self.next() {
            Some(Token::Text(text)) => Ok(fold(&text)),
            other => Err(syntax(format!("expected a string literal, found {other:?}"))),
        }
    }

    fn comparison_or_lambda(&mut self, property: String) -> GraphResult<Filter> {
        if self.peek() == Some(&Token::Slash) {
            self.next();
            let kind = self.property_name()?.to_ascii_lowercase();
            if kind != "any" && kind != "all" {
                return Err(syntax(format!("'{property}/{kind}' is not a lambda")));
            }
            self.expect(Token::Open)?;
            let variable = self.property_name()?;
            self.expect(Token::Colon)?;
            let test = self.lambda_test(&variable, &property)?;
            self.expect(Token::Close)?;
            return Ok(if kind == "any" { Filter::Any { property, test } } else { Filter::All { property, test } });
        }
        let test = self.test(&property)?;
        Ok(Filter::Property { property, test })
    }

    /// `x eq 'v'`, `x in (…)`, `startswith(x,'v')`, `endswith(x,'v')` inside a lambda over `collection`.
    fn lambda_test(&mut self, variable: &str, collection: &str) -> GraphResult<Test> {
        match self.next() {
            Some(Token::Word(word)) if word == variable && self.peek() == Some(&Token::Slash) => {
                self.next();
                let member = self.property_name()?;
                if !(collection == "assignedLicenses" && member == "skuId") {
                    return Err(syntax(format!("'{collection}' has no member '{member}' to filter on")));
                }
                self.test("id")
            }
            Some(Token::Word(word)) if word == variable => self.test(collection),
            Some(Token::Word(word))
                if word.eq_ignore_ascii_case("startswith") || word.eq_ignore_ascii_case("endswith") =>
            {
                self.expect(Token::Open)?;
                if self.property_name()? != variable {
                    return Err(syntax("a lambda function must test the lambda variable"));
                }
                self.expect(Token::Comma)?;
                let value = self.string_literal()?;
                self.expect(Token::Close)?;
                Ok(if word.eq_ignore_ascii_case("startswith") {
                    Test::StartsWith(value)
                } else {
                    Test::EndsWith(value)
                })
            }
            other => Err(syntax(format!("unexpected {other:?} in a lambda"))),
        }
    }

    /// `op literal` or `in (literals)` for a property.
    fn test(&mut self, property: &str) -> GraphResult<Test> {
        let operator = self.property_name()?.to_ascii_lowercase();
        if operator == "in" {
            self.expect(Token::Open)?;
            let mut values = Vec::new();
            loop {
                match literal(self.resource, property, self.next())? {
                    Literal::Text(text) => values.push(text),
                    Literal::Null => return Err(syntax("null is not allowed in an 'in' list")),
                }
                if values.len() > MAX_IN {
                    return Err(syntax("too many values in an 'in' list"));
                }
                match self.next() {
                    Some(Token::Comma) => continue,
                    Some(Token::Close) => break,
                    other => Err(syntax(format!("expected ',' or ')', found {other:?}")))?,
                }
            }
            return Ok(Test::In(values));
        }
        let op = match operator.as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "ge" => Op::Ge,
            "le" => Op::Le,
            "gt" | "lt" | "has" => {
                return Err(GraphError::unsupported_query(format!(
                    "Unsupported or invalid query filter clause specified for property '{property}' of resource 'User'."
                )))
            }
            other => return Err(syntax(format!("unknown operator '{other}'"))),
        };
        let value = literal(self.resource, property, self.next())?;
        if value == Literal::Null && !matches!(op, Op::Eq | Op::Ne) {
            return Err(syntax("null can only be compared with eq or ne"));
        }
        Ok(Test::Compare(op, value))
    }
}

/// A literal checked against the property's type and normalised as the core compares it.
fn literal(resource: &Resource, property: &str, token: Option<Token>) -> GraphResult<Literal> {
    let ty = resource.property(property).map(|p| p.ty);
    let mismatch = |what: &str| {
        GraphError::bad_request(format!("A {what} literal cannot be compared with property '{property}'."))
    };
    match token {
        Some(Token::Word(word)) if word.eq_ignore_ascii_case("null") => Ok(Literal::Null),
        Some(Token::Word(word)) if word == "true" || word == "false" => match ty {
            Some(PropertyType::Bool) | None => Ok(Literal::Text(word)),
            _ => Err(mismatch("boolean")),
        },
        Some(Token::Word(word)) => match ty {
            Some(PropertyType::DateTime) | None => DateTime::parse_from_rfc3339(&word)
                .map(|d| Literal::Text(format_time(d.with_timezone(&Utc))))
                .map_err(|_| syntax(format!("'{word}' is not a valid literal"))),
            _ if property == "id" => uuid::Uuid::parse_str(&word)
                .map(|id| Literal::Text(id.to_string()))
                .map_err(|_| syntax(format!("'{word}' is not a GUID"))),
            _ => Err(syntax(format!("'{word}' is not a valid literal for '{property}'"))),
        },
        Some(Token::Text(text)) => match ty {
            Some(PropertyType::Bool) => Err(mismatch("string")),
            Some(PropertyType::DateTime) => Err(mismatch("string")),
            _ if property == "id" => uuid::Uuid::parse_str(&text)
                .map(|id| Literal::Text(id.to_string()))
                .map_err(|_| syntax(format!("'{text}' is not a GUID"))),
            _ => Ok(Literal::Text(fold(&text))),
        },
        other => Err(syntax(format!("expected a literal, found {other:?}"))),
    }
}

/// Parses `$filter`.
pub fn parse_filter(resource: &'static Resource, input: &str) -> GraphResult<Filter> {
    if input.len() > MAX_TEXT {
        return Err(syntax("the filter is too long"));
    }
    let mut parser = Parser { resource, tokens: tokenize(input)?, at: 0, depth: 0 };
    let filter = parser.or()?;
    if parser.at != parser.tokens.len() {
        return Err(syntax(format!("unexpected {:?}", parser.tokens.get(parser.at))));
    }
    Ok(filter)
}

/// Parses `$search`: `"property:value"` terms joined by `AND`/`OR` (adjacent terms mean `AND`).
/// Tokenized properties (displayName, description) are matched word by word; others by prefix, as Graph does.
pub fn parse_search(resource: &Resource, input: &str) -> GraphResult<Filter> {
    let invalid = |why: &str| GraphError::bad_request(format!("Syntax error in $search: {why}"));
    if input.len() > MAX_TEXT {
        return Err(invalid("the search is too long"));
    }
    let mut rest = input.trim();
    let mut result: Option<Filter> = None;
    let mut pending_or = false;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("OR ").or_else(|| rest.strip_prefix("or ")) {
            pending_or = true;
            rest = after.trim_start();
            continue;
        }
        if let Some(after) = rest.strip_prefix("AND ").or_else(|| rest.strip_prefix("and ")) {
            rest = after.trim_start();
            continue;
        }
        let body = rest.strip_prefix('"').ok_or_else(|| invalid("each term must be quoted as \"property:value\""))?;
        let end = body.find('"').ok_or_else(|| invalid("unterminated term"))?;
        let term = &body[..end];
        rest = body[end + 1..].trim_start();
        let (property, value) = term.split_once(':').ok_or_else(|| invalid("a term must be \"property:value\""))?;
        let searchable = resource
            .property(property)
            .is_some_and(|p| matches!(p.ty, PropertyType::String { .. }) || property == "proxyAddresses");
        if !searchable {
            return Err(GraphError::unsupported_query(format!("Property '{property}' cannot be searched.")));
        }
        let value = fold(value.trim());
        let clause = if resource.tokenized.contains(&property) {
            let mut words = gatehouse_core::query::words(&value).into_iter();
            let first = words.next().map(|w| Filter::Word { property: property.to_owned(), prefix: w });
            words
                .fold(first, |acc, w| {
                    let word = Filter::Word { property: property.to_owned(), prefix: w };
                    acc.map(|a| Filter::And(Box::new(a), Box::new(word)))
                })
                .ok_or_else(|| invalid("an empty term"))?
        } else if property == "proxyAddresses" {
            Filter::Any { property: property.to_owned(), test: Test::StartsWith(value) }
        } else {
            Filter::Property { property: property.to_owned(), test: Test::StartsWith(value) }
        };
        result = Some(match (result, pending_or) {
            (None, _) => clause,
            (Some(left), true) => Filter::Or(Box::new(left), Box::new(clause)),
            (Some(left), false) => Filter::And(Box::new(left), Box::new(clause)),
        });
        pending_or = false;
    }
    result.ok_or_else(|| invalid("the search is empty"))
}

/// Parses `$orderby`: one or more of the collection's orderable properties, separated by commas, each `asc`
/// (default) or `desc`; a property Graph orders by only in advanced-query mode needs `advanced`.
pub fn parse_orderby(resource: &Resource, input: &str, advanced: bool) -> GraphResult<Vec<Sort>> {
    let mut order: Vec<Sort> = Vec::new();
    for item in input.split(',') {
        let mut parts = item.split_whitespace();
        let property = parts.next().unwrap_or_default();
        let descending = match parts.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => return Err(GraphError::bad_request(format!("Invalid $orderby direction '{other}'."))),
        };
        if parts.next().is_some() {
            return Err(GraphError::bad_request(format!("Invalid $orderby expression '{}'.", item.trim())));
        }
        let orderable = resource
            .orderable
            .iter()
            .find(|o| o.name == property)
            .ok_or_else(|| GraphError::unsupported_query(format!("Order by '{property}' is not supported.")))?;
        if orderable.advanced && !advanced {
            return Err(GraphError::unsupported_query("Sorting not supported for current query."));
        }
        let by = orderable.by;
        if order.iter().any(|sort| sort.by == by) {
            return Err(GraphError::bad_request(format!(
                "Duplicate property named '{property}' is not supported in '$orderby'."
            )));
        }
        order.push(Sort { by, descending });
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_core::query::USERS;

    fn property(name: &str, test: Test) -> Filter {
        Filter::Property { property: name.into(), test }
    }

    #[test]
    fn parses_graphs_filter_syntax() {
        let text = |s: &str| Literal::Text(s.into());
        let cases: Vec<(&str, Filter)> = vec![
            ("displayName eq 'Ann'", property("displayName", Test::Compare(Op::Eq, text("ann")))),
            ("startswith(displayName,'An')", property("displayName", Test::StartsWith("an".into()))),
            ("startsWith(mail, 'O''Brien')", property("mail", Test::StartsWith("o'brien".into()))),
            ("jobTitle eq null", property("jobTitle", Test::Compare(Op::Eq, Literal::Null))),
            ("accountEnabled eq true", property("accountEnabled", Test::Compare(Op::Eq, text("true")))),
            (
                "createdDateTime ge 2024-01-02T03:04:05Z",
                property("createdDateTime", Test::Compare(Op::Ge, text("2024-01-02T03:04:05Z"))),
            ),
            ("city in ('Oslo', 'Bergen')", property("city", Test::In(vec!["oslo".into(), "bergen".into()]))),
            (
                "otherMails/any(x:startswith(x,'a@'))",
                Filter::Any { property: "otherMails".into(), test: Test::StartsWith("a@".into()) },
            ),
            (
                "proxyAddresses/any(p:p eq 'SMTP:a@b.c')",
                Filter::Any { property: "proxyAddresses".into(), test: Test::Compare(Op::Eq, text("smtp:a@b.c")) },
            ),
            (
                "not (city eq 'Oslo') and (country eq 'NO' or country eq 'SE')",
                Filter::And(
                    Box::new(Filter::Not(Box::new(property("city", Test::Compare(Op::Eq, text("oslo")))))),
                    Box::new(Filter::Or(
                        Box::new(property("country", Test::Compare(Op::Eq, text("no")))),
                        Box::new(property("country", Test::Compare(Op::Eq, text("se")))),
                    )),
                ),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_filter(&USERS, input).ok(), Some(expected), "{input}");
        }
    }

    #[test]
    fn refuses_malformed_filters() {
        for input in [
            "",
            "displayName eq",
            "displayName eq 'unterminated",
            "displayName eq 'a' and",
            "(displayName eq 'a'",
            "displayName eq 'a')",
            "displayName foo 'a'",
            "accountEnabled eq 'yes'",
            "createdDateTime ge 'yesterday'",
            "id eq 'not-a-guid'",
            "otherMails/every(x:x eq 'a')",
            "otherMails/any(x:y eq 'a')",
            "city in ()",
            &"(".repeat(100),
            &"not ".repeat(100),
        ] {
            assert!(parse_filter(&USERS, input).is_err(), "{input}");
        }
    }

    #[test]
    fn never_panics_on_arbitrary_input() {
        let alphabet = "ab eqnotandor()',:/ 0-9TZ\"x$'é\u{10FFFF}";
        for input in gatehouse_testkit::fixtures::arbitrary_inputs(alphabet, 0x9E37_79B9_7F4A_7C15, 20_000, 40) {
            let _ = parse_filter(&USERS, &input);
            let _ = parse_search(&USERS, &input);
            let _ = parse_orderby(&USERS, &input, true);
        }
    }

    #[test]
    fn parses_search_terms() {
        let search = parse_search(&USERS, "\"displayName:wa to\" OR \"mail:bob\"").ok();
        let expected = Filter::Or(
            Box::new(Filter::And(
                Box::new(Filter::Word { property: "displayName".into(), prefix: "wa".into() }),
                Box::new(Filter::Word { property: "displayName".into(), prefix: "to".into() }),
            )),
            Box::new(property("mail", Test::StartsWith("bob".into()))),
        );
        assert_eq!(search, Some(expected));
        assert!(parse_search(&USERS, "wa").is_err());
        assert!(parse_search(&USERS, "\"shoeSize:9\"").is_err());
    }
}
