//! One bucket: the measurements of one meta value within one time span, stored as one
//! document of `system.buckets.<coll>`:
//!
//! ```text
//! { _id: ObjectId (its timestamp: the bucket's start, in seconds),
//!   control: { version: 2, min: {<field>: <least value>, ...},
//!              max: {<field>: <greatest value>, ...}, count: <measurements> },
//!   meta: <the metaField's value>          (absent when the measurements have none)
//!   data: BinData (the measurements without the meta field, see `codec`) }
//! ```
//!
//! `control.min.<timeField>` is the bucket's start (the first time rounded down), so
//! `[control.min.time, control.max.time]` covers every measurement: queries on time skip
//! buckets on these two fields (indexed), TTL removes a bucket once its `control.max` time has
//! expired. A bucket is a self-contained document, so it can be shipped as it is.

use std::cmp::Ordering;

use bson::{oid::ObjectId, Binary, Bson, DateTime, Document};
use serde::{Deserialize, Serialize};

use super::codec;
use super::options::TimeseriesOptions;
use crate::error::{Error, Result};
use crate::value::compare::compare;

/// A bucket holds at most this many measurements (mongod's `timeseriesBucketMaxCount`).
pub(crate) const MAX_MEASUREMENTS: usize = 1_000;

/// A bucket closes past this many bytes of measurements (mongod's `timeseriesBucketMaxSize`).
pub(crate) const MAX_BYTES: usize = 125 * 1024;

/// `control.version` of Outpost's compressed buckets.
const VERSION: i32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Control {
    version: i32,
    min: Document,
    max: Document,
    count: i64,
}

/// A bucket, decoded.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    pub id: ObjectId,
    /// The meta value; `None` when the measurements have no meta field.
    pub meta: Option<Bson>,
    /// The bucket's start in milliseconds (the first time rounded down).
    pub start: i64,
    /// The measurements, without the meta field, in insertion order.
    pub rows: Vec<Document>,
    /// The sum of the rows' BSON sizes.
    pub bytes: usize,
}

/// The start of a bucket holding `time` (milliseconds): rounded down to the rounding step.
pub(crate) fn bucket_start(time: i64, options: &TimeseriesOptions) -> i64 {
    let step = options.rounding_millis().max(1);
    time.div_euclid(step).saturating_mul(step)
}

/// An ObjectId whose timestamp is the bucket's start (as mongod's), the rest random.
fn bucket_id(start: i64) -> ObjectId {
    let mut bytes = ObjectId::new().bytes();
    let seconds = u32::try_from(start.div_euclid(1000)).unwrap_or(0);
    bytes[..4].copy_from_slice(&seconds.to_be_bytes());
    ObjectId::from_bytes(bytes)
}

impl Bucket {
    pub fn new(meta: Option<Bson>, start: i64) -> Bucket {
        Bucket {
            id: bucket_id(start),
            meta,
            start,
            rows: Vec::new(),
            bytes: 0,
        }
    }

    /// Whether a measurement at `time` of `size` bytes fits.
    pub fn accepts(&self, time: i64, size: usize, options: &TimeseriesOptions) -> bool {
        time >= self.start
            && time - self.start < options.span_millis()
            && self.rows.len() < MAX_MEASUREMENTS
            && (self.rows.is_empty() || self.bytes + size <= MAX_BYTES)
    }

    pub fn push(&mut self, row: Document, size: usize) {
        self.rows.push(row);
        self.bytes += size;
    }

    /// The bucket as stored.
    pub fn to_document(&self, options: &TimeseriesOptions) -> Result<Document> {
        let (mut min, max) = min_max(&self.rows);
        min.insert(
            options.time_field.clone(),
            Bson::DateTime(DateTime::from_millis(self.start)),
        );
        let control = Control {
            version: VERSION,
            min,
            max,
            count: i64::try_from(self.rows.len()).unwrap_or(i64::MAX),
        };
        let mut doc = bson::doc! {"_id": self.id, "control": bson::to_bson(&control)?};
        if let Some(meta) = &self.meta {
            doc.insert("meta", meta.clone());
        }
        doc.insert(
            "data",
            Binary {
                subtype: bson::spec::BinarySubtype::Generic,
                bytes: codec::encode(&self.rows)?,
            },
        );
        Ok(doc)
    }

    /// A stored bucket, decoded.
    pub fn from_document(doc: &Document, options: &TimeseriesOptions) -> Result<Bucket> {
        let bad = |what: &str| Error::Corrupt(format!("time-series bucket: {what}"));
        let id = doc
            .get_object_id("_id")
            .map_err(|_| bad("no ObjectId _id"))?;
        let control: Control = bson::from_bson(
            doc.get("control")
                .cloned()
                .ok_or_else(|| bad("no control"))?,
        )
        .map_err(|e| bad(&e.to_string()))?;
        let start = control
            .min
            .get_datetime(&options.time_field)
            .map_err(|_| bad("no start time"))?
            .timestamp_millis();
        let data = match doc.get("data") {
            Some(Bson::Binary(b)) => &b.bytes,
            _ => return Err(bad("no data")),
        };
        let rows = codec::decode(data)?;
        let bytes = rows.iter().map(crate::value::size::document_size).sum();
        Ok(Bucket {
            id,
            meta: doc.get("meta").cloned(),
            start,
            rows,
            bytes,
        })
    }

    /// The measurements as the user sees them: each row with the meta field added back.
    pub fn unpack(self, options: &TimeseriesOptions) -> Vec<Document> {
        let Bucket { rows, meta, .. } = self;
        match (&options.meta_field, meta) {
            (Some(field), Some(meta)) => rows
                .into_iter()
                .map(|mut row| {
                    row.insert(field.clone(), meta.clone());
                    row
                })
                .collect(),
            _ => rows,
        }
    }
}

/// Per top-level field, the least and greatest value over `rows` (BSON order).
fn min_max(rows: &[Document]) -> (Document, Document) {
    let mut min = Document::new();
    let mut max = Document::new();
    for row in rows {
        for (key, value) in row {
            match min.get(key) {
                Some(current) if compare(value, current) != Ordering::Less => {}
                _ => {
                    min.insert(key.clone(), value.clone());
                }
            }
            match max.get(key) {
                Some(current) if compare(value, current) != Ordering::Greater => {}
                _ => {
                    max.insert(key.clone(), value.clone());
                }
            }
        }
    }
    (min, max)
}
