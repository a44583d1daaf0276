//! `$bucket`: documents grouped by the range of `boundaries` their `groupBy` value falls in
//! (or the `default` bucket), through the grouping engine of `$group`.

use bson::{Bson, Document};

use super::{default_bucket_output, group_documents, is_group_by_expression, parse_output};
use crate::agg::accumulator::AccumulatorSpec;
use crate::agg::expr::{Expr, Vars};
use crate::agg::paths::type_name;
use crate::agg::{DocStream, RunContext, VariableScope};
use crate::error::{Error, Result};
use crate::value::{compare, compare_with, type_rank};

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
