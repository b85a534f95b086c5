//! OData query options, paging tokens and response envelopes.
//!
//! Paging is keyset paging: `$skiptoken` carries the sort key and id of the last object on the page,
//! MAC'd together with the collection and the query it belongs to, so a token is opaque, cannot be forged
//! or replayed against another collection or filter, and stays correct when objects are created or
//! deleted between pages.

use crate::error::{GraphError, GraphResult};
use crate::filter;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gatehouse_core::credentials::secrets::PagingKey;
use gatehouse_core::directory::objects::Page;
use gatehouse_core::filter::{Filter, Op, Test};
use gatehouse_core::groups::Binds;
use gatehouse_core::kernel::request;
use gatehouse_core::query::{self, Listing, Resource, DEFAULT_PAGE, MAX_PAGE};
use gatehouse_core::schema::{self, Property, Selection};
use gatehouse_core::store::Cursor;
use gatehouse_core::store::Relation;
use gatehouse_core::Error;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::json;
use serde_json::{Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// The query options of a read, from its query string and its `ConsistencyLevel` header.
#[derive(Debug, Default)]
pub struct QueryOptions {
    pub top: u32,
    pub select: Option<Vec<String>>,
    pub skiptoken: Option<String>,
    pub filter: Option<String>,
    pub search: Option<String>,
    pub orderby: Option<String>,
    /// `$count=true` was asked for.
    pub count: bool,
    /// `ConsistencyLevel: eventual` was sent.
    pub eventual: bool,
    /// `$expand`.
    pub expand: Option<Expand>,
}

/// The relationships `$expand` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expand {
    Manager,
    MemberOf,
    /// A role assignment's principal.
    Principal,
    /// A role assignment's role definition.
    RoleDefinition,
}

impl Expand {
    fn name(self) -> &'static str {
        match self {
            Expand::Manager => "manager",
            Expand::MemberOf => "memberOf",
            Expand::Principal => "principal",
            Expand::RoleDefinition => "roleDefinition",
        }
    }
}

/// What a list offers to query besides paging.
#[derive(Debug, Clone, Copy)]
pub enum Collection {
    /// Paging only.
    Plain,
    /// `$filter`, `$search` and `$orderby` over the resource's vocabulary.
    Queryable(&'static Resource),
    /// A relationship (members, memberOf, …): the same, but `$filter` and `$orderby` only as advanced
    /// queries, as Graph has it.
    Relationship(&'static Resource),
}

/// Options Gatehouse does not offer yet; refused clearly rather than ignored.
const NOT_YET: &[&str] = &["$skip", "$format"];

const ADVANCED: &str = "is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information";

impl<S: Send + Sync> FromRequestParts<S> for QueryOptions {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Query(raw) = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map_err(|_| GraphError::bad_request("The query string is malformed."))?;
        let mut options = QueryOptions::parse(&raw)?;
        options.eventual = parts
            .headers
            .get("consistencylevel")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"));
        Ok(options)
    }
}

impl QueryOptions {
    pub fn parse(raw: &HashMap<String, String>) -> GraphResult<QueryOptions> {
        let mut options = QueryOptions { top: DEFAULT_PAGE, ..Default::default() };
        for (key, value) in raw {
            let name =
                if key.starts_with('$') { key.to_ascii_lowercase() } else { format!("${}", key.to_ascii_lowercase()) };
            match name.as_str() {
                "$top" => {
                    let top: u32 = value.trim().parse().map_err(|_| {
                        GraphError::bad_request(format!(
                            "Invalid page size specified: '{value}'. Must be between 1 and {MAX_PAGE} inclusive."
                        ))
                    })?;
                    query::check_page_size(top)?;
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
                "$filter" => options.filter = Some(value.clone()),
                "$search" => {
                    // Its words are split at any character that is no letter or digit, a NUL included, so
                    // the core sees the words only: the whole text is checked here.
                    schema::check_text("$search", value)?;
                    options.search = Some(value.clone());
                }
                "$orderby" => options.orderby = Some(value.clone()),
                "$expand" => {
                    options.expand = Some(match value.trim() {
                        "manager" => Expand::Manager,
                        "memberOf" => Expand::MemberOf,
                        "principal" => Expand::Principal,
                        "roleDefinition" => Expand::RoleDefinition,
                        other => {
                            return Err(GraphError::unsupported_query(format!(
                                "Expanding '{other}' is not supported; 'manager', 'memberOf', 'principal' and 'roleDefinition' are."
                            )))
                        }
                    })
                }
                "$count" => {
                    options.count = match value.trim() {
                        "true" => true,
                        "false" => false,
                        other => return Err(GraphError::bad_request(format!("Invalid value '{other}' for $count."))),
                    }
                }
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

    /// What the query options ask of a collection, with Graph's advanced-query rules.
    /// A paging token made in advanced mode puts this request in advanced mode too (its header is not
    /// repeated on follow-up pages), and the next token inherits it from `eventual`.
    pub fn listing(&mut self, key: &PagingKey, path: &str, collection: Collection) -> GraphResult<Listing> {
        if self.expand.is_some() && (self.eventual || self.count || self.search.is_some()) {
            return Err(GraphError::unsupported_query("$expand is not supported with advanced queries."));
        }
        let mut listing = Listing { top: self.top, ..Listing::default() };
        let mut advanced = self.eventual && self.count;
        if let Some(token) = &self.skiptoken {
            let (cursor, advanced_token) = open_skiptoken(key, path, &self.signature(), token)?;
            listing.after = Some(cursor);
            advanced |= advanced_token;
            self.eventual |= advanced_token;
        }
        let eventual = self.eventual;
        let resource = match collection {
            Collection::Queryable(resource) | Collection::Relationship(resource) => resource,
            Collection::Plain if self.filter.is_none() && self.search.is_none() && self.orderby.is_none() => {
                &query::DIRECTORY_OBJECTS
            }
            Collection::Plain => {
                return Err(GraphError::unsupported_query(
                    "$filter, $search and $orderby are not supported on this collection yet.",
                ))
            }
        };
        let filter = self.filter.as_deref().map(|f| filter::parse_filter(resource, f)).transpose()?;
        let relationship = matches!(collection, Collection::Relationship(_));
        let operator = match &filter {
            Some(_) if relationship => Some("filter on a relationship"),
            Some(f) => needs_advanced(f),
            None => None,
        };
        if let Some(operator) = operator {
            if !advanced {
                return Err(GraphError::unsupported_query(format!("Operator '{operator}' {ADVANCED}")));
            }
        }
        let search = match &self.search {
            Some(_) if !eventual => {
                return Err(GraphError::unsupported_query(
                    "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
                ))
            }
            Some(text) => Some(filter::parse_search(resource, text.trim().trim_matches('\''))?),
            None => None,
        };
        if let Some(orderby) = &self.orderby {
            if (filter.is_some() || relationship) && !advanced {
                return Err(GraphError::unsupported_query("Sorting not supported for current query."));
            }
            listing.order = filter::parse_orderby(resource, orderby, advanced)?;
        }
        listing.filter = match (filter, search) {
            (Some(f), Some(s)) => Some(Filter::And(Box::new(f), Box::new(s))),
            (f, s) => f.or(s),
        };
        listing.count = self.count && self.eventual && self.skiptoken.is_none();
        Ok(listing)
    }

    /// What a paging token is bound to besides its collection.
    fn signature(&self) -> String {
        format!(
            "{}|{}|{}",
            self.filter.as_deref().unwrap_or_default(),
            self.search.as_deref().unwrap_or_default(),
            self.orderby.as_deref().unwrap_or_default()
        )
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

/// The properties a response carries, from `$select`.
pub fn selection(select: Option<&Vec<String>>) -> Selection<'_> {
    match select {
        None => Selection::Default,
        Some(names) if names.iter().any(|n| n == "*") => Selection::All,
        Some(names) => Selection::Names(names),
    }
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

/// Seals a page's cursor, bound to its collection and query; `advanced` carries the advanced-query mode to
/// later pages, whose requests (msgraph-sdk's page iterator, for one) do not repeat the header.
fn skiptoken(key: &PagingKey, collection: &str, signature: &str, cursor: &Cursor, advanced: bool) -> String {
    let payload = URL_SAFE_NO_PAD.encode(json!({"k": cursor.keys, "i": cursor.id, "a": advanced}).to_string());
    let mac = key.mac(format!("{collection}|{signature}|{payload}").as_bytes());
    format!("{payload}.{mac}")
}

/// Opens a `$skiptoken`; a token of another collection or query, or a tampered one, is refused.
fn open_skiptoken(key: &PagingKey, collection: &str, signature: &str, token: &str) -> GraphResult<(Cursor, bool)> {
    let invalid = || GraphError::bad_request("The $skiptoken is invalid or belongs to another request.");
    let (payload, mac) = token.split_once('.').ok_or_else(invalid)?;
    if !key.verify_mac(format!("{collection}|{signature}|{payload}").as_bytes(), mac) {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let id = value["i"].as_str().and_then(|i| Uuid::parse_str(i).ok()).ok_or_else(invalid)?;
    let keys = match &value["k"] {
        Value::Array(keys) => keys.iter().map(|k| k.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>(),
        _ => None,
    };
    let cursor = Cursor { keys: keys.ok_or_else(invalid)?, id };
    Ok((cursor, value["a"].as_bool().unwrap_or(false)))
}

fn encode(value: &str) -> String {
    utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
}

/// A collection response with its `@odata.nextLink` when the page is not the last.
pub fn collection(
    key: &PagingKey,
    path: &str,
    context: &str,
    options: &QueryOptions,
    page: &Page,
    items: Vec<Value>,
) -> Value {
    let mut out = Map::new();
    out.insert("@odata.context".into(), Value::String(context_url(context, options.select.as_ref())));
    if let Some(count) = page.count {
        out.insert("@odata.count".into(), json!(count));
    }
    if let Some(cursor) = &page.next {
        let mut link = format!("{}/{path}?$top={}", base_url(), options.top);
        let passed = [
            ("$select", options.select.as_ref().map(|s| s.join(","))),
            ("$expand", options.expand.map(|e| e.name().to_owned())),
            ("$filter", options.filter.clone()),
            ("$search", options.search.clone()),
            ("$orderby", options.orderby.clone()),
        ];
        for (name, value) in passed {
            if let Some(value) = value {
                link.push_str(&format!("&{name}={}", encode(&value)));
            }
        }
        link.push_str(&format!("&$skiptoken={}", skiptoken(key, path, &options.signature(), cursor, options.eventual)));
        out.insert("@odata.nextLink".into(), Value::String(link));
    }
    out.insert("value".into(), Value::Array(items));
    Value::Object(out)
}

/// Whether a query needs Graph's advanced-query mode (`ConsistencyLevel: eventual` with `$count=true`).
pub fn needs_advanced(filter: &Filter) -> Option<&'static str> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => needs_advanced(a).or_else(|| needs_advanced(b)),
        Filter::Not(_) => Some("not"),
        Filter::Property { test, .. } | Filter::Any { test, .. } | Filter::All { test, .. } => match test {
            Test::Compare(Op::Ne, _) => Some("ne"),
            Test::EndsWith(_) => Some("endsWith"),
            _ => None,
        },
        Filter::Word { .. } | Filter::MemberOf(_) | Filter::Referenced { .. } => None,
    }
}

/// The id an `@odata.id` reference names: `…/v1.0/{directoryObjects|users|groups|…}/{id}`.
pub fn reference_id(body: &Map<String, Value>) -> GraphResult<String> {
    let url = body.get("@odata.id").and_then(Value::as_str).ok_or_else(|| {
        GraphError::bad_request("The request body must contain '@odata.id' with the URL of the referenced object.")
    })?;
    url_id(url).ok_or_else(|| GraphError::bad_request(format!("Invalid object identifier '{url}'.")))
}

/// The members and owners a group's create or update binds with `members@odata.bind` and `owners@odata.bind`.
pub fn binds(body: &Map<String, Value>) -> GraphResult<Binds> {
    Ok(Binds { members: bound_ids(body, Relation::Member)?, owners: bound_ids(body, Relation::Owner)? })
}

/// The ids an `…@odata.bind` value names: an array of directory-object URLs.
fn bound_ids(body: &Map<String, Value>, relation: Relation) -> GraphResult<Vec<String>> {
    let key = format!("{}@odata.bind", relation.property());
    let Some(value) = body.get(&key) else {
        return Ok(Vec::new());
    };
    let urls = value.as_array().ok_or_else(|| {
        Error::invalid_property(&key, format!("'{key}' must be a collection of directory object URLs."))
    })?;
    urls.iter()
        .map(|url| {
            url.as_str()
                .and_then(url_id)
                .ok_or_else(|| Error::invalid_property(&key, format!("Invalid object identifier '{url}'.")).into())
        })
        .collect()
}

/// The object id at the end of a directory-object URL (`…/directoryObjects/{id}`, `…/users/{id}`, …) on
/// Graph's host or this server's own.
fn url_id(url: &str) -> Option<String> {
    let ours = format!("{}/v1.0/", request::current().base_url);
    let rest = url.strip_prefix("https://graph.microsoft.com/v1.0/").or_else(|| url.strip_prefix(&ours))?;
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [collection, id]
            if ["directoryObjects", "users", "groups", "contacts", "servicePrincipals"].contains(collection)
                && !id.is_empty() =>
        {
            Some(percent_encoding::percent_decode_str(id).decode_utf8_lossy().into_owned())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_their_object() {
        let id = "2e2f3a2c-9d8b-4f6e-a1b2-c3d4e5f60718";
        for url in [
            format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}"),
            format!("https://graph.microsoft.com/v1.0/users/{id}"),
            format!("https://graph.microsoft.com/v1.0/groups/{id}"),
        ] {
            assert_eq!(url_id(&url).as_deref(), Some(id), "{url}");
        }
        assert_eq!(url_id("https://graph.microsoft.com/v1.0/applications/x"), None);
        assert_eq!(url_id("nonsense"), None);
        assert_eq!(url_id("https://elsewhere.test/v1.0/users/{id}"), None);
        assert_eq!(url_id("https://graph.microsoft.com/v1.0/users/a%40b.test").as_deref(), Some("a@b.test"));
    }
}
