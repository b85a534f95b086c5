//! Time-based one-time passwords (RFC 6238), as authenticator apps make them for a software OATH token:
//! HMAC-SHA1 over 30-second steps, six digits. A code is good for the step before, the one of, and the one
//! after the time it is checked at, and each step is used once (the caller keeps the last one used).

use ring::hmac;
use subtle::ConstantTimeEq;

/// Seconds a code lasts.
pub const STEP_SECONDS: i64 = 30;
/// The bytes of a new secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;
const DIGITS: u32 = 6;

/// The code of `secret` for the time step `step`.
pub fn code(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let bytes = tag.as_ref();
    let offset = usize::from(bytes[bytes.len() - 1] & 0x0f);
    let word = u32::from_be_bytes([bytes[offset] & 0x7f, bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]]);
    format!("{:0width$}", word % 10u32.pow(DIGITS), width = DIGITS as usize)
}

/// The time step of Unix time `now`.
pub fn step_of(now: i64) -> i64 {
    now.div_euclid(STEP_SECONDS)
}

/// The step a code was made for, if it is one of `secret`'s around `now` and later than `after` (the last step
/// used).
pub fn matching_step(secret: &[u8], given: &str, now: i64, after: i64) -> Option<i64> {
    let given = given.trim();
    let current = step_of(now);
    (current - 1..=current + 1)
        .filter(|step| *step > after)
        .find(|step| bool::from(code(secret, *step).as_bytes().ct_eq(given.as_bytes())))
}

/// RFC 4648 base32 without padding, as authenticator apps take a secret.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    for chunk in bytes.chunks(5) {
        let mut buffer = [0u8; 5];
        buffer[..chunk.len()].copy_from_slice(chunk);
        let bits = buffer.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let symbols = (chunk.len() * 8).div_ceil(5);
        for i in 0..symbols {
            out.push(char::from(ALPHABET[((bits >> (35 - i * 5)) & 0x1f) as usize]));
        }
    }
    out
}

/// The `otpauth://` URI an authenticator app reads from a QR code.
pub fn provisioning_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let encode =
        |text: &str| percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string();
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        encode(issuer),
        encode(account),
        base32(secret),
        encode(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, expected) in [(59, "94287082"), (1_111_111_109, "07081804"), (1_234_567_890, "89005924")] {
            assert_eq!(code(secret, step_of(time)), expected[2..], "the last six digits at {time}");
        }
    }

    #[test]
    fn a_code_is_good_one_step_either_way_and_once() {
        let secret = b"12345678901234567890";
        let now = 1_234_567_890;
        let step = step_of(now);
        assert_eq!(matching_step(secret, &code(secret, step - 1), now, 0), Some(step - 1));
        assert_eq!(matching_step(secret, &code(secret, step + 1), now, 0), Some(step + 1));
        assert_eq!(matching_step(secret, &code(secret, step - 2), now, 0), None, "too old");
        assert_eq!(matching_step(secret, &code(secret, step), now, step), None, "used already");
        assert_eq!(matching_step(secret, "000000x", now, 0), None);
    }

    #[test]
    fn base32_is_rfc_4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(&[0u8; 20]).len(), 32);
    }
}
