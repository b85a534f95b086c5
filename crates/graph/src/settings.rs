//! Directory settings: `/groupSettings` and `/groupSettingTemplates` (Graph v1.0's names), and the older
//! `/settings` and `/directorySettingTemplates` that beta and tools still call, for the same settings.

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::GraphResult;
use crate::odata::{self, context_url};
use crate::GraphState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_core::tenants::settings::template_json;
use serde_json::{json, Value};

pub fn routes() -> Router<GraphState> {
    let mut router = Router::new();
    for (settings, templates) in [("groupSettings", "groupSettingTemplates"), ("settings", "directorySettingTemplates")]
    {
        router =
            router
                .route(
                    &format!("/{templates}"),
                    get(move |State(state): State<GraphState>, Authenticated(caller): Authenticated| async move {
                        let listed = state.directory.directory_settings().templates(&caller)?;
                        let value: Vec<Value> = listed.iter().map(|t| Value::Object(template_json(t))).collect();
                        GraphResult::Ok(Json(json!({"@odata.context": context_url(templates, None), "value": value})))
                    }),
                )
                .route(
                    &format!("/{templates}/{{id}}"),
                    get(
                        move |State(state): State<GraphState>,
                              Authenticated(caller): Authenticated,
                              Path(id): Path<String>| async move {
                            let template = state.directory.directory_settings().template(&caller, &id)?;
                            GraphResult::Ok(Json(odata::entity(templates, None, template_json(template))))
                        },
                    ),
                )
                .route(
                    &format!("/{settings}"),
                    get(move |State(state): State<GraphState>, Authenticated(caller): Authenticated| async move {
                        let value: Vec<Value> = state
                            .directory
                            .directory_settings()
                            .list(&caller)
                            .await?
                            .into_iter()
                            .map(Value::Object)
                            .collect();
                        GraphResult::Ok(Json(json!({"@odata.context": context_url(settings, None), "value": value})))
                    })
                    .post(
                        move |State(state): State<GraphState>,
                              Authenticated(caller): Authenticated,
                              JsonObject(body): JsonObject| async move {
                            let setting = state.directory.directory_settings().create(&caller, &body).await?;
                            GraphResult::Ok((StatusCode::CREATED, Json(odata::entity(settings, None, setting))))
                        },
                    ),
                )
                .route(
                    &format!("/{settings}/{{id}}"),
                    get(
                        move |State(state): State<GraphState>,
                              Authenticated(caller): Authenticated,
                              Path(id): Path<String>| async move {
                            let setting = state.directory.directory_settings().get(&caller, &id).await?;
                            GraphResult::Ok(Json(odata::entity(settings, None, setting)))
                        },
                    )
                    .patch(
                        |State(state): State<GraphState>,
                         Authenticated(caller): Authenticated,
                         Path(id): Path<String>,
                         JsonObject(body): JsonObject| async move {
                            state.directory.directory_settings().update(&caller, &id, &body).await?;
                            GraphResult::Ok(StatusCode::NO_CONTENT)
                        },
                    )
                    .delete(
                        |State(state): State<GraphState>,
                         Authenticated(caller): Authenticated,
                         Path(id): Path<String>| async move {
                            state.directory.directory_settings().delete(&caller, &id).await?;
                            GraphResult::Ok(StatusCode::NO_CONTENT)
                        },
                    ),
                );
    }
    router
}
