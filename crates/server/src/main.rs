//! The `gatehouse` command.

use anyhow::Context;
use clap::{Parser, Subcommand};
use gatehouse::app::{self, Addressing};
use gatehouse::config::{ServeArgs, Settings, StoreArgs};
use gatehouse::{bootstrap, certs};
use gatehouse_core::tenants::NewTenant;
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "A self-hosted identity directory that speaks Microsoft Graph and the Microsoft identity platform."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    },
    /// List tenants.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn main() {
    if let Err(error) = run() {
        eprintln!("gatehouse: {error:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_env("GATEHOUSE_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
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
            Command::Tenant(TenantCommand::Create { store, domain, name }) => {
                let directory = gatehouse::open(&Settings::for_store(&store)?).await?;
                let spec = NewTenant { domain: Some(domain), display_name: name, ..NewTenant::default() };
                let created = directory.create_tenant(spec).await.map_err(|e| anyhow::anyhow!("{}", e.message))?;
                println!("{}", serde_json::to_string_pretty(&created)?);
                Ok(())
            }
            Command::Tenant(TenantCommand::List { store }) => {
                let directory = gatehouse::open(&Settings::for_store(&store)?).await?;
                for tenant in directory.tenants().await.map_err(|e| anyhow::anyhow!("{}", e.message))? {
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
    let tls = match &settings.tls {
        Some((cert, key)) => Some(gatehouse::tls_config(cert, key).await?),
        None => None,
    };
    let listener = std::net::TcpListener::bind(&settings.listen)
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = settings.public_url.clone().unwrap_or_else(|| format!("{scheme}://{local}"));
    let router =
        app::router(directory.clone(), Addressing { public_url: settings.public_url.clone(), https: tls.is_some() });
    gatehouse::spawn_retention(directory.clone());
    gatehouse::spawn_processors(directory);
    if let Some(created) = &created {
        let ca =
            settings.tls.as_ref().and_then(|(cert, _)| cert.parent().map(|d| d.join("ca.pem"))).filter(|p| p.exists());
        bootstrap::announce(created, &base, ca.as_deref());
        if let Some(path) = &settings.bootstrap_output {
            bootstrap::write_output(created, path)?;
        }
    }
    tracing::info!(address = %local, scheme, database = %gatehouse_store::redact(&settings.database_url), "listening");
    gatehouse::serve(listener, tls, router, shutdown_signal()).await?;
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
