//! `gatehouse dev-cert`: a local certificate authority and a certificate for localhost, for trying HTTPS.
//! Not for production: the CA key is written beside the certificates.

use crate::config::write_private;
use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use std::path::Path;

/// Writes `ca.pem`, `ca-key.pem`, `cert.pem` and `key.pem` into `dir`.
pub fn write_dev_certificates(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(DnType::CommonName, "Gatehouse development CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca = ca_params.self_signed(&ca_key)?;

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()])?;
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &ca, &ca_key)?;

    std::fs::write(dir.join("ca.pem"), ca.pem())?;
    write_private(&dir.join("ca-key.pem"), ca_key.serialize_pem().as_bytes())?;
    std::fs::write(dir.join("cert.pem"), cert.pem())?;
    write_private(&dir.join("key.pem"), key.serialize_pem().as_bytes())?;
    Ok(())
}
