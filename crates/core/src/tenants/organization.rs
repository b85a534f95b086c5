//! The organization: the tenant as Graph's `organization` resource, with its settings and its country.
//!
//! Every tenant has a country (`countryLetterCode`, an ISO 3166-1 alpha-2 code), as in Entra: group-based
//! licensing takes it as the usage location of members that have none. Graph lets a client change only the
//! notification contacts and the privacy profile; with no Microsoft commerce or signup here, Gatehouse also
//! lets an administrator change the country and the preferred language (`docs/api.md`, Differences).

use crate::auth::authorization::{require, Action};
use crate::directory::write_error;
use crate::kernel::error::{Error, Result};
use crate::schema::{self, format_time, Access, Property, PropertyType, Selection};
use crate::store::{TenantRecord, Write};
use crate::tenants::domains::supported_services;
use crate::{Caller, Directory};
use serde_json::{json, Map, Value};

/// The country of a tenant created without one.
pub const DEFAULT_COUNTRY: &str = "US";
/// The preferred language of a new tenant.
pub const DEFAULT_LANGUAGE: &str = "en";

const fn property(name: &'static str, ty: PropertyType, access: Access) -> Property {
    Property { name, ty, access, default: true }
}

const R: Access = Access::ReadOnly;
const W: Access = Access::Writable;
const TEXT: PropertyType = PropertyType::String { max: 256 };
const TEXTS: PropertyType = PropertyType::Strings { max: 256 };

/// The organization's properties as Graph shows them, in Graph's order; the writable ones are those a PATCH
/// may set.
pub const ORGANIZATION: &[Property] = &[
    property("id", TEXT, R),
    property("deletedDateTime", PropertyType::DateTime, R),
    property("businessPhones", TEXTS, R),
    property("city", TEXT, R),
    property("country", TEXT, R),
    property("countryLetterCode", PropertyType::String { max: 2 }, W),
    property("createdDateTime", PropertyType::DateTime, R),
    property("defaultUsageLocation", TEXT, R),
    property("displayName", TEXT, R),
    property("isMultipleDataLocationsForServicesEnabled", PropertyType::Bool, R),
    property("marketingNotificationEmails", TEXTS, W),
    property("onPremisesLastSyncDateTime", PropertyType::DateTime, R),
    property("onPremisesSyncEnabled", PropertyType::Bool, R),
    property("partnerTenantType", TEXT, R),
    property("postalCode", TEXT, R),
    property("preferredLanguage", PropertyType::String { max: 16 }, W),
    property("privacyProfile", PropertyType::StringObject(&["contactEmail", "statementUrl"]), W),
    property("securityComplianceNotificationMails", TEXTS, W),
    property("securityComplianceNotificationPhones", TEXTS, W),
    property("state", TEXT, R),
    property("street", TEXT, R),
    property("technicalNotificationMails", TEXTS, W),
    property("tenantType", TEXT, R),
    property("verifiedDomains", PropertyType::Special, R),
];

/// The settings Graph does not let a client clear.
const NOT_NULLABLE: &[&str] = &[
    "countryLetterCode",
    "marketingNotificationEmails",
    "securityComplianceNotificationMails",
    "securityComplianceNotificationPhones",
    "technicalNotificationMails",
];

/// The settings that hold mail addresses.
const MAILS: &[&str] =
    &["marketingNotificationEmails", "securityComplianceNotificationMails", "technicalNotificationMails"];

/// Every officially assigned ISO 3166-1 alpha-2 code.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS \
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK \
FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM \
JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS \
MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW \
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM \
US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// A country as an ISO 3166-1 alpha-2 code, upper-cased; anything else is refused.
pub fn country_code(text: &str) -> Result<String> {
    let code = text.trim().to_ascii_uppercase();
    if code.len() == 2 && COUNTRIES.split(' ').any(|c| c == code) {
        Ok(code)
    } else {
        Err(Error::invalid_property(
            "countryLetterCode",
            format!(
                "Invalid value '{text}' for property 'countryLetterCode': expected a two-letter ISO 3166 country code."
            ),
        ))
    }
}

/// A language as ISO 639-1 code with an optional region (`en`, `nl-BE`).
fn language(text: &str) -> Result<String> {
    let (code, region) = text.split_once('-').unwrap_or((text, ""));
    let letters = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_alphabetic());
    if letters(code, 2) && (region.is_empty() || letters(region, 2)) {
        Ok(match region {
            "" => code.to_ascii_lowercase(),
            _ => format!("{}-{}", code.to_ascii_lowercase(), region.to_ascii_uppercase()),
        })
    } else {
        Err(Error::invalid_property(
            "preferredLanguage",
            format!("Invalid value '{text}' for property 'preferredLanguage': expected an ISO 639-1 language code."),
        ))
    }
}

/// A new tenant's settings.
pub fn initial_settings(country: &str) -> Map<String, Value> {
    let mut settings = Map::new();
    settings.insert("countryLetterCode".into(), json!(country));
    settings.insert("preferredLanguage".into(), json!(DEFAULT_LANGUAGE));
    settings
}

/// The tenant's country.
pub fn country(tenant: &TenantRecord) -> &str {
    tenant.organization.get("countryLetterCode").and_then(Value::as_str).unwrap_or(DEFAULT_COUNTRY)
}

/// The tenant's verified domains as the organization lists them.
fn verified_domains(tenant: &TenantRecord) -> Value {
    let domains: Vec<Value> = tenant
        .domains
        .iter()
        .map(|name| {
            let services = supported_services(tenant, name);
            json!({
                "capabilities": if services.is_empty() { "None".to_owned() } else { services.join(", ") },
                "isDefault": *name == tenant.default_domain,
                "isInitial": *name == tenant.initial_domain,
                "name": name,
                "type": "Managed",
            })
        })
        .collect();
    Value::Array(domains)
}

/// The organization's selected properties.
fn organization_properties(tenant: &TenantRecord, selection: Selection<'_>) -> Map<String, Value> {
    let mut out = Map::new();
    for property in ORGANIZATION.iter().filter(|p| selection.wants(p)) {
        let value = match property.name {
            "id" => json!(tenant.id),
            "createdDateTime" => json!(format_time(tenant.created_at)),
            "displayName" => json!(tenant.display_name),
            "tenantType" => json!("AAD"),
            "verifiedDomains" => verified_domains(tenant),
            name => match (tenant.organization.get(name), property.ty) {
                (Some(value), _) => value.clone(),
                (None, PropertyType::Strings { .. }) => Value::Array(Vec::new()),
                (None, _) => Value::Null,
            },
        };
        out.insert(property.name.to_owned(), value);
    }
    out
}

/// Checks a PATCH body: the settings it changes, normalised.
fn check_settings(body: &Map<String, Value>) -> Result<Map<String, Value>> {
    let mut checked = schema::check_body(ORGANIZATION, "organization", &[], body)?;
    for (name, value) in checked.iter_mut() {
        if value.is_null() && NOT_NULLABLE.contains(&name.as_str()) {
            return Err(Error::invalid_property(name, format!("Property '{name}' cannot be null.")));
        }
        match (name.as_str(), &*value) {
            ("countryLetterCode", Value::String(text)) => *value = json!(country_code(text)?),
            ("preferredLanguage", Value::String(text)) => *value = json!(language(text)?),
            (name, Value::Array(items)) if MAILS.contains(&name) => {
                if let Some(bad) = items.iter().filter_map(Value::as_str).find(|m| !is_mail(m)) {
                    return Err(Error::invalid_property(
                        name,
                        format!("Invalid value for property '{name}': '{bad}' is not an email address."),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(checked)
}

fn is_mail(text: &str) -> bool {
    text.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
}

/// The organization (the tenant's profile and settings), as a service on the directory's context (shaped
/// like the domains service).
pub struct Organization<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The organization service.
    pub fn organization(&self) -> Organization<'_> {
        Organization { directory: self }
    }
}

impl Organization<'_> {
    /// The caller's organization; `id`, when given, must be the tenant's id.
    pub async fn get(&self, caller: &Caller, id: Option<&str>, selection: Selection<'_>) -> Result<Map<String, Value>> {
        require(caller, Action::ReadOrganizationProfile)?;
        let tenant = self.organization_record(caller, id).await?;
        Ok(organization_properties(&tenant, selection))
    }

    async fn organization_record(&self, caller: &Caller, id: Option<&str>) -> Result<TenantRecord> {
        if let Some(id) = id {
            schema::check_text("id", id)?;
            if !id.eq_ignore_ascii_case(&caller.tenant().to_string()) {
                return Err(Error::not_found(id));
            }
        }
        self.directory.tenant_record(caller.tenant()).await
    }

    /// `PATCH /organization/{id}`: changes the organization's settings.
    pub async fn update(&self, caller: &Caller, id: &str, body: &Map<String, Value>) -> Result<()> {
        require(caller, Action::WriteOrganization)?;
        let changes = check_settings(body)?;
        self.organization_record(caller, Some(id)).await?;
        if changes.is_empty() {
            return Ok(());
        }
        self.change(caller, changes.keys().cloned().collect(), |organization| {
            for (name, value) in &changes {
                match value {
                    Value::Null => organization.remove(name),
                    value => organization.insert(name.clone(), value.clone()),
                };
            }
            Ok(())
        })
        .await
    }

    /// One change of the organization record, in the tenant's turn: `edit` changes its document (or refuses),
    /// again on the fresh record when another change came first. Callers decide who may.
    pub(crate) async fn change(
        &self,
        caller: &Caller,
        attributes: Vec<String>,
        edit: impl Fn(&mut Map<String, Value>) -> Result<()>,
    ) -> Result<()> {
        let mut turn = self.directory.turn(caller, caller.tenant(), "organization").await?;
        loop {
            let tenant = self.directory.tenant_record(caller.tenant()).await?;
            let mut organization = tenant.organization.clone();
            edit(&mut organization)?;
            let write = Write::UpdateOrganization {
                organization,
                previous: tenant.organization.clone(),
                expected_version: tenant.version,
                attributes: attributes.clone(),
            };
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, vec![write]).await? {
                return committed.map_err(|other| write_error(other, "conflict"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_the_assigned_iso_3166_codes() {
        assert_eq!(COUNTRIES.split(' ').count(), 249);
        assert_eq!(country_code(" nl"), Ok("NL".to_owned()));
        for bad in ["", "N", "NLD", "XX", "ZZ", "1A", "U S"] {
            assert!(country_code(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_are_checked_and_normalised() {
        let body = |value: Value| value.as_object().cloned().unwrap_or_default();
        let checked = check_settings(&body(json!({"countryLetterCode": "be", "preferredLanguage": "NL-be"})));
        assert_eq!(checked.map(Value::Object), Ok(json!({"countryLetterCode": "BE", "preferredLanguage": "nl-BE"})));
        for bad in [
            json!({"displayName": "Contoso"}),
            json!({"tenantType": "AAD"}),
            json!({"unknown": 1}),
            json!({"countryLetterCode": null}),
            json!({"technicalNotificationMails": null}),
            json!({"technicalNotificationMails": ["not a mail"]}),
            json!({"technicalNotificationMails": "admin@contoso.com"}),
            json!({"privacyProfile": {"contactEmail": "a@b.c", "other": "x"}}),
            json!({"preferredLanguage": "english"}),
        ] {
            assert!(check_settings(&body(bad.clone())).is_err(), "{bad}");
        }
        assert!(check_settings(&body(json!({"privacyProfile": null}))).is_ok());
    }
}
