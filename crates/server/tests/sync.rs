//! Sync end to end over loopback: a hub and edges in one process, talking the wire protocol.
//! Convergence is polled with a bounded deadline, never assumed after a sleep.

use std::path::Path;
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use bson::{doc, Bson, Document};
use outpost_server::hub::client::HubClient;
use outpost_server::{Config, Server, ServerHandle, WriteOutsideQuery};
use tokio::net::TcpListener;

const DEADLINE: Duration = Duration::from_secs(20);

async fn start(config: Config) -> ServerHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Server::builder()
        .config(config)
        .start_on(listener)
        .await
        .unwrap()
}

async fn start_hub() -> ServerHandle {
    start(Config {
        dbpath: None,
        hub_mode: true,
        ..Config::default()
    })
    .await
}

/// An edge that keeps writes outside its query local (so the upload side's filtering shows).
async fn start_edge(hub: &ServerHandle, dbpath: &Path, key: Option<&str>) -> ServerHandle {
    start_edge_with(hub, dbpath, key, WriteOutsideQuery::Local).await
}

async fn start_edge_with(
    hub: &ServerHandle,
    dbpath: &Path,
    key: Option<&str>,
    write_outside_query: WriteOutsideQuery,
) -> ServerHandle {
    start(Config {
        write_outside_query,
        dbpath: Some(dbpath.to_path_buf()),
        hub: Some(format!("mongodb://{}", hub.local_addr())),
        registration_key: key.map(str::to_string),
        sync_interval_ms: 20,
        sync_max_backoff_ms: 200,
        sync_timeout_ms: 5_000,
        ..Config::default()
    })
    .await
}

/// One command over a fresh wire connection (blocking client, off the async workers).
async fn command(
    server: &ServerHandle,
    db: &str,
    body: Document,
) -> outpost_sync::Result<Document> {
    let uri = format!("mongodb://{}", server.local_addr());
    let db = db.to_string();
    tokio::task::spawn_blocking(move || {
        HubClient::connect(&uri, Duration::from_secs(5))?.command_on(&db, body)
    })
    .await
    .unwrap()
}

async fn insert(server: &ServerHandle, ns: &str, docs: Vec<Document>) {
    let (db, coll) = ns.split_once('.').unwrap();
    let reply = command(server, db, doc! {"insert": coll, "documents": docs})
        .await
        .unwrap();
    assert!(!reply.contains_key("writeErrors"), "{reply}");
}

async fn ids(server: &ServerHandle, ns: &str) -> Vec<Bson> {
    let (db, coll) = ns.split_once('.').unwrap();
    let reply = command(
        server,
        db,
        doc! {"find": coll, "sort": {"_id": 1}, "batchSize": 10_000},
    )
    .await
    .unwrap();
    reply
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()
        .iter()
        .map(|d| d.as_document().unwrap().get("_id").cloned().unwrap())
        .collect()
}

/// Polls until `ns` at `server` holds exactly `expected` (by `_id`), or fails at the deadline.
async fn wait_for_ids(server: &ServerHandle, ns: &str, mut expected: Vec<Bson>) {
    expected.sort_by(outpost_storage::value::compare);
    let start = Instant::now();
    loop {
        let found = ids(server, ns).await;
        if found == expected {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{ns} never converged: found {found:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn sync_status(server: &ServerHandle) -> Document {
    command(server, "admin", doc! {"outpostSyncStatus": 1})
        .await
        .unwrap()
}

/// Polls `outpostSyncStatus` until `done` holds; returns that status.
async fn wait_for_status(server: &ServerHandle, done: impl Fn(&Document) -> bool) -> Document {
    let start = Instant::now();
    loop {
        let status = sync_status(server).await;
        if done(&status) {
            return status;
        }
        assert!(start.elapsed() < DEADLINE, "status never reached: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn create_edge(hub: &ServerHandle, query: Document) -> (String, String) {
    let reply = command(
        hub,
        "admin",
        doc! {"outpostHubCreateEdge": 1, "name": "store-42", "query": query, "defaultDb": "shop"},
    )
    .await
    .unwrap();
    (
        reply.get_str("id").unwrap().to_string(),
        reply.get_str("registration_key").unwrap().to_string(),
    )
}

fn history_entries(server: &ServerHandle, ns: &str) -> usize {
    server
        .storage()
        .history_from(0)
        .filter(|e| e.as_ref().unwrap().ns == ns)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_and_hub_exchange_exactly_the_matching_documents() {
    let hub = start_hub().await;
    let (edge_id, key) = create_edge(&hub, doc! {"items": "store == 42"}).await;
    let dir = tempfile::tempdir().unwrap();
    let edge = start_edge(&hub, dir.path(), Some(&key)).await;

    // Writes at the edge: matching, not matching, invalid _ids, a local-only collection.
    let (a, b) = (ObjectId::new(), ObjectId::new());
    insert(
        &edge,
        "shop.items",
        vec![
            doc! {"_id": a, "store": 42},
            doc! {"_id": ObjectId::new(), "store": 7},
            doc! {"_id": "text-id", "store": 42},
            doc! {"_id": 12, "store": 42},
            doc! {"_id": b, "store": 42, "name": "b"},
        ],
    )
    .await;
    insert(&edge, "shop.notes", vec![doc! {"_id": ObjectId::new()}]).await;
    wait_for_ids(
        &hub,
        "shop.items",
        vec![Bson::ObjectId(a), Bson::ObjectId(b)],
    )
    .await;
    assert!(ids(&hub, "shop.notes").await.is_empty());

    let status = wait_for_status(&edge, |status| {
        status.get_i64("uploadBacklogEntries") == Ok(0) && status.get_bool("connected") == Ok(true)
    })
    .await;
    assert_eq!(status.get_str("edgeId").unwrap(), edge_id);
    let server_status = command(&edge, "admin", doc! {"serverStatus": 1})
        .await
        .unwrap();
    let section = server_status.get_document("sync").unwrap();
    assert_eq!(section.get_str("edgeId").unwrap(), edge_id);
    assert!(!section.get_bool("isHub").unwrap());
    let skipped = status.get_document("skipped").unwrap();
    assert_eq!(skipped.get_i64("invalid_id_type").unwrap(), 2, "{status}");
    assert_eq!(skipped.get_i64("outside_query").unwrap(), 1, "{status}");

    // Hub-side writes arrive at the edge (and only the matching one).
    let (c, hub_only) = (ObjectId::new(), ObjectId::new());
    insert(
        &hub,
        "shop.items",
        vec![
            doc! {"_id": c, "store": 42},
            doc! {"_id": hub_only, "store": 1},
        ],
    )
    .await;
    let mut at_edge = ids(&edge, "shop.items").await;
    // (c may have arrived already.)
    at_edge.retain(|id| *id != Bson::ObjectId(c));
    at_edge.push(Bson::ObjectId(c));
    wait_for_ids(&edge, "shop.items", at_edge.clone()).await;

    // The edge's registry record is visible at the hub.
    let edges = command(&hub, "admin", doc! {"outpostHubListEdges": 1})
        .await
        .unwrap();
    let edges = edges.get_array("edges").unwrap();
    assert_eq!(edges.len(), 1);
    let record = edges[0].as_document().unwrap();
    assert_eq!(record.get_str("state").unwrap(), "active");
    assert!(!record.contains_key("apiKeyHash"));

    // Restart: the stored API key is reused (no registration key), nothing is sent twice.
    edge.shutdown().await.unwrap();
    let edge = start_edge(&hub, dir.path(), None).await;
    let d = ObjectId::new();
    insert(&edge, "shop.items", vec![doc! {"_id": d, "store": 42}]).await;
    let on_hub = [a, b, c, hub_only, d].map(Bson::ObjectId).to_vec();
    wait_for_ids(&hub, "shop.items", on_hub).await;
    // Exactly one hub history entry per document: no duplicate application.
    assert_eq!(history_entries(&hub, "shop.items"), 5);
    // The hub applies before the edge hears the ack: poll the edge's status too.
    wait_for_status(&edge, |status| {
        status.get_i64("uploadBacklogEntries") == Ok(0)
            && status.get_i64("uploadedChanges") == Ok(1)
    })
    .await;

    // A used registration key is refused; that edge keeps serving locally.
    let other_dir = tempfile::tempdir().unwrap();
    let refused = start_edge(&hub, other_dir.path(), Some(&key)).await;
    let status = wait_for_status(&refused, |status| status.get_str("state") == Ok("failed")).await;
    assert!(
        status
            .get_str("lastError")
            .unwrap()
            .contains("already used"),
        "{status}"
    );
    let local = ObjectId::new();
    insert(
        &refused,
        "shop.items",
        vec![doc! {"_id": local, "store": 42}],
    )
    .await;
    assert_eq!(
        ids(&refused, "shop.items").await,
        vec![Bson::ObjectId(local)]
    );

    refused.shutdown().await.unwrap();
    edge.shutdown().await.unwrap();
    hub.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_edges_converge_through_the_hub() {
    let hub = start_hub().await;
    let (_, key_one) = create_edge(&hub, doc! {"*": "TRUEPREDICATE"}).await;
    let (_, key_two) = create_edge(&hub, doc! {"*": "TRUEPREDICATE"}).await;
    let (dir_one, dir_two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = start_edge(&hub, dir_one.path(), Some(&key_one)).await;
    let two = start_edge(&hub, dir_two.path(), Some(&key_two)).await;
    let (x, y, z) = (ObjectId::new(), ObjectId::new(), ObjectId::new());
    insert(&one, "shop.items", vec![doc! {"_id": x}]).await;
    insert(&two, "shop.items", vec![doc! {"_id": y}]).await;
    insert(&hub, "shop.items", vec![doc! {"_id": z}]).await;
    let all = vec![Bson::ObjectId(x), Bson::ObjectId(y), Bson::ObjectId(z)];
    for server in [&hub, &one, &two] {
        wait_for_ids(server, "shop.items", all.clone()).await;
    }
    // A delete at one edge reaches the hub and the other edge.
    let reply = command(
        &one,
        "shop",
        doc! {"delete": "items", "deletes": [{"q": {"_id": y}, "limit": 1}]},
    )
    .await
    .unwrap();
    assert_eq!(reply.get_i32("n").unwrap(), 1);
    let rest = vec![Bson::ObjectId(x), Bson::ObjectId(z)];
    for server in [&hub, &one, &two] {
        wait_for_ids(server, "shop.items", rest.clone()).await;
    }
    // The hub's registry and versions are records of its own, not collections: a client sees
    // only the synced data.
    let databases = command(&hub, "admin", doc! {"listDatabases": 1, "nameOnly": true})
        .await
        .unwrap();
    let names: Vec<&str> = databases
        .get_array("databases")
        .unwrap()
        .iter()
        .map(|d| d.as_document().unwrap().get_str("name").unwrap())
        .collect();
    assert_eq!(names, ["shop"]);
    one.shutdown().await.unwrap();
    two.shutdown().await.unwrap();
    hub.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_commands_refuse_bad_keys_and_non_hubs() {
    let hub = start_hub().await;
    let error = command(
        &hub,
        "admin",
        outpost_sync::protocol::with_version(doc! {"outpostSyncHello": 1, "registrationKey": "x"}),
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), 18, "{error}");
    let error = command(
        &hub,
        "admin",
        outpost_sync::protocol::with_version(doc! {"outpostSyncHello": 1, "apiKey": "x"}),
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), 18, "{error}");
    let error = command(
        &hub,
        "admin",
        doc! {"outpostHubCreateEdge": 1, "name": "e", "query": {"items": "a =="}},
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), 9, "{error}");
    let error = command(
        &hub,
        "admin",
        doc! {"outpostHubCreateEdge": 1, "name": "e", "service": "atlas"},
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), 2, "{error}");
    let plain = start(Config {
        dbpath: None,
        ..Config::default()
    })
    .await;
    let error = command(&plain, "admin", doc! {"outpostHubListEdges": 1})
        .await
        .unwrap_err();
    assert_eq!(error.code(), 59, "{error}");
    let status = sync_status(&plain).await;
    assert_eq!(status.get_str("state").unwrap(), "not configured");
    plain.shutdown().await.unwrap();
    hub.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_mode_refuses_writes_the_query_does_not_sync() {
    let hub = start_hub().await;
    let (_, key) = create_edge(&hub, doc! {"items": "store == 42"}).await;
    let dir = tempfile::tempdir().unwrap();
    let edge = start_edge_with(&hub, dir.path(), Some(&key), WriteOutsideQuery::Reject).await;
    // Registered (the guard knows the query) once the first round succeeded.
    wait_for_status(&edge, |status| status.get_bool("connected") == Ok(true)).await;
    let write = |body: Document| command(&edge, "shop", body);
    let good = ObjectId::new();
    // (command, refused with a message containing)
    let cases = [
        (
            doc! {"insert": "items", "documents": [{"_id": good, "store": 42}]},
            None,
        ),
        (
            doc! {"insert": "items", "documents": [{"_id": ObjectId::new(), "store": 7}]},
            Some("does not match the instance query"),
        ),
        (
            doc! {"insert": "items", "documents": [{"_id": "text", "store": 42}]},
            Some("_id is a string but an Edge Server service requires an ObjectId"),
        ),
        (doc! {"insert": "items", "documents": [{"store": 42}]}, None),
        (
            doc! {"update": "items", "updates": [{"q": {"_id": good}, "u": {"$set": {"store": 8}}}]},
            Some("moves the document out of the instance query"),
        ),
        (
            doc! {"update": "items", "updates": [{"q": {"_id": good}, "u": {"$set": {"n": 1}}}]},
            None,
        ),
        (
            doc! {"insert": "notes", "documents": [{"_id": "local-only", "store": 7}]},
            None,
        ),
    ];
    for (body, refused) in cases {
        let reply = write(body.clone()).await.unwrap();
        let error = reply
            .get_array("writeErrors")
            .ok()
            .and_then(|errors| errors.first())
            .and_then(Bson::as_document)
            .map(|e| e.get_str("errmsg").unwrap().to_string());
        match (refused, error) {
            (None, None) => {}
            (Some(expected), Some(message)) => {
                assert!(message.contains(expected), "{body}: {message}");
                assert!(message.contains("write_outside_query"), "{message}");
            }
            (expected, got) => panic!("{body}: expected {expected:?}, got {got:?}"),
        }
    }
    let at_edge = ids(&edge, "shop.items").await;
    assert_eq!(at_edge.len(), 2);
    wait_for_ids(&hub, "shop.items", at_edge).await;
    edge.shutdown().await.unwrap();
    hub.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_restart_loses_and_duplicates_nothing() {
    let hub_dir = tempfile::tempdir().unwrap();
    let hub_config = Config {
        dbpath: Some(hub_dir.path().to_path_buf()),
        hub_mode: true,
        ..Config::default()
    };
    let hub = start(hub_config.clone()).await;
    let hub_address = hub.local_addr();
    let (_, key) = create_edge(&hub, doc! {"*": "TRUEPREDICATE"}).await;
    let dir = tempfile::tempdir().unwrap();
    let edge = start_edge(&hub, dir.path(), Some(&key)).await;
    let mut expected = Vec::new();
    let mut running_hub = Some(hub);
    for round in 0..3 {
        let batch: Vec<Document> = (0..20)
            .map(|n| doc! {"_id": ObjectId::new(), "round": round, "n": n})
            .collect();
        expected.extend(batch.iter().map(|d| d.get("_id").cloned().unwrap()));
        insert(&edge, "shop.items", batch).await;
        if let Some(hub) = running_hub.take() {
            // The hub goes away while the edge is uploading; the edge keeps taking writes.
            hub.shutdown().await.unwrap();
        }
    }
    wait_for_status(&edge, |status| status.get_bool("connected") == Ok(false)).await;
    // A request the old hub was still running may hold its database for a moment.
    let start_time = Instant::now();
    let hub = loop {
        let listener = TcpListener::bind(hub_address).await.unwrap();
        match Server::builder()
            .config(hub_config.clone())
            .start_on(listener)
            .await
        {
            Ok(hub) => break hub,
            Err(error) => {
                assert!(start_time.elapsed() < DEADLINE, "hub restart: {error}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for_ids(&hub, "shop.items", expected.clone()).await;
    wait_for_status(&edge, |status| {
        status.get_i64("uploadBacklogEntries") == Ok(0)
    })
    .await;
    assert_eq!(history_entries(&hub, "shop.items"), expected.len());
    edge.shutdown().await.unwrap();
    hub.shutdown().await.unwrap();
}

async fn documents(server: &ServerHandle, ns: &str) -> Vec<Document> {
    let (db, coll) = ns.split_once('.').unwrap();
    let reply = command(
        server,
        db,
        doc! {"find": coll, "sort": {"_id": 1}, "batchSize": 10_000},
    )
    .await
    .unwrap();
    reply
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()
        .iter()
        .map(|d| d.as_document().unwrap().clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_at_two_edges_and_the_hub_converge() {
    let hub = start_hub().await;
    let (_, key_one) = create_edge(&hub, doc! {"*": "TRUEPREDICATE"}).await;
    let (_, key_two) = create_edge(&hub, doc! {"*": "TRUEPREDICATE"}).await;
    let (dir_one, dir_two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = start_edge(&hub, dir_one.path(), Some(&key_one)).await;
    let two = start_edge(&hub, dir_two.path(), Some(&key_two)).await;
    let ids: Vec<ObjectId> = (0..5).map(|_| ObjectId::new()).collect();
    // Every replica edits the same documents while sync runs.
    for round in 0..20 {
        for (replica, server) in [&hub, &one, &two].into_iter().enumerate() {
            let id = ids[(round + replica) % ids.len()];
            let update = if (round + replica) % 7 == 6 {
                doc! {"delete": "items", "deletes": [{"q": {"_id": id}, "limit": 1}]}
            } else {
                doc! {"update": "items", "updates": [{
                    "q": {"_id": id},
                    "u": {"$set": {"by": i32::try_from(replica).unwrap(), "round": i32::try_from(round).unwrap()}},
                    "upsert": true,
                }]}
            };
            command(server, "shop", update).await.unwrap();
        }
    }
    let start_time = Instant::now();
    loop {
        let at_hub = documents(&hub, "shop.items").await;
        let at_one = documents(&one, "shop.items").await;
        let at_two = documents(&two, "shop.items").await;
        if at_hub == at_one && at_hub == at_two {
            break;
        }
        assert!(
            start_time.elapsed() < DEADLINE,
            "never converged:\nhub {at_hub:?}\none {at_one:?}\ntwo {at_two:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    one.shutdown().await.unwrap();
    two.shutdown().await.unwrap();
    hub.shutdown().await.unwrap();
}

/// Polls until `server`'s history log holds at most `most` entries for `ns`.
async fn wait_for_history_at_most(server: &ServerHandle, ns: &str, most: usize) {
    let start = Instant::now();
    loop {
        let entries = history_entries(server, ns);
        if entries <= most {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the history of {ns} was never trimmed: {entries} entries"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_trimmed_once_synced_and_kept_without_sync() {
    // No retention, and a maintenance pass every second.
    let hub = start(Config {
        dbpath: None,
        hub_mode: true,
        history_retention_hours: 0,
        ttl_interval_secs: 1,
        ..Config::default()
    })
    .await;
    let (_, key) = create_edge(&hub, doc! {"*": "TRUEPREDICATE"}).await;
    let dir = tempfile::tempdir().unwrap();
    let edge = start(Config {
        dbpath: Some(dir.path().to_path_buf()),
        hub: Some(format!("mongodb://{}", hub.local_addr())),
        registration_key: Some(key),
        sync_interval_ms: 20,
        history_retention_hours: 0,
        ttl_interval_secs: 1,
        ..Config::default()
    })
    .await;
    let docs: Vec<Document> = (0..50)
        .map(|n| doc! {"_id": ObjectId::new(), "n": n})
        .collect();
    let mut expected: Vec<Bson> = docs
        .iter()
        .map(|d| d.get("_id").cloned().unwrap())
        .collect();
    insert(&edge, "shop.items", docs).await;
    wait_for_ids(&hub, "shop.items", expected.clone()).await;
    // Uploaded and acknowledged: the edge keeps at most its newest entry; downloaded by the
    // only edge: the hub keeps at most its newest.
    wait_for_history_at_most(&edge, "shop.items", 1).await;
    wait_for_history_at_most(&hub, "shop.items", 1).await;
    // Sync goes on both ways after trimming.
    let (from_hub, from_edge) = (ObjectId::new(), ObjectId::new());
    insert(&hub, "shop.items", vec![doc! {"_id": from_hub}]).await;
    insert(&edge, "shop.items", vec![doc! {"_id": from_edge}]).await;
    expected.extend([Bson::ObjectId(from_hub), Bson::ObjectId(from_edge)]);
    wait_for_ids(&hub, "shop.items", expected.clone()).await;
    wait_for_ids(&edge, "shop.items", expected).await;

    // A server with no sync keeps its history, whatever the retention: it may be registered
    // later. Its maintenance pass has run once a TTL index removed an expired document.
    let plain = start(Config {
        dbpath: None,
        history_retention_hours: 0,
        ttl_interval_secs: 1,
        ..Config::default()
    })
    .await;
    command(
        &plain,
        "shop",
        doc! {"createIndexes": "ttl", "indexes": [{"key": {"at": 1}, "name": "at_1", "expireAfterSeconds": 0}]},
    )
    .await
    .unwrap();
    insert(&plain, "shop.items", vec![doc! {"_id": 1}, doc! {"_id": 2}]).await;
    insert(
        &plain,
        "shop.ttl",
        vec![doc! {"_id": 1, "at": bson::DateTime::from_millis(0)}],
    )
    .await;
    wait_for_ids(&plain, "shop.ttl", Vec::new()).await;
    assert_eq!(history_entries(&plain, "shop.items"), 2);
    for server in [edge, hub, plain] {
        server.shutdown().await.unwrap();
    }
}
