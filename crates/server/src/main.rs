//! The `gatehouse` command.

use anyhow::Context;
use clap::{Parser, Subcommand};
use gatehouse::app::{self, Addressing, MetricsExposure};
use gatehouse::config::{ServeArgs, Settings, StoreArgs};
use gatehouse::metrics::Metrics;
use gatehouse::remote::{self, render, render_one, Graph, GroupKind, Output};
use gatehouse::{bootstrap, certs};
use gatehouse_core::store::MailState;
use gatehouse_core::tenants::NewTenant;
use reqwest::Method;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

/// mimalloc: a request decodes and renders many small JSON values, and glibc's allocator spent about a fifth
/// of a large list's CPU time (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "A self-hosted identity directory that speaks Microsoft Graph and the Microsoft identity platform."
)]
struct Cli {
    /// How log lines look: `pretty` (compact lines for people) or `json` (one object a line, for collectors).
    /// Default: pretty when the log goes to a terminal, json otherwise.
    #[arg(long, global = true, env = "GATEHOUSE_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Pretty,
    Json,
}

/// Logs go to standard error, filtered by `GATEHOUSE_LOG` (default `info`).
fn init_logging(format: Option<LogFormat>) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_env("GATEHOUSE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let terminal = std::io::stderr().is_terminal();
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format.unwrap_or(if terminal { LogFormat::Pretty } else { LogFormat::Json }) {
        LogFormat::Pretty => logs.compact().with_ansi(terminal).init(),
        LogFormat::Json => logs.json().init(),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Make a local CA and a localhost certificate for trying HTTPS.
    DevCert {
        /// Where to write ca.pem, cert.pem and key.pem.
        #[arg(long, default_value = "gatehouse-data/tls")]
        out: PathBuf,
    },
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage a tenant's subscriptions (there is no Microsoft commerce here).
    #[command(subcommand)]
    Subscription(SubscriptionCommand),
    /// Verify and list a tenant's domains (they are added through Graph's /domains).
    #[command(subcommand)]
    Domain(DomainCommand),
    /// See a tenant's outgoing email: what was sent, what waits, what was given up on and why.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Work with a running server's users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Work with a running server's groups and their members.
    #[command(subcommand)]
    Groups(GroupsCommand),
    /// Work with a running server's subscriptions and license assignments.
    #[command(subcommand)]
    Licenses(LicensesCommand),
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create the users of a CSV in Entra's bulk-create template (`version:v1.0`, then columns such as
    /// `User name [userPrincipalName] Required`) through the server's SCIM `/Bulk`, with an app's
    /// credentials (the admin app's, or any app allowed to write users); each row's outcome goes to the
    /// result file.
    Import {
        /// The CSV to import.
        #[arg(long)]
        csv: PathBuf,
        /// Where to write each row's outcome (CSV: row, userPrincipalName, status, id or error).
        #[arg(long, default_value = "import-results.csv")]
        results: PathBuf,
        #[command(flatten)]
        server: ServerLogin,
    },
    /// Write every user to a CSV in Entra's bulk-create template (without passwords), read through Graph
    /// with an app's credentials: a file `import` takes back.
    Export {
        /// The CSV to write.
        #[arg(long)]
        csv: PathBuf,
        #[command(flatten)]
        server: ServerLogin,
    },
    /// List users (all of them, or those whose name or user name starts with the search).
    List {
        #[arg(long)]
        search: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
enum GroupsCommand {
    /// List groups (all of them, or those whose name starts with the search).
    List {
        #[arg(long)]
        search: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Create a group: a security group by default; with `--rule`, a dynamic one (Entra's rule language).
    Create {
        #[arg(long)]
        name: String,
        /// Its mail nickname (default: the name's letters and digits, lower-case).
        #[arg(long)]
        nickname: Option<String>,
        #[arg(long, value_enum, default_value = "security")]
        kind: GroupKind,
        /// A membership rule, such as `user.department -eq "Sales"`.
        #[arg(long)]
        rule: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List a group's direct members (the group by id or display name).
    Members {
        group: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Add a user or group (by id, or a user by user name) to a group.
    AddMember {
        group: String,
        #[arg(long)]
        member: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Take a member out of a group.
    RemoveMember {
        group: String,
        #[arg(long)]
        member: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete a group (restorable for 30 days).
    Delete {
        group: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
enum LicensesCommand {
    /// List the tenant's subscriptions with their seats.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Assign a product (SKU id or part number, such as ENTERPRISEPACK) to a user, or to a group whose
    /// members then get it.
    Assign(LicenseChange),
    /// Remove a product from a user or a group.
    Remove(LicenseChange),
}

/// A product given to, or taken from, its holder.
#[derive(clap::Args)]
struct LicenseChange {
    #[arg(long)]
    sku: String,
    #[command(flatten)]
    holder: Holder,
    #[command(flatten)]
    remote: Remote,
}

/// Who holds a license: a user (id or user name) or a group (id or display name).
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct Holder {
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    group: Option<String>,
}

/// A running server, an app's credentials on it, and how to show its answer.
#[derive(clap::Args)]
struct Remote {
    #[command(flatten)]
    server: ServerLogin,
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
}

impl Remote {
    async fn connect(&self) -> anyhow::Result<(Graph, Output)> {
        let target = self.server.clone().target();
        Ok((Graph::connect(&target).await?, self.output))
    }
}

/// A running server and an app's credentials on it.
#[derive(clap::Args, Clone)]
struct ServerLogin {
    /// The server's base URL.
    #[arg(long, env = "GATEHOUSE_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The tenant (id or domain).
    #[arg(long, env = "GATEHOUSE_TENANT")]
    tenant: String,
    #[arg(long, env = "GATEHOUSE_CLIENT_ID")]
    client_id: String,
    #[arg(long, env = "GATEHOUSE_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
}

impl ServerLogin {
    fn target(self) -> gatehouse::remote::Target {
        let url = self.url.trim_end_matches('/').to_owned();
        gatehouse::remote::Target {
            url,
            tenant: self.tenant,
            client_id: self.client_id,
            client_secret: self.client_secret,
        }
    }
}

#[derive(Subcommand)]
enum MailCommand {
    /// List a tenant's outbox, newest first: id, state, attempts, recipient, kind, created, last error.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// The tenant, by id or domain.
        #[arg(long)]
        tenant: String,
        /// Only messages in this state: pending, sent or dead.
        #[arg(long)]
        state: Option<String>,
    },
}

#[derive(Subcommand)]
enum DomainCommand {
    /// Verify a domain by its DNS record, as Graph's verify does; or, with --skip-dns, mark it verified without
    /// looking, for sites without DNS (logged).
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// The tenant, by id or domain.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        domain: String,
        #[arg(long)]
        skip_dns: bool,
    },
    /// List a tenant's domains: name, verified, default.
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Subcommand)]
enum SubscriptionCommand {
    /// Add a subscription to a catalog product (by part number, e.g. SPE_E3, or skuId); prints it as JSON.
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// The tenant, by id or domain.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        sku: String,
        /// Enabled seats.
        #[arg(long)]
        units: u64,
    },
    /// Change a subscription's seats or status (Enabled, Warning, Suspended, LockedOut).
    Set {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        tenant: String,
        /// The subscription's skuId or part number.
        #[arg(long)]
        sku: String,
        #[arg(long)]
        units: Option<u64>,
        #[arg(long)]
        status: Option<String>,
    },
    /// Retire a subscription nobody holds any more.
    Retire {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        sku: String,
    },
    /// List a tenant's subscriptions with their seats.
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        tenant: String,
    },
    /// List the products of the catalog.
    Catalog,
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant with an administrator and an administration app; prints their credentials as JSON.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// The tenant's initial domain, e.g. fabrikam.gatehouse.test.
        #[arg(long)]
        domain: String,
        /// Display name (default: the domain).
        #[arg(long)]
        name: Option<String>,
        /// The organization's country, a two-letter ISO 3166 code: group licenses use it as the usage location
        /// of members that have none (default US).
        #[arg(long)]
        country: Option<String>,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Break-glass, run on the server's data (its database and master key): issue a new administration app with
    /// a new client secret, whatever was deleted or changed through the API; prints it as JSON. Logged.
    Recover {
        #[command(flatten)]
        store: StoreArgs,
        /// The tenant, by id or domain.
        #[arg(long)]
        tenant: String,
    },
}

fn main() {
    if let Err(error) = run() {
        eprintln!("gatehouse: {error:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::DevCert { out } => {
                certs::write_dev_certificates(&out)?;
                println!("Wrote {0}/ca.pem, {0}/cert.pem and {0}/key.pem (localhost, 127.0.0.1, ::1).", out.display());
                println!(
                    "Serve HTTPS with: gatehouse serve --tls-cert {0}/cert.pem --tls-key {0}/key.pem",
                    out.display()
                );
                Ok(())
            }
            Command::Tenant(TenantCommand::Create { store, domain, name, country }) => {
                let directory = gatehouse::open(&Settings::for_store(&store)?).await?;
                let spec = NewTenant { domain: Some(domain), display_name: name, country, ..NewTenant::default() };
                let created = directory.tenants().create(spec).await.map_err(|e| anyhow::anyhow!("{}", e.message))?;
                println!("{}", serde_json::to_string_pretty(&created)?);
                Ok(())
            }
            Command::Subscription(command) => subscription(command).await,
            Command::Domain(command) => domain(command).await,
            Command::Users(UsersCommand::Import { csv, results, server }) => {
                let (created, failed) = gatehouse::import::import(&server.target(), &csv, &results).await?;
                println!("{created} users created, {failed} failed; each row's outcome is in {}", results.display());
                Ok(())
            }
            Command::Users(UsersCommand::Export { csv, server }) => {
                let written = gatehouse::import::export(&server.target(), &csv).await?;
                println!("{written} users written to {}", csv.display());
                Ok(())
            }
            Command::Users(UsersCommand::List { search, remote }) => {
                let filter = search.map(|s| {
                    let s = s.replace('\'', "''");
                    format!("&$filter=startsWith(displayName,'{s}') or startsWith(userPrincipalName,'{s}')")
                });
                let select = "id,displayName,userPrincipalName,userType,accountEnabled";
                let path = format!("/users?$top=999&$select={select}{}", filter.unwrap_or_default());
                let (graph, output) = remote.connect().await?;
                println!("{}", render(output, &graph.all(&path, "users").await?, remote::USER_COLUMNS));
                Ok(())
            }
            Command::Groups(command) => groups(command).await,
            Command::Licenses(command) => licenses(command).await,
            Command::Mail(MailCommand::List { store, tenant, state }) => {
                let state = match state.as_deref() {
                    Some(name) => Some(
                        MailState::parse(name).ok_or_else(|| anyhow::anyhow!("--state is pending, sent or dead"))?,
                    ),
                    None => None,
                };
                let directory = gatehouse::open(&Settings::for_store(&store)?).await?;
                let fail = |e: gatehouse_core::Error| anyhow::anyhow!("{}", e.message);
                let caller =
                    gatehouse_core::Caller::System { tenant: directory.resolve_tenant(&tenant).await.map_err(fail)? };
                for mail in directory.outbox().list(&caller, state, 1000).await.map_err(fail)? {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        mail.id,
                        mail.state.as_str(),
                        mail.attempts,
                        mail.to,
                        mail.kind,
                        gatehouse_core::schema::format_time(mail.created_at),
                        mail.last_error.unwrap_or_default().replace(['\t', '\n'], " ")
                    );
                }
                Ok(())
            }
            Command::Tenant(TenantCommand::Recover { store, tenant }) => {
                let directory = gatehouse::open(&Settings::for_store(&store)?).await?;
                let fail = |e: gatehouse_core::Error| anyhow::anyhow!("{}", e.message);
                let tenant = directory.resolve_tenant(&tenant).await.map_err(fail)?;
                let recovery = directory.tenants().recover(tenant).await.map_err(fail)?;
                println!("{}", serde_json::to_string_pretty(&recovery)?);
                Ok(())
            }
            Command::Tenant(TenantCommand::List { store }) => {
                let directory = gatehouse::open(&Settings::for_store(&store)?).await?;
                for tenant in directory.tenants().list().await.map_err(|e| anyhow::anyhow!("{}", e.message))? {
                    println!("{}\t{}\t{}", tenant.id, tenant.initial_domain, tenant.display_name);
                }
                Ok(())
            }
        }
    })
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(&args)?;
    let directory = gatehouse::open(&settings).await?;
    let created = bootstrap::first_tenant(&directory).await?;
    gatehouse::check_master_key(&directory).await?;
    let tls = match &settings.tls {
        Some((cert, key)) => Some(gatehouse::tls_config(cert, key)?),
        None => None,
    };
    let listener = std::net::TcpListener::bind(&settings.listen)
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let local = listener.local_addr()?;
    let metrics_listener = match &settings.metrics_listen {
        Some(address) => Some(
            std::net::TcpListener::bind(address).with_context(|| format!("cannot listen for metrics on {address}"))?,
        ),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = settings.public_url.clone().unwrap_or_else(|| format!("{scheme}://{local}"));
    let metrics = Arc::new(Metrics::of(directory.clone()));
    let exposure = match metrics_listener {
        Some(_) => MetricsExposure::Elsewhere,
        None => MetricsExposure::Here,
    };
    let addressing = Addressing { public_url: settings.public_url.clone(), https: tls.is_some() };
    let router = app::router(directory.clone(), addressing, metrics.clone(), exposure);
    gatehouse::spawn_retention(directory.clone());
    gatehouse::spawn_mail_delivery(directory.clone(), &settings);
    let node = gatehouse::node_id(&settings.data_dir)?;
    gatehouse::provision(directory.clone(), node.clone());
    let processors = gatehouse::spawn_processors(directory, node);
    if let Some(created) = &created {
        match &settings.bootstrap_output {
            Some(path) => {
                bootstrap::write_output(created, path)?;
                println!(
                    "\nGatehouse created tenant {} ({}); its one-time credentials are in {}.\n",
                    created.tenant_domain,
                    created.tenant_id,
                    path.display()
                );
            }
            None => {
                let ca = settings
                    .tls
                    .as_ref()
                    .and_then(|(cert, _)| cert.parent().map(|d| d.join("ca.pem")))
                    .filter(|p| p.exists());
                bootstrap::announce(created, &base, ca.as_deref());
            }
        }
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stopping = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    if let Some(listener) = metrics_listener {
        tracing::info!(address = %listener.local_addr()?, "serving metrics");
        let limits = settings.limits;
        tokio::spawn(gatehouse::serve(listener, None, app::metrics_router(metrics), limits, stopping()));
    }
    let connections = settings.limits.effective_connections();
    tracing::info!(address = %local, scheme, connections, database = %gatehouse_store::redact(&settings.database_url), "listening");
    let server = tokio::spawn(gatehouse::serve(listener, tls, router, settings.limits, stopping()));
    shutdown_signal().await;
    let _ = stop.send(true);
    server.await??;
    processors.stop().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down; finishing in-flight requests");
}

/// The domain commands: the same use cases as Graph's, as the tenant's system caller.
async fn domain(command: DomainCommand) -> anyhow::Result<()> {
    let fail = |e: gatehouse_core::Error| anyhow::anyhow!("{}", e.message);
    let (DomainCommand::Verify { store, tenant, .. } | DomainCommand::List { store, tenant }) = &command;
    let directory = gatehouse::open(&Settings::for_store(store)?).await?;
    let caller = gatehouse_core::Caller::System { tenant: directory.resolve_tenant(tenant).await.map_err(fail)? };
    match &command {
        DomainCommand::Verify { domain, skip_dns, .. } => {
            let verified = match skip_dns {
                true => directory.domains().verify_without_dns(&caller, domain).await,
                false => directory.domains().verify(&caller, domain).await,
            };
            println!("{}", serde_json::to_string_pretty(&verified.map_err(fail)?)?);
        }
        DomainCommand::List { .. } => {
            for domain in
                directory.domains().list(&caller, gatehouse_core::schema::Selection::Default).await.map_err(fail)?
            {
                println!(
                    "{}\t{}\t{}",
                    domain["id"].as_str().unwrap_or_default(),
                    domain["isVerified"],
                    domain["isDefault"]
                );
            }
        }
    }
    Ok(())
}

/// The subscription commands: the same use cases as the Graph admin API, as the tenant's system caller.
async fn subscription(command: SubscriptionCommand) -> anyhow::Result<()> {
    let fail = |e: gatehouse_core::Error| anyhow::anyhow!("{}", e.message);
    let (store, tenant) = match &command {
        SubscriptionCommand::Add { store, tenant, .. }
        | SubscriptionCommand::Set { store, tenant, .. }
        | SubscriptionCommand::Retire { store, tenant, .. }
        | SubscriptionCommand::List { store, tenant } => (store, tenant),
        SubscriptionCommand::Catalog => {
            for product in &gatehouse_core::licensing::catalog().products {
                println!("{}\t{}\t{}", product.sku_part_number, product.sku_id, product.display_name);
            }
            return Ok(());
        }
    };
    let directory = gatehouse::open(&Settings::for_store(store)?).await?;
    let caller = gatehouse_core::Caller::System { tenant: directory.resolve_tenant(tenant).await.map_err(fail)? };
    match &command {
        SubscriptionCommand::Add { sku, units, .. } => {
            let body = serde_json::json!({"skuPartNumber": sku, "prepaidUnits": {"enabled": units}});
            let Some(body) = body.as_object() else { return Ok(()) };
            let added = directory.licensing().add_subscription(&caller, body).await.map_err(fail)?;
            println!("{}", serde_json::to_string_pretty(&added)?);
        }
        SubscriptionCommand::Set { sku, units, status, .. } => {
            let mut body = serde_json::Map::new();
            if let Some(units) = units {
                body.insert("prepaidUnits".into(), serde_json::json!({"enabled": units}));
            }
            if let Some(status) = status {
                body.insert("capabilityStatus".into(), serde_json::json!(status));
            }
            directory.licensing().update_subscription(&caller, sku, &body).await.map_err(fail)?;
        }
        SubscriptionCommand::Retire { sku, .. } => {
            directory.licensing().retire_subscription(&caller, sku).await.map_err(fail)?
        }
        SubscriptionCommand::List { .. } | SubscriptionCommand::Catalog => {
            for sku in directory.licensing().subscribed_skus(&caller).await.map_err(fail)? {
                println!(
                    "{}\t{}\t{}/{}\t{}",
                    sku["skuPartNumber"].as_str().unwrap_or_default(),
                    sku["skuId"].as_str().unwrap_or_default(),
                    sku["consumedUnits"],
                    sku["prepaidUnits"]["enabled"],
                    sku["capabilityStatus"].as_str().unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

async fn groups(command: GroupsCommand) -> anyhow::Result<()> {
    match command {
        GroupsCommand::List { search, remote } => {
            let filter = search
                .map(|s| format!("&$filter=startsWith(displayName,'{}')", s.replace('\'', "''")))
                .unwrap_or_default();
            let path = format!("/groups?$top=999&$select=id,displayName,groupTypes,securityEnabled{filter}");
            let (graph, output) = remote.connect().await?;
            println!("{}", render(output, &graph.all(&path, "groups").await?, remote::GROUP_COLUMNS));
        }
        GroupsCommand::Create { name, nickname, kind, rule, remote } => {
            let (graph, output) = remote.connect().await?;
            let body = remote::new_group(&name, nickname.as_deref(), kind, rule.as_deref());
            println!("{}", render_one(output, &graph.call(Method::POST, "/groups", Some(body)).await?));
        }
        GroupsCommand::Members { group, remote } => {
            let (graph, output) = remote.connect().await?;
            let id = graph.group_id(&group).await?;
            let path = format!("/groups/{id}/members?$top=999&$select=id,displayName,userPrincipalName");
            println!("{}", render(output, &graph.all(&path, "members").await?, remote::MEMBER_COLUMNS));
        }
        GroupsCommand::AddMember { group, member, remote } => {
            let (graph, _) = remote.connect().await?;
            let (id, member_id) = (graph.group_id(&group).await?, graph.user_id(&member).await?);
            let body = remote::reference(&graph, member_id);
            graph.call(Method::POST, &format!("/groups/{id}/members/$ref"), Some(body)).await?;
            println!("Added {member} to {group}");
        }
        GroupsCommand::RemoveMember { group, member, remote } => {
            let (graph, _) = remote.connect().await?;
            let (id, member_id) = (graph.group_id(&group).await?, graph.user_id(&member).await?);
            graph.call(Method::DELETE, &format!("/groups/{id}/members/{member_id}/$ref"), None).await?;
            println!("Removed {member} from {group}");
        }
        GroupsCommand::Delete { group, remote } => {
            let (graph, _) = remote.connect().await?;
            let id = graph.group_id(&group).await?;
            graph.call(Method::DELETE, &format!("/groups/{id}"), None).await?;
            println!("Deleted {group} ({id}); it can be restored for 30 days");
        }
    }
    Ok(())
}

async fn licenses(command: LicensesCommand) -> anyhow::Result<()> {
    let (LicenseChange { sku, holder, remote }, adding) = match command {
        LicensesCommand::List { remote } => {
            let (graph, output) = remote.connect().await?;
            println!("{}", render(output, &graph.all("/subscribedSkus", "subscriptions").await?, remote::SKU_COLUMNS));
            return Ok(());
        }
        LicensesCommand::Assign(change) => (change, true),
        LicensesCommand::Remove(change) => (change, false),
    };
    let (graph, output) = remote.connect().await?;
    let sku_id = graph.sku_id(&sku).await?;
    let path = match (&holder.user, &holder.group) {
        (Some(user), _) => format!("/users/{}/assignLicense", graph.user_id(user).await?),
        (None, Some(group)) => format!("/groups/{}/assignLicense", graph.group_id(group).await?),
        (None, None) => anyhow::bail!("name a --user or a --group"),
    };
    let body = match adding {
        true => json!({"addLicenses": [{"skuId": sku_id, "disabledPlans": []}], "removeLicenses": []}),
        false => json!({"addLicenses": [], "removeLicenses": [sku_id]}),
    };
    println!("{}", render_one(output, &graph.call(Method::POST, &path, Some(body)).await?));
    Ok(())
}
