//! The edge's side of sync: registration, upload of the history log from a persisted cursor,
//! download of the hub's changes, query changes, and the status an operator sees.
//!
//! The engine is synchronous and written against [`Link`] (send one command, get its reply), so
//! it runs the same over TCP (the server crate's link) and in-process in tests. One
//! [`EdgeSync::sync_once`] call registers if needed, uploads until the backlog is empty, then
//! downloads until caught up. The caller loops with backoff on errors.
//!
//! Persistent state (see [`state`]): the identity (edge id, API key) in an owner-only file,
//! the progress (query, cursors) as a record committed with the data it describes. The upload
//! cursor advances only after the hub's acknowledgement; the download cursor commits in the
//! same batch as the downloaded changes it covers.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use bson::{doc, Bson, DateTime, Document};
use outpost_storage::{Origin, Storage};

use crate::error::{Error, Result};
use crate::id_rules::{check_id, ServiceType};
use crate::instance_query::{InstanceQuery, QueryMatch};
use crate::protocol::messages;
use crate::protocol::{
    check_peer_version, message_version, split_namespace, u64_to_i64, ProtocolVersion,
    MAX_BATCH_BYTES, MAX_BATCH_COUNT,
};

pub use reset::{RECOVERY_COLLECTION, RECOVERY_DATABASE};
pub use state::STATE_FILE_NAME;
use state::{EdgeState, Identity, Progress, StateStore};
pub use upload::PreparedUpload;
use upload::UploadBatch;
/// The origin under which the edge applies the hub's changes.
pub const HUB_ORIGIN: &str = "hub";
/// Upload batches per sync round before the round turns to downloading.
const UPLOAD_BATCHES_PER_ROUND: usize = 20;

/// One connection to the hub. `call` sends a command document (its first key is the command
/// name) and returns the reply body; an `{ok: 0}` reply is an error carrying the hub's code and
/// message. The hub binds a connection to one edge when its `outpostSyncHello` succeeds; the
/// link remembers which (`bound_edge`), so the engine says hello once per connection.
pub trait Link {
    fn call(&mut self, command: Document) -> Result<Document>;
    /// The edge id this connection's hello bound it to (`None` on a new connection).
    fn bound_edge(&self) -> Option<&str>;
    /// Records that the hub bound this connection to `edge_id`.
    fn set_bound_edge(&mut self, edge_id: String);
    /// Whether this link pipelines: [`Link::send`] sends a command without waiting for its
    /// reply, and [`Link::receive`] reads the replies in the order sent. A snapshot then asks
    /// for its next page before it applies the one it has, so the hub reads a page while the
    /// edge writes the previous one.
    fn pipelines(&self) -> bool {
        false
    }
    /// Sends a command without waiting for its reply (only when [`Link::pipelines`]).
    fn send(&mut self, _command: Document) -> Result<()> {
        Err(Error::Link(
            "this link answers one request at a time".into(),
        ))
    }
    /// The reply to the oldest command sent and not yet answered.
    fn receive(&mut self) -> Result<Document> {
        Err(Error::Link(
            "this link answers one request at a time".into(),
        ))
    }
}

/// How the edge syncs.
#[derive(Debug, Clone)]
pub struct EdgeOptions {
    /// Where [`STATE_FILE_NAME`] lives; `None` keeps the state in memory (temporary databases).
    pub state_dir: Option<PathBuf>,
    /// The one-time key to register with when no API key is stored yet.
    pub registration_key: Option<String>,
    pub batch_count: usize,
    pub batch_bytes: usize,
    /// What the edge tells the hub about itself in each hello (`hostname`, `packageVersion`;
    /// optional fields of protocol 3.0, shown by the hub's Admin API).
    pub hostname: Option<String>,
    pub package_version: Option<String>,
}

impl Default for EdgeOptions {
    fn default() -> EdgeOptions {
        EdgeOptions {
            state_dir: None,
            registration_key: None,
            batch_count: MAX_BATCH_COUNT,
            batch_bytes: MAX_BATCH_BYTES,
            hostname: None,
            package_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        }
    }
}

/// What `outpostSyncStatus` shows.
#[derive(Debug, Clone, Default)]
pub struct SyncStatus {
    pub edge_id: Option<String>,
    pub connected: bool,
    pub last_success: Option<DateTime>,
    pub last_error: Option<String>,
    /// The hub refused the edge's credentials; sync stopped, local service continues.
    pub failed: bool,
    pub upload_backlog_entries: u64,
    pub upload_backlog_bytes: u64,
    pub download_lag_entries: u64,
    pub uploaded: u64,
    pub downloaded: u64,
    /// The last local history sequence the hub acknowledged: older history is no longer needed
    /// by sync (see `Storage::trim_history`).
    pub upload_cursor: u64,
    pub skipped: BTreeMap<String, u64>,
    pub query: Option<Document>,
    /// Bytes on the wire to and from the hub, counted by the server's links.
    pub link_bytes: Arc<crate::LinkBytes>,
    /// Exchanges with the hub that succeeded and failed (counted by the server's sync task).
    pub requests_succeeded: u64,
    pub requests_failed: u64,
    /// The instance's status as the hub sees it (`active`, `failed`...) and why it failed,
    /// from the hub's answer to the edge's last report.
    pub hub_status: Option<(String, Option<String>)>,
    /// Local copies of ingested documents removed after their retention.
    pub ingest_dropped: u64,
    /// The edge's last reset (see [`reset`]): when it finished, why, and how many unsynced
    /// changes were kept in the recovery collection and re-applied.
    pub last_reset: Option<ResetSummary>,
}

/// What the edge's last reset did.
#[derive(Debug, Clone)]
pub struct ResetSummary {
    pub finished: DateTime,
    pub reason: String,
    pub kept: u64,
    pub reapplied: u64,
}

impl SyncStatus {
    pub fn to_document(&self) -> Document {
        let skipped: Document = self
            .skipped
            .iter()
            .map(|(reason, count)| (reason.clone(), Bson::Int64(u64_to_i64(*count))))
            .collect();
        doc! {
            "edgeId": self.edge_id.clone().map_or(Bson::Null, Bson::String),
            "state": if self.failed { "failed" } else if self.connected { "active" } else { "disconnected" },
            "connected": self.connected,
            "lastSuccessfulSync": self.last_success.map_or(Bson::Null, Bson::DateTime),
            "lastError": self.last_error.clone().map_or(Bson::Null, Bson::String),
            "uploadBacklogEntries": u64_to_i64(self.upload_backlog_entries),
            "uploadBacklogBytes": u64_to_i64(self.upload_backlog_bytes),
            "downloadLagEntries": u64_to_i64(self.download_lag_entries),
            "uploadedChanges": u64_to_i64(self.uploaded),
            "downloadedChanges": u64_to_i64(self.downloaded),
            "skipped": skipped,
            "ingestDropped": u64_to_i64(self.ingest_dropped),
            "query": self.query.clone().map_or(Bson::Null, Bson::Document),
            "bytesSent": u64_to_i64(self.link_bytes.sent()),
            "bytesReceived": u64_to_i64(self.link_bytes.received()),
            "requestsSucceeded": u64_to_i64(self.requests_succeeded),
            "requestsFailed": u64_to_i64(self.requests_failed),
            "hubStatus": self.hub_status.as_ref().map_or(Bson::Null, |(status, reason)| {
                Bson::Document(doc! {
                    "status": status,
                    "reason": reason.clone().map_or(Bson::Null, Bson::String),
                })
            }),
            "lastReset": self.last_reset.as_ref().map_or(Bson::Null, |reset| {
                Bson::Document(doc! {
                    "finished": reset.finished,
                    "reason": &reset.reason,
                    "kept": u64_to_i64(reset.kept),
                    "reapplied": u64_to_i64(reset.reapplied),
                    "recoveryNamespace": format!("{RECOVERY_DATABASE}.{RECOVERY_COLLECTION}"),
                })
            }),
        }
    }
}

/// The edge's sync engine.
pub struct EdgeSync {
    storage: Storage,
    options: EdgeOptions,
    store: StateStore,
    state: Option<EdgeState>,
    status: Arc<Mutex<SyncStatus>>,
    /// The current query and service, shared with the write guard.
    scope: Arc<RwLock<Option<SyncScope>>>,
    logged_skips: HashSet<(String, Vec<u8>, &'static str)>,
    /// Uploads the hub acknowledged so far (see [`EdgeSync::apply_download`]).
    uploads_acknowledged: u64,
    /// `uploads_acknowledged` when the download request out now was made.
    download_requested_after: u64,
    /// The hub's protocol version, from its answer to this edge's last hello: updates are
    /// uploaded as field deltas only to a hub that takes them.
    hub_version: Option<ProtocolVersion>,
    /// Documents the hub asked for whole (`needFull`: it does not hold them, so a delta of
    /// them cannot apply); their next upload carries the whole document.
    send_whole: HashSet<(String, Vec<u8>)>,
}

/// What the edge syncs right now.
struct SyncScope {
    query: InstanceQuery,
    service: ServiceType,
}

impl SyncScope {
    fn of(state: &EdgeState) -> Option<SyncScope> {
        match InstanceQuery::parse(&state.progress.query, &state.identity.default_db) {
            Ok(query) => Some(SyncScope {
                query,
                service: state.identity.service,
            }),
            Err(error) => {
                tracing::error!(error = %error, "the stored instance query does not parse");
                None
            }
        }
    }

    /// Refuses a local write into a synced collection that the query does not sync.
    fn check(&self, ns: &str, old: Option<&Document>, new: &Document) -> Result<(), String> {
        let Ok((db, coll)) = split_namespace(ns) else {
            return Ok(());
        };
        if !self.query.is_synced(db, coll) {
            return Ok(());
        }
        let refuse = |why: String| {
            Err(format!(
                "cannot write to {ns}: {why}; this collection is synced with the hub and \
                 write_outside_query is \"reject\" (set it to \"local\" to keep such \
                 documents local-only)"
            ))
        };
        if let Err(reason) = check_id(self.service, new) {
            return refuse(reason.to_string());
        }
        match self.query.matches(db, coll, new) {
            Ok(QueryMatch::Matches) | Ok(QueryMatch::NotSynced) => Ok(()),
            Ok(QueryMatch::DoesNotMatch) => {
                let was_synced = old.is_some_and(|old| {
                    self.query.matches(db, coll, old).ok() == Some(QueryMatch::Matches)
                });
                let filter = self.query.filter_for(db, coll).cloned().unwrap_or_default();
                if was_synced {
                    refuse(format!(
                        "the update moves the document out of the instance query {filter}"
                    ))
                } else {
                    refuse(format!(
                        "the document does not match the instance query {filter}"
                    ))
                }
            }
            Err(error) => refuse(format!("the instance query cannot be evaluated: {error}")),
        }
    }
}

impl EdgeSync {
    /// Loads the stored state, if any.
    pub fn new(storage: Storage, options: EdgeOptions) -> Result<EdgeSync> {
        let store = StateStore::new(&storage, options.state_dir.as_deref())?;
        let state = store.load()?;
        let status = SyncStatus {
            edge_id: state.as_ref().map(|s| s.identity.edge_id.clone()),
            query: state.as_ref().map(|s| s.progress.query.clone()),
            upload_cursor: state.as_ref().map_or(0, |s| s.progress.upload_cursor),
            ..SyncStatus::default()
        };
        let scope = state.as_ref().and_then(SyncScope::of);
        Ok(EdgeSync {
            storage,
            options,
            store,
            state,
            status: Arc::new(Mutex::new(status)),
            scope: Arc::new(RwLock::new(scope)),
            logged_skips: HashSet::new(),
            uploads_acknowledged: 0,
            download_requested_after: 0,
            hub_version: None,
            send_whole: HashSet::new(),
        })
    }

    /// A storage write guard that refuses local writes into synced collections that the
    /// current instance query does not sync (`write_outside_query = "reject"`). It follows
    /// query changes; before registration (no query known yet) it lets every write through.
    pub fn write_guard(&self) -> outpost_storage::WriteGuard {
        let scope = self.scope.clone();
        Arc::new(move |ns: &str, old: Option<&Document>, new: &Document| {
            let scope = scope.read().unwrap_or_else(|p| p.into_inner());
            match scope.as_ref() {
                Some(scope) => scope
                    .check(ns, old, new)
                    .map_err(|message| outpost_storage::Error::coded(2, message)),
                None => Ok(()),
            }
        })
    }

    /// The live status, shared with the `outpostSyncStatus` command.
    pub fn status(&self) -> Arc<Mutex<SyncStatus>> {
        self.status.clone()
    }

    fn update_status(&self, f: impl FnOnce(&mut SyncStatus)) {
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut status);
    }

    /// Records a failed round in the status (the caller decides about retrying).
    pub fn record_error(&self, error: &Error) {
        let fatal = error.is_fatal();
        let (backlog, backlog_bytes) = self.upload_backlog();
        self.update_status(|s| {
            s.upload_backlog_entries = backlog;
            s.upload_backlog_bytes = backlog_bytes;
            s.connected = false;
            s.last_error = Some(error.to_string());
            s.failed |= fatal;
            if fatal {
                // Refused by the hub: that is the hub's view of this instance now.
                s.hub_status = Some(("failed".into(), Some(error.to_string())));
            }
        });
    }

    /// One full round: register if needed, upload the whole backlog, download until caught up.
    pub fn sync_once(&mut self, link: &mut dyn Link) -> Result<()> {
        self.upload_all(link)?;
        self.download_all(link)?;
        self.record_success();
        self.refresh_backlog();
        Ok(())
    }

    /// Says hello (registering if needed), then uploads a bounded number of batches (so that a
    /// busy edge still downloads).
    pub fn upload_all(&mut self, link: &mut dyn Link) -> Result<()> {
        self.ensure_bound(link)?;
        for _ in 0..UPLOAD_BATCHES_PER_ROUND {
            let cursor = self.state()?.progress.upload_cursor;
            let batch = self.next_upload_batch(cursor)?;
            if batch.last_seq == 0 {
                break;
            }
            self.upload(link, batch)?;
        }
        Ok(())
    }

    /// Says hello (registering if needed), then downloads until caught up with the hub.
    pub fn download_all(&mut self, link: &mut dyn Link) -> Result<()> {
        self.ensure_bound(link)?;
        self.download(link)
    }

    /// Makes sure `link` is bound to this edge at the hub: on a new connection (or one bound to
    /// another edge) sends `outpostSyncHello` with the API key, or registers with the
    /// registration key if this edge has no identity yet. Later requests carry no key.
    pub fn ensure_bound(&mut self, link: &mut dyn Link) -> Result<()> {
        let Some(state) = &self.state else {
            return self.register(link);
        };
        let edge_id = state.identity.edge_id.clone();
        if link.bound_edge() == Some(edge_id.as_str()) {
            // (A reset interrupted on this connection goes on.)
            return self.reset_if_needed(link, None);
        }
        let request = self.hello_request(messages::Hello {
            api_key: Some(state.identity.api_key.clone()),
            ..messages::Hello::default()
        });
        let reply = match link.call(request) {
            Ok(reply) => reply,
            // Re-keyed at the hub and given the new registration key (`--registration-key`
            // on an existing data directory): registers again.
            Err(refused) if refused.is_fatal() && self.options.registration_key.is_some() => {
                tracing::info!(error = %refused, "the hub refused this edge's API key; registering with the configured registration key");
                return self.register(link).map_err(|error| {
                    Error::Unauthorized(format!("{refused}; registering again failed: {error}"))
                });
            }
            Err(error) => return Err(error),
        };
        self.hub_version = Some(check_peer_version(&reply, "hub")?);
        let reply: messages::HelloReply = messages::parse(&reply, "hello reply")?;
        let bound = reply.edge_id.clone();
        if bound != edge_id {
            return Err(Error::protocol(format!(
                "the hub bound this connection to edge {bound}, expected {edge_id}"
            )));
        }
        link.set_bound_edge(edge_id);
        // The hub requires a reset (offline past the window), or one was interrupted.
        self.reset_if_needed(link, reply.reset.map(|reset| reset.reason))
    }

    /// Records a successful exchange with the hub in the status.
    pub fn record_success(&self) {
        self.update_status(|s| {
            s.connected = true;
            s.failed = false;
            s.last_error = None;
            s.last_success = Some(DateTime::now());
        });
    }

    /// Counts the upload backlog for the status: a scan of the history after the upload
    /// cursor, so call it when the backlog is small (after uploading it) or rarely.
    pub fn refresh_backlog(&self) {
        let (backlog, backlog_bytes) = self.upload_backlog();
        self.update_status(|s| {
            s.upload_backlog_entries = backlog;
            s.upload_backlog_bytes = backlog_bytes;
        });
    }

    /// Checks the version of a reply from the hub on a connection whose hello gave
    /// `hub_version` (from 3.3 the hub's later replies leave it out).
    pub(crate) fn check_hub_reply(&self, reply: &Document) -> Result<()> {
        message_version(reply, "hub", self.hub_version).map(|_| ())
    }

    /// A hello with what this edge says about itself.
    fn hello_request(&self, hello: messages::Hello) -> Document {
        messages::request(&messages::Hello {
            hostname: self.options.hostname.clone(),
            package_version: self.options.package_version.clone(),
            ..hello
        })
    }

    fn register(&mut self, link: &mut dyn Link) -> Result<()> {
        let Some(key) = self.options.registration_key.clone() else {
            return Err(Error::Unauthorized(
                "this edge is not registered: start it with --registration-key (a key from \
                 `outpost hub edge create`)"
                    .into(),
            ));
        };
        let reply = link.call(self.hello_request(messages::Hello {
            registration_key: Some(key),
            ..messages::Hello::default()
        }))?;
        self.hub_version = Some(check_peer_version(&reply, "hub")?);
        let reply: messages::HelloReply = messages::parse(&reply, "hello reply")?;
        let missing =
            |field: &str| Error::protocol(format!("a registration reply needs '{field}'"));
        let api_key = reply.api_key.ok_or_else(|| missing("apiKey"))?;
        let edge_id = reply.edge_id;
        if let Some(state) = self
            .state
            .clone()
            .filter(|state| state.identity.edge_id == edge_id)
        {
            // The same instance, re-keyed: a new API key, the same progress.
            let mut state = state;
            state.identity.api_key = api_key;
            tracing::info!(edge = %edge_id, "registered again with the hub (new API key)");
            self.save(state)?;
            link.set_bound_edge(edge_id);
            return Ok(());
        }
        let query = reply.query.ok_or_else(|| missing("query"))?;
        let state = EdgeState {
            identity: Identity {
                edge_id: edge_id.clone(),
                api_key,
                service: reply.service.ok_or_else(|| missing("service"))?.parse()?,
                default_db: reply.default_db.ok_or_else(|| missing("defaultDb"))?,
            },
            progress: Progress {
                query,
                synced_query_version: 0,
                upload_cursor: 0,
                download_cursor: 0,
                reset: None,
            },
        };
        tracing::info!(edge = %state.identity.edge_id, "registered with the hub");
        self.save(state)?;
        link.set_bound_edge(edge_id);
        Ok(())
    }

    /// Stores `state` (the identity file only when the identity changed; the progress record
    /// only when it changed and was not committed with data already, `progress_committed`).
    fn save(&mut self, state: EdgeState) -> Result<()> {
        self.save_with(state, false)
    }

    fn save_with(&mut self, state: EdgeState, progress_committed: bool) -> Result<()> {
        if self.state.as_ref() == Some(&state) {
            // An idle round changes nothing: no write.
            return Ok(());
        }
        if self.state.as_ref().map(|s| &s.identity) != Some(&state.identity) {
            self.store.save_identity(&state.identity)?;
        }
        let progress_changed = self.state.as_ref().map(|s| &s.progress) != Some(&state.progress);
        if progress_changed && !progress_committed {
            self.store.save_progress(&state.progress)?;
        }
        let query_changed = self
            .state
            .as_ref()
            .map(|s| (&s.progress.query, s.identity.service))
            != Some((&state.progress.query, state.identity.service));
        if query_changed {
            *self.scope.write().unwrap_or_else(|p| p.into_inner()) = SyncScope::of(&state);
        }
        let (id, query) = (state.identity.edge_id.clone(), state.progress.query.clone());
        self.update_status(|s| {
            s.edge_id = Some(id);
            s.query = Some(query);
        });
        self.state = Some(state);
        Ok(())
    }

    fn state(&self) -> Result<&EdgeState> {
        self.state
            .as_ref()
            .ok_or_else(|| Error::Unauthorized("this edge is not registered".into()))
    }

    /// Local changes after the upload cursor (changes applied from the hub do not count):
    /// (entries, bytes of their documents).
    fn upload_backlog(&self) -> (u64, u64) {
        let cursor = self.state.as_ref().map_or(0, |s| s.progress.upload_cursor);
        let (mut entries, mut bytes) = (0_u64, 0_u64);
        for entry in self
            .storage
            .history_from(cursor.saturating_add(1))
            .flatten()
        {
            if entry.origin == Origin::Local {
                entries += 1;
                let size = entry
                    .doc
                    .as_ref()
                    .and_then(|doc| bson::to_vec(doc).ok())
                    .map_or(0, |b| b.len());
                bytes += u64::try_from(size).unwrap_or(0);
            }
        }
        (entries, bytes)
    }
}

mod download;
mod ingest;
mod reset;
mod snapshot;
mod state;
mod upload;

pub use ingest::{INGEST_LOCAL_ONLY, RETENTION_ORIGIN, RETENTION_PASS_LIMIT};

#[cfg(test)]
mod tests;
