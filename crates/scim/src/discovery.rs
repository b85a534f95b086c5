//! What the service tells about itself (RFC 7644 §4): its configuration, resource types and schemas.

use gatehouse_core::scim::bulk::MOST_OPERATIONS;
use gatehouse_core::scim::groups::GROUP_SCHEMA;
use gatehouse_core::scim::users::{ENTERPRISE_SCHEMA, USER_SCHEMA};
use gatehouse_core::scim::MOST_RESULTS;
use serde_json::{json, Value};

pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

pub fn service_provider_config(base: &str) -> Value {
    use super::MOST_BODY;
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": format!("{base}/scim/v2"),
        "patch": {"supported": true},
        "bulk": {"supported": true, "maxOperations": MOST_OPERATIONS, "maxPayloadSize": MOST_BODY},
        "filter": {"supported": true, "maxResults": MOST_RESULTS},
        "changePassword": {"supported": true},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "An access token from the tenant's token endpoint (client credentials), for an app allowed to write users.",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/scim/v2/ServiceProviderConfig")},
    })
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "A person of the directory",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/scim/v2/ResourceTypes/User")},
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "A security group of the directory",
            "schema": GROUP_SCHEMA,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/scim/v2/ResourceTypes/Group")},
        }),
    ]
}

fn attribute(name: &str, kind: &str, extra: Value) -> Value {
    let mut attribute = json!({
        "name": name, "type": kind, "multiValued": false, "required": false, "caseExact": false,
        "mutability": "readWrite", "returned": "default", "uniqueness": "none",
    });
    if let (Value::Object(out), Value::Object(extra)) = (&mut attribute, extra) {
        out.extend(extra);
    }
    attribute
}

/// A complex attribute of string sub-attributes; its `type` takes the values `kinds`. (The directory keeps
/// one address of each kind, so `primary` is not among them: it is accepted and means nothing.)
fn complex(name: &str, multi: bool, fields: &[&str], kinds: &[&str]) -> Value {
    let sub: Vec<Value> = fields
        .iter()
        .map(|field| match *field {
            "type" => attribute(field, "string", json!({"canonicalValues": kinds})),
            _ => attribute(field, "string", json!({})),
        })
        .collect();
    attribute(name, "complex", json!({"multiValued": multi, "subAttributes": sub}))
}

pub fn schemas(base: &str) -> Vec<Value> {
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "User Account",
        "attributes": [
            attribute("userName", "string", json!({"required": true, "uniqueness": "server"})),
            attribute("externalId", "string", json!({})),
            attribute("displayName", "string", json!({"required": true})),
            attribute("title", "string", json!({})),
            attribute("preferredLanguage", "string", json!({})),
            attribute("active", "boolean", json!({"required": true})),
            attribute("password", "string", json!({"mutability": "writeOnly", "returned": "never"})),
            complex("name", false, &["givenName", "familyName"], &[]),
            complex("emails", true, &["value", "type"], &["work"]),
            complex("phoneNumbers", true, &["value", "type"], &["work", "mobile"]),
            complex("addresses", true, &["type", "streetAddress", "locality", "region", "postalCode", "country"], &["work"]),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/scim/v2/Schemas/{USER_SCHEMA}")},
    });
    let enterprise = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": ENTERPRISE_SCHEMA,
        "name": "EnterpriseUser",
        "description": "Enterprise User",
        "attributes": [attribute("department", "string", json!({})), attribute("organization", "string", json!({}))],
        "meta": {"resourceType": "Schema", "location": format!("{base}/scim/v2/Schemas/{ENTERPRISE_SCHEMA}")},
    });
    let member = ["value", "type", "$ref"].map(|field| match field {
        "type" => attribute(field, "string", json!({"canonicalValues": ["User", "Group"], "mutability": "immutable"})),
        "$ref" => {
            attribute(field, "reference", json!({"referenceTypes": ["User", "Group"], "mutability": "immutable"}))
        }
        _ => attribute(field, "string", json!({"mutability": "immutable"})),
    });
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": GROUP_SCHEMA,
        "name": "Group",
        "description": "Group",
        "attributes": [
            attribute("displayName", "string", json!({"required": true})),
            attribute("externalId", "string", json!({})),
            attribute("members", "complex", json!({"multiValued": true, "subAttributes": member})),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/scim/v2/Schemas/{GROUP_SCHEMA}")},
    });
    vec![user, enterprise, group]
}
