//! Sync benchmark: an in-process hub and one registered edge over loopback.
//!
//! 1. Latency: a client writes to the edge at a steady rate (default 1,000 inserts per second)
//!    with the official driver; for each document, the time from the write's acknowledgement
//!    to its arrival in the hub's history log (the moment it is visible at the hub).
//! 2. Throughput: a backlog of documents written to the edge as fast as possible; documents
//!    per second from the first write until the hub holds them all.
//!
//! With `--ingest 1` the edge's instance query is `{"*": {"$ingest": true}}` (every collection
//! an ingest collection: inserts upload without versions or merge).
//!
//! Run: `cargo run --release -p outpost-benches --bin outpost-sync-bench [-- --rate 1000
//! --seconds 10 --backlog 20000 --interval-ms 1000 --ingest 0]`

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use bson::{doc, Bson, Document};
use mongodb::Client;
use outpost_server::hub::client::HubClient;
use outpost_server::{Config, Server, ServerHandle, WriteOutsideQuery};
use outpost_storage::{HistoryOp, Origin};
use tokio::net::TcpListener;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn start(config: Config) -> ServerHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    Server::builder()
        .config(config)
        .start_on(listener)
        .await
        .expect("start")
}

/// Runs one admin command on the hub over the wire.
async fn hub_command(hub: &ServerHandle, body: Document) -> Document {
    let uri = format!("mongodb://{}", hub.local_addr());
    tokio::task::spawn_blocking(move || {
        HubClient::connect(&uri, Duration::from_secs(5))
            .and_then(|mut c| c.command_on("admin", body))
            .expect("hub command")
    })
    .await
    .expect("hub command task")
}

/// Watches the hub's history log: the first time each `_id` arrives from the edge.
fn watch_hub(
    hub: &ServerHandle,
    ns: &'static str,
    arrivals: Arc<Mutex<HashMap<ObjectId, Instant>>>,
    until: Instant,
    done: Arc<AtomicBool>,
) {
    let storage = hub.storage().clone();
    std::thread::spawn(move || {
        let mut cursor = 0u64;
        while Instant::now() < until && !done.load(Ordering::Relaxed) {
            // (Heads only: decoding every document the hub wrote would take CPU from the
            // hub and the edge being measured.)
            for entry in storage.history_heads_from(cursor + 1) {
                let Ok(entry) = entry else { break };
                cursor = entry.seq;
                let from_edge = matches!(entry.origin, Origin::Peer(_));
                if entry.ns == ns && entry.op == HistoryOp::Insert && from_edge {
                    if let Bson::ObjectId(id) = entry.id {
                        let now = Instant::now();
                        arrivals.lock().expect("arrivals").entry(id).or_insert(now);
                    }
                }
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    });
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let rate = arg("--rate", 1000);
    let seconds = arg("--seconds", 10);
    let backlog = arg("--backlog", 20_000);
    let interval_ms = arg("--interval-ms", 1000);
    let query = if arg("--ingest", 0) == 1 {
        doc! {"*": {"$ingest": true}}
    } else {
        doc! {"*": "TRUEPREDICATE"}
    };

    let hub = start(Config {
        dbpath: None,
        hub_mode: true,
        ..Config::default()
    })
    .await;
    let created = hub_command(
        &hub,
        doc! {"outpostHubCreateEdge": 1, "name": "bench", "query": query.clone(), "defaultDb": "bench"},
    )
    .await;
    let key = created
        .get_str("registration_key")
        .expect("registration key")
        .to_owned();
    let edge_dir = tempfile::tempdir().expect("edge dir");
    let edge = start(Config {
        dbpath: Some(edge_dir.path().to_path_buf()),
        hub: Some(format!("mongodb://{}", hub.local_addr())),
        registration_key: Some(key),
        write_outside_query: WriteOutsideQuery::Reject,
        sync_interval_ms: interval_ms,
        ..Config::default()
    })
    .await;
    let client = Client::with_uri_str(format!(
        "mongodb://{}/?directConnection=true",
        edge.local_addr()
    ))
    .await
    .expect("client");
    let items = client.database("bench").collection::<Document>("items");
    // Wait for registration: the first write is accepted once the edge knows its query.
    let registered = Instant::now();
    loop {
        let status = client
            .database("admin")
            .run_command(doc! {"outpostSyncStatus": 1})
            .await
            .expect("status");
        if status.get_bool("connected").unwrap_or(false)
            || registered.elapsed() > Duration::from_secs(20)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // 1. Latency at a steady rate.
    let arrivals = Arc::new(Mutex::new(HashMap::new()));
    let total = rate * seconds;
    let steady_done = Arc::new(AtomicBool::new(false));
    watch_hub(
        &hub,
        "bench.items",
        arrivals.clone(),
        Instant::now() + Duration::from_secs(seconds + 60),
        steady_done.clone(),
    );
    let mut acked: Vec<(ObjectId, Instant)> = Vec::new();
    let period = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let started = Instant::now();
    for i in 0..total {
        let due = started + period.mul_f64(i as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let id = ObjectId::new();
        items
            .insert_one(doc! {"_id": id, "i": i as i64, "payload": "x".repeat(64)})
            .await
            .expect("insert");
        acked.push((id, Instant::now()));
    }
    let write_time = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrivals.lock().expect("arrivals").len() < acked.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    steady_done.store(true, Ordering::Relaxed);
    let seen = arrivals.lock().expect("arrivals").clone();
    let mut latencies: Vec<Duration> = acked
        .iter()
        .filter_map(|(id, at)| {
            seen.get(id)
                .map(|arrived| arrived.saturating_duration_since(*at))
        })
        .collect();
    latencies.sort();

    // 2. Throughput of a backlog.
    let backlog_arrivals = Arc::new(Mutex::new(HashMap::new()));
    watch_hub(
        &hub,
        "bench.backlog",
        backlog_arrivals.clone(),
        Instant::now() + Duration::from_secs(300),
        Arc::new(AtomicBool::new(false)),
    );
    let backlog_items = client.database("bench").collection::<Document>("backlog");
    let burst_started = Instant::now();
    let mut written = 0u64;
    while written < backlog {
        let batch: Vec<Document> = (0..1000.min(backlog - written))
            .map(|i| doc! {"_id": ObjectId::new(), "i": (written + i) as i64, "payload": "y".repeat(64)})
            .collect();
        written += batch.len() as u64;
        backlog_items.insert_many(batch).await.expect("insert_many");
    }
    let burst_written = burst_started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    while (backlog_arrivals.lock().expect("arrivals").len() as u64) < backlog
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let burst_done = burst_started.elapsed();
    let burst_arrived = backlog_arrivals.lock().expect("arrivals").len();

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("edge sync interval: {interval_ms} ms, instance query {query}");
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| steady writes | {} inserts in {:.1} s ({:.0}/s) |",
        acked.len(),
        write_time.as_secs_f64(),
        acked.len() as f64 / write_time.as_secs_f64()
    );
    println!(
        "| reached the hub | {} of {} |",
        latencies.len(),
        acked.len()
    );
    println!(
        "| latency ack -> visible at hub, p50 | {:.1} ms |",
        ms(percentile(&latencies, 0.50))
    );
    println!(
        "| latency ack -> visible at hub, p99 | {:.1} ms |",
        ms(percentile(&latencies, 0.99))
    );
    println!(
        "| latency max | {:.1} ms |",
        ms(latencies.last().copied().unwrap_or_default())
    );
    println!(
        "| backlog of {backlog} written to the edge | {:.2} s |",
        burst_written.as_secs_f64()
    );
    let local_rate = backlog as f64 / burst_written.as_secs_f64();
    let hub_rate = burst_arrived as f64 / burst_done.as_secs_f64();
    println!("| backlog written locally | {local_rate:.0} documents/s |");
    println!("| backlog at the hub ({burst_arrived} documents) | {:.2} s, {hub_rate:.0} documents/s edge -> hub ({:.0}% of the local write rate) |", burst_done.as_secs_f64(), 100.0 * hub_rate / local_rate);

    edge.shutdown().await.expect("edge shutdown");
    hub.shutdown().await.expect("hub shutdown");
}
