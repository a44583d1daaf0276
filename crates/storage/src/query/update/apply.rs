//! Applying a parsed update to one document: a replacement or a pipeline's result keeps the
//! original `_id`; operator updates have their placeholders (`$`, `$[]`, `$[<id>]`) expanded
//! against the original document into concrete paths, applied in MongoDB's tree order, with
//! `$rename` moving a value from one path to another.

use std::collections::BTreeMap;

use bson::{Bson, Document};

use super::check::{check_stored_document, check_top_level_field_names};
use super::ops::Modifier;
use super::path::{self, Cursor, Lookup};
use super::{Operation, Part, UpdateContext};
use crate::error::{Error, Result};
use crate::query::Filter;
use crate::value::equal;

/// A replacement (or a pipeline's result) keeps the original `_id`: it may repeat it, omit it
/// (it is restored, first), but not change it.
pub(super) fn finish_replacement(original: &Document, replacement: Document) -> Result<Document> {
    let original_id = original.get("_id");
    let id = match (original_id, replacement.get("_id")) {
        (Some(old), Some(new)) if !equal(old, new) => {
            return Err(Error::ImmutableField(format!(
                "After applying the update, the (immutable) field '_id' was found to have been \
                 altered to _id: {new}"
            )))
        }
        (Some(old), _) => Some(old.clone()),
        (None, new) => new.cloned(),
    };
    let mut out = Document::new();
    if let Some(id) = id {
        out.insert("_id", id);
    }
    for (k, v) in replacement {
        if k != "_id" {
            out.insert(k, v);
        }
    }
    check_stored_document(&out)?;
    Ok(out)
}

/// One sort component of a concrete path, in MongoDB's tree order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SortPart {
    Field(String),
    /// An element chosen by `$[]`/`$[<id>]`: by index, then by identifier.
    Element(usize, String),
}

/// One operation at one concrete path.
struct Planned<'a> {
    path: Vec<String>,
    order: Vec<SortPart>,
    operation: &'a Operation,
}

pub(super) fn apply_operators(
    doc: &Document,
    operations: &[Operation],
    array_filters: &BTreeMap<String, Filter>,
    ctx: &UpdateContext,
    collation: Option<&crate::value::Collation>,
) -> Result<Document> {
    let mut planned = Vec::new();
    for operation in operations {
        if matches!(operation.modifier, Modifier::SetOnInsert(_)) && !ctx.is_insert {
            continue;
        }
        let mut expansions = Vec::new();
        expand(
            &operation.parts,
            Some(Cursor::Root(doc)),
            &mut Vec::new(),
            &mut Vec::new(),
            &mut expansions,
            ctx,
            array_filters,
        )?;
        for (path, order) in expansions {
            planned.push(Planned {
                path,
                order,
                operation,
            });
        }
    }
    planned.sort_by(|a, b| a.order.cmp(&b.order));

    // Placeholders can make two operations land on one path, or one inside the other. In
    // component-wise order a path is followed by the paths it is a prefix of.
    let mut concrete: Vec<&Vec<String>> = planned.iter().map(|p| &p.path).collect();
    concrete.sort();
    for pair in concrete.windows(2) {
        if let [a, b] = pair {
            if b.starts_with(a) {
                return Err(Error::ConflictingUpdateOperators(format!(
                    "Update created a conflict at '{}'",
                    a.join(".")
                )));
            }
        }
    }

    let now = bson::DateTime::now();
    let original_id = doc.get("_id");
    let mut out = doc.clone();
    for step in &planned {
        apply_one(&mut out, step, now, collation)?;
        let touches_id = step.path.first().is_some_and(|p| p == "_id")
            || matches!(&step.operation.modifier, Modifier::Rename { from } if from.first().is_some_and(|p| p == "_id"));
        if touches_id {
            if let Some(old) = original_id {
                if !out.get("_id").is_some_and(|new| equal(old, new)) {
                    return Err(Error::ImmutableField(format!(
                        "Performing an update on the path '{}' would modify the immutable \
                         field '_id'",
                        step.path.join(".")
                    )));
                }
            }
        }
    }

    check_top_level_field_names(&out)?;
    // `_id` stays (or, for an upsert that set it, becomes) the first field.
    if let Some(id) = out.remove("_id") {
        let mut reordered = Document::new();
        reordered.insert("_id", id);
        reordered.extend(out);
        out = reordered;
    }
    check_stored_document(&out)?;
    Ok(out)
}

/// Expands placeholders against the original document into concrete paths with their sort
/// keys.
fn expand(
    parts: &[Part],
    cursor: Option<Cursor>,
    prefix: &mut Vec<String>,
    order: &mut Vec<SortPart>,
    out: &mut Vec<(Vec<String>, Vec<SortPart>)>,
    ctx: &UpdateContext,
    array_filters: &BTreeMap<String, Filter>,
) -> Result<()> {
    let Some((part, rest)) = parts.split_first() else {
        out.push((prefix.clone(), order.clone()));
        return Ok(());
    };
    let field = match part {
        Part::Field(f) => Some(f.clone()),
        Part::Positional => Some(
            ctx.array_index
                .ok_or_else(|| {
                    Error::BadValue(
                        "The positional operator did not find the match needed from the query."
                            .into(),
                    )
                })?
                .to_string(),
        ),
        Part::AllElements | Part::Filtered(_) => None,
    };
    if let Some(field) = field {
        let next = cursor.and_then(|c| c.child(&field));
        prefix.push(field.clone());
        order.push(SortPart::Field(field));
        expand(rest, next, prefix, order, out, ctx, array_filters)?;
        prefix.pop();
        order.pop();
        return Ok(());
    }

    let items = match cursor {
        Some(Cursor::Value(Bson::Array(items))) => items,
        Some(Cursor::Value(other)) => {
            return Err(Error::BadValue(format!(
                "Cannot apply array updates to non-array element {}: {other}",
                prefix.last().map(String::as_str).unwrap_or("")
            )))
        }
        _ => {
            return Err(Error::BadValue(format!(
                "The path '{}' must exist in the document in order to apply array updates.",
                prefix.join(".")
            )))
        }
    };
    let identifier = match part {
        Part::Filtered(id) => id.clone(),
        _ => String::new(),
    };
    for (index, element) in items.iter().enumerate() {
        // An array filter names the element by its identifier (`{"x.grade": {$gte: 85}}`),
        // so the element is matched as the document `{x: element}`, as MongoDB does.
        let selected = match part {
            Part::Filtered(id) => {
                let mut wrapped = Document::new();
                wrapped.insert(id.clone(), element.clone());
                array_filters.get(id).is_some_and(|f| f.matches(&wrapped))
            }
            _ => true,
        };
        if !selected {
            continue;
        }
        prefix.push(index.to_string());
        order.push(SortPart::Element(index, identifier.clone()));
        expand(
            rest,
            Some(Cursor::Value(element)),
            prefix,
            order,
            out,
            ctx,
            array_filters,
        )?;
        prefix.pop();
        order.pop();
    }
    Ok(())
}

/// What one operation does to the document.
enum Action {
    Replace(Bson),
    Create(Bson),
    Nothing,
}

fn apply_one(
    doc: &mut Document,
    step: &Planned,
    now: bson::DateTime,
    collation: Option<&crate::value::Collation>,
) -> Result<()> {
    let path = &step.path;
    let modifier = &step.operation.modifier;
    match modifier {
        Modifier::Unset => {
            path::remove(doc, path);
            return Ok(());
        }
        Modifier::Rename { from } => return apply_rename(doc, from, path),
        _ => {}
    }
    let dotted = path.join(".");
    let action = match path::lookup(doc, path) {
        Lookup::Found(existing) => {
            match modifier.modify_existing(existing, &dotted, doc.get("_id"), now, collation)? {
                Some(v) => Action::Replace(v),
                None => Action::Nothing,
            }
        }
        Lookup::Missing { depth, parent } => {
            if modifier.creates_missing_path() {
                Action::Create(modifier.value_for_missing(now, collation)?)
            } else {
                path::check_viability(parent, path, depth)?;
                Action::Nothing
            }
        }
    };
    match action {
        Action::Replace(v) => match path::get_mut(doc, path) {
            Some(slot) => *slot = v,
            None => path::create(doc, path, v)?,
        },
        Action::Create(v) => path::create(doc, path, v)?,
        Action::Nothing => {}
    }
    Ok(())
}

/// `$rename`: a `$set` of the source's value at the destination, then an `$unset` of the
/// source. Neither path may go through an array.
fn apply_rename(doc: &mut Document, from: &[String], to: &[String]) -> Result<()> {
    let id_text = || match doc.get("_id") {
        Some(v) => format!("_id: {v}"),
        None => "no id".to_string(),
    };
    let value = match path::lookup(doc, from) {
        Lookup::Found(v) => v.clone(),
        Lookup::Missing { depth, parent } => {
            // A missing source is a no-op, unless the walk was stopped by a scalar or by an
            // array asked for a field name (PathNotViable, as MongoDB's findLongestPrefix).
            path::check_viability(parent, from, depth)?;
            return Ok(());
        }
    };
    if let Some(array_field) = first_array_on_path(doc, from) {
        return Err(Error::BadValue(format!(
            "The source field cannot be an array element, '{}' in doc with {} has an array \
             field called '{array_field}'",
            from.join("."),
            id_text()
        )));
    }
    if let Some(array_field) = first_array_on_path(doc, to) {
        return Err(Error::BadValue(format!(
            "The destination field cannot be an array element, '{}' in doc with {} has an \
             array field called '{array_field}'",
            to.join("."),
            id_text()
        )));
    }
    match path::get_mut(doc, to) {
        Some(slot) => *slot = value,
        None => path::create(doc, to, value)?,
    }
    path::remove(doc, from);
    Ok(())
}

/// The name of the first array met while walking the proper prefixes of `path`.
fn first_array_on_path(doc: &Document, path: &[String]) -> Option<String> {
    let mut cursor = Cursor::Root(doc);
    for part in path.iter().take(path.len().saturating_sub(1)) {
        cursor = cursor.child(part)?;
        if let Cursor::Value(Bson::Array(_)) = cursor {
            return Some(part.clone());
        }
    }
    None
}
