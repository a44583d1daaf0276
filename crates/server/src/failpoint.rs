//! Test fail points (`configureFailPoint`, only with `--enable-test-commands`): make chosen
//! commands fail, close the connection, or report a write concern error, as mongod's
//! `failCommand` fail point does, so failure paths of drivers and applications can be tested.

use std::sync::Mutex;

use bson::{Bson, Document};

use crate::error::{Error, Result};

/// How often an enabled fail point fires.
#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Off,
    AlwaysOn,
    /// Fires this many more times, then turns off.
    Times(u64),
    /// Lets this many matching commands through, then fires always.
    Skip(u64),
}

/// The `failCommand` fail point's settings.
#[derive(Debug, Clone)]
struct FailCommand {
    mode: Mode,
    commands: Vec<String>,
    error_code: Option<i32>,
    error_labels: Vec<Bson>,
    close_connection: bool,
    write_concern_error: Option<Document>,
    block_ms: Option<u64>,
    app_name: Option<String>,
}

/// What a fired fail point makes the command do.
#[derive(Debug, Clone, Default)]
pub struct Action {
    pub close_connection: bool,
    pub error: Option<(i32, Vec<Bson>)>,
    pub write_concern_error: Option<Document>,
    /// The labels to add to a reply with a write concern error (`errorLabels`).
    pub write_concern_error_labels: Vec<Bson>,
    pub block_ms: Option<u64>,
}

#[derive(Default)]
pub struct FailPoints {
    fail_command: Mutex<Option<FailCommand>>,
}

impl FailPoints {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<FailCommand>> {
        self.fail_command.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a `configureFailPoint` command body.
    pub fn configure(&self, body: &Document) -> Result<()> {
        match body.get_str("configureFailPoint") {
            Ok("failCommand") => {}
            Ok(other) => {
                return Err(Error::bad_value(format!(
                    "Unknown fail point: {other} (Outpost supports failCommand)"
                )))
            }
            Err(_) => {
                return Err(Error::type_mismatch(
                    "configureFailPoint must name a fail point",
                ))
            }
        }
        let mode = match body.get("mode") {
            Some(Bson::String(s)) if s == "off" => Mode::Off,
            Some(Bson::String(s)) if s == "alwaysOn" => Mode::AlwaysOn,
            Some(Bson::Document(m)) => match (m.get("times"), m.get("skip")) {
                (Some(n), None) => Mode::Times(non_negative(n, "times")?),
                (None, Some(n)) => Mode::Skip(non_negative(n, "skip")?),
                _ => return Err(Error::bad_value(format!("unsupported fail point mode: {m} (Outpost supports 'off', 'alwaysOn', {{times}} and {{skip}})"))),
            },
            other => return Err(Error::bad_value(format!("invalid fail point mode: {other:?}"))),
        };
        if mode == Mode::Off {
            *self.slot() = None;
            return Ok(());
        }
        let data = body.get_document("data").cloned().unwrap_or_default();
        let commands = match data.get("failCommands") {
            Some(Bson::Array(names)) => names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect(),
            _ => {
                return Err(Error::bad_value(
                    "failCommand requires data.failCommands: an array of command names",
                ))
            }
        };
        let error_code = match data.get("errorCode") {
            None => None,
            Some(v) => Some(
                i32::try_from(non_negative(v, "errorCode")?)
                    .map_err(|_| Error::bad_value("errorCode out of range"))?,
            ),
        };
        let block_ms = if matches!(data.get("blockConnection"), Some(Bson::Boolean(true))) {
            Some(
                data.get("blockTimeMS")
                    .map(|v| non_negative(v, "blockTimeMS"))
                    .transpose()?
                    .unwrap_or(0),
            )
        } else {
            None
        };
        *self.slot() = Some(FailCommand {
            mode,
            commands,
            error_code,
            error_labels: data.get_array("errorLabels").cloned().unwrap_or_default(),
            close_connection: matches!(data.get("closeConnection"), Some(Bson::Boolean(true))),
            write_concern_error: data.get_document("writeConcernError").ok().cloned(),
            block_ms,
            app_name: data.get_str("appName").ok().map(str::to_owned),
        });
        Ok(())
    }

    /// Whether a fail point is configured (for any command).
    pub fn is_set(&self) -> bool {
        self.slot().is_some()
    }

    /// Whether the fail point fires for `command` from a client named `app_name`; counts the
    /// firing.
    pub fn check(&self, command: &str, app_name: Option<&str>) -> Option<Action> {
        let mut slot = self.slot();
        let fp = slot.as_mut()?;
        if !fp.commands.iter().any(|c| c == command) {
            return None;
        }
        if fp
            .app_name
            .as_deref()
            .is_some_and(|want| Some(want) != app_name)
        {
            return None;
        }
        match &mut fp.mode {
            Mode::Off => return None,
            Mode::AlwaysOn => {}
            Mode::Times(n) => {
                if *n == 0 {
                    return None;
                }
                *n -= 1;
            }
            Mode::Skip(n) => {
                if *n > 0 {
                    *n -= 1;
                    return None;
                }
            }
        }
        let action = Action {
            close_connection: fp.close_connection,
            error: fp.error_code.map(|c| (c, fp.error_labels.clone())),
            write_concern_error: fp.write_concern_error.clone(),
            write_concern_error_labels: fp.error_labels.clone(),
            block_ms: fp.block_ms,
        };
        if fp.mode == Mode::Times(0) {
            *slot = None;
        }
        Some(action)
    }
}

fn non_negative(v: &Bson, field: &str) -> Result<u64> {
    let n = match v {
        Bson::Int32(n) => i64::from(*n),
        Bson::Int64(n) => *n,
        Bson::Double(d) if d.fract() == 0.0 => *d as i64,
        _ => return Err(Error::type_mismatch(format!("{field} must be a number"))),
    };
    u64::try_from(n).map_err(|_| Error::bad_value(format!("{field} must be non-negative")))
}
