//! `/groups` and the membership relationships of every directory object: members, owners, memberOf,
//! transitive variants, ownedObjects, `$ref` links, type casts, `$count`, and the member functions
//! (`checkMemberGroups`, `getMemberGroups`, `checkMemberObjects`, `getMemberObjects`).

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::{GraphError, GraphResult};
use crate::objects::{self, cast, check_select_for, member_function, object_json, page_json, refs_json};
use crate::odata::{self, Collection, QueryOptions};
use crate::GraphState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use gatehouse_core::directory::objects::Page;
use gatehouse_core::query::{Listing, GROUPS};
use gatehouse_core::schema::GROUP;
use gatehouse_core::store::{ObjectKind, Relation};
use gatehouse_core::Caller;
use serde_json::Value;

/// The collections whose objects have membership relationships.
const SETS: [&str; 4] = ["users", "groups", "contacts", "servicePrincipals"];

pub fn routes() -> Router<GraphState> {
    let mut router = Router::new()
        .route("/groups", get(list).post(create))
        .route("/groups/$count", get(count_groups))
        .route("/groups/evaluateDynamicMembership", axum::routing::post(evaluate_rule))
        .route("/groups/{id}", get(read).patch(update).delete(remove))
        .route("/groups/{id}/{segment}/$ref", get(refs).post(add_ref))
        .route("/groups/{id}/{segment}/{item}/$ref", delete(remove_ref));
    for set in SETS {
        router = router
            .route(
                &format!("/{set}/{{id}}/{{segment}}"),
                get(move |state: State<GraphState>, caller: Authenticated, path: Path<(String, String)>, options| {
                    navigate(state, caller, set, path, None, options)
                })
                .post(
                    move |State(state): State<GraphState>,
                          Authenticated(caller): Authenticated,
                          Path((id, function)): Path<(String, String)>,
                          JsonObject(body): JsonObject| async move {
                        member_function(&state, &caller, &id, &function, &body).await
                    },
                ),
            )
            .route(
                &format!("/{set}/{{id}}/{{segment}}/$count"),
                get(
                    move |State(state): State<GraphState>,
                          Authenticated(caller): Authenticated,
                          Path((id, segment)): Path<(String, String)>,
                          options| async move {
                        count(&state, &caller, set, &id, &segment, None, options).await
                    },
                ),
            )
            .route(
                &format!("/{set}/{{id}}/{{segment}}/{{item}}"),
                get(
                    move |state: State<GraphState>,
                          caller: Authenticated,
                          Path((id, segment, cast)): Path<(String, String, String)>,
                          options| {
                        navigate(state, caller, set, Path((id, segment)), Some(cast), options)
                    },
                ),
            )
            .route(
                &format!("/{set}/{{id}}/{{segment}}/{{item}}/$count"),
                get(
                    move |State(state): State<GraphState>,
                          Authenticated(caller): Authenticated,
                          Path((id, segment, cast)): Path<(String, String, String)>,
                          options| async move {
                        count(&state, &caller, set, &id, &segment, Some(cast), options).await
                    },
                ),
            );
    }
    router
}

/// A relationship of a directory object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Navigation {
    /// A group's direct members or owners.
    Links(Relation),
    TransitiveMembers,
    MemberOf,
    TransitiveMemberOf,
    OwnedObjects,
}

fn navigation(set: &str, segment: &str) -> GraphResult<Navigation> {
    let found = match (set, segment) {
        ("groups", "members") => Some(Navigation::Links(Relation::Member)),
        ("groups", "owners") => Some(Navigation::Links(Relation::Owner)),
        ("groups", "transitiveMembers") => Some(Navigation::TransitiveMembers),
        (_, "memberOf") => Some(Navigation::MemberOf),
        (_, "transitiveMemberOf") => Some(Navigation::TransitiveMemberOf),
        ("users", "ownedObjects") => Some(Navigation::OwnedObjects),
        _ => None,
    };
    found.ok_or_else(|| {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Resource not found for the segment '{segment}'."),
        )
    })
}

/// The kind a cast narrows a relationship to; relationships that hold groups only take the group cast.
fn narrowed(navigation: Navigation, segment: Option<&str>) -> GraphResult<Option<ObjectKind>> {
    let Some(segment) = segment else {
        return Ok(None);
    };
    let (kind, _) = cast(segment)?;
    let holds_any = matches!(navigation, Navigation::Links(_) | Navigation::TransitiveMembers);
    if !holds_any && kind != ObjectKind::Group {
        return Err(GraphError::unsupported_query(format!("'{segment}' is not a type this relationship holds.")));
    }
    Ok(Some(kind))
}

async fn relationship_page(
    state: &GraphState,
    caller: &Caller,
    id: &str,
    navigation: Navigation,
    kind: Option<ObjectKind>,
    listing: Listing,
) -> GraphResult<Page> {
    let directory = &state.directory;
    Ok(match navigation {
        Navigation::Links(relation) => {
            directory.groups().group_links(caller, id, relation, false, kind, listing).await?
        }
        Navigation::TransitiveMembers => {
            directory.groups().group_links(caller, id, Relation::Member, true, kind, listing).await?
        }
        Navigation::MemberOf => directory.groups().member_of(caller, id, Relation::Member, false, listing).await?,
        Navigation::TransitiveMemberOf => {
            directory.groups().member_of(caller, id, Relation::Member, true, listing).await?
        }
        Navigation::OwnedObjects => directory.groups().member_of(caller, id, Relation::Owner, false, listing).await?,
    })
}

/// `GET /{set}/{id}/{relationship}[/{cast}]`.
async fn navigate(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    set: &'static str,
    Path((id, segment)): Path<(String, String)>,
    cast_segment: Option<String>,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    let navigation = navigation(set, &segment)?;
    let kind = narrowed(navigation, cast_segment.as_deref())?;
    let mut options = options;
    check_select_for(&options, kind)?;
    let path = match &cast_segment {
        Some(c) => format!("{set}/{id}/{segment}/{c}"),
        None => format!("{set}/{id}/{segment}"),
    };
    let listing = options.listing(state.directory.paging_key(), &path, objects::relationship(kind))?;
    let page = relationship_page(&state, &caller, &id, navigation, kind, listing).await?;
    let context = match kind {
        Some(kind) => format!("{}s", kind.as_str()),
        None => "directoryObjects".to_owned(),
    };
    Ok(page_json(&state, &path, &context, &options, &page, kind.is_none()))
}

/// `GET /{set}/{id}/{relationship}[/{cast}]/$count`: advanced queries only, as text.
async fn count(
    state: &GraphState,
    caller: &Caller,
    set: &'static str,
    id: &str,
    segment: &str,
    cast_segment: Option<String>,
    mut options: QueryOptions,
) -> GraphResult<Response> {
    let navigation = navigation(set, segment)?;
    let kind = narrowed(navigation, cast_segment.as_deref())?;
    let path = format!("{set}/{id}/{segment}/$count");
    let page = counted(state, &mut options, &path, objects::relationship(kind), |listing| {
        relationship_page(state, caller, id, navigation, kind, listing)
    })
    .await?;
    Ok(text_count(page))
}

/// Runs a list for its count only (`$count` segments), with Graph's rule that they are advanced queries.
pub async fn counted<'a, F, Fut>(
    state: &GraphState,
    options: &mut QueryOptions,
    path: &str,
    collection: Collection,
    run: F,
) -> GraphResult<Page>
where
    F: FnOnce(Listing) -> Fut + 'a,
    Fut: std::future::Future<Output = GraphResult<Page>> + 'a,
{
    if !options.eventual {
        return Err(GraphError::bad_request("$count is not currently supported."));
    }
    options.count = true;
    options.top = 1;
    let listing = options.listing(state.directory.paging_key(), path, collection)?;
    run(listing).await
}

pub fn text_count(page: Page) -> Response {
    let count = page.count.unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], count.to_string()).into_response()
}

/// `GET /groups/{id}/{members|owners}/$ref`.
async fn refs(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path((id, segment)): Path<(String, String)>,
    mut options: QueryOptions,
) -> GraphResult<Json<Value>> {
    let navigation = navigation("groups", &segment)?;
    let path = format!("groups/{id}/{segment}/$ref");
    let listing = options.listing(state.directory.paging_key(), &path, Collection::Plain)?;
    let page = relationship_page(&state, &caller, &id, navigation, None, listing).await?;
    Ok(refs_json(&state, &path, &options, &page))
}

fn link_relation(segment: &str) -> GraphResult<Relation> {
    match navigation("groups", segment)? {
        Navigation::Links(relation) => Ok(relation),
        _ => Err(GraphError::bad_request(format!("References cannot be added to or removed from '{segment}'."))),
    }
}

/// `POST /groups/{id}/{members|owners}/$ref`.
async fn add_ref(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path((id, segment)): Path<(String, String)>,
    JsonObject(body): JsonObject,
) -> GraphResult<StatusCode> {
    let relation = link_relation(&segment)?;
    let member = odata::reference_id(&body)?;
    state.directory.groups().add_link(&caller, &id, relation, &member).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /groups/{id}/{members|owners}/{member}/$ref`.
async fn remove_ref(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path((id, segment, member)): Path<(String, String, String)>,
) -> GraphResult<StatusCode> {
    let relation = link_relation(&segment)?;
    state.directory.groups().remove_link(&caller, &id, relation, &member).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn checked(options: QueryOptions) -> GraphResult<QueryOptions> {
    options.check_select(GROUP, "group")?;
    Ok(options)
}

async fn create(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    JsonObject(body): JsonObject,
) -> GraphResult<(StatusCode, Json<Value>)> {
    let record = state.directory.groups().create(&caller, &body, &odata::binds(&body)?).await?;
    let body = object_json(&record, &QueryOptions::default(), false);
    Ok((StatusCode::CREATED, Json(odata::entity("groups", None, body))))
}

async fn read(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    let options = checked(options)?;
    let record = state.directory.groups().get(&caller, &id).await?;
    let mut body = object_json(&record, &options, false);
    if body.contains_key("membershipRuleProcessingStatus") {
        let status = state.directory.membership().processing_status(&caller, &record).await?;
        body.insert("membershipRuleProcessingStatus".into(), status);
    }
    Ok(Json(odata::entity("groups", options.select.as_ref(), body)))
}

async fn list(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    let mut options = checked(options)?;
    let listing = options.listing(state.directory.paging_key(), "groups", Collection::Queryable(&GROUPS))?;
    let page = state.directory.groups().list(&caller, listing).await?;
    Ok(page_json(&state, "groups", "groups", &options, &page, false))
}

async fn count_groups(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    mut options: QueryOptions,
) -> GraphResult<Response> {
    let page = counted(&state, &mut options, "groups", Collection::Queryable(&GROUPS), |listing| async {
        Ok(state.directory.groups().list(&caller, listing).await?)
    })
    .await?;
    Ok(text_count(page))
}

async fn update(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> GraphResult<StatusCode> {
    state.directory.groups().update(&caller, &id, &body, &odata::binds(&body)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<StatusCode> {
    state.directory.groups().delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /groups/evaluateDynamicMembership`: a rule given in the body, against the named users.
async fn evaluate_rule(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    JsonObject(body): JsonObject,
) -> GraphResult<(StatusCode, Json<Value>)> {
    let rule = body
        .get("membershipRule")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::bad_request("The request body must contain 'membershipRule'."))?
        .to_owned();
    objects::evaluate(&state, &caller, &rule, &body).await
}
