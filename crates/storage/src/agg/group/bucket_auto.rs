//! `$bucketAuto`: documents sorted by their `groupBy` value and split into about equal
//! buckets, equal values kept together, boundaries rounded to a `granularity` series when one
//! is given.

use bson::{Bson, Document};

use super::granularity::{number_as_f64, Granularity};
use super::{default_bucket_output, is_group_by_expression, parse_output};
use crate::agg::accumulator::{AccumulatorSpec, AccumulatorState};
use crate::agg::expr::Expr;
use crate::agg::paths::{bson_size, type_name};
use crate::agg::{DocStream, MemoryLimitKind, RunContext, VariableScope};
use crate::error::{Error, Result};
use crate::value::{compare, compare_with};

/// A parsed `$bucketAuto`.
#[derive(Debug, Clone)]
pub(crate) struct BucketAutoSpec {
    group_by: Expr,
    buckets: usize,
    accumulators: Vec<AccumulatorSpec>,
    granularity: Option<Granularity>,
}

impl BucketAutoSpec {
    /// Parses `$bucketAuto` (40239-40246, 40261).
    pub(crate) fn parse(spec: &Bson, scope: &VariableScope) -> Result<BucketAutoSpec> {
        let Bson::Document(d) = spec else {
            return Err(Error::coded(
                40240,
                format!(
                    "The argument to $bucketAuto must be an object, but found type: {}",
                    type_name(spec)
                ),
            ));
        };
        let mut group_by = None;
        let mut buckets = None;
        let mut accumulators = None;
        let mut granularity = None;
        for (name, argument) in d {
            match name.as_str() {
                "groupBy" => {
                    if !is_group_by_expression(argument) {
                        return Err(Error::coded(
                            40239,
                            format!(
                                "The $bucketAuto 'groupBy' field must be defined as a \
                                 $-prefixed path or an expression object, but found: {argument}."
                            ),
                        ));
                    }
                    group_by = Some(scope.parse(argument)?);
                }
                "buckets" => {
                    let n = match argument {
                        Bson::Int32(i) => i64::from(*i),
                        Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
                            match crate::agg::paths::integral_i64(argument) {
                                Some(i) if i32::try_from(i).is_ok() => i,
                                _ => {
                                    return Err(Error::coded(
                                        40242,
                                        format!(
                                            "The $bucketAuto 'buckets' field must be \
                                             representable as a 32-bit integer, but found {argument}."
                                        ),
                                    ))
                                }
                            }
                        }
                        other => {
                            return Err(Error::coded(
                                40241,
                                format!(
                                    "The $bucketAuto 'buckets' field must be a numeric value, \
                                     but found type: {}.",
                                    type_name(other)
                                ),
                            ))
                        }
                    };
                    if n <= 0 {
                        return Err(Error::coded(
                            40243,
                            format!(
                                "The $bucketAuto 'buckets' field must be greater than 0, but \
                                 found: {n}."
                            ),
                        ));
                    }
                    buckets = Some(usize::try_from(n).unwrap_or(1));
                }
                "output" => {
                    accumulators = Some(parse_output(argument, 40244, "$bucketAuto", scope)?)
                }
                "granularity" => {
                    let Bson::String(name) = argument else {
                        return Err(Error::coded(
                            40261,
                            format!(
                                "The $bucketAuto 'granularity' field must be a string, but found \
                                 type: {}",
                                type_name(argument)
                            ),
                        ));
                    };
                    granularity = Some(Granularity::parse(name)?);
                }
                other => {
                    return Err(Error::coded(
                        40245,
                        format!("Unrecognized option to $bucketAuto: {other}"),
                    ))
                }
            }
        }
        let (Some(group_by), Some(buckets)) = (group_by, buckets) else {
            return Err(Error::coded(
                40246,
                "$bucketAuto requires 'groupBy' and 'buckets' to be specified",
            ));
        };
        Ok(BucketAutoSpec {
            group_by,
            buckets,
            granularity,
            accumulators: match accumulators {
                Some(a) => a,
                None => default_bucket_output()?,
            },
        })
    }

    /// MongoDB's algorithm: sort by the `groupBy` value, fill each bucket with about
    /// `count / buckets` documents, keep equal values in one bucket, and make each bucket's
    /// `max` the next bucket's `min` (the last bucket's `max` is its largest value).
    pub(crate) fn run(
        &self,
        input: DocStream<'_>,
        context: &RunContext<'_>,
    ) -> Result<Vec<Document>> {
        let vars = context.vars();
        let mut tracker = context.memory_tracker(MemoryLimitKind::Sort);
        let mut entries: Vec<(Bson, Document)> = Vec::new();
        for r in input {
            let doc = r?;
            let value = self.group_by.eval(&doc, &vars)?.unwrap_or(Bson::Null);
            tracker.add(bson_size(&value) + crate::agg::paths::document_size(&doc))?;
            entries.push((value, doc));
        }
        let collation = vars.collation.clone();
        entries.sort_by(|a, b| compare_with(&a.0, &b.0, collation.as_deref()));
        let total = entries.len();
        if total == 0 {
            return Ok(Vec::new());
        }
        let approximate_size = ((total as f64) / (self.buckets as f64)).round().max(1.0) as usize;
        struct Bucket {
            min: Bson,
            max: Bson,
            states: Vec<AccumulatorState>,
        }
        let mut buckets: Vec<Bucket> = Vec::new();
        let mut iter = entries.into_iter().peekable();
        for bucket_index in 0..self.buckets {
            let Some((first_value, first_doc)) = iter.next() else {
                break;
            };
            let mut states = Vec::with_capacity(self.accumulators.len());
            for accumulator in &self.accumulators {
                states.push(accumulator.start(&Bson::Null, &vars)?);
            }
            let mut bucket = Bucket {
                min: first_value.clone(),
                max: first_value,
                states,
            };
            let add = |bucket: &mut Bucket, value: Bson, doc: Document| -> Result<()> {
                for (accumulator, state) in self.accumulators.iter().zip(bucket.states.iter_mut()) {
                    accumulator.process(state, &doc, &vars)?;
                }
                bucket.max = value;
                Ok(())
            };
            let max = bucket.max.clone();
            add(&mut bucket, max, first_doc)?;
            if bucket_index + 1 == self.buckets {
                for (value, doc) in iter.by_ref() {
                    add(&mut bucket, value, doc)?;
                }
            } else {
                for _ in 1..approximate_size {
                    match iter.next() {
                        Some((value, doc)) => add(&mut bucket, value, doc)?,
                        None => break,
                    }
                }
                match &self.granularity {
                    Some(granularity) => {
                        // Values below the rounded-up boundary join this bucket too.
                        let boundary = granularity.round_up(&bucket.max)?;
                        while iter.peek().is_some_and(|(v, _)| {
                            compare(&boundary, v) == std::cmp::Ordering::Greater
                        }) {
                            if let Some((value, doc)) = iter.next() {
                                add(&mut bucket, value, doc)?;
                            }
                        }
                        if iter.peek().is_some() {
                            bucket.max = boundary;
                        }
                    }
                    None => {
                        // Values equal to the bucket's maximum stay in this bucket.
                        while iter.peek().is_some_and(|(v, _)| {
                            compare_with(v, &bucket.max, collation.as_deref())
                                == std::cmp::Ordering::Equal
                        }) {
                            if let Some((value, doc)) = iter.next() {
                                add(&mut bucket, value, doc)?;
                            }
                        }
                    }
                }
            }
            // Boundaries: a bucket's min is inclusive and its max exclusive (the last max is
            // inclusive). Without granularity the previous max becomes this min; with it, this
            // min becomes the previous (rounded) max.
            if let Some(previous) = buckets.last_mut() {
                match &self.granularity {
                    Some(granularity) => {
                        if number_as_f64(&previous.max) == Some(0.0) {
                            previous.max = granularity.round_down(&bucket.min)?;
                        }
                        bucket.min = previous.max.clone();
                    }
                    None => previous.max = bucket.min.clone(),
                }
            }
            buckets.push(bucket);
        }
        if let Some(granularity) = &self.granularity {
            if let Some(first) = buckets.first_mut() {
                first.min = granularity.round_down(&first.min)?;
            }
            if let Some(last) = buckets.last_mut() {
                last.max = granularity.round_up(&last.max)?;
            }
        }
        let mut out = Vec::with_capacity(buckets.len());
        for bucket in buckets {
            let max = bucket.max;
            let mut doc = Document::new();
            doc.insert("_id", bson::doc! {"min": bucket.min, "max": max});
            for (accumulator, state) in self.accumulators.iter().zip(bucket.states) {
                doc.insert(accumulator.field.clone(), accumulator.finish(state));
            }
            out.push(doc);
        }
        Ok(out)
    }
}
