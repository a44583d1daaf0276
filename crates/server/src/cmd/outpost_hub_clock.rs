//! `outpostHubAdvanceClock {ms}`: moves the hub's clock forward (test only, with
//! `--enable-test-commands`), so a test can make an edge "offline for 31 days" at once (see
//! `outpost_sync::hub` on the offline window). Answers `{now}`, the hub's new time. The offset
//! lives in memory: a restarted hub has the system's clock again.

use std::time::Duration;

use bson::{doc, Document};

use super::outpost_hub::hub;
use super::{Action, Command, Counter, Request};
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "outpostHubAdvanceClock",
    aliases: &[],
    help: "test only (hub): moves the hub's clock forward {ms: n} (the offline window, resets)",
    admin_only: true,
    action: Action::ClusterAdmin,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    if !state.config.enable_test_commands {
        return Err(Error::new(
            59,
            "no such command: 'outpostHubAdvanceClock' (start the hub with --enable-test-commands)",
        ));
    }
    let hub = hub(state)?;
    let ms = match req.body.get("ms") {
        Some(bson::Bson::Int32(ms)) => i64::from(*ms),
        Some(bson::Bson::Int64(ms)) => *ms,
        Some(bson::Bson::Double(ms)) if ms.fract() == 0.0 => *ms as i64,
        _ => {
            return Err(Error::type_mismatch(
                "'ms' must be a whole number of milliseconds",
            ))
        }
    };
    let ms = u64::try_from(ms).map_err(|_| {
        Error::bad_value("'ms' must not be negative: the hub's clock only moves forward")
    })?;
    let now = hub.advance_clock(Duration::from_millis(ms));
    Ok(doc! {"now": now})
}
