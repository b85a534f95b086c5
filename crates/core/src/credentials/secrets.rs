//! Secrets: client secrets (stored as SHA-256 digests, compared in constant time), the deployment's master
//! key that seals token-signing keys at rest (AES-256-GCM), and random identifiers.
//!
//! Client secrets are 40 random characters (about 230 bits), so a fast digest is safe to store; a slow
//! password hash would cap client-credentials throughput at the argon2 rate for no gain.

use crate::kernel::error::{Error, Result};
use crate::kernel::random::{Random, Rng};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::{distributions::Alphanumeric, Rng as _};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hmac;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new client secret in Entra's shape: a three-character hint, a `~`, then random characters.
pub fn new_client_secret(random: &dyn Random) -> String {
    let mut rng = Rng(random);
    let head: String = (&mut rng).sample_iter(&Alphanumeric).take(3).map(char::from).collect();
    let tail: String = (&mut rng).sample_iter(&Alphanumeric).take(37).map(char::from).collect();
    format!("{head}8Q~{tail}")
}

pub fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Compares a presented secret with a stored digest without leaking where they differ.
pub fn matches(secret: &str, stored_digest: &str) -> bool {
    digest(secret).as_bytes().ct_eq(stored_digest.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The deployment's master key: seals signing keys at rest, and derives the key of the MACs on paging
/// tokens ([`PagingKey`]). Every node of a deployment must hold the same one. It stays in the core: adapters
/// get the paging key alone.
#[derive(Clone)]
pub struct MasterKey {
    sealing: [u8; 32],
    paging: PagingKey,
    /// The key of the MACs on refresh tokens and of pairwise subject identifiers.
    tokens: hmac::Key,
}

/// The key of the MACs on paging tokens, derived from the master key: what an adapter needs to sign the
/// cursors it hands out, and nothing that opens signing keys.
#[derive(Clone)]
pub struct PagingKey(hmac::Key);

impl std::fmt::Debug for PagingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PagingKey(..)")
    }
}

impl PagingKey {
    /// A MAC over `data`, base64url.
    pub fn mac(&self, data: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.0, data).as_ref())
    }

    pub fn verify_mac(&self, data: &[u8], mac: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(mac) {
            Ok(tag) => hmac::verify(&self.0, data, &tag).is_ok(),
            Err(_) => false,
        }
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn generate(random: &dyn Random) -> MasterKey {
        let mut bytes = [0u8; 32];
        random.fill(&mut bytes);
        MasterKey::from_bytes(bytes)
    }

    fn from_bytes(sealing: [u8; 32]) -> MasterKey {
        let derive = |purpose: &[u8]| {
            let key = Sha256::new().chain_update(purpose).chain_update(sealing).finalize();
            hmac::Key::new(hmac::HMAC_SHA256, &key)
        };
        MasterKey {
            sealing,
            paging: PagingKey(derive(b"gatehouse paging mac")),
            tokens: derive(b"gatehouse token mac"),
        }
    }

    /// A MAC over `data` with the token key: what makes a refresh token unforgeable without storing it.
    pub fn token_mac(&self, data: &[u8]) -> [u8; 32] {
        let mut tag = [0u8; 32];
        tag.copy_from_slice(hmac::sign(&self.tokens, data).as_ref());
        tag
    }

    /// Checks a MAC made by [`MasterKey::token_mac`], in constant time.
    pub fn verify_token_mac(&self, data: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.tokens, data, tag).is_ok()
    }

    /// Parses the base64 text form written by [`MasterKey::encode`].
    pub fn decode(text: &str) -> Result<MasterKey> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| Error::invalid("The master key is not valid base64."))?;
        let array: [u8; 32] =
            bytes.try_into().map_err(|_| Error::invalid("The master key must be 32 bytes (44 base64 characters)."))?;
        Ok(MasterKey::from_bytes(array))
    }

    pub fn encode(&self) -> String {
        STANDARD.encode(self.sealing)
    }

    fn aead(&self) -> Result<LessSafeKey> {
        Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.sealing).map_err(Error::internal)?))
    }

    /// Encrypts and authenticates; returns base64 of nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, random: &dyn Random, plaintext: &[u8]) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        random.fill(&mut nonce);
        let mut buffer = plaintext.to_vec();
        self.aead()?
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buffer)
            .map_err(Error::internal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        Ok(STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<Vec<u8>> {
        let bytes = STANDARD.decode(sealed).map_err(Error::internal)?;
        if bytes.len() < NONCE_LEN {
            return Err(Error::internal("sealed value too short"));
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(Error::internal)?;
        let mut buffer = body.to_vec();
        let plain = self
            .aead()?
            .open_in_place(nonce, Aad::empty(), &mut buffer)
            .map_err(|_| Error::internal("a sealed key does not open with this master key"))?;
        Ok(plain.to_vec())
    }

    /// The key of the MACs on paging tokens.
    pub fn paging_key(&self) -> &PagingKey {
        &self.paging
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::random::SystemRandom;

    #[test]
    fn secrets_match_only_their_digest() {
        let secret = new_client_secret(&SystemRandom);
        assert_eq!(secret.len(), 43);
        let stored = digest(&secret);
        assert!(matches(&secret, &stored));
        assert!(!matches(&new_client_secret(&SystemRandom), &stored));
    }

    #[test]
    fn sealed_values_open_only_with_their_key() -> Result<()> {
        let key = MasterKey::generate(&SystemRandom);
        let sealed = key.seal(&SystemRandom, b"private key")?;
        assert_eq!(key.open(&sealed)?, b"private key");
        assert!(MasterKey::generate(&SystemRandom).open(&sealed).is_err());
        let again = MasterKey::decode(&key.encode())?;
        assert_eq!(again.open(&sealed)?, b"private key");
        let paging = key.paging_key();
        assert!(paging.verify_mac(b"x", &paging.mac(b"x")));
        assert!(!paging.verify_mac(b"y", &paging.mac(b"x")));
        assert!(key.verify_token_mac(b"x", &key.token_mac(b"x")));
        assert!(!key.verify_token_mac(b"x", &paging.mac(b"x").into_bytes()));
        assert!(!MasterKey::generate(&SystemRandom).verify_token_mac(b"x", &key.token_mac(b"x")));
        Ok(())
    }
}
