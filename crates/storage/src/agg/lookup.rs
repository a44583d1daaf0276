//! Stages that read other collections through [`AggEnv::scan`](super::AggEnv::scan):
//! `$lookup`, `$graphLookup` and `$unionWith`.

use std::collections::{BTreeMap, BTreeSet};

use bson::{Bson, Document};

use super::expr::Expr;
use super::paths::{
    document_size, set_path, type_name, validate_field_path, values_along_path, OrderedBson,
};
use super::stage::{stage_documents, StageContext};
use super::{DocStream, Pipeline, RunContext, VariableScope};
use crate::error::{Error, Result};
use crate::query::Filter;

/// The most a `$lookup` may gather for one document.
const LOOKUP_MAX_RESULT_BYTES: usize = 100 * 1024 * 1024;

/// A collection named by a stage: in the pipeline's database unless `db` is given.
#[derive(Debug, Clone)]
pub(crate) struct Namespace {
    db: Option<String>,
    coll: String,
}

impl Namespace {
    fn parse(value: &Bson, stage: &str, field: &str) -> Result<Namespace> {
        match value {
            Bson::String(coll) => Ok(Namespace {
                db: None,
                coll: coll.clone(),
            }),
            Bson::Document(d) => {
                let db = d.get_str("db").map_err(|_| {
                    Error::FailedToParse(format!(
                        "{stage} '{field}' object must have a string 'db'"
                    ))
                })?;
                let coll = d.get_str("coll").map_err(|_| {
                    Error::FailedToParse(format!(
                        "{stage} '{field}' object must have a string 'coll'"
                    ))
                })?;
                Ok(Namespace {
                    db: Some(db.to_string()),
                    coll: coll.to_string(),
                })
            }
            other => Err(Error::FailedToParse(format!(
                "{stage} '{field}' field must be a string or an object, but found {}",
                type_name(other)
            ))),
        }
    }

    fn scan(&self, context: &RunContext<'_>) -> Result<Vec<Document>> {
        let db = self.db.as_deref().unwrap_or(&context.db);
        context.env()?.scan(db, &self.coll)
    }
}

/// A parsed `$lookup`: the equality form (`localField`/`foreignField`), the sub-pipeline form
/// (`let`/`pipeline`), or both.
#[derive(Debug, Clone)]
pub(crate) struct LookupSpec {
    from: Option<Namespace>,
    local_field: Option<String>,
    foreign_field: Option<String>,
    let_variables: Vec<(String, Expr)>,
    pipeline: Option<Pipeline>,
    as_field: String,
}

fn string_argument(value: &Bson, stage: &str, field: &str) -> Result<String> {
    match value {
        Bson::String(s) => Ok(s.clone()),
        other => Err(Error::FailedToParse(format!(
            "{stage} argument '{field}: {other}' must be a string, is type {}",
            type_name(other)
        ))),
    }
}

/// Validates a user variable name as MongoDB does: a lowercase letter (or non-ASCII) first,
/// then letters, digits and underscores.
fn validate_variable_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid_first = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || !c.is_ascii());
    if !valid_first {
        return Err(Error::FailedToParse(format!(
            "'{name}' starts with an invalid character for a user variable name"
        )));
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()) {
        return Err(Error::FailedToParse(format!(
            "'{name}' contains an invalid character for a variable name"
        )));
    }
    Ok(())
}

impl LookupSpec {
    pub(crate) fn parse(spec: &Bson, scope: &VariableScope) -> Result<LookupSpec> {
        let Bson::Document(d) = spec else {
            return Err(Error::FailedToParse(format!(
                "the $lookup stage specification must be an object, but found {}",
                type_name(spec)
            )));
        };
        let mut from = None;
        let mut local_field = None;
        let mut foreign_field = None;
        let mut let_variables = Vec::new();
        let mut pipeline_stages = None;
        let mut as_field = None;
        for (name, value) in d {
            match name.as_str() {
                "from" => from = Some(Namespace::parse(value, "$lookup", "from")?),
                "localField" => {
                    let path = string_argument(value, "$lookup", name)?;
                    validate_field_path(&path)?;
                    local_field = Some(path);
                }
                "foreignField" => {
                    let path = string_argument(value, "$lookup", name)?;
                    validate_field_path(&path)?;
                    foreign_field = Some(path);
                }
                "as" => {
                    let path = string_argument(value, "$lookup", name)?;
                    validate_field_path(&path)?;
                    as_field = Some(path);
                }
                "let" => {
                    let Bson::Document(vars) = value else {
                        return Err(Error::FailedToParse(format!(
                            "$lookup argument 'let' must be an object, is type {}",
                            type_name(value)
                        )));
                    };
                    for (var, expr) in vars {
                        validate_variable_name(var)?;
                        let_variables.push((var.clone(), scope.parse(expr)?));
                    }
                }
                "pipeline" => {
                    let Bson::Array(items) = value else {
                        return Err(Error::FailedToParse(format!(
                            "$lookup argument 'pipeline' must be an array, is type {}",
                            type_name(value)
                        )));
                    };
                    pipeline_stages = Some(stage_documents(items, 9, "$lookup")?);
                }
                other => {
                    return Err(Error::FailedToParse(format!(
                        "unknown argument to $lookup: {other}"
                    )))
                }
            }
        }
        let Some(as_field) = as_field else {
            return Err(Error::FailedToParse(
                "must specify 'as' field for a $lookup".into(),
            ));
        };
        if local_field.is_some() != foreign_field.is_some() {
            return Err(Error::FailedToParse(
                "$lookup requires both or neither of 'localField' and 'foreignField' to be \
                 specified"
                    .into(),
            ));
        }
        if pipeline_stages.is_none() && local_field.is_none() {
            return Err(Error::FailedToParse(
                "$lookup requires either 'pipeline' or both 'localField' and 'foreignField' to \
                 be specified"
                    .into(),
            ));
        }
        if !let_variables.is_empty() && pipeline_stages.is_none() {
            return Err(Error::FailedToParse(
                "$lookup with 'let' must also specify 'pipeline'".into(),
            ));
        }
        let pipeline = match pipeline_stages {
            Some(stages) => {
                let inner = scope.extended(let_variables.iter().map(|(name, _)| name.clone()));
                Some(Pipeline::parse_in(&stages, StageContext::Lookup, &inner)?)
            }
            None => None,
        };
        if from.is_none() && pipeline.is_none() {
            return Err(Error::FailedToParse(
                "must specify 'pipeline' when 'from' is empty".into(),
            ));
        }
        if from.is_none() && !pipeline.as_ref().is_some_and(|p| p.starts_with_documents()) {
            return Err(Error::FailedToParse(
                "must specify 'from' field for a $lookup".into(),
            ));
        }
        Ok(LookupSpec {
            from,
            local_field,
            foreign_field,
            let_variables,
            pipeline,
            as_field,
        })
    }

    pub(crate) fn execute<'a>(
        &'a self,
        input: DocStream<'a>,
        context: &'a RunContext<'a>,
    ) -> Result<DocStream<'a>> {
        let foreign = match &self.from {
            Some(ns) => ns.scan(context)?,
            None => Vec::new(),
        };
        let index = self
            .foreign_field
            .as_ref()
            .map(|path| ForeignIndex::build(&foreign, path, context.collation.clone()));
        let vars = context.vars();
        Ok(Box::new(input.map(move |r| {
            let mut doc = r?;
            let candidates: Vec<Document> = match (&self.local_field, &index) {
                (Some(local), Some(index)) => {
                    let mut local_values = Vec::new();
                    collect_local_values(&doc, local, &mut local_values);
                    index
                        .find(&local_values)
                        .into_iter()
                        .filter_map(|i| foreign.get(i).cloned())
                        .collect()
                }
                _ => foreign.clone(),
            };
            let results = match &self.pipeline {
                Some(pipeline) => {
                    let mut let_values = Document::new();
                    for (name, expr) in &self.let_variables {
                        let value = expr.eval(&doc, &vars)?.unwrap_or(Bson::Null);
                        let_values.insert(name.clone(), value);
                    }
                    let sub_context = context.with_variables(let_values);
                    pipeline.run_with(Box::new(candidates.into_iter().map(Ok)), &sub_context)?
                }
                None => candidates,
            };
            // MongoDB's internalLookupStageIntermediateDocumentMaxSizeBytes (100 MB).
            let total: usize = results.iter().map(document_size).sum();
            if total > LOOKUP_MAX_RESULT_BYTES {
                let coll = self.from.as_ref().map(|ns| ns.coll.as_str()).unwrap_or("");
                return Err(Error::coded(
                    4568,
                    format!(
                        "Total size of documents in {coll} matching pipeline's $lookup stage \
                         exceeds {LOOKUP_MAX_RESULT_BYTES} bytes"
                    ),
                ));
            }
            set_path(
                &mut doc,
                &self.as_field,
                Bson::Array(results.into_iter().map(Bson::Document).collect()),
            );
            Ok(doc)
        })))
    }
}

/// The values `localField` names, as MongoDB's `visitAllValuesAtPath`: arrays on the way
/// and at the end contribute their elements; none at all (missing, or an empty array) is
/// null, so that it matches foreign documents whose field is null or missing.
fn collect_local_values(doc: &Document, path: &str, out: &mut Vec<Bson>) {
    let parts: Vec<&str> = path.split('.').collect();
    if let Some((first, rest)) = parts.split_first() {
        if let Some(v) = doc.get(*first) {
            visit_values(v, rest, out);
        }
    }
    if out.is_empty() {
        out.push(Bson::Null);
    }
}

fn visit_values(value: &Bson, parts: &[&str], out: &mut Vec<Bson>) {
    match (value, parts.split_first()) {
        (Bson::Array(items), _) => {
            for item in items {
                match (item, parts.is_empty()) {
                    (_, true) => out.push(item.clone()),
                    (Bson::Document(_), false) => visit_values(item, parts, out),
                    _ => {}
                }
            }
        }
        (_, None) => out.push(value.clone()),
        (Bson::Document(d), Some((first, rest))) => {
            if let Some(v) = d.get(*first) {
                visit_values(v, rest, out);
            }
        }
        _ => {}
    }
}

/// The foreign documents indexed by the values at one path, for equality lookups with query
/// semantics: a document is found by each value along the path (an array by itself and by
/// each element), and null finds documents whose field is null or missing.
struct ForeignIndex {
    by_value: BTreeMap<OrderedBson, Vec<usize>>,
    missing: Vec<usize>,
    /// The operation's collation: values compare under it.
    collation: Option<std::sync::Arc<crate::value::Collation>>,
}

impl ForeignIndex {
    fn build(
        docs: &[Document],
        path: &str,
        collation: Option<std::sync::Arc<crate::value::Collation>>,
    ) -> ForeignIndex {
        let mut by_value: BTreeMap<OrderedBson, Vec<usize>> = BTreeMap::new();
        let mut missing = Vec::new();
        for (index, doc) in docs.iter().enumerate() {
            let mut found = Vec::new();
            values_along_path(doc, path, &mut found);
            if found.is_empty() {
                missing.push(index);
            }
            for value in found {
                let entry = by_value
                    .entry(OrderedBson(value, collation.clone()))
                    .or_default();
                if entry.last() != Some(&index) {
                    entry.push(index);
                }
            }
        }
        ForeignIndex {
            by_value,
            missing,
            collation,
        }
    }

    /// The positions of the documents matching any of `values`, in natural order.
    fn find(&self, values: &[Bson]) -> Vec<usize> {
        let mut hits = BTreeSet::new();
        for value in values {
            if matches!(value, Bson::Null | Bson::Undefined) {
                hits.extend(self.missing.iter().copied());
            }
            if let Some(positions) = self
                .by_value
                .get(&OrderedBson(value.clone(), self.collation.clone()))
            {
                hits.extend(positions.iter().copied());
            }
        }
        hits.into_iter().collect()
    }
}

/// A parsed `$graphLookup`.
#[derive(Debug, Clone)]
pub(crate) struct GraphLookupSpec {
    from: Namespace,
    start_with: Expr,
    connect_from_field: String,
    connect_to_field: String,
    as_field: String,
    max_depth: Option<i64>,
    depth_field: Option<String>,
    restrict_search_with_match: Option<Filter>,
}

impl GraphLookupSpec {
    pub(crate) fn parse(spec: &Bson, scope: &VariableScope) -> Result<GraphLookupSpec> {
        let Bson::Document(d) = spec else {
            return Err(Error::FailedToParse(format!(
                "the $graphLookup stage specification must be an object, but found {}",
                type_name(spec)
            )));
        };
        let mut from = None;
        let mut start_with = None;
        let mut connect_from_field = None;
        let mut connect_to_field = None;
        let mut as_field = None;
        let mut max_depth = None;
        let mut depth_field = None;
        let mut restrict = None;
        for (name, value) in d {
            match name.as_str() {
                "from" => from = Some(Namespace::parse(value, "$graphLookup", "from")?),
                "startWith" => start_with = Some(scope.parse(value)?),
                "connectFromField" | "connectToField" | "as" | "depthField" => {
                    let Bson::String(path) = value else {
                        return Err(Error::coded(
                            40103,
                            format!(
                                "expected string as argument for {name}, found: {}",
                                type_name(value)
                            ),
                        ));
                    };
                    validate_field_path(path)?;
                    let slot = match name.as_str() {
                        "connectFromField" => &mut connect_from_field,
                        "connectToField" => &mut connect_to_field,
                        "as" => &mut as_field,
                        _ => &mut depth_field,
                    };
                    *slot = Some(path.clone());
                }
                "maxDepth" => {
                    let Some(depth) = super::paths::integral_i64(value) else {
                        return Err(Error::coded(
                            40100,
                            format!("maxDepth must be numeric, found type: {}", type_name(value)),
                        ));
                    };
                    if depth < 0 {
                        return Err(Error::coded(
                            40101,
                            format!("maxDepth requires a nonnegative argument, found: {depth}"),
                        ));
                    }
                    max_depth = Some(depth);
                }
                "restrictSearchWithMatch" => {
                    let Bson::Document(filter) = value else {
                        return Err(Error::coded(
                            40185,
                            format!(
                                "restrictSearchWithMatch must be an object, found {}",
                                type_name(value)
                            ),
                        ));
                    };
                    restrict = Some(Filter::parse(filter)?);
                }
                other => {
                    return Err(Error::coded(
                        40104,
                        format!("Unknown argument to $graphLookup: {other}"),
                    ))
                }
            }
        }
        if from.is_none() {
            return Err(Error::FailedToParse(format!(
                "missing 'from' option to $graphLookup stage specification: {d}"
            )));
        }
        match (
            from,
            start_with,
            connect_from_field,
            connect_to_field,
            as_field,
        ) {
            (Some(from), Some(start_with), Some(from_field), Some(to_field), Some(as_field)) => {
                Ok(GraphLookupSpec {
                    from,
                    start_with,
                    connect_from_field: from_field,
                    connect_to_field: to_field,
                    as_field,
                    max_depth,
                    depth_field,
                    restrict_search_with_match: restrict,
                })
            }
            _ => Err(Error::coded(
                40105,
                "$graphLookup requires 'from', 'startWith', 'connectFromField', \
                 'connectToField' and 'as' to be specified",
            )),
        }
    }

    pub(crate) fn execute<'a>(
        &'a self,
        input: DocStream<'a>,
        context: &'a RunContext<'a>,
    ) -> Result<DocStream<'a>> {
        let foreign: Vec<Document> = self
            .from
            .scan(context)?
            .into_iter()
            .filter(|d| {
                self.restrict_search_with_match
                    .as_ref()
                    .is_none_or(|f| f.matches(d))
            })
            .collect();
        let index =
            ForeignIndex::build(&foreign, &self.connect_to_field, context.collation.clone());
        let vars = context.vars();
        Ok(Box::new(input.map(move |r| {
            let mut doc = r?;
            let start = self.start_with.eval(&doc, &vars)?.unwrap_or(Bson::Null);
            let mut frontier: Vec<Bson> = match start {
                Bson::Array(items) => items,
                other => vec![other],
            };
            let mut visited: BTreeSet<usize> = BTreeSet::new();
            let mut seen_values: BTreeSet<OrderedBson> = BTreeSet::new();
            let mut results = Vec::new();
            let mut depth: i64 = 0;
            while !frontier.is_empty() && self.max_depth.is_none_or(|m| depth <= m) {
                frontier.retain(|v| {
                    seen_values.insert(OrderedBson(v.clone(), context.collation.clone()))
                });
                let mut next = Vec::new();
                for position in index.find(&frontier) {
                    let Some(candidate) = foreign.get(position) else {
                        continue;
                    };
                    if !visited.insert(position) {
                        continue;
                    }
                    let mut found = candidate.clone();
                    values_from(&found, &self.connect_from_field, &mut next);
                    if let Some(field) = &self.depth_field {
                        set_path(&mut found, field, Bson::Int64(depth));
                    }
                    results.push(Bson::Document(found));
                }
                frontier = next;
                depth += 1;
            }
            set_path(&mut doc, &self.as_field, Bson::Array(results));
            Ok(doc)
        })))
    }
}

/// The values to follow from a found document: each element of an array value.
fn values_from(doc: &Document, path: &str, out: &mut Vec<Bson>) {
    let mut raw = Vec::new();
    values_along_path(doc, path, &mut raw);
    out.extend(raw.into_iter().filter(|v| !matches!(v, Bson::Array(_))));
}

/// A parsed `$unionWith`.
#[derive(Debug, Clone)]
pub(crate) struct UnionWithSpec {
    coll: Option<String>,
    pipeline: Option<Pipeline>,
}

impl UnionWithSpec {
    pub(crate) fn parse(spec: &Bson, scope: &VariableScope) -> Result<UnionWithSpec> {
        match spec {
            Bson::String(coll) => Ok(UnionWithSpec {
                coll: Some(coll.clone()),
                pipeline: None,
            }),
            Bson::Document(d) => {
                let mut coll = None;
                let mut pipeline = None;
                for (name, value) in d {
                    match name.as_str() {
                        "coll" => {
                            let Bson::String(c) = value else {
                                return Err(Error::TypeMismatch(format!(
                                    "BSON field '$unionWith.coll' is the wrong type '{}', \
                                     expected type 'string'",
                                    type_name(value)
                                )));
                            };
                            coll = Some(c.clone());
                        }
                        "pipeline" => {
                            let Bson::Array(items) = value else {
                                return Err(Error::TypeMismatch(format!(
                                    "BSON field '$unionWith.pipeline' is the wrong type '{}', \
                                     expected type 'array'",
                                    type_name(value)
                                )));
                            };
                            let stages = stage_documents(items, 9, "$unionWith")?;
                            pipeline =
                                Some(Pipeline::parse_in(&stages, StageContext::UnionWith, scope)?);
                        }
                        other => {
                            return Err(Error::coded(
                                40415,
                                format!("BSON field '$unionWith.{other}' is an unknown field."),
                            ))
                        }
                    }
                }
                if coll.is_none() && !pipeline.as_ref().is_some_and(|p| p.starts_with_documents()) {
                    return Err(Error::FailedToParse(
                        "$unionWith stage without explicit collection must have a pipeline with \
                         $documents as first stage"
                            .into(),
                    ));
                }
                Ok(UnionWithSpec { coll, pipeline })
            }
            other => Err(Error::FailedToParse(format!(
                "the $unionWith stage specification must be an object or string, but found {}",
                type_name(other)
            ))),
        }
    }

    /// All input documents, then the other collection's (through its pipeline), read lazily.
    pub(crate) fn execute<'a>(
        &'a self,
        input: DocStream<'a>,
        context: &'a RunContext<'a>,
    ) -> DocStream<'a> {
        let union = std::iter::once(()).flat_map(move |_| {
            let result = (|| -> Result<Vec<Document>> {
                let docs = match &self.coll {
                    Some(coll) => context.env()?.scan(&context.db, coll)?,
                    None => Vec::new(),
                };
                match &self.pipeline {
                    Some(p) => p.run_with(Box::new(docs.into_iter().map(Ok)), context),
                    None => Ok(docs),
                }
            })();
            match result {
                Ok(docs) => docs.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            }
        });
        Box::new(input.chain(union))
    }
}
