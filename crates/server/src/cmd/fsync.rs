//! `fsync`: flushes every write to disk before answering, as mongod's `{fsync: 1}` does
//! (`numFiles` is 1: sled keeps one store). `lock: true` (`db.fsyncLock()`, blocking every
//! write until `fsyncUnlock`) is refused by name.

use bson::{doc, Document};

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "fsync",
    aliases: &[],
    help: "flushes all pending writes to disk: { fsync: 1 }",
    admin_only: true,
    action: Action::ClusterAdmin,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    if args::bool_or(req.body, "fsync", "lock", false)? {
        return Err(Error::not_supported(
            "fsync with lock: true (fsyncLock) is not supported by Outpost",
        ));
    }
    state.storage.flush()?;
    crate::metrics::Metrics::add(&state.metrics.flushes_before_reply, 1);
    Ok(doc! {"numFiles": 1})
}
