//! Hashed indexes (`{a: "hashed"}`, compound with one hashed field): created and listed as in
//! MongoDB, used for equality and `$in` (fewer documents examined), never for ranges or sorts,
//! refusing arrays (16766), uniqueness (16764) and a second hashed field (31303).

use bson::{doc, Bson, Document};
use outpost_tests::{find_all, ids, int_field, run, run_err, TestServer};

/// `n` documents `{_id: i, a: i % 10, b: "s{i % 3}"}` in test.h.
async fn seeded(n: i32) -> TestServer {
    let server = TestServer::start().await;
    let docs: Vec<Document> = (0..n)
        .map(|i| doc! {"_id": i, "a": i % 10, "b": format!("s{}", i % 3)})
        .collect();
    run(&server.db("test"), doc! {"insert": "h", "documents": docs}).await;
    server
}

/// The explain of a find: (the winning plan's access stage and index, docs examined).
async fn explain(server: &TestServer, find: Document) -> (String, i64) {
    let reply = run(
        &server.db("test"),
        doc! {"explain": find, "verbosity": "executionStats"},
    )
    .await;
    let plan = reply
        .get_document("queryPlanner")
        .and_then(|q| q.get_document("winningPlan"))
        .cloned()
        .unwrap_or_default();
    let access = match plan.get_document("inputStage") {
        Ok(input) => format!(
            "{} {}",
            input.get_str("stage").unwrap_or_default(),
            input.get_str("indexName").unwrap_or_default()
        ),
        Err(_) => plan.get_str("stage").unwrap_or_default().to_owned(),
    };
    let stats = reply
        .get_document("executionStats")
        .cloned()
        .unwrap_or_default();
    (access, int_field(&stats, "totalDocsExamined"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hashed_index_serves_equality_and_in_but_not_ranges_or_sorts() {
    let server = seeded(100).await;
    let db = server.db("test");
    run(
        &db,
        doc! {"createIndexes": "h", "indexes": [{"key": {"a": "hashed"}, "name": "a_hashed"}]},
    )
    .await;
    let specs = run(&db, doc! {"listIndexes": "h"}).await;
    let (specs, _) = outpost_tests::first_batch(&specs);
    assert_eq!(
        specs.get(1),
        Some(&doc! {"v": 2, "key": {"a": "hashed"}, "name": "a_hashed"})
    );

    // Equality: ten documents, read through the index (only those ten examined).
    let docs = find_all(&db, "h", doc! {"filter": {"a": 7}, "sort": {"_id": 1}}).await;
    assert_eq!(ids(&docs), [7, 17, 27, 37, 47, 57, 67, 77, 87, 97]);
    let (access, examined) = explain(&server, doc! {"find": "h", "filter": {"a": 7}}).await;
    assert_eq!(access, "IXSCAN a_hashed");
    assert_eq!(examined, 10);
    // Any numeric type equal to 7 finds the same documents (numbers hash as int64).
    for seven in [Bson::Double(7.0), Bson::Int64(7)] {
        let docs = find_all(&db, "h", doc! {"filter": {"a": seven}}).await;
        assert_eq!(docs.len(), 10);
    }
    // 7.5 hashes like 7, and the filter still decides: nothing matches.
    let docs = find_all(&db, "h", doc! {"filter": {"a": 7.5}}).await;
    assert!(docs.is_empty(), "{docs:?}");
    // $in: two points.
    let (access, examined) = explain(
        &server,
        doc! {"find": "h", "filter": {"a": {"$in": [1, 2]}}},
    )
    .await;
    assert_eq!((access.as_str(), examined), ("IXSCAN a_hashed", 20));
    let docs = find_all(&db, "h", doc! {"filter": {"a": {"$in": [1, 2]}}}).await;
    assert_eq!(docs.len(), 20);

    // A range cannot use it: a collection scan, with the right answer.
    let (access, _) = explain(&server, doc! {"find": "h", "filter": {"a": {"$gt": 7}}}).await;
    assert_eq!(access, "COLLSCAN");
    let docs = find_all(&db, "h", doc! {"filter": {"a": {"$gt": 7}}}).await;
    assert_eq!(docs.len(), 20);
    // Nor a sort: the order is the values' order, not the hashes'.
    let docs = find_all(
        &db,
        "h",
        doc! {"filter": {"_id": {"$lt": 10}}, "sort": {"a": -1}, "projection": {"a": 1}},
    )
    .await;
    let values: Vec<i32> = docs.iter().map(|d| d.get_i32("a").unwrap_or(-1)).collect();
    assert_eq!(values, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    // A hint makes it serve a full scan, still with the right answer.
    let docs = find_all(
        &db,
        "h",
        doc! {"filter": {"a": {"$gte": 9}}, "hint": "a_hashed"},
    )
    .await;
    assert_eq!(docs.len(), 10);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_keys_follow_updates_deletes_and_missing_fields() {
    let server = seeded(20).await;
    let db = server.db("test");
    run(
        &db,
        doc! {"createIndexes": "h", "indexes": [{"key": {"a": "hashed"}, "name": "a_hashed"}]},
    )
    .await;
    run(
        &db,
        doc! {"update": "h", "updates": [{"q": {"_id": 3}, "u": {"$set": {"a": "moved"}}}]},
    )
    .await;
    run(
        &db,
        doc! {"delete": "h", "deletes": [{"q": {"_id": 13}, "limit": 1}]},
    )
    .await;
    run(
        &db,
        doc! {"insert": "h", "documents": [{"_id": 100}, {"_id": 101, "a": {"x": [1, 2]}}]},
    )
    .await;
    let docs = find_all(&db, "h", doc! {"filter": {"a": 3}}).await;
    assert!(docs.is_empty(), "{docs:?}");
    let docs = find_all(&db, "h", doc! {"filter": {"a": "moved"}}).await;
    assert_eq!(ids(&docs), [3]);
    // A missing field is indexed as null, as in MongoDB.
    let (access, _) = explain(&server, doc! {"find": "h", "filter": {"a": null}}).await;
    assert_eq!(access, "IXSCAN a_hashed");
    let docs = find_all(&db, "h", doc! {"filter": {"a": null}}).await;
    assert_eq!(ids(&docs), [100]);
    // An embedded document (holding an array) is hashed whole.
    let docs = find_all(&db, "h", doc! {"filter": {"a": {"x": [1, 2]}}}).await;
    assert_eq!(ids(&docs), [101]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compound_hashed_indexes_and_what_is_refused() {
    let server = seeded(30).await;
    let db = server.db("test");
    // Hashed second field: the first serves ranges and equality as usual.
    run(
        &db,
        doc! {"createIndexes": "h", "indexes": [{"key": {"b": 1, "a": "hashed"}, "name": "b_a"}]},
    )
    .await;
    let (access, _) = explain(&server, doc! {"find": "h", "filter": {"b": "s1"}}).await;
    assert_eq!(access, "IXSCAN b_a");
    let docs = find_all(&db, "h", doc! {"filter": {"b": "s1", "a": 4}}).await;
    assert_eq!(ids(&docs), [4]);
    // Hashed first field, ascending second field.
    run(
        &db,
        doc! {"createIndexes": "h", "indexes": [{"key": {"a": "hashed", "b": 1}, "name": "a_b"}]},
    )
    .await;
    let docs = find_all(&db, "h", doc! {"filter": {"a": 5, "b": "s2"}}).await;
    assert_eq!(ids(&docs), [5]);

    // Arrays are refused at the hashed path (16766), and nothing is written.
    let error = outpost_tests::write_failure(
        &db,
        doc! {"insert": "h", "documents": [{"_id": 500, "a": [1, 2]}]},
    )
    .await;
    assert_eq!(error.code, 16766, "{error:?}");
    let error = outpost_tests::write_failure(
        &db,
        doc! {"update": "h", "updates": [{"q": {"_id": 1}, "u": {"$set": {"a": [3]}}}]},
    )
    .await;
    assert_eq!(error.code, 16766, "{error:?}");
    assert_eq!(find_all(&db, "h", doc! {"filter": {"_id": 500}}).await, []);
    assert_eq!(
        find_all(&db, "h", doc! {"filter": {"_id": 1}}).await,
        [doc! {"_id": 1, "a": 1, "b": "s1"}]
    );
    // Building over a document with an array fails the same way.
    run(
        &db,
        doc! {"insert": "arrays", "documents": [{"_id": 1, "c": {"d": [1]}}]},
    )
    .await;
    let error = run_err(
        &db,
        doc! {"createIndexes": "arrays", "indexes": [{"key": {"c.d": "hashed"}, "name": "cd"}]},
    )
    .await;
    assert_eq!(error.code, 16766, "{error:?}");

    let refused = [
        (
            doc! {"key": {"a": "hashed"}, "name": "u", "unique": true},
            16764,
        ),
        (
            doc! {"key": {"a": "hashed", "b": "hashed"}, "name": "two"},
            31303,
        ),
    ];
    for (spec, code) in refused {
        let error = run_err(&db, doc! {"createIndexes": "h", "indexes": [spec.clone()]}).await;
        assert_eq!(error.code, code, "{spec}: {error:?}");
    }
    server.shutdown().await;
}
