//! `gatehouse users import` and `export`. Import: Entra's bulk-create CSV (the admin center's template: a `version:v1.0` line,
//! then columns such as `Name [displayName] Required`) sent to a running server through SCIM's `/Bulk` —
//! the same core path as any bulk request — with the admin app's credentials, a thousand users a request,
//! a progress bar, and a result file with each row's outcome.

use crate::remote::{Graph, Target};
use anyhow::Context;
use gatehouse_core::store::{ObjectKind, ObjectRecord};
use serde_json::{json, Map, Value};
use std::path::Path;

/// Users a request carries.
const PER_REQUEST: usize = 1_000;

/// The directory property a template column names: the text in its brackets (`Name [displayName]
/// Required` → `displayName`), else the column as written.
fn property(column: &str) -> String {
    match column.split_once('[').and_then(|(_, rest)| rest.split_once(']')) {
        Some((name, _)) => name.trim().to_owned(),
        None => column.trim().to_owned(),
    }
}

/// A SCIM user from one row (its columns by property name): the row read as a user of the directory, shown
/// as SCIM shows one, with its initial password.
fn scim_user(row: &Map<String, Value>) -> anyhow::Result<Value> {
    let text = |name: &str| row.get(name).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty());
    let upn = text("userPrincipalName").context("the row has no user name (userPrincipalName)")?;
    let blocked = match text("accountEnabled").map(str::to_ascii_lowercase).as_deref() {
        None | Some("no") | Some("false") => false,
        Some("yes") | Some("true") => true,
        Some(other) => anyhow::bail!("'Block sign in' is Yes or No, not '{other}'"),
    };
    let mut doc = Map::new();
    for (column, value) in row {
        let Some(value) = value.as_str().map(str::trim).filter(|v| !v.is_empty()) else { continue };
        match column.as_str() {
            "telephoneNumber" => doc.insert("businessPhones".into(), json!([value])),
            "mobile" => doc.insert("mobilePhone".into(), json!(value)),
            "accountEnabled" | "passwordProfile" => None,
            other => doc.insert(other.to_owned(), json!(value)),
        };
    }
    doc.insert("userPrincipalName".into(), json!(upn));
    doc.insert("accountEnabled".into(), json!(!blocked));
    let record = ObjectRecord {
        id: uuid::Uuid::nil(),
        kind: ObjectKind::User,
        version: 1,
        unique_key: None,
        manager: None,
        doc,
        created_at: chrono::Utc::now(),
        deleted_at: None,
    };
    let mut user = gatehouse_core::scim::users::to_scim(&record, "");
    user.remove("id");
    user.remove("meta");
    if let Some(password) = text("passwordProfile") {
        user.insert("password".into(), json!(password));
    }
    Ok(Value::Object(user))
}

/// The rows of a template file, each its columns by property name.
fn rows(path: &Path) -> anyhow::Result<Vec<Map<String, Value>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let body = match text.lines().next() {
        Some(first) if first.trim().to_ascii_lowercase().starts_with("version:") => {
            text.split_once('\n').map(|(_, rest)| rest).unwrap_or_default()
        }
        _ => text.as_str(),
    };
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(body.as_bytes());
    let names: Vec<String> = reader.headers()?.iter().map(property).collect();
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record?;
        out.push(names.iter().cloned().zip(record.iter().map(|v| json!(v))).collect());
    }
    Ok(out)
}

/// The columns an export writes: Entra's bulk-create template's, without the password.
const EXPORTED: &[(&str, &str)] = &[
    ("Name [displayName] Required", "displayName"),
    ("User name [userPrincipalName] Required", "userPrincipalName"),
    ("Block sign in (Yes/No) [accountEnabled] Required", "accountEnabled"),
    ("First name [givenName]", "givenName"),
    ("Last name [surname]", "surname"),
    ("Job title [jobTitle]", "jobTitle"),
    ("Department [department]", "department"),
    ("Usage location [usageLocation]", "usageLocation"),
    ("Street address [streetAddress]", "streetAddress"),
    ("State or province [state]", "state"),
    ("Country or region [country]", "country"),
    ("Office [officeLocation]", "officeLocation"),
    ("City [city]", "city"),
    ("ZIP or postal code [postalCode]", "postalCode"),
    ("Mobile phone [mobile]", "mobilePhone"),
];

/// Writes every user of the tenant to `csv` in Entra's bulk-create template (a `version:v1.0` line, then
/// its columns; "Block sign in" is Yes for a disabled account), read through Graph a page at a time;
/// answers how many were written.
pub async fn export(target: &Target, csv: &Path) -> anyhow::Result<usize> {
    let graph = Graph::connect(target).await?;
    let select: Vec<&str> = EXPORTED.iter().map(|(_, property)| *property).collect();
    let users = graph.all(&format!("/users?$top=999&$select={}", select.join(",")), "users").await?;
    let mut text = String::from("version:v1.0\n");
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(EXPORTED.iter().map(|(column, _)| *column))?;
    for user in &users {
        writer.write_record(EXPORTED.iter().map(|(_, property)| match (*property, &user[*property]) {
            ("accountEnabled", Value::Bool(enabled)) => if *enabled { "No" } else { "Yes" }.to_owned(),
            (_, Value::String(value)) => value.clone(),
            _ => String::new(),
        }))?;
    }
    text.push_str(&String::from_utf8(writer.into_inner()?)?);
    std::fs::write(csv, text).with_context(|| format!("cannot write {}", csv.display()))?;
    Ok(users.len())
}

/// Imports the file's users; writes each row's outcome to `results` (CSV: row, user name, status, id or
/// error) and answers how many were created and how many failed.
pub async fn import(target: &Target, csv: &Path, results: &Path) -> anyhow::Result<(usize, usize)> {
    let rows = rows(csv)?;
    let graph = Graph::connect(target).await?;
    let progress = indicatif::ProgressBar::new(rows.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} users, {per_sec}, {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut writer = csv::Writer::from_path(results).with_context(|| format!("cannot write {}", results.display()))?;
    writer.write_record(["row", "userPrincipalName", "status", "detail"])?;
    let (mut created, mut failed) = (0, 0);
    for (chunk_at, chunk) in rows.chunks(PER_REQUEST).enumerate() {
        let mut operations = Vec::new();
        let mut outcomes: Vec<(usize, String, Option<String>)> = Vec::new();
        for (offset, row) in chunk.iter().enumerate() {
            let number = chunk_at * PER_REQUEST + offset + 1;
            let name = row.get("userPrincipalName").and_then(Value::as_str).unwrap_or_default().to_owned();
            match scim_user(row) {
                Ok(user) => {
                    operations
                        .push(json!({"method": "POST", "path": "/Users", "bulkId": number.to_string(), "data": user}));
                    outcomes.push((number, name, None));
                }
                Err(e) => outcomes.push((number, name, Some(e.to_string()))),
            }
        }
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations});
        let response =
            graph.http.post(format!("{}/scim/v2/Bulk", graph.url)).bearer_auth(&graph.token).json(&body).send().await?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "the bulk request was refused ({status}): {answer}");
        let mut done = answer["Operations"].as_array().cloned().unwrap_or_default().into_iter();
        for (number, name, refused) in outcomes {
            let (state, detail) = match refused {
                Some(error) => ("failed", error),
                None => match done.next() {
                    Some(op) if op["status"] == "201" => {
                        let location = op["location"].as_str().unwrap_or_default();
                        ("created", location.rsplit('/').next().unwrap_or_default().to_owned())
                    }
                    Some(op) => ("failed", op["response"]["detail"].as_str().unwrap_or("refused").to_owned()),
                    None => ("failed", "the server answered no outcome".to_owned()),
                },
            };
            match state {
                "created" => created += 1,
                _ => failed += 1,
            }
            writer.write_record([number.to_string(), name, state.to_owned(), detail])?;
        }
        progress.inc(chunk.len() as u64);
    }
    writer.flush()?;
    progress.finish();
    Ok((created, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entras_template_columns_become_a_scim_user() -> anyhow::Result<()> {
        assert_eq!(property("User name [userPrincipalName] Required"), "userPrincipalName");
        let row: Map<String, Value> = [
            ("displayName", "Ann Lee"),
            ("userPrincipalName", "ann@contoso.test"),
            ("passwordProfile", "Correct-Horse-9"),
            ("accountEnabled", "Yes"),
            ("department", "Sales"),
            ("city", "Oslo"),
            ("mobile", "+47 2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect();
        let user = scim_user(&row)?;
        assert_eq!((user["userName"].as_str(), user["active"].as_bool()), (Some("ann@contoso.test"), Some(false)));
        assert_eq!(user["password"], "Correct-Horse-9");
        assert_eq!(user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"], "Sales");
        assert_eq!(user["addresses"][0]["locality"], "Oslo");
        assert_eq!(user["phoneNumbers"][0], json!({"type": "mobile", "value": "+47 2"}));
        assert!(user.get("id").is_none(), "{user}");
        let mut bad = row.clone();
        bad.insert("accountEnabled".into(), json!("Maybe"));
        assert!(scim_user(&bad).is_err());
        Ok(())
    }
}
