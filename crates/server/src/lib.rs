//! The `gatehouse` server: configuration, wiring of store, core and adapters, the HTTP(S) listener,
//! operational endpoints and background processors.
//!
//! Layout:
//! - [`config`]: settings from flags, `GATEHOUSE_*` environment variables and a TOML file, in that order.
//! - [`app`]: the router: Graph under `/v1.0`, the identity platform under `/{tenant}/…`, and the
//!   operational endpoints, wrapped in the request-context, logging, metrics and panic layers.
//! - [`metrics`]: Prometheus counters and latency histograms by route and status.
//! - [`bootstrap`]: the first tenant on an empty store, and `tenant create`.
//! - [`certs`]: `dev-cert`, a local CA and a localhost certificate for trying HTTPS.
//! - [`connections`]: the listener, with its header and idle timeouts and its connection limit.
//! - [`dns`]: the DNS lookups of domain verification.
//! - [`outbox`]: outgoing email as files in a folder, where no SMTP relay is configured; [`smtp`]: to a
//!   relay.
//!
//! [`serve`] takes an already-bound listener and a shutdown future, so tests bind port 0 and stop the
//! server cleanly; in-flight requests finish before it returns.

pub mod app;
pub mod bootstrap;
pub mod certs;
pub mod config;
pub mod connections;
pub mod dns;
pub mod import;
pub mod metrics;
pub mod outbox;
pub mod remote;
pub mod scim_client;
pub mod smtp;

pub use connections::{serve, tls_config, Limits};
use gatehouse_core::processors;
use gatehouse_core::{Clock, Directory, DirectoryConfig, SystemClock};
use gatehouse_store::SqlStore;
use std::sync::Arc;
use std::time::Duration;

/// Opens the store, checks the master key against it, and builds the directory.
pub async fn open_directory(settings: &config::Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Directory>> {
    let master = settings.master_key()?;
    if settings.makes_master_key || settings.database_url.starts_with("sqlite:") {
        config::create_data_dir(&settings.data_dir)?;
    }
    let store = SqlStore::connect_with(&settings.database_url, settings.store_options).await.map_err(|e| {
        anyhow::anyhow!("cannot open the database {}: {e}", gatehouse_store::redact(&settings.database_url))
    })?;
    let directory_config = DirectoryConfig {
        hash_params: settings.hash_params,
        access_token_lifetime: settings.access_token_lifetime,
        sign_in_retention: chrono::Duration::days(settings.sign_in_log_days),
        mail_attempt_timeout: chrono::Duration::from_std(settings.mail_attempt_timeout)?,
        ..DirectoryConfig::default()
    };
    let mailer: Arc<dyn gatehouse_core::kernel::mail::Mailer> = match &settings.smtp_url {
        Some(url) => Arc::new(smtp::SmtpMailer::new(
            url,
            &settings.mail_from,
            settings.mail_attempt_timeout / 2,
            settings.smtp_ca_file.as_deref(),
        )?),
        None => Arc::new(outbox::FileOutbox::new(settings.outbox.clone())),
    };
    let mut directory = Directory::new(Arc::new(store), clock, master, directory_config)
        .with_mailer(mailer)
        .with_scim_client(Arc::new(scim_client::HttpScimClient::new(PROVISIONING_TIMEOUT)?));
    match dns::resolver(settings.dns_server) {
        Ok(resolver) => directory = directory.with_dns(resolver),
        Err(error) if settings.dns_server.is_none() => {
            tracing::warn!(%error, "no DNS resolver: domains can be verified only from the command line with --skip-dns")
        }
        Err(error) => return Err(error),
    }
    let directory = Arc::new(directory);
    check_master_key(&directory).await?;
    Ok(directory)
}

/// Refuses a master key that does not open the first tenant's signing key, sealed with the deployment's key
/// when the first start made it. Checked when the store opens and again after the first start's tenant is
/// made or joined, so a node whose key lost the race to another node's refuses to start too.
pub async fn check_master_key(directory: &Directory) -> anyhow::Result<()> {
    if let Some(tenant) = directory.tenants().list().await.map_err(|e| anyhow::anyhow!("{e}"))?.first() {
        directory.tokens().jwks(tenant.id).await.map_err(|_| {
            anyhow::anyhow!(
                "the master key does not open this database's signing keys: give every node the same key (GATEHOUSE_MASTER_KEY or the data directory's master.key)"
            )
        })?;
    }
    Ok(())
}

/// Opens the directory with the wall clock.
pub async fn open(settings: &config::Settings) -> anyhow::Result<Arc<Directory>> {
    open_directory(settings, Arc::new(SystemClock)).await
}

/// Purges expired deleted items and old sign-in records now and then every hour, until the process ends.
pub fn spawn_retention(directory: Arc<Directory>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match directory.deleted().purge_expired().await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "purged expired deleted items"),
                Err(error) => tracing::warn!(%error, "purging expired deleted items failed"),
            }
            if let Err(error) = directory.sign_in().purge_logs().await {
                tracing::warn!(%error, "purging old sign-in records failed");
            }
        }
    });
}

/// Delivers every tenant's due outgoing email each second, until the process ends; says at start where
/// mail goes.
pub fn spawn_mail_delivery(directory: Arc<Directory>, settings: &config::Settings) {
    match &settings.smtp_url {
        Some(_) => tracing::info!("outgoing email goes to the SMTP relay of --smtp-url"),
        None => tracing::info!(
            folder = %settings.outbox.display(),
            "no SMTP relay is configured (--smtp-url): outgoing email is written to files in this folder"
        ),
    }
    deliver_mail(directory);
}

/// The delivery loop of [`spawn_mail_delivery`]: every half second, the tenants that have due mail.
pub fn deliver_mail(directory: Arc<Directory>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            if let Err(error) = directory.outbox().deliver_due().await {
                tracing::warn!(%error, "delivering outgoing email failed");
            }
        }
    })
}

/// How long a provisioning request to an app may take.
pub const PROVISIONING_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the provisioning jobs due, as `holder`, every half second, until the process ends.
pub fn provision(directory: Arc<Directory>, holder: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            if let Err(error) = directory.provisioning().run_due(&holder).await {
                tracing::warn!(%error, "provisioning failed");
            }
        }
    })
}

/// This node's change-log processors, running until [`Processors::stop`].
pub struct Processors {
    directory: Arc<Directory>,
    holder: String,
    task: tokio::task::JoinHandle<()>,
    follower: tokio::task::JoinHandle<()>,
}

impl Processors {
    /// Stops the processors (a round under way is abandoned: what it had not committed with its cursor's
    /// move, the next holder does again) and releases this node's leases, so that another node, or this one
    /// restarted, takes over at once instead of when the leases run out.
    pub async fn stop(self) {
        self.follower.abort();
        self.task.abort();
        let _ = self.task.await;
        if let Err(error) = self.directory.release_leases(&self.holder).await {
            tracing::warn!(%error, "releasing the processors' leases failed");
        }
    }
}

/// The tenants a background loop works through, listed again every second rather than on every turn.
#[derive(Default)]
struct Tenants {
    ids: Vec<uuid::Uuid>,
    listed: Option<std::time::Instant>,
}

impl Tenants {
    async fn current(&mut self, directory: &Directory) -> &[uuid::Uuid] {
        if self.listed.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            match directory.tenant_ids().await {
                Ok(ids) => {
                    self.ids = ids;
                    self.listed = Some(std::time::Instant::now());
                }
                Err(error) => tracing::warn!(%error, "listing tenants failed"),
            }
        }
        &self.ids
    }
}

/// How often a node follows the change logs for its object cache: how stale its read of another node's write
/// can be.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// This node's stable identity, kept in the data directory's `node.id` (made on first start): the holder
/// name of its processor leases, so a node restarted after a crash reclaims its own leases at once instead of
/// waiting for them to run out. Nodes sharing a database need data directories of their own.
pub fn node_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("node.id");
    match std::fs::read_to_string(&path) {
        Ok(text) if uuid::Uuid::parse_str(text.trim()).is_ok() => Ok(text.trim().to_owned()),
        Ok(_) => anyhow::bail!("{} is not a node id (a GUID); remove it to make a new one", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = uuid::Uuid::new_v4().to_string();
            config::write_private(&path, id.as_bytes())?;
            Ok(id)
        }
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// Runs this node's change-log processors (dynamic membership, then licensing) for every tenant, woken by this node's
/// commits and polling for other nodes' every quarter second, and the follower of the change logs for this node's
/// object cache ([`FOLLOW_EVERY`]), until stopped. The tenants are listed again every second, not on every wake-up
/// (a burst of writes wakes the processors many times a second).
pub fn spawn_processors(directory: Arc<Directory>, holder: String) -> Processors {
    tracing::info!(node = %holder, "running the change processors");
    let (worker, name) = (directory.clone(), holder.clone());
    let task = tokio::spawn(async move {
        let (directory, holder) = (worker, name);
        let mut tenants = Tenants::default();
        loop {
            for tenant in tenants.current(&directory).await.to_vec() {
                for processor in processors::ALL {
                    if let Err(error) = directory.process(tenant, &holder, processor).await {
                        tracing::warn!(%error, %tenant, processor = processor.name(), "change processing failed");
                    }
                }
            }
            tokio::select! {
                // A short pause after a commit lets a burst of writes share one round.
                _ = directory.committed() => tokio::time::sleep(Duration::from_millis(10)).await,
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    });
    let reader = directory.clone();
    let follower = tokio::spawn(async move {
        let mut tenants = Tenants::default();
        loop {
            for tenant in tenants.current(&reader).await.to_vec() {
                if let Err(error) = reader.follow_changes(tenant).await {
                    tracing::warn!(%error, %tenant, "following the change log failed");
                }
            }
            tokio::time::sleep(FOLLOW_EVERY).await;
        }
    });
    Processors { directory, holder, task, follower }
}
