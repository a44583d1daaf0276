//! The wire protocol from a raw socket: well-formed OP_MSG and OP_QUERY, and every kind of bad
//! input. A message whose framing is broken closes only its own connection; a framed message
//! with bad contents gets an error reply and the connection keeps working.

use std::time::Duration;

use bson::{doc, Document};
use outpost_tests::{int_field, run, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OP_REPLY: i32 = 1;
const OP_QUERY: i32 = 2004;
const OP_MSG: i32 = 2013;
const CHECKSUM_PRESENT: u32 = 1;
const MORE_TO_COME: u32 = 1 << 1;
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A whole message: the 16-byte header, then `payload`.
fn message(request_id: i32, op_code: i32, payload: &[u8]) -> Vec<u8> {
    let length = i32::try_from(16 + payload.len()).expect("small message");
    message_with_length(length, request_id, op_code, payload)
}

/// A message whose header declares `length`, whatever the payload's real size.
fn message_with_length(length: i32, request_id: i32, op_code: i32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&0_i32.to_le_bytes());
    out.extend_from_slice(&op_code.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn bson_bytes(document: &Document) -> Vec<u8> {
    bson::to_vec(document).expect("serialize")
}

/// An OP_MSG kind 0 section (the body).
fn body_section(document: &Document) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend(bson_bytes(document));
    out
}

/// An OP_MSG kind 1 section (a document sequence).
fn sequence_section(identifier: &str, documents: &[Document]) -> Vec<u8> {
    let mut content = Vec::new();
    content.extend_from_slice(identifier.as_bytes());
    content.push(0);
    for d in documents {
        content.extend(bson_bytes(d));
    }
    let mut out = vec![1u8];
    out.extend_from_slice(
        &i32::try_from(content.len() + 4)
            .expect("small")
            .to_le_bytes(),
    );
    out.extend(content);
    out
}

/// An OP_MSG with `flags` and raw `sections`.
fn op_msg_raw(request_id: i32, flags: u32, sections: &[u8]) -> Vec<u8> {
    let mut payload = flags.to_le_bytes().to_vec();
    payload.extend_from_slice(sections);
    message(request_id, OP_MSG, &payload)
}

/// An OP_MSG carrying one command body.
fn op_msg(request_id: i32, body: &Document) -> Vec<u8> {
    op_msg_raw(request_id, 0, &body_section(body))
}

/// CRC-32C (Castagnoli), as OP_MSG checksums use.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// An OP_MSG with the checksum flag and the given checksum (the right one when `None`).
fn op_msg_with_checksum(request_id: i32, body: &Document, checksum: Option<u32>) -> Vec<u8> {
    let mut payload = CHECKSUM_PRESENT.to_le_bytes().to_vec();
    payload.extend(body_section(body));
    let length = i32::try_from(16 + payload.len() + 4).expect("small");
    let mut bytes = message_with_length(length, request_id, OP_MSG, &payload);
    let sum = checksum.unwrap_or_else(|| crc32c(&bytes));
    bytes.extend_from_slice(&sum.to_le_bytes());
    bytes
}

/// A reply read from the socket.
struct Reply {
    response_to: i32,
    op_code: i32,
    payload: Vec<u8>,
}

impl Reply {
    /// The body of an OP_MSG reply, without the replica set's `$clusterTime` and
    /// `operationTime` (tested in `replset`).
    fn op_msg_body(&self) -> Document {
        assert_eq!(self.op_code, OP_MSG, "not an OP_MSG reply");
        assert_eq!(
            self.payload.get(4),
            Some(&0u8),
            "the first section is not a body"
        );
        outpost_tests::without_cluster_time(
            bson::from_slice(&self.payload[5..]).expect("the reply body is valid BSON"),
        )
    }

    /// The flags and documents of an OP_REPLY.
    fn op_reply(&self) -> (i32, Vec<Document>) {
        assert_eq!(self.op_code, OP_REPLY, "not an OP_REPLY");
        let le_i32 =
            |at: usize| i32::from_le_bytes(self.payload[at..at + 4].try_into().expect("4 bytes"));
        let flags = le_i32(0);
        let number_returned = le_i32(16);
        let mut docs = Vec::new();
        let mut rest = &self.payload[20..];
        while !rest.is_empty() {
            let len = usize::try_from(i32::from_le_bytes(rest[..4].try_into().expect("4 bytes")))
                .expect("length");
            docs.push(bson::from_slice(&rest[..len]).expect("valid BSON"));
            rest = &rest[len..];
        }
        assert_eq!(docs.len(), usize::try_from(number_returned).expect("count"));
        (flags, docs)
    }
}

/// Reads one reply; `None` if the server closed the connection (EOF or reset) first.
async fn read_reply(stream: &mut TcpStream) -> Option<Reply> {
    let read = async {
        let mut header = [0u8; 16];
        if stream.read_exact(&mut header).await.is_err() {
            return None;
        }
        let field = |at: usize| i32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
        let length = usize::try_from(field(0)).expect("reply length");
        let mut payload = vec![0u8; length - 16];
        stream.read_exact(&mut payload).await.ok()?;
        Some(Reply {
            response_to: field(8),
            op_code: field(12),
            payload,
        })
    };
    tokio::time::timeout(READ_TIMEOUT, read)
        .await
        .expect("the server neither replied nor closed the connection within 5 s")
}

async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(server.addr()).await.expect("connect")
}

/// Sends a ping on `stream` and checks the reply.
async fn assert_ping_works(stream: &mut TcpStream, request_id: i32) {
    stream
        .write_all(&op_msg(request_id, &doc! {"ping": 1, "$db": "admin"}))
        .await
        .expect("write");
    let reply = read_reply(stream).await.expect("a ping reply");
    assert_eq!(reply.response_to, request_id);
    assert_eq!(reply.op_msg_body(), doc! {"ok": 1.0});
}

/// The server still serves new raw connections and the driver.
async fn assert_server_still_serves(server: &TestServer) {
    let mut fresh = connect(server).await;
    assert_ping_works(&mut fresh, 77).await;
    assert_eq!(
        run(&server.db("admin"), doc! {"ping": 1}).await,
        doc! {"ok": 1.0}
    );
}

/// Sends `bytes` and expects the server to close the connection without replying.
async fn assert_closes_connection(server: &TestServer, bytes: &[u8]) {
    // A bystander connection, open before and after.
    let mut bystander = connect(server).await;
    assert_ping_works(&mut bystander, 1).await;
    let mut stream = connect(server).await;
    // The server may close while we are still writing; that is fine.
    let _ = stream.write_all(bytes).await;
    if let Some(reply) = read_reply(&mut stream).await {
        panic!(
            "expected the connection to be closed, got a reply (op code {}, {} bytes)",
            reply.op_code,
            reply.payload.len()
        );
    }
    assert_ping_works(&mut bystander, 2).await;
    assert_server_still_serves(server).await;
}

/// Sends `bytes` and expects an OP_MSG error reply; then the same connection still works.
async fn assert_error_reply(server: &TestServer, bytes: &[u8], request_id: i32) -> Document {
    let mut stream = connect(server).await;
    stream.write_all(bytes).await.expect("write");
    let reply = read_reply(&mut stream)
        .await
        .expect("an error reply, not a closed connection");
    assert_eq!(reply.response_to, request_id);
    let body = reply.op_msg_body();
    assert_eq!(body.get_f64("ok"), Ok(0.0), "{body}");
    assert!(int_field(&body, "code") != 0, "{body}");
    assert!(
        body.get_str("errmsg").is_ok_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body.get_str("codeName").is_ok(), "{body}");
    assert_ping_works(&mut stream, request_id + 1).await;
    assert_server_still_serves(server).await;
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op_msg_replies_to_its_request_id_in_order() {
    let server = TestServer::start().await;
    let mut stream = connect(&server).await;
    assert_ping_works(&mut stream, 42).await;
    // Two requests in one write: two replies, in order.
    let mut both = op_msg(100, &doc! {"ping": 1, "$db": "admin"});
    both.extend(op_msg(101, &doc! {"buildInfo": 1, "$db": "admin"}));
    stream.write_all(&both).await.expect("write");
    let first = read_reply(&mut stream).await.expect("reply");
    let second = read_reply(&mut stream).await.expect("reply");
    assert_eq!((first.response_to, second.response_to), (100, 101));
    assert!(second.op_msg_body().contains_key("version"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op_msg_document_sequences_and_more_to_come() {
    let server = TestServer::start().await;
    let mut stream = connect(&server).await;
    // insert with the documents in a kind 1 section, as drivers send them.
    let docs: Vec<Document> = (0..3).map(|i| doc! {"_id": i}).collect();
    let mut sections = body_section(&doc! {"insert": "c", "$db": "test"});
    sections.extend(sequence_section("documents", &docs));
    stream
        .write_all(&op_msg_raw(1, 0, &sections))
        .await
        .expect("write");
    let reply = read_reply(&mut stream).await.expect("reply");
    assert_eq!(reply.op_msg_body(), doc! {"n": 3, "ok": 1.0});

    // moreToCome: no reply; the next request's reply comes next.
    let fire_and_forget = op_msg_raw(
        2,
        MORE_TO_COME,
        &body_section(&doc! {"insert": "c", "documents": [{"_id": 10}], "$db": "test"}),
    );
    stream.write_all(&fire_and_forget).await.expect("write");
    assert_ping_works(&mut stream, 3).await;
    let count = run(&server.db("test"), doc! {"count": "c"}).await;
    assert_eq!(int_field(&count, "n"), 4);

    // The same identifier in the body and a sequence is refused.
    let mut sections = body_section(&doc! {"insert": "c", "documents": [], "$db": "test"});
    sections.extend(sequence_section("documents", &docs));
    let body = assert_error_reply(&server, &op_msg_raw(4, 0, &sections), 4).await;
    assert_eq!(int_field(&body, "code"), 40413, "{body}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op_msg_without_db_is_refused() {
    let server = TestServer::start().await;
    let body = assert_error_reply(&server, &op_msg(9, &doc! {"ping": 1}), 9).await;
    assert_eq!(int_field(&body, "code"), 40571, "{body}");
    assert!(
        body.get_str("errmsg").is_ok_and(|m| m.contains("$db")),
        "{body}"
    );
    server.shutdown().await;
}

/// An OP_QUERY of `query` on `collection`.
fn op_query(request_id: i32, collection: &str, query: &Document) -> Vec<u8> {
    let mut payload = 0_i32.to_le_bytes().to_vec();
    payload.extend_from_slice(collection.as_bytes());
    payload.push(0);
    payload.extend_from_slice(&0_i32.to_le_bytes());
    payload.extend_from_slice(&(-1_i32).to_le_bytes());
    payload.extend(bson_bytes(query));
    message(request_id, OP_QUERY, &payload)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_op_query_handshake_gets_an_op_reply() {
    let server = TestServer::start().await;
    let mut stream = connect(&server).await;
    for (request_id, query) in [
        (5, doc! {"isMaster": 1}),
        (6, doc! {"ismaster": 1, "helloOk": true}),
        (
            7,
            doc! {"$query": {"isMaster": 1}, "$readPreference": {"mode": "primaryPreferred"}},
        ),
        (8, doc! {"hello": 1}),
    ] {
        stream
            .write_all(&op_query(request_id, "admin.$cmd", &query))
            .await
            .expect("write");
        let reply = read_reply(&mut stream).await.expect("reply");
        assert_eq!(reply.response_to, request_id);
        let (flags, docs) = reply.op_reply();
        assert_eq!(flags & 2, 0, "QueryFailure set: {docs:?}");
        assert_eq!(docs.len(), 1);
        let hello = &docs[0];
        assert_eq!(hello.get_f64("ok"), Ok(1.0), "{hello}");
        assert_eq!(int_field(hello, "maxWireVersion"), 25, "{hello}");
        assert!(
            hello.get_bool("ismaster") == Ok(true)
                || hello.get_bool("isWritablePrimary") == Ok(true),
            "{hello}"
        );
    }
    // Other commands over OP_QUERY are refused, as in MongoDB 5.1 and later.
    stream
        .write_all(&op_query(9, "test.$cmd", &doc! {"find": "c"}))
        .await
        .expect("write");
    let reply = read_reply(&mut stream).await.expect("reply");
    let (flags, docs) = reply.op_reply();
    assert_eq!(flags & 2, 2, "QueryFailure flag: {docs:?}");
    assert_eq!(int_field(&docs[0], "code"), 352, "{}", docs[0]);
    assert!(docs[0].get_str("$err").is_ok(), "{}", docs[0]);
    // The connection still works for OP_MSG.
    assert_ping_works(&mut stream, 10).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_length_below_the_header_closes_only_that_connection() {
    let server = TestServer::start().await;
    let ping = bson_bytes(&doc! {"ping": 1, "$db": "admin"});
    for length in [0, 10, 15, -1, i32::MIN] {
        assert_closes_connection(&server, &message_with_length(length, 1, OP_MSG, &ping)).await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_length_above_48_mb_closes_only_that_connection() {
    let server = TestServer::start().await;
    let ping = bson_bytes(&doc! {"ping": 1, "$db": "admin"});
    for length in [48_000_001, i32::MAX] {
        assert_closes_connection(&server, &message_with_length(length, 1, OP_MSG, &ping)).await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ending_inside_a_message_closes_the_connection() {
    let server = TestServer::start().await;
    let mut bystander = connect(&server).await;
    let whole = op_msg(1, &doc! {"ping": 1, "$db": "admin"});
    for cut in [3, 16, whole.len() - 1] {
        let mut stream = connect(&server).await;
        stream.write_all(&whole[..cut]).await.expect("write");
        stream.shutdown().await.expect("shutdown the write half");
        assert!(
            read_reply(&mut stream).await.is_none(),
            "a reply to {cut} bytes"
        );
    }
    assert_ping_works(&mut bystander, 2).await;
    assert_server_still_serves(&server).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_running_past_the_message_gets_an_error_reply() {
    let server = TestServer::start().await;
    // The body's length prefix claims more bytes than the message holds.
    let mut body = body_section(&doc! {"ping": 1, "$db": "admin"});
    body[1..5].copy_from_slice(&1000_i32.to_le_bytes());
    assert_error_reply(&server, &op_msg_raw(11, 0, &body), 11).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_bson_gets_an_error_reply() {
    let server = TestServer::start().await;
    let valid = bson_bytes(&doc! {"ping": 1, "$db": "admin"});
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut bad_type = valid.clone();
    bad_type[4] = 0x42;
    cases.push(("an unknown element type", bad_type));
    let mut no_terminator = valid.clone();
    let last = no_terminator.len() - 1;
    no_terminator[last] = 7;
    cases.push(("a missing terminating NUL", no_terminator));
    let mut bad_string = bson_bytes(&doc! {"$db": "admin"});
    bad_string[9..13].copy_from_slice(&100_i32.to_le_bytes());
    cases.push(("a string running past the document", bad_string));
    // (One byte more than the length says, so the message is not below OP_MSG's minimum.)
    cases.push(("a document length below 5", vec![4, 0, 0, 0, 0]));
    let mut failures = Vec::new();
    for (i, (name, document)) in cases.into_iter().enumerate() {
        let mut section = vec![0u8];
        section.extend(document);
        let request_id = 20 + 2 * i32::try_from(i).expect("small");
        let mut stream = connect(&server).await;
        stream
            .write_all(&op_msg_raw(request_id, 0, &section))
            .await
            .expect("write");
        match read_reply(&mut stream).await {
            None => failures.push(format!("{name}: the connection was closed")),
            Some(reply) => {
                let body = reply.op_msg_body();
                if body.get_f64("ok") != Ok(0.0) || reply.response_to != request_id {
                    failures.push(format!(
                        "{name}: not an error reply to {request_id}: {body}"
                    ));
                } else {
                    assert_ping_works(&mut stream, request_id + 1).await;
                }
            }
        }
    }
    assert_server_still_serves(&server).await;
    assert!(
        failures.is_empty(),
        "invalid BSON without an error reply:\n{}",
        failures.join("\n")
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_op_codes_are_not_served() {
    let server = TestServer::start().await;
    let ping = bson_bytes(&doc! {"ping": 1, "$db": "admin"});
    // 9999 is no op code; 2002 is the OP_INSERT MongoDB 6.0 removed.
    for op_code in [9999, 2002, 2012] {
        let mut bystander = connect(&server).await;
        let mut stream = connect(&server).await;
        let _ = stream.write_all(&message(31, op_code, &ping)).await;
        // Either an error reply or a closed connection; never a success.
        if let Some(reply) = read_reply(&mut stream).await {
            assert_eq!(reply.op_code, OP_MSG, "op code {op_code}");
            let body = reply.op_msg_body();
            assert_eq!(body.get_f64("ok"), Ok(0.0), "op code {op_code}: {body}");
        }
        assert_ping_works(&mut bystander, 1).await;
    }
    assert_server_still_serves(&server).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksums_are_verified() {
    let server = TestServer::start().await;
    let ping = doc! {"ping": 1, "$db": "admin"};
    // The right checksum is accepted.
    let mut stream = connect(&server).await;
    stream
        .write_all(&op_msg_with_checksum(40, &ping, None))
        .await
        .expect("write");
    let reply = read_reply(&mut stream).await.expect("reply");
    assert_eq!(reply.op_msg_body(), doc! {"ok": 1.0});
    // A wrong one gets an error reply.
    let mut wrong = op_msg_with_checksum(41, &ping, None);
    let last = wrong.len() - 1;
    wrong[last] ^= 0xff;
    let body = assert_error_reply(&server, &wrong, 41).await;
    assert!(
        body.get_str("errmsg").is_ok_and(|m| m.contains("checksum")),
        "{body}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_section_kinds_and_flags_get_an_error_reply() {
    let server = TestServer::start().await;
    let mut section = body_section(&doc! {"ping": 1, "$db": "admin"});
    section[0] = 7;
    assert_error_reply(&server, &op_msg_raw(50, 0, &section), 50).await;
    // No body section at all.
    let only_sequence = sequence_section("documents", &[doc! {"_id": 1}]);
    assert_error_reply(&server, &op_msg_raw(52, 0, &only_sequence), 52).await;
    // Two body sections.
    let mut two = body_section(&doc! {"ping": 1, "$db": "admin"});
    two.extend(body_section(&doc! {"ping": 1, "$db": "admin"}));
    assert_error_reply(&server, &op_msg_raw(54, 0, &two), 54).await;
    // An unknown required flag bit (bits 0-15 must be understood).
    let body = body_section(&doc! {"ping": 1, "$db": "admin"});
    assert_error_reply(&server, &op_msg_raw(56, 1 << 5, &body), 56).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_bad_connections_do_not_disturb_a_busy_client() {
    let server = TestServer::start().await;
    let coll = server.db("test").collection::<Document>("c");
    let writer = tokio::spawn({
        let coll = coll.clone();
        async move {
            for i in 0..200 {
                coll.insert_one(doc! {"_id": i}).await.expect("insert");
            }
        }
    });
    for i in 0..50 {
        let mut stream = connect(&server).await;
        // Lengths below the 16-byte header: always a framing error.
        let garbage = message_with_length(i % 16, i, OP_MSG, b"garbage!");
        let _ = stream.write_all(&garbage).await;
        assert!(read_reply(&mut stream).await.is_none());
    }
    writer.await.expect("the writer failed");
    let count = run(&server.db("test"), doc! {"count": "c"}).await;
    assert_eq!(int_field(&count, "n"), 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_flag_bits_are_accepted() {
    let server = TestServer::start().await;
    let mut stream = connect(&server).await;
    // exhaustAllowed (bit 16) is optional: a server that does not stream answers normally.
    const EXHAUST_ALLOWED: u32 = 1 << 16;
    let body = body_section(&doc! {"ping": 1, "$db": "admin"});
    stream
        .write_all(&op_msg_raw(60, EXHAUST_ALLOWED, &body))
        .await
        .expect("write");
    let reply = read_reply(&mut stream).await.expect("reply");
    assert_eq!(reply.response_to, 60);
    assert_eq!(reply.op_msg_body(), doc! {"ok": 1.0});
    // An unknown optional bit (16-31) is ignored too.
    stream
        .write_all(&op_msg_raw(61, 1 << 20, &body))
        .await
        .expect("write");
    let reply = read_reply(&mut stream).await.expect("reply");
    assert_eq!(reply.op_msg_body(), doc! {"ok": 1.0});
    server.shutdown().await;
}
