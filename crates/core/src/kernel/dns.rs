//! The port through which the directory looks up DNS records (domain verification).

use async_trait::async_trait;

/// Looks up DNS records; the server provides one over a real resolver.
#[async_trait]
pub trait Dns: Send + Sync {
    /// The name's TXT records, each its strings joined; none when the name has no TXT record.
    async fn txt(&self, name: &str) -> std::result::Result<Vec<String>, String>;
    /// The exchange names of the name's MX records, without a trailing dot; none when it has no MX record.
    async fn mx(&self, name: &str) -> std::result::Result<Vec<String>, String>;
}
