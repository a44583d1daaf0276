//! Versions for the hub's own local writes (mongosh or drivers on the hub): each one becomes
//! the newest version of its document, so it takes part in last-writer-wins. Requests that
//! merge or serve changes first version what is left ([`Hub::catch_up_all`]); a background
//! pass ([`Hub::version_local_writes`]) keeps what is left small, so that after a large import
//! at the hub no edge's request waits for a million entries to be versioned.

use std::sync::atomic::Ordering;
use std::time::Duration;

use outpost_storage::{HistoryOp, Origin};

use super::records::{DropRecord, Version, HUB_INSTANCE};
use super::upload::version_with_drop;
use super::{Hub, HubBatch, HubMemory, HubStore};
use crate::error::Result;
use crate::instance_query::is_internal_namespace;
use crate::protocol::split_namespace;

/// History entries one commit of hub-local versions covers at most.
const CATCH_UP_CHUNK: usize = 5_000;

impl<S: HubStore> Hub<S> {
    /// One background pass: versions the hub-local writes committed since the last pass, a
    /// chunk per hold of the hub's lock (uploads and downloads interleave with a long pass).
    /// Waits up to `wait` for a commit when everything is versioned already. Returns the
    /// number of history entries examined.
    pub fn version_local_writes(&self, wait: Duration) -> Result<u64> {
        let versioned = {
            let memory = self.locked();
            match memory.versioned_seq {
                Some(seq) => seq,
                None => self.store.versioned_up_to()?,
            }
        };
        if self.store.last_seq() <= versioned && !self.stopping.load(Ordering::SeqCst) {
            self.store.wait_for_commit_after(versioned, wait);
        }
        let mut examined = 0;
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return Ok(examined);
            }
            let mut memory = self.locked();
            let before = memory.versioned_seq.unwrap_or(versioned);
            let complete = self.catch_up_chunk(&mut memory)?;
            examined += memory
                .versioned_seq
                .unwrap_or(before)
                .saturating_sub(before);
            if complete {
                return Ok(examined);
            }
        }
    }

    /// Versions one chunk of hub-local writes in one commit; returns whether none is left.
    fn catch_up_chunk(&self, memory: &mut HubMemory) -> Result<bool> {
        let mut batch = self.store.batch();
        let (versioned, complete) = self.catch_up_versions(memory, &mut batch, CATCH_UP_CHUNK)?;
        batch.commit()?;
        memory.versioned_seq = Some(versioned);
        Ok(complete)
    }

    /// Records versions for the hub's own local writes (mongosh or drivers on the hub) made
    /// since the last call, so they take part in last-writer-wins. A local write is the newest
    /// version of its document by definition (it replaced whatever was there); the hub's clock
    /// has observed every uploaded change, so its timestamp is later too.
    /// Stages them in `batch`; returns the history sequence they are recorded up to, for
    /// `HubMemory::versioned_seq` once the batch is committed, and whether that was all of
    /// them (at most `limit` history entries are read).
    pub(super) fn catch_up_versions(
        &self,
        memory: &HubMemory,
        batch: &mut S::Batch<'_>,
        limit: usize,
    ) -> Result<(u64, bool)> {
        let from = match memory.versioned_seq {
            Some(seq) => seq,
            None => batch.versioned_up_to()?,
        };
        let mut last = from;
        let entries: Vec<_> = self
            .store
            .history_heads_from(from.saturating_add(1))
            .take(limit)
            .collect();
        let complete = entries.len() < limit;
        for entry in entries {
            let entry = entry?;
            last = entry.seq;
            let Ok((db, coll)) = split_namespace(&entry.ns) else {
                continue;
            };
            if is_internal_namespace(db, coll) {
                continue;
            }
            if entry.op == HistoryOp::Drop {
                // Every document of the collection is deleted as of the drop: an older change
                // uploaded later must not bring one back.
                batch.put_drop(&entry.ns, &DropRecord { hlc: entry.hlc })?;
                continue;
            }
            if entry.origin != Origin::Local {
                continue;
            }
            let version = match (&entry.op, &entry.changed_fields) {
                (HistoryOp::Update, Some(fields)) => {
                    let mut version = version_with_drop(batch, &entry.ns, &entry.id)?
                        .filter(|v| !v.deleted)
                        .unwrap_or_else(|| Version::whole(0, false, HUB_INSTANCE));
                    for field in fields {
                        version.set_field(field, entry.hlc, HUB_INSTANCE);
                    }
                    version.origin = HUB_INSTANCE.to_string();
                    version
                }
                (op, _) => Version::whole(entry.hlc, *op == HistoryOp::Delete, HUB_INSTANCE),
            };
            batch.put_version(&entry.ns, &entry.id, &version)?;
        }
        if last != from {
            batch.set_versioned_up_to(last)?;
        }
        Ok((last, complete))
    }

    /// Records versions for every hub-local write not versioned yet, committing every
    /// `CATCH_UP_CHUNK` history entries: after a large import at the hub, no single batch (and
    /// no single hold of the writer lock) covers all of it.
    pub(super) fn catch_up_all(&self, memory: &mut HubMemory) -> Result<()> {
        while !self.catch_up_chunk(memory)? {}
        Ok(())
    }
}
