//! Counters reported by `serverStatus`.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub connections_current: AtomicU64,
    pub connections_total: AtomicU64,
    /// Connections closed at once because `max_conns` were open.
    pub connections_rejected: AtomicU64,
    /// Flushes of storage made before replying (`j`, `fsync`, `w: "majority"`).
    pub flushes_before_reply: AtomicU64,
    pub op_insert: AtomicU64,
    pub op_query: AtomicU64,
    pub op_update: AtomicU64,
    pub op_delete: AtomicU64,
    pub op_getmore: AtomicU64,
    pub op_command: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> i64 {
        i64::try_from(counter.load(Ordering::Relaxed)).unwrap_or(i64::MAX)
    }
}
