//! Entra's attribute-mapping expressions, for the common cases: a source attribute (`[surname]`), a
//! string constant (`"Sales"`), and the functions `Join`, `Append`, `Coalesce`, `ToLower`, `ToUpper`,
//! `Trim`, `StripSpaces`, `Left`, `Not` and `Switch` nested as deep as needed — e.g.
//! `Join(" ", [givenName], [surname])` or `Switch([IsSoftDeleted], , "False", "True", "True", "False")`.
//! Values are text; `True`/`False` stand for booleans, as in Entra; an attribute without a value is
//! nothing, and a function of nothing gives nothing (but `Join` and `Coalesce` skip it).

use crate::kernel::error::{Error, Result};
use crate::store::ObjectRecord;
use serde_json::Value;

/// Characters an expression may have at most.
const MOST_TEXT: usize = 1_000;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expression {
    Attribute(String),
    Constant(String),
    /// An argument left empty (`Switch`'s default, Entra's `ToLower([mail], )`).
    Empty,
    Function(Function, Vec<Expression>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Join,
    Append,
    Coalesce,
    ToLower,
    ToUpper,
    Trim,
    StripSpaces,
    Left,
    Not,
    Switch,
}

impl Function {
    fn parse(name: &str) -> Option<Function> {
        use Function::*;
        [Join, Append, Coalesce, ToLower, ToUpper, Trim, StripSpaces, Left, Not, Switch]
            .into_iter()
            .find(|f| format!("{f:?}").eq_ignore_ascii_case(name))
    }

    /// How many arguments it takes: at least, at most.
    fn arity(self) -> (usize, usize) {
        match self {
            Function::Join => (2, 64),
            Function::Coalesce => (1, 64),
            Function::Append | Function::Left => (2, 2),
            Function::ToLower | Function::ToUpper => (1, 2),
            Function::Trim | Function::StripSpaces | Function::Not => (1, 1),
            Function::Switch => (2, 64),
        }
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid_property("expression", message)
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn spaces(&mut self) {
        while self.text.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.spaces();
        self.text.get(self.at).copied()
    }

    fn until(&mut self, end: u8) -> Result<String> {
        let start = self.at;
        while self.text.get(self.at).is_some_and(|c| *c != end) {
            self.at += 1;
        }
        if self.text.get(self.at) != Some(&end) {
            return Err(invalid(format!("'{}' is not closed.", char::from(end))));
        }
        self.at += 1;
        Ok(String::from_utf8_lossy(&self.text[start..self.at - 1]).into_owned())
    }

    fn expression(&mut self, depth: usize) -> Result<Expression> {
        if depth > 16 {
            return Err(invalid("The expression nests too deep."));
        }
        match self.peek() {
            Some(b'[') => {
                self.at += 1;
                Ok(Expression::Attribute(self.until(b']')?.trim().to_owned()))
            }
            Some(b'"') => {
                self.at += 1;
                Ok(Expression::Constant(self.until(b'"')?))
            }
            Some(b',' | b')') | None => Ok(Expression::Empty),
            Some(_) => {
                let start = self.at;
                while self.text.get(self.at).is_some_and(u8::is_ascii_alphanumeric) {
                    self.at += 1;
                }
                let name = String::from_utf8_lossy(&self.text[start..self.at]).into_owned();
                let function =
                    Function::parse(&name).ok_or_else(|| invalid(format!("'{name}' is not a function here.")))?;
                if self.peek() != Some(b'(') {
                    return Err(invalid(format!("{name} takes its arguments in parentheses.")));
                }
                self.at += 1;
                let mut arguments = vec![self.expression(depth + 1)?];
                while self.peek() == Some(b',') {
                    self.at += 1;
                    arguments.push(self.expression(depth + 1)?);
                }
                if self.peek() != Some(b')') {
                    return Err(invalid(format!("{name}'s arguments are not closed.")));
                }
                self.at += 1;
                let (least, most) = function.arity();
                if !(least..=most).contains(&arguments.len()) {
                    return Err(invalid(format!("{name} takes {least} to {most} arguments.")));
                }
                Ok(Expression::Function(function, arguments))
            }
        }
    }
}

/// Reads an expression.
pub fn parse(text: &str) -> Result<Expression> {
    if text.len() > MOST_TEXT {
        return Err(invalid(format!("An expression has at most {MOST_TEXT} characters.")));
    }
    let mut parser = Parser { text: text.as_bytes(), at: 0 };
    let expression = parser.expression(0)?;
    match (parser.peek(), &expression) {
        (None, Expression::Empty) => Err(invalid("The expression is empty.")),
        (None, _) => Ok(expression),
        (Some(_), _) => Err(invalid("The expression goes on after its end.")),
    }
}

/// A directory attribute of a user as Entra's mappings name them: Graph's property names, and Entra's own
/// `objectId`, `telephoneNumber`, `mobile` and `IsSoftDeleted` (deleted or disabled).
fn attribute(record: &ObjectRecord, name: &str) -> Option<String> {
    let flag = |on: bool| Some(if on { "True" } else { "False" }.to_owned());
    match name {
        "objectId" => Some(record.id.to_string()),
        "IsSoftDeleted" => {
            flag(record.deleted_at.is_some() || record.doc.get("accountEnabled") != Some(&Value::Bool(true)))
        }
        "telephoneNumber" => {
            let phones = record.doc.get("businessPhones").and_then(Value::as_array);
            phones.and_then(|p| p.first()).and_then(Value::as_str).map(str::to_owned)
        }
        "mobile" => attribute(record, "mobilePhone"),
        _ => match record.doc.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => flag(*b),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        },
    }
    .filter(|value| !value.is_empty())
}

/// The expression's value for a user; `None` when it has none.
pub fn evaluate(expression: &Expression, record: &ObjectRecord) -> Option<String> {
    let value = |e: &Expression| evaluate(e, record);
    match expression {
        Expression::Attribute(name) => attribute(record, name),
        Expression::Constant(text) => Some(text.clone()),
        Expression::Empty => None,
        Expression::Function(function, arguments) => {
            let first = arguments.first().and_then(value);
            match function {
                Function::Join => {
                    let separator = first.unwrap_or_default();
                    let parts: Vec<String> = arguments[1..].iter().filter_map(value).collect();
                    Some(parts.join(&separator)).filter(|joined| !joined.is_empty())
                }
                Function::Append => Some(first? + &arguments.get(1).and_then(value).unwrap_or_default()),
                Function::Coalesce => arguments.iter().find_map(value),
                Function::ToLower => first.map(|s| s.to_lowercase()),
                Function::ToUpper => first.map(|s| s.to_uppercase()),
                Function::Trim => first.map(|s| s.trim().to_owned()),
                Function::StripSpaces => first.map(|s| s.chars().filter(|c| !c.is_whitespace()).collect()),
                Function::Left => {
                    let count: usize = arguments.get(1).and_then(value)?.parse().ok()?;
                    first.map(|s| s.chars().take(count).collect())
                }
                Function::Not => {
                    first.map(|s| if s.eq_ignore_ascii_case("true") { "False" } else { "True" }.to_owned())
                }
                Function::Switch => {
                    let default = arguments.get(1).and_then(value);
                    let pairs = arguments[2..].chunks(2);
                    let matched = pairs.into_iter().find(|pair| pair.len() == 2 && value(&pair[0]) == first);
                    matched.map_or(default, |pair| value(&pair[1]))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ObjectKind;
    use serde_json::json;

    fn ann(enabled: bool) -> ObjectRecord {
        let doc = json!({"givenName": "Ann", "surname": "Lee", "mail": "", "userPrincipalName": "Ann.Lee@Contoso.test",
            "accountEnabled": enabled, "businessPhones": ["+47 1"]});
        ObjectRecord::unsaved(ObjectKind::User, doc.as_object().cloned().unwrap_or_default())
    }

    #[test]
    fn entras_common_expressions_evaluate() {
        let cases = [
            ("[surname]", Some("Lee")),
            ("Join(\" \", [givenName], [surname])", Some("Ann Lee")),
            ("Join(\" \", [givenName], [nickname])", Some("Ann")),
            ("ToLower([userPrincipalName], )", Some("ann.lee@contoso.test")),
            ("Coalesce([mail], [userPrincipalName])", Some("Ann.Lee@Contoso.test")),
            ("Append([givenName], \"@partner.test\")", Some("Ann@partner.test")),
            ("Left(ToUpper([surname]), \"2\")", Some("LE")),
            ("Switch([IsSoftDeleted], , \"False\", \"True\", \"True\", \"False\")", Some("True")),
            ("Not([accountEnabled])", Some("False")),
            ("[telephoneNumber]", Some("+47 1")),
            ("[mail]", None),
            ("\"Sales\"", Some("Sales")),
        ];
        for (text, expected) in cases {
            let parsed = parse(text).unwrap_or_else(|e| panic!("{text}: {}", e.message));
            assert_eq!(evaluate(&parsed, &ann(true)).as_deref(), expected, "{text}");
        }
        let disabled = parse("Switch([IsSoftDeleted], , \"False\", \"True\", \"True\", \"False\")").unwrap();
        assert_eq!(evaluate(&disabled, &ann(false)).as_deref(), Some("False"));
        for bad in ["", "Join(", "Frobnicate([a])", "[surname", "\"open", "ToLower([a]) [b]", "Append([a])"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
