//! Settings: flags, then `GATEHOUSE_*` environment variables, then the TOML file, then defaults.

use crate::connections::Limits;
use anyhow::Context;
use clap::Args;
use gatehouse_core::credentials::passwords::HashParams;
use gatehouse_core::credentials::secrets::MasterKey;
use gatehouse_store::StoreOptions;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the directory lives; shared by `serve` and the operator commands.
#[derive(Debug, Clone, Args, Default)]
pub struct StoreArgs {
    /// TOML configuration file.
    #[arg(long, env = "GATEHOUSE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (default ./gatehouse-data): the SQLite database and the master key live here.
    #[arg(long, env = "GATEHOUSE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER@HOST:PORT/DB (default: SQLite inside the data directory).
    #[arg(long, env = "GATEHOUSE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The deployment's master key (base64 of 32 bytes); every node sharing a database needs the same.
    #[arg(long, env = "GATEHOUSE_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// PostgreSQL: the most connections this node keeps to the database (default: twice its cores, plus one).
    #[arg(long, env = "GATEHOUSE_DATABASE_MAX_CONNECTIONS")]
    pub database_max_connections: Option<u32>,
    /// argon2id memory in KiB (default 7168, with 5 iterations: OWASP's 7 MiB setting, Keycloak's default).
    #[arg(long, env = "GATEHOUSE_PASSWORD_HASH_MEMORY_KIB")]
    pub password_hash_memory_kib: Option<u32>,
    /// argon2id iterations (default 5).
    #[arg(long, env = "GATEHOUSE_PASSWORD_HASH_ITERATIONS")]
    pub password_hash_iterations: Option<u32>,
    /// The name server that domain verification asks, as ADDRESS:PORT (default: the system's resolvers).
    #[arg(long, env = "GATEHOUSE_DNS_SERVER")]
    pub dns_server: Option<String>,
    /// Folder outgoing email is written to, one .eml file a message, when no SMTP relay is configured
    /// (default: `outbox` in the data directory).
    #[arg(long, env = "GATEHOUSE_OUTBOX")]
    pub outbox: Option<PathBuf>,
    /// The SMTP relay outgoing email goes to: smtp://host[:port] (plain), smtp://host:587?tls=required
    /// (STARTTLS) or smtps://host[:465] (TLS), with user:password@ for authentication.
    #[arg(long, env = "GATEHOUSE_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// A PEM file of the certificate authority that issued the SMTP relay's certificate, trusted besides the
    /// public roots (a relay with a private certificate).
    #[arg(long, env = "GATEHOUSE_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,
    /// The sender of outgoing email (default: Gatehouse <no-reply@localhost>).
    #[arg(long, env = "GATEHOUSE_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Seconds one attempt to hand a message to the relay may take; a node that dies mid-attempt holds the
    /// message that long before another tries it (default 120).
    #[arg(long, env = "GATEHOUSE_MAIL_ATTEMPT_SECONDS")]
    pub mail_attempt_seconds: Option<u64>,
}

#[derive(Debug, Clone, Args, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "GATEHOUSE_LISTEN")]
    pub listen: Option<String>,
    /// PEM certificate chain; with --tls-key, serve HTTPS.
    #[arg(long, env = "GATEHOUSE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "GATEHOUSE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Write the first tenant's credentials here as JSON (mode 0600) once the server accepts requests.
    #[arg(long, env = "GATEHOUSE_BOOTSTRAP_OUTPUT")]
    pub bootstrap_output: Option<PathBuf>,
    /// The URL clients reach this server at (default: taken from each request's Host header).
    #[arg(long, env = "GATEHOUSE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Access-token lifetime in seconds (default 3599).
    #[arg(long, env = "GATEHOUSE_ACCESS_TOKEN_LIFETIME")]
    pub access_token_lifetime: Option<i64>,
    /// Days the sign-in log keeps its records (default 30).
    #[arg(long, env = "GATEHOUSE_SIGN_IN_LOG_DAYS")]
    pub sign_in_log_days: Option<i64>,
    /// Seconds a request's headers may take to arrive, counted from when the connection opens or finishes its
    /// last response; also how long an idle keep-alive connection is kept (default 20).
    #[arg(long, env = "GATEHOUSE_HEADER_TIMEOUT")]
    pub header_timeout: Option<u64>,
    /// Seconds a connection may move no byte before it is closed (default 120).
    #[arg(long, env = "GATEHOUSE_IDLE_TIMEOUT")]
    pub idle_timeout: Option<u64>,
    /// At most this many open connections; beyond it new clients wait to be accepted (default 10000, lowered to
    /// what the open-file limit allows).
    #[arg(long, env = "GATEHOUSE_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Serve Prometheus `/metrics` on this address instead of the main listener, e.g. 127.0.0.1:9100.
    #[arg(long, env = "GATEHOUSE_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
}

/// The TOML file: the same settings, snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_max_connections: Option<u32>,
    master_key: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    bootstrap_output: Option<PathBuf>,
    public_url: Option<String>,
    access_token_lifetime: Option<i64>,
    sign_in_log_days: Option<i64>,
    password_hash_memory_kib: Option<u32>,
    password_hash_iterations: Option<u32>,
    header_timeout: Option<u64>,
    idle_timeout: Option<u64>,
    max_connections: Option<usize>,
    metrics_listen: Option<String>,
    dns_server: Option<String>,
    outbox: Option<PathBuf>,
    smtp_url: Option<String>,
    smtp_ca_file: Option<PathBuf>,
    mail_from: Option<String>,
    mail_attempt_seconds: Option<u64>,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub store_options: StoreOptions,
    master_key: Option<String>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub bootstrap_output: Option<PathBuf>,
    pub public_url: Option<String>,
    pub access_token_lifetime: i64,
    /// Days the sign-in log keeps its records.
    pub sign_in_log_days: i64,
    pub hash_params: HashParams,
    pub limits: Limits,
    pub metrics_listen: Option<String>,
    /// The name server domain verification asks; `None` for the system's.
    pub dns_server: Option<SocketAddr>,
    /// The folder outgoing email is written to without an SMTP relay.
    pub outbox: PathBuf,
    /// The SMTP relay, if any (it may hold a password: never logged).
    pub smtp_url: Option<String>,
    /// The certificate authority the relay's certificate is trusted through, besides the public roots.
    pub smtp_ca_file: Option<PathBuf>,
    /// The sender of outgoing email.
    pub mail_from: String,
    /// How long one delivery attempt may take.
    pub mail_attempt_timeout: std::time::Duration,
    /// Whether a missing master key may be made: only `serve` makes one, on its first start; the operator
    /// commands need the existing key.
    pub makes_master_key: bool,
}

fn read_file(path: Option<&Path>) -> anyhow::Result<FileSettings> {
    let Some(path) = path else {
        return Ok(FileSettings::default());
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid configuration file {}", path.display()))
}

impl Settings {
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Settings> {
        let file = read_file(args.store.config.as_deref())?;
        let data_dir = args.store.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("gatehouse-data"));
        let database_url = match args.store.database_url.clone().or(file.database_url) {
            Some(url) => url,
            None => format!("sqlite://{}", data_dir.join("gatehouse.db").display()),
        };
        let tls = match (args.tls_cert.clone().or(file.tls_cert), args.tls_key.clone().or(file.tls_key)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => anyhow::bail!("--tls-cert and --tls-key go together"),
        };
        let max_connections = args.store.database_max_connections.or(file.database_max_connections);
        let store_options = match max_connections {
            Some(0) => anyhow::bail!("the database needs at least one connection"),
            Some(max_connections) => StoreOptions { max_connections },
            None => StoreOptions::default(),
        };
        let defaults = HashParams::PRODUCTION;
        let hash_params = HashParams {
            memory_kib: args
                .store
                .password_hash_memory_kib
                .or(file.password_hash_memory_kib)
                .unwrap_or(defaults.memory_kib),
            iterations: args
                .store
                .password_hash_iterations
                .or(file.password_hash_iterations)
                .unwrap_or(defaults.iterations),
            parallelism: defaults.parallelism,
        };
        let access_token_lifetime = args.access_token_lifetime.or(file.access_token_lifetime).unwrap_or(3599);
        if !(60..=86_400).contains(&access_token_lifetime) {
            anyhow::bail!("the access-token lifetime must be between 60 and 86400 seconds");
        }
        let sign_in_log_days = args.sign_in_log_days.or(file.sign_in_log_days).unwrap_or(30);
        if !(1..=3650).contains(&sign_in_log_days) {
            anyhow::bail!("the sign-in log keeps its records 1 to 3650 days");
        }
        let defaults = Limits::default();
        let seconds = |given: Option<u64>, default: Duration, name: &str| -> anyhow::Result<Duration> {
            match given {
                Some(0) => anyhow::bail!("the {name} must be at least one second"),
                Some(seconds) => Ok(Duration::from_secs(seconds)),
                None => Ok(default),
            }
        };
        let limits = Limits {
            header_timeout: seconds(
                args.header_timeout.or(file.header_timeout),
                defaults.header_timeout,
                "header timeout",
            )?,
            idle_timeout: seconds(args.idle_timeout.or(file.idle_timeout), defaults.idle_timeout, "idle timeout")?,
            max_connections: match args.max_connections.or(file.max_connections) {
                Some(0) => anyhow::bail!("the connection limit must be at least 1"),
                Some(limit) => limit,
                None => defaults.max_connections,
            },
        };
        let dns_server = match args.store.dns_server.clone().or(file.dns_server) {
            Some(address) => Some(
                address
                    .parse::<SocketAddr>()
                    .with_context(|| format!("the DNS server '{address}' is not ADDRESS:PORT"))?,
            ),
            None => None,
        };
        Ok(Settings {
            makes_master_key: true,
            outbox: args.store.outbox.clone().or(file.outbox).unwrap_or_else(|| data_dir.join("outbox")),
            smtp_url: args.store.smtp_url.clone().or(file.smtp_url),
            smtp_ca_file: args.store.smtp_ca_file.clone().or(file.smtp_ca_file),
            mail_from: args
                .store
                .mail_from
                .clone()
                .or(file.mail_from)
                .unwrap_or_else(|| "Gatehouse <no-reply@localhost>".into()),
            mail_attempt_timeout: std::time::Duration::from_secs(
                args.store.mail_attempt_seconds.or(file.mail_attempt_seconds).unwrap_or(120).max(1),
            ),
            dns_server,
            limits,
            metrics_listen: args.metrics_listen.clone().or(file.metrics_listen),
            listen: args.listen.clone().or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".into()),
            data_dir,
            database_url,
            store_options,
            master_key: args.store.master_key.clone().or(file.master_key),
            tls,
            bootstrap_output: args.bootstrap_output.clone().or(file.bootstrap_output),
            public_url: args.public_url.clone().or(file.public_url).map(|u| u.trim_end_matches('/').to_owned()),
            access_token_lifetime,
            sign_in_log_days,
            hash_params,
        })
    }

    pub fn for_store(args: &StoreArgs) -> anyhow::Result<Settings> {
        let settings = Settings::resolve(&ServeArgs { store: args.clone(), ..ServeArgs::default() })?;
        Ok(Settings { makes_master_key: false, ..settings })
    }

    /// The configured master key, or the data directory's `master.key`; created (mode 0600) if missing when
    /// this is `serve`, refused otherwise.
    pub fn master_key(&self) -> anyhow::Result<MasterKey> {
        if let Some(text) = &self.master_key {
            return MasterKey::decode(text).map_err(|e| anyhow::anyhow!("{}", e.message));
        }
        let path = self.data_dir.join("master.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => MasterKey::decode(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.makes_master_key => {
                create_data_dir(&self.data_dir)?;
                let key = MasterKey::generate(&gatehouse_core::kernel::random::SystemRandom);
                write_private(&path, key.encode().as_bytes())?;
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
                "no master key: {} does not exist. Give the deployment's key with --master-key or GATEHOUSE_MASTER_KEY, or point --data-dir at the server's data directory (only `gatehouse serve` makes a new key, on its first start)",
                path.display()
            ),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
}

/// Creates the data directory, readable by its owner alone (0700) whatever the umask.
pub fn create_data_dir(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Writes a file only its owner can read, atomically: a temporary file of a fresh random name, created
/// exclusively (`O_EXCL`, so neither a file nor a symbolic link planted under that name is followed) with mode
/// 0600, then renamed into place.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = (|| -> anyhow::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn parse(args: &[&str]) -> anyhow::Result<ServeArgs> {
        let mut argv = vec!["gatehouse"];
        argv.extend_from_slice(args);
        Ok(Command::try_parse_from(argv)?.serve)
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("gatehouse.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/gatehouse\"\naccess_token_lifetime = 600\n",
        )?;
        let config = file.to_string_lossy().into_owned();

        let from_file = Settings::resolve(&parse(&["--config", &config])?)?;
        assert_eq!(from_file.listen, "0.0.0.0:9000");
        assert_eq!(from_file.database_url, "sqlite:///srv/gatehouse/gatehouse.db");
        assert_eq!(from_file.access_token_lifetime, 600);
        assert_eq!(from_file.hash_params, HashParams::PRODUCTION);

        let flagged = Settings::resolve(&parse(&[
            "--config",
            &config,
            "--listen",
            "127.0.0.1:1",
            "--database-url",
            "postgres://db/x",
        ])?)?;
        assert_eq!(flagged.listen, "127.0.0.1:1");
        assert_eq!(flagged.database_url, "postgres://db/x");
        assert_eq!(flagged.store_options, StoreOptions::default());
        let pooled = Settings::resolve(&parse(&["--config", &config, "--database-max-connections", "3"])?)?;
        assert_eq!(pooled.store_options, StoreOptions { max_connections: 3 });

        let defaults = Settings::resolve(&parse(&[])?)?;
        assert_eq!(defaults.listen, "127.0.0.1:8080");
        assert_eq!(defaults.data_dir, PathBuf::from("gatehouse-data"));
        Ok(())
    }

    #[test]
    fn bad_settings_are_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("gatehouse.toml");
        std::fs::write(&file, "lissen = \"typo\"\n")?;
        assert!(
            Settings::resolve(&parse(&["--config", &file.to_string_lossy()])?).is_err(),
            "unknown keys are refused"
        );
        assert!(Settings::resolve(&parse(&["--tls-cert", "cert.pem"])?).is_err(), "a certificate needs its key");
        assert!(Settings::resolve(&parse(&["--access-token-lifetime", "5"])?).is_err());
        assert!(Settings::resolve(&parse(&["--database-max-connections", "0"])?).is_err());
        assert!(Settings::resolve(&parse(&["--dns-server", "localhost"])?).is_err(), "a name server needs its port");
        let dns = Settings::resolve(&parse(&["--dns-server", "127.0.0.1:5353"])?)?.dns_server;
        assert_eq!(dns, Some(SocketAddr::from(([127, 0, 0, 1], 5353))));
        Ok(())
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_files_ignore_planted_temporaries() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("boot.json");
        // What the old writer used: another user's file, or a link to one, under the predictable name.
        let elsewhere = dir.path().join("theirs");
        std::fs::write(&elsewhere, "theirs")?;
        std::os::unix::fs::symlink(&elsewhere, dir.path().join("boot.tmp"))?;
        write_private(&path, b"secret")?;
        assert_eq!(std::fs::read_to_string(&elsewhere)?, "theirs", "a planted link is not followed");
        assert_eq!(std::fs::read_to_string(&path)?, "secret");
        assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
        let data = dir.path().join("data/nested");
        create_data_dir(&data)?;
        assert_eq!(std::fs::metadata(&data)?.permissions().mode() & 0o777, 0o700);
        Ok(())
    }

    #[test]
    fn only_serve_makes_a_master_key() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = StoreArgs { data_dir: Some(dir.path().join("data")), ..StoreArgs::default() };
        let command = Settings::for_store(&store)?;
        let refused = command.master_key().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused.contains("--master-key"), "{refused}");
        assert!(!dir.path().join("data/master.key").exists(), "no stray key");
        let serve = Settings::resolve(&ServeArgs { store: store.clone(), ..ServeArgs::default() })?;
        let made = serve.master_key()?;
        assert_eq!(Settings::for_store(&store)?.master_key()?.encode(), made.encode(), "commands then use it");
        Ok(())
    }
}
