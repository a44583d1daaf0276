//! What every connection shares: the database, open cursors, counters and configuration.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use outpost_storage::Storage;

use crate::config::Config;
use crate::cursor::CursorRegistry;
use crate::failpoint::FailPoints;
use crate::metrics::Metrics;
use crate::sessions::SessionCache;

pub struct State {
    pub storage: Storage,
    /// The users (`createUser`...), checked with `--auth`.
    pub users: crate::auth::Users,
    pub cursors: CursorRegistry,
    pub metrics: Arc<Metrics>,
    /// An edge's authentication and sync log records, until reported to its hub.
    pub edge_logs: Arc<crate::hub::report::LogQueue>,
    pub config: Config,
    pub fail_points: FailPoints,
    /// The threads commands run on.
    pub commands: crate::pool::CommandPool,
    /// Taken by a write that runs on its connection's task (see `inline.rs`) for the length
    /// of its storage call: such writes wait their turn here, parked, instead of finding the
    /// storage's writer busy and moving to the pool.
    pub inline_writes: tokio::sync::Mutex<()>,

    pub sessions: SessionCache,
    /// The database profiler's settings (`profile`).
    pub profiler: crate::profiler::Profiler,
    pub started: Instant,
    /// Set when shutdown starts: waiting requests (change stream `getMore`) answer early.
    pub shutting_down: std::sync::atomic::AtomicBool,
    /// Fixed for the life of the server: `topologyVersion.processId` in `hello`.
    pub process_id: bson::oid::ObjectId,

    /// The address the server listens on.
    pub local_addr: SocketAddr,
    /// The hub's side of sync, on a server started as a hub.
    pub hub: Option<Arc<outpost_sync::Hub>>,
    /// The edge's sync status, on an edge configured with a hub.
    pub sync_status: Option<Arc<std::sync::Mutex<outpost_sync::SyncStatus>>>,
    /// True once the server is shutting down (commands that wait, such as an awaitData
    /// `getMore`, stop waiting).
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// One client connection, as commands see it.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub id: i64,
    pub peer: SocketAddr,
    /// The server address this client connected to (the replica set member it reached).
    pub local: SocketAddr,
    /// The application name the client gave in its handshake (`client.application.name`).
    pub app_name: Arc<OnceLock<String>>,
    /// Who the connection is authenticated as, and a SASL conversation under way.
    pub auth: Arc<std::sync::Mutex<crate::auth::ConnAuth>>,
    /// The compressors negotiated by the last `hello` that offered some, in the client's order.
    pub compressors: Arc<std::sync::Mutex<Vec<outpost_wire::Compressor>>>,
    /// On a hub: the edge this connection's `outpostSyncHello` bound it to; its other sync
    /// requests act for that edge only.
    pub sync: Arc<std::sync::Mutex<outpost_sync::SyncSession>>,
}
