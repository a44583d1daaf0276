//! `validate`: counts and checks a collection's documents against its indexes. Corruption
//! itself is tested in storage (`engine::validate`), where index trees can be damaged.

use bson::{doc, Document};
use outpost_tests::{int_field, run, run_err, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reports_records_and_keys_per_index() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"insert": "c", "documents": [
            {"_id": 1, "a": [1, 2, 3], "h": "x"},
            {"_id": 2, "a": 4, "h": "y"},
            {"_id": 3, "h": "z"},
        ]},
    )
    .await;
    run(
        &db,
        doc! {"createIndexes": "c", "indexes": [
            {"key": {"a": 1}, "name": "a_1"},
            {"key": {"h": "hashed"}, "name": "h_hashed"},
            {"key": {"a": -1}, "name": "a_sparse", "sparse": true},
        ]},
    )
    .await;
    let reply = run(&db, doc! {"validate": "c", "full": true}).await;
    assert_eq!(reply.get_bool("valid"), Ok(true), "{reply}");
    assert_eq!(reply.get_str("ns"), Ok("test.c"));
    assert_eq!(int_field(&reply, "nrecords"), 3);
    assert_eq!(int_field(&reply, "nIndexes"), 4);
    // a_1: three keys for the array, one for 4, one (null) for the missing field; the sparse
    // index leaves the missing field out.
    assert_eq!(
        reply
            .get_document("keysPerIndex")
            .cloned()
            .unwrap_or_default(),
        doc! {"_id_": 3_i64, "a_1": 5_i64, "h_hashed": 3_i64, "a_sparse": 4_i64}
    );
    assert_eq!(reply.get_array("errors").map(Vec::len), Ok(0), "{reply}");
    assert_eq!(int_field(&reply, "nInvalidDocuments"), 0);

    // Documents written before a validator are counted as non-compliant, with a warning.
    run(
        &db,
        doc! {"collMod": "c", "validator": {"a": {"$exists": true}}},
    )
    .await;
    let reply = run(&db, doc! {"validate": "c"}).await;
    assert_eq!(reply.get_bool("valid"), Ok(true), "{reply}");
    assert_eq!(int_field(&reply, "nNonCompliantDocuments"), 1, "{reply}");
    assert_eq!(reply.get_array("warnings").map(Vec::len), Ok(1), "{reply}");

    // A capped collection's insertion order is checked too.
    run(
        &db,
        doc! {"create": "log", "capped": true, "size": 4096, "max": 2},
    )
    .await;
    run(
        &db,
        doc! {"insert": "log", "documents": [{"_id": 1}, {"_id": 2}, {"_id": 3}]},
    )
    .await;
    let reply = run(&db, doc! {"validate": "log"}).await;
    assert_eq!(reply.get_bool("valid"), Ok(true), "{reply}");
    assert_eq!(int_field(&reply, "nrecords"), 2);

    let error = run_err(&db, doc! {"validate": "missing"}).await;
    assert_eq!(error.code, 26, "{error:?}");
    run(&db, doc! {"create": "v", "viewOn": "c"}).await;
    let error = run_err(&db, doc! {"validate": "v"}).await;
    assert_eq!(error.code, 166, "{error:?}");
    let error = run_err(&db, doc! {"validate": "c", "repair": true}).await;
    assert_eq!(error.code, 115, "{error:?}");
    // background: true runs the same check; with full: true it is refused, as mongod does.
    let reply = run(&db, doc! {"validate": "log", "background": true}).await;
    assert_eq!(reply.get_bool("valid"), Ok(true), "{reply}");
    assert_eq!(int_field(&reply, "nrecords"), 2);
    run_err(
        &db,
        doc! {"validate": "log", "background": true, "full": true},
    )
    .await
    .assert(
        72,
        "InvalidOptions",
        "{ background: true } and { full: true }",
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_flushes_and_refuses_lock() {
    let server = TestServer::start().await;
    let admin = server.db("admin");
    let status = |reply: &Document| {
        reply
            .get_document("storageEngine")
            .and_then(|s| s.get_i64("flushesBeforeReply"))
            .expect("storageEngine.flushesBeforeReply")
    };
    let before = status(&run(&admin, doc! {"serverStatus": 1}).await);
    let reply = run(&admin, doc! {"fsync": 1}).await;
    assert_eq!(int_field(&reply, "numFiles"), 1);
    assert_eq!(
        status(&run(&admin, doc! {"serverStatus": 1}).await),
        before + 1
    );
    run_err(&admin, doc! {"fsync": 1, "lock": true})
        .await
        .assert(115, "CommandNotSupported", "fsyncLock");
    run_err(&server.db("test"), doc! {"fsync": 1})
        .await
        .assert(13, "Unauthorized", "admin");
    server.shutdown().await;
}
