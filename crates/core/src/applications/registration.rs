//! An application's registration as Entra checks it: its app roles, the API it exposes (delegated scopes,
//! identifier URIs, the access token version, pre-authorized clients), the optional claims of its tokens,
//! and what its service principal mirrors of it.

use crate::kernel::error::{Error, Result};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use uuid::Uuid;

/// The optional claims tokens carry when an application asks for them (`optionalClaims`), each from the
/// user property of the same meaning. Other names are kept as registered and issue nothing.
pub const OPTIONAL_CLAIMS: [(&str, &str); 4] =
    [("email", "mail"), ("upn", "userPrincipalName"), ("family_name", "surname"), ("given_name", "givenName")];

/// Checks and normalises the registration properties of a body (`appRoles`, `api`, `identifierUris`,
/// `optionalClaims`). `before` is the application as it stands: an enabled role or scope must be disabled
/// before it is removed (Entra's rule, so that no token names what no longer exists). `domains` are the
/// tenant's verified domains, the only hosts an `https` identifier URI may name.
pub(super) fn check(
    changes: &mut Map<String, Value>,
    before: Option<&Map<String, Value>>,
    domains: &[String],
) -> Result<()> {
    if let Some(roles) = changes.get_mut("appRoles") {
        *roles = app_roles(roles)?;
    }
    if let Some(api) = changes.get_mut("api") {
        *api = api_settings(api)?;
    }
    if let Some(uris) = changes.get("identifierUris") {
        identifier_uris(uris, domains)?;
    }
    if let Some(claims) = changes.get_mut("optionalClaims") {
        *claims = optional_claims(claims)?;
    }
    if let Some(before) = before {
        let scopes = |doc: &Map<String, Value>| doc.get("api").and_then(|a| a.get("oauth2PermissionScopes")).cloned();
        if changes.contains_key("appRoles") {
            still_defined(before.get("appRoles"), changes.get("appRoles"), "appRoles")?;
        }
        if changes.contains_key("api") {
            still_defined(scopes(before).as_ref(), scopes(changes).as_ref(), "api")?;
        }
    }
    Ok(())
}

/// What an application's service principal shows of it: its app roles, its delegated scopes, and its names
/// (the app id and the identifier URIs).
pub(crate) fn mirrored(application: &Map<String, Value>) -> [(&'static str, Value); 3] {
    let app_id = application.get("appId").cloned().unwrap_or(Value::Null);
    let uris = application.get("identifierUris").and_then(Value::as_array).cloned().unwrap_or_default();
    [
        ("appRoles", application.get("appRoles").cloned().unwrap_or_else(|| json!([]))),
        (
            "oauth2PermissionScopes",
            application.get("api").and_then(|a| a.get("oauth2PermissionScopes")).cloned().unwrap_or_else(|| json!([])),
        ),
        ("servicePrincipalNames", Value::Array(std::iter::once(app_id).chain(uris).collect())),
    ]
}

/// The properties whose change the service principal mirrors.
pub(super) const MIRRORED_FROM: [&str; 3] = ["appRoles", "api", "identifierUris"];

fn wrong(property: &str, what: &str) -> Error {
    Error::invalid_property(property, format!("Invalid value specified for property '{property}': {what}."))
}

/// A role's or scope's `value`: what tokens carry; no spaces, not starting with a dot, at most 120
/// characters.
fn entitlement_value(property: &str, value: &str) -> Result<()> {
    if value.chars().any(char::is_whitespace) || value.starts_with('.') || value.len() > 120 {
        return Err(wrong(property, "a value has no spaces, does not start with '.', and has at most 120 characters"));
    }
    Ok(())
}

/// An application's app roles as given, checked as Entra checks them: each with a GUID `id`, a non-empty
/// `allowedMemberTypes` of `User` and `Application`, a `displayName`, and a `value` (what tokens carry in
/// `roles`) without spaces, ids and values unique; `isEnabled` defaults to true.
fn app_roles(given: &Value) -> Result<Value> {
    let wrong = |what: &str| wrong("appRoles", what);
    let Value::Array(items) = given else { return Err(wrong("expected a list")) };
    let mut ids = HashSet::new();
    let mut values = HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let text = |name: &str| item.get(name).and_then(Value::as_str);
        let id =
            text("id").and_then(|id| Uuid::parse_str(id).ok()).ok_or_else(|| wrong("each role needs a GUID id"))?;
        let types: Vec<&str> = item
            .get("allowedMemberTypes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if types.is_empty() || types.iter().any(|t| !["User", "Application"].contains(t)) {
            return Err(wrong("allowedMemberTypes must name User, Application or both"));
        }
        let display = text("displayName")
            .filter(|d| !d.trim().is_empty())
            .ok_or_else(|| wrong("each role needs a displayName"))?;
        let value = text("value").unwrap_or_default();
        entitlement_value("appRoles", value)?;
        if !ids.insert(id) || (!value.is_empty() && !values.insert(value.to_lowercase())) {
            return Err(wrong("ids and values must be unique"));
        }
        out.push(json!({
            "id": id,
            "allowedMemberTypes": types,
            "displayName": display,
            "description": text("description").unwrap_or(display),
            "isEnabled": item.get("isEnabled").and_then(Value::as_bool).unwrap_or(true),
            "origin": "Application",
            "value": (!value.is_empty()).then_some(value),
        }));
    }
    Ok(Value::Array(out))
}

/// The API an application exposes (`api`): its delegated scopes (each with a GUID `id`, a `value`, a
/// `type` of `User` — users may consent — or `Admin`; ids and values unique), the version of the access
/// tokens it takes (`requestedAccessTokenVersion`: null or 1 — tokens name it by the identifier URI the
/// client asked with — or 2, by its app id), and the clients it pre-authorizes for some of its scopes.
fn api_settings(given: &Value) -> Result<Value> {
    let wrong = |what: &str| wrong("api", what);
    let api = match given {
        Value::Null => return Ok(Value::Null),
        Value::Object(api) => api,
        _ => return Err(wrong("expected an object")),
    };
    const KNOWN: [&str; 5] = [
        "requestedAccessTokenVersion",
        "oauth2PermissionScopes",
        "acceptMappedClaims",
        "knownClientApplications",
        "preAuthorizedApplications",
    ];
    if let Some(unknown) = api.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(wrong(&format!("'{unknown}' is not a property of apiApplication")));
    }
    let version = match api.get("requestedAccessTokenVersion") {
        None | Some(Value::Null) => Value::Null,
        Some(v) if v.as_i64().is_some_and(|v| v == 1 || v == 2) => v.clone(),
        Some(_) => return Err(wrong("requestedAccessTokenVersion is null, 1 or 2")),
    };
    let guid = |value: &Value| value.as_str().and_then(|v| Uuid::parse_str(v).ok());
    let list = |name: &str| match api.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(_) => Err(wrong(&format!("{name} is a list"))),
    };
    let mut ids = HashSet::new();
    let mut values = HashSet::new();
    let mut scopes = Vec::new();
    for item in list("oauth2PermissionScopes")? {
        let text = |name: &str| item.get(name).and_then(Value::as_str);
        let id = item.get("id").and_then(guid).ok_or_else(|| wrong("each scope needs a GUID id"))?;
        let value = text("value").filter(|v| !v.is_empty()).ok_or_else(|| wrong("each scope needs a value"))?;
        entitlement_value("api", value)?;
        let kind = match text("type").unwrap_or("User") {
            t if t.eq_ignore_ascii_case("User") => "User",
            t if t.eq_ignore_ascii_case("Admin") => "Admin",
            _ => return Err(wrong("a scope's type is User or Admin")),
        };
        if !ids.insert(id) || !values.insert(value.to_lowercase()) {
            return Err(wrong("scope ids and values must be unique"));
        }
        let display = text("adminConsentDisplayName").unwrap_or(value);
        scopes.push(json!({
            "id": id,
            "value": value,
            "type": kind,
            "isEnabled": item.get("isEnabled").and_then(Value::as_bool).unwrap_or(true),
            "adminConsentDisplayName": display,
            "adminConsentDescription": text("adminConsentDescription").unwrap_or(display),
            "userConsentDisplayName": text("userConsentDisplayName"),
            "userConsentDescription": text("userConsentDescription"),
            "origin": "Application",
        }));
    }
    let known: Vec<Uuid> = list("knownClientApplications")?
        .iter()
        .map(|v| guid(v).ok_or_else(|| wrong("knownClientApplications are app ids")))
        .collect::<Result<_>>()?;
    let mut authorized = Vec::new();
    for item in list("preAuthorizedApplications")? {
        let app_id =
            item.get("appId").and_then(guid).ok_or_else(|| wrong("a pre-authorized application needs an appId"))?;
        let permissions: Vec<Uuid> = item
            .get("delegatedPermissionIds")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|v| {
                guid(v)
                    .filter(|id| ids.contains(id))
                    .ok_or_else(|| wrong("delegatedPermissionIds name this API's scopes"))
            })
            .collect::<Result<_>>()?;
        authorized.push(json!({"appId": app_id, "delegatedPermissionIds": permissions}));
    }
    let accept_mapped = match api.get("acceptMappedClaims") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Bool(b)) => Value::Bool(*b),
        Some(_) => return Err(wrong("acceptMappedClaims is a boolean")),
    };
    Ok(json!({
        "acceptMappedClaims": accept_mapped,
        "knownClientApplications": known,
        "oauth2PermissionScopes": scopes,
        "preAuthorizedApplications": authorized,
        "requestedAccessTokenVersion": version,
    }))
}

/// Identifier URIs, as Entra allows them in a single tenant: `api://` followed by anything without
/// spaces (`api://{appId}` is the usual one), or an `https` URI on one of the tenant's verified domains;
/// no query, fragment or wildcard, each once.
fn identifier_uris(given: &Value, domains: &[String]) -> Result<()> {
    let mut seen = HashSet::new();
    for uri in given.as_array().into_iter().flatten().filter_map(Value::as_str) {
        let bad = |why: &str| {
            Error::invalid_property(
                "identifierUris",
                format!("Values of identifierUris property must use a verified domain of the organization or its subdomain, or the api:// scheme: '{uri}' {why}."),
            )
        };
        if uri.contains(['?', '#', '*']) || uri.chars().any(char::is_whitespace) {
            return Err(bad("has a query, fragment, wildcard or space"));
        }
        if let Some(rest) = uri.strip_prefix("api://") {
            if rest.trim_matches('/').is_empty() {
                return Err(bad("names nothing after api://"));
            }
        } else {
            let host = uri.strip_prefix("https://").map(|rest| rest.split('/').next().unwrap_or_default());
            let host = host.ok_or_else(|| bad("is neither api:// nor https://"))?.to_lowercase();
            if !domains.iter().any(|d| host == *d || host.ends_with(&format!(".{d}"))) {
                return Err(bad("is not on a verified domain"));
            }
        }
        if !seen.insert(uri.trim_end_matches('/').to_lowercase()) {
            return Err(bad("is listed twice"));
        }
    }
    Ok(())
}

/// The optional claims of an application's tokens (`optionalClaims`): for `idToken`, `accessToken` and
/// `saml2Token`, a list of claims each with a `name` (and `source`, `essential`, `additionalProperties`).
fn optional_claims(given: &Value) -> Result<Value> {
    let wrong = |what: &str| wrong("optionalClaims", what);
    let claims = match given {
        Value::Null => return Ok(Value::Null),
        Value::Object(claims) => claims,
        _ => return Err(wrong("expected an object")),
    };
    let mut out = Map::new();
    for (kind, items) in claims {
        if !["idToken", "accessToken", "saml2Token"].contains(&kind.as_str()) {
            return Err(wrong(&format!("'{kind}' is not a token type")));
        }
        let items = match items {
            Value::Null => Vec::new(),
            Value::Array(items) => items.clone(),
            _ => return Err(wrong("each token type takes a list")),
        };
        let mut listed = Vec::with_capacity(items.len());
        for item in items {
            let name = item.get("name").and_then(Value::as_str).filter(|n| !n.trim().is_empty());
            let name = name.ok_or_else(|| wrong("each optional claim needs a name"))?;
            let additional: Vec<&str> = item
                .get("additionalProperties")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            listed.push(json!({
                "name": name,
                "source": item.get("source").and_then(Value::as_str),
                "essential": item.get("essential").and_then(Value::as_bool).unwrap_or(false),
                "additionalProperties": additional,
            }));
        }
        out.insert(kind.clone(), Value::Array(listed));
    }
    for kind in ["idToken", "accessToken", "saml2Token"] {
        out.entry(kind).or_insert_with(|| json!([]));
    }
    Ok(Value::Object(out))
}

/// Entra's rule: an enabled role or scope is disabled (and saved) before it may be removed or changed.
fn still_defined(before: Option<&Value>, after: Option<&Value>, property: &str) -> Result<()> {
    let entries = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
    let after = entries(after);
    for old in entries(before).iter().filter(|e| e.get("isEnabled") != Some(&Value::Bool(false))) {
        let same = |new: &&Value| new.get("id") == old.get("id");
        let kept = after.iter().find(same).is_some_and(|new| new.get("value") == old.get("value"));
        if !kept {
            return Err(Error::invalid_property(
                property,
                "CannotDeleteOrUpdateEnabledEntitlement: Permission (scope or role) cannot be deleted or updated unless disabled first.",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn api_scopes_are_checked_and_an_enabled_one_is_disabled_before_removal() -> Result<()> {
        let scope = |enabled: bool| {
            json!({"api": {"oauth2PermissionScopes": [
                {"id": "11111111-1111-1111-1111-111111111111", "value": "Files.Read", "isEnabled": enabled}
            ]}})
        };
        let mut first = changes(scope(true));
        check(&mut first, None, &[])?;
        assert_eq!(first["api"]["oauth2PermissionScopes"][0]["type"], "User");
        let mut removed = changes(json!({"api": {"oauth2PermissionScopes": []}}));
        assert!(check(&mut removed, Some(&first), &[]).is_err(), "an enabled scope cannot go");
        let mut disabled = changes(scope(false));
        check(&mut disabled, Some(&first), &[])?;
        let mut removed = changes(json!({"api": {"oauth2PermissionScopes": []}}));
        check(&mut removed, Some(&disabled), &[])?;
        for bad in [
            json!({"api": {"oauth2PermissionScopes": [{"id": "x", "value": "A"}]}}),
            json!({"api": {"oauth2PermissionScopes": [{"id": "11111111-1111-1111-1111-111111111111", "value": "A B"}]}}),
            json!({"api": {"requestedAccessTokenVersion": 3}}),
            json!({"api": {"preAuthorizedApplications": [{"appId": "11111111-1111-1111-1111-111111111111", "delegatedPermissionIds": ["22222222-2222-2222-2222-222222222222"]}]}}),
            json!({"optionalClaims": {"idToken": [{"essential": true}]}}),
        ] {
            assert!(check(&mut changes(bad.clone()), None, &[]).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn identifier_uris_use_api_or_a_verified_domain() {
        let domains = vec!["contoso.test".to_owned()];
        let check_uris = |uris: Value| identifier_uris(&uris, &domains).is_ok();
        assert!(check_uris(json!(["api://1234", "https://contoso.test/files", "https://api.contoso.test"])));
        for bad in ["https://evil.test/x", "http://contoso.test/x", "api://", "api://a?b", "api://x x"] {
            assert!(!check_uris(json!([bad])), "{bad}");
        }
        assert!(!check_uris(json!(["api://a", "API://A/"])), "listed twice");
    }
}
