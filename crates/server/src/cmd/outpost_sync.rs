//! The sync protocol's commands on the hub (`outpostSyncRegister`, `outpostSyncUpload`,
//! `outpostSyncDownload`, `outpostSyncSnapshot`), and `outpostSyncStatus` on an edge.

use bson::{doc, Bson, Document};
use outpost_sync::protocol::{read_str, read_u64, Change, DOWNLOAD, REGISTER, SNAPSHOT, UPLOAD};

use super::outpost_hub::{hub, sync_error};
use super::{Command, Counter, Request};
use crate::error::{Error, Result};
use crate::state::State;

pub static REGISTER_COMMAND: Command = Command {
    name: REGISTER,
    aliases: &[],
    help: "hub: exchanges a one-time registration key for an API key",
    admin_only: true,
    counter: Counter::Command,
    run: register,
};

pub static UPLOAD_COMMAND: Command = Command {
    name: UPLOAD,
    aliases: &[],
    help: "hub: applies a batch of an edge's changes and acknowledges it",
    admin_only: true,
    counter: Counter::Command,
    run: upload,
};

pub static DOWNLOAD_COMMAND: Command = Command {
    name: DOWNLOAD,
    aliases: &[],
    help: "hub: the hub's changes after a sequence that match the edge's query",
    admin_only: true,
    counter: Counter::Command,
    run: download,
};

pub static SNAPSHOT_COMMAND: Command = Command {
    name: SNAPSHOT,
    aliases: &[],
    help: "hub: a page of every document the edge's query matches",
    admin_only: true,
    counter: Counter::Command,
    run: snapshot,
};

pub static STATUS_COMMAND: Command = Command {
    name: "outpostSyncStatus",
    aliases: &[],
    help: "edge: sync state (connected, last sync, backlog, lag, skipped documents, query)",
    admin_only: false,
    counter: Counter::Command,
    run: status,
};

fn protocol(error: outpost_sync::Error) -> Error {
    sync_error(error)
}

fn register(state: &State, req: &Request) -> Result<Document> {
    let key = read_str(req.body, "registrationKey").map_err(protocol)?;
    hub(state)?.register(key).map_err(sync_error)
}

fn upload(state: &State, req: &Request) -> Result<Document> {
    let api_key = read_str(req.body, "apiKey").map_err(protocol)?;
    let last_seq = read_u64(req.body, "lastSeq").map_err(protocol)?;
    let changes = req
        .body
        .get_array("changes")
        .map_err(|_| Error::type_mismatch("'changes' must be an array"))?
        .iter()
        .map(|change| match change {
            Bson::Document(change) => Change::from_document(change).map_err(protocol),
            _ => Err(Error::type_mismatch("each change must be a document")),
        })
        .collect::<Result<Vec<_>>>()?;
    hub(state)?
        .upload(api_key, &changes, last_seq)
        .map_err(sync_error)
}

fn download(state: &State, req: &Request) -> Result<Document> {
    let api_key = read_str(req.body, "apiKey").map_err(protocol)?;
    let after = read_u64(req.body, "after").map_err(protocol)?;
    let limit = read_u64(req.body, "limit").unwrap_or(500);
    hub(state)?
        .download(api_key, after, usize::try_from(limit).unwrap_or(500))
        .map_err(sync_error)
}

fn snapshot(state: &State, req: &Request) -> Result<Document> {
    let api_key = read_str(req.body, "apiKey").map_err(protocol)?;
    let limit = read_u64(req.body, "limit").unwrap_or(500);
    let position = req.body.get_document("position").ok();
    hub(state)?
        .snapshot(api_key, position, usize::try_from(limit).unwrap_or(500))
        .map_err(sync_error)
}

fn status(state: &State, _req: &Request) -> Result<Document> {
    let mut reply = match &state.sync_status {
        Some(status) => {
            let status = status.lock().unwrap_or_else(|p| p.into_inner());
            status.to_document()
        }
        None => doc! {"state": "not configured", "connected": false},
    };
    reply.insert("hub", state.config.hub.clone().map_or(Bson::Null, Bson::String));
    reply.insert("isHub", state.hub.is_some());
    Ok(reply)
}
