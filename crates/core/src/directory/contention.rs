//! Read-modify-write use cases under contention.
//!
//! A use case that changes an object reads it, computes the new version and writes it guarded by the version
//! it read; a write that another one overtook ([`StoreError::VersionMismatch`](crate::store::StoreError)) reads
//! again. Ordinary contention never reaches the client:
//! - **Writers of one object on this node take turns:** a [`Turn`] holds the object's lock, so they do not
//!   overtake each other at all. Locks live in a map only while some request holds or awaits them, so its
//!   size is bounded by the requests in flight.
//! - **Writers on other nodes** sharing the database still can: an overtaken attempt tries again after a
//!   pause that doubles each time, jittered so that racing nodes spread out.
//! - **Past [`DEADLINE`]** (waiting for the turn included) the request is refused with `429` and
//!   `Retry-After`, which clients and Graph SDKs retry; none of it was written.

use crate::kernel::error::{Error, Result};
use crate::kernel::random::Random;
use crate::store::{StoreError, Write};
use crate::{Caller, Directory};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;
use tokio::time::{Duration, Instant};
use uuid::Uuid;

/// How long a request keeps trying to write an object that others keep changing.
const DEADLINE: Duration = Duration::from_secs(5);
/// The pause after the first overtaken attempt, and the longest pause.
const FIRST_PAUSE: Duration = Duration::from_millis(4);
const LONGEST_PAUSE: Duration = Duration::from_millis(250);
/// `Retry-After` for a request that ran out of time, in seconds.
const RETRY_AFTER: u64 = 1;

/// An object by tenant and object id.
type Key = (Uuid, Uuid);
type Lock = Arc<tokio::sync::Mutex<()>>;

/// Each object's write lock, with how many requests hold or await it.
#[derive(Default)]
pub(crate) struct ObjectLocks {
    locks: Mutex<HashMap<Key, (Lock, usize)>>,
}

impl ObjectLocks {
    /// How many objects have a lock now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.locks.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Counts a request in for the object's lock (made if none exists) until the claim is dropped.
    fn claim(&self, key: Key) -> (Claim<'_>, Lock) {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        let (lock, users) = locks.entry(key).or_default();
        *users += 1;
        (Claim { locks: self, key }, lock.clone())
    }
}

/// A request counted in for an object's lock; the last one out removes the lock.
struct Claim<'a> {
    locks: &'a ObjectLocks,
    key: Key,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut locks = self.locks.locks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, users)) = locks.get_mut(&self.key) {
            *users -= 1;
            if *users == 0 {
                locks.remove(&self.key);
            }
        }
    }
}

/// A request's turn at changing one object: its lock on this node, and how long and how often it may try.
pub(crate) struct Turn<'a> {
    // Fields drop in order: the lock is released before the claim can remove it.
    _held: OwnedMutexGuard<()>,
    _claim: Claim<'a>,
    what: &'static str,
    deadline: Instant,
    pause: Duration,
    /// Jitters the pauses.
    random: &'a dyn Random,
}

impl Turn<'_> {
    /// After an attempt another write overtook: waits a growing, jittered pause before the caller reads the
    /// object again and retries; past the deadline, refuses the request for now.
    pub(crate) async fn overtaken(&mut self) -> Result<()> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(busy(self.what));
        }
        let pause = self.pause.mul_f64(0.5 + self.random.unit() / 2.0);
        tokio::time::sleep(pause.min(self.deadline - now)).await;
        self.pause = (self.pause * 2).min(LONGEST_PAUSE);
        Ok(())
    }
}

fn busy(what: &str) -> Error {
    Error::throttled(format!("The {what} is being changed by other requests; try again."), RETRY_AFTER)
}

/// The object id a key names, for its lock: a NUL is refused as everywhere, and a key that is no object id
/// names no object.
pub(crate) fn object_id(key: &str) -> Result<Uuid> {
    crate::schema::check_text("id", key)?;
    Uuid::parse_str(key).map_err(|_| Error::not_found(key))
}

impl Directory {
    /// The commit of one attempt of a read-modify-write use case, and what it came to, written once for
    /// every such use case: `Some(Ok(()))` when the writes committed (or there were none), `Some(Err(_))`
    /// for a store failure the use case must name, and `None` when another writer overtook it: the turn has
    /// paused ([`Turn::overtaken`]) and the use case reads again and makes its next attempt.
    pub(crate) async fn commit_attempt(
        &self,
        caller: &Caller,
        turn: &mut Turn<'_>,
        writes: Vec<Write>,
    ) -> Result<Option<std::result::Result<(), StoreError>>> {
        if writes.is_empty() {
            return Ok(Some(Ok(())));
        }
        match self.commit(caller, writes).await {
            Ok(_) => Ok(Some(Ok(()))),
            Err(StoreError::VersionMismatch) => turn.overtaken().await.map(|()| None),
            Err(other) => Ok(Some(Err(other))),
        }
    }

    /// Waits for this request's turn at changing the object (`what` names its kind in messages), within
    /// [`DEADLINE`].
    pub(crate) async fn turn(&self, caller: &Caller, object: Uuid, what: &'static str) -> Result<Turn<'_>> {
        let deadline = Instant::now() + DEADLINE;
        let (claim, lock) = self.object_locks.claim((caller.tenant(), object));
        let held = tokio::time::timeout_at(deadline, lock.lock_owned()).await.map_err(|_| busy(what))?;
        Ok(Turn { _held: held, _claim: claim, what, deadline, pause: FIRST_PAUSE, random: self.random() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn locks_are_taken_in_turn_and_removed_when_unused() {
        let locks = ObjectLocks::default();
        let key = (Uuid::nil(), Uuid::from_u128(1));
        let (first, lock) = locks.claim(key);
        let held = lock.clone().lock_owned().await;
        let (second, same) = locks.claim(key);
        assert!(Arc::ptr_eq(&lock, &same), "one lock per object");
        assert!(same.try_lock().is_err(), "the second writer waits for the first");
        drop(held);
        drop(first);
        assert_eq!(locks.len(), 1, "kept while a writer awaits it");
        assert!(same.try_lock().is_ok());
        drop(second);
        assert_eq!(locks.len(), 0, "removed when unused");
    }

    #[tokio::test]
    async fn overtaken_attempts_pause_then_past_the_deadline_the_request_is_refused_for_now() {
        let locks = ObjectLocks::default();
        let (claim, lock) = locks.claim((Uuid::nil(), Uuid::from_u128(3)));
        let deadline = Instant::now() + Duration::from_millis(30);
        let mut turn = Turn {
            _held: lock.lock_owned().await,
            _claim: claim,
            what: "user",
            deadline,
            pause: FIRST_PAUSE,
            random: &crate::kernel::random::SystemRandom,
        };
        let mut retries = 0;
        let error = loop {
            match turn.overtaken().await {
                Ok(()) => retries += 1,
                Err(error) => break error,
            }
        };
        assert!(Instant::now() >= deadline);
        assert!(retries >= 1, "pauses and retries until the deadline");
        assert_eq!((error.kind, error.retry_after), (crate::ErrorKind::Throttled, Some(RETRY_AFTER)));
        assert_eq!(error.message, "The user is being changed by other requests; try again.");
    }

    #[tokio::test]
    async fn a_request_that_gives_up_waiting_leaves_no_lock_behind() {
        let locks = ObjectLocks::default();
        let key = (Uuid::nil(), Uuid::from_u128(2));
        let (first, lock) = locks.claim(key);
        let held = lock.lock_owned().await;
        let waiting = async {
            let (_claim, lock) = locks.claim(key);
            lock.lock_owned().await
        };
        assert!(tokio::time::timeout(Duration::from_millis(10), waiting).await.is_err());
        drop(held);
        drop(first);
        assert_eq!(locks.len(), 0);
    }
}
