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
    /// Commands that answered `ok: 1` and that failed (the edge's request metrics).
    pub commands_succeeded: AtomicU64,
    pub commands_failed: AtomicU64,
    /// `network`: bytes read and written on client connections (as on the wire, so
    /// compressed messages count compressed), and requests read.
    pub network_bytes_in: AtomicU64,
    pub network_bytes_out: AtomicU64,
    pub network_requests: AtomicU64,
    /// `network.compression`: per compressor.
    pub zstd: CompressorCounters,
    pub zlib: CompressorCounters,
}

/// What mongod reports per compressor in `serverStatus.network.compression.<name>`:
/// `compressor` (replies compressed: bytes in, bytes out) and `decompressor` (requests
/// decompressed: compressed bytes in, bytes out). Sizes exclude the message headers.
#[derive(Debug, Default)]
pub struct CompressorCounters {
    pub compressor_bytes_in: AtomicU64,
    pub compressor_bytes_out: AtomicU64,
    pub decompressor_bytes_in: AtomicU64,
    pub decompressor_bytes_out: AtomicU64,
}

impl Metrics {
    /// The counters of a compressor (none for noop, which is only for tests).
    pub fn compressor(&self, compressor: outpost_wire::Compressor) -> Option<&CompressorCounters> {
        match compressor {
            outpost_wire::Compressor::Zstd => Some(&self.zstd),
            outpost_wire::Compressor::Zlib => Some(&self.zlib),
            outpost_wire::Compressor::Noop => None,
        }
    }

    /// `usize` to the counters' `u64`, saturating.
    pub fn add_len(counter: &AtomicU64, n: usize) {
        Metrics::add(counter, u64::try_from(n).unwrap_or(u64::MAX));
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> i64 {
        i64::try_from(counter.load(Ordering::Relaxed)).unwrap_or(i64::MAX)
    }
}

impl CompressorCounters {
    /// Its `serverStatus` section.
    pub fn to_document(&self) -> bson::Document {
        bson::doc! {
            "compressor": {
                "bytesIn": Metrics::get(&self.compressor_bytes_in),
                "bytesOut": Metrics::get(&self.compressor_bytes_out),
            },
            "decompressor": {
                "bytesIn": Metrics::get(&self.decompressor_bytes_in),
                "bytesOut": Metrics::get(&self.decompressor_bytes_out),
            },
        }
    }
}
