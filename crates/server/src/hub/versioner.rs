//! The hub's background versioner: a thread that gives the hub's own local writes (mongosh or
//! drivers on the hub) their last-writer-wins versions as they commit, a chunk at a time (see
//! `outpost_sync::Hub::version_local_writes`). Edges' requests then find little left to
//! version, even right after a large import at the hub.

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use outpost_sync::Hub;

/// How long one pass waits for a commit; also the longest the thread keeps the hub (and its
/// storage) alive after the server is dropped without a shutdown.
const WAIT: Duration = Duration::from_millis(500);
/// The pause after a failed pass (logged), before the next.
const AFTER_ERROR: Duration = Duration::from_secs(5);

/// The running versioner. It stops when the hub stops waiting (`Hub::stop_waiting`, at
/// shutdown) or when the hub is dropped.
pub struct Versioner {
    thread: Option<JoinHandle<()>>,
}

impl Versioner {
    /// Starts the thread. A hub that cannot start one still works: requests version what is
    /// left themselves.
    pub fn start(hub: &Arc<Hub>) -> Versioner {
        let hub = Arc::downgrade(hub);
        let thread = std::thread::Builder::new()
            .name("outpost-hub-versioner".into())
            .spawn(move || run(&hub));
        match thread {
            Ok(thread) => Versioner {
                thread: Some(thread),
            },
            Err(error) => {
                tracing::warn!(%error, "cannot start the hub's versioner thread");
                Versioner { thread: None }
            }
        }
    }

    /// Waits for the thread to end (after `Hub::stop_waiting`).
    pub fn join(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(hub: &Weak<Hub>) {
    loop {
        let Some(hub) = hub.upgrade() else {
            return;
        };
        if hub.is_stopping() {
            return;
        }
        match hub.version_local_writes(WAIT) {
            Ok(0) => {}
            Ok(examined) => tracing::debug!(examined, "versioned the hub's local writes"),
            Err(error) => {
                tracing::warn!(%error, "cannot version the hub's local writes");
                drop(hub);
                std::thread::sleep(AFTER_ERROR);
            }
        }
    }
}
