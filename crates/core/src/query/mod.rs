//! The directory's query language: one AST for Graph's `$filter` and `$search` (and later SCIM filters and
//! dynamic-membership rules), the per-property operator rules it is checked against, the folded values
//! the store indexes, and an in-process evaluator that is the oracle the store's SQL is tested against.
//!
//! Matching is case-insensitive for every language: strings are compared in their [`fold`]ed form
//! (Unicode lower case, computed here, identical for both engines), never with a database collation.

use crate::filter::{Filter, Literal, Op, Test, FIELD_SEPARATOR};
use crate::kernel::error::{Error, ErrorKind, Result};
use crate::kernel::text::fold;
use crate::schema::{
    self, format_time, Property, PropertyType, APPLICATION, CONTACT, DIRECTORY_OBJECT, GROUP, SERVICE_PRINCIPAL, USER,
};
use crate::store::{Cursor, ObjectKind, ObjectRecord, OrderBy, Sort};
use serde_json::Value;

/// A page's size when the request names none, and the largest it may name: every listing of the core
/// answers at most [`MAX_PAGE`] objects a page.
pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 999;

/// Refuses a page size outside `1..=MAX_PAGE`.
pub fn check_page_size(top: u32) -> Result<()> {
    match (1..=MAX_PAGE).contains(&top) {
        true => Ok(()),
        false => Err(Error::invalid(format!(
            "Invalid page size specified: '{top}'. Must be between 1 and {MAX_PAGE} inclusive."
        ))),
    }
}

/// What a list request asks for, beyond the collection itself.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Listing {
    pub filter: Option<Filter>,
    pub order: Vec<Sort>,
    pub after: Option<Cursor>,
    pub top: u32,
    /// Count all matching objects (`$count=true`).
    pub count: bool,
}

/// Operators a property supports in `$filter`, as Graph documents them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Support {
    pub eq: bool,
    pub ne: bool,
    pub not: bool,
    pub range: bool,
    pub r#in: bool,
    pub starts_with: bool,
    pub ends_with: bool,
    pub null: bool,
    /// A collection: only lambdas (`any`/`all`) apply.
    pub collection: bool,
}

const NONE: Support = Support {
    eq: false,
    ne: false,
    not: false,
    range: false,
    r#in: false,
    starts_with: false,
    ends_with: false,
    null: false,
    collection: false,
};
/// Graph's "B": eq, ne, not, in.
const B: Support = Support { eq: true, ne: true, not: true, r#in: true, ..NONE };
/// Graph's "S": eq, ne, not, ge, le, in, startsWith, eq null.
const S: Support = Support { range: true, starts_with: true, null: true, ..B };
const DATES: Support = Support { range: true, ..B };

/// The `$filter` support of a user property; `None` when Graph does not filter on it at all.
fn user_support(property: &str) -> Option<Support> {
    Some(match property {
        "id"
        | "accountEnabled"
        | "ageGroup"
        | "creationType"
        | "externalUserState"
        | "externalUserStateChangeDateTime" => B,
        "userType" | "onPremisesSyncEnabled" => Support { null: true, ..B },
        "userPrincipalName" => Support { ends_with: true, null: false, ..S },
        "mail" => Support { ends_with: true, ..S },
        "department" => Support { starts_with: false, ..S },
        "employeeType" => Support { null: false, ..S },
        "displayName" | "givenName" | "surname" | "mailNickname" | "jobTitle" | "companyName" | "city" | "state"
        | "country" | "streetAddress" | "postalCode" | "officeLocation" | "mobilePhone" | "faxNumber"
        | "preferredLanguage" | "employeeId" | "usageLocation" => S,
        "createdDateTime" | "deletedDateTime" | "employeeHireDate" => DATES,
        "otherMails" | "proxyAddresses" => ADDRESSES,
        "businessPhones" => NAMES,
        "assignedLicenses" => Support { eq: true, not: true, collection: true, ..NONE },
        "passwordPolicies" => Support { ne: true, not: true, null: true, ..NONE },
        _ => return None,
    })
}

/// Collections of addresses: lambdas with comparisons, prefixes and suffixes.
const ADDRESSES: Support =
    Support { eq: true, not: true, range: true, starts_with: true, ends_with: true, collection: true, ..NONE };

fn group_support(property: &str) -> Option<Support> {
    Some(match property {
        "id" | "isAssignableToRole" | "mailEnabled" | "securityEnabled" => B,
        "hasMembersWithLicenseErrors" => Support { eq: true, ..NONE },
        "onPremisesSyncEnabled" => Support { null: true, ..B },
        "mail" => Support { ends_with: true, ..S },
        "displayName" | "mailNickname" | "preferredLanguage" => S,
        "description" | "classification" => Support { r#in: false, null: false, ..S },
        "membershipRule" => Support { r#in: false, null: false, ..S },
        "membershipRuleProcessingState" => B,
        "createdDateTime" | "deletedDateTime" | "expirationDateTime" | "renewedDateTime" => DATES,
        "groupTypes" => Support { eq: true, not: true, collection: true, ..NONE },
        "resourceProvisioningOptions" => Support { eq: true, not: true, starts_with: true, collection: true, ..NONE },
        "proxyAddresses" => ADDRESSES,
        _ => return None,
    })
}

fn contact_support(property: &str) -> Option<Support> {
    Some(match property {
        "id" => B,
        "onPremisesSyncEnabled" => Support { null: true, ..B },
        "mail" => Support { ends_with: true, ..S },
        "displayName" | "givenName" | "surname" | "mailNickname" | "companyName" | "department" | "jobTitle" => S,
        "proxyAddresses" => ADDRESSES,
        _ => return None,
    })
}

/// Collections of names and tags: lambdas with comparisons and prefixes.
const NAMES: Support = Support { eq: true, not: true, range: true, starts_with: true, collection: true, ..NONE };

fn application_support(property: &str) -> Option<Support> {
    Some(match property {
        "id" => B,
        "displayName" => S,
        "appId" => Support { eq: true, ..NONE },
        "description" => Support { r#in: false, null: false, ..S },
        "signInAudience" => Support { r#in: false, ..B },
        "createdDateTime" => Support { null: true, ..DATES },
        "identifierUris" => Support { ne: true, not: false, ..NAMES },
        "tags" => NAMES,
        _ => return None,
    })
}

fn service_principal_support(property: &str) -> Option<Support> {
    Some(match property {
        "id" | "accountEnabled" => B,
        "appRoleAssignmentRequired" => Support { r#in: false, ..B },
        "displayName" => S,
        "appId" => Support { starts_with: true, ..B },
        "servicePrincipalType" => B,
        "servicePrincipalNames" | "tags" => NAMES,
        _ => return None,
    })
}

fn directory_object_support(property: &str) -> Option<Support> {
    match property {
        "id" => Some(B),
        "displayName" => Some(S),
        _ => None,
    }
}

/// A queryable collection's vocabulary: its properties, which of them filter with which operators, which
/// are tokenized for `$search`, and which order a list.
#[derive(Debug)]
pub struct Resource {
    /// The kind of its objects; `None` for collections that mix kinds (members, memberOf).
    pub kind: Option<ObjectKind>,
    /// The Graph type name without namespace, e.g. `user`.
    pub type_name: &'static str,
    /// The name Graph's messages use, e.g. `User`.
    pub title: &'static str,
    pub table: &'static [Property],
    support: fn(&str) -> Option<Support>,
    /// Properties whose words `$search` matches (the rest match as prefixes).
    pub tokenized: &'static [&'static str],
    /// Properties a list may be ordered by, the order each means, and whether Graph orders by it only in
    /// advanced-query mode.
    pub orderable: &'static [Orderable],
}

/// A property a list may be ordered by.
#[derive(Debug, Clone, Copy)]
pub struct Orderable {
    pub name: &'static str,
    pub by: OrderBy,
    /// Only in advanced-query mode (`ConsistencyLevel: eventual` with `$count=true`), as Graph documents it.
    pub advanced: bool,
}

const fn order(name: &'static str, by: OrderBy, advanced: bool) -> Orderable {
    Orderable { name, by, advanced }
}

const BY_NAME: Orderable = order("displayName", OrderBy::DisplayName, false);
const BY_CREATION: Orderable = order("createdDateTime", OrderBy::Created, true);

pub static USERS: Resource = Resource {
    kind: Some(ObjectKind::User),
    type_name: "user",
    title: "User",
    table: USER,
    support: user_support,
    tokenized: &["displayName"],
    orderable: &[BY_NAME, order("userPrincipalName", OrderBy::UniqueKey, false), BY_CREATION],
};

pub static GROUPS: Resource = Resource {
    kind: Some(ObjectKind::Group),
    type_name: "group",
    title: "Group",
    table: GROUP,
    support: group_support,
    tokenized: &["displayName", "description"],
    orderable: &[BY_NAME, BY_CREATION],
};

pub static CONTACTS: Resource = Resource {
    kind: Some(ObjectKind::Contact),
    type_name: "orgContact",
    title: "OrgContact",
    table: CONTACT,
    support: contact_support,
    tokenized: &["displayName"],
    orderable: &[BY_NAME],
};

pub static APPLICATIONS: Resource = Resource {
    kind: Some(ObjectKind::Application),
    type_name: "application",
    title: "Application",
    table: APPLICATION,
    support: application_support,
    tokenized: &["displayName", "description"],
    orderable: &[BY_NAME, order("createdDateTime", OrderBy::Created, false)],
};

pub static SERVICE_PRINCIPALS: Resource = Resource {
    kind: Some(ObjectKind::ServicePrincipal),
    type_name: "servicePrincipal",
    title: "ServicePrincipal",
    table: SERVICE_PRINCIPAL,
    support: service_principal_support,
    tokenized: &["displayName"],
    orderable: &[BY_NAME, BY_CREATION],
};

pub static DIRECTORY_OBJECTS: Resource = Resource {
    kind: None,
    type_name: "directoryObject",
    title: "DirectoryObject",
    table: DIRECTORY_OBJECT,
    support: directory_object_support,
    tokenized: &["displayName"],
    orderable: &[BY_NAME],
};

/// The vocabulary of a kind whose objects are queried by their values.
pub fn resource_of(kind: ObjectKind) -> Option<&'static Resource> {
    match kind {
        ObjectKind::User => Some(&USERS),
        ObjectKind::Group => Some(&GROUPS),
        ObjectKind::Contact => Some(&CONTACTS),
        ObjectKind::Application => Some(&APPLICATIONS),
        ObjectKind::ServicePrincipal => Some(&SERVICE_PRINCIPALS),
        ObjectKind::Subscription => None,
    }
}

impl Resource {
    /// The `$filter` support of a property; `None` when Graph does not filter on it.
    pub fn support(&self, property: &str) -> Option<Support> {
        (self.support)(property)
    }

    pub fn property(&self, name: &str) -> Option<&'static Property> {
        schema::find(self.table, name)
    }
}

/// The collections whose query support `docs/api.md` lists.
pub const DOCUMENTED: [&Resource; 5] = [&USERS, &GROUPS, &CONTACTS, &APPLICATIONS, &SERVICE_PRINCIPALS];

impl Support {
    /// The operators, as the documentation lists them.
    fn describe(self) -> String {
        let operators: Vec<&str> = [
            (self.eq, "eq"),
            (self.ne, "ne"),
            (self.not, "not"),
            (self.range, "ge, le"),
            (self.r#in, "in"),
            (self.starts_with, "startsWith"),
            (self.ends_with, "endsWith"),
            (self.null, "eq null"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        match self.collection {
            true => format!("any/all with {}", operators.join(", ")),
            false => operators.join(", "),
        }
    }
}

/// The `$filter` and `$orderby` support of every documented collection, as the Markdown that `docs/api.md`
/// carries between its query-support markers (a test keeps the page equal to it).
pub fn support_markdown() -> String {
    let mut out = String::new();
    for resource in DOCUMENTED {
        out.push_str(&format!("\n**{}** (`{}`)\n\n", resource.title, resource.type_name));
        out.push_str("| property | `$filter` | `$orderby` |\n|---|---|---|\n");
        for property in resource.table {
            let filter = resource.support(property.name).map(Support::describe);
            let order = resource.orderable.iter().find(|o| o.name == property.name).map(|o| match o.advanced {
                true => "advanced queries",
                false => "yes",
            });
            if filter.is_none() && order.is_none() {
                continue;
            }
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                property.name,
                filter.unwrap_or_default(),
                order.unwrap_or_default()
            ));
        }
    }
    out
}

fn unsupported(resource: &Resource, property: &str) -> Error {
    Error::new(
        ErrorKind::UnsupportedQuery,
        format!(
            "Unsupported or invalid query filter clause specified for property '{property}' of resource '{}'.",
            resource.title
        ),
    )
}

/// A checked filter with its derived properties replaced by what they mean: a group's
/// `hasMembersWithLicenseErrors` is whether some user's `licenseErrorGroups` names the group.
pub fn resolve_derived(filter: Filter) -> Filter {
    let resolve = |f: Box<Filter>| Box::new(resolve_derived(*f));
    match filter {
        Filter::And(a, b) => Filter::And(resolve(a), resolve(b)),
        Filter::Or(a, b) => Filter::Or(resolve(a), resolve(b)),
        Filter::Not(inner) => Filter::Not(resolve(inner)),
        Filter::Property { property, test: Test::Compare(Op::Eq, Literal::Text(flag)) }
            if property == "hasMembersWithLicenseErrors" =>
        {
            let named = Filter::Referenced { property: "licenseErrorGroups".into() };
            match flag.as_str() {
                "true" => named,
                _ => Filter::Not(Box::new(named)),
            }
        }
        other => other,
    }
}

/// Checks a filter against the resource's properties and their operators.
pub fn check_filter(resource: &Resource, filter: &Filter) -> Result<()> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            check_filter(resource, a)?;
            check_filter(resource, b)
        }
        Filter::Not(inner) => {
            for property in properties_of(inner) {
                if !resource.support(property).is_some_and(|s| s.not) {
                    return Err(unsupported(resource, property));
                }
            }
            check_filter(resource, inner)
        }
        Filter::Property { property, test } => {
            let support = known(resource, property)?;
            if support.collection || !allowed(support, test) {
                return Err(unsupported(resource, property));
            }
            check_literals(property, test)
        }
        Filter::Any { property, test } | Filter::All { property, test } => {
            let support = known(resource, property)?;
            if !support.collection || !allowed(support, test) {
                return Err(unsupported(resource, property));
            }
            check_literals(property, test)
        }
        Filter::Word { property, prefix } => schema::check_text(property, prefix),
        Filter::Referenced { .. } => Ok(()),
        Filter::MemberOf(_) => Err(Error::new(ErrorKind::UnsupportedQuery, "memberOf is not a filter property.")),
    }
}

/// The literals of a test hold no NUL character.
fn check_literals(property: &str, test: &Test) -> Result<()> {
    match test {
        Test::Compare(_, Literal::Null) => Ok(()),
        Test::Compare(_, Literal::Text(text))
        | Test::StartsWith(text)
        | Test::EndsWith(text)
        | Test::Contains(text)
        | Test::Matches(text) => schema::check_text(property, text),
        Test::In(items) => items.iter().try_for_each(|item| schema::check_text(property, item)),
        Test::Field { test, .. } | Test::Not(test) => check_literals(property, test),
        Test::All(tests) | Test::AnyOf(tests) => tests.iter().try_for_each(|test| check_literals(property, test)),
    }
}

fn known(resource: &Resource, property: &str) -> Result<Support> {
    if resource.property(property).is_none() {
        return Err(Error::invalid(format!(
            "Could not find a property named '{property}' on type 'microsoft.graph.{}'.",
            resource.type_name
        )));
    }
    resource.support(property).ok_or_else(|| unsupported(resource, property))
}

fn allowed(support: Support, test: &Test) -> bool {
    match test {
        Test::Compare(Op::Eq, Literal::Null) | Test::Compare(Op::Ne, Literal::Null) => support.null,
        Test::Compare(Op::Eq, _) => support.eq,
        Test::Compare(Op::Ne, _) => support.ne,
        Test::Compare(Op::Ge | Op::Le, _) => support.range,
        Test::In(_) => support.r#in,
        Test::StartsWith(_) => support.starts_with,
        Test::EndsWith(_) => support.ends_with,
        Test::Contains(_) | Test::Matches(_) | Test::Field { .. } | Test::All(_) | Test::AnyOf(_) | Test::Not(_) => {
            false
        }
    }
}

fn properties_of(filter: &Filter) -> Vec<&str> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            let mut all = properties_of(a);
            all.extend(properties_of(b));
            all
        }
        Filter::Not(inner) => properties_of(inner),
        Filter::Property { property, .. }
        | Filter::Any { property, .. }
        | Filter::All { property, .. }
        | Filter::Word { property, .. } => vec![property],
        Filter::MemberOf(_) | Filter::Referenced { .. } => Vec::new(),
    }
}

/// The property under which a tokenized property's words are indexed.
pub fn word_property(property: &str) -> String {
    format!("{property}#word")
}

/// The (property, folded value) pairs the store indexes for an object: one per single value, one per
/// collection element, and one per word of each tokenized property.
pub fn index_values(record: &ObjectRecord) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(resource) = resource_of(record.kind) else {
        return out;
    };
    for property in resource.table {
        if property.name == "id" || resource.support(property.name).is_none() {
            continue;
        }
        let value = match property.name {
            "createdDateTime" => Some(Value::String(format_time(record.created_at))),
            "deletedDateTime" => record.deleted_at.map(|d| Value::String(format_time(d))),
            name => record.doc.get(name).cloned(),
        };
        match (value, property.ty) {
            (Some(Value::Array(items)), _) if property.name == "assignedLicenses" => {
                for sku in items.iter().filter_map(|l| l.get("skuId")).filter_map(Value::as_str) {
                    out.push((property.name.to_owned(), fold(sku)));
                }
            }
            (Some(Value::Array(items)), _) => {
                for item in items.iter().filter_map(Value::as_str) {
                    out.push((property.name.to_owned(), fold(item)));
                }
            }
            (Some(Value::String(text)), PropertyType::DateTime) => {
                out.push((property.name.to_owned(), schema::canonical_time(&text)))
            }
            (Some(Value::String(text)), _) => out.push((property.name.to_owned(), fold(&text))),
            (Some(Value::Bool(flag)), PropertyType::Bool) => out.push((property.name.to_owned(), flag.to_string())),
            _ => {}
        }
    }
    if record.kind == ObjectKind::User {
        rule_values(record, &mut out);
    }
    let roles = record.doc.get(schema::ROLES_KEY).and_then(Value::as_array).into_iter().flatten();
    out.extend(roles.filter_map(Value::as_str).map(|role| (schema::ROLES_KEY.to_owned(), role.to_owned())));
    if let Some(sources) = crate::rules::group_rule::member_of_rule(record) {
        out.push((crate::rules::group_rule::MEMBER_OF_RULE.to_owned(), "true".to_owned()));
        out.extend(sources.iter().map(|s| (crate::rules::group_rule::MEMBER_OF_SOURCES.to_owned(), s.to_string())));
    }
    for property in resource.tokenized {
        if let Some(text) = record.doc.get(*property).and_then(Value::as_str) {
            for word in words(text) {
                out.push((word_property(property), word));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The values only the directory's own queries read: for rules, extension attributes, directory
/// extensions, the manager and assigned plans (as `servicePlanId|capabilityStatus|service`); for licensing,
/// the groups whose licenses are in error for the user.
fn rule_values(record: &ObjectRecord, out: &mut Vec<(String, String)>) {
    if let Some(Value::Object(attributes)) = record.doc.get("onPremisesExtensionAttributes") {
        for (name, value) in attributes {
            if let Some(text) = value.as_str() {
                out.push((name.clone(), fold(text)));
            }
        }
    }
    for (name, value) in record.doc.iter().filter(|(name, _)| crate::rules::is_directory_extension(name)) {
        let text = match value {
            Value::String(text) => fold(text),
            Value::Bool(_) | Value::Number(_) => value.to_string(),
            _ => continue,
        };
        out.push((name.clone(), text));
    }
    if let Some(manager) = record.manager {
        out.push(("manager".to_owned(), manager.to_string()));
    }
    for state in record.doc.get("licenseAssignmentStates").and_then(Value::as_array).into_iter().flatten() {
        if let (Some("Error"), Some(group)) =
            (state.get("state").and_then(Value::as_str), state.get("assignedByGroup").and_then(Value::as_str))
        {
            out.push(("licenseErrorGroups".to_owned(), fold(group)));
        }
    }
    for plan in record.doc.get("assignedPlans").and_then(Value::as_array).into_iter().flatten() {
        let field = |name: &str| fold(plan.get(name).and_then(Value::as_str).unwrap_or_default());
        let sep = FIELD_SEPARATOR.to_string();
        out.push((
            "assignedPlans".to_owned(),
            [field("servicePlanId"), field("capabilityStatus"), field("service")].join(&sep),
        ));
    }
}

/// The folded words of a text, split at anything that is not a letter or digit.
pub fn words(text: &str) -> Vec<String> {
    fold(text).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

/// Evaluates a filter against an object, with the same semantics as the store's SQL.
pub fn matches(filter: &Filter, record: &ObjectRecord) -> bool {
    evaluate(filter, record, &index_values(record), &[])
}

/// [`matches`] over the object's already computed [`index_values`], for an object that is a direct member
/// of `groups` (for `memberOf` rules): evaluating many filters against one object computes its values once.
pub fn matches_indexed(filter: &Filter, record: &ObjectRecord, values: &[(String, String)], groups: &[String]) -> bool {
    evaluate(filter, record, values, groups)
}

fn values_of(values: &[(String, String)], record: &ObjectRecord, property: &str) -> Vec<String> {
    if property == "id" {
        return vec![record.id.to_string()];
    }
    values.iter().filter(|(p, _)| p == property).map(|(_, v)| v.clone()).collect()
}

/// Compiled regular expressions by pattern, per thread: rules evaluate the same few patterns many times.
fn regex_matches(pattern: &str, value: &str) -> bool {
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<String, Option<regex::Regex>>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() > 1024 {
            cache.clear();
        }
        cache
            .entry(pattern.to_owned())
            .or_insert_with(|| {
                regex::RegexBuilder::new(pattern).case_insensitive(true).size_limit(1 << 20).build().ok()
            })
            .as_ref()
            .is_some_and(|re| re.is_match(value))
    })
}

fn passes(value: &str, test: &Test) -> bool {
    match test {
        Test::Contains(text) => value.contains(text.as_str()),
        Test::Matches(pattern) => regex_matches(pattern, value),
        Test::Field { index, test } => {
            value.split(FIELD_SEPARATOR).nth(*index).is_some_and(|field| passes(field, test))
        }
        Test::All(tests) => tests.iter().all(|t| passes(value, t)),
        Test::AnyOf(tests) => tests.iter().any(|t| passes(value, t)),
        Test::Not(inner) => !passes(value, inner),
        Test::Compare(Op::Eq, Literal::Text(t)) => value == t,
        Test::Compare(Op::Ne, Literal::Text(t)) => value != t,
        Test::Compare(Op::Ge, Literal::Text(t)) => value >= t.as_str(),
        Test::Compare(Op::Le, Literal::Text(t)) => value <= t.as_str(),
        Test::Compare(_, _) => false,
        Test::In(list) => list.iter().any(|l| l == value),
        Test::StartsWith(prefix) => value.starts_with(prefix.as_str()),
        Test::EndsWith(suffix) => value.ends_with(suffix.as_str()),
    }
}

fn evaluate(filter: &Filter, record: &ObjectRecord, values: &[(String, String)], groups: &[String]) -> bool {
    match filter {
        Filter::And(a, b) => evaluate(a, record, values, groups) && evaluate(b, record, values, groups),
        Filter::Or(a, b) => evaluate(a, record, values, groups) || evaluate(b, record, values, groups),
        Filter::Not(inner) => !evaluate(inner, record, values, groups),
        Filter::MemberOf(wanted) => wanted.iter().any(|g| groups.contains(g)),
        // Only the store can tell which objects name this one; rules never ask.
        Filter::Referenced { .. } => false,
        Filter::Property { property, test } | Filter::Any { property, test } => {
            let found = values_of(values, record, property);
            match test {
                Test::Compare(Op::Eq, Literal::Null) => found.is_empty(),
                Test::Compare(Op::Ne, Literal::Null) => !found.is_empty(),
                Test::Compare(Op::Ne, Literal::Text(t)) => !found.iter().any(|v| v == t),
                _ => found.iter().any(|v| passes(v, test)),
            }
        }
        Filter::All { property, test } => values_of(values, record, property).iter().all(|v| passes(v, test)),
        Filter::Word { property, prefix } => {
            values_of(values, record, &word_property(property)).iter().any(|w| w.starts_with(prefix.as_str()))
        }
    }
}
