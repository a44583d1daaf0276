//! The server's side of sync: the TCP link to a hub ([`client`]) and the edge's background
//! sync task, which runs [`outpost_sync::EdgeSync`] rounds on its own thread, reconnecting
//! with exponential backoff. Sync never blocks local reads and writes: it only uses storage's
//! public API like any other client, and a hub that is down only delays the next round.

pub mod client;

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use outpost_storage::Storage;
use outpost_sync::{EdgeOptions, EdgeSync, SyncStatus};

use crate::config::Config;
use client::HubClient;

/// The edge's running sync thread.
pub struct SyncTask {
    stop: mpsc::Sender<()>,
    thread: Option<JoinHandle<()>>,
    status: Arc<Mutex<SyncStatus>>,
}

impl SyncTask {
    /// Starts syncing with `config.hub` when one is configured.
    pub fn start(storage: &Storage, config: &Config) -> Option<SyncTask> {
        let hub = config.hub.clone()?;
        let options = EdgeOptions {
            state_dir: config.dbpath.clone(),
            registration_key: config.registration_key.clone(),
            ..EdgeOptions::default()
        };
        let engine = match EdgeSync::new(storage.clone(), options) {
            Ok(engine) => engine,
            Err(error) => {
                tracing::error!(error = %error, "cannot start sync; the edge keeps serving locally");
                return None;
            }
        };
        let status = engine.status();
        if config.write_outside_query == crate::config::WriteOutsideQuery::Reject {
            storage.set_write_guard(Some(engine.write_guard()));
        }
        let (stop, stopped) = mpsc::channel();
        let timing = Timing {
            interval: Duration::from_millis(config.sync_interval_ms.max(1)),
            max_backoff: Duration::from_millis(config.sync_max_backoff_ms.max(1)),
            timeout: Duration::from_millis(config.sync_timeout_ms.max(1)),
        };
        let thread = std::thread::Builder::new()
            .name("outpost-sync".into())
            .stack_size(32 * 1024 * 1024)
            .spawn(move || run(engine, &hub, timing, &stopped))
            .map_err(|error| tracing::error!(error = %error, "cannot start the sync thread"))
            .ok()?;
        Some(SyncTask {
            stop,
            thread: Some(thread),
            status,
        })
    }

    pub fn status(&self) -> Arc<Mutex<SyncStatus>> {
        self.status.clone()
    }

    /// Stops the thread after its current request.
    pub fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Clone, Copy)]
struct Timing {
    interval: Duration,
    max_backoff: Duration,
    timeout: Duration,
}

/// Sync rounds until stopped: a round every `interval` while things work; after an error, a
/// new connection after a backoff that doubles up to `max_backoff`. A refused API key or
/// registration key stops sync (retrying cannot fix it); local service continues.
fn run(mut engine: EdgeSync, hub: &str, timing: Timing, stopped: &mpsc::Receiver<()>) {
    let initial_backoff = Duration::from_millis(100).min(timing.max_backoff);
    let mut backoff = initial_backoff;
    let mut link: Option<HubClient> = None;
    let mut failing = false;
    loop {
        let outcome = match &mut link {
            Some(link) => engine.sync_once(link),
            None => match HubClient::connect(hub, timing.timeout) {
                Ok(connected) => {
                    let link = link.insert(connected);
                    engine.sync_once(link)
                }
                Err(error) => Err(error),
            },
        };
        let wait = match outcome {
            Ok(()) => {
                if failing {
                    tracing::info!(hub, "sync with the hub restored");
                    failing = false;
                }
                backoff = initial_backoff;
                timing.interval
            }
            Err(error) if error.is_fatal() => {
                engine.record_error(&error);
                tracing::error!(hub, error = %error, "the hub refused this edge; sync stopped, the edge keeps serving locally");
                return;
            }
            Err(error) => {
                engine.record_error(&error);
                if !failing {
                    tracing::warn!(hub, error = %error, "sync with the hub failed; retrying with backoff");
                    failing = true;
                }
                link = None;
                let wait = backoff;
                backoff = (backoff * 2).min(timing.max_backoff);
                wait
            }
        };
        match stopped.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
