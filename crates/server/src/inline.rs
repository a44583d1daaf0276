//! Which requests run on the connection's own task instead of the command pool.
//!
//! The hop to the command pool and back costs two thread wake-ups per request, which the
//! profile showed to be most of the time of a `ping` or a find by `_id` (the command's own
//! work is a few microseconds). Requests whose work is small and bounded skip it: `ping`, and
//! a `find` whose filter is one `_id` equal to a plain value (a point read of at most one
//! document) with no option that could make it scan, wait or nest deeply. Everything else
//! keeps running on the pool (storage calls that may take long, deep documents that need the
//! pool's large stacks).

use bson::{Bson, Document};

use crate::state::State;

/// Deepest nesting of a request body run on the connection's task (the runtime's threads
/// have ordinary stacks; the pool's are large).
const MAX_INLINE_DEPTH: usize = 8;

/// The fields a `find` run on the connection's task may carry.
const INLINE_FIND_FIELDS: [&str; 14] = [
    "find",
    "filter",
    "projection",
    "limit",
    "singleBatch",
    "batchSize",
    "lsid",
    "$db",
    "$clusterTime",
    "$readPreference",
    "comment",
    "apiVersion",
    "apiStrict",
    "apiDeprecationErrors",
];

/// Whether `body` is cheap and bounded enough to run on the connection's task.
pub fn runs_inline(state: &State, db: &str, body: &Document) -> bool {
    let Some((name, first)) = body.iter().next() else {
        return false;
    };
    // Fail points may block a command; the profiler may write a record.
    if state.fail_points.is_set() || state.profiler.is_on(db) || depth(body) > MAX_INLINE_DEPTH {
        return false;
    }
    match name.as_str() {
        "ping" => true,
        "find" => match first {
            Bson::String(coll) => {
                is_point_find(body) && state.storage.view_definition(db, coll).is_none()
            }
            _ => false,
        },
        _ => false,
    }
}

/// A find with only [`INLINE_FIND_FIELDS`] and a filter `{_id: <plain value>}`.
fn is_point_find(body: &Document) -> bool {
    if !body
        .keys()
        .all(|k| INLINE_FIND_FIELDS.contains(&k.as_str()))
    {
        return false;
    }
    let Ok(filter) = body.get_document("filter") else {
        return false;
    };
    let mut fields = filter.iter();
    match (fields.next(), fields.next()) {
        (Some((key, value)), None) => key == "_id" && is_plain(value),
        _ => false,
    }
}

/// A value an equality on `_id` can look up directly (not an operator document, an array or
/// a regular expression, which match otherwise).
fn is_plain(value: &Bson) -> bool {
    !matches!(
        value,
        Bson::Document(_) | Bson::Array(_) | Bson::RegularExpression(_)
    )
}

/// Nesting depth of `doc` (1 for a flat document), walked without recursion.
fn depth(doc: &Document) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Bson, usize)> = doc.values().map(|v| (v, 1)).collect();
    while let Some((value, level)) = stack.pop() {
        deepest = deepest.max(level);
        if level > MAX_INLINE_DEPTH {
            break;
        }
        match value {
            Bson::Document(d) => stack.extend(d.values().map(|v| (v, level + 1))),
            Bson::Array(a) => stack.extend(a.iter().map(|v| (v, level + 1))),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn point_finds_are_recognised() {
        assert!(is_point_find(
            &doc! {"find": "c", "filter": {"_id": "a"}, "limit": 1, "singleBatch": true, "$db": "d"}
        ));
        assert!(!is_point_find(
            &doc! {"find": "c", "filter": {"_id": {"$gt": 1}}}
        ));
        assert!(!is_point_find(
            &doc! {"find": "c", "filter": {"_id": 1, "a": 2}}
        ));
        assert!(!is_point_find(&doc! {"find": "c", "filter": {"a": 2}}));
        assert!(!is_point_find(
            &doc! {"find": "c", "filter": {"_id": 1}, "hint": {"a": 1}}
        ));
        assert!(!is_point_find(&doc! {"find": "c", "filter": {"_id": [1]}}));
        assert!(!is_point_find(&doc! {"find": "c"}));
    }

    #[test]
    fn depth_counts_levels() {
        assert_eq!(depth(&doc! {"a": 1}), 1);
        assert_eq!(depth(&doc! {"a": {"b": [1]}}), 3);
        let mut deep = doc! {"x": 1};
        for _ in 0..50 {
            deep = doc! {"x": deep};
        }
        assert!(depth(&deep) > MAX_INLINE_DEPTH);
    }
}
