//! Changes from sync peers (and the sync engine's own bookkeeping) applied as one atomic
//! commit: every document, index entry and history entry of the batch, or none of them.
//!
//! The hub applies an edge's upload this way: the changed documents, their last-writer-wins
//! versions and the edge's acknowledged sequence number commit together, so a crash part way
//! leaves no half-applied batch (which a retry would apply twice, counting `$inc` deltas
//! twice).

use std::collections::HashMap;
use std::sync::MutexGuard;

use bson::{Bson, Document};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::history::{HistoryOp, Origin};
use super::kv::Tree;
use super::records::{self, RecordTree};
use super::write::{prepare_for_insert, Batch, Candidate, Edit, WriteOptions};
use super::{decode_document, Storage, Writer};
use crate::error::{Error, Result};
use crate::value::keyenc;

/// Writes staged for one atomic commit. It holds the writer lock from [`Storage::remote_batch`]
/// until it is committed or dropped (dropping it discards every staged write), so nothing
/// else writes in between: what [`RemoteBatch::get`] returns is still current at commit.
///
/// Calling a writing method of [`Storage`] (or [`Storage::observe_hlc`], [`Storage::last_seq`])
/// while a batch is open on the same thread deadlocks; use the batch's own methods.
pub struct RemoteBatch<'a> {
    storage: &'a Storage,
    writer: MutexGuard<'a, Writer>,
    /// The final state of each document written, in the order first written.
    staged: Vec<StagedWrite>,
    /// (namespace, document key) -> position in `staged`.
    positions: HashMap<(String, Vec<u8>), usize>,
    /// Record writes (see [`RecordTree`]), committed with the documents.
    records: HashMap<RecordKey, StagedRecord>,
}

/// (tree name, key) of a staged record.
type RecordKey = (Vec<u8>, Vec<u8>);
/// The tree of a staged record, and the encoded record (`None`: a removal).
type StagedRecord = (Tree, Option<Vec<u8>>);

struct StagedWrite {
    db: String,
    coll: String,
    id: Bson,
    doc: Option<Document>,
    origin: Origin,
    /// A change of a stored document is recorded as an update (changed fields) rather than
    /// a replace.
    as_update: bool,
}

impl Storage {
    /// Starts a batch of writes that commit atomically (see [`RemoteBatch`]).
    pub fn remote_batch(&self) -> RemoteBatch<'_> {
        RemoteBatch {
            storage: self,
            writer: self.writer(),
            staged: Vec::new(),
            positions: HashMap::new(),
            records: HashMap::new(),
        }
    }
}

impl RemoteBatch<'_> {
    /// Advances the hybrid logical clock past a peer's reading (see [`Storage::observe_hlc`]).
    pub fn observe_hlc(&mut self, remote: u64) {
        self.writer.hlc.observe(remote);
    }

    /// The document with `_id` `id` as this batch leaves it: staged, or else stored.
    pub fn get(&self, db: &str, coll: &str, id: &Bson) -> Result<Option<Document>> {
        let key = keyenc::encode(id);
        if let Some(&position) = self.positions.get(&(namespace(db, coll), key.clone())) {
            return Ok(self.staged[position].doc.clone());
        }
        let Some(collection) = self.storage.collection(db, coll) else {
            return Ok(None);
        };
        match collection.docs.get(&key)? {
            Some(bytes) => Ok(Some(decode_document(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Stages storing `doc` under `_id` `id` (inserting or replacing it), or removing the
    /// document when `doc` is `None`. A later write of the same document in this batch replaces
    /// this one: the batch commits each document's final state with one history entry. The
    /// collection's validator is not applied (the change was validated where it was made).
    pub fn put(&mut self, db: &str, coll: &str, id: &Bson, doc: Option<Document>, origin: &Origin) {
        self.stage_write(db, coll, id, doc, origin, false);
    }

    /// As [`RemoteBatch::put`], but a change of a stored document is recorded in history as
    /// an update with the fields that changed (change streams report an `update`), not as a
    /// replace.
    pub fn put_as_update(
        &mut self,
        db: &str,
        coll: &str,
        id: &Bson,
        doc: Document,
        origin: &Origin,
    ) {
        self.stage_write(db, coll, id, Some(doc), origin, true);
    }

    fn stage_write(
        &mut self,
        db: &str,
        coll: &str,
        id: &Bson,
        doc: Option<Document>,
        origin: &Origin,
        as_update: bool,
    ) {
        let write = StagedWrite {
            db: db.to_string(),
            coll: coll.to_string(),
            id: id.clone(),
            doc,
            origin: origin.clone(),
            as_update,
        };
        let key = (namespace(db, coll), keyenc::encode(id));
        match self.positions.get(&key) {
            Some(&position) => self.staged[position] = write,
            None => {
                self.positions.insert(key, self.staged.len());
                self.staged.push(write);
            }
        }
    }

    /// Stages storing (`Some`) or removing (`None`) a record; it commits with the documents.
    pub fn put_record<T: Serialize + DeserializeOwned>(
        &mut self,
        tree: &RecordTree<T>,
        key: &[u8],
        value: Option<&T>,
    ) -> Result<()> {
        let encoded = value.map(records::encode).transpose()?;
        self.records.insert(
            (tree.tree.name().to_vec(), key.to_vec()),
            (tree.tree.clone(), encoded),
        );
        Ok(())
    }

    /// A record as this batch leaves it: staged, or else stored.
    pub fn get_record<T: Serialize + DeserializeOwned>(
        &self,
        tree: &RecordTree<T>,
        key: &[u8],
    ) -> Result<Option<T>> {
        match self.records.get(&(tree.tree.name().to_vec(), key.to_vec())) {
            Some((_, Some(bytes))) => tree.decode(key, bytes).map(Some),
            Some((_, None)) => Ok(None),
            None => tree.get(key),
        }
    }

    /// The `_id`s of the documents of `db.coll` this batch writes (deletes included).
    pub fn staged_ids(&self, db: &str, coll: &str) -> Vec<Bson> {
        self.staged
            .iter()
            .filter(|w| w.db == db && w.coll == coll)
            .map(|w| w.id.clone())
            .collect()
    }

    /// Number of documents staged.
    pub fn len(&self) -> usize {
        self.staged.len()
    }

    /// Whether nothing (no document, no record) is staged.
    pub fn is_empty(&self) -> bool {
        self.staged.is_empty() && self.records.is_empty()
    }

    /// Commits every staged write atomically, or returns the first error (a duplicate key in a
    /// unique index, an oversized document, a view as target, ...) having committed nothing.
    /// Collections that do not exist yet are created first; after a failed commit they remain,
    /// empty.
    pub fn commit(self) -> Result<()> {
        self.commit_with_seq().map(drop)
    }

    /// [`RemoteBatch::commit`], returning the last history sequence number as of the commit
    /// (the batch's own last entry, or the entry before it when it wrote none). The batch
    /// holds the writer lock from when it is made, so every entry after the last sequence
    /// number it could see then is its own.
    pub fn commit_with_seq(mut self) -> Result<u64> {
        let first_seq = self.writer.next_seq;
        let result = self
            .stage()
            .and_then(|batch| self.storage.commit_write(batch));
        match result {
            Ok(()) => Ok(self.writer.next_seq - 1),
            Err(error) => {
                // The history sequence numbers taken by the discarded entries are free again.
                self.writer.next_seq = first_seq;
                Err(error)
            }
        }
    }

    /// Whether [`RemoteBatch::commit`] would succeed, without committing anything: the same
    /// checks, then the staged writes are discarded. (Collections it would create are created.)
    pub fn check(mut self) -> Result<()> {
        let first_seq = self.writer.next_seq;
        let result = self.stage().map(drop);
        self.writer.next_seq = first_seq;
        result
    }

    /// Stages every write into one storage batch, checking each.
    fn stage(&mut self) -> Result<Batch> {
        let storage = self.storage;
        let mut batch = Batch::default();
        for ((_, key), (tree, value)) in std::mem::take(&mut self.records) {
            match value {
                Some(bytes) => batch.set.put(&tree, key, bytes),
                None => batch.set.delete(&tree, key),
            }
        }
        for write in std::mem::take(&mut self.staged) {
            let w = &mut *self.writer;
            let collection = storage.collection_or_create(w, &write.db, &write.coll)?;
            let options = WriteOptions {
                origin: write.origin,
                bypass_document_validation: true,
                ..WriteOptions::default()
            };
            let doc_key = keyenc::encode(&write.id);
            let old = match collection.docs.get(&doc_key)? {
                Some(bytes) => Some(decode_document(&bytes)?),
                None => None,
            };
            let new = match write.doc {
                Some(doc) => {
                    let doc = prepare_for_insert(doc)?;
                    if doc.get("_id").map(keyenc::encode) != Some(doc_key.clone()) {
                        return Err(Error::BadValue(format!(
                            "a remote write of _id {} carries a document with another _id",
                            write.id
                        )));
                    }
                    Some(doc)
                }
                None => None,
            };
            match (old, new) {
                (Some(old), Some(new)) if old == new => {}
                (Some(old), Some(new)) => {
                    let target = Candidate {
                        key: doc_key,
                        doc: old,
                        array_index: None,
                    };
                    let op = if write.as_update {
                        HistoryOp::Update
                    } else {
                        HistoryOp::Replace
                    };
                    let edit = Edit {
                        op,
                        increments: None,
                    };
                    storage.stage_replace(
                        w,
                        &collection,
                        &mut batch,
                        &target,
                        new,
                        edit,
                        &options,
                    )?;
                }
                (None, Some(new)) => {
                    storage.stage_insert(w, &collection, &mut batch, new, &options)?;
                }
                (Some(old), None) => {
                    storage.stage_delete(
                        w,
                        &collection,
                        &mut batch,
                        &doc_key,
                        &old,
                        &options.origin,
                    )?;
                }
                (None, None) => {}
            }
        }
        Ok(batch)
    }
}

fn namespace(db: &str, coll: &str) -> String {
    format!("{db}.{coll}")
}
