//! `logout`: the connection forgets its authenticated users.

use bson::Document;

use super::{Action, Command, Counter, Request};
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "logout",
    aliases: &[],
    help: "ends the connection's authentication",
    admin_only: false,
    action: Action::None,
    counter: Counter::Command,
    run,
};

fn run(_state: &State, req: &Request) -> Result<Document> {
    crate::auth::logout(req.conn);
    Ok(super::ok())
}
