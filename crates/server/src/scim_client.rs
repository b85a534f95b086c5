//! The SCIM client provisioning sends its requests with: HTTPS (or HTTP) with a bearer token, each
//! request bounded by a timeout, the answer read as JSON.

use async_trait::async_trait;
use gatehouse_core::kernel::scim_client::{ScimClient, ScimRequest, ScimResponse};
use serde_json::Value;
use std::time::Duration;

/// The most bytes of an answer read.
const MOST_ANSWER: usize = 1 << 20;

pub struct HttpScimClient {
    http: reqwest::Client,
}

impl HttpScimClient {
    /// A client whose requests each end within `timeout`.
    pub fn new(timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(timeout).connect_timeout(timeout).build()?;
        Ok(Self { http })
    }
}

#[async_trait]
impl ScimClient for HttpScimClient {
    async fn send(&self, request: &ScimRequest) -> Result<ScimResponse, String> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|e| e.to_string())?;
        let mut outgoing = self
            .http
            .request(method, &request.url)
            .bearer_auth(&request.token)
            .header("accept", "application/scim+json");
        if let Some(body) = &request.body {
            outgoing = outgoing.header("content-type", "application/scim+json").body(body.to_string());
        }
        let response = outgoing.send().await.map_err(|e| format!("The app could not be reached: {e}"))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| format!("The app's answer was cut short: {e}"))?;
        let body = match bytes.len() <= MOST_ANSWER {
            true => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            false => Value::Null,
        };
        Ok(ScimResponse { status, body })
    }
}
