//! The queue of batches waiting for a group commit, shared by both engines.
//!
//! A batch that arrives while a group is committing waits here; the committer takes every waiting batch
//! (up to a group's size) into its next transaction. One committer runs at a time: the batch that finds
//! none running starts it, and it keeps taking groups until none waits. A batch costs its caller one lock
//! of the queue, not a task or a thread of its own that would wake only to find its batch taken by
//! another's group (with 64 clients, most of them).

use crate::plan::Batch;
use gatehouse_core::store::StoreResult;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// A batch waiting to be committed, with where its result goes.
pub type Job = (Batch, oneshot::Sender<StoreResult<i64>>);

#[derive(Default)]
pub struct GroupQueue {
    state: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    jobs: Vec<Job>,
    /// Whether a committer is running.
    running: bool,
}

impl GroupQueue {
    /// Queues the batch; returns where its result will come, and the committer for the caller to start when
    /// none is running.
    pub fn push(self: &Arc<Self>, batch: Batch) -> (oneshot::Receiver<StoreResult<i64>>, Option<Committer>) {
        let (sender, receiver) = oneshot::channel();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.jobs.push((batch, sender));
        let committer = (!state.running).then(|| {
            state.running = true;
            Committer { queue: self.clone(), stopped: false }
        });
        (receiver, committer)
    }
}

/// The running committer's hold on the queue. Dropped unfinished (a panic), it counts as stopped, and the
/// next batch starts another.
pub struct Committer {
    queue: Arc<GroupQueue>,
    stopped: bool,
}

impl Committer {
    /// The next group, of at most `most` batches in arrival order; `None` once none waits, when the
    /// committer has stopped.
    pub fn next(&mut self, most: usize) -> Option<Vec<Job>> {
        let mut state = self.queue.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.jobs.is_empty() {
            state.running = false;
            self.stopped = true;
            return None;
        }
        let take = state.jobs.len().min(most);
        Some(state.jobs.drain(..take).collect())
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        if !self.stopped {
            self.queue.state.lock().unwrap_or_else(|p| p.into_inner()).running = false;
        }
    }
}
