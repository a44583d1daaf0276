//! Snapshot benchmark: a new edge's first download of a large collection, with the hub and the
//! edge as real `outpost` processes on loopback at default settings.
//!
//! 1. A hub is loaded with N small documents (default 1,000,000) through the official driver.
//! 2. An edge instance whose query covers them is created, and an edge process started with
//!    its registration key.
//! 3. The edge's document count and its resident memory (VmRSS, /proc) are sampled every 100 ms
//!    until it holds all N: the snapshot's duration, its rate, and the edge's peak RSS.
//!
//! Run (release builds of both): `cargo build --release --bin outpost && cargo run --release
//! -p outpost-benches --bin outpost-snapshot-bench [-- --docs 1000000 --outpost PATH]`

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use bson::{doc, Document};
use mongodb::Client;
use outpost_server::hub::client::HubClient;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(outpost: &PathBuf, args: &[&str]) -> Process {
    Process(
        Command::new(outpost)
            .args(args)
            .env("OUTPOST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start outpost"),
    )
}

/// Resident memory of a process in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn connect(port: u16) -> Client {
    let uri = format!("mongodb://127.0.0.1:{port}/?directConnection=true");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let client = Client::with_uri_str(&uri).await.expect("client");
        if client
            .database("admin")
            .run_command(doc! {"ping": 1})
            .await
            .is_ok()
        {
            return client;
        }
        assert!(Instant::now() < deadline, "port {port} never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() {
    let docs: u64 = arg("--docs")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let outpost = arg("--outpost").map(PathBuf::from).unwrap_or_else(|| {
        std::env::current_exe()
            .expect("this program's path")
            .with_file_name("outpost")
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (hub_port, edge_port) = (free_port(), free_port());
    let hub_dir = dir.path().join("hub");
    let _hub = spawn(
        &outpost,
        &[
            "hub",
            "--port",
            &hub_port.to_string(),
            "--dbpath",
            hub_dir.to_str().expect("a UTF-8 path"),
        ],
    );
    let hub = connect(hub_port).await;
    let items = hub.database("shop").collection::<Document>("items");
    let loading = Instant::now();
    let batch = 10_000;
    let mut written = 0;
    while written < docs {
        let n = batch.min(docs - written);
        let page: Vec<Document> = (written..written + n)
            .map(|i| {
                doc! {
                    "_id": ObjectId::new(),
                    "sku": format!("sku-{i:08}"),
                    "store": 42,
                    "qty": i64::try_from(i % 1_000).unwrap_or(0),
                    "price": 1.5,
                    "name": "a small item of the catalogue",
                }
            })
            .collect();
        items.insert_many(page).await.expect("load the hub");
        written += n;
    }
    let load_time = loading.elapsed();
    println!(
        "hub loaded: {docs} documents in {:.1} s ({:.0} docs/s)",
        load_time.as_secs_f64(),
        docs as f64 / load_time.as_secs_f64()
    );

    let hub_uri = format!("mongodb://127.0.0.1:{hub_port}");
    let created = {
        let uri = hub_uri.clone();
        tokio::task::spawn_blocking(move || {
            HubClient::connect(&uri, Duration::from_secs(10))
                .and_then(|mut c| {
                    c.command(doc! {
                        "outpostHubCreateEdge": 1,
                        "name": "snapshot-bench",
                        "defaultDb": "shop",
                        "query": {"items": "TRUEPREDICATE"},
                    })
                })
                .expect("create the edge instance")
        })
        .await
        .expect("create task")
    };
    let key = created
        .get_str("registration_key")
        .expect("a registration key")
        .to_string();
    let edge_dir = dir.path().join("edge");
    let started = Instant::now();
    let edge = spawn(
        &outpost,
        &[
            "serve",
            "--port",
            &edge_port.to_string(),
            "--dbpath",
            edge_dir.to_str().expect("a UTF-8 path"),
            "--hub",
            &hub_uri,
            "--registration-key",
            &key,
        ],
    );
    let pid = edge.0.id();
    let edge_client = connect(edge_port).await;
    let edge_items = edge_client.database("shop").collection::<Document>("items");
    let mut peak_rss: f64 = 0.0;
    let mut last_report = Instant::now();
    let deadline = Duration::from_secs(1_800);
    loop {
        peak_rss = peak_rss.max(rss_mib(pid));
        let count = edge_items.estimated_document_count().await.unwrap_or(0);
        if count >= docs {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            println!(
                "  {:>5.0} s: {count} documents at the edge, RSS {:.0} MiB",
                started.elapsed().as_secs_f64(),
                rss_mib(pid)
            );
            last_report = Instant::now();
        }
        assert!(started.elapsed() < deadline, "the snapshot did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    peak_rss = peak_rss.max(rss_mib(pid));
    println!(
        "snapshot: {docs} documents in {:.1} s ({:.0} docs/s) from the edge's start; edge peak RSS {:.0} MiB, after {:.0} MiB",
        took.as_secs_f64(),
        docs as f64 / took.as_secs_f64(),
        peak_rss,
        rss_mib(pid)
    );
}
