//! The two-edge divergence, with real processes: a hub and two edges (`outpost hub`,
//! `outpost serve`). One edge deletes documents while the other updates them and the hub and
//! both edges edit other fields and counters; the deleting edge joins after the data exists, so
//! its snapshot may still be running when it deletes. Every replica must end with the same
//! documents, and the deleted ones gone everywhere (deletes win over concurrent updates).
//! Several rounds with different documents stand for several seeds.

mod processes;

use std::path::Path;
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use bson::{doc, Bson, Document};
use processes::{client, free_port, outpost, Process};

/// A bound on waiting, never a timing assertion.
const DEADLINE: Duration = Duration::from_secs(120);
/// Documents the deleting edge's snapshot brings besides the contested ones: several pages
/// of up to 5,000, so its first deletes happen while later pages still arrive.
const OTHERS: usize = 12_000;
const CONTESTED: usize = 20;
const ROUNDS: usize = 3;

fn start_edge(dir: &Path, name: &str, hub_port: u16, key: &str) -> (Process, u16) {
    let port = free_port();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "port = {port}\ndbpath = \"{}\"\nhub = \"mongodb://127.0.0.1:{hub_port}\"\n\
             registration_key = \"{key}\"\nsync_max_backoff_ms = 200\n",
            dir.join(name).display()
        ),
    )
    .unwrap();
    let process = outpost(&["serve", "--config", config.to_str().unwrap()]);
    client(port);
    (process, port)
}

fn run(port: u16, body: Document) -> Document {
    client(port).command_on("shop", body).unwrap()
}

/// Every document of `shop.items`, by `_id`.
fn documents(port: u16) -> Vec<Document> {
    let reply = run(
        port,
        doc! {"find": "items", "sort": {"_id": 1}, "batchSize": 1_000_000},
    );
    reply
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()
        .iter()
        .map(|d| d.as_document().unwrap().clone())
        .collect()
}

fn count(port: u16) -> usize {
    let reply = run(port, doc! {"count": "items"});
    usize::try_from(reply.get_i32("n").unwrap_or(0)).unwrap_or(0)
}

fn wait_for_count(port: u16, expected: usize) {
    let start = Instant::now();
    while count(port) != expected {
        assert!(
            start.elapsed() < DEADLINE,
            "port {port} has {} of {expected} documents",
            count(port)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_delete_at_one_edge_wins_over_updates_at_the_other_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let hub_port = free_port();
    let _hub = outpost(&[
        "hub",
        "--http-port",
        "0",
        "--port",
        &hub_port.to_string(),
        "--dbpath",
        dir.path().join("hub").to_str().unwrap(),
    ]);
    let create = |name: &str| {
        let created = client(hub_port)
            .command(doc! {"outpostHubCreateEdge": 1, "name": name, "defaultDb": "shop"})
            .unwrap();
        created.get_str("registration_key").unwrap().to_string()
    };
    let (key_updating, key_deleting) = (create("updating"), create("deleting"));
    let (_updating, updating) = start_edge(dir.path(), "updating", hub_port, &key_updating);
    let mut expected = 0;
    let mut deleting_edge: Option<(Process, u16)> = None;
    for round in 0..ROUNDS {
        let round_tag = i32::try_from(round).unwrap();
        let contested: Vec<ObjectId> = (0..CONTESTED).map(|_| ObjectId::new()).collect();
        let mut docs: Vec<Document> = contested
            .iter()
            .map(|id| doc! {"_id": id, "round": round_tag, "n": 0, "v": 0})
            .collect();
        if round == 0 {
            docs.extend(
                (0..OTHERS)
                    .map(|i| doc! {"_id": ObjectId::new(), "other": i64::try_from(i).unwrap()}),
            );
        }
        expected += docs.len();
        let reply = run(hub_port, doc! {"insert": "items", "documents": docs});
        assert!(!reply.contains_key("writeErrors"), "{reply}");
        wait_for_count(updating, expected);
        // The deleting edge joins after the data exists (its snapshot runs now), in round 0.
        let deleting = match &deleting_edge {
            Some((_, port)) => *port,
            None => {
                let started = start_edge(dir.path(), "deleting", hub_port, &key_deleting);
                let port = started.1;
                deleting_edge = Some(started);
                port
            }
        };
        // Delete the first half of the contested documents at one edge as soon as they are
        // there, while the other edge and the hub edit all of them (fields and a counter).
        let (doomed, kept) = contested.split_at(CONTESTED / 2);
        let deleter = {
            let doomed = doomed.to_vec();
            std::thread::spawn(move || {
                for id in doomed {
                    let start = Instant::now();
                    loop {
                        let reply = run(
                            deleting,
                            doc! {"delete": "items", "deletes": [{"q": {"_id": id}, "limit": 1}]},
                        );
                        if reply.get_i32("n") == Ok(1) {
                            break;
                        }
                        assert!(
                            start.elapsed() < DEADLINE,
                            "{id} never reached the deleting edge"
                        );
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            })
        };
        for (i, id) in contested.iter().enumerate() {
            let at = if i % 2 == 0 { updating } else { hub_port };
            let reply = run(
                at,
                doc! {"update": "items", "updates": [{"q": {"_id": id}, "u": {"$set": {"v": i32::try_from(i).unwrap()}, "$inc": {"n": 1}}}]},
            );
            assert!(!reply.contains_key("writeErrors"), "{reply}");
        }
        deleter.join().unwrap();
        expected -= doomed.len();
        // Converged: the same documents everywhere, the deleted ones gone, the rest with both
        // edits.
        let start = Instant::now();
        loop {
            let at_hub = documents(hub_port);
            if at_hub.len() == expected
                && documents(updating) == at_hub
                && documents(deleting) == at_hub
            {
                for id in doomed {
                    assert!(!at_hub
                        .iter()
                        .any(|d| d.get("_id") == Some(&Bson::ObjectId(*id))));
                }
                for id in kept {
                    let doc = at_hub
                        .iter()
                        .find(|d| d.get("_id") == Some(&Bson::ObjectId(*id)))
                        .unwrap();
                    assert_eq!(doc.get_i32("n"), Ok(1), "{doc}");
                }
                break;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "round {round} never converged: hub {} documents, updating edge {}, deleting edge {}",
                at_hub.len(),
                count(updating),
                count(deleting)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
