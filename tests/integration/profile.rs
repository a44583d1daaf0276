//! The database profiler: `profile` levels 0-2, `slowms`, and `system.profile` as a capped
//! collection holding one entry per profiled command.

use bson::{doc, Document};
use outpost_tests::{find_all, int_field, run, run_err, TestServer};

async fn entries(server: &TestServer, filter: Document) -> Vec<Document> {
    find_all(
        &server.db("test"),
        "system.profile",
        doc! {"filter": filter},
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn level_two_records_every_command_in_a_capped_system_profile() {
    let server = TestServer::start().await;
    let db = server.db("test");
    let reply = run(&db, doc! {"profile": -1}).await;
    assert_eq!(
        (reply.get_i32("was"), int_field(&reply, "slowms")),
        (Ok(0), 100),
        "{reply}"
    );
    let reply = run(&db, doc! {"profile": 2}).await;
    assert_eq!(reply.get_i32("was"), Ok(0), "{reply}");
    let stats = run(&db, doc! {"collStats": "system.profile"}).await;
    assert_eq!(stats.get_bool("capped"), Ok(true), "{stats}");
    assert_eq!(int_field(&stats, "maxSize"), 1024 * 1024, "{stats}");

    run(&db, doc! {"insert": "c", "documents": [{"_id": 1}]}).await;
    run(&db, doc! {"find": "c", "filter": {"_id": 1}}).await;
    let error = run_err(&db, doc! {"find": "c", "filter": {"$bad": 1}}).await;
    assert_eq!(error.code, 2, "{error:?}");

    let inserts = entries(&server, doc! {"op": "insert", "ns": "test.c"}).await;
    assert_eq!(inserts.len(), 1, "{inserts:?}");
    assert_eq!(
        inserts[0]
            .get_document("command")
            .ok()
            .and_then(|c| c.get_str("insert").ok()),
        Some("c")
    );
    assert!(inserts[0].get_i64("millis").is_ok_and(|ms| ms >= 0));
    let queries = entries(&server, doc! {"op": "query", "ns": "test.c"}).await;
    assert_eq!(queries.len(), 2, "{queries:?}");
    // The failed one carries its error.
    assert_eq!(
        queries
            .iter()
            .filter(|q| q.get_i32("errCode") == Ok(2))
            .count(),
        1,
        "{queries:?}"
    );

    // Level 0: nothing more is recorded.
    let reply = run(&db, doc! {"profile": 0}).await;
    assert_eq!(reply.get_i32("was"), Ok(2), "{reply}");
    let before = entries(&server, doc! {}).await.len();
    run(&db, doc! {"find": "c"}).await;
    assert_eq!(entries(&server, doc! {}).await.len(), before);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn level_one_records_operations_of_at_least_slowms() {
    let server = TestServer::start().await;
    let db = server.db("test");
    // slowms 0: every operation is slow enough.
    run(&db, doc! {"profile": 1, "slowms": 0}).await;
    run(&db, doc! {"insert": "c", "documents": [{"_id": 1}]}).await;
    assert_eq!(entries(&server, doc! {"op": "insert"}).await.len(), 1);
    // A threshold no operation here reaches (an hour).
    let reply = run(&db, doc! {"profile": 1, "slowms": 3_600_000}).await;
    assert_eq!(int_field(&reply, "slowms"), 0, "{reply}");
    run(&db, doc! {"insert": "c", "documents": [{"_id": 2}]}).await;
    assert_eq!(entries(&server, doc! {"op": "insert"}).await.len(), 1);
    // Another database is not profiled.
    run(
        &server.db("other"),
        doc! {"insert": "c", "documents": [{"_id": 1}]},
    )
    .await;
    let other = find_all(&server.db("other"), "system.profile", doc! {}).await;
    assert!(other.is_empty(), "{other:?}");

    for (command, code) in [
        (doc! {"profile": 3}, 2),
        (doc! {"profile": 1, "sampleRate": 2.0}, 2),
        (doc! {"profile": 1, "filter": {"millis": {"$gt": 1}}}, 115),
    ] {
        let error = run_err(&db, command.clone()).await;
        assert_eq!(error.code, code, "{command}: {error:?}");
    }
    server.shutdown().await;
}
