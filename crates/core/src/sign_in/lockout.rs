//! Smart lockout, as Entra's: ten wrong passwords lock a user's password sign-ins for a minute, longer after
//! every further lockout; the same wrong password counts once (the last three wrong ones are remembered, as
//! keyed digests, never as text); a locked account refuses even the right password (AADSTS50053); and
//! password entries from addresses the user has signed in from before are counted apart from unfamiliar
//! ones, so that an attacker elsewhere cannot lock the user out of their usual places. The state is in the
//! store — it survives restarts and every node shares it — and changes by compare-and-set.

use serde::{Deserialize, Serialize};

/// How many wrong passwords lock the account, and for how long the first time (each further lockout lasts
/// twice the one before): the tenant's `Password Rule Settings`, by default 10 and 60 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub threshold: u32,
    pub seconds: i64,
}
/// The longest a lockout lasts, in seconds.
const LONGEST_SECONDS: i64 = 24 * 3600;
/// Distinct wrong passwords remembered, so that a retyped one does not count again.
const REMEMBERED_WRONG: usize = 3;
/// Source addresses remembered as familiar, the most recent first.
const FAMILIAR_SOURCES: usize = 16;
/// At most this many reset codes are sent to a user in [`MAIL_WINDOW_SECONDS`].
const MOST_MAILED: usize = 5;
const MAIL_WINDOW_SECONDS: i64 = 3600;

/// One side's count: unfamiliar or familiar sources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Count {
    failures: u32,
    /// Locked until (Unix seconds).
    until: i64,
    /// Lockouts since the last successful sign-in (each doubles the next one's length).
    lockouts: u32,
    /// Digests of the last wrong passwords.
    recent: Vec<String>,
}

/// A user's smart-lockout state, with the self-service reset codes recently sent to them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lockout {
    familiar: Count,
    unfamiliar: Count,
    /// Addresses the user signed in from with the right password.
    sources: Vec<String>,
    /// When reset codes were sent (Unix seconds), within the last [`MAIL_WINDOW_SECONDS`].
    mailed: Vec<i64>,
    /// The last time step whose one-time password was used: each is good once.
    totp_step: i64,
}

impl Lockout {
    /// The state a stored document holds (a document that does not read as one starts afresh).
    pub fn read(state: &str) -> Lockout {
        serde_json::from_str(state).unwrap_or_default()
    }

    pub fn write(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether an entry from `source` counts as from a familiar place.
    pub fn familiar(&self, source: Option<&str>) -> bool {
        source.is_some_and(|s| self.sources.iter().any(|known| known == s))
    }

    fn count(&mut self, familiar: bool) -> &mut Count {
        if familiar {
            &mut self.familiar
        } else {
            &mut self.unfamiliar
        }
    }

    /// Whether password entries from that side are locked at `now`.
    pub fn locked(&self, familiar: bool, now: i64) -> bool {
        let count = if familiar { &self.familiar } else { &self.unfamiliar };
        now < count.until
    }

    /// Counts a wrong password (by its digest) unless it was one of the last ones; returns whether the state
    /// changed. The failure that reaches the threshold locks that side.
    pub fn failed(&mut self, familiar: bool, wrong: String, now: i64, policy: Policy) -> bool {
        let count = self.count(familiar);
        if count.recent.contains(&wrong) {
            return false;
        }
        count.recent.insert(0, wrong);
        count.recent.truncate(REMEMBERED_WRONG);
        count.failures += 1;
        if count.failures >= policy.threshold {
            let doubling = count.lockouts.min(16);
            count.until = now + (policy.seconds << doubling).min(LONGEST_SECONDS);
            count.lockouts += 1;
            count.failures = 0;
            count.recent.clear();
        }
        true
    }

    /// Takes one of the reset codes the user may be sent in the window ending `now`; false when none is left.
    pub fn mail(&mut self, now: i64) -> bool {
        self.mailed.retain(|at| now - at < MAIL_WINDOW_SECONDS);
        if self.mailed.len() >= MOST_MAILED {
            return false;
        }
        self.mailed.push(now);
        true
    }

    /// The last one-time password step used.
    pub fn totp_step(&self) -> i64 {
        self.totp_step
    }

    /// Spends a one-time password's step; false when it (or a later one) was spent already.
    pub fn spend_step(&mut self, step: i64) -> bool {
        if step <= self.totp_step {
            return false;
        }
        self.totp_step = step;
        true
    }

    /// A self-service reset proved the person: every lockout ends and both counts start again.
    pub fn unlock(&mut self) -> bool {
        let before = self.clone();
        (self.familiar, self.unfamiliar) = (Count::default(), Count::default());
        *self != before
    }

    /// A sign-in with the right password: that side's count starts again, and the source becomes familiar.
    /// Returns whether the state changed.
    pub fn succeeded(&mut self, familiar: bool, source: Option<&str>) -> bool {
        let before = self.clone();
        *self.count(familiar) = Count::default();
        if let Some(source) = source {
            self.sources.retain(|s| s != source);
            self.sources.insert(0, source.to_owned());
            self.sources.truncate(FAMILIAR_SOURCES);
        }
        *self != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy { threshold: 10, seconds: 60 };

    #[test]
    fn ten_distinct_wrong_passwords_lock_for_a_minute_then_longer() {
        let mut state = Lockout::default();
        for n in 0..POLICY.threshold - 1 {
            assert!(state.failed(false, format!("wrong-{n}"), 0, POLICY));
            assert!(!state.locked(false, 0));
        }
        assert!(!state.failed(false, "wrong-8".into(), 0, POLICY), "a retyped wrong password counts once");
        assert!(!state.locked(false, 0));
        state.failed(false, "wrong-last".into(), 0, POLICY);
        assert!(state.locked(false, 59) && !state.locked(false, 60), "a minute");
        assert!(!state.locked(true, 1), "familiar places are counted apart");
        for n in 0..POLICY.threshold {
            state.failed(false, format!("again-{n}"), 100, POLICY);
        }
        assert!(state.locked(false, 219) && !state.locked(false, 220), "the second lockout lasts two minutes");
        let mut reset = state.clone();
        assert!(reset.unlock() && !reset.locked(false, 100), "a reset unlocks");
        assert!(!reset.unlock(), "nothing left to unlock");
        assert!(state.succeeded(false, Some("192.0.2.1")));
        assert!(state.familiar(Some("192.0.2.1")) && !state.familiar(Some("198.51.100.7")) && !state.familiar(None));
        assert!(!state.succeeded(false, Some("192.0.2.1")), "nothing new to write");
        assert_eq!(Lockout::read(&state.write()), state);
        assert_eq!(Lockout::read("not json"), Lockout::default());
    }

    #[test]
    fn five_reset_codes_an_hour() {
        let mut state = Lockout::read(r#"{"familiar":{"failures":1,"until":0,"lockouts":0,"recent":[]}}"#);
        assert_eq!(state.familiar.failures, 1, "a state written before codes were counted still reads");
        assert!((0..5).all(|n| state.mail(n * 60)));
        assert!(!state.mail(600), "the sixth within the hour is refused");
        assert!(state.mail(3600), "the first has left the window");
    }
}
