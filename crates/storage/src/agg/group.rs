//! `$group`, and the stages MongoDB builds from it: `$bucket`, `$bucketAuto`, `$sortByCount`.

use std::collections::BTreeMap;

use bson::{Bson, Document};

use super::accumulator::{AccumulatorSpec, AccumulatorState};
use super::expr::{Expr, Vars};
use super::paths::{bson_size, type_name, OrderedBson};
use super::{DocStream, MemoryLimitKind, MemoryTracker, RunContext, VariableScope};
use crate::error::{Error, Result};
use crate::value::{compare, compare_with, type_rank};

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
    pub(crate) fn parse(spec: &Bson, scope: &VariableScope) -> Result<GroupSpec> {
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
                id = Some(scope.parse(value)?);
                continue;
            }
            accumulators.push(AccumulatorSpec::parse(field, value, scope)?);
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
    pub(crate) fn parse_sort_by_count(spec: &Bson, scope: &VariableScope) -> Result<GroupSpec> {
        let message = "the sortByCount field must be defined as a $-prefixed path or an \
                       expression inside an object";
        match spec {
            Bson::String(s) if s.starts_with('$') => {}
            Bson::String(_) => return Err(Error::coded(40148, message)),
            Bson::Document(d) if d.is_empty() => return Err(Error::coded(40147, message)),
            Bson::Document(_) => {}
            _ => {
                return Err(Error::coded(
                    40149,
                    "the sortByCount field must be specified as a string or as an object",
                ))
            }
        }
        Ok(GroupSpec {
            id: scope.parse(spec)?,
            accumulators: vec![AccumulatorSpec::parse(
                "count",
                &Bson::Document(bson::doc! {"$sum": 1}),
                &VariableScope::default(),
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
        let ordered = OrderedBson(key, vars.collation.clone());
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
        &VariableScope::default(),
    )?])
}

fn parse_output(
    output: &Bson,
    code: i32,
    stage: &str,
    scope: &VariableScope,
) -> Result<Vec<AccumulatorSpec>> {
    let Bson::Document(d) = output else {
        return Err(Error::coded(
            code,
            format!(
                "The {stage} 'output' field must be an object, but found type: {}{}",
                type_name(output),
                // $bucket ends its sentences with a period, $bucketAuto does not.
                if stage == "$bucket" { "." } else { "" }
            ),
        ));
    };
    let mut accumulators = Vec::new();
    for (field, value) in d {
        accumulators.push(AccumulatorSpec::parse(field, value, scope)?);
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
    pub(crate) fn parse(spec: &Bson, scope: &VariableScope) -> Result<BucketSpec> {
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
                    group_by = Some(scope.parse(argument)?);
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
                "output" => accumulators = Some(parse_output(argument, 40196, "$bucket", scope)?),
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
            let above = self.boundaries.partition_point(|b| {
                compare_with(b, &value, vars.collation.as_deref()) != std::cmp::Ordering::Greater
            });
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
            compare_with(
                a.get("_id").unwrap_or(&Bson::Null),
                b.get("_id").unwrap_or(&Bson::Null),
                vars.collation.as_deref(),
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

fn number_as_f64(value: &Bson) -> Option<f64> {
    crate::value::Number::of(value).map(|n| n.to_f64())
}

/// `$bucketAuto`'s `granularity`: the Renard, E and 1-2-5 preferred-number series, and powers
/// of two. Decimal values are not supported with a granularity.
#[derive(Debug, Clone)]
enum Granularity {
    PreferredNumbers(&'static [f64]),
    PowersOfTwo,
}

const R5: &[f64] = &[10.0, 16.0, 25.0, 40.0, 63.0];
const R10: &[f64] = &[
    100.0, 125.0, 160.0, 200.0, 250.0, 315.0, 400.0, 500.0, 630.0, 800.0,
];
const R20: &[f64] = &[
    100.0, 112.0, 125.0, 140.0, 160.0, 180.0, 200.0, 224.0, 250.0, 280.0, 315.0, 355.0, 400.0,
    450.0, 500.0, 560.0, 630.0, 710.0, 800.0, 900.0,
];
const R40: &[f64] = &[
    100.0, 106.0, 112.0, 118.0, 125.0, 132.0, 140.0, 150.0, 160.0, 170.0, 180.0, 190.0, 200.0,
    212.0, 224.0, 236.0, 250.0, 265.0, 280.0, 300.0, 315.0, 355.0, 375.0, 400.0, 425.0, 450.0,
    475.0, 500.0, 530.0, 560.0, 600.0, 630.0, 670.0, 710.0, 750.0, 800.0, 850.0, 900.0, 950.0,
];
const R80: &[f64] = &[
    103.0, 109.0, 115.0, 122.0, 128.0, 136.0, 145.0, 155.0, 165.0, 175.0, 185.0, 195.0, 206.0,
    218.0, 230.0, 243.0, 258.0, 272.0, 290.0, 307.0, 325.0, 345.0, 365.0, 387.0, 412.0, 437.0,
    462.0, 487.0, 515.0, 545.0, 575.0, 615.0, 650.0, 690.0, 730.0, 775.0, 825.0, 875.0, 925.0,
    975.0,
];
const SERIES_1_2_5: &[f64] = &[10.0, 20.0, 50.0];
const E6: &[f64] = &[10.0, 15.0, 22.0, 33.0, 47.0, 68.0];
const E12: &[f64] = &[
    10.0, 12.0, 15.0, 18.0, 22.0, 27.0, 33.0, 39.0, 47.0, 56.0, 68.0, 82.0,
];
const E24: &[f64] = &[
    10.0, 11.0, 12.0, 13.0, 15.0, 16.0, 18.0, 20.0, 22.0, 24.0, 27.0, 30.0, 33.0, 36.0, 39.0, 43.0,
    47.0, 51.0, 56.0, 62.0, 68.0, 75.0, 82.0, 91.0,
];
const E48: &[f64] = &[
    100.0, 105.0, 110.0, 115.0, 121.0, 127.0, 133.0, 140.0, 147.0, 154.0, 162.0, 169.0, 178.0,
    187.0, 196.0, 205.0, 215.0, 226.0, 237.0, 249.0, 261.0, 274.0, 287.0, 301.0, 316.0, 332.0,
    348.0, 365.0, 383.0, 402.0, 422.0, 442.0, 464.0, 487.0, 511.0, 536.0, 562.0, 590.0, 619.0,
    649.0, 681.0, 715.0, 750.0, 787.0, 825.0, 866.0, 909.0, 953.0,
];
const E96: &[f64] = &[
    100.0, 102.0, 105.0, 107.0, 110.0, 113.0, 115.0, 118.0, 121.0, 124.0, 127.0, 130.0, 133.0,
    137.0, 140.0, 143.0, 147.0, 150.0, 154.0, 158.0, 162.0, 165.0, 169.0, 174.0, 178.0, 182.0,
    187.0, 191.0, 196.0, 200.0, 205.0, 210.0, 215.0, 221.0, 226.0, 232.0, 237.0, 243.0, 249.0,
    255.0, 261.0, 267.0, 274.0, 280.0, 287.0, 294.0, 301.0, 309.0, 316.0, 324.0, 332.0, 340.0,
    348.0, 357.0, 365.0, 374.0, 383.0, 392.0, 402.0, 412.0, 422.0, 432.0, 442.0, 453.0, 464.0,
    475.0, 487.0, 499.0, 511.0, 523.0, 536.0, 549.0, 562.0, 576.0, 590.0, 604.0, 619.0, 634.0,
    649.0, 665.0, 681.0, 698.0, 715.0, 732.0, 750.0, 768.0, 787.0, 806.0, 825.0, 845.0, 866.0,
    887.0, 909.0, 931.0, 953.0, 976.0,
];
const E192: &[f64] = &[
    100.0, 101.0, 102.0, 104.0, 105.0, 106.0, 107.0, 109.0, 110.0, 111.0, 113.0, 114.0, 115.0,
    117.0, 118.0, 120.0, 121.0, 123.0, 124.0, 126.0, 127.0, 129.0, 130.0, 132.0, 133.0, 135.0,
    137.0, 138.0, 140.0, 142.0, 143.0, 145.0, 147.0, 149.0, 150.0, 152.0, 154.0, 156.0, 158.0,
    160.0, 162.0, 164.0, 165.0, 167.0, 169.0, 172.0, 174.0, 176.0, 178.0, 180.0, 182.0, 184.0,
    187.0, 189.0, 191.0, 193.0, 196.0, 198.0, 200.0, 203.0, 205.0, 208.0, 210.0, 213.0, 215.0,
    218.0, 221.0, 223.0, 226.0, 229.0, 232.0, 234.0, 237.0, 240.0, 243.0, 246.0, 249.0, 252.0,
    255.0, 258.0, 261.0, 264.0, 267.0, 271.0, 274.0, 277.0, 280.0, 284.0, 287.0, 291.0, 294.0,
    298.0, 301.0, 305.0, 309.0, 312.0, 316.0, 320.0, 324.0, 328.0, 332.0, 336.0, 340.0, 344.0,
    348.0, 352.0, 357.0, 361.0, 365.0, 370.0, 374.0, 379.0, 383.0, 388.0, 392.0, 397.0, 402.0,
    407.0, 412.0, 417.0, 422.0, 427.0, 432.0, 437.0, 442.0, 448.0, 453.0, 459.0, 464.0, 470.0,
    475.0, 481.0, 487.0, 493.0, 499.0, 505.0, 511.0, 517.0, 523.0, 530.0, 536.0, 542.0, 549.0,
    556.0, 562.0, 569.0, 576.0, 583.0, 590.0, 597.0, 604.0, 612.0, 619.0, 626.0, 634.0, 642.0,
    649.0, 657.0, 665.0, 673.0, 681.0, 690.0, 698.0, 706.0, 715.0, 723.0, 732.0, 741.0, 750.0,
    759.0, 768.0, 777.0, 787.0, 796.0, 806.0, 816.0, 825.0, 835.0, 845.0, 856.0, 866.0, 876.0,
    887.0, 898.0, 909.0, 920.0, 931.0, 942.0, 953.0, 965.0, 976.0, 988.0,
];

impl Granularity {
    fn parse(name: &str) -> Result<Granularity> {
        let series: &'static [f64] = match name {
            "POWERSOF2" => return Ok(Granularity::PowersOfTwo),
            "R5" => R5,
            "R10" => R10,
            "R20" => R20,
            "R40" => R40,
            "R80" => R80,
            "1-2-5" => SERIES_1_2_5,
            "E6" => E6,
            "E12" => E12,
            "E24" => E24,
            "E48" => E48,
            "E96" => E96,
            "E192" => E192,
            other => {
                return Err(Error::coded(
                    40257,
                    format!("Unknown rounding granularity '{other}'"),
                ))
            }
        };
        Ok(Granularity::PreferredNumbers(series))
    }

    /// The value as a non-negative, non-NaN number (40262/40263/40268 for the series,
    /// 40265/40266/40267 for powers of two).
    fn checked_number(&self, value: &Bson) -> Result<f64> {
        let (type_code, nan_code, negative_code) = match self {
            Granularity::PreferredNumbers(_) => (40262, 40263, 40268),
            Granularity::PowersOfTwo => (40265, 40266, 40267),
        };
        let Some(number) = number_as_f64(value) else {
            return Err(Error::coded(
                type_code,
                format!(
                    "A granularity rounder can only round numeric values, but found type: {}",
                    type_name(value)
                ),
            ));
        };
        if number.is_nan() {
            return Err(Error::coded(
                nan_code,
                "A granularity rounder cannot round NaN",
            ));
        }
        if number < 0.0 {
            return Err(Error::coded(
                negative_code,
                "A granularity rounder can only round non-negative numbers",
            ));
        }
        if let Bson::Decimal128(_) = value {
            return Err(Error::NotSupported(
                "$bucketAuto with a granularity over decimal values is not supported".into(),
            ));
        }
        Ok(number)
    }

    /// The smallest boundary strictly greater than `value`.
    fn round_up(&self, value: &Bson) -> Result<Bson> {
        let number = self.checked_number(value)?;
        if number == 0.0 {
            return Ok(value.clone());
        }
        Ok(match self {
            Granularity::PreferredNumbers(series) => {
                let (Some(first), Some(last)) = (series.first(), series.last()) else {
                    return Ok(value.clone());
                };
                let mut multiplier = 1.0;
                while number >= last * multiplier {
                    multiplier *= 10.0;
                }
                while number < first * multiplier {
                    let previous_min = first * multiplier;
                    multiplier /= 10.0;
                    if number >= last * multiplier {
                        return Ok(Bson::Double(previous_min));
                    }
                }
                let position = series.partition_point(|s| number >= s * multiplier);
                Bson::Double(series.get(position).copied().unwrap_or(*last) * multiplier)
            }
            Granularity::PowersOfTwo => {
                let exponent = match value {
                    Bson::Int32(_) | Bson::Int64(_) => {
                        let n = integral_value(value);
                        64 - i64::from(n.leading_zeros())
                    }
                    _ => (number.log2().floor() + 1.0) as i64,
                };
                power_of_two(exponent)
            }
        })
    }

    /// The largest boundary strictly less than `value`.
    fn round_down(&self, value: &Bson) -> Result<Bson> {
        let number = self.checked_number(value)?;
        if number == 0.0 {
            return Ok(value.clone());
        }
        Ok(match self {
            Granularity::PreferredNumbers(series) => {
                let (Some(first), Some(last)) = (series.first(), series.last()) else {
                    return Ok(value.clone());
                };
                let mut multiplier = 1.0;
                while number <= first * multiplier {
                    multiplier /= 10.0;
                }
                while number > last * multiplier {
                    let previous_max = last * multiplier;
                    multiplier *= 10.0;
                    if number <= first * multiplier {
                        return Ok(Bson::Double(previous_max));
                    }
                }
                let position = series.partition_point(|s| s * multiplier < number);
                let below = position.checked_sub(1).and_then(|i| series.get(i));
                Bson::Double(below.copied().unwrap_or(*first) * multiplier)
            }
            Granularity::PowersOfTwo => {
                let exponent = match value {
                    Bson::Int32(_) | Bson::Int64(_) => {
                        let n = integral_value(value);
                        let leading = i64::from(n.leading_zeros());
                        let trailing = i64::from(n.trailing_zeros());
                        if leading + trailing == 63 {
                            63 - leading - 1
                        } else {
                            63 - leading
                        }
                    }
                    _ => (number.log2().ceil() - 1.0) as i64,
                };
                power_of_two(exponent)
            }
        })
    }
}

fn integral_value(value: &Bson) -> i64 {
    match value {
        Bson::Int32(i) => i64::from(*i),
        Bson::Int64(i) => *i,
        _ => 0,
    }
}

/// `{$pow: [2, exponent]}` with integer arguments: an int32 when it fits, else an int64,
/// else a double; negative exponents give a double.
fn power_of_two(exponent: i64) -> Bson {
    if (0..31).contains(&exponent) {
        Bson::Int32(1i32 << exponent)
    } else if (31..63).contains(&exponent) {
        Bson::Int64(1i64 << exponent)
    } else {
        Bson::Double(2f64.powf(exponent as f64))
    }
}
