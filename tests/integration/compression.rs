//! Wire compression (OP_COMPRESSED): the official driver with `compressors=zstd` and
//! `compressors=zlib` in its URI, and raw sockets for negotiation, which replies are
//! compressed, and bad compressed data.

use std::time::Duration;

use bson::{doc, Bson, Document};
use futures::TryStreamExt;
use mongodb::Client;
use outpost_tests::{int_field, run, TestServer};
use outpost_wire::{Compressor, Message, OpMsg, OP_COMPRESSED, OP_MSG};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `serverStatus.network.compression.<name>` as four numbers:
/// (compressor in, compressor out, decompressor in, decompressor out).
async fn compression_counters(server: &TestServer, name: &str) -> [i64; 4] {
    // Read through the shared client, which does not compress, so reading changes nothing.
    let status = run(&server.db("admin"), doc! {"serverStatus": 1}).await;
    let section = status
        .get_document("network")
        .and_then(|n| n.get_document("compression"))
        .and_then(|c| c.get_document(name))
        .unwrap_or_else(|_| panic!("no network.compression.{name} in {status}"));
    let part = |side: &str, field: &str| {
        section
            .get_document(side)
            .map(|d| int_field(d, field))
            .unwrap_or_else(|_| panic!("no {side} in {section}"))
    };
    [
        part("compressor", "bytesIn"),
        part("compressor", "bytesOut"),
        part("decompressor", "bytesIn"),
        part("decompressor", "bytesOut"),
    ]
}

/// Documents that compress well, as real ones do: repeated field names and similar values.
fn orders(count: i32) -> Vec<Document> {
    (0..count)
        .map(|i| {
            doc! {
                "_id": i,
                "customer": format!("customer-{}", i % 7),
                "status": "pending",
                "lines": (0..10).map(|l| doc! {"sku": format!("SKU-{l:04}"), "qty": l, "price": 9.5}).collect::<Vec<_>>(),
                "note": "deliver to the back door, ring twice",
            }
        })
        .collect()
}

async fn driver_with(server: &TestServer, compressors: &str) -> Client {
    let uri = format!("{}&compressors={compressors}", server.uri());
    Client::with_uri_str(uri).await.expect("client")
}

/// The driver round-trips data through compressed messages, and the server counts what it
/// decompressed and compressed.
async fn driver_round_trip(compressors: &str, name: &str) {
    let server = TestServer::start().await;
    let before = compression_counters(&server, name).await;
    assert_eq!(before, [0, 0, 0, 0], "nothing compressed yet");
    let client = driver_with(&server, compressors).await;
    let coll = client.database("shop").collection::<Document>("orders");
    coll.insert_many(orders(200)).await.expect("insert");
    let found: Vec<Document> = coll
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("cursor");
    assert_eq!(found, orders(200));
    let [c_in, c_out, d_in, d_out] = compression_counters(&server, name).await;
    // Requests came compressed and decompressed to more than they were on the wire ...
    assert!(d_in > 0 && d_out > d_in, "decompressor {d_in} -> {d_out}");
    // ... and replies went back compressed (the find's batches are most of it).
    assert!(c_in > 0 && c_out < c_in, "compressor {c_in} -> {c_out}");
    // The 200 orders went up in the insert: the decompressed bytes hold them.
    let orders_size: usize = orders(200)
        .iter()
        .map(|d| bson::to_vec(d).unwrap().len())
        .sum();
    assert!(
        d_out > i64::try_from(orders_size).unwrap(),
        "{d_out} < {orders_size}"
    );
    // The other compressor saw nothing.
    let other = if name == "zstd" { "zlib" } else { "zstd" };
    assert_eq!(compression_counters(&server, other).await, [0, 0, 0, 0]);
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_compresses_with_zstd() {
    driver_round_trip("zstd", "zstd").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_compresses_with_zlib() {
    driver_round_trip("zlib", "zlib").await;
}

/// A driver offering both uses its first choice, which the server accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_uses_its_first_choice() {
    let server = TestServer::start().await;
    let client = driver_with(&server, "zlib,zstd").await;
    let coll = client.database("shop").collection::<Document>("orders");
    coll.insert_many(orders(20)).await.expect("insert");
    assert!(compression_counters(&server, "zlib").await[2] > 0);
    assert_eq!(compression_counters(&server, "zstd").await[2], 0);
    client.shutdown().await;
    server.shutdown().await;
}

// Raw sockets.

const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends `bytes`, reads one whole reply message (header included).
async fn exchange(stream: &mut TcpStream, bytes: &[u8]) -> Vec<u8> {
    stream.write_all(bytes).await.expect("write");
    let read = async {
        let mut header = [0u8; 16];
        stream.read_exact(&mut header).await.expect("reply header");
        let length = usize::try_from(i32::from_le_bytes(header[..4].try_into().unwrap())).unwrap();
        let mut reply = header.to_vec();
        reply.resize(length, 0);
        stream
            .read_exact(&mut reply[16..])
            .await
            .expect("reply body");
        reply
    };
    tokio::time::timeout(READ_TIMEOUT, read)
        .await
        .expect("a reply within 5 s")
}

fn op_msg(request_id: i32, body: Document) -> Vec<u8> {
    let message = Message::Msg(OpMsg {
        body,
        ..OpMsg::default()
    });
    outpost_wire::encode(request_id, 0, &message).expect("encode")
}

fn compressed(request_id: i32, body: Document, compressor: Compressor) -> Vec<u8> {
    outpost_wire::compress(&op_msg(request_id, body), compressor)
        .expect("compress")
        .expect("small enough")
}

fn op_code(message: &[u8]) -> i32 {
    i32::from_le_bytes(message[12..16].try_into().unwrap())
}

/// The reply's body and the compressor it came with, if any.
fn reply_body(reply: &[u8]) -> (Document, Option<Compressor>) {
    let (_, message, compression) = outpost_wire::decode_compressed(reply).expect("decode");
    let Message::Msg(msg) = message else {
        panic!("not an OP_MSG reply")
    };
    (msg.body, compression.map(|c| c.compressor))
}

fn compression_field(reply: &Document) -> Option<Vec<String>> {
    match reply.get("compression")? {
        Bson::Array(names) => Some(
            names
                .iter()
                .map(|n| n.as_str().expect("a name").to_owned())
                .collect(),
        ),
        other => panic!("compression is {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_negotiates_in_the_clients_order() {
    let server = TestServer::start().await;
    let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
    let hello = |id: i32, compression: Option<Vec<&'static str>>| {
        let mut body = doc! {"hello": 1, "$db": "admin"};
        if let Some(names) = compression {
            body.insert("compression", names);
        }
        op_msg(id, body)
    };
    type Names = Option<Vec<&'static str>>;
    let cases: [(Names, Names); 5] = [
        // Unsupported ones are left out; the client's order is kept.
        (
            Some(vec!["snappy", "zlib", "zstd"]),
            Some(vec!["zlib", "zstd"]),
        ),
        (
            Some(vec!["zstd", "bogus", "zlib"]),
            Some(vec!["zstd", "zlib"]),
        ),
        // Without the field, what was negotiated is repeated.
        (None, Some(vec!["zstd", "zlib"])),
        // Nothing in common: no field, and nothing negotiated any more.
        (Some(vec!["snappy"]), None),
        (None, None),
    ];
    for (i, (offered, expected)) in cases.into_iter().enumerate() {
        let id = i32::try_from(i).unwrap() + 1;
        let reply = exchange(&mut stream, &hello(id, offered.clone())).await;
        assert_eq!(
            op_code(&reply),
            OP_MSG,
            "hello replies are never compressed"
        );
        let (body, _) = reply_body(&reply);
        let expected = expected.map(|names| names.iter().map(|n| n.to_string()).collect());
        assert_eq!(
            compression_field(&body),
            expected,
            "offered {offered:?}: {body}"
        );
    }
    // A wrong type is an error.
    let bad = op_msg(9, doc! {"hello": 1, "compression": "zstd", "$db": "admin"});
    let (body, _) = reply_body(&exchange(&mut stream, &bad).await);
    assert_eq!(int_field(&body, "code"), 14, "{body}");
    server.shutdown().await;
}

/// A compressed request gets a reply compressed the same way, except for the commands that
/// are never compressed; an uncompressed request gets an uncompressed reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_are_compressed_like_their_requests() {
    let server = TestServer::start().await;
    let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
    let ping = doc! {"ping": 1, "$db": "admin"};
    for (id, compressor) in [
        (1, Compressor::Zstd),
        (2, Compressor::Zlib),
        (3, Compressor::Noop),
    ] {
        let reply = exchange(&mut stream, &compressed(id, ping.clone(), compressor)).await;
        assert_eq!(op_code(&reply), OP_COMPRESSED);
        let (body, used) = reply_body(&reply);
        assert_eq!(body.get_f64("ok"), Ok(1.0), "{body}");
        assert_eq!(used, Some(compressor));
        let response_to = i32::from_le_bytes(reply[8..12].try_into().unwrap());
        assert_eq!(response_to, id);
    }
    let reply = exchange(&mut stream, &op_msg(4, ping.clone())).await;
    assert_eq!(op_code(&reply), OP_MSG);
    for (id, never) in [
        (5, doc! {"hello": 1, "$db": "admin"}),
        (6, doc! {"isMaster": 1, "$db": "admin"}),
        (
            7,
            doc! {"saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: b"n,,n=a,r=abc".to_vec() }, "$db": "admin"},
        ),
        (
            8,
            doc! {"createUser": "u", "pwd": "p", "roles": [], "$db": "admin"},
        ),
    ] {
        let reply = exchange(
            &mut stream,
            &compressed(id, never.clone(), Compressor::Zstd),
        )
        .await;
        assert_eq!(op_code(&reply), OP_MSG, "{never}");
    }
    server.shutdown().await;
}

/// Bad compressed data gets an error reply naming what is wrong, and the connection goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_compressed_data_gets_an_error_reply() {
    let server = TestServer::start().await;
    let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
    // A zip bomb: a big document compressed, declared as a few hundred bytes.
    let big = doc! {"insert": "c", "documents": [{"x": "a".repeat(4_000_000)}], "$db": "test"};
    let mut bomb = compressed(1, big, Compressor::Zstd);
    bomb[20..24].copy_from_slice(&300_i32.to_le_bytes());
    // A size over the 48 MB limit, refused before decompressing.
    let mut too_large = compressed(2, doc! {"ping": 1, "$db": "admin"}, Compressor::Zstd);
    too_large[20..24].copy_from_slice(&49_000_000_i32.to_le_bytes());
    // Snappy is not supported.
    let mut snappy = compressed(3, doc! {"ping": 1, "$db": "admin"}, Compressor::Noop);
    snappy[24] = 1;
    let cases = [
        (1, bomb, "decompresses to more than the 300 bytes"),
        (2, too_large, "uncompressedSize 49000000"),
        (3, snappy, "snappy"),
    ];
    for (id, bytes, fragment) in cases {
        let reply = exchange(&mut stream, &bytes).await;
        let (body, _) = reply_body(&reply);
        assert_eq!(body.get_f64("ok"), Ok(0.0), "{body}");
        assert_eq!(int_field(&body, "code"), 9, "{body}");
        let errmsg = body.get_str("errmsg").unwrap_or_default();
        assert!(errmsg.contains(fragment), "{fragment}: {errmsg}");
        let response_to = i32::from_le_bytes(reply[8..12].try_into().unwrap());
        assert_eq!(response_to, id);
    }
    // Nothing was inserted, and the connection still serves.
    let (body, _) =
        reply_body(&exchange(&mut stream, &op_msg(10, doc! {"count": "c", "$db": "test"})).await);
    assert_eq!(int_field(&body, "n"), 0, "{body}");
    server.shutdown().await;
}
