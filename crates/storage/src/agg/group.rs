//! `$group`, and the stages MongoDB builds from it: `$bucket`, `$bucketAuto`, `$sortByCount`.

use std::collections::BTreeMap;

use bson::{Bson, Document};

use super::accumulator::{AccumulatorSpec, AccumulatorState};
use super::expr::{Expr, Vars};
use super::paths::{bson_size, type_name, OrderedBson};
use super::{DocStream, MemoryLimitKind, MemoryTracker, RunContext};
use crate::error::{Error, Result};
use crate::value::{compare, type_rank};

/// A parsed `$group`: the `_id` expression and the accumulated fields.
#[derive(Debug, Clone)]
pub(crate) struct GroupSpec {
    id: Expr,
    accumulators: Vec<AccumulatorSpec>,
}

/// Estimated fixed cost of one group besides its key and values.
const GROUP_OVERHEAD_BYTES: usize = 64;

impl GroupSpec {
    /// Parses `{_id: <expression>, field: {<accumulator>: <argument>}, ...}`.
    pub(crate) fn parse(spec: &Bson) -> Result<GroupSpec> {
        let Bson::Document(d) = spec else {
            return Err(Error::coded(
                15947,
                "a group's fields must be specified in an object",
            ));
        };
        let mut id = None;
        let mut accumulators = Vec::new();
        for (field, value) in d {
            if field == "_id" {
                id = Some(Expr::parse(value)?);
                continue;
            }
            validate_output_field(field)?;
            accumulators.push(AccumulatorSpec::parse(field, value)?);
        }
        let Some(id) = id else {
            return Err(Error::coded(
                15955,
                "a group specification must include an _id",
            ));
        };
        Ok(GroupSpec { id, accumulators })
    }

    /// `$sortByCount: <expression>` is `$group: {_id: <expression>, count: {$sum: 1}}`
    /// followed by `$sort: {count: -1}`.
    pub(crate) fn parse_sort_by_count(spec: &Bson) -> Result<GroupSpec> {
        let is_expression = match spec {
            Bson::String(s) => s.starts_with('$'),
            Bson::Document(d) => d.len() == 1 && d.keys().all(|k| k.starts_with('$')),
            _ => false,
        };
        if !is_expression {
            return Err(Error::coded(
                40148,
                "the sortBy field must be defined as a $-prefixed path or an expression object",
            ));
        }
        Ok(GroupSpec {
            id: Expr::parse(spec)?,
            accumulators: vec![AccumulatorSpec::parse(
                "count",
                &Bson::Document(bson::doc! {"$sum": 1}),
            )?],
        })
    }

    /// Groups `input`; groups come out in the order their keys first appeared.
    pub(crate) fn run(
        &self,
        input: DocStream<'_>,
        context: &RunContext<'_>,
    ) -> Result<Vec<Document>> {
        let vars = context.vars();
        let id = &self.id;
        let mut key_of = |doc: &Document, vars: &Vars| -> Result<Bson> {
            Ok(id.eval(doc, vars)?.unwrap_or(Bson::Null))
        };
        group_documents(&self.accumulators, input, context, &vars, &mut key_of)
    }
}

fn validate_output_field(field: &str) -> Result<()> {
    if field.contains('.') {
        return Err(Error::coded(
            40235,
            format!("The field name '{field}' cannot contain '.'"),
        ));
    }
    if field.starts_with('$') {
        return Err(Error::coded(
            40236,
            format!("The field name '{field}' cannot be an operator name"),
        ));
    }
    if field.is_empty() {
        return Err(Error::coded(
            40352,
            "FieldPath cannot be constructed with empty string",
        ));
    }
    Ok(())
}

/// The grouping engine shared by `$group`, `$bucket` and `$sortByCount`.
fn group_documents(
    accumulators: &[AccumulatorSpec],
    input: DocStream<'_>,
    context: &RunContext<'_>,
    vars: &Vars,
    key_of: &mut dyn FnMut(&Document, &Vars) -> Result<Bson>,
) -> Result<Vec<Document>> {
    let mut tracker = MemoryTracker::new(
        context.memory_limit_bytes,
        context.allow_disk_use,
        MemoryLimitKind::Group,
    );
    let mut index: BTreeMap<OrderedBson, usize> = BTreeMap::new();
    let mut groups: Vec<(Bson, Vec<AccumulatorState>)> = Vec::new();
    for r in input {
        let doc = r?;
        let key = key_of(&doc, vars)?;
        let ordered = OrderedBson(key);
        let position = match index.get(&ordered) {
            Some(p) => *p,
            None => {
                let key = ordered.0.clone();
                let mut states = Vec::with_capacity(accumulators.len());
                for accumulator in accumulators {
                    states.push(accumulator.start(&key, vars)?);
                }
                tracker
                    .add(bson_size(&key) * 2 + GROUP_OVERHEAD_BYTES * (1 + accumulators.len()))?;
                groups.push((key, states));
                index.insert(ordered, groups.len() - 1);
                groups.len() - 1
            }
        };
        if let Some((_, states)) = groups.get_mut(position) {
            for (accumulator, state) in accumulators.iter().zip(states.iter_mut()) {
                let grown = accumulator.process(state, &doc, vars)?;
                tracker.add(grown)?;
            }
        }
    }
    Ok(groups
        .into_iter()
        .map(|(key, states)| finish_group(accumulators, key, states))
        .collect())
}

fn finish_group(
    accumulators: &[AccumulatorSpec],
    key: Bson,
    states: Vec<AccumulatorState>,
) -> Document {
    let mut out = Document::new();
    out.insert("_id", key);
    for (accumulator, state) in accumulators.iter().zip(states) {
        out.insert(accumulator.field.clone(), accumulator.finish(state));
    }
    out
}

/// The default `output` of `$bucket`/`$bucketAuto`: `{count: {$sum: 1}}`.
fn default_bucket_output() -> Result<Vec<AccumulatorSpec>> {
    Ok(vec![AccumulatorSpec::parse(
        "count",
        &Bson::Document(bson::doc! {"$sum": 1}),
    )?])
}

fn parse_output(output: &Bson, code: i32, stage: &str) -> Result<Vec<AccumulatorSpec>> {
    let Bson::Document(d) = output else {
        return Err(Error::coded(
            code,
            format!(
                "The {stage} 'output' field must be an object, but found type: {}.",
                type_name(output)
            ),
        ));
    };
    let mut accumulators = Vec::new();
    for (field, value) in d {
        validate_output_field(field)?;
        accumulators.push(AccumulatorSpec::parse(field, value)?);
    }
    Ok(accumulators)
}

fn is_group_by_expression(value: &Bson) -> bool {
    match value {
        Bson::String(s) => s.starts_with('$'),
        Bson::Document(d) => d.keys().next().is_some_and(|k| k.starts_with('$')),
        _ => false,
    }
}

/// A constant `$bucket` boundary or default: a literal, or `{$literal: v}`.
fn constant_value(value: &Bson) -> Option<Bson> {
    match value {
        Bson::Document(d) if d.keys().next().is_some_and(|k| k.starts_with('$')) => {
            if d.len() == 1 {
                d.get("$literal").cloned()
            } else {
                None
            }
        }
        Bson::String(s) if s.starts_with('$') => None,
        other => Some(other.clone()),
    }
}

/// A parsed `$bucket`.
#[derive(Debug, Clone)]
pub(crate) struct BucketSpec {
    group_by: Expr,
    boundaries: Vec<Bson>,
    default: Option<Bson>,
    accumulators: Vec<AccumulatorSpec>,
}

impl BucketSpec {
    /// Parses `$bucket` with MongoDB's checks (40191-40202).
    pub(crate) fn parse(spec: &Bson) -> Result<BucketSpec> {
        let Bson::Document(d) = spec else {
            return Err(Error::coded(
                40201,
                format!(
                    "Argument to $bucket stage must be an object, but found type: {}.",
                    type_name(spec)
                ),
            ));
        };
        let mut group_by = None;
        let mut boundaries = Vec::new();
        let mut default = None;
        let mut accumulators = None;
        for (name, argument) in d {
            match name.as_str() {
                "groupBy" => {
                    if !is_group_by_expression(argument) {
                        return Err(Error::coded(
                            40202,
                            format!(
                                "The $bucket 'groupBy' field must be defined as a $-prefixed \
                                 path or an expression, but found: {argument}."
                            ),
                        ));
                    }
                    group_by = Some(Expr::parse(argument)?);
                }
                "boundaries" => {
                    let Bson::Array(items) = argument else {
                        return Err(Error::coded(
                            40200,
                            format!(
                                "The $bucket 'boundaries' field must be an array, but found \
                                 type: {}.",
                                type_name(argument)
                            ),
                        ));
                    };
                    for item in items {
                        let Some(value) = constant_value(item) else {
                            return Err(Error::coded(
                                40191,
                                format!(
                                    "The $bucket 'boundaries' field must be an array of \
                                     constant values, but found value: {item}."
                                ),
                            ));
                        };
                        boundaries.push(value);
                    }
                    if boundaries.len() < 2 {
                        return Err(Error::coded(
                            40192,
                            format!(
                                "The $bucket 'boundaries' field must have at least 2 values, but \
                                 found {} value(s).",
                                boundaries.len()
                            ),
                        ));
                    }
                    for (i, pair) in boundaries.windows(2).enumerate() {
                        if let [lower, upper] = pair {
                            if type_rank(lower) != type_rank(upper) {
                                return Err(Error::coded(
                                    40193,
                                    format!(
                                        "All values in the the 'boundaries' option to $bucket \
                                         must have the same type. Found conflicting types {} and \
                                         {}.",
                                        type_name(lower),
                                        type_name(upper)
                                    ),
                                ));
                            }
                            if compare(lower, upper) != std::cmp::Ordering::Less {
                                return Err(Error::coded(
                                    40194,
                                    format!(
                                        "The 'boundaries' option to $bucket must be sorted, but \
                                         elements {} and {} are not in ascending order ({lower} \
                                         is not less than {upper}).",
                                        i,
                                        i + 1
                                    ),
                                ));
                            }
                        }
                    }
                }
                "default" => {
                    let Some(value) = constant_value(argument) else {
                        return Err(Error::coded(
                            40195,
                            format!(
                                "The $bucket 'default' field must be a constant expression, but \
                                 found: {argument}."
                            ),
                        ));
                    };
                    default = Some(value);
                }
                "output" => accumulators = Some(parse_output(argument, 40196, "$bucket")?),
                other => {
                    return Err(Error::coded(
                        40197,
                        format!("Unrecognized option to $bucket: {other}."),
                    ))
                }
            }
        }
        let (Some(group_by), false) = (group_by, boundaries.is_empty()) else {
            return Err(Error::coded(
                40198,
                "$bucket requires 'groupBy' and 'boundaries' to be specified.",
            ));
        };
        if let (Some(default), Some(lowest), Some(highest)) =
            (&default, boundaries.first(), boundaries.last())
        {
            if type_rank(default) == type_rank(lowest)
                && compare(default, lowest) != std::cmp::Ordering::Less
                && compare(default, highest) == std::cmp::Ordering::Less
            {
                return Err(Error::coded(
                    40199,
                    "The $bucket 'default' field must be less than the lowest boundary or \
                     greater than or equal to the highest boundary.",
                ));
            }
        }
        Ok(BucketSpec {
            group_by,
            boundaries,
            default,
            accumulators: match accumulators {
                Some(a) => a,
                None => default_bucket_output()?,
            },
        })
    }

    /// Groups by bucket (the lower boundary, or the default) and sorts by `_id`, as MongoDB's
    /// `$group` + `$sort` rewrite of `$bucket` does. Only non-empty buckets appear.
    pub(crate) fn run(
        &self,
        input: DocStream<'_>,
        context: &RunContext<'_>,
    ) -> Result<Vec<Document>> {
        let vars = context.vars();
        let mut key_of = |doc: &Document, vars: &Vars| -> Result<Bson> {
            let value = self.group_by.eval(doc, vars)?.unwrap_or(Bson::Null);
            // The bucket whose lower boundary is the last one not above the value.
            let above = self
                .boundaries
                .partition_point(|b| compare(b, &value) != std::cmp::Ordering::Greater);
            if above > 0 && above < self.boundaries.len() {
                if let Some(lower) = self.boundaries.get(above - 1) {
                    return Ok(lower.clone());
                }
            }
            match &self.default {
                Some(d) => Ok(d.clone()),
                None => Err(Error::coded(
                    40066,
                    "$switch could not find a matching branch for an input, and no default was \
                     specified.",
                )),
            }
        };
        let mut groups = group_documents(&self.accumulators, input, context, &vars, &mut key_of)?;
        groups.sort_by(|a, b| {
            compare(
                a.get("_id").unwrap_or(&Bson::Null),
                b.get("_id").unwrap_or(&Bson::Null),
            )
        });
        Ok(groups)
    }
}

/// A parsed `$bucketAuto`.
#[derive(Debug, Clone)]
pub(crate) struct BucketAutoSpec {
    group_by: Expr,
    buckets: usize,
    accumulators: Vec<AccumulatorSpec>,
}

impl BucketAutoSpec {
    /// Parses `$bucketAuto` (40239-40246). `granularity` is not supported.
    pub(crate) fn parse(spec: &Bson) -> Result<BucketAutoSpec> {
        let Bson::Document(d) = spec else {
            return Err(Error::coded(
                40240,
                format!(
                    "The argument to $bucketAuto must be an object, but found type: {}.",
                    type_name(spec)
                ),
            ));
        };
        let mut group_by = None;
        let mut buckets = None;
        let mut accumulators = None;
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
                    group_by = Some(Expr::parse(argument)?);
                }
                "buckets" => {
                    let n = match argument {
                        Bson::Int32(i) => i64::from(*i),
                        Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
                            match super::paths::integral_i64(argument) {
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
                "output" => accumulators = Some(parse_output(argument, 40244, "$bucketAuto")?),
                "granularity" => {
                    return Err(Error::NotSupported(
                        "$bucketAuto's 'granularity' option is not supported".into(),
                    ))
                }
                other => {
                    return Err(Error::coded(
                        40245,
                        format!("Unrecognized option to $bucketAuto: {other}."),
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
        let mut tracker = MemoryTracker::new(
            context.memory_limit_bytes,
            context.allow_disk_use,
            MemoryLimitKind::Sort,
        );
        let mut entries: Vec<(Bson, Document)> = Vec::new();
        for r in input {
            let doc = r?;
            let value = self.group_by.eval(&doc, &vars)?.unwrap_or(Bson::Null);
            tracker.add(bson_size(&value) + super::paths::document_size(&doc))?;
            entries.push((value, doc));
        }
        entries.sort_by(|a, b| compare(&a.0, &b.0));
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
                // Values equal to the bucket's maximum stay in this bucket.
                while iter
                    .peek()
                    .is_some_and(|(v, _)| compare(v, &bucket.max) == std::cmp::Ordering::Equal)
                {
                    if let Some((value, doc)) = iter.next() {
                        add(&mut bucket, value, doc)?;
                    }
                }
            }
            buckets.push(bucket);
        }
        let mins: Vec<Bson> = buckets.iter().map(|b| b.min.clone()).collect();
        let mut out = Vec::with_capacity(buckets.len());
        for (i, bucket) in buckets.into_iter().enumerate() {
            let max = mins.get(i + 1).cloned().unwrap_or(bucket.max);
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
