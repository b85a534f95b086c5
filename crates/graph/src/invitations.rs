//! `POST /invitations`: invite a person from outside as a guest (`201` with Graph's `invitation`).

use crate::auth::Authenticated;
use crate::body::JsonObject;
use crate::error::GraphResult;
use crate::odata;
use crate::GraphState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};

pub fn routes() -> Router<GraphState> {
    Router::new().route(
        "/invitations",
        post(|State(state): State<GraphState>, Authenticated(caller): Authenticated, JsonObject(body): JsonObject| async move {
            let invitation = state.directory.invitations().invite(&caller, &body).await?;
            GraphResult::Ok((StatusCode::CREATED, Json(odata::entity("invitations", None, invitation))))
        }),
    )
}
