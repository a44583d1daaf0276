//! Bytes on the wire between an edge and its hub: the link negotiates zstd and counts what it
//! sends and receives (`bytesSent`, `bytesReceived` in `outpostSyncStatus`), and the cost of
//! one small update uploaded alone, with and without compression (issue 8's "thin links").
//!
//! The measurement prints its figures; run it with
//! `cargo test -p outpost-server --test sync_bytes -- --nocapture`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use bson::{doc, Bson, Document};
use outpost_server::hub::client::HubClient;
use outpost_server::{Config, Server, ServerHandle};
use outpost_storage::{Storage, UpdateSpec, WriteOptions};
use outpost_sync::{EdgeOptions, EdgeSync, Link, LinkBytes};
use outpost_wire::{Compressor, Message, OpMsg};
use tokio::net::TcpListener;

const DEADLINE: Duration = Duration::from_secs(20);
const TIMEOUT: Duration = Duration::from_secs(5);

async fn start(config: Config) -> ServerHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Server::builder()
        .config(config)
        .start_on(listener)
        .await
        .unwrap()
}

fn uri(server: &ServerHandle) -> String {
    format!("mongodb://{}", server.local_addr())
}

/// One command over a fresh connection, off the async workers.
async fn command(server: &ServerHandle, db: &str, body: Document) -> Document {
    let uri = uri(server);
    let db = db.to_string();
    tokio::task::spawn_blocking(move || {
        HubClient::connect(&uri, TIMEOUT)
            .and_then(|mut client| client.command_on(&db, body))
            .unwrap()
    })
    .await
    .unwrap()
}

/// A new edge instance at the hub syncing everything of `shop`: its registration key.
async fn create_edge(hub: &ServerHandle) -> String {
    let reply = command(
        hub,
        "admin",
        doc! {"outpostHubCreateEdge": 1, "name": "store", "query": {"*": "TRUEPREDICATE"}, "defaultDb": "shop"},
    )
    .await;
    reply.get_str("registration_key").unwrap().to_string()
}

fn number(doc: &Document, path: &[&str]) -> i64 {
    let mut current = doc;
    for key in &path[..path.len() - 1] {
        current = current
            .get_document(key)
            .unwrap_or_else(|_| panic!("no {key} in {doc}"));
    }
    match current.get(path[path.len() - 1]) {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        other => panic!("{path:?} is {other:?} in {doc}"),
    }
}

/// A running edge counts the bytes of its link, and its requests reach the hub compressed
/// with zstd (the hub's `serverStatus` counts what it decompressed and compressed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_link_is_compressed_and_counted() {
    let hub = start(Config {
        dbpath: None,
        hub_mode: true,
        ..Config::default()
    })
    .await;
    let key = create_edge(&hub).await;
    let dir = tempfile::tempdir().unwrap();
    let edge = start(Config {
        dbpath: Some(dir.path().to_path_buf()),
        hub: Some(uri(&hub)),
        registration_key: Some(key),
        sync_interval_ms: 20,
        sync_max_backoff_ms: 200,
        ..Config::default()
    })
    .await;
    let docs: Vec<Document> = (0..50).map(|i| order(ObjectId::new(), i)).collect();
    command(&edge, "shop", doc! {"insert": "orders", "documents": docs}).await;
    wait_for_orders(&hub, 50, "never reached the hub").await;
    // And 50 from the hub down to the edge: the download replies are large enough to gain
    // from compression (the hub compresses a sync reply only when it gets smaller).
    let docs: Vec<Document> = (50..100).map(|i| order(ObjectId::new(), i)).collect();
    command(&hub, "shop", doc! {"insert": "orders", "documents": docs}).await;
    wait_for_orders(&edge, 100, "never reached the edge").await;
    let status = command(&edge, "admin", doc! {"outpostSyncStatus": 1}).await;
    let sent = number(&status, &["bytesSent"]);
    let received = number(&status, &["bytesReceived"]);
    // 50 orders of about 2 KB went up: compressed, well under their 100 KB.
    let raw: usize = (0..50)
        .map(|i| bson::to_vec(&order(ObjectId::new(), i)).unwrap().len())
        .sum();
    assert!(sent > 0 && received > 0, "{status}");
    assert!(
        sent < i64::try_from(raw).unwrap(),
        "sent {sent} >= raw {raw}"
    );
    let server_status = command(&edge, "admin", doc! {"serverStatus": 1}).await;
    assert!(
        number(&server_status, &["sync", "bytesSent"]) >= sent,
        "{server_status}"
    );
    // At the hub: the edge's requests came compressed, and the answers went back so.
    let hub_status = command(&hub, "admin", doc! {"serverStatus": 1}).await;
    let zstd = ["network", "compression", "zstd"];
    let decompressed_in = number(
        &hub_status,
        &[zstd[0], zstd[1], zstd[2], "decompressor", "bytesIn"],
    );
    let decompressed_out = number(
        &hub_status,
        &[zstd[0], zstd[1], zstd[2], "decompressor", "bytesOut"],
    );
    let compressed_out = number(
        &hub_status,
        &[zstd[0], zstd[1], zstd[2], "compressor", "bytesOut"],
    );
    assert!(
        decompressed_in > 0 && decompressed_out > decompressed_in,
        "{hub_status}"
    );
    assert!(compressed_out > 0, "{hub_status}");
    assert!(
        decompressed_out > i64::try_from(raw).unwrap(),
        "the orders went up in compressed requests: {hub_status}"
    );
    edge.shutdown().await.unwrap();
    hub.shutdown().await.unwrap();
}

/// Waits until `server` holds `n` orders; fails with `missing` after [`DEADLINE`].
async fn wait_for_orders(server: &ServerHandle, n: i64, missing: &str) {
    let start = Instant::now();
    loop {
        let count = command(server, "shop", doc! {"count": "orders"}).await;
        if number(&count, &["n"]) == n {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "{missing}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A store's order: about 2 KB of BSON with the variety of a real document.
fn order(id: ObjectId, n: i32) -> Document {
    let products = [
        ("espresso beans 1kg", 18.9),
        ("oat milk 1l", 2.49),
        ("paper cups x50", 6.75),
        ("cane sugar sticks", 4.2),
        ("cocoa powder 500g", 7.3),
        ("chai syrup", 9.95),
        ("napkins x200", 3.1),
        ("lids, 12oz", 5.4),
        ("cleaning tablets", 14.0),
        ("vanilla syrup", 9.95),
        ("stirrers x1000", 2.85),
    ];
    let lines: Vec<Document> = products
        .iter()
        .enumerate()
        .map(|(i, (name, price))| {
            let i = i32::try_from(i).unwrap();
            doc! {
                "sku": format!("SKU-{:05}", (n * 7919 + i * 104_729) % 100_000),
                "name": *name,
                "qty": (n + i) % 6 + 1,
                "unitPrice": *price,
                "taxRate": 0.2,
            }
        })
        .collect();
    doc! {
        "_id": id,
        "orderNo": format!("2026-{:06}", 100_000 + n),
        "status": "pending",
        "createdAt": bson::DateTime::from_millis(1_790_000_000_000 + i64::from(n) * 61_000),
        "store": {"id": 42, "name": "Harbour Street", "region": "north-west"},
        "customer": {
            "name": "Ada Lovelace",
            "email": format!("customer{n}@example.com"),
            "phone": "+44 20 7946 0958",
            "loyaltyId": format!("L{:08}", n * 31),
            "address": {"street": "12 Marylebone Road", "city": "London", "postcode": "NW1 5LR", "country": "GB"},
        },
        "lines": lines,
        "payment": {"method": "card", "last4": format!("{:04}", (n * 37) % 10_000), "authorised": true},
        "delivery": {"window": "10:00-12:00", "instructions": "Ring the bell at the side door; leave with the café next door if nobody answers."},
        "totals": {"net": 91.73, "tax": 18.35, "gross": 110.08, "currency": "GBP"},
        "tags": ["wholesale", "weekly", "priority"],
        "source": {"channel": "pos", "terminal": "T-03", "cashier": "Grace Hopper"},
        "events": [
            {"at": bson::DateTime::from_millis(1_790_000_000_000), "status": "created", "by": "pos-terminal-3"},
            {"at": bson::DateTime::from_millis(1_790_000_060_000), "status": "paid", "by": "card-gateway"},
            {"at": bson::DateTime::from_millis(1_790_000_120_000), "status": "pending", "by": "fulfilment"},
        ],
    }
}

/// What one upload round trip cost on the wire.
#[derive(Debug, Clone, Copy)]
struct RoundTrip {
    sent: u64,
    received: u64,
    /// The request's size encoded as an OP_MSG, before any compression.
    request_encoded: usize,
    /// The updated document's BSON size.
    document: usize,
}

/// An edge engine in this process over a real link to `hub_uri`: registers, uploads a 2 KB
/// order, then measures the upload of one `$set` of a small field on it, alone.
fn measure_small_update(hub_uri: &str, key: String, compress: bool) -> RoundTrip {
    let storage = Storage::temporary().unwrap();
    let options = EdgeOptions {
        registration_key: Some(key),
        ..EdgeOptions::default()
    };
    let mut engine = EdgeSync::new(storage.clone(), options).unwrap();
    let link_bytes = Arc::new(LinkBytes::default());
    let mut link = HubClient::connect_with(hub_uri, TIMEOUT, None, link_bytes.clone()).unwrap();
    assert_eq!(
        link.compressor(),
        Some(Compressor::Zstd),
        "the hub accepts zstd"
    );
    if !compress {
        link.disable_compression();
    }
    engine.upload_all(&mut link).unwrap();
    let id = ObjectId::new();
    let document = order(id, 1);
    let size = bson::to_vec(&document).unwrap().len();
    assert!((1_980..2_120).contains(&size), "the order is {size} bytes");
    storage
        .insert("shop", "orders", document, &WriteOptions::default())
        .unwrap();
    engine.upload_all(&mut link).unwrap();

    let update = outpost_storage::query::Update::parse(
        &Bson::Document(doc! {"$set": {"status": "shipped"}}),
        None,
    )
    .unwrap();
    let filter = doc! {"_id": id};
    let spec = UpdateSpec {
        filter: &filter,
        update: &update,
        multi: false,
        upsert: false,
        hint: None,
        sort: None,
        variables: None,
    };
    storage
        .update("shop", "orders", &spec, &WriteOptions::default())
        .unwrap();
    let (sent, received) = (link_bytes.sent(), link_bytes.received());
    let prepared = engine
        .prepare_upload()
        .unwrap()
        .expect("one batch to upload");
    let request = prepared.request.clone().expect("an upload request");
    let reply = link.call(request.clone()).unwrap();
    engine.complete_upload(prepared, Some(&reply)).unwrap();
    assert!(engine.prepare_upload().unwrap().is_none(), "one batch only");
    let mut body = request;
    body.insert("$db", "admin");
    let request_encoded = outpost_wire::encode(
        1,
        0,
        &Message::Msg(OpMsg {
            body,
            ..OpMsg::default()
        }),
    )
    .unwrap()
    .len();
    RoundTrip {
        sent: link_bytes.sent() - sent,
        received: link_bytes.received() - received,
        request_encoded,
        document: size,
    }
}

/// Issue 8's figure: one `$set` of one small field on a 2 KB document, uploaded alone, batch
/// overhead and the hub's acknowledgement included. The upload carries a field delta
/// (protocol 3.1), not the document: the round trip stays under 300 bytes, compressed or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_small_update_on_the_wire() {
    let hub = start(Config {
        dbpath: None,
        hub_mode: true,
        ..Config::default()
    })
    .await;
    let mut results = Vec::new();
    for compress in [false, true] {
        let key = create_edge(&hub).await;
        let hub_uri = uri(&hub);
        let measured =
            tokio::task::spawn_blocking(move || measure_small_update(&hub_uri, key, compress))
                .await
                .unwrap();
        results.push(measured);
    }
    let (plain, zstd) = (results[0], results[1]);
    // Uncompressed, the counted request is exactly the encoded OP_MSG.
    assert_eq!(plain.sent, u64::try_from(plain.request_encoded).unwrap());
    // Compressed, smaller on the way up.
    assert!(zstd.sent < plain.sent, "{zstd:?} vs {plain:?}");
    // The target: under 300 bytes for the request and its acknowledgement together (from
    // 3.3 neither repeats the protocol version, and a delta of exactly its document's fields
    // leaves out `fields`). The acknowledgement goes uncompressed: zstd would make it larger.
    for r in [plain, zstd] {
        assert!(
            r.sent + r.received < 300,
            "the delta, not the {}-byte document: {r:?}",
            r.document
        );
    }
    assert_eq!(zstd.received, plain.received);
    println!(
        "one $set of a small field on a {}-byte document, uploaded alone (bytes on the wire):",
        zstd.document
    );
    println!("| link | request (edge -> hub) | reply (hub -> edge) | total |");
    println!("|---|---|---|---|");
    for (name, r) in [("uncompressed", plain), ("zstd", zstd)] {
        println!(
            "| {name} | {} | {} | {} |",
            r.sent,
            r.received,
            r.sent + r.received
        );
    }
    hub.shutdown().await.unwrap();
}
