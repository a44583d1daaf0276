//! Exhaust cursors on a raw socket, as pymongo's `CursorType.EXHAUST` reads them: a
//! `getMore` sent with `exhaustAllowed` is answered with `moreToCome`, and the next batches
//! follow without requests, each reply answering the previous one, until the cursor is done.

use std::time::{Duration, Instant};

use bson::{doc, Bson, Document};
use outpost_tests::{run, TestServer};
use outpost_wire::{Message, OpMsg, FLAG_EXHAUST_ALLOWED, FLAG_MORE_TO_COME};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One OP_MSG reply: its header's ids, its flags and its body.
struct Reply {
    request_id: i32,
    response_to: i32,
    flags: u32,
    body: Document,
}

async fn send(stream: &mut TcpStream, request_id: i32, flags: u32, body: Document) {
    let bytes = outpost_wire::encode(
        request_id,
        0,
        &Message::Msg(OpMsg {
            flags,
            body,
            sequences: vec![],
        }),
    )
    .expect("encode");
    stream.write_all(&bytes).await.expect("write");
}

async fn read(stream: &mut TcpStream) -> Reply {
    let read = async {
        let mut header = [0u8; 16];
        stream
            .read_exact(&mut header)
            .await
            .expect("a reply header");
        let length = usize::try_from(i32::from_le_bytes(header[..4].try_into().expect("4 bytes")))
            .expect("length");
        let mut bytes = header.to_vec();
        bytes.resize(length, 0);
        stream
            .read_exact(&mut bytes[16..])
            .await
            .expect("a reply body");
        bytes
    };
    let bytes = tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("a reply within 30 s");
    match outpost_wire::decode(&bytes).expect("a valid reply") {
        (header, Message::Msg(msg)) => Reply {
            request_id: header.request_id,
            response_to: header.response_to,
            flags: msg.flags,
            body: msg.body,
        },
        (_, other) => panic!("not an OP_MSG: {other:?}"),
    }
}

/// `(ids in the batch, cursor id)` of a find or getMore reply.
fn batch(reply: &Document) -> (Vec<i32>, i64) {
    let cursor = reply.get_document("cursor").expect("a cursor");
    let docs = cursor
        .get_array("firstBatch")
        .or_else(|_| cursor.get_array("nextBatch"))
        .expect("a batch");
    let ids = docs
        .iter()
        .map(|d| match d {
            Bson::Document(d) => d.get_i32("_id").expect("int _id"),
            other => panic!("not a document: {other}"),
        })
        .collect();
    (ids, cursor.get_i64("id").expect("cursor id"))
}

async fn with_documents(server: &TestServer, n: i32) -> TcpStream {
    let docs: Vec<Document> = (0..n).map(|i| doc! {"_id": i}).collect();
    run(&server.db("test"), doc! {"insert": "c", "documents": docs}).await;
    TcpStream::connect(server.addr()).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhaust_get_more_streams_every_batch() {
    let server = TestServer::start().await;
    let mut stream = with_documents(&server, 10).await;
    send(
        &mut stream,
        1,
        0,
        doc! {"find": "c", "batchSize": 2, "$db": "test"},
    )
    .await;
    let (mut ids, cursor) = batch(&read(&mut stream).await.body);
    assert_eq!(ids, [0, 1]);
    assert_ne!(cursor, 0);
    let get_more = doc! {"getMore": cursor, "collection": "c", "batchSize": 3, "$db": "test"};
    send(&mut stream, 2, FLAG_EXHAUST_ALLOWED, get_more).await;
    // Batches of 3 with moreToCome, each answering the reply before it; the last batch is
    // short, with cursor id 0 and no moreToCome.
    let mut answering = 2;
    let mut flags = Vec::new();
    loop {
        let reply = read(&mut stream).await;
        assert_eq!(reply.response_to, answering);
        answering = reply.request_id;
        let (more, id) = batch(&reply.body);
        ids.extend(more);
        flags.push(reply.flags);
        if reply.flags & FLAG_MORE_TO_COME == 0 {
            assert_eq!(id, 0);
            break;
        }
        assert_eq!(id, cursor);
    }
    assert_eq!(ids, (0..10).collect::<Vec<_>>());
    assert_eq!(flags, [FLAG_MORE_TO_COME, FLAG_MORE_TO_COME, 0]);
    // The connection serves requests again.
    send(&mut stream, 3, 0, doc! {"ping": 1, "$db": "admin"}).await;
    let reply = read(&mut stream).await;
    assert_eq!(reply.response_to, 3);
    assert_eq!(reply.body.get_f64("ok"), Ok(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_exhaust_allowed_a_get_more_answers_once() {
    let server = TestServer::start().await;
    let mut stream = with_documents(&server, 5).await;
    send(
        &mut stream,
        1,
        0,
        doc! {"find": "c", "batchSize": 1, "$db": "test"},
    )
    .await;
    let (_, cursor) = batch(&read(&mut stream).await.body);
    send(
        &mut stream,
        2,
        0,
        doc! {"getMore": cursor, "collection": "c", "batchSize": 1, "$db": "test"},
    )
    .await;
    let reply = read(&mut stream).await;
    assert_eq!((reply.response_to, reply.flags), (2, 0));
    assert_eq!(batch(&reply.body), (vec![1], cursor));
    // exhaustAllowed on anything but a getMore changes nothing either.
    send(
        &mut stream,
        3,
        FLAG_EXHAUST_ALLOWED,
        doc! {"find": "c", "batchSize": 1, "$db": "test"},
    )
    .await;
    let reply = read(&mut stream).await;
    assert_eq!((reply.response_to, reply.flags), (3, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tailable_stream_stops_at_the_end_of_the_capped_collection() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(&db, doc! {"create": "capped", "capped": true, "size": 4096}).await;
    run(
        &db,
        doc! {"insert": "capped", "documents": [{"_id": 0}, {"_id": 1}, {"_id": 2}]},
    )
    .await;
    let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
    send(
        &mut stream,
        1,
        0,
        doc! {"find": "capped", "tailable": true, "batchSize": 1, "$db": "test"},
    )
    .await;
    let (ids, cursor) = batch(&read(&mut stream).await.body);
    assert_eq!(ids, [0]);
    let get_more = doc! {"getMore": cursor, "collection": "capped", "batchSize": 1, "$db": "test"};
    send(&mut stream, 2, FLAG_EXHAUST_ALLOWED, get_more.clone()).await;
    let mut seen = Vec::new();
    loop {
        let reply = read(&mut stream).await;
        let (more, id) = batch(&reply.body);
        assert_eq!(id, cursor, "a tailable cursor stays open");
        seen.extend(more);
        if reply.flags & FLAG_MORE_TO_COME == 0 {
            break;
        }
    }
    // The end of the collection: an empty batch without moreToCome, the cursor still open.
    assert_eq!(seen, [1, 2]);
    run(&db, doc! {"insert": "capped", "documents": [{"_id": 3}]}).await;
    send(&mut stream, 3, 0, get_more).await;
    let reply = read(&mut stream).await;
    assert_eq!(batch(&reply.body), (vec![3], cursor));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_stream_closes_the_cursor() {
    let server = TestServer::start().await;
    let db = server.db("test");
    // About 20 MB: more than socket buffers hold, so the server is still streaming when the
    // client leaves.
    let big = "x".repeat(64 * 1024);
    for chunk in 0..6 {
        let docs: Vec<Document> = (0..50)
            .map(|i| doc! {"_id": chunk * 50 + i, "pad": big.clone()})
            .collect();
        run(&db, doc! {"insert": "c", "documents": docs}).await;
    }
    let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
    send(
        &mut stream,
        1,
        0,
        doc! {"find": "c", "batchSize": 1, "$db": "test"},
    )
    .await;
    let (_, cursor) = batch(&read(&mut stream).await.body);
    send(
        &mut stream,
        2,
        FLAG_EXHAUST_ALLOWED,
        doc! {"getMore": cursor, "collection": "c", "batchSize": 1, "$db": "test"},
    )
    .await;
    let first = read(&mut stream).await;
    assert_eq!(first.flags, FLAG_MORE_TO_COME);
    drop(stream);
    // The server notices when its next write fails and closes the cursor (the only one open).
    let admin = server.db("admin");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = run(&admin, doc! {"serverStatus": 1}).await;
        let open = status
            .get_document("metrics")
            .and_then(|m| m.get_document("cursor"))
            .and_then(|c| c.get_document("open"))
            .and_then(|o| o.get_i64("total"))
            .expect("metrics.cursor.open.total");
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cursor of an abandoned exhaust stream is still open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
