//! The checks on what an update names and makes: path conflicts between its operations
//! (MongoDB's update tree, ConflictingUpdateOperators 40), `$`-prefixed top-level field names
//! in a replacement, and storage validation of the updated document (`_id`, nesting depth).

use std::collections::BTreeMap;

use bson::{Bson, Document};

use super::ops;
use super::{Part, DOLLAR_PREFIXED_FIELD_NAME, INVALID_ID_FIELD, OVERFLOW};
use crate::error::{Error, Result};

/// The paths an update names, as MongoDB's update tree: a path may not also be a prefix of
/// another, nor appear twice, and the children of one node are either all array-filter
/// placeholders (`$[...]`) or none.
#[derive(Debug, Default)]
pub(super) struct ConflictNode {
    children: BTreeMap<String, ConflictNode>,
    leaf: bool,
    /// Children are `$[...]` placeholders.
    array_node: bool,
}

impl ConflictNode {
    pub(super) fn register(&mut self, parts: &[Part], field: &str) -> Result<()> {
        let conflict = |at: String| {
            Error::ConflictingUpdateOperators(format!(
                "Updating the path '{field}' would create a conflict at '{at}'"
            ))
        };
        let texts: Vec<String> = parts.iter().map(Part::text).collect();
        let Some((last, inner)) = texts.split_last() else {
            return Ok(());
        };
        let mut node = self;
        for (i, text) in inner.iter().enumerate() {
            let should_be_array = parts.get(i + 1).is_some_and(Part::is_array_update);
            let child = node
                .children
                .entry(text.clone())
                .or_insert_with(|| ConflictNode {
                    array_node: should_be_array,
                    ..ConflictNode::default()
                });
            if child.leaf || child.array_node != should_be_array {
                return Err(conflict(texts.get(..=i).unwrap_or_default().join(".")));
            }
            node = child;
        }
        if node.children.contains_key(last) {
            return Err(conflict(field.to_string()));
        }
        node.children.insert(
            last.clone(),
            ConflictNode {
                leaf: true,
                ..ConflictNode::default()
            },
        );
        Ok(())
    }
}

/// Refuses `$`-prefixed top-level field names in a document to be stored (MongoDB 5.0+
/// allows them below the top level).
pub(super) fn check_top_level_field_names(doc: &Document) -> Result<()> {
    if let Some(name) = doc.keys().find(|k| k.starts_with('$')) {
        return Err(Error::coded(
            DOLLAR_PREFIXED_FIELD_NAME,
            format!(
                "The dollar ($) prefixed field '{name}' in '{name}' is not allowed in the context \
                 of an update's replacement document. Consider using an aggregation pipeline with \
                 $replaceWith."
            ),
        ));
    }
    Ok(())
}

/// MongoDB's limit on nesting in stored documents (`BSONDepth::getMaxDepthForUserStorage`:
/// the default `maxBSONDepth` of 200 less 20 levels kept for the server's own wrapping).
const MAX_STORAGE_DEPTH: usize = 180;

/// The checks MongoDB's storage validation makes on an updated document: `_id` may not be
/// an array, regex or undefined, nor a document with `$`-prefixed fields, and nesting is
/// limited.
pub(super) fn check_stored_document(doc: &Document) -> Result<()> {
    match doc.get("_id") {
        Some(id @ (Bson::Array(_) | Bson::RegularExpression(_) | Bson::Undefined)) => {
            return Err(Error::coded(
                INVALID_ID_FIELD,
                format!("The '_id' value cannot be of type {}", ops::type_name(id)),
            ))
        }
        Some(Bson::Document(id)) => {
            if let Some(name) = id.keys().find(|k| k.starts_with('$')) {
                return Err(Error::coded(
                    DOLLAR_PREFIXED_FIELD_NAME,
                    format!(
                        "_id fields may not contain '$'-prefixed fields: The dollar ($) prefixed \
                         field '{name}' in '_id.{name}' is not valid for storage."
                    ),
                ));
            }
        }
        _ => {}
    }
    if doc.values().any(|v| depth_exceeds(v, 1)) {
        return Err(Error::coded(
            OVERFLOW,
            format!("Document exceeds maximum nesting depth of {MAX_STORAGE_DEPTH}"),
        ));
    }
    Ok(())
}

/// Whether a value at nesting `level` (top-level fields are level 1) has elements deeper than
/// the storage limit.
fn depth_exceeds(value: &Bson, level: usize) -> bool {
    if level > MAX_STORAGE_DEPTH {
        return true;
    }
    match value {
        Bson::Document(d) => d.values().any(|v| depth_exceeds(v, level + 1)),
        Bson::Array(a) => a.iter().any(|v| depth_exceeds(v, level + 1)),
        _ => false,
    }
}
