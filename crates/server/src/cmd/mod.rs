//! Command dispatch: one module per command, and the table that names them.
//!
//! A command receives the request body (document sequences already folded in as arrays),
//! its database and the connection, and returns the reply body or an error; [`dispatch`]
//! adds `ok: 1` or turns the error into MongoDB's error reply.

use std::collections::HashMap;

use bson::{doc, Bson, Document};

pub use crate::auth::Action;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::state::{ConnInfo, State};

mod aggregate;
mod build_info;
mod bulk_write;
mod coll_mod;
mod coll_stats;
mod commit_transaction;
mod configure_fail_point;
mod connection_status;
mod convert_to_capped;
mod count;
mod create;
// Not a command: time-series parts of create, listCollections and collStats.
mod create_indexes;
mod create_user;
mod cursor_reply;
mod db_stats;
mod delete;
mod distinct;
mod drop;
mod drop_database;
mod drop_indexes;
mod drop_user;
mod end_sessions;
mod explain;
mod find;
mod find_and_modify;
mod fsync;
mod get_cmd_line_opts;
mod get_log;
mod get_more;
mod get_parameter;
mod grant_roles_to_user;
mod hello;
mod host_info;
mod insert;
mod kill_cursors;
mod kill_sessions;
mod list_collections;
mod list_commands;
mod list_databases;
mod list_indexes;
mod logout;
mod outpost_hub;
mod outpost_hub_clock;
mod outpost_sync;
mod ping;
mod profile;
mod rename_collection;
mod repl_set_get_status;
mod revoke_roles_from_user;
mod sasl_continue;
mod sasl_start;
mod server_status;
mod timeseries;
mod update;
mod update_user;
mod users_info;
mod validate;
mod views;
mod whats_my_uri;

/// One request to run.
pub struct Request<'a> {
    pub db: &'a str,
    pub body: &'a Document,
    pub conn: &'a ConnInfo,
    /// The data the command reads and writes: the server's storage, or inside a
    /// multi-document transaction the transaction's private snapshot (see `crate::txn`).
    pub storage: &'a outpost_storage::Storage,
}

/// Which `opcounters` entry a command counts towards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Command,
    Query,
    GetMore,
    /// The command counts for itself (inserts count documents, updates and deletes count
    /// statements).
    None,
}

/// A command: its name (and aliases), help text for `listCommands`, and its handler.
pub struct Command {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub help: &'static str,
    pub admin_only: bool,
    /// What the connection's user needs to run it (checked by dispatch with `--auth`).
    pub action: Action,
    pub counter: Counter,
    pub run: fn(&State, &Request) -> Result<Document>,
}

/// Every command Outpost implements.
pub static COMMANDS: &[&Command] = &[
    &aggregate::COMMAND,
    &commit_transaction::ABORT,
    &commit_transaction::COMMIT,
    &build_info::COMMAND,
    &bulk_write::COMMAND,
    &coll_mod::COMMAND,
    &coll_stats::COMMAND,
    &configure_fail_point::COMMAND,
    &connection_status::COMMAND,
    &convert_to_capped::COMMAND,
    &count::COMMAND,
    &create::COMMAND,
    &create_indexes::COMMAND,
    &create_user::COMMAND,
    &db_stats::COMMAND,
    &delete::COMMAND,
    &distinct::COMMAND,
    &drop::COMMAND,
    &drop_database::COMMAND,
    &drop_indexes::COMMAND,
    &drop_user::COMMAND,
    &end_sessions::COMMAND,
    &explain::COMMAND,
    &find::COMMAND,
    &find_and_modify::COMMAND,
    &fsync::COMMAND,
    &get_cmd_line_opts::COMMAND,
    &get_log::COMMAND,
    &get_more::COMMAND,
    &get_parameter::COMMAND,
    &grant_roles_to_user::COMMAND,
    &hello::COMMAND,
    &hello::IS_MASTER,
    &host_info::COMMAND,
    &insert::COMMAND,
    &kill_cursors::COMMAND,
    &kill_sessions::COMMAND,
    &list_collections::COMMAND,
    &list_commands::COMMAND,
    &list_databases::COMMAND,
    &list_indexes::COMMAND,
    &logout::COMMAND,
    &outpost_hub::CREATE_API_KEY_COMMAND,
    &outpost_hub::CREATE_EDGE_COMMAND,
    &outpost_hub::LIST_EDGES_COMMAND,
    &outpost_hub::SET_EDGE_QUERY_COMMAND,
    &outpost_hub::DELETE_EDGE_COMMAND,
    &outpost_hub_clock::COMMAND,
    &outpost_sync::DOWNLOAD_COMMAND,
    &outpost_sync::HELLO_COMMAND,
    &outpost_sync::REPORT_COMMAND,
    &outpost_sync::RESET_COMMAND,
    &outpost_sync::SNAPSHOT_COMMAND,
    &outpost_sync::STATUS_COMMAND,
    &outpost_sync::UPLOAD_COMMAND,
    &ping::COMMAND,
    &profile::COMMAND,
    &rename_collection::COMMAND,
    &repl_set_get_status::COMMAND,
    &revoke_roles_from_user::COMMAND,
    &sasl_continue::COMMAND,
    &sasl_start::COMMAND,
    &server_status::COMMAND,
    &update::COMMAND,
    &update_user::COMMAND,
    &users_info::COMMAND,
    &validate::COMMAND,
    &whats_my_uri::COMMAND,
];

pub fn find_command(name: &str) -> Option<&'static Command> {
    // Every request looks its command up (some twice): a map, built once, instead of a scan
    // of the table. The first command to claim a name keeps it, as the scan did.
    static BY_NAME: std::sync::OnceLock<HashMap<&'static str, &'static Command>> =
        std::sync::OnceLock::new();
    BY_NAME
        .get_or_init(|| {
            let mut map = HashMap::new();
            for &command in COMMANDS {
                for name in std::iter::once(command.name).chain(command.aliases.iter().copied()) {
                    map.entry(name).or_insert(command);
                }
            }
            map
        })
        .get(name)
        .copied()
}

/// Whether `name` is one of the sync protocol's commands (and `outpostSyncStatus`).
pub fn is_sync_protocol(name: &str) -> bool {
    find_command(name).is_some_and(|c| c.action == crate::auth::Action::Sync)
}

/// Fields that start or continue a multi-document transaction (see `crate::txn`).
const TRANSACTION_FIELDS: &[&str] = &["startTransaction", "autocommit"];

/// The commands a driver retries with a `txnNumber` outside a transaction (retryable writes).
const RETRYABLE_WRITES: &[&str] = &["insert", "update", "delete", "findAndModify", "bulkWrite"];

/// What the connection does with a command's outcome.
pub enum Reply {
    Document(Document),
    /// A test fail point asked to drop the connection without replying.
    CloseConnection,
    /// Run on a store made by `Storage::without_waiting`, the command found the writer lock
    /// held and did nothing; here is its body back, to run where it may wait.
    WriterBusy(Document),
}

/// The command whose handler takes its body over instead of borrowing it: a sync upload
/// holds up to 4 MiB of documents, which the hub moves into its batch (copying them took
/// about a tenth of the hub's time applying a backlog). The profiler sees its name only.
const TAKES_BODY: &str = ::outpost_sync::protocol::UPLOAD;

/// Runs one command and returns the reply body: `{..., ok: 1}` or an error reply.
pub fn dispatch(state: &State, conn: &ConnInfo, db: &str, body: Document) -> Reply {
    dispatch_on(state, &state.storage, conn, db, body)
}

/// [`dispatch`] with the commands' data in `storage` (the server's, or a handle of it that
/// does not wait for the writer lock).
pub fn dispatch_on(
    state: &State,
    storage: &outpost_storage::Storage,
    conn: &ConnInfo,
    db: &str,
    mut body: Document,
) -> Reply {
    let name = body.keys().next().map(String::as_str).unwrap_or_default();
    let fail = state
        .fail_points
        .check(name, conn.app_name.get().map(String::as_str));
    if let Some(action) = &fail {
        if let Some(ms) = action.block_ms {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        if action.close_connection {
            return Reply::CloseConnection;
        }
        if let Some((code, labels)) = &action.error {
            let mut reply =
                Error::new(*code, "Failing command via 'failCommand' failpoint").to_reply();
            if !labels.is_empty() {
                reply.insert("errorLabels", labels.clone());
            }
            if !state.config.standalone {
                crate::replset::add_cluster_time(state, &mut reply);
            }
            return Reply::Document(reply);
        }
    }
    let started = std::time::Instant::now();
    let result = if name == TAKES_BODY {
        let owned = std::mem::replace(&mut body, doc! {TAKES_BODY: 1});
        run_owned(state, storage, conn, db, owned)
    } else {
        run(state, storage, conn, db, &body)
    };
    if matches!(
        result,
        Err(Error::Storage(outpost_storage::Error::WriterBusy))
    ) {
        return Reply::WriterBusy(body);
    }
    let name = body.keys().next().map(String::as_str).unwrap_or_default();
    let mut reply = match result {
        Ok(mut reply) => {
            if !reply.contains_key("ok") {
                reply.insert("ok", 1.0);
            }
            Metrics::add(&state.metrics.commands_succeeded, 1);
            reply
        }
        Err(e) => {
            Metrics::add(&state.metrics.commands_failed, 1);
            tracing::debug!(db, error = %e, code = e.code(), "command failed");
            e.to_reply()
        }
    };
    if let Some(action) = fail {
        if let Some(wce) = action.write_concern_error {
            reply.insert("writeConcernError", wce);
            if !action.write_concern_error_labels.is_empty() {
                reply.insert("errorLabels", action.write_concern_error_labels);
            }
        }
    }
    // The sync protocol's replies go to Outpost's own link, which has no use for cluster time
    // (on a thin link each reply would carry about 100 bytes of it).
    if !state.config.standalone && !is_sync_protocol(name) {
        crate::replset::add_cluster_time(state, &mut reply);
    }
    state
        .profiler
        .after_command(state, conn, db, &body, &reply, started.elapsed());
    Reply::Document(reply)
}

fn run(
    state: &State,
    storage: &outpost_storage::Storage,
    conn: &ConnInfo,
    db: &str,
    body: &Document,
) -> Result<Document> {
    let checked = check(state, conn, db, body)?;
    run_checked(state, storage, conn, db, body, checked)
}

/// [`run`] of [`TAKES_BODY`]: the same checks, then the handler takes the body (unless the
/// command is part of a transaction or a retryable write, which keep their usual path).
fn run_owned(
    state: &State,
    storage: &outpost_storage::Storage,
    conn: &ConnInfo,
    db: &str,
    body: Document,
) -> Result<Document> {
    let checked = check(state, conn, db, &body)?;
    if checked.command.name == TAKES_BODY
        && !TRANSACTION_FIELDS.iter().any(|f| body.contains_key(*f))
        && !body.contains_key("txnNumber")
    {
        return outpost_sync::run_on_hub_owned(state, conn, body);
    }
    run_checked(state, storage, conn, db, &body, checked)
}

/// A command found, allowed and counted, with its session's slots.
struct Checked {
    command: &'static Command,
    retry_slot: Option<crate::sessions::RetrySlot>,
    txn_slot: Option<crate::txn::TxnSlot>,
}

/// What every command goes through before its handler: it exists, its API version allows
/// it, the database is allowed and valid, the user may run it; then it is counted and its
/// session touched.
fn check(state: &State, conn: &ConnInfo, db: &str, body: &Document) -> Result<Checked> {
    let Some(name) = body.keys().next() else {
        return Err(Error::failed_to_parse("Empty command object"));
    };
    let Some(command) = find_command(name) else {
        Metrics::add(&state.metrics.op_command, 1);
        return Err(Error::new(59, format!("no such command: '{name}'")));
    };
    crate::stable_api::check(command.name, body)?;
    if command.admin_only && db != "admin" {
        return Err(Error::new(
            13,
            format!(
                "{} may only be run against the admin database.",
                command.name
            ),
        ));
    }
    crate::auth::authorize(state, conn, command.name, command.action, db, body)?;
    // `$external` holds no data: it names the source of PLAIN's users.
    if !(db == "$external" && command.action == Action::None) {
        outpost_storage::validate_db_name(db).map_err(Error::from)?;
    }
    match command.counter {
        Counter::Command => Metrics::add(&state.metrics.op_command, 1),
        Counter::Query => Metrics::add(&state.metrics.op_query, 1),
        Counter::GetMore => Metrics::add(&state.metrics.op_getmore, 1),
        Counter::None => {}
    }
    let slots = match body.get("lsid") {
        Some(lsid) => Some(state.sessions.touch(lsid)?),
        None => None,
    };
    let (retry_slot, txn_slot) = match slots {
        Some(s) => (Some(s.retry), Some(s.txn)),
        None => (None, None),
    };
    Ok(Checked {
        command,
        retry_slot,
        txn_slot,
    })
}

fn run_checked(
    state: &State,
    storage: &outpost_storage::Storage,
    conn: &ConnInfo,
    db: &str,
    body: &Document,
    checked: Checked,
) -> Result<Document> {
    let Checked {
        command,
        retry_slot,
        txn_slot,
    } = checked;
    let request = Request {
        db,
        body,
        conn,
        storage,
    };
    if TRANSACTION_FIELDS.iter().any(|f| body.contains_key(*f)) {
        return crate::txn::run(state, command, &request, txn_slot);
    }
    if let Some(txn_number) = crate::args::opt_i64(body, command.name, "txnNumber")? {
        return run_retryable(state, command, &request, retry_slot, txn_number);
    }
    (command.run)(state, &request)
}

/// Runs a retryable write (`txnNumber` outside a transaction) at most once per session and
/// transaction number: a retry of the session's last write answers with the stored reply.
fn run_retryable(
    state: &State,
    command: &Command,
    req: &Request,
    slot: Option<crate::sessions::RetrySlot>,
    txn_number: i64,
) -> Result<Document> {
    if state.config.standalone {
        return Err(Error::new(
            20,
            "Transaction numbers are only allowed on a replica set member or mongos",
        ));
    }
    if !RETRYABLE_WRITES.contains(&command.name) {
        return Err(Error::new(
            50768,
            format!(
                "txnNumber may only be provided for multi-document transactions and retryable write commands. autocommit:false was not provided, and {} is not a retryable write command.",
                command.name
            ),
        ));
    }
    let slot = slot.ok_or_else(|| {
        Error::new(
            72,
            "Transaction number requires a session ID to also be specified",
        )
    })?;
    // A caller that may not wait (see `inline.rs`) does not wait for its session's slot
    // either: another command of the same session may hold it for long.
    let mut record = if req.storage.waits_for_writer() {
        slot.lock().unwrap_or_else(|p| p.into_inner())
    } else {
        match slot.try_lock() {
            Ok(record) => record,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                return Err(outpost_storage::Error::WriterBusy.into())
            }
        }
    };
    if let Some(last) = record.as_ref() {
        if last.txn_number == txn_number {
            return Ok(last.reply.clone());
        }
        if last.txn_number > txn_number {
            return Err(Error::new(
                225,
                format!(
                    "Retryable write with txnNumber {txn_number} is prohibited on session because a newer retryable write with txnNumber {} has already started on this session.",
                    last.txn_number
                ),
            ));
        }
    }
    let reply = (command.run)(state, req)?;
    *record = Some(crate::sessions::RetryRecord {
        txn_number,
        reply: reply.clone(),
    });
    Ok(reply)
}

/// The reply body for a write command that asked for durability: flushes first.
pub fn flush_if_requested(state: &State, body: &Document) -> Result<()> {
    if crate::args::wants_durability(body) {
        state.storage.flush()?;
        crate::metrics::Metrics::add(&state.metrics.flushes_before_reply, 1);
    }
    Ok(())
}

/// `{n: ..., ok: 1}`-style helper for counts that must fit MongoDB's int32 fields.
pub fn count_i32(n: u64) -> Bson {
    match i32::try_from(n) {
        Ok(v) => Bson::Int32(v),
        Err(_) => Bson::Int64(i64::try_from(n).unwrap_or(i64::MAX)),
    }
}

/// An empty reply (`{}`; `ok: 1` is added by dispatch).
pub fn ok() -> Document {
    doc! {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The map finds what a scan of the table finds: each name and alias, first claim wins.
    #[test]
    fn every_command_is_found_by_its_names() {
        for command in COMMANDS {
            for name in std::iter::once(command.name).chain(command.aliases.iter().copied()) {
                let scanned = COMMANDS
                    .iter()
                    .copied()
                    .find(|c| c.name == name || c.aliases.contains(&name))
                    .expect("in the table");
                let found = find_command(name).expect("found");
                assert!(std::ptr::eq(found, scanned), "{name}");
            }
        }
        assert!(find_command("noSuchCommand").is_none());
        assert!(find_command("").is_none());
    }
}
