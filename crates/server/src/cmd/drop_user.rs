//! `dropUser`: removes a user; connections authenticated as it lose its privileges at once.
//! Flushed before the reply.

use bson::{Bson, Document};

use super::{Action, Command, Counter, Request};
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "dropUser",
    aliases: &[],
    help: "removes a user {dropUser: name}",
    admin_only: false,
    action: Action::UserAdmin,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let name = match req.body.get("dropUser") {
        Some(Bson::String(name)) => name.as_str(),
        _ => return Err(Error::bad_value("dropUser: the user name must be a string")),
    };
    state.users.remove(req.db, name)?;
    state.storage.flush()?;
    Ok(super::ok())
}
