//! Passwords: Entra's complexity rule and argon2id hashing.
//!
//! Hashing is CPU work measured in tens of milliseconds, so it runs on threads of its own at low priority,
//! never on an async worker, and a bounded number at a time ([`Hasher`]), each thread in working memory it
//! keeps from one hash to the next. Hash parameters are explicit configuration: production uses m = 7 MiB, t = 5,
//! p = 1, one of the argon2id settings OWASP rates as equally strong and Keycloak's default (the one whose
//! working memory lets every core hash at once at full speed: design note 0011); only a caller that asks for
//! cheaper parameters gets them.

use crate::kernel::error::{Error, Result};
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::cell::RefCell;

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashParams {
    /// OWASP's recommendation for argon2id in its 7 MiB form (as strong as its 19 MiB, t = 2 one, trading
    /// memory for passes), as Keycloak uses it.
    pub const PRODUCTION: HashParams = HashParams { memory_kib: 7_168, iterations: 5, parallelism: 1 };

    /// Whether a stored hash (PHC string) was made with these parameters by argon2id, version 19.
    pub fn made(self, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else { return false };
        let value = |name: &str| parsed.params.get_decimal(name);
        parsed.algorithm.as_str() == "argon2id"
            && parsed.version == Some(0x13)
            && value("m") == Some(self.memory_kib)
            && value("t") == Some(self.iterations)
            && value("p") == Some(self.parallelism)
    }

    fn argon2_params(self) -> Result<Params> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None).map_err(Error::internal)
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

/// How long a hash may wait for its turn and run before the request is refused.
const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How many hashes may wait for a turn, per hash that may run: beyond it a request is refused at once.
const QUEUE_PER_TURN: usize = 32;

/// Password hashing on a bounded pool of its own threads: `limit` threads hash at once, each keeping its
/// parameters' memory (7 MiB in production) between hashes; at most [`QUEUE_PER_TURN`] × `limit` more hashes
/// wait in the pool's queue, and a request whose hash has not been computed within [`QUEUE_WAIT`] is refused,
/// as is one that finds the queue full. A thread takes its next hash from the queue as it finishes one, so no
/// core idles between hashes while requests wait. The threads run at the lowest scheduling priority
/// (nice 19), so hashing takes the CPU that serving requests leaves: a flood of sign-ins costs a bounded
/// amount of memory, and everything else stays fast while it lasts.
pub struct Hasher {
    params: HashParams,
    threads: usize,
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
    /// Hashes queued or running.
    pending: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    computed: std::sync::atomic::AtomicU64,
    running: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    peak: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

type Job = Box<dyn FnOnce() + Send>;

/// A hashing pool's load: how many hashes are queued or running.
#[derive(Clone)]
pub struct HashLoad(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl HashLoad {
    /// Hashes queued or running now.
    pub fn pending(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Seconds a refused hash's caller is told to wait.
const RETRY_AFTER: u64 = 1;

impl Hasher {
    pub fn new(params: HashParams, limit: usize) -> Hasher {
        let threads = limit.max(1);
        let (sender, receiver) = std::sync::mpsc::channel::<Job>();
        let receiver = std::sync::Arc::new(std::sync::Mutex::new(receiver));
        for n in 0..threads {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new().name(format!("password-hash-{n}")).spawn(move || {
                use thread_priority::{set_current_thread_priority, ThreadPriority};
                if let Err(e) = set_current_thread_priority(ThreadPriority::Min) {
                    tracing::warn!(error = ?e, "password hashing runs at normal priority");
                }
                loop {
                    let job = receiver.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "a password hashing thread could not start");
            }
        }
        Hasher {
            params,
            threads,
            jobs: std::sync::Mutex::new(sender),
            pending: Default::default(),
            computed: Default::default(),
            running: Default::default(),
            peak: Default::default(),
        }
    }

    /// How many hashes the pool computes at once (its threads).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Hashes the password with the salt given (16 bytes of the directory's randomness) when a turn comes;
    /// returns the PHC string (`$argon2id$v=19$m=…`). Refused as throttled when the pool is saturated.
    pub async fn hash(&self, password: String, salt: [u8; 16]) -> Result<String> {
        let params = self.params;
        self.run(move || hash_now(&password, &salt, params))
            .await
            .map_err(|_| Error::throttled("Too many password changes at once; try again shortly.", RETRY_AFTER))?
    }

    /// The parameters new hashes are made with.
    pub fn params(&self) -> HashParams {
        self.params
    }

    /// Verifies a password against a stored hash when a turn comes. Without a hash (an unknown user, or one
    /// without a password) the answer is false after a hash of the same cost with the pool's parameters, so
    /// that the answer's time does not tell whether the account exists. Refused as unavailable when the pool
    /// is saturated (a sign-in answers `503` with `Retry-After`).
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool> {
        let params = self.params;
        let check = move || match phc {
            Some(phc) => Ok(verify_now(&password, &phc)),
            None => hash_now(&password, &[0; 16], params).map(|_| false),
        };
        self.run(check).await.map_err(|_| {
            Error::unavailable("AADSTS90033: A transient error has occurred. Please try again.", RETRY_AFTER)
        })?
    }

    /// Runs `work` on the hashing threads when a turn comes; `Err(())` when the queue is full or the result
    /// has not come within [`QUEUE_WAIT`]. A hash whose caller has gone by the time its turn comes (a request
    /// that timed out or was dropped) is skipped.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> std::result::Result<Result<T>, ()> {
        use std::sync::atomic::Ordering::Relaxed;
        let capacity = self.threads * (QUEUE_PER_TURN + 1);
        if self.pending.fetch_add(1, Relaxed) >= capacity {
            self.pending.fetch_sub(1, Relaxed);
            return Err(());
        }
        let (done, result) = tokio::sync::oneshot::channel();
        let (pending, running, peak) = (self.pending.clone(), self.running.clone(), self.peak.clone());
        let job: Job = Box::new(move || {
            if !done.is_closed() {
                let now = running.fetch_add(1, Relaxed) + 1;
                peak.fetch_max(now, Relaxed);
                let outcome = work();
                running.fetch_sub(1, Relaxed);
                let _ = done.send(outcome);
            }
            pending.fetch_sub(1, Relaxed);
        });
        if self.jobs.lock().unwrap_or_else(|p| p.into_inner()).send(job).is_err() {
            self.pending.fetch_sub(1, Relaxed);
            return Ok(Err(Error::internal("the password hashing threads are gone")));
        }
        match tokio::time::timeout(QUEUE_WAIT, result).await {
            Ok(outcome) => {
                self.computed.fetch_add(1, Relaxed);
                Ok(outcome.map_err(|_| Error::internal("a password hash was lost")).and_then(|r| r))
            }
            Err(_) => Err(()),
        }
    }

    /// The pool's load, to read later without borrowing the pool.
    pub fn load(&self) -> HashLoad {
        HashLoad(self.pending.clone())
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

/// Hashes on the current thread with the salt given; for benchmarks and blocking contexts. Never inlined, so
/// that a benchmark's baseline runs the machine code the hashing pool runs: a copy inlined into another crate
/// is laid out anew, and one such copy hashed 30–45 % slower (docs/benchmarks.md, 2026-12-07 evening).
#[inline(never)]
pub fn hash_now(password: &str, salt: &[u8], params: HashParams) -> Result<String> {
    let params = params.argon2_params()?;
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2id_into(Algorithm::Argon2id, Version::V0x13, &params, password.as_bytes(), salt, &mut output)?;
    let salt = SaltString::encode_b64(salt).map_err(Error::internal)?;
    let hashed = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(Error::internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output).map_err(Error::internal)?),
    };
    Ok(hashed.to_string())
}

/// Verifies against a stored PHC string, with the parameters recorded in it. The outputs are compared in
/// constant time ([`Output`]'s equality).
pub fn verify_now(password: &str, phc: &str) -> bool {
    let verified = || -> Option<bool> {
        let parsed = PasswordHash::new(phc).ok()?;
        let (salt, expected) = (parsed.salt?, parsed.hash?);
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = parsed.version.map_or(Ok(Version::default()), Version::try_from).ok()?;
        let params = Params::try_from(&parsed).ok()?;
        let mut salt_bytes = [0u8; 64];
        let salt = salt.decode_b64(&mut salt_bytes).ok()?;
        let mut output = [0u8; Output::MAX_LENGTH];
        let output = &mut output[..expected.len()];
        argon2id_into(algorithm, version, &params, password.as_bytes(), salt, output).ok()?;
        Some(Output::new(output).ok()? == expected)
    };
    verified().unwrap_or(false)
}

thread_local! {
    /// This thread's argon2 working memory, kept from one hash to the next: allocated afresh, its megabytes
    /// cost every hash thousands of page faults and the zeroing of every page, up to 40 % of a hash's time
    /// when page faults are slow (docs/benchmarks.md). Each hash writes every block it uses before reading it.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// argon2 of the password and salt into `output`, in this thread's kept memory (grown to the largest
/// parameters it has hashed with).
fn argon2id_into(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    output: &mut [u8],
) -> Result<()> {
    let argon2 = Argon2::new(algorithm, version, params.clone());
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < params.block_count() {
            memory.resize(params.block_count(), Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, output, &mut memory[..]).map_err(Error::internal)
    })
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
    fn a_hash_knows_the_parameters_it_was_made_with() -> Result<()> {
        let cheap = HashParams { memory_kib: 64, iterations: 1, parallelism: 1 };
        let phc = hash_now("Sup3r-secret", &[7; 16], cheap)?;
        assert!(cheap.made(&phc));
        assert!(!HashParams { iterations: 2, ..cheap }.made(&phc));
        assert!(!HashParams::PRODUCTION.made(&phc));
        assert!(!cheap.made("$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA"));
        assert!(!cheap.made("not a hash"));
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_saturated_pool_refuses_at_once_instead_of_queueing_without_bound() -> Result<()> {
        let slow = HashParams { memory_kib: 8 * 1024, iterations: 4, parallelism: 1 };
        let phc = hash_now("Sup3r-secret", &[7; 16], slow)?;
        let hasher = std::sync::Arc::new(Hasher::new(slow, 1));
        let attempts: Vec<_> = (0..100)
            .map(|_| {
                let (hasher, phc) = (hasher.clone(), phc.clone());
                tokio::spawn(async move { hasher.verify("Sup3r-secret".into(), Some(phc)).await })
            })
            .collect();
        let (mut verified, mut refused) = (0, 0);
        for attempt in attempts {
            match attempt.await.map_err(Error::internal)? {
                Ok(true) => verified += 1,
                Ok(false) => return Err(Error::internal("a right password failed")),
                Err(e) => {
                    assert_eq!((e.kind, e.retry_after), (crate::ErrorKind::Unavailable, Some(RETRY_AFTER)));
                    refused += 1;
                }
            }
        }
        assert!(verified >= 1 + QUEUE_PER_TURN - 8, "the queue is served: {verified}");
        assert!(refused >= 100 - 1 - QUEUE_PER_TURN, "beyond the queue, refused: {refused}");
        assert_eq!(hasher.peak(), 1, "one at a time");
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_check_without_a_hash_fails_after_a_hash_of_the_pools_own_cost() -> Result<()> {
        let cheap = HashParams { memory_kib: 64, iterations: 1, parallelism: 1 };
        let hasher = Hasher::new(cheap, 1);
        let phc = hash_now("Sup3r-secret", &[7; 16], cheap)?;
        assert!(hasher.verify("Sup3r-secret".into(), Some(phc.clone())).await?);
        assert!(!hasher.verify("Sup3r-secreT".into(), Some(phc)).await?);
        assert!(!hasher.verify("Sup3r-secret".into(), None).await?, "no hash, no match");
        assert_eq!(hasher.computed(), 3, "the check without a hash took its turn on the pool");
        let broken = Hasher::new(HashParams { memory_kib: 1, ..cheap }, 1);
        assert!(broken.verify("Sup3r-secret".into(), None).await.is_err(), "hashed with the pool's parameters");
        Ok(())
    }

    #[test]
    fn hashes_agree_with_the_argon2_crates_own_hashing_both_ways() -> Result<()> {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let params = HashParams { memory_kib: 256, iterations: 2, parallelism: 1 };
        let library = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.argon2_params()?);
        let salt = SaltString::encode_b64(&[3; 16]).map_err(Error::internal)?;
        let theirs = library.hash_password(b"Sup3r-secret", &salt).map_err(Error::internal)?.to_string();
        // After a larger hash on this thread, in the memory that one left behind.
        hash_now("Other-secret1", &[4; 16], HashParams { memory_kib: 1024, ..params })?;
        let ours = hash_now("Sup3r-secret", &[3; 16], params)?;
        assert_eq!(ours, theirs);
        let older =
            Argon2::new(Algorithm::Argon2i, Version::V0x10, Params::new(128, 3, 2, Some(24)).map_err(Error::internal)?);
        let older = older.hash_password(b"Sup3r-secret", &salt).map_err(Error::internal)?.to_string();
        assert!(verify_now("Sup3r-secret", &older) && !verify_now("Sup3r-secreT", &older), "{older}");
        let parsed = PasswordHash::new(&ours).map_err(Error::internal)?;
        assert!(library.verify_password(b"Sup3r-secret", &parsed).is_ok());
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hash_whose_caller_has_gone_is_skipped() -> Result<()> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let hasher = std::sync::Arc::new(Hasher::new(HashParams::PRODUCTION, 1));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let first = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.run(move || Ok(hold.recv().is_ok())).await })
        };
        while hasher.running.load(Ordering::Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
        let ran = std::sync::Arc::new(AtomicBool::new(false));
        let abandoned = {
            let (hasher, ran) = (hasher.clone(), ran.clone());
            tokio::spawn(async move { hasher.run(move || Ok(ran.store(true, Ordering::Relaxed))).await })
        };
        while hasher.pending.load(Ordering::Relaxed) < 2 {
            tokio::task::yield_now().await;
        }
        abandoned.abort();
        assert!(abandoned.await.is_err_and(|e| e.is_cancelled()));
        release.send(()).map_err(Error::internal)?;
        assert_eq!(first.await.map_err(Error::internal)?, Ok(Ok(true)));
        assert_eq!(hasher.run(|| Ok(7)).await, Ok(Ok(7)), "the queue moves on");
        assert!(!ran.load(Ordering::Relaxed), "the abandoned hash was not computed");
        assert_eq!(hasher.pending.load(Ordering::Relaxed), 0);
        Ok(())
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
