//! `endSessions`: drivers send it when they close. Outpost keeps no server-side session state
//! (no transactions, no retryable-write records), so there is nothing to release.

use bson::Document;

use super::{Command, Counter, Request};
use crate::args;
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "endSessions",
    aliases: &[],
    help: "ends logical sessions (Outpost keeps no per-session state)",
    admin_only: false,
    counter: Counter::Command,
    run,
};

fn run(_state: &State, req: &Request) -> Result<Document> {
    args::req_array(req.body, "endSessions", "endSessions")?;
    Ok(super::ok())
}
