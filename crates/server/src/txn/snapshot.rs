//! An open transaction's data: a private snapshot of the collections it touches, in a scratch
//! database of its own, where its statements run with every command's full semantics
//! (indexes, unique checks, sorts, aggregation); and the commit that applies what it wrote to
//! the server's storage in one atomic batch.
//!
//! Snapshot isolation without old versions in storage: the transaction's snapshot is the
//! history log's committed sequence number when it started (`start_seq`). A collection is
//! copied into the scratch database the first time a statement names it; if the history log
//! shows a change to that collection after `start_seq`, the copy is not the snapshot and the
//! statement fails with WriteConflict (a transient error: the driver retries the transaction).
//! At commit, under the writer lock, a change committed after `start_seq` to a document the
//! transaction wrote (or a drop of its collection) is a write-write conflict: WriteConflict,
//! nothing applied. Otherwise the final state of every written document commits in one
//! `RemoteBatch` (documents, index entries with their unique checks, history entries).

use std::collections::HashSet;
use std::time::Instant;

use bson::{Bson, Document};
use outpost_storage::value::{keyenc, size::document_size};
use outpost_storage::{FindOptions, HistoryEntry, HistoryOp, Origin, Storage};

use super::state::TRANSIENT;
use super::Ticket;
use crate::error::{Error, Result};

/// The most a transaction may hold: the collections it copied plus the documents it wrote
/// (its scratch database lives in memory).
pub const MAX_TRANSACTION_BYTES: u64 = 64 * 1024 * 1024;

/// Documents copied into the scratch database per batch.
const COPY_BATCH: usize = 1_000;

/// An open transaction.
pub struct Active {
    /// The last committed history sequence number when the transaction started.
    start_seq: u64,
    /// When `transactionLifetimeLimitSeconds` runs out.
    pub deadline: Instant,
    scratch: Storage,
    /// Namespaces (`db.coll`) copied into the scratch database.
    copied: HashSet<String>,
    /// The documents the transaction wrote, in the order first written.
    written: Vec<(String, String, Bson)>,
    /// `(namespace, encoded _id)` of `written`.
    written_keys: HashSet<(String, Vec<u8>)>,
    /// Those of `written_keys` that a statement replaced whole (the others were inserted,
    /// updated or deleted): they commit as replaces, the others' changes as updates.
    replaced: HashSet<(String, Vec<u8>)>,
    /// Bytes copied and written, against [`MAX_TRANSACTION_BYTES`].
    bytes: u64,
    _ticket: Ticket,
}

impl Active {
    /// Starts a transaction whose snapshot is what `real` has committed now.
    pub fn begin(real: &Storage, deadline: Instant, ticket: Ticket) -> Result<Active> {
        Ok(Active {
            start_seq: real.committed_seq(),
            deadline,
            scratch: Storage::scratch()?,
            copied: HashSet::new(),
            written: Vec::new(),
            written_keys: HashSet::new(),
            replaced: HashSet::new(),
            bytes: 0,
            _ticket: ticket,
        })
    }

    /// The database the transaction's statements run on.
    pub fn scratch(&self) -> &Storage {
        &self.scratch
    }

    /// The scratch database's last history sequence number (before a statement runs).
    pub fn scratch_seq(&self) -> u64 {
        self.scratch.last_seq()
    }

    /// Makes sure `db.coll` is in the snapshot, with the views and collections it reads.
    pub fn snapshot(&mut self, real: &Storage, db: &str, coll: &str) -> Result<()> {
        let mut pending = vec![coll.to_owned()];
        let mut rounds = 0;
        while let Some(coll) = pending.pop() {
            rounds += 1;
            if rounds > super::commands::MAX_NAMESPACES {
                break;
            }
            let ns = format!("{db}.{coll}");
            if !self.copied.insert(ns.clone()) {
                continue;
            }
            let info = real
                .list_collections(db)
                .into_iter()
                .find(|c| c.name == coll);
            let timeseries = real.timeseries_options(db, &coll)?;
            if let (Some(info), Some(options)) = (&info, timeseries) {
                // A time-series collection: its catalog entries and indexes, then its buckets
                // as they are (the transaction may read it, never write it).
                let expire = info
                    .options
                    .get("expireAfterSeconds")
                    .and_then(Bson::as_i64);
                self.scratch
                    .create_timeseries(db, &coll, &options, expire)?;
                let buckets = outpost_storage::buckets_name(&coll);
                self.copied.insert(format!("{db}.{buckets}"));
                self.copy_documents(real, db, &buckets)?;
                let buckets_ns = format!("{db}.{buckets}");
                if let Some(entry) =
                    first_change_after(real, self.start_seq, |e| e.ns == buckets_ns)?
                {
                    return Err(write_conflict(format!(
                        "{buckets_ns} changed after the transaction's snapshot (history entry \
                         {}); Outpost keeps no older versions to read",
                        entry.seq
                    )));
                }
            } else if let Some(info) = info {
                if info.is_view {
                    if let Ok(source) = info.options.get_str("viewOn") {
                        pending.push(source.to_owned());
                    }
                    if let Ok(pipeline) = info.options.get_array("pipeline") {
                        let mut more = Vec::new();
                        super::commands::pipeline_namespaces(db, pipeline, &mut more);
                        pending.extend(more.into_iter().map(|(_, c)| c));
                    }
                    self.scratch.create_collection(db, &coll, info.options)?;
                } else {
                    self.copy_collection(real, db, &coll, info.options)?;
                }
            }
            let changed = first_change_after(real, self.start_seq, |e| e.ns == ns)?;
            if let Some(entry) = changed {
                return Err(write_conflict(format!(
                    "{ns} changed after the transaction's snapshot (history entry {}); \
                     Outpost keeps no older versions to read",
                    entry.seq
                )));
            }
        }
        Ok(())
    }

    fn copy_collection(
        &mut self,
        real: &Storage,
        db: &str,
        coll: &str,
        options: Document,
    ) -> Result<()> {
        let collated = options.contains_key("collation");
        self.scratch.create_collection(db, coll, options)?;
        if collated {
            self.scratch.create_collated_id_index(db, coll)?;
        }
        let specs: Vec<Document> = real
            .list_indexes(db, coll)?
            .into_iter()
            .filter(|spec| spec.get_str("name").ok() != Some("_id_"))
            .collect();
        if !specs.is_empty() {
            self.scratch.create_indexes(db, coll, &specs)?;
        }
        self.copy_documents(real, db, coll)
    }

    /// Copies the documents of `db.coll` into the scratch collection of the same name.
    fn copy_documents(&mut self, real: &Storage, db: &str, coll: &str) -> Result<()> {
        let mut docs = real.find(db, coll, &FindOptions::default())?;
        loop {
            let chunk: Vec<Document> = docs
                .by_ref()
                .take(COPY_BATCH)
                .collect::<outpost_storage::Result<_>>()?;
            if chunk.is_empty() {
                return Ok(());
            }
            for doc in &chunk {
                self.count_bytes(doc)?;
            }
            let mut batch = self.scratch.remote_batch();
            for doc in chunk {
                let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
                batch.put(db, coll, &id, Some(doc), &Origin::Local);
            }
            batch.commit()?;
        }
    }

    fn count_bytes(&mut self, doc: &Document) -> Result<()> {
        let size = u64::try_from(document_size(doc)).unwrap_or(u64::MAX);
        self.bytes = self.bytes.saturating_add(size);
        if self.bytes > MAX_TRANSACTION_BYTES {
            return Err(Error::new(
                257,
                format!(
                    "the transaction's collections and writes passed {MAX_TRANSACTION_BYTES} \
                     bytes, the most one Outpost transaction may hold"
                ),
            ));
        }
        Ok(())
    }

    /// Takes note of the documents a statement wrote: the scratch database's history after
    /// `before`.
    pub fn note_writes(&mut self, before: u64) -> Result<()> {
        let entries: Vec<HistoryEntry> = self
            .scratch
            .history_from(before.saturating_add(1))
            .collect::<outpost_storage::Result<_>>()?;
        for entry in entries {
            if entry.op == HistoryOp::Drop {
                return Err(Error::new(
                    263,
                    "dropping a collection is not supported in a transaction",
                ));
            }
            if let Some(doc) = &entry.doc {
                self.count_bytes(doc)?;
            }
            let key = (entry.ns.clone(), keyenc::encode(&entry.id));
            if entry.op == HistoryOp::Replace {
                self.replaced.insert(key.clone());
            }
            if self.written_keys.insert(key) {
                let Some((db, coll)) = entry.ns.split_once('.') else {
                    return Err(Error::new(1, format!("bad namespace {}", entry.ns)));
                };
                self.written
                    .push((db.to_owned(), coll.to_owned(), entry.id.clone()));
            }
        }
        Ok(())
    }

    /// Applies the transaction's writes to `real` in one atomic batch, or nothing: a write
    /// conflict (112, transient), a duplicate key in a unique index (11000), a refused write.
    pub fn commit(self, real: &Storage) -> Result<()> {
        if self.written.is_empty() {
            return Ok(());
        }
        let written_ns: HashSet<&str> = self
            .written_keys
            .iter()
            .map(|(ns, _)| ns.as_str())
            .collect();
        let mut batch = real.remote_batch();
        // The writer lock is held from here to the commit: no change slips in between.
        let conflict = first_change_after(real, self.start_seq, |e| {
            conflicts(&self.written_keys, &written_ns, e)
        })?;
        if let Some(entry) = conflict {
            return Err(write_conflict(format!(
                "a document this transaction wrote in {} was changed by another commit \
                 (history entry {}) after the transaction started",
                entry.ns, entry.seq
            )));
        }
        let finals = self.scratch.remote_batch();
        for (db, coll, id) in &self.written {
            let key = (format!("{db}.{coll}"), keyenc::encode(id));
            match finals.get(db, coll, id)? {
                Some(doc) if !self.replaced.contains(&key) => {
                    batch.put_as_update(db, coll, id, doc, &Origin::Local)
                }
                doc => batch.put(db, coll, id, doc, &Origin::Local),
            }
        }
        drop(finals);
        batch.commit()?;
        Ok(())
    }
}

/// Whether a history entry committed after a transaction started conflicts with its writes.
pub fn conflicts(
    written_keys: &HashSet<(String, Vec<u8>)>,
    written_ns: &HashSet<&str>,
    entry: &HistoryEntry,
) -> bool {
    if entry.op == HistoryOp::Drop {
        return written_ns.contains(entry.ns.as_str());
    }
    written_keys.contains(&(entry.ns.clone(), keyenc::encode(&entry.id)))
}

/// The first history entry after `seq` that `pred` accepts.
fn first_change_after(
    real: &Storage,
    seq: u64,
    mut pred: impl FnMut(&HistoryEntry) -> bool,
) -> Result<Option<HistoryEntry>> {
    for entry in real.history_from(seq.saturating_add(1)) {
        let entry = entry?;
        if pred(&entry) {
            return Ok(Some(entry));
        }
    }
    Ok(None)
}

/// WriteConflict (112) with the `TransientTransactionError` label.
pub fn write_conflict(detail: String) -> Error {
    Error::new(
        112,
        format!("Write conflict during plan execution and yielding is disabled. :: {detail}"),
    )
    .with_label(TRANSIENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ns: &str, op: HistoryOp, id: Bson) -> HistoryEntry {
        HistoryEntry {
            seq: 9,
            ns: ns.to_owned(),
            op,
            id,
            doc: None,
            changed_fields: None,
            increments: None,
            hlc: 0,
            origin: Origin::Local,
            before: None,
            ddl: None,
        }
    }

    #[test]
    fn only_changes_to_written_documents_or_drops_of_their_collections_conflict() {
        let written: HashSet<(String, Vec<u8>)> =
            [("db.a".to_string(), keyenc::encode(&Bson::Int32(1)))].into();
        let ns: HashSet<&str> = ["db.a"].into();
        let conflict = |e: HistoryEntry| conflicts(&written, &ns, &e);
        assert!(conflict(entry("db.a", HistoryOp::Update, Bson::Int32(1))));
        // The same _id by value across number types is the same document.
        assert!(conflict(entry("db.a", HistoryOp::Delete, Bson::Int64(1))));
        assert!(conflict(entry("db.a", HistoryOp::Drop, Bson::Null)));
        assert!(!conflict(entry("db.a", HistoryOp::Update, Bson::Int32(2))));
        assert!(!conflict(entry("db.b", HistoryOp::Update, Bson::Int32(1))));
        assert!(!conflict(entry("db.b", HistoryOp::Drop, Bson::Null)));
    }
}
