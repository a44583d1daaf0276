//! `killSessions`: removes sessions from the session cache. Cursors are not tied to sessions in
//! Outpost, so no cursor is closed.

use bson::Document;

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "killSessions",
    aliases: &[],
    help: "kills logical sessions: { killSessions: [{ id: UUID }] }",
    admin_only: false,
    action: Action::Authenticated,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let lsids = args::req_array(req.body, "killSessions", "killSessions")?;
    state.sessions.end(lsids);
    Ok(super::ok())
}
