//! The one query language of the directory: `$filter`, `$search` and membership rules compile to it, the
//! store compiles it to SQL, and the query module evaluates it in memory.

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
