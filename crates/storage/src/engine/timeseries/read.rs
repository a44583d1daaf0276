//! Reading a time-series collection: its buckets, unpacked into the measurements users see.
//! A filter on the measurements is turned into a weaker filter on the buckets
//! ([`bucket_filter`]) so that buckets that cannot hold a match are never decoded; the
//! measurements are then filtered by the original filter (the pipeline still applies it).

use bson::{Bson, Document};

use super::bucket::Bucket;
use super::buckets_name;
use super::options::TimeseriesOptions;
use crate::engine::read::{FindOptions, ReadCursor};
use crate::engine::Storage;
use crate::error::Result;

/// A filter on buckets that every bucket holding a measurement matching `filter` passes:
/// conditions on the time field become conditions on `control.min/max.<time>` (times are
/// always dates, so these bounds are exact for date operands), conditions on the meta field
/// (or its subfields) apply to `meta` as they are. Anything else adds no condition.
pub(crate) fn bucket_filter(filter: &Document, options: &TimeseriesOptions) -> Document {
    let mut conjuncts = Vec::new();
    translate(filter, options, &mut conjuncts);
    match conjuncts.len() {
        0 => Document::new(),
        _ => bson::doc! {"$and": conjuncts},
    }
}

fn translate(filter: &Document, options: &TimeseriesOptions, out: &mut Vec<Bson>) {
    for (key, value) in filter {
        if key == "$and" {
            if let Bson::Array(items) = value {
                for item in items {
                    if let Bson::Document(d) = item {
                        translate(d, options, out);
                    }
                }
            }
        } else if *key == options.time_field {
            time_conditions(value, options, out);
        } else if let Some(meta) = &options.meta_field {
            let rest = key.strip_prefix(meta.as_str());
            match rest {
                Some("") => out.push(Bson::Document(bson::doc! {"meta": value.clone()})),
                Some(sub) if sub.starts_with('.') => out.push(Bson::Document(
                    bson::doc! {format!("meta{sub}"): value.clone()},
                )),
                _ => {}
            }
        }
    }
}

fn time_conditions(value: &Bson, options: &TimeseriesOptions, out: &mut Vec<Bson>) {
    let min = format!("control.min.{}", options.time_field);
    let max = format!("control.max.{}", options.time_field);
    let mut push = |field: &str, op: &str, date: &Bson| {
        out.push(Bson::Document(bson::doc! {field: {op: date.clone()}}));
    };
    match value {
        Bson::DateTime(_) => {
            push(&max, "$gte", value);
            push(&min, "$lte", value);
        }
        Bson::Document(operators) if operators.keys().all(|k| k.starts_with('$')) => {
            for (op, operand) in operators {
                if !matches!(operand, Bson::DateTime(_)) {
                    continue;
                }
                match op.as_str() {
                    "$eq" => {
                        push(&max, "$gte", operand);
                        push(&min, "$lte", operand);
                    }
                    "$gt" => push(&max, "$gt", operand),
                    "$gte" => push(&max, "$gte", operand),
                    "$lt" => push(&min, "$lt", operand),
                    "$lte" => push(&min, "$lte", operand),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// The measurements of a time-series collection, bucket by bucket.
pub struct Unpacked {
    buckets: ReadCursor,
    options: TimeseriesOptions,
    pending: std::vec::IntoIter<Document>,
}

impl Iterator for Unpacked {
    type Item = Result<Document>;

    fn next(&mut self) -> Option<Result<Document>> {
        loop {
            if let Some(doc) = self.pending.next() {
                return Some(Ok(doc));
            }
            let stored = match self.buckets.next()? {
                Ok(doc) => doc,
                Err(e) => return Some(Err(e)),
            };
            match Bucket::from_document(&stored, &self.options) {
                Ok(bucket) => self.pending = bucket.unpack(&self.options).into_iter(),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl Storage {
    /// The measurements of time-series collection `db.coll` in bucket order, skipping
    /// buckets that cannot hold a match of `filter` (which the caller still applies).
    pub(crate) fn unpacked(
        &self,
        db: &str,
        coll: &str,
        options: TimeseriesOptions,
        filter: Option<&Document>,
        deadline: Option<std::time::Instant>,
    ) -> Result<Unpacked> {
        let find = FindOptions {
            filter: filter
                .map(|f| bucket_filter(f, &options))
                .unwrap_or_default(),
            deadline,
            ..FindOptions::default()
        };
        Ok(Unpacked {
            buckets: self.find(db, &buckets_name(coll), &find)?,
            options,
            pending: Vec::new().into_iter(),
        })
    }
}
