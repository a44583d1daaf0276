//! Hostile input and limits (issue 9): each case must get a clear error (or be bounded) and
//! leave the server answering a normal client.

use bson::doc;
use outpost_tests::{run, run_err, write_failure, TestServer};

/// `a.a.a...` with `components` components.
fn long_path(components: usize) -> String {
    vec!["a"; components].join(".")
}

/// The server still answers a normal client: a fresh connection pings and reads.
async fn assert_still_serving(server: &TestServer) {
    let client = server.new_client().await;
    let reply = run(&client.database("admin"), doc! {"ping": 1}).await;
    assert!(reply.contains_key("ok"));
}

#[tokio::test]
async fn long_dotted_paths_are_refused_in_updates_filters_projections_and_pipelines() {
    let server = TestServer::start().await;
    let db = server.db("limits");
    run(&db, doc! {"insert": "c", "documents": [{"_id": 1, "a": 1}]}).await;
    let huge = long_path(60_000);
    let over = long_path(201);

    for path in [&huge, &over] {
        let failure = write_failure(
            &db,
            doc! {"update": "c", "updates": [{"q": {}, "u": {"$set": {path.as_str(): 1}}}]},
        )
        .await;
        failure.assert(15, "Overflow", "FieldPath is too long");
        let failure = run_err(&db, doc! {"find": "c", "filter": {path.as_str(): 1}}).await;
        failure.assert(15, "Overflow", "FieldPath is too long");
        let failure = run_err(&db, doc! {"find": "c", "projection": {path.as_str(): 1}}).await;
        failure.assert(15, "Overflow", "FieldPath is too long");
        let failure = run_err(&db, doc! {"find": "c", "sort": {path.as_str(): 1}}).await;
        failure.assert(15, "Overflow", "FieldPath is too long");
        let field_path = format!("${path}");
        let failure = run_err(
            &db,
            doc! {"aggregate": "c", "pipeline": [{"$project": {"x": field_path.as_str()}}], "cursor": {}},
        )
        .await;
        failure.assert(15, "Overflow", "FieldPath is too long");
        let failure = run_err(
            &db,
            doc! {"aggregate": "c", "pipeline": [{"$set": {path.as_str(): 1}}], "cursor": {}},
        )
        .await;
        failure.assert(15, "Overflow", "FieldPath is too long");
        let failure = run_err(&db, doc! {"distinct": "c", "key": path.as_str()}).await;
        failure.assert(15, "Overflow", "FieldPath is too long");
        let failure = run_err(
            &db,
            doc! {"createIndexes": "c", "indexes": [{"key": {path.as_str(): 1}, "name": "long"}]},
        )
        .await;
        failure.assert(15, "Overflow", "FieldPath is too long");
        assert_still_serving(&server).await;
    }
    // Paths in other stages.
    let field_path = format!("${huge}");
    let stages = [
        doc! {"$unwind": field_path.as_str()},
        doc! {"$unset": huge.as_str()},
        doc! {"$group": {"_id": field_path.as_str()}},
        doc! {"$sortByCount": field_path.as_str()},
        doc! {"$lookup": {"from": "c", "localField": huge.as_str(), "foreignField": "a", "as": "j"}},
        doc! {"$match": {huge.as_str(): {"$exists": true}}},
        doc! {"$sort": {huge.as_str(): 1}},
    ];
    for stage in stages {
        let failure = run_err(
            &db,
            doc! {"aggregate": "c", "pipeline": [stage], "cursor": {}},
        )
        .await;
        failure.assert(15, "Overflow", "FieldPath is too long");
    }
    assert_still_serving(&server).await;
    // 200 components is within the limit: the filter runs; the update would nest the
    // document past the storage depth limit and is refused with an error, not a crash.
    let at_limit = long_path(200);
    run(&db, doc! {"find": "c", "filter": {at_limit.as_str(): 1}}).await;
    let set = format!("b.{}", long_path(199));
    let failure = write_failure(
        &db,
        doc! {"update": "c", "updates": [{"q": {}, "u": {"$set": {set.as_str(): 1}}}]},
    )
    .await;
    assert_ne!(failure.code, 0, "{failure:?}");
    assert_still_serving(&server).await;
    let reply = run(&db, doc! {"count": "c"}).await;
    assert_eq!(reply.get_i32("n").ok(), Some(1));
    server.shutdown().await;
}

async fn flushes_before_reply(server: &TestServer) -> i64 {
    let status = run(&server.db("admin"), doc! {"serverStatus": 1}).await;
    let engine = status.get_document("storageEngine").expect("storageEngine");
    outpost_tests::int_field(engine, "flushesBeforeReply")
}

#[tokio::test]
async fn numeric_j_and_fsync_flush_before_the_reply() {
    let server = TestServer::start_persistent().await;
    let db = server.db("limits");
    let cases = [
        (doc! {"w": 1}, 0),
        (doc! {"w": 1, "j": 0}, 0),
        (doc! {"w": 1, "j": 1}, 1),
        (doc! {"w": 1, "j": true}, 1),
        (doc! {"fsync": true}, 1),
        (doc! {"w": "majority"}, 1),
    ];
    for (id, (write_concern, flushes)) in (0..).zip(cases) {
        let before = flushes_before_reply(&server).await;
        let shown = format!("{write_concern}");
        run(
            &db,
            doc! {"insert": "c", "documents": [{"_id": id}], "writeConcern": write_concern},
        )
        .await;
        assert_eq!(
            flushes_before_reply(&server).await - before,
            flushes,
            "{shown}"
        );
    }
    server.shutdown().await;
}

/// An aggregation over one document whose `$project` computes `x` with `expression`.
fn project_x(expression: bson::Bson) -> bson::Document {
    doc! {"aggregate": "one", "pipeline": [{"$project": {"x": expression}}], "cursor": {}}
}

#[tokio::test]
async fn expressions_cannot_build_unbounded_values() {
    let server = TestServer::start().await;
    let db = server.db("limits");
    run(&db, doc! {"insert": "one", "documents": [{"_id": 1}]}).await;
    let doubling = |initial: bson::Bson, step: bson::Bson| bson::bson!({"$reduce": {"input": {"$range": [0, 40]}, "initialValue": initial, "in": step}});
    // A string doubled 40 times: refused at 16 MB.
    let strings = doubling(
        bson::Bson::String("ab".into()),
        bson::bson!({"$concat": ["$$value", "$$value"]}),
    );
    run_err(&db, project_x(strings)).await.assert(
        16493,
        "Location16493",
        "string longer than 16MB",
    );
    // An array doubled 40 times: refused at the memory limit.
    let arrays = doubling(
        bson::bson!([1]),
        bson::bson!({"$concatArrays": ["$$value", "$$value"]}),
    );
    run_err(&db, project_x(arrays)).await.assert(
        146,
        "ExceededMemoryLimit",
        "$concatArrays used too much memory",
    );
    // An object holding the previous value twice.
    let objects = doubling(
        bson::bson!({"s": "ab"}),
        bson::bson!({"l": "$$value", "r": "$$value"}),
    );
    run_err(&db, project_x(objects)).await.assert(
        146,
        "ExceededMemoryLimit",
        "used too much memory",
    );
    // An object wrapping the previous value 300 times: refused by depth.
    let deep = bson::bson!({"$reduce": {"input": {"$range": [0, 300]}, "initialValue": 1, "in": {"a": "$$value"}}});
    run_err(&db, project_x(deep))
        .await
        .assert(15, "Overflow", "nested deeper than 200 levels");
    // An 8 MB string mapped over 100 elements.
    let big = bson::bson!({"$reduce": {"input": {"$range": [0, 22]}, "initialValue": "ab", "in": {"$concat": ["$$value", "$$value"]}}});
    let mapped = bson::bson!({"$let": {"vars": {"big": big}, "in": {"$map": {"input": {"$range": [0, 100]}, "in": "$$big"}}}});
    run_err(&db, project_x(mapped)).await.assert(
        146,
        "ExceededMemoryLimit",
        "$map used too much memory",
    );
    // $replaceAll multiplying a string.
    let replaced = bson::bson!({"$replaceAll": {"input": {"$reduce": {"input": {"$range": [0, 20]}, "initialValue": "a", "in": {"$concat": ["$$value", "$$value"]}}}, "find": "a", "replacement": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}});
    run_err(&db, project_x(replaced)).await.assert(
        16493,
        "Location16493",
        "string longer than 16MB",
    );
    // Ordinary expressions still work.
    let fine = doubling(
        bson::bson!([]),
        bson::bson!({"$concatArrays": ["$$value", ["$$this"]]}),
    );
    let reply = run(&db, project_x(fine)).await;
    let first = outpost_tests::first_batch(&reply).0;
    assert_eq!(
        first
            .first()
            .and_then(|d| d.get_array("x").ok())
            .map(Vec::len),
        Some(40)
    );
    assert_still_serving(&server).await;
    server.shutdown().await;
}
