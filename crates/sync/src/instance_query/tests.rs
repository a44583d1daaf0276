//! Instance query tables: key resolution, refused instance queries, matching.

use bson::{doc, Bson, Document};

use super::{InstanceQuery, QueryMatch};
use crate::error::Error;

const FALSE: fn() -> Document = crate::rql::always_false_filter;

/// The filter `query` (default database "shop") gives `database.collection`.
#[track_caller]
fn check(query: Document, database: &str, collection: &str, expected: Option<Document>) {
    let parsed = InstanceQuery::parse(&query, "shop")
        .unwrap_or_else(|error| panic!("instance query {query} refused: {error}"));
    assert_eq!(
        parsed.filter_for(database, collection).cloned(),
        expected,
        "instance query {query} for {database}.{collection}"
    );
    assert_eq!(
        parsed.is_synced(database, collection),
        expected.is_some(),
        "is_synced, instance query {query} for {database}.{collection}"
    );
}

#[test]
fn key_resolution() {
    // Exact namespace keys.
    check(
        doc! {"shop.orders": "a == 1"},
        "shop",
        "orders",
        Some(doc! {"a": 1}),
    );
    check(doc! {"shop.orders": "a == 1"}, "shop", "items", None);
    check(doc! {"shop.orders": "a == 1"}, "other", "orders", None);
    check(
        doc! {"other.orders": "a == 1"},
        "other",
        "orders",
        Some(doc! {"a": 1}),
    );
    // The database name ends at the first dot; the collection may contain dots.
    check(
        doc! {"shop.orders.2024": "a == 1"},
        "shop",
        "orders.2024",
        Some(doc! {"a": 1}),
    );
    check(
        doc! {"shop.orders.2024": "a == 1"},
        "shop.orders",
        "2024",
        None,
    );
    // A key with a dot always names a database first, so a bare collection key cannot
    // contain a dot.
    check(
        doc! {"system.js": "a == 1"},
        "system",
        "js",
        Some(doc! {"a": 1}),
    );
    // Bare collection keys live in the default database only.
    check(
        doc! {"orders": "a == 1"},
        "shop",
        "orders",
        Some(doc! {"a": 1}),
    );
    check(doc! {"orders": "a == 1"}, "other", "orders", None);
    check(
        doc! {"orders": {"a": 2}},
        "shop",
        "orders",
        Some(doc! {"a": 2}),
    );
    // The wildcard covers every user collection of every database.
    check(doc! {"*": "TRUEPREDICATE"}, "shop", "orders", Some(doc! {}));
    check(doc! {"*": "truepredicate"}, "other", "x", Some(doc! {}));
    check(doc! {"*": {}}, "shop", "orders", Some(doc! {}));
    check(
        doc! {"*": "FALSEPREDICATE"},
        "shop",
        "orders",
        Some(FALSE()),
    );
    check(
        doc! {"*": "a > 1"},
        "any",
        "thing",
        Some(doc! {"a": {"$gt": 1}}),
    );
    // The most specific key wins, whatever the key order.
    let layered = doc! {"*": "w == 1", "orders": "b == 1", "shop.orders": "e == 1"};
    check(layered.clone(), "shop", "orders", Some(doc! {"e": 1}));
    check(layered.clone(), "other", "orders", Some(doc! {"w": 1}));
    check(layered.clone(), "shop", "items", Some(doc! {"w": 1}));
    let reversed = doc! {"shop.orders": "e == 1", "orders": "b == 1", "*": "w == 1"};
    check(reversed, "shop", "orders", Some(doc! {"e": 1}));
    let bare_and_star = doc! {"*": "w == 1", "orders": "b == 1"};
    check(bare_and_star.clone(), "shop", "orders", Some(doc! {"b": 1}));
    check(bare_and_star, "other", "orders", Some(doc! {"w": 1}));
    let bare_and_other_db = doc! {"orders": "b == 1", "other.orders": "o == 1"};
    check(
        bare_and_other_db.clone(),
        "shop",
        "orders",
        Some(doc! {"b": 1}),
    );
    check(bare_and_other_db, "other", "orders", Some(doc! {"o": 1}));
    // Internal namespaces never sync, even under '*'.
    check(doc! {"*": "TRUEPREDICATE"}, "admin", "users", None);
    check(doc! {"*": "TRUEPREDICATE"}, "local", "oplog.rs", None);
    check(doc! {"*": "TRUEPREDICATE"}, "config", "x", None);
    check(doc! {"*": "TRUEPREDICATE"}, "shop", "system.views", None);
    // An empty instance query syncs nothing.
    check(doc! {}, "shop", "orders", None);
}

#[track_caller]
fn check_refused(query: Document, fragment: &str) {
    match InstanceQuery::parse(&query, "shop") {
        Ok(_) => panic!("instance query {query} was accepted"),
        Err(error) => {
            let message = error.to_string();
            assert!(
                message.contains(fragment),
                "instance query {query}: {message:?} lacks {fragment:?}"
            );
        }
    }
}

#[test]
fn refused_instance_queries() {
    check_refused(
        doc! {"orders": 5},
        "must be a Realm Query Language string or a filter document, not int",
    );
    check_refused(doc! {"orders": true}, "not bool");
    check_refused(doc! {"orders": ["a"]}, "not array");
    check_refused(doc! {"orders": Bson::Null}, "not null");
    check_refused(doc! {"": "a == 1"}, "the collection name is empty");
    check_refused(doc! {".orders": "a == 1"}, "the database name is empty");
    check_refused(doc! {"shop.": "a == 1"}, "the collection name is empty");
    check_refused(doc! {"sh op.orders": "a == 1"}, "contains ' '");
    check_refused(doc! {"shop.ord$ers": "a == 1"}, "contains '$'");
    check_refused(doc! {"shop.*": "a == 1"}, "per-database wildcard");
    check_refused(doc! {"admin.users": "a == 1"}, "internal namespace");
    check_refused(doc! {"shop.system.views": "a == 1"}, "internal namespace");
    // RQL errors keep their position and name the key.
    check_refused(
        doc! {"orders": "store_id =="},
        "invalid query for 'orders' in the instance query: expected a value after '==' at position 11",
    );
    check_refused(doc! {"*": "a == $0"}, "invalid query for '*'");
    // Filter documents are checked by the storage crate's parser.
    check_refused(
        doc! {"orders": {"a": {"$bogus": 1}}},
        "invalid query for 'orders'",
    );
    check_refused(
        doc! {"orders": {"$where": "1"}},
        "invalid query for 'orders'",
    );
    match InstanceQuery::parse(&doc! {"orders": "a =="}, "shop") {
        Err(Error::InQueryFor { key, source }) => {
            assert_eq!(key, "orders");
            assert!(matches!(*source, Error::InvalidQuery { position: 4, .. }));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(InstanceQuery::parse(&doc! {"*": "TRUEPREDICATE"}, "bad.db").is_err());
    assert!(InstanceQuery::parse(&doc! {"*": "TRUEPREDICATE"}, "").is_err());
}

#[test]
fn to_document_round_trips() {
    let query = doc! {
        "shop.orders": "store_id == 42 && status IN {'open', 'paid'}",
        "inventory": {"store_id": 42},
        "*": "FALSEPREDICATE",
    };
    let parsed = InstanceQuery::parse(&query, "shop").unwrap();
    assert_eq!(parsed.to_document(), query);
    let again = InstanceQuery::parse(&parsed.to_document(), "shop").unwrap();
    assert_eq!(again.to_document(), query);
    assert_eq!(
        again.filter_for("shop", "orders"),
        parsed.filter_for("shop", "orders")
    );
    assert_eq!(parsed.default_database(), "shop");
    let everything = InstanceQuery::everything("shop").unwrap();
    assert_eq!(everything.to_document(), doc! {"*": "TRUEPREDICATE"});
    assert_eq!(everything.filter_for("x", "y"), Some(&doc! {}));
}

#[track_caller]
fn check_match(
    query: Document,
    database: &str,
    collection: &str,
    document: Document,
    expected: QueryMatch,
) {
    let parsed = InstanceQuery::parse(&query, "shop").unwrap();
    assert_eq!(
        parsed.matches(database, collection, &document).unwrap(),
        expected,
        "instance query {query}, {database}.{collection}, document {document}"
    );
}

#[test]
fn matching_documents() {
    use QueryMatch::*;
    let query = doc! {"orders": "store_id == 42", "items": {"qty": {"$gt": 0}}, "other.logs": "TRUEPREDICATE"};
    check_match(
        query.clone(),
        "shop",
        "orders",
        doc! {"_id": 1, "store_id": 42},
        Matches,
    );
    check_match(
        query.clone(),
        "shop",
        "orders",
        doc! {"_id": 1, "store_id": 7},
        DoesNotMatch,
    );
    check_match(
        query.clone(),
        "shop",
        "orders",
        doc! {"_id": 1},
        DoesNotMatch,
    );
    check_match(
        query.clone(),
        "shop",
        "items",
        doc! {"_id": 1, "qty": 3},
        Matches,
    );
    check_match(
        query.clone(),
        "shop",
        "items",
        doc! {"_id": 1, "qty": 0},
        DoesNotMatch,
    );
    check_match(query.clone(), "other", "logs", doc! {"_id": 1}, Matches);
    check_match(query.clone(), "shop", "logs", doc! {"_id": 1}, NotSynced);
    check_match(
        query.clone(),
        "other",
        "orders",
        doc! {"_id": 1, "store_id": 42},
        NotSynced,
    );
    check_match(
        doc! {"*": "FALSEPREDICATE"},
        "shop",
        "orders",
        doc! {"_id": 1},
        DoesNotMatch,
    );
    check_match(doc! {"*": {}}, "shop", "orders", doc! {"_id": 1}, Matches);
    check_match(
        doc! {"*": "TRUEPREDICATE"},
        "admin",
        "x",
        doc! {"_id": 1},
        NotSynced,
    );
    check_match(
        doc! {"orders": "address.city ==[c] 'oslo' && NOT tags CONTAINS 'x'"},
        "shop",
        "orders",
        doc! {"_id": 1, "address": {"city": "OSLO"}, "tags": "abc"},
        Matches,
    );
}

#[test]
fn expr_evaluation_errors_surface() {
    let query = doc! {"orders": {"$expr": {"$divide": [1, "$zero"]}}};
    let parsed = InstanceQuery::parse(&query, "shop").unwrap();
    assert!(parsed
        .matches("shop", "orders", &doc! {"_id": 1, "zero": 0})
        .is_err());
}

#[test]
fn ingest_collections() {
    let query = InstanceQuery::parse(
        &doc! {
            "plant.readings": {"$ingest": true},
            "events": {"$ingest": true},
            "*": "kind == 'a'",
        },
        "shop",
    )
    .unwrap();
    assert!(query.is_ingest("plant", "readings"));
    assert!(query.is_synced("plant", "readings"));
    assert!(query.is_ingest("shop", "events"));
    assert!(!query.is_ingest("other", "events"));
    assert!(!query.is_ingest("plant", "orders"));
    // Every document of an ingest collection uploads.
    assert_eq!(
        query
            .matches("plant", "readings", &doc! {"kind": "b"})
            .unwrap(),
        QueryMatch::Matches
    );
    assert_eq!(
        query.filter_for("plant", "readings").cloned(),
        Some(Document::new())
    );
    // Given back as written.
    assert_eq!(
        query.to_document().get_document("plant.readings").unwrap(),
        &doc! {"$ingest": true}
    );
    check_refused(
        doc! {"readings": {"$ingest": false}},
        "'$ingest' must be true, not false",
    );
    check_refused(doc! {"readings": {"$ingest": 1}}, "'$ingest' must be true");
    check_refused(
        doc! {"readings": {"$ingest": true, "a": 1}},
        "takes no other field",
    );
}
