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
    /// The last committed entry's sequence number and clock reading: every reply of a
    /// replica-set member carries it (`operationTime`). Each commit publishes its own; the log
    /// is read only when the store opens.
    last_hlc: Mutex<Option<(u64, u64)>>,
}

impl CommitWatch {
    pub(super) fn new(last: u64) -> CommitWatch {
        CommitWatch {
            last: Mutex::new(last),
            changed: Condvar::new(),
            sender: tokio::sync::watch::Sender::new(last),
            last_hlc: Mutex::new(None),
        }
    }

    /// Records that every history entry up to `seq` is committed, the last one at clock
    /// reading `hlc`.
    pub(super) fn publish(&self, seq: u64, hlc: u64) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if seq > *last {
            *last = seq;
            *self.last_hlc.lock().unwrap_or_else(|p| p.into_inner()) = Some((seq, hlc));
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

impl Storage {
    /// The clock reading of the last committed history entry (`None` while the log is empty):
    /// the server's operation time, as replies report it.
    pub fn committed_hlc(&self) -> crate::Result<Option<u64>> {
        let seq = self.committed_seq();
        let cache = &self.inner.commits.last_hlc;
        if let Some((cached, hlc)) = *cache.lock().unwrap_or_else(|p| p.into_inner()) {
            if cached == seq {
                return Ok(Some(hlc));
            }
        }
        match self.inner.history.get(seq.to_be_bytes())? {
            Some(bytes) => {
                let hlc = super::HistoryEntry::hlc_of(seq, &bytes)?;
                *cache.lock().unwrap_or_else(|p| p.into_inner()) = Some((seq, hlc));
                Ok(Some(hlc))
            }
            None => Ok(None),
        }
    }

    /// The sequence number of the oldest history entry still kept (`None` while the log is
    /// empty): a consumer resuming after an older entry has lost history.
    pub fn first_seq(&self) -> crate::Result<Option<u64>> {
        match self.inner.history.first()? {
            Some((key, _)) => Ok(Some(super::decode_seq(&key)?)),
            None => Ok(None),
        }
    }
}

impl Storage {
    /// The sequence number of the first history entry whose clock reading is at or after
    /// `hlc` (one past the last entry when none is). Clock readings grow with sequence
    /// numbers, so this is a binary search over the kept entries.
    pub fn seq_at_or_after_hlc(&self, hlc: u64) -> crate::Result<u64> {
        let Some(first) = self.first_seq()? else {
            return Ok(self.committed_seq() + 1);
        };
        let (mut low, mut high) = (first, self.committed_seq() + 1);
        while low < high {
            let mid = low + (high - low) / 2;
            let at = match self.inner.history.get(mid.to_be_bytes())? {
                Some(bytes) => super::HistoryEntry::hlc_of(mid, &bytes)?,
                // Trimmed meanwhile: everything below the new first entry is older.
                None => 0,
            };
            if at >= hlc {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        Ok(low)
    }

    /// The history entry with sequence number `seq`, if it is still kept.
    pub fn history_entry(&self, seq: u64) -> crate::Result<Option<super::HistoryEntry>> {
        match self.inner.history.get(seq.to_be_bytes())? {
            Some(bytes) => Ok(Some(super::HistoryEntry::from_bytes(seq, &bytes)?)),
            None => Ok(None),
        }
    }
}
