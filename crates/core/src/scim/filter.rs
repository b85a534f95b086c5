//! SCIM filters (RFC 7644 §3.4.2.2) read into the directory's own [`Filter`], so a SCIM query runs on the
//! same query engine, indexes and rules as Graph's `$filter`: attribute paths are mapped to directory
//! properties by the resource's mapping, and an operator the directory cannot answer for that property is
//! refused as an invalid filter rather than scanned.
//!
//! Grammar: `attrPath op value`, `attrPath pr`, `not ( … )`, `( … )`, `and` binding tighter than `or`;
//! operators `eq ne co sw ew gt ge lt le pr`, case-insensitive; values are JSON strings, numbers, `true`,
//! `false` or `null`. A value path `emails[type eq "work"].value` names the one sub-attribute a mapping
//! knows (`emails[type eq "work"].value` is the work address).

use crate::filter::{Filter, Literal, Op, Test, MAX_DEPTH, MAX_TEXT};
use crate::kernel::error::{Error, Result};
use crate::kernel::text::fold;

/// What a filter may name: the directory property behind a SCIM attribute path (lower-cased, value
/// filters included as written, e.g. `emails[type eq "work"].value`), if any.
pub type Attributes = fn(&str) -> Option<&'static str>;

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid_property("filter", message)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
}

/// The filter's tokens: words (attribute paths with any value filter in brackets, operators, keywords,
/// numbers), quoted strings, and parentheses.
fn tokens(text: &str) -> Result<Vec<Token>> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                chars.next();
                out.push(if c == '(' { Token::Open } else { Token::Close });
            }
            '"' => {
                chars.next();
                let mut raw = String::from("\"");
                let mut closed = false;
                while let Some(c) = chars.next() {
                    raw.push(c);
                    match c {
                        '\\' => raw.extend(chars.next()),
                        '"' => {
                            closed = true;
                            break;
                        }
                        _ => {}
                    }
                }
                if !closed {
                    return Err(invalid("A string in the filter is not closed."));
                }
                let text: String =
                    serde_json::from_str(&raw).map_err(|_| invalid("A string in the filter is malformed."))?;
                out.push(Token::Text(text));
            }
            _ => {
                let mut word = String::new();
                let mut depth = 0;
                while let Some(&c) = chars.peek() {
                    match c {
                        '[' => depth += 1,
                        ']' => depth -= 1,
                        c if depth == 0 && (c.is_whitespace() || c == '(' || c == ')') => break,
                        _ => {}
                    }
                    word.push(c);
                    chars.next();
                }
                if depth != 0 {
                    return Err(invalid("A value filter's brackets do not match."));
                }
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    attributes: &'a Attributes,
    /// How deep in parentheses and `not` the parser is.
    depth: usize,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Filter> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter> {
        if self.peek_word("not") {
            self.at += 1;
            return Ok(Filter::Not(Box::new(self.group()?)));
        }
        match self.tokens.get(self.at) {
            Some(Token::Open) => self.group(),
            _ => self.comparison(),
        }
    }

    fn group(&mut self) -> Result<Filter> {
        if self.next() != Some(Token::Open) {
            return Err(invalid("'not' takes a filter in parentheses."));
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(invalid(format!("The filter nests deeper than {MAX_DEPTH} parentheses.")));
        }
        let inner = self.or()?;
        self.depth -= 1;
        match self.next() {
            Some(Token::Close) => Ok(inner),
            _ => Err(invalid("A parenthesis is not closed.")),
        }
    }

    fn comparison(&mut self) -> Result<Filter> {
        let Some(Token::Word(path)) = self.next() else {
            return Err(invalid("An attribute path is expected."));
        };
        let property = (self.attributes)(&path.to_ascii_lowercase())
            .ok_or_else(|| invalid(format!("'{path}' is not an attribute this resource is filtered by.")))?;
        let Some(Token::Word(op)) = self.next() else {
            return Err(invalid(format!("An operator is expected after '{path}'.")));
        };
        let op = op.to_ascii_lowercase();
        if op == "pr" {
            let present = Test::Compare(Op::Ne, Literal::Null);
            return Ok(Filter::Property { property: property.to_owned(), test: present });
        }
        let (literal, quoted) = match self.next() {
            Some(Token::Text(text)) => (Literal::Text(fold(&text)), true),
            Some(Token::Word(word)) => match word.as_str() {
                "true" | "false" => (Literal::Text(word), false),
                "null" => (Literal::Null, false),
                number if number.parse::<f64>().is_ok() => (Literal::Text(word), false),
                _ => return Err(invalid(format!("'{word}' is not a value: quote strings."))),
            },
            _ => return Err(invalid(format!("A value is expected after '{path} {op}'."))),
        };
        let text = || match (&literal, quoted) {
            (Literal::Text(text), true) => Ok(text.clone()),
            _ => Err(invalid(format!("'{op}' compares with a string."))),
        };
        let on = |test: Test| Filter::Property { property: property.to_owned(), test };
        // Strictly greater or less: the bound and not the value itself.
        let strict = |op: Op| {
            Filter::And(
                Box::new(on(Test::Compare(op, literal.clone()))),
                Box::new(on(Test::Compare(Op::Ne, literal.clone()))),
            )
        };
        Ok(match op.as_str() {
            "eq" => on(Test::Compare(Op::Eq, literal.clone())),
            "ne" => on(Test::Compare(Op::Ne, literal.clone())),
            "ge" => on(Test::Compare(Op::Ge, literal.clone())),
            "le" => on(Test::Compare(Op::Le, literal.clone())),
            "gt" => strict(Op::Ge),
            "lt" => strict(Op::Le),
            "sw" => on(Test::StartsWith(text()?)),
            "ew" => on(Test::EndsWith(text()?)),
            "co" => on(Test::Contains(text()?)),
            other => return Err(invalid(format!("'{other}' is not a SCIM operator."))),
        })
    }
}

/// Reads a SCIM filter into the directory's filter, its attribute paths mapped by `attributes`.
pub fn parse(text: &str, attributes: Attributes) -> Result<Filter> {
    if text.len() > MAX_TEXT {
        return Err(invalid(format!("The filter is longer than {MAX_TEXT} bytes.")));
    }
    let mut parser = Parser { tokens: tokens(text)?, at: 0, attributes: &attributes, depth: 0 };
    let filter = parser.or()?;
    match parser.at >= parser.tokens.len() {
        true => Ok(filter),
        false => Err(invalid("The filter goes on after its end: join filters with 'and' or 'or'.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(path: &str) -> Option<&'static str> {
        match path {
            "username" => Some("userPrincipalName"),
            "active" => Some("accountEnabled"),
            "emails[type eq \"work\"].value" => Some("mail"),
            "name.familyname" => Some("surname"),
            _ => None,
        }
    }

    fn property(property: &str, test: Test) -> Filter {
        Filter::Property { property: property.to_owned(), test }
    }

    #[test]
    fn filters_read_into_the_directorys_own() {
        let parsed = parse(r#"userName eq "Test_User_1""#, users).unwrap();
        assert_eq!(parsed, property("userPrincipalName", Test::Compare(Op::Eq, Literal::Text("test_user_1".into()))));
        let parsed =
            parse(r#"emails[type eq "work"].value SW "ann" and (active EQ true or not (name.familyName pr))"#, users)
                .unwrap();
        let expected = Filter::And(
            Box::new(property("mail", Test::StartsWith("ann".into()))),
            Box::new(Filter::Or(
                Box::new(property("accountEnabled", Test::Compare(Op::Eq, Literal::Text("true".into())))),
                Box::new(Filter::Not(Box::new(property("surname", Test::Compare(Op::Ne, Literal::Null))))),
            )),
        );
        assert_eq!(parsed, expected);
        let escaped = parse(r#"userName eq "a \"quoted\" name""#, users).unwrap();
        assert_eq!(
            escaped,
            property("userPrincipalName", Test::Compare(Op::Eq, Literal::Text("a \"quoted\" name".into())))
        );
    }

    #[test]
    fn malformed_filters_are_refused_by_name() {
        for bad in [
            "",
            "userName",
            "userName eq",
            "userName eq unquoted",
            "userName like \"x\"",
            "nickName eq \"x\"",
            "userName eq \"x\" extra",
            "(userName eq \"x\"",
            "userName eq \"open",
            "emails[type eq \"work\".value eq \"x\"",
            "active sw true",
            "not userName eq \"x\"",
            &format!("{}userName eq \"x\"{}", "(".repeat(40), ")".repeat(40)),
            &format!("userName eq \"{}\"", "x".repeat(5000)),
        ] {
            let error = parse(bad, users).unwrap_err();
            assert_eq!(error.target.as_deref(), Some("filter"), "{bad}");
        }
    }
}
