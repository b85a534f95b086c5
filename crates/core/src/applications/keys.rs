//! An application's certificates (`keyCredentials`): checked and completed as Entra stores them, and
//! rolled by the application itself with `addKey` and `removeKey`, each proving possession of one of its
//! current certificates.

use super::Applications;
use crate::auth::authorization::{require, Action};
use crate::credentials::certificates::{self, ClientCertificate};
use crate::directory::contention::object_id;
use crate::directory::write_error;
use crate::kernel::error::{Error, Result};
use crate::schema::format_time;
use crate::store::{ObjectKind, ObjectRecord, Write};
use crate::Caller;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// The audience of a proof of possession (Entra's fixed value: the legacy Azure AD Graph's app id).
const PROOF_AUDIENCE: &str = "00000002-0000-0000-c000-000000000000";
/// The longest a proof may be valid for, in seconds (`exp` at most `nbf` + 10 minutes).
const PROOF_LIFETIME: i64 = 600;
/// Clock skew tolerated on a proof's `nbf`, in seconds.
const PROOF_SKEW: i64 = 300;

/// The certificates an application's `keyCredentials` hold.
pub(super) fn registered_certificates(application: &Map<String, Value>) -> Vec<ClientCertificate> {
    let keys = application.get("keyCredentials").and_then(Value::as_array).into_iter().flatten();
    let keys = keys.filter_map(|k| k.get("key").and_then(Value::as_str));
    keys.filter_map(|key| certificates::parse_key_credential(key).ok()).collect()
}

impl Applications<'_> {
    /// An application's certificates as given (`type` AsymmetricX509Cert, `usage` Verify, `key` the base64
    /// DER certificate), checked and completed as Entra stores them: a `keyId`, the SHA-1 thumbprint as
    /// `customKeyIdentifier`, and the certificate's validity as start and end.
    pub(super) fn key_credentials(&self, given: &Value) -> Result<Value> {
        let wrong = |what: &str| {
            Error::invalid_property(
                "keyCredentials",
                format!("Invalid value specified for property 'keyCredentials': {what}."),
            )
        };
        let Value::Array(items) = given else { return Err(wrong("expected a list")) };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let text = |name: &str| item.get(name).and_then(Value::as_str);
            if !text("type").is_some_and(|t| t.eq_ignore_ascii_case("AsymmetricX509Cert")) {
                return Err(wrong("type must be 'AsymmetricX509Cert'"));
            }
            if !text("usage").is_some_and(|u| u.eq_ignore_ascii_case("Verify")) {
                return Err(wrong("usage must be 'Verify'"));
            }
            let key = text("key").ok_or_else(|| wrong("key is required"))?;
            let certificate = certificates::parse_key_credential(key)?;
            let key_id = match text("keyId") {
                Some(id) => Uuid::parse_str(id).map_err(|_| wrong("keyId must be a GUID"))?,
                None => self.directory.random().uuid(),
            };
            let thumbprint: String = certificate.sha1.iter().map(|b| format!("{b:02X}")).collect();
            out.push(json!({
                "keyId": key_id,
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
                "key": key.trim(),
                "displayName": text("displayName"),
                "customKeyIdentifier": thumbprint,
                "startDateTime": format_time(certificate.not_before),
                "endDateTime": format_time(certificate.not_after),
            }));
        }
        Ok(Value::Array(out))
    }

    /// `addKey`: a certificate joins the application's `keyCredentials`, proven by a JWT (`proof`) signed
    /// with one of its current certificates. The certificate comes back without its key.
    pub async fn add_key(&self, caller: &Caller, id: &str, body: &Map<String, Value>) -> Result<Value> {
        if body.get("passwordCredential").is_some_and(|p| !p.is_null()) {
            return Err(Error::invalid_property(
                "passwordCredential",
                "addKey adds certificates here; add a client secret with addPassword.",
            ));
        }
        let given = body
            .get("keyCredential")
            .filter(|k| k.is_object())
            .ok_or_else(|| Error::invalid_property("keyCredential", "keyCredential is required."))?;
        let added = self.key_credentials(&json!([given]))?.as_array().and_then(|a| a.first().cloned());
        let added = added.ok_or_else(|| Error::internal("a checked certificate went missing"))?;
        self.change_keys(caller, id, body, |keys| {
            keys.push(added.clone());
            Ok(())
        })
        .await?;
        let mut shown = added;
        shown["key"] = Value::Null;
        Ok(shown)
    }

    /// `removeKey`: a certificate leaves the application's `keyCredentials`, proven as for `addKey` (a
    /// certificate may prove its own removal).
    pub async fn remove_key(&self, caller: &Caller, id: &str, body: &Map<String, Value>) -> Result<()> {
        let key_id =
            body.get("keyId").and_then(Value::as_str).and_then(|k| Uuid::parse_str(k).ok()).ok_or_else(|| {
                Error::invalid_property("keyId", "keyId must be the GUID of one of the application's key credentials.")
            })?;
        self.change_keys(caller, id, body, |keys| {
            let before = keys.len();
            keys.retain(|k| k.get("keyId").and_then(Value::as_str) != Some(&key_id.to_string()));
            match keys.len() == before {
                true => Err(Error::not_found(key_id)),
                false => Ok(()),
            }
        })
        .await
    }

    /// One change of an application's certificates by `addKey` or `removeKey`: by an administrator
    /// (`Application.ReadWrite.All`) or the application itself, with the body's proof checked against the
    /// certificates as they stand.
    async fn change_keys(
        &self,
        caller: &Caller,
        id: &str,
        body: &Map<String, Value>,
        change: impl Fn(&mut Vec<Value>) -> Result<()>,
    ) -> Result<()> {
        let proof = body.get("proof").and_then(Value::as_str).ok_or_else(|| {
            Error::invalid_property("proof", "proof is required: a JWT signed with a current certificate.")
        })?;
        let mut turn = self.directory.turn(caller, object_id(id)?, "object").await?;
        loop {
            let target = self.directory.live_object(caller, ObjectKind::Application, id).await?;
            let itself = matches!(caller, Caller::App { app_id, .. } if target.unique_key == Some(app_id.to_string()));
            if !itself {
                require(caller, Action::WriteApplications)?;
            }
            self.check_proof(&target, proof)?;
            let mut record = target.clone();
            let mut keys = record.doc.get("keyCredentials").and_then(Value::as_array).cloned().unwrap_or_default();
            change(&mut keys)?;
            record.doc.insert("keyCredentials".into(), Value::Array(keys));
            let writes = vec![Write::update(&target, record, vec!["keyCredentials".into()])];
            if let Some(committed) = self.directory.commit_attempt(caller, &mut turn, writes).await? {
                return committed.map_err(|other| write_error(other, "conflict"));
            }
        }
    }

    /// A proof of possession, as Entra checks it: signed (RS256 or PS256) with one of the application's
    /// certificates valid now, for audience `00000002-0000-0000-c000-000000000000`, issued by the
    /// application's object id, and valid now for at most ten minutes.
    fn check_proof(&self, application: &ObjectRecord, proof: &str) -> Result<()> {
        let invalid =
            |why: &str| Error::invalid_property("proof", format!("The proof of possession is not valid: {why}"));
        let current = registered_certificates(&application.doc);
        let now = self.directory.now();
        let claims = certificates::verify_assertion(proof, &current, now).map_err(|e| invalid(&e.message))?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
        if text("aud") != PROOF_AUDIENCE {
            return Err(invalid(&format!("its audience must be {PROOF_AUDIENCE}.")));
        }
        if !text("iss").eq_ignore_ascii_case(&application.id.to_string()) {
            return Err(invalid("its issuer must be the application's object id."));
        }
        let time = |name: &str| claims.get(name).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)));
        let now = now.timestamp();
        let within = match (time("nbf"), time("exp")) {
            (Some(nbf), Some(exp)) => nbf <= now + PROOF_SKEW && now < exp && exp - nbf <= PROOF_LIFETIME,
            _ => false,
        };
        if !within {
            return Err(invalid("it is not valid now, or for longer than ten minutes."));
        }
        Ok(())
    }
}
