//! Tenant-wide directory settings (Graph's `groupSettings` made from `groupSettingTemplates`; the older
//! `settings`/`directorySettingTemplates` names too): the `Password Rule Settings` template
//! ([`crate::credentials::password_rules`]), which holds the custom banned-password list and the
//! smart-lockout threshold and duration. A tenant has at most one setting per template, kept in its
//! organization record; without one, the template's defaults apply.

use crate::auth::authorization::{require, Action};
use crate::credentials::banned::TERM_LENGTHS;
use crate::credentials::password_rules::{
    stored, template, Template, ValueType, MOST_CUSTOM_TERMS, SETTINGS_KEY, TEMPLATES,
};
use crate::kernel::error::{Error, Result};
use crate::{Caller, Directory};
use serde_json::{json, Map, Value};

/// A tenant's setting, as Graph shows it.
pub fn setting_json(template: &Template, id: &str, values: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    out.insert("displayName".into(), json!(template.display_name));
    out.insert("templateId".into(), json!(template.id));
    let listed: Vec<Value> = template
        .values
        .iter()
        .map(|v| json!({"name": v.name, "value": values.get(v.name).and_then(Value::as_str).unwrap_or(v.default)}))
        .collect();
    out.insert("values".into(), Value::Array(listed));
    out
}

/// A template, as Graph shows it.
pub fn template_json(template: &Template) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(template.id));
    out.insert("deletedDateTime".into(), Value::Null);
    out.insert("displayName".into(), json!(template.display_name));
    out.insert("description".into(), json!(template.description));
    let values: Vec<Value> = template
        .values
        .iter()
        .map(|v| {
            let ty = match v.ty {
                ValueType::Boolean => "System.Boolean",
                ValueType::Int32 { .. } => "System.Int32",
                ValueType::Text => "System.String",
            };
            json!({"name": v.name, "type": ty, "defaultValue": v.default, "description": v.description})
        })
        .collect();
    out.insert("values".into(), Value::Array(values));
    out
}

/// A body's `values` checked against the template: known names, values of the right type and range.
fn check_values(template: &Template, body: &Map<String, Value>) -> Result<Map<String, Value>> {
    let wrong = |what: String| Error::invalid_property("values", what);
    let mut out = Map::new();
    for item in body.get("values").and_then(Value::as_array).into_iter().flatten() {
        let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
        let defined = template
            .values
            .iter()
            .find(|v| v.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| wrong(format!("'{name}' is not a value of the {} template.", template.display_name)))?;
        let text = item.get("value").and_then(Value::as_str).unwrap_or_default().trim().to_owned();
        let checked = match defined.ty {
            ValueType::Boolean => match text.to_ascii_lowercase().as_str() {
                "true" => "True".to_owned(),
                "false" => "False".to_owned(),
                _ => return Err(wrong(format!("{} is True or False.", defined.name))),
            },
            ValueType::Int32 { min, max } => match text.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => n.to_string(),
                _ => return Err(wrong(format!("{} is a whole number from {min} to {max}.", defined.name))),
            },
            ValueType::Text if defined.name == "BannedPasswordList" => {
                let terms: Vec<&str> = text.split('\t').map(str::trim).filter(|t| !t.is_empty()).collect();
                if terms.len() > MOST_CUSTOM_TERMS {
                    return Err(wrong(format!(
                        "The custom banned-password list holds at most {MOST_CUSTOM_TERMS} terms."
                    )));
                }
                if let Some(bad) = terms.iter().find(|t| !TERM_LENGTHS.contains(&t.chars().count())) {
                    return Err(wrong(format!("Banned password '{bad}' is not 4 to 16 characters long.")));
                }
                terms.join("\t")
            }
            ValueType::Text => text,
        };
        out.insert(defined.name.to_owned(), json!(checked));
    }
    Ok(out)
}

/// The directory settings service.
pub struct DirectorySettings<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The directory settings service.
    pub fn directory_settings(&self) -> DirectorySettings<'_> {
        DirectorySettings { directory: self }
    }
}

impl DirectorySettings<'_> {
    pub fn templates(&self, caller: &Caller) -> Result<&'static [Template]> {
        require(caller, Action::ReadDirectorySettings)?;
        Ok(&TEMPLATES)
    }

    pub fn template(&self, caller: &Caller, id: &str) -> Result<&'static Template> {
        require(caller, Action::ReadDirectorySettings)?;
        template(id).ok_or_else(|| Error::not_found(id))
    }

    /// The tenant's settings, as Graph shows them.
    pub async fn list(&self, caller: &Caller) -> Result<Vec<Map<String, Value>>> {
        require(caller, Action::ReadDirectorySettings)?;
        let tenant = self.directory.tenant_record(caller.tenant()).await?;
        Ok(stored(&tenant).iter().map(|(t, id, values)| setting_json(t, id, values)).collect())
    }

    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Map<String, Value>> {
        let settings = self.list(caller).await?;
        settings
            .into_iter()
            .find(|s| s.get("id").and_then(Value::as_str) == Some(id))
            .ok_or_else(|| Error::not_found(id))
    }

    /// Creates the tenant's setting of a template (one per template).
    pub async fn create(&self, caller: &Caller, body: &Map<String, Value>) -> Result<Map<String, Value>> {
        require(caller, Action::WriteDirectorySettings)?;
        let template_id = body.get("templateId").and_then(Value::as_str).unwrap_or_default();
        let template = template(template_id).ok_or_else(|| {
            Error::invalid_property("templateId", format!("No settings template has id '{template_id}'."))
        })?;
        let values = check_values(template, body)?;
        let id = self.directory.random().uuid().to_string();
        self.change(caller, |settings| {
            if settings.contains_key(template.id) {
                return Err(Error::conflict(format!(
                    "A setting of the {} template exists already.",
                    template.display_name
                )));
            }
            settings.insert(template.id.to_owned(), json!({"id": id, "values": values}));
            Ok(())
        })
        .await?;
        Ok(setting_json(template, &id, &values))
    }

    /// Replaces the values a body names.
    pub async fn update(&self, caller: &Caller, id: &str, body: &Map<String, Value>) -> Result<()> {
        require(caller, Action::WriteDirectorySettings)?;
        self.change(caller, |settings| {
            let (template_id, setting) = settings
                .iter_mut()
                .find(|(_, s)| s.get("id").and_then(Value::as_str) == Some(id))
                .ok_or_else(|| Error::not_found(id))?;
            let template = template(template_id).ok_or_else(|| Error::not_found(id))?;
            let changes = check_values(template, body)?;
            if let Some(values) = setting.get_mut("values").and_then(Value::as_object_mut) {
                values.extend(changes);
            }
            Ok(())
        })
        .await
    }

    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<()> {
        require(caller, Action::WriteDirectorySettings)?;
        self.change(caller, |settings| {
            let before = settings.len();
            settings.retain(|_, s| s.get("id").and_then(Value::as_str) != Some(id));
            match settings.len() == before {
                true => Err(Error::not_found(id)),
                false => Ok(()),
            }
        })
        .await
    }

    /// One change of the tenant's settings, in its organization record.
    async fn change(&self, caller: &Caller, edit: impl Fn(&mut Map<String, Value>) -> Result<()>) -> Result<()> {
        let attributes = vec![SETTINGS_KEY.to_owned()];
        self.directory
            .organization()
            .change(caller, attributes, |organization| {
                let mut settings =
                    organization.get(SETTINGS_KEY).and_then(Value::as_object).cloned().unwrap_or_default();
                edit(&mut settings)?;
                organization.insert(SETTINGS_KEY.into(), Value::Object(settings));
                Ok(())
            })
            .await
    }
}
