//! `outpost-wire-load`: a lean load generator on the wire protocol, the counterpart of
//! `redis-benchmark` for measuring a server's own limit. `outpost-load` drives a server
//! through the official driver, as an application would; on a 2-core machine the driver
//! takes about two thirds of the CPU (55 us of client CPU per ping against the server's 30),
//! so what it measures is mostly the driver. This client writes OP_MSG requests it encodes
//! itself and reads the replies' headers and `ok`, one request at a time per connection,
//! every connection a task on one thread (as redis-benchmark runs on one thread).
//!
//! ```text
//! outpost-wire-load --addr 127.0.0.1:27021 [--seconds 5] [--only ping,insertOne,find,update]
//!                   [--seeded N]
//! ```
//!
//! Scenarios as `outpost-load`'s (the same documents and filters, `workload.rs`, in database
//! `outpost_wire_load`, dropped first and at the end), each with 1 and 16 connections, for
//! `--seconds` (default 5). `--seeded` sets how many documents the finds and updates pick
//! from (default 10,000, as `outpost-load`'s): with millions, the reads miss the page cache. Each reply is checked: `ok: 1`, and `n: 1` for inserts and
//! updates, one document for finds.

use std::time::{Duration, Instant};

use bson::{doc, Document, RawDocument};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "workload.rs"]
mod workload;
use workload::{random_seed_id, seed_document, small_document, CONCURRENCY, SEEDED};

const DATABASE: &str = "outpost_wire_load";
const OP_MSG: i32 = 2013;

#[derive(Clone, Copy, PartialEq)]
enum Scenario {
    Ping,
    InsertOne,
    FindById,
    UpdateById,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Ping => "ping",
            Scenario::InsertOne => "insertOne",
            Scenario::FindById => "find by _id",
            Scenario::UpdateById => "updateOne by _id",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Scenario::Ping => "ping",
            Scenario::InsertOne => "insertOne",
            Scenario::FindById => "find",
            Scenario::UpdateById => "update",
        }
    }

    /// The command of operation `i` of task `task`.
    fn command(self, task: u64, i: u64, random: &mut u64, seeded: u64) -> Document {
        match self {
            Scenario::Ping => doc! {"ping": 1, "$db": DATABASE},
            Scenario::InsertOne => doc! {
                "insert": "c",
                "documents": [small_document(task, i)],
                "$db": DATABASE,
            },
            Scenario::FindById => doc! {
                "find": "c",
                "filter": {"_id": random_seed_id(random, seeded)},
                "limit": 1,
                "singleBatch": true,
                "$db": DATABASE,
            },
            Scenario::UpdateById => doc! {
                "update": "c",
                "updates": [{"q": {"_id": random_seed_id(random, seeded)}, "u": {"$inc": {"n": 1}}}],
                "$db": DATABASE,
            },
        }
    }

    /// Checks a reply beyond `ok: 1`.
    fn check(self, reply: &RawDocument) {
        let n = || reply.get_i32("n").expect("a write reply has n");
        match self {
            Scenario::Ping => {}
            Scenario::InsertOne => assert_eq!(n(), 1, "insert: {reply:?}"),
            Scenario::UpdateById => assert_eq!(n(), 1, "update: {reply:?}"),
            Scenario::FindById => {
                let batch = reply
                    .get_document("cursor")
                    .and_then(|cursor| cursor.get_array("firstBatch"))
                    .expect("a find reply has cursor.firstBatch");
                assert_eq!(batch.into_iter().count(), 1, "find: {reply:?}");
            }
        }
    }
}

/// One connection: requests out, replies in, one at a time.
struct Connection {
    stream: TcpStream,
    request_id: i32,
    out: Vec<u8>,
    reply: Vec<u8>,
}

impl Connection {
    async fn open(addr: &str) -> Connection {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Connection {
            stream,
            request_id: 0,
            out: Vec::with_capacity(512),
            reply: Vec::with_capacity(512),
        }
    }

    /// Sends `command` as an OP_MSG and returns the reply's body, checked for `ok: 1`.
    async fn run(&mut self, command: &Document) -> &RawDocument {
        self.request_id = self.request_id.wrapping_add(1);
        self.out.clear();
        self.out.extend_from_slice(&[0; 16]);
        self.out.extend_from_slice(&0u32.to_le_bytes());
        self.out.push(0);
        command.to_writer(&mut self.out).expect("encode");
        let length = i32::try_from(self.out.len()).expect("small request");
        self.out[0..4].copy_from_slice(&length.to_le_bytes());
        self.out[4..8].copy_from_slice(&self.request_id.to_le_bytes());
        self.out[12..16].copy_from_slice(&OP_MSG.to_le_bytes());
        self.stream.write_all(&self.out).await.expect("write");
        let mut header = [0u8; 16];
        self.stream.read_exact(&mut header).await.expect("read");
        let length = i32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
        let op_code = i32::from_le_bytes(header[12..16].try_into().expect("4 bytes"));
        assert_eq!(op_code, OP_MSG, "an uncompressed OP_MSG reply");
        let body = usize::try_from(length).expect("length") - 16;
        self.reply.resize(body, 0);
        self.stream.read_exact(&mut self.reply).await.expect("read");
        // Flags (4 bytes), section kind 0, the body.
        let reply = RawDocument::from_bytes(&self.reply[5..]).expect("a BSON reply");
        let ok = match reply.get("ok").expect("ok") {
            Some(bson::RawBsonRef::Double(ok)) => ok == 1.0,
            Some(bson::RawBsonRef::Int32(ok)) => ok == 1,
            other => panic!("ok is {other:?}"),
        };
        assert!(ok, "command failed: {reply:?}");
        reply
    }
}

/// What one measurement runs.
struct Run<'a> {
    addr: &'a str,
    scenario: Scenario,
    clients: u64,
    bound: Duration,
    /// Numbers this run's operations apart from other runs'.
    number: u64,
    seeded: u64,
}

async fn measure(run: Run<'_>) {
    let Run {
        addr,
        scenario,
        clients,
        bound,
        number: run,
        seeded,
    } = run;
    let deadline = Instant::now() + bound;
    let mut connections = Vec::new();
    for _ in 0..clients {
        connections.push(Connection::open(addr).await);
    }
    let start = Instant::now();
    let tasks: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(task, mut connection)| {
            let task = run * 1_000 + task as u64;
            tokio::task::spawn_local(async move {
                let mut latencies = Vec::new();
                let mut random = 0x9E37_79B9_7F4A_7C15 ^ (task + 1);
                let mut i = 0;
                while Instant::now() < deadline {
                    let command = scenario.command(task, i, &mut random, seeded);
                    let begin = Instant::now();
                    let reply = connection.run(&command).await;
                    scenario.check(reply);
                    latencies.push(begin.elapsed());
                    i += 1;
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("a client task panicked"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    let at = |p: f64| {
        let rank = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[rank.min(latencies.len() - 1)].as_secs_f64() * 1e3
    };
    println!(
        "{:<18} {:>7} {:>9} {:>8.2} {:>11.0} {:>9.3} {:>9.3}",
        scenario.name(),
        clients,
        latencies.len(),
        elapsed,
        latencies.len() as f64 / elapsed,
        at(0.5),
        at(0.99)
    );
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let addr = arg("--addr").expect("--addr host:port");
    let seconds: u64 = arg("--seconds").map_or(5, |s| s.parse().expect("--seconds"));
    let only: Option<Vec<String>> =
        arg("--only").map(|list| list.split(',').map(str::to_string).collect());
    let seeded: u64 = arg("--seeded").map_or(SEEDED, |s| s.parse().expect("--seeded"));
    assert!(seeded > 0, "--seeded must be at least 1");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let mut admin = Connection::open(&addr).await;
        admin.run(&doc! {"dropDatabase": 1, "$db": DATABASE}).await;
        for batch in 0..seeded.div_ceil(1_000) {
            let docs: Vec<Document> = (batch * 1_000..seeded.min((batch + 1) * 1_000))
                .map(seed_document)
                .collect();
            admin
                .run(&doc! {"insert": "c", "documents": docs, "$db": DATABASE})
                .await;
        }
        println!(
            "{:<18} {:>7} {:>9} {:>8} {:>11} {:>9} {:>9}",
            "scenario", "clients", "ops", "seconds", "ops/s", "p50 ms", "p99 ms"
        );
        let scenarios = [
            Scenario::Ping,
            Scenario::InsertOne,
            Scenario::FindById,
            Scenario::UpdateById,
        ];
        let mut run = 0;
        for scenario in scenarios {
            if only
                .as_ref()
                .is_some_and(|only| !only.iter().any(|k| k == scenario.key()))
            {
                continue;
            }
            for clients in CONCURRENCY {
                run += 1;
                measure(Run {
                    addr: &addr,
                    scenario,
                    clients,
                    bound: Duration::from_secs(seconds),
                    number: run,
                    seeded,
                })
                .await;
            }
        }
        admin.run(&doc! {"dropDatabase": 1, "$db": DATABASE}).await;
    });
}
