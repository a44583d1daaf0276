//! `drop`: drops a collection and its indexes.

use bson::{doc, Document};

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "drop",
    aliases: &[],
    help: "drops a collection: { drop: <name> }",
    admin_only: false,
    action: Action::Schema,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let name = args::collection_name(req.body, "drop")?;
    let indexes = state
        .storage
        .list_indexes(req.db, &name)
        .map(|i| i.len())
        .unwrap_or(0);
    // As MongoDB 7.0: dropping a collection that does not exist is not an error.
    let existed = state.storage.drop_collection(req.db, &name)?;
    super::flush_if_requested(state, req.body)?;
    if existed {
        Ok(
            doc! {"nIndexesWas": super::count_i32(indexes as u64), "ns": format!("{}.{name}", req.db)},
        )
    } else {
        Ok(super::ok())
    }
}
