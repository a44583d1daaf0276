//! Many clients at once: every acknowledged write is there, counts are exact, and writes to
//! the same key are atomic.

use bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::IndexModel;
use outpost_tests::{command_error, find_all, run, TestServer};

const TASKS: usize = 16;

/// The number of documents of load.c matching `query`, by the count command (not
/// countDocuments, which needs aggregate).
async fn count(client: &mongodb::Client, query: Document) -> u64 {
    let reply = run(
        &client.database("load"),
        doc! {"count": "c", "query": query},
    )
    .await;
    u64::try_from(outpost_tests::int_field(&reply, "n")).expect("a count")
}
const PER_TASK: usize = 120;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_clients_insert_and_read_at_once() {
    let server = TestServer::start().await;
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        // Each task has its own client, hence its own connections.
        let client = server.new_client().await;
        tasks.push(tokio::spawn(async move {
            let coll = client.database("load").collection::<Document>("c");
            for i in 0..PER_TASK {
                let id = format!("{task}-{i}");
                if i % 10 == 0 {
                    // Every tenth write is a batch of ten.
                    let batch: Vec<Document> = (0..10)
                        .map(|j| doc! {"_id": format!("{id}-batch-{j}"), "task": task as i32})
                        .collect();
                    coll.insert_many(batch).await.expect("insert_many");
                }
                coll.insert_one(doc! {"_id": &id, "task": task as i32, "i": i as i32})
                    .await
                    .expect("insert_one");
                // Read our own write back at once.
                let found = coll.find_one(doc! {"_id": &id}).await.expect("find_one");
                assert_eq!(found.and_then(|d| d.get_i32("i").ok()), Some(i as i32));
                if i % 30 == 0 {
                    let mine = count(&client, doc! {"task": task as i32}).await;
                    let expected = (i + 1) + (i / 10 + 1) * 10;
                    assert_eq!(mine, expected as u64, "task {task} after {i} writes");
                }
            }
            client.shutdown().immediate(true).await;
        }));
    }
    for task in tasks {
        task.await.expect("a client task failed");
    }
    let db = server.db("load");
    let per_task = PER_TASK + PER_TASK / 10 * 10;
    let reply = run(&db, doc! {"count": "c"}).await;
    assert_eq!(reply, doc! {"n": (TASKS * per_task) as i32, "ok": 1.0});
    for task in 0..TASKS {
        let docs = find_all(&db, "c", doc! {"filter": {"task": task as i32}}).await;
        assert_eq!(docs.len(), per_task, "task {task}");
    }
    let all = find_all(&db, "c", doc! {"batchSize": 500}).await;
    let mut ids: Vec<String> = all
        .iter()
        .map(|d| d.get_str("_id").expect("_id").to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), TASKS * per_task, "every document exactly once");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_one_of_many_racing_inserts_of_a_key_wins() {
    let server = TestServer::start().await;
    let coll = server.db("load").collection::<Document>("c");
    coll.create_index(
        IndexModel::builder()
            .keys(doc! {"email": 1})
            .options(IndexOptions::builder().unique(true).build())
            .build(),
    )
    .await
    .expect("create_index");
    for round in 0..5 {
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let coll = coll.clone();
            tasks.push(tokio::spawn(async move {
                // Same _id for the first rounds, same unique key (distinct _id) for the rest.
                let document = if round < 2 {
                    doc! {"_id": format!("id-{round}"), "email": format!("{round}-{task}")}
                } else {
                    doc! {"_id": format!("{round}-{task}"), "email": format!("shared-{round}")}
                };
                match coll.insert_one(document).await {
                    Ok(_) => true,
                    Err(e) => {
                        let error = command_error::<()>(Err(e));
                        assert_eq!(error.code, 11000, "{error:?}");
                        false
                    }
                }
            }));
        }
        let mut winners = 0;
        for task in tasks {
            if task.await.expect("task") {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "round {round}: exactly one insert must win");
    }
    assert_eq!(count(server.client(), doc! {}).await, 5);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_are_not_lost() {
    let server = TestServer::start().await;
    let coll = server.db("race").collection::<Document>("counter");
    coll.insert_one(doc! {"_id": 1, "n": 0})
        .await
        .expect("insert");
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let coll = coll.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                let result = coll
                    .update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 1}})
                    .await
                    .expect("$inc");
                assert_eq!(result.modified_count, 1);
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let found = coll.find_one(doc! {"_id": 1}).await.expect("find");
    assert_eq!(found, Some(doc! {"_id": 1, "n": (TASKS * 25) as i32}));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_connections_are_served_at_once() {
    let server = TestServer::start().await;
    let mut options = mongodb::options::ClientOptions::parse(server.uri())
        .await
        .expect("uri");
    options.max_pool_size = Some(100);
    options.min_pool_size = Some(100);
    let client = mongodb::Client::with_options(options).expect("client");
    let coll = client.database("load").collection::<Document>("wide");
    coll.insert_one(doc! {"_id": 0}).await.expect("insert");
    let mut tasks = Vec::new();
    for task in 0..100 {
        let coll = coll.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                coll.insert_one(doc! {"_id": 1 + task * 10 + i})
                    .await
                    .expect("insert");
                assert!(coll
                    .find_one(doc! {"_id": 0})
                    .await
                    .expect("find")
                    .is_some());
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let status = run(&server.db("admin"), doc! {"serverStatus": 1}).await;
    let connections = status.get_document("connections").expect("connections");
    assert!(
        outpost_tests::int_field(connections, "totalCreated") >= 20,
        "the pool opened many connections: {connections}"
    );
    let reply = run(&client.database("load"), doc! {"count": "wide"}).await;
    assert_eq!(reply, doc! {"n": 1001, "ok": 1.0});
    client.shutdown().immediate(true).await;
    server.shutdown().await;
}

/// The `insert` count of `serverStatus`'s `opcounters`.
async fn opcounter(server: &TestServer, name: &str) -> i64 {
    let reply = run(&server.db("admin"), doc! {"serverStatus": 1}).await;
    outpost_tests::int_field(reply.get_document("opcounters").expect("opcounters"), name)
}

/// Keeps the writer lock busy: `updateMany` rounds over 5,000 documents of `load.big` until
/// `stop` is set; the task returns how many rounds ran.
async fn busy_writer(
    server: &TestServer,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<u32> {
    let seed: Vec<Document> = (0..5_000).map(|i| doc! {"_id": i, "n": 0}).collect();
    server
        .db("load")
        .collection::<Document>("big")
        .insert_many(seed)
        .await
        .expect("seed");
    let client = server.new_client().await;
    tokio::spawn(async move {
        let big = client.database("load").collection::<Document>("big");
        let mut rounds = 0;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            big.update_many(doc! {}, doc! {"$inc": {"n": 1}})
                .await
                .expect("update_many");
            rounds += 1;
        }
        rounds
    })
}

/// Single-document inserts run on the connection's task unless another write holds the
/// writer lock, when they go to the command pool having done nothing. With long updates
/// holding the lock again and again, every insert lands once and is counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_inserts_beside_long_writes_land_once_and_count_once() {
    const INSERTS: usize = 60;
    let server = TestServer::start().await;
    let c = server.db("load").collection::<Document>("c");
    c.insert_one(doc! {"_id": "first"}).await.expect("create c");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let updater = busy_writer(&server, stop.clone()).await;
    let inserts_before = opcounter(&server, "insert").await;
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let client = server.new_client().await;
        tasks.push(tokio::spawn(async move {
            let coll = client.database("load").collection::<Document>("c");
            for i in 0..INSERTS {
                coll.insert_one(doc! {"_id": format!("{task}-{i}")})
                    .await
                    .expect("insert_one");
            }
        }));
    }
    for task in tasks {
        task.await.expect("an inserting task failed");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(updater.await.expect("the updater failed") > 0);

    let expected = (TASKS * INSERTS) as i64;
    assert_eq!(
        c.count_documents(doc! {}).await.expect("count"),
        u64::try_from(expected + 1).expect("small")
    );
    assert_eq!(
        opcounter(&server, "insert").await - inserts_before,
        expected,
        "opcounters.insert counts each insert once"
    );
}

/// Updates of one document by `_id` run as single inserts do (see above): beside long
/// updates, every increment is applied once and counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn point_updates_beside_long_writes_apply_once_and_count_once() {
    const UPDATES: usize = 60;
    let server = TestServer::start().await;
    let c = server.db("load").collection::<Document>("c");
    let counters: Vec<Document> = (0..4).map(|i| doc! {"_id": i, "n": 0}).collect();
    c.insert_many(counters).await.expect("seed counters");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let updater = busy_writer(&server, stop.clone()).await;
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let client = server.new_client().await;
        tasks.push(tokio::spawn(async move {
            let coll = client.database("load").collection::<Document>("c");
            for i in 0..UPDATES {
                let id = ((task + i) % 4) as i32;
                let result = coll
                    .update_one(doc! {"_id": id}, doc! {"$inc": {"n": 1}})
                    .await
                    .expect("update_one");
                assert_eq!(result.modified_count, 1);
            }
        }));
    }
    // The updater's rounds count too: read the counter after it has stopped.
    for task in tasks {
        task.await.expect("an updating task failed");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let rounds = i64::from(updater.await.expect("the updater failed"));
    assert!(rounds > 0);

    let expected = (TASKS * UPDATES) as i64;
    let total: i64 = find_all(&server.db("load"), "c", doc! {})
        .await
        .iter()
        .map(|d| outpost_tests::int_field(d, "n"))
        .sum();
    assert_eq!(total, expected, "every increment applied once");
    assert_eq!(
        opcounter(&server, "update").await,
        expected + rounds,
        "opcounters.update counts each update once"
    );
}
