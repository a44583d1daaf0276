//! Ingest collections (`{"plant.readings": {"$ingest": true}}`) with real processes: a hub
//! (`outpost hub`) and two edges (`outpost serve`), one keeping ingested documents for a day
//! (`--ingest-retention-hours 24`), one dropping them once the hub acknowledged them
//! (`ingest_retention_hours = 0` in its config file). Waits are bounded, never timed
//! assertions.

mod processes;

use std::path::Path;
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use bson::{doc, Bson, Document};
use processes::{client, free_port, outpost, Process};

const DEADLINE: Duration = Duration::from_secs(120);

fn start_edge(dir: &Path, name: &str, hub_port: u16, key: &str, extra: &[&str]) -> (Process, u16) {
    let port = free_port();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "port = {port}\ndbpath = \"{}\"\nhub = \"mongodb://127.0.0.1:{hub_port}\"\n\
             registration_key = \"{key}\"\nsync_max_backoff_ms = 200\nsync_interval_ms = 50\n\
             ingest_retention_hours = 0\n",
            dir.join(name).display()
        ),
    )
    .unwrap();
    let mut args = vec!["serve", "--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    let process = outpost(&args);
    client(port);
    (process, port)
}

fn run(port: u16, body: Document) -> Document {
    let reply = client(port).command_on("plant", body).unwrap();
    assert!(!reply.contains_key("writeErrors"), "{reply}");
    reply
}

fn documents(port: u16, coll: &str) -> Vec<Document> {
    run(
        port,
        doc! {"find": coll, "sort": {"_id": 1}, "batchSize": 1_000_000},
    )
    .get_document("cursor")
    .unwrap()
    .get_array("firstBatch")
    .unwrap()
    .iter()
    .map(|d| d.as_document().unwrap().clone())
    .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ids(docs: &[Document]) -> Vec<Bson> {
    docs.iter()
        .map(|d| d.get("_id").cloned().unwrap())
        .collect()
}

#[test]
fn ingested_readings_reach_the_hub_and_nothing_comes_back() {
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
        client(hub_port)
            .command(doc! {
                "outpostHubCreateEdge": 1, "name": name, "defaultDb": "plant",
                "query": {"readings": {"$ingest": true}, "plant.config": "TRUEPREDICATE"},
            })
            .unwrap()
            .get_str("registration_key")
            .unwrap()
            .to_string()
    };
    let (key_keeping, key_dropping) = (create("keeping"), create("dropping"));
    // The flag wins over the config file's 0.
    let (_keeping, keeping) = start_edge(
        dir.path(),
        "keeping",
        hub_port,
        &key_keeping,
        &["--ingest-retention-hours", "24"],
    );
    let (_dropping, dropping) = start_edge(dir.path(), "dropping", hub_port, &key_dropping, &[]);

    // Inserts at both edges reach the hub.
    let readings = |edge: &str, n: i32| -> Vec<Document> {
        (0..n)
            .map(|t| doc! {"_id": ObjectId::new(), "edge": edge, "t": t})
            .collect()
    };
    let (kept, dropped) = (readings("keeping", 200), readings("dropping", 300));
    run(
        keeping,
        doc! {"insert": "readings", "documents": kept.clone()},
    );
    run(
        dropping,
        doc! {"insert": "readings", "documents": dropped.clone()},
    );
    let mut all = [kept.clone(), dropped.clone()].concat();
    all.sort_by(|a, b| {
        a.get_object_id("_id")
            .unwrap()
            .cmp(&b.get_object_id("_id").unwrap())
    });
    wait_until("every reading at the hub", || {
        documents(hub_port, "readings") == all
    });

    // Retention 0: the dropping edge removes its acknowledged copies; the other keeps them.
    wait_until("the dropping edge empty", || {
        documents(dropping, "readings").is_empty()
    });
    assert_eq!(documents(keeping, "readings"), kept);

    // Updates and deletes at an edge stay local; a later insert still uploads.
    let (first, second) = (kept[0].get("_id").unwrap(), kept[1].get("_id").unwrap());
    run(
        keeping,
        doc! {"update": "readings", "updates": [{"q": {"_id": first}, "u": {"$set": {"t": -1}}}]},
    );
    run(
        keeping,
        doc! {"delete": "readings", "deletes": [{"q": {"_id": second}, "limit": 1}]},
    );
    let marker = doc! {"_id": ObjectId::new(), "edge": "keeping", "t": 1000};
    run(
        keeping,
        doc! {"insert": "readings", "documents": [marker.clone()]},
    );
    wait_until("the marker at the hub", || {
        documents(hub_port, "readings").contains(&marker)
    });
    let at_hub = documents(hub_port, "readings");
    assert!(at_hub.contains(&kept[0]) && at_hub.contains(&kept[1]));
    let status = client(keeping)
        .command(doc! {"outpostSyncStatus": 1})
        .unwrap();
    assert_eq!(
        status
            .get_document("skipped")
            .unwrap()
            .get_i64("ingest_local_only"),
        Ok(2),
        "{status}"
    );

    // Hub-side writes to the ingest collection never reach an edge, while a synced
    // collection's do (the sign that downloads ran).
    let hub_reading = doc! {"_id": ObjectId::new(), "edge": "hub"};
    run(
        hub_port,
        doc! {"insert": "readings", "documents": [hub_reading.clone()]},
    );
    let setting = doc! {"_id": ObjectId::new(), "interval": 5};
    run(
        hub_port,
        doc! {"insert": "config", "documents": [setting.clone()]},
    );
    for edge in [keeping, dropping] {
        wait_until("the hub's config at the edge", || {
            documents(edge, "config") == vec![setting.clone()]
        });
        assert!(!ids(&documents(edge, "readings")).contains(hub_reading.get("_id").unwrap()));
    }
    assert!(documents(dropping, "readings").is_empty());
}

fn measurement_count(port: u16) -> i64 {
    let reply = run(
        port,
        doc! {"aggregate": "sensors", "pipeline": [{"$count": "n"}], "cursor": {}},
    );
    let batch = reply
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()
        .clone();
    batch.first().map_or(0, |d| {
        i64::from(d.as_document().unwrap().get_i32("n").unwrap())
    })
}

#[test]
fn time_series_readings_reach_the_hub_bucket_by_bucket() {
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
    let key = client(hub_port)
        .command(doc! {"outpostHubCreateEdge": 1, "name": "plant", "defaultDb": "plant"})
        .unwrap()
        .get_str("registration_key")
        .unwrap()
        .to_string();
    let (_edge, edge) = start_edge(dir.path(), "edge", hub_port, &key, &[]);
    let timeseries = doc! {"timeField": "ts", "metaField": "sensor", "granularity": "seconds"};
    run(
        edge,
        doc! {"create": "sensors", "timeseries": timeseries.clone(), "expireAfterSeconds": 86_400_i64 * 365},
    );
    let now = bson::DateTime::now().timestamp_millis();
    let readings: Vec<Document> = (0..2_000_i64)
        .map(|i| {
            doc! {
                "ts": bson::DateTime::from_millis(now - 3_600_000 + (i / 10) * 1000),
                "sensor": format!("s{}", i % 10),
                "value": i as f64 / 7.0,
            }
        })
        .collect();
    for chunk in readings.chunks(500) {
        run(
            edge,
            doc! {"insert": "sensors", "documents": chunk.to_vec()},
        );
    }
    wait_until("every reading at the hub", || {
        measurement_count(hub_port) == 2_000
    });
    // The hub's collection is time-series with the edge's options, and answers the same
    // per-sensor averages.
    let listed = run(
        hub_port,
        doc! {"listCollections": 1, "filter": {"name": "sensors"}},
    );
    let info = listed
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()[0]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(info.get_str("type"), Ok("timeseries"), "{info}");
    let options = info.get_document("options").unwrap();
    let held = options.get_document("timeseries").unwrap();
    assert_eq!(held.get_str("timeField"), Ok("ts"));
    assert_eq!(held.get_str("metaField"), Ok("sensor"));
    assert_eq!(held.get_str("granularity"), Ok("seconds"));
    let averages = |port| {
        run(
            port,
            doc! {"aggregate": "sensors", "pipeline": [
                {"$group": {"_id": "$sensor", "avg": {"$avg": "$value"}, "n": {"$sum": 1}}},
                {"$sort": {"_id": 1}},
            ], "cursor": {}},
        )
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()
        .clone()
    };
    assert_eq!(averages(hub_port), averages(edge));
    // A delete at the edge stays there.
    run(
        edge,
        doc! {"delete": "sensors", "deletes": [{"q": {"sensor": "s0"}, "limit": 0}]},
    );
    let marker = doc! {"ts": bson::DateTime::now(), "sensor": "s1", "value": 0.0};
    run(edge, doc! {"insert": "sensors", "documents": [marker]});
    wait_until("the marker at the hub", || {
        measurement_count(hub_port) == 2_001
    });
    assert_eq!(measurement_count(edge), 1_801);
}
