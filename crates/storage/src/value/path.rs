//! Dotted paths (`a.b.0.c`) and MongoDB's rules for walking them through documents and arrays.
//!
//! Two walks live here. [`get_path`] follows a path literally (numeric components index
//! arrays, arrays are never fanned out), as `$` field paths and updates do. [`index_key_values`]
//! computes what a (multikey) index on a path stores for a document, fanning out through
//! arrays as MongoDB's key generator does. The filter matcher has its own walk (implicit array
//! traversal with element positions) in `query::filter`.

use bson::{Bson, Document};

use super::compare::equal;
use crate::error::{Error, Result};

/// The most components a field path may have: MongoDB's `FieldPath` refuses paths longer than
/// the BSON nesting limit (200) with Overflow (15), "FieldPath is too long". Every parser of
/// paths (filters, projections, sorts, updates, aggregation) checks this before splitting, so
/// the walks over a path's components stay short whatever a client sends.
pub const MAX_PATH_COMPONENTS: usize = 200;

/// MongoDB's Overflow error code.
const OVERFLOW: i32 = 15;

/// Refuses a dotted path with more than [`MAX_PATH_COMPONENTS`] components, counting dots
/// without allocating.
pub fn check_path_length(path: &str) -> Result<()> {
    let dots = path.bytes().filter(|b| *b == b'.').count();
    if dots >= MAX_PATH_COMPONENTS {
        return Err(Error::coded(OVERFLOW, "FieldPath is too long"));
    }
    Ok(())
}

/// The value at a dotted path, walking documents by field name and arrays by numeric index
/// (`a.0.b`). No fan-out: `a.b` on `{a: [{b: 1}]}` is `None`.
pub fn get_path<'a>(doc: &'a Document, path: &str) -> Option<&'a Bson> {
    let mut components = path.split('.');
    let first = components.next()?;
    let mut current = doc.get(first)?;
    for component in components {
        current = match current {
            Bson::Document(d) => d.get(component)?,
            Bson::Array(items) => items.get(parse_array_index(component)?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// A path component as an array index: digits only (MongoDB does not accept `+1` or ` 1`).
pub fn parse_array_index(component: &str) -> Option<usize> {
    if component.is_empty() || !component.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    component.parse().ok()
}

/// The values an index on `path` stores for `doc`, as MongoDB's key generator computes them:
///
/// - a missing field (anywhere along the path) gives `null`;
/// - an array at the end of the path gives each element (an element that is itself an array is
///   stored whole: only one level is unwound); an empty array gives `undefined`;
/// - an array in the middle of the path is fanned out: each document element is walked for the
///   rest of the path, every other element (scalars, nested arrays) gives `null`; an empty array
///   there gives `null`;
/// - a numeric component on an array picks that element (`a.0.b`) when it exists, without
///   fanning out; otherwise the array is fanned out and the component is a field name.
///
/// Duplicates (by `compare`) are stored once. Never empty.
pub fn index_key_values(doc: &Document, path: &str) -> Vec<Bson> {
    let components: Vec<&str> = path.split('.').collect();
    let mut walk = KeyWalk::default();
    walk.document(doc, &components);
    if walk.keys.is_empty() {
        walk.keys.push(Bson::Null);
    }
    walk.keys
}

/// Whether an index on `path` is multikey for `doc`: some array along the path is fanned out
/// (including an empty array, as MongoDB records it).
pub fn is_multikey_for(doc: &Document, path: &str) -> bool {
    let components: Vec<&str> = path.split('.').collect();
    let mut walk = KeyWalk::default();
    walk.document(doc, &components);
    walk.multikey
}

#[derive(Default)]
struct KeyWalk {
    keys: Vec<Bson>,
    multikey: bool,
}

impl KeyWalk {
    fn push(&mut self, key: Bson) {
        if !self.keys.iter().any(|k| equal(k, &key)) {
            self.keys.push(key);
        }
    }

    fn document(&mut self, doc: &Document, components: &[&str]) {
        let Some((first, rest)) = components.split_first() else {
            return;
        };
        match doc.get(*first) {
            None => self.push(Bson::Null),
            Some(value) => self.value(value, rest),
        }
    }

    /// Walks `value`, reached by a field name (or a positional index), for `rest`.
    fn value(&mut self, value: &Bson, rest: &[&str]) {
        match value {
            Bson::Array(items) if rest.is_empty() => {
                self.multikey = true;
                if items.is_empty() {
                    self.push(Bson::Undefined);
                }
                for item in items {
                    self.push(item.clone());
                }
            }
            _ if rest.is_empty() => self.push(value.clone()),
            Bson::Document(d) => self.document(d, rest),
            Bson::Array(items) => {
                let positional = rest
                    .first()
                    .and_then(|c| parse_array_index(c))
                    .and_then(|i| items.get(i));
                if let Some(element) = positional {
                    self.value(element, rest.get(1..).unwrap_or_default());
                    return;
                }
                self.multikey = true;
                if items.is_empty() {
                    self.push(Bson::Null);
                }
                for item in items {
                    match item {
                        Bson::Document(d) => self.document(d, rest),
                        _ => self.push(Bson::Null),
                    }
                }
            }
            // A scalar in the middle of the path: the rest is missing.
            _ => self.push(Bson::Null),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{bson, doc};

    fn check_get(doc: Document, path: &str, expected: Option<Bson>) {
        assert_eq!(get_path(&doc, path).cloned(), expected, "{doc} {path}");
    }

    #[test]
    fn path_length_limit() {
        let path = |n: usize| vec!["a"; n].join(".");
        assert!(check_path_length(&path(1)).is_ok());
        assert!(check_path_length(&path(MAX_PATH_COMPONENTS)).is_ok());
        let err = check_path_length(&path(MAX_PATH_COMPONENTS + 1)).unwrap_err();
        assert_eq!(
            (err.code(), err.to_string().as_str()),
            (15, "FieldPath is too long")
        );
        assert!(check_path_length(&path(60_000)).is_err());
        // Empty components count as components.
        assert!(check_path_length(&".".repeat(MAX_PATH_COMPONENTS)).is_err());
    }

    #[test]
    fn get_path_table() {
        check_get(doc! {"a": 1}, "a", Some(bson!(1)));
        check_get(doc! {"a": {"b": {"c": 2}}}, "a.b.c", Some(bson!(2)));
        check_get(doc! {"a": {"b": {"c": 2}}}, "a.b", Some(bson!({"c": 2})));
        check_get(doc! {"a": [10, 20]}, "a.1", Some(bson!(20)));
        check_get(doc! {"a": [10, 20]}, "a.2", None);
        check_get(doc! {"a": [{"b": 1}, {"b": 2}]}, "a.1.b", Some(bson!(2)));
        check_get(doc! {"a": [{"b": 1}]}, "a.b", None);
        check_get(doc! {"a": {"0": "x"}}, "a.0", Some(bson!("x")));
        check_get(doc! {"a": 1}, "a.b", None);
        check_get(doc! {"a": [1]}, "a.+0", None);
        check_get(doc! {"a": [1]}, "a.-1", None);
        check_get(doc! {}, "a", None);
        check_get(doc! {"a": null}, "a", Some(Bson::Null));
        check_get(doc! {"": 1}, "", Some(bson!(1)));
    }

    fn check_keys(doc: Document, path: &str, expected: Vec<Bson>, multikey: bool) {
        let keys = index_key_values(&doc, path);
        assert_eq!(keys.len(), expected.len(), "{doc} {path}: {keys:?}");
        for (k, e) in keys.iter().zip(expected.iter()) {
            assert!(
                equal(k, e) && crate::value::type_rank(k) == crate::value::type_rank(e),
                "{doc} {path}: {keys:?} != {expected:?}"
            );
        }
        assert_eq!(
            is_multikey_for(&doc, path),
            multikey,
            "{doc} {path} multikey"
        );
    }

    #[test]
    fn index_keys_table() {
        check_keys(doc! {"a": 1}, "a", vec![bson!(1)], false);
        check_keys(doc! {}, "a", vec![Bson::Null], false);
        check_keys(doc! {"a": null}, "a", vec![Bson::Null], false);
        check_keys(doc! {"a": [1, 2, 2]}, "a", vec![bson!(1), bson!(2)], true);
        check_keys(doc! {"a": [1, 1.0]}, "a", vec![bson!(1)], true);
        check_keys(doc! {"a": []}, "a", vec![Bson::Undefined], true);
        check_keys(
            doc! {"a": [[1, 2], 3]},
            "a",
            vec![bson!([1, 2]), bson!(3)],
            true,
        );
        check_keys(doc! {"a": {"b": 5}}, "a.b", vec![bson!(5)], false);
        check_keys(doc! {"a": {"b": 5}}, "a", vec![bson!({"b": 5})], false);
        check_keys(doc! {"a": 5}, "a.b", vec![Bson::Null], false);
        check_keys(
            doc! {"a": [{"b": 1}, {"b": 2}]},
            "a.b",
            vec![bson!(1), bson!(2)],
            true,
        );
        check_keys(
            doc! {"a": [{"b": 1}, {"c": 2}]},
            "a.b",
            vec![bson!(1), Bson::Null],
            true,
        );
        check_keys(
            doc! {"a": [{}, {"b": 1}]},
            "a.b",
            vec![Bson::Null, bson!(1)],
            true,
        );
        check_keys(
            doc! {"a": [1, {"b": 2}]},
            "a.b",
            vec![Bson::Null, bson!(2)],
            true,
        );
        check_keys(doc! {"a": []}, "a.b", vec![Bson::Null], true);
        check_keys(
            doc! {"a": [{"b": [1, 2]}, {"b": 3}]},
            "a.b",
            vec![bson!(1), bson!(2), bson!(3)],
            true,
        );
        check_keys(doc! {"a": [{"b": []}]}, "a.b", vec![Bson::Undefined], true);
        check_keys(doc! {"a": [[{"b": 1}]]}, "a.b", vec![Bson::Null], true);
        check_keys(
            doc! {"a": {"b": {"c": [4, 5]}}},
            "a.b.c",
            vec![bson!(4), bson!(5)],
            true,
        );
        check_keys(
            doc! {"a": [{"b": 1}, {"b": 2}]},
            "a.0.b",
            vec![bson!(1)],
            false,
        );
        check_keys(doc! {"a": [10, 20]}, "a.1", vec![bson!(20)], false);
        check_keys(doc! {"a": [{"0": 7}]}, "a.3", vec![Bson::Null], true);
        check_keys(doc! {"a": [{"3": 7}]}, "a.3", vec![bson!(7)], true);
        check_keys(doc! {"a": {"0": 9}}, "a.0", vec![bson!(9)], false);
        check_keys(
            doc! {"a": [{"b": {"c": 1}}, {"b": [{"c": 2}, {"c": 3}]}]},
            "a.b.c",
            vec![bson!(1), bson!(2), bson!(3)],
            true,
        );
    }
}
