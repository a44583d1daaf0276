//! Writes to time-series collections in a transaction, refused as mongod 8.0 refuses them
//! (OperationNotSupportedInTransaction, 263): inserts ("Cannot insert into a time-series
//! collection in a multi-document transaction"), updates and multi-document deletes. Reads
//! of time-series collections in a transaction are allowed, as in mongod.

use bson::{Bson, Document};

use crate::error::{Error, Result};

/// What a statement does to one collection, as far as time-series collections care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Insert,
    Update,
    /// A delete of every match (`limit: 0`, `multi: true`).
    DeleteMany,
    /// A delete of at most one document (`limit: 1`).
    DeleteOne,
}

/// The `(database, collection, write)` triples of a write statement; empty for others.
pub fn writes(name: &str, db: &str, body: &Document) -> Vec<(String, String, Write)> {
    let coll = || body.get_str(name).ok().map(str::to_owned);
    let one = |write| {
        coll()
            .map(|c| vec![(db.to_owned(), c, write)])
            .unwrap_or_default()
    };
    match name {
        "insert" => one(Write::Insert),
        "update" | "findAndModify" => one(Write::Update),
        "delete" => {
            let many = body
                .get_array("deletes")
                .map(|a| a.as_slice())
                .unwrap_or_default()
                .iter()
                .filter_map(Bson::as_document)
                .any(|d| matches!(d.get("limit"), Some(Bson::Int32(0) | Bson::Int64(0))));
            one(if many {
                Write::DeleteMany
            } else {
                Write::DeleteOne
            })
        }
        "bulkWrite" => bulk_writes(body),
        _ => Vec::new(),
    }
}

/// `bulkWrite`'s operations, each with the namespace its `nsInfo` index names.
fn bulk_writes(body: &Document) -> Vec<(String, String, Write)> {
    let namespaces: Vec<Option<(String, String)>> = body
        .get_array("nsInfo")
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|info| {
            let ns = info.as_document()?.get_str("ns").ok()?;
            let (d, c) = ns.split_once('.')?;
            Some((d.to_owned(), c.to_owned()))
        })
        .collect();
    let mut out = Vec::new();
    for op in body
        .get_array("ops")
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(Bson::as_document)
    {
        let Some((kind, index)) = op.iter().next() else {
            continue;
        };
        let write = match kind.as_str() {
            "insert" => Write::Insert,
            "update" => Write::Update,
            "delete" if op.get_bool("multi").unwrap_or(false) => Write::DeleteMany,
            "delete" => Write::DeleteOne,
            _ => continue,
        };
        let index = match index {
            Bson::Int32(i) => usize::try_from(*i).ok(),
            Bson::Int64(i) => usize::try_from(*i).ok(),
            _ => None,
        };
        if let Some(Some((d, c))) = index.and_then(|i| namespaces.get(i)) {
            out.push((d.clone(), c.clone(), write));
        }
    }
    out
}

/// Fails with 263 when the statement writes a collection `is_timeseries` says is one, in a
/// way mongod does not allow in a transaction. A `deleteOne` (MongoDB 7.0+ allows it) is
/// refused too, by name: Outpost's transaction snapshot does not hold time-series buckets.
pub fn check(
    name: &str,
    db: &str,
    body: &Document,
    is_timeseries: impl Fn(&str, &str) -> Result<bool>,
) -> Result<()> {
    for (db, coll, write) in writes(name, db, body) {
        if !is_timeseries(&db, &coll)? {
            continue;
        }
        let message = match write {
            Write::Insert => format!(
                "Cannot insert into a time-series collection in a multi-document transaction: \
                 {db}.{coll}"
            ),
            Write::Update => format!(
                "Cannot update a time-series collection in a multi-document transaction: \
                 {db}.{coll}"
            ),
            Write::DeleteMany => format!(
                "Cannot perform a multi-document delete on a time-series collection in a \
                 multi-document transaction: {db}.{coll}"
            ),
            Write::DeleteOne => format!(
                "Cannot delete from a time-series collection in a multi-document transaction: \
                 {db}.{coll} (deleteOne of a measurement in a transaction is not supported by \
                 Outpost)"
            ),
        };
        return Err(Error::new(263, message));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn the_writes_of_each_statement() {
        let w = |name: &str, body: Document| {
            writes(name, "db", &body)
                .into_iter()
                .map(|(_, c, w)| (c, w))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            w("insert", doc! {"insert": "t", "documents": []}),
            vec![("t".into(), Write::Insert)]
        );
        assert_eq!(
            w(
                "delete",
                doc! {"delete": "t", "deletes": [{"q": {}, "limit": 0}]}
            ),
            vec![("t".into(), Write::DeleteMany)]
        );
        assert_eq!(
            w(
                "delete",
                doc! {"delete": "t", "deletes": [{"q": {}, "limit": 1}]}
            ),
            vec![("t".into(), Write::DeleteOne)]
        );
        assert_eq!(w("find", doc! {"find": "t"}), vec![]);
        let bulk = doc! {
            "bulkWrite": 1,
            "ops": [{"insert": 1, "document": {}}, {"delete": 0, "filter": {}, "multi": true}],
            "nsInfo": [{"ns": "db.a"}, {"ns": "db.t"}],
        };
        assert_eq!(
            w("bulkWrite", bulk),
            vec![("t".into(), Write::Insert), ("a".into(), Write::DeleteMany)]
        );
    }

    #[test]
    fn only_time_series_collections_are_refused() {
        let ts = |_: &str, c: &str| Ok(c == "t");
        let insert = |c: &str| doc! {"insert": c, "documents": [{}]};
        assert!(check("insert", "db", &insert("plain"), ts).is_ok());
        let err = check("insert", "db", &insert("t"), ts).unwrap_err();
        assert_eq!(err.code(), 263);
        assert!(err.to_string().contains("db.t"), "{err}");
        assert!(check("find", "db", &doc! {"find": "t"}, ts).is_ok());
    }
}
