//! Connection limits (issue 9): a cap on open connections, deadlines for slow and silent
//! clients, a shutdown that completes when a client never reads, bounded session ids, and a
//! flood of 2,000 hostile connections while a normal client keeps getting answers.

use std::time::Duration;

use bson::{doc, Bson, Document};
use outpost_server::Config;
use outpost_tests::{int_field, run, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OP_MSG: i32 = 2013;
/// Longest wait for the server to answer or close a connection; far above every deadline
/// these tests configure, so only a server that never acts fails them.
const PATIENCE: Duration = Duration::from_secs(60);

fn config() -> Config {
    Config {
        dbpath: None,
        port: 0,
        ..Config::default()
    }
}

/// An OP_MSG carrying `body`.
fn op_msg(request_id: i32, body: &Document) -> Vec<u8> {
    let mut payload = 0_u32.to_le_bytes().to_vec();
    payload.push(0);
    payload.extend(bson::to_vec(body).expect("serialize"));
    let length = i32::try_from(16 + payload.len()).expect("message length");
    let mut out = Vec::new();
    for field in [length, request_id, 0, OP_MSG] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    out.extend(payload);
    out
}

/// The body of the next reply, or `None` if the server closed the connection first.
async fn read_reply(stream: &mut TcpStream) -> Option<Document> {
    let read = async {
        let mut header = [0u8; 16];
        stream.read_exact(&mut header).await.ok()?;
        let length = i32::from_le_bytes(header[..4].try_into().ok()?);
        let mut payload = vec![0u8; usize::try_from(length).ok()?.checked_sub(16)?];
        stream.read_exact(&mut payload).await.ok()?;
        bson::from_slice(payload.get(5..)?).ok()
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("the server neither replied nor closed the connection")
}

/// Sends a command on a raw connection and returns the reply, `None` if the connection was
/// closed instead.
async fn command(stream: &mut TcpStream, request_id: i32, body: Document) -> Option<Document> {
    stream.write_all(&op_msg(request_id, &body)).await.ok()?;
    read_reply(stream).await
}

async fn ping(stream: &mut TcpStream) -> Option<Document> {
    command(stream, 1, doc! {"ping": 1, "$db": "admin"}).await
}

/// Waits until the server closes `stream` (EOF or reset).
async fn assert_closed(stream: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept {what} open");
}

/// A new raw connection that gets a ping answered, retrying while the server is still
/// releasing slots of connections it closed (bounded).
async fn fresh_connection_pings(server: &TestServer) {
    for _ in 0..100 {
        if let Ok(mut stream) = TcpStream::connect(server.addr()).await {
            if ping(&mut stream).await.is_some() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no new connection got an answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_max_conns_are_closed_at_once() {
    let server = TestServer::start_with(Config {
        max_conns: 10,
        ..config()
    })
    .await;
    let admin = server.db("admin");
    run(&admin, doc! {"ping": 1}).await;
    let mut streams = Vec::new();
    let (mut answered, mut refused) = (0, 0);
    for _ in 0..20 {
        let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
        match ping(&mut stream).await {
            Some(reply) => {
                assert_eq!(reply.get_f64("ok"), Ok(1.0));
                answered += 1;
            }
            None => refused += 1,
        }
        streams.push(stream);
    }
    // The driver holds some of the ten slots (its pooled and monitoring connections).
    assert!(
        answered <= 10 && refused >= 10,
        "{answered} answered, {refused} refused"
    );
    // The driver's pooled connection keeps working, and the server counts the refusals.
    let status = run(&admin, doc! {"serverStatus": 1}).await;
    let connections = status.get_document("connections").expect("connections");
    assert!(int_field(connections, "rejected") >= 10, "{connections}");
    drop(streams);
    fresh_connection_pings(&server).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_slow_connections_are_closed_at_their_deadlines() {
    let server = TestServer::start_with(Config {
        idle_timeout_secs: 1,
        message_timeout_secs: 1,
        ..config()
    })
    .await;
    // A trusted connection (it completed a message) outlives the idle deadline.
    let mut trusted = TcpStream::connect(server.addr()).await.expect("connect");
    assert!(ping(&mut trusted).await.is_some());

    let mut silent = TcpStream::connect(server.addr()).await.expect("connect");
    assert_closed(&mut silent, "a connection that sent nothing").await;

    let mut partial_header = TcpStream::connect(server.addr()).await.expect("connect");
    partial_header.write_all(&[100, 0, 0]).await.expect("write");
    assert_closed(&mut partial_header, "a connection inside a header").await;

    // A whole header announcing a body that never comes, after a completed message: the
    // message deadline applies to trusted connections too.
    let message = op_msg(2, &doc! {"ping": 1, "$db": "admin"});
    let mut partial_body = TcpStream::connect(server.addr()).await.expect("connect");
    assert!(ping(&mut partial_body).await.is_some());
    partial_body.write_all(&message[..20]).await.expect("write");
    assert_closed(&mut partial_body, "a connection inside a body").await;

    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        ping(&mut trusted).await.is_some(),
        "an idle trusted connection was closed"
    );
    run(&server.db("admin"), doc! {"ping": 1}).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_completes_when_a_client_never_reads_its_replies() {
    let server = TestServer::start_with(Config {
        shutdown_timeout_secs: 1,
        ..config()
    })
    .await;
    let db = server.db("limits");
    let big = "x".repeat(4 << 20);
    for id in 0..4 {
        run(
            &db,
            doc! {"insert": "c", "documents": [{"_id": id, "s": big.as_str()}]},
        )
        .await;
    }
    // Pipelined finds of 16 MB each that the client never reads: the server's writes block
    // once the socket buffers are full.
    let mut stalled = TcpStream::connect(server.addr()).await.expect("connect");
    for request_id in 0..8 {
        let find = op_msg(request_id, &doc! {"find": "c", "$db": "limits"});
        stalled.write_all(&find).await.expect("write");
    }
    let before = run(&server.db("admin"), doc! {"serverStatus": 1}).await;
    let connections = before.get_document("connections").expect("connections");
    assert!(int_field(connections, "current") >= 2, "{connections}");
    tokio::time::timeout(PATIENCE, server.shutdown())
        .await
        .expect("shutdown waited for a client that never reads");
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_ids_must_be_small_uuids() {
    let server = TestServer::start().await;
    let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
    let uuid = |bytes: Vec<u8>| {
        Bson::Binary(bson::Binary {
            subtype: bson::spec::BinarySubtype::Uuid,
            bytes,
        })
    };
    let cases = [
        (doc! {"id": uuid(vec![7; 4 << 20])}, 207),
        (
            doc! {"id": uuid(vec![7; 16]), "pad": "x".repeat(4 << 20)},
            40415,
        ),
        (doc! {"id": "not a uuid"}, 207),
        (doc! {}, 40414),
    ];
    for (request_id, (lsid, code)) in (10..).zip(cases) {
        let body = doc! {"ping": 1, "$db": "admin", "lsid": lsid};
        let reply = command(&mut stream, request_id, body)
            .await
            .expect("a reply");
        assert_eq!(reply.get_f64("ok"), Ok(0.0), "{reply}");
        assert_eq!(int_field(&reply, "code"), code, "{reply}");
    }
    let good = doc! {"ping": 1, "$db": "admin", "lsid": {"id": uuid(vec![7; 16])}};
    let reply = command(&mut stream, 20, good).await.expect("a reply");
    assert_eq!(reply.get_f64("ok"), Ok(1.0), "{reply}");
    // Only the well-formed session is cached.
    let list = doc! {"aggregate": 1, "pipeline": [{"$listLocalSessions": {}}], "cursor": {}, "$db": "admin"};
    let reply = command(&mut stream, 21, list).await.expect("a reply");
    let batch = reply
        .get_document("cursor")
        .and_then(|c| c.get_array("firstBatch"))
        .expect("a cursor reply");
    assert_eq!(batch.len(), 1, "{reply}");
    run(&server.db("admin"), doc! {"ping": 1}).await;
    server.shutdown().await;
}

/// Raises this process's soft limit of open files to at least `needed` (within the hard
/// limit); the flood test holds both ends of thousands of loopback connections.
fn raise_open_file_limit(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(got, 0, "getrlimit failed");
    if limit.rlim_cur >= needed {
        return;
    }
    assert!(
        limit.rlim_max >= needed,
        "this test needs {needed} open files; the hard limit is {}",
        limit.rlim_max
    );
    limit.rlim_cur = needed;
    // SAFETY: as above.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(set, 0, "setrlimit failed");
}

/// What one hostile connection of the flood sends.
fn hostile_bytes(n: usize) -> Vec<u8> {
    match n % 4 {
        // A header with a negative length: a framing error, closed at once.
        0 => vec![0xFF; 16],
        // Part of a header, then nothing.
        1 => vec![60, 0, 0],
        // A header announcing 100 bytes, 30 of them, then nothing.
        2 => {
            let mut bytes = Vec::new();
            for field in [100_i32, 1, 0, OP_MSG] {
                bytes.extend_from_slice(&field.to_le_bytes());
            }
            bytes.extend_from_slice(&[0; 14]);
            bytes
        }
        // Nothing at all.
        _ => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_2000_hostile_connections_leaves_a_normal_client_served() {
    const FLOOD: usize = 2_000;
    raise_open_file_limit(4_096);
    let server = TestServer::start_with(Config {
        max_conns: 500,
        idle_timeout_secs: 5,
        message_timeout_secs: 5,
        ..config()
    })
    .await;
    let db = server.db("limits");
    run(&db, doc! {"ping": 1}).await;

    // A normal client works through the flood on its pooled connection.
    let normal = {
        let db = db.clone();
        tokio::spawn(async move {
            for id in 0..200 {
                run(&db, doc! {"insert": "c", "documents": [{"_id": id}]}).await;
                let found = run(&db, doc! {"find": "c", "filter": {"_id": id}}).await;
                let batch = found
                    .get_document("cursor")
                    .and_then(|c| c.get_array("firstBatch"))
                    .map(Vec::len);
                assert_eq!(batch, Ok(1), "{found}");
            }
        })
    };
    let mut hostile = Vec::with_capacity(FLOOD);
    for n in 0..FLOOD {
        let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
        // A refused connection may already be closed: writing to it can fail.
        let _ = stream.write_all(&hostile_bytes(n)).await;
        hostile.push(stream);
    }
    normal
        .await
        .expect("the normal client was served throughout");
    let status = run(&server.db("admin"), doc! {"serverStatus": 1}).await;
    let connections = status.get_document("connections").expect("connections");
    assert!(int_field(connections, "rejected") > 0, "{connections}");
    assert!(int_field(connections, "current") <= 500, "{connections}");
    // Every hostile connection ends: refused, closed for garbage, or at its deadline.
    for stream in &mut hostile {
        assert_closed(stream, "a hostile connection").await;
    }
    drop(hostile);
    fresh_connection_pings(&server).await;
    let reply = run(&db, doc! {"count": "c"}).await;
    assert_eq!(int_field(&reply, "n"), 200);
    server.shutdown().await;
}

/// An OP_MSG `{ping: 1, $db: "admin", n: [null x count]}` whose array keys are empty: two
/// bytes a null on the wire.
fn ping_with_nulls(request_id: i32, count: usize) -> Vec<u8> {
    let mut array = 0_i32.to_le_bytes().to_vec();
    for _ in 0..count {
        array.extend([0x0A, 0x00]);
    }
    array.push(0);
    let array_len = i32::try_from(array.len()).expect("array length");
    array.splice(0..4, array_len.to_le_bytes());
    let mut body = 0_i32.to_le_bytes().to_vec();
    body.push(0x10);
    body.extend(b"ping\0");
    body.extend(1_i32.to_le_bytes());
    body.push(0x02);
    body.extend(b"$db\0");
    body.extend(6_i32.to_le_bytes());
    body.extend(b"admin\0");
    body.push(0x04);
    body.extend(b"n\0");
    body.extend(array);
    body.push(0);
    let body_len = i32::try_from(body.len()).expect("body length");
    body.splice(0..4, body_len.to_le_bytes());
    let mut payload = 0_u32.to_le_bytes().to_vec();
    payload.push(0);
    payload.extend(body);
    let length = i32::try_from(16 + payload.len()).expect("message length");
    let mut out = Vec::new();
    for field in [length, request_id, 0, OP_MSG] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    out.extend(payload);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_decodes_to_many_times_its_size_is_refused() {
    let server = TestServer::start().await;
    let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
    stream
        .write_all(&ping_with_nulls(5, 2_000_000))
        .await
        .expect("write");
    let reply = read_reply(&mut stream).await.expect("an error reply");
    assert_eq!(reply.get_f64("ok"), Ok(0.0), "{reply}");
    assert_eq!(int_field(&reply, "code"), 9, "{reply}");
    assert!(
        reply
            .get_str("errmsg")
            .is_ok_and(|m| m.contains("too many elements")),
        "{reply}"
    );
    // The same connection and the driver still work, and a batch of 100,000 small documents
    // (many elements, but few per byte) is accepted.
    assert!(ping(&mut stream).await.is_some());
    let coll = server.db("limits").collection::<Document>("batch");
    let documents: Vec<Document> = (0..100_000).map(|i| doc! {"_id": i, "k": i % 7}).collect();
    coll.insert_many(documents).await.expect("insert_many");
    assert_eq!(coll.count_documents(doc! {}).await.expect("count"), 100_000);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ttl_pass_runs_on_its_own_task() {
    let server = TestServer::start_with(Config {
        ttl_interval_secs: 1,
        ..config()
    })
    .await;
    let db = server.db("limits");
    run(
        &db,
        doc! {"createIndexes": "ttl", "indexes": [{"key": {"at": 1}, "name": "at_1", "expireAfterSeconds": 0}]},
    )
    .await;
    let old = bson::DateTime::from_millis(0);
    let documents: Vec<Document> = (0..3_000).map(|i| doc! {"_id": i, "at": old}).collect();
    run(&db, doc! {"insert": "ttl", "documents": documents}).await;
    // The pass removes them (in chunks) while connections keep being accepted and answered.
    let mut left = 3_000;
    for _ in 0..600 {
        let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
        assert!(ping(&mut stream).await.is_some());
        left = int_field(&run(&db, doc! {"count": "ttl"}).await, "n");
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "the TTL pass did not remove the expired documents");
    server.shutdown().await;
}
