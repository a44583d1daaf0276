//! Parsing an update: a pipeline update's stages (only the allowed ones), an operator
//! document into its operations (each path split into parts, placeholders checked against
//! the array filters, `$rename`'s two paths), and the array filters with their identifiers.

use std::collections::BTreeMap;

use bson::{Bson, Document};

use super::check::ConflictNode;
use super::ops::{self, Modifier};
use super::{
    Operation, Part, Update, UpdateKind, EMPTY_FIELD_NAME, INVALID_OPTIONS, OTHER_PIPELINE_STAGES,
    STAGE_NOT_ONE_FIELD, UNRECOGNIZED_PIPELINE_STAGE, UPDATE_OPERATORS, UPDATE_PIPELINE_STAGES,
};
use crate::agg::Pipeline;
use crate::error::{Error, Result};
use crate::query::Filter;

pub(super) fn parse_pipeline(stages: &[Bson]) -> Result<Pipeline> {
    let mut documents = Vec::with_capacity(stages.len());
    for stage in stages {
        let Bson::Document(stage) = stage else {
            return Err(Error::TypeMismatch(
                "Each element of the 'pipeline' array must be an object".into(),
            ));
        };
        let mut keys = stage.keys();
        let (Some(name), None) = (keys.next(), keys.next()) else {
            return Err(Error::coded(
                STAGE_NOT_ONE_FIELD,
                "A pipeline stage specification object must contain exactly one field.",
            ));
        };
        if !UPDATE_PIPELINE_STAGES.contains(&name.as_str()) {
            if OTHER_PIPELINE_STAGES.contains(&name.as_str()) {
                return Err(Error::coded(
                    INVALID_OPTIONS,
                    format!("{name} is not allowed to be used within an update"),
                ));
            }
            return Err(Error::coded(
                UNRECOGNIZED_PIPELINE_STAGE,
                format!("Unrecognized pipeline stage name: '{name}'"),
            ));
        }
        documents.push(stage.clone());
    }
    Pipeline::parse(&documents)
}

pub(super) fn parse_operators(update: &Document, array_filter_docs: &[Document]) -> Result<Update> {
    let array_filters = parse_array_filters(array_filter_docs)?;
    let mut used_identifiers = std::collections::BTreeSet::new();
    let mut conflicts = ConflictNode::default();
    let mut operations = Vec::new();

    for (operator, argument) in update {
        if !UPDATE_OPERATORS.contains(&operator.as_str()) {
            return Err(Error::FailedToParse(format!(
                "Unknown modifier: {operator}. Expected a valid update modifier or \
                 pipeline-style update specified as an array"
            )));
        }
        let Bson::Document(fields) = argument else {
            return Err(Error::FailedToParse(format!(
                "Modifiers operate on fields but we found type {} instead. For example: \
                 {{$mod: {{<field>: ...}}}} not {{{operator}: {argument}}}",
                ops::type_name(argument)
            )));
        };
        for (field, value) in fields {
            if operator == "$rename" {
                let from = parse_path(field)?;
                check_placeholders(field, &from, &array_filters, &mut used_identifiers)?;
                conflicts.register(&from, field)?;
                let Bson::String(to_text) = value else {
                    return Err(Error::BadValue(format!(
                        "The 'to' field for $rename must be a string: {field}: {value}"
                    )));
                };
                let to = parse_path(to_text)?;
                check_placeholders(to_text, &to, &array_filters, &mut used_identifiers)?;
                let modifier = parse_rename(field, &from, to_text, &to)?;
                conflicts.register(&to, to_text)?;
                operations.push(Operation {
                    field: to_text.clone(),
                    parts: to,
                    modifier,
                });
                continue;
            }
            let parts = parse_path(field)?;
            check_placeholders(field, &parts, &array_filters, &mut used_identifiers)?;
            let modifier = Modifier::parse(operator, field, value)?;
            conflicts.register(&parts, field)?;
            operations.push(Operation {
                field: field.clone(),
                parts,
                modifier,
            });
        }
    }

    if let Some(unused) = array_filters
        .keys()
        .find(|id| !used_identifiers.contains(*id))
    {
        return Err(Error::FailedToParse(format!(
            "The array filter for identifier '{unused}' was not used in the update {update}"
        )));
    }

    Ok(Update {
        kind: UpdateKind::Operators {
            operations,
            array_filters,
        },
        collation: None,
    })
}

/// Splits a dotted path, refusing empty components (EmptyFieldName, 56).
fn parse_path(field: &str) -> Result<Vec<Part>> {
    crate::value::path::check_path_length(field)?;
    if field.is_empty() {
        return Err(Error::coded(
            EMPTY_FIELD_NAME,
            "An empty update path is not valid.",
        ));
    }
    let parts: Vec<Part> = field.split('.').map(Part::parse).collect();
    if parts
        .iter()
        .any(|p| matches!(p, Part::Field(f) if f.is_empty()))
    {
        return Err(Error::coded(
            EMPTY_FIELD_NAME,
            format!(
                "The update path '{field}' contains an empty field name, which is not allowed."
            ),
        ));
    }
    Ok(parts)
}

/// MongoDB's checks on `$` and `$[...]` components: at most one `$`, none of them first, and
/// every `$[<id>]` backed by an array filter.
fn check_placeholders(
    field: &str,
    parts: &[Part],
    array_filters: &BTreeMap<String, Filter>,
    used: &mut std::collections::BTreeSet<String>,
) -> Result<()> {
    let positional_count = parts.iter().filter(|p| **p == Part::Positional).count();
    if positional_count > 1 {
        return Err(Error::BadValue(format!(
            "Too many positional (i.e. '$') elements found in path '{field}'"
        )));
    }
    if parts.first() == Some(&Part::Positional) {
        return Err(Error::BadValue(format!(
            "Cannot have positional (i.e. '$') element in the first position in path '{field}'"
        )));
    }
    for (i, part) in parts.iter().enumerate() {
        if !part.is_array_update() {
            continue;
        }
        if i == 0 {
            return Err(Error::BadValue(format!(
                "Cannot have array filter identifier (i.e. '$[<id>]') element in the first \
                 position in path '{field}'"
            )));
        }
        if let Part::Filtered(id) = part {
            if !array_filters.contains_key(id) {
                return Err(Error::BadValue(format!(
                    "No array filter found for identifier '{id}' in path '{field}'"
                )));
            }
            used.insert(id.clone());
        }
    }
    Ok(())
}

fn parse_rename(from_text: &str, from: &[Part], to_text: &str, to: &[Part]) -> Result<Modifier> {
    let shown = format!("{from_text}: \"{to_text}\"");
    if from == to {
        return Err(Error::BadValue(format!(
            "The source and target field for $rename must differ: {shown}"
        )));
    }
    if from.starts_with(to) || to.starts_with(from) {
        return Err(Error::BadValue(format!(
            "The source and target field for $rename must not be on the same path: {shown}"
        )));
    }
    let dynamic = |parts: &[Part]| parts.iter().any(|p| !matches!(p, Part::Field(_)));
    if dynamic(from) {
        return Err(Error::BadValue(format!(
            "The source field for $rename may not be dynamic: {from_text}"
        )));
    }
    if dynamic(to) {
        return Err(Error::BadValue(format!(
            "The destination field for $rename may not be dynamic: {to_text}"
        )));
    }
    Ok(Modifier::Rename {
        from: from.iter().map(Part::text).collect(),
    })
}

/// Parses `arrayFilters`: each filter names one identifier (the top-level field name before
/// the first dot, the same in every clause), which must be an alphanumeric string starting
/// with a lowercase letter and used by no other filter.
fn parse_array_filters(filters: &[Document]) -> Result<BTreeMap<String, Filter>> {
    let mut parsed = BTreeMap::new();
    for filter in filters {
        let mut identifier: Option<String> = None;
        collect_filter_identifiers(filter, &mut identifier)?;
        let Some(identifier) = identifier else {
            return Err(Error::FailedToParse(
                "Cannot use an expression without a top-level field name in arrayFilters".into(),
            ));
        };
        let mut chars = identifier.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_alphanumeric());
        if !valid {
            return Err(Error::BadValue(format!(
                "Error parsing array filter :: caused by :: The top-level field name must be an \
                 alphanumeric string beginning with a lowercase letter, found '{identifier}'"
            )));
        }
        if parsed.contains_key(&identifier) {
            return Err(Error::FailedToParse(format!(
                "Found multiple array filters with the same top-level field name {identifier}"
            )));
        }
        parsed.insert(identifier, Filter::parse(filter)?);
    }
    Ok(parsed)
}

fn collect_filter_identifiers(filter: &Document, identifier: &mut Option<String>) -> Result<()> {
    for (key, value) in filter {
        if matches!(key.as_str(), "$and" | "$or" | "$nor") {
            if let Bson::Array(branches) = value {
                for branch in branches {
                    if let Bson::Document(d) = branch {
                        collect_filter_identifiers(d, identifier)?;
                    }
                }
            }
            continue;
        }
        if key.starts_with('$') {
            // $expr, $where, $comment, ...: no field name to take an identifier from.
            continue;
        }
        let top = key.split('.').next().unwrap_or(key).to_string();
        match identifier {
            Some(existing) if *existing != top => {
                return Err(Error::FailedToParse(format!(
                    "Error parsing array filter :: caused by :: Expected a single top-level \
                     field name, found '{existing}' and '{top}'"
                )))
            }
            _ => *identifier = Some(top),
        }
    }
    Ok(())
}
