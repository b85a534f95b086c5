//! A throwaway PostgreSQL cluster for the tests of this process.
//!
//! It is started from `initdb` and `postgres` found on PATH or under `/usr/lib/postgresql/*/bin`, on a
//! free loopback port, with trust authentication. When running as root it runs as the `postgres` user
//! (PostgreSQL refuses root). It is started with a parent-death signal from a thread that lives as long
//! as the process, so it goes away with the test process however that ends.
//!
//! When PostgreSQL is not installed the PostgreSQL half of a test is skipped with a loud notice, unless
//! `GATEHOUSE_REQUIRE_POSTGRES=1` (as CI sets), which turns the absence into a failure.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Cluster {
    pub port: u16,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();

fn bin_dir() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").exists() && dir.join("postgres").exists() {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists() && p.join("postgres").exists())
        .collect();
    versions.sort_by_key(|p| {
        p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0)
    });
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// A command run as the postgres user when we are root, as ourselves otherwise.
fn as_postgres(program: &Path, root: bool) -> Command {
    if root {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--pdeathsig", "KILL", "--"])
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start() -> Option<Cluster> {
    let Some(bin) = bin_dir() else {
        if std::env::var("GATEHOUSE_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("PostgreSQL is required (GATEHOUSE_REQUIRE_POSTGRES=1) but initdb/postgres were not found");
        }
        eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        eprintln!("!!  PostgreSQL is not installed: SKIPPING the PostgreSQL half of this test.           !!");
        eprintln!("!!  Install it (Debian: apt-get install postgresql) to run the full suite.             !!");
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
        return None;
    };
    let root = is_root();
    remove_stale_clusters();
    let dir =
        std::env::temp_dir().join(format!("gatehouse-pg-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    if root {
        let status = Command::new("chown").arg("postgres:postgres").arg(&dir).status().unwrap();
        assert!(status.success(), "chown of the cluster directory failed");
    }
    let data = dir.join("data");
    let status = as_postgres(&bin.join("initdb"), root)
        .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8", "-D"])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "initdb failed");
    let port = free_port();
    let (sender, receiver) = std::sync::mpsc::channel();
    let postgres = bin.join("postgres");
    let socket_dir = dir.clone();
    std::thread::spawn(move || {
        let mut command = as_postgres(&postgres, root);
        command
            .arg("-D")
            .arg(&data)
            .args([
                "-p",
                &port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=300",
            ])
            .arg("-k")
            .arg(&socket_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let log = BufReader::new(child.stderr.take().unwrap());
        let mut ready = Some(sender);
        // This thread is the cluster's parent (see the module docs): it lives as long as the cluster,
        // reading its log to tell when it is ready and so that the pipe never fills.
        for line in log.lines().map_while(Result::ok) {
            if line.contains("ready to accept connections") {
                if let Some(sender) = ready.take() {
                    let _ = sender.send(true);
                }
            }
        }
        let _ = child.wait();
        if let Some(sender) = ready.take() {
            let _ = sender.send(false);
        }
        loop {
            std::thread::park();
        }
    });
    let started = receiver.recv_timeout(Duration::from_secs(60)).unwrap_or(false);
    assert!(started, "PostgreSQL did not start");
    Some(Cluster { port })
}

/// Removes the directories of clusters whose test process has ended (a cluster cannot outlive its
/// process, but its directory does).
fn remove_stale_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("gatehouse-pg-").and_then(|rest| rest.split('-').next()) else { continue };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The process's cluster, started on first use; `None` when PostgreSQL is not installed.
pub fn cluster() -> Option<&'static Cluster> {
    CLUSTER.get_or_init(start).as_ref()
}

impl Cluster {
    /// A new, empty database; returns its URL.
    pub async fn create_database(&self) -> String {
        use sqlx::Connection;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut connection = loop {
            match sqlx::PgConnection::connect(&admin).await {
                Ok(c) => break c,
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot connect to the test cluster: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut connection).await.unwrap();
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

/// A database URL for each engine the machine offers: SQLite in `dir` always, PostgreSQL when installed.
pub async fn engines(dir: &Path) -> Vec<(&'static str, String)> {
    let mut urls = vec![("sqlite", format!("sqlite://{}", dir.join("gatehouse.db").display()))];
    if let Some(cluster) = cluster() {
        urls.push(("postgres", cluster.create_database().await));
    }
    urls
}
