//! `getCmdLineOpts`: the command line and the options it resolved to.

use bson::{doc, Document};

use super::{Command, Counter, Request};
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "getCmdLineOpts",
    aliases: &[],
    help: "the command line this server was started with and the parsed options",
    admin_only: true,
    counter: Counter::Command,
    run,
};

fn run(state: &State, _req: &Request) -> Result<Document> {
    let config = &state.config;
    let dbpath = config
        .dbpath
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(temporary)".into());
    Ok(doc! {
        "argv": config.argv.clone(),
        "parsed": {
            "net": {"port": i32::from(state.local_addr.port()), "bindIp": config.bind.to_string()},
            "storage": {"dbPath": dbpath, "flushIntervalMs": i64::try_from(config.flush_interval_ms).unwrap_or(i64::MAX)},
            "setParameter": {"enableTestCommands": config.enable_test_commands},
        },
    })
}
