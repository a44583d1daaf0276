//! The single-node replica set personality (hello, `$clusterTime`, replSetGetStatus, the
//! standalone mode) and retryable writes (`txnNumber` outside transactions).

use bson::{doc, Bson, Document, Timestamp};
use mongodb::options::ClientOptions;
use outpost_server::Config;
use outpost_tests::{int_field, run, run_err, TestServer};

fn config() -> Config {
    Config {
        dbpath: None,
        enable_test_commands: true,
        ..Config::default()
    }
}

/// `operationTime` of a raw reply (what `run` strips).
fn operation_time(reply: &Document) -> Timestamp {
    match reply.get("operationTime") {
        Some(Bson::Timestamp(ts)) => *ts,
        other => panic!("operationTime is {other:?} in {reply}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_reports_a_single_node_replica_set_at_the_address_the_client_reached() {
    let server = TestServer::start_with(config()).await;
    let me = server.addr().to_string();
    let reply = run(&server.db("admin"), doc! {"hello": 1}).await;
    assert_eq!(reply.get_str("setName"), Ok("outpost"), "{reply}");
    assert_eq!(reply.get_bool("isWritablePrimary"), Ok(true), "{reply}");
    assert_eq!(reply.get_bool("secondary"), Ok(false), "{reply}");
    assert_eq!(
        reply.get_array("hosts"),
        Ok(&vec![Bson::String(me.clone())])
    );
    assert_eq!(reply.get_str("me"), Ok(me.as_str()), "{reply}");
    assert_eq!(reply.get_str("primary"), Ok(me.as_str()), "{reply}");
    assert_eq!(int_field(&reply, "setVersion"), 1, "{reply}");
    assert!(reply.get_object_id("electionId").is_ok(), "{reply}");
    let last_write = reply.get_document("lastWrite").expect("lastWrite");
    let op_time = last_write.get_document("opTime").expect("opTime");
    assert!(op_time.get_timestamp("ts").is_ok(), "{reply}");
    assert_eq!(int_field(op_time, "t"), 1, "{reply}");
    assert!(last_write.get_datetime("lastWriteDate").is_ok(), "{reply}");
    assert!(reply.get_document("topologyVersion").is_ok(), "{reply}");
    assert_eq!(int_field(&reply, "maxWireVersion"), 25, "{reply}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_set_name_and_advertised_host_are_configurable() {
    let server = TestServer::start_with(Config {
        repl_set: "shop".into(),
        advertise_host: Some("edge-7.example:27021".into()),
        ..config()
    })
    .await;
    let reply = run(&server.db("admin"), doc! {"hello": 1}).await;
    assert_eq!(reply.get_str("setName"), Ok("shop"), "{reply}");
    assert_eq!(reply.get_str("me"), Ok("edge-7.example:27021"), "{reply}");
    let status = run(&server.db("admin"), doc! {"replSetGetStatus": 1}).await;
    assert_eq!(status.get_str("set"), Ok("shop"), "{status}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_carry_a_cluster_time_that_advances_with_writes() {
    let server = TestServer::start_with(config()).await;
    let db = server.db("test");
    run(&db, doc! {"insert": "c", "documents": [{"_id": 0}]}).await;
    let before = db.run_command(doc! {"ping": 1}).await.expect("ping");
    let cluster_time = before.get_document("$clusterTime").expect("$clusterTime");
    assert_eq!(
        cluster_time.get_timestamp("clusterTime").ok(),
        Some(operation_time(&before)),
        "{before}"
    );
    assert!(cluster_time.get_document("signature").is_ok(), "{before}");
    let write = db
        .run_command(doc! {"insert": "c", "documents": [{"_id": 1}]})
        .await
        .expect("insert");
    let after_write = operation_time(&write);
    assert!(
        after_write > operation_time(&before),
        "{before} then {write}"
    );
    // Reads do not move it.
    let read = db.run_command(doc! {"find": "c"}).await.expect("find");
    assert_eq!(operation_time(&read), after_write, "{read}");
    // Errors carry it too.
    let error = db
        .run_command(doc! {"noSuchCommand": 1})
        .await
        .expect_err("unknown command");
    assert!(
        format!("{error:?}").contains("no such command"),
        "{error:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repl_set_get_status_lists_this_member_as_the_primary() {
    let server = TestServer::start_with(config()).await;
    let status = run(&server.db("admin"), doc! {"replSetGetStatus": 1}).await;
    assert_eq!(status.get_str("set"), Ok("outpost"), "{status}");
    assert_eq!(int_field(&status, "myState"), 1, "{status}");
    let members = status.get_array("members").expect("members");
    assert_eq!(members.len(), 1, "{status}");
    let member = members[0].as_document().expect("member document");
    assert_eq!(member.get_str("stateStr"), Ok("PRIMARY"), "{status}");
    assert_eq!(member.get_bool("self"), Ok(true), "{status}");
    assert_eq!(
        member.get_str("name"),
        Ok(server.addr().to_string().as_str())
    );
    run_err(&server.db("test"), doc! {"replSetGetStatus": 1})
        .await
        .assert(13, "Unauthorized", "only be run against the admin database");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_server_keeps_the_standalone_handshake() {
    let server = TestServer::start_with(Config {
        standalone: true,
        ..config()
    })
    .await;
    let reply = server
        .db("admin")
        .run_command(doc! {"hello": 1})
        .await
        .expect("hello");
    for field in [
        "setName",
        "hosts",
        "me",
        "lastWrite",
        "$clusterTime",
        "operationTime",
    ] {
        assert!(!reply.contains_key(field), "{field} in {reply}");
    }
    run_err(&server.db("admin"), doc! {"replSetGetStatus": 1})
        .await
        .assert(76, "NoReplicationEnabled", "not running with --replSet");
    // Drivers do not send txnNumber to a standalone, and it refuses one.
    let coll = server.db("test").collection::<Document>("c");
    coll.insert_one(doc! {"_id": 1}).await.expect("insert");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drivers_work_without_direct_connection() {
    let server = TestServer::start_with(config()).await;
    let uri = format!("mongodb://{}/?serverSelectionTimeoutMS=5000", server.addr());
    let options = ClientOptions::parse(&uri).await.expect("options");
    let client = mongodb::Client::with_options(options).expect("client");
    let coll = client.database("test").collection::<Document>("c");
    coll.insert_one(doc! {"_id": 1}).await.expect("insert");
    assert_eq!(coll.count_documents(doc! {}).await.expect("count"), 1);
    // The same with the replica set named in the connection string.
    let uri = format!(
        "mongodb://{}/?replicaSet=outpost&serverSelectionTimeoutMS=5000",
        server.addr()
    );
    let named = mongodb::Client::with_uri_str(&uri).await.expect("client");
    let coll = named.database("test").collection::<Document>("c");
    assert_eq!(coll.count_documents(doc! {}).await.expect("count"), 1);
    client.shutdown().immediate(true).await;
    named.shutdown().immediate(true).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_write_is_applied_once_and_answers_the_same() {
    let server = TestServer::start_with(config()).await;
    let db = server.db("test");
    run(&db, doc! {"insert": "c", "documents": [{"_id": 1, "n": 0}]}).await;
    let mut session = server.client().start_session().await.expect("session");
    let update = doc! {
        "update": "c",
        "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1}}}],
        "txnNumber": 5_i64,
    };
    let first = db
        .run_command(update.clone())
        .session(&mut session)
        .await
        .expect("first");
    let again = db
        .run_command(update.clone())
        .session(&mut session)
        .await
        .expect("retry");
    assert_eq!(first.get("nModified"), again.get("nModified"));
    assert_eq!(int_field(&again, "nModified"), 1, "{again}");
    let doc = db
        .collection::<Document>("c")
        .find_one(doc! {"_id": 1})
        .await
        .expect("find");
    assert_eq!(doc, Some(doc! {"_id": 1, "n": 1}), "applied once");
    // An older transaction number than the session's last is refused.
    let mut old = update.clone();
    old.insert("txnNumber", 4_i64);
    let error = db
        .run_command(old)
        .session(&mut session)
        .await
        .expect_err("older txnNumber");
    assert!(
        format!("{error:?}").contains("TransactionTooOld"),
        "{error:?}"
    );
    // A newer one runs.
    let mut next = update.clone();
    next.insert("txnNumber", 6_i64);
    db.run_command(next)
        .session(&mut session)
        .await
        .expect("next");
    let doc = db
        .collection::<Document>("c")
        .find_one(doc! {"_id": 1})
        .await
        .expect("find");
    assert_eq!(doc, Some(doc! {"_id": 1, "n": 2}));
    // Only writes are retryable.
    let error = db
        .run_command(doc! {"find": "c", "txnNumber": 7_i64})
        .session(&mut session)
        .await
        .expect_err("find with txnNumber");
    assert!(
        format!("{error:?}").contains("find is not a retryable write command"),
        "{error:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_insert_is_retried_after_a_dropped_connection() {
    let server = TestServer::start_with(config()).await;
    let admin = server.db("admin");
    run(
        &admin,
        doc! {
            "configureFailPoint": "failCommand",
            "mode": {"times": 1},
            "data": {"failCommands": ["insert"], "closeConnection": true},
        },
    )
    .await;
    let coll = server.db("test").collection::<Document>("c");
    coll.insert_one(doc! {"_id": 1})
        .await
        .expect("retried insert");
    assert_eq!(coll.count_documents(doc! {}).await.expect("count"), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_reply_failed_is_retried_by_the_driver_and_applied_once() {
    let server = TestServer::start_with(config()).await;
    let admin = server.db("admin");
    let coll = server.db("test").collection::<Document>("c");
    // Each write is applied, then its reply reports a retryable write concern error: the
    // driver sends the same statement again with the same txnNumber.
    for command in ["insert", "update"] {
        run(
            &admin,
            doc! {
                "configureFailPoint": "failCommand",
                "mode": {"times": 1},
                "data": {
                    "failCommands": [command],
                    "writeConcernError": {"code": 64, "errmsg": "waiting for replication timed out"},
                    "errorLabels": ["RetryableWriteError"],
                },
            },
        )
        .await;
        if command == "insert" {
            // Run twice, the insert would fail the second time with a duplicate key.
            let result = coll
                .insert_one(doc! {"_id": 1, "n": 0})
                .await
                .expect("the retried insert answers as the first did");
            assert_eq!(result.inserted_id, Bson::Int32(1));
        } else {
            let result = coll
                .update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 1}})
                .await
                .expect("the retried update answers as the first did");
            assert_eq!(result.modified_count, 1);
        }
    }
    let doc = coll.find_one(doc! {"_id": 1}).await.expect("find");
    assert_eq!(
        doc,
        Some(doc! {"_id": 1, "n": 1}),
        "each write applied once"
    );
    server.shutdown().await;
}
