//! Provisioning benchmarks: the initial cycle of a group assigned to an app into a SCIM server on loopback
//! (objects per second), and how long a change of a user takes to reach the app.

use super::{print_changes, Http};
use serde_json::json;
use std::time::{Duration, Instant};

/// Gives a new app a provisioning job into `target` (its bearer `target_token`), assigns `group` to it,
/// starts the job and times until the job has made `members` users there.
pub async fn cycle(http: &Http, group: &str, target: &str, target_token: &str, members: u64) -> anyhow::Result<()> {
    let (_, app) = http.send("POST", "/v1.0/applications", Some(json!({"displayName": "SCIM app"}))).await?;
    let body = json!({"appId": app["appId"]});
    let (status, principal) = http.send("POST", "/v1.0/servicePrincipals", Some(body)).await?;
    anyhow::ensure!(status == 201, "making the service principal: {status} {principal}");
    let principal = principal["id"].as_str().unwrap_or_default().to_owned();
    let assignment = json!({"principalId": group, "resourceId": principal, "appRoleId": uuid::Uuid::nil()});
    let (status, body) =
        http.send("POST", &format!("/v1.0/servicePrincipals/{principal}/appRoleAssignedTo"), Some(assignment)).await?;
    anyhow::ensure!(status == 201, "assigning the group: {status} {body}");
    let jobs = format!("/v1.0/servicePrincipals/{principal}/synchronization");
    let settings = json!([{"name": "RequestsPerSecond", "value": "1000000"}]);
    let body = json!({"templateId": "scim", "synchronizationJobSettings": settings});
    let (status, job) = http.send("POST", &format!("{jobs}/jobs"), Some(body)).await?;
    anyhow::ensure!(status == 201, "making the job: {status} {job}");
    let job = job["id"].as_str().unwrap_or_default().to_owned();
    let secrets =
        json!({"value": [{"key": "BaseAddress", "value": target}, {"key": "SecretToken", "value": target_token}]});
    let (status, body) = http.send("PUT", &format!("{jobs}/secrets"), Some(secrets)).await?;
    anyhow::ensure!(status == 204, "setting the secrets: {status} {body}");
    let started = Instant::now();
    let (status, body) = http.send("POST", &format!("{jobs}/jobs/{job}/start"), None).await?;
    anyhow::ensure!(status == 204, "starting: {status} {body}");
    loop {
        let (_, state) = http.send("GET", &format!("{jobs}/jobs/{job}"), None).await?;
        let made = state["status"]["synchronizedEntryCountByType"][0]["value"].as_u64().unwrap_or(0);
        if made >= members && state["status"]["lastSuccessfulExecution"].is_object() {
            break;
        }
        anyhow::ensure!(state["status"]["code"] != "Quarantine", "the job went into quarantine: {state}");
        anyhow::ensure!(started.elapsed() < Duration::from_secs(3600), "the initial cycle never ended: {state}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"name": "initial provisioning cycle", "users": members, "seconds": (seconds * 100.0).round() / 100.0,
            "objects_per_s": (members as f64 / seconds).round()})
    );
    Ok(())
}

/// Changes the department of `changes` of the users one at a time through Graph, timing each from the
/// request's return until the app (`target`) shows it.
pub async fn latency(http: &Http, target: &Http, users: &std::path::Path, changes: usize) -> anyhow::Result<()> {
    let users: Vec<String> = std::fs::read_to_string(users)?.lines().map(str::to_owned).collect();
    let mut latencies = Vec::new();
    for (n, user) in users.iter().take(changes).enumerate() {
        let (_, found) = http.send("GET", &format!("/v1.0/users/{user}?$select=userPrincipalName"), None).await?;
        let upn = found["userPrincipalName"].as_str().unwrap_or_default().to_owned();
        let filter = format!("userName eq \"{upn}\"");
        let (_, there) = target.send("GET", &format!("/Users?filter={}", crate::percent(&filter)), None).await?;
        let id = there["Resources"][0]["id"].as_str().unwrap_or_default().to_owned();
        anyhow::ensure!(!id.is_empty(), "{upn} is not in the app");
        let department = format!("Department {n}");
        let (status, body) =
            http.send("PATCH", &format!("/v1.0/users/{user}"), Some(json!({"department": department}))).await?;
        anyhow::ensure!(status == 204, "changing {user}: {status} {body}");
        let returned = Instant::now();
        loop {
            let (_, there) = target.send("GET", &format!("/Users/{id}"), None).await?;
            let shown = &there["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"];
            if shown == &json!(department) {
                break;
            }
            anyhow::ensure!(returned.elapsed() < Duration::from_secs(60), "the change of {user} never reached the app");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(returned.elapsed().as_micros() as u64);
    }
    print_changes("user change reaching the app", latencies);
    Ok(())
}

/// Creates `count` users through SCIM's `/Bulk` (each with an initial password when `passwords`),
/// `per_request` at a time, one request after another; prints users per second.
pub async fn scim_bulk(http: &Http, count: usize, per_request: usize, passwords: bool) -> anyhow::Result<()> {
    let prefix = if passwords { "hashed" } else { "bulk" };
    let started = Instant::now();
    let mut made = 0;
    while made < count {
        let operations: Vec<serde_json::Value> = (made..(made + per_request).min(count))
            .map(|n| {
                let mut data = json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("{prefix}{n}"),
                    "name": {"givenName": "Bulk", "familyName": format!("{n}")}, "active": true,
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Imported"},
                });
                if passwords {
                    data["password"] = json!(format!("Imported-{n}-Correct-Horse"));
                }
                json!({"method": "POST", "path": "/Users", "bulkId": format!("u{n}"), "data": data})
            })
            .collect();
        let sent = operations.len();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations});
        let (status, answer) = http.send("POST", "/scim/v2/Bulk", Some(body)).await?;
        anyhow::ensure!(status == 200, "bulk request: {status} {answer}");
        let failed =
            answer["Operations"].as_array().map_or(sent, |o| o.iter().filter(|o| o["status"] != "201").count());
        anyhow::ensure!(failed == 0, "{failed} operations failed: {answer}");
        made += sent;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"name": "SCIM /Bulk import", "passwords": passwords, "users": count, "per_request": per_request,
            "seconds": (seconds * 100.0).round() / 100.0, "users_per_s": (count as f64 / seconds).round()})
    );
    Ok(())
}
