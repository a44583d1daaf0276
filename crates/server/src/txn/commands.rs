//! Which commands may run in a transaction, and which namespaces a statement reads or writes
//! (the transaction's snapshot must hold them before it runs). Pure functions.

use bson::{Bson, Document};

use crate::error::{Error, Result};

/// The commands MongoDB allows in a multi-document transaction that Outpost runs there.
const ALLOWED: &[&str] = &[
    "find",
    "getMore",
    "killCursors",
    "aggregate",
    "distinct",
    "insert",
    "update",
    "delete",
    "findAndModify",
    "bulkWrite",
    "commitTransaction",
    "abortTransaction",
];

/// Stages that may not run in a transaction (they write other collections or watch).
const REFUSED_STAGES: &[&str] = &["$out", "$merge", "$changeStream", "$currentOp"];

/// At most this many namespaces are gathered for one statement (views and lookups).
pub const MAX_NAMESPACES: usize = 100;

/// OperationNotSupportedInTransaction (263) for a command outside [`ALLOWED`] or a refused
/// aggregation stage.
pub fn check_allowed(name: &str, body: &Document) -> Result<()> {
    if !ALLOWED.contains(&name) {
        return Err(Error::new(
            263,
            format!("Cannot run '{name}' in a multi-document transaction."),
        ));
    }
    if name == "aggregate" {
        if let Ok(stages) = body.get_array("pipeline") {
            for stage in stages.iter().filter_map(Bson::as_document) {
                if let Some(refused) = stage.keys().find(|k| REFUSED_STAGES.contains(&k.as_str())) {
                    return Err(Error::new(
                        263,
                        format!("Operation not permitted in transaction :: caused by :: {refused} cannot be used in a transaction"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The `(database, collection)` pairs a statement names: its collection, the collections of
/// `$lookup`, `$graphLookup` and `$unionWith` anywhere in an aggregation pipeline, the
/// namespaces of a `bulkWrite`. (Views and what their pipelines read are followed when the
/// snapshot is taken.)
pub fn namespaces(name: &str, db: &str, body: &Document) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match name {
        "bulkWrite" => {
            for info in body
                .get_array("nsInfo")
                .map(|a| a.as_slice())
                .unwrap_or_default()
            {
                let ns = info.as_document().and_then(|d| d.get_str("ns").ok());
                if let Some((d, c)) = ns.and_then(|ns| ns.split_once('.')) {
                    push(&mut out, d, c);
                }
            }
        }
        "getMore" | "killCursors" | "commitTransaction" | "abortTransaction" => {}
        _ => {
            if let Ok(coll) = body.get_str(name) {
                push(&mut out, db, coll);
            }
            if let Ok(pipeline) = body.get_array("pipeline") {
                pipeline_namespaces(db, pipeline, &mut out);
            }
        }
    }
    out
}

/// The collections an aggregation pipeline reads besides its own input, walking nested
/// pipelines (`$lookup`, `$facet`, `$unionWith`) with an explicit stack.
pub fn pipeline_namespaces(db: &str, pipeline: &[Bson], out: &mut Vec<(String, String)>) {
    let mut stack: Vec<&Bson> = pipeline.iter().collect();
    let mut visited = 0usize;
    while let Some(value) = stack.pop() {
        visited += 1;
        if visited > 100_000 || out.len() >= MAX_NAMESPACES {
            return;
        }
        match value {
            Bson::Array(items) => stack.extend(items.iter()),
            Bson::Document(d) => {
                for (key, v) in d {
                    match (key.as_str(), v) {
                        ("$lookup" | "$graphLookup", Bson::Document(spec)) => {
                            if let Ok(from) = spec.get_str("from") {
                                push(out, db, from);
                            }
                            stack.push(v);
                        }
                        ("$unionWith", Bson::String(coll)) => push(out, db, coll),
                        ("$unionWith", Bson::Document(spec)) => {
                            if let Ok(coll) = spec.get_str("coll") {
                                push(out, db, coll);
                            }
                            stack.push(v);
                        }
                        _ => stack.push(v),
                    }
                }
            }
            _ => {}
        }
    }
}

fn push(out: &mut Vec<(String, String)>, db: &str, coll: &str) {
    if out.len() < MAX_NAMESPACES && !out.iter().any(|(d, c)| d == db && c == coll) {
        out.push((db.to_owned(), coll.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn commands_outside_the_list_are_refused_with_263() {
        assert!(check_allowed("find", &doc! {"find": "c"}).is_ok());
        let code = |name: &str, body: Document| check_allowed(name, &body).err().map(|e| e.code());
        assert_eq!(code("count", doc! {"count": "c"}), Some(263));
        assert_eq!(code("createIndexes", doc! {}), Some(263));
        assert_eq!(
            code(
                "aggregate",
                doc! {"aggregate": "c", "pipeline": [{"$out": "x"}]}
            ),
            Some(263)
        );
    }

    #[test]
    fn namespaces_of_statements_and_pipelines() {
        let ns = |name: &str, body: Document| namespaces(name, "db", &body);
        let pair = |c: &str| ("db".to_string(), c.to_string());
        assert_eq!(ns("insert", doc! {"insert": "a"}), vec![pair("a")]);
        assert_eq!(ns("getMore", doc! {"getMore": 1_i64}), vec![]);
        let body = doc! {
            "aggregate": "a",
            "pipeline": [
                {"$lookup": {"from": "b", "as": "x", "pipeline": [{"$unionWith": "c"}]}},
                {"$facet": {"f": [{"$unionWith": {"coll": "d"}}]}},
                {"$lookup": {"from": "b", "as": "y"}},
            ],
        };
        let mut got = ns("aggregate", body);
        got.sort();
        assert_eq!(got, vec![pair("a"), pair("b"), pair("c"), pair("d")]);
        let bulk = doc! {"bulkWrite": 1, "nsInfo": [{"ns": "x.y"}, {"ns": "bad"}]};
        assert_eq!(
            ns("bulkWrite", bulk),
            vec![("x".to_string(), "y".to_string())]
        );
    }
}
