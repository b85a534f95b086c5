//! The CLI's commands against a running server — `users list`, `groups …`, `licenses …` — through Graph
//! with an app's credentials (the admin app's, or any app allowed to do the work), each answer shown as a
//! table or as JSON. The server decides everything: these commands only name objects and print answers.

use anyhow::Context;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

/// Where and as whom a command runs: the server's base URL, the tenant, and an app's credentials.
pub struct Target {
    pub url: String,
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
}

/// How a command shows its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns, for people.
    Table,
    /// Graph's JSON, for scripts.
    Json,
    /// The table's columns as CSV, for spreadsheets.
    Csv,
}

/// A Graph session on the target, with an app token got by client credentials.
pub struct Graph {
    pub(crate) http: reqwest::Client,
    pub(crate) url: String,
    pub(crate) token: String,
}

impl Graph {
    pub async fn connect(target: &Target) -> anyhow::Result<Graph> {
        let http = reqwest::Client::new();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", target.client_id.as_str()),
            ("client_secret", target.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ];
        let token_url = format!("{}/{}/oauth2/v2.0/token", target.url, target.tenant);
        let answer: Value = http.post(&token_url).form(&form).send().await?.json().await?;
        let token = answer["access_token"].as_str().with_context(|| format!("no token: {answer}"))?.to_owned();
        Ok(Graph { http, url: target.url.clone(), token })
    }

    /// One call; a refusal becomes an error carrying Graph's code and message.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = match path.starts_with("http") {
            true => path.to_owned(),
            false => format!("{}/v1.0{path}", self.url),
        };
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let error = &answer["error"];
            match (error["code"].as_str(), error["message"].as_str()) {
                (Some(code), Some(message)) => anyhow::bail!("{code}: {message} ({status})"),
                _ => anyhow::bail!("the server answered {status}: {text}"),
            }
        }
        Ok(answer)
    }

    /// Every item of a collection, following its pages, with a spinner counting them.
    pub async fn all(&self, path: &str, what: &str) -> anyhow::Result<Vec<Value>> {
        let progress = indicatif::ProgressBar::new_spinner();
        let (mut items, mut next) = (Vec::new(), Some(path.to_owned()));
        while let Some(page) = next {
            let answer = self.call(Method::GET, &page, None).await?;
            items.extend(answer["value"].as_array().cloned().unwrap_or_default());
            progress.set_message(format!("{} {what}", items.len()));
            next = answer["@odata.nextLink"].as_str().map(str::to_owned);
        }
        progress.finish_and_clear();
        Ok(items)
    }

    /// A group's id: the key itself when it is one, else the one group with that display name.
    pub async fn group_id(&self, key: &str) -> anyhow::Result<Uuid> {
        if let Ok(id) = key.parse() {
            return Ok(id);
        }
        let path = format!("/groups?$filter=displayName eq '{}'&$select=id", quoted(key));
        let found = self.all(&path, "groups").await?;
        match found.as_slice() {
            [one] => one["id"].as_str().and_then(|id| id.parse().ok()).context("the group has no id"),
            [] => anyhow::bail!("no group is named {key}"),
            many => anyhow::bail!("{} groups are named {key}: give the id of one", many.len()),
        }
    }

    /// A user's id: the key itself when it is one, else the user with that user principal name.
    pub async fn user_id(&self, key: &str) -> anyhow::Result<Uuid> {
        if let Ok(id) = key.parse() {
            return Ok(id);
        }
        let user = self.call(Method::GET, &format!("/users/{}?$select=id", encoded(key)), None).await?;
        user["id"].as_str().and_then(|id| id.parse().ok()).context("the user has no id")
    }

    /// A product's SKU id: the key itself when it is one, else the subscription with that part number.
    pub async fn sku_id(&self, key: &str) -> anyhow::Result<Uuid> {
        if let Ok(id) = key.parse() {
            return Ok(id);
        }
        let skus = self.all("/subscribedSkus", "subscriptions").await?;
        skus.iter()
            .find(|sku| sku["skuPartNumber"].as_str().is_some_and(|part| part.eq_ignore_ascii_case(key)))
            .and_then(|sku| sku["skuId"].as_str())
            .and_then(|id| id.parse().ok())
            .with_context(|| format!("the tenant has no subscription to {key}"))
    }
}

/// A string as an OData literal's content (quotes doubled).
fn quoted(text: &str) -> String {
    text.replace('\'', "''")
}

/// RFC 3986's unreserved characters and `@` stay as they are in a path segment; the rest is escaped.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'@');

/// A path segment with the characters a URL path cannot carry escaped.
fn encoded(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
}

/// The columns a table shows of users, groups and subscriptions: a heading and the property it shows.
pub const USER_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("NAME", "displayName"),
    ("USER NAME", "userPrincipalName"),
    ("TYPE", "userType"),
    ("ENABLED", "accountEnabled"),
];
pub const GROUP_COLUMNS: &[(&str, &str)] =
    &[("ID", "id"), ("NAME", "displayName"), ("TYPES", "groupTypes"), ("SECURITY", "securityEnabled")];
pub const MEMBER_COLUMNS: &[(&str, &str)] =
    &[("ID", "id"), ("NAME", "displayName"), ("USER NAME", "userPrincipalName")];
pub const SKU_COLUMNS: &[(&str, &str)] =
    &[("SKU ID", "skuId"), ("PRODUCT", "skuPartNumber"), ("CONSUMED", "consumedUnits"), ("ENABLED", "prepaidUnits")];

/// A property as a table cell: text as it is, a list joined by commas, `prepaidUnits` as its enabled seats.
fn cell(item: &Value, property: &str) -> String {
    match (property, &item[property]) {
        ("prepaidUnits", units) => units["enabled"].to_string(),
        (_, Value::String(text)) => text.clone(),
        (_, Value::Array(values)) => {
            values.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect::<Vec<_>>().join(",")
        }
        (_, Value::Null) => String::new(),
        (_, other) => other.to_string(),
    }
}

/// Items as the output asks: JSON (Graph's objects, as an array), or the columns as a table or as CSV.
pub fn render(output: Output, items: &[Value], columns: &[(&str, &str)]) -> String {
    let rows: Vec<Vec<String>> =
        items.iter().map(|item| columns.iter().map(|(_, p)| cell(item, p)).collect()).collect();
    match output {
        Output::Json => return serde_json::to_string_pretty(items).unwrap_or_default(),
        Output::Csv => return csv_of(columns, &rows),
        Output::Table => {}
    }
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (heading, _))| {
            rows.iter().map(|row| row[i].chars().count()).chain([heading.len()]).max().unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut lines = vec![line(columns.iter().map(|(heading, _)| (*heading).to_owned()).collect())];
    lines.extend(rows.into_iter().map(line));
    lines.join("\n")
}

/// The columns' headings (their Graph property names, which a spreadsheet keeps) and the rows, as CSV.
fn csv_of(columns: &[(&str, &str)], rows: &[Vec<String>]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let written = writer
        .write_record(columns.iter().map(|(_, property)| *property))
        .and_then(|()| rows.iter().try_for_each(|row| writer.write_record(row)));
    match (written, writer.into_inner()) {
        (Ok(()), Ok(bytes)) => String::from_utf8_lossy(&bytes).trim_end().to_owned(),
        _ => String::new(),
    }
}

/// One object as the output asks: JSON, or a table of its properties and values.
pub fn render_one(output: Output, item: &Value) -> String {
    match (output, item.as_object()) {
        (Output::Table | Output::Csv, Some(object)) => {
            let rows: Vec<Value> = object
                .iter()
                .filter(|(name, _)| !name.starts_with('@'))
                .map(|(name, value)| json!({"property": name, "value": value}))
                .collect();
            render(output, &rows, &[("PROPERTY", "property"), ("VALUE", "value")])
        }
        _ => serde_json::to_string_pretty(item).unwrap_or_default(),
    }
}

/// The kind of group `groups create` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupKind {
    /// A security group: holds licenses, app access and roles.
    Security,
    /// A Microsoft 365 group (`Unified`): mail-enabled, for collaboration.
    Microsoft365,
}

/// The Graph body that creates a group of the kind; with a rule, a dynamic group.
pub fn new_group(name: &str, nickname: Option<&str>, kind: GroupKind, rule: Option<&str>) -> Value {
    Value::Object(gatehouse_core::groups::new_group_body(name, nickname, kind == GroupKind::Microsoft365, rule))
}

/// The `@odata.id` that names a directory object in a `$ref` body.
pub fn reference(graph: &Graph, id: Uuid) -> Value {
    json!({"@odata.id": format!("{}/v1.0/directoryObjects/{id}", graph.url)})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns_and_show_lists_and_seats() {
        let items = vec![
            json!({"skuId": "a", "skuPartNumber": "ENTERPRISEPACK", "consumedUnits": 12, "prepaidUnits": {"enabled": 25}}),
            json!({"skuId": "bb", "skuPartNumber": "AAD_PREMIUM", "consumedUnits": 0, "prepaidUnits": {"enabled": 5}}),
        ];
        let table = render(Output::Table, &items, SKU_COLUMNS);
        assert_eq!(
            table,
            "SKU ID  PRODUCT         CONSUMED  ENABLED\n\
             a       ENTERPRISEPACK  12        25\n\
             bb      AAD_PREMIUM     0         5"
        );
        let groups = vec![json!({"id": "g", "displayName": "Sales", "groupTypes": ["Unified", "DynamicMembership"]})];
        assert!(render(Output::Table, &groups, GROUP_COLUMNS).contains("Unified,DynamicMembership"));
        let parsed: Value = serde_json::from_str(&render(Output::Json, &items, SKU_COLUMNS)).unwrap_or(Value::Null);
        assert_eq!(parsed[1]["skuPartNumber"], "AAD_PREMIUM");
        let people = vec![json!({"id": "u", "displayName": "Ng, Iris \"Ace\"", "accountEnabled": false})];
        assert_eq!(
            render(Output::Csv, &people, USER_COLUMNS),
            "id,displayName,userPrincipalName,userType,accountEnabled\nu,\"Ng, Iris \"\"Ace\"\"\",,,false"
        );
    }

    #[test]
    fn groups_are_made_as_graph_expects_each_kind() {
        let dynamic = new_group("Sales Team", None, GroupKind::Security, Some("user.department -eq \"Sales\""));
        assert_eq!(dynamic["mailNickname"], "salesteam");
        assert_eq!(dynamic["groupTypes"], json!(["DynamicMembership"]));
        assert_eq!((dynamic["securityEnabled"].as_bool(), dynamic["mailEnabled"].as_bool()), (Some(true), Some(false)));
        let unified = new_group("Ünïcode!", Some("team"), GroupKind::Microsoft365, None);
        assert_eq!(
            (unified["mailNickname"].as_str(), unified["groupTypes"].clone()),
            (Some("team"), json!(["Unified"]))
        );
        assert_eq!(new_group("Ü", None, GroupKind::Security, None)["mailNickname"], "group");
        assert_eq!(encoded("o'neil+x@contoso.com"), "o%27neil%2Bx@contoso.com");
        assert_eq!(quoted("O'Neil"), "O''Neil");
    }
}
