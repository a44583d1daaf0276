//! `dropDatabase`: drops every collection of the database.

use bson::{doc, Document};

use super::{Action, Command, Counter, Request};
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "dropDatabase",
    aliases: &[],
    help: "drops the current database and all its collections",
    admin_only: false,
    action: Action::DbAdmin,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    state.storage.drop_database(req.db)?;
    super::flush_if_requested(state, req.body)?;
    Ok(doc! {"dropped": req.db})
}
