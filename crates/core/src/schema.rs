//! Property tables of directory object kinds: each property's type, limits and who may write it.
//!
//! Request bodies are checked against these tables before anything else happens, so an unknown property,
//! a read-only one or a wrong type is refused with the property's name and nothing is written. No string a
//! client sends may hold a NUL character (U+0000), as in Graph: [`check_text`] is the one check, for bodies
//! here and for query literals and object keys where the use cases take them.

use crate::kernel::error::{Error, Result};
use crate::store::ObjectRecord;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Settable on create and update.
    Writable,
    /// Computed by the directory; a request that sets it is refused.
    ReadOnly,
}

#[derive(Debug, Clone, Copy)]
pub enum PropertyType {
    String {
        max: usize,
    },
    Bool,
    /// A collection of strings, each at most `max` characters.
    Strings {
        max: usize,
    },
    DateTime,
    /// One of the listed values (compared case-insensitively, stored as listed).
    Enum(&'static [&'static str]),
    /// A complex value whose members are all nullable strings with the given names.
    StringObject(&'static [&'static str]),
    /// A collection of such complex values, at most `max` of them.
    StringObjects {
        members: &'static [&'static str],
        max: usize,
    },
    /// Handled by the use case itself (passwordProfile, identities).
    Special,
}

#[derive(Debug, Clone, Copy)]
pub struct Property {
    pub name: &'static str,
    pub ty: PropertyType,
    pub access: Access,
    /// Returned when a list or get names no `$select`.
    pub default: bool,
}

const fn p(name: &'static str, ty: PropertyType, access: Access, default: bool) -> Property {
    Property { name, ty, access, default }
}

const W: Access = Access::Writable;
const R: Access = Access::ReadOnly;
const fn s(max: usize) -> PropertyType {
    PropertyType::String { max }
}

/// The members of `onPremisesExtensionAttributes`, which dynamic membership rules also read by name.
pub const EXTENSION_ATTRIBUTES: &[&str] = &[
    "extensionAttribute1",
    "extensionAttribute2",
    "extensionAttribute3",
    "extensionAttribute4",
    "extensionAttribute5",
    "extensionAttribute6",
    "extensionAttribute7",
    "extensionAttribute8",
    "extensionAttribute9",
    "extensionAttribute10",
    "extensionAttribute11",
    "extensionAttribute12",
    "extensionAttribute13",
    "extensionAttribute14",
    "extensionAttribute15",
];

/// The user properties Gatehouse keeps, by Graph name.
pub const USER: &[Property] = &[
    p("id", s(36), R, true),
    p("accountEnabled", PropertyType::Bool, W, false),
    p("ageGroup", PropertyType::Enum(&["Minor", "NotAdult", "Adult"]), W, false),
    p("assignedLicenses", PropertyType::Special, R, false),
    p("assignedPlans", PropertyType::Special, R, false),
    p("businessPhones", PropertyType::Strings { max: 64 }, W, true),
    p("city", s(128), W, false),
    p("companyName", s(64), W, false),
    p("consentProvidedForMinor", PropertyType::Enum(&["Granted", "Denied", "NotRequired"]), W, false),
    p("country", s(128), W, false),
    p("createdDateTime", PropertyType::DateTime, R, false),
    p("creationType", s(64), R, false),
    p("deletedDateTime", PropertyType::DateTime, R, false),
    p("department", s(64), W, false),
    p("displayName", s(256), W, true),
    p("employeeHireDate", PropertyType::DateTime, W, false),
    p("employeeLeaveDateTime", PropertyType::DateTime, W, false),
    p("employeeId", s(16), W, false),
    p("employeeOrgData", PropertyType::StringObject(&["division", "costCenter"]), W, false),
    p("employeeType", s(64), W, false),
    p("externalUserState", s(64), R, false),
    p("externalUserStateChangeDateTime", PropertyType::DateTime, R, false),
    p("faxNumber", s(64), W, false),
    p("givenName", s(64), W, true),
    p("identities", PropertyType::Special, R, false),
    p("jobTitle", s(128), W, true),
    p("lastPasswordChangeDateTime", PropertyType::DateTime, R, false),
    p("licenseAssignmentStates", PropertyType::Special, R, false),
    p("mail", s(256), W, true),
    p("mailNickname", s(64), W, false),
    p("mobilePhone", s(64), W, true),
    p("officeLocation", s(128), W, true),
    p("onPremisesExtensionAttributes", PropertyType::StringObject(EXTENSION_ATTRIBUTES), W, false),
    p("onPremisesImmutableId", s(256), W, false),
    p("onPremisesSyncEnabled", PropertyType::Bool, R, false),
    p("otherMails", PropertyType::Strings { max: 256 }, W, false),
    p("passwordPolicies", s(256), W, false),
    p("passwordProfile", PropertyType::Special, W, false),
    p("postalCode", s(40), W, false),
    p("preferredDataLocation", s(64), W, false),
    p("preferredLanguage", s(64), W, true),
    p("proxyAddresses", PropertyType::Strings { max: 256 }, R, false),
    p("showInAddressList", PropertyType::Bool, W, false),
    p("signInSessionsValidFromDateTime", PropertyType::DateTime, R, false),
    p("state", s(128), W, false),
    p("streetAddress", s(1024), W, false),
    p("surname", s(64), W, true),
    p("usageLocation", s(2), W, false),
    p("userPrincipalName", s(113), W, true),
    p("userType", PropertyType::Enum(&["Member", "Guest"]), W, false),
];

/// The group properties Gatehouse keeps. `membershipRuleProcessingStatus` is Graph beta's, served on `$select`.
pub const GROUP: &[Property] = &[
    p("id", s(36), R, true),
    p("classification", s(256), W, true),
    p("createdDateTime", PropertyType::DateTime, R, true),
    p("creationOptions", PropertyType::Strings { max: 256 }, R, true),
    p("deletedDateTime", PropertyType::DateTime, R, true),
    p("description", s(1024), W, true),
    p("displayName", s(256), W, true),
    p("expirationDateTime", PropertyType::DateTime, R, true),
    p("groupTypes", PropertyType::Strings { max: 64 }, W, true),
    p("assignedLicenses", PropertyType::Special, R, false),
    p("licenseProcessingState", PropertyType::Special, R, false),
    p("hasMembersWithLicenseErrors", PropertyType::Bool, R, false),
    p("isAssignableToRole", PropertyType::Bool, W, true),
    p("mail", s(256), R, true),
    p("mailEnabled", PropertyType::Bool, W, true),
    p("mailNickname", s(64), W, true),
    p("membershipRule", s(3072), W, true),
    p("membershipRuleProcessingState", PropertyType::Enum(&["On", "Paused"]), W, true),
    p("membershipRuleProcessingStatus", PropertyType::Special, R, false),
    p("onPremisesSyncEnabled", PropertyType::Bool, R, true),
    p("preferredDataLocation", s(64), W, true),
    p("preferredLanguage", s(64), W, true),
    p("proxyAddresses", PropertyType::Strings { max: 256 }, R, true),
    p("renewedDateTime", PropertyType::DateTime, R, true),
    p("resourceBehaviorOptions", PropertyType::Strings { max: 64 }, W, true),
    p("resourceProvisioningOptions", PropertyType::Strings { max: 64 }, W, true),
    p("securityEnabled", PropertyType::Bool, W, true),
    p("securityIdentifier", s(256), R, true),
    p("theme", PropertyType::Enum(&["Teal", "Purple", "Green", "Blue", "Pink", "Orange", "Red"]), W, true),
    p("visibility", PropertyType::Enum(&["Public", "Private", "HiddenMembership"]), W, true),
];

/// The organizational contact properties Gatehouse keeps (Graph's `orgContact`).
pub const CONTACT: &[Property] = &[
    p("id", s(36), R, true),
    p(
        "addresses",
        PropertyType::StringObjects {
            members: &["city", "countryOrRegion", "officeLocation", "postalCode", "state", "street"],
            max: 1,
        },
        W,
        true,
    ),
    p("companyName", s(64), W, true),
    p("deletedDateTime", PropertyType::DateTime, R, true),
    p("department", s(64), W, true),
    p("displayName", s(256), W, true),
    p("givenName", s(64), W, true),
    p("jobTitle", s(128), W, true),
    p("mail", s(256), W, true),
    p("mailNickname", s(64), W, true),
    p("onPremisesLastSyncDateTime", PropertyType::DateTime, R, true),
    p("onPremisesSyncEnabled", PropertyType::Bool, R, true),
    p("phones", PropertyType::StringObjects { members: &["number", "type"], max: 3 }, W, true),
    p("proxyAddresses", PropertyType::Strings { max: 256 }, R, true),
    p("surname", s(64), W, true),
];

/// What every directory object has, for collections that mix kinds (members, memberOf).
pub const DIRECTORY_OBJECT: &[Property] = &[
    p("id", s(36), R, true),
    p("deletedDateTime", PropertyType::DateTime, R, true),
    p("displayName", s(256), R, false),
];

/// Internal document key: the directory roles (template ids) the object holds. Not a Graph property; role
/// assignments are their own resource, and queries find the holders by it.
pub const ROLES_KEY: &str = "_directoryRoles";

/// Checks a request body against a property table and returns the checked values, normalised. Unknown and
/// read-only properties are refused by name; `@odata.type` must name `type_name`; other instance
/// annotations and `{link}@odata.bind` for the given `links` are left to the caller. `Special` values
/// (objects or collections) are returned unchecked for the use case to handle.
pub fn check_body(
    table: &'static [Property],
    type_name: &str,
    links: &[&str],
    body: &Map<String, Value>,
) -> Result<Map<String, Value>> {
    let mut checked = Map::new();
    for (name, value) in body {
        check_texts(name, value)?;
        if name.starts_with("@odata.") {
            check_odata_type(name, value, type_name)?;
            continue;
        }
        if name.strip_suffix("@odata.bind").is_some_and(|link| links.contains(&link)) {
            continue;
        }
        let property = find(table, name).ok_or_else(|| {
            Error::invalid_property(
                name,
                format!("Property '{name}' does not exist as a declared property or extension property."),
            )
        })?;
        if property.access == Access::ReadOnly {
            return Err(Error::invalid_property(name, format!("Property '{name}' is read-only and cannot be set.")));
        }
        if matches!(property.ty, PropertyType::Special) && !(value.is_object() || value.is_array() || value.is_null()) {
            return Err(Error::invalid_property(
                name,
                format!("Invalid value for property '{name}': expected an object."),
            ));
        }
        checked.insert(name.clone(), check_value(property, value)?);
    }
    Ok(checked)
}

/// `@odata.type` must name the resource's own type; other instance annotations are ignored, as Graph does.
pub(crate) fn check_odata_type(name: &str, value: &Value, type_name: &str) -> Result<()> {
    if name != "@odata.type" {
        return Ok(());
    }
    let stated = value.as_str().unwrap_or_default().trim_start_matches('#');
    let expected = format!("microsoft.graph.{type_name}");
    if stated.eq_ignore_ascii_case(&expected) || stated.eq_ignore_ascii_case(&format!("graph.{type_name}")) {
        Ok(())
    } else {
        Err(Error::invalid_property(
            "@odata.type",
            format!("The type '{stated}' is not '#{expected}', the type of this resource."),
        ))
    }
}

pub fn find(table: &'static [Property], name: &str) -> Option<&'static Property> {
    table.iter().find(|p| p.name == name)
}

/// Checks one value against its property, returning it normalised (enums in their listed case).
/// `null` clears a property.
pub fn check_value(property: &Property, value: &Value) -> Result<Value> {
    let name = property.name;
    let wrong_type = |expected: &str| {
        Error::invalid_property(
            name,
            format!("Invalid value for property '{name}': expected {expected}, got {}.", kind_of(value)),
        )
    };
    if value.is_null() {
        return Ok(Value::Null);
    }
    match property.ty {
        PropertyType::String { max } => {
            let text = value.as_str().ok_or_else(|| wrong_type("a string"))?;
            check_length(name, text, max)?;
            Ok(value.clone())
        }
        PropertyType::Bool => value.as_bool().map(Value::Bool).ok_or_else(|| wrong_type("a boolean")),
        PropertyType::Strings { max } => {
            let items = value.as_array().ok_or_else(|| wrong_type("a collection of strings"))?;
            for item in items {
                let text = item.as_str().ok_or_else(|| wrong_type("a collection of strings"))?;
                check_length(name, text, max)?;
            }
            Ok(value.clone())
        }
        PropertyType::DateTime => {
            let text = value.as_str().ok_or_else(|| wrong_type("a date-time string"))?;
            let parsed = DateTime::parse_from_rfc3339(text).map_err(|_| {
                Error::invalid_property(
                    name,
                    format!("Invalid value for property '{name}': '{text}' is not an ISO 8601 date-time."),
                )
            })?;
            Ok(Value::String(format_time(parsed.with_timezone(&Utc))))
        }
        PropertyType::Enum(allowed) => {
            let text = value.as_str().ok_or_else(|| wrong_type("a string"))?;
            allowed.iter().find(|a| a.eq_ignore_ascii_case(text)).map(|a| Value::String((*a).to_owned())).ok_or_else(
                || {
                    Error::invalid_property(
                        name,
                        format!("Invalid value '{text}' for property '{name}'; allowed: {}.", allowed.join(", ")),
                    )
                },
            )
        }
        PropertyType::StringObject(members) => check_string_object(name, members, value),
        PropertyType::StringObjects { members, max } => {
            let items = value.as_array().ok_or_else(|| wrong_type("a collection of objects"))?;
            if items.len() > max {
                return Err(Error::invalid_property(
                    name,
                    format!("Invalid value for property '{name}': at most {max} entries are allowed."),
                ));
            }
            items
                .iter()
                .map(|item| check_string_object(name, members, item))
                .collect::<Result<Vec<_>>>()
                .map(Value::Array)
        }
        PropertyType::Special => Ok(value.clone()),
    }
}

/// A complex value whose members are nullable strings named in `members`.
fn check_string_object(name: &str, members: &[&'static str], value: &Value) -> Result<Value> {
    let wrong_type = || {
        Error::invalid_property(
            name,
            format!("Invalid value for property '{name}': expected an object of strings, got {}.", kind_of(value)),
        )
    };
    let object = value.as_object().ok_or_else(wrong_type)?;
    let mut out = Map::new();
    for (key, member) in object {
        if key.starts_with("@odata.") {
            continue;
        }
        let known = members
            .iter()
            .find(|m| **m == key)
            .ok_or_else(|| Error::invalid_property(name, format!("Property '{key}' does not exist on '{name}'.")))?;
        if !(member.is_null() || member.is_string()) {
            return Err(wrong_type());
        }
        if let Some(text) = member.as_str() {
            check_length(name, text, 1024)?;
        }
        out.insert((*known).to_owned(), member.clone());
    }
    Ok(Value::Object(out))
}

/// Refuses text holding a NUL character (U+0000): Graph refuses it, and neither engine keeps it as text.
pub fn check_text(name: &str, text: &str) -> Result<()> {
    if text.contains('\0') {
        return Err(Error::invalid_property(
            name,
            format!("Invalid value for '{name}': the NUL character (U+0000) is not allowed."),
        ));
    }
    Ok(())
}

/// [`check_text`] on every string of a JSON value, member names included.
pub fn check_texts(name: &str, value: &Value) -> Result<()> {
    match value {
        Value::String(text) => check_text(name, text),
        Value::Array(items) => items.iter().try_for_each(|item| check_texts(name, item)),
        Value::Object(members) => members.iter().try_for_each(|(key, member)| {
            check_text(name, key)?;
            check_texts(name, member)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

fn check_length(name: &str, text: &str, max: usize) -> Result<()> {
    if text.chars().count() > max {
        return Err(Error::invalid_property(
            name,
            format!("Invalid value for property '{name}': longer than the {max} characters allowed."),
        ));
    }
    Ok(())
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a collection",
        Value::Object(_) => "an object",
    }
}

/// Which properties a response carries.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    /// The table's default set (no `$select`).
    Default,
    /// Every property (`$select=*`).
    All,
    /// The named ones.
    Names(&'a [String]),
}

impl Selection<'_> {
    pub fn wants(&self, property: &Property) -> bool {
        match self {
            Selection::Default => property.default,
            Selection::All => true,
            Selection::Names(names) => names.iter().any(|n| n == property.name),
        }
    }
}

/// The selected properties of a table with their current values: `derived` first (for properties the use case
/// computes), then the object's own times and id, then the stored value, then the empty value Graph shows
/// (`[]` for collections, `null` otherwise).
pub fn properties(
    table: &[Property],
    record: &ObjectRecord,
    selection: Selection<'_>,
    derived: impl Fn(&Property) -> Option<Value>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for property in table.iter().filter(|p| selection.wants(p)) {
        let value = derived(property).unwrap_or_else(|| match property.name {
            "id" => Value::String(record.id.to_string()),
            "createdDateTime" => Value::String(format_time(record.created_at)),
            "deletedDateTime" => record.deleted_at.map(|d| Value::String(format_time(d))).unwrap_or(Value::Null),
            name => match (record.doc.get(name), property.ty) {
                (Some(value), _) => value.clone(),
                (None, PropertyType::Strings { .. } | PropertyType::StringObjects { .. }) => Value::Array(Vec::new()),
                (None, _) => Value::Null,
            },
        });
        out.insert(property.name.to_owned(), value);
    }
    out
}

/// Graph's date-time format: UTC, whole seconds, `Z`.
pub fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A date-time as queries compare it: in UTC, as [`format_time`] writes it, so that text order is time
/// order; text that is no date-time is folded like any other value.
pub fn canonical_time(text: &str) -> String {
    DateTime::parse_from_rfc3339(text)
        .map(|t| format_time(t.with_timezone(&Utc)))
        .unwrap_or_else(|_| crate::kernel::text::fold(text))
}

/// Application properties Gatehouse keeps.
pub const APPLICATION: &[Property] = &[
    p("id", PropertyType::String { max: 36 }, R, true),
    p("appId", PropertyType::String { max: 36 }, R, true),
    p("createdDateTime", PropertyType::DateTime, R, true),
    p("deletedDateTime", PropertyType::DateTime, R, true),
    p("displayName", PropertyType::String { max: 256 }, W, true),
    p("description", PropertyType::String { max: 1024 }, W, true),
    p("notes", PropertyType::String { max: 1024 }, W, true),
    p(
        "signInAudience",
        PropertyType::Enum(&[
            "AzureADMyOrg",
            "AzureADMultipleOrgs",
            "AzureADandPersonalMicrosoftAccount",
            "PersonalMicrosoftAccount",
        ]),
        W,
        true,
    ),
    p("tags", PropertyType::Strings { max: 256 }, W, true),
    p("identifierUris", PropertyType::Strings { max: 256 }, W, true),
    p("web", PropertyType::Special, W, true),
    p("spa", PropertyType::Special, W, true),
    p("publicClient", PropertyType::Special, W, true),
    p("isFallbackPublicClient", PropertyType::Bool, W, true),
    p("appRoles", PropertyType::Special, W, true),
    p(
        "groupMembershipClaims",
        PropertyType::Enum(&["None", "SecurityGroup", "All", "DirectoryRole", "ApplicationGroup"]),
        W,
        true,
    ),
    p("api", PropertyType::Special, W, true),
    p("optionalClaims", PropertyType::Special, W, true),
    p("requiredResourceAccess", PropertyType::Special, W, true),
    p("passwordCredentials", PropertyType::Special, R, true),
    p("keyCredentials", PropertyType::Special, W, true),
];

/// Service principal properties Gatehouse keeps.
pub const SERVICE_PRINCIPAL: &[Property] = &[
    p("id", PropertyType::String { max: 36 }, R, true),
    p("appId", PropertyType::String { max: 36 }, W, true),
    p("createdDateTime", PropertyType::DateTime, R, true),
    p("deletedDateTime", PropertyType::DateTime, R, true),
    p("displayName", PropertyType::String { max: 256 }, R, true),
    p("accountEnabled", PropertyType::Bool, W, true),
    p("appRoleAssignmentRequired", PropertyType::Bool, W, true),
    p("notes", PropertyType::String { max: 1024 }, W, true),
    p("tags", PropertyType::Strings { max: 256 }, W, true),
    p("servicePrincipalType", PropertyType::String { max: 64 }, R, true),
    p("servicePrincipalNames", PropertyType::Strings { max: 256 }, R, true),
    p("appRoles", PropertyType::Special, R, true),
    p("oauth2PermissionScopes", PropertyType::Special, R, true),
    p("passwordCredentials", PropertyType::Special, R, true),
    p("keyCredentials", PropertyType::Special, R, true),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_checked_and_normalised() {
        let user_type = find(USER, "userType").map(|p| check_value(p, &json!("guest")));
        assert_eq!(user_type, Some(Ok(json!("Guest"))));
        let enabled = find(USER, "accountEnabled").map(|p| check_value(p, &json!("yes")).is_err());
        assert_eq!(enabled, Some(true));
        let long = "x".repeat(257);
        let display = find(USER, "displayName").map(|p| check_value(p, &json!(long)).is_err());
        assert_eq!(display, Some(true));
        let ext = find(USER, "onPremisesExtensionAttributes")
            .map(|p| check_value(p, &json!({"extensionAttribute16": "x"})).is_err());
        assert_eq!(ext, Some(true));
        let hire = find(USER, "employeeHireDate").map(|p| check_value(p, &json!("2024-01-02T03:04:05+01:00")));
        assert_eq!(hire, Some(Ok(json!("2024-01-02T02:04:05Z"))));
    }
}
