//! Writes: insert, update, delete and findAndModify. Each changed document commits together
//! with its index entries and its history entry.

use std::collections::{HashMap, HashSet};

use bson::{oid::ObjectId, Bson, Document};

use super::catalog::{Collection, CollectionMeta, ValidationLevel};
use super::history::{HistoryEntry, HistoryOp, Origin};
use super::index::{check_unique, document_keys, duplicate_key, entry_key};
use super::kv::{Visibility, WriteSet};
use super::read::{document_by_id, matching_documents, point_id, sort_found};
use super::{Storage, Writer};
use crate::error::{Error, Result};
use crate::query::update::{upsert_seed, UpdateContext};
use crate::query::{Filter, Projection, SortSpec, Update};
use crate::value::size::document_size;
use crate::value::{compare, keyenc};

/// Largest document Outpost stores (MongoDB's `maxBsonObjectSize`).
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// Options every write carries.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Who made the change (a local client, or a sync peer).
    pub origin: Origin,
    /// Skip the collection's validator (`bypassDocumentValidation`).
    pub bypass_document_validation: bool,
    /// The statement's `collation` as given, for its filter and sort (update, delete,
    /// findAndModify); `None`: the collection's default.
    pub collation: Option<Document>,
}

/// One update statement.
#[derive(Debug, Clone)]
pub struct UpdateSpec<'a> {
    pub filter: &'a Document,
    pub update: &'a Update,
    pub multi: bool,
    pub upsert: bool,
    pub hint: Option<&'a Bson>,
    /// For single-document updates: which matching document to update first.
    pub sort: Option<&'a Document>,
    pub variables: Option<&'a Document>,
}

/// What an update did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateOutcome {
    pub matched: u64,
    pub modified: u64,
    pub upserted_id: Option<Bson>,
}

/// A `findAndModify` request.
#[derive(Debug, Clone)]
pub struct FindAndModify<'a> {
    pub filter: &'a Document,
    pub sort: Option<&'a Document>,
    /// Remove the document instead of updating it.
    pub remove: bool,
    pub update: Option<&'a Update>,
    /// Return the document after the update instead of before.
    pub return_new: bool,
    pub upsert: bool,
    pub projection: Option<&'a Document>,
    pub hint: Option<&'a Bson>,
    pub variables: Option<&'a Document>,
}

/// What `findAndModify` did.
#[derive(Debug, Clone, Default)]
pub struct FindAndModifyOutcome {
    pub value: Option<Document>,
    /// Number of documents matched (and changed or removed), or upserted.
    pub n: u64,
    pub updated_existing: bool,
    pub upserted_id: Option<Bson>,
}

/// Writes staged for one atomic commit, with what they claim, so that later writes of the
/// same batch see them (the trees show only what is committed). A batch may span
/// collections (see [`super::RemoteBatch`]).
#[derive(Default)]
pub(super) struct Batch {
    pub(super) set: WriteSet,
    /// Documents inserted by this batch: (collection id, document key).
    doc_keys: HashSet<(u64, Vec<u8>)>,
    /// Unique index keys claimed by this batch: (index id, key) -> document key.
    unique_keys: HashMap<(u64, Vec<u8>), Vec<u8>>,
    /// Unique index keys the batch removes from their committed owner (a delete, or an update
    /// that changed the key): another document of the batch may take them.
    released_keys: HashSet<(u64, Vec<u8>)>,
    /// Collection metadata changed by this batch (an index became multikey), by namespace.
    changed_meta: HashMap<String, CollectionMeta>,
    /// Documents staged.
    len: usize,
    /// Bytes of documents staged.
    pub(super) bytes: usize,
    /// Changes to capped collections' totals, by collection id, applied after the commit.
    pub(super) capped: HashMap<u64, super::capped::CappedDelta>,
    /// Insertion positions of documents this batch inserted into capped collections.
    pub(super) capped_positions: HashMap<(u64, Vec<u8>), u64>,
    /// Documents this batch deletes: (collection id, document key).
    deleted: HashSet<(u64, Vec<u8>)>,
    /// Change of each collection's document count, by collection id (see `counts.rs`).
    count_deltas: HashMap<u64, i64>,
}

impl Batch {
    /// A batch of writes outside a multi-document transaction (inserts, updates, deletes):
    /// readers may see its keys one by one, each document whole (see [`Visibility`]).
    pub(super) fn of_documents() -> Batch {
        let mut batch = Batch::default();
        batch.set.visibility = Visibility::PerKey;
        batch
    }

    /// Whether this batch deletes the document `doc_key` of collection `id`.
    pub(super) fn is_deleted(&self, id: u64, doc_key: &[u8]) -> bool {
        self.deleted.contains(&(id, doc_key.to_vec()))
    }
}

/// How a stored document changed, for its history entry.
pub(super) struct Edit {
    pub(super) op: HistoryOp,
    /// `$inc` deltas of top-level fields (see [`Update::increments`]).
    pub(super) increments: Option<Document>,
}

impl Edit {
    pub(super) fn of(update: &Update) -> Edit {
        if update.is_replacement() {
            Edit {
                op: HistoryOp::Replace,
                increments: None,
            }
        } else {
            Edit {
                op: HistoryOp::Update,
                increments: update.increments(),
            }
        }
    }
}

/// A stored document a write will change: its key, contents and positional match.
pub(super) struct Candidate {
    pub(super) key: Vec<u8>,
    pub(super) doc: Document,
    pub(super) array_index: Option<usize>,
}

/// One delete statement.
#[derive(Debug, Clone)]
pub struct DeleteSpec<'a> {
    pub filter: &'a Document,
    /// Delete only the first matching document.
    pub just_one: bool,
    pub hint: Option<&'a Bson>,
    pub variables: Option<&'a Document>,
}

/// Puts `_id` first, generating an ObjectId when missing, and checks the document.
pub(crate) fn prepare_for_insert(doc: Document) -> Result<Document> {
    let mut out = Document::new();
    match doc.get("_id") {
        Some(id) => {
            validate_id(id)?;
            out.insert("_id", id.clone());
        }
        None => {
            out.insert("_id", ObjectId::new());
        }
    }
    for (k, v) in doc {
        if k != "_id" {
            out.insert(k, v);
        }
    }
    Ok(out)
}

/// `_id` may be any type but an array, a regex or undefined, and an `_id` document may not
/// hold `$`-prefixed field names.
fn validate_id(id: &Bson) -> Result<()> {
    if let Bson::Document(d) = id {
        if let Some(bad) = dollar_field(d) {
            return Err(Error::coded(52, format!("_id fields may not contain '$'-prefixed fields: {bad} is not valid for storage.")));
        }
    }
    let kind = match id {
        Bson::Array(_) => "array",
        Bson::RegularExpression(_) => "regex",
        Bson::Undefined => "undefined",
        _ => return Ok(()),
    };
    Err(Error::coded(
        53,
        format!("The '_id' value cannot be of type {kind}"),
    ))
}

fn dollar_field(d: &Document) -> Option<&str> {
    d.iter().find_map(|(k, v)| {
        if k.starts_with('$') {
            Some(k.as_str())
        } else if let Bson::Document(inner) = v {
            dollar_field(inner)
        } else {
            None
        }
    })
}

/// Encodes the result of an update, refusing it past 16 MiB as mongod does (17419).
fn encode_updated(doc: &Document) -> Result<Vec<u8>> {
    let bytes = bson::to_vec(doc)?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(Error::coded(
            17419,
            format!("Resulting document after update is larger than {MAX_DOCUMENT_BYTES}"),
        ));
    }
    Ok(bytes)
}

/// Checks `doc` against the collection's validator. `old` is the document before an update
/// (`validationLevel: "moderate"` lets updates of already invalid documents through).
fn check_validator(
    collection: &Collection,
    doc: &Document,
    old: Option<&Document>,
    options: &WriteOptions,
) -> Result<()> {
    let Some(validator) = &collection.validator else {
        return Ok(());
    };
    if options.bypass_document_validation || validator.level == ValidationLevel::Off {
        return Ok(());
    }
    if validator.level == ValidationLevel::Moderate
        && old.is_some_and(|o| !validator.filter.matches(o))
    {
        return Ok(());
    }
    if validator.filter.try_matches_details(doc)?.matched {
        return Ok(());
    }
    let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
    if !validator.error {
        tracing::warn!(ns = %collection.meta.namespace(), id = %id, "document failed validation (validationAction: warn)");
        return Ok(());
    }
    Err(Error::DocumentValidation(Box::new(bson::doc! {
        "failingDocumentId": id,
        "details": {
            "operatorName": "$and",
            "specifiedAs": collection.meta.options.get("validator").cloned().unwrap_or(Bson::Null),
            "reason": "the document does not match the collection's validator",
        },
    })))
}

/// Top-level fields whose values differ between `old` and `new` (added, changed or removed).
/// The fields an update changed or removed, as field paths (see
/// [`super::history::join_field_path`]): where a field holds an embedded document before and
/// after, the fields inside it that changed, down to `CHANGED_FIELDS_DEPTH` levels.
fn changed_fields(old: &Document, new: &Document) -> Vec<String> {
    let mut out = Vec::new();
    changed_fields_under(old, new, &mut Vec::new(), &mut out);
    out
}

const CHANGED_FIELDS_DEPTH: usize = 32;

fn changed_fields_under<'a>(
    old: &'a Document,
    new: &'a Document,
    prefix: &mut Vec<&'a str>,
    out: &mut Vec<String>,
) {
    for (key, value) in new {
        prefix.push(key);
        match (old.get(key), value) {
            (Some(before), after) if before == after => {}
            (Some(Bson::Document(before)), Bson::Document(after))
                if prefix.len() <= CHANGED_FIELDS_DEPTH =>
            {
                let found = out.len();
                changed_fields_under(before, after, prefix, out);
                if out.len() == found {
                    // Never report nothing for a field that changed.
                    out.push(super::history::join_field_path(prefix));
                }
            }
            _ => out.push(super::history::join_field_path(prefix)),
        }
        prefix.pop();
    }
    for key in old.keys().filter(|k| !new.contains_key(*k)) {
        prefix.push(key);
        out.push(super::history::join_field_path(prefix));
        prefix.pop();
    }
}

impl Storage {
    /// Stages the replacement of `old` by `new` (either may be absent) for document key
    /// `doc_key`: document tree, index entries, uniqueness checks (against the trees and the
    /// batch) and the multikey flag. Every check runs before anything is staged, so a failed
    /// document leaves the batch as it was.
    fn stage_document(
        &self,
        collection: &Collection,
        batch: &mut Batch,
        doc_key: &[u8],
        old: Option<&Document>,
        new: Option<(&Document, &[u8])>,
    ) -> Result<()> {
        let ns = collection.meta.namespace();
        let mut deletes = Vec::new();
        let mut puts = Vec::new();
        let mut claims = Vec::new();
        let mut releases = Vec::new();
        let mut multikey_positions = Vec::new();
        for (position, index) in collection.indexes.iter().enumerate() {
            let old_keys = match old {
                Some(d) => document_keys(index, d)?.map(|k| k.keys).unwrap_or_default(),
                None => Vec::new(),
            };
            let (new_keys, multikey) = match new {
                Some((d, _)) => match document_keys(index, d)? {
                    Some(k) => (k.keys, k.multikey),
                    None => (Vec::new(), false),
                },
                None => (Vec::new(), false),
            };
            for (key, _) in &old_keys {
                if !new_keys.iter().any(|(k, _)| k == key) {
                    deletes.push((&index.tree, entry_key(key, doc_key)));
                    if index.meta.unique {
                        releases.push((index.meta.id, key.clone()));
                    }
                }
            }
            for (key, values) in &new_keys {
                if old_keys.iter().any(|(k, _)| k == key) {
                    continue;
                }
                let claim = (index.meta.id, key.clone());
                // A key an earlier write of this batch released is free whatever the tree says
                // (a unique index has one committed owner per key, and it gave the key up).
                if !batch.released_keys.contains(&claim) {
                    check_unique(&ns, index, key, values, doc_key)?;
                }
                if index.meta.unique {
                    if batch
                        .unique_keys
                        .get(&claim)
                        .is_some_and(|owner| owner.as_slice() != doc_key)
                    {
                        return Err(duplicate_key(&ns, &index.meta, values));
                    }
                    claims.push(claim);
                }
                puts.push((&index.tree, entry_key(key, doc_key)));
            }
            if multikey && !index.meta.multikey {
                multikey_positions.push(position);
            }
        }
        for (tree, key) in deletes {
            batch.set.delete(tree, key);
        }
        for (tree, key) in puts {
            batch.set.put(tree, key, doc_key);
        }
        for claim in claims {
            batch.unique_keys.insert(claim, doc_key.to_vec());
        }
        batch.released_keys.extend(releases);
        for position in multikey_positions {
            let meta = batch
                .changed_meta
                .entry(ns.clone())
                .or_insert_with(|| collection.meta.clone());
            if let Some(m) = meta.indexes.get_mut(position) {
                m.multikey = true;
            }
        }
        let delta = i64::from(new.is_some()) - i64::from(old.is_some());
        if delta != 0 {
            *batch.count_deltas.entry(collection.meta.id).or_default() += delta;
        }
        match new {
            Some((_, bytes)) => {
                batch.set.put(&collection.docs, doc_key, bytes);
                batch.bytes += bytes.len();
            }
            None => batch.set.delete(&collection.docs, doc_key),
        }
        batch.len += 1;
        Ok(())
    }

    /// Commits a staged write, publishing changed collection metadata with it.
    pub(super) fn commit_write(&self, mut batch: Batch) -> Result<()> {
        for (_, meta) in std::mem::take(&mut batch.changed_meta) {
            self.replace_collection_meta(meta, Some(&mut batch.set))?;
        }
        self.commit_set(batch.set)?;
        self.apply_capped_deltas(&batch.capped);
        self.apply_count_deltas(&batch.count_deltas);
        Ok(())
    }

    /// Inserts one document (creating the collection if needed); returns its `_id`.
    pub fn insert(
        &self,
        db: &str,
        coll: &str,
        doc: Document,
        options: &WriteOptions,
    ) -> Result<Bson> {
        let doc = prepare_for_insert(doc)?;
        let mut w = self.writer();
        let collection = self.collection_or_create(&mut w, db, coll)?;
        self.insert_locked(&mut w, &collection, doc, options)
    }

    fn insert_locked(
        &self,
        w: &mut Writer,
        collection: &Collection,
        doc: Document,
        options: &WriteOptions,
    ) -> Result<Bson> {
        let mut batch = Batch::of_documents();
        let id = self.stage_insert(w, collection, &mut batch, doc, options)?;
        self.commit_write(batch)?;
        Ok(id)
    }

    /// Inserts many documents under one writer lock, committing them in atomic groups (every
    /// 1,000 documents or 8 MB). Returns the failed documents' positions and errors; with
    /// `ordered`, the first failure stops the rest. One document commits in a group with
    /// other threads' concurrent single-document inserts (see `group.rs`).
    pub fn insert_many(
        &self,
        db: &str,
        coll: &str,
        mut docs: Vec<Document>,
        ordered: bool,
        options: &WriteOptions,
    ) -> Result<Vec<(usize, Error)>> {
        const GROUP_DOCS: usize = 1000;
        const GROUP_BYTES: usize = 8 * 1024 * 1024;
        let timeseries = self.timeseries_options(db, coll)?.is_some();
        if docs.len() == 1 && !timeseries {
            if let Some(doc) = docs.pop() {
                return self.insert_one_grouped(db, coll, doc, options);
            }
        }
        if !self.waits_for_writer {
            return Err(Error::WriterBusy);
        }
        if timeseries {
            return self.timeseries_insert(db, coll, docs, ordered);
        }
        let mut w = self.writer();
        let collection = self.collection_or_create(&mut w, db, coll)?;
        let mut failures = Vec::new();
        let mut batch = Batch::of_documents();
        for (position, doc) in docs.into_iter().enumerate() {
            let staged = prepare_for_insert(doc)
                .and_then(|doc| self.stage_insert(&mut w, &collection, &mut batch, doc, options));
            if let Err(e) = staged {
                failures.push((position, e));
                if ordered {
                    break;
                }
            }
            // A capped collection evicts only committed documents: one commit per document.
            if batch.len >= GROUP_DOCS || batch.bytes >= GROUP_BYTES || collection.capped.is_some()
            {
                self.commit_write(std::mem::replace(&mut batch, Batch::of_documents()))?;
            }
        }
        self.commit_write(batch)?;
        Ok(failures)
    }

    /// Stages one insert into `batch` (nothing is staged when it fails).
    pub(super) fn stage_insert(
        &self,
        w: &mut Writer,
        collection: &Collection,
        batch: &mut Batch,
        doc: Document,
        options: &WriteOptions,
    ) -> Result<Bson> {
        let origin = &options.origin;
        let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
        check_validator(collection, &doc, None, options)?;
        self.check_write_guard(&collection.meta.namespace(), origin, None, &doc)?;
        let bytes = bson::to_vec(&doc)?;
        if bytes.len() > MAX_DOCUMENT_BYTES {
            // mongod's answer to an oversized insert (an update that grows too large gets 17419).
            return Err(Error::BadValue(format!(
                "object to insert too large. size in bytes: {}, max size: {MAX_DOCUMENT_BYTES}",
                bytes.len()
            )));
        }
        let doc_key = keyenc::encode(&id);
        let batch_key = (collection.meta.id, doc_key);
        if batch.doc_keys.contains(&batch_key) || collection.docs.contains_key(&batch_key.1)? {
            let id_index = collection.meta.id_index();
            return Err(duplicate_key(
                &collection.meta.namespace(),
                &id_index,
                std::slice::from_ref(&id),
            ));
        }
        self.stage_document(collection, batch, &batch_key.1, None, Some((&doc, &bytes)))?;
        // After every check, so a refused document evicts nothing; the new document is not
        // committed yet, so it is never evicted itself.
        self.evict_for(w, collection, batch, bytes.len(), origin)?;
        let len = bytes.len();
        let seq = self.append_history(
            w,
            &mut batch.set,
            &collection.meta.namespace(),
            HistoryOp::Insert,
            id.clone(),
            Some(doc),
            None,
            None,
            origin,
        )?;
        Storage::stage_capped_insert(collection, batch, &batch_key.1, seq, len);
        batch.doc_keys.insert(batch_key);
        Ok(id)
    }

    /// Replaces one stored document by `new` (same `_id`), with its history entry.
    pub(super) fn replace_locked(
        &self,
        w: &mut Writer,
        collection: &Collection,
        target: &Candidate,
        new: Document,
        edit: Edit,
        options: &WriteOptions,
    ) -> Result<()> {
        let mut batch = Batch::of_documents();
        self.stage_replace(w, collection, &mut batch, target, new, edit, options)?;
        self.commit_write(batch)
    }

    /// Stages the replacement of one stored document by `new` (same `_id`), with its history
    /// entry (nothing is staged when it fails).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stage_replace(
        &self,
        w: &mut Writer,
        collection: &Collection,
        batch: &mut Batch,
        target: &Candidate,
        new: Document,
        edit: Edit,
        options: &WriteOptions,
    ) -> Result<()> {
        let origin = &options.origin;
        let op = edit.op;
        let (doc_key, old) = (target.key.as_slice(), &target.doc);
        check_validator(collection, &new, Some(old), options)?;
        self.check_write_guard(&collection.meta.namespace(), origin, Some(old), &new)?;
        let bytes = encode_updated(&new)?;
        self.stage_document(collection, batch, doc_key, Some(old), Some((&new, &bytes)))?;
        Storage::stage_capped_resize(collection, batch, document_size(old), bytes.len());
        let id = new.get("_id").cloned().unwrap_or(Bson::Null);
        let changed = (op == HistoryOp::Update).then(|| changed_fields(old, &new));
        let entry = HistoryEntry {
            seq: 0,
            ns: collection.meta.namespace(),
            op,
            id,
            doc: Some(new),
            changed_fields: changed,
            increments: edit.increments,
            hlc: 0,
            origin: origin.clone(),
            before: collection.meta.keeps_pre_images().then(|| old.clone()),
            ddl: None,
        };
        self.append_entry(w, &mut batch.set, entry)?;
        Ok(())
    }

    pub(crate) fn delete_locked(
        &self,
        w: &mut Writer,
        collection: &Collection,
        doc_key: &[u8],
        old: &Document,
        origin: &Origin,
    ) -> Result<()> {
        let mut batch = Batch::of_documents();
        self.stage_delete(w, collection, &mut batch, doc_key, old, origin)?;
        self.commit_write(batch)
    }

    /// Stages the delete of one stored document, with its history entry.
    pub(super) fn stage_delete(
        &self,
        w: &mut Writer,
        collection: &Collection,
        batch: &mut Batch,
        doc_key: &[u8],
        old: &Document,
        origin: &Origin,
    ) -> Result<()> {
        self.stage_document(collection, batch, doc_key, Some(old), None)?;
        Storage::stage_capped_delete(collection, batch, doc_key, document_size(old))?;
        batch.deleted.insert((collection.meta.id, doc_key.to_vec()));
        let id = old.get("_id").cloned().unwrap_or(Bson::Null);
        let entry = HistoryEntry {
            seq: 0,
            ns: collection.meta.namespace(),
            op: HistoryOp::Delete,
            id,
            doc: None,
            changed_fields: None,
            increments: None,
            hlc: 0,
            origin: origin.clone(),
            before: collection.meta.keeps_pre_images().then(|| old.clone()),
            ddl: None,
        };
        self.append_entry(w, &mut batch.set, entry)?;
        Ok(())
    }

    /// Applies `update` to `old`; `None` when the document did not change.
    pub(super) fn updated_document(
        update: &Update,
        old: &Document,
        array_index: Option<usize>,
        variables: Option<&Document>,
    ) -> Result<Option<Document>> {
        let ctx = UpdateContext {
            is_insert: false,
            array_index,
            variables,
        };
        let new = update.apply(old, &ctx)?;
        match (old.get("_id"), new.get("_id")) {
            (Some(a), Some(b)) if a == b || compare::equal(a, b) && a.element_type() == b.element_type() => {}
            _ => {
                return Err(Error::ImmutableField(format!(
                    "After applying the update, the (immutable) field '_id' was found to have been altered to _id: {}",
                    new.get("_id").cloned().unwrap_or(Bson::Null)
                )))
            }
        }
        Ok((new != *old).then_some(new))
    }

    /// The document an upsert inserts.
    fn upsert_document(
        update: &Update,
        filter: &Document,
        variables: Option<&Document>,
    ) -> Result<Document> {
        let seed = upsert_seed(filter)?;
        let doc = if update.is_replacement() {
            let ctx = UpdateContext {
                is_insert: true,
                array_index: None,
                variables,
            };
            let mut replaced = update.apply(&Document::new(), &ctx)?;
            if !replaced.contains_key("_id") {
                if let Some(id) = seed.get("_id") {
                    replaced.insert("_id", id.clone());
                }
            }
            replaced
        } else {
            let ctx = UpdateContext {
                is_insert: true,
                array_index: None,
                variables,
            };
            update.apply(&seed, &ctx)?
        };
        let size = bson::to_vec(&doc)?.len();
        if size > MAX_DOCUMENT_BYTES {
            return Err(Error::coded(
                17420,
                format!("Document to upsert is larger than {MAX_DOCUMENT_BYTES}"),
            ));
        }
        prepare_for_insert(doc)
    }

    /// Runs one update statement.
    pub fn update(
        &self,
        db: &str,
        coll: &str,
        spec: &UpdateSpec,
        options: &WriteOptions,
    ) -> Result<UpdateOutcome> {
        let (filter, sort) = self.write_filter_and_sort(
            db,
            coll,
            spec.filter,
            spec.variables,
            spec.sort,
            options.collation.as_ref(),
        )?;
        let update = spec.update.collated(filter.collation());
        if spec.multi {
            if !self.waits_for_writer {
                return Err(Error::WriterBusy);
            }
            if let Some(outcome) =
                self.update_in_chunks(db, coll, spec, &filter, &update, options)?
            {
                return Ok(outcome);
            }
        }
        let mut w = self.writer_unless_busy()?;
        let mut outcome = UpdateOutcome::default();
        let collection = match self.writable_collection(db, coll)? {
            Some(c) => c,
            None if spec.upsert => self.collection_or_create(&mut w, db, coll)?,
            None => return Ok(outcome),
        };
        let candidates = self.candidates(
            &collection,
            spec.filter,
            &filter,
            spec.hint,
            sort.as_ref(),
            spec.multi,
        )?;
        for target in candidates {
            outcome.matched += 1;
            if let Some(new) =
                Self::updated_document(&update, &target.doc, target.array_index, spec.variables)?
            {
                let edit = Edit::of(&update);
                self.replace_locked(&mut w, &collection, &target, new, edit, options)?;
                outcome.modified += 1;
            }
        }
        if outcome.matched == 0 && spec.upsert {
            let doc = Self::upsert_document(&update, spec.filter, spec.variables)?;
            let id = self.insert_locked(&mut w, &collection, doc, options)?;
            outcome.upserted_id = Some(id);
        }
        Ok(outcome)
    }

    /// Matching documents for a write: all of them, or the first (by `sort` if given).
    /// `raw_filter` is the statement's filter as sent, `filter` the same parsed.
    fn candidates(
        &self,
        collection: &Collection,
        raw_filter: &Document,
        filter: &Filter,
        hint: Option<&Bson>,
        sort: Option<&SortSpec>,
        multi: bool,
    ) -> Result<Vec<Candidate>> {
        // `{_id: value}` under the simple collation: the one document under the value's key
        // (see `read/point.rs`), whatever the sort, since at most one document matches.
        if let (Some(id), None, None) = (point_id(raw_filter), hint, filter.collation()) {
            let found = document_by_id(collection, id)?;
            return Ok(found
                .into_iter()
                .map(|(key, doc)| Candidate {
                    key,
                    doc,
                    array_index: None,
                })
                .collect());
        }
        let matching = matching_documents(collection, filter, hint)?;
        let items = matching.map(|r| {
            r.map(|(f, i)| {
                let candidate = Candidate {
                    key: f.key.to_vec(),
                    doc: f.doc.clone(),
                    array_index: i,
                };
                (candidate, f.size, f.doc)
            })
        });
        match sort {
            Some(sort) if !multi => sort_found(items, sort, true, Some(1)),
            _ if multi => items.map(|r| r.map(|(v, _, _)| v)).collect(),
            _ => items.take(1).map(|r| r.map(|(v, _, _)| v)).collect(),
        }
    }

    /// Deletes the documents matching `filter` (only the first when `just_one`).
    pub fn delete(
        &self,
        db: &str,
        coll: &str,
        spec: &DeleteSpec,
        options: &WriteOptions,
    ) -> Result<u64> {
        if self.timeseries_options(db, coll)?.is_some() {
            return self.timeseries_delete(db, coll, spec.filter, spec.just_one);
        }
        let (filter, _) = self.write_filter_and_sort(
            db,
            coll,
            spec.filter,
            spec.variables,
            None,
            options.collation.as_ref(),
        )?;
        if !spec.just_one {
            return self.delete_in_chunks(db, coll, spec, &filter, options);
        }
        let mut w = self.writer();
        let Some(collection) = self.writable_collection(db, coll)? else {
            return Ok(0);
        };
        let candidates =
            self.candidates(&collection, spec.filter, &filter, spec.hint, None, false)?;
        let mut deleted = 0;
        for target in candidates {
            self.delete_locked(
                &mut w,
                &collection,
                &target.key,
                &target.doc,
                &options.origin,
            )?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// `findAndModify`: updates or removes the first matching document and returns it.
    pub fn find_and_modify(
        &self,
        db: &str,
        coll: &str,
        request: &FindAndModify,
        options: &WriteOptions,
    ) -> Result<FindAndModifyOutcome> {
        let (filter, sort) = self.write_filter_and_sort(
            db,
            coll,
            request.filter,
            request.variables,
            request.sort,
            options.collation.as_ref(),
        )?;
        let projection = match request.projection {
            Some(p) if !p.is_empty() => Some(Projection::parse_for_query(p, request.filter)?),
            _ => None,
        };
        let project = |doc: Document, array_index: Option<usize>| -> Result<Document> {
            match &projection {
                Some(p) => p.apply(&doc, array_index),
                None => Ok(doc),
            }
        };
        let mut w = self.writer();
        let mut outcome = FindAndModifyOutcome::default();
        let collection = match self.writable_collection(db, coll)? {
            Some(c) => c,
            None if request.upsert && !request.remove => {
                self.collection_or_create(&mut w, db, coll)?
            }
            None => return Ok(outcome),
        };
        let first = self
            .candidates(
                &collection,
                request.filter,
                &filter,
                request.hint,
                sort.as_ref(),
                false,
            )?
            .into_iter()
            .next();
        let update = request.update.map(|u| u.collated(filter.collation()));
        match (first, request.remove, update.as_deref()) {
            (Some(target), true, _) => {
                self.delete_locked(
                    &mut w,
                    &collection,
                    &target.key,
                    &target.doc,
                    &options.origin,
                )?;
                outcome.n = 1;
                outcome.value = Some(project(target.doc, target.array_index)?);
            }
            (Some(target), false, Some(update)) => {
                outcome.n = 1;
                outcome.updated_existing = true;
                let (old, array_index) = (&target.doc, target.array_index);
                let new = match Self::updated_document(update, old, array_index, request.variables)?
                {
                    Some(new) => {
                        self.replace_locked(
                            &mut w,
                            &collection,
                            &target,
                            new.clone(),
                            Edit::of(update),
                            options,
                        )?;
                        new
                    }
                    None => old.clone(),
                };
                let shown = if request.return_new { new } else { old.clone() };
                outcome.value = Some(project(shown, array_index)?);
            }
            (None, false, Some(update)) if request.upsert => {
                let doc = Self::upsert_document(update, request.filter, request.variables)?;
                let id = self.insert_locked(&mut w, &collection, doc.clone(), options)?;
                outcome.n = 1;
                outcome.upserted_id = Some(id);
                if request.return_new {
                    outcome.value = Some(project(doc, None)?);
                }
            }
            (_, false, None) => {
                return Err(Error::FailedToParse(
                    "Either an update or remove=true must be specified".into(),
                ));
            }
            _ => {}
        }
        Ok(outcome)
    }

    /// Applies a change that came from a sync peer: stores `doc` under its `_id` (inserting or
    /// replacing), or removes the document when `doc` is `None`. The history entry carries the
    /// peer as origin so the change is never sent back to it. Several changes that must commit
    /// together go through [`Storage::remote_batch`].
    pub fn apply_remote(
        &self,
        db: &str,
        coll: &str,
        id: &Bson,
        doc: Option<Document>,
        origin: &Origin,
    ) -> Result<()> {
        let mut batch = self.remote_batch();
        batch.put(db, coll, id, doc, origin);
        batch.commit()
    }
}
