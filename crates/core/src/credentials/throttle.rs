//! Failure throttling for credentials: after too many failures in a window, a key (a client, a source
//! address) is refused for a while, even with the right secret, so that guessing is bounded in rate. The
//! sign-in issue's smart lockout for accounts takes the same shape.
//!
//! Counters live in this node's memory (each node of a cluster throttles on its own, so a cluster of n
//! nodes lets n times the rate through at most) and are bounded in number: past [`MAX_KEYS`], expired
//! entries are dropped, and if none has expired the oldest windows go.

use std::collections::HashMap;
use std::sync::Mutex;

/// The most keys remembered at once.
pub const MAX_KEYS: usize = 100_000;

/// How many failures a key may have within a window before it is locked out, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub failures: u32,
    pub window_seconds: i64,
    pub lockout_seconds: i64,
}

impl Policy {
    /// A client (an application of a tenant): ten wrong secrets a minute lock it for a minute.
    pub const CLIENT: Policy = Policy { failures: 10, window_seconds: 60, lockout_seconds: 60 };
    /// A source address: thirty failures a minute, whatever the clients, lock it for a minute.
    pub const SOURCE: Policy = Policy { failures: 30, window_seconds: 60, lockout_seconds: 60 };
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: i64,
    failures: u32,
    locked_until: i64,
}

#[derive(Default)]
pub struct Throttle {
    keys: Mutex<HashMap<String, Window>>,
}

impl Throttle {
    /// Seconds the key stays locked out, if it is now.
    pub fn locked(&self, key: &str, now: i64) -> Option<u64> {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.get(key).filter(|w| w.locked_until > now).map(|w| (w.locked_until - now).unsigned_abs())
    }

    /// Records a failure; returns the lockout's seconds when this failure locks the key out.
    pub fn fail(&self, key: &str, now: i64, policy: Policy) -> Option<u64> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if keys.len() >= MAX_KEYS && !keys.contains_key(key) {
            let horizon = now - policy.window_seconds.max(policy.lockout_seconds);
            keys.retain(|_, w| w.started > horizon || w.locked_until > now);
            if keys.len() >= MAX_KEYS {
                let mut starts: Vec<i64> = keys.values().map(|w| w.started).collect();
                starts.sort_unstable();
                let cut = starts[starts.len() / 2];
                keys.retain(|_, w| w.started > cut);
            }
        }
        let window = keys.entry(key.to_owned()).or_insert(Window { started: now, failures: 0, locked_until: 0 });
        if now - window.started >= policy.window_seconds {
            *window = Window { started: now, failures: 0, locked_until: window.locked_until };
        }
        window.failures += 1;
        if window.failures >= policy.failures && window.locked_until <= now {
            window.locked_until = now + policy.lockout_seconds;
            window.started = now;
            window.failures = 0;
            return Some(policy.lockout_seconds.unsigned_abs());
        }
        None
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy { failures: 3, window_seconds: 60, lockout_seconds: 30 };

    #[test]
    fn a_key_is_locked_after_its_failures_and_released_after_the_lockout() {
        let throttle = Throttle::default();
        assert_eq!(throttle.fail("client", 0, POLICY), None);
        assert_eq!(throttle.fail("client", 1, POLICY), None);
        assert_eq!(throttle.locked("client", 1), None);
        assert_eq!(throttle.fail("client", 2, POLICY), Some(30));
        assert_eq!(throttle.locked("client", 10), Some(22));
        assert_eq!(throttle.locked("other", 10), None, "keys are apart");
        assert_eq!(throttle.locked("client", 32), None, "the lockout ends");
        assert_eq!(throttle.fail("slow", 0, POLICY), None);
        assert_eq!(throttle.fail("slow", 61, POLICY), None, "failures outside the window start a new one");
        assert_eq!(throttle.fail("slow", 62, POLICY), None);
    }

    #[test]
    fn the_number_of_keys_is_bounded() {
        let throttle = Throttle::default();
        for i in 0..(MAX_KEYS + 5_000) {
            throttle.fail(&format!("source-{i}"), i64::try_from(i).unwrap_or(i64::MAX) / 1000, POLICY);
        }
        assert!(throttle.len() <= MAX_KEYS, "{}", throttle.len());
    }
}
