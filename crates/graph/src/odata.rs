//! OData query options, paging tokens and response envelopes.
//!
//! Paging is keyset paging: `$skiptoken` carries the id of the last object on the page, MAC'd together
//! with the collection it belongs to, so a token is opaque, cannot be forged or replayed against another
//! collection, and stays correct when objects are created or deleted between pages.

use crate::error::{GraphError, GraphResult};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gatehouse_core::request;
use gatehouse_core::schema::Property;
use gatehouse_core::secrets::MasterKey;
use gatehouse_core::users::Page;
use serde_json::{Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

pub const DEFAULT_TOP: u32 = 100;
pub const MAX_TOP: u32 = 999;

/// The query options of a read.
#[derive(Debug, Default)]
pub struct QueryOptions {
    pub top: u32,
    pub select: Option<Vec<String>>,
    pub skiptoken: Option<String>,
}

/// Options that belong to the next issue's query language; refused clearly until then.
const NOT_YET: &[&str] = &["$filter", "$orderby", "$search", "$count", "$expand", "$skip", "$format"];

impl QueryOptions {
    pub fn parse(raw: &HashMap<String, String>) -> GraphResult<QueryOptions> {
        let mut options = QueryOptions { top: DEFAULT_TOP, ..Default::default() };
        for (key, value) in raw {
            let name =
                if key.starts_with('$') { key.to_ascii_lowercase() } else { format!("${}", key.to_ascii_lowercase()) };
            match name.as_str() {
                "$top" => {
                    let top: u32 =
                        value.trim().parse().ok().filter(|t| (1..=MAX_TOP).contains(t)).ok_or_else(|| {
                            GraphError::bad_request(format!(
                                "Invalid page size specified: '{value}'. Must be between 1 and {MAX_TOP} inclusive."
                            ))
                        })?;
                    options.top = top;
                }
                "$select" => {
                    let list: Vec<String> =
                        value.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
                    if list.is_empty() {
                        return Err(GraphError::bad_request("$select must name at least one property."));
                    }
                    options.select = Some(list);
                }
                "$skiptoken" => options.skiptoken = Some(value.clone()),
                other if NOT_YET.contains(&other) => {
                    return Err(GraphError::unsupported_query(format!(
                        "The query option '{other}' is not supported on this resource yet."
                    )))
                }
                other if key.starts_with('$') => {
                    return Err(GraphError::bad_request(format!("The query parameter '{other}' is not supported.")))
                }
                _ => {}
            }
        }
        Ok(options)
    }

    /// Checks `$select` against a property table.
    pub fn check_select(&self, table: &[Property], type_name: &str) -> GraphResult<()> {
        if let Some(select) = &self.select {
            for name in select {
                if name != "*" && !table.iter().any(|p| p.name == name) {
                    return Err(GraphError::bad_request(format!(
                        "Parsing OData Select and Expand failed: Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'."
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Picks the selected properties (or the default ones) out of all of an object's properties.
pub fn project(all: &Map<String, Value>, table: &[Property], select: Option<&Vec<String>>) -> Map<String, Value> {
    let mut out = Map::new();
    match select {
        Some(names) if !names.iter().any(|n| n == "*") => {
            for name in names {
                if let Some(value) = all.get(name) {
                    out.insert(name.clone(), value.clone());
                }
            }
        }
        Some(_) => out = all.clone(),
        None => {
            for property in table.iter().filter(|p| p.default) {
                if let Some(value) = all.get(property.name) {
                    out.insert(property.name.to_owned(), value.clone());
                }
            }
        }
    }
    out
}

pub fn base_url() -> String {
    format!("{}/v1.0", request::current().base_url)
}

/// `{base}/v1.0/$metadata#{context}`, with the selection appended as Graph does.
pub fn context_url(context: &str, select: Option<&Vec<String>>) -> String {
    match select {
        Some(names) => {
            let (set, rest) =
                context.split_once('/').map(|(a, b)| (a, format!("/{b}"))).unwrap_or((context, String::new()));
            format!("{}/$metadata#{set}({}){rest}", base_url(), names.join(","))
        }
        None => format!("{}/$metadata#{context}", base_url()),
    }
}

pub fn entity(context: &str, select: Option<&Vec<String>>, body: Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert("@odata.context".into(), Value::String(context_url(&format!("{context}/$entity"), select)));
    out.extend(body);
    Value::Object(out)
}

/// Seals the cursor of a page for a collection path.
pub fn skiptoken(key: &MasterKey, collection: &str, after: Uuid) -> String {
    let payload = format!("{collection}|{after}");
    format!("{}.{}", URL_SAFE_NO_PAD.encode(after.as_bytes()), key.mac(payload.as_bytes()))
}

/// Opens a `$skiptoken`; a token of another collection or a tampered one is refused.
pub fn open_skiptoken(key: &MasterKey, collection: &str, token: &str) -> GraphResult<Uuid> {
    let invalid = || GraphError::bad_request("The $skiptoken is invalid or belongs to another request.");
    let (id, mac) = token.split_once('.').ok_or_else(invalid)?;
    let bytes = URL_SAFE_NO_PAD.decode(id).map_err(|_| invalid())?;
    let after = Uuid::from_slice(&bytes).map_err(|_| invalid())?;
    if !key.verify_mac(format!("{collection}|{after}").as_bytes(), mac) {
        return Err(invalid());
    }
    Ok(after)
}

/// A collection response with its `@odata.nextLink` when the page is not the last.
pub fn collection(
    key: &MasterKey,
    path: &str,
    context: &str,
    options: &QueryOptions,
    page: &Page,
    items: Vec<Value>,
) -> Value {
    let mut out = Map::new();
    out.insert("@odata.context".into(), Value::String(context_url(context, options.select.as_ref())));
    if let Some(after) = page.next {
        let mut link = format!("{}/{path}?$top={}", base_url(), options.top);
        if let Some(select) = &options.select {
            link.push_str(&format!("&$select={}", select.join(",")));
        }
        link.push_str(&format!("&$skiptoken={}", skiptoken(key, path, after)));
        out.insert("@odata.nextLink".into(), Value::String(link));
    }
    out.insert("value".into(), Value::Array(items));
    Value::Object(out)
}

/// The id an `@odata.id` reference names: `…/v1.0/{users|directoryObjects}/{id}` on Graph's host or ours.
pub fn reference_id(body: &Map<String, Value>) -> GraphResult<String> {
    let url = body.get("@odata.id").and_then(Value::as_str).ok_or_else(|| {
        GraphError::bad_request("The request body must contain '@odata.id' with the URL of the referenced object.")
    })?;
    let ours = format!("{}/", base_url());
    let rest = url
        .strip_prefix("https://graph.microsoft.com/v1.0/")
        .or_else(|| url.strip_prefix(&ours))
        .ok_or_else(|| GraphError::bad_request(format!("Invalid object identifier '{url}'.")))?;
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [collection, id] if ["users", "directoryObjects"].contains(collection) && !id.is_empty() => {
            Ok(percent_encoding::percent_decode_str(id).decode_utf8_lossy().into_owned())
        }
        _ => Err(GraphError::bad_request(format!("Invalid object identifier '{url}'."))),
    }
}
