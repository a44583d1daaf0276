//! Cursors: batches over many documents, getMore, killCursors, cursor errors.

use std::collections::BTreeSet;

use bson::{doc, Bson, Document};
use futures::TryStreamExt;
use outpost_tests::{first_batch, int_field, next_batch, run, SessionDb, TestServer};

const DOCUMENTS: i32 = 1_000;

async fn start_with_documents() -> TestServer {
    let server = TestServer::start().await;
    let docs: Vec<Document> = (0..DOCUMENTS)
        .map(|i| doc! {"_id": i, "n": i % 10})
        .collect();
    let reply = run(
        &server.db("test"),
        doc! {"insert": "many", "documents": docs},
    )
    .await;
    assert_eq!(int_field(&reply, "n"), i64::from(DOCUMENTS));
    server
}

/// Checks that `docs` holds each `_id` in `0..DOCUMENTS` exactly once.
#[track_caller]
fn assert_each_once(docs: &[Document]) {
    let mut seen = BTreeSet::new();
    for d in docs {
        let id = d.get_i32("_id").expect("_id");
        assert!(seen.insert(id), "_id {id} came back twice");
    }
    assert_eq!(seen.len(), DOCUMENTS as usize, "documents missing");
    assert_eq!(seen.iter().next_back(), Some(&(DOCUMENTS - 1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_seven_return_every_document_once() {
    let server = start_with_documents().await;
    let mut db = SessionDb::new(server.db("test")).await;
    let reply = db.run(doc! {"find": "many", "batchSize": 7}).await;
    let (mut docs, mut id) = first_batch(&reply);
    assert_eq!(docs.len(), 7);
    let mut batches = 1;
    while id != 0 {
        let reply = db
            .run(doc! {"getMore": id, "collection": "many", "batchSize": 7})
            .await;
        let cursor = reply.get_document("cursor").expect("cursor");
        assert_eq!(cursor.get_str("ns"), Ok("test.many"), "{reply}");
        let (batch, next) = next_batch(&reply);
        assert!(
            batch.len() <= 7,
            "{} documents in a batch of 7",
            batch.len()
        );
        if next != 0 {
            assert_eq!(next, id, "the cursor id stays the same");
            assert_eq!(batch.len(), 7);
        }
        docs.extend(batch);
        id = next;
        batches += 1;
    }
    // 1000 = 142 * 7 + 6: 143 batches.
    assert_eq!(batches, 143);
    assert_each_once(&docs);

    // Sorted, the documents come in order across batches.
    let reply = db
        .run(doc! {"find": "many", "sort": {"_id": -1}, "batchSize": 7})
        .await;
    let (mut docs, mut id) = first_batch(&reply);
    while id != 0 {
        let reply = db
            .run(doc! {"getMore": id, "collection": "many", "batchSize": 7})
            .await;
        let (batch, next) = next_batch(&reply);
        docs.extend(batch);
        id = next;
    }
    let order: Vec<i32> = docs
        .iter()
        .map(|d| d.get_i32("_id").expect("_id"))
        .collect();
    assert_eq!(order, (0..DOCUMENTS).rev().collect::<Vec<_>>());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_batches_are_101_then_the_rest() {
    let server = start_with_documents().await;
    let mut db = SessionDb::new(server.db("test")).await;
    let reply = db.run(doc! {"find": "many"}).await;
    let (first, id) = first_batch(&reply);
    assert_eq!(first.len(), 101, "mongod's default first batch");
    assert_ne!(id, 0);
    let reply = db.run(doc! {"getMore": id, "collection": "many"}).await;
    let (rest, next) = next_batch(&reply);
    assert_eq!((rest.len(), next), (899, 0));
    let all: Vec<Document> = first.into_iter().chain(rest).collect();
    assert_each_once(&all);
    // The exhausted cursor is gone.
    db.run_err(doc! {"getMore": id, "collection": "many"})
        .await
        .assert(43, "CursorNotFound", &format!("cursor id {id} not found"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_cursor_walks_every_batch() {
    let server = start_with_documents().await;
    let coll = server.db("test").collection::<Document>("many");
    let docs: Vec<Document> = coll
        .find(doc! {})
        .batch_size(7)
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("cursor");
    assert_each_once(&docs);
    let some: Vec<Document> = coll
        .find(doc! {"n": 3})
        .sort(doc! {"_id": 1})
        .batch_size(4)
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("cursor");
    let ids: Vec<i32> = some
        .iter()
        .map(|d| d.get_i32("_id").expect("_id"))
        .collect();
    assert_eq!(
        ids,
        (0..DOCUMENTS).filter(|i| i % 10 == 3).collect::<Vec<_>>()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_across_batches_stops_at_the_limit() {
    let server = start_with_documents().await;
    let mut db = SessionDb::new(server.db("test")).await;
    let reply = db
        .run(doc! {"find": "many", "sort": {"_id": 1}, "limit": 10, "batchSize": 4})
        .await;
    let (mut docs, mut id) = first_batch(&reply);
    while id != 0 {
        let reply = db
            .run(doc! {"getMore": id, "collection": "many", "batchSize": 4})
            .await;
        let (batch, next) = next_batch(&reply);
        docs.extend(batch);
        id = next;
    }
    let ids: Vec<i32> = docs
        .iter()
        .map(|d| d.get_i32("_id").expect("_id"))
        .collect();
    assert_eq!(ids, (0..10).collect::<Vec<_>>());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_cursors_closes_cursors() {
    let server = start_with_documents().await;
    let mut db = SessionDb::new(server.db("test")).await;
    let reply = db.run(doc! {"find": "many", "batchSize": 5}).await;
    let (_, id) = first_batch(&reply);
    assert_ne!(id, 0);
    let unknown: i64 = 123_456_789;
    let reply = db
        .run(doc! {"killCursors": "many", "cursors": [id, unknown]})
        .await;
    assert_eq!(
        reply,
        doc! {
            "cursorsKilled": [id],
            "cursorsNotFound": [unknown],
            "cursorsAlive": [],
            "cursorsUnknown": [],
            "ok": 1.0,
        }
    );
    db.run_err(doc! {"getMore": id, "collection": "many"})
        .await
        .assert(43, "CursorNotFound", &format!("cursor id {id} not found"));
    // Killing it again: not found.
    let reply = db.run(doc! {"killCursors": "many", "cursors": [id]}).await;
    assert_eq!(
        reply.get_array("cursorsNotFound").ok(),
        Some(&vec![Bson::Int64(id)])
    );

    // serverStatus counts open cursors.
    let reply = db.run(doc! {"find": "many", "batchSize": 1}).await;
    let (_, id) = first_batch(&reply);
    let status = run(&server.db("admin"), doc! {"serverStatus": 1}).await;
    let open = status
        .get_document("metrics")
        .and_then(|m| m.get_document("cursor"))
        .and_then(|c| c.get_document("open"))
        .expect("metrics.cursor.open");
    assert_eq!(int_field(open, "total"), 1, "{status}");
    db.run(doc! {"killCursors": "many", "cursors": [id]}).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_more_checks_its_arguments() {
    let server = start_with_documents().await;
    let mut db = SessionDb::new(server.db("test")).await;
    let reply = db.run(doc! {"find": "many", "batchSize": 5}).await;
    let (_, id) = first_batch(&reply);
    // Another collection's cursor.
    db.run_err(doc! {"getMore": id, "collection": "other"})
        .await
        .assert(13, "Unauthorized", "different namespace");
    // The cursor survives the refused getMore.
    let reply = db
        .run(doc! {"getMore": id, "collection": "many", "batchSize": 5})
        .await;
    assert_eq!(next_batch(&reply).0.len(), 5);
    db.run_err(doc! {"getMore": "x", "collection": "many"})
        .await
        .assert(14, "TypeMismatch", "getMore.getMore");
    db.run_err(doc! {"getMore": id}).await.assert(
        40414,
        "Location40414",
        "'getMore.collection' is missing",
    );
    db.run_err(doc! {"getMore": 987_654_321_i64, "collection": "many"})
        .await
        .assert(43, "CursorNotFound", "cursor id 987654321 not found");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_see_a_consistent_set_while_others_write() {
    let server = start_with_documents().await;
    let mut db = SessionDb::new(server.db("test")).await;
    let reply = db
        .run(doc! {"find": "many", "sort": {"_id": 1}, "batchSize": 100})
        .await;
    let (mut docs, mut id) = first_batch(&reply);
    // Delete documents the cursor has not reached yet, and add new ones.
    db.run(doc! {"delete": "many", "deletes": [{"q": {"n": 9}, "limit": 0}]})
        .await;
    db.run(doc! {"insert": "many", "documents": [{"_id": 5000, "n": 0}]})
        .await;
    while id != 0 {
        let reply = db.run(doc! {"getMore": id, "collection": "many"}).await;
        let (batch, next) = next_batch(&reply);
        docs.extend(batch);
        id = next;
    }
    // Each document at most once, in order, whatever the cursor saw of the writes.
    let ids: Vec<i32> = docs
        .iter()
        .map(|d| d.get_i32("_id").expect("_id"))
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "a document came back twice or out of order");
    assert!(ids.len() >= 900, "only {} documents", ids.len());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_cursors_time_out_unless_no_cursor_timeout() {
    let server = TestServer::start_with(outpost_server::Config {
        dbpath: None,
        port: 0,
        cursor_timeout_secs: 1,
        ..Default::default()
    })
    .await;
    let mut db = SessionDb::new(server.db("test")).await;
    let docs: Vec<Document> = (0..10).map(|i| doc! {"_id": i}).collect();
    db.run(doc! {"insert": "c", "documents": docs}).await;
    let reply = db.run(doc! {"find": "c", "batchSize": 2}).await;
    let (_, idle) = first_batch(&reply);
    let reply = db
        .run(doc! {"find": "c", "batchSize": 2, "noCursorTimeout": true})
        .await;
    let (_, pinned) = first_batch(&reply);
    // cursorTimeoutMillis is 1 s here; wait for the reaper to pass.
    tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
    db.run_err(doc! {"getMore": idle, "collection": "c"})
        .await
        .assert(43, "CursorNotFound", "");
    let reply = db
        .run(doc! {"getMore": pinned, "collection": "c", "batchSize": 2})
        .await;
    assert_eq!(next_batch(&reply).0.len(), 2);
    db.run(doc! {"killCursors": "c", "cursors": [pinned]}).await;
    server.shutdown().await;
}
