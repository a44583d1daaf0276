//! `commitTransaction` and `abortTransaction`: they end a multi-document transaction and run
//! only inside one (with `lsid`, `txnNumber` and `autocommit: false`), where dispatch hands
//! them to `crate::txn`. Reaching these handlers means the fields were missing.

use bson::Document;

use super::{Action, Command, Counter, Request};
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMIT: Command = Command {
    name: "commitTransaction",
    aliases: &[],
    help: "commits the session's transaction: { commitTransaction: 1, lsid, txnNumber, autocommit: false }",
    admin_only: true,
    action: Action::Authenticated,
    counter: Counter::Command,
    run,
};

pub static ABORT: Command = Command {
    name: "abortTransaction",
    aliases: &[],
    help: "aborts the session's transaction: { abortTransaction: 1, lsid, txnNumber, autocommit: false }",
    admin_only: true,
    action: Action::Authenticated,
    counter: Counter::Command,
    run,
};

fn run(_state: &State, req: &Request) -> Result<Document> {
    let name = req
        .body
        .keys()
        .next()
        .map(String::as_str)
        .unwrap_or_default();
    Err(Error::new(
        72,
        format!(
            "{name} must be run within a transaction (with lsid, txnNumber and autocommit: false)"
        ),
    ))
}
