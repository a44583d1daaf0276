//! The document an upsert starts from: the equalities the query filter implies.
//!
//! MongoDB seeds from every clause that implies a single equality: `{a: 1}`, `{a: {$eq: 1}}`,
//! `{"a.b": 1}` (creating `{a: {b: 1}}`), the branches of `$and`, a one-element `$in` or
//! `$all`, and a one-branch `$or`. Ranges, regexes and other operators seed nothing. Two
//! equalities on one path, or on a path and its prefix, are NotSingleValueField (54).
//!
//! Field order: MongoDB 4.x adds the equalities in sorted path order (its `EqualityMatches`
//! map); newer servers were observed to use another, unspecified order. We use sorted order,
//! `_id` first.

use bson::{Bson, Document};

use super::path;
use crate::error::{Error, Result};

/// MongoDB's NotSingleValueField error code.
const NOT_SINGLE_VALUE_FIELD: i32 = 54;

pub fn upsert_seed(filter: &Document) -> Result<Document> {
    let mut equalities: Vec<(String, Bson)> = Vec::new();
    collect_equalities(filter, &mut equalities)?;

    for (i, (a, _)) in equalities.iter().enumerate() {
        for (b, _) in equalities.iter().take(i) {
            if a == b {
                return Err(Error::coded(
                    NOT_SINGLE_VALUE_FIELD,
                    format!("cannot infer query fields to set, path '{a}' is matched twice"),
                ));
            }
            if is_path_prefix(a, b) || is_path_prefix(b, a) {
                return Err(Error::coded(
                    NOT_SINGLE_VALUE_FIELD,
                    format!(
                        "cannot infer query fields to set, both paths '{b}' and '{a}' are matched"
                    ),
                ));
            }
        }
    }

    let mut seed = Document::new();
    // MongoDB adds the equalities in the order of its map of paths (sorted), with `_id` first
    // as in every stored document.
    equalities.sort_by(|(a, _), (b, _)| {
        let is_id = |p: &str| p.split('.').next() == Some("_id");
        is_id(b).cmp(&is_id(a)).then_with(|| a.cmp(b))
    });
    for (dotted, value) in equalities {
        let parts: Vec<String> = dotted.split('.').map(str::to_string).collect();
        if parts.iter().any(String::is_empty) {
            continue;
        }
        path::create(&mut seed, &parts, value)?;
    }
    Ok(seed)
}

fn is_path_prefix(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('.'))
}

fn collect_equalities(filter: &Document, out: &mut Vec<(String, Bson)>) -> Result<()> {
    for (key, value) in filter {
        match key.as_str() {
            "$and" => {
                if let Bson::Array(branches) = value {
                    for branch in branches {
                        if let Bson::Document(d) = branch {
                            collect_equalities(d, out)?;
                        }
                    }
                }
            }
            "$or" => {
                if let Bson::Array(branches) = value {
                    if let [Bson::Document(d)] = branches.as_slice() {
                        collect_equalities(d, out)?;
                    }
                }
            }
            k if k.starts_with('$') => {}
            _ => {
                if let Some(v) = implied_equality(value) {
                    out.push((key.clone(), v));
                }
            }
        }
    }
    Ok(())
}

/// The single value a field's condition pins it to, if any.
fn implied_equality(condition: &Bson) -> Option<Bson> {
    match condition {
        Bson::RegularExpression(_) => None,
        Bson::Document(d) if d.keys().next().is_some_and(|k| k.starts_with('$')) => {
            if let Some(v) = d.get("$eq") {
                return Some(v.clone());
            }
            for operator in ["$in", "$all"] {
                if let Some(Bson::Array(values)) = d.get(operator) {
                    if let [only] = values.as_slice() {
                        if !matches!(only, Bson::RegularExpression(_)) {
                            return Some(only.clone());
                        }
                    }
                }
            }
            None
        }
        other => Some(other.clone()),
    }
}
