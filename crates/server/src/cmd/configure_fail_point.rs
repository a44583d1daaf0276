//! `configureFailPoint`: turns the `failCommand` test fail point on or off. Available only when
//! the server runs with `--enable-test-commands`.

use bson::Document;

use super::{Action, Command, Counter, Request};
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "configureFailPoint",
    aliases: &[],
    help: "test only: { configureFailPoint: 'failCommand', mode: 'alwaysOn' | 'off' | {times: n} | {skip: n}, data: { failCommands, errorCode, closeConnection, writeConcernError, blockConnection, blockTimeMS, appName } }",
    admin_only: true,
    action: Action::ClusterAdmin,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    if !state.config.enable_test_commands {
        return Err(Error::new(
            59,
            "no such command: 'configureFailPoint' (start the server with --enable-test-commands)",
        ));
    }
    state.fail_points.configure(req.body)?;
    Ok(super::ok())
}
