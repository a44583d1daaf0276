//! Reads: running a plan (chosen by `plan`: point lookup on `_id`, index scan, collection
//! scan), and the filter / sort / skip / limit / projection steps on top.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use bson::{Bson, Document};
use sled::IVec;

use super::catalog::Collection;
use super::kv::{range, Tree};
use super::{decode_document, Storage};
use crate::error::{Error, Result};
use crate::query::{Filter, Projection, SortSpec};
use crate::value::{compare_with, Collation};

mod plan;
mod point;
mod row_shape;
mod text;
mod text_or;

pub(crate) use plan::byte_ranges;
pub use plan::PlanKind;
use plan::{choose_plan, full_range, in_natural_order, min_max_plan, Plan, Source};
pub(crate) use point::{document_by_id, point_id};
use row_shape::{plan_key_fields, Row, RowShape};

/// Blocking stages (sort) may hold this many bytes unless the command allows disk use.
pub const MEMORY_LIMIT_BYTES: u64 = 100 * 1024 * 1024;

/// Options of a find.
#[derive(Debug, Clone, Default)]
pub struct FindOptions {
    pub filter: Document,
    pub sort: Option<Document>,
    pub projection: Option<Document>,
    pub skip: u64,
    /// 0 means no limit.
    pub limit: u64,
    pub hint: Option<Bson>,
    /// The command's `let` variables.
    pub variables: Option<Document>,
    pub allow_disk_use: bool,
    /// `maxTimeMS` as a deadline: scanning past it fails with MaxTimeMSExpired (code 50).
    pub deadline: Option<std::time::Instant>,
    /// The operation's `collation` document as given; `None` takes the collection's default
    /// (`{locale: "simple"}` overrides a default with the binary collation).
    pub collation: Option<Document>,
    /// find's `min`: the inclusive lower bound of the hinted index's keys (needs `hint`).
    pub min: Option<Document>,
    /// find's `max`: the exclusive upper bound of the hinted index's keys (needs `hint`).
    pub max: Option<Document>,
    /// find's `returnKey`: each result is the key of the index the plan read (`{}` for a
    /// collection scan) instead of the document.
    pub return_key: bool,
    /// find's `showRecordId`: each result gets `$recordId`.
    pub show_record_id: bool,
}

/// The collation an operation uses: the one it gives, else the collection's default.
pub(crate) fn effective_collation(
    given: Option<&Document>,
    collection: Option<&Collection>,
) -> Result<Option<Arc<Collation>>> {
    match (given, collection) {
        (Some(spec), _) => Collation::parse(spec),
        (None, Some(c)) => c.meta.default_collation(),
        (None, None) => Ok(None),
    }
}

/// What a plan did, for `explain`.
#[derive(Debug, Default)]
pub struct ExplainInfo {
    pub keys_examined: AtomicU64,
    pub docs_examined: AtomicU64,
}

impl ExplainInfo {
    pub fn keys(&self) -> u64 {
        self.keys_examined.load(AtomicOrdering::Relaxed)
    }

    pub fn docs(&self) -> u64 {
        self.docs_examined.load(AtomicOrdering::Relaxed)
    }
}

/// A running read: documents in result order.
pub struct ReadCursor {
    pub plan: PlanKind,
    pub info: Arc<ExplainInfo>,
    /// True when an index gave the sort order and no in-memory sort ran.
    pub sorted_by_index: bool,
    /// The query's collation as its normalized spec (`None`: simple), for `explain`.
    pub collation: Option<Document>,
    /// The scanned index's collation, for `explain`'s IXSCAN stage.
    pub index_collation: Option<Document>,
    iter: Box<dyn Iterator<Item = Result<Document>> + Send>,
}

impl Iterator for ReadCursor {
    type Item = Result<Document>;

    fn next(&mut self) -> Option<Result<Document>> {
        self.iter.next()
    }

    /// The read's own bounds: `(0, Some(0))` once a limit is reached, so a cursor knows it
    /// is done without reading further.
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

/// A document found by a scan: its key in the collection tree, its size and contents.
pub(crate) struct Found {
    pub key: IVec,
    pub size: u64,
    pub doc: Document,
}

/// What a scan yields per document examined: the document, or `None` when the
/// [`Prefilter`] showed it cannot match (it was not decoded).
type FoundIter = Box<dyn Iterator<Item = Result<Option<Found>>> + Send>;

/// A first test of a stored document on its raw bytes: the filter run on only the top-level
/// fields it reads (see [`Filter::top_level_fields`]), decoded from the raw document. A
/// document that fails it cannot match and is never decoded whole; most of a collection
/// scan's time was decoding documents the filter then refused.
pub(crate) struct Prefilter {
    fields: Vec<String>,
    filter: Filter,
}

impl Prefilter {
    /// `None` when the filter reads the whole document, or no field at all.
    pub(crate) fn new(filter: &Filter) -> Option<Arc<Prefilter>> {
        let fields = filter.top_level_fields()?;
        if fields.is_empty() {
            return None;
        }
        Some(Arc::new(Prefilter {
            fields,
            filter: filter.clone(),
        }))
    }

    /// False only when the document cannot match. Anything unexpected (undecodable bytes, an
    /// evaluation error) answers true, and the full decode and filter report it.
    pub(crate) fn may_match(&self, bytes: &[u8]) -> bool {
        let Ok(raw) = bson::RawDocument::from_bytes(bytes) else {
            return true;
        };
        let mut partial = Document::new();
        for field in &self.fields {
            match raw.get(field) {
                Ok(Some(value)) => match Bson::try_from(value) {
                    Ok(value) => {
                        partial.insert(field.clone(), value);
                    }
                    Err(_) => return true,
                },
                Ok(None) => {}
                Err(_) => return true,
            }
        }
        self.filter
            .try_matches_details(&partial)
            .map_or(true, |details| details.matched)
    }
}

impl Plan {
    /// Runs the access path: documents in scan order, unfiltered except by `prefilter`.
    pub(crate) fn scan(
        self,
        docs: Tree,
        info: Arc<ExplainInfo>,
        prefilter: Option<Arc<Prefilter>>,
    ) -> FoundIter {
        let found = move |key: IVec, value: &[u8]| -> Result<Option<Found>> {
            match &prefilter {
                Some(p) if !p.may_match(value) => Ok(None),
                _ => found(key, value).map(Some),
            }
        };
        match self.source {
            Source::Id(key) => {
                info.keys_examined.fetch_add(1, AtomicOrdering::Relaxed);
                match docs.get(&key) {
                    Ok(Some(value)) => {
                        info.docs_examined.fetch_add(1, AtomicOrdering::Relaxed);
                        Box::new(std::iter::once(found(IVec::from(key), &value)))
                    }
                    Ok(None) => Box::new(std::iter::empty()),
                    Err(e) => Box::new(std::iter::once(Err(Error::Engine(e)))),
                }
            }
            Source::IdRanges {
                mut ranges,
                reverse,
            } => {
                if reverse {
                    ranges.reverse();
                }
                let docs_for_ranges = docs.clone();
                Box::new(ranges.into_iter().flat_map(move |(start, end)| {
                    let info = info.clone();
                    let found = found.clone();
                    range(&docs_for_ranges, start, end, reverse).map(move |item| {
                        let (key, value) = item?;
                        info.docs_examined.fetch_add(1, AtomicOrdering::Relaxed);
                        found(key, &value)
                    })
                }))
            }
            Source::Natural { capped, reverse } => Box::new(
                Storage::natural_scan(&capped, docs, reverse).map(move |item| {
                    let (key, value) = item?;
                    info.docs_examined.fetch_add(1, AtomicOrdering::Relaxed);
                    found(key, &value)
                }),
            ),
            Source::Index {
                index,
                mut ranges,
                reverse,
                dedupe,
            } => {
                if reverse {
                    ranges.reverse();
                }
                let mut seen: HashSet<IVec> = HashSet::new();
                let tree = index.tree.clone();
                Box::new(
                    ranges
                        .into_iter()
                        .flat_map(move |(start, end)| range(&tree, start, end, reverse))
                        .filter_map(move |item| {
                            let (_, doc_key) = match item {
                                Ok(pair) => pair,
                                Err(e) => return Some(Err(e)),
                            };
                            info.keys_examined.fetch_add(1, AtomicOrdering::Relaxed);
                            if dedupe && !seen.insert(doc_key.clone()) {
                                return None;
                            }
                            match docs.get(&doc_key) {
                                Ok(Some(value)) => {
                                    info.docs_examined.fetch_add(1, AtomicOrdering::Relaxed);
                                    Some(found(doc_key, &value))
                                }
                                // Removed since the index entry was read.
                                Ok(None) => None,
                                Err(e) => Some(Err(Error::Engine(e))),
                            }
                        }),
                )
            }
        }
    }
}

fn found(key: IVec, value: &[u8]) -> Result<Found> {
    Ok(Found {
        key,
        size: u64::try_from(value.len()).unwrap_or(u64::MAX),
        doc: decode_document(value)?,
    })
}

/// Fails the scan with MaxTimeMSExpired once `deadline` has passed (checked every 64
/// documents, so the clock is not read per document).
fn with_deadline(scan: FoundIter, deadline: Option<std::time::Instant>) -> FoundIter {
    let Some(deadline) = deadline else {
        return scan;
    };
    let mut seen = 0u32;
    let mut expired = false;
    Box::new(scan.map_while(move |item| {
        if expired {
            return None;
        }
        seen = seen.wrapping_add(1);
        if seen.is_multiple_of(64) && std::time::Instant::now() > deadline {
            expired = true;
            return Some(Err(Error::MaxTimeMsExpired));
        }
        Some(item)
    }))
}

/// The error MongoDB gives when a sort needs more memory than allowed.
pub(crate) fn sort_memory_error() -> Error {
    Error::coded(
        292,
        format!("Sort exceeded memory limit of {MEMORY_LIMIT_BYTES} bytes, but did not opt in to external sorting. Aborting operation. Pass allowDiskUse:true to opt in."),
    )
}

/// Sorts found documents, failing past the memory limit unless disk use is allowed.
/// `keep` bounds how many of the first documents are needed (skip + limit), if known.
pub(crate) fn sort_found<T>(
    items: impl Iterator<Item = Result<(T, u64, Document)>>,
    sort: &SortSpec,
    allow_disk_use: bool,
    keep: Option<usize>,
) -> Result<Vec<T>> {
    // Only the kept documents count towards the memory limit, as in MongoDB's top-k sort.
    let mut keyed: Vec<(Vec<Bson>, u64, T)> = Vec::new();
    let mut bytes = 0u64;
    let check_memory = |bytes: u64| {
        if bytes > MEMORY_LIMIT_BYTES && !allow_disk_use {
            Err(sort_memory_error())
        } else {
            Ok(())
        }
    };
    match keep {
        Some(k) if k > 0 && k <= TOP_K_MAX => {
            // `keyed` stays sorted and at most `k` long; equal keys keep their arrival order.
            for item in items {
                let (value, size, doc) = item?;
                let key = sort.sort_key(&doc);
                if keyed.len() == k
                    && keyed
                        .last()
                        .is_some_and(|(last, _, _)| sort.compare_keys(&key, last).is_ge())
                {
                    continue;
                }
                let position = keyed
                    .partition_point(|(existing, _, _)| sort.compare_keys(existing, &key).is_le());
                keyed.insert(position, (key, size, value));
                bytes = bytes.saturating_add(size);
                if keyed.len() > k {
                    if let Some((_, dropped, _)) = keyed.pop() {
                        bytes = bytes.saturating_sub(dropped);
                    }
                }
                check_memory(bytes)?;
            }
        }
        _ => {
            for item in items {
                let (value, size, doc) = item?;
                bytes = bytes.saturating_add(size);
                check_memory(bytes)?;
                keyed.push((sort.sort_key(&doc), size, value));
            }
            keyed.sort_by(|a, b| sort.compare_keys(&a.0, &b.0));
            if let Some(k) = keep {
                keyed.truncate(k);
            }
        }
    }
    Ok(keyed.into_iter().map(|(_, _, v)| v).collect())
}

/// Up to this many documents, a sort with a limit keeps only the best ones as it reads.
const TOP_K_MAX: usize = 10_000;

impl Storage {
    /// Runs a find. A collection that does not exist gives no documents.
    pub fn find(&self, db: &str, coll: &str, options: &FindOptions) -> Result<ReadCursor> {
        if let Some(cursor) = self.point_read(db, coll, options)? {
            return Ok(cursor);
        }
        if let Some(split) = crate::text::split_text(&options.filter)? {
            return self.find_text(db, coll, options, split);
        }
        let existing = self.collection(db, coll);
        let collation = effective_collation(options.collation.as_ref(), existing.as_deref())?;
        let filter = Filter::parse_with_collation(
            &options.filter,
            options.variables.as_ref().unwrap_or(&Document::new()),
            collation.clone(),
        )?;
        let collation_spec = collation.as_ref().map(|c| c.to_document());
        let sort = match &options.sort {
            Some(s) if !s.is_empty() => Some(SortSpec::parse(s)?.with_collation(collation)),
            _ => None,
        };
        let projection = match &options.projection {
            Some(p) if !p.is_empty() => Some(Projection::parse_for_query(p, &options.filter)?),
            _ => None,
        };
        let info = Arc::new(ExplainInfo::default());
        let Some(collection) = existing else {
            return Ok(ReadCursor {
                plan: PlanKind::Eof,
                info,
                sorted_by_index: false,
                collation: collation_spec,
                index_collation: None,
                iter: Box::new(std::iter::empty()),
            });
        };
        let sort_doc = options.sort.as_ref().filter(|s| !s.is_empty());
        let natural = sort
            .as_ref()
            .and_then(|s| s.natural_order())
            .map(|forward| !forward);
        let bounded = options.min.is_some() || options.max.is_some();
        let plan = match natural {
            _ if bounded => min_max_plan(&collection, options, sort_doc, filter.collation())?,
            Some(reverse) if options.hint.is_none() => Plan {
                kind: PlanKind::CollScan,
                provides_sort: true,
                source: Source::IdRanges {
                    ranges: full_range(),
                    reverse,
                },
            },
            _ => choose_plan(&collection, &filter, options.hint.as_ref(), sort_doc)?,
        };
        let plan = in_natural_order(plan, &collection);
        let kind = plan.kind.clone();
        let index_collation = match &plan.source {
            Source::Index { index, .. } => index.meta.collation.clone(),
            _ => None,
        };
        let key_fields = plan_key_fields(&plan);
        let provides_sort = plan.provides_sort;
        let filter_for_near = filter.clone();
        let scanned = with_deadline(
            plan.scan(
                collection.docs.clone(),
                info.clone(),
                Prefilter::new(&filter),
            ),
            options.deadline,
        );
        let matching = scanned.filter_map(move |item| match item {
            Ok(None) => None,
            // try_matches_details reports $expr evaluation errors instead of hiding them.
            Ok(Some(found)) => match filter.try_matches_details(&found.doc) {
                Ok(details) => details.matched.then_some(Ok((found, details.array_index))),
                Err(e) => Some(Err(e)),
            },
            Err(e) => Some(Err(e)),
        });
        let skip = usize::try_from(options.skip).unwrap_or(usize::MAX);
        let limit = usize::try_from(options.limit).unwrap_or(usize::MAX);
        let near = filter_for_near
            .near()?
            .map(|(path, spec)| (path.to_owned(), spec.clone()));
        let ordered: Box<dyn Iterator<Item = Result<Row>> + Send> = match (&sort, provides_sort) {
            // `$near` without a sort: results by distance, nearest first.
            (None, _) if near.is_some() => {
                let keep = (limit > 0).then(|| skip.saturating_add(limit));
                let rows = super::geo_near::sort_by_distance(
                    matching,
                    near.as_ref(),
                    options.allow_disk_use,
                    keep,
                )?;
                Box::new(rows.into_iter().map(|(f, i)| Ok((f.doc, i, f.key))))
            }
            (Some(sort), false) => {
                let keep = (limit > 0).then(|| skip.saturating_add(limit));
                let sorted = sort_found(
                    matching.map(|r| r.map(|(f, i)| ((f.doc.clone(), i, f.key), f.size, f.doc))),
                    sort,
                    options.allow_disk_use,
                    keep,
                )?;
                Box::new(sorted.into_iter().map(Ok))
            }
            _ => Box::new(matching.map(|r| r.map(|(f, i)| (f.doc, i, f.key)))),
        };
        let limited: Box<dyn Iterator<Item = Result<Row>> + Send> = if limit > 0 {
            Box::new(ordered.skip(skip).take(limit))
        } else {
            Box::new(ordered.skip(skip))
        };
        let shape = RowShape {
            return_key: options.return_key.then_some(key_fields),
            projection,
            record_ids: options.show_record_id.then(|| collection.capped.clone()),
        };
        let projected: Box<dyn Iterator<Item = Result<Document>> + Send> =
            Box::new(limited.map(move |r| r.and_then(|row| shape.apply(row))));
        Ok(ReadCursor {
            plan: kind,
            info,
            sorted_by_index: sort.is_some() && provides_sort,
            collation: collation_spec,
            index_collation,
            iter: projected,
        })
    }

    /// Counts documents matching the options' filter (after `skip`, up to `limit` when
    /// non-zero), with its `hint` and `collation`; sort and projection are ignored.
    pub fn count(&self, db: &str, coll: &str, options: &FindOptions) -> Result<u64> {
        let options = FindOptions {
            sort: None,
            projection: None,
            ..options.clone()
        };
        let mut n = 0u64;
        for doc in self.find(db, coll, &options)? {
            doc?;
            n += 1;
        }
        Ok(n)
    }

    /// Number of documents in a collection (0 if it does not exist), without a filter.
    pub fn estimated_count(&self, db: &str, coll: &str) -> u64 {
        self.collection(db, coll)
            .map_or(0, |c| self.document_count(&c))
    }

    /// The distinct values of `key` among documents matching `options.filter` (with its
    /// `hint`, `collation` and `deadline`), in MongoDB's order. Array values contribute their
    /// elements.
    pub fn distinct(
        &self,
        db: &str,
        coll: &str,
        key: &str,
        options: &FindOptions,
    ) -> Result<Vec<Bson>> {
        let options = FindOptions {
            sort: None,
            projection: None,
            skip: 0,
            limit: 0,
            ..options.clone()
        };
        let existing = self.collection(db, coll);
        let effective = effective_collation(options.collation.as_ref(), existing.as_deref())?;
        let docs = self.find(db, coll, &options)?;
        distinct_values_with(docs, key, effective.as_deref())
    }
}

/// The distinct values of `key` among `docs`, in MongoDB's order. Array values contribute
/// their elements, as MongoDB's `distinct` does.
pub fn distinct_values(
    docs: impl Iterator<Item = Result<Document>>,
    key: &str,
) -> Result<Vec<Bson>> {
    distinct_values_with(docs, key, None)
}

/// The distinct values of `key` among `docs`, deduplicated and ordered under `collation`
/// (the first value seen of values equal under it is kept).
pub fn distinct_values_with(
    docs: impl Iterator<Item = Result<Document>>,
    key: &str,
    collation: Option<&Collation>,
) -> Result<Vec<Bson>> {
    crate::value::path::check_path_length(key)?;
    let parts: Vec<&str> = key.split('.').collect();
    let mut values: Vec<Bson> = Vec::new();
    for doc in docs {
        let doc = doc?;
        if let Some((first, rest)) = parts.split_first() {
            if let Some(v) = doc.get(*first) {
                collect_distinct(v, rest, &mut values);
            }
        }
    }
    // Stable: of values equal under the collation, the first seen stays.
    values.sort_by(|a, b| compare_with(a, b, collation));
    values.dedup_by(|a, b| compare_with(a, b, collation).is_eq());
    Ok(values)
}

/// Collects the values at `rest` below `v`, traversing arrays as MongoDB's distinct does.
fn collect_distinct(v: &Bson, rest: &[&str], out: &mut Vec<Bson>) {
    match (rest.split_first(), v) {
        (None, Bson::Array(items)) => out.extend(items.iter().cloned()),
        (None, other) => out.push(other.clone()),
        (Some((field, tail)), Bson::Document(d)) => {
            if let Some(child) = d.get(*field) {
                collect_distinct(child, tail, out);
            }
        }
        (Some((field, tail)), Bson::Array(items)) => {
            if let Ok(i) = field.parse::<usize>() {
                if let Some(child) = items.get(i) {
                    collect_distinct(child, tail, out);
                }
            }
            for item in items {
                if let Bson::Document(d) = item {
                    if let Some(child) = d.get(*field) {
                        collect_distinct(child, tail, out);
                    }
                }
            }
        }
        _ => {}
    }
}

impl Storage {
    /// The filter and sort of a write statement (update, delete, findAndModify), comparing
    /// strings under the statement's collation, else the collection's default.
    pub(crate) fn write_filter_and_sort(
        &self,
        db: &str,
        coll: &str,
        filter: &Document,
        variables: Option<&Document>,
        sort: Option<&Document>,
        collation: Option<&Document>,
    ) -> Result<(Filter, Option<SortSpec>)> {
        let existing = self.collection(db, coll);
        let collation = effective_collation(collation, existing.as_deref())?;
        let filter = Filter::parse_with_collation(
            filter,
            variables.unwrap_or(&Document::new()),
            collation.clone(),
        )?;
        let sort = match sort {
            Some(s) if !s.is_empty() => Some(SortSpec::parse(s)?.with_collation(collation)),
            _ => None,
        };
        Ok((filter, sort))
    }
}

/// Documents of `collection` matching `filter`, with their keys, as writes need them.
pub(crate) fn matching_documents(
    collection: &Collection,
    filter: &Filter,
    hint: Option<&Bson>,
) -> Result<impl Iterator<Item = Result<(Found, Option<usize>)>>> {
    let plan = choose_plan(collection, filter, hint, None)?;
    let info = Arc::new(ExplainInfo::default());
    let filter = filter.clone();
    Ok(plan
        .scan(collection.docs.clone(), info, Prefilter::new(&filter))
        .filter_map(move |item| match item {
            Ok(None) => None,
            Ok(Some(found)) => match filter.try_matches_details(&found.doc) {
                Ok(details) => details.matched.then_some(Ok((found, details.array_index))),
                Err(e) => Some(Err(e)),
            },
            Err(e) => Some(Err(e)),
        }))
}
