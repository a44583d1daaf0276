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
    // 200 components is within the limit.
    let at_limit = long_path(200);
    run(&db, doc! {"find": "c", "filter": {at_limit.as_str(): 1}}).await;
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
