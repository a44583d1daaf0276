//! The server's life: bind, accept connections, shut down cleanly (stop accepting, let
//! in-flight requests finish, flush storage).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_storage::{Storage, StorageOptions};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
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
    #[error("refusing to listen on {0} without --auth: anyone who can reach it could read and change every database. Enable authentication (--auth, after creating a user), bind 127.0.0.1, or pass --insecure-disable-auth")]
    Insecure(SocketAddr),
    #[error("{0}")]
    Tls(String),
    #[error("cannot open the database: {0}")]
    Storage(#[from] outpost_storage::Error),
    #[error("cannot open the hub's state: {0}")]
    Hub(#[from] outpost_sync::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
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
                        cache_size_mb: self.config.cache_size_mb,
                    },
                )?)
            }
            None => Ok(Storage::temporary_with(StorageOptions {
                flush_every_ms: self.config.flush_interval_ms,
                cache_size_mb: self.config.cache_size_mb,
            })?),
        }
    }

    /// Binds `config.bind:config.port` and starts serving.
    pub async fn start(self) -> Result<ServerHandle, StartError> {
        let addr = SocketAddr::new(self.config.bind, self.config.port);
        // Refused before binding: an insecure address is never listened on, even briefly.
        check_exposure(&self.config, addr)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        self.start_on(listener).await
    }

    /// Starts serving on a listener the caller bound (e.g. `127.0.0.1:0` in tests).
    pub async fn start_on(self, listener: TcpListener) -> Result<ServerHandle, StartError> {
        if self.config.max_conns == 0 {
            return Err(StartError::Config("max_conns must be at least 1".into()));
        }
        let local_addr = listener.local_addr()?;
        check_exposure(&self.config, local_addr)?;
        let tls = crate::tls::acceptor(&self.config).map_err(StartError::Tls)?;
        let storage = self.open_storage()?;
        let users = crate::auth::Users::open(&storage)?;
        if self.config.auth && !users.any()? {
            tracing::warn!("authentication is enabled and no user exists yet: create the first user on admin from a loopback connection (the localhost exception) or with `outpost user add`");
        }
        let hub = match self.config.hub_mode {
            true => {
                let hub = outpost_sync::Hub::new(storage.clone())?;
                hub.set_offline_windows(crate::admin_api::groups::offline_windows(&storage)?);
                Some(Arc::new(hub))
            }
            false => None,
        };
        let metrics = Arc::new(Metrics::default());
        let edge_logs = Arc::new(crate::hub::report::LogQueue::default());
        let reporter = crate::hub::report::Reporter::new(metrics.clone(), edge_logs.clone());
        let sync_task = crate::hub::SyncTask::start(&storage, &self.config, reporter);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let state = Arc::new(State {
            storage,
            users,
            cursors: CursorRegistry::default(),
            metrics,
            edge_logs,
            config: self.config,
            commands: crate::pool::CommandPool::new()?,
            inline_writes: tokio::sync::Mutex::new(()),
            fail_points: Default::default(),

            sessions: Default::default(),
            profiler: Default::default(),
            started: Instant::now(),
            shutting_down: Default::default(),
            process_id: bson::oid::ObjectId::new(),

            local_addr,
            hub,
            sync_status: sync_task.as_ref().map(crate::hub::SyncTask::status),
            shutdown: shutdown_rx.clone(),
        });
        let versioner = state
            .hub
            .as_ref()
            .map(crate::hub::versioner::Versioner::start);
        let http_addr = start_admin_api(&state, tls.clone(), shutdown_rx.clone()).await?;
        let metrics_addr =
            crate::metrics_port::start(&state, tls.clone(), shutdown_rx.clone()).await?;
        let task = tokio::spawn(accept_loop(listener, state.clone(), tls, shutdown_rx));
        tracing::info!(address = %local_addr, "Outpost is listening");
        Ok(ServerHandle {
            local_addr,
            http_addr,
            metrics_addr,
            state,
            shutdown: shutdown_tx,
            task,
            sync_task,
            versioner,
        })
    }
}

/// The Admin API's bounds: hyper's defaults but for the header deadline.
const ADMIN_API_LIMITS: crate::http::Limits = crate::http::Limits {
    name: "Admin API",
    header_timeout: Duration::from_secs(30),
    max_head_bytes: None,
    keep_alive: true,
    max_connections: None,
};

/// A hub with an `http_port` serves the Admin API on the wire port's address and TLS; the
/// address it listens on is logged (`Admin API is listening`) and returned.
async fn start_admin_api(
    state: &Arc<State>,
    tls: Option<crate::tls::Acceptor>,
    shutdown: watch::Receiver<bool>,
) -> Result<Option<SocketAddr>, StartError> {
    let (Some(hub), Some(port)) = (&state.hub, state.config.http_port) else {
        return Ok(None);
    };
    let addr = SocketAddr::new(state.local_addr.ip(), port);
    // Bound here, to report the address (or the error) now; served on the command pool's
    // runtime, because the handlers read and write the hub's store as they go.
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|source| StartError::Bind { addr, source })?;
    let http_addr = listener.local_addr()?;
    let api = crate::admin_api::ApiState::open(
        &state.storage,
        hub.clone(),
        Duration::from_secs(state.config.admin_access_token_secs),
        Duration::from_secs(state.config.admin_refresh_token_secs),
        state.local_addr.port(),
        tls.is_some(),
    )?;
    let router = crate::admin_api::router(Arc::new(api));
    state.commands.spawn(async move {
        match TcpListener::from_std(listener) {
            Ok(listener) => {
                crate::http::serve(listener, tls, router, ADMIN_API_LIMITS, shutdown).await;
            }
            Err(error) => tracing::error!(%error, "the Admin API cannot listen"),
        }
    });
    tracing::info!(address = %http_addr, "Admin API is listening");
    Ok(Some(http_addr))
}

/// Listening beyond loopback without `--auth` needs `--insecure-disable-auth` (and is warned
/// about), as mongod refuses to bind other addresses by default.
fn check_exposure(config: &Config, addr: SocketAddr) -> Result<(), StartError> {
    if addr.ip().is_loopback() || config.auth {
        return Ok(());
    }
    if !config.insecure_disable_auth {
        return Err(StartError::Insecure(addr));
    }
    tracing::warn!(address = %addr, "authentication is disabled on a non-loopback address (--insecure-disable-auth): anyone who can reach this port can read and change every database");
    Ok(())
}

/// A running server.
pub struct ServerHandle {
    local_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    state: Arc<State>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    sync_task: Option<crate::hub::SyncTask>,
    versioner: Option<crate::hub::versioner::Versioner>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of a hub's Admin API (`http_port`), if it serves one.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The address of the server's own `/metrics` and `/healthz` (`metrics_port`), if it
    /// serves them.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
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
        if let Some(hub) = &self.state.hub {
            // Edges' long polls answer now rather than at the end of their wait.
            hub.stop_waiting();
        }
        if let Some(versioner) = self.versioner {
            let _ = tokio::task::spawn_blocking(move || versioner.join()).await;
        }
        self.state
            .shutting_down
            .store(true, std::sync::atomic::Ordering::Relaxed);
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
    tls: Option<crate::tls::Acceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let next_id = AtomicI64::new(1);
    let mut connections = JoinSet::new();
    // One permit per open connection: a connection over `max_conns` is closed at once.
    let slots = Arc::new(Semaphore::new(
        state.config.max_conns.min(Semaphore::MAX_PERMITS),
    ));
    let maintenance = tokio::spawn(maintenance_loop(state.clone(), shutdown.clone()));
    let mut refusals = RefusalLog::default();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        Metrics::add(&state.metrics.connections_rejected, 1);
                        refusals.refused(peer, state.config.max_conns);
                        drop(stream);
                        continue;
                    };
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    let serve = crate::connection::serve(stream, peer, id, state.clone(), tls.clone(), shutdown.clone());
                    connections.spawn(async move {
                        serve.await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Reap finished connection tasks so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    // Connections end at their next message boundary; one that does not (a request still
    // running, or a client that never reads its reply) is cut at the deadline.
    let deadline = Duration::from_secs(state.config.shutdown_timeout_secs);
    let drained = tokio::time::timeout(deadline, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "closing connections still open at the shutdown deadline"
        );
        connections.shutdown().await;
    }
    let _ = maintenance.await;
}

/// Logs refused connections, at most one line a second with the count since the last one, so
/// that a flood of connections does not flood the log as well.
#[derive(Default)]
struct RefusalLog {
    last: Option<Instant>,
    unlogged: u64,
}

impl RefusalLog {
    fn refused(&mut self, peer: SocketAddr, max_conns: usize) {
        self.unlogged += 1;
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(1))
        {
            return;
        }
        tracing::warn!(
            remote = %peer,
            max_conns,
            refused = self.unlogged,
            "connection refused: too many open connections"
        );
        self.last = Some(now);
        self.unlogged = 0;
    }
}

/// Most history entries removed per maintenance pass, and most expired documents: the rest
/// wait for the next pass, so one pass never holds the writer for long.
const TRIM_PER_PASS: u64 = 100_000;
const TTL_PER_PASS: u64 = 100_000;

/// The periodic work beside serving, on its own task so that accepting connections never
/// waits for it: closing idle cursors, aborting transactions past their lifetime, history
/// trimming and the TTL pass (both on the command
/// pool, bounded per pass).
async fn maintenance_loop(state: Arc<State>, mut shutdown: watch::Receiver<bool>) {
    let mut ttl = tokio::time::interval(Duration::from_secs(state.config.ttl_interval_secs.max(1)));
    let mut reaper = tokio::time::interval(
        Duration::from_secs(60).min(state.config.cursor_timeout().max(Duration::from_secs(1))),
    );
    loop {
        tokio::select! {
            _ = reaper.tick() => {
                let expired = state.cursors.expire(state.config.cursor_timeout());
                if expired > 0 {
                    tracing::info!(expired, "closed idle cursors");
                }
                let aborted = state
                    .sessions
                    .abort_expired_transactions(state.config.transaction_lifetime_limit_secs);
                if aborted > 0 {
                    tracing::info!(aborted, "aborted transactions past their lifetime");
                }
            }
            _ = ttl.tick() => maintenance_pass(&state).await,
            _ = shutdown.changed() => return,
        }
    }
}

async fn maintenance_pass(state: &Arc<State>) {
    let trimmer = state.clone();
    match state
        .commands
        .run(move || trim_history(&trimmer, TRIM_PER_PASS))
        .await
    {
        Ok(Ok(0)) => {}
        Ok(Ok(removed)) => tracing::info!(removed, "trimmed the history log"),
        Ok(Err(e)) => tracing::error!(error = %e, "history trim failed"),
        Err(e) => tracing::error!(error = %e, "history trim panicked"),
    }
    let storage = state.storage.clone();
    let pass = move || storage.remove_expired(bson::DateTime::now(), TTL_PER_PASS);
    match state.commands.run(pass).await {
        Ok(Ok(0)) => {}
        Ok(Ok(removed)) => tracing::info!(removed, "removed expired documents (TTL)"),
        Ok(Err(e)) => tracing::error!(error = %e, "TTL pass failed"),
        Err(e) => tracing::error!(error = %e, "TTL pass panicked"),
    }
}

/// Removes history entries that no sync consumer needs any more and that are older than
/// `history_retention_hours`: on an edge, those the hub acknowledged; on a hub, those every
/// registered edge has downloaded. A server with no sync keeps its history. Removes at most
/// about `limit` entries (whole chunks); returns how many were removed.
fn trim_history(state: &State, limit: u64) -> Result<u64, String> {
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
    // A hub trims by its own clock (which a test may move: the offline window).
    let now = state
        .hub
        .as_ref()
        .map_or_else(bson::DateTime::now, |hub| hub.now());
    let now_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    // The clock of a history entry holds milliseconds in its high 48 bits.
    let before_hlc = now_ms.saturating_sub(retention_ms) << 16;
    let mut removed = 0;
    loop {
        let chunk = state
            .storage
            .trim_history(floor, before_hlc, CHUNK)
            .map_err(|e| e.to_string())?;
        removed += chunk;
        if chunk < CHUNK as u64 || removed >= limit {
            return Ok(removed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_loopback_address_needs_auth_or_the_insecure_flag() {
        let public: SocketAddr = "192.0.2.1:27021".parse().unwrap();
        let loopback: SocketAddr = "127.0.0.1:27021".parse().unwrap();
        let open = Config::default();
        assert!(check_exposure(&open, loopback).is_ok());
        let refused = check_exposure(&open, public).unwrap_err();
        assert!(
            refused.to_string().contains("--insecure-disable-auth"),
            "{refused}"
        );
        let with_auth = Config {
            auth: true,
            ..Config::default()
        };
        assert!(check_exposure(&with_auth, public).is_ok());
        let insecure = Config {
            insecure_disable_auth: true,
            ..Config::default()
        };
        assert!(check_exposure(&insecure, public).is_ok());
    }
}
