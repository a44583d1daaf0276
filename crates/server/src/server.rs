//! The server's life: bind, accept connections, shut down cleanly (stop accepting, let
//! in-flight requests finish, flush storage).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_storage::{Storage, StorageOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::cursor::CursorRegistry;
use crate::metrics::Metrics;
use crate::state::State;

/// The error starting a server can give.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Storage(#[from] outpost_storage::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Entry point for embedding: `Server::builder().config(c).start().await`.
pub struct Server;

impl Server {
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            config: Config::default(),
            storage: None,
        }
    }
}

pub struct ServerBuilder {
    config: Config,
    storage: Option<Storage>,
}

impl ServerBuilder {
    pub fn config(mut self, config: Config) -> ServerBuilder {
        self.config = config;
        self
    }

    /// Serves an already opened database (for embedding and tests).
    pub fn storage(mut self, storage: Storage) -> ServerBuilder {
        self.storage = Some(storage);
        self
    }

    fn open_storage(&self) -> Result<Storage, StartError> {
        if let Some(storage) = &self.storage {
            return Ok(storage.clone());
        }
        match &self.config.dbpath {
            Some(path) => {
                std::fs::create_dir_all(path)?;
                Ok(Storage::open(
                    path,
                    StorageOptions {
                        flush_every_ms: self.config.flush_interval_ms,
                    },
                )?)
            }
            None => Ok(Storage::temporary()?),
        }
    }

    /// Binds `config.bind:config.port` and starts serving.
    pub async fn start(self) -> Result<ServerHandle, StartError> {
        let addr = SocketAddr::new(self.config.bind, self.config.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        self.start_on(listener).await
    }

    /// Starts serving on a listener the caller bound (e.g. `127.0.0.1:0` in tests).
    pub async fn start_on(self, listener: TcpListener) -> Result<ServerHandle, StartError> {
        let storage = self.open_storage()?;
        let local_addr = listener.local_addr()?;
        let hub = self
            .config
            .hub_mode
            .then(|| Arc::new(outpost_sync::Hub::new(storage.clone())));
        let sync_task = crate::hub::SyncTask::start(&storage, &self.config);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let state = Arc::new(State {
            storage,
            cursors: CursorRegistry::default(),
            metrics: Metrics::default(),
            config: self.config,
            commands: crate::pool::CommandPool::new()?,
            fail_points: Default::default(),

            sessions: Default::default(),
            profiler: Default::default(),
            started: Instant::now(),
            process_id: bson::oid::ObjectId::new(),

            local_addr,
            hub,
            sync_status: sync_task.as_ref().map(crate::hub::SyncTask::status),
            shutdown: shutdown_rx.clone(),
        });
        let task = tokio::spawn(accept_loop(listener, state.clone(), shutdown_rx));
        tracing::info!(address = %local_addr, "Outpost is listening");
        Ok(ServerHandle {
            local_addr,
            state,
            shutdown: shutdown_tx,
            task,
            sync_task,
        })
    }
}

/// A running server.
pub struct ServerHandle {
    local_addr: SocketAddr,
    state: Arc<State>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    sync_task: Option<crate::hub::SyncTask>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The database the server serves.
    pub fn storage(&self) -> &Storage {
        &self.state.storage
    }

    /// Stops accepting, lets in-flight requests finish, closes connections, flushes storage.
    pub async fn shutdown(self) -> Result<(), outpost_storage::Error> {
        if let Some(sync_task) = self.sync_task {
            let _ = tokio::task::spawn_blocking(move || sync_task.stop()).await;
        }
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        self.state.storage.flush()?;
        tracing::info!("Outpost stopped");
        Ok(())
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    mut shutdown: watch::Receiver<bool>,
) {
    let next_id = AtomicI64::new(1);
    let mut connections = JoinSet::new();
    let mut ttl = tokio::time::interval(Duration::from_secs(state.config.ttl_interval_secs.max(1)));
    let mut reaper = tokio::time::interval(
        Duration::from_secs(60).min(state.config.cursor_timeout().max(Duration::from_secs(1))),
    );
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    connections.spawn(crate::connection::serve(stream, peer, id, state.clone(), shutdown.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = reaper.tick() => {
                let expired = state.cursors.expire(state.config.cursor_timeout());
                if expired > 0 {
                    tracing::info!(expired, "closed idle cursors");
                }
            }
            _ = ttl.tick() => {
                let trimmer = state.clone();
                match state.commands.run(move || trim_history(&trimmer)).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(removed)) => tracing::info!(removed, "trimmed the history log"),
                    Ok(Err(e)) => tracing::error!(error = %e, "history trim failed"),
                    Err(e) => tracing::error!(error = %e, "history trim panicked"),
                }
                let storage = state.storage.clone();
                match state.commands.run(move || storage.remove_expired(bson::DateTime::now())).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(removed)) => tracing::info!(removed, "removed expired documents (TTL)"),
                    Ok(Err(e)) => tracing::error!(error = %e, "TTL pass failed"),
                    Err(e) => tracing::error!(error = %e, "TTL pass panicked"),
                }
            }
            // Reap finished connection tasks so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Removes history entries that no sync consumer needs any more and that are older than
/// `history_retention_hours`: on an edge, those the hub acknowledged; on a hub, those every
/// registered edge has downloaded. A server with no sync keeps its history. Returns how many
/// entries were removed.
fn trim_history(state: &State) -> Result<u64, String> {
    const CHUNK: usize = 10_000;
    let mut floor = match (&state.sync_status, &state.config.hub) {
        (Some(status), _) => Some(
            status
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .upload_cursor,
        ),
        // Sync is configured but not running (it failed to start): keep everything.
        (None, Some(_)) => return Ok(0),
        (None, None) => None,
    };
    if let Some(hub) = &state.hub {
        let hub_floor = hub.history_floor().map_err(|e| e.to_string())?;
        floor = Some(floor.map_or(hub_floor, |f| f.min(hub_floor)));
    }
    let Some(floor) = floor else {
        return Ok(0);
    };
    let retention_ms = state
        .config
        .history_retention_hours
        .saturating_mul(3_600_000);
    let now_ms = u64::try_from(bson::DateTime::now().timestamp_millis()).unwrap_or(0);
    // The clock of a history entry holds milliseconds in its high 48 bits.
    let before_hlc = now_ms.saturating_sub(retention_ms) << 16;
    let mut removed = 0;
    loop {
        let chunk = state
            .storage
            .trim_history(floor, before_hlc, CHUNK)
            .map_err(|e| e.to_string())?;
        removed += chunk;
        if chunk < CHUNK as u64 {
            return Ok(removed);
        }
    }
}
