//! `saslContinue`: the next message of a SASL conversation started by `saslStart`.

use bson::Document;

use super::{Action, Command, Counter, Request};
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "saslContinue",
    aliases: &[],
    help: "continues a SASL authentication conversation {conversationId, payload}",
    admin_only: false,
    action: Action::None,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    crate::auth::sasl_continue(state, req.conn, req.db, req.body)
}
