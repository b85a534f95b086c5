//! `gatehouse users import` and `export`: Entra's bulk-create template (the core's
//! [`gatehouse_core::scim::template`]) sent to a running server through SCIM's `/Bulk` — the same core path
//! as any bulk request and the admin center's import — with the admin app's credentials, a thousand users a
//! request, a progress bar, and a result file with each row's outcome.

use crate::remote::{Graph, Target};
use anyhow::Context;
use gatehouse_core::scim::template::{self, EXPORTED, RESULT_COLUMNS, ROWS_PER_REQUEST};
use serde_json::Value;
use std::path::Path;

/// Writes every user of the tenant to `csv` in Entra's bulk-create template, read through Graph a page at a
/// time; answers how many were written.
pub async fn export(target: &Target, csv: &Path) -> anyhow::Result<usize> {
    let graph = Graph::connect(target).await?;
    let select: Vec<&str> = EXPORTED.iter().map(|(_, property)| *property).collect();
    let users = graph.all(&format!("/users?$top=999&$select={}", select.join(",")), "users").await?;
    let text = template::export(&users);
    std::fs::write(csv, text).with_context(|| format!("cannot write {}", csv.display()))?;
    Ok(users.len())
}

/// Imports the file's users; writes each row's outcome to `results` (CSV: row, user name, status, id or
/// error) and answers how many were created and how many failed.
pub async fn import(target: &Target, csv: &Path, results: &Path) -> anyhow::Result<(usize, usize)> {
    let text = std::fs::read_to_string(csv).with_context(|| format!("cannot read {}", csv.display()))?;
    let rows = template::read(&text).map_err(anyhow::Error::msg)?;
    let graph = Graph::connect(target).await?;
    let progress = indicatif::ProgressBar::new(rows.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} users, {per_sec}, {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut writer = csv::Writer::from_path(results).with_context(|| format!("cannot write {}", results.display()))?;
    writer.write_record(RESULT_COLUMNS)?;
    let (mut created, mut failed) = (0, 0);
    for chunk in rows.chunks(ROWS_PER_REQUEST) {
        let body = template::bulk_request(chunk);
        let response =
            graph.http.post(format!("{}/scim/v2/Bulk", graph.url)).bearer_auth(&graph.token).json(&body).send().await?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "the bulk request was refused ({status}): {answer}");
        let answers = answer["Operations"].as_array().cloned().unwrap_or_default().into_iter().map(|op| {
            match op["status"] == "201" {
                true => {
                    Ok(op["location"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_owned())
                }
                false => Err(op["response"]["detail"].as_str().unwrap_or("refused").to_owned()),
            }
        });
        for result in template::results(chunk, answers.collect()) {
            match result.fate {
                template::Fate::Created(_) => created += 1,
                template::Fate::Failed(_) => failed += 1,
            }
            writer.write_record(result.record())?;
        }
        progress.inc(chunk.len() as u64);
    }
    writer.flush()?;
    progress.finish();
    Ok((created, failed))
}
