//! Bytes on the wire between an edge and its hub, counted by the link that sends them (the
//! server's `HubClient`) and reported in the edge's `SyncStatus` (`bytesSent`,
//! `bytesReceived`).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by the edge's links to its hub: every byte written to or read from the
/// socket, headers included, as sent (compressed when the link is).
#[derive(Debug, Default)]
pub struct LinkBytes {
    sent: AtomicU64,
    received: AtomicU64,
}

impl LinkBytes {
    /// Counts `n` bytes written to the hub.
    pub fn add_sent(&self, n: usize) {
        self.sent
            .fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Counts `n` bytes read from the hub.
    pub fn add_received(&self, n: usize) {
        self.received
            .fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Bytes written to the hub so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Bytes read from the hub so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}
