//! `createIndexes`: builds single-field and compound indexes over existing data.

use bson::{doc, Document};

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "createIndexes",
    aliases: &[],
    help: "creates indexes: { createIndexes: <coll>, indexes: [{ key: {...}, name: '...', unique: true }] }",
    admin_only: false,
    action: Action::Schema,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let name = args::collection_name(req.body, "createIndexes")?;
    let specs = args::req_documents(req.body, "createIndexes", "indexes")?;
    if specs.is_empty() {
        return Err(Error::bad_value(
            "Must specify at least one index to create",
        ));
    }
    let outcome = state.storage.create_indexes(req.db, &name, &specs)?;
    super::flush_if_requested(state, req.body)?;
    let mut reply = doc! {
        "numIndexesBefore": super::count_i32(outcome.indexes_before as u64),
        "numIndexesAfter": super::count_i32(outcome.indexes_after as u64),
        "createdCollectionAutomatically": outcome.created_collection,
    };
    if outcome.indexes_before == outcome.indexes_after {
        reply.insert("note", "all indexes already exist");
    }
    Ok(reply)
}
