//! `killSessions`: Outpost keeps no server-side session state and cursors are not tied to
//! sessions, so there is nothing to kill; the argument is still checked.

use bson::Document;

use super::{Command, Counter, Request};
use crate::args;
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "killSessions",
    aliases: &[],
    help: "kills logical sessions (Outpost keeps no per-session state)",
    admin_only: false,
    counter: Counter::Command,
    run,
};

fn run(_state: &State, req: &Request) -> Result<Document> {
    args::req_array(req.body, "killSessions", "killSessions")?;
    Ok(super::ok())
}
