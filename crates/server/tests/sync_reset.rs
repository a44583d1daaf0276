//! Edges back from trouble, as real `outpost` processes: one offline longer than its maximum
//! offline time (made "31 days" with the hub's test clock, `outpostHubAdvanceClock`, while the
//! hub's `failCommand` fail point cuts its sync off), which is reset with its unsynced writes
//! kept in the recovery collection and re-applied where they still match its query; and one
//! refused by the hub, which keeps serving locally and retries with backoff until the hub
//! accepts it. Convergence is polled with a bounded deadline, never assumed after a sleep.

mod processes;

use std::path::Path;
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use bson::{doc, Bson, Document};
use outpost_server::hub::client::HubClient;

const DEADLINE: Duration = Duration::from_secs(60);
const DAY_MS: i64 = 86_400_000;
const SYNC_COMMANDS: [&str; 6] = [
    "outpostSyncHello",
    "outpostSyncUpload",
    "outpostSyncDownload",
    "outpostSyncSnapshot",
    "outpostSyncReport",
    "outpostSyncReset",
];

fn call(port: u16, db: &str, body: Document) -> Document {
    HubClient::connect(
        &format!("mongodb://127.0.0.1:{port}"),
        Duration::from_secs(10),
    )
    .unwrap()
    .command_on(db, body)
    .unwrap_or_else(|error| panic!("port {port}: {error}"))
}

/// Polls `check` until it gives a value, or fails at the deadline with the last state seen.
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(value) => return value,
            Err(state) => assert!(start.elapsed() < DEADLINE, "{what}: {state}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn find(port: u16, ns: &str, filter: Document) -> Vec<Document> {
    let (db, coll) = ns.split_once('.').unwrap();
    let reply = call(
        port,
        db,
        doc! {"find": coll, "filter": filter, "sort": {"_id": 1}, "batchSize": 10_000},
    );
    reply
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()
        .iter()
        .map(|doc| doc.as_document().unwrap().clone())
        .collect()
}

fn status(edge_port: u16) -> Document {
    call(edge_port, "admin", doc! {"outpostSyncStatus": 1})
}

/// A hub process with test commands; its Admin API on a free port (not 8080).
fn start_hub(dir: &Path, port: u16) -> processes::Process {
    let hub = processes::outpost(&[
        "hub",
        "--port",
        &port.to_string(),
        "--http-port",
        &processes::free_port().to_string(),
        "--dbpath",
        dir.join("hub").to_str().unwrap(),
        "--enable-test-commands",
    ]);
    processes::client(port);
    hub
}

/// An edge process that retries quickly (backoff capped at 200 ms).
fn start_edge(dir: &Path, port: u16, hub_port: u16, key: &str) -> processes::Process {
    let config = dir.join("edge.toml");
    std::fs::write(
        &config,
        "sync_max_backoff_ms = 200\nsync_interval_ms = 20\n",
    )
    .unwrap();
    let edge = processes::outpost(&[
        "serve",
        "--port",
        &port.to_string(),
        "--dbpath",
        dir.join("edge").to_str().unwrap(),
        "--hub",
        &format!("mongodb://127.0.0.1:{hub_port}"),
        "--registration-key",
        key,
        "--config",
        config.to_str().unwrap(),
    ]);
    processes::client(port);
    edge
}

fn create_edge(hub_port: u16, query: &str) -> (String, String) {
    let created = call(
        hub_port,
        "admin",
        doc! {
            "outpostHubCreateEdge": 1,
            "name": "store-1",
            "query": {"items": query},
            "defaultDb": "shop",
        },
    );
    (
        created.get_str("id").unwrap().to_string(),
        created.get_str("registration_key").unwrap().to_string(),
    )
}

fn fail_sync(hub_port: u16, commands: &[&str], data: Document) {
    let mut data = data;
    data.insert("failCommands", commands.to_vec());
    call(
        hub_port,
        "admin",
        doc! {"configureFailPoint": "failCommand", "mode": "alwaysOn", "data": data},
    );
}

fn sync_again(hub_port: u16) {
    call(
        hub_port,
        "admin",
        doc! {"configureFailPoint": "failCommand", "mode": "off"},
    );
}

fn write(port: u16, body: Document) {
    let reply = call(port, "shop", body);
    assert!(!reply.contains_key("writeErrors"), "{reply}");
}

/// The edge's recovery records by `documentId`: (op, outcome).
fn recovered(edge_port: u16) -> Vec<(Bson, String, String)> {
    find(edge_port, "__outpost_recovery.changes", doc! {})
        .into_iter()
        .map(|record| {
            (
                record.get("documentId").cloned().unwrap(),
                record.get_str("op").unwrap().to_string(),
                record.get_str("outcome").unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn an_edge_offline_past_its_window_is_reset_and_its_unsynced_writes_are_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let (hub_port, edge_port) = (processes::free_port(), processes::free_port());
    let _hub = start_hub(dir.path(), hub_port);
    let (edge_id, key) = create_edge(hub_port, "store == 1");
    let _edge = start_edge(dir.path(), edge_port, hub_port, &key);

    // Two documents synced both ways.
    let (a, d) = (ObjectId::new(), ObjectId::new());
    write(
        edge_port,
        doc! {"insert": "items", "documents": [
            {"_id": a, "store": 1, "x": 0, "y": 0},
            {"_id": d, "store": 1, "x": 0},
        ]},
    );
    wait_for("the edge's writes reach the hub", || {
        let found = find(hub_port, "shop.items", doc! {}).len();
        (found == 2)
            .then_some(())
            .ok_or(format!("{found} at the hub"))
    });

    // Offline: the hub closes every sync connection of it. Once the edge has seen a failure,
    // no request of it reaches the hub any more (its long poll is over).
    fail_sync(hub_port, &SYNC_COMMANDS, doc! {"closeConnection": true});
    wait_for("the edge loses the hub", || {
        let status = status(edge_port);
        (status.get_bool("connected") == Ok(false))
            .then_some(())
            .ok_or(status.to_string())
    });

    // Written at the edge while offline: a new document, an update of A, an update of D
    // (deleted at the hub meanwhile), and G (outside the query the hub gives the edge
    // meanwhile).
    let (b, g) = (ObjectId::new(), ObjectId::new());
    write(
        edge_port,
        doc! {"insert": "items", "documents": [
            {"_id": b, "store": 1},
            {"_id": g, "store": 1, "kind": "gone"},
        ]},
    );
    write(
        edge_port,
        doc! {"update": "items", "updates": [
            {"q": {"_id": a}, "u": {"$set": {"x": "edge"}}},
            {"q": {"_id": d}, "u": {"$set": {"x": "edge"}}},
        ]},
    );
    // At the hub meanwhile.
    write(
        hub_port,
        doc! {"update": "items", "updates": [{"q": {"_id": a}, "u": {"$set": {"y": "hub"}}}]},
    );
    write(
        hub_port,
        doc! {"delete": "items", "deletes": [{"q": {"_id": d}, "limit": 1}]},
    );
    call(
        hub_port,
        "admin",
        doc! {
            "outpostHubSetEdgeQuery": 1,
            "id": &edge_id,
            "query": {"items": "store == 1 && kind != 'gone'"},
        },
    );

    // 31 days pass at the hub (the default window is 30), then the edge can reach it again.
    call(
        hub_port,
        "admin",
        doc! {"outpostHubAdvanceClock": 1, "ms": 31 * DAY_MS},
    );
    sync_again(hub_port);

    // The edge was reset: A has both sides' fields, B reached the hub, D stays deleted (the
    // hub's delete wins over the edge's update), G is not at the hub (outside the query).
    let at_hub = wait_for("the recovered writes reach the hub", || {
        let docs = find(hub_port, "shop.items", doc! {});
        let a_merged = docs
            .iter()
            .any(|doc| doc.get_object_id("_id") == Ok(a) && doc.get_str("x") == Ok("edge"));
        let has_b = docs.iter().any(|doc| doc.get_object_id("_id") == Ok(b));
        (a_merged && has_b)
            .then_some(docs.clone())
            .ok_or(format!("{docs:?}"))
    });
    let ids: Vec<ObjectId> = at_hub
        .iter()
        .map(|doc| doc.get_object_id("_id").unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{at_hub:?}");
    let merged = at_hub.iter().find(|doc| doc.get_object_id("_id") == Ok(a));
    assert_eq!(merged.unwrap().get_str("y"), Ok("hub"), "{at_hub:?}");

    // The edge holds the hub's copy plus its re-applied writes; every unsynced change is in
    // the recovery collection with what became of it.
    wait_for("the edge converges", || {
        let docs = find(edge_port, "shop.items", doc! {});
        let ids: Vec<ObjectId> = docs
            .iter()
            .map(|doc| doc.get_object_id("_id").unwrap())
            .collect();
        let mut expected = vec![a, b];
        expected.sort();
        (ids == expected).then_some(()).ok_or(format!("{docs:?}"))
    });
    let mut records = recovered(edge_port);
    records.sort_by_key(|(id, _, _)| id.to_string());
    let mut expected = vec![
        (
            Bson::ObjectId(a),
            "update".to_string(),
            "reapplied".to_string(),
        ),
        (Bson::ObjectId(b), "insert".into(), "reapplied".into()),
        (Bson::ObjectId(d), "update".into(), "deleted_at_hub".into()),
        (Bson::ObjectId(g), "insert".into(), "outside_query".into()),
    ];
    expected.sort_by_key(|(id, _, _)| id.to_string());
    assert_eq!(records, expected);
    let kept_g = find(
        edge_port,
        "__outpost_recovery.changes",
        doc! {"documentId": g},
    );
    assert_eq!(
        kept_g[0].get_document("doc").unwrap().get_str("kind"),
        Ok("gone")
    );

    // Both sides say why.
    let edges = call(hub_port, "admin", doc! {"outpostHubListEdges": 1});
    let edge = edges.get_array("edges").unwrap()[0].as_document().unwrap();
    assert_eq!(edge.get_str("state"), Ok("active"), "{edge}");
    let reason = edge
        .get_document("lastReset")
        .unwrap()
        .get_str("reason")
        .unwrap();
    assert!(
        reason.contains("maximum offline time (30 days)"),
        "{reason}"
    );
    let status = status(edge_port);
    let reset = status.get_document("lastReset").unwrap();
    assert_eq!(reset.get_i64("kept"), Ok(4), "{status}");
    assert_eq!(reset.get_i64("reapplied"), Ok(2), "{status}");
}

#[test]
fn an_edge_refused_by_the_hub_keeps_serving_and_syncs_once_the_hub_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let (hub_port, edge_port) = (processes::free_port(), processes::free_port());
    let _hub = start_hub(dir.path(), hub_port);
    let (_, key) = create_edge(hub_port, "TRUEPREDICATE");
    // The hub refuses the edge's hellos as it refuses a bad key (AuthenticationFailed).
    fail_sync(hub_port, &["outpostSyncHello"], doc! {"errorCode": 18});
    let _edge = start_edge(dir.path(), edge_port, hub_port, &key);
    let refused = wait_for("the edge is refused", || {
        let status = status(edge_port);
        (status.get_str("state") == Ok("failed"))
            .then_some(status.clone())
            .ok_or(status.to_string())
    });
    assert!(
        refused
            .get_str("lastError")
            .unwrap()
            .contains("failCommand"),
        "{refused}"
    );
    // Local service goes on.
    let id = ObjectId::new();
    write(
        edge_port,
        doc! {"insert": "items", "documents": [{"_id": id}]},
    );
    assert_eq!(find(edge_port, "shop.items", doc! {"_id": id}).len(), 1);
    // Still retrying: each attempt is refused again (a later attempt than the first failure).
    let requests_failed = |status: &Document| status.get_i64("requestsFailed").unwrap_or(0);
    let first = requests_failed(&refused);
    wait_for("the edge retries", || {
        let status = status(edge_port);
        (requests_failed(&status) > first)
            .then_some(())
            .ok_or(status.to_string())
    });
    // The hub accepts it again: without a restart, the edge registers and syncs.
    sync_again(hub_port);
    wait_for("the edge's write reaches the hub", || {
        let found = find(hub_port, "shop.items", doc! {"_id": id}).len();
        (found == 1)
            .then_some(())
            .ok_or(status(edge_port).to_string())
    });
    let status = status(edge_port);
    assert_eq!(status.get_str("state"), Ok("active"), "{status}");
}
