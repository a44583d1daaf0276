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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use bson::{doc, Bson, DateTime, Document};
use outpost_storage::value::keyenc;
use outpost_storage::{HistoryOp, Origin, RemoteBatch, Storage};

use crate::delta::field_delta;
use crate::error::{Error, Result};
use crate::id_rules::{check_id, ServiceType};
use crate::instance_query::{is_internal_namespace, InstanceQuery, QueryMatch};
use crate::merge::{incoming_wins_at_edge, LocalOp, Stamp};
use crate::protocol::messages;
use crate::protocol::{
    check_peer_version, check_received_change, message_version, split_namespace, u64_to_i64,
    Change, Op, ProtocolVersion, Update, DELTAS_SINCE, INCOMPATIBLE_PROTOCOL, MAX_BATCH_BYTES,
    MAX_BATCH_COUNT, TIMESERIES_SINCE,
};

pub use reset::{RECOVERY_COLLECTION, RECOVERY_DATABASE};
pub use state::STATE_FILE_NAME;
use state::{EdgeState, Identity, Ingested, Progress, StateStore};
/// The origin under which the edge applies the hub's changes.
pub const HUB_ORIGIN: &str = "hub";
/// History entries one upload batch examines at most (most may be skipped).
const UPLOAD_SCAN_LIMIT: usize = 10_000;
/// Upload batches per sync round before the round turns to downloading.
const UPLOAD_BATCHES_PER_ROUND: usize = 20;
/// How many skipped documents are remembered to log each only once.
const LOGGED_SKIPS_LIMIT: usize = 100_000;

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

/// Local changes not yet uploaded: (namespace, encoded `_id`) -> (clock, what they did).
type PendingChanges = HashMap<(String, Vec<u8>), (u64, LocalOp)>;

/// The pending local changes found by scanning the history log up to `scanned`. A snapshot
/// keeps one across its pages and scans only what was written since (the upload cursor does
/// not move meanwhile: the engine is held), instead of the whole backlog, its earlier pages
/// included, for each page.
struct PendingScan {
    scanned: u64,
    changes: PendingChanges,
}

impl PendingScan {
    /// Nothing scanned yet after the upload cursor.
    fn after(upload_cursor: u64) -> PendingScan {
        PendingScan {
            scanned: upload_cursor,
            changes: PendingChanges::new(),
        }
    }
}

/// What one upload pass chose from the history log.
#[derive(Debug, Default)]
struct UploadBatch {
    changes: Vec<Change>,
    /// The upload cursor this batch starts after.
    from_seq: u64,
    /// The last sequence examined: the cursor after this batch is acknowledged.
    last_seq: u64,
    /// The time-series collections whose buckets the changes carry, with their options.
    timeseries: Vec<messages::TimeseriesCollection>,
    /// Where each bucket's change is in `changes`: a bucket written again in the same batch
    /// is sent once, as it is last.
    buckets: HashMap<(String, Vec<u8>), usize>,
}

/// An upload batch chosen by [`EdgeSync::prepare_upload`], and the request that sends it
/// (`None` when it only moves the cursor past skipped entries).
pub struct PreparedUpload {
    batch: UploadBatch,
    pub request: Option<Document>,
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

    /// Chooses the next upload batch: `None` when nothing is left after the upload cursor.
    /// The caller sends its request (if any) and gives the answer to
    /// [`Self::complete_upload`] before applying any download answered after it.
    pub fn prepare_upload(&mut self) -> Result<Option<PreparedUpload>> {
        let cursor = self.state()?.progress.upload_cursor;
        self.prepare_upload_from(cursor)
    }

    /// Chooses the batch after `previous`, while `previous` is still in flight (pipelining:
    /// the history is read while the hub applies the batch before). Use it only if the answer
    /// to `previous` moves the cursor to its end ([`Self::complete_upload`] says so), and
    /// within the same hold of the engine (a query change in between would make it stale).
    pub fn prepare_upload_after(
        &mut self,
        previous: &PreparedUpload,
    ) -> Result<Option<PreparedUpload>> {
        self.prepare_upload_from(previous.batch.last_seq)
    }

    fn prepare_upload_from(&mut self, cursor: u64) -> Result<Option<PreparedUpload>> {
        let batch = self.next_upload_batch(cursor)?;
        if batch.last_seq == 0 {
            return Ok(None);
        }
        let request = self.upload_request(&batch)?;
        Ok(Some(PreparedUpload { batch, request }))
    }

    /// Takes the hub's answer to a prepared upload (`None` when it had no request). Returns
    /// whether the upload cursor moved past the batch (else, the hub asked for some documents
    /// whole, and the next batch is the same entries again).
    pub fn complete_upload(
        &mut self,
        prepared: PreparedUpload,
        reply: Option<&Document>,
    ) -> Result<bool> {
        let last_seq = prepared.batch.last_seq;
        self.finish_upload(prepared.batch, reply)?;
        Ok(self.state()?.progress.upload_cursor >= last_seq)
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

    fn count_skip(
        &mut self,
        ns: &str,
        id: &Bson,
        reason: &'static str,
        detail: &dyn std::fmt::Display,
        log: bool,
    ) {
        self.update_status(|s| *s.skipped.entry(reason.to_string()).or_default() += 1);
        if !log {
            return;
        }
        let key = (
            ns.to_string(),
            outpost_storage::value::keyenc::encode(id),
            reason,
        );
        if self.logged_skips.len() >= LOGGED_SKIPS_LIMIT {
            self.logged_skips.clear();
        }
        if self.logged_skips.insert(key) {
            tracing::warn!(ns, id = %id, reason, "not synced: {detail}");
        }
    }

    /// Chooses the next batch from the history log after the upload cursor. Skipped entries
    /// are counted (and logged once per document) and still move the cursor.
    fn next_upload_batch(&mut self, cursor: u64) -> Result<UploadBatch> {
        let state = self.state()?.clone();
        let query = InstanceQuery::parse(&state.progress.query, &state.identity.default_db)?;
        let mut batch = UploadBatch {
            from_seq: cursor,
            ..UploadBatch::default()
        };
        let mut bytes = 0;
        let deltas = self.hub_version.is_some_and(|v| v >= DELTAS_SINCE);
        // Entries are read one at a time; the changes of the hub (downloaded, never uploaded)
        // are skipped cheaply, so a large download does not hold back the local writes after
        // it for many rounds.
        let storage = self.storage.clone();
        let entries = storage
            .history_from(cursor.saturating_add(1))
            .take(UPLOAD_SCAN_LIMIT.max(self.options.batch_count));
        for entry in entries {
            let entry = entry?;
            if batch.changes.len() >= self.options.batch_count || bytes >= self.options.batch_bytes
            {
                break;
            }
            batch.last_seq = entry.seq;
            if entry.origin != Origin::Local {
                continue;
            }
            let Ok((db, coll)) = split_namespace(&entry.ns) else {
                continue;
            };
            if let Some(timeseries) = query.synced_buckets_of(db, coll) {
                let timeseries = format!("{db}.{timeseries}");
                if let Some(hub) = self.hub_version.filter(|v| *v < TIMESERIES_SINCE) {
                    // Nothing moves past this entry: the readings wait for an upgraded hub.
                    return Err(Error::Coded {
                        code: INCOMPATIBLE_PROTOCOL,
                        message: format!(
                            "the hub speaks sync protocol {hub}, which cannot take the \
                             time-series collection {timeseries}; upgrade the hub to \
                             {TIMESERIES_SINCE} or later (local reads and writes continue)"
                        ),
                    });
                }
                bytes += self.push_bucket(&mut batch, entry, timeseries)?;
                continue;
            }
            if is_internal_namespace(db, coll) || !query.is_synced(db, coll) {
                self.count_skip(
                    &entry.ns,
                    &entry.id,
                    "local_only_namespace",
                    &"namespace not in the instance query",
                    false,
                );
                continue;
            }
            if query.is_ingest(db, coll) {
                if let Some(change) = self.ingest_change(entry)? {
                    bytes += change.approximate_bytes();
                    batch.changes.push(change);
                }
                continue;
            }
            // An update names its changed fields: the hub merges only those.
            let insert = entry.op == HistoryOp::Insert;
            let (fields, increments) = match entry.op {
                HistoryOp::Update => (entry.changed_fields.clone(), entry.increments.clone()),
                _ => (None, None),
            };
            let doc = match (entry.op, entry.doc) {
                (HistoryOp::Drop, _) => {
                    // The hub deletes the documents of the collection this edge's query syncs
                    // (see `Hub::upload`).
                    let change = Change::drop(entry.seq, entry.ns, entry.hlc, String::new());
                    bytes += change.approximate_bytes();
                    batch.changes.push(change);
                    continue;
                }
                (HistoryOp::Delete, _) | (_, None) => {
                    if let Err(reason) =
                        check_id(state.identity.service, &doc! {"_id": entry.id.clone()})
                    {
                        self.count_skip(&entry.ns, &entry.id, reason.as_str(), &reason, true);
                        continue;
                    }
                    None
                }
                (op, Some(doc)) => {
                    if let Err(reason) = check_id(state.identity.service, &doc) {
                        self.count_skip(&entry.ns, &entry.id, reason.as_str(), &reason, true);
                        continue;
                    }
                    match query.matches(db, coll, &doc) {
                        Ok(QueryMatch::Matches) => Some(doc),
                        Ok(_) => {
                            self.count_skip(
                                &entry.ns,
                                &entry.id,
                                "outside_query",
                                &"the document does not match the instance query",
                                true,
                            );
                            if op == HistoryOp::Insert {
                                continue;
                            }
                            // An update moved the document out of the query: the hub drops it.
                            None
                        }
                        Err(error) => {
                            self.count_skip(&entry.ns, &entry.id, "query_error", &error, true);
                            continue;
                        }
                    }
                }
            };
            let op = match (doc, fields) {
                (None, _) => Op::Delete,
                (Some(doc), _) if insert => Op::Insert(doc),
                (Some(doc), None) => Op::Replace(doc),
                (Some(doc), Some(fields)) => {
                    // An update travels as a field delta when the hub takes them and holds
                    // the document (it said `needFull` otherwise).
                    let delta = if deltas && !self.must_send_whole(&entry.ns, &entry.id) {
                        field_delta(&doc, &fields)
                    } else {
                        None
                    };
                    Op::Update(Update {
                        delta: delta.is_some(),
                        doc: delta.unwrap_or(doc),
                        fields,
                        increments,
                    })
                }
            };
            let change = Change {
                seq: entry.seq,
                ns: entry.ns,
                id: entry.id,
                hlc: entry.hlc,
                origin: String::new(),
                op,
            };
            bytes += change.approximate_bytes();
            batch.changes.push(change);
        }
        Ok(batch)
    }

    /// Whether the hub asked for `ns`/`id` whole since the last acknowledged upload.
    fn must_send_whole(&self, ns: &str, id: &Bson) -> bool {
        !self.send_whole.is_empty()
            && self
                .send_whole
                .contains(&(ns.to_string(), keyenc::encode(id)))
    }

    fn upload(&mut self, link: &mut dyn Link, batch: UploadBatch) -> Result<()> {
        let reply = match self.upload_request(&batch)? {
            Some(request) => Some(link.call(request)?),
            None => None,
        };
        self.finish_upload(batch, reply.as_ref())
    }

    /// The request that uploads `batch`, or `None` when it has no changes (only skipped
    /// entries: the cursor moves without asking the hub).
    fn upload_request(&self, batch: &UploadBatch) -> Result<Option<Document>> {
        if batch.changes.is_empty() {
            return Ok(None);
        }
        // What is uploaded must be durable here first: after a crash the edge must not reuse
        // sequence numbers the hub has already acknowledged.
        self.storage.flush()?;
        let upload = messages::Upload {
            from_seq: batch.from_seq,
            last_seq: batch.last_seq,
            changes: batch.changes.clone(),
            timeseries: batch.timeseries.clone(),
        };
        Ok(Some(upload.into_request(self.hub_version)))
    }

    /// Takes the hub's answer to an upload: the cursor moves past the batch, refused changes
    /// are counted, and superseded ones take the hub's version.
    fn finish_upload(&mut self, batch: UploadBatch, reply: Option<&Document>) -> Result<()> {
        let mut state = self.state()?.clone();
        let count = batch.changes.len();
        let mut superseded = Vec::new();
        let mut ingested = Vec::new();
        if reply.is_some() {
            self.uploads_acknowledged += 1;
        }
        if let Some(reply) = reply {
            self.check_hub_reply(reply)?;
            let reply: messages::UploadReply = messages::parse(reply, "upload reply")?;
            if !reply.need_full.is_empty() {
                // The hub applied nothing: the same entries go again, these documents whole.
                for item in reply.need_full {
                    self.send_whole.insert((item.ns, keyenc::encode(&item.id)));
                }
                return Ok(());
            }
            let ack = reply.ack_seq;
            if ack < batch.last_seq {
                return Err(Error::protocol(format!(
                    "the hub acknowledged sequence {ack}, expected {}",
                    batch.last_seq
                )));
            }
            // Changes the hub's storage refused (its own unique indexes, say): counted, logged,
            // and reverted to the hub's version through `superseded`.
            for refused in &reply.refused {
                self.count_skip(
                    &refused.ns,
                    &refused.id,
                    "refused_by_hub",
                    &refused.reason,
                    true,
                );
            }
            superseded = reply.superseded;
            ingested = self.acknowledged_ingests(&batch.changes, &reply.refused)?;
        }
        // (A batch of documents a query change offered carries the cursor of its time: an
        // upload acknowledged meanwhile is not undone.)
        state.progress.upload_cursor = state.progress.upload_cursor.max(batch.last_seq);
        // The documents asked for whole have been sent whole now.
        self.send_whole.clear();
        let upload_cursor = state.progress.upload_cursor;
        // Changes the hub refused because it holds a newer version: take the hub's version,
        // unless a local change made since this batch wins; committed with the new cursor.
        self.apply_changes(superseded, Some(&state), &ingested)?;
        self.save_with(state, true)?;
        let uploaded = u64::try_from(count).unwrap_or(u64::MAX);
        self.update_status(|s| {
            s.uploaded += uploaded;
            s.upload_cursor = upload_cursor;
        });
        Ok(())
    }

    fn download(&mut self, link: &mut dyn Link) -> Result<()> {
        loop {
            let request = self.download_request(0)?;
            let reply = link.call(request)?;
            if self.apply_download(link, &reply)? {
                return Ok(());
            }
        }
    }

    /// The next download request. With `wait_ms`, the hub waits that long for a change when
    /// there is nothing new (a long poll); the caller need not hold the engine meanwhile.
    pub fn download_request(&mut self, wait_ms: u64) -> Result<Document> {
        self.download_requested_after = self.uploads_acknowledged;
        let state = self.state()?;
        let waiting = wait_ms > 0;
        Ok(messages::request_to(
            &messages::Download {
                after: state.progress.download_cursor,
                limit: Some(u64::try_from(self.options.batch_count).unwrap_or(500)),
                wait_ms: waiting.then_some(wait_ms),
                // (A hub answers a query change at once, without reading its history.)
                query_version: Some(
                    u64::try_from(state.progress.synced_query_version).unwrap_or(0),
                ),
            },
            self.hub_version,
        ))
    }

    /// Whether an upload was acknowledged since the download request out now was made (its
    /// answer would not be applied; see [`Self::apply_download`]).
    pub fn download_answer_is_stale(&self) -> bool {
        self.download_requested_after != self.uploads_acknowledged
    }

    /// Applies the hub's answer to [`Self::download_request`] (a query change first fetches
    /// what the new query matches, through `link`). Returns whether the edge is caught up.
    ///
    /// An answer requested before an upload the hub has acknowledged since is not applied (and
    /// `Ok(false)` says to ask again): the hub may have answered before that upload reached it,
    /// and its older version of a document the upload wrote would replace the edge's newer one
    /// for good (the hub never sends an edge its own writes back). A pushing edge's two sides
    /// overlap; this keeps what it applies in the hub's order.
    pub fn apply_download(&mut self, link: &mut dyn Link, reply: &Document) -> Result<bool> {
        self.check_hub_reply(reply)?;
        if self.download_answer_is_stale() {
            return Ok(false);
        }
        let mut state = self.state()?.clone();
        let reply: messages::DownloadReply = messages::parse(reply, "download reply")?;
        if reply.query_version != state.progress.synced_query_version {
            self.apply_query_change(link, reply.query, reply.query_version)?;
            return Ok(false);
        }
        let (next, last, changes) = (reply.next, reply.last_seq, reply.changes);
        let caught_up = next >= last || next == state.progress.download_cursor;
        state.progress.download_cursor = next.max(state.progress.download_cursor);
        let applied = self.apply_changes(changes, Some(&state), &[])?;
        let lag = last.saturating_sub(state.progress.download_cursor);
        self.save_with(state, true)?;
        self.update_status(|s| {
            s.downloaded += applied;
            s.download_lag_entries = lag;
        });
        Ok(caught_up)
    }

    /// Local changes not yet uploaded, by document: (namespace, encoded `_id`) -> (clock of the
    /// latest, what they did: an insert followed by updates counts as an insert). A downloaded
    /// change that loses to one of them (see [`incoming_wins_at_edge`]) is not applied; the
    /// local one reaches the hub with the next upload. Each change counts as what its upload
    /// will say: an update that moved a document out of the query uploads as a delete, so it
    /// is a pending delete; a local-only write is not pending.
    fn pending_local_changes(&self, upload_cursor: u64) -> Result<PendingChanges> {
        let mut scan = PendingScan::after(upload_cursor);
        self.scan_pending(&mut scan)?;
        Ok(scan.changes)
    }

    /// Extends `scan` with the history entries written since it last looked.
    fn scan_pending(&self, scan: &mut PendingScan) -> Result<()> {
        let scope = match &self.state {
            Some(state) => Some((
                InstanceQuery::parse(&state.progress.query, &state.identity.default_db)?,
                state.identity.service,
            )),
            None => None,
        };
        let pending = &mut scan.changes;
        // The hub's changes this edge applied are skipped undecoded.
        for item in self
            .storage
            .local_history_from(scan.scanned.saturating_add(1))
        {
            let (seq, entry) = item?;
            scan.scanned = seq;
            let Some(entry) = entry else {
                continue;
            };
            let synced_doc = |doc: &Document| match &scope {
                Some((query, service)) => {
                    let Ok((db, coll)) = split_namespace(&entry.ns) else {
                        return false;
                    };
                    check_id(*service, doc).is_ok()
                        && query.matches(db, coll, doc).ok() == Some(QueryMatch::Matches)
                }
                None => true,
            };
            let op = match (entry.op, &entry.doc) {
                (HistoryOp::Insert, Some(doc)) if !synced_doc(doc) => continue,
                (HistoryOp::Insert, _) => LocalOp::Insert,
                (HistoryOp::Update | HistoryOp::Replace, Some(doc)) if !synced_doc(doc) => {
                    LocalOp::Delete
                }
                (HistoryOp::Update | HistoryOp::Replace, _) => LocalOp::Update,
                (HistoryOp::Delete | HistoryOp::Drop, _) => LocalOp::Delete,
            };
            // A drop is recorded for the whole collection, under an empty `_id`.
            let id = match entry.op {
                HistoryOp::Drop => Vec::new(),
                _ => outpost_storage::value::keyenc::encode(&entry.id),
            };
            let key = (entry.ns.clone(), id);
            let op = match pending.get(&key) {
                Some(&(_, earlier)) => LocalOp::then(earlier, op),
                None => op,
            };
            pending.insert(key, (entry.hlc, op));
        }
        Ok(())
    }

    /// Applies the hub's changes (downloaded, or answers to an upload) in one atomic commit,
    /// with the progress of `commit_state` and the `ingested` records when given (the cursor
    /// after these changes). The batch holds the storage's writer lock from before the
    /// pending local changes are read until the commit, so no local write can slip in between
    /// and be overwritten by an older version from the hub. Returns how many changes were
    /// applied.
    fn apply_changes(
        &self,
        changes: Vec<Change>,
        commit_state: Option<&EdgeState>,
        ingested: &[(Vec<u8>, Ingested)],
    ) -> Result<u64> {
        let upload_cursor = commit_state
            .or(self.state.as_ref())
            .map_or(0, |s| s.progress.upload_cursor);
        let mut scan = PendingScan::after(upload_cursor);
        self.apply_changes_with(changes, commit_state, ingested, &mut scan)
    }

    /// [`Self::apply_changes`], with the pending local changes of `scan`, brought up to date
    /// under the writer lock.
    fn apply_changes_with(
        &self,
        changes: Vec<Change>,
        commit_state: Option<&EdgeState>,
        ingested: &[(Vec<u8>, Ingested)],
        scan: &mut PendingScan,
    ) -> Result<u64> {
        if changes.is_empty() && ingested.is_empty() {
            // Nothing to check against pending local changes (a scan of the backlog).
            if let Some(state) = commit_state {
                self.store.save_progress(&state.progress)?;
            }
            return Ok(0);
        }
        let storage = self.storage.clone();
        let mut batch = storage.remote_batch();
        if !changes.is_empty() {
            self.scan_pending(scan)?;
        }
        let pending = &scan.changes;
        let mut applied = 0_u64;
        for change in changes {
            if self.stage_downloaded(&mut batch, change, pending)? {
                applied += 1;
            }
        }
        if let Some(state) = commit_state {
            batch.put_record(
                self.store.progress_tree(),
                self.store.progress_key(),
                Some(&state.progress),
            )?;
        }
        for (key, record) in ingested {
            batch.put_record(self.store.ingested_tree(), key, Some(record))?;
        }
        if !batch.is_empty() {
            batch.commit()?;
        }
        Ok(applied)
    }

    /// Stages one change of the hub unless a pending local change of the same document wins.
    /// Returns whether it was staged.
    fn stage_downloaded(
        &self,
        batch: &mut RemoteBatch,
        change: Change,
        pending: &PendingChanges,
    ) -> Result<bool> {
        check_received_change(&change)?;
        batch.observe_hlc(change.hlc);
        match &change.op {
            Op::Drop => return self.stage_downloaded_drop(batch, &change, pending),
            Op::Update(_) => {
                return Err(Error::protocol(
                    "the hub sent an update of some fields: an edge takes whole documents only",
                ))
            }
            Op::Insert(_) | Op::Replace(_) | Op::Delete => {}
        }
        let key = (
            change.ns.clone(),
            outpost_storage::value::keyenc::encode(&change.id),
        );
        if let Some(&(local_hlc, local_op)) = pending.get(&key) {
            let own_id = self
                .state
                .as_ref()
                .map_or("", |s| s.identity.edge_id.as_str());
            let local = Stamp::new(local_hlc, local_op == LocalOp::Delete, own_id);
            let incoming = Stamp::new(change.hlc, change.is_delete(), change.origin.as_str());
            if !incoming_wins_at_edge(&local, local_op, &incoming) {
                return Ok(false);
            }
        }
        let (db, coll) = split_namespace(&change.ns)?;
        if self.storage.timeseries_options(db, coll)?.is_some() {
            // A plain collection at the hub, time-series here: its data only go up.
            return Ok(false);
        }
        // The document is moved into the batch, not copied.
        let doc = match change.op {
            Op::Insert(doc) | Op::Replace(doc) => Some(doc),
            _ => None,
        };
        batch.put(db, coll, &change.id, doc, &Origin::Peer(HUB_ORIGIN.into()));
        Ok(true)
    }

    /// The hub dropped a collection: remove the local documents of it that the query syncs,
    /// except those with a local change newer than the drop (they reach the hub again).
    fn stage_downloaded_drop(
        &self,
        batch: &mut RemoteBatch,
        change: &Change,
        pending: &PendingChanges,
    ) -> Result<bool> {
        let state = self.state()?;
        let query = InstanceQuery::parse(&state.progress.query, &state.identity.default_db)?;
        let (db, coll) = split_namespace(&change.ns)?;
        if self.storage.timeseries_options(db, coll)?.is_some() {
            return Ok(false);
        }
        let mut ids = batch.staged_ids(db, coll);
        for doc in self.storage.find(
            db,
            coll,
            &outpost_storage::FindOptions {
                projection: Some(doc! {"_id": 1}),
                ..outpost_storage::FindOptions::default()
            },
        )? {
            ids.push(doc?.get("_id").cloned().unwrap_or(Bson::Null));
        }
        let mut seen = HashSet::new();
        for id in ids {
            let encoded = outpost_storage::value::keyenc::encode(&id);
            if !seen.insert(encoded.clone()) {
                continue;
            }
            let Some(doc) = batch.get(db, coll, &id)? else {
                continue;
            };
            let synced = check_id(state.identity.service, &doc).is_ok()
                && query.matches(db, coll, &doc).ok() == Some(QueryMatch::Matches);
            let newer_locally = pending
                .get(&(change.ns.clone(), encoded))
                .is_some_and(|&(local_hlc, _)| local_hlc > change.hlc);
            if synced && !newer_locally {
                batch.put(db, coll, &id, None, &Origin::Peer(HUB_ORIGIN.into()));
            }
        }
        Ok(true)
    }

    /// The `_id`s of the local documents in the namespaces `old` or `new` syncs, by namespace
    /// and encoded `_id`.
    fn local_ids_in(
        &self,
        old: &InstanceQuery,
        new: &InstanceQuery,
    ) -> Result<HashMap<String, HashMap<Vec<u8>, Bson>>> {
        let mut ids: HashMap<String, HashMap<Vec<u8>, Bson>> = HashMap::new();
        for database in self.storage.database_names() {
            for collection in self.storage.list_collections(&database) {
                let (db, coll) = (database.as_str(), collection.name.as_str());
                // An ingest collection's documents are the edge's own: a query change never
                // removes or offers them.
                if collection.is_view
                    || collection.options.contains_key("timeseries")
                    || !(old.is_synced(db, coll) || new.is_synced(db, coll))
                    || old.is_ingest(db, coll)
                    || new.is_ingest(db, coll)
                {
                    continue;
                }
                let options = outpost_storage::FindOptions {
                    projection: Some(doc! {"_id": 1}),
                    ..outpost_storage::FindOptions::default()
                };
                let of_ns = ids.entry(format!("{db}.{coll}")).or_default();
                for doc in self.storage.find(db, coll, &options)? {
                    let id = doc?.get("_id").cloned().unwrap_or(Bson::Null);
                    of_ns.insert(keyenc::encode(&id), id);
                }
            }
        }
        Ok(ids)
    }

    /// The hub has a new query (or this is the first sync): fetch every document the new query
    /// matches, remove local copies of synced namespaces that no longer match, and continue
    /// downloading from the hub's sequence at the snapshot.
    fn apply_query_change(
        &mut self,
        link: &mut dyn Link,
        query: Document,
        version: i64,
    ) -> Result<()> {
        let mut state = self.state()?.clone();
        let old_query = InstanceQuery::parse(&state.progress.query, &state.identity.default_db)?;
        let new_query = InstanceQuery::parse(&query, &state.identity.default_db)?;
        tracing::info!(version, query = %query, "applying the hub's instance query");
        // The local documents of the namespaces either query syncs, by `_id` (keys only: a
        // new edge has none, and the documents the snapshot brings are never all in memory).
        // Those the snapshot sends are taken off; what is left decides below.
        let mut unreceived = self.local_ids_in(&old_query, &new_query)?;
        let mut scan = PendingScan::after(state.progress.upload_cursor);
        let mut newly_synced = Vec::new();
        let limit = Some(u64::try_from(self.options.batch_count).unwrap_or(500));
        let hub = self.hub_version;
        let page_request =
            |position| messages::request_to(&messages::Snapshot { position, limit }, hub);
        // With a pipelining link, the next page is asked for before this one is applied.
        let pipelined = link.pipelines();
        let mut request = None;
        match pipelined {
            true => link.send(page_request(None))?,
            false => request = Some(page_request(None)),
        }
        let hub_seq = loop {
            let reply = match request.take() {
                Some(request) => link.call(request)?,
                // Pipelined: the request went out before the previous page was applied.
                None => link.receive()?,
            };
            self.check_hub_reply(&reply)?;
            let reply: messages::SnapshotReply = messages::parse_owned(reply, "snapshot reply")?;
            if !reply.done {
                let position = reply.position.clone().ok_or_else(|| {
                    Error::protocol("a snapshot reply that is not done needs a position")
                })?;
                if pipelined {
                    link.send(page_request(Some(position)))?;
                } else {
                    request = Some(page_request(Some(position)));
                }
            }
            let mut page = Vec::with_capacity(reply.docs.len());
            for item in reply.docs {
                let id = item.doc.get("_id").cloned().unwrap_or(Bson::Null);
                if let Some(ids) = unreceived.get_mut(&item.ns) {
                    ids.remove(&keyenc::encode(&id));
                }
                page.push(Change::whole(
                    0,
                    item.ns,
                    id,
                    Some(item.doc),
                    0,
                    String::new(),
                ));
            }
            // Each page in one commit, checked against the local changes pending at that
            // moment (a document deleted here during the snapshot stays deleted).
            self.apply_changes_with(page, None, &[], &mut scan)?;
            if reply.done {
                break u64::try_from(reply.hub_seq).unwrap_or(0);
            }
        };
        // A document the snapshot sent matches the new query as the hub holds it, and is
        // held so here unless a local change of it waits for upload: nothing to do. Of the
        // others, local copies go (as hub-origin deletes, so they are not uploaded) when they
        // matched the old query and not the new one, or when the new query matches them but
        // the hub no longer has them (deleted at the hub while this edge was not listening)
        // and no local change of them waits for upload. Local-only documents (outside both
        // queries, or with an `_id` the service does not sync) are untouched.
        let mut candidates = Vec::new();
        for (ns, ids) in unreceived {
            let (db, coll) = split_namespace(&ns)?;
            for id in ids.into_values() {
                let filter = doc! {"_id": id};
                let options = outpost_storage::FindOptions {
                    filter,
                    limit: 1,
                    ..outpost_storage::FindOptions::default()
                };
                let Some(doc) = self.storage.find(db, coll, &options)?.next().transpose()? else {
                    continue;
                };
                let matched_before =
                    old_query.matches(db, coll, &doc).ok() == Some(QueryMatch::Matches);
                let matches_now =
                    new_query.matches(db, coll, &doc).ok() == Some(QueryMatch::Matches);
                let valid_id = check_id(state.identity.service, &doc).is_ok();
                candidates.push((ns.clone(), doc, matched_before, matches_now, valid_id));
            }
        }
        state.progress.query = query;
        state.progress.synced_query_version = version;
        state.progress.download_cursor = hub_seq;
        let upload_cursor = state.progress.upload_cursor;
        {
            // Which documents have pending local changes is decided under the writer lock, after
            // the scan: a write committed during the scan is pending (a write and its history
            // entry commit together), and none can come between this and the commit.
            let storage = self.storage.clone();
            let mut batch = storage.remote_batch();
            let pending = self.pending_local_changes(upload_cursor)?;
            for (ns, doc, matched_before, matches_now, valid_id) in candidates {
                let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
                let key = (ns, outpost_storage::value::keyenc::encode(&id));
                if pending.contains_key(&key) {
                    continue;
                }
                let unknown_at_hub = matches_now && valid_id;
                if matched_before && (!matches_now || unknown_at_hub) {
                    let (db, coll) = split_namespace(&key.0)?;
                    batch.put(db, coll, &id, None, &Origin::Peer(HUB_ORIGIN.into()));
                } else if unknown_at_hub {
                    // A local-only document the new query now covers: offer it to the hub.
                    newly_synced.push(Change::whole(0, key.0, id, Some(doc), 0, String::new()));
                }
            }
            batch.put_record(
                self.store.progress_tree(),
                self.store.progress_key(),
                Some(&state.progress),
            )?;
            batch.commit()?;
        }
        self.save_with(state, true)?;
        // Sequence 0 and clock 0: not from the history log (the hub does not check them
        // against the edge's upload sequence) and older than any version the hub has.
        for chunk in newly_synced.chunks(self.options.batch_count.max(1)) {
            self.upload(
                link,
                UploadBatch {
                    changes: chunk.to_vec(),
                    from_seq: upload_cursor,
                    last_seq: upload_cursor,
                    ..UploadBatch::default()
                },
            )?;
        }
        Ok(())
    }
}

mod ingest;
mod reset;
mod state;

pub use ingest::{INGEST_LOCAL_ONLY, RETENTION_ORIGIN, RETENTION_PASS_LIMIT};

#[cfg(test)]
mod tests;
