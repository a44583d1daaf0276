//! Walking, creating and removing concrete dotted paths (no `$` placeholders left) in the
//! document being updated, with MongoDB's rules: numeric components index arrays, missing
//! intermediate fields are created as documents, arrays are padded with nulls when a
//! component indexes past their end, and a scalar in the way is PathNotViable (28).

use bson::{Bson, Document};

use crate::error::{Error, Result};

/// MongoDB's PathNotViable error code.
pub const PATH_NOT_VIABLE: i32 = 28;
/// MongoDB's CannotBackfillArray error code.
const CANNOT_BACKFILL_ARRAY: i32 = 279;
/// MongoDB refuses to pad an array with more than this many nulls.
const MAX_PADDING: usize = 1_500_000;

/// A position in a document: the root document or a value inside it.
#[derive(Debug, Clone, Copy)]
pub enum Cursor<'a> {
    Root(&'a Document),
    Value(&'a Bson),
}

impl<'a> Cursor<'a> {
    /// The child named `part`: a field of a document, or an element of an array when `part`
    /// is a base-10 index.
    pub fn child(self, part: &str) -> Option<Cursor<'a>> {
        match self {
            Cursor::Root(d) | Cursor::Value(Bson::Document(d)) => d.get(part).map(Cursor::Value),
            Cursor::Value(Bson::Array(a)) => {
                array_index(part).and_then(|i| a.get(i)).map(Cursor::Value)
            }
            Cursor::Value(_) => None,
        }
    }

    pub fn value(self) -> Option<&'a Bson> {
        match self {
            Cursor::Root(_) => None,
            Cursor::Value(v) => Some(v),
        }
    }
}

/// Parses an array index component: ASCII digits only (no sign), as MongoDB's
/// `parseUnsignedBase10Integer`.
pub fn array_index(part: &str) -> Option<usize> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// The outcome of looking a path up.
pub enum Lookup<'a> {
    Found(&'a Bson),
    /// The first `depth` components exist; `parent` is where the walk stopped.
    Missing {
        depth: usize,
        parent: Cursor<'a>,
    },
}

pub fn lookup<'a>(doc: &'a Document, path: &[String]) -> Lookup<'a> {
    let mut cursor = Cursor::Root(doc);
    for (depth, part) in path.iter().enumerate() {
        match cursor.child(part) {
            Some(next) => cursor = next,
            None => {
                return Lookup::Missing {
                    depth,
                    parent: cursor,
                }
            }
        }
    }
    match cursor {
        Cursor::Value(v) => Lookup::Found(v),
        Cursor::Root(_) => Lookup::Missing {
            depth: 0,
            parent: cursor,
        },
    }
}

/// The existing value at `path`, for modification in place.
pub fn get_mut<'a>(doc: &'a mut Document, path: &[String]) -> Option<&'a mut Bson> {
    let (first, rest) = path.split_first()?;
    let mut current = doc.get_mut(first)?;
    for part in rest {
        current = match current {
            Bson::Document(d) => d.get_mut(part)?,
            Bson::Array(a) => a.get_mut(array_index(part)?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Sets `value` at `path`, creating what is missing. An existing field keeps its position; a
/// new field is appended to its document.
pub fn create(doc: &mut Document, path: &[String], value: Bson) -> Result<()> {
    let Some((first, rest)) = path.split_first() else {
        return Err(Error::coded(56, "An empty update path is not valid."));
    };
    if rest.is_empty() {
        doc.insert(first.clone(), value);
        return Ok(());
    }
    match doc.get_mut(first) {
        Some(child) => create_in(child, first, rest, value),
        None => {
            doc.insert(first.clone(), nested(rest, value));
            Ok(())
        }
    }
}

fn create_in(current: &mut Bson, name: &str, path: &[String], value: Bson) -> Result<()> {
    let Some((first, rest)) = path.split_first() else {
        *current = value;
        return Ok(());
    };
    match current {
        Bson::Document(d) => {
            if rest.is_empty() {
                d.insert(first.clone(), value);
                return Ok(());
            }
            match d.get_mut(first) {
                Some(child) => create_in(child, first, rest, value),
                None => {
                    d.insert(first.clone(), nested(rest, value));
                    Ok(())
                }
            }
        }
        Bson::Array(items) => {
            let Some(index) = array_index(first) else {
                return Err(cannot_create(first, name, current));
            };
            if let Some(child) = items.get_mut(index) {
                return create_in(child, first, rest, value);
            }
            let padding = index - items.len();
            if padding > MAX_PADDING {
                return Err(Error::coded(
                    CANNOT_BACKFILL_ARRAY,
                    format!("can't backfill more than {MAX_PADDING} elements"),
                ));
            }
            items.resize(index, Bson::Null);
            items.push(nested(rest, value));
            Ok(())
        }
        _ => Err(cannot_create(first, name, current)),
    }
}

fn cannot_create(field: &str, name: &str, element: &Bson) -> Error {
    Error::coded(
        PATH_NOT_VIABLE,
        format!("Cannot create field '{field}' in element {{{name}: {element}}}"),
    )
}

/// `{a: {b: value}}` for the path `a.b`: new path components are always documents.
pub fn nested(path: &[String], value: Bson) -> Bson {
    path.iter().rev().fold(value, |inner, part| {
        let mut d = Document::new();
        d.insert(part.clone(), inner);
        Bson::Document(d)
    })
}

/// Removes the value at `path` as `$unset` does: a field is removed from its document; an
/// array element becomes null (the array keeps its length). Missing paths are left alone.
pub fn remove(doc: &mut Document, path: &[String]) -> bool {
    let Some((last, parent_path)) = path.split_last() else {
        return false;
    };
    if parent_path.is_empty() {
        return doc.remove(last).is_some();
    }
    match get_mut(doc, parent_path) {
        Some(Bson::Document(d)) => d.remove(last).is_some(),
        Some(Bson::Array(a)) => match array_index(last).and_then(|i| a.get_mut(i)) {
            Some(slot) => {
                *slot = Bson::Null;
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// MongoDB's check for modifiers that do nothing on a missing path ($pop, $pull, ...) but
/// still refuse a path that could not be created: the walk must have stopped at a document,
/// or at an array with an index next.
pub fn check_viability(parent: Cursor, path: &[String], depth: usize) -> Result<()> {
    let next = path.get(depth).map(String::as_str).unwrap_or("");
    let viable = match parent {
        Cursor::Root(_) | Cursor::Value(Bson::Document(_)) => true,
        Cursor::Value(Bson::Array(_)) => array_index(next).is_some(),
        Cursor::Value(_) => false,
    };
    if viable {
        return Ok(());
    }
    let taken = path.get(..depth).unwrap_or_default().join(".");
    let element = parent.value().map(|v| v.to_string()).unwrap_or_default();
    let name = path
        .get(depth.wrapping_sub(1))
        .map(String::as_str)
        .unwrap_or("");
    Err(Error::coded(
        PATH_NOT_VIABLE,
        format!(
            "Cannot use the part ({next}) of ({}) to traverse the element ({{{name}: {element}}})",
            if taken.is_empty() {
                path.join(".")
            } else {
                format!(
                    "{taken}.{}",
                    path.get(depth..).unwrap_or_default().join(".")
                )
            }
        ),
    ))
}
