//! Fault test with real processes: `kill -9` of the hub and of the edge while the edge uploads;
//! after restarts the hub holds every document exactly once. Writes use `j: true`, so every
//! acknowledged write is on disk when the process dies.

mod processes;

use std::path::Path;
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use bson::{doc, Bson, Document};
use processes::{client, free_port, outpost, Process};

/// A bound on waiting, never a timing assertion: generous for slow CI machines.
const DEADLINE: Duration = Duration::from_secs(300);
/// 100,000 documents in all, as the issue asks.
const BATCHES: usize = 100;
const BATCH: usize = 1000;

fn start_hub(port: u16, dir: &Path) -> Process {
    outpost(&[
        "hub",
        "--http-port",
        "0",
        "--port",
        &port.to_string(),
        "--dbpath",
        dir.join("hub").to_str().unwrap(),
    ])
}

fn start_edge(config: &Path) -> Process {
    outpost(&["serve", "--config", config.to_str().unwrap()])
}

fn hub_ids(port: u16) -> Vec<Bson> {
    let reply = client(port)
        .command_on(
            "shop",
            doc! {"find": "items", "projection": {"_id": 1}, "batchSize": 1_000_000},
        )
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

#[test]
fn kill_9_of_hub_and_edge_during_upload_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (hub_port, edge_port) = (free_port(), free_port());
    let mut hub = start_hub(hub_port, dir.path());
    let created = client(hub_port)
        .command(doc! {"outpostHubCreateEdge": 1, "name": "k9"})
        .unwrap();
    let key = created.get_str("registration_key").unwrap();
    let config = dir.path().join("edge.toml");
    std::fs::write(
        &config,
        format!(
            "port = {edge_port}\ndbpath = \"{}\"\nhub = \"mongodb://127.0.0.1:{hub_port}\"\n\
             registration_key = \"{key}\"\nsync_interval_ms = 20\nsync_max_backoff_ms = 200\n",
            dir.path().join("edge").display()
        ),
    )
    .unwrap();
    let mut edge = start_edge(&config);
    let mut expected: Vec<Bson> = Vec::new();
    for batch in 0..BATCHES {
        let docs: Vec<Document> = (0..BATCH)
            .map(|n| doc! {"_id": ObjectId::new(), "batch": i32::try_from(batch).unwrap(), "n": i32::try_from(n).unwrap()})
            .collect();
        expected.extend(docs.iter().map(|d| d.get("_id").cloned().unwrap()));
        let reply = client(edge_port)
            .command_on(
                "shop",
                doc! {"insert": "items", "documents": docs, "writeConcern": {"j": true}},
            )
            .unwrap();
        assert_eq!(reply.get_i32("n").unwrap(), i32::try_from(BATCH).unwrap());
        if batch == 30 {
            hub.kill();
            hub = start_hub(hub_port, dir.path());
        }
        if batch == 60 {
            edge.kill();
            edge = start_edge(&config);
        }
    }
    expected.sort_by(outpost_storage::value::compare);
    let start = Instant::now();
    loop {
        let mut found = hub_ids(hub_port);
        found.sort_by(outpost_storage::value::compare);
        if found.len() >= expected.len() {
            assert_eq!(found, expected, "the hub holds each document exactly once");
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the hub has {} of {} documents",
            found.len(),
            expected.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    edge.kill();
    hub.kill();
}
