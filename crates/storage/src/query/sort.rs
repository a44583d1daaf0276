//! Sort specifications (`{a: 1, b: -1}`) and MongoDB's ordering of documents by them.
//!
//! Each field's sort key is taken from the values an index on that path would store for the
//! document (`value::path::index_key_values`): a missing field sorts as null, an empty array as
//! `undefined` (below null), and an array by its smallest element when ascending and its
//! largest when descending, also through dotted paths into arrays of documents.
//!
//! `{$natural: 1}` and `{$natural: -1}` are accepted and mean insertion order (forwards or
//! backwards); the engine asks [`SortSpec::natural_order`] and does not call [`SortSpec::compare`].

use std::cmp::Ordering;

use bson::{Bson, Document};

use crate::error::{Error, Result};
use crate::value::compare::Number;
use crate::value::path::index_key_values;

#[derive(Debug, Clone)]
pub struct SortSpec {
    fields: Vec<SortField>,
    /// `Some(ascending)` for `{$natural: ±1}`.
    natural: Option<bool>,
    /// The collation strings sort by (`None`: simple, binary).
    collation: Option<std::sync::Arc<crate::value::Collation>>,
}

#[derive(Debug, Clone)]
struct SortField {
    path: String,
    ascending: bool,
}

impl SortSpec {
    /// Parses a sort specification. An empty one is valid (no sort, as `find` accepts it); the
    /// `$sort` stage must refuse it itself (code 15976) using [`SortSpec::is_empty`].
    pub fn parse(spec: &Document) -> Result<SortSpec> {
        let mut fields = Vec::new();
        let mut natural = None;
        for (key, value) in spec {
            let ascending = parse_direction(key, value)?;
            if key == "$natural" {
                natural = Some(ascending);
                continue;
            }
            crate::value::path::check_path_length(key)?;
            validate_field_path(key)?;
            fields.push(SortField {
                path: key.clone(),
                ascending,
            });
        }
        if natural.is_some() && !fields.is_empty() {
            return Err(Error::BadValue(
                "$natural sort cannot be combined with other sort fields".into(),
            ));
        }
        Ok(SortSpec {
            fields,
            natural,
            collation: None,
        })
    }

    /// True for an empty specification (`{}`).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.natural.is_none()
    }

    /// True for `{$natural: 1}` or `{$natural: -1}`.
    pub fn is_natural(&self) -> bool {
        self.natural.is_some()
    }

    /// For `{$natural: ±1}`: `Some(true)` forwards (insertion order), `Some(false)` backwards.
    pub fn natural_order(&self) -> Option<bool> {
        self.natural
    }

    /// The sort fields as `(path, ascending)`.
    pub fn fields(&self) -> impl Iterator<Item = (&str, bool)> {
        self.fields.iter().map(|f| (f.path.as_str(), f.ascending))
    }

    /// The document's sort key: one value per field (the smallest of the path's values when
    /// ascending, the largest when descending). Compute once per document, compare with
    /// [`SortSpec::compare_keys`].
    pub fn sort_key(&self, doc: &Document) -> Vec<Bson> {
        self.sort_key_under(doc, self.collation.as_deref())
    }

    /// [`SortSpec::sort_key`] under `collation` instead of the spec's own.
    pub fn sort_key_under(
        &self,
        doc: &Document,
        collation: Option<&crate::value::Collation>,
    ) -> Vec<Bson> {
        self.fields
            .iter()
            .map(|field| {
                let values = index_key_values(doc, &field.path);
                let chosen = if field.ascending {
                    values
                        .into_iter()
                        .min_by(|a, b| crate::value::compare_with(a, b, collation))
                } else {
                    values
                        .into_iter()
                        .max_by(|a, b| crate::value::compare_with(a, b, collation))
                };
                chosen.unwrap_or(Bson::Null)
            })
            .collect()
    }

    /// The same sort with strings compared under `collation` (`None`: simple).
    pub fn with_collation(
        mut self,
        collation: Option<std::sync::Arc<crate::value::Collation>>,
    ) -> SortSpec {
        self.collation = collation;
        self
    }

    /// Compares two sort keys from [`SortSpec::sort_key`].
    pub fn compare_keys(&self, a: &[Bson], b: &[Bson]) -> Ordering {
        self.compare_keys_under(a, b, self.collation.as_deref())
    }

    /// [`SortSpec::compare_keys`] under `collation` instead of the spec's own.
    pub fn compare_keys_under(
        &self,
        a: &[Bson],
        b: &[Bson],
        collation: Option<&crate::value::Collation>,
    ) -> Ordering {
        for ((field, x), y) in self.fields.iter().zip(a).zip(b) {
            let ordering = crate::value::compare_with(x, y, collation);
            if ordering != Ordering::Equal {
                return if field.ascending {
                    ordering
                } else {
                    ordering.reverse()
                };
            }
        }
        Ordering::Equal
    }

    /// Compares two documents (computing both keys; prefer `sort_key` + `compare_keys` when
    /// sorting many documents).
    pub fn compare(&self, a: &Document, b: &Document) -> Ordering {
        self.compare_keys(&self.sort_key(a), &self.sort_key(b))
    }

    /// [`SortSpec::compare`] under `collation` instead of the spec's own (sorts parsed before
    /// the operation's collation is known: `$topN`, `$setWindowFields`).
    pub fn compare_under(
        &self,
        a: &Document,
        b: &Document,
        collation: Option<&crate::value::Collation>,
    ) -> Ordering {
        self.compare_keys_under(
            &self.sort_key_under(a, collation),
            &self.sort_key_under(b, collation),
            collation,
        )
    }
}

/// A direction value: a number that truncates to 1 or -1 (MongoDB reads it with
/// `numberInt()`, so `1.5` is ascending).
fn parse_direction(key: &str, value: &Bson) -> Result<bool> {
    let number = match value {
        Bson::Int32(i) => i64::from(*i),
        Bson::Int64(i) => *i,
        Bson::Double(_) | Bson::Decimal128(_) => {
            let d = Number::of(value).map_or(f64::NAN, |n| n.to_f64());
            if d.is_finite() {
                // Saturating truncation; only 1 and -1 are accepted below.
                d.trunc() as i64
            } else {
                0
            }
        }
        Bson::Document(d) if d.contains_key("$meta") => {
            return Err(Error::NotSupported(format!(
                "sorting by {{$meta: ...}} ({key}: {value}) is not supported"
            )))
        }
        _ => {
            return Err(Error::coded(
                15974,
                format!("Illegal key in $sort specification: {key}: {value}"),
            ))
        }
    };
    match number {
        1 => Ok(true),
        -1 => Ok(false),
        _ => Err(Error::coded(
            15975,
            "$sort key ordering must be 1 (for ascending) or -1 (for descending)",
        )),
    }
}

/// MongoDB's FieldPath rules for sort keys.
fn validate_field_path(path: &str) -> Result<()> {
    if path.is_empty() {
        return Err(Error::coded(
            40352,
            "FieldPath cannot be constructed with empty string",
        ));
    }
    for component in path.split('.') {
        if component.is_empty() {
            return Err(Error::coded(
                15998,
                "FieldPath field names may not be empty strings.",
            ));
        }
        if component.starts_with('$') {
            return Err(Error::coded(
                16410,
                "FieldPath field names may not start with '$'. Consider using $getField or $setField.",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    /// Sorts `docs` by `spec` and checks the order of their `_id`s.
    fn check(spec: Document, docs: Vec<Document>, expected_ids: &[i32]) {
        let sort = SortSpec::parse(&spec).expect("sort parses");
        let mut keyed: Vec<(Vec<Bson>, Document)> =
            docs.into_iter().map(|d| (sort.sort_key(&d), d)).collect();
        keyed.sort_by(|a, b| sort.compare_keys(&a.0, &b.0));
        let ids: Vec<i32> = keyed
            .iter()
            .map(|(_, d)| d.get_i32("_id").unwrap_or(-1))
            .collect();
        assert_eq!(ids, expected_ids, "{spec}");
    }

    #[test]
    #[rustfmt::skip]
    fn sorting() {
        check(doc! {"a": 1}, vec![doc! {"_id": 1, "a": 3}, doc! {"_id": 2, "a": 1}, doc! {"_id": 3, "a": 2}], &[2, 3, 1]);
        check(doc! {"a": -1}, vec![doc! {"_id": 1, "a": 3}, doc! {"_id": 2, "a": 1}, doc! {"_id": 3, "a": 2}], &[1, 3, 2]);
        check(doc! {"a": 1.0}, vec![doc! {"_id": 1, "a": 2}, doc! {"_id": 2, "a": 1}], &[2, 1]);
        check(doc! {"a": Bson::Int64(-1)}, vec![doc! {"_id": 1, "a": 1}, doc! {"_id": 2, "a": 2}], &[2, 1]);
        // Missing sorts as null, before numbers; null and missing tie (stable order kept).
        check(doc! {"a": 1}, vec![doc! {"_id": 1, "a": 1}, doc! {"_id": 2}, doc! {"_id": 3, "a": Bson::Null}], &[2, 3, 1]);
        // Type order: numbers, strings, objects, arrays' elements...
        check(doc! {"a": 1}, vec![doc! {"_id": 1, "a": "x"}, doc! {"_id": 2, "a": {"b": 1}}, doc! {"_id": 3, "a": 5}, doc! {"_id": 4, "a": true}], &[3, 1, 2, 4]);
        // Arrays: smallest element ascending, largest descending.
        check(doc! {"a": 1}, vec![doc! {"_id": 1, "a": [5, 1]}, doc! {"_id": 2, "a": 3}, doc! {"_id": 3, "a": [2, 9]}], &[1, 3, 2]);
        check(doc! {"a": -1}, vec![doc! {"_id": 1, "a": [5, 1]}, doc! {"_id": 2, "a": 3}, doc! {"_id": 3, "a": [2, 9]}], &[3, 1, 2]);
        // An empty array sorts before null.
        check(doc! {"a": 1}, vec![doc! {"_id": 1, "a": Bson::Null}, doc! {"_id": 2, "a": []}, doc! {"_id": 3, "a": 0}], &[2, 1, 3]);
        // Dotted paths through arrays of documents.
        check(doc! {"a.b": 1}, vec![doc! {"_id": 1, "a": [{"b": 4}, {"b": 2}]}, doc! {"_id": 2, "a": {"b": 3}}], &[1, 2]);
        check(doc! {"a.b": -1}, vec![doc! {"_id": 1, "a": [{"b": 4}, {"b": 2}]}, doc! {"_id": 2, "a": {"b": 3}}], &[1, 2]);
        check(doc! {"a.b": 1}, vec![doc! {"_id": 1, "a": [{"b": 4}, {"c": 2}]}, doc! {"_id": 2, "a": {"b": 3}}], &[1, 2]);
        // Compound keys.
        check(doc! {"a": 1, "b": -1}, vec![doc! {"_id": 1, "a": 1, "b": 1}, doc! {"_id": 2, "a": 1, "b": 2}, doc! {"_id": 3, "a": 0, "b": 0}], &[3, 2, 1]);
        check(doc! {"b": -1, "a": 1}, vec![doc! {"_id": 1, "a": 2, "b": 1}, doc! {"_id": 2, "a": 1, "b": 1}, doc! {"_id": 3, "a": 0, "b": 0}], &[2, 1, 3]);
        // Numbers by value across types.
        check(doc! {"a": 1}, vec![doc! {"_id": 1, "a": 2.5}, doc! {"_id": 2, "a": Bson::Int64(2)}, doc! {"_id": 3, "a": 3}], &[2, 1, 3]);
        check(doc! {}, vec![doc! {"_id": 2}, doc! {"_id": 1}], &[2, 1]);
        // jstests/core/query/sort/sort_array.js: each field's key is taken on its own.
        check(doc! {"a": 1}, vec![doc! {"_id": 0, "a": [3, 0, 1]}, doc! {"_id": 1, "a": [8, 4, -1]}], &[1, 0]);
        check(doc! {"a": -1}, vec![doc! {"_id": 0, "a": [3, 0, 1]}, doc! {"_id": 1, "a": [0, 4, -1]}], &[1, 0]);
        let xs = || vec![
            doc! {"_id": 0, "x": [{"y": [4, 0, 1], "z": 7}, {"y": 0, "z": 9}]},
            doc! {"_id": 1, "x": [{"y": 1, "z": 7}, {"y": 0, "z": [8, 6]}]},
        ];
        check(doc! {"x.y": 1, "x.z": -1}, xs(), &[0, 1]);
        check(doc! {"x.y": -1, "x.z": 1}, xs(), &[0, 1]);
        check(doc! {"d.e.g": 1}, vec![
            doc! {"_id": 0, "a": 1, "d": [{"e": {"f": 1, "g": [6, 5, 4]}}, {"e": {"g": [3, 2, 1]}}]},
            doc! {"_id": 1, "a": 2, "d": [{"e": {"f": 2, "g": [5, 4, 3]}}, {"e": {"g": [2, 1, 0]}}]},
        ], &[1, 0]);
        check(doc! {"a.c": 1}, vec![
            doc! {"_id": 2, "a": [{"b": 1, "c": 2}, {"b": 2, "c": 3}]},
            doc! {"_id": 0, "a": [{"b": 2, "c": 0}, {"b": 1, "c": 4}]},
            doc! {"_id": 1, "a": [{"b": 1, "c": 5}, {"b": 2, "c": 1}]},
        ], &[0, 1, 2]);
        check(doc! {"a.x": 1}, vec![
            doc! {"_id": 0, "a": [{"x": 2}, {"x": 3}]},
            doc! {"_id": 1, "a": [{"x": 1}, {"x": 4}]},
            doc! {"_id": 2, "a": [{"x": 3}, {"x": 4}]},
        ], &[1, 0, 2]);
    }

    fn check_error(spec: Document, code: i32, message: &str) {
        match SortSpec::parse(&spec) {
            Ok(_) => panic!("{spec} parsed"),
            Err(e) => {
                assert_eq!(e.code(), code, "{spec}: {e}");
                assert!(e.to_string().contains(message), "{spec}: {e}");
            }
        }
    }

    #[test]
    #[rustfmt::skip]
    fn parse_errors() {
        check_error(doc! {"a": 2}, 15975, "$sort key ordering must be 1 (for ascending) or -1 (for descending)");
        check_error(doc! {"a": 0}, 15975, "must be 1");
        check_error(doc! {"a": 42.12}, 15975, "must be 1");
        check_error(doc! {"a": "asc"}, 15974, "Illegal key in $sort specification: a: \"asc\"");
        check_error(doc! {"a": true}, 15974, "Illegal key in $sort specification");
        check_error(doc! {"a": {"x": 1}}, 15974, "Illegal key in $sort specification");
        check_error(doc! {"a": {"$meta": "textScore"}}, 115, "$meta");
        check_error(doc! {"$a": 1}, 16410, "FieldPath field names may not start with '$'");
        check_error(doc! {"a..b": 1}, 15998, "may not be empty");
        check_error(doc! {"": 1}, 40352, "empty string");
        check_error(doc! {"$natural": 1, "a": 1}, 2, "$natural");
        check_error(doc! {"$natural": 2}, 15975, "must be 1");
    }

    #[test]
    fn natural_and_empty() {
        let natural = SortSpec::parse(&doc! {"$natural": -1}).expect("parses");
        assert!(natural.is_natural());
        assert_eq!(natural.natural_order(), Some(false));
        assert_eq!(
            SortSpec::parse(&doc! {"$natural": 1})
                .expect("parses")
                .natural_order(),
            Some(true)
        );
        let empty = SortSpec::parse(&doc! {}).expect("parses");
        assert!(empty.is_empty() && !empty.is_natural());
        let plain = SortSpec::parse(&doc! {"a": 1.5}).expect("1.5 truncates to 1");
        assert_eq!(plain.fields().collect::<Vec<_>>(), vec![("a", true)]);
        assert_eq!(
            plain.compare(&doc! {"a": 1}, &doc! {"a": 2}),
            Ordering::Less
        );
    }
}
