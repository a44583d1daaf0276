//! Time-series collections in the commands that create and describe them: `create` with
//! `timeseries`, their `listCollections` entry and their `collStats` section. Reads, inserts
//! and deletes need nothing here: storage routes them (a time-series collection reads as a
//! view of its measurements).

use bson::{doc, Bson, Document};
use outpost_storage::{parse_expire_after_seconds, TimeseriesOptions};

use super::Request;
use crate::error::{Error, Result};
use crate::state::State;

/// `create` options a time-series collection refuses (mongod's InvalidOptions, 72).
const NOT_WITH_TIMESERIES: &[&str] = &[
    "capped",
    "size",
    "max",
    "viewOn",
    "pipeline",
    "validator",
    "validationLevel",
    "validationAction",
    "changeStreamPreAndPostImages",
    "clusteredIndex",
    "encryptedFields",
];

/// `create` with `timeseries`.
pub fn create(
    state: &State,
    req: &Request,
    name: &str,
    spec: &Bson,
    collation: Option<&Document>,
) -> Result<Document> {
    let Bson::Document(spec) = spec else {
        return Err(Error::type_mismatch(format!(
            "BSON field 'create.timeseries' is the wrong type '{}', expected type 'object'",
            outpost_storage::value::compare::type_name(spec)
        )));
    };
    if let Some(option) = NOT_WITH_TIMESERIES
        .iter()
        .find(|o| req.body.contains_key(**o))
    {
        return Err(Error::new(
            72,
            format!("option '{option}' is not supported with time-series collections"),
        ));
    }
    if collation.is_some() {
        return Err(Error::not_supported(
            "time-series collections with a collation other than 'simple' are not supported \
             by Outpost",
        ));
    }
    let options = TimeseriesOptions::parse(spec)?;
    let expire = req
        .body
        .get("expireAfterSeconds")
        .map(parse_expire_after_seconds)
        .transpose()?;
    match state
        .storage
        .create_timeseries(req.db, name, &options, expire)
    {
        Ok(()) => Ok(super::ok()),
        // As MongoDB 7.0: creating an existing collection with the same options succeeds.
        Err(outpost_storage::Error::NamespaceExists(msg)) => {
            let same = state.storage.timeseries_options(req.db, name)?.as_ref() == Some(&options)
                && existing_expiry(state, req.db, name) == expire;
            if same {
                Ok(super::ok())
            } else {
                Err(Error::new(48, msg))
            }
        }
        Err(e) => Err(e.into()),
    }
}

fn existing_expiry(state: &State, db: &str, name: &str) -> Option<i64> {
    state
        .storage
        .list_collections(db)
        .into_iter()
        .find(|c| c.name == name)
        .and_then(|c| c.options.get_i64("expireAfterSeconds").ok())
}

/// Whether a `listCollections` entry is a time-series collection (not its buckets).
pub fn is_timeseries(name: &str, options: &Document) -> bool {
    options.contains_key("timeseries") && !outpost_storage::is_buckets_name(name)
}

/// The `timeseries` section of `collStats` (mongod's names where it has them; the counts of
/// measurements and bytes are Outpost's).
pub fn stats_section(state: &State, db: &str, name: &str, scale: i64) -> Result<Document> {
    let stats = state.storage.timeseries_stats(db, name)?;
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let ratio = if stats.compressed_bytes == 0 {
        0.0
    } else {
        stats.uncompressed_bytes as f64 / stats.compressed_bytes as f64
    };
    Ok(doc! {
        "bucketsNs": stats.buckets_ns,
        "bucketCount": int(stats.bucket_count),
        "avgBucketSize": int(stats.bucket_bytes.checked_div(stats.bucket_count).unwrap_or(0)),
        "numCompressedBuckets": int(stats.bucket_count),
        "numUncompressedBuckets": 0_i64,
        "numMeasurements": int(stats.measurement_count),
        "avgNumMeasurementsPerBucket": int(
            stats.measurement_count.checked_div(stats.bucket_count).unwrap_or(0)
        ),
        "uncompressedBytes": int(stats.uncompressed_bytes) / scale,
        "compressedBytes": int(stats.compressed_bytes) / scale,
        "bucketBytes": int(stats.bucket_bytes) / scale,
        "compressionRatio": ratio,
    })
}
