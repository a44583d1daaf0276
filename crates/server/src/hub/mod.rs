//! The server's side of sync: the TCP link to a hub ([`client`]) and the edge's background
//! sync task, which runs [`outpost_sync::EdgeSync`] on two threads of its own (upload and
//! download), reconnecting with exponential backoff. Sync never blocks local reads and
//! writes: it only uses storage's public API like any other client, and a hub that is down
//! only delays the next exchange.

mod backoff;
pub mod client;
pub mod login;
pub mod report;
pub mod versioner;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use outpost_storage::Storage;
use outpost_sync::{EdgeOptions, EdgeSync, Link, SyncStatus};

use crate::config::Config;
use client::HubClient;
use report::{count_sync_request, Reporter};

/// The edge's running sync: two threads, one connection each.
/// - The upload side waits for local commits (storage's commit watch) and uploads as soon as
///   one lands, so a write reaches the hub within a round trip; bursts coalesce into one batch
///   while the previous one is in flight.
/// - The download side holds a long poll open at the hub, which answers as soon as a change
///   for this edge commits there; an idle edge costs one request per [`LONG_POLL_MS`].
///
/// The engine is shared. The download side does not hold it during its long poll, so the two
/// overlap: an answer requested before an upload the hub acknowledged since is not applied
/// (the hub may have answered before the upload reached it) and is asked for again; after
/// two such answers in a row the download side asks while holding the engine. The upload side
/// holds it for each round trip, so the hub's answers are applied in the order it gave them.
pub struct SyncTask {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    status: Arc<Mutex<SyncStatus>>,
}

/// How long the hub may hold a download request when nothing is new (milliseconds).
pub const LONG_POLL_MS: u64 = 5_000;
/// Download answers overtaken by uploads in a row before the download side asks while
/// holding the engine.
const MAX_STALE_DOWNLOADS: usize = 2;
/// Upload batches per hold of the engine (each next one read while the one before is in
/// flight); the download side gets the engine in between.
const PIPELINED_BATCHES: usize = 8;

/// What both sides share.
struct Shared {
    engine: Mutex<EdgeSync>,
    storage: Storage,
    hub: String,
    /// The CA of the hub's certificate (`hub_tls_ca_file`), for a `tls=true` hub URI.
    hub_tls_ca_file: Option<std::path::PathBuf>,
    timing: Timing,
    stopping: AtomicBool,
    /// Download answers in a row not applied because an upload overtook them.
    stale_downloads: AtomicUsize,
    /// Each side's socket, shut down to interrupt a long poll when stopping.
    sockets: Mutex<Vec<(Side, std::net::TcpStream)>>,
    /// Bytes on the wire of both sides' links, reported in the sync status.
    link_bytes: Arc<outpost_sync::LinkBytes>,
    status: Arc<Mutex<SyncStatus>>,
    /// Metrics and log records for the hub, sent by the download side.
    reporter: Reporter,
}

impl SyncTask {
    /// Starts syncing with `config.hub` when one is configured.
    pub fn start(storage: &Storage, config: &Config, reporter: Reporter) -> Option<SyncTask> {
        let hub = config.hub.clone()?;
        let options = EdgeOptions {
            state_dir: config.dbpath.clone(),
            registration_key: config.registration_key.clone(),
            hostname: host_name(),
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
        let link_bytes = lock(&status).link_bytes.clone();
        if config.write_outside_query == crate::config::WriteOutsideQuery::Reject {
            storage.set_write_guard(Some(engine.write_guard()));
        }
        let shared = Arc::new(Shared {
            engine: Mutex::new(engine),
            storage: storage.clone(),
            hub,
            hub_tls_ca_file: config.hub_tls_ca_file.clone(),
            timing: Timing {
                interval: Duration::from_millis(config.sync_interval_ms.max(1)),
                max_backoff: Duration::from_millis(config.sync_max_backoff_ms.max(1)),
                timeout: Duration::from_millis(config.sync_timeout_ms.max(1)),
                ingest_retention: Duration::from_secs(
                    config.ingest_retention_hours.saturating_mul(3600),
                ),
            },
            stopping: AtomicBool::new(false),
            stale_downloads: AtomicUsize::new(0),
            sockets: Mutex::new(Vec::new()),
            link_bytes,
            status: status.clone(),
            reporter,
        });
        let mut threads = Vec::new();
        for (name, side) in [
            ("outpost-sync-up", Side::Upload),
            ("outpost-sync-down", Side::Download),
        ] {
            let for_thread = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(name.into())
                .stack_size(32 * 1024 * 1024)
                .spawn(move || run(&for_thread, side));
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(error) => {
                    tracing::error!(error = %error, "cannot start the sync threads");
                    shared.stop();
                    return None;
                }
            }
        }
        Some(SyncTask {
            shared,
            threads,
            status,
        })
    }

    pub fn status(&self) -> Arc<Mutex<SyncStatus>> {
        self.status.clone()
    }

    /// Stops both sides after their current request (a long poll is cut short).
    pub fn stop(mut self) {
        self.shared.stop();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for (_, socket) in lock(&self.sockets).drain(..) {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn engine(&self) -> MutexGuard<'_, EdgeSync> {
        lock(&self.engine)
    }

    /// Waits up to `wait`, waking early when stopping. (The upload side waits on the commit
    /// watch instead.)
    fn sleep(&self, wait: Duration) {
        let deadline = std::time::Instant::now() + wait;
        while !self.stopping() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    fn connect(&self, side: Side) -> outpost_sync::Result<HubClient> {
        let client = HubClient::connect_with(
            &self.hub,
            self.timing.timeout,
            self.hub_tls_ca_file.as_deref(),
            self.link_bytes.clone(),
        )?;
        if let Ok(socket) = client.socket() {
            let mut sockets = lock(&self.sockets);
            sockets.retain(|(s, _)| *s != side);
            sockets.push((side, socket));
        }
        if self.stopping() {
            return Err(outpost_sync::Error::Link("stopping".into()));
        }
        Ok(client)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Clone, Copy)]
struct Timing {
    /// How long the upload side waits for a commit before looking again anyway.
    interval: Duration,
    max_backoff: Duration,
    timeout: Duration,
    /// How long ingested documents stay after the hub acknowledged them.
    ingest_retention: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Upload,
    Download,
}

/// One side's loop until stopped: its exchanges while things work; after an error, a new
/// connection after a backoff that doubles up to `max_backoff` ([`backoff`]). A refusal by
/// the hub (its API key or registration key refused) is retried the same way, the edge
/// serving locally meanwhile: the hub may accept it again (re-registered there, a new key).
fn run(shared: &Shared, side: Side) {
    let mut backoff = backoff::Backoff::new(shared.timing.max_backoff);
    let mut link: Option<HubClient> = None;
    let mut failing = false;
    let mut refused = false;
    // The download side says once, in the hub's logs, that this edge's sync is running.
    let mut announced = side == Side::Upload;
    while !shared.stopping() {
        let outcome = match &mut link {
            Some(link) => exchange(shared, side, link),
            None => match shared.connect(side) {
                Ok(connected) => exchange(shared, side, link.insert(connected)),
                Err(error) => Err(error),
            },
        };
        count_sync_request(&shared.status, outcome.is_ok());
        match outcome {
            Ok(()) => {
                if !announced {
                    shared
                        .reporter
                        .logs()
                        .push("sync", "info", "sync with the hub started", None);
                    announced = true;
                }
                if failing {
                    tracing::info!(hub = %shared.hub, ?side, "sync with the hub restored");
                    shared.reporter.logs().push(
                        "sync",
                        "info",
                        format!("sync with the hub restored ({side:?} side)"),
                        None,
                    );
                    failing = false;
                }
                refused = false;
                backoff.reset();
            }
            Err(_) if shared.stopping() => return,
            Err(error) => {
                shared.engine().record_error(&error);
                if error.is_fatal() && !refused {
                    shared.reporter.logs().push(
                        "sync",
                        "error",
                        format!("the hub refused this edge; retrying with backoff: {error}"),
                        None,
                    );
                    tracing::error!(hub = %shared.hub, error = %error, "the hub refused this edge; the edge keeps serving locally and retries with backoff");
                    refused = true;
                    failing = true;
                } else if !failing {
                    tracing::warn!(hub = %shared.hub, ?side, error = %error, "sync with the hub failed; retrying with backoff");
                    shared.reporter.logs().push(
                        "sync",
                        "warn",
                        format!("sync with the hub failed ({side:?} side), retrying: {error}"),
                        None,
                    );
                    failing = true;
                }
                link = None;
                if side == Side::Download {
                    shared.reporter.reset();
                }
                shared.sleep(backoff.next_wait());
            }
        }
    }
}

/// One step of a side: registration if needed, then for the upload side every batch of the
/// backlog followed by a wait for the next local commit, and for the download side one long
/// poll and what it brings.
fn exchange(shared: &Shared, side: Side, link: &mut HubClient) -> outpost_sync::Result<()> {
    shared.engine().ensure_bound(link)?;
    match side {
        Side::Upload => {
            // The commit watch's position before reading the backlog: a commit after it wakes
            // the wait below, so nothing committed meanwhile waits for the interval.
            let seen = shared.storage.committed_seq();
            while upload_pipelined(shared, link)? {}
            drop_expired_ingested(shared)?;
            if !shared.stopping() {
                shared
                    .storage
                    .wait_for_commit_after(seen, shared.timing.interval);
            }
        }
        Side::Download => {
            report(shared, link)?;
            let stale = shared.stale_downloads.load(Ordering::SeqCst);
            let engine = if stale >= MAX_STALE_DOWNLOADS {
                // Uploads keep overtaking this side's answers: ask once more while holding
                // the engine (no upload can then complete in between), without waiting.
                let mut engine = shared.engine();
                let request = engine.download_request(0)?;
                let reply = link.call(request)?;
                engine.apply_download(link, &reply)?;
                engine
            } else {
                let wait = LONG_POLL_MS.min(duration_ms(shared.timing.timeout) / 2);
                let request = shared.engine().download_request(wait)?;
                let reply = link.call(request)?;
                let mut engine = shared.engine();
                if engine.download_answer_is_stale() {
                    // Answered before an upload the hub acknowledged since: asked again.
                    shared.stale_downloads.fetch_add(1, Ordering::SeqCst);
                    return Ok(());
                }
                engine.apply_download(link, &reply)?;
                engine
            };
            shared.stale_downloads.store(0, Ordering::SeqCst);
            engine.record_success();
        }
    }
    Ok(())
}

/// Removes the local copies of ingested documents past their retention, a bounded pass at a
/// time, yielding the engine between passes.
fn drop_expired_ingested(shared: &Shared) -> outpost_sync::Result<()> {
    let retention = shared.timing.ingest_retention;
    while !shared.stopping() {
        let dropped = shared
            .engine()
            .drop_expired_ingested(retention, bson::DateTime::now())?;
        if dropped < outpost_sync::edge::RETENTION_PASS_LIMIT as u64 {
            break;
        }
    }
    Ok(())
}

/// Uploads up to [`PIPELINED_BATCHES`] batches in one hold of the engine, reading each next
/// batch from the history while the one before is in flight. Returns whether more may be
/// left.
///
/// The engine stays held for the round trips: the hub's answer (its versions of documents
/// whose changes lost) must be applied before any download answered after it, or an older
/// version would replace a newer one. A batch read ahead is used only within the same hold
/// (a query change in between would make it stale) and only when the answer before it moved
/// the cursor to its start (the hub may ask for a batch again with documents whole).
fn upload_pipelined(shared: &Shared, link: &mut HubClient) -> outpost_sync::Result<bool> {
    let mut engine = shared.engine();
    let mut next = engine.prepare_upload()?;
    for round in 1..=PIPELINED_BATCHES {
        let Some(mut prepared) = next.take() else {
            // Caught up: counting what is left is cheap now.
            engine.refresh_backlog();
            return Ok(false);
        };
        let Some(request) = prepared.request.take() else {
            // Only skipped entries: the cursor moves without asking the hub.
            engine.complete_upload(prepared, None)?;
            next = engine.prepare_upload()?;
            continue;
        };
        link.send(request)?;
        let ahead = if round < PIPELINED_BATCHES {
            engine.prepare_upload_after(&prepared)?
        } else {
            None
        };
        let reply = link.receive()?;
        let moved = engine.complete_upload(prepared, Some(&reply))?;
        engine.record_success();
        next = if moved {
            ahead
        } else {
            engine.prepare_upload()?
        };
    }
    Ok(true)
}

/// This machine's name, as the edge tells the hub in its hello.
fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_string())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|name| !name.is_empty())
}

/// Sends the edge's metrics and queued log records when a report is due. A hub that does
/// not know the report (an older 3.0 hub: 59) is not an error of sync.
fn report(shared: &Shared, link: &mut HubClient) -> outpost_sync::Result<()> {
    let due = {
        let status = lock(&shared.status);
        shared.reporter.due(&status)
    };
    let Some((request, logs)) = due else {
        return Ok(());
    };
    match link.call(request) {
        Ok(reply) => {
            if let Ok(status) = reply.get_str("status") {
                let reason = reply.get_str("statusReason").ok().map(str::to_string);
                lock(&shared.status).hub_status = Some((status.to_string(), reason));
            }
            Ok(())
        }
        Err(error) if error.code() == 59 => Ok(()),
        Err(error) => {
            shared.reporter.failed(logs);
            Err(error)
        }
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
