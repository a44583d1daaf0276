//! find's `min` and `max` (bounds on the hinted index's keys), `returnKey` and
//! `showRecordId`.

use bson::{doc, Bson, Document};
use outpost_tests::{find_all, ids, run, run_err, TestServer};

/// Ten documents `{_id: i, a: i % 5, b: 10 - i}` with indexes `a_1_b_1` and `b_-1`.
async fn seeded() -> TestServer {
    let server = TestServer::start().await;
    let db = server.db("test");
    let docs: Vec<Document> = (0..10)
        .map(|i| doc! {"_id": i, "a": i % 5, "b": 10 - i})
        .collect();
    run(&db, doc! {"insert": "c", "documents": docs}).await;
    run(
        &db,
        doc! {"createIndexes": "c", "indexes": [
            {"key": {"a": 1, "b": 1}, "name": "a_1_b_1"},
            {"key": {"b": -1}, "name": "b_-1"},
        ]},
    )
    .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_and_max_bound_the_hinted_index() {
    let server = seeded().await;
    let db = server.db("test");
    // Keys (a, b) from (1, 4) inclusive to (3, 7) exclusive, in index order:
    // (1,4) id 6, (1,9) id 1, (2,3) id 7, (2,8) id 2, (3,2) id 8 — (3,7) is excluded.
    let docs = find_all(
        &db,
        "c",
        doc! {"min": {"a": 1, "b": 4}, "max": {"a": 3, "b": 7}, "hint": {"a": 1, "b": 1}},
    )
    .await;
    assert_eq!(ids(&docs), [6, 1, 7, 2, 8]);
    // Only max, by index name, with a filter that still applies.
    let docs = find_all(
        &db,
        "c",
        doc! {"max": {"a": 1, "b": 0}, "hint": "a_1_b_1", "filter": {"b": {"$gt": 5}}},
    )
    .await;
    assert_eq!(ids(&docs), [0]);
    // A descending index: min is the first key in index order.
    let docs = find_all(
        &db,
        "c",
        doc! {"min": {"b": 8}, "max": {"b": 5}, "hint": "b_-1"},
    )
    .await;
    assert_eq!(ids(&docs), [2, 3, 4]);
    // The _id index.
    let docs = find_all(&db, "c", doc! {"min": {"_id": 7}, "hint": {"_id": 1}}).await;
    assert_eq!(ids(&docs), [7, 8, 9]);

    let error = run_err(&db, doc! {"find": "c", "min": {"a": 1, "b": 1}}).await;
    assert_eq!(error.code, 51173, "{error:?}");
    let error = run_err(
        &db,
        doc! {"find": "c", "min": {"b": 1, "a": 1}, "hint": "a_1_b_1"},
    )
    .await;
    assert_eq!(error.code, 51174, "{error:?}");
    let error = run_err(&db, doc! {"find": "c", "max": {"a": 1}, "hint": "a_1_b_1"}).await;
    assert_eq!(error.code, 51174, "{error:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_key_answers_the_index_keys() {
    let server = seeded().await;
    let db = server.db("test");
    let docs = find_all(
        &db,
        "c",
        doc! {"filter": {"a": 2}, "returnKey": true, "hint": "a_1_b_1", "sort": {"a": 1, "b": 1}},
    )
    .await;
    assert_eq!(docs, [doc! {"a": 2, "b": 3}, doc! {"a": 2, "b": 8}]);
    let docs = find_all(
        &db,
        "c",
        doc! {"filter": {"_id": 4}, "returnKey": true, "projection": {"a": 1}},
    )
    .await;
    assert_eq!(docs, [doc! {"_id": 4}]);
    // A collection scan has no key: empty documents, as mongod.
    let docs = find_all(
        &db,
        "c",
        doc! {"filter": {"a": 4}, "returnKey": true, "hint": {"$natural": 1}},
    )
    .await;
    assert_eq!(docs, [doc! {}, doc! {}]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_record_id_adds_a_stable_unique_record_id() {
    let server = seeded().await;
    let db = server.db("test");
    let docs = find_all(
        &db,
        "c",
        doc! {"filter": {"_id": {"$lt": 3}}, "showRecordId": true, "projection": {"a": 1}},
    )
    .await;
    assert_eq!(docs.len(), 3);
    // The record id comes last; documents are clustered by _id, so it is binary data.
    let record_ids: Vec<Bson> = docs
        .iter()
        .map(|d| {
            assert_eq!(
                d.keys().last().map(String::as_str),
                Some("$recordId"),
                "{d}"
            );
            d.get("$recordId").cloned().unwrap_or(Bson::Null)
        })
        .collect();
    assert!(
        record_ids.iter().all(|r| matches!(r, Bson::Binary(_))),
        "{record_ids:?}"
    );
    let mut unique = record_ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), 3);
    let again = find_all(
        &db,
        "c",
        doc! {"filter": {"_id": {"$lt": 3}}, "showRecordId": true, "projection": {"a": 1}},
    )
    .await;
    assert_eq!(again, docs);

    // In a capped collection, the record id is the insertion position, a long, growing.
    run(&db, doc! {"create": "log", "capped": true, "size": 4096}).await;
    run(
        &db,
        doc! {"insert": "log", "documents": [{"_id": "b"}, {"_id": "a"}]},
    )
    .await;
    let docs = find_all(&db, "log", doc! {"showRecordId": true}).await;
    let positions: Vec<i64> = docs
        .iter()
        .map(|d| d.get_i64("$recordId").unwrap_or(-1))
        .collect();
    assert_eq!(positions.len(), 2, "{docs:?}");
    assert!(
        positions[0] > 0 && positions[0] < positions[1],
        "{positions:?}"
    );
    server.shutdown().await;
}
