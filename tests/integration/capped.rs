//! Capped collections (`create` with `capped`, `size`, `max`; insertion order; eviction of the
//! oldest; deletes and updates; `convertToCapped`; `collStats`) and tailable / awaitData
//! cursors on them.

use std::time::Duration;

use bson::{doc, Bson, Document};
use futures::StreamExt;
use mongodb::options::{CursorType, FindOptions};
use outpost_tests::{find_all, first_batch, ids, int_field, next_batch, run, run_err, TestServer};

async fn insert(server: &TestServer, coll: &str, docs: Vec<Document>) {
    let reply = run(
        &server.db("test"),
        doc! {"insert": coll, "documents": docs.clone()},
    )
    .await;
    assert_eq!(int_field(&reply, "n"), docs.len() as i64, "{reply}");
}

/// A string of `n` bytes, to give documents a known size.
fn filler(n: usize) -> String {
    "x".repeat(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capped_collections_keep_insertion_order_and_evict_the_oldest() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"create": "log", "capped": true, "size": 100_000, "max": 5},
    )
    .await;
    // _ids out of order: the natural order is the insertion order, not the _id order.
    let order = [5, 3, 9, 1, 7, 2, 8];
    for id in order {
        insert(&server, "log", vec![doc! {"_id": id}]).await;
    }
    let docs = find_all(&db, "log", doc! {}).await;
    assert_eq!(ids(&docs), [9, 1, 7, 2, 8]);
    let docs = find_all(&db, "log", doc! {"sort": {"$natural": -1}}).await;
    assert_eq!(ids(&docs), [8, 2, 7, 1, 9]);
    // A filter and an insert of several documents at once keep the order too.
    insert(
        &server,
        "log",
        vec![
            doc! {"_id": 20, "late": true},
            doc! {"_id": 10, "late": true},
        ],
    )
    .await;
    let docs = find_all(&db, "log", doc! {"filter": {"late": true}}).await;
    assert_eq!(ids(&docs), [20, 10]);
    let docs = find_all(&db, "log", doc! {}).await;
    assert_eq!(ids(&docs), [7, 2, 8, 20, 10]);

    let stats = run(&db, doc! {"collStats": "log"}).await;
    assert_eq!(stats.get_bool("capped"), Ok(true), "{stats}");
    assert_eq!(int_field(&stats, "max"), 5, "{stats}");
    assert_eq!(int_field(&stats, "maxSize"), 100_096, "{stats}");
    assert_eq!(int_field(&stats, "count"), 5, "{stats}");
    let listed = run(&db, doc! {"listCollections": 1, "filter": {"name": "log"}}).await;
    let (entries, _) = first_batch(&listed);
    let options = entries[0]
        .get_document("options")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        options,
        doc! {"capped": true, "size": 100_096_i64, "max": 5_i64}
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_limit_evicts_and_deletes_and_updates_are_allowed() {
    let server = TestServer::start().await;
    let db = server.db("test");
    // A size under 4096 is raised to 4096, as in mongod.
    run(&db, doc! {"create": "small", "capped": true, "size": 1000}).await;
    for i in 0..10 {
        insert(&server, "small", vec![doc! {"_id": i, "s": filler(1000)}]).await;
    }
    let stats = run(&db, doc! {"collStats": "small"}).await;
    assert_eq!(int_field(&stats, "maxSize"), 4096, "{stats}");
    assert!(int_field(&stats, "size") <= 4096, "{stats}");
    let docs = find_all(&db, "small", doc! {"projection": {"s": 0}}).await;
    // Each document is 1018 bytes of BSON: the newest four fit in 4096.
    assert_eq!(ids(&docs), [6, 7, 8, 9]);

    // Deletes are allowed (MongoDB 5.0.7+); an update keeps the document's position.
    run(
        &db,
        doc! {"delete": "small", "deletes": [{"q": {"_id": 8}, "limit": 1}]},
    )
    .await;
    run(
        &db,
        doc! {"update": "small", "updates": [{"q": {"_id": 7}, "u": {"$set": {"s": "short"}}}]},
    )
    .await;
    insert(&server, "small", vec![doc! {"_id": 10, "s": filler(1000)}]).await;
    let docs = find_all(&db, "small", doc! {"projection": {"s": 0}}).await;
    assert_eq!(ids(&docs), [6, 7, 9, 10]);
    // One more full-size document evicts the oldest.
    insert(&server, "small", vec![doc! {"_id": 11, "s": filler(1000)}]).await;
    let docs = find_all(&db, "small", doc! {"projection": {"s": 0}}).await;
    assert_eq!(ids(&docs), [7, 9, 10, 11]);

    let error = run_err(&db, doc! {"create": "nosize", "capped": true}).await;
    assert_eq!(error.code, 72, "{error:?}");
    let error = run_err(&db, doc! {"create": "negative", "capped": true, "size": -5}).await;
    assert_eq!(error.code, 72, "{error:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coll_mod_changes_the_limits_and_the_next_insert_evicts() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(&db, doc! {"create": "log", "capped": true, "size": 100_000}).await;
    for id in 0..6 {
        insert(&server, "log", vec![doc! {"_id": id}]).await;
    }
    run(
        &db,
        doc! {"collMod": "log", "cappedMax": 3, "cappedSize": 5000},
    )
    .await;
    let stats = run(&db, doc! {"collStats": "log"}).await;
    assert_eq!(
        (int_field(&stats, "max"), int_field(&stats, "maxSize")),
        (3, 5120),
        "{stats}"
    );
    // Nothing is evicted until the next insert.
    assert_eq!(find_all(&db, "log", doc! {}).await.len(), 6);
    insert(&server, "log", vec![doc! {"_id": 6}]).await;
    assert_eq!(ids(&find_all(&db, "log", doc! {}).await), [4, 5, 6]);
    // cappedMax 0 removes the count limit.
    run(&db, doc! {"collMod": "log", "cappedMax": 0}).await;
    insert(&server, "log", vec![doc! {"_id": 7}]).await;
    assert_eq!(ids(&find_all(&db, "log", doc! {}).await), [4, 5, 6, 7]);
    insert(&server, "plain", vec![doc! {"_id": 1}]).await;
    let error = run_err(&db, doc! {"collMod": "plain", "cappedMax": 3}).await;
    assert_eq!(error.code, 72, "{error:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capped_order_survives_a_restart() {
    let server = TestServer::start_persistent().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"create": "log", "capped": true, "size": 4096, "max": 3},
    )
    .await;
    for id in [3, 1, 2] {
        insert(&server, "log", vec![doc! {"_id": id}]).await;
    }
    let server = server.restart().await;
    let db = server.db("test");
    insert(&server, "log", vec![doc! {"_id": 0}]).await;
    let docs = find_all(&db, "log", doc! {}).await;
    assert_eq!(ids(&docs), [1, 2, 0]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convert_to_capped_keeps_the_newest_documents_in_order() {
    let server = TestServer::start().await;
    let db = server.db("test");
    let docs: Vec<Document> = (0..10)
        .map(|i| doc! {"_id": i, "s": filler(1000)})
        .collect();
    insert(&server, "plain", docs).await;
    run(
        &db,
        doc! {"createIndexes": "plain", "indexes": [{"key": {"s": 1}, "name": "s_1"}]},
    )
    .await;
    run(&db, doc! {"convertToCapped": "plain", "size": 4096}).await;
    let docs = find_all(&db, "plain", doc! {"projection": {"s": 0}}).await;
    assert_eq!(ids(&docs), [6, 7, 8, 9]);
    let stats = run(&db, doc! {"collStats": "plain"}).await;
    assert_eq!(stats.get_bool("capped"), Ok(true), "{stats}");
    // Only the _id index is kept, as in mongod.
    let indexes = run(&db, doc! {"listIndexes": "plain"}).await;
    assert_eq!(first_batch(&indexes).0.len(), 1, "{indexes}");
    let error = run_err(&db, doc! {"convertToCapped": "missing", "size": 4096}).await;
    assert_eq!(error.code, 26, "{error:?}");
    // $out cannot replace a capped collection, as in mongod; $merge inserts (and evicts).
    insert(
        &server,
        "source",
        vec![doc! {"_id": 100, "s": filler(1000)}],
    )
    .await;
    let error = run_err(
        &db,
        doc! {"aggregate": "source", "pipeline": [{"$out": "plain"}], "cursor": {}},
    )
    .await;
    assert_eq!(error.code, 17152, "{error:?}");
    run(
        &db,
        doc! {"aggregate": "source", "pipeline": [{"$merge": {"into": "plain"}}], "cursor": {}},
    )
    .await;
    let docs = find_all(&db, "plain", doc! {"projection": {"s": 0}}).await;
    assert_eq!(ids(&docs), [7, 8, 9, 100]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tailable_cursors_follow_inserts() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(&db, doc! {"create": "log", "capped": true, "size": 100_000}).await;
    insert(
        &server,
        "log",
        vec![doc! {"_id": 1}, doc! {"_id": 2, "skip": true}],
    )
    .await;

    // Refusals first.
    insert(&server, "plain", vec![doc! {"_id": 1}]).await;
    let error = run_err(&db, doc! {"find": "plain", "tailable": true}).await;
    assert_eq!(error.code, 2, "{error:?}");
    let error = run_err(&db, doc! {"find": "log", "awaitData": true}).await;
    assert_eq!(error.code, 9, "{error:?}");
    let error = run_err(
        &db,
        doc! {"find": "log", "tailable": true, "sort": {"_id": 1}},
    )
    .await;
    assert_eq!(error.code, 2, "{error:?}");

    // Plain tailable: the end of the collection keeps the cursor open.
    let reply = run(
        &db,
        doc! {"find": "log", "tailable": true, "filter": {"skip": {"$ne": true}}},
    )
    .await;
    let (docs, id) = first_batch(&reply);
    assert_eq!(ids(&docs), [1]);
    assert_ne!(id, 0);
    let reply = run(&db, doc! {"getMore": id, "collection": "log"}).await;
    assert_eq!(next_batch(&reply), (vec![], id));
    insert(
        &server,
        "log",
        vec![doc! {"_id": 3}, doc! {"_id": 4, "skip": true}],
    )
    .await;
    let reply = run(&db, doc! {"getMore": id, "collection": "log"}).await;
    let (docs, same) = next_batch(&reply);
    assert_eq!((ids(&docs), same), (vec![3], id));
    // maxTimeMS on a getMore needs awaitData.
    let error = run_err(
        &db,
        doc! {"getMore": id, "collection": "log", "maxTimeMS": 10},
    )
    .await;
    assert_eq!(error.code, 2, "{error:?}");
    run(&db, doc! {"killCursors": "log", "cursors": [id]}).await;

    // awaitData: a getMore with nothing new answers an empty batch after its maxTimeMS.
    let reply = run(
        &db,
        doc! {"find": "log", "tailable": true, "awaitData": true, "batchSize": 10},
    )
    .await;
    let (docs, id) = first_batch(&reply);
    assert_eq!(ids(&docs), [1, 2, 3, 4]);
    let reply = run(
        &db,
        doc! {"getMore": id, "collection": "log", "maxTimeMS": 20},
    )
    .await;
    assert_eq!(next_batch(&reply), (vec![], id));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tailable_cursors_honour_skip_and_limit() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(&db, doc! {"create": "log", "capped": true, "size": 100_000}).await;
    insert(&server, "log", (1..=4).map(|i| doc! {"_id": i}).collect()).await;
    // pymongo's cursor[1:2] on a tailable cursor: skip 1, limit 1, and the cursor is done.
    let reply = run(
        &db,
        doc! {"find": "log", "tailable": true, "skip": 1, "limit": 1},
    )
    .await;
    assert_eq!(first_batch(&reply), (vec![doc! {"_id": 2}], 0));
    // A limit spread over batches: the cursor closes once it is reached.
    let reply = run(
        &db,
        doc! {"find": "log", "tailable": true, "skip": 1, "limit": 3, "batchSize": 2},
    )
    .await;
    let (docs, id) = first_batch(&reply);
    assert_eq!(ids(&docs), [2, 3]);
    assert_ne!(id, 0);
    let reply = run(&db, doc! {"getMore": id, "collection": "log"}).await;
    assert_eq!(next_batch(&reply), (vec![doc! {"_id": 4}], 0));
    // Skipping past the end: an open cursor that skips what comes next.
    let reply = run(&db, doc! {"find": "log", "tailable": true, "skip": 5}).await;
    let (docs, id) = first_batch(&reply);
    assert_eq!((docs.len(), id != 0), (0, true));
    insert(&server, "log", vec![doc! {"_id": 5}, doc! {"_id": 6}]).await;
    let reply = run(&db, doc! {"getMore": id, "collection": "log"}).await;
    assert_eq!(next_batch(&reply), (vec![doc! {"_id": 6}], id));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tailable_cursor_overtaken_by_eviction_loses_its_position() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"create": "ring", "capped": true, "size": 4096, "max": 2},
    )
    .await;
    insert(&server, "ring", vec![doc! {"_id": 1}, doc! {"_id": 2}]).await;
    let reply = run(&db, doc! {"find": "ring", "tailable": true, "batchSize": 1}).await;
    let (docs, id) = first_batch(&reply);
    assert_eq!(ids(&docs), [1]);
    // Three more inserts evict documents 1 and 2 (and 3): the cursor stood at 1.
    insert(
        &server,
        "ring",
        vec![doc! {"_id": 3}, doc! {"_id": 4}, doc! {"_id": 5}],
    )
    .await;
    let error = run_err(&db, doc! {"getMore": id, "collection": "ring"}).await;
    assert_eq!(
        (error.code, error.code_name.as_str()),
        (136, "CappedPositionLost"),
        "{error:?}"
    );
    // The cursor is gone.
    let error = run_err(&db, doc! {"getMore": id, "collection": "ring"}).await;
    assert_eq!(error.code, 43, "{error:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_await_data_cursor_wakes_up_on_insert() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"create": "events", "capped": true, "size": 100_000},
    )
    .await;
    insert(&server, "events", vec![doc! {"_id": 0}]).await;
    let options = FindOptions::builder()
        .cursor_type(CursorType::TailableAwait)
        // Long: the getMore returns because of the insert, not because its wait ran out.
        .max_await_time(Duration::from_secs(60))
        .build();
    let mut cursor = db
        .collection::<Document>("events")
        .find(doc! {})
        .with_options(options)
        .await
        .expect("tailable find");
    let first = cursor.next().await.expect("a document").expect("no error");
    assert_eq!(first.get("_id"), Some(&Bson::Int32(0)));
    // The next document does not exist yet: the driver's getMore waits in the server.
    let waiting = tokio::spawn(async move {
        let next = cursor.next().await;
        (next, cursor)
    });
    // Give the getMore time to start waiting (ordering only; nothing is timed).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let writer = server.new_client().await;
    writer
        .database("test")
        .collection::<Document>("events")
        .insert_one(doc! {"_id": 1, "kind": "late"})
        .await
        .expect("insert");
    let (next, _cursor) = waiting.await.expect("task");
    let next = next.expect("a document").expect("no error");
    assert_eq!(next, doc! {"_id": 1, "kind": "late"});
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_an_await_data_wait() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(&db, doc! {"create": "events", "capped": true, "size": 4096}).await;
    insert(&server, "events", vec![doc! {"_id": 0}]).await;
    let reply = run(
        &db,
        doc! {"find": "events", "tailable": true, "awaitData": true},
    )
    .await;
    let (_, id) = first_batch(&reply);
    // A getMore that would wait ten minutes for an insert that never comes, on a client of
    // its own (the test server's client waits for its operations when it shuts down).
    let waiter = server.new_client().await;
    let waiting = tokio::spawn(async move {
        waiter
            .database("test")
            .run_command(doc! {"getMore": id, "collection": "events", "maxTimeMS": 600_000})
            .await
    });
    // Give the getMore time to start waiting (ordering only; nothing is timed).
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Shutdown wakes it: the getMore answers (an empty batch) and the server stops.
    server.shutdown().await;
    let reply = waiting
        .await
        .expect("task")
        .expect("getMore answered before the shutdown");
    assert_eq!(next_batch(&reply), (vec![], id));
}
