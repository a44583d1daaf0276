//! `getParameter`: server parameters drivers and mongosh ask for.

use bson::{doc, Bson, Document};

use super::{Action, Command, Counter, Request};
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "getParameter",
    aliases: &[],
    help: "reads server parameters: { getParameter: 1, <name>: 1 } or { getParameter: '*' }",
    admin_only: true,
    action: Action::ClusterMonitor,
    counter: Counter::Command,
    run,
};

/// Every parameter Outpost knows, with its value.
fn parameters(state: &State) -> Document {
    doc! {
        "featureCompatibilityVersion": {"version": "8.0"},
        "authenticationMechanisms": Bson::Array(vec![]),
        "maxBSONDepth": 100,
        "transactionLifetimeLimitSeconds": i64::try_from(state.config.transaction_lifetime_limit_secs).unwrap_or(i64::MAX),
        "cursorTimeoutMillis": i64::try_from(state.config.cursor_timeout().as_millis()).unwrap_or(i64::MAX),
        "internalQueryMaxBlockingSortMemoryUsageBytes": 100 * 1024 * 1024_i32,
        "enableTestCommands": state.config.enable_test_commands,
        "logLevel": 0,
        "quiet": false,
    }
}

fn run(state: &State, req: &Request) -> Result<Document> {
    let all = parameters(state);
    if matches!(req.body.get("getParameter"), Some(Bson::String(s)) if s == "*") {
        return Ok(all);
    }
    let mut out = Document::new();
    for (name, _) in req.body.iter().skip(1) {
        if name.starts_with('$')
            || [
                "lsid",
                "comment",
                "$clusterTime",
                "apiVersion",
                "apiStrict",
                "apiDeprecationErrors",
            ]
            .contains(&name.as_str())
        {
            continue;
        }
        match all.get(name) {
            Some(v) => {
                out.insert(name.clone(), v.clone());
            }
            None => return Err(Error::new(72, format!("no option found to get: {name}"))),
        }
    }
    if out.is_empty() {
        return Err(Error::new(72, "no option found to get"));
    }
    Ok(out)
}
