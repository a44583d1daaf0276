//! Capped collections: a size (and optionally a document count) limit, insertion order as the
//! natural order, the oldest documents removed to make room, and tail reads for tailable
//! cursors.
//!
//! A capped collection has one more tree, `capped/{id}`, holding its insertion order in two
//! key spaces: `o` + the insert's history sequence number (big-endian) -> document key, and
//! `d` + document key -> sequence number (to find a document's position when it is deleted).
//! Both change in the same write set as the document. The history sequence numbers only grow,
//! so `o` keys are in insertion order, and a tail read resumes after the last one it returned.
//!
//! The count and total BSON size of the documents are kept in memory per collection (computed
//! from the trees on first use, under the writer lock) and changed only after a commit, by the
//! deltas its batch recorded. Inserts evict before they stage: while the collection plus the
//! new document would exceed `max` documents or `size` bytes, the oldest document is deleted
//! (with its index entries and a history entry, as any delete).

use std::collections::HashMap;
use std::ops::Bound;

use bson::{Bson, Document};

use super::catalog::Collection;
use super::history::Origin;
use super::kv::{self, Tree};
use super::write::Batch;
use super::{decode_document, Storage, Writer};
use crate::error::{Error, Result};
use crate::query::{Filter, Projection};

/// The largest `size` mongod accepts (1 PB).
const MAX_CAPPED_SIZE: i64 = 1 << 50;

/// A capped collection's limits and its insertion-order tree.
#[derive(Clone)]
pub struct Capped {
    pub order: Tree,
    /// The size limit in bytes (the sum of the documents' BSON sizes).
    pub size: u64,
    /// The document count limit, if any.
    pub max: Option<u64>,
}

/// The committed count and size of a capped collection.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CappedTotals {
    count: u64,
    bytes: u64,
}

/// What a batch changes in a capped collection's totals.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CappedDelta {
    count: i64,
    bytes: i64,
}

pub(super) fn capped_tree_name(id: u64) -> String {
    format!("capped/{id}")
}

fn order_key(seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(9);
    key.push(b'o');
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn position_key(doc_key: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(doc_key.len() + 1);
    key.push(b'd');
    key.extend_from_slice(doc_key);
    key
}

/// The insertion position of the document `doc_key` in a capped collection.
pub(super) fn position_of(capped: &Capped, doc_key: &[u8]) -> Result<Option<u64>> {
    capped
        .order
        .get(position_key(doc_key))?
        .map(|v| decode_seq(&v))
        .transpose()
}

fn decode_seq(bytes: &[u8]) -> Result<u64> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| Error::Corrupt("capped order entry of the wrong length".into()))?;
    Ok(u64::from_be_bytes(array))
}

/// The options `create` stores for a capped collection, from its `size` and `max`, checked
/// and normalized as mongod does: `size` is required, positive and at most 1 PB, raised to
/// 4096 if smaller and else to a multiple of 256; `max` <= 0 means no count limit.
pub fn capped_options(size: Option<&Bson>, max: Option<&Bson>) -> Result<Document> {
    let size = match size {
        None => {
            return Err(Error::coded(
                72,
                "the 'size' field is required when 'capped' is true",
            ))
        }
        Some(value) => whole_number(value, "size")?,
    };
    if size <= 0 {
        return Err(Error::coded(72, "size has to be a positive number"));
    }
    if size > MAX_CAPPED_SIZE {
        return Err(Error::coded(
            72,
            format!("size cannot exceed {MAX_CAPPED_SIZE} bytes"),
        ));
    }
    let size = if size <= 4096 {
        4096
    } else {
        (size + 255) / 256 * 256
    };
    let mut options = bson::doc! {"capped": true, "size": size};
    if let Some(max) = max {
        let max = whole_number(max, "max")?;
        if max > 0 {
            options.insert("max", max);
        }
    }
    Ok(options)
}

fn whole_number(value: &Bson, field: &str) -> Result<i64> {
    match value {
        Bson::Int32(n) => Ok(i64::from(*n)),
        Bson::Int64(n) => Ok(*n),
        // Fractions are truncated, as mongod's parser does; NaN and infinities are refused.
        Bson::Double(d) if d.is_finite() => Ok(d.trunc() as i64),
        other => Err(Error::TypeMismatch(format!(
            "'{field}' must be a number, not {}",
            crate::value::compare::type_name(other)
        ))),
    }
}

/// Opens a collection's capped side when its options say `capped: true`.
pub(super) fn open_capped(kv: &kv::Kv, id: u64, options: &Document) -> Result<Option<Capped>> {
    if !matches!(options.get("capped"), Some(Bson::Boolean(true))) {
        return Ok(None);
    }
    let size = options
        .get("size")
        .map(|v| whole_number(v, "size"))
        .transpose()?
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| Error::Corrupt("capped collection without a valid size".into()))?;
    let max = options
        .get("max")
        .map(|v| whole_number(v, "max"))
        .transpose()?
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| *n > 0);
    Ok(Some(Capped {
        order: kv.tree(&capped_tree_name(id))?,
        size,
        max,
    }))
}

impl Storage {
    /// The committed totals of a capped collection (cached; computed from its trees once).
    /// Call with the writer lock held.
    fn capped_totals(&self, collection: &Collection, capped: &Capped) -> Result<CappedTotals> {
        let id = collection.meta.id;
        if let Some(totals) = self.capped_cache().get(&id) {
            return Ok(*totals);
        }
        let mut totals = CappedTotals::default();
        for item in capped.order.scan_prefix([b'o']) {
            let (_, doc_key) = item?;
            if let Some(value) = collection.docs.get(&doc_key)? {
                totals.count += 1;
                totals.bytes += u64::try_from(value.len()).unwrap_or(u64::MAX);
            }
        }
        self.capped_cache().insert(id, totals);
        Ok(totals)
    }

    fn capped_cache(&self) -> std::sync::MutexGuard<'_, HashMap<u64, CappedTotals>> {
        self.inner
            .capped_totals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a committed batch's deltas to the cached totals.
    pub(super) fn apply_capped_deltas(&self, deltas: &HashMap<u64, CappedDelta>) {
        let mut cache = self.capped_cache();
        for (id, delta) in deltas {
            if let Some(totals) = cache.get_mut(id) {
                totals.count = totals.count.saturating_add_signed(delta.count);
                totals.bytes = totals.bytes.saturating_add_signed(delta.bytes);
            }
        }
    }

    /// Forgets a dropped collection's totals.
    pub(super) fn forget_capped(&self, id: u64) {
        self.capped_cache().remove(&id);
    }

    /// Deletes the oldest documents until the collection has room for one more document of
    /// `incoming` bytes (or is empty). Only committed documents are evicted.
    pub(super) fn evict_for(
        &self,
        w: &mut Writer,
        collection: &Collection,
        batch: &mut Batch,
        incoming: usize,
        origin: &Origin,
    ) -> Result<()> {
        let Some(capped) = &collection.capped else {
            return Ok(());
        };
        let totals = self.capped_totals(collection, capped)?;
        let delta = batch
            .capped
            .get(&collection.meta.id)
            .copied()
            .unwrap_or_default();
        let mut count = totals.count.saturating_add_signed(delta.count);
        let mut bytes = totals.bytes.saturating_add_signed(delta.bytes);
        let incoming = u64::try_from(incoming).unwrap_or(u64::MAX);
        let over = |count: u64, bytes: u64| {
            count > 0
                && (capped.max.is_some_and(|max| count + 1 > max)
                    || bytes.saturating_add(incoming) > capped.size)
        };
        if !over(count, bytes) {
            return Ok(());
        }
        let oldest: Vec<sled::IVec> = capped
            .order
            .scan_prefix([b'o'])
            .map(|item| item.map(|(_, doc_key)| doc_key))
            .collect::<std::result::Result<_, _>>()?;
        for doc_key in oldest {
            if !over(count, bytes) {
                break;
            }
            if batch.is_deleted(collection.meta.id, &doc_key) {
                continue;
            }
            let Some(value) = collection.docs.get(&doc_key)? else {
                continue;
            };
            let old = decode_document(&value)?;
            self.stage_delete(w, collection, batch, &doc_key, &old, origin)?;
            count = count.saturating_sub(1);
            bytes = bytes.saturating_sub(u64::try_from(value.len()).unwrap_or(u64::MAX));
        }
        Ok(())
    }

    /// Stages the insertion-order entries of a new document (`seq`: its history entry's).
    pub(super) fn stage_capped_insert(
        collection: &Collection,
        batch: &mut Batch,
        doc_key: &[u8],
        seq: u64,
        len: usize,
    ) {
        let Some(capped) = &collection.capped else {
            return;
        };
        batch.set.put(&capped.order, order_key(seq), doc_key);
        batch
            .set
            .put(&capped.order, position_key(doc_key), seq.to_be_bytes());
        batch
            .capped_positions
            .insert((collection.meta.id, doc_key.to_vec()), seq);
        let delta = batch.capped.entry(collection.meta.id).or_default();
        delta.count += 1;
        delta.bytes = delta
            .bytes
            .saturating_add(i64::try_from(len).unwrap_or(i64::MAX));
    }

    /// Records a document's change of size (an update keeps its position).
    pub(super) fn stage_capped_resize(
        collection: &Collection,
        batch: &mut Batch,
        old_len: usize,
        new_len: usize,
    ) {
        if collection.capped.is_none() {
            return;
        }
        let delta = batch.capped.entry(collection.meta.id).or_default();
        delta.bytes = delta
            .bytes
            .saturating_add(i64::try_from(new_len).unwrap_or(i64::MAX))
            .saturating_sub(i64::try_from(old_len).unwrap_or(i64::MAX));
    }

    /// Stages the removal of a deleted document's insertion-order entries.
    pub(super) fn stage_capped_delete(
        collection: &Collection,
        batch: &mut Batch,
        doc_key: &[u8],
        old_len: usize,
    ) -> Result<()> {
        let Some(capped) = &collection.capped else {
            return Ok(());
        };
        let staged = batch
            .capped_positions
            .remove(&(collection.meta.id, doc_key.to_vec()));
        let seq = match staged {
            Some(seq) => Some(seq),
            None => capped
                .order
                .get(position_key(doc_key))?
                .map(|v| decode_seq(&v))
                .transpose()?,
        };
        if let Some(seq) = seq {
            batch.set.delete(&capped.order, order_key(seq));
        }
        batch.set.delete(&capped.order, position_key(doc_key));
        let delta = batch.capped.entry(collection.meta.id).or_default();
        delta.count -= 1;
        delta.bytes = delta
            .bytes
            .saturating_sub(i64::try_from(old_len).unwrap_or(i64::MAX));
        Ok(())
    }

    /// The documents of a capped collection in insertion order (oldest first, or newest first
    /// with `reverse`), for natural-order scans.
    pub(super) fn natural_scan(
        capped: &Capped,
        docs: Tree,
        reverse: bool,
    ) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec)>> + Send {
        let start = Bound::Included(vec![b'o']);
        let end = Bound::Excluded(vec![b'p']);
        kv::range(&capped.order, start, end, reverse).filter_map(move |item| {
            let (_, doc_key) = match item {
                Ok(pair) => pair,
                Err(e) => return Some(Err(e)),
            };
            match docs.get(&doc_key) {
                Ok(Some(value)) => Some(Ok((doc_key, value))),
                // Deleted since the order entry was read.
                Ok(None) => None,
                Err(e) => Some(Err(Error::Engine(e))),
            }
        })
    }

    /// A tail read of a capped collection for tailable cursors: the documents inserted after
    /// position `after` (0: from the oldest) that match `filter`, in insertion order, at most
    /// `max_docs`, projected. Returns them with the position to resume after. Fails with
    /// NamespaceNotFound if the collection is gone and BadValue if it is not capped.
    pub fn tail(&self, db: &str, coll: &str, request: &TailRequest<'_>) -> Result<TailBatch> {
        let collection = self
            .collection(db, coll)
            .ok_or_else(|| Error::NamespaceNotFound(format!("collection {db}.{coll} dropped")))?;
        let capped = collection.capped.as_ref().ok_or_else(|| {
            Error::BadValue(format!(
                "error processing query: tailable cursor requested on non capped collection {db}.{coll}"
            ))
        })?;
        let collation = super::read::effective_collation(None, Some(&collection))?;
        let filter = Filter::parse_with_collation(request.filter, &Document::new(), collation)?;
        let projection = match request.projection {
            Some(p) if !p.is_empty() => Some(Projection::parse_for_query(p, request.filter)?),
            _ => None,
        };
        check_position(capped, request.after)?;
        let start = Bound::Excluded(order_key(request.after));
        let end = Bound::Excluded(vec![b'p']);
        let mut batch = TailBatch {
            docs: Vec::new(),
            last: request.after,
        };
        let mut bytes = 0usize;
        for item in kv::range(&capped.order, start, end, false) {
            let (key, doc_key) = item?;
            let seq = decode_seq(key.get(1..).unwrap_or_default())?;
            let Some(value) = collection.docs.get(&doc_key)? else {
                continue;
            };
            batch.last = seq;
            let doc = decode_document(&value)?;
            let details = filter.try_matches_details(&doc)?;
            if !details.matched {
                continue;
            }
            let doc = match &projection {
                Some(p) => p.apply(&doc, details.array_index)?,
                None => doc,
            };
            bytes += value.len();
            batch.docs.push(doc);
            if batch.docs.len() >= request.max_docs || bytes >= request.max_bytes {
                break;
            }
        }
        Ok(batch)
    }

    /// `convertToCapped`: replaces `db.coll` by a capped collection of `size` bytes holding
    /// its documents in natural order (the oldest evicted if they do not fit). As in mongod,
    /// the indexes other than `_id` are not kept. The new collection is built under a
    /// temporary name and renamed over the old one, so a failure leaves it as it was.
    pub fn convert_to_capped(&self, db: &str, coll: &str, size: &Bson) -> Result<()> {
        let Some(source) = self.collection(db, coll) else {
            return Err(Error::NamespaceNotFound(format!(
                "source collection {db}.{coll} does not exist"
            )));
        };
        if source.meta.is_view() {
            return Err(Error::coded(
                166,
                format!("Namespace {db}.{coll} is a view, not a collection"),
            ));
        }
        let mut options = capped_options(Some(size), None)?;
        let collation = source.meta.options.get_document("collation").ok().cloned();
        if let Some(collation) = &collation {
            options.insert("collation", collation.clone());
        }
        let temp = format!("tmp.convertToCapped.{coll}.{}", bson::oid::ObjectId::new());
        self.create_collection(db, &temp, options)?;
        let built = (|| -> Result<()> {
            if collation.is_some() {
                self.create_collated_id_index(db, &temp)?;
            }
            let natural = super::read::FindOptions {
                sort: Some(bson::doc! {"$natural": 1}),
                ..super::read::FindOptions::default()
            };
            for doc in self.find(db, coll, &natural)? {
                self.insert(db, &temp, doc?, &super::write::WriteOptions::default())?;
            }
            self.rename_collection(db, &temp, db, coll, true)
        })();
        if built.is_err() {
            self.drop_collection(db, &temp)?;
        }
        built
    }

    /// `collMod`'s `cappedSize` and `cappedMax`: new limits for a capped collection (the size
    /// checked and rounded as at `create`; a `cappedMax` of 0 or less removes the count
    /// limit). Documents over the new limits are evicted by the next insert, as in mongod.
    pub fn set_capped_limits(
        &self,
        db: &str,
        coll: &str,
        size: Option<&Bson>,
        max: Option<&Bson>,
    ) -> Result<()> {
        let _w = self.writer();
        let collection = self
            .collection(db, coll)
            .ok_or_else(|| Error::NamespaceNotFound(format!("ns does not exist: {db}.{coll}")))?;
        if collection.capped.is_none() {
            return Err(Error::coded(
                72,
                "cappedSize and cappedMax can only be changed on a capped collection",
            ));
        }
        let mut meta = collection.meta.clone();
        if let Some(size) = size {
            let normalized = capped_options(Some(size), None)?;
            if let Some(size) = normalized.get("size") {
                meta.options.insert("size", size.clone());
            }
        }
        if let Some(max) = max {
            let max = whole_number(max, "cappedMax")?;
            if max > 0 {
                meta.options.insert("max", max);
            } else {
                meta.options.remove("max");
            }
        }
        self.replace_collection_meta(meta, None)?;
        Ok(())
    }

    /// Whether `db.coll` is a capped collection.
    pub fn is_capped(&self, db: &str, coll: &str) -> bool {
        self.collection(db, coll)
            .is_some_and(|c| c.capped.is_some())
    }
}

/// Fails with CappedPositionLost (136), as mongod, when the document a tailable cursor
/// stopped at is gone and every document left is newer: the collection moved past it.
fn check_position(capped: &Capped, after: u64) -> Result<()> {
    if after == 0 || capped.order.contains_key(order_key(after))? {
        return Ok(());
    }
    let oldest = match capped.order.scan_prefix([b'o']).next() {
        Some(item) => Some(decode_seq(item?.0.get(1..).unwrap_or_default())?),
        None => None,
    };
    if oldest.is_some_and(|oldest| oldest > after) {
        return Err(Error::coded(
            136,
            "CollectionScan died due to position in capped collection being deleted",
        ));
    }
    Ok(())
}

/// What a tail read reads: documents after position `after` matching `filter` (under the
/// collection's default collation), with `projection`.
pub struct TailRequest<'a> {
    pub after: u64,
    pub filter: &'a Document,
    pub projection: Option<&'a Document>,
    pub max_docs: usize,
    pub max_bytes: usize,
}

/// One tail read's documents and the position to resume after.
#[derive(Debug, Clone)]
pub struct TailBatch {
    pub docs: Vec<Document>,
    pub last: u64,
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use bson::doc;
    use proptest::prelude::*;

    use super::*;
    use crate::engine::{DeleteSpec, FindOptions, UpdateSpec, WriteOptions};
    use crate::query::Update;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(usize),
        Delete(usize),
        Update(usize, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0usize..1500).prop_map(Op::Insert),
            1 => (0usize..8).prop_map(Op::Delete),
            1 => ((0usize..8), (0usize..1500)).prop_map(|(i, n)| Op::Update(i, n)),
        ]
    }

    fn document(id: i32, len: usize) -> Document {
        doc! {"_id": id, "p": "x".repeat(len)}
    }

    fn size_of(doc: &Document) -> u64 {
        u64::try_from(bson::to_vec(doc).expect("encode").len()).expect("size")
    }

    /// The model: a queue of (_id, BSON size), oldest first. An insert adds at the back,
    /// then drops the oldest others while over a limit; deletes and updates keep positions.
    fn model_insert(
        model: &mut VecDeque<(i32, u64)>,
        entry: (i32, u64),
        size: u64,
        max: Option<u64>,
    ) {
        model.push_back(entry);
        loop {
            let count = u64::try_from(model.len()).expect("count");
            let bytes: u64 = model.iter().map(|(_, s)| s).sum();
            let over = max.is_some_and(|m| count > m) || bytes > size;
            if !over || model.len() <= 1 {
                break;
            }
            model.pop_front();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Random inserts, deletes and updates on a capped collection agree with the queue
        /// model: same documents in the same natural order, and `validate` finds the trees
        /// consistent.
        #[test]
        fn capped_collections_behave_as_a_bounded_queue(
            size in prop_oneof![Just(4096i64), Just(8192i64)],
            max in prop_oneof![Just(None), (1i64..6).prop_map(Some)],
            ops in proptest::collection::vec(op(), 1..40),
        ) {
            let s = Storage::temporary().expect("store");
            let options = capped_options(
                Some(&Bson::Int64(size)),
                max.map(Bson::Int64).as_ref(),
            ).expect("options");
            s.create_collection("db", "c", options).expect("create");
            let size = u64::try_from(size).expect("size");
            let max = max.map(|m| u64::try_from(m).expect("max"));
            let mut model: VecDeque<(i32, u64)> = VecDeque::new();
            let write = WriteOptions::default();
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Insert(len) => {
                        let id = i32::try_from(n).expect("id");
                        let doc = document(id, len);
                        let bytes = size_of(&doc);
                        s.insert("db", "c", doc, &write).expect("insert");
                        model_insert(&mut model, (id, bytes), size, max);
                    }
                    Op::Delete(i) if i < model.len() => {
                        let (id, _) = model.remove(i).expect("present");
                        let filter = doc! {"_id": id};
                        let spec = DeleteSpec { filter: &filter, just_one: true, hint: None, variables: None };
                        prop_assert_eq!(s.delete("db", "c", &spec, &write).expect("delete"), 1);
                    }
                    Op::Update(i, len) if i < model.len() => {
                        let id = model.get(i).map(|(id, _)| *id).expect("present");
                        let filter = doc! {"_id": id};
                        let update = Update::parse(
                            &Bson::Document(doc! {"$set": {"p": "x".repeat(len)}}),
                            None,
                        ).expect("update");
                        let spec = UpdateSpec {
                            filter: &filter, update: &update, multi: false, upsert: false,
                            hint: None, sort: None, variables: None,
                        };
                        s.update("db", "c", &spec, &write).expect("update");
                        if let Some(entry) = model.get_mut(i) {
                            entry.1 = size_of(&document(id, len));
                        }
                    }
                    _ => {}
                }
                let found: Vec<i32> = s
                    .find("db", "c", &FindOptions::default())
                    .expect("find")
                    .map(|d| d.expect("doc").get_i32("_id").expect("_id"))
                    .collect();
                let expected: Vec<i32> = model.iter().map(|(id, _)| *id).collect();
                prop_assert_eq!(found, expected);
                let report = s.validate("db", "c").expect("validate");
                prop_assert!(report.valid(), "{:?}", report);
            }
        }
    }
}
