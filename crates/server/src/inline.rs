//! Which requests run on the connection's own task instead of the command pool.
//!
//! The hop to the command pool and back costs two thread wake-ups per request, which the
//! profile showed to be most of the time of a `ping` or a find by `_id` (the command's own
//! work is a few microseconds). Requests whose work is small and bounded skip it: `ping`, and
//! a `find` whose filter is one `_id` equal to a plain value (a point read of at most one
//! document) with no option that could make it scan, wait or nest deeply. An `insert` of one
//! document, or an `update` of one statement whose filter is one `_id`, of an existing plain
//! collection runs there too when no other write holds the writer lock (it must not wait for
//! the lock on the runtime's thread: a long write may hold it); otherwise it goes to the pool,
//! having done nothing. Everything else keeps running on the pool (storage calls that may
//! take long, deep documents that need the pool's large stacks).

use bson::{Bson, Document};

use crate::state::State;

/// Deepest nesting of a request body run on the connection's task (the runtime's threads
/// have ordinary stacks; the pool's are large).
const MAX_INLINE_DEPTH: usize = 8;

/// The fields any request run on the connection's task may carry besides its own.
const GENERIC_FIELDS: [&str; 8] = [
    "lsid",
    "$db",
    "$clusterTime",
    "$readPreference",
    "comment",
    "apiVersion",
    "apiStrict",
    "apiDeprecationErrors",
];

/// A `find`'s own fields when it runs on the connection's task.
const INLINE_FIND_FIELDS: [&str; 6] = [
    "find",
    "filter",
    "projection",
    "limit",
    "singleBatch",
    "batchSize",
];

/// An `insert`'s own fields when it runs on the connection's task: a retryable write's
/// `txnNumber` (drivers send one with every insert to a replica set), but no write concern
/// (`j` waits for the disk) and no transaction's fields.
const INLINE_INSERT_FIELDS: [&str; 4] = ["insert", "documents", "ordered", "txnNumber"];

/// An `update`'s own fields when it runs on the connection's task (as an insert's).
const INLINE_UPDATE_FIELDS: [&str; 4] = ["update", "updates", "ordered", "txnNumber"];

/// The fields of the one update statement of an `update` run on the connection's task.
const INLINE_STATEMENT_FIELDS: [&str; 3] = ["q", "u", "upsert"];

/// Whether every field of `body` is one of `own` or generic.
fn has_only(body: &Document, own: &[&str]) -> bool {
    body.keys()
        .all(|k| own.contains(&k.as_str()) || GENERIC_FIELDS.contains(&k.as_str()))
}

/// Where a request runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inline {
    /// On the command pool.
    No,
    /// On the connection's task.
    Yes,
    /// On the connection's task, after its turn at `State::inline_writes`, with a store that
    /// does not wait for the writer lock; on the pool if the lock is held.
    UnlessWriterBusy,
}

/// Where `body` runs: on the connection's task when it is cheap and bounded enough.
pub fn runs_inline(state: &State, db: &str, body: &Document) -> Inline {
    let Some((name, first)) = body.iter().next() else {
        return Inline::No;
    };
    // Fail points may block a command; the profiler may write a record.
    if state.fail_points.is_set() || state.profiler.is_on(db) || depth(body) > MAX_INLINE_DEPTH {
        return Inline::No;
    }
    if name == "ping" {
        return Inline::Yes;
    }
    let Bson::String(coll) = first else {
        return Inline::No;
    };
    match name.as_str() {
        "find" if is_point_find(body) && state.storage.view_definition(db, coll).is_none() => {
            Inline::Yes
        }
        "insert" if is_single_insert(body) && state.storage.is_plain_collection(db, coll) => {
            Inline::UnlessWriterBusy
        }
        "update" if is_point_update(body) && state.storage.is_plain_collection(db, coll) => {
            Inline::UnlessWriterBusy
        }
        _ => Inline::No,
    }
}

/// An insert with only [`INLINE_INSERT_FIELDS`] (and generic fields) and one document.
fn is_single_insert(body: &Document) -> bool {
    has_only(body, &INLINE_INSERT_FIELDS)
        && matches!(body.get("documents"), Some(Bson::Array(docs)) if docs.len() == 1 && matches!(docs[0], Bson::Document(_)))
}

/// An update with only [`INLINE_UPDATE_FIELDS`] (and generic fields) and one statement of
/// [`INLINE_STATEMENT_FIELDS`] whose filter is `{_id: <plain value>}` and whose update is a
/// document (operators or a replacement, not a pipeline): at most one document is read and
/// written.
fn is_point_update(body: &Document) -> bool {
    if !has_only(body, &INLINE_UPDATE_FIELDS) {
        return false;
    }
    let Some(Bson::Array(statements)) = body.get("updates") else {
        return false;
    };
    let [Bson::Document(statement)] = statements.as_slice() else {
        return false;
    };
    statement
        .keys()
        .all(|k| INLINE_STATEMENT_FIELDS.contains(&k.as_str()))
        && matches!(statement.get("u"), Some(Bson::Document(_)))
        && statement.get_document("q").is_ok_and(is_id_equality)
}

/// A find with only [`INLINE_FIND_FIELDS`] (and generic fields) and a filter
/// `{_id: <plain value>}`.
fn is_point_find(body: &Document) -> bool {
    if !has_only(body, &INLINE_FIND_FIELDS) {
        return false;
    }
    body.get_document("filter").is_ok_and(is_id_equality)
}

/// A filter `{_id: <plain value>}`.
fn is_id_equality(filter: &Document) -> bool {
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
    fn single_inserts_are_recognised() {
        assert!(is_single_insert(
            &doc! {"insert": "c", "documents": [{"_id": 1}], "ordered": true, "lsid": {"id": 1}, "$db": "d"}
        ));
        assert!(!is_single_insert(
            &doc! {"insert": "c", "documents": [{"_id": 1}, {"_id": 2}]}
        ));
        assert!(!is_single_insert(&doc! {"insert": "c", "documents": []}));
        assert!(!is_single_insert(&doc! {"insert": "c", "documents": [1]}));
        assert!(!is_single_insert(&doc! {"insert": "c"}));
        assert!(!is_single_insert(
            &doc! {"insert": "c", "documents": [{"_id": 1}], "writeConcern": {"j": true}}
        ));
        assert!(is_single_insert(
            &doc! {"insert": "c", "documents": [{"_id": 1}], "lsid": {"id": 1}, "txnNumber": 1_i64}
        ));
        assert!(!is_single_insert(
            &doc! {"insert": "c", "documents": [{"_id": 1}], "lsid": {"id": 1}, "txnNumber": 1_i64, "autocommit": false}
        ));
    }

    #[test]
    fn point_updates_are_recognised() {
        assert!(is_point_update(
            &doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1}}}], "ordered": true, "lsid": {"id": 1}, "txnNumber": 1_i64, "$db": "d"}
        ));
        assert!(is_point_update(
            &doc! {"update": "c", "updates": [{"q": {"_id": "a"}, "u": {"x": 1}, "upsert": true}]}
        ));
        assert!(!is_point_update(
            &doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1}}, "multi": true}]}
        ));
        assert!(!is_point_update(
            &doc! {"update": "c", "updates": [{"q": {"a": 1}, "u": {"$inc": {"n": 1}}}]}
        ));
        assert!(!is_point_update(
            &doc! {"update": "c", "updates": [{"q": {"_id": {"$gt": 1}}, "u": {"$inc": {"n": 1}}}]}
        ));
        assert!(!is_point_update(
            &doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": [{"$set": {"n": 1}}]}]}
        ));
        assert!(!is_point_update(&doc! {"update": "c", "updates": [
            {"q": {"_id": 1}, "u": {"$inc": {"n": 1}}},
            {"q": {"_id": 2}, "u": {"$inc": {"n": 1}}},
        ]}));
        assert!(!is_point_update(
            &doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1}}}], "writeConcern": {"j": true}}
        ));
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
