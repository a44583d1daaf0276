//! The sync protocol's commands on the hub (`outpostSyncHello`, `outpostSyncUpload`,
//! `outpostSyncDownload`, `outpostSyncSnapshot`), and `outpostSyncStatus` on an edge. The hub
//! keeps each connection's [`outpost_sync::SyncSession`] (the edge its hello bound it to) in
//! the connection's `ConnInfo::sync`.

use bson::{doc, Bson, Document};
use outpost_sync::protocol::{DOWNLOAD, HELLO, REPORT, SNAPSHOT, UPLOAD};

use super::outpost_hub::{hub, sync_error};
use super::{Action, Command, Counter, Request};
use crate::error::Result;
use crate::state::{ConnInfo, State};

pub static HELLO_COMMAND: Command = Command {
    name: HELLO,
    aliases: &[],
    help: "hub: binds the connection to an edge {apiKey} (or registers it {registrationKey}, \
           answering its API key); first on every sync connection",
    admin_only: true,
    action: Action::Sync,
    counter: Counter::Command,
    run: run_on_hub,
};

pub static UPLOAD_COMMAND: Command = Command {
    name: UPLOAD,
    aliases: &[],
    help: "hub: applies a batch of an edge's changes and acknowledges it",
    admin_only: true,
    action: Action::Sync,
    counter: Counter::Command,
    run: run_on_hub,
};

pub static DOWNLOAD_COMMAND: Command = Command {
    name: DOWNLOAD,
    aliases: &[],
    help: "hub: the hub's changes after a sequence that match the edge's query",
    admin_only: true,
    action: Action::Sync,
    counter: Counter::Command,
    run: run_on_hub,
};

pub static SNAPSHOT_COMMAND: Command = Command {
    name: SNAPSHOT,
    aliases: &[],
    help: "hub: a page of every document the edge's query matches",
    admin_only: true,
    action: Action::Sync,
    counter: Counter::Command,
    run: run_on_hub,
};

pub static REPORT_COMMAND: Command = Command {
    name: REPORT,
    aliases: &[],
    help: "hub: the bound edge's metrics and log records {metrics, logs}",
    admin_only: true,
    action: Action::Sync,
    counter: Counter::Command,
    run: run_on_hub,
};

pub static RESET_COMMAND: Command = Command {
    name: outpost_sync::hub::RESET,
    aliases: &[],
    help: "hub: the bound edge, required to reset, has kept its unsynced changes and downloads \
           afresh; answers {query, queryVersion}",
    admin_only: true,
    action: Action::Sync,
    counter: Counter::Command,
    run: run_on_hub,
};

pub static STATUS_COMMAND: Command = Command {
    name: "outpostSyncStatus",
    aliases: &[],
    help: "edge: sync state (connected, last sync, backlog, lag, skipped documents, query)",
    admin_only: false,
    action: Action::Sync,
    counter: Counter::Command,
    run: status,
};

/// The four protocol commands share one handler in the sync crate, with the connection's sync
/// session (not held locked while a download waits: a connection runs one request at a time).
fn run_on_hub(state: &State, req: &Request) -> Result<Document> {
    run_on_hub_owned(state, req.conn, req.body.clone())
}

/// [`run_on_hub`] of a command the dispatcher hands over (an upload: its documents are moved
/// into the hub's batch, not copied).
pub(super) fn run_on_hub_owned(
    state: &State,
    conn: &ConnInfo,
    mut command: Document,
) -> Result<Document> {
    let hub = hub(state)?;
    command.remove("$db");
    let lock = || conn.sync.lock().unwrap_or_else(|p| p.into_inner());
    let mut session = lock().clone();
    let reply = hub.handle_owned(&mut session, command);
    *lock() = session;
    reply.map_err(sync_error)
}

fn status(state: &State, _req: &Request) -> Result<Document> {
    Ok(status_document(state))
}

/// The sync status of this server, for `outpostSyncStatus` and `serverStatus.sync`.
pub(super) fn status_document(state: &State) -> Document {
    let mut reply = match &state.sync_status {
        Some(status) => {
            let status = status.lock().unwrap_or_else(|p| p.into_inner());
            status.to_document()
        }
        None => doc! {"state": "not configured", "connected": false},
    };
    reply.insert(
        "hub",
        state.config.hub.clone().map_or(Bson::Null, Bson::String),
    );
    reply.insert("isHub", state.hub.is_some());
    reply
}
