//! The commit notification: a watch on the history log's last committed sequence number.
//!
//! Every commit that appends history entries publishes the last one's sequence number after it
//! is applied (with the writer lock still held, so the numbers only grow). Consumers that
//! follow the log (sync upload, change streams, a hub's download long-polls) wait here instead
//! of polling: threads with [`Storage::wait_for_commit_after`], async tasks with
//! [`Storage::subscribe_commits`].

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::Storage;

/// The last committed history sequence number, observable from threads and tasks.
pub(super) struct CommitWatch {
    last: Mutex<u64>,
    changed: Condvar,
    sender: tokio::sync::watch::Sender<u64>,
}

impl CommitWatch {
    pub(super) fn new(last: u64) -> CommitWatch {
        CommitWatch {
            last: Mutex::new(last),
            changed: Condvar::new(),
            sender: tokio::sync::watch::Sender::new(last),
        }
    }

    /// Records that every history entry up to `seq` is committed.
    pub(super) fn publish(&self, seq: u64) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if seq > *last {
            *last = seq;
            self.changed.notify_all();
            self.sender.send_replace(seq);
        }
    }

    fn wait_after(&self, seq: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        while *last <= seq {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            last = self
                .changed
                .wait_timeout(last, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *last
    }
}

impl Storage {
    /// The sequence number of the last committed history entry (0 before the first).
    pub fn committed_seq(&self) -> u64 {
        *self
            .inner
            .commits
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks until a history entry after `seq` is committed, or `timeout` passes; returns the
    /// last committed sequence number (still `<= seq` on a time-out).
    pub fn wait_for_commit_after(&self, seq: u64, timeout: Duration) -> u64 {
        self.inner.commits.wait_after(seq, timeout)
    }

    /// A watch of the last committed history sequence number, for async tasks:
    /// `receiver.wait_for(|&last| last > seq).await`.
    pub fn subscribe_commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.commits.sender.subscribe()
    }
}
