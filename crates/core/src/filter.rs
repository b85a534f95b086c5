//! The one query language of the directory: `$filter`, `$search` and membership rules compile to it, the
//! store compiles it to SQL, and the query module evaluates it in memory.

/// Bounds on the queries of every adapter: the longest query text accepted (bytes), the deepest nesting of
/// parentheses and `not`, and the most values in one `in` list. Parsers stop reading at them; the core
/// checks every filter it is handed against the last two ([`Filter::within_bounds`]).
pub const MAX_TEXT: usize = 4096;
pub const MAX_DEPTH: usize = 32;
pub const MAX_IN: usize = 200;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Ge,
    Le,
}

/// A literal of a query, already folded where it is a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Null,
    /// Folded text: strings, GUIDs, booleans (`true`/`false`) and date-times in Graph's format.
    Text(String),
}

/// A condition on one value (a property's, or a collection element's inside a lambda).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    Compare(Op, Literal),
    In(Vec<String>),
    StartsWith(String),
    EndsWith(String),
    /// The value contains the (folded) text.
    Contains(String),
    /// The value matches the regular expression, case-insensitively.
    Matches(String),
    /// Field `index` of a composite value (fields joined by [`FIELD_SEPARATOR`]) passes the test.
    Field {
        index: usize,
        test: Box<Test>,
    },
    /// Every test passes on the same value.
    All(Vec<Test>),
    /// Some test passes on the value.
    AnyOf(Vec<Test>),
    Not(Box<Test>),
}

/// Separates the fields of a composite indexed value (an assigned plan's id, status and service).
pub const FIELD_SEPARATOR: char = '|';

impl Test {
    /// A field test as a regular expression over the whole composite value, for the store to compile.
    /// `None` for tests that cannot be written so (a user's own regular expression inside a field).
    pub fn field_pattern(index: usize, test: &Test) -> Option<String> {
        let before = format!("^(?:[^|]*\\|){{{index}}}");
        let after = "(?:\\|.*)?$";
        let field = match test {
            Test::Compare(Op::Eq, Literal::Text(t)) => regex::escape(t),
            Test::StartsWith(t) => format!("{}[^|]*", regex::escape(t)),
            Test::EndsWith(t) => format!("[^|]*{}", regex::escape(t)),
            Test::Contains(t) => format!("[^|]*{}[^|]*", regex::escape(t)),
            Test::In(items) => format!("(?:{})", items.iter().map(|i| regex::escape(i)).collect::<Vec<_>>().join("|")),
            _ => return None,
        };
        Some(format!("{before}{field}{after}"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// A single-valued property passes the test.
    Property {
        property: String,
        test: Test,
    },
    /// Some element of a collection passes (`any`), or every element does (`all`).
    Any {
        property: String,
        test: Test,
    },
    All {
        property: String,
        test: Test,
    },
    /// Some word of a tokenized property starts with the prefix (`$search` on displayName).
    Word {
        property: String,
        prefix: String,
    },
    /// The object is a direct, active member of one of the groups (dynamic `memberOf` rules).
    MemberOf(Vec<String>),
    /// The object's id is a value of `property` on some object of the tenant: what a derived property means
    /// (a group `hasMembersWithLicenseErrors` when a user's `licenseErrorGroups` names it). Never in a rule.
    Referenced {
        property: String,
    },
}

impl Filter {
    /// Whether no more than [`MAX_DEPTH`] `not`s nest in the filter and no `in` list has more than [`MAX_IN`]
    /// values (`and` and `or` chains are bounded by the text's length instead).
    pub fn within_bounds(&self) -> bool {
        fn test_ok(test: &Test, depth: usize) -> bool {
            depth <= MAX_DEPTH
                && match test {
                    Test::In(values) => values.len() <= MAX_IN,
                    Test::Not(test) => test_ok(test, depth + 1),
                    Test::Field { test, .. } => test_ok(test, depth),
                    Test::All(tests) | Test::AnyOf(tests) => tests.iter().all(|t| test_ok(t, depth)),
                    _ => true,
                }
        }
        fn ok(filter: &Filter, depth: usize) -> bool {
            depth <= MAX_DEPTH
                && match filter {
                    Filter::And(a, b) | Filter::Or(a, b) => ok(a, depth) && ok(b, depth),
                    Filter::Not(inner) => ok(inner, depth + 1),
                    Filter::Property { test, .. } | Filter::Any { test, .. } | Filter::All { test, .. } => {
                        test_ok(test, depth)
                    }
                    Filter::MemberOf(groups) => groups.len() <= MAX_IN,
                    Filter::Word { .. } | Filter::Referenced { .. } => true,
                }
        }
        ok(self, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn equals(value: &str) -> Filter {
        Filter::Property { property: "department".into(), test: Test::Compare(Op::Eq, Literal::Text(value.into())) }
    }

    #[test]
    fn bounds_hold_on_depth_and_in_lists() {
        let mut deep = equals("a");
        for _ in 0..MAX_DEPTH {
            deep = Filter::Not(Box::new(deep));
        }
        assert!(deep.within_bounds());
        assert!(!Filter::Not(Box::new(deep)).within_bounds());
        let list = |n: usize| Filter::Property { property: "city".into(), test: Test::In(vec!["x".into(); n]) };
        assert!(list(MAX_IN).within_bounds());
        assert!(!list(MAX_IN + 1).within_bounds());
        assert!(!Filter::And(Box::new(equals("a")), Box::new(list(MAX_IN + 1))).within_bounds());
        let long = (0..500).fold(equals("a"), |all, _| Filter::Or(Box::new(all), Box::new(equals("b"))));
        assert!(long.within_bounds(), "a long chain of `or`s is not nesting");
    }
}
