//! Client certificates (an application's `keyCredentials`) and the client assertions signed with them
//! (`private_key_jwt`, RFC 7523): the JWT names its certificate by thumbprint (`x5t`, SHA-1, with RS256;
//! `x5t#S256`, SHA-256, with PS256, as MSAL and azure-identity send it) and is checked with the
//! certificate's RSA public key.

use crate::kernel::error::{Error, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::traits::PublicKeyParts;
use serde_json::Value;
use sha2::{Digest, Sha256};
use x509_cert::der::Decode;
use x509_cert::Certificate;

/// A client certificate, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// SHA-1 of the DER certificate (Entra's `customKeyIdentifier`, and the JWT's `x5t`).
    pub sha1: Vec<u8>,
    /// SHA-256 of the DER certificate (the JWT's `x5t#S256`).
    pub sha256: Vec<u8>,
    n: Vec<u8>,
    e: Vec<u8>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

fn invalid() -> Error {
    Error::invalid_property(
        "keyCredentials",
        "Invalid value specified for property 'key' of resource 'KeyCredential': expected a base64 DER X.509 certificate with an RSA key.",
    )
}

/// Parses a DER X.509 certificate with an RSA public key.
pub fn parse_certificate(der: &[u8]) -> Result<ClientCertificate> {
    let certificate = Certificate::from_der(der).map_err(|_| invalid())?;
    let tbs = &certificate.tbs_certificate;
    let spki = &tbs.subject_public_key_info;
    const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
    if spki.algorithm.oid.to_string() != RSA_ENCRYPTION {
        return Err(invalid());
    }
    let key = rsa::RsaPublicKey::from_pkcs1_der(spki.subject_public_key.raw_bytes()).map_err(|_| invalid())?;
    let time = |t: &x509_cert::time::Time| {
        let seconds = i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
        Utc.timestamp_opt(seconds, 0).single().unwrap_or_default()
    };
    let digest = |algorithm: &'static ring::digest::Algorithm| ring::digest::digest(algorithm, der).as_ref().to_vec();
    Ok(ClientCertificate {
        sha1: digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY),
        sha256: Sha256::digest(der).to_vec(),
        n: key.n().to_bytes_be(),
        e: key.e().to_bytes_be(),
        not_before: time(&tbs.validity.not_before),
        not_after: time(&tbs.validity.not_after),
    })
}

/// Parses the base64 `key` of a `keyCredential`.
pub fn parse_key_credential(key: &str) -> Result<ClientCertificate> {
    parse_certificate(&STANDARD.decode(key.trim()).map_err(|_| invalid())?)
}

fn refused(why: &str) -> Error {
    Error::unauthenticated(format!("AADSTS700027: Client assertion failed signature validation: {why}"))
}

/// Checks a client assertion's signature against one of `certificates` (the one its header names, within
/// its validity at `now`); returns its claims, still to be checked by the caller (`aud`, `iss`, `jti`, times).
pub fn verify_assertion(assertion: &str, certificates: &[ClientCertificate], now: DateTime<Utc>) -> Result<Value> {
    let mut parts = assertion.splitn(3, '.');
    let (Some(header), Some(payload), Some(signature)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(refused("the assertion is not a JWT."));
    };
    let decode = |part: &str| -> Result<Value> {
        let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| refused("the assertion is not a JWT."))?;
        serde_json::from_slice(&bytes).map_err(|_| refused("the assertion is not a JWT."))
    };
    let head = decode(header)?;
    // MSAL pads its base64url thumbprints; RFC 7515 does not: both are read.
    let thumbprint = |name: &str| {
        let text = head.get(name).and_then(Value::as_str)?;
        URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
    };
    let (algorithm, found): (&'static ring::signature::RsaParameters, Option<&ClientCertificate>) =
        match head.get("alg").and_then(Value::as_str) {
            Some("RS256") => {
                let x5t = thumbprint("x5t");
                (&RSA_PKCS1_2048_8192_SHA256, certificates.iter().find(|c| Some(&c.sha1) == x5t.as_ref()))
            }
            Some("PS256") => {
                let x5t = thumbprint("x5t#S256");
                (&RSA_PSS_2048_8192_SHA256, certificates.iter().find(|c| Some(&c.sha256) == x5t.as_ref()))
            }
            _ => return Err(refused("only RS256 and PS256 are accepted.")),
        };
    let certificate = found.ok_or_else(|| {
        Error::unauthenticated(
            "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.",
        )
    })?;
    if now < certificate.not_before || now >= certificate.not_after {
        return Err(refused("the certificate is not valid at this time."));
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| refused("the signature is not base64url."))?;
    let signed = &assertion[..header.len() + 1 + payload.len()];
    RsaPublicKeyComponents { n: &certificate.n, e: &certificate.e }
        .verify(algorithm, signed.as_bytes(), &signature)
        .map_err(|_| refused("the signature does not verify."))?;
    decode(payload)
}
