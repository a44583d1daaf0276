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
    #[error("refusing to listen on {0} without --auth: anyone who can reach it could read and change every database. Enable authentication (--auth, after creating a user), bind 127.0.0.1, or pass --insecure-disable-auth")]
    Insecure(SocketAddr),
    #[error("{0}")]
    Tls(String),
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
        // Refused before binding: an insecure address is never listened on, even briefly.
        check_exposure(&self.config, addr)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        self.start_on(listener).await
    }

    /// Starts serving on a listener the caller bound (e.g. `127.0.0.1:0` in tests).
    pub async fn start_on(self, listener: TcpListener) -> Result<ServerHandle, StartError> {
        let local_addr = listener.local_addr()?;
        check_exposure(&self.config, local_addr)?;
        let tls = crate::tls::acceptor(&self.config).map_err(StartError::Tls)?;
        let storage = self.open_storage()?;
        let users = crate::auth::Users::open(&storage)?;
        if self.config.auth && !users.any()? {
            tracing::warn!("authentication is enabled and no user exists yet: create the first user on admin from a loopback connection (the localhost exception) or with `outpost user add`");
        }
        let hub = self
            .config
            .hub_mode
            .then(|| Arc::new(outpost_sync::Hub::new(storage.clone())));
        let sync_task = crate::hub::SyncTask::start(&storage, &self.config);
        let state = Arc::new(State {
            storage,
            users,
            cursors: CursorRegistry::default(),
            metrics: Metrics::default(),
            config: self.config,
            commands: crate::pool::CommandPool::new()?,
            fail_points: Default::default(),

            sessions: Default::default(),
            started: Instant::now(),
            process_id: bson::oid::ObjectId::new(),

            local_addr,
            hub,
            sync_status: sync_task.as_ref().map(crate::hub::SyncTask::status),
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, state.clone(), tls, shutdown_rx));
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
    tls: Option<crate::tls::Acceptor>,
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
                    connections.spawn(crate::connection::serve(stream, peer, id, state.clone(), tls.clone(), shutdown.clone()));
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
