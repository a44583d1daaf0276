//! Small document helpers the stages share: dotted-path reads and writes with the aggregation
//! rules (no implicit array traversal), the array-traversing read `$lookup` needs, value
//! ordering for maps, and a BSON size estimate for the memory limit of blocking stages.

use std::cmp::Ordering;

use bson::{Bson, Document};

use crate::error::{Error, Result};

/// Validates a field path as MongoDB's `FieldPath` does (no empty components, no leading `$`).
pub(crate) fn validate_field_path(path: &str) -> Result<()> {
    crate::value::path::check_path_length(path)?;
    if path.is_empty() {
        return Err(Error::coded(
            40352,
            "FieldPath cannot be constructed with empty string",
        ));
    }
    if path.ends_with('.') {
        return Err(Error::coded(40353, "FieldPath must not end with a '.'."));
    }
    for part in path.split('.') {
        if part.is_empty() {
            return Err(Error::coded(
                15998,
                "FieldPath field names may not be empty strings.",
            ));
        }
        if part.starts_with('$') {
            return Err(Error::coded(
                16410,
                "FieldPath field names may not start with '$'. Consider using $getField or \
                 $setField.",
            ));
        }
    }
    Ok(())
}

/// The value at `path` (`a.b.c`), descending only through documents, as aggregation's
/// `getNestedField` does: an array on the way makes the value missing.
pub(crate) fn get_path<'d>(doc: &'d Document, path: &str) -> Option<&'d Bson> {
    let mut parts = path.split('.');
    let first = parts.next()?;
    let mut current = doc.get(first)?;
    for part in parts {
        match current {
            Bson::Document(d) => current = d.get(part)?,
            _ => return None,
        }
    }
    Some(current)
}

/// Sets `path` in `doc`, creating (or replacing non-document values by) documents on the way.
pub(crate) fn set_path(doc: &mut Document, path: &str, value: Bson) {
    match path.split_once('.') {
        None => {
            doc.insert(path, value);
        }
        Some((head, rest)) => {
            if !matches!(doc.get(head), Some(Bson::Document(_))) {
                doc.insert(head, Document::new());
            }
            if let Some(Bson::Document(child)) = doc.get_mut(head) {
                set_path(child, rest, value);
            }
        }
    }
}

/// Removes `path` from `doc` if present (descending through documents only).
pub(crate) fn remove_path(doc: &mut Document, path: &str) {
    match path.split_once('.') {
        None => {
            doc.remove(path);
        }
        Some((head, rest)) => {
            if let Some(Bson::Document(child)) = doc.get_mut(head) {
                remove_path(child, rest);
            }
        }
    }
}

/// All values reachable at `path`, traversing arrays the way query predicates do: an array
/// on the way contributes each of its document elements, and an array at the end contributes
/// itself and each of its elements. Used by `$lookup`'s equality match.
pub(crate) fn values_along_path(doc: &Document, path: &str, out: &mut Vec<Bson>) {
    let parts: Vec<&str> = path.split('.').collect();
    if let Some((first, rest)) = parts.split_first() {
        if let Some(v) = doc.get(*first) {
            collect_values(v, rest, out);
        }
    }
}

fn collect_values(value: &Bson, parts: &[&str], out: &mut Vec<Bson>) {
    let Some((first, rest)) = parts.split_first() else {
        out.push(value.clone());
        if let Bson::Array(items) = value {
            out.extend(items.iter().cloned());
        }
        return;
    };
    match value {
        Bson::Document(d) => {
            if let Some(v) = d.get(*first) {
                collect_values(v, rest, out);
            }
        }
        Bson::Array(items) => {
            // A numeric component indexes the array; otherwise descend into each element.
            if let Ok(index) = first.parse::<usize>() {
                if let Some(v) = items.get(index) {
                    collect_values(v, rest, out);
                }
            }
            for item in items {
                if let Bson::Document(_) = item {
                    collect_values(item, parts, out);
                }
            }
        }
        _ => {}
    }
}

/// A BSON value ordered by MongoDB's comparison under a collation (`None`: simple), so that
/// values can key ordered maps (`$group` keys, `$addToSet` members). Every key of one map
/// carries the same collation.
#[derive(Debug, Clone)]
pub(crate) struct OrderedBson(
    pub Bson,
    pub Option<std::sync::Arc<crate::value::Collation>>,
);

impl PartialEq for OrderedBson {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for OrderedBson {}

impl PartialOrd for OrderedBson {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedBson {
    fn cmp(&self, other: &Self) -> Ordering {
        crate::value::compare_with(&self.0, &other.0, self.1.as_deref())
    }
}

/// BSON sizes, computed without serializing: blocking stages add these up to enforce MongoDB's
/// 100 MB limit.
pub(crate) use crate::value::size::{document_size, value_size as bson_size};

/// MongoDB's name of a value's type, for error messages.
pub(crate) use crate::value::compare::type_name;

/// An integral number as i64 (doubles and decimals must be integral), for stage arguments.
pub(crate) fn integral_i64(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(d) => {
            if d.fract() == 0.0 && d.abs() < 9.2e18 {
                // Integral and within range: exact.
                Some(*d as i64)
            } else {
                None
            }
        }
        Bson::Decimal128(d) => {
            let s = d.to_string();
            let f: f64 = s.parse().ok()?;
            if f.fract() == 0.0 && f.abs() < 9.2e18 {
                Some(f as i64)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Whether a value is one of the four numeric types.
pub(crate) fn is_number(value: &Bson) -> bool {
    matches!(
        value,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_)
    )
}
