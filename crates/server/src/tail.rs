//! Tailable cursors on capped collections: a position in the collection's insertion order
//! instead of a result set. Each batch is a tail read after the position
//! ([`Storage::tail`](outpost_storage::Storage::tail)); with `awaitData`, a `getMore` that
//! finds nothing waits on storage's commit watch (no polling) until a commit or its
//! `maxTimeMS` (1 second by default, as mongod) and reads again. The server's shutdown ends
//! the wait too.

use std::time::{Duration, Instant};

use bson::Document;
use outpost_storage::TailRequest;

use crate::cursor::MAX_BATCH_BYTES;
use crate::error::Result;
use crate::state::State;

/// How long an awaitData `getMore` waits without `maxTimeMS`, as mongod.
const DEFAULT_AWAIT: Duration = Duration::from_secs(1);

/// An open tailable cursor's query and position.
pub struct Tail {
    pub db: String,
    pub coll: String,
    pub filter: Document,
    pub projection: Option<Document>,
    /// The insertion position of the last document read (0: none yet).
    pub after: u64,
    pub await_data: bool,
    /// Matching documents still to skip (`skip`).
    pub skip: u64,
    /// Documents still to return (`limit`; `None`: no limit). At 0 the cursor is done.
    pub remaining: Option<u64>,
}

impl Tail {
    /// The next documents after the position, at most `max_docs`. With `awaitData` and
    /// nothing new, waits for a commit until `max_await` (or 1 second) has passed.
    pub fn next_batch(
        &mut self,
        state: &State,
        max_docs: Option<usize>,
        max_await: Option<Duration>,
    ) -> Result<Vec<Document>> {
        let deadline = Instant::now() + max_await.unwrap_or(DEFAULT_AWAIT);
        let limit = self
            .remaining
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        let max_docs = match (max_docs, limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        loop {
            if self.done() {
                return Ok(Vec::new());
            }
            let skip = usize::try_from(self.skip).unwrap_or(usize::MAX);
            // Read the commit position before the tail read: a commit after it wakes the wait
            // below at once, so an insert between the read and the wait is never missed.
            let seen = state.storage.committed_seq();
            let batch = state.storage.tail(
                &self.db,
                &self.coll,
                &TailRequest {
                    after: self.after,
                    filter: &self.filter,
                    projection: self.projection.as_ref(),
                    max_docs: max_docs.unwrap_or(usize::MAX).saturating_add(skip),
                    max_bytes: MAX_BATCH_BYTES,
                },
            )?;
            self.after = batch.last;
            let mut docs = batch.docs;
            let skipped = skip.min(docs.len());
            docs.drain(..skipped);
            self.skip -= u64::try_from(skipped).unwrap_or(0);
            if let Some(remaining) = self.remaining.as_mut() {
                *remaining =
                    remaining.saturating_sub(u64::try_from(docs.len()).unwrap_or(u64::MAX));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if !docs.is_empty() || !self.await_data || left.is_zero() || *state.shutdown.borrow() {
                return Ok(docs);
            }
            wait_for_commit(state, seen, left);
        }
    }
}

impl Tail {
    /// Whether the cursor returned its `limit` of documents (it is then closed).
    pub fn done(&self) -> bool {
        self.remaining == Some(0)
    }
}

/// Waits until a commit after `seen`, the server's shutdown, or `timeout`. Commands run on
/// blocking threads of the command runtime, which may block on its futures.
fn wait_for_commit(state: &State, seen: u64, timeout: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        state.storage.wait_for_commit_after(seen, timeout);
        return;
    };
    let mut commits = state.storage.subscribe_commits();
    let mut shutdown = state.shutdown.clone();
    runtime.block_on(async {
        tokio::select! {
            _ = commits.wait_for(|&last| last > seen) => {}
            _ = shutdown.wait_for(|&stopping| stopping) => {}
            _ = tokio::time::sleep(timeout) => {}
        }
    });
}
