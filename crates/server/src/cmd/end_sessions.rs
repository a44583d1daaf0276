//! `endSessions`: drivers send it when they close; the sessions leave the session cache.

use bson::Document;

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "endSessions",
    aliases: &[],
    help: "ends logical sessions: { endSessions: [{ id: UUID }] }",
    admin_only: false,
    action: Action::None,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let lsids = args::req_array(req.body, "endSessions", "endSessions")?;
    state.sessions.end(lsids);
    Ok(super::ok())
}
