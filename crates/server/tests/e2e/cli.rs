//! The command line against a running server: users imported and exported in Entra's bulk-create
//! template, groups and their members, subscriptions and license assignments, as tables and as JSON.

use crate::support::{servers, Server};
use reqwest::Method;
use serde_json::Value;
use std::ffi::OsStr;

/// Runs `gatehouse COMMAND …` with these arguments against the server, as its admin app.
async fn cli(server: &Server, command: &str, arguments: &[&OsStr]) -> std::process::Output {
    let t = &server.tenant;
    tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg(command)
        .args(arguments)
        .args(["--url", &server.base, "--tenant", &t.tenant_id.to_string(), "--client-id", &t.client_id.to_string()])
        .env("GATEHOUSE_CLIENT_SECRET", &t.client_secret)
        .output()
        .await
        .unwrap()
}

/// What the command printed, once it succeeded.
async fn said(server: &Server, command: &str, arguments: &[&str]) -> String {
    let arguments: Vec<&OsStr> = arguments.iter().map(OsStr::new).collect();
    let output = cli(server, command, &arguments).await;
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{}: {printed} {}", server.engine, String::from_utf8_lossy(&output.stderr));
    printed
}

#[tokio::test]
async fn the_cli_manages_groups_members_and_licenses_as_tables_and_json() {
    for server in servers().await {
        let engine = server.engine;
        let admin = server.admin_token().await;
        let body = serde_json::json!({"skuPartNumber": "ENTERPRISEPACK", "prepaidUnits": {"enabled": 3}});
        server.call(&admin, Method::POST, "/v1.0/subscribedSkus", Some(body)).await;
        for (upn, department) in [("cli.ana", "Sales"), ("cli.bo", "Ops")] {
            let body = serde_json::json!({
                "accountEnabled": true, "displayName": upn, "mailNickname": upn.replace('.', ""),
                "userPrincipalName": format!("{upn}@contoso.gatehouse.test"), "department": department,
                "usageLocation": "NL", "passwordProfile": {"password": "Correct-Horse-9-Battery"},
            });
            let (status, made) = server.call(&admin, Method::POST, "/v1.0/users", Some(body)).await;
            assert!(status.is_success(), "{engine}: {made}");
        }

        // Groups: a security group made, a member added by user name, shown as a table and as JSON.
        let made = said(&server, "groups", &["create", "--name", "CLI Buyers", "--output", "json"]).await;
        let group: Value = serde_json::from_str(&made).unwrap();
        assert_eq!(
            (group["securityEnabled"].as_bool(), group["mailNickname"].as_str()),
            (Some(true), Some("clibuyers"))
        );
        said(&server, "groups", &["add-member", "CLI Buyers", "--member", "cli.ana@contoso.gatehouse.test"]).await;
        let table = said(&server, "groups", &["members", "CLI Buyers"]).await;
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("ID") && lines[0].contains("USER NAME"), "{engine}: {table}");
        assert_eq!(lines.len(), 2, "{engine}: one member: {table}");
        assert!(lines[1].contains("cli.ana@contoso.gatehouse.test"), "{engine}: {table}");
        let listed = said(&server, "groups", &["list", "--search", "CLI", "--output", "json"]).await;
        let listed: Vec<Value> = serde_json::from_str(&listed).unwrap();
        assert_eq!(listed.len(), 1, "{engine}: {listed:?}");
        let dynamic =
            said(&server, "groups", &["create", "--name", "CLI Ops", "--rule", "user.department -eq \"Ops\""]).await;
        assert!(dynamic.contains("DynamicMembership"), "{engine}: {dynamic}");

        // A refusal is Graph's: the same member again.
        let again = ["add-member", "CLI Buyers", "--member", "cli.ana@contoso.gatehouse.test"].map(OsStr::new);
        let output = cli(&server, "groups", &again).await;
        assert!(!output.status.success(), "{engine}");
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(error.contains("already exist"), "{engine}: {error}");

        // Licenses: by part number, to a user and through a group; the seats as a table.
        said(&server, "licenses", &["assign", "--sku", "ENTERPRISEPACK", "--user", "cli.bo@contoso.gatehouse.test"])
            .await;
        said(&server, "licenses", &["assign", "--sku", "enterprisepack", "--group", "CLI Buyers"]).await;
        let mut seats = String::new();
        for _ in 0..100 {
            seats = said(&server, "licenses", &["list"]).await;
            if seats.lines().any(|l| l.contains("ENTERPRISEPACK") && l.split_whitespace().nth(2) == Some("2")) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let row = seats.lines().find(|l| l.contains("ENTERPRISEPACK")).unwrap_or_default();
        assert_eq!(row.split_whitespace().skip(2).collect::<Vec<_>>(), ["2", "3"], "{engine}: {seats}");
        said(&server, "licenses", &["remove", "--sku", "ENTERPRISEPACK", "--user", "cli.bo@contoso.gatehouse.test"])
            .await;
        said(&server, "groups", &["remove-member", "CLI Buyers", "--member", "cli.ana@contoso.gatehouse.test"]).await;
        let empty = said(&server, "groups", &["members", "CLI Buyers", "--output", "json"]).await;
        assert_eq!(serde_json::from_str::<Vec<Value>>(&empty).unwrap().len(), 0, "{engine}: {empty}");
        said(&server, "groups", &["delete", "CLI Ops"]).await;
        let users = said(&server, "users", &["list", "--search", "cli.", "--output", "json"]).await;
        assert_eq!(serde_json::from_str::<Vec<Value>>(&users).unwrap().len(), 2, "{engine}: {users}");
        let sheet = said(&server, "users", &["list", "--search", "cli.", "--output", "csv"]).await;
        let rows: Vec<&str> = sheet.lines().collect();
        assert_eq!(rows[0], "id,displayName,userPrincipalName,userType,accountEnabled", "{engine}: {sheet}");
        assert_eq!(rows.len(), 3, "{engine}: {sheet}");
        assert!(rows[1..].iter().all(|r| r.ends_with(",Member,true")), "{engine}: {sheet}");
        let missing = cli(
            &server,
            "licenses",
            &["assign", "--sku", "NOPE", "--user", "cli.bo@contoso.gatehouse.test"].map(OsStr::new),
        )
        .await;
        assert!(String::from_utf8_lossy(&missing.stderr).contains("no subscription to NOPE"), "{engine}");
    }
}

#[tokio::test]
async fn the_cli_imports_and_exports_entras_bulk_create_template() {
    for server in servers().await {
        let engine = server.engine;
        let dir = tempfile::tempdir().unwrap();
        let (csv, results) = (dir.path().join("users.csv"), dir.path().join("results.csv"));
        let template = "version:v1.0\n\
            Name [displayName] Required,User name [userPrincipalName] Required,Initial password [passwordProfile] Required,Block sign in (Yes/No) [accountEnabled] Required,First name [givenName],Last name [surname],Job title [jobTitle],Department [department],City [city]\n\
            Iris Ng,iris@contoso.gatehouse.test,Correct-Horse-9-Battery,No,Iris,Ng,Buyer,Sales,Oslo\n\
            Jon Bo,jon@contoso.gatehouse.test,,Yes,Jon,Bo,,Ops,\n\
            Iris Again,iris@contoso.gatehouse.test,,No,,,,,\n\
            Nobody,,,No,,,,,\n";
        std::fs::write(&csv, template).unwrap();
        let import =
            [OsStr::new("import"), OsStr::new("--csv"), csv.as_os_str(), OsStr::new("--results"), results.as_os_str()];
        let output = cli(&server, "users", &import).await;
        let said = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{engine}: {said} {}", String::from_utf8_lossy(&output.stderr));
        assert!(said.contains("2 users created, 2 failed"), "{engine}: {said}");
        let outcome = std::fs::read_to_string(&results).unwrap();
        let lines: Vec<&str> = outcome.lines().collect();
        assert_eq!(lines.len(), 5, "{engine}: {outcome}");
        assert!(lines[1].starts_with("1,iris@contoso.gatehouse.test,created,"), "{engine}: {outcome}");
        assert!(lines[3].contains(",failed,"), "{engine}: the duplicate: {outcome}");
        assert!(lines[4].contains(",failed,") && lines[4].contains("user name"), "{engine}: {outcome}");
        let admin = server.admin_token().await;
        let select = "$select=displayName,jobTitle,department,city,accountEnabled";
        let (_, iris) =
            server.call(&admin, Method::GET, &format!("/v1.0/users/iris@contoso.gatehouse.test?{select}"), None).await;
        assert_eq!(
            (iris["jobTitle"].as_str(), iris["city"].as_str()),
            (Some("Buyer"), Some("Oslo")),
            "{engine}: {iris}"
        );
        let (_, jon) =
            server.call(&admin, Method::GET, &format!("/v1.0/users/jon@contoso.gatehouse.test?{select}"), None).await;
        assert_eq!(jon["accountEnabled"], false, "{engine}: sign-in blocked: {jon}");

        // Export: every user, in the same template, through Graph.
        let exported = dir.path().join("export.csv");
        let output = cli(&server, "users", &[OsStr::new("export"), OsStr::new("--csv"), exported.as_os_str()]).await;
        assert!(output.status.success(), "{engine}: {}", String::from_utf8_lossy(&output.stderr));
        let text = std::fs::read_to_string(&exported).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "version:v1.0", "{engine}");
        assert!(
            lines[1].starts_with("Name [displayName] Required,User name [userPrincipalName] Required"),
            "{engine}: {text}"
        );
        let iris_row = lines.iter().find(|l| l.contains("iris@contoso.gatehouse.test")).unwrap();
        assert!(
            iris_row.starts_with("Iris Ng,iris@contoso.gatehouse.test,No,Iris,Ng,Buyer,Sales,"),
            "{engine}: {iris_row}"
        );
        let jon_row = lines.iter().find(|l| l.contains("jon@contoso.gatehouse.test")).unwrap();
        assert!(jon_row.contains(",Yes,"), "{engine}: blocked: {jon_row}");
    }
}
