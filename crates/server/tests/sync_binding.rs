//! The closed hub's sync connections over the wire: `outpostSyncHello` binds a connection to
//! one edge, later requests carry no key and act for that edge only, a deleted edge's open
//! connection fails, and a peer of another protocol version gets a clear error.

use std::time::Duration;

use bson::{doc, Document};
use outpost_server::hub::client::HubClient;
use outpost_server::{Config, Server, ServerHandle};
use outpost_sync::protocol::PROTOCOL_VERSION;
use tokio::net::TcpListener;

async fn start_hub() -> ServerHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Server::builder()
        .config(Config {
            dbpath: None,
            hub_mode: true,
            ..Config::default()
        })
        .start_on(listener)
        .await
        .unwrap()
}

fn connect(uri: &str) -> HubClient {
    HubClient::connect(uri, Duration::from_secs(5)).unwrap()
}

/// A sync request of this protocol version.
fn versioned(body: Document) -> Document {
    outpost_sync::protocol::with_version(body)
}

fn code(result: outpost_sync::Result<Document>) -> (i32, String) {
    let error = result.unwrap_err();
    (error.code(), error.to_string())
}

/// Creates an edge and registers it through hello on `link`: (edge id, API key).
fn register(admin: &mut HubClient, link: &mut HubClient, name: &str) -> (String, String) {
    let created = admin
        .command(doc! {"outpostHubCreateEdge": 1, "name": name, "defaultDb": "shop"})
        .unwrap();
    let key = created.get_str("registration_key").unwrap();
    let reply = link
        .command(versioned(
            doc! {"outpostSyncHello": 1, "registrationKey": key},
        ))
        .unwrap();
    assert_eq!(reply.get_str("edgeId"), created.get_str("id"), "{reply}");
    (
        reply.get_str("edgeId").unwrap().to_string(),
        reply.get_str("apiKey").unwrap().to_string(),
    )
}

fn upload(last_seq: i64) -> Document {
    versioned(doc! {"outpostSyncUpload": 1, "fromSeq": 0_i64, "lastSeq": last_seq, "changes": []})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_connection_acts_only_for_the_edge_its_hello_bound() {
    let hub = start_hub().await;
    let uri = format!("mongodb://{}", hub.local_addr());
    tokio::task::spawn_blocking(move || {
        let mut admin = connect(&uri);
        let (mut a, mut b) = (connect(&uri), connect(&uri));
        let (a_id, a_key) = register(&mut admin, &mut a, "a");
        let (_, b_key) = register(&mut admin, &mut b, "b");

        // No hello on this connection: Unauthorized.
        let mut fresh = connect(&uri);
        let download = versioned(doc! {"outpostSyncDownload": 1, "after": 0_i64});
        let (code_, message) = code(fresh.command(download.clone()));
        assert_eq!(code_, 13, "{message}");
        assert!(message.contains("outpostSyncHello"), "{message}");

        // Each connection moves its own edge's cursor only.
        assert_eq!(a.command(upload(7)).unwrap().get_i64("ackSeq"), Ok(7));
        assert_eq!(b.command(upload(3)).unwrap().get_i64("ackSeq"), Ok(3));

        // A's connection cannot act as B, even with B's key.
        let mut as_b = upload(9);
        as_b.insert("apiKey", &b_key);
        assert_eq!(code(a.command(as_b)).0, 13);
        assert_eq!(b.command(upload(0)).unwrap().get_i64("ackSeq"), Ok(3));

        // A hello with A's key on another connection binds it to A.
        let reply = fresh
            .command(versioned(doc! {"outpostSyncHello": 1, "apiKey": &a_key}))
            .unwrap();
        assert_eq!(reply.get_str("edgeId"), Ok(a_id.as_str()));
        assert_eq!(
            reply.get_str("protocolVersion"),
            Ok(PROTOCOL_VERSION.to_string().as_str())
        );
        assert_eq!(fresh.command(upload(0)).unwrap().get_i64("ackSeq"), Ok(7));
        fresh.command(download.clone()).unwrap();

        // Deleting A at the hub stops both of A's open connections at their next request.
        admin
            .command(doc! {"outpostHubDeleteEdge": 1, "id": &a_id})
            .unwrap();
        for link in [&mut a, &mut fresh] {
            let (code_, message) = code(link.command(download.clone()));
            assert_eq!(code_, 18, "{message}");
            assert!(message.contains("deleted"), "{message}");
        }
        // B is untouched.
        b.command(download).unwrap();
    })
    .await
    .unwrap();
    hub.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_of_another_protocol_version_gets_a_clear_error() {
    let hub = start_hub().await;
    let uri = format!("mongodb://{}", hub.local_addr());
    tokio::task::spawn_blocking(move || {
        let mut link = connect(&uri);
        // (request, what the message says)
        let cases = [
            (
                doc! {"outpostSyncHello": 1, "apiKey": "k", "protocolVersion": "2.0"},
                format!("the edge speaks 2.0 and this side speaks {PROTOCOL_VERSION}; upgrade the edge"),
            ),
            // 2.0 edges sent the key with each request and no hello.
            (
                doc! {"outpostSyncDownload": 1, "apiKey": "k", "after": 0_i64},
                "upgrade the edge".to_string(),
            ),
            (
                doc! {"outpostSyncHello": 1, "apiKey": "k", "protocolVersion": "9.1"},
                format!("the edge speaks 9.1 and this side speaks {PROTOCOL_VERSION}; upgrade this side"),
            ),
        ];
        for (request, expected) in cases {
            let (code_, message) = code(link.command(request));
            assert_eq!(code_, 188, "{message}");
            assert!(message.contains(&expected), "{message}");
        }
        // The connection still works for a current edge's hello (and refuses a bad key).
        let (code_, message) = code(link.command(versioned(
            doc! {"outpostSyncHello": 1, "registrationKey": "not-a-key"},
        )));
        assert_eq!(code_, 18, "{message}");
    })
    .await
    .unwrap();
    hub.shutdown().await.unwrap();
}
