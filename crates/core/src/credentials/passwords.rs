//! Passwords: Entra's complexity rule and argon2id hashing.
//!
//! Hashing is CPU work measured in tens of milliseconds, so it runs on the blocking pool, never on an async
//! worker, and a bounded number at a time ([`Hasher`]). Hash parameters are explicit configuration: production uses the OWASP minimum
//! (m = 19 MiB, t = 2, p = 1); only a caller that asks for cheaper parameters gets them.

use crate::kernel::error::{Error, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashParams {
    /// OWASP's minimum recommendation for argon2id.
    pub const PRODUCTION: HashParams = HashParams { memory_kib: 19_456, iterations: 2, parallelism: 1 };

    fn argon2(self) -> Result<Argon2<'static>> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None).map_err(Error::internal)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for HashParams {
    fn default() -> Self {
        HashParams::PRODUCTION
    }
}

pub const COMPLEXITY_MESSAGE: &str =
    "The specified password does not comply with password complexity requirements. Please provide a different password.";

const SYMBOLS: &str = "@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> ";

/// Entra's rule: 8–256 characters from the allowed set, with at least three of lower case, upper case,
/// digits and symbols. `strong = false` (the `DisableStrongPassword` policy) keeps only the length rule.
pub fn check_complexity(password: &str, strong: bool) -> Result<()> {
    let length = password.chars().count();
    if !(8..=256).contains(&length) {
        return Err(Error::invalid_property("passwordProfile", COMPLEXITY_MESSAGE));
    }
    if !strong {
        return Ok(());
    }
    let (mut lower, mut upper, mut digit, mut symbol) = (false, false, false, false);
    for c in password.chars() {
        match c {
            'a'..='z' => lower = true,
            'A'..='Z' => upper = true,
            '0'..='9' => digit = true,
            c if SYMBOLS.contains(c) => symbol = true,
            _ => return Err(Error::invalid_property("passwordProfile", COMPLEXITY_MESSAGE)),
        }
    }
    if [lower, upper, digit, symbol].iter().filter(|x| **x).count() < 3 {
        return Err(Error::invalid_property("passwordProfile", COMPLEXITY_MESSAGE));
    }
    Ok(())
}

/// How long a hash waits for its turn before the request is refused as throttled.
const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Password hashing on a bounded pool: at most `limit` hashes run at once, each on the blocking pool and
/// holding its parameters' memory (19 MiB in production); the rest wait their turn, for at most
/// [`QUEUE_WAIT`], and are then refused as throttled. So a flood of password writes costs a bounded amount of
/// memory and CPU, and the server keeps answering everything else. Sign-in's verification joins this pool.
pub struct Hasher {
    params: HashParams,
    turns: tokio::sync::Semaphore,
    computed: std::sync::atomic::AtomicU64,
    running: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

impl Hasher {
    pub fn new(params: HashParams, limit: usize) -> Hasher {
        Hasher {
            params,
            turns: tokio::sync::Semaphore::new(limit.max(1)),
            computed: Default::default(),
            running: Default::default(),
            peak: Default::default(),
        }
    }

    /// Hashes `password` when a turn comes; returns the PHC string (`$argon2id$v=19$m=…`).
    /// Hashes the password with the salt given (16 bytes of the directory's randomness).
    pub async fn hash(&self, password: String, salt: [u8; 16]) -> Result<String> {
        use std::sync::atomic::Ordering::Relaxed;
        let _turn = match tokio::time::timeout(QUEUE_WAIT, self.turns.acquire()).await {
            Ok(Ok(turn)) => turn,
            _ => return Err(Error::throttled("Too many password changes at once; try again shortly.", 1)),
        };
        let running = self.running.fetch_add(1, Relaxed) + 1;
        self.peak.fetch_max(running, Relaxed);
        let params = self.params;
        let hashed =
            tokio::task::spawn_blocking(move || hash_now(&password, &salt, params)).await.map_err(Error::internal);
        self.running.fetch_sub(1, Relaxed);
        self.computed.fetch_add(1, Relaxed);
        hashed?
    }

    /// How many hashes have been computed.
    pub fn computed(&self) -> u64 {
        self.computed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The most hashes that ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Hashes on the current thread with the salt given; for benchmarks and blocking contexts.
pub fn hash_now(password: &str, salt: &[u8], params: HashParams) -> Result<String> {
    let salt = SaltString::encode_b64(salt).map_err(Error::internal)?;
    let hashed = params.argon2()?.hash_password(password.as_bytes(), &salt).map_err(Error::internal)?;
    Ok(hashed.to_string())
}

/// Verifies against a stored PHC string, with the parameters recorded in it. Constant-time inside argon2.
pub fn verify_now(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complexity_follows_entra() {
        for (password, ok) in [
            ("Passw0rd", true),
            ("password1!", true),
            ("PASSWORD1!", true),
            ("password", false),
            ("Password", false),
            ("Pa1!", false),
            ("Pässw0rd!", false),
            ("correct horse Battery", true),
        ] {
            assert_eq!(check_complexity(password, true).is_ok(), ok, "{password}");
        }
        assert!(check_complexity("password", false).is_ok());
        assert!(check_complexity(&"a".repeat(257), false).is_err());
    }

    #[test]
    fn hashes_are_argon2id_and_verify() -> Result<()> {
        let cheap = HashParams { memory_kib: 64, iterations: 1, parallelism: 1 };
        let phc = hash_now("Sup3r-secret", &[7; 16], cheap)?;
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(verify_now("Sup3r-secret", &phc));
        assert!(!verify_now("Sup3r-secreT", &phc));
        Ok(())
    }
}
