//! `saslStart`: the first message of a SASL conversation (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN).

use bson::Document;

use super::{Action, Command, Counter, Request};
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "saslStart",
    aliases: &[],
    help: "starts a SASL authentication conversation {mechanism, payload}",
    admin_only: false,
    action: Action::None,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    crate::auth::sasl_start(state, req.conn, req.db, req.body)
}
