//! Microsoft's own Python Graph SDK drives the running server through the whole user lifecycle, on
//! every engine, over HTTP and over HTTPS.

use crate::processes::{client, dev_certificates, launch, token};
use gatehouse_testkit::postgres;
use gatehouse_testkit::process::ServerProcess;
use std::path::Path;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/msgraph_lifecycle.py");

#[tokio::test]
async fn msgraph_sdk_user_lifecycle() {
    let python = gatehouse_testkit::python::interop_python(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = dev_certificates(dir.path());
    for (engine, url) in postgres::engines(dir.path()).await {
        for https in [false, true] {
            let data = dir.path().join(format!("{engine}-{https}"));
            // Each run starts from an empty database, so each bootstraps its own tenant.
            let database = match (engine, https) {
                ("sqlite", _) => format!("sqlite://{}", data.join("gatehouse.db").display()),
                (_, false) => url.clone(),
                _ => postgres::cluster().unwrap().create_database().await,
            };
            let mut settings = launch(&data, &database, None);
            if https {
                settings.tls = Some((cert.clone(), key.clone()));
            }
            run(&python, ServerProcess::start(settings), https.then_some(ca.as_path()), engine).await;
        }
    }
}

async fn run(python: &Path, server: ServerProcess, ca: Option<&Path>, engine: &str) {
    let bootstrap = server.bootstrap.clone().unwrap();
    let token = token(&client(ca), &server.base_url, &bootstrap).await;
    let mut command = tokio::process::Command::new(python);
    command.arg(SCRIPT).arg(&server.base_url).arg(&token).arg(bootstrap["tenantDomain"].as_str().unwrap());
    if let Some(ca) = ca {
        command.arg(ca);
    }
    let output = command.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{engine} {}: the SDK run failed:\n{stdout}\n{}",
        server.base_url,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("msgraph-sdk lifecycle passed"), "{stdout}");
    eprintln!("{engine}: {}", stdout.trim());
}
