//! Domains: the names a tenant's users and groups take, as Graph's `domain` resource.
//!
//! A domain is added unverified with a verification code Gatehouse makes (`MS=ms` and eight digits) and is
//! verified when DNS shows that code as a TXT record of the domain, or its MX form
//! (`ms12345678.msv1.invalid`), as Entra does; an operator may mark one verified without DNS from the
//! command line, for sites that have none (logged). Only verified domains may be used in user principal
//! names, and a verified domain belongs to one tenant of the deployment. A subdomain of a domain the tenant
//! has verified is verified when added. The initial domain (the one the tenant was made with) and the
//! default one cannot be removed, nor a domain that users or groups still use.
//!
//! Domains are read from the store on every request that checks a name, so a domain verified on any node
//! can be used at once everywhere; the tenant a domain names in a URL is cached per node for a minute.

use crate::auth::authorization::{require, Action};
use crate::credentials::password_rules::{validity_days, NEVER_EXPIRES, VALIDITY_KEY};
use crate::directory::write_error;
use crate::kernel::error::{Error, Result};
use crate::kernel::random::Random;
use crate::schema::{self, Access, Property, PropertyType, Selection};
use crate::store::{DomainRecord, StoreError, TenantRecord, Write};
use crate::tenants::check_domain;
use crate::{Caller, Directory};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

const fn property(name: &'static str, ty: PropertyType, access: Access) -> Property {
    Property { name, ty, access, default: true }
}

const R: Access = Access::ReadOnly;

/// The domain's properties as Graph shows them; a PATCH may set `isDefault` here, and the update takes
/// `passwordValidityPeriodInDays` (how long its users' passwords stay valid, a number) itself.
pub const DOMAIN: &[Property] = &[
    property("authenticationType", PropertyType::String { max: 16 }, R),
    property("availabilityStatus", PropertyType::String { max: 64 }, R),
    property("id", PropertyType::String { max: 64 }, R),
    property("isAdminManaged", PropertyType::Bool, R),
    property("isDefault", PropertyType::Bool, Access::Writable),
    property("isInitial", PropertyType::Bool, R),
    property("isRoot", PropertyType::Bool, R),
    property("isVerified", PropertyType::Bool, R),
    property("passwordNotificationWindowInDays", PropertyType::Special, R),
    property("passwordValidityPeriodInDays", PropertyType::Special, R),
    property("supportedServices", PropertyType::Strings { max: 64 }, R),
    property("state", PropertyType::Special, R),
];

/// The services of a domain: the initial domain carries mail and Teams, as Entra's does; others none.
pub(crate) fn supported_services(tenant: &TenantRecord, name: &str) -> &'static [&'static str] {
    if name == tenant.initial_domain {
        &["Email", "OfficeCommunicationsOnline"]
    } else {
        &[]
    }
}

/// A new verification code: `MS=ms` and eight digits.
fn new_code(random: &dyn Random) -> String {
    format!("MS=ms{}", 10_000_000 + random.below(90_000_000))
}

/// The MX form of a verification code.
fn mx_exchange(code: &str) -> String {
    format!("{}.msv1.invalid", code.trim_start_matches("MS="))
}

/// The domains `name` is a subdomain of, nearest first (top-level names aside).
fn parents(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('.').map(move |(dot, _)| &name[dot + 1..]).filter(|parent| parent.contains('.'))
}

fn domain_properties(
    tenant: &TenantRecord,
    domain: &DomainRecord,
    selection: Selection<'_>,
    available: bool,
) -> Map<String, Value> {
    let root = domain.verified && !parents(&domain.name).any(|p| tenant.domains.iter().any(|d| d == p));
    let mut out = Map::new();
    for property in DOMAIN.iter().filter(|p| selection.wants(p)) {
        let value = match property.name {
            "authenticationType" => json!("Managed"),
            "availabilityStatus" => {
                if available {
                    json!("AvailableImmediately")
                } else {
                    Value::Null
                }
            }
            "id" => json!(domain.name),
            "isAdminManaged" => json!(true),
            "isDefault" => json!(domain.name == tenant.default_domain),
            "isInitial" => json!(domain.name == tenant.initial_domain),
            "isRoot" => json!(root),
            "isVerified" => json!(domain.verified),
            "passwordNotificationWindowInDays" => json!(14),
            "passwordValidityPeriodInDays" => json!(validity_days(tenant, &domain.name)),
            "supportedServices" => json!(supported_services(tenant, &domain.name)),
            _ => Value::Null,
        };
        out.insert(property.name.to_owned(), value);
    }
    out
}

/// A DNS record's id, stable for the tenant, domain and record type.
fn record_id(tenant: &TenantRecord, name: &str, kind: &str) -> uuid::Uuid {
    let digest = Sha256::digest(format!("{}/{name}/{kind}", tenant.id));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn verification_failed(why: &str) -> Error {
    Error::invalid(format!("Domain verification failed with the following error: '{why}'."))
}

/// The tenant's domains, as a service on the directory's context ([`Directory::domains`]): the shape use
/// cases take from here on. Its use cases are methods of the service; what it needs of the context (the
/// store, the clock, randomness, the DNS port) and of other features (the tenant's record) it asks of the
/// directory by name.
pub struct Domains<'a> {
    directory: &'a Directory,
}

impl Directory {
    /// The domains service.
    pub fn domains(&self) -> Domains<'_> {
        Domains { directory: self }
    }
}

impl Domains<'_> {
    /// The tenant and one of its domains; `NotFound` when it has no such domain.
    async fn tenant_domain(&self, caller: &Caller, name: &str) -> Result<(TenantRecord, DomainRecord)> {
        schema::check_text("id", name)?;
        let tenant = self.directory.tenant_record(caller.tenant()).await?;
        let folded = name.to_lowercase();
        let domains = self.directory.store.domains(tenant.id).await.map_err(Error::from)?;
        let domain = domains.into_iter().find(|d| d.name == folded).ok_or_else(|| Error::not_found(name))?;
        Ok((tenant, domain))
    }

    /// The tenant's domains, verified or not.
    pub async fn list(&self, caller: &Caller, selection: Selection<'_>) -> Result<Vec<Map<String, Value>>> {
        require(caller, Action::ReadDomains)?;
        let tenant = self.directory.tenant_record(caller.tenant()).await?;
        let domains = self.directory.store.domains(tenant.id).await.map_err(Error::from)?;
        Ok(domains.iter().map(|d| domain_properties(&tenant, d, selection, false)).collect())
    }

    pub async fn get(&self, caller: &Caller, name: &str, selection: Selection<'_>) -> Result<Map<String, Value>> {
        require(caller, Action::ReadDomains)?;
        let (tenant, domain) = self.tenant_domain(caller, name).await?;
        Ok(domain_properties(&tenant, &domain, selection, false))
    }

    /// `POST /domains` with `{"id": name}`: adds the domain unverified, or verified when the tenant has verified
    /// a domain it is a subdomain of.
    pub async fn add(&self, caller: &Caller, body: &Map<String, Value>) -> Result<Map<String, Value>> {
        require(caller, Action::WriteDomains)?;
        let mut name = None;
        for (key, value) in body {
            schema::check_texts(key, value)?;
            match key.as_str() {
                "@odata.type" => schema::check_odata_type(key, value, "domain")?,
                "id" => name = value.as_str(),
                key if key.starts_with("@odata.") => {}
                other => {
                    return Err(Error::invalid_property(
                        other,
                        format!("Property '{other}' cannot be set when a domain is added; give only 'id'."),
                    ))
                }
            }
        }
        let name = check_domain(name.ok_or_else(|| Error::invalid_property("id", "A domain needs its name as 'id'."))?)
            .map_err(|e| Error { target: Some("id".into()), ..e })?;
        let tenant = self.directory.tenant_record(caller.tenant()).await?;
        let mut verified = false;
        for parent in parents(&name) {
            match self.directory.store.tenant(parent).await.map_err(Error::from)? {
                Some(holder) if holder.id == tenant.id => verified = true,
                Some(_) => {
                    return Err(Error::invalid(format!(
                        "'{name}' is a subdomain of '{parent}', which another tenant has verified."
                    )))
                }
                None => {}
            }
        }
        let domain = DomainRecord {
            name,
            verified,
            code: Some(new_code(self.directory.random())),
            created_at: self.directory.now(),
        };
        self.directory
            .commit(caller, vec![Write::AddDomain(domain.clone())])
            .await
            .map_err(|e| write_error(e, "Another object with the same value for property id already exists."))?;
        let tenant = self.directory.tenant_record(caller.tenant()).await?;
        Ok(domain_properties(&tenant, &domain, Selection::Default, false))
    }

    /// `POST /domains/{id}/verify`: verifies the domain when DNS shows its verification code.
    pub async fn verify(&self, caller: &Caller, name: &str) -> Result<Map<String, Value>> {
        require(caller, Action::WriteDomains)?;
        let (_, domain) = self.unverified(caller, name).await?;
        let code = domain.code.clone().unwrap_or_default();
        let dns = self.directory.dns.as_ref().ok_or_else(|| {
            Error::unavailable("This server has no DNS resolver to verify domains with; try again later.", 60)
        })?;
        let looked_up = async {
            let txt = dns.txt(&domain.name).await?;
            let mx = dns.mx(&domain.name).await?;
            Ok::<_, String>(
                txt.iter().any(|t| t.trim().eq_ignore_ascii_case(&code))
                    || mx.iter().any(|m| m.trim_end_matches('.').eq_ignore_ascii_case(&mx_exchange(&code))),
            )
        };
        match looked_up.await {
            Ok(true) => self.mark_verified(caller, domain).await,
            Ok(false) => Err(verification_failed(&format!(
                "Neither the TXT record {code} nor the MX record {} was found for {}",
                mx_exchange(&code),
                domain.name
            ))),
            Err(cause) => {
                tracing::warn!(domain = %domain.name, %cause, "a domain's DNS records could not be looked up");
                Err(Error::unavailable(
                    format!("The DNS records of {} could not be looked up; try again later.", domain.name),
                    30,
                ))
            }
        }
    }

    /// Marks a domain verified without looking at DNS: for the operator of a site without DNS, from the
    /// command line only; logged.
    pub async fn verify_without_dns(&self, caller: &Caller, name: &str) -> Result<Map<String, Value>> {
        if !matches!(caller, Caller::System { .. }) {
            return Err(Error::forbidden());
        }
        let (_, domain) = self.unverified(caller, name).await?;
        tracing::warn!(tenant = %caller.tenant(), domain = %domain.name, "the operator verified a domain without a DNS check");
        self.mark_verified(caller, domain).await
    }

    async fn unverified(&self, caller: &Caller, name: &str) -> Result<(TenantRecord, DomainRecord)> {
        let (tenant, domain) = self.tenant_domain(caller, name).await?;
        if domain.verified {
            return Err(Error::invalid(format!("Domain '{}' is already verified.", domain.name)));
        }
        Ok((tenant, domain))
    }

    async fn mark_verified(&self, caller: &Caller, domain: DomainRecord) -> Result<Map<String, Value>> {
        match self.directory.commit(caller, vec![Write::VerifyDomain { name: domain.name.clone() }]).await {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => return Err(verification_failed("Domain is being used by another tenant")),
            Err(other) => return Err(write_error(other, "conflict")),
        }
        let tenant = self.directory.tenant_record(caller.tenant()).await?;
        let verified = DomainRecord { verified: true, ..domain };
        Ok(domain_properties(&tenant, &verified, Selection::Default, true))
    }

    /// `PATCH /domains/{id}`: `isDefault: true` makes a verified domain the default one.
    pub async fn update(&self, caller: &Caller, name: &str, body: &Map<String, Value>) -> Result<()> {
        require(caller, Action::WriteDomains)?;
        let mut body = body.clone();
        let validity = body.remove("passwordValidityPeriodInDays");
        let changes = schema::check_body(DOMAIN, "domain", &[], &body)?;
        let (tenant, domain) = self.tenant_domain(caller, name).await?;
        if let Some(days) = validity {
            self.set_validity(caller, &domain.name, &days).await?;
        }
        match changes.get("isDefault") {
            None => Ok(()),
            Some(Value::Bool(true)) if !domain.verified => {
                Err(Error::invalid_property("isDefault", "Only a verified domain can be the default domain."))
            }
            Some(Value::Bool(true)) if domain.name == tenant.default_domain => Ok(()),
            Some(Value::Bool(true)) => self
                .directory
                .commit(caller, vec![Write::SetDefaultDomain { name: domain.name }])
                .await
                .map(|_| ())
                .map_err(|e| write_error(e, "conflict")),
            Some(_) => Err(Error::invalid_property(
                "isDefault",
                "A domain stops being the default only when another verified domain is made the default.",
            )),
        }
    }

    /// A domain's password validity: 14 to 730 days, or 2147483647 for passwords that never expire.
    async fn set_validity(&self, caller: &Caller, domain: &str, days: &Value) -> Result<()> {
        let days = days.as_i64().filter(|d| (14..=730).contains(d) || *d == NEVER_EXPIRES).ok_or_else(|| {
            Error::invalid_property(
                "passwordValidityPeriodInDays",
                "passwordValidityPeriodInDays is from 14 to 730 days, or 2147483647 for passwords that never expire.",
            )
        })?;
        self.directory
            .organization()
            .change(caller, vec![VALIDITY_KEY.to_owned()], |organization| {
                let mut validity =
                    organization.get(VALIDITY_KEY).and_then(Value::as_object).cloned().unwrap_or_default();
                validity.insert(domain.to_owned(), json!(days));
                organization.insert(VALIDITY_KEY.into(), Value::Object(validity));
                Ok(())
            })
            .await
    }

    /// `DELETE /domains/{id}`: removes a domain nothing uses.
    pub async fn delete(&self, caller: &Caller, name: &str) -> Result<()> {
        require(caller, Action::WriteDomains)?;
        let (tenant, domain) = self.tenant_domain(caller, name).await?;
        if domain.name == tenant.initial_domain {
            return Err(Error::invalid(format!(
                "Domain '{}' is the tenant's initial domain and cannot be deleted.",
                domain.name
            )));
        }
        if domain.name == tenant.default_domain {
            return Err(Error::invalid(format!(
                "Domain '{}' is the default domain and cannot be deleted; make another domain the default first.",
                domain.name
            )));
        }
        match self.directory.commit(caller, vec![Write::RemoveDomain { name: domain.name.clone() }]).await {
            Ok(_) => {
                self.directory.forget_tenant_name(&domain.name);
                Ok(())
            }
            Err(StoreError::Conflict(_)) => Err(Error::invalid(format!(
                    "Domain '{}' cannot be deleted while it is in use: change or remove the users and groups (deleted ones too) whose userPrincipalName, mail or proxyAddresses are on it, and its subdomains, first.",
                domain.name
            ))),
            Err(other) => Err(write_error(other, "conflict")),
        }
    }

    /// `GET /domains/{id}/verificationDnsRecords`: the TXT record that verifies the domain and its MX form.
    pub async fn verification_records(&self, caller: &Caller, name: &str) -> Result<Vec<Value>> {
        require(caller, Action::ReadDomains)?;
        let (tenant, domain) = self.tenant_domain(caller, name).await?;
        let Some(code) = &domain.code else { return Ok(Vec::new()) };
        let record = |kind: &str| {
            json!({
                "id": record_id(&tenant, &domain.name, kind),
                "isOptional": false,
                "label": domain.name,
                "recordType": kind,
                "supportedService": "Email",
                "ttl": 3600,
            })
        };
        let (mut txt, mut mx) = (record("Txt"), record("Mx"));
        txt["text"] = json!(code);
        mx["mailExchange"] = json!(mx_exchange(code));
        mx["preference"] = json!(32767);
        Ok(vec![txt, mx])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_parents() {
        let code = new_code(&crate::kernel::random::SystemRandom);
        assert!(code.starts_with("MS=ms") && code.len() == 13 && code[5..].chars().all(|c| c.is_ascii_digit()));
        assert_eq!(mx_exchange("MS=ms12345678"), "ms12345678.msv1.invalid");
        assert_eq!(parents("a.b.contoso.com").collect::<Vec<_>>(), vec!["b.contoso.com", "contoso.com"]);
        assert_eq!(parents("contoso.com").count(), 0);
    }
}
