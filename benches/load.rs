//! `outpost-load`: an end-to-end load generator. It drives a server through the official Rust
//! driver, exactly as an application would, and prints throughput and latency per scenario.
//!
//! ```text
//! cargo run --release -p outpost-benches --bin outpost-load             # in-process server
//! cargo run --release -p outpost-benches --bin outpost-load -- --uri mongodb://127.0.0.1:27021
//! ```
//!
//! Options: `--uri <uri>` targets an external server (its `outpost_load` database is dropped
//! first); `--seconds <s>` bounds each scenario in time (default 10); `--scale <f>` multiplies
//! the operation counts (default 1.0); `--server-pid <pid>` names the external server's
//! process, whose resident memory (`VmRSS`/`VmHWM` of `/proc/<pid>/status`) is reported idle,
//! after the scenarios and after the bulk load (in-process, the load generator's own process is
//! reported: server and driver together); `--bulk-load <n>` loads `n` documents of about 130
//! bytes at the end (insertMany of 1,000) and reports the time and memory; `--only <names>`
//! runs only the comma-separated scenarios (`ping,insertOne,insertMany,find,update`). Each
//! scenario runs with 1 and with 16 client tasks sharing one driver client, and stops at its
//! operation count or its time bound, whichever comes first.

use std::time::{Duration, Instant};

use bson::{doc, Document};
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection};

#[path = "workload.rs"]
mod workload;
use workload::{random_seed_id, seed_document, small_document, CONCURRENCY, SEEDED};

/// The database the load generator uses (and drops).
const DATABASE: &str = "outpost_load";
/// Documents per insertMany operation.
const BATCH: u64 = 1_000;

struct Options {
    uri: Option<String>,
    seconds: u64,
    scale: f64,
    server_pid: Option<u32>,
    bulk_load: u64,
    only: Option<Vec<String>>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        uri: None,
        seconds: 10,
        scale: 1.0,
        server_pid: None,
        bulk_load: 0,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--uri" => options.uri = Some(value("--uri")?),
            "--seconds" => {
                options.seconds = value("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            "--scale" => {
                options.scale = value("--scale")?
                    .parse()
                    .map_err(|e| format!("--scale: {e}"))?
            }
            "--server-pid" => {
                options.server_pid = Some(
                    value("--server-pid")?
                        .parse()
                        .map_err(|e| format!("--server-pid: {e}"))?,
                )
            }
            "--bulk-load" => {
                options.bulk_load = value("--bulk-load")?
                    .parse()
                    .map_err(|e| format!("--bulk-load: {e}"))?
            }
            "--only" => {
                options.only = Some(value("--only")?.split(',').map(str::to_owned).collect())
            }
            "--help" | "-h" => {
                return Err("usage: outpost-load [--uri <mongodb uri>] [--seconds <s>] \
                     [--scale <f>] [--server-pid <pid>] [--bulk-load <n>] [--only <names>]"
                    .into())
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(options)
}

/// The kinds of operation measured.
#[derive(Clone, Copy)]
enum Scenario {
    /// The `ping` command: the request path without storage.
    Ping,
    /// One small document per operation.
    InsertOne,
    /// 1,000 small documents per operation.
    InsertMany,
    /// `find({_id})` of a seeded document.
    FindById,
    /// `updateOne({_id}, {$inc: {n: 1}})` of a seeded document.
    UpdateById,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Ping => "ping",
            Scenario::InsertOne => "insertOne",
            Scenario::InsertMany => "insertMany (1,000 docs)",
            Scenario::FindById => "find by _id",
            Scenario::UpdateById => "updateOne by _id",
        }
    }

    /// The name `--only` selects it by.
    fn short_name(self) -> &'static str {
        match self {
            Scenario::Ping => "ping",
            Scenario::InsertOne => "insertOne",
            Scenario::InsertMany => "insertMany",
            Scenario::FindById => "find",
            Scenario::UpdateById => "update",
        }
    }

    /// Operations per run before scaling.
    fn operations(self) -> u64 {
        match self {
            Scenario::Ping => 100_000,
            Scenario::InsertOne => 20_000,
            Scenario::InsertMany => 200,
            Scenario::FindById => 50_000,
            Scenario::UpdateById => 20_000,
        }
    }
}

/// One measured run.
struct Measurement {
    scenario: Scenario,
    clients: u64,
    operations: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Measurement {
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[rank.min(self.latencies.len() - 1)]
    }

    fn ops_per_second(&self) -> f64 {
        self.operations as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// Runs `scenario` with `clients` tasks, each doing its share of operations until the count
/// or the time bound is reached.
async fn measure(
    db: &mongodb::Database,
    collection: &Collection<Document>,
    scenario: Scenario,
    clients: u64,
    operations: u64,
    bound: Duration,
    run_id: u64,
) -> Measurement {
    let per_task = operations.div_ceil(clients);
    let start = Instant::now();
    let deadline = start + bound;
    let mut tasks = Vec::new();
    for task in 0..clients {
        let collection = collection.clone();
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let task_id = run_id * 1_000 + task;
            let mut latencies = Vec::with_capacity(per_task as usize);
            let mut random = 0x9E37_79B9_7F4A_7C15 ^ (task_id + 1);
            for i in 0..per_task {
                if Instant::now() >= deadline {
                    break;
                }
                let begin = Instant::now();
                match scenario {
                    Scenario::Ping => {
                        db.run_command(doc! {"ping": 1}).await.expect("ping failed");
                    }
                    Scenario::InsertOne => {
                        collection
                            .insert_one(small_document(task_id, i))
                            .await
                            .expect("insertOne failed");
                    }
                    Scenario::InsertMany => {
                        let docs = (0..BATCH).map(|j| small_document(task_id, i * BATCH + j));
                        collection
                            .insert_many(docs)
                            .await
                            .expect("insertMany failed");
                    }
                    Scenario::FindById => {
                        let id = random_seed_id(&mut random, SEEDED);
                        let found = collection
                            .find_one(doc! {"_id": &id})
                            .await
                            .expect("find failed");
                        assert!(found.is_some(), "seeded document {id} missing");
                    }
                    Scenario::UpdateById => {
                        let id = random_seed_id(&mut random, SEEDED);
                        let updated = collection
                            .update_one(doc! {"_id": &id}, doc! {"$inc": {"n": 1}})
                            .await
                            .expect("update failed");
                        assert_eq!(updated.matched_count, 1, "seeded document {id} missing");
                    }
                }
                latencies.push(begin.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("a client task panicked"));
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Measurement {
        scenario,
        clients,
        operations: latencies.len() as u64,
        elapsed,
        latencies,
    }
}

fn print_table(measurements: &[Measurement]) {
    println!(
        "{:<24} {:>7} {:>8} {:>8} {:>11} {:>12} {:>9} {:>9}",
        "scenario", "clients", "ops", "seconds", "ops/s", "docs/s", "p50 ms", "p99 ms"
    );
    for m in measurements {
        let docs_per_op = match m.scenario {
            Scenario::InsertMany => BATCH as f64,
            _ => 1.0,
        };
        println!(
            "{:<24} {:>7} {:>8} {:>8.2} {:>11.0} {:>12.0} {:>9.3} {:>9.3}",
            m.scenario.name(),
            m.clients,
            m.operations,
            m.elapsed.as_secs_f64(),
            m.ops_per_second(),
            m.ops_per_second() * docs_per_op,
            m.percentile(0.50).as_secs_f64() * 1e3,
            m.percentile(0.99).as_secs_f64() * 1e3,
        );
    }
}

/// Where the resident memory is read from.
struct Memory {
    /// The external server's process; `None`: this process.
    pid: Option<u32>,
}

impl Memory {
    fn label(&self) -> String {
        match self.pid {
            Some(pid) => format!("server memory (/proc/{pid}/status):"),
            None => "memory of this process (in-process server and driver together):".into(),
        }
    }

    /// `VmRSS` and `VmHWM` (peak) of the process, as `/proc/<pid>/status` gives them.
    fn read(&self) -> String {
        let path = match self.pid {
            Some(pid) => format!("/proc/{pid}/status"),
            None => "/proc/self/status".into(),
        };
        let Ok(status) = std::fs::read_to_string(&path) else {
            return format!("({path} unreadable)");
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| "?".into())
        };
        format!("RSS {:>12}   peak {:>12}", field("VmRSS:"), field("VmHWM:"))
    }
}

/// A document of about 130 bytes for the bulk load.
fn bulk_document(i: u64) -> Document {
    doc! {
        "_id": format!("bulk-{i:08}"),
        "sensor": format!("sensor-{:04}", i % 1000),
        "ts": i as i64,
        "value": (i % 997) as f64 * 0.5,
        "status": "ok",
        "note": "a reading of about 130 bytes",
    }
}

/// Loads `count` documents with insertMany of 1,000; returns the count and the time taken.
async fn bulk_load(db: &mongodb::Database, count: u64) -> (u64, Duration) {
    let collection = db.collection::<Document>("bulk");
    let start = Instant::now();
    let mut next = 0;
    while next < count {
        let end = (next + BATCH).min(count);
        collection
            .insert_many((next..end).map(bulk_document))
            .await
            .expect("bulk insertMany failed");
        next = end;
    }
    (count, start.elapsed())
}

async fn connect(uri: &str) -> Client {
    let mut options = ClientOptions::parse(uri).await.expect("invalid --uri");
    options.max_pool_size = Some(32);
    options.app_name = Some("outpost-load".into());
    Client::with_options(options).expect("client options")
}

#[tokio::main]
async fn main() {
    let options = match parse_options() {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    // An in-process server on temporary storage unless --uri names one.
    let (server, uri) = match &options.uri {
        Some(uri) => (None, uri.clone()),
        None => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0");
            let config = outpost_server::Config {
                dbpath: None,
                port: 0,
                ..Default::default()
            };
            let server = outpost_server::Server::builder()
                .config(config)
                .start_on(listener)
                .await
                .expect("the server did not start");
            let uri = format!("mongodb://{}/?directConnection=true", server.local_addr());
            (Some(server), uri)
        }
    };
    let target = if server.is_some() {
        "in-process Outpost (temporary storage)"
    } else {
        uri.as_str()
    };
    println!("target: {target}");
    let memory = Memory {
        pid: options.server_pid,
    };
    let client = connect(&uri).await;
    let db = client.database(DATABASE);
    db.drop().await.expect("drop the load database");
    let mut memory_rows = vec![("idle (before seeding)", memory.read())];

    // Seed the documents find-by-_id and updateOne read.
    let reads = db.collection::<Document>("reads");
    for chunk in (0..SEEDED).collect::<Vec<_>>().chunks(BATCH as usize) {
        reads
            .insert_many(chunk.iter().map(|i| seed_document(*i)))
            .await
            .expect("seeding failed");
    }

    let bound = Duration::from_secs(options.seconds);
    let mut measurements = Vec::new();
    let mut run_id = 0;
    let scenarios = [
        Scenario::Ping,
        Scenario::InsertOne,
        Scenario::InsertMany,
        Scenario::FindById,
        Scenario::UpdateById,
    ];
    let selected = scenarios.into_iter().filter(|s| {
        options
            .only
            .as_ref()
            .is_none_or(|only| only.iter().any(|name| name == s.short_name()))
    });
    for scenario in selected {
        for clients in CONCURRENCY {
            run_id += 1;
            let operations =
                ((scenario.operations() as f64 * options.scale).ceil() as u64).max(clients);
            let collection = match scenario {
                Scenario::FindById | Scenario::UpdateById => reads.clone(),
                _ => db.collection::<Document>(&format!("writes_{run_id}")),
            };
            let m = measure(
                &db,
                &collection,
                scenario,
                clients,
                operations,
                bound,
                run_id,
            )
            .await;
            eprintln!(
                "{} with {} clients: {} ops in {:.2} s",
                scenario.name(),
                clients,
                m.operations,
                m.elapsed.as_secs_f64()
            );
            measurements.push(m);
        }
    }
    memory_rows.push(("after the scenarios", memory.read()));
    println!();
    print_table(&measurements);

    if options.bulk_load > 0 {
        db.drop().await.expect("drop the load database");
        memory_rows.push(("after dropping their data", memory.read()));
        let (docs, elapsed) = bulk_load(&db, options.bulk_load).await;
        println!(
            "\nbulk load: {docs} documents of ~130 bytes in {:.2} s ({:.0} docs/s)",
            elapsed.as_secs_f64(),
            docs as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
        );
        memory_rows.push(("after the bulk load", memory.read()));
    }
    println!("\n{}", memory.label());
    for (when, reading) in memory_rows {
        println!("  {when:<26} {reading}");
    }

    db.drop().await.expect("drop the load database");
    client.shutdown().immediate(true).await;
    if let Some(server) = server {
        server.shutdown().await.expect("shutdown");
    }
}
