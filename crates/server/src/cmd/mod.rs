//! Command dispatch: one module per command, and the table that names them.
//!
//! A command receives the request body (document sequences already folded in as arrays),
//! its database and the connection, and returns the reply body or an error; [`dispatch`]
//! adds `ok: 1` or turns the error into MongoDB's error reply.

use bson::{doc, Bson, Document};

use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::state::{ConnInfo, State};

mod aggregate;
mod build_info;
mod coll_mod;
mod coll_stats;
mod configure_fail_point;
mod connection_status;
mod convert_to_capped;
mod count;
mod create;
mod create_indexes;
mod cursor_reply;
mod db_stats;
mod delete;
mod distinct;
mod drop;
mod drop_database;
mod drop_indexes;
mod end_sessions;
mod explain;
mod find;
mod find_and_modify;
mod get_cmd_line_opts;
mod get_log;
mod get_more;
mod get_parameter;
mod hello;
mod host_info;
mod insert;
mod kill_cursors;
mod kill_sessions;
mod list_collections;
mod list_commands;
mod list_databases;
mod list_indexes;
mod outpost_hub;
mod outpost_sync;
mod ping;
mod profile;
mod rename_collection;
mod server_status;
mod update;
mod validate;
mod views;
mod whats_my_uri;

/// One request to run.
pub struct Request<'a> {
    pub db: &'a str,
    pub body: &'a Document,
    pub conn: &'a ConnInfo,
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
    pub counter: Counter,
    pub run: fn(&State, &Request) -> Result<Document>,
}

/// Every command Outpost implements.
pub static COMMANDS: &[&Command] = &[
    &aggregate::COMMAND,
    &build_info::COMMAND,
    &coll_mod::COMMAND,
    &coll_stats::COMMAND,
    &configure_fail_point::COMMAND,
    &connection_status::COMMAND,
    &convert_to_capped::COMMAND,
    &count::COMMAND,
    &create::COMMAND,
    &create_indexes::COMMAND,
    &db_stats::COMMAND,
    &delete::COMMAND,
    &distinct::COMMAND,
    &drop::COMMAND,
    &drop_database::COMMAND,
    &drop_indexes::COMMAND,
    &end_sessions::COMMAND,
    &explain::COMMAND,
    &find::COMMAND,
    &find_and_modify::COMMAND,
    &get_cmd_line_opts::COMMAND,
    &get_log::COMMAND,
    &get_more::COMMAND,
    &get_parameter::COMMAND,
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
    &outpost_hub::CREATE_EDGE_COMMAND,
    &outpost_hub::LIST_EDGES_COMMAND,
    &outpost_hub::SET_EDGE_QUERY_COMMAND,
    &outpost_hub::DELETE_EDGE_COMMAND,
    &outpost_sync::DOWNLOAD_COMMAND,
    &outpost_sync::REGISTER_COMMAND,
    &outpost_sync::SNAPSHOT_COMMAND,
    &outpost_sync::STATUS_COMMAND,
    &outpost_sync::UPLOAD_COMMAND,
    &ping::COMMAND,
    &profile::COMMAND,
    &rename_collection::COMMAND,
    &server_status::COMMAND,
    &update::COMMAND,
    &validate::COMMAND,
    &whats_my_uri::COMMAND,
];

pub fn find_command(name: &str) -> Option<&'static Command> {
    COMMANDS
        .iter()
        .copied()
        .find(|c| c.name == name || c.aliases.contains(&name))
}

/// Fields any command may carry that Outpost reads elsewhere or may ignore safely.
const TRANSACTION_FIELDS: &[&str] = &["txnNumber", "startTransaction", "autocommit"];

/// What the connection does with a command's outcome.
pub enum Reply {
    Document(Document),
    /// A test fail point asked to drop the connection without replying.
    CloseConnection,
}

/// Runs one command and returns the reply body: `{..., ok: 1}` or an error reply.
pub fn dispatch(state: &State, conn: &ConnInfo, db: &str, body: &Document) -> Reply {
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
            return Reply::Document(reply);
        }
    }
    let started = std::time::Instant::now();
    let mut reply = match run(state, conn, db, body) {
        Ok(mut reply) => {
            if !reply.contains_key("ok") {
                reply.insert("ok", 1.0);
            }
            reply
        }
        Err(e) => {
            tracing::debug!(db, error = %e, code = e.code(), "command failed");
            e.to_reply()
        }
    };
    if let Some(wce) = fail.and_then(|a| a.write_concern_error) {
        reply.insert("writeConcernError", wce);
    }
    state
        .profiler
        .after_command(state, conn, db, body, &reply, started.elapsed());
    Reply::Document(reply)
}

fn run(state: &State, conn: &ConnInfo, db: &str, body: &Document) -> Result<Document> {
    let Some(name) = body.keys().next() else {
        return Err(Error::failed_to_parse("Empty command object"));
    };
    let Some(command) = find_command(name) else {
        Metrics::add(&state.metrics.op_command, 1);
        return Err(Error::new(59, format!("no such command: '{name}'")));
    };
    crate::stable_api::check(command.name, body)?;
    if TRANSACTION_FIELDS.iter().any(|f| body.contains_key(*f)) {
        return Err(Error::new(
            20,
            "Transaction numbers are only allowed on a replica set member or mongos: Outpost does not support transactions",
        ));
    }
    if command.admin_only && db != "admin" {
        return Err(Error::new(
            13,
            format!(
                "{} may only be run against the admin database.",
                command.name
            ),
        ));
    }
    outpost_storage::validate_db_name(db).map_err(Error::from)?;
    match command.counter {
        Counter::Command => Metrics::add(&state.metrics.op_command, 1),
        Counter::Query => Metrics::add(&state.metrics.op_query, 1),
        Counter::GetMore => Metrics::add(&state.metrics.op_getmore, 1),
        Counter::None => {}
    }
    if let Ok(lsid) = body.get_document("lsid") {
        state.sessions.touch(lsid);
    }
    let request = Request { db, body, conn };
    (command.run)(state, &request)
}

/// The reply body for a write command that asked for durability: flushes first.
pub fn flush_if_requested(state: &State, body: &Document) -> Result<()> {
    if crate::args::wants_durability(body) {
        state.storage.flush()?;
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
