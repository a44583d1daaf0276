//! `getLog`: recent log lines kept in memory (`global`), and startup warnings.

use bson::{doc, Bson, Document};

use super::{Action, Command, Counter, Request};
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "getLog",
    aliases: &[],
    help: "recent log lines: { getLog: 'global' | 'startupWarnings' | '*' }",
    admin_only: true,
    action: Action::ClusterMonitor,
    counter: Counter::Command,
    run,
};

fn run(_state: &State, req: &Request) -> Result<Document> {
    match req.body.get("getLog") {
        Some(Bson::String(s)) if s == "*" => Ok(doc! {"names": ["global", "startupWarnings"]}),
        Some(Bson::String(s)) if s == "global" => {
            let (lines, total) = crate::logbuf::recent_lines();
            Ok(doc! {"totalLinesWritten": i64::try_from(total).unwrap_or(i64::MAX), "log": lines})
        }
        // Outpost has no startup warnings to report.
        Some(Bson::String(s)) if s == "startupWarnings" => {
            Ok(doc! {"totalLinesWritten": 0, "log": []})
        }
        Some(Bson::String(s)) => Err(Error::new(0, format!("no RamLog named: {s}"))),
        _ => Err(Error::type_mismatch(
            "Argument to getLog must be of type String",
        )),
    }
}
