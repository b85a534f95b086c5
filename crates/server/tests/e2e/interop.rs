//! Microsoft's own Python Graph SDK drives the running server through the whole user lifecycle, on
//! every engine, over HTTP and over HTTPS.

use crate::processes::{client, dev_certificates, launch, token};
use crate::support::{free_port, Relay};
use gatehouse_testkit::postgres;
use gatehouse_testkit::process::ServerProcess;
use std::path::Path;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/msgraph_lifecycle.py");
const QUERIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/msgraph_queries.py");
const GROUPS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/msgraph_groups.py");
const LICENSING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/msgraph_licensing.py");
const BROWSER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/browser_sign_in.py");
const BROWSER_PASSWORDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/browser_passwords.py");
const BROWSER_MFA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/browser_mfa.py");
const SIGN_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/msal_sign_in.py");
const ROLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/msgraph_admin_roles.py");
const INVITATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/msgraph_invitations.py");
const SCIM_TESTER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/scim_tester.py");
const BROWSER_GUEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/browser_guest.py");
const BROWSER_ADMIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/browser_admin.py");
/// Users the query run seeds: enough for many pages at every page size the script asks for.
const SEEDED: usize = 1500;

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
            let server = ServerProcess::start(settings);
            run(&python, SCRIPT, &server, https.then_some(ca.as_path()), engine, "msgraph-sdk lifecycle passed").await;
        }
    }
}

#[tokio::test]
async fn msgraph_sdk_groups_and_membership() {
    let python = gatehouse_testkit::python::interop_python(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let dir = tempfile::tempdir().unwrap();
    for (engine, url) in postgres::engines(dir.path()).await {
        let server = ServerProcess::start(launch(&dir.path().join(engine), &url, None));
        run(&python, GROUPS, &server, None, engine, "msgraph-sdk groups passed").await;
    }
}

/// Invitations sent with msgraph-sdk, the guests listed with it, and a redemption with the mailed code.
#[tokio::test]
async fn msgraph_sdk_invites_guests() {
    let python = gatehouse_testkit::python::interop_python(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let dir = tempfile::tempdir().unwrap();
    for (engine, url) in postgres::engines(dir.path()).await {
        let server = ServerProcess::start(launch(&dir.path().join(engine), &url, None));
        run(&python, INVITATIONS, &server, None, engine, "msgraph-sdk invitations passed").await;
    }
}

/// The SCIM compliance tester (scim2-tester) finds nothing to object to in `/scim/v2`.
#[tokio::test]
async fn scim2_tester_passes() {
    let python = gatehouse_testkit::python::interop_python(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let dir = tempfile::tempdir().unwrap();
    for (engine, url) in postgres::engines(dir.path()).await {
        let server = ServerProcess::start(launch(&dir.path().join(engine), &url, None));
        run(&python, SCIM_TESTER, &server, None, engine, "scim2-tester passed").await;
    }
}

/// Roles assigned with msgraph-sdk; a Helpdesk Administrator's own token resets a member's password with it
/// and is refused for administrators.
#[tokio::test]
async fn msgraph_sdk_helpdesk_resets_a_password() {
    let python = gatehouse_testkit::python::interop_python(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let dir = tempfile::tempdir().unwrap();
    for (engine, url) in postgres::engines(dir.path()).await {
        let server = ServerProcess::start(launch(&dir.path().join(engine), &url, None));
        run(&python, ROLES, &server, None, engine, "msgraph-sdk admin roles passed").await;
    }
}

#[tokio::test]
async fn msgraph_sdk_licensing() {
    let python = gatehouse_testkit::python::interop_python(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let dir = tempfile::tempdir().unwrap();
    for (engine, url) in postgres::engines(dir.path()).await {
        let server = ServerProcess::start(launch(&dir.path().join(engine), &url, None));
        let bootstrap = server.bootstrap.clone().unwrap();
        let http = client(None);
        let token = token(&http, &server.base_url, &bootstrap).await;
        for sku in ["ENTERPRISEPACK", "AAD_PREMIUM"] {
            let body = serde_json::json!({"skuPartNumber": sku, "prepaidUnits": {"enabled": 5}});
            let url = format!("{}/v1.0/subscribedSkus", server.base_url);
            let response = http.post(url).bearer_auth(&token).json(&body).send().await.unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::CREATED);
        }
        run(&python, LICENSING, &server, None, engine, "msgraph-sdk licensing passed").await;
    }
}

/// People and apps sign in with MSAL for Python and azure-identity (client credentials, username and
/// password, silent refresh), and msgraph-sdk reads `/me` with a user's token: over HTTPS, which MSAL
/// requires of an authority, on every engine.
#[tokio::test]
async fn msal_and_azure_identity_sign_in() {
    run_over_https(SIGN_IN, "msal sign-in passed").await;
}

/// A person signs in through the pages in Debian's Chromium (driven by Selenium), consents, and lands on
/// the app's redirect URI; authlib and MSAL redeem the codes; a second sign-in is silent.
#[tokio::test]
async fn a_browser_signs_in_through_the_pages() {
    run_over_https(BROWSER, "browser sign-in passed").await;
}

/// In Chromium: a temporary password is changed inside the sign-in, and a forgotten one is reset with the code
/// the server mailed to the person's alternate address.
#[tokio::test]
async fn a_browser_changes_and_resets_passwords() {
    run_over_https(BROWSER_PASSWORDS, "browser passwords passed").await;
}

/// In Chromium: a Conditional Access policy made with msgraph-sdk requires a second factor; the person registers
/// an authenticator app at the sign-in page (codes from pyotp) and the device code flow asks for a code too.
#[tokio::test]
async fn a_browser_gives_a_second_factor() {
    run_over_https(BROWSER_MFA, "browser mfa passed").await;
}

/// A guest's whole way in, in Chromium over real SMTP: invited with msgraph-sdk, the invitation and codes
/// read from what an SMTP server on loopback received, the invitation redeemed (once), then a sign-in to an
/// app with MSAL's authorization code flow and a mailed code; the tokens mark the guest (`idp`, `acct`).
#[tokio::test]
async fn a_browser_guest_redeems_an_invitation_and_signs_in_with_mailed_codes() {
    run_over_https_mailing(BROWSER_GUEST, "browser guest passed").await;
}

/// The admin center in Chromium: a Global Administrator creates a user (a refused user name said at its field),
/// finds, resets, blocks and deletes it; a Helpdesk Administrator sees and may do only what the role allows;
/// axe-core finds no serious or critical violation on any page. Screenshots go to the target's scratch folder.
#[tokio::test]
async fn the_admin_center_in_a_browser() {
    run_over_https(BROWSER_ADMIN, "browser admin passed").await;
}

/// Runs a script against a server of each engine over HTTPS (with the development certificates), each
/// from an empty database.
async fn run_over_https(script: &str, passed: &str) {
    over_https(script, passed, None).await;
}

/// [`run_over_https`] with the servers' mail going to an SMTP server on loopback, whose maildir the script
/// reads (`GATEHOUSE_MAILDIR`).
async fn run_over_https_mailing(script: &str, passed: &str) {
    let folder = tempfile::tempdir().unwrap();
    let maildir = folder.path().join("maildir");
    let port = free_port();
    let _relay = Relay::start(port, &maildir).await;
    over_https(script, passed, Some((&format!("smtp://127.0.0.1:{port}"), &maildir))).await;
}

async fn over_https(script: &str, passed: &str, mail: Option<(&str, &Path)>) {
    let python = gatehouse_testkit::python::interop_python(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = dev_certificates(dir.path());
    for (engine, url) in postgres::engines(dir.path()).await {
        let data = dir.path().join(engine);
        let mut settings = launch(&data, &url, None);
        settings.tls = Some((cert.clone(), key.clone()));
        if let Some((smtp, _)) = mail {
            settings.env.insert("GATEHOUSE_SMTP_URL".into(), smtp.to_owned());
        }
        let server = ServerProcess::start(settings);
        let maildir = mail.map(|(_, maildir)| maildir);
        run_with(&python, script, &server, Some(ca.as_path()), (engine, passed), maildir).await;
    }
}

/// Runs an interop script against the server as `SCRIPT BASE_URL TOKEN DOMAIN [CA_PEM]`, with the bootstrap
/// output in `GATEHOUSE_BOOTSTRAP`, the server's mail folder in `GATEHOUSE_OUTBOX`, and with HTTPS the CA
/// trusted by Python's HTTP clients and the server's certificate (beside it) in `GATEHOUSE_TLS_CERT`; it must
/// print `passed`.
async fn run(python: &Path, script: &str, server: &ServerProcess, ca: Option<&Path>, engine: &str, passed: &str) {
    run_with(python, script, server, ca, (engine, passed), None).await;
}

/// [`run`], with the maildir of the SMTP server the server's mail goes to in `GATEHOUSE_MAILDIR`.
async fn run_with(
    python: &Path,
    script: &str,
    server: &ServerProcess,
    ca: Option<&Path>,
    (engine, passed): (&str, &str),
    maildir: Option<&Path>,
) {
    let bootstrap = server.bootstrap.clone().unwrap();
    let token = token(&client(ca), &server.base_url, &bootstrap).await;
    let mut command = tokio::process::Command::new(python);
    command.arg(script).arg(&server.base_url).arg(&token).arg(bootstrap["tenantDomain"].as_str().unwrap());
    command.env("GATEHOUSE_BOOTSTRAP", bootstrap.to_string()).env("GATEHOUSE_OUTBOX", &server.outbox);
    command.env("GATEHOUSE_SCREENSHOTS", Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots").join(engine));
    if let Some(maildir) = maildir {
        command.env("GATEHOUSE_MAILDIR", maildir);
    }
    if let Some(ca) = ca {
        command.arg(ca).env("REQUESTS_CA_BUNDLE", ca).env("SSL_CERT_FILE", ca);
        command.env("GATEHOUSE_TLS_CERT", ca.with_file_name("cert.pem"));
    }
    let output = command.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{engine} {}: the SDK run failed:\n{stdout}\n{}",
        server.base_url,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(passed), "{stdout}");
    eprintln!("{engine}: {}", stdout.trim());
}

#[tokio::test]
async fn msgraph_sdk_queries_and_page_iterator() {
    let python = gatehouse_testkit::python::interop_python(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let dir = tempfile::tempdir().unwrap();
    for (engine, url) in postgres::engines(dir.path()).await {
        let server = ServerProcess::start(launch(&dir.path().join(engine), &url, None));
        let bootstrap = server.bootstrap.clone().unwrap();
        let http = client(None);
        let token = token(&http, &server.base_url, &bootstrap).await;
        let domain = bootstrap["tenantDomain"].as_str().unwrap().to_owned();
        let mut seeding = tokio::task::JoinSet::new();
        for worker in 0..8 {
            let (http, base, token, domain) = (http.clone(), server.base_url.clone(), token.clone(), domain.clone());
            seeding.spawn(async move {
                for i in (worker..SEEDED).step_by(8) {
                    let department = ["Sales", "R&D", "Support"][i % 3];
                    let user = serde_json::json!({
                        "accountEnabled": true, "displayName": format!("User {i:04}"), "mailNickname": format!("u{i}"),
                        "userPrincipalName": format!("u{i}@{domain}"), "department": department,
                        "passwordProfile": {"password": "Seed-Kestr3l!"},
                    });
                    let response =
                        http.post(format!("{base}/v1.0/users")).bearer_auth(&token).json(&user).send().await.unwrap();
                    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
                }
            });
        }
        while let Some(done) = seeding.join_next().await {
            done.unwrap();
        }
        let output = tokio::process::Command::new(&python)
            .arg(QUERIES)
            .arg(&server.base_url)
            .arg(&token)
            .arg(SEEDED.to_string())
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{engine}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.contains("msgraph-sdk queries passed"), "{stdout}");
        eprintln!("{engine}: {}", stdout.trim());
    }
}
