//! The DNS lookups of domain verification, over a real resolver: the system's (`/etc/resolv.conf`), or the
//! name server given with `--dns-server`. Nothing is cached, so a record just published is seen at once.

use async_trait::async_trait;
use gatehouse_core::kernel::dns::Dns;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

struct Lookups(TokioResolver);

/// A resolver asking `server` (UDP, then TCP), or the system's name servers.
pub fn resolver(server: Option<SocketAddr>) -> anyhow::Result<Arc<dyn Dns>> {
    let mut builder = match server {
        Some(address) => {
            let mut name_server = NameServerConfig::udp_and_tcp(address.ip());
            for connection in &mut name_server.connections {
                connection.port = address.port();
            }
            Resolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![name_server]),
                TokioRuntimeProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio()
            .map_err(|e| anyhow::anyhow!("cannot read the system's DNS configuration: {e}"))?,
    };
    let options = builder.options_mut();
    options.cache_size = 0;
    options.timeout = Duration::from_secs(5);
    options.attempts = 2;
    let resolver = builder.build().map_err(|e| anyhow::anyhow!("cannot make a DNS resolver: {e}"))?;
    Ok(Arc::new(Lookups(resolver)))
}

impl Lookups {
    /// The records of a type at a fully qualified name; none when the name has none.
    async fn records(&self, name: &str, kind: RecordType) -> Result<Vec<RData>, String> {
        match self.0.lookup(format!("{}.", name.trim_end_matches('.')), kind).await {
            Ok(lookup) => Ok(lookup.answers().iter().map(|r| r.data.clone()).collect()),
            Err(error) if error.is_no_records_found() => Ok(Vec::new()),
            Err(error) => Err(error.to_string()),
        }
    }
}

#[async_trait]
impl Dns for Lookups {
    async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
        let records = self.records(name, RecordType::TXT).await?;
        Ok(records
            .iter()
            .filter_map(|data| match data {
                RData::TXT(txt) => Some(txt.txt_data.iter().map(|part| String::from_utf8_lossy(part)).collect()),
                _ => None,
            })
            .collect())
    }

    async fn mx(&self, name: &str) -> Result<Vec<String>, String> {
        let records = self.records(name, RecordType::MX).await?;
        Ok(records
            .iter()
            .filter_map(|data| match data {
                RData::MX(mx) => Some(mx.exchange.to_string().trim_end_matches('.').to_owned()),
                _ => None,
            })
            .collect())
    }
}
