//! The queue of batches waiting for a group commit, shared by both engines.
//!
//! A batch that arrives while a group is committing waits here; a committer takes every waiting batch
//! (up to a group's size) into its next transaction. Committers are started only when fewer than
//! allowed are running, and each keeps taking groups until none waits: a batch costs its caller one lock
//! of the queue, not a task or a thread of its own that would wake only to find its batch taken by
//! another's group (with 64 clients, most of them).

use crate::plan::Batch;
use gatehouse_core::store::StoreResult;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// A batch waiting to be committed, with where its result goes.
pub type Job = (Batch, oneshot::Sender<StoreResult<i64>>);

pub struct GroupQueue {
    state: Mutex<Waiting>,
    /// The most committers that run at once.
    committers: usize,
}

#[derive(Default)]
struct Waiting {
    jobs: Vec<Job>,
    running: usize,
}

impl GroupQueue {
    pub fn new(committers: usize) -> Arc<GroupQueue> {
        Arc::new(GroupQueue { state: Mutex::default(), committers })
    }

    /// Queues the batch; returns where its result will come, and a committer for the caller to start when
    /// fewer than allowed are running.
    pub fn push(self: &Arc<Self>, batch: Batch) -> (oneshot::Receiver<StoreResult<i64>>, Option<Committer>) {
        let (sender, receiver) = oneshot::channel();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.jobs.push((batch, sender));
        let committer = (state.running < self.committers).then(|| {
            state.running += 1;
            Committer { queue: self.clone(), stopped: false }
        });
        (receiver, committer)
    }
}

/// One running committer's hold on the queue. Dropped unfinished (a panic), it counts as stopped, and the
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
            state.running -= 1;
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
            self.queue.state.lock().unwrap_or_else(|p| p.into_inner()).running -= 1;
        }
    }
}
