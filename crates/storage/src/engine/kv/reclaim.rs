//! Dropped trees are emptied in the background, a chunk of keys at a time.
//!
//! sled 0.34's `drop_tree` reads every page of the tree into memory under one epoch guard and
//! frees none of them before it returns: dropping a collection of a million small documents
//! took the server from 143 to 299 MB, and a larger one could take an appliance's memory.
//! [`Kv::drop_tree`](super::Kv::drop_tree) instead records the tree's name in the trash tree
//! and hands it to a thread of its own, which removes its keys [`CHUNK`] at a time (each
//! removal pins and releases its own guard, so memory stays bounded), then drops the empty
//! tree and its trash record. A restart resumes the trees the trash still names.
//!
//! Dropped trees' names are never reused (collections and indexes are named by ids that only
//! grow), so nothing but the reclaimer touches a tree once it is in the trash.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::error::{Error, Result};

/// The trash tree's name: one key per dropped tree not yet emptied.
pub(super) const TRASH_TREE: &str = "trash";
/// Keys read before each run of removals.
const CHUNK: usize = 1_024;

/// The background thread that empties dropped trees. Dropping it stops the thread (after the
/// chunk in hand) and waits for it, so the store's files are free when the last handle goes.
pub(super) struct Reclaimer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<String>>,
    wake: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<String>> {
        // The queue holds names only: whatever a panicking holder left is usable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Reclaimer {
    /// Starts the thread on `db`, first with the trees its trash names.
    pub(super) fn start(db: sled::Db) -> Result<Reclaimer> {
        let trash = db.open_tree(TRASH_TREE)?;
        let mut pending = VecDeque::new();
        for key in trash.iter().keys() {
            pending.push_back(String::from_utf8_lossy(&key?).into_owned());
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(pending),
            ..Shared::default()
        });
        let thread = std::thread::Builder::new()
            .name("outpost-reclaim".into())
            .spawn({
                let shared = shared.clone();
                move || run(&db, &trash, &shared)
            })
            .map_err(|e| Error::Engine(sled::Error::Io(e)))?;
        Ok(Reclaimer {
            shared,
            thread: Some(thread),
        })
    }

    /// Queues `name`, already recorded in the trash.
    pub(super) fn push(&self, name: &str) {
        self.shared.queue().push_back(name.to_owned());
        self.shared.wake.notify_one();
    }

    /// Whether every queued tree has been emptied and dropped (for tests).
    #[cfg(test)]
    pub(super) fn is_idle(&self) -> bool {
        self.shared.queue().is_empty()
    }
}

impl Drop for Reclaimer {
    fn drop(&mut self) {
        // Set under the queue's lock: the thread checks the flag under it before it waits, so
        // it either sees the flag or is already waiting when the notification comes.
        {
            let _queue = self.shared.queue();
            self.shared.stop.store(true, Ordering::SeqCst);
        }
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(db: &sled::Db, trash: &sled::Tree, shared: &Shared) {
    loop {
        let name = {
            let mut queue = shared.queue();
            loop {
                if shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                if let Some(name) = queue.front() {
                    break name.clone();
                }
                queue = shared.wake.wait(queue).unwrap_or_else(|p| p.into_inner());
            }
        };
        match reclaim(db, trash, &name, &shared.stop) {
            // Stopped part way: the trash record stays, and the next start resumes.
            Ok(false) => return,
            Ok(true) => {}
            // The record stays too; the next start tries again.
            Err(error) => tracing::warn!(tree = %name, %error, "could not empty a dropped tree"),
        }
        shared.queue().pop_front();
    }
}

/// Empties tree `name`, drops it and removes its trash record; false if told to stop first.
fn reclaim(db: &sled::Db, trash: &sled::Tree, name: &str, stop: &AtomicBool) -> Result<bool> {
    let tree = db.open_tree(name)?;
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let keys = tree
            .iter()
            .keys()
            .take(CHUNK)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            break;
        }
        for key in keys {
            tree.remove(key)?;
        }
    }
    drop(tree);
    db.drop_tree(name)?;
    trash.remove(name)?;
    Ok(true)
}
