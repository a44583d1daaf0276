//! `collStats`: document count and sizes of one collection.

use bson::{doc, Document};

use super::{Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "collStats",
    aliases: &[],
    help: "count and sizes of a collection: { collStats: <name>, scale: 1 }",
    admin_only: false,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let name = args::collection_name(req.body, "collStats")?;
    let scale = args::opt_i64(req.body, "collStats", "scale")?.unwrap_or(1);
    if scale < 1 {
        return Err(Error::bad_value("scale has to be >= 1"));
    }
    let stats = state.storage.collection_stats(req.db, &name)?;
    let scaled = |n: u64| i64::try_from(n).unwrap_or(i64::MAX) / scale;
    let total_index: u64 = stats.index_sizes.iter().map(|(_, s)| *s).sum();
    let mut index_sizes = Document::new();
    for (index, size) in &stats.index_sizes {
        index_sizes.insert(index.clone(), scaled(*size));
    }
    let avg = stats.size.checked_div(stats.count).unwrap_or(0);
    Ok(doc! {
        "ns": format!("{}.{name}", req.db),
        "size": scaled(stats.size),
        "count": i64::try_from(stats.count).unwrap_or(i64::MAX),
        "avgObjSize": i64::try_from(avg).unwrap_or(i64::MAX),
        "storageSize": scaled(stats.size),
        "totalIndexSize": scaled(total_index),
        "totalSize": scaled(stats.size + total_index),
        "indexSizes": index_sizes,
        "nindexes": super::count_i32(stats.index_sizes.len() as u64),
        "scaleFactor": scale,
        "capped": false,
    })
}
