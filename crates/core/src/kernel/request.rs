//! The context of the request being served: its correlation ids and the public base URL it came in on.
//!
//! The server's outermost layer sets it for the whole request, so every adapter can put the ids into its
//! error bodies and build absolute links without threading them through every call.

use std::future::Future;

#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// Gatehouse's id for this request, returned in the `request-id` header and logged.
    pub request_id: String,
    /// The id the client sent in `client-request-id`, echoed back.
    pub client_request_id: Option<String>,
    /// `scheme://host[:port]` as the client addressed this server (or as configured).
    pub base_url: String,
}

tokio::task_local! {
    static CURRENT: RequestContext;
}

/// Runs `future` with `context` as the current request's context.
pub async fn scope<F: Future>(context: RequestContext, future: F) -> F::Output {
    CURRENT.scope(context, future).await
}

/// The current request's context; an empty one outside a request.
pub fn current() -> RequestContext {
    CURRENT.try_with(Clone::clone).unwrap_or_default()
}
