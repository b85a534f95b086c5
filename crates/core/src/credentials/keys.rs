//! Token-signing keys and compact JWS (RS256) encoding and checking.
//!
//! A key is parsed once when loaded: RSA signing dominates the cost of issuing a token, and re-parsing a
//! PKCS#8 document per token would add to it for nothing. Verification keys are the public halves of the
//! same keys, held beside them by `kid`.
//!
//! Only RS256 is accepted on the way in; a token whose header names any other algorithm (`none` included)
//! is refused before any signature work.

use crate::kernel::error::{Error, Result};
use crate::kernel::random::{Random, Rng};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256};
use rsa::pkcs8::EncodePrivateKey;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A parsed RSA-2048 signing key.
pub struct SigningKey {
    pub kid: String,
    pair: RsaKeyPair,
    n: Vec<u8>,
    e: Vec<u8>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh key; returns it with its PKCS#8 DER form for sealing.
    pub fn generate(random: &dyn Random) -> Result<(SigningKey, Vec<u8>)> {
        let private = rsa::RsaPrivateKey::new(&mut Rng(random), 2048).map_err(Error::internal)?;
        let der = private.to_pkcs8_der().map_err(Error::internal)?.as_bytes().to_vec();
        Ok((SigningKey::from_pkcs8(&der)?, der))
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<SigningKey> {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| Error::internal(format!("signing key: {e}")))?;
        let public = pair.public();
        let components: RsaPublicKeyComponents<Vec<u8>> = public.into();
        let n = trim_leading_zeros(&components.n);
        let e = trim_leading_zeros(&components.e);
        let mut thumb = Sha256::new();
        thumb.update(&n);
        thumb.update(&e);
        let kid = URL_SAFE_NO_PAD.encode(&thumb.finalize()[..20]);
        Ok(SigningKey { kid, pair, n, e, rng: SystemRandom::new() })
    }

    /// The public half, as a JSON Web Key the way Entra publishes them.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": URL_SAFE_NO_PAD.encode(&self.n),
            "e": URL_SAFE_NO_PAD.encode(&self.e),
            "alg": "RS256",
        })
    }

    pub fn verifier(&self) -> VerifyingKey {
        VerifyingKey { kid: self.kid.clone(), n: self.n.clone(), e: self.e.clone() }
    }

    /// Signs the claims as a compact JWS with header `{"typ":"JWT","alg":"RS256","kid"}`.
    pub fn sign(&self, claims: &Value) -> Result<String> {
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": self.kid});
        let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(Error::internal)?);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).map_err(Error::internal)?));
        let mut signature = vec![0u8; self.pair.public().modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, token.as_bytes(), &mut signature)
            .map_err(|e| Error::internal(format!("signing: {e}")))?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }
}

/// Runs `work` (signing: 0.45 ms of CPU in one piece) aside from the async worker it is called on, when that
/// is a worker of a multi-threaded runtime (`block_in_place`; elsewhere, in place). On a worker, a signature
/// holds up every request queued behind it: beside a flood of password sign-ins, reads' p99 was 2.1–3.4 ×
/// their idle p99 with the sign-ins signing in place, and 1.6–1.9 × with them signing aside (alternating
/// runs, docs/benchmarks.md). Moving aside costs a hand-over, which refresh grants, bound by signing
/// throughput, do not pay: they sign in place.
pub fn aside<T>(work: impl FnOnce() -> T) -> T {
    let multi_threaded = tokio::runtime::Handle::try_current()
        .is_ok_and(|runtime| runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    match multi_threaded {
        true => tokio::task::block_in_place(work),
        false => work(),
    }
}

fn trim_leading_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}

/// A public key that checks signatures.
#[derive(Debug, Clone)]
pub struct VerifyingKey {
    pub kid: String,
    n: Vec<u8>,
    e: Vec<u8>,
}

/// The parts of a compact JWS, split and decoded but not yet trusted.
#[derive(Debug)]
pub struct UnverifiedToken<'a> {
    pub kid: String,
    signed: &'a str,
    signature: Vec<u8>,
    pub claims: Value,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

/// Splits a token and decodes its header and claims. Refuses any algorithm but RS256 and a missing `kid`.
pub fn parse(token: &str) -> Result<UnverifiedToken<'_>> {
    let bad = || Error::unauthenticated("Access token is malformed.");
    let mut parts = token.splitn(3, '.');
    let (header, payload, signature) = match (parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s)) => (h, p, s),
        _ => return Err(bad()),
    };
    let header: Header =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).map_err(|_| bad())?).map_err(|_| bad())?;
    if header.alg != "RS256" {
        return Err(Error::unauthenticated(format!("Signing algorithm '{}' is not accepted.", header.alg)));
    }
    let kid = header.kid.ok_or_else(bad)?;
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?).map_err(|_| bad())?;
    if !claims.is_object() {
        return Err(bad());
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| bad())?;
    let signed_len = token.len() - signature_len(token);
    Ok(UnverifiedToken { kid, signed: &token[..signed_len], signature, claims })
}

fn signature_len(token: &str) -> usize {
    token.rsplit_once('.').map(|(_, s)| s.len() + 1).unwrap_or(0)
}

impl UnverifiedToken<'_> {
    /// Checks the signature with the key the header named.
    pub fn verify(&self, key: &VerifyingKey) -> Result<()> {
        let components = RsaPublicKeyComponents { n: &key.n, e: &key.e };
        components
            .verify(&RSA_PKCS1_2048_8192_SHA256, self.signed.as_bytes(), &self.signature)
            .map_err(|_| Error::unauthenticated("Access token signature is invalid."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_and_tampering_is_caught() -> Result<()> {
        let (key, der) = SigningKey::generate(&crate::kernel::random::SystemRandom)?;
        let token = key.sign(&json!({"sub": "x", "n": 1}))?;
        let parsed = parse(&token)?;
        assert_eq!(parsed.kid, key.kid);
        parsed.verify(&key.verifier())?;
        let reloaded = SigningKey::from_pkcs8(&der)?;
        assert_eq!(reloaded.kid, key.kid);

        let (header, rest) = token.split_once('.').ok_or_else(|| Error::invalid("no dot"))?;
        let (_, signature) = rest.split_once('.').ok_or_else(|| Error::invalid("no dot"))?;
        let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"y","n":1}"#);
        let forged = format!("{header}.{forged_claims}.{signature}");
        assert!(parse(&forged)?.verify(&key.verifier()).is_err());

        let (other, _) = SigningKey::generate(&crate::kernel::random::SystemRandom)?;
        assert!(parsed.verify(&other.verifier()).is_err());

        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k"}"#);
        assert!(parse(&format!("{none_header}.{forged_claims}.")).is_err());
        Ok(())
    }

    /// Signing aside works on both kinds of runtime: on a worker of a multi-threaded one, whose other tasks
    /// go on meanwhile, and on a single-threaded one (the tests' own), in place.
    #[test]
    fn signing_aside_works_on_either_runtime() -> Result<()> {
        let (key, _) = SigningKey::generate(&crate::kernel::random::SystemRandom)?;
        let key = std::sync::Arc::new(key);
        for multi in [true, false] {
            let runtime = match multi {
                true => tokio::runtime::Builder::new_multi_thread().worker_threads(1).build(),
                false => tokio::runtime::Builder::new_current_thread().build(),
            }
            .map_err(Error::internal)?;
            let signer = key.clone();
            let token = runtime.block_on(async move {
                tokio::spawn(async move { aside(|| signer.sign(&json!({"sub": "x"}))) }).await.map_err(Error::internal)
            })??;
            parse(&token)?.verify(&key.verifier())?;
        }
        Ok(())
    }
}
