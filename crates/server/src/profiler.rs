//! The database profiler: per-database levels set by `profile` (0 off, 1 operations of at
//! least `slowms` milliseconds, 2 all), a server-wide `slowms` and `sampleRate`, and the
//! record of each profiled command in the database's `system.profile`, a capped collection of
//! 1 MiB (created when profiling is turned on, as mongod).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bson::{doc, Bson, Document};

use crate::state::{ConnInfo, State};

/// mongod's default `slowms`.
const DEFAULT_SLOW_MS: i64 = 100;
/// The size of `system.profile` when the profiler creates it (1 MiB, as mongod).
const SYSTEM_PROFILE_BYTES: i64 = 1024 * 1024;
pub const SYSTEM_PROFILE: &str = "system.profile";

/// The profiler's settings.
pub struct Profiler {
    settings: Mutex<Settings>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    levels: HashMap<String, i32>,
    pub slow_ms: i64,
    pub sample_rate: f64,
    /// Operations seen while sampling (mixed into the random draw).
    sampled: u64,
}

impl Default for Profiler {
    fn default() -> Profiler {
        Profiler {
            settings: Mutex::new(Settings {
                levels: HashMap::new(),
                slow_ms: DEFAULT_SLOW_MS,
                sample_rate: 1.0,
                sampled: 0,
            }),
        }
    }
}

impl Profiler {
    fn settings(&self) -> std::sync::MutexGuard<'_, Settings> {
        self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The level of `db`, `slowms` and `sampleRate`.
    pub fn current(&self, db: &str) -> (i32, i64, f64) {
        let s = self.settings();
        (
            s.levels.get(db).copied().unwrap_or(0),
            s.slow_ms,
            s.sample_rate,
        )
    }

    /// Whether the profiler records anything on `db` (its level is not 0).
    pub fn is_on(&self, db: &str) -> bool {
        self.settings()
            .levels
            .get(db)
            .is_some_and(|level| *level != 0)
    }

    /// Sets what is given; returns the settings before.
    pub fn set(
        &self,
        db: &str,
        level: Option<i32>,
        slow_ms: Option<i64>,
        sample_rate: Option<f64>,
    ) -> (i32, i64, f64) {
        let before = self.current(db);
        let mut s = self.settings();
        if let Some(level) = level {
            s.levels.insert(db.to_owned(), level);
        }
        if let Some(ms) = slow_ms {
            s.slow_ms = ms;
        }
        if let Some(rate) = sample_rate {
            s.sample_rate = rate;
        }
        before
    }

    /// Whether a command on `db` that took `elapsed` is to be recorded.
    fn should_record(&self, db: &str, elapsed: Duration) -> bool {
        let mut s = self.settings();
        let level = s.levels.get(db).copied().unwrap_or(0);
        let slow = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX) >= s.slow_ms;
        if level == 0 || (level == 1 && !slow) {
            return false;
        }
        if s.sample_rate >= 1.0 {
            return true;
        }
        // A random fraction `sampleRate` of the operations, as mongod samples.
        s.sampled = s.sampled.wrapping_add(1);
        let seed = std::collections::hash_map::RandomState::new();
        let random = std::hash::BuildHasher::hash_one(&seed, s.sampled);
        // The top 53 bits as a fraction in [0, 1).
        let unit = (random >> 11) as f64 / (1u64 << 53) as f64;
        unit < s.sample_rate
    }

    /// Records a command in `db.system.profile` when the level asks for it. Failures are
    /// logged, never returned: profiling must not fail the command.
    pub fn after_command(
        &self,
        state: &State,
        conn: &ConnInfo,
        db: &str,
        body: &Document,
        reply: &Document,
        elapsed: Duration,
    ) {
        if !self.should_record(db, elapsed) {
            return;
        }
        let entry = profile_entry(conn, db, body, reply, elapsed);
        if let Err(e) = ensure_system_profile(state, db).and_then(|()| {
            state
                .storage
                .insert(db, SYSTEM_PROFILE, entry, &Default::default())
                .map(|_| ())
        }) {
            tracing::warn!(db, error = %e, "could not record a profiled operation");
        }
    }
}

/// Creates `db.system.profile` (capped, 1 MiB) if it does not exist.
pub fn ensure_system_profile(state: &State, db: &str) -> outpost_storage::Result<()> {
    if state.storage.is_capped(db, SYSTEM_PROFILE)
        || state
            .storage
            .list_collections(db)
            .iter()
            .any(|c| c.name == SYSTEM_PROFILE)
    {
        return Ok(());
    }
    let options = outpost_storage::capped_options(Some(&Bson::Int64(SYSTEM_PROFILE_BYTES)), None)?;
    match state.storage.create_collection(db, SYSTEM_PROFILE, options) {
        Ok(()) | Err(outpost_storage::Error::NamespaceExists(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The document mongod's profiler writes, for the fields Outpost knows.
fn profile_entry(
    conn: &ConnInfo,
    db: &str,
    body: &Document,
    reply: &Document,
    elapsed: Duration,
) -> Document {
    let name = body.keys().next().map(String::as_str).unwrap_or_default();
    let op = match name {
        "find" => "query",
        "insert" => "insert",
        "update" => "update",
        "delete" => "remove",
        "getMore" => "getmore",
        _ => "command",
    };
    let coll = match body.get(name) {
        Some(Bson::String(coll)) => coll.clone(),
        _ => match body.get("collection") {
            Some(Bson::String(coll)) => coll.clone(),
            _ => "$cmd".to_owned(),
        },
    };
    let mut entry = doc! {
        "op": op,
        "ns": format!("{db}.{coll}"),
        "command": body.clone(),
        "responseLength": i64::try_from(outpost_storage::value::size::document_size(reply))
            .unwrap_or(i64::MAX),
        "millis": i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
        "ts": bson::DateTime::now(),
        "client": conn.peer.ip().to_string(),
        "allUsers": [],
        "user": "",
    };
    if let Some(app) = conn.app_name.get() {
        entry.insert("appName", app.clone());
    }
    if reply.get_f64("ok").is_ok_and(|ok| ok == 0.0) {
        if let Some(code) = reply.get("code") {
            entry.insert("errCode", code.clone());
        }
        if let Some(message) = reply.get("errmsg") {
            entry.insert("errMsg", message.clone());
        }
    }
    entry
}
