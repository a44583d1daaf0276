//! The hub's side of sync: the registry of edge instances ([`registry`]), applying uploads
//! ([`upload`]), serving downloads and snapshots ([`download`]).
//!
//! The hub's data lives behind [`HubStore`] ([`store`]): documents in their collections, and
//! the hub's own state as typed records ([`records`]) that no client command can reach:
//! - the registry: one [`EdgeRecord`] per edge instance (key hashes only; keys are never
//!   stored), with `uploadedSeq`, the edge's last applied history sequence: uploads at or below
//!   it are ignored, which makes a re-sent batch harmless;
//! - versions: for each document an instance wrote, its last-writer-wins [`Version`] (see
//!   [`crate::merge`]);
//! - drops: per namespace, the clock of its last drop; and how far the hub's own local writes
//!   have versions.
//!
//! An upload commits atomically: its documents, their versions and the edge's `uploadedSeq` in
//! one batch, so a failure or a crash part way applies nothing and the re-sent batch applies
//! once.

mod admin;
mod catch_up;
mod download;
mod monitor;
pub mod observations;
mod records;
mod registry;
pub mod schemas;
pub mod store;
mod upload;
mod window;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use bson::{DateTime, Document};
use outpost_storage::Storage;

use crate::error::{Error, Result};
use crate::instance_query::InstanceQuery;
use crate::protocol::messages;
use crate::protocol::{
    hash_key, message_version, with_version, ProtocolVersion, DOWNLOAD, HELLO, MAX_BATCH_COUNT,
    REPORT, SNAPSHOT, UPLOAD,
};
pub use admin::{EdgeLog, EdgeMetric, LOG_LEVELS, MAX_LOGS_PER_EDGE};
pub use monitor::{MetricsPoint, SyncLag, METRICS_HISTORY_MS};
pub use records::ResetRecord;
pub use records::{EdgeRecord, FieldVersion, Version, API_KEY_INVALID, HUB_INSTANCE};
pub use store::{HubBatch, HubStore, SledHubStore};
pub use window::{OfflineWindows, DEFAULT_MAX_OFFLINE_DAYS, RESET, RESET_REQUIRED};

/// The hub's bookkeeping database of earlier versions (its registry is a set of records
/// now); still internal, never synced.
pub const HUB_DATABASE: &str = "__outpost_hub";
/// How stale the registry's `lastSeen` may get (milliseconds).
const LAST_SEEN_PERSIST_MS: i64 = 60_000;
/// The longest a download request may wait for a change (`waitMs`).
pub const MAX_DOWNLOAD_WAIT_MS: u64 = 30_000;

/// The hub: cheap to share (`Arc<Hub>`), one per hub server.
pub struct Hub<S: HubStore = SledHubStore> {
    store: S,
    /// Registry changes and uploads are serialized: one edge's batch applies as a unit with
    /// respect to other requests, and `uploadedSeq` never goes backwards.
    lock: Mutex<HubMemory>,
    /// Download requests waiting for a change now.
    waiting: AtomicUsize,
    /// Set when the server stops: waiting downloads answer at once.
    stopping: AtomicBool,
    /// What a test added to the hub's clock (see [`window`]).
    clock_offset_ms: AtomicI64,
    /// Each edge's maximum offline time (see [`window`]); `None`: the default for all.
    offline_windows: RwLock<Option<OfflineWindows>>,
}

/// What the hub keeps in memory, under its lock.
#[derive(Default)]
struct HubMemory {
    /// When each edge was last heard from; written to the registry at most once a minute.
    last_seen: HashMap<String, DateTime>,
    /// Each edge's download cursor, from its last download request (persisted with
    /// `lastSeen` as `downloadedSeq`): the hub's history at or below the smallest is no
    /// longer needed (see [`Hub::history_floor`]).
    downloaded: HashMap<String, u64>,
    /// The hub history sequence up to which hub-local writes have versions (see
    /// `Hub::catch_up_versions`); `None` until read from the store after a start.
    versioned_seq: Option<u64>,
    /// Each edge's metrics reports of the last hour, oldest first (see [`monitor`]); the last
    /// report and the log records are in the store (see [`observations`]).
    metrics_history: HashMap<String, std::collections::VecDeque<MetricsPoint>>,
}

/// What an edge says about itself in its hello (optional fields: older edges send none).
#[derive(Debug, Clone, Default)]
pub(crate) struct Peer {
    hostname: Option<String>,
    package_version: Option<String>,
}

impl Peer {
    fn from_hello(hello: &messages::Hello) -> Peer {
        let text = |field: &Option<String>| {
            field
                .as_ref()
                .map(|value| value.chars().take(256).collect::<String>())
        };
        Peer {
            hostname: text(&hello.hostname),
            package_version: text(&hello.package_version),
        }
    }

    /// Records a new connection of the edge at `now` (the hub's clock).
    fn note(&self, record: &mut EdgeRecord, now: DateTime) {
        record.last_connection = Some(now);
        if self.hostname.is_some() {
            record.hostname.clone_from(&self.hostname);
        }
        if self.package_version.is_some() {
            record.package_version.clone_from(&self.package_version);
        }
    }
}

/// One sync connection's state at the hub: the edge its `outpostSyncHello` bound it to, and
/// the protocol version that hello gave. The server keeps one per connection; an in-process
/// link keeps its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSession {
    bound: Option<Binding>,
    /// The version the edge's last hello on this connection carried (from 3.3 its later
    /// requests may leave it out).
    peer_version: Option<ProtocolVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Binding {
    edge_id: String,
    /// The hash of the API key the edge said hello with: a re-keyed edge's connection stops.
    api_key_hash: String,
}

impl SyncSession {
    /// The edge this connection is bound to, if its hello succeeded.
    pub fn edge_id(&self) -> Option<&str> {
        self.bound.as_ref().map(|binding| binding.edge_id.as_str())
    }
}

/// One registered edge, as a request sees it.
struct Edge {
    record: EdgeRecord,
    query: InstanceQuery,
}

impl Hub<SledHubStore> {
    /// A hub on Outpost's own storage.
    pub fn new(storage: Storage) -> Result<Hub> {
        Ok(Hub::with_store(SledHubStore::new(storage)?))
    }
}

impl<S: HubStore> Hub<S> {
    pub fn with_store(store: S) -> Hub<S> {
        Hub {
            store,
            lock: Mutex::new(HubMemory::default()),
            waiting: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            clock_offset_ms: AtomicI64::new(0),
            offline_windows: RwLock::new(None),
        }
    }

    /// Makes waiting downloads answer now, and later ones not wait (the server is stopping).
    pub fn stop_waiting(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether [`Hub::stop_waiting`] was called (the server is stopping).
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, HubMemory> {
        self.lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs one sync protocol command sent by an edge on the connection whose state is
    /// `session` (`outpostSyncHello`, then `outpostSyncUpload`, `outpostSyncDownload`,
    /// `outpostSyncSnapshot`); the wire commands and in-process test links both come here.
    pub fn handle(&self, session: &mut SyncSession, command: &Document) -> Result<Document> {
        self.handle_owned(session, command.clone())
    }

    /// [`Hub::handle`] of a command the caller no longer needs: an upload's documents are
    /// moved into the hub's batch, not copied.
    ///
    /// A request that carries `protocolVersion` is answered with it; from 3.3 an edge leaves
    /// it out after its hello, and so does the answer.
    pub fn handle_owned(&self, session: &mut SyncSession, command: Document) -> Result<Document> {
        let is_hello = command.keys().next().is_some_and(|name| name == HELLO);
        let negotiated = if is_hello { None } else { session.peer_version };
        let version = match message_version(&command, "edge", negotiated) {
            Ok(version) => version,
            Err(error) => {
                tracing::warn!(error = %error, "an edge of another sync protocol version was refused");
                self.note_refused_version(&command, &error);
                return Err(error);
            }
        };
        if is_hello {
            session.peer_version = Some(version);
        }
        let versioned = command.contains_key("protocolVersion");
        let reply = self.handle_current(session, command)?;
        Ok(if versioned {
            with_version(reply)
        } else {
            reply
        })
    }

    fn handle_current(&self, session: &mut SyncSession, command: Document) -> Result<Document> {
        let name = command.keys().next().cloned().unwrap_or_default();
        let name = name.as_str();
        let limit = |limit: Option<u64>| {
            limit
                .and_then(|l| usize::try_from(l).ok())
                .unwrap_or(MAX_BATCH_COUNT)
        };
        if name != HELLO {
            if let Some(field) = ["apiKey", "registrationKey", "edgeId"]
                .into_iter()
                .find(|field| command.contains_key(field))
            {
                return Err(Error::Coded {
                    code: 13,
                    message: format!(
                        "'{field}' is not allowed in {name}: a sync connection is bound to one \
                         edge by {HELLO} and its requests carry no credentials"
                    ),
                });
            }
        }
        match name {
            HELLO => {
                let reply = self.hello(session, &messages::parse(&command, "hello")?)?;
                Ok(messages::body(&reply))
            }
            REPORT => self.report(session, &command),
            RESET => self.begin_reset(session),
            UPLOAD => {
                self.refuse_while_resetting(&self.bound_edge(session)?.record)?;
                let upload: messages::Upload = messages::parse_owned(command, "upload")?;
                let reply = self.upload(
                    session,
                    &upload.changes,
                    upload.last_seq,
                    &upload.timeseries,
                )?;
                // (The upload is applied: a schema that cannot be noted is only logged.)
                if let Err(error) = self.learn_schemas(&upload.changes) {
                    tracing::warn!(error = %error, "cannot update the inferred schemas");
                }
                Ok(messages::body(&reply))
            }
            DOWNLOAD => {
                let download: messages::Download = messages::parse(&command, "download")?;
                let wait_ms = download.wait_ms.unwrap_or(0).min(MAX_DOWNLOAD_WAIT_MS);
                let reply = self.download_waiting(
                    session,
                    download.after,
                    limit(download.limit),
                    Duration::from_millis(wait_ms),
                    download.query_version,
                )?;
                Ok(messages::body(&reply))
            }
            SNAPSHOT => {
                let snapshot: messages::Snapshot = messages::parse(&command, "snapshot")?;
                let reply =
                    self.snapshot(session, snapshot.position.as_ref(), limit(snapshot.limit))?;
                Ok(reply.into_body())
            }
            other => Err(Error::Coded {
                code: 59,
                message: format!("no such sync command: '{other}'"),
            }),
        }
    }

    /// The hub history sequence at and below which no consumer needs the log any more: every
    /// registered edge has downloaded past it, and the hub's own local writes have versions up
    /// to it. Edges that never registered do not count: they start with a snapshot.
    pub fn history_floor(&self) -> Result<u64> {
        let memory = self.locked();
        let mut floor = match memory.versioned_seq {
            Some(seq) => seq,
            None => self.store.versioned_up_to()?,
        };
        for edge in self.store.edges()? {
            // An edge past its offline window is reset when it comes back (see `window`).
            if !edge.registration_key_used
                || self.past_window(&edge, memory.last_seen.get(&edge.id).copied())
            {
                continue;
            }
            let downloaded = memory
                .downloaded
                .get(&edge.id)
                .copied()
                .unwrap_or(0)
                .max(edge.downloaded_seq);
            floor = floor.min(downloaded);
        }
        Ok(floor)
    }

    /// `outpostSyncHello {apiKey}` authenticates an edge, `{registrationKey}` registers it
    /// (the reply carries its new API key, shown once); either way the connection is bound to
    /// that edge from now on. A failed hello leaves the connection unbound.
    fn hello(
        &self,
        session: &mut SyncSession,
        hello: &messages::Hello,
    ) -> Result<messages::HelloReply> {
        session.bound = None;
        let peer = Peer::from_hello(hello);
        let (api_key_hash, reply) = match (&hello.registration_key, &hello.api_key) {
            (Some(registration_key), _) => {
                let reply = self.register_from(registration_key, &peer)?;
                (
                    hash_key(reply.api_key.as_deref().unwrap_or_default()),
                    reply,
                )
            }
            (None, Some(api_key)) => {
                let edge = self.authenticate(api_key)?;
                let reset = self.note_connection(&edge.record.id, &peer)?;
                let hash = edge.record.api_key_hash.unwrap_or_default();
                let mut reply = messages::HelloReply::bound(edge.record.id);
                reply.reset = reset.map(|reset| messages::ResetNotice {
                    reason: reset.reason,
                });
                (hash, reply)
            }
            (None, None) => {
                return Err(Error::protocol(
                    "outpostSyncHello needs 'apiKey' or 'registrationKey'",
                ))
            }
        };
        session.bound = Some(Binding {
            edge_id: reply.edge_id.clone(),
            api_key_hash,
        });
        Ok(reply)
    }

    /// The edge this connection is bound to, read from the registry on each request (by id):
    /// a connection that has not said hello is refused with Unauthorized (13); an edge deleted
    /// or re-keyed since with AuthenticationFailed (18).
    fn bound_edge(&self, session: &SyncSession) -> Result<Edge> {
        let Some(binding) = &session.bound else {
            return Err(Error::Coded {
                code: 13,
                message: "this connection is not bound to an edge instance: send \
                          outpostSyncHello with the edge's API key first"
                    .into(),
            });
        };
        let record = self
            .store
            .edge(&binding.edge_id)?
            .filter(|record| record.api_key_hash.as_deref() == Some(&binding.api_key_hash))
            .ok_or_else(|| {
                Error::Unauthorized(format!(
                    "edge instance {} was deleted or re-keyed at the hub; register the edge \
                     again with a new registration key",
                    binding.edge_id
                ))
            })?;
        let query = InstanceQuery::parse(&record.query, &record.default_db)?;
        Ok(Edge { record, query })
    }

    /// The edge whose API key this is. A key a re-key replaced marks its instance failed.
    fn authenticate(&self, api_key: &str) -> Result<Edge> {
        let hash = hash_key(api_key);
        let edges = self.store.edges()?;
        let found = edges
            .iter()
            .find(|edge| edge.api_key_hash.as_deref() == Some(hash.as_str()));
        if found.is_none() {
            self.note_old_key(&hash)?;
        }
        let record = found.cloned().ok_or_else(|| {
            Error::Unauthorized(
                "the API key is not valid (the edge instance was deleted or re-keyed at the \
                     hub); register the edge again with a new registration key"
                    .into(),
            )
        })?;
        let query = InstanceQuery::parse(&record.query, &record.default_db)?;
        Ok(Edge { record, query })
    }

    /// Notes that `edge` was heard from now, downloading after history sequence `downloaded`.
    fn touch(&self, memory: &mut HubMemory, edge: &Edge, downloaded: u64) -> Result<()> {
        let now = self.now();
        let stale = edge.record.last_seen.is_none_or(|seen| {
            now.timestamp_millis()
                .saturating_sub(seen.timestamp_millis())
                > LAST_SEEN_PERSIST_MS
        });
        memory.last_seen.insert(edge.record.id.clone(), now);
        memory.downloaded.insert(edge.record.id.clone(), downloaded);
        if stale {
            let mut record = edge.record.clone();
            record.last_seen = Some(now);
            record.downloaded_seq = downloaded;
            self.store.put_edge(&record)?;
        }
        Ok(())
    }
}
