//! Change streams through the driver's `watch()`: events from the history log on a collection,
//! a database and the deployment while another client writes, resume tokens (also across a
//! restart), awaitData `getMore`, and the stages allowed after `$changeStream`.

use std::time::Duration;

use bson::{doc, Bson, Document};
use futures::StreamExt;
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType, ResumeToken};
use mongodb::change_stream::ChangeStream;
use mongodb::options::{FullDocumentBeforeChangeType, FullDocumentType};
use outpost_server::Config;
use outpost_tests::{first_batch, next_batch, run, run_err, SessionDb, TestServer};

/// Generous bound on waiting for an event that has been committed: a stream that did not
/// wake on the commit would wait out its `maxAwaitTimeMS` (set far longer) and fail here.
const EVENT_BOUND: Duration = Duration::from_secs(60);
/// The stream's await time in tests that check `getMore` answers on commit.
const LONG_AWAIT: Duration = Duration::from_secs(600);

type Events = ChangeStream<ChangeStreamEvent<Document>>;

async fn next(stream: &mut Events) -> ChangeStreamEvent<Document> {
    tokio::time::timeout(EVENT_BOUND, stream.next())
        .await
        .expect("no event arrived although one was committed")
        .expect("the stream ended")
        .expect("the stream failed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_stream_reports_each_write_of_another_client() {
    let server = TestServer::start().await;
    let coll = server.db("shop").collection::<Document>("orders");
    let mut stream = coll
        .watch()
        .max_await_time(LONG_AWAIT)
        .await
        .expect("watch");
    let writer = server.new_client().await;
    let orders = writer.database("shop").collection::<Document>("orders");
    let other = writer.database("shop").collection::<Document>("stock");
    let task = tokio::spawn(async move {
        other
            .insert_one(doc! {"_id": 1})
            .await
            .expect("other collection");
        orders
            .insert_one(doc! {"_id": 1, "item": "tea", "qty": 2, "note": "x"})
            .await
            .expect("insert");
        orders
            .update_one(
                doc! {"_id": 1},
                doc! {"$set": {"qty": 3, "bag.size": "L"}, "$unset": {"note": ""}},
            )
            .await
            .expect("update");
        orders
            .replace_one(doc! {"_id": 1}, doc! {"item": "coffee"})
            .await
            .expect("replace");
        orders.delete_one(doc! {"_id": 1}).await.expect("delete");
    });
    let insert = next(&mut stream).await;
    assert_eq!(insert.operation_type, OperationType::Insert);
    assert_eq!(
        insert.full_document,
        Some(doc! {"_id": 1, "item": "tea", "qty": 2, "note": "x"})
    );
    assert_eq!(insert.document_key, Some(doc! {"_id": 1}));
    let ns = insert.ns.as_ref().expect("ns");
    assert_eq!(
        (ns.db.as_str(), ns.coll.as_deref()),
        ("shop", Some("orders"))
    );
    assert!(insert.cluster_time.is_some() && insert.wall_time.is_some());

    let update = next(&mut stream).await;
    assert_eq!(update.operation_type, OperationType::Update);
    assert_eq!(update.full_document, None, "no fullDocument by default");
    let description = update.update_description.expect("updateDescription");
    assert_eq!(
        description.updated_fields,
        doc! {"qty": 3, "bag": {"size": "L"}}
    );
    assert_eq!(description.removed_fields, vec!["note".to_owned()]);

    let replace = next(&mut stream).await;
    assert_eq!(replace.operation_type, OperationType::Replace);
    assert_eq!(
        replace.full_document,
        Some(doc! {"_id": 1, "item": "coffee"})
    );

    let delete = next(&mut stream).await;
    assert_eq!(delete.operation_type, OperationType::Delete);
    assert_eq!(delete.document_key, Some(doc! {"_id": 1}));
    assert_eq!(delete.full_document, None);
    task.await.expect("writer");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_documents_after_and_before_the_change() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"create": "kept", "changeStreamPreAndPostImages": {"enabled": true}},
    )
    .await;
    let kept = db.collection::<Document>("kept");
    let plain = db.collection::<Document>("plain");
    kept.insert_one(doc! {"_id": 1, "n": 1})
        .await
        .expect("insert");
    plain
        .insert_one(doc! {"_id": 1, "n": 1})
        .await
        .expect("insert");

    let mut lookup = plain
        .watch()
        .full_document(FullDocumentType::UpdateLookup)
        .await
        .expect("watch");
    let mut post = plain
        .watch()
        .full_document(FullDocumentType::WhenAvailable)
        .full_document_before_change(FullDocumentBeforeChangeType::WhenAvailable)
        .await
        .expect("watch");
    let mut before = kept
        .watch()
        .full_document_before_change(FullDocumentBeforeChangeType::Required)
        .await
        .expect("watch");
    plain
        .update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 1}})
        .await
        .expect("update");
    plain
        .update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 1}})
        .await
        .expect("update");
    kept.update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 1}})
        .await
        .expect("update");
    kept.delete_one(doc! {"_id": 1}).await.expect("delete");

    // updateLookup reads the document as it is now (after both updates).
    assert_eq!(
        next(&mut lookup).await.full_document,
        Some(doc! {"_id": 1, "n": 3})
    );
    // whenAvailable gives the document just after each change; no pre-image is kept.
    let first = next(&mut post).await;
    assert_eq!(first.full_document, Some(doc! {"_id": 1, "n": 2}));
    assert_eq!(first.full_document_before_change, None);
    assert_eq!(
        next(&mut post).await.full_document,
        Some(doc! {"_id": 1, "n": 3})
    );
    // With changeStreamPreAndPostImages the document before the change is there.
    let update = next(&mut before).await;
    assert_eq!(
        update.full_document_before_change,
        Some(doc! {"_id": 1, "n": 1})
    );
    let delete = next(&mut before).await;
    assert_eq!(delete.operation_type, OperationType::Delete);
    assert_eq!(
        delete.full_document_before_change,
        Some(doc! {"_id": 1, "n": 2})
    );

    // Required pre-images on a collection without them: the stream fails by name.
    let mut required = plain
        .watch()
        .full_document_before_change(FullDocumentBeforeChangeType::Required)
        .await
        .expect("watch");
    plain.delete_one(doc! {"_id": 1}).await.expect("delete");
    let error = tokio::time::timeout(EVENT_BOUND, required.next())
        .await
        .expect("an answer")
        .expect("an item")
        .expect_err("no pre-image");
    assert!(format!("{error:?}").contains("pre-image"), "{error:?}");
    // collMod turns pre-images on and off.
    run(
        &db,
        doc! {"collMod": "plain", "changeStreamPreAndPostImages": {"enabled": true}},
    )
    .await;
    run_err(
        &db,
        doc! {"collMod": "plain", "changeStreamPreAndPostImages": {"enabled": 1}},
    )
    .await
    .assert(14, "TypeMismatch", "enabled");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_and_cluster_streams_see_renames_drops_and_database_drops() {
    let server = TestServer::start().await;
    let client = server.client();
    let shop = client.database("shop");
    let mut database = shop.watch().await.expect("watch db");
    let mut cluster = client.watch().await.expect("watch cluster");
    let mut orders = shop
        .collection::<Document>("orders")
        .watch()
        .await
        .expect("watch coll");
    client
        .database("other")
        .collection::<Document>("c")
        .insert_one(doc! {"_id": 0})
        .await
        .expect("insert");
    shop.collection::<Document>("orders")
        .insert_one(doc! {"_id": 1})
        .await
        .expect("insert");
    run(
        &client.database("admin"),
        doc! {"renameCollection": "shop.orders", "to": "shop.archive"},
    )
    .await;
    shop.drop().await.expect("dropDatabase");

    let seen = |e: &ChangeStreamEvent<Document>| {
        (
            e.operation_type.clone(),
            e.ns.as_ref()
                .map(|n| format!("{}.{}", n.db, n.coll.clone().unwrap_or_default())),
        )
    };
    let mut db_events = Vec::new();
    for _ in 0..5 {
        db_events.push(seen(&next(&mut database).await));
    }
    let ns = |s: &str| Some(s.to_owned());
    assert_eq!(
        db_events,
        vec![
            (OperationType::Insert, ns("shop.orders")),
            (OperationType::Rename, ns("shop.orders")),
            (OperationType::Drop, ns("shop.archive")),
            (OperationType::DropDatabase, ns("shop.")),
            (OperationType::Invalidate, None),
        ]
    );
    let mut cluster_events = Vec::new();
    for _ in 0..5 {
        cluster_events.push(seen(&next(&mut cluster).await));
    }
    assert_eq!(cluster_events[0], (OperationType::Insert, ns("other.c")));
    assert_eq!(
        cluster_events[1],
        (OperationType::Insert, ns("shop.orders"))
    );
    assert_eq!(
        cluster_events[4],
        (OperationType::DropDatabase, ns("shop."))
    );

    let insert = next(&mut orders).await;
    assert_eq!(insert.operation_type, OperationType::Insert);
    let rename = next(&mut orders).await;
    assert_eq!(rename.operation_type, OperationType::Rename);
    let to = rename.to.expect("to");
    assert_eq!(
        (to.db.as_str(), to.coll.as_deref()),
        ("shop", Some("archive"))
    );
    let invalidate = next(&mut orders).await;
    assert_eq!(invalidate.operation_type, OperationType::Invalidate);
    assert!(!orders.is_alive(), "an invalidated stream is over");

    // resumeAfter an invalidate is refused; startAfter starts a new stream after it.
    let coll = shop.collection::<Document>("orders");
    let error = coll
        .watch()
        .resume_after(invalidate.id.clone())
        .await
        .expect_err("resumeAfter an invalidate");
    assert!(format!("{error:?}").contains("startAfter"), "{error:?}");
    let mut after = coll
        .watch()
        .start_after(invalidate.id)
        .await
        .expect("startAfter");
    coll.insert_one(doc! {"_id": 2}).await.expect("insert");
    assert_eq!(next(&mut after).await.document_key, Some(doc! {"_id": 2}));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_resumes_exactly_after_a_server_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_in(dir.path()).await;
    let coll = server.db("test").collection::<Document>("c");
    let mut stream = coll.watch().await.expect("watch");
    for i in 1..=3 {
        coll.insert_one(doc! {"_id": i}).await.expect("insert");
    }
    let first = next(&mut stream).await;
    assert_eq!(first.document_key, Some(doc! {"_id": 1}));
    let start_time = first.cluster_time.expect("clusterTime");
    drop(stream);
    server.shutdown().await;

    let server = TestServer::start_in(dir.path()).await;
    let coll = server.db("test").collection::<Document>("c");
    coll.insert_one(doc! {"_id": 4}).await.expect("insert");
    let mut resumed = coll
        .watch()
        .resume_after(first.id.clone())
        .await
        .expect("resume");
    let mut keys = Vec::new();
    for _ in 0..3 {
        keys.push(next(&mut resumed).await.document_key.expect("documentKey"));
    }
    assert_eq!(
        keys,
        vec![doc! {"_id": 2}, doc! {"_id": 3}, doc! {"_id": 4}]
    );
    // From an operation time: that event included.
    let mut at = coll
        .watch()
        .start_at_operation_time(start_time)
        .await
        .expect("startAtOperationTime");
    assert_eq!(next(&mut at).await.document_key, Some(doc! {"_id": 1}));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_past_trimmed_history_is_change_stream_history_lost() {
    let server = TestServer::start().await;
    let coll = server.db("test").collection::<Document>("c");
    let mut stream = coll.watch().await.expect("watch");
    for i in 1..=3 {
        coll.insert_one(doc! {"_id": i}).await.expect("insert");
    }
    let first: ResumeToken = next(&mut stream).await.id;
    let second: ResumeToken = next(&mut stream).await.id;
    // Remove the entries of the first two inserts.
    let storage = server.handle().storage();
    let last = storage.last_seq();
    let removed = storage.trim_history(last - 1, u64::MAX, 100).expect("trim");
    assert!(removed >= 2, "{removed}");
    let error = coll
        .watch()
        .resume_after(first)
        .await
        .expect_err("history lost");
    assert!(
        format!("{error:?}").contains("ChangeStreamHistoryLost"),
        "{error:?}"
    );
    // Right after the second insert is still resumable: the third is kept.
    let mut resumed = coll.watch().resume_after(second).await.expect("resume");
    assert_eq!(next(&mut resumed).await.document_key, Some(doc! {"_id": 3}));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_after_change_stream_filter_and_shape_events() {
    let server = TestServer::start().await;
    let coll = server.db("test").collection::<Document>("c");
    let mut stream = coll
        .watch()
        .pipeline([
            doc! {"$match": {"operationType": "insert", "fullDocument.keep": true}},
            doc! {"$project": {"operationType": 1, "ns": 1, "fullDocument._id": 1}},
        ])
        .await
        .expect("watch");
    coll.insert_one(doc! {"_id": 1, "keep": false})
        .await
        .expect("insert");
    coll.insert_one(doc! {"_id": 2, "keep": true})
        .await
        .expect("insert");
    let event = next(&mut stream).await;
    assert_eq!(event.full_document, Some(doc! {"_id": 2}));
    assert_eq!(event.document_key, None, "projected away");

    let db = server.db("test");
    let reply = run(
        &db,
        doc! {"aggregate": "c", "pipeline": [{"$changeStream": {}}, {"$project": {"_id": 0}}], "cursor": {}},
    )
    .await;
    let (_, id) = first_batch(&reply);
    coll.insert_one(doc! {"_id": 3}).await.expect("insert");
    run_err(&db, doc! {"getMore": id, "collection": "c"})
        .await
        .assert(280, "ChangeStreamFatalError", "_id field");
    run_err(
        &db,
        doc! {"aggregate": "c", "pipeline": [{"$changeStream": {}}, {"$group": {"_id": 1}}], "cursor": {}},
    )
    .await
    .assert(20, "IllegalOperation", "$group is not permitted in a $changeStream pipeline");
    run_err(
        &db,
        doc! {"aggregate": "c", "pipeline": [{"$match": {}}, {"$changeStream": {}}], "cursor": {}},
    )
    .await
    .assert(40602, "Location40602", "first stage");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_more_waits_for_the_next_commit_and_reports_where_it_read_to() {
    let server = TestServer::start().await;
    let db = server.db("test");
    let mut session = SessionDb::new(db.clone()).await;
    let reply = session
        .run(doc! {"aggregate": "c", "pipeline": [{"$changeStream": {}}], "cursor": {}})
        .await;
    let cursor = reply.get_document("cursor").expect("cursor");
    let start = cursor
        .get_document("postBatchResumeToken")
        .expect("token")
        .clone();
    let (events, id) = first_batch(&reply);
    assert!(events.is_empty() && id != 0, "{reply}");
    // Nothing committed: a short wait answers with an empty batch and the same position.
    let empty = session
        .run(doc! {"getMore": id, "collection": "c", "maxTimeMS": 10})
        .await;
    let (events, same_id) = next_batch(&empty);
    assert!(events.is_empty() && same_id == id, "{empty}");
    assert_eq!(
        empty
            .get_document("cursor")
            .and_then(|c| c.get_document("postBatchResumeToken")),
        Ok(&start)
    );
    // A long wait answers as soon as another client commits.
    let writer = server.new_client().await;
    let task = tokio::spawn(async move {
        writer
            .database("test")
            .collection::<Document>("c")
            .insert_one(doc! {"_id": 1})
            .await
            .expect("insert");
    });
    let waited = tokio::time::timeout(
        EVENT_BOUND,
        session.run(doc! {"getMore": id, "collection": "c", "maxTimeMS": 600_000}),
    )
    .await
    .expect("getMore answered when the insert committed");
    let (events, _) = next_batch(&waited);
    assert_eq!(events.len(), 1, "{waited}");
    task.await.expect("writer");
    // The position after the batch resumes with the next change, not one already seen.
    let post_batch = waited
        .get_document("cursor")
        .and_then(|c| c.get_document("postBatchResumeToken"))
        .expect("postBatchResumeToken")
        .clone();
    assert_ne!(post_batch, start);
    let resumed = session
        .run(doc! {"aggregate": "c", "pipeline": [{"$changeStream": {"resumeAfter": post_batch}}], "cursor": {}})
        .await;
    let (events, id) = first_batch(&resumed);
    assert!(events.is_empty(), "{resumed}");
    db.collection::<Document>("c")
        .insert_one(doc! {"_id": 2})
        .await
        .expect("insert");
    let more = session
        .run(doc! {"getMore": id, "collection": "c", "maxTimeMS": 600_000})
        .await;
    let (events, _) = next_batch(&more);
    assert_eq!(events.len(), 1, "{more}");
    assert_eq!(events[0].get_document("documentKey"), Ok(&doc! {"_id": 2}));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_streams_are_refused_where_mongodb_refuses_them() {
    let server = TestServer::start().await;
    let stream = |db: &str, target: Bson, spec: Document| {
        let db = server.db(db);
        async move {
            run_err(
                &db,
                doc! {"aggregate": target, "pipeline": [{"$changeStream": spec}], "cursor": {}},
            )
            .await
        }
    };
    stream("admin", Bson::String("c".into()), doc! {})
        .await
        .assert(73, "InvalidNamespace", "internal admin database");
    stream("test", Bson::Int32(1), doc! {"allChangesForCluster": true})
        .await
        .assert(
            72,
            "InvalidOptions",
            "may only be opened on the 'admin' database",
        );
    stream("test", Bson::String("c".into()), doc! {"bogus": 1})
        .await
        .assert(
            40415,
            "Location40415",
            "'$changeStream.bogus' is an unknown field",
        );
    stream(
        "test",
        Bson::String("c".into()),
        doc! {"fullDocument": "sometimes"},
    )
    .await
    .assert(2, "BadValue", "fullDocument");
    stream(
        "test",
        Bson::String("c".into()),
        doc! {"resumeAfter": {"_data": "00"}, "startAtOperationTime": bson::Timestamp { time: 1, increment: 0 }},
    )
    .await
    .assert(40674, "Location40674", "Only one type of resume option");
    stream(
        "test",
        Bson::String("c".into()),
        doc! {"resumeAfter": {"_data": "nothex"}},
    )
    .await
    .assert(260, "InvalidResumeToken", "not a resume token");

    let standalone = TestServer::start_with(Config {
        dbpath: None,
        standalone: true,
        ..Config::default()
    })
    .await;
    run_err(
        &standalone.db("test"),
        doc! {"aggregate": "c", "pipeline": [{"$changeStream": {}}], "cursor": {}},
    )
    .await
    .assert(40573, "Location40573", "only supported on replica sets");
    standalone.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_get_more_does_not_hold_up_shutdown() {
    let server = TestServer::start().await;
    let client = server.new_client().await;
    let db = client.database("test");
    let mut session = SessionDb::new(db).await;
    let reply = session
        .run(doc! {"aggregate": "c", "pipeline": [{"$changeStream": {}}], "cursor": {}})
        .await;
    let (_, id) = first_batch(&reply);
    // Waits for ten minutes unless a change commits or the server stops.
    let waiting = tokio::spawn(async move {
        let _ = session
            .send(doc! {"getMore": id, "collection": "c", "maxTimeMS": 600_000})
            .await;
    });
    // Shut down once the getMore is running (opcounters count it when it starts).
    let admin = server.db("admin");
    let mut running = false;
    for _ in 0..1000 {
        let status = run(&admin, doc! {"serverStatus": 1}).await;
        let counters = status.get_document("opcounters").expect("opcounters");
        if outpost_tests::int_field(counters, "getmore") >= 1 {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(running, "the getMore never started");
    tokio::time::timeout(EVENT_BOUND, server.shutdown())
        .await
        .expect("shutdown finished while a getMore was waiting");
    let _ = tokio::time::timeout(EVENT_BOUND, waiting).await;
    client.shutdown().immediate(true).await;
}
