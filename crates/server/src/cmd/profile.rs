//! `profile`: reads and sets the database profiler's level (-1 reads, 0 off, 1 slow
//! operations, 2 all), `slowms` and `sampleRate`; answers the settings as they were.
//! Profiled commands are recorded in the database's capped `system.profile`.

use bson::{doc, Bson, Document};

use super::{Command, Counter, Request};
use crate::args;
use crate::auth::Action;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "profile",
    aliases: &[],
    help: "the database profiler: { profile: <-1|0|1|2>, slowms: <ms>, sampleRate: <0..1> }",
    admin_only: false,
    counter: Counter::Command,
    action: Action::DbAdmin,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let level = match req.body.get("profile") {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Double(n)) if n.fract() == 0.0 => *n as i64,
        _ => return Err(Error::bad_value("profile level must be -1, 0, 1 or 2")),
    };
    if !(-1..=2).contains(&level) {
        return Err(Error::bad_value(format!(
            "Invalid profiling level: {level}"
        )));
    }
    if req.body.contains_key("filter") {
        return Err(Error::not_supported(
            "profile's 'filter' option is not supported by Outpost",
        ));
    }
    let slow_ms = args::opt_i64(req.body, "profile", "slowms")?;
    let sample_rate = match req.body.get("sampleRate") {
        None => None,
        Some(Bson::Double(r)) if (0.0..=1.0).contains(r) => Some(*r),
        Some(Bson::Int32(r)) if (0..=1).contains(r) => Some(f64::from(*r)),
        Some(_) => {
            return Err(Error::bad_value(
                "'sampleRate' must be between 0.0 and 1.0 inclusive",
            ))
        }
    };
    let new_level = (level >= 0).then(|| i32::try_from(level).unwrap_or(0));
    if new_level.is_some_and(|l| l > 0) {
        crate::profiler::ensure_system_profile(state, req.db)?;
    }
    let (was, slowms, rate) = state.profiler.set(req.db, new_level, slow_ms, sample_rate);
    Ok(doc! {"was": was, "slowms": slowms, "sampleRate": rate})
}
