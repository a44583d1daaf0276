//! Multi-document updates and deletes (`updateMany`, `deleteMany`) in chunks: the matching
//! documents' keys are collected without the writer lock (readers never take it), then the
//! documents are re-read, re-checked against the filter and written [`WRITE_CHUNK`] at a time,
//! the writer lock released between chunks. Memory holds keys, not documents, and other
//! writers get the lock between chunks. As in MongoDB, a multi-document write is not atomic
//! across documents; each document's write (with its index entries and history entry) is.

use super::catalog::Collection;
use super::read::matching_documents;
use super::write::{Candidate, DeleteSpec, Edit, UpdateOutcome, UpdateSpec, WriteOptions};
use super::{decode_document, Storage};
use crate::error::Result;
use crate::query::{Filter, Update};

/// Documents written per hold of the writer lock.
pub(super) const WRITE_CHUNK: usize = 1_000;

impl Storage {
    /// The keys of the documents matching `filter`, in the plan's order.
    fn matching_keys(
        collection: &Collection,
        filter: &Filter,
        hint: Option<&bson::Bson>,
    ) -> Result<Vec<Vec<u8>>> {
        matching_documents(collection, filter, hint)?
            .map(|item| item.map(|(found, _)| found.key.to_vec()))
            .collect()
    }

    /// The document under `key` if it still exists and still matches `filter` (another
    /// writer may have changed it since its key was collected).
    fn recheck(collection: &Collection, key: &[u8], filter: &Filter) -> Result<Option<Candidate>> {
        let Some(bytes) = collection.docs.get(key)? else {
            return Ok(None);
        };
        let doc = decode_document(&bytes)?;
        let details = filter.try_matches_details(&doc)?;
        Ok(details.matched.then(|| Candidate {
            key: key.to_vec(),
            doc,
            array_index: details.array_index,
        }))
    }

    /// `update` with `multi: true`, in chunks. `None` when nothing matched: the caller then
    /// runs the single-lock path (which upserts if asked).
    pub(super) fn update_in_chunks(
        &self,
        db: &str,
        coll: &str,
        spec: &UpdateSpec,
        filter: &Filter,
        update: &Update,
        options: &WriteOptions,
    ) -> Result<Option<UpdateOutcome>> {
        let Some(collection) = self.writable_collection(db, coll)? else {
            return Ok(None);
        };
        let keys = Self::matching_keys(&collection, filter, spec.hint)?;
        if keys.is_empty() {
            return Ok(None);
        }
        let mut outcome = UpdateOutcome::default();
        for chunk in keys.chunks(WRITE_CHUNK) {
            let mut w = self.writer();
            // The collection may have been dropped or replaced between chunks.
            let Some(collection) = self.writable_collection(db, coll)? else {
                break;
            };
            for key in chunk {
                let Some(target) = Self::recheck(&collection, key, filter)? else {
                    continue;
                };
                outcome.matched += 1;
                let new = Self::updated_document(
                    update,
                    &target.doc,
                    target.array_index,
                    spec.variables,
                )?;
                if let Some(new) = new {
                    let edit = Edit::of(update);
                    self.replace_locked(&mut w, &collection, &target, new, edit, options)?;
                    outcome.modified += 1;
                }
            }
        }
        Ok(Some(outcome))
    }

    /// `delete` of every matching document, in chunks; returns how many were deleted.
    pub(super) fn delete_in_chunks(
        &self,
        db: &str,
        coll: &str,
        spec: &DeleteSpec,
        filter: &Filter,
        options: &WriteOptions,
    ) -> Result<u64> {
        let Some(collection) = self.writable_collection(db, coll)? else {
            return Ok(0);
        };
        let keys = Self::matching_keys(&collection, filter, spec.hint)?;
        let mut deleted = 0;
        for chunk in keys.chunks(WRITE_CHUNK) {
            let mut w = self.writer();
            let Some(collection) = self.writable_collection(db, coll)? else {
                break;
            };
            for key in chunk {
                let Some(target) = Self::recheck(&collection, key, filter)? else {
                    continue;
                };
                self.delete_locked(&mut w, &collection, key, &target.doc, &options.origin)?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}
