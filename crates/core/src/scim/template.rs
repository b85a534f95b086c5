//! Entra's bulk-create template for users (the admin center's CSV: a `version:v1.0` line, then columns such
//! as `Name [displayName] Required`), read into SCIM users and run through SCIM's `/Bulk`: the one path of
//! every bulk import, whether the CLI sends the request over HTTP or the admin center runs it here. Each
//! row gets its outcome for the result file; the export writes the same columns, so an export imports
//! back.

use super::bulk::{Done, BULK_REQUEST, MOST_OPERATIONS};
use super::Scim;
use crate::kernel::error::Result;
use crate::store::{ObjectKind, ObjectRecord};
use crate::Caller;
use serde_json::{json, Map, Value};

/// Rows one bulk request carries.
pub const ROWS_PER_REQUEST: usize = MOST_OPERATIONS;

/// The columns an export writes: the template's, without the password.
pub const EXPORTED: &[(&str, &str)] = &[
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

/// The columns of a result file.
pub const RESULT_COLUMNS: [&str; 4] = ["row", "userPrincipalName", "status", "detail"];

/// One row of an import: its number (from 1, the header not counted), the user name it gives, and the SCIM
/// user it reads as, or what is wrong with it.
#[derive(Debug, Clone)]
pub struct Row {
    pub number: usize,
    pub user_name: String,
    pub user: std::result::Result<Value, String>,
}

/// What became of a row: the new user's id, or why it was not created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    Created(String),
    Failed(String),
}

/// A row's outcome, as the result file lists it.
#[derive(Debug, Clone)]
pub struct RowResult {
    pub number: usize,
    pub user_name: String,
    pub fate: Fate,
}

impl RowResult {
    /// The row as a line of the result file.
    pub fn record(&self) -> [String; 4] {
        let (status, detail) = match &self.fate {
            Fate::Created(id) => ("created", id.clone()),
            Fate::Failed(error) => ("failed", error.clone()),
        };
        [self.number.to_string(), self.user_name.clone(), status.to_owned(), detail]
    }
}

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
fn scim_user(row: &Map<String, Value>) -> std::result::Result<Value, String> {
    let text = |name: &str| row.get(name).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty());
    let upn = text("userPrincipalName").ok_or("the row has no user name (userPrincipalName)")?;
    let block = text("accountEnabled");
    let blocked = match block.map(str::to_ascii_lowercase).as_deref() {
        None | Some("no") | Some("false") => false,
        Some("yes") | Some("true") => true,
        Some(_) => return Err(format!("'Block sign in' is Yes or No, not '{}'", block.unwrap_or_default())),
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
    let mut user = super::users::to_scim(&ObjectRecord::unsaved(ObjectKind::User, doc), "");
    user.remove("id");
    user.remove("meta");
    if let Some(password) = text("passwordProfile") {
        user.insert("password".into(), json!(password));
    }
    Ok(Value::Object(user))
}

/// The rows of a template file's text, or what makes it unreadable.
pub fn read(text: &str) -> std::result::Result<Vec<Row>, String> {
    let body = match text.lines().next() {
        Some(first) if first.trim().to_ascii_lowercase().starts_with("version:") => {
            text.split_once('\n').map(|(_, rest)| rest).unwrap_or_default()
        }
        _ => text,
    };
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(body.as_bytes());
    let unreadable = |e: csv::Error| format!("The file is not a CSV file of the template: {e}");
    let names: Vec<String> = reader.headers().map_err(unreadable)?.iter().map(property).collect();
    if !names.iter().any(|n| n == "userPrincipalName") {
        return Err("The file has no User name [userPrincipalName] column: use the template.".into());
    }
    let mut rows = Vec::new();
    for (at, record) in reader.records().enumerate() {
        let record = record.map_err(unreadable)?;
        let columns: Map<String, Value> = names.iter().cloned().zip(record.iter().map(|v| json!(v))).collect();
        let user_name = columns.get("userPrincipalName").and_then(Value::as_str).unwrap_or_default().to_owned();
        rows.push(Row { number: at + 1, user_name, user: scim_user(&columns) });
    }
    Ok(rows)
}

/// The SCIM bulk request that creates the rows that read as users (at most [`ROWS_PER_REQUEST`]), each
/// operation's `bulkId` its row's number.
pub fn bulk_request(rows: &[Row]) -> Map<String, Value> {
    let operations: Vec<Value> = rows
        .iter()
        .filter_map(|row| {
            let user = row.user.as_ref().ok()?;
            Some(json!({"method": "POST", "path": "/Users", "bulkId": row.number.to_string(), "data": user}))
        })
        .collect();
    let body = json!({"schemas": [BULK_REQUEST], "Operations": operations});
    body.as_object().cloned().unwrap_or_default()
}

/// Each row's outcome, given the answers to [`bulk_request`]'s operations in order (the new id, or the
/// error): a row that did not read as a user failed with what was wrong with it.
pub fn results(rows: &[Row], answers: Vec<std::result::Result<String, String>>) -> Vec<RowResult> {
    let mut answers = answers.into_iter();
    rows.iter()
        .map(|row| {
            let fate = match &row.user {
                Err(problem) => Fate::Failed(problem.clone()),
                Ok(_) => match answers.next() {
                    Some(Ok(id)) => Fate::Created(id),
                    Some(Err(error)) => Fate::Failed(error),
                    None => Fate::Failed("the server answered no outcome".into()),
                },
            };
            RowResult { number: row.number, user_name: row.user_name.clone(), fate }
        })
        .collect()
}

/// The first lines of an export: the template's version line and its columns.
pub fn export_header() -> String {
    let columns: Vec<String> = EXPORTED.iter().map(|(column, _)| csv_field(column)).collect();
    format!("version:v1.0\n{}\n", columns.join(","))
}

/// The template's lines for these users (Graph's shape; "Block sign in" is Yes for a disabled account).
pub fn export_rows(users: &[Value]) -> String {
    let mut out = String::new();
    for user in users {
        let fields: Vec<String> = EXPORTED
            .iter()
            .map(|(_, property)| match (*property, &user[*property]) {
                ("accountEnabled", Value::Bool(enabled)) => if *enabled { "No" } else { "Yes" }.to_owned(),
                (_, Value::String(value)) => csv_field(value),
                _ => String::new(),
            })
            .collect();
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// A whole export: [`export_header`], then [`export_rows`].
pub fn export(users: &[Value]) -> String {
    export_header() + &export_rows(users)
}

/// A value as one CSV field: quoted when it holds a comma, a quote or a line break (quotes doubled); a
/// value a spreadsheet would run as a formula (`=`, `@`) is written as text. A leading `+` or `-` is kept:
/// phone numbers start with it.
pub fn csv_field(value: &str) -> String {
    let value = match value.starts_with(['=', '@']) {
        true => format!("'{value}"),
        false => value.to_owned(),
    };
    match value.contains([',', '"', '\n', '\r']) {
        true => format!("\"{}\"", value.replace('"', "\"\"")),
        false => value,
    }
}

impl Scim<'_> {
    /// Creates the users of these rows (at most [`ROWS_PER_REQUEST`]) through `/Bulk`'s path, in this
    /// process: each row's outcome.
    pub async fn import_rows(&self, caller: &Caller, rows: &[Row]) -> Result<Vec<RowResult>> {
        let done = self.bulk(caller, &bulk_request(rows)).await?;
        let answers = done.into_iter().map(|Done { outcome, .. }| match outcome {
            Ok(made) => {
                let id = made.resource.as_ref().and_then(|r| r.get("id")).and_then(Value::as_str);
                Ok(id.unwrap_or_default().to_owned())
            }
            Err(error) => Err(error.message),
        });
        Ok(results(rows, answers.collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entras_template_columns_become_a_scim_user() {
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
        let user = scim_user(&row).unwrap();
        assert_eq!((user["userName"].as_str(), user["active"].as_bool()), (Some("ann@contoso.test"), Some(false)));
        assert_eq!(user["password"], "Correct-Horse-9");
        assert_eq!(user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"], "Sales");
        assert_eq!(user["addresses"][0]["locality"], "Oslo");
        assert_eq!(user["phoneNumbers"][0], json!({"type": "mobile", "value": "+47 2"}));
        assert!(user.get("id").is_none(), "{user}");
        let mut bad = row.clone();
        bad.insert("accountEnabled".into(), json!("Maybe"));
        assert!(scim_user(&bad).is_err());
    }

    #[test]
    fn rows_keep_their_numbers_and_a_bad_row_fails_alone() {
        let text = "version:v1.0\nName [displayName] Required,User name [userPrincipalName] Required,Block sign in (Yes/No) [accountEnabled] Required\nAnn,ann@contoso.test,No\nBob,,No\nCy,cy@contoso.test,Maybe\nDee,dee@contoso.test,Yes\n";
        let rows = read(text).unwrap();
        assert_eq!(rows.iter().map(|r| r.number).collect::<Vec<_>>(), [1, 2, 3, 4]);
        let request = bulk_request(&rows);
        let operations = request["Operations"].as_array().unwrap();
        assert_eq!(operations.len(), 2, "only the rows that read as users are sent");
        assert_eq!((operations[0]["bulkId"].as_str(), operations[1]["bulkId"].as_str()), (Some("1"), Some("4")));
        let results = results(&rows, vec![Ok("id-1".into()), Err("taken".into())]);
        let fates: Vec<&Fate> = results.iter().map(|r| &r.fate).collect();
        assert_eq!(fates[0], &Fate::Created("id-1".into()));
        assert!(matches!(fates[1], Fate::Failed(e) if e.contains("no user name")));
        assert!(matches!(fates[2], Fate::Failed(e) if e.contains("Maybe")));
        assert_eq!(fates[3], &Fate::Failed("taken".into()));
        assert_eq!(results[3].record(), ["4", "dee@contoso.test", "failed", "taken"].map(str::to_owned));
        assert!(read("Name,Department\nAnn,Sales\n").is_err(), "no user name column");
    }

    #[test]
    fn fields_are_quoted_and_formulas_kept_as_text() {
        assert_eq!(csv_field("Lee, Ann"), "\"Lee, Ann\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("Sales"), "Sales");
    }

    #[test]
    fn an_export_reads_back_as_the_same_users() {
        let users = vec![
            json!({"displayName": "Ann", "userPrincipalName": "ann@contoso.test", "accountEnabled": false, "department": "Sales"}),
        ];
        let text = export(&users);
        let rows = read(&text).unwrap();
        let user = rows[0].user.as_ref().unwrap();
        assert_eq!((user["userName"].as_str(), user["active"].as_bool()), (Some("ann@contoso.test"), Some(false)));
        assert_eq!(user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"], "Sales");
    }
}
