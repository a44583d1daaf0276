//! `$facet`: its sub-pipelines parsed (refusing the stages they may not hold) and run over
//! the same input, their output bounded; and `stage_documents`, the check that a
//! sub-pipeline is an array of stage documents (`$facet`, `$lookup`, `$unionWith`, `$merge`).

use bson::{Bson, Document};

use super::StageContext;
use crate::agg::paths::{document_size, type_name, validate_field_path};
use crate::agg::{DocStream, MemoryLimitKind, Pipeline, RunContext, VariableScope};
use crate::error::{Error, Result};

/// `$facet: {name: [stages], ...}` (40169, 40170; sub-pipelines refuse `$out`, `$merge`,
/// `$facet` and `$documents` with 40600).
pub(super) fn parse_facet(spec: &Bson, scope: &VariableScope) -> Result<Vec<(String, Pipeline)>> {
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

pub(super) fn run_facet(
    facets: &[(String, Pipeline)],
    input: DocStream<'_>,
    context: &RunContext<'_>,
) -> Result<Document> {
    let mut tracker = context.memory_tracker(MemoryLimitKind::Facet);
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
        output_size += 2 + name.len() + crate::agg::paths::bson_size(&value);
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
