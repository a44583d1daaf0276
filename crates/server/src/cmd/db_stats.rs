//! `dbStats`: counts and sizes of a database.

use bson::{doc, Document};

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "dbStats",
    aliases: &[],
    help: "counts and sizes of the current database: { dbStats: 1, scale: 1 }",
    admin_only: false,
    action: Action::ReadMetadata,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let scale = args::opt_i64(req.body, "dbStats", "scale")?.unwrap_or(1);
    if scale < 1 {
        return Err(Error::bad_value("scale has to be >= 1"));
    }
    let collections = state.storage.list_collections(req.db);
    let (mut objects, mut data, mut indexes, mut index_size) = (0u64, 0u64, 0u64, 0u64);
    for c in &collections {
        let stats = state.storage.collection_stats(req.db, &c.name)?;
        objects += stats.count;
        data += stats.size;
        // By name: a collection with a default collation stores its `_id_` index as well.
        let names: std::collections::HashSet<&str> =
            stats.index_sizes.iter().map(|(n, _)| n.as_str()).collect();
        indexes += names.len() as u64;
        index_size += stats.index_sizes.iter().map(|(_, s)| *s).sum::<u64>();
    }
    let scaled = |n: u64| i64::try_from(n).unwrap_or(i64::MAX) as f64 / scale as f64;
    let avg = if objects == 0 {
        0.0
    } else {
        data as f64 / objects as f64
    };
    Ok(doc! {
        "db": req.db,
        "collections": i64::try_from(collections.len()).unwrap_or(i64::MAX),
        "views": 0_i64,
        "objects": i64::try_from(objects).unwrap_or(i64::MAX),
        "avgObjSize": avg,
        "dataSize": scaled(data),
        "storageSize": scaled(data),
        "indexes": i64::try_from(indexes).unwrap_or(i64::MAX),
        "indexSize": scaled(index_size),
        "totalSize": scaled(data + index_size),
        "scaleFactor": scale,
    })
}
