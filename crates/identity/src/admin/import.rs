//! The admin center's bulk import of users: Entra's bulk-create template uploaded, run in the background
//! through the core's `/Bulk` path (`scim::template`, the CLI's path too) a thousand rows at a time, with a
//! progress page that refreshes itself (an HTTP `Refresh`, so it needs no script) and, at the end, a result
//! file with each row's outcome. An import belongs to the person who started it: only they see its
//! progress and results. It runs on the node that received the upload and lives there for an hour after
//! it ends.

use super::{admin_page, home, refused, unless_allowed, Admin, PURPOSE};
use crate::pages::{escape, form_context, hidden_fields};
use crate::IdentityState;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_core::auth::authorization::Action;
use gatehouse_core::kernel::error::Error;
use gatehouse_core::scim::template::{self, Fate, Row, RowResult, RESULT_COLUMNS, ROWS_PER_REQUEST};
use gatehouse_core::{Caller, Directory};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The largest file an import takes (a hundred thousand rows of the template fit well within it).
pub(crate) const MOST_UPLOAD_BYTES: usize = 64 * 1024 * 1024;
/// How long an ended import's results stay.
const KEPT: Duration = Duration::from_secs(3600);
/// How often the progress page reloads itself while the import runs, in seconds.
const REFRESH_SECONDS: &str = "1";

/// One import: whose it is, how far it got, and its results so far.
struct Job {
    tenant: Uuid,
    owner: Uuid,
    file: String,
    total: usize,
    created: usize,
    failed: usize,
    results: Vec<RowResult>,
    /// Why the import stopped before its end (a request refused as a whole), if it did.
    stopped: Option<String>,
    ended: Option<Instant>,
}

impl Job {
    fn done(&self) -> usize {
        self.results.len()
    }
}

/// The imports this node runs or ran in the last hour.
#[derive(Default)]
pub(crate) struct Imports {
    jobs: Mutex<HashMap<Uuid, Job>>,
}

impl Imports {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<Uuid, Job>) -> T) -> T {
        f(&mut self.jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

fn person(caller: &Caller) -> Option<(Uuid, Uuid)> {
    caller.user().map(|user| (caller.tenant(), user))
}

fn import_path(tenant: &str) -> String {
    format!("{}/users/import", home(tenant))
}

/// The upload form, with the problem of the last upload beside the file field.
fn upload_form(state: &IdentityState, tenant: &str, caller: &Caller, problem: Option<&str>) -> Response {
    let (fields, csrf) = hidden_fields(state, PURPOSE, &json!({"path": tenant, "form": "import"}));
    let (error, described) = match problem {
        Some(p) => (
            format!("\n<span class=\"field-error\" id=\"file-error\">{}</span>", escape(p)),
            " aria-describedby=\"file-error\" aria-invalid=\"true\"",
        ),
        None => (String::new(), ""),
    };
    let body = format!(
        "<h1>Bulk create users</h1>\n<p>Fill in the <a href=\"{base}/users/template.csv\" download>template</a> (Entra's bulk-create columns, one user a row), then upload it. Each row is created on its own; the result file says what became of every row.</p>\n<form method=\"post\" action=\"{action}\" enctype=\"multipart/form-data\">\n{fields}\n<p><label for=\"file\">CSV file</label>\n<input id=\"file\" name=\"file\" type=\"file\" accept=\".csv,text/csv\" required{described}>{error}</p>\n<p><button type=\"submit\">Upload</button> <a href=\"{base}/users\">Cancel</a></p>\n</form>",
        base = escape(&home(tenant)),
        action = escape(&import_path(tenant)),
    );
    let mut response = admin_page(tenant, caller, "Bulk create users", &body, &[csrf]);
    if problem.is_some() {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    response
}

/// `GET /{tenant}/admin/users/import`.
pub async fn import_form(State(state): State<IdentityState>, Admin { tenant, caller }: Admin) -> Response {
    if let Some(response) = unless_allowed(&tenant, &caller, Action::WriteUsers, "creating users") {
        return response;
    }
    upload_form(&state, &tenant, &caller, None)
}

/// `GET /{tenant}/admin/users/template.csv`: the template's columns, no rows.
pub async fn import_template(Admin { .. }: Admin) -> Response {
    csv_file("users-template.csv", template::export_header())
}

pub(super) fn csv_file(name: &str, text: impl Into<axum::body::Body>) -> Response {
    let mut response = text.into().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The upload's fields: the form's own (`ctx`, `csrf`) and the file's name and text.
async fn read_upload(mut multipart: Multipart) -> Result<(HashMap<String, String>, String, String), String> {
    let (mut fields, mut file) = (HashMap::new(), None);
    while let Some(field) = multipart.next_field().await.map_err(|e| format!("The upload could not be read: {e}"))? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|e| format!("The upload could not be read: {e}"))?;
        match name.as_str() {
            "file" => file = Some((file_name.unwrap_or_default(), bytes)),
            _ => {
                fields.insert(name, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    let (file_name, bytes) = file.ok_or("Choose the CSV file to upload.")?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| "The file is not UTF-8 text: save it as CSV UTF-8.")?;
    Ok((fields, file_name, text.trim_start_matches('\u{feff}').to_owned()))
}

/// `POST /{tenant}/admin/users/import`: reads the upload and starts the import, then shows its progress.
pub async fn start_import(
    State(state): State<IdentityState>,
    Admin { tenant, caller }: Admin,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    if let Some(response) = unless_allowed(&tenant, &caller, Action::WriteUsers, "creating users") {
        return response;
    }
    let (fields, file, text) = match read_upload(multipart).await {
        Ok(upload) => upload,
        Err(problem) => return upload_form(&state, &tenant, &caller, Some(&problem)),
    };
    if let Err(response) = form_context(&state, &headers, &fields, PURPOSE, &tenant) {
        return *response;
    }
    let rows = match template::read(&text) {
        Ok(rows) if rows.is_empty() => {
            return upload_form(&state, &tenant, &caller, Some("The file has no rows under its columns."))
        }
        Ok(rows) => rows,
        Err(problem) => return upload_form(&state, &tenant, &caller, Some(&problem)),
    };
    let Some((tenant_id, owner)) = person(&caller) else { return upload_form(&state, &tenant, &caller, None) };
    let id = Uuid::new_v4();
    let job = Job {
        tenant: tenant_id,
        owner,
        file,
        total: rows.len(),
        created: 0,
        failed: 0,
        results: Vec::with_capacity(rows.len()),
        stopped: None,
        ended: None,
    };
    state.imports.with(|jobs| {
        jobs.retain(|_, job| job.ended.is_none_or(|ended| ended.elapsed() < KEPT));
        jobs.insert(id, job);
    });
    tokio::spawn(run(state.directory.clone(), state.imports.clone(), caller, id, rows));
    see_other(&format!("{}/{id}", import_path(&tenant)))
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Runs an import's rows through the core a request's worth at a time, recording each row's outcome.
async fn run(directory: Arc<Directory>, imports: Arc<Imports>, caller: Caller, id: Uuid, rows: Vec<Row>) {
    for chunk in rows.chunks(ROWS_PER_REQUEST) {
        let outcome = directory.scim().import_rows(&caller, chunk).await;
        let stop = imports.with(|jobs| {
            let Some(job) = jobs.get_mut(&id) else { return true };
            match outcome {
                Ok(results) => {
                    for result in results {
                        match result.fate {
                            Fate::Created(_) => job.created += 1,
                            Fate::Failed(_) => job.failed += 1,
                        }
                        job.results.push(result);
                    }
                    false
                }
                Err(error) => {
                    job.stopped = Some(error.message);
                    true
                }
            }
        });
        if stop {
            break;
        }
    }
    imports.with(|jobs| {
        if let Some(job) = jobs.get_mut(&id) {
            job.ended = Some(Instant::now());
        }
    });
}

/// The caller's own import, or the answer that there is none.
fn own<T>(
    state: &IdentityState,
    (tenant, caller): (&str, &Caller),
    id: &str,
    f: impl FnOnce(&Job) -> T,
) -> Result<T, Box<Response>> {
    let missing = || Box::new(refused(tenant, caller, &Error::not_found(id)));
    let id = Uuid::parse_str(id).map_err(|_| missing())?;
    let mine = |job: &&Job| person(caller) == Some((job.tenant, job.owner));
    state.imports.with(|jobs| jobs.get(&id).filter(mine).map(f)).ok_or_else(missing)
}

/// `GET /{tenant}/admin/users/import/{job}`: how far the import got; at its end, the summary and the result
/// file.
pub async fn import_progress(
    State(state): State<IdentityState>,
    Admin { tenant, caller }: Admin,
    Path(params): Path<HashMap<String, String>>,
) -> Response {
    let id = params.get("job").cloned().unwrap_or_default();
    let seen = own(&state, (&tenant, &caller), &id, |job| {
        (job.file.clone(), job.total, job.done(), job.created, job.failed, job.stopped.clone(), job.ended.is_some())
    });
    let (file, total, done, created, failed, stopped, ended) = match seen {
        Ok(seen) => seen,
        Err(response) => return *response,
    };
    let state_line = match (ended, &stopped) {
        (false, _) => format!("Creating users: {done} of {total} rows done."),
        (true, None) => format!("Finished: {created} created, {failed} failed, of {total} rows."),
        (true, Some(_)) => format!("Stopped after {done} of {total} rows: {created} created, {failed} failed."),
    };
    let stopped = stopped.map(|why| format!("<p role=\"alert\">{}</p>\n", escape(&why))).unwrap_or_default();
    let results = match ended {
        true => format!(
            "<p><a id=\"results\" href=\"{}/{id}/results.csv\" download>Download the results</a></p>\n<p><a href=\"{}/users\">Back to users</a></p>",
            escape(&import_path(&tenant)),
            escape(&home(&tenant)),
        ),
        false => "<p>This page updates itself until the import ends.</p>".to_owned(),
    };
    let body = format!(
        "<h1>Bulk create users</h1>\n<p>File: {file}</p>\n<p><label for=\"progress\">Progress</label>\n<progress id=\"progress\" max=\"{total}\" value=\"{done}\">{done} of {total}</progress></p>\n<p role=\"status\" id=\"import-state\">{state_line}</p>\n{stopped}{results}",
        file = escape(&file),
    );
    let mut response = admin_page(&tenant, &caller, "Bulk create users", &body, &[]);
    if !ended {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("refresh"), HeaderValue::from_static(REFRESH_SECONDS));
    }
    response
}

/// `GET /{tenant}/admin/users/import/{job}/results.csv`: each row's outcome so far.
pub async fn import_results(
    State(state): State<IdentityState>,
    Admin { tenant, caller }: Admin,
    Path(params): Path<HashMap<String, String>>,
) -> Response {
    let id = params.get("job").cloned().unwrap_or_default();
    let written = own(&state, (&tenant, &caller), &id, |job| {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let _ = writer.write_record(RESULT_COLUMNS);
        for result in &job.results {
            let _ = writer.write_record(result.record());
        }
        writer.into_inner().map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
    });
    match written {
        Ok(text) => csv_file("import-results.csv", text),
        Err(response) => *response,
    }
}
