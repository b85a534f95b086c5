//! The port through which provisioning reaches other systems' SCIM services (the apps Gatehouse provisions
//! people into). The server provides one over HTTPS; a node without one provisions nothing.

use async_trait::async_trait;
use serde_json::Value;

/// A request to a SCIM service: its method, its full URL, the bearer token, and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimRequest {
    pub method: &'static str,
    pub url: String,
    pub token: String,
    pub body: Option<Value>,
}

/// The service's answer: its status and its body (`Null` when it had none or it was not JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct ScimResponse {
    pub status: u16,
    pub body: Value,
}

/// Sends SCIM requests.
#[async_trait]
pub trait ScimClient: Send + Sync {
    /// The service's answer, or why none came (refused, timed out, unreadable).
    async fn send(&self, request: &ScimRequest) -> std::result::Result<ScimResponse, String>;
}
