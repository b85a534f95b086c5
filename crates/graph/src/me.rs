//! `/me`: the signed-in user, for a delegated token. Graph defines `/me` as `/users/{the token's oid}`, so
//! every user route (and every navigation under it) is served for `/me` by rewriting the path and
//! dispatching it through the same routes, authorized as any other request.

use crate::auth::authenticate;
use crate::error::{GraphError, GraphResult};
use crate::GraphState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, Uri};
use axum::response::Response;
use axum::Router;
use tower::ServiceExt;

#[derive(Clone)]
pub struct MeState {
    pub routes: Router,
    pub graph: GraphState,
}

pub fn routes(state: MeState) -> Router {
    Router::new().route("/me", axum::routing::any(me)).route("/me/{*rest}", axum::routing::any(me)).with_state(state)
}

async fn me(State(state): State<MeState>, request: Request<Body>) -> GraphResult<Response> {
    let caller = authenticate(request.headers(), &state.graph).await?;
    let user = caller
        .user()
        .ok_or_else(|| GraphError::bad_request("/me request is only valid with delegated authentication flow."))?;
    let rest = request.uri().path().strip_prefix("/me").unwrap_or_default();
    let query = request.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    let uri: Uri = format!("/users/{user}{rest}{query}")
        .parse()
        .map_err(|_| GraphError::bad_request("The request URI is not valid."))?;
    // A new request, not the old one re-aimed: the old one carries `/me`'s own path parameters, which the
    // user routes would read as theirs.
    let (parts, body) = request.into_parts();
    let mut rewritten = Request::new(body);
    *rewritten.method_mut() = parts.method;
    *rewritten.uri_mut() = uri;
    *rewritten.version_mut() = parts.version;
    *rewritten.headers_mut() = parts.headers;
    Ok(state.routes.oneshot(rewritten).await.unwrap_or_else(|never| match never {}))
}
