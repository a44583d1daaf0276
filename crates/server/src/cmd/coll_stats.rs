//! `collStats`: document count and sizes of one collection.

use bson::{doc, Bson, Document};

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "collStats",
    aliases: &[],
    help: "count and sizes of a collection: { collStats: <name>, scale: 1 }",
    admin_only: false,
    action: Action::ReadMetadata,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let name = args::collection_name(req.body, "collStats")?;
    let scale = args::opt_i64(req.body, "collStats", "scale")?.unwrap_or(1);
    let mut reply = storage_stats(state, req.db, &name, scale)?;
    let mut out = doc! {"ns": format!("{}.{name}", req.db)};
    out.extend(std::mem::take(&mut reply));
    Ok(out)
}

/// Counts and sizes of one collection, divided by `scale`: the body of `collStats` and the
/// `storageStats` of the `$collStats` stage.
pub fn storage_stats(state: &State, db: &str, name: &str, scale: i64) -> Result<Document> {
    if scale < 1 {
        return Err(Error::bad_value("scale has to be >= 1"));
    }
    // A time-series collection's storage is its buckets collection's.
    let timeseries = state.storage.timeseries_options(db, name)?.is_some();
    let stored = match timeseries {
        true => outpost_storage::buckets_name(name),
        false => name.to_owned(),
    };
    let stats = state.storage.collection_stats(db, &stored)?;
    let scaled = |n: u64| i64::try_from(n).unwrap_or(i64::MAX) / scale;
    let total_index: u64 = stats.index_sizes.iter().map(|(_, s)| *s).sum();
    let mut index_sizes = Document::new();
    for (index, size) in &stats.index_sizes {
        index_sizes.insert(index.clone(), scaled(*size));
    }
    let avg = stats.size.checked_div(stats.count).unwrap_or(0);
    let index_count = index_sizes.len() as u64;
    let mut reply = doc! {
        "size": scaled(stats.size),
        "count": i64::try_from(stats.count).unwrap_or(i64::MAX),
        "avgObjSize": i64::try_from(avg).unwrap_or(i64::MAX),
        "storageSize": scaled(stats.size),
        "freeStorageSize": 0_i64,
        "totalIndexSize": scaled(total_index),
        "totalSize": scaled(stats.size + total_index),
        "indexSizes": index_sizes,
        // By name: a collection with a default collation stores its `_id_` index as well.
        "nindexes": super::count_i32(index_count),
        "scaleFactor": scale,
        "capped": stats.capped.is_some(),
    };
    if timeseries {
        reply.insert(
            "timeseries",
            super::timeseries::stats_section(state, db, name, scale)?,
        );
    }
    if let Some((size, max)) = stats.capped {
        if let Some(max) = max {
            reply.insert("max", i64::try_from(max).unwrap_or(i64::MAX));
        }
        reply.insert("maxSize", scaled(size));
    }
    Ok(reply)
}

/// The `$collStats` stage (first in a collection's pipeline): `storageStats` and `count`.
/// `latencyStats` and `queryExecStats` need counters Outpost does not keep, so they are refused.
pub fn coll_stats_stage(state: &State, db: &str, coll: &str, spec: &Document) -> Result<Document> {
    let options = match spec.get("$collStats") {
        Some(Bson::Document(d)) => d,
        _ => {
            return Err(Error::failed_to_parse(
                "$collStats must take a nested object",
            ))
        }
    };
    let mut out = doc! {
        "ns": format!("{db}.{coll}"),
        "host": super::host_info::hostname(),
        "localTime": bson::DateTime::now(),
    };
    for (key, value) in options {
        match key.as_str() {
            "storageStats" => {
                let scale = value
                    .as_document()
                    .map(|d| args::opt_i64(d, "$collStats.storageStats", "scale"))
                    .transpose()?
                    .flatten()
                    .unwrap_or(1);
                out.insert("storageStats", storage_stats(state, db, coll, scale)?);
            }
            "count" => {
                out.insert(
                    "count",
                    i64::try_from(state.storage.estimated_count(db, coll)).unwrap_or(i64::MAX),
                );
            }
            other => {
                return Err(Error::not_supported(format!(
                    "$collStats option '{other}' is not supported by Outpost"
                )));
            }
        }
    }
    Ok(out)
}
