//! One pipeline stage: parsing (with MongoDB's validation errors) and running over a stream.
//! The bigger stages live in their own files: `$group`/`$bucket`/`$bucketAuto`/`$sortByCount`
//! in `group.rs`, `$lookup`/`$graphLookup`/`$unionWith` in `lookup.rs`, `$out`/`$merge` in
//! `output.rs`, `$project`/`$addFields`/`$unset` in `project.rs`.
//!
//! This file holds [`Stage`] (parsing a stage document, running it, its name) and the
//! position rules. The smaller stages' parsing and running are in `stage/`: `simple.rs`
//! (`$limit`, `$skip`, `$count`, `$sample`, `$documents`), `matching.rs` (`$match` and its
//! variables), `sort.rs` (`$sort`, the text score), `reshape.rs` (`$replaceRoot`/
//! `$replaceWith`, `$unwind`, `$redact`), `facet.rs` (`$facet`, sub-pipeline documents).

use bson::{Bson, Document};

use super::densify::DensifySpec;
use super::expr::Expr;
use super::group::{BucketAutoSpec, BucketSpec, GroupSpec};
use super::lookup::{GraphLookupSpec, LookupSpec, UnionWithSpec};
use super::output::{MergeSpec, OutSpec};
use super::paths::type_name;
use super::project::Projection;
use super::window::{FillSpec, SetWindowFieldsSpec};
use super::{DocStream, Pipeline, RunContext, VariableScope};
use crate::error::{Error, Result};
use crate::query::SortSpec;

mod facet;
mod matching;
mod reshape;
mod simple;
mod sort;

use self::facet::{parse_facet, run_facet};
use self::reshape::{redact_document, replace_root};
use self::simple::{
    evaluate_documents, parse_count, parse_limit, parse_sample, parse_skip, sample,
};
use self::sort::{require_text_score, sort_documents, text_score_sort};
pub(crate) use facet::stage_documents;
#[cfg(test)]
pub(crate) use matching::bind_variables_for_tests;
pub(crate) use matching::MatchStage;
pub(crate) use reshape::UnwindSpec;
pub(crate) use sort::without_text_score;

/// Stages MongoDB has that Outpost does not run; naming them gives a clear NotSupported.
const UNSUPPORTED_STAGES: &[&str] = &[
    "$search",
    "$searchMeta",
    "$vectorSearch",
    "$rankFusion",
    "$scoreFusion",
    "$changeStream",
    "$changeStreamSplitLargeEvent",
    "$indexStats",
    "$collStats",
    "$currentOp",
    "$listSessions",
    "$listLocalSessions",
    "$listSearchIndexes",
    "$listSampledQueries",
    "$listClusterCatalog",
    "$listCatalog",
    "$planCacheStats",
    "$queryStats",
    "$querySettings",
    "$shardedDataDistribution",
];

/// Where a pipeline is parsed: some stages are refused inside sub-pipelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StageContext {
    TopLevel,
    Facet,
    Lookup,
    UnionWith,
}

#[derive(Debug, Clone)]
pub(crate) enum Stage {
    Match(Box<MatchStage>),
    Project(Projection),
    ReplaceRoot {
        expr: Expr,
        with: bool,
    },
    Group(GroupSpec),
    Sort {
        spec: SortSpec,
        limit: Option<u64>,
        /// The spec sorts by `{$meta: "textScore"}` (the hidden score field).
        text_score: bool,
    },
    Limit(u64),
    Skip(u64),
    Count(String),
    Unwind(UnwindSpec),
    Lookup(Box<LookupSpec>),
    GraphLookup(Box<GraphLookupSpec>),
    UnionWith(Box<UnionWithSpec>),
    Facet(Vec<(String, Pipeline)>),
    Bucket(Box<BucketSpec>),
    BucketAuto(Box<BucketAutoSpec>),
    SortByCount(GroupSpec),
    Sample(u64),
    Documents(Expr),
    Out(OutSpec),
    Merge(Box<MergeSpec>),
    Redact(Expr),
    SetWindowFields(Box<SetWindowFieldsSpec>),
    Fill(Box<FillSpec>),
    Densify(Box<DensifySpec>),
    /// Its documents come from the engine (see `Pipeline::leading_geo_near`).
    GeoNear(Box<super::geo_near::GeoNearSpec>),
}

impl Stage {
    /// Parses one stage document. Position rules (`$out` last, `$documents` first, stages
    /// refused in sub-pipelines) are checked by [`check_positions`] once all stages parse.
    pub(crate) fn parse(
        source: &Document,
        next: Option<&Document>,
        scope: &VariableScope,
    ) -> Result<Stage> {
        let mut fields = source.iter();
        let (name, spec) = match (fields.next(), fields.next()) {
            (Some(first), None) => first,
            _ => {
                return Err(Error::coded(
                    40323,
                    "A pipeline stage specification object must contain exactly one field.",
                ))
            }
        };
        Ok(match name.as_str() {
            "$match" => Stage::Match(Box::new(MatchStage::parse(spec)?)),
            "$geoNear" => Stage::GeoNear(Box::new(super::geo_near::GeoNearSpec::parse(spec)?)),
            "$project" => {
                let Bson::Document(d) = spec else {
                    return Err(Error::coded(
                        15969,
                        "$project specification must be an object",
                    ));
                };
                Stage::Project(Projection::parse_project(d, scope)?)
            }
            "$addFields" | "$set" => {
                let Bson::Document(d) = spec else {
                    return Err(Error::coded(
                        40272,
                        format!(
                            "{name} specification stage must be an object, got {}",
                            type_name(spec)
                        ),
                    ));
                };
                Stage::Project(Projection::parse_add_fields(d, scope)?)
            }
            "$unset" => Stage::Project(Projection::parse_unset(spec)?),
            "$replaceRoot" => {
                let Bson::Document(d) = spec else {
                    return Err(Error::coded(
                        40229,
                        format!(
                            "expected an object as specification for $replaceRoot stage, got {}",
                            type_name(spec)
                        ),
                    ));
                };
                let mut new_root = None;
                for (k, v) in d {
                    if k == "newRoot" {
                        new_root = Some(scope.parse(v)?);
                    } else {
                        return Err(Error::coded(
                            40230,
                            format!("unrecognized option to $replaceRoot stage: {k}"),
                        ));
                    }
                }
                let Some(expr) = new_root else {
                    return Err(Error::coded(
                        40231,
                        "no newRoot specified for the $replaceRoot stage",
                    ));
                };
                Stage::ReplaceRoot { expr, with: false }
            }
            "$replaceWith" => Stage::ReplaceRoot {
                expr: scope.parse(spec)?,
                with: true,
            },
            "$group" => Stage::Group(GroupSpec::parse(spec, scope)?),
            "$sort" => {
                let Bson::Document(d) = spec else {
                    return Err(Error::coded(
                        15973,
                        "the $sort key specification must be an object",
                    ));
                };
                if d.is_empty() {
                    return Err(Error::coded(
                        15976,
                        "$sort stage must have at least one sort key",
                    ));
                }
                // A $sort followed by $limit keeps only the top documents, as MongoDB's top-k
                // sort does (which matters for the memory limit).
                let limit = next
                    .and_then(|n| n.get("$limit"))
                    .and_then(|l| parse_limit(l).ok());
                let (spec, text_score) = text_score_sort(d);
                Stage::Sort {
                    spec: SortSpec::parse(&spec)?,
                    limit,
                    text_score,
                }
            }
            "$limit" => Stage::Limit(parse_limit(spec)?),
            "$skip" => Stage::Skip(parse_skip(spec)?),
            "$count" => Stage::Count(parse_count(spec)?),
            "$unwind" => Stage::Unwind(UnwindSpec::parse(spec)?),
            "$lookup" => Stage::Lookup(Box::new(LookupSpec::parse(spec, scope)?)),
            "$graphLookup" => Stage::GraphLookup(Box::new(GraphLookupSpec::parse(spec, scope)?)),
            "$unionWith" => Stage::UnionWith(Box::new(UnionWithSpec::parse(spec, scope)?)),
            "$facet" => Stage::Facet(parse_facet(spec, scope)?),
            "$bucket" => Stage::Bucket(Box::new(BucketSpec::parse(spec, scope)?)),
            "$bucketAuto" => Stage::BucketAuto(Box::new(BucketAutoSpec::parse(spec, scope)?)),
            "$sortByCount" => Stage::SortByCount(GroupSpec::parse_sort_by_count(spec, scope)?),
            "$sample" => Stage::Sample(parse_sample(spec)?),
            "$documents" => Stage::Documents(scope.parse(spec)?),
            "$out" => Stage::Out(OutSpec::parse(spec)?),
            "$merge" => Stage::Merge(Box::new(MergeSpec::parse(spec, scope)?)),
            "$redact" => Stage::Redact(scope.parse(spec)?),
            "$fill" => Stage::Fill(Box::new(FillSpec::parse(spec, scope)?)),
            "$densify" => Stage::Densify(Box::new(DensifySpec::parse(spec)?)),
            "$setWindowFields" => {
                Stage::SetWindowFields(Box::new(SetWindowFieldsSpec::parse(spec, scope)?))
            }
            other if UNSUPPORTED_STAGES.contains(&other) => {
                return Err(Error::NotSupported(format!(
                    "the {other} aggregation stage is not supported"
                )))
            }
            other => {
                return Err(Error::coded(
                    40324,
                    format!("Unrecognized pipeline stage name: '{other}'"),
                ));
            }
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Stage::Match(_) => "$match",
            Stage::GeoNear(_) => "$geoNear",
            Stage::Project(_) => "$project",
            Stage::ReplaceRoot { with: false, .. } => "$replaceRoot",
            Stage::ReplaceRoot { with: true, .. } => "$replaceWith",
            Stage::Group(_) => "$group",
            Stage::Sort { .. } => "$sort",
            Stage::Limit(_) => "$limit",
            Stage::Skip(_) => "$skip",
            Stage::Count(_) => "$count",
            Stage::Unwind(_) => "$unwind",
            Stage::Lookup(_) => "$lookup",
            Stage::GraphLookup(_) => "$graphLookup",
            Stage::UnionWith(_) => "$unionWith",
            Stage::Facet(_) => "$facet",
            Stage::Bucket(_) => "$bucket",
            Stage::BucketAuto(_) => "$bucketAuto",
            Stage::SortByCount(_) => "$sortByCount",
            Stage::Sample(_) => "$sample",
            Stage::Documents(_) => "$documents",
            Stage::Out(_) => "$out",
            Stage::Merge(_) => "$merge",
            Stage::Redact(_) => "$redact",
            Stage::SetWindowFields(_) => "$setWindowFields",
            Stage::Fill(_) => "$fill",
            Stage::Densify(_) => "$densify",
        }
    }

    /// Applies an update-pipeline stage to one document.
    pub(crate) fn apply_to_one(&self, doc: Document, context: &RunContext<'_>) -> Result<Document> {
        let vars = context.vars();
        match self {
            Stage::Project(projection) => projection.apply(&doc, &vars),
            Stage::ReplaceRoot { expr, with } => replace_root(expr, *with, &doc, &vars),
            other => Err(Error::coded(
                72,
                format!(
                    "{} is not allowed to be used within an update",
                    other.name()
                ),
            )),
        }
    }

    /// Runs the stage over `input`.
    pub(crate) fn execute<'a>(
        &'a self,
        input: DocStream<'a>,
        context: &'a RunContext<'a>,
    ) -> Result<DocStream<'a>> {
        Ok(match self {
            Stage::Match(m) => {
                let filter = m.filter_for(context)?;
                // An `$expr` error fails the pipeline, as in MongoDB.
                Box::new(input.filter_map(move |r| match r {
                    Ok(doc) => match filter.try_matches_details(&doc) {
                        Ok(details) => details.matched.then_some(Ok(doc)),
                        Err(e) => Some(Err(e)),
                    },
                    Err(e) => Some(Err(e)),
                }))
            }
            Stage::Project(projection) => {
                let vars = context.vars();
                Box::new(input.map(move |r| r.and_then(|doc| projection.apply(&doc, &vars))))
            }
            Stage::ReplaceRoot { expr, with } => {
                let vars = context.vars();
                Box::new(
                    input.map(move |r| r.and_then(|doc| replace_root(expr, *with, &doc, &vars))),
                )
            }
            Stage::Group(group) => from_vec(group.run(input, context)?),
            Stage::Sort {
                spec,
                limit,
                text_score,
            } => {
                let spec = spec.clone().with_collation(context.collation.clone());
                let input: DocStream<'a> = if *text_score {
                    Box::new(input.map(|r| r.and_then(require_text_score)))
                } else {
                    input
                };
                from_vec(sort_documents(input, &spec, *limit, context)?)
            }
            Stage::Limit(n) => Box::new(input.take(usize::try_from(*n).unwrap_or(usize::MAX))),
            Stage::Skip(n) => {
                let mut remaining = *n;
                Box::new(input.filter(move |r| {
                    if r.is_ok() && remaining > 0 {
                        remaining -= 1;
                        return false;
                    }
                    true
                }))
            }
            Stage::Count(field) => {
                let mut count: i64 = 0;
                for r in input {
                    r?;
                    count += 1;
                }
                if count == 0 {
                    Box::new(std::iter::empty())
                } else {
                    let value = match i32::try_from(count) {
                        Ok(i) => Bson::Int32(i),
                        Err(_) => Bson::Int64(count),
                    };
                    let mut doc = Document::new();
                    doc.insert(field.clone(), value);
                    from_vec(vec![doc])
                }
            }
            Stage::Unwind(unwind) => Box::new(input.flat_map(move |r| match r {
                Ok(doc) => unwind.unwind(doc).into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            })),
            Stage::Lookup(lookup) => lookup.execute(input, context)?,
            Stage::GraphLookup(graph) => graph.execute(input, context)?,
            Stage::UnionWith(union) => union.execute(input, context),
            Stage::Facet(facets) => from_vec(vec![run_facet(facets, input, context)?]),
            Stage::Bucket(bucket) => from_vec(bucket.run(input, context)?),
            Stage::BucketAuto(bucket) => from_vec(bucket.run(input, context)?),
            Stage::SortByCount(group) => {
                let groups = group.run(input, context)?;
                let spec = SortSpec::parse(&bson::doc! {"count": -1})?;
                let mut groups = groups;
                groups.sort_by(|a, b| spec.compare(a, b));
                from_vec(groups)
            }
            Stage::Sample(n) => from_vec(sample(input, *n)?),
            Stage::SetWindowFields(window) => from_vec(window.run(input, context)?),
            Stage::Fill(fill) => from_vec(fill.run(input, context)?),
            Stage::Densify(densify) => from_vec(densify.run(input, context)?),
            Stage::GeoNear(_) => input,
            Stage::Documents(expr) => {
                drop(input);
                from_vec(evaluate_documents(expr, context)?)
            }
            Stage::Out(out) => {
                out.run(Box::new(input.map(without_text_score)), context)?;
                Box::new(std::iter::empty())
            }
            Stage::Merge(merge) => {
                merge.run(Box::new(input.map(without_text_score)), context)?;
                Box::new(std::iter::empty())
            }
            Stage::Redact(expr) => {
                let vars = context.vars();
                Box::new(input.filter_map(move |r| match r {
                    Ok(doc) => redact_document(expr, &doc, &vars).transpose(),
                    Err(e) => Some(Err(e)),
                }))
            }
        })
    }
}

/// Position rules checked after every stage parsed, as MongoDB validates a parsed pipeline:
/// `$out`/`$merge` last (40601) and not in sub-pipelines, `$documents` first (40602).
pub(crate) fn check_positions(stages: &[Stage], context: StageContext) -> Result<()> {
    let count = stages.len();
    for (index, stage) in stages.iter().enumerate() {
        let name = stage.name();
        match stage {
            Stage::Out(_) | Stage::Merge(_) => {
                match context {
                    StageContext::Facet => {
                        return Err(Error::coded(
                            40600,
                            format!("{name} is not allowed to be used within a $facet stage"),
                        ))
                    }
                    StageContext::Lookup => {
                        return Err(Error::coded(
                            51047,
                            format!("{name} is not allowed within a $lookup's sub-pipeline"),
                        ))
                    }
                    StageContext::UnionWith => {
                        return Err(Error::coded(
                            31441,
                            format!("{name} is not allowed within a $unionWith's sub-pipeline"),
                        ))
                    }
                    StageContext::TopLevel => {}
                }
                if index + 1 != count {
                    return Err(Error::coded(
                        40601,
                        format!("{name} can only be the final stage in the pipeline"),
                    ));
                }
            }
            Stage::Documents(_) => {
                if context == StageContext::Facet {
                    return Err(Error::coded(
                        40600,
                        format!("{name} is not allowed to be used within a $facet stage"),
                    ));
                }
                if index != 0 {
                    return Err(Error::coded(
                        40602,
                        format!("{name} is only valid as the first stage in a pipeline"),
                    ));
                }
            }
            Stage::GeoNear(_) if index != 0 || context != StageContext::TopLevel => {
                return Err(Error::coded(
                    40603,
                    format!("{name} was not the first stage in the pipeline."),
                ))
            }
            Stage::Facet(_) if context == StageContext::Facet => {
                return Err(Error::coded(
                    40600,
                    format!("{name} is not allowed to be used within a $facet stage"),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

fn from_vec<'a>(docs: Vec<Document>) -> DocStream<'a> {
    Box::new(docs.into_iter().map(Ok))
}
