//! `convertToCapped`: turns a collection into a capped collection of a given size.

use bson::Document;

use super::{Command, Counter, Request};
use crate::args;
use crate::auth::Action;
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "convertToCapped",
    aliases: &[],
    help: "makes a collection capped, keeping its newest documents that fit: { convertToCapped: <coll>, size: <bytes> }; indexes other than _id are not kept",
    admin_only: false,
    counter: Counter::Command,
    action: Action::Schema,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let name = args::collection_name(req.body, "convertToCapped")?;
    let size = req.body.get("size").cloned().unwrap_or(bson::Bson::Null);
    if size == bson::Bson::Null {
        return Err(crate::error::Error::new(
            40414,
            "BSON field 'convertToCapped.size' is missing but a required field",
        ));
    }
    state.storage.convert_to_capped(req.db, &name, &size)?;
    Ok(super::ok())
}
