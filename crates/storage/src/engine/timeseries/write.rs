//! Creating a time-series collection, inserting measurements into buckets, deleting
//! measurements. Every change of a bucket is an ordinary write of the bucket document (with
//! its index entries and history entry), under the writer lock, so a bucket is never
//! rewritten from a stale copy.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::bucket::{bucket_start, Bucket, MAX_MEASUREMENTS};
use super::options::TimeseriesOptions;
use super::{buckets_name, is_buckets_name};
use crate::engine::catalog::Collection;
use crate::engine::history::{HistoryOp, Origin};
use crate::engine::read::FindOptions;
use crate::engine::write::{prepare_for_insert, Batch, Candidate, Edit, WriteOptions};
use crate::engine::Storage;
use crate::error::{Error, Result};
use crate::query::Filter;
use crate::value::compare::compare;
use crate::value::keyenc;
use crate::value::size::document_size;

/// Stored buckets an insert looks at before it opens a new one (the latest first).
const CANDIDATES: u64 = 4;

/// A bucket this write changes, with the stored document it replaces (`None`: new).
struct Touched {
    bucket: Bucket,
    stored: Option<Candidate>,
}

fn same_meta(a: &Option<Bson>, b: &Option<Bson>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => compare(a, b) == Ordering::Equal,
        (None, None) => true,
        _ => false,
    }
}

/// One measurement checked and taken apart: (meta, time in ms, the rest).
fn measurement(
    doc: Document,
    options: &TimeseriesOptions,
) -> Result<(Option<Bson>, i64, Document)> {
    let mut doc = prepare_for_insert(doc)?;
    let time = match doc.get(&options.time_field) {
        Some(Bson::DateTime(t)) => t.timestamp_millis(),
        _ => {
            return Err(Error::BadValue(format!(
                "'{}' must be present and contain a valid BSON UTC datetime value",
                options.time_field
            )))
        }
    };
    let meta = match &options.meta_field {
        Some(field) => doc.remove(field),
        None => None,
    };
    Ok((meta, time, doc))
}

impl Storage {
    /// A time-series collection's options; `None` for any other collection (its buckets
    /// collection included) or a missing one.
    pub fn timeseries_options(&self, db: &str, coll: &str) -> Result<Option<TimeseriesOptions>> {
        if is_buckets_name(coll) {
            return Ok(None);
        }
        match self.collection(db, coll) {
            Some(c) => TimeseriesOptions::from_collection_options(&c.meta.options),
            None => Ok(None),
        }
    }

    /// Creates time-series collection `db.coll`: the catalog entry users read and write
    /// (options `timeseries`, `expireAfterSeconds`; it holds no documents) and
    /// `system.buckets.<coll>`, with an index on `(meta, control.min.<time>)` for inserts and
    /// queries, and on `control.max.<time>` (with `expireAfterSeconds`, the TTL pass removes
    /// whole buckets). `NamespaceExists` if either exists.
    pub fn create_timeseries(
        &self,
        db: &str,
        coll: &str,
        options: &TimeseriesOptions,
        expire_after_seconds: Option<i64>,
    ) -> Result<()> {
        let buckets = buckets_name(coll);
        super::super::validate_collection_name(db, coll)?;
        super::super::validate_collection_name(db, &buckets)?;
        let mut catalog_options = bson::doc! {"timeseries": options.to_document()?};
        if let Some(seconds) = expire_after_seconds {
            catalog_options.insert("expireAfterSeconds", seconds);
        }
        {
            let _w = self.writer();
            for name in [coll, buckets.as_str()] {
                if self.collection(db, name).is_some() {
                    return Err(Error::NamespaceExists(format!(
                        "Collection {db}.{name} already exists."
                    )));
                }
            }
            self.create_collection_locked(db, &buckets, catalog_options.clone())?;
            self.create_collection_locked(db, coll, catalog_options)?;
        }
        let min_time = format!("control.min.{}", options.time_field);
        let max_time = format!("control.max.{}", options.time_field);
        let mut by_meta_and_time = Document::new();
        if options.meta_field.is_some() {
            by_meta_and_time.insert("meta", 1);
        }
        by_meta_and_time.insert(min_time, 1);
        let mut by_max_time = bson::doc! {"key": {max_time: 1}, "name": "control_max_time"};
        if let Some(seconds) = expire_after_seconds {
            by_max_time.insert("expireAfterSeconds", seconds);
        }
        let specs = [
            bson::doc! {"key": by_meta_and_time, "name": "meta_control_min_time"},
            by_max_time,
        ];
        self.create_indexes(db, &buckets, &specs)?;
        Ok(())
    }

    /// Inserts measurements into time-series collection `db.coll`. Returns the failed
    /// measurements' positions and errors; with `ordered`, the first failure stops the rest
    /// (the measurements before it are inserted).
    pub fn timeseries_insert(
        &self,
        db: &str,
        coll: &str,
        docs: Vec<Document>,
        ordered: bool,
    ) -> Result<Vec<(usize, Error)>> {
        let options = self.timeseries_options(db, coll)?.ok_or_else(|| {
            Error::NamespaceNotFound(format!("{db}.{coll} is not a time-series collection"))
        })?;
        let mut failures = Vec::new();
        let mut accepted = Vec::with_capacity(docs.len());
        for (position, doc) in docs.into_iter().enumerate() {
            match measurement(doc, &options) {
                Ok(m) => accepted.push(m),
                Err(e) => {
                    failures.push((position, e));
                    if ordered {
                        break;
                    }
                }
            }
        }
        if accepted.is_empty() {
            return Ok(failures);
        }
        let mut w = self.writer();
        let buckets = self.buckets_collection(db, coll)?;
        let mut touched: Vec<Touched> = Vec::new();
        for (meta, time, row) in accepted {
            let size = document_size(&row);
            let open = touched.iter().position(|t| {
                same_meta(&t.bucket.meta, &meta) && t.bucket.accepts(time, size, &options)
            });
            let position = match open {
                Some(p) => p,
                None => {
                    let stored = self.stored_bucket_for(&buckets, &meta, time, &options)?;
                    let fresh = stored.filter(|(_, b)| {
                        b.accepts(time, size, &options)
                            && !touched.iter().any(|t| t.bucket.id == b.id)
                    });
                    touched.push(match fresh {
                        Some((candidate, bucket)) => Touched {
                            bucket,
                            stored: Some(candidate),
                        },
                        None => Touched {
                            bucket: Bucket::new(meta.clone(), bucket_start(time, &options)),
                            stored: None,
                        },
                    });
                    touched.len() - 1
                }
            };
            if let Some(t) = touched.get_mut(position) {
                t.bucket.push(row, size);
            }
        }
        let mut batch = Batch::default();
        for t in touched {
            let doc = t.bucket.to_document(&options)?;
            self.stage_bucket(&mut w, &buckets, &mut batch, t.stored.as_ref(), Some(doc))?;
        }
        self.commit_write(batch)?;
        Ok(failures)
    }

    /// Deletes the measurements of time-series collection `db.coll` that match `filter` (the
    /// first one only with `just_one`); returns how many. Buckets left empty are removed, the
    /// others rewritten.
    pub fn timeseries_delete(
        &self,
        db: &str,
        coll: &str,
        filter: &Document,
        just_one: bool,
    ) -> Result<u64> {
        let Some(options) = self.timeseries_options(db, coll)? else {
            return Ok(0);
        };
        let matcher = Filter::parse(filter)?;
        let mut w = self.writer();
        let buckets = self.buckets_collection(db, coll)?;
        let find = FindOptions {
            filter: super::read::bucket_filter(filter, &options),
            ..FindOptions::default()
        };
        let stored: Vec<Document> = self
            .find(db, &buckets_name(coll), &find)?
            .collect::<Result<_>>()?;
        let mut deleted = 0u64;
        let mut batch = Batch::default();
        for doc in stored {
            let mut bucket = Bucket::from_document(&doc, &options)?;
            let unpacked = bucket.clone().unpack(&options);
            let mut remove = vec![false; unpacked.len()];
            let mut removed_here = 0u64;
            for (slot, measurement) in remove.iter_mut().zip(&unpacked) {
                if just_one && removed_here >= 1 {
                    break;
                }
                if matcher.matches(measurement) {
                    *slot = true;
                    removed_here += 1;
                }
            }
            if removed_here == 0 {
                continue;
            }
            let rows = std::mem::take(&mut bucket.rows);
            bucket.rows = rows
                .into_iter()
                .zip(remove)
                .filter(|(_, removed)| !removed)
                .map(|(row, _)| row)
                .collect();
            deleted += removed_here;
            let candidate = Candidate {
                key: keyenc::encode(&Bson::ObjectId(bucket.id)),
                doc,
                array_index: None,
            };
            let new = if bucket.rows.is_empty() {
                None
            } else {
                Some(bucket.to_document(&options)?)
            };
            self.stage_bucket(&mut w, &buckets, &mut batch, Some(&candidate), new)?;
            if just_one {
                break;
            }
        }
        self.commit_write(batch)?;
        Ok(deleted)
    }

    fn buckets_collection(&self, db: &str, coll: &str) -> Result<std::sync::Arc<Collection>> {
        self.collection(db, &buckets_name(coll)).ok_or_else(|| {
            Error::Corrupt(format!(
                "time-series collection {db}.{coll} has no {}",
                buckets_name(coll)
            ))
        })
    }

    /// The latest stored bucket of `meta` that starts at or before `time` and within one
    /// bucket span of it, if any.
    fn stored_bucket_for(
        &self,
        buckets: &Collection,
        meta: &Option<Bson>,
        time: i64,
        options: &TimeseriesOptions,
    ) -> Result<Option<(Candidate, Bucket)>> {
        let min_time = format!("control.min.{}", options.time_field);
        let mut filter = Document::new();
        match meta {
            Some(m) => filter.insert("meta", bson::doc! {"$eq": m.clone()}),
            None => filter.insert("meta", bson::doc! {"$exists": false}),
        };
        let earliest = time.saturating_sub(options.span_millis());
        filter.insert(
            min_time.clone(),
            bson::doc! {
                "$lte": bson::DateTime::from_millis(time),
                "$gt": bson::DateTime::from_millis(earliest),
            },
        );
        // Only buckets with room (the count is checked here, the size after decoding).
        let max_count = i64::try_from(MAX_MEASUREMENTS).unwrap_or(i64::MAX);
        filter.insert("control.count", bson::doc! {"$lt": max_count});
        let find = FindOptions {
            filter,
            sort: Some(bson::doc! {min_time: -1}),
            limit: CANDIDATES,
            ..FindOptions::default()
        };
        let cursor = self.find(&buckets.meta.db, &buckets.meta.name, &find)?;
        for doc in cursor {
            let doc = doc?;
            let bucket = Bucket::from_document(&doc, options)?;
            // `$eq` also matches an array meta holding the value: only the same meta counts.
            if !same_meta(&bucket.meta, meta) || !bucket.accepts(time, 0, options) {
                continue;
            }
            let candidate = Candidate {
                key: keyenc::encode(&Bson::ObjectId(bucket.id)),
                doc,
                array_index: None,
            };
            return Ok(Some((candidate, bucket)));
        }
        Ok(None)
    }

    /// Stages a bucket's insert (`stored` is `None`), replacement or delete (`new` is `None`).
    fn stage_bucket(
        &self,
        w: &mut crate::engine::Writer,
        buckets: &Collection,
        batch: &mut Batch,
        stored: Option<&Candidate>,
        new: Option<Document>,
    ) -> Result<()> {
        let options = WriteOptions::default();
        match (stored, new) {
            (None, Some(doc)) => self
                .stage_insert(w, buckets, batch, doc, &options)
                .map(|_| ()),
            (Some(old), Some(doc)) => {
                let edit = Edit {
                    op: HistoryOp::Replace,
                    increments: None,
                };
                self.stage_replace(w, buckets, batch, old, doc, edit, &options)
            }
            (Some(old), None) => {
                self.stage_delete(w, buckets, batch, &old.key, &old.doc, &Origin::Local)
            }
            (None, None) => Ok(()),
        }
    }
}
