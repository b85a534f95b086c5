//! Refresh tokens: opaque to clients, unforgeable, and not stored. A token is its tenant, its family and
//! its generation, with a MAC over them made with the master key; the store keeps only the family's
//! current generation. A token of an earlier generation is genuine (its MAC verifies) but used already:
//! the family is revoked, since either the client or a thief holds a copy.
//!
//! Each node keeps the families it started, rotated or read ([`Families`]), so that a refresh grant reads
//! nothing before its rotation. A kept copy can be stale only in what other nodes change: the generation
//! (a rotation there) and the revocation. Neither can let a used token through: a token whose generation
//! is not the kept one sends the grant to the store for the family, and the rotation itself is a
//! compare-and-set on the generation of a family not revoked, which fails for a token used or revoked
//! elsewhere.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

use crate::credentials::secrets::MasterKey;
use crate::store::RefreshFamilyRecord;

/// The most families a node keeps (a few hundred bytes each); beyond it one is forgotten for each added.
const MOST_FAMILIES: usize = 50_000;

/// The refresh families this node knows, by tenant and id.
#[derive(Default)]
pub(crate) struct Families(Mutex<HashMap<(Uuid, Uuid), RefreshFamilyRecord>>);

impl Families {
    /// The kept copy of a family, if this node has one.
    pub fn get(&self, tenant: Uuid, id: Uuid) -> Option<RefreshFamilyRecord> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&(tenant, id)).cloned()
    }

    /// Keeps a family as the store now has it.
    pub fn keep(&self, tenant: Uuid, family: RefreshFamilyRecord) {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= MOST_FAMILIES && !kept.contains_key(&(tenant, family.id)) {
            if let Some(any) = kept.keys().next().copied() {
                kept.remove(&any);
            }
        }
        kept.insert((tenant, family.id), family);
    }

    /// Forgets a family (revoked here: the next grant reads it from the store).
    pub fn forget(&self, tenant: Uuid, id: Uuid) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&(tenant, id));
    }
}

/// What a refresh token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshToken {
    pub tenant: Uuid,
    pub family: Uuid,
    pub generation: i64,
}

const BODY: usize = 16 + 16 + 8;

impl RefreshToken {
    fn body(&self) -> [u8; BODY] {
        let mut body = [0u8; BODY];
        body[..16].copy_from_slice(self.tenant.as_bytes());
        body[16..32].copy_from_slice(self.family.as_bytes());
        body[32..].copy_from_slice(&self.generation.to_be_bytes());
        body
    }

    /// The token's text.
    pub fn encode(&self, key: &MasterKey) -> String {
        let body = self.body();
        let mut bytes = body.to_vec();
        bytes.extend_from_slice(&key.token_mac(&body));
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The token a text is, if it is one of ours: `None` for anything malformed or forged.
    pub fn decode(text: &str, key: &MasterKey) -> Option<RefreshToken> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        if bytes.len() != BODY + 32 {
            return None;
        }
        let (body, tag) = bytes.split_at(BODY);
        if !key.verify_token_mac(body, tag) {
            return None;
        }
        let uuid = |range: std::ops::Range<usize>| Uuid::from_slice(&body[range]).ok();
        let generation = i64::from_be_bytes(body[32..].try_into().ok()?);
        Some(RefreshToken { tenant: uuid(0..16)?, family: uuid(16..32)?, generation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::random::SystemRandom;

    #[test]
    fn tokens_round_trip_and_resist_forgery() {
        let key = MasterKey::generate(&SystemRandom);
        let token = RefreshToken { tenant: Uuid::new_v4(), family: Uuid::new_v4(), generation: 7 };
        let text = token.encode(&key);
        assert_eq!(RefreshToken::decode(&text, &key), Some(token));
        let next = RefreshToken { generation: 8, ..token };
        assert_ne!(next.encode(&key), text);
        assert_eq!(RefreshToken::decode(&text, &MasterKey::generate(&SystemRandom)), None, "another deployment's");
        let mut bytes = URL_SAFE_NO_PAD.decode(&text).unwrap_or_default();
        bytes[39] ^= 1;
        assert_eq!(RefreshToken::decode(&URL_SAFE_NO_PAD.encode(&bytes), &key), None, "a generation altered");
        for garbage in ["", "x", "not a token at all", &text[..text.len() - 2]] {
            assert_eq!(RefreshToken::decode(garbage, &key), None, "{garbage}");
        }
    }
}
