//! Named locations (`ipNamedLocation`, `countryNamedLocation`): where a sign-in comes from, for the
//! `locations` condition. IP ranges are matched exactly. No geolocation database ships with Gatehouse, so
//! every address's country is unknown: a country location takes in a sign-in only when it includes unknown
//! countries and regions (`includeUnknownCountriesAndRegions`).

use super::wrong;
use crate::kernel::error::Result;
use ipnet::IpNet;
use serde_json::{json, Map, Value};
use std::net::IpAddr;

const IP: &str = "#microsoft.graph.ipNamedLocation";
const COUNTRY: &str = "#microsoft.graph.countryNamedLocation";
/// The most IP ranges one location holds (Entra's limit).
const MOST_RANGES: usize = 2000;

/// A named location, as evaluation reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub id: String,
    pub trusted: bool,
    pub ranges: Vec<IpNet>,
    /// A country location that takes in addresses of unknown country.
    pub unknown_countries: bool,
}

impl Location {
    pub fn contains(&self, address: Option<IpAddr>) -> bool {
        match address {
            Some(ip) => self.ranges.iter().any(|range| range.contains(&ip)) || self.unknown_countries,
            None => self.unknown_countries,
        }
    }

    /// The location a normalised document holds.
    pub fn read(doc: &Map<String, Value>) -> Location {
        let ranges = doc
            .get("ipRanges")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("cidrAddress").and_then(Value::as_str))
            .filter_map(|cidr| cidr.parse::<IpNet>().ok())
            .collect();
        Location {
            id: doc.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
            trusted: doc.get("isTrusted") == Some(&Value::Bool(true)),
            ranges,
            unknown_countries: doc.get("includeUnknownCountriesAndRegions") == Some(&Value::Bool(true)),
        }
    }
}

/// Checks a named location's body (a new one's `@odata.type` decides its kind; an update keeps the kind of
/// `before`) and returns its normalised document, with `id`, `createdDateTime` and `modifiedDateTime` as
/// given.
pub fn normalise(body: &Map<String, Value>, before: Option<&Map<String, Value>>) -> Result<Map<String, Value>> {
    let mut merged = before.cloned().unwrap_or_default();
    for (name, value) in body {
        merged.insert(name.clone(), value.clone());
    }
    let kind = before.unwrap_or(body).get("@odata.type").and_then(Value::as_str).unwrap_or_default();
    let display_name = merged.get("displayName").and_then(Value::as_str).map(str::trim).unwrap_or_default();
    if display_name.is_empty() || display_name.chars().count() > 256 {
        return Err(wrong("displayName is required, at most 256 characters."));
    }
    let mut out = Map::new();
    for name in ["id", "createdDateTime", "modifiedDateTime"] {
        out.insert(name.into(), merged.get(name).cloned().unwrap_or(Value::Null));
    }
    out.insert("displayName".into(), json!(display_name));
    match kind {
        IP => {
            let ranges = merged.get("ipRanges").and_then(Value::as_array).cloned().unwrap_or_default();
            if ranges.is_empty() || ranges.len() > MOST_RANGES {
                return Err(wrong(format!("An IP location holds 1 to {MOST_RANGES} ipRanges.")));
            }
            let mut shown = Vec::new();
            for range in &ranges {
                let cidr = range.get("cidrAddress").and_then(Value::as_str).unwrap_or_default();
                let net: IpNet = cidr.parse().map_err(|_| wrong(format!("'{cidr}' is not a CIDR range.")))?;
                let kind = match net {
                    IpNet::V4(_) => "#microsoft.graph.iPv4CidrRange",
                    IpNet::V6(_) => "#microsoft.graph.iPv6CidrRange",
                };
                shown.push(json!({"@odata.type": kind, "cidrAddress": net.to_string()}));
            }
            out.insert("@odata.type".into(), json!(IP));
            out.insert("isTrusted".into(), json!(merged.get("isTrusted") == Some(&Value::Bool(true))));
            out.insert("ipRanges".into(), Value::Array(shown));
        }
        COUNTRY => {
            let countries: Vec<String> = merged
                .get("countriesAndRegions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|c| c.trim().to_ascii_uppercase())
                .collect();
            if let Some(bad) = countries.iter().find(|c| c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()))
            {
                return Err(wrong(format!("'{bad}' is not a two-letter country code.")));
            }
            let method = merged.get("countryLookupMethod").and_then(Value::as_str).unwrap_or("clientIpAddress");
            if method != "clientIpAddress" {
                return Err(wrong("countryLookupMethod is clientIpAddress: no authenticator app reports GPS here."));
            }
            out.insert("@odata.type".into(), json!(COUNTRY));
            out.insert("countriesAndRegions".into(), json!(countries));
            out.insert("countryLookupMethod".into(), json!(method));
            let unknown = merged.get("includeUnknownCountriesAndRegions") == Some(&Value::Bool(true));
            out.insert("includeUnknownCountriesAndRegions".into(), json!(unknown));
        }
        _ => return Err(wrong(format!("@odata.type is {IP} or {COUNTRY}."))),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked_and_matched() {
        let body = json!({"@odata.type": IP, "displayName": "Office", "isTrusted": true,
            "ipRanges": [{"cidrAddress": "127.0.0.2/31"}, {"cidrAddress": "2001:db8::/32"}]});
        let doc = normalise(body.as_object().unwrap_or(&Map::new()), None).expect("a valid location");
        assert_eq!(doc["ipRanges"][0]["@odata.type"], "#microsoft.graph.iPv4CidrRange");
        let location = Location::read(&doc);
        assert!(location.trusted);
        assert!(location.contains("127.0.0.3".parse().ok()) && !location.contains("127.0.0.4".parse().ok()));
        assert!(location.contains("2001:db8::1".parse().ok()) && !location.contains(None));
        let bad = json!({"@odata.type": IP, "displayName": "x", "ipRanges": [{"cidrAddress": "300.1.1.1/8"}]});
        assert!(normalise(bad.as_object().unwrap_or(&Map::new()), None).is_err());
        let country = json!({"@odata.type": COUNTRY, "displayName": "Unknown", "countriesAndRegions": ["nl"],
            "includeUnknownCountriesAndRegions": true});
        let doc = normalise(country.as_object().unwrap_or(&Map::new()), None).expect("a country location");
        assert_eq!(doc["countriesAndRegions"], json!(["NL"]));
        assert!(Location::read(&doc).contains("192.0.2.1".parse().ok()), "no address has a known country");
    }
}
