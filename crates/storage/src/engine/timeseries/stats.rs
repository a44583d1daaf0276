//! What `collStats` reports about a time-series collection's buckets.

use bson::Bson;

use super::bucket::Bucket;
use super::buckets_name;
use crate::engine::read::FindOptions;
use crate::engine::Storage;
use crate::error::{Error, Result};

/// Buckets, measurements and bytes of one time-series collection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimeseriesStats {
    /// `db.system.buckets.<coll>`.
    pub buckets_ns: String,
    pub bucket_count: u64,
    pub measurement_count: u64,
    /// The BSON size of the stored bucket documents.
    pub bucket_bytes: u64,
    /// The bytes of the compressed bodies (`data`).
    pub compressed_bytes: u64,
    /// The BSON size of the measurements as plain documents (with their meta field).
    pub uncompressed_bytes: u64,
}

impl Storage {
    /// Counts of time-series collection `db.coll` (decodes every bucket).
    pub fn timeseries_stats(&self, db: &str, coll: &str) -> Result<TimeseriesStats> {
        let options = self.timeseries_options(db, coll)?.ok_or_else(|| {
            Error::NamespaceNotFound(format!("{db}.{coll} is not a time-series collection"))
        })?;
        let mut stats = TimeseriesStats {
            buckets_ns: format!("{db}.{}", buckets_name(coll)),
            ..TimeseriesStats::default()
        };
        for doc in self.find(db, &buckets_name(coll), &FindOptions::default())? {
            let doc = doc?;
            stats.bucket_count += 1;
            stats.bucket_bytes += to_u64(crate::value::size::document_size(&doc));
            if let Some(Bson::Binary(data)) = doc.get("data") {
                stats.compressed_bytes += to_u64(data.bytes.len());
            }
            let bucket = Bucket::from_document(&doc, &options)?;
            for measurement in bucket.unpack(&options) {
                stats.measurement_count += 1;
                stats.uncompressed_bytes += to_u64(crate::value::size::document_size(&measurement));
            }
        }
        Ok(stats)
    }
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
