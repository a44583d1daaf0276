//! `$group`, and the stages MongoDB builds from it: `$bucket`, `$bucketAuto`, `$sortByCount`.
//! `$group`, `$sortByCount` and the grouping engine are here, with the `output` parsing the
//! bucket stages share; `$bucket` is in `bucket.rs`, `$bucketAuto` in `bucket_auto.rs` (its
//! boundaries rounded to a series in `granularity.rs`).

use std::collections::BTreeMap;

use bson::{Bson, Document};

use super::accumulator::{AccumulatorSpec, AccumulatorState};
use super::expr::{Expr, Vars};
use super::paths::{bson_size, type_name, OrderedBson};
use super::{DocStream, MemoryLimitKind, RunContext, VariableScope};
use crate::error::{Error, Result};

mod bucket;
mod bucket_auto;
mod granularity;

pub(crate) use bucket::BucketSpec;
pub(crate) use bucket_auto::BucketAutoSpec;

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
    let mut tracker = context.memory_tracker(MemoryLimitKind::Group);
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
