//! Time-series collections. A time-series collection `coll` is a catalog entry with a
//! `timeseries` option and no documents of its own; its measurements live in buckets, the
//! documents of the ordinary collection `system.buckets.<coll>` (see `bucket.rs` for their
//! shape, `codec.rs` for the compressed column format). Reads see the measurements unpacked
//! (`read.rs`: the leading `$match` of a read skips buckets by meta value and time range);
//! inserts add to the open bucket of a meta value or start one, deletes rewrite or remove
//! buckets (`write.rs`); TTL removes whole buckets through a TTL index on their greatest time.
//! `stats.rs` counts buckets, measurements and bytes for `collStats`.
//!
//! Buckets are whole self-contained documents written through the ordinary write path (index
//! entries and history entries included), so a later ingest-only sync can ship them one by
//! one as they are.

mod bucket;
mod codec;
mod options;
mod read;
mod stats;
mod write;

#[cfg(test)]
mod tests;

pub use options::{parse_expire_after_seconds, TimeseriesOptions};
pub use read::Unpacked;
pub use stats::TimeseriesStats;

/// The prefix of the collections that hold buckets.
const BUCKETS_PREFIX: &str = "system.buckets.";

/// The name of the collection holding the buckets of time-series collection `coll`.
pub fn buckets_name(coll: &str) -> String {
    format!("{BUCKETS_PREFIX}{coll}")
}

/// Whether `coll` names a buckets collection.
pub fn is_buckets_name(coll: &str) -> bool {
    coll.starts_with(BUCKETS_PREFIX)
}
