//! `listIndexes`: the indexes of a collection, as a cursor.

use bson::Document;

use super::cursor_reply::{first_batch, BatchOptions};
use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "listIndexes",
    aliases: &[],
    help: "lists the indexes of a collection: { listIndexes: <coll> }",
    admin_only: false,
    action: Action::ReadMetadata,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let name = args::collection_name(req.body, "listIndexes")?;
    let options = BatchOptions::from_cursor_field(req.body, "listIndexes")?;
    let specs = state.storage.list_indexes(req.db, &name)?;
    let ns = format!("{}.{name}", req.db);
    first_batch(
        state,
        req.conn,
        ns,
        Box::new(specs.into_iter().map(Ok)),
        &options,
    )
}
