//! `/domains`: the tenant's domains, added, verified by DNS, made default and removed as in Graph.

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::GraphResult;
use crate::odata::{self, QueryOptions};
use crate::GraphState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_core::tenants::domains::DOMAIN;
use serde_json::{json, Value};

pub fn routes() -> Router<GraphState> {
    Router::new()
        .route("/domains", get(list).post(add))
        .route("/domains/{id}", get(read).patch(update).delete(remove))
        .route("/domains/{id}/verify", post(verify))
        .route("/domains/{id}/verificationDnsRecords", get(records))
}

async fn list(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    options.check_select(DOMAIN, "domain")?;
    let select = options.select.as_ref();
    let domains = state.directory.domains().list(&caller, odata::selection(select)).await?;
    Ok(Json(json!({"@odata.context": odata::context_url("domains", select), "value": domains})))
}

async fn read(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    options: QueryOptions,
) -> GraphResult<Json<Value>> {
    options.check_select(DOMAIN, "domain")?;
    let select = options.select.as_ref();
    let domain = state.directory.domains().get(&caller, &id, odata::selection(select)).await?;
    Ok(Json(odata::entity("domains", select, domain)))
}

async fn add(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    JsonObject(body): JsonObject,
) -> GraphResult<(StatusCode, Json<Value>)> {
    let domain = state.directory.domains().add(&caller, &body).await?;
    Ok((StatusCode::CREATED, Json(odata::entity("domains", None, domain))))
}

async fn verify(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let domain = state.directory.domains().verify(&caller, &id).await?;
    Ok(Json(odata::entity("domains", None, domain)))
}

async fn update(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> GraphResult<StatusCode> {
    state.directory.domains().update(&caller, &id, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<StatusCode> {
    state.directory.domains().delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn records(
    State(state): State<GraphState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> GraphResult<Json<Value>> {
    let mut records = state.directory.domains().verification_records(&caller, &id).await?;
    for record in &mut records {
        let kind = record["recordType"].as_str().unwrap_or_default().to_owned();
        record["@odata.type"] = json!(format!("#microsoft.graph.domainDns{kind}Record"));
    }
    let context = odata::context_url(&format!("domains('{id}')/verificationDnsRecords"), None);
    Ok(Json(json!({"@odata.context": context, "value": records})))
}
