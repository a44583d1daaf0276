//! TLS through the official driver (`tls=true`, `tlsCAFile`), with a CA and certificates made
//! at run time: `require` refuses plain clients, `prefer` takes both on one port, a CA file on
//! the server requires client certificates, and authentication runs over TLS.

use std::path::{Path, PathBuf};

use bson::oid::ObjectId;
use bson::{doc, Document};
use mongodb::options::ClientOptions;
use mongodb::Client;
use outpost_server::{Config, TlsMode};
use outpost_tests::{TestServer, SERVER_SELECTION_TIMEOUT_MS};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// A CA, a server certificate for 127.0.0.1/localhost and a client certificate, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Outpost test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();

        let server_key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = params.signed_by(&server_key, &ca, &ca_key).unwrap();
        std::fs::write(dir.path().join("server.pem"), server.pem()).unwrap();
        std::fs::write(
            dir.path().join("server-key.pem"),
            server_key.serialize_pem(),
        )
        .unwrap();

        let client_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "outpost-test-client");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client = params.signed_by(&client_key, &ca, &ca_key).unwrap();
        std::fs::write(
            dir.path().join("client.pem"),
            format!("{}{}", client.pem(), client_key.serialize_pem()),
        )
        .unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self, mode: Option<TlsMode>, client_certs: bool) -> Config {
        Config {
            dbpath: None,
            port: 0,
            tls_mode: mode,
            tls_cert_file: Some(self.path("server.pem")),
            tls_key_file: Some(self.path("server-key.pem")),
            tls_ca_file: client_certs.then(|| self.path("ca.pem")),
            ..Config::default()
        }
    }
}

async fn client(server: &TestServer, extra: &str) -> Client {
    let uri = format!(
        "mongodb://{}/?directConnection=true&serverSelectionTimeoutMS={SERVER_SELECTION_TIMEOUT_MS}{extra}",
        server.addr()
    );
    Client::with_options(ClientOptions::parse(uri).await.unwrap()).unwrap()
}

fn tls_options(ca: &Path) -> String {
    format!("&tls=true&tlsCAFile={}", ca.display())
}

async fn ping(client: &Client) -> mongodb::error::Result<Document> {
    client.database("admin").run_command(doc! {"ping": 1}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_mode_serves_tls_clients_and_refuses_plain_ones() {
    let pki = Pki::new();
    // A certificate without a mode means require.
    let server = TestServer::start_with(pki.config(None, false)).await;
    let tls = client(&server, &tls_options(&pki.path("ca.pem"))).await;
    let items = tls.database("shop").collection::<Document>("items");
    items
        .insert_one(doc! {"_id": 1, "over": "tls"})
        .await
        .unwrap();
    assert_eq!(
        items.find_one(doc! {}).await.unwrap(),
        Some(doc! {"_id": 1, "over": "tls"})
    );
    let plain = client(&server, "").await;
    ping(&plain)
        .await
        .expect_err("a plain client of a TLS-only server must fail");
    // A client that does not trust the server's CA fails too.
    let untrusting = client(&server, "&tls=true").await;
    ping(&untrusting)
        .await
        .expect_err("the server's certificate is not signed by a public CA");
    // The TLS client still works afterwards.
    ping(&tls).await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_mode_takes_tls_and_plain_on_one_port() {
    let pki = Pki::new();
    let server = TestServer::start_with(pki.config(Some(TlsMode::Prefer), false)).await;
    let tls = client(&server, &tls_options(&pki.path("ca.pem"))).await;
    let plain = client(&server, "").await;
    tls.database("shop")
        .collection::<Document>("items")
        .insert_one(doc! {"_id": 1})
        .await
        .unwrap();
    let count = plain
        .database("shop")
        .collection::<Document>("items")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(count, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_file_on_the_server_requires_client_certificates_and_auth_runs_over_tls() {
    let pki = Pki::new();
    let config = Config {
        auth: true,
        ..pki.config(Some(TlsMode::Require), true)
    };
    let server = TestServer::start_with(config).await;
    let without_cert = client(&server, &tls_options(&pki.path("ca.pem"))).await;
    ping(&without_cert)
        .await
        .expect_err("a client without a certificate must be refused");
    let with_cert = format!(
        "{}&tlsCertificateKeyFile={}",
        tls_options(&pki.path("ca.pem")),
        pki.path("client.pem").display()
    );
    let anonymous = client(&server, &with_cert).await;
    ping(&anonymous).await.unwrap();
    anonymous
        .database("admin")
        .run_command(doc! {"createUser": "root", "pwd": "pw-tls", "roles": ["root"]})
        .await
        .unwrap();
    for mechanism in ["SCRAM-SHA-256", "PLAIN"] {
        let source = if mechanism == "PLAIN" {
            "$external"
        } else {
            "admin"
        };
        let uri_extra = format!("{with_cert}&authMechanism={mechanism}&authSource={source}");
        let uri = format!(
            "mongodb://root:pw-tls@{}/?directConnection=true&serverSelectionTimeoutMS={SERVER_SELECTION_TIMEOUT_MS}{uri_extra}",
            server.addr()
        );
        let logged_in = Client::with_options(ClientOptions::parse(uri).await.unwrap()).unwrap();
        logged_in
            .database("shop")
            .collection::<Document>("items")
            .insert_one(doc! {"by": mechanism})
            .await
            .unwrap_or_else(|e| panic!("{mechanism}: {e}"));
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_configuration_errors_stop_the_start() {
    let pki = Pki::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let no_key = Config {
        tls_key_file: None,
        ..pki.config(Some(TlsMode::Require), false)
    };
    let error = outpost_server::Server::builder()
        .config(no_key)
        .start_on(listener)
        .await
        .err()
        .expect("a certificate without a key cannot start");
    assert!(error.to_string().contains("--tls-key-file"), "{error}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let wrong_key = Config {
        tls_key_file: Some(pki.path("ca.pem")),
        ..pki.config(Some(TlsMode::Require), false)
    };
    assert!(outpost_server::Server::builder()
        .config(wrong_key)
        .start_on(listener)
        .await
        .is_err());
    // The client side the edge's hub link can use: a private CA, or a missing file's error.
    assert!(outpost_server::tls::client_config(Some(&pki.path("ca.pem"))).is_ok());
    assert!(outpost_server::tls::client_config(Some(&pki.path("missing.pem"))).is_err());
    assert!(outpost_server::tls::client_config(None).is_ok());
}

/// Polls `check` every 20 ms until it gives a value, failing after 20 s.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// An edge server syncing with `hub_uri`; `ca_file` is its `hub_tls_ca_file` setting.
async fn start_edge(
    dir: &Path,
    hub_uri: String,
    key: &str,
    ca_file: Option<PathBuf>,
) -> TestServer {
    TestServer::start_with(Config {
        dbpath: Some(dir.to_path_buf()),
        hub: Some(hub_uri),
        hub_tls_ca_file: ca_file,
        registration_key: Some(key.to_string()),
        sync_interval_ms: 20,
        sync_max_backoff_ms: 200,
        sync_timeout_ms: 5_000,
        ..Config::default()
    })
    .await
}

/// Edges sync with a TLS-only hub when their hub URI says `tls=true`, trusting its private CA
/// through `tlsCAFile` in the URI or the `hub_tls_ca_file` setting; an edge with a plain URI,
/// or one that does not trust the CA, is refused and keeps serving locally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edges_sync_with_a_tls_hub_and_plain_edges_are_refused() {
    let pki = Pki::new();
    let hub = TestServer::start_with(Config {
        hub_mode: true,
        ..pki.config(Some(TlsMode::Require), false)
    })
    .await;
    let admin = client(&hub, &tls_options(&pki.path("ca.pem"))).await;
    let hub_items = admin.database("shop").collection::<Document>("items");
    let ca = pki.path("ca.pem");
    let addr = hub.addr();
    // (hub URI, hub_tls_ca_file, syncs)
    let cases = [
        (
            format!("mongodb://{addr}/?tls=true&tlsCAFile={}", ca.display()),
            None,
            true,
        ),
        (
            format!("mongodb://{addr}/?ssl=true"),
            Some(ca.clone()),
            true,
        ),
        (format!("mongodb://{addr}"), None, false),
        (format!("mongodb://{addr}/?tls=true"), None, false),
    ];
    for (number, (uri, ca_file, syncs)) in cases.into_iter().enumerate() {
        let created = admin
            .database("admin")
            .run_command(doc! {"outpostHubCreateEdge": 1, "name": format!("edge-{number}"), "defaultDb": "shop"})
            .await
            .unwrap();
        let key = created.get_str("registration_key").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let edge = start_edge(dir.path(), uri.clone(), key, ca_file).await;
        // Edge Server syncs documents with ObjectId `_id`s.
        let (id, from_hub) = (ObjectId::new(), ObjectId::new());
        edge.db("shop")
            .collection::<Document>("items")
            .insert_one(doc! {"_id": id, "hubUri": &uri})
            .await
            .unwrap();
        if syncs {
            eventually(
                &format!("{uri}: the edge's write reaches the hub"),
                || async { hub_items.find_one(doc! {"_id": id}).await.unwrap() },
            )
            .await;
            hub_items.insert_one(doc! {"_id": from_hub}).await.unwrap();
            let edge_items = edge.db("shop").collection::<Document>("items");
            eventually(
                &format!("{uri}: the hub's write reaches the edge"),
                || async { edge_items.find_one(doc! {"_id": from_hub}).await.unwrap() },
            )
            .await;
        } else {
            let status = eventually(&format!("{uri}: the edge reports the failure"), || async {
                let status = edge
                    .db("admin")
                    .run_command(doc! {"outpostSyncStatus": 1})
                    .await
                    .unwrap();
                status.get_str("lastError").is_ok().then_some(status)
            })
            .await;
            assert_eq!(status.get_bool("connected"), Ok(false), "{status}");
            assert!(
                status.get("edgeId").unwrap().as_null().is_some(),
                "{status}"
            );
            assert_eq!(hub_items.find_one(doc! {"_id": id}).await.unwrap(), None);
            // The edge still serves its local data.
            let local = edge.db("shop").collection::<Document>("items");
            assert!(local.find_one(doc! {"_id": id}).await.unwrap().is_some());
        }
        edge.shutdown().await;
    }
    hub.shutdown().await;
}

/// A hub open to the internet runs with TLS and `--auth` together: edges sync over TLS with
/// their API keys, and Outpost's own client (`outpost hub edge ...`, `outpost status`) logs in
/// with SCRAM from the user and password in its hub address; without them, or with a wrong
/// password, it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_with_tls_and_auth_syncs_edges_and_admits_its_command_line_client_by_password() {
    use outpost_server::hub::client::HubClient;
    use outpost_sync::Error as SyncError;
    let pki = Pki::new();
    let hub = TestServer::start_with(Config {
        hub_mode: true,
        auth: true,
        ..pki.config(Some(TlsMode::Require), false)
    })
    .await;
    let ca = pki.path("ca.pem");
    let addr = hub.addr();
    let hub_uri = |userinfo: &str| {
        format!(
            "mongodb://{userinfo}{addr}/?tls=true&tlsCAFile={}",
            ca.display()
        )
    };
    let driver = |userinfo: &str| {
        let uri = format!(
            "{}&directConnection=true&serverSelectionTimeoutMS={SERVER_SELECTION_TIMEOUT_MS}",
            hub_uri(userinfo)
        );
        async move { Client::with_options(ClientOptions::parse(uri).await.unwrap()).unwrap() }
    };
    // The first user through the localhost exception; it creates the operator.
    driver("")
        .await
        .database("admin")
        .run_command(doc! {"createUser": "root", "pwd": "pw-root", "roles": ["root"]})
        .await
        .unwrap();
    let root = driver("root:pw-root@").await;
    root.database("admin")
        .run_command(doc! {"createUser": "ops", "pwd": "p@ss:w/rd", "roles": ["hubAdmin"]})
        .await
        .unwrap();
    let run = |uri: String, command: Document| {
        tokio::task::spawn_blocking(move || {
            HubClient::connect(&uri, std::time::Duration::from_secs(10))
                .and_then(|mut client| client.command(command))
        })
    };
    // The password is percent-encoded in the address, as in any MongoDB connection string.
    let ops = hub_uri("ops:p%40ss%3Aw%2Frd@");
    let created = run(
        ops.clone(),
        doc! {"outpostHubCreateEdge": 1, "name": "store-1", "defaultDb": "shop"},
    )
    .await
    .unwrap()
    .unwrap();
    let key = created.get_str("registration_key").unwrap().to_owned();
    let listed = run(
        format!("{ops}&authMechanism=SCRAM-SHA-1"),
        doc! {"outpostHubListEdges": 1},
    )
    .await
    .unwrap()
    .unwrap();
    assert!(listed.to_string().contains("store-1"), "{listed}");
    let anonymous = run(hub_uri(""), doc! {"outpostHubListEdges": 1})
        .await
        .unwrap();
    assert!(
        matches!(anonymous, Err(SyncError::Coded { code: 13, .. })),
        "{anonymous:?}"
    );
    let wrong = run(hub_uri("ops:wrong@"), doc! {"outpostHubListEdges": 1})
        .await
        .unwrap();
    assert!(
        matches!(wrong, Err(SyncError::Unauthorized(_))),
        "{wrong:?}"
    );

    // The edge syncs over TLS with its API key (no user name in its hub address).
    let dir = tempfile::tempdir().unwrap();
    let edge = start_edge(dir.path(), hub_uri(""), &key, None).await;
    let (id, from_hub) = (ObjectId::new(), ObjectId::new());
    let edge_items = edge.db("shop").collection::<Document>("items");
    edge_items.insert_one(doc! {"_id": id}).await.unwrap();
    let hub_items = root.database("shop").collection::<Document>("items");
    eventually("the edge's write reaches the hub", || async {
        hub_items.find_one(doc! {"_id": id}).await.unwrap()
    })
    .await;
    hub_items.insert_one(doc! {"_id": from_hub}).await.unwrap();
    eventually("the hub's write reaches the edge", || async {
        edge_items.find_one(doc! {"_id": from_hub}).await.unwrap()
    })
    .await;
    edge.shutdown().await;
    hub.shutdown().await;
}
