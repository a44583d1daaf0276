//! `whatsmyuri`: the client's address as the server sees it.

use bson::{doc, Document};

use super::{Action, Command, Counter, Request};
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "whatsmyuri",
    aliases: &[],
    help: "the address of this connection's client",
    admin_only: false,
    action: Action::None,
    counter: Counter::Command,
    run,
};

fn run(_state: &State, req: &Request) -> Result<Document> {
    Ok(doc! {"you": req.conn.peer.to_string()})
}
