//! The real `gatehouse` binary as a child process, listening on a free loopback port.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Cheap argon2id parameters, set explicitly for tests (never a default).
pub const TEST_HASH_ENV: [(&str, &str); 2] =
    [("GATEHOUSE_PASSWORD_HASH_MEMORY_KIB", "256"), ("GATEHOUSE_PASSWORD_HASH_ITERATIONS", "1")];

pub struct ServerProcess {
    child: Child,
    pub address: String,
    pub base_url: String,
    /// The bootstrap JSON, when this start created the first tenant.
    pub bootstrap: Option<serde_json::Value>,
    /// The folder the server writes its email to (the data directory's `outbox`).
    pub outbox: PathBuf,
}

pub struct Launch<'a> {
    pub binary: &'a Path,
    pub data_dir: &'a Path,
    pub database_url: &'a str,
    pub master_key: Option<&'a str>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub env: HashMap<String, String>,
}

impl ServerProcess {
    /// Starts the server and waits until it listens.
    pub fn start(launch: Launch<'_>) -> ServerProcess {
        let output = launch.data_dir.join(format!("bootstrap-{}.json", uuid::Uuid::new_v4().simple()));
        let mut command = Command::new(launch.binary);
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(launch.data_dir)
            .args(["--database-url", launch.database_url, "--bootstrap-output"])
            .arg(&output)
            .envs(TEST_HASH_ENV)
            .envs(&launch.env)
            .env("GATEHOUSE_LOG", "info")
            .env_remove("GATEHOUSE_MASTER_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(key) = launch.master_key {
            command.env("GATEHOUSE_MASTER_KEY", key);
        }
        let https = launch.tls.is_some();
        if let Some((cert, key)) = &launch.tls {
            command.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        let mut child = command.spawn().expect("the gatehouse binary starts");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sender = Some(sender);
            for line in stderr.lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) {
                    if event["fields"]["message"] == "listening" {
                        if let Some(s) = sender.take() {
                            let _ = s.send(Ok(event["fields"]["address"].as_str().unwrap_or_default().to_owned()));
                        }
                    }
                } else if let Some(s) = &sender {
                    let _ = s.send(Err(line));
                }
            }
        });
        let address = loop {
            match receiver.recv_timeout(Duration::from_secs(120)) {
                Ok(Ok(address)) => break address,
                Ok(Err(line)) => eprintln!("gatehouse: {line}"),
                Err(_) => panic!("the server did not start listening: {:?}", child.try_wait()),
            }
        };
        let bootstrap = std::fs::read(&output).ok().map(|b| serde_json::from_slice(&b).unwrap());
        let scheme = if https { "https" } else { "http" };
        let host = address.replace("127.0.0.1", if https { "localhost" } else { "127.0.0.1" });
        let outbox = launch.data_dir.join("outbox");
        ServerProcess { child, base_url: format!("{scheme}://{host}"), address, bootstrap, outbox }
    }

    /// SIGKILL: no chance to flush or finish anything.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a clean exit; returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
