//! Durability: data, indexes and catalog changes survive a clean restart, and writes
//! acknowledged with `j: true` survive `kill -9` of the real `outpost` binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bson::{doc, Document};
use mongodb::options::{Acknowledgment, WriteConcern};
use mongodb::{Client, IndexModel};
use outpost_tests::{command_error, connect, find_all, ids, int_field, run, TestServer};

async fn index_names(server: &TestServer, db: &str, coll: &str) -> Vec<String> {
    server
        .db(db)
        .collection::<Document>(coll)
        .list_index_names()
        .await
        .expect("listIndexes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_indexes_and_collections_survive_a_restart() {
    let server = TestServer::start_persistent().await;
    let db = server.db("keep");
    let docs: Vec<Document> = (0..50)
        .map(|i| doc! {"_id": i, "email": format!("u{i}@x")})
        .collect();
    run(&db, doc! {"insert": "users", "documents": docs.clone()}).await;
    run(
        &db,
        doc! {"createIndexes": "users", "indexes": [{"key": {"email": 1}, "name": "email_1", "unique": true}]},
    )
    .await;
    run(&db, doc! {"create": "empty"}).await;
    run(
        &db,
        doc! {"create": "low_ids", "viewOn": "users", "pipeline": [{"$match": {"_id": {"$lt": 3}}}]},
    )
    .await;
    run(&db, doc! {"insert": "doomed", "documents": [{"_id": 1}]}).await;
    run(&db, doc! {"drop": "doomed"}).await;
    run(
        &db,
        doc! {"insert": "renamed_from", "documents": [{"_id": 1}]},
    )
    .await;
    run(
        &server.db("admin"),
        doc! {"renameCollection": "keep.renamed_from", "to": "keep.renamed_to"},
    )
    .await;
    run(
        &db,
        doc! {"update": "users", "updates": [{"q": {"_id": 3}, "u": {"$set": {"changed": true}}}]},
    )
    .await;
    run(
        &db,
        doc! {"delete": "users", "deletes": [{"q": {"_id": 4}, "limit": 1}]},
    )
    .await;

    let server = server.restart().await;
    let db = server.db("keep");
    let found = find_all(&db, "users", doc! {"sort": {"_id": 1}}).await;
    let mut expected: Vec<Document> = docs
        .into_iter()
        .filter(|d| d.get_i32("_id") != Ok(4))
        .collect();
    expected[3].insert("changed", true);
    assert_eq!(found, expected);
    let mut collections = db.list_collection_names().await.expect("listCollections");
    collections.sort();
    assert_eq!(collections, ["empty", "low_ids", "renamed_to", "users"]);
    let view = find_all(&db, "low_ids", doc! {"sort": {"_id": 1}}).await;
    assert_eq!(ids(&view), [0, 1, 2], "the view survives the restart");
    assert_eq!(
        index_names(&server, "keep", "users").await,
        ["_id_", "email_1"]
    );
    // The unique index still refuses duplicates, and accepts new keys.
    let users = db.collection::<Document>("users");
    let error = command_error(users.insert_one(doc! {"_id": 100, "email": "u1@x"}).await);
    assert_eq!(error.code, 11000, "{error:?}");
    users
        .insert_one(doc! {"_id": 101, "email": "new@x"})
        .await
        .expect("insert");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_databases_stay_dropped_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_in(dir.path()).await;
    run(
        &server.db("gone"),
        doc! {"insert": "c", "documents": [{"_id": 1}]},
    )
    .await;
    run(
        &server.db("kept"),
        doc! {"insert": "c", "documents": [{"_id": 1}]},
    )
    .await;
    run(&server.db("gone"), doc! {"dropDatabase": 1}).await;
    server.shutdown().await;

    let server = TestServer::start_in(dir.path()).await;
    let names = server.client().list_database_names().await.expect("names");
    assert!(!names.contains(&"gone".to_owned()), "{names:?}");
    assert!(names.contains(&"kept".to_owned()), "{names:?}");
    server.shutdown().await;
}

/// The `outpost` binary of this workspace, built (or confirmed up to date) with cargo first
/// so the test never runs a stale binary. If cargo cannot run, an existing binary is used;
/// if there is none, the test fails saying how to build it.
pub(crate) fn outpost_binary() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let built = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "outpost-server",
            "--bin",
            "outpost",
        ])
        .current_dir(&workspace)
        .status();
    let path = outpost_tests::outpost_binary_path();
    match built {
        Ok(status) if status.success() => {}
        other => eprintln!(
            "`cargo build -p outpost-server` did not succeed ({other:?}); using {}",
            path.display()
        ),
    }
    assert!(
        path.exists(),
        "the outpost binary is missing at {}: run `cargo build -p outpost-server` first",
        path.display()
    );
    path
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A running `outpost serve` process.
pub(crate) struct OutpostProcess {
    child: Child,
    pub(crate) addr: std::net::SocketAddr,
    log: PathBuf,
}

impl OutpostProcess {
    async fn spawn(binary: &Path, dbpath: &Path, log: PathBuf) -> OutpostProcess {
        OutpostProcess::start(binary, dbpath, log, &[]).await
    }

    /// Starts `outpost serve` with `extra` arguments, its data in `dir/data` and its log in
    /// `dir/outpost.log`.
    pub(crate) async fn spawn_with(
        binary: &Path,
        dir: &Path,
        extra: &[&std::ffi::OsStr],
    ) -> OutpostProcess {
        OutpostProcess::start(binary, &dir.join("data"), dir.join("outpost.log"), extra).await
    }

    /// Starts `outpost serve` with `extra` arguments after the port and data directory.
    async fn start(
        binary: &Path,
        dbpath: &Path,
        log: PathBuf,
        extra: &[&std::ffi::OsStr],
    ) -> OutpostProcess {
        let port = free_port();
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(binary)
            .args(["serve", "--port", &port.to_string(), "--dbpath"])
            .arg(dbpath)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut process = OutpostProcess {
            child,
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        };
        process.wait_until_listening().await;
        process
    }

    async fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "outpost exited with {status} before listening:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "outpost did not listen within 30 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown, no final flush.
    fn kill_9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait");
    }
}

impl Drop for OutpostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journaled_writes_survive_kill_9() {
    let binary = outpost_binary();
    let dir = tempfile::tempdir().expect("tempdir");
    let dbpath = dir.path().join("data");
    let process = OutpostProcess::spawn(&binary, &dbpath, dir.path().join("outpost.log")).await;
    let client: Client = connect(process.addr).await;
    let journaled = WriteConcern::builder()
        .journal(true)
        .w(Acknowledgment::Nodes(1))
        .build();
    let coll = client.database("durable").collection::<Document>("c");
    coll.insert_one(doc! {"_id": 0, "v": "journaled"})
        .write_concern(journaled.clone())
        .await
        .expect("insert j:true");
    coll.insert_many((1..=100).map(|i| doc! {"_id": i, "v": i}))
        .write_concern(journaled.clone())
        .await
        .expect("insert_many j:true");
    coll.update_one(doc! {"_id": 5}, doc! {"$set": {"v": "updated"}})
        .write_concern(journaled.clone())
        .await
        .expect("update j:true");
    coll.delete_one(doc! {"_id": 6})
        .write_concern(journaled.clone())
        .await
        .expect("delete j:true");
    coll.create_index(IndexModel::builder().keys(doc! {"v": 1}).build())
        .write_concern(journaled)
        .await
        .expect("createIndexes j:true");
    client.shutdown().immediate(true).await;
    let log = process.log();
    process.kill_9();

    let server = TestServer::start_in(&dbpath).await;
    let db = server.db("durable");
    let docs = find_all(&db, "c", doc! {"sort": {"_id": 1}}).await;
    assert_eq!(
        docs.len(),
        100,
        "documents lost after kill -9; server log:\n{log}"
    );
    assert_eq!(docs[0], doc! {"_id": 0, "v": "journaled"});
    assert_eq!(docs[5], doc! {"_id": 5, "v": "updated"});
    assert!(!ids(&docs).contains(&6));
    assert_eq!(index_names(&server, "durable", "c").await, ["_id_", "v_1"]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unjournaled_writes_survive_kill_9_after_the_flush_interval() {
    let binary = outpost_binary();
    let dir = tempfile::tempdir().expect("tempdir");
    let dbpath = dir.path().join("data");
    let process = OutpostProcess::spawn(&binary, &dbpath, dir.path().join("outpost.log")).await;
    let client = connect(process.addr).await;
    let reply = run(
        &client.database("durable"),
        doc! {"insert": "c", "documents": [{"_id": 1}, {"_id": 2}]},
    )
    .await;
    assert_eq!(int_field(&reply, "n"), 2);
    // The background flush runs every 100 ms by default (as mongod's journal commit
    // interval); wait well past it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    client.shutdown().immediate(true).await;
    process.kill_9();

    let server = TestServer::start_in(&dbpath).await;
    let docs = find_all(&server.db("durable"), "c", doc! {"sort": {"_id": 1}}).await;
    assert_eq!(ids(&docs), [1, 2]);
    server.shutdown().await;
}

impl OutpostProcess {
    /// Sends SIGTERM, as a service manager stops a server.
    fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: kill only sends a signal to the process this test started.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "kill -TERM failed");
    }

    /// Waits (bounded) for the process to exit and returns its exit code.
    async fn exit_code(&mut self) -> Option<i32> {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("outpost did not exit within 60 s:\n{}", self.log());
    }
}

/// A connection that pipelines 16 MB finds and never reads the replies, so the server's
/// writes to it block: the data (four 4 MB documents) is inserted first.
async fn stalled_reader(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let client: Client = connect(addr).await;
    let coll = client.database("stall").collection::<Document>("c");
    let big = "x".repeat(4 << 20);
    for id in 0..4 {
        coll.insert_one(doc! {"_id": id, "s": big.as_str()})
            .await
            .expect("insert");
    }
    client.shutdown().immediate(true).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    for request_id in 0..8_i32 {
        let body = bson::to_vec(&doc! {"find": "c", "$db": "stall"}).expect("bson");
        let length = i32::try_from(16 + 4 + 1 + body.len()).expect("length");
        let mut message = Vec::new();
        for field in [length, request_id, 0, 2013] {
            message.extend_from_slice(&field.to_le_bytes());
        }
        message.extend_from_slice(&[0, 0, 0, 0, 0]);
        message.extend(body);
        stream.write_all(&message).await.expect("write");
    }
    // The server must have taken the connection and started on its finds before the test
    // signals it (a connection accepted after shutdown began is closed at once instead).
    let watcher: Client = connect(addr).await;
    for _ in 0..600 {
        let status = watcher
            .database("admin")
            .run_command(doc! {"serverStatus": 1})
            .await
            .expect("serverStatus");
        let finds = status
            .get_document("opcounters")
            .ok()
            .and_then(|counters| counters.get("query"))
            .and_then(bson::Bson::as_i64)
            .unwrap_or(0);
        if finds > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watcher.shutdown().immediate(true).await;
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_within_the_deadline_when_a_client_never_reads() {
    let binary = outpost_binary();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("outpost.toml");
    std::fs::write(&config, "shutdown_timeout_secs = 1\n").expect("config");
    let mut process = OutpostProcess::spawn_with(
        &binary,
        dir.path(),
        &["--config".as_ref(), config.as_os_str()],
    )
    .await;
    let _stalled = stalled_reader(process.addr).await;
    process.terminate();
    assert_eq!(process.exit_code().await, Some(0), "{}", process.log());
    assert!(
        process
            .log()
            .contains("closing connections still open at the shutdown deadline"),
        "{}",
        process.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_exits_at_once() {
    let binary = outpost_binary();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("outpost.toml");
    // A shutdown that would wait ten minutes for the stalled client.
    std::fs::write(&config, "shutdown_timeout_secs = 600\n").expect("config");
    let mut process = OutpostProcess::spawn_with(
        &binary,
        dir.path(),
        &["--config".as_ref(), config.as_os_str()],
    )
    .await;
    let _stalled = stalled_reader(process.addr).await;
    process.terminate();
    // Wait until the first signal is handled before sending the second.
    for _ in 0..600 {
        if process.log().contains("shutting down") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(process.log().contains("shutting down"), "{}", process.log());
    process.terminate();
    assert_eq!(process.exit_code().await, Some(130), "{}", process.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_runs_the_worker_threads_asked_for() {
    let binary = outpost_binary();
    let dir = tempfile::tempdir().expect("tempdir");
    let refused = Command::new(&binary)
        .args(["serve", "--worker-threads", "0"])
        .output()
        .expect("run outpost");
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let process = OutpostProcess::spawn_with(
        &binary,
        dir.path(),
        &["--worker-threads".as_ref(), "3".as_ref()],
    )
    .await;
    assert!(
        process.log().contains("worker_threads=3"),
        "{}",
        process.log()
    );
    let client = connect(process.addr).await;
    let coll = client.database("db").collection::<Document>("c");
    coll.insert_one(doc! {"_id": 1}).await.expect("insert");
    let found = coll.find_one(doc! {"_id": 1}).await.expect("find");
    assert_eq!(found, Some(doc! {"_id": 1}));
}

/// With one runtime thread, a long write (on the command pool) does not hold up the other
/// connections: another client reads the write's first document (it commits in groups of
/// 1,000) and not yet its last, and its ping is answered before the last is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_runtime_thread_answers_others_during_a_long_write() {
    // One message: the most documents a write batch may hold.
    const DOCS: i32 = 100_000;
    let binary = outpost_binary();
    let dir = tempfile::tempdir().expect("tempdir");
    let process = OutpostProcess::spawn_with(
        &binary,
        dir.path(),
        &["--worker-threads".as_ref(), "1".as_ref()],
    )
    .await;
    let writer = connect(process.addr).await;
    let other = connect(process.addr).await;
    let docs: Vec<Document> = (0..DOCS).map(|i| doc! {"_id": i}).collect();
    let coll = writer.database("db").collection::<Document>("c");
    let write = tokio::spawn(async move { coll.insert_many(docs).await.map(|_| ()) });
    let read = other.database("db").collection::<Document>("c");
    let has = |id: i32| {
        let read = read.clone();
        async move {
            read.find_one(doc! {"_id": id})
                .await
                .expect("find")
                .is_some()
        }
    };
    // The first document there, then the last not yet: both answered while the write ran.
    loop {
        let started = has(0).await;
        assert!(
            !has(DOCS - 1).await,
            "no read was answered while the write ran"
        );
        if started {
            break;
        }
    }
    run(&other.database("db"), doc! {"ping": 1}).await;
    assert!(
        !has(DOCS - 1).await,
        "the ping was answered only once the write ended"
    );
    write.await.expect("write task").expect("insert_many");
    assert!(has(DOCS - 1).await);
}
