//! `outpost-timeseries-bench`: sensor readings in a time-series collection against the same
//! readings as plain documents. 10 sensors, one reading a second each (1,000,000 readings by
//! default: 100,000 seconds, about 28 hours), inserted through the driver in batches of 1,000
//! in time order; then bytes on disk, and the time of a per-minute average over one day for one
//! sensor. Each collection lives in its own in-process server on its own data directory, so
//! the bytes on disk are each one's alone (documents or buckets, indexes and history log).
//!
//! ```sh
//! cargo run --release -p outpost-benches --bin outpost-timeseries-bench [-- --readings N]
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use bson::{doc, DateTime, Document};
use mongodb::Client;

const SENSORS: i64 = 10;
const BATCH: usize = 1_000;
const QUERY_RUNS: usize = 5;
/// 2024-05-01T00:00:00Z.
const START_MS: i64 = 1_714_521_600_000;
const DAY_MS: i64 = 86_400_000;

/// The reading of `sensor` at second `second`: a daily cycle plus deterministic noise, to two
/// decimals, as a thermometer reports it.
fn reading(sensor: i64, second: i64, noise: &mut u64) -> Document {
    *noise = noise
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    let jitter = ((*noise >> 33) % 100) as f64 / 100.0 - 0.5;
    let cycle = (second as f64 / 86_400.0 * std::f64::consts::TAU).sin() * 5.0;
    let temp = ((20.0 + sensor as f64 + cycle + jitter) * 100.0).round() / 100.0;
    doc! {
        "ts": DateTime::from_millis(START_MS + second * 1000),
        "meta": {"sensor": sensor, "site": "plant-1"},
        "temp": temp,
    }
}

fn directory_bytes(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

struct Side {
    name: &'static str,
    server: outpost_server::ServerHandle,
    client: Client,
    dir: tempfile::TempDir,
}

async fn start(name: &'static str) -> Side {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let config = outpost_server::Config {
        dbpath: Some(dir.path().to_path_buf()),
        port: 0,
        ..Default::default()
    };
    let server = outpost_server::Server::builder()
        .config(config)
        .start_on(listener)
        .await
        .expect("the server did not start");
    let uri = format!("mongodb://{}/?directConnection=true", server.local_addr());
    let client = Client::with_uri_str(&uri).await.expect("client");
    Side {
        name,
        server,
        client,
        dir,
    }
}

async fn insert_all(side: &Side, readings: u64) -> Duration {
    let coll = side
        .client
        .database("bench")
        .collection::<Document>("readings");
    let seconds = i64::try_from(readings).unwrap_or(i64::MAX) / SENSORS;
    let mut noise = 7u64;
    let mut batch = Vec::with_capacity(BATCH);
    let started = Instant::now();
    for second in 0..seconds {
        for sensor in 0..SENSORS {
            batch.push(reading(sensor, second, &mut noise));
            if batch.len() == BATCH {
                coll.insert_many(std::mem::take(&mut batch))
                    .await
                    .expect("insert");
            }
        }
    }
    if !batch.is_empty() {
        coll.insert_many(batch).await.expect("insert");
    }
    started.elapsed()
}

async fn per_minute_average(side: &Side) -> (Duration, usize) {
    let db = side.client.database("bench");
    let day = DateTime::from_millis(START_MS);
    let next = DateTime::from_millis(START_MS + DAY_MS);
    let pipeline = vec![
        doc! {"$match": {"meta.sensor": 3, "ts": {"$gte": day, "$lt": next}}},
        doc! {"$group": {"_id": {"$dateTrunc": {"date": "$ts", "unit": "minute"}}, "avg": {"$avg": "$temp"}}},
        doc! {"$sort": {"_id": 1}},
    ];
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..QUERY_RUNS {
        let started = Instant::now();
        let reply = db
            .run_command(doc! {"aggregate": "readings", "pipeline": pipeline.clone(), "cursor": {"batchSize": 10_000}})
            .await
            .expect("aggregate");
        times.push(started.elapsed());
        rows = reply
            .get_document("cursor")
            .and_then(|c| c.get_array("firstBatch"))
            .map(|b| b.len())
            .unwrap_or(0);
    }
    times.sort();
    (times[times.len() / 2], rows)
}

async fn report(side: &Side, readings: u64, insert: Duration) {
    side.server.storage().flush().expect("flush");
    let (query, rows) = per_minute_average(side).await;
    let on_disk = directory_bytes(side.dir.path());
    let stats = side
        .client
        .database("bench")
        .run_command(doc! {"collStats": "readings"})
        .await
        .expect("collStats");
    let data = stats
        .get_document("timeseries")
        .ok()
        .and_then(|t| t.get_i64("bucketBytes").ok())
        .or_else(|| stats.get_i64("size").ok())
        .unwrap_or(0);
    let rate = readings as f64 / insert.as_secs_f64();
    println!(
        "{:<12} {:>10.0} {:>12} {:>12.1} {:>14} {:>9.1} {:>11.1} {:>6}",
        side.name,
        rate,
        on_disk,
        on_disk as f64 / readings as f64,
        data,
        data as f64 / readings as f64,
        query.as_secs_f64() * 1e3,
        rows,
    );
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut readings: u64 = 1_000_000;
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--readings", Some(n)) => readings = n.parse().expect("--readings N"),
            _ => {
                eprintln!("usage: outpost-timeseries-bench [--readings N]");
                std::process::exit(2);
            }
        }
    }
    let timeseries = start("timeseries").await;
    timeseries
        .client
        .database("bench")
        .run_command(doc! {"create": "readings", "timeseries": {"timeField": "ts", "metaField": "meta", "granularity": "seconds"}})
        .await
        .expect("create");
    let plain = start("plain").await;
    // A plain collection as an application would index it for this query.
    plain
        .client
        .database("bench")
        .run_command(doc! {"createIndexes": "readings", "indexes": [{"key": {"meta.sensor": 1, "ts": 1}, "name": "sensor_ts"}]})
        .await
        .expect("createIndexes");
    println!("{readings} readings, {SENSORS} sensors, one a second, batches of {BATCH}");
    println!(
        "{:<12} {:>10} {:>12} {:>12} {:>14} {:>9} {:>11} {:>6}",
        "collection",
        "inserts/s",
        "disk bytes",
        "disk B/read",
        "data bytes",
        "data B/r",
        "query ms",
        "rows"
    );
    for side in [&timeseries, &plain] {
        let insert = insert_all(side, readings).await;
        report(side, readings, insert).await;
    }
}
