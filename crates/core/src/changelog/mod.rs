//! Change-log processors: followers of a tenant's change log that turn changes into further changes
//! (dynamic membership, group-based licensing), safely on several nodes sharing one database.
//!
//! - **One at a time:** a lease row per (tenant, processor) is claimed before work and renewed by long work;
//!   another node skips the tenant while the lease runs. The lease is remembered in memory, so it is only
//!   written when it nears its end.
//! - **Exactly once:** a round reads the changes after the stored cursor and commits its writes together
//!   with the cursor's move (compare-and-set on the old position and the holder). A crash before that
//!   commit applies nothing; a lost lease fails it. Rounds that commit partial batches of their own compute
//!   them as diffs against the current state, so a rerun converges instead of repeating them.
//! - **Cheap when idle:** every commit starts a round on this node, so a round that writes nothing leaves
//!   the cursor behind for up to half a second (this node remembers how far it has gone), instead of adding
//!   a cursor write to every write of the directory.
//! - **Periodic work:** what depends on time rather than on changes (dynamic rules that read `system.now`)
//!   is done by a round marked periodic, which runs every [`PERIODIC`] (and once when a node starts),
//!   changes or not.

use crate::kernel::error::{Error, ErrorKind, Result};
use crate::store::{ChangeRecord, StoreError, Write};
use crate::{Caller, Directory};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

/// Change records read per round.
const ROUND: u32 = 2000;
/// How long a processor's lease lasts without renewal.
const LEASE_SECONDS: i64 = 30;
/// How long a round that changed nothing may leave the cursor behind.
const LAZY_ADVANCE: std::time::Duration = std::time::Duration::from_millis(500);
/// How often a processor does its periodic work, in the directory's time.
pub const PERIODIC: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// A change-log processor: a follower of each tenant's change log with its own cursor and lease. The
/// processors a node runs are listed once, at the top of the crate (`processors::ALL`).
#[async_trait::async_trait]
pub trait ChangeProcessor: Send + Sync + 'static {
    /// The processor's name in the store (its cursor and lease).
    fn name(&self) -> &'static str;

    /// Turns the round's change records (and, when the round is periodic, the passage of time) into writes,
    /// which commit with the cursor's move; long work commits batches of its own, each renewing the lease
    /// with `Directory::lease_renewal`.
    async fn round(
        &self,
        directory: &Directory,
        caller: &Caller,
        holder: &str,
        round: Round,
        changes: &[ChangeRecord],
    ) -> Result<Outcome>;
}

/// This node's view of every processor of every tenant, by tenant and processor name.
#[derive(Default)]
struct ProcessorStates(Mutex<HashMap<(Uuid, &'static str), ProcessorState>>);

type Key = (Uuid, &'static str);

impl Directory {
    /// Whether the tenant's change log holds records the processor has not gone through yet (as far as this
    /// node knows: its own progress, or the stored cursor, which another holder moves at least every
    /// [`LAZY_ADVANCE`]).
    pub(crate) async fn backlog(&self, tenant: Uuid, processor: &'static str) -> Result<bool> {
        let cursor = self.store.processor_seq(tenant, processor).await.map_err(Error::from)?;
        let handled =
            self.processor_states(|states| states.get(&(tenant, processor)).map_or(cursor, |s| s.handled.max(cursor)));
        Ok(!self.store.changes(tenant, handled, 1).await.map_err(Error::from)?.is_empty())
    }
}

/// This node's view of a processor for a tenant: how long its lease runs, where the stored cursor stands
/// (as last read or moved by this node), when it last moved the cursor, how far it has gone through the
/// log (ahead of the cursor while idle rounds leave it behind), and when it last set out to do its
/// periodic work.
struct ProcessorState {
    lease_until: DateTime<Utc>,
    cursor: Option<i64>,
    advanced: std::time::Instant,
    handled: i64,
    periodic: DateTime<Utc>,
}

impl ProcessorState {
    fn new() -> ProcessorState {
        ProcessorState {
            lease_until: DateTime::<Utc>::MIN_UTC,
            cursor: None,
            advanced: std::time::Instant::now(),
            handled: 0,
            periodic: DateTime::<Utc>::MIN_UTC,
        }
    }
}

/// Where a round stands: the stored cursor, how far this node has already gone, the last change read, and
/// whether the round does the processor's periodic work.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    pub cursor: i64,
    pub handled: i64,
    pub to: i64,
    pub periodic: bool,
}

/// What a round did: the writes to commit with the cursor's move, and whether it committed batches of its own.
pub struct Outcome {
    pub writes: Vec<Write>,
    pub committed: bool,
}

impl Directory {
    /// Runs a tenant's processor until it has caught up with the change log; returns how many change records
    /// it went through. `holder` names this node for the lease.
    pub async fn process(&self, tenant: Uuid, holder: &str, processor: &dyn ChangeProcessor) -> Result<usize> {
        let system = Caller::System { tenant };
        let name = processor.name();
        let key = (tenant, name);
        let mut applied = 0;
        loop {
            let cursor = match self.known_cursor(key) {
                Some(cursor) => cursor,
                None => {
                    let cursor = self.store.processor_seq(tenant, name).await.map_err(Error::from)?;
                    self.processor_states(|states| {
                        states.entry(key).or_insert_with(ProcessorState::new).cursor = Some(cursor)
                    });
                    cursor
                }
            };
            // Only the changes this node has not gone through yet: an idle round leaves the cursor behind.
            let handled = self.processor_states(|states| states.get(&key).map_or(cursor, |s| s.handled.max(cursor)));
            let fresh = self.store.changes(tenant, handled, ROUND).await.map_err(Error::from)?;
            let periodic = self.periodic_due(key);
            if fresh.is_empty() && !periodic && (handled == cursor || self.advanced_recently(key)) {
                return Ok(applied);
            }
            if !self.hold_lease(&system, holder, name).await? {
                return Ok(applied);
            }
            let round = Round { cursor, handled, to: fresh.last().map_or(handled, |c| c.seq), periodic };
            let outcome = match fresh.is_empty() && !periodic {
                true => Ok(Outcome { writes: Vec::new(), committed: false }),
                false => processor.round(self, &system, holder, round, &fresh).await,
            };
            let finished = match outcome {
                Ok(outcome) => self.finish_round(&system, holder, name, round, outcome).await,
                Err(error) => Err(error),
            };
            match finished {
                Ok(true) => applied += fresh.len(),
                Ok(false) => return Ok(applied),
                Err(error) if error.kind == ErrorKind::Conflict => {
                    self.processor_states(|states| states.remove(&key));
                    return Ok(applied);
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Where the stored cursor stands, without reading it, while this node holds the lease (no other node
    /// moves it then; should the lease have been lost all the same, the cursor's compare-and-set fails the
    /// round and the state is forgotten).
    fn known_cursor(&self, key: Key) -> Option<i64> {
        let now = self.now();
        self.processor_states(|states| states.get(&key).filter(|s| s.lease_until > now).and_then(|s| s.cursor))
    }

    /// Runs `f` on this node's processor states.
    fn processor_states<T>(&self, f: impl FnOnce(&mut HashMap<Key, ProcessorState>) -> T) -> T {
        let states = self.node_state::<ProcessorStates>();
        let mut states = states.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut states)
    }

    /// Whether the processor's periodic work is due; if so, it counts as started now (a round that fails
    /// tries again a period later, not in a loop).
    fn periodic_due(&self, key: Key) -> bool {
        let now = self.now();
        self.processor_states(|states| {
            let state = states.entry(key).or_insert_with(ProcessorState::new);
            if now - state.periodic < PERIODIC {
                return false;
            }
            state.periodic = now;
            true
        })
    }

    /// Whether this node moved the processor's cursor within [`LAZY_ADVANCE`].
    fn advanced_recently(&self, key: Key) -> bool {
        self.processor_states(|states| states.get(&key).is_some_and(|s| s.advanced.elapsed() < LAZY_ADVANCE))
    }

    /// Claims or renews this node's lease when it is not comfortably held already; `false` while another
    /// node holds it.
    async fn hold_lease(&self, caller: &Caller, holder: &str, processor: &'static str) -> Result<bool> {
        let now = self.now();
        let key = (caller.tenant(), processor);
        let held = self.processor_states(|states| states.get(&key).map(|s| s.lease_until));
        if held.is_some_and(|until| until - now > chrono::Duration::seconds(LEASE_SECONDS / 2)) {
            return Ok(true);
        }
        let renewal = self.lease_renewal(holder, processor);
        let until = match &renewal {
            Write::ClaimProcessor { until, .. } => *until,
            _ => now,
        };
        let had = held.is_some_and(|until| until > now);
        match self.commit(caller, vec![renewal]).await {
            Ok(_) => {
                if !had {
                    tracing::info!(tenant = %caller.tenant(), processor, node = holder, "this node runs the processor");
                }
                self.processor_states(|states| {
                    states.entry(key).or_insert_with(ProcessorState::new).lease_until = until
                });
                Ok(true)
            }
            Err(StoreError::Conflict(_)) => {
                if had {
                    tracing::warn!(tenant = %caller.tenant(), processor, node = holder, "another node took the processor over");
                    self.processor_states(|states| {
                        if let Some(state) = states.get_mut(&key) {
                            state.lease_until = DateTime::<Utc>::MIN_UTC;
                        }
                    });
                }
                Ok(false)
            }
            Err(other) => Err(Error::internal(other)),
        }
    }

    /// The processors this node runs now, by tenant.
    pub fn leases_held(&self) -> Vec<(Uuid, &'static str)> {
        let now = self.now();
        let mut held: Vec<Key> = self.processor_states(|states| {
            states.iter().filter(|(_, state)| state.lease_until > now).map(|(key, _)| *key).collect()
        });
        held.sort();
        held
    }

    /// Ends the leases this node holds, for a node that is stopping (after its processors have stopped): another
    /// node, or this one restarted, takes the processors over at once instead of when the leases run out.
    pub async fn release_leases(&self, holder: &str) -> Result<()> {
        let now = self.now();
        let held: Vec<Key> = self.processor_states(|states| {
            states
                .iter_mut()
                .filter(|(_, state)| state.lease_until > now)
                .map(|(key, state)| {
                    state.lease_until = DateTime::<Utc>::MIN_UTC;
                    *key
                })
                .collect()
        });
        for (tenant, processor) in held {
            let release = Write::ClaimProcessor { name: processor.into(), holder: holder.into(), until: now, now };
            match self.commit(&Caller::System { tenant }, vec![release]).await {
                Ok(_) => tracing::info!(%tenant, processor, node = holder, "released the processor"),
                // Another node has taken the lease over already.
                Err(StoreError::Conflict(_)) => {}
                Err(other) => return Err(Error::internal(other)),
            }
        }
        Ok(())
    }

    /// The write that claims or renews a processor's lease, for long rounds to add to their batches.
    pub(crate) fn lease_renewal(&self, holder: &str, processor: &str) -> Write {
        let now = self.now();
        Write::ClaimProcessor {
            name: processor.into(),
            holder: holder.into(),
            until: now + chrono::Duration::seconds(LEASE_SECONDS),
            now,
        }
    }

    /// Commits a round's writes with the cursor's move, or (an idle round, recently advanced) remembers how
    /// far it went and leaves the cursor for later; `false` when nothing was committed.
    async fn finish_round(
        &self,
        caller: &Caller,
        holder: &str,
        processor: &'static str,
        round: Round,
        outcome: Outcome,
    ) -> Result<bool> {
        let key = (caller.tenant(), processor);
        let Round { cursor, to, .. } = round;
        let mut writes = outcome.writes;
        if writes.is_empty() && !outcome.committed && to - cursor < i64::from(ROUND) && self.advanced_recently(key) {
            self.processor_states(|states| states.entry(key).or_insert_with(ProcessorState::new).handled = to);
            return Ok(false);
        }
        let name = processor;
        writes.push(Write::AdvanceProcessor { name: name.into(), holder: holder.into(), from: cursor, to });
        self.commit(caller, writes).await.map_err(|e| match e {
            StoreError::Conflict(what) => Error::conflict(format!("{name}: {what}")),
            // A user changed while the round resolved it: the next round reads it again.
            StoreError::VersionMismatch | StoreError::Missing => Error::conflict(format!("{name}: {e}")),
            other => Error::internal(other),
        })?;
        self.processor_states(|states| {
            let state = states.entry(key).or_insert_with(ProcessorState::new);
            state.cursor = Some(to);
            state.advanced = std::time::Instant::now();
            state.handled = to;
        });
        Ok(true)
    }
}
