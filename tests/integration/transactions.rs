//! Multi-document transactions through the driver's sessions: commit, abort, reading the
//! transaction's own writes, isolation from other clients until commit, write conflicts
//! retried as drivers' `withTransaction` does, the lifetime limit, unique indexes checked at
//! commit, the end of a session, and the commands a transaction refuses.

use bson::{doc, Document};
use futures::TryStreamExt;
use mongodb::error::{Error as DriverError, ErrorKind};
use mongodb::{ClientSession, Collection};
use outpost_server::Config;
use outpost_tests::{run, TestServer};

const TRANSIENT: &str = "TransientTransactionError";

fn config() -> Config {
    Config {
        dbpath: None,
        ..Config::default()
    }
}

/// The server's code of a driver error (command or write error).
fn code(e: &DriverError) -> i32 {
    match &*e.kind {
        ErrorKind::Command(c) => c.code,
        ErrorKind::Write(mongodb::error::WriteFailure::WriteError(w)) => w.code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

async fn docs(coll: &Collection<Document>) -> Vec<Document> {
    coll.find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("documents")
}

async fn docs_in(coll: &Collection<Document>, session: &mut ClientSession) -> Vec<Document> {
    let mut cursor = coll
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .session(&mut *session)
        .await
        .expect("find in the transaction");
    let mut out = Vec::new();
    while let Some(d) = cursor.next(&mut *session).await {
        out.push(d.expect("document"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_transaction_is_seen_by_others_only_after_commit() {
    let server = TestServer::start_with(config()).await;
    let db = server.db("shop");
    let orders: Collection<Document> = db.collection("orders");
    let stock: Collection<Document> = db.collection("stock");
    stock
        .insert_one(doc! {"_id": "apple", "qty": 10})
        .await
        .expect("seed");

    let mut session = server.client().start_session().await.expect("session");
    session.start_transaction().await.expect("start");
    orders
        .insert_one(doc! {"_id": 1, "item": "apple", "qty": 3})
        .session(&mut session)
        .await
        .expect("insert in the transaction");
    stock
        .update_one(doc! {"_id": "apple"}, doc! {"$inc": {"qty": -3}})
        .session(&mut session)
        .await
        .expect("update in the transaction");

    // The transaction reads its own writes ...
    assert_eq!(
        docs_in(&orders, &mut session).await,
        vec![doc! {"_id": 1, "item": "apple", "qty": 3}]
    );
    let seen = stock
        .find_one(doc! {"_id": "apple"})
        .session(&mut session)
        .await
        .expect("find_one");
    assert_eq!(seen, Some(doc! {"_id": "apple", "qty": 7}));
    // ... and nobody else does until it commits.
    assert_eq!(docs(&orders).await, Vec::<Document>::new());
    assert_eq!(docs(&stock).await, vec![doc! {"_id": "apple", "qty": 10}]);

    session.commit_transaction().await.expect("commit");
    assert_eq!(
        docs(&orders).await,
        vec![doc! {"_id": 1, "item": "apple", "qty": 3}]
    );
    assert_eq!(docs(&stock).await, vec![doc! {"_id": "apple", "qty": 7}]);
    // A retried commit answers as the first did and applies nothing twice.
    session.commit_transaction().await.expect("commit again");
    assert_eq!(docs(&stock).await, vec![doc! {"_id": "apple", "qty": 7}]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_transaction_leaves_nothing() {
    let server = TestServer::start_with(config()).await;
    let coll: Collection<Document> = server.db("shop").collection("orders");
    coll.insert_one(doc! {"_id": 0}).await.expect("seed");
    let mut session = server.client().start_session().await.expect("session");
    session.start_transaction().await.expect("start");
    coll.insert_one(doc! {"_id": 1})
        .session(&mut session)
        .await
        .expect("insert");
    coll.delete_one(doc! {"_id": 0})
        .session(&mut session)
        .await
        .expect("delete");
    assert_eq!(docs_in(&coll, &mut session).await, vec![doc! {"_id": 1}]);
    session.abort_transaction().await.expect("abort");
    assert_eq!(docs(&coll).await, vec![doc! {"_id": 0}]);
    // The session goes on: the next transaction works.
    session.start_transaction().await.expect("start again");
    coll.insert_one(doc! {"_id": 2})
        .session(&mut session)
        .await
        .expect("insert");
    session.commit_transaction().await.expect("commit");
    assert_eq!(docs(&coll).await, vec![doc! {"_id": 0}, doc! {"_id": 2}]);
    server.shutdown().await;
}

/// One try of a transaction that adds `amount` to the counter, with another client's update
/// of the same document between the transaction's write and its commit when `interfere`.
async fn add_in_transaction(
    session: &mut ClientSession,
    coll: &Collection<Document>,
    other: &Collection<Document>,
    interfere: bool,
) -> Result<(), DriverError> {
    session.start_transaction().await?;
    coll.update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 10}})
        .session(&mut *session)
        .await?;
    if interfere {
        other
            .update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 1}})
            .await
            .expect("the other client's update");
    }
    session.commit_transaction().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_conflict_aborts_the_transaction_and_a_retry_commits() {
    let server = TestServer::start_with(config()).await;
    let coll: Collection<Document> = server.db("shop").collection("counters");
    coll.insert_one(doc! {"_id": 1, "n": 0})
        .await
        .expect("seed");
    let other_client = outpost_tests::connect(server.addr()).await;
    let other: Collection<Document> = other_client.database("shop").collection("counters");
    let mut session = server.client().start_session().await.expect("session");

    // The with_transaction loop: retry the whole transaction on TransientTransactionError.
    let mut tries = Vec::new();
    for attempt in 0..3 {
        let outcome = add_in_transaction(&mut session, &coll, &other, attempt == 0).await;
        match outcome {
            Ok(()) => {
                tries.push(None);
                break;
            }
            Err(e) if e.contains_label(TRANSIENT) => {
                tries.push(Some(code(&e)));
                let _ = session.abort_transaction().await;
            }
            Err(e) => panic!("the transaction failed: {e}"),
        }
    }
    assert_eq!(tries, vec![Some(112), None], "WriteConflict, then a commit");
    // The other client's increment and one of the transaction's: nothing lost, nothing twice.
    assert_eq!(docs(&coll).await, vec![doc! {"_id": 1, "n": 11}]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_changed_after_the_snapshot_is_a_write_conflict_on_first_read() {
    let server = TestServer::start_with(config()).await;
    let a: Collection<Document> = server.db("shop").collection("a");
    let b: Collection<Document> = server.db("shop").collection("b");
    a.insert_one(doc! {"_id": 1}).await.expect("seed a");
    let mut session = server.client().start_session().await.expect("session");
    session.start_transaction().await.expect("start");
    a.find_one(doc! {})
        .session(&mut session)
        .await
        .expect("first read fixes the snapshot");
    // Another client writes b after the transaction's snapshot: reading b in the
    // transaction cannot show the snapshot's b, so it fails as a transient conflict.
    b.insert_one(doc! {"_id": 2}).await.expect("other write");
    let err = b
        .find_one(doc! {})
        .session(&mut session)
        .await
        .expect_err("b changed after the snapshot");
    assert_eq!(code(&err), 112, "{err}");
    assert!(err.contains_label(TRANSIENT), "{err}");
    // The transaction was aborted by the failed statement.
    let err = session.commit_transaction().await.expect_err("aborted");
    assert_eq!(code(&err), 251, "{err}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_indexes_are_checked_at_commit() {
    let server = TestServer::start_with(config()).await;
    let db = server.db("shop");
    run(
        &db,
        doc! {"createIndexes": "items", "indexes": [{"key": {"sku": 1}, "name": "sku_1", "unique": true}]},
    )
    .await;
    let coll: Collection<Document> = db.collection("items");
    let mut session = server.client().start_session().await.expect("session");
    session.start_transaction().await.expect("start");
    coll.insert_one(doc! {"_id": 1, "sku": "A"})
        .session(&mut session)
        .await
        .expect("insert in the transaction");
    // Inside the transaction the unique index holds too.
    let err = coll
        .insert_one(doc! {"_id": 2, "sku": "A"})
        .session(&mut session)
        .await
        .expect_err("duplicate in the transaction");
    assert_eq!(code(&err), 11000, "{err}");
    // That statement aborted the transaction (as in MongoDB).
    let err = session.commit_transaction().await.expect_err("aborted");
    assert_eq!(code(&err), 251, "{err}");

    session.start_transaction().await.expect("start");
    coll.insert_one(doc! {"_id": 3, "sku": "B"})
        .session(&mut session)
        .await
        .expect("insert in the transaction");
    coll.insert_one(doc! {"_id": 4, "sku": "B"})
        .await
        .expect("another client takes sku B first");
    let err = session
        .commit_transaction()
        .await
        .expect_err("the commit meets the other document");
    assert_eq!(code(&err), 11000, "{err}");
    assert_eq!(docs(&coll).await, vec![doc! {"_id": 4, "sku": "B"}]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_past_its_lifetime_is_aborted() {
    let server = TestServer::start_with(Config {
        transaction_lifetime_limit_secs: 1,
        ..config()
    })
    .await;
    let reply = run(
        &server.db("admin"),
        doc! {"getParameter": 1, "transactionLifetimeLimitSeconds": 1},
    )
    .await;
    assert_eq!(reply.get_i64("transactionLifetimeLimitSeconds"), Ok(1));
    let coll: Collection<Document> = server.db("shop").collection("orders");
    let mut session = server.client().start_session().await.expect("session");
    session.start_transaction().await.expect("start");
    coll.insert_one(doc! {"_id": 1})
        .session(&mut session)
        .await
        .expect("insert");
    // Past the limit (whether the maintenance pass or the commit notices it first).
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let err = session.commit_transaction().await.expect_err("expired");
    assert_eq!(code(&err), 251, "{err}");
    assert!(err.contains_label(TRANSIENT), "{err}");
    assert!(
        err.to_string().contains("transactionLifetimeLimitSeconds"),
        "{err}"
    );
    assert_eq!(docs(&coll).await, Vec::<Document>::new());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_the_session_aborts_its_transaction() {
    let server = TestServer::start_with(config()).await;
    let coll: Collection<Document> = server.db("shop").collection("orders");
    let mut session = server.client().start_session().await.expect("session");
    session.start_transaction().await.expect("start");
    coll.insert_one(doc! {"_id": 1})
        .session(&mut session)
        .await
        .expect("insert");
    run(
        &server.db("admin"),
        doc! {"endSessions": [session.id().clone()]},
    )
    .await;
    let err = session.commit_transaction().await.expect_err("ended");
    assert_eq!(code(&err), 251, "{err}");
    assert_eq!(docs(&coll).await, Vec::<Document>::new());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_a_transaction_does_not_allow_answer_263() {
    let server = TestServer::start_with(config()).await;
    let db = server.db("shop");
    let mut session = server.client().start_session().await.expect("session");
    session.start_transaction().await.expect("start");
    for command in [
        doc! {"count": "orders"},
        doc! {"createIndexes": "orders", "indexes": [{"key": {"a": 1}, "name": "a_1"}]},
        doc! {"aggregate": "orders", "pipeline": [{"$out": "copy"}], "cursor": {}},
    ] {
        let err = db
            .run_command(command.clone())
            .session(&mut session)
            .await
            .expect_err("refused in a transaction");
        assert_eq!(code(&err), 263, "{command}: {err}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_stream_sees_a_committed_transaction() {
    let server = TestServer::start_with(config()).await;
    let coll: Collection<Document> = server.db("shop").collection("orders");
    coll.insert_one(doc! {"_id": 0, "n": 1})
        .await
        .expect("seed");
    let mut stream = coll.watch().await.expect("watch");
    let mut session = server.client().start_session().await.expect("session");
    session.start_transaction().await.expect("start");
    for id in [1, 2] {
        coll.insert_one(doc! {"_id": id})
            .session(&mut session)
            .await
            .expect("insert");
    }
    coll.update_one(doc! {"_id": 0}, doc! {"$set": {"n": 2}})
        .session(&mut session)
        .await
        .expect("update");
    session.commit_transaction().await.expect("commit");
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = stream
            .try_next()
            .await
            .expect("event")
            .expect("an event for each write");
        let fields = event.update_description.map(|u| u.updated_fields);
        seen.push((
            format!("{:?}", event.operation_type),
            event.document_key.expect("documentKey"),
            fields,
        ));
    }
    assert_eq!(
        seen,
        vec![
            ("Insert".to_string(), doc! {"_id": 1}, None),
            ("Insert".to_string(), doc! {"_id": 2}, None),
            ("Update".to_string(), doc! {"_id": 0}, Some(doc! {"n": 2})),
        ]
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_series_collections_are_read_but_not_written_in_a_transaction() {
    let server = TestServer::start_with(config()).await;
    let db = server.db("plant");
    run(
        &db,
        doc! {"create": "readings", "timeseries": {"timeField": "ts", "metaField": "sensor"}},
    )
    .await;
    let readings: Collection<Document> = db.collection("readings");
    let at = bson::DateTime::from_millis(1_714_521_600_000);
    readings
        .insert_one(doc! {"_id": 1, "ts": at, "sensor": "a", "temp": 20.5})
        .await
        .expect("insert outside a transaction");
    let mut session = server.client().start_session().await.expect("session");
    // Reads see the measurements.
    session.start_transaction().await.expect("start");
    let seen = docs_in(&readings, &mut session).await;
    assert_eq!(
        seen,
        [doc! {"ts": at, "sensor": "a", "temp": 20.5, "_id": 1}]
    );
    session.commit_transaction().await.expect("commit a read");
    // Inserts, updates and deletes of many are refused with 263, as mongod refuses them, and
    // the transaction is aborted.
    let writes = [
        (
            doc! {"insert": "readings", "documents": [{"ts": at, "sensor": "b"}]},
            "Cannot insert into a time-series collection in a multi-document transaction: plant.readings",
        ),
        (
            doc! {"update": "readings", "updates": [{"q": {}, "u": {"$set": {"x": 1}}, "multi": true}]},
            "time-series",
        ),
        (
            doc! {"delete": "readings", "deletes": [{"q": {"sensor": "a"}, "limit": 0}]},
            "time-series",
        ),
        (
            doc! {"delete": "readings", "deletes": [{"q": {"sensor": "a"}, "limit": 1}]},
            "not supported by Outpost",
        ),
    ];
    for (command, fragment) in writes {
        session.start_transaction().await.expect("start");
        let err = db
            .run_command(command.clone())
            .session(&mut session)
            .await
            .expect_err("refused in a transaction");
        assert_eq!(code(&err), 263, "{command}: {err}");
        assert!(err.to_string().contains(fragment), "{command}: {err}");
        let commit = session
            .commit_transaction()
            .await
            .expect_err("the transaction was aborted");
        assert_eq!(code(&commit), 251, "{commit}");
    }
    // Nothing was written; outside a transaction the same writes work.
    assert_eq!(readings.count_documents(doc! {}).await.expect("count"), 1);
    readings
        .insert_one(doc! {"ts": at, "sensor": "b"})
        .await
        .expect("insert outside a transaction");
    assert_eq!(readings.count_documents(doc! {}).await.expect("count"), 2);
    server.shutdown().await;
}
