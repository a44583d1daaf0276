//! `ping`: answers `{ok: 1}`; drivers use it to check that the server is alive.

use bson::Document;

use super::{Action, Command, Counter, Request};
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "ping",
    aliases: &[],
    help: "a way to check that the server is alive; responds immediately",
    admin_only: false,
    action: Action::None,
    counter: Counter::Command,
    run,
};

fn run(_state: &State, _req: &Request) -> Result<Document> {
    Ok(super::ok())
}
