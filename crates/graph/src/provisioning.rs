//! Provisioning into SaaS apps, in Graph's `synchronization` shapes: `servicePrincipals/{id}/synchronization/
//! jobs` (create, list, read with `status`, `start`, `pause`, `restart`, delete), `…/synchronization/secrets`
//! (the app's SCIM address and token), and the provisioning log, `/auditLogs/provisioning` (`$filter` on
//! `jobId`, `sourceIdentity/id` and `provisioningStatusInfo/status`, `eq` joined by `and`; `$top`).

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::{GraphError, GraphResult};
use crate::odata::{context_url, entity};
use crate::GraphState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use gatehouse_core::provisioning::job::parse_job_id;
use gatehouse_core::provisioning::{Control, MOST_LOG_ENTRIES};
use gatehouse_core::store::ProvisioningLogQuery;
use serde_json::{json, Value};
use std::collections::HashMap;
use uuid::Uuid;

const JOB: &str = "servicePrincipals('{id}')/synchronization/jobs";

pub fn routes() -> Router<GraphState> {
    let control = |action: Control| {
        post(
            move |State(state): State<GraphState>,
                  Authenticated(caller): Authenticated,
                  Path((id, job)): Path<(String, String)>| async move {
                state.directory.provisioning().control(&caller, &id, &job, action).await?;
                GraphResult::Ok(StatusCode::NO_CONTENT)
            },
        )
    };
    Router::new()
        .route(
            "/servicePrincipals/{id}/synchronization/jobs",
            get(|State(state): State<GraphState>, Authenticated(caller): Authenticated, Path(id): Path<String>| async move {
                let jobs = state.directory.provisioning().jobs(&caller, &id).await?;
                let value: Vec<Value> = jobs.into_iter().map(Value::Object).collect();
                GraphResult::Ok(Json(json!({"@odata.context": context_url(JOB, None), "value": value})))
            })
            .post(
                |State(state): State<GraphState>,
                 Authenticated(caller): Authenticated,
                 Path(id): Path<String>,
                 JsonObject(body): JsonObject| async move {
                    let job = state.directory.provisioning().create_job(&caller, &id, &body).await?;
                    GraphResult::Ok((StatusCode::CREATED, Json(entity(JOB, None, job))))
                },
            ),
        )
        .route(
            "/servicePrincipals/{id}/synchronization/jobs/{job}",
            get(
                |State(state): State<GraphState>,
                 Authenticated(caller): Authenticated,
                 Path((id, job)): Path<(String, String)>| async move {
                    let job = state.directory.provisioning().get_job(&caller, &id, &job).await?;
                    GraphResult::Ok(Json(entity(JOB, None, job)))
                },
            )
            .delete(
                |State(state): State<GraphState>,
                 Authenticated(caller): Authenticated,
                 Path((id, job)): Path<(String, String)>| async move {
                    state.directory.provisioning().delete_job(&caller, &id, &job).await?;
                    GraphResult::Ok(StatusCode::NO_CONTENT)
                },
            ),
        )
        .route("/servicePrincipals/{id}/synchronization/jobs/{job}/start", control(Control::Start))
        .route("/servicePrincipals/{id}/synchronization/jobs/{job}/pause", control(Control::Pause))
        .route("/servicePrincipals/{id}/synchronization/jobs/{job}/restart", control(Control::Restart))
        .route(
            "/servicePrincipals/{id}/synchronization/jobs/{job}/provisionOnDemand",
            post(
                |State(state): State<GraphState>,
                 Authenticated(caller): Authenticated,
                 Path((id, job)): Path<(String, String)>,
                 JsonObject(body): JsonObject| async move {
                    let pair = state.directory.provisioning().provision_on_demand(&caller, &id, &job, &body).await?;
                    GraphResult::Ok(Json(entity("microsoft.graph.stringKeyStringValuePair", None, pair)))
                },
            ),
        )
        .route(
            "/servicePrincipals/{id}/synchronization/jobs/{job}/schema",
            get(
                |State(state): State<GraphState>,
                 Authenticated(caller): Authenticated,
                 Path((id, job)): Path<(String, String)>| async move {
                    let schema = state.directory.provisioning().schema(&caller, &id, &job).await?;
                    GraphResult::Ok(Json(entity("microsoft.graph.synchronizationSchema", None, schema)))
                },
            )
            .put(
                |State(state): State<GraphState>,
                 Authenticated(caller): Authenticated,
                 Path((id, job)): Path<(String, String)>,
                 JsonObject(body): JsonObject| async move {
                    state.directory.provisioning().set_schema(&caller, &id, &job, &body).await?;
                    GraphResult::Ok(StatusCode::NO_CONTENT)
                },
            ),
        )
        .route(
            "/servicePrincipals/{id}/synchronization/secrets",
            put(
                |State(state): State<GraphState>,
                 Authenticated(caller): Authenticated,
                 Path(id): Path<String>,
                 JsonObject(body): JsonObject| async move {
                    state.directory.provisioning().set_secrets(&caller, &id, &body).await?;
                    GraphResult::Ok(StatusCode::NO_CONTENT)
                },
            ),
        )
        .route(
            "/auditLogs/provisioning",
            get(
                |State(state): State<GraphState>,
                 Authenticated(caller): Authenticated,
                 Query(raw): Query<HashMap<String, String>>| async move {
                    let query = log_query(&raw)?;
                    let entries = state.directory.provisioning().log(&caller, &query).await?;
                    let value: Vec<Value> = entries.into_iter().map(Value::Object).collect();
                    GraphResult::Ok(Json(json!({"@odata.context": context_url("auditLogs/provisioning", None), "value": value})))
                },
            ),
        )
}

/// The log's query from `$filter` and `$top`.
fn log_query(raw: &HashMap<String, String>) -> GraphResult<ProvisioningLogQuery> {
    let mut query = ProvisioningLogQuery { limit: MOST_LOG_ENTRIES, ..ProvisioningLogQuery::default() };
    if let Some(top) = raw.get("$top") {
        let top = top.parse::<u32>().ok().filter(|n| (1..=MOST_LOG_ENTRIES).contains(n));
        query.limit =
            top.ok_or_else(|| GraphError::bad_request(format!("$top is a number from 1 to {MOST_LOG_ENTRIES}.")))?;
    }
    let Some(filter) = raw.get("$filter") else { return Ok(query) };
    for clause in filter.split(" and ") {
        let unsupported = || GraphError::bad_request(format!("Invalid filter clause '{}'.", clause.trim()));
        let (field, value) = clause.trim().split_once(" eq ").ok_or_else(unsupported)?;
        let value = value.trim().strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).ok_or_else(unsupported)?;
        let id = || Uuid::parse_str(value).map_err(|_| unsupported());
        match field.trim() {
            "jobId" => query.job = Some(parse_job_id(value).ok_or_else(unsupported)?),
            "sourceIdentity/id" => query.object = Some(id()?),
            "provisioningStatusInfo/status" => query.status = Some(value.to_owned()),
            _ => return Err(unsupported()),
        }
    }
    Ok(query)
}
