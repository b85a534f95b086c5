//! Directory objects of every kind as Graph shows them, for collections that mix kinds (members,
//! memberOf, deleted items) and for the member functions every kind shares.

use crate::error::{GraphError, GraphResult};
use crate::odata::{self, Collection, QueryOptions};
use crate::GraphState;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_core::applications::object_properties;
use gatehouse_core::contacts::contact_properties;
use gatehouse_core::directory::objects::Page;
use gatehouse_core::groups::group_properties;
use gatehouse_core::query::{self, Resource};
use gatehouse_core::schema::{Property, Selection, CONTACT, GROUP, USER};
use gatehouse_core::schema::{APPLICATION, SERVICE_PRINCIPAL};
use gatehouse_core::store::{ObjectKind, ObjectRecord};
use gatehouse_core::users::user_properties;
use gatehouse_core::Caller;
use serde_json::{json, Map, Value};

/// The property table of a kind.
pub fn table_of(kind: ObjectKind) -> &'static [Property] {
    match kind {
        ObjectKind::User => USER,
        ObjectKind::Group => GROUP,
        ObjectKind::Contact => CONTACT,
        ObjectKind::Application => APPLICATION,
        ObjectKind::ServicePrincipal => SERVICE_PRINCIPAL,
        ObjectKind::Subscription => &[],
    }
}

/// The properties of any object, by its kind's table.
pub fn properties(record: &ObjectRecord, selection: Selection<'_>) -> Map<String, Value> {
    match record.kind {
        ObjectKind::User => user_properties(record, selection),
        ObjectKind::Group => group_properties(record, selection),
        ObjectKind::Contact => contact_properties(record, selection),
        ObjectKind::Application | ObjectKind::ServicePrincipal => object_properties(record, selection),
        ObjectKind::Subscription => Map::new(),
    }
}

/// An object as Graph shows it, with `@odata.type` first when it appears among objects of other kinds.
pub fn object_json(record: &ObjectRecord, options: &QueryOptions, typed: bool) -> Map<String, Value> {
    let mut body = properties(record, odata::selection(options.select.as_ref()));
    if typed {
        // Keys are kept in order, and `@` sorts before every property name.
        body.insert("@odata.type".into(), json!(format!("#microsoft.graph.{}", record.kind.as_str())));
    }
    body
}

/// The kinds a relationship (members, memberOf, …) can hold.
const RELATED_KINDS: [ObjectKind; 4] =
    [ObjectKind::User, ObjectKind::Group, ObjectKind::Contact, ObjectKind::ServicePrincipal];

/// The type-cast segment of a relationship (`microsoft.graph.user`), as the kind and its vocabulary.
pub fn cast(segment: &str) -> GraphResult<(ObjectKind, &'static Resource)> {
    let name = segment.strip_prefix("microsoft.graph.").or_else(|| segment.strip_prefix("graph."));
    name.and_then(ObjectKind::parse)
        .filter(|kind| RELATED_KINDS.contains(kind))
        .and_then(|kind| query::resource_of(kind).map(|resource| (kind, resource)))
        .ok_or_else(|| {
            GraphError::unsupported_query(format!("'{segment}' is not a type this relationship can be cast to."))
        })
}

/// Checks `$select` for a collection that mixes kinds: each name must be a property of one of them.
pub fn check_mixed_select(options: &QueryOptions) -> GraphResult<()> {
    if let Some(select) = &options.select {
        for name in select {
            if name != "*" && !RELATED_KINDS.iter().any(|k| table_of(*k).iter().any(|p| p.name == name)) {
                return Err(GraphError::bad_request(format!(
                    "Parsing OData Select and Expand failed: Could not find a property named '{name}' on type 'microsoft.graph.directoryObject'."
                )));
            }
        }
    }
    Ok(())
}

/// The `$select` check of a relationship: against the cast's type, or every member kind when uncast.
pub fn check_select_for(options: &QueryOptions, kind: Option<ObjectKind>) -> GraphResult<()> {
    match kind {
        Some(kind) => options.check_select(table_of(kind), kind.as_str()),
        None => check_mixed_select(options),
    }
}

/// The vocabulary a relationship is queried by: the cast's, or what every directory object has.
pub fn relationship(kind: Option<ObjectKind>) -> Collection {
    Collection::Relationship(kind.and_then(query::resource_of).unwrap_or(&query::DIRECTORY_OBJECTS))
}

/// A page of objects as a collection response; typed unless every item is of the cast's kind.
pub fn page_json(
    state: &GraphState,
    path: &str,
    context: &str,
    options: &QueryOptions,
    page: &Page,
    typed: bool,
) -> Json<Value> {
    let items = page.items.iter().map(|r| Value::Object(object_json(r, options, typed))).collect();
    Json(odata::collection(state.directory.paging_key(), path, context, options, page, items))
}

/// A page of references (`…/$ref`): each item's `@odata.id`.
pub fn refs_json(state: &GraphState, path: &str, options: &QueryOptions, page: &Page) -> Json<Value> {
    let base = odata::base_url();
    let items = page.items.iter().map(|r| json!({"@odata.id": format!("{base}/directoryObjects/{}", r.id)})).collect();
    Json(odata::collection(state.directory.paging_key(), path, "directoryObjects/$ref", options, page, items))
}

/// `{"value": [ids]}` as Graph answers the member functions.
pub fn ids_json(ids: impl IntoIterator<Item = uuid::Uuid>) -> Json<Value> {
    let ids: Vec<String> = ids.into_iter().map(|id| id.to_string()).collect();
    Json(json!({
        "@odata.context": format!("{}/$metadata#Collection(Edm.String)", odata::base_url()),
        "value": ids,
    }))
}

/// The body member a member function reads: a list of ids (`groupIds`, `ids`) or a flag.
pub fn id_list(body: &Map<String, Value>, name: &str) -> GraphResult<Vec<String>> {
    let list = body
        .get(name)
        .and_then(Value::as_array)
        .ok_or_else(|| GraphError::bad_request(format!("The request body must contain '{name}', a list of ids.")))?;
    list.iter()
        .map(|id| {
            id.as_str()
                .map(str::to_owned)
                .ok_or_else(|| GraphError::bad_request(format!("'{name}' must list strings.")))
        })
        .collect()
}

pub fn security_only(body: &Map<String, Value>) -> GraphResult<bool> {
    match body.get("securityEnabledOnly") {
        Some(Value::Bool(flag)) => Ok(*flag),
        None | Some(Value::Null) => Ok(false),
        Some(_) => Err(GraphError::bad_request("'securityEnabledOnly' must be a boolean.")),
    }
}

/// Runs a member function for any kind and answers as Graph does.
pub async fn member_function(
    state: &GraphState,
    caller: &Caller,
    id: &str,
    function: &str,
    body: &Map<String, Value>,
) -> GraphResult<(StatusCode, Json<Value>)> {
    let directory = &state.directory;
    let ids = match function {
        "checkMemberGroups" => directory.groups().check_member_groups(caller, id, &id_list(body, "groupIds")?).await?,
        "checkMemberObjects" => directory.groups().check_member_groups(caller, id, &id_list(body, "ids")?).await?,
        "getMemberGroups" | "getMemberObjects" => {
            directory.groups().member_groups(caller, id, security_only(body)?).await?
        }
        "evaluateDynamicMembership" => {
            let rule = directory.membership().group_rule(caller, id).await?;
            return evaluate(state, caller, &rule, body).await;
        }
        other => {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("Resource not found for the segment '{other}'."),
            ))
        }
    };
    Ok((StatusCode::OK, ids_json(ids)))
}

/// `evaluateDynamicMembership` (Graph beta's shape, and Entra's "validate rules"): a rule against one user
/// (`memberId`, answered as one result) or up to 20 (`memberIds`, answered as `value`).
pub async fn evaluate(
    state: &GraphState,
    caller: &Caller,
    rule: &str,
    body: &Map<String, Value>,
) -> GraphResult<(StatusCode, Json<Value>)> {
    let single = body.get("memberId").and_then(Value::as_str).map(str::to_owned);
    let users = match &single {
        Some(id) => vec![id.clone()],
        None => id_list(body, "memberIds")?,
    };
    let mut results = state.directory.membership().evaluate_rule(caller, rule, &users).await?;
    let body = match (single, results.pop()) {
        (Some(_), Some(result)) => result,
        (_, last) => {
            results.extend(last);
            json!({"value": results})
        }
    };
    Ok((StatusCode::OK, Json(body)))
}
