//! One pipeline stage: parsing (with MongoDB's validation errors) and running over a stream.
//! The bigger stages live in their own files: `$group`/`$bucket`/`$bucketAuto`/`$sortByCount`
//! in `group.rs`, `$lookup`/`$graphLookup`/`$unionWith` in `lookup.rs`, `$out`/`$merge` in
//! `output.rs`, `$project`/`$addFields`/`$unset` in `project.rs`.

use bson::{Bson, Document};

use super::densify::DensifySpec;
use super::expr::{Expr, Vars};
use super::group::{BucketAutoSpec, BucketSpec, GroupSpec};
use super::lookup::{GraphLookupSpec, LookupSpec, UnionWithSpec};
use super::output::{MergeSpec, OutSpec};
use super::paths::{
    document_size, get_path, integral_i64, remove_path, set_path, type_name, validate_field_path,
};
use super::project::Projection;
use super::window::{FillSpec, SetWindowFieldsSpec};
use super::{DocStream, MemoryLimitKind, MemoryTracker, Pipeline, RunContext, VariableScope};
use crate::error::{Error, Result};
use crate::query::{Filter, SortSpec};

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

/// `$limit`: a positive 64-bit integer (5107201 when not an integer, 15958 when not positive).
fn parse_limit(spec: &Bson) -> Result<u64> {
    let n = parse_stage_integer(spec, "$limit", 5107201)?;
    if n <= 0 {
        return Err(Error::coded(15958, "the limit must be positive"));
    }
    u64::try_from(n).map_err(|_| Error::coded(15958, "the limit must be positive"))
}

/// `$skip`: a non-negative 64-bit integer (5107200).
fn parse_skip(spec: &Bson) -> Result<u64> {
    let n = parse_stage_integer(spec, "$skip", 5107200)?;
    u64::try_from(n).map_err(|_| {
        Error::coded(
            5107200,
            format!(
                "invalid argument to $skip stage: Expected a non-negative number in: $skip: {n}"
            ),
        )
    })
}

/// MongoDB's `parseIntegerElementToLong` with the stage's error code.
fn parse_stage_integer(spec: &Bson, stage: &str, code: i32) -> Result<i64> {
    if !super::paths::is_number(spec) {
        return Err(Error::coded(
            code,
            format!("invalid argument to {stage} stage: Expected a number in: {stage}: {spec}"),
        ));
    }
    if let Bson::Double(d) = spec {
        if d.is_nan() {
            return Err(Error::coded(
                code,
                format!(
                    "invalid argument to {stage} stage: Expected an integer, but found NaN in: \
                     {stage}: {spec}"
                ),
            ));
        }
    }
    integral_i64(spec).ok_or_else(|| {
        let reason = match spec {
            Bson::Decimal128(_) => "Cannot represent as a 64-bit integer",
            _ => "Expected an integer",
        };
        Error::coded(
            code,
            format!("invalid argument to {stage} stage: {reason}: {stage}: {spec}"),
        )
    })
}

/// `$count: "<field>"` (40156/40157/40158/40160).
fn parse_count(spec: &Bson) -> Result<String> {
    let Bson::String(field) = spec else {
        return Err(Error::coded(
            40156,
            "the count field must be a non-empty string",
        ));
    };
    if field.is_empty() {
        return Err(Error::coded(
            40157,
            "the count field must be a non-empty string",
        ));
    }
    if field.starts_with('$') {
        return Err(Error::coded(
            40158,
            "the count field cannot be a $-prefixed path",
        ));
    }
    if field.contains('.') {
        return Err(Error::coded(40160, "the count field cannot contain '.'"));
    }
    Ok(field.clone())
}

/// `$sample: {size: n}` (28745-28749).
fn parse_sample(spec: &Bson) -> Result<u64> {
    let Bson::Document(d) = spec else {
        return Err(Error::coded(
            28745,
            "the $sample stage specification must be an object",
        ));
    };
    let mut size = None;
    for (k, v) in d {
        if k == "size" {
            if !super::paths::is_number(v) {
                return Err(Error::coded(
                    28746,
                    "size argument to $sample must be a number",
                ));
            }
            let n = crate::value::Number::of(v)
                .map(|n| n.to_f64())
                .unwrap_or(0.0);
            if n < 0.0 {
                return Err(Error::coded(
                    28747,
                    "size argument to $sample must not be negative",
                ));
            }
            size = Some(integral_i64(v).unwrap_or(n.clamp(0.0, 9.0e18) as i64));
        } else {
            return Err(Error::coded(
                28748,
                format!("unrecognized option to $sample: {k}"),
            ));
        }
    }
    let Some(size) = size else {
        return Err(Error::coded(28749, "$sample stage must specify a size"));
    };
    Ok(u64::try_from(size).unwrap_or(0))
}

/// `$match`: the filter, plus what is needed to bind variables (`$$NOW`, `let` and
/// `$lookup` variables) into its `$expr` parts.
#[derive(Debug, Clone)]
pub(crate) struct MatchStage {
    filter: Filter,
    source: Document,
    uses_variables: bool,
}

impl MatchStage {
    fn parse(spec: &Bson) -> Result<MatchStage> {
        let Bson::Document(d) = spec else {
            return Err(Error::coded(
                15959,
                "the match filter must be an expression in an object",
            ));
        };
        if d.contains_key("$text") {
            return Err(Error::coded(
                17313,
                "$match with $text is only allowed as the first pipeline stage",
            ));
        }
        Ok(MatchStage {
            filter: Filter::parse(d)?,
            source: d.clone(),
            uses_variables: document_uses_variables(d, false),
        })
    }

    /// The filter with this run's variables bound. `Filter` evaluates `$expr` without
    /// variables of its own, so `$$name` references are replaced by `{$literal: value}`.
    fn filter_for(&self, context: &RunContext<'_>) -> Result<Filter> {
        if !self.uses_variables && context.collation.is_none() {
            return Ok(self.filter.clone());
        }
        let bound = if self.uses_variables {
            bind_variables_in_document(&self.source, context, false)
        } else {
            self.source.clone()
        };
        Filter::parse_with_collation(&bound, &Document::new(), context.collation.clone())
    }
}

fn document_uses_variables(d: &Document, in_expr: bool) -> bool {
    d.iter()
        .any(|(k, v)| value_uses_variables(v, in_expr || k == "$expr"))
}

fn value_uses_variables(v: &Bson, in_expr: bool) -> bool {
    match v {
        Bson::String(s) => in_expr && s.starts_with("$$"),
        Bson::Document(d) => document_uses_variables(d, in_expr),
        Bson::Array(items) => items.iter().any(|i| value_uses_variables(i, in_expr)),
        _ => false,
    }
}

fn bind_variables_in_document(d: &Document, context: &RunContext<'_>, in_expr: bool) -> Document {
    let mut out = Document::new();
    for (k, v) in d {
        if in_expr && k == "$literal" {
            out.insert(k.clone(), v.clone());
            continue;
        }
        out.insert(
            k.clone(),
            bind_variables_in_value(v, context, in_expr || k == "$expr"),
        );
    }
    out
}

fn bind_variables_in_value(v: &Bson, context: &RunContext<'_>, in_expr: bool) -> Bson {
    match v {
        Bson::String(s) if in_expr && s.starts_with("$$") => {
            let reference = &s[2..];
            let (name, rest) = match reference.split_once('.') {
                Some((n, r)) => (n, Some(r)),
                None => (reference, None),
            };
            let value = if name == "NOW" {
                Some(Bson::DateTime(context.now))
            } else {
                context.variables.get(name).cloned()
            };
            match (value, rest) {
                (None, _) => v.clone(),
                (Some(value), None) => Bson::Document(bson::doc! {"$literal": value}),
                (Some(Bson::Document(d)), Some(path)) => match get_path(&d, path) {
                    Some(found) => Bson::Document(bson::doc! {"$literal": found.clone()}),
                    None => Bson::String("$$REMOVE".into()),
                },
                (Some(_), Some(_)) => Bson::String("$$REMOVE".into()),
            }
        }
        Bson::Document(d) => Bson::Document(bind_variables_in_document(d, context, in_expr)),
        Bson::Array(items) => Bson::Array(
            items
                .iter()
                .map(|i| bind_variables_in_value(i, context, in_expr))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `$replaceRoot`/`$replaceWith`: the new root must be a document (40228).
fn replace_root(expr: &Expr, with: bool, doc: &Document, vars: &Vars) -> Result<Document> {
    match expr.eval(doc, vars)? {
        Some(Bson::Document(mut d)) => {
            super::project::carry_text_score(doc, &mut d);
            Ok(d)
        }
        other => {
            let what = if with {
                "'replacement document'"
            } else {
                "'newRoot' expression"
            };
            let (shown, type_shown) = match &other {
                Some(v) => (v.to_string(), type_name(v)),
                None => ("MISSING".to_string(), "missing"),
            };
            Err(Error::coded(
                40228,
                format!(
                    "{what} must evaluate to an object, but resulting value was: {shown}. Type of \
                     resulting value: '{type_shown}'. Input document: {doc}"
                ),
            ))
        }
    }
}

/// A `$sort` specification with each `{$meta: "textScore"}` turned into a descending sort on
/// the hidden text score (highest first, as mongod sorts it), and whether it had one.
fn text_score_sort(spec: &Document) -> (Document, bool) {
    let mut out = Document::new();
    let mut text_score = false;
    for (key, value) in spec {
        if crate::text::is_text_score_meta(value) {
            text_score = true;
            out.insert(crate::text::TEXT_SCORE_FIELD, -1);
        } else {
            out.insert(key.clone(), value.clone());
        }
    }
    (out, text_score)
}

/// A document that carries a text score, for a sort on it (40218 otherwise, as mongod).
fn require_text_score(doc: Document) -> Result<Document> {
    if doc.contains_key(crate::text::TEXT_SCORE_FIELD) {
        Ok(doc)
    } else {
        Err(super::expr::meta::text_score_unavailable())
    }
}

/// A document leaving the pipeline (returned or written): without its hidden text score.
pub(crate) fn without_text_score(r: Result<Document>) -> Result<Document> {
    r.map(|mut doc| {
        crate::text::strip_text_score(&mut doc);
        doc
    })
}

/// Sorts everything (stable), or keeps only the first `limit` when a `$limit` follows.
fn sort_documents(
    input: DocStream<'_>,
    spec: &SortSpec,
    limit: Option<u64>,
    context: &RunContext<'_>,
) -> Result<Vec<Document>> {
    let mut tracker = MemoryTracker::new(
        context.memory_limit_bytes,
        context.allow_disk_use,
        MemoryLimitKind::Sort,
    );
    let keep = limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX));
    let mut buffer: Vec<(Document, usize)> = Vec::new();
    for r in input {
        let doc = r?;
        let size = document_size(&doc);
        tracker.add(size)?;
        buffer.push((doc, size));
        if let Some(k) = keep {
            if buffer.len() >= k.saturating_mul(2).max(64) {
                buffer.sort_by(|a, b| spec.compare(&a.0, &b.0));
                for (_, size) in buffer.drain(k.min(buffer.len())..) {
                    tracker.release(size);
                }
            }
        }
    }
    buffer.sort_by(|a, b| spec.compare(&a.0, &b.0));
    if let Some(k) = keep {
        buffer.truncate(k);
    }
    Ok(buffer.into_iter().map(|(d, _)| d).collect())
}

/// `$unwind`'s parsed specification.
#[derive(Debug, Clone)]
pub(crate) struct UnwindSpec {
    path: String,
    include_array_index: Option<String>,
    preserve_null_and_empty_arrays: bool,
}

impl UnwindSpec {
    fn parse(spec: &Bson) -> Result<UnwindSpec> {
        let (path, include_array_index, preserve) = match spec {
            Bson::String(s) => (s.clone(), None, false),
            Bson::Document(d) => {
                let mut path = None;
                let mut index = None;
                let mut preserve = false;
                for (k, v) in d {
                    match k.as_str() {
                        "path" => match v {
                            Bson::String(s) => path = Some(s.clone()),
                            other => {
                                return Err(Error::coded(
                                    28808,
                                    format!(
                                        "expected a string as the path for $unwind stage, got {}",
                                        type_name(other)
                                    ),
                                ))
                            }
                        },
                        "includeArrayIndex" => match v {
                            Bson::String(s) if !s.is_empty() => {
                                if s.starts_with('$') {
                                    return Err(Error::coded(
                                        28822,
                                        format!(
                                            "includeArrayIndex option to $unwind stage should \
                                             not be prefixed with a '$': {s}"
                                        ),
                                    ));
                                }
                                validate_field_path(s)?;
                                index = Some(s.clone());
                            }
                            other => {
                                return Err(Error::coded(
                                    28810,
                                    format!(
                                        "expected a non-empty string for the includeArrayIndex \
                                         option to $unwind stage, got {}",
                                        type_name(other)
                                    ),
                                ))
                            }
                        },
                        "preserveNullAndEmptyArrays" => match v {
                            Bson::Boolean(b) => preserve = *b,
                            other => {
                                return Err(Error::coded(
                                    28809,
                                    format!(
                                        "expected a boolean for the preserveNullAndEmptyArrays \
                                         option to $unwind stage, got {}",
                                        type_name(other)
                                    ),
                                ))
                            }
                        },
                        other => {
                            return Err(Error::coded(
                                28811,
                                format!("unrecognized option to $unwind stage: {other}"),
                            ))
                        }
                    }
                }
                let Some(path) = path else {
                    return Err(Error::coded(28812, "no path specified to $unwind stage"));
                };
                (path, index, preserve)
            }
            other => {
                return Err(Error::coded(
                    15981,
                    format!(
                        "expected either a string or an object as specification for $unwind \
                         stage, got {}",
                        type_name(other)
                    ),
                ))
            }
        };
        if path.is_empty() {
            return Err(Error::coded(28812, "no path specified to $unwind stage"));
        }
        let Some(stripped) = path.strip_prefix('$') else {
            return Err(Error::coded(
                28818,
                format!("path option to $unwind stage should be prefixed with a '$': {path}"),
            ));
        };
        validate_field_path(stripped)?;
        Ok(UnwindSpec {
            path: stripped.to_string(),
            include_array_index,
            preserve_null_and_empty_arrays: preserve,
        })
    }

    fn unwind(&self, doc: Document) -> Vec<Document> {
        let with_index = |mut d: Document, index: Bson| {
            if let Some(field) = &self.include_array_index {
                set_path(&mut d, field, index);
            }
            d
        };
        match get_path(&doc, &self.path).cloned() {
            Some(Bson::Array(items)) if !items.is_empty() => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let mut d = doc.clone();
                    set_path(&mut d, &self.path, item);
                    with_index(d, Bson::Int64(i64::try_from(i).unwrap_or(i64::MAX)))
                })
                .collect(),
            Some(Bson::Array(_)) => {
                if self.preserve_null_and_empty_arrays {
                    let mut d = doc;
                    remove_path(&mut d, &self.path);
                    vec![with_index(d, Bson::Null)]
                } else {
                    Vec::new()
                }
            }
            None | Some(Bson::Null) | Some(Bson::Undefined) => {
                if self.preserve_null_and_empty_arrays {
                    vec![with_index(doc, Bson::Null)]
                } else {
                    Vec::new()
                }
            }
            Some(_) => vec![with_index(doc, Bson::Null)],
        }
    }
}

/// `$facet: {name: [stages], ...}` (40169, 40170; sub-pipelines refuse `$out`, `$merge`,
/// `$facet` and `$documents` with 40600).
fn parse_facet(spec: &Bson, scope: &VariableScope) -> Result<Vec<(String, Pipeline)>> {
    let Bson::Document(d) = spec else {
        return Err(Error::coded(
            40169,
            format!("the $facet specification must be a non-empty object, but found: {spec}"),
        ));
    };
    if d.is_empty() {
        return Err(Error::coded(
            40169,
            "the $facet specification must be a non-empty object, but found: $facet: {}",
        ));
    }
    let mut facets = Vec::new();
    for (name, value) in d {
        validate_field_path(name)?;
        if name.contains('.') {
            return Err(Error::coded(
                16412,
                format!(
                    "$facet pipeline names must follow the naming rules of field path \
                     expressions. :: caused by :: FieldPath field names may not contain '.'. \
                     ('{name}')"
                ),
            ));
        }
        let Bson::Array(items) = value else {
            return Err(Error::coded(
                40170,
                format!(
                    "arguments to $facet must be arrays, {name} is type {}",
                    type_name(value)
                ),
            ));
        };
        let stages = stage_documents(items, 40171, "$facet")?;
        facets.push((
            name.clone(),
            Pipeline::parse_in(&stages, StageContext::Facet, scope)?,
        ));
    }
    Ok(facets)
}

/// The stage documents of a sub-pipeline array.
pub(crate) fn stage_documents(items: &[Bson], code: i32, owner: &str) -> Result<Vec<Document>> {
    items
        .iter()
        .map(|item| match item {
            Bson::Document(d) => Ok(d.clone()),
            other => Err(Error::coded(
                code,
                format!(
                    "{owner} sub-pipeline stages must be objects, but found type {}",
                    type_name(other)
                ),
            )),
        })
        .collect()
}

/// MongoDB's `internalQueryFacetMaxOutputDocSizeBytes` (100 MB).
const FACET_MAX_OUTPUT_BYTES: usize = 100 * 1024 * 1024;

fn run_facet(
    facets: &[(String, Pipeline)],
    input: DocStream<'_>,
    context: &RunContext<'_>,
) -> Result<Document> {
    let mut tracker = MemoryTracker::new(
        context.memory_limit_bytes,
        context.allow_disk_use,
        MemoryLimitKind::Facet,
    );
    let mut docs = Vec::new();
    for r in input {
        let doc = r?;
        tracker.add(document_size(&doc))?;
        docs.push(doc);
    }
    let mut out = Document::new();
    let mut output_size = 5;
    for (name, pipeline) in facets {
        let results = pipeline.run_with(Box::new(docs.iter().cloned().map(Ok)), context)?;
        let value = Bson::Array(results.into_iter().map(Bson::Document).collect());
        output_size += 2 + name.len() + super::paths::bson_size(&value);
        // MongoDB caps the document $facet builds at 100 MB whatever allowDiskUse says.
        if output_size > FACET_MAX_OUTPUT_BYTES {
            return Err(Error::coded(
                4031700,
                format!(
                    "document constructed by $facet is {output_size} bytes, which exceeds the \
                     limit of {FACET_MAX_OUTPUT_BYTES} bytes"
                ),
            ));
        }
        out.insert(name.clone(), value);
    }
    Ok(out)
}

/// `$sample`: a uniform random sample without replacement (reservoir sampling), in random
/// order.
fn sample(input: DocStream<'_>, size: u64) -> Result<Vec<Document>> {
    let keep = usize::try_from(size).unwrap_or(usize::MAX);
    let mut rng = SmallRng::seeded();
    let mut reservoir: Vec<Document> = Vec::new();
    let mut seen: u64 = 0;
    for r in input {
        let doc = r?;
        seen += 1;
        if reservoir.len() < keep {
            reservoir.push(doc);
        } else {
            let j = rng.below(seen);
            if let Ok(j) = usize::try_from(j) {
                if let Some(slot) = reservoir.get_mut(j) {
                    *slot = doc;
                }
            }
        }
    }
    // Fisher-Yates shuffle.
    for i in (1..reservoir.len()).rev() {
        let j = usize::try_from(rng.below(i as u64 + 1)).unwrap_or(0);
        reservoir.swap(i, j);
    }
    Ok(reservoir)
}

/// A small xorshift generator; `$sample` needs randomness, not cryptography.
struct SmallRng(u64);

impl SmallRng {
    fn seeded() -> SmallRng {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        SmallRng(hasher.finish() | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..bound` (bound > 0).
    fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        self.next() % bound
    }
}

/// `$documents`: the expression must give an array of documents.
fn evaluate_documents(expr: &Expr, context: &RunContext<'_>) -> Result<Vec<Document>> {
    let value = expr.eval(&Document::new(), &context.vars())?;
    let error = || {
        Error::coded(
            5858203,
            "error during lookup of $documents: the expression must evaluate to an array of \
             objects",
        )
    };
    match value {
        Some(Bson::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Bson::Document(d) => Ok(d),
                _ => Err(error()),
            })
            .collect(),
        _ => Err(error()),
    }
}

/// `$redact`: evaluates the expression at each document level; `$$DESCEND` keeps the level
/// and recurses into sub-documents (and arrays of them), `$$PRUNE` drops it, `$$KEEP` keeps
/// it whole.
fn redact_document(expr: &Expr, doc: &Document, vars: &Vars) -> Result<Option<Document>> {
    redact_level(expr, doc, doc, vars)
}

/// One level of `$redact`: `$$CURRENT` is the sub-document, `$$ROOT` the whole document.
fn redact_level(
    expr: &Expr,
    root: &Document,
    current: &Document,
    vars: &Vars,
) -> Result<Option<Document>> {
    let decision = expr.eval_with_current(root, current, vars)?;
    match decision.as_ref() {
        Some(Bson::String(s)) if s == "descend" => {
            let mut out = Document::new();
            for (k, v) in current {
                match v {
                    Bson::Document(d) => {
                        if let Some(kept) = redact_level(expr, root, d, vars)? {
                            out.insert(k.clone(), kept);
                        }
                    }
                    Bson::Array(items) => {
                        out.insert(k.clone(), redact_array(expr, root, items, vars)?);
                    }
                    other => {
                        out.insert(k.clone(), other.clone());
                    }
                }
            }
            Ok(Some(out))
        }
        Some(Bson::String(s)) if s == "prune" => Ok(None),
        Some(Bson::String(s)) if s == "keep" => Ok(Some(current.clone())),
        other => Err(Error::coded(
            17053,
            format!(
                "$redact's expression should not return anything aside from the variables \
                 $$KEEP, $$DESCEND, and $$PRUNE, but returned {}",
                other
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "MISSING".into())
            ),
        )),
    }
}

fn redact_array(expr: &Expr, root: &Document, items: &[Bson], vars: &Vars) -> Result<Bson> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Bson::Document(d) => {
                if let Some(kept) = redact_level(expr, root, d, vars)? {
                    out.push(Bson::Document(kept));
                }
            }
            Bson::Array(inner) => out.push(redact_array(expr, root, inner, vars)?),
            other => out.push(other.clone()),
        }
    }
    Ok(Bson::Array(out))
}

/// Binds `variables` into a filter's `$expr` parts as `$match` does at run time.
#[cfg(test)]
pub(crate) fn bind_variables_for_tests(filter: &Document, variables: &Document) -> Document {
    let context = RunContext {
        env: None,
        db: String::new(),
        allow_disk_use: false,
        memory_limit_bytes: super::BLOCKING_STAGE_MEMORY_LIMIT_BYTES,
        now: bson::DateTime::now(),
        variables: variables.clone(),
        collation: None,
    };
    bind_variables_in_document(filter, &context, false)
}
