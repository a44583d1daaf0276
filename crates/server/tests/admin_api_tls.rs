//! The hub's Admin API over TLS: the wire port's TLS settings (certificate, `require`) apply to
//! the HTTP port. A private CA and a server certificate are made at run time; the client
//! verifies the hub's certificate against that CA (rustls, as `curl --cacert` would).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bson::doc;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use outpost_server::hub::client::HubClient;
use outpost_server::{Config, Server, ServerHandle, TlsMode};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};

/// Writes `ca.pem`, `server.pem` and `server-key.pem` (for localhost and 127.0.0.1).
fn make_certificates(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Outpost test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let server = params.signed_by(&server_key, &ca, &ca_key).unwrap();
    std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("server-key.pem"), server_key.serialize_pem()).unwrap();
}

/// One HTTPS request (a connection of its own); the status and the JSON body.
async fn https(
    addr: SocketAddr,
    ca: &Path,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, bytes) = https_bytes(addr, ca, method, path, token, body).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// One HTTPS request; the status and the body as it came.
async fn https_bytes(
    addr: SocketAddr,
    ca: &Path,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Bytes) {
    let config = outpost_server::tls::client_config(Some(ca)).unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("Host", "localhost");
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let body = body.map_or_else(Vec::new, |body| serde_json::to_vec(&body).unwrap());
    if !body.is_empty() {
        request = request.header("Content-Type", "application/json");
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_is_served_over_the_hubs_tls() {
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let path = |name: &str| -> PathBuf { dir.path().join(name) };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hub: ServerHandle = Server::builder()
        .config(Config {
            hub_mode: true,
            http_port: Some(0),
            dbpath: None,
            tls_mode: Some(TlsMode::Require),
            tls_cert_file: Some(path("server.pem")),
            tls_key_file: Some(path("server-key.pem")),
            ..Config::default()
        })
        .start_on(listener)
        .await
        .unwrap();
    let http = hub.http_addr().unwrap();
    let ca = path("ca.pem");

    // An API key over the wire port, itself TLS.
    let uri = format!(
        "mongodb://{}/?tls=true&tlsCAFile={}",
        hub.local_addr(),
        ca.display()
    );
    let key = tokio::task::spawn_blocking(move || {
        HubClient::connect(&uri, Duration::from_secs(5))
            .unwrap()
            .command(doc! {"outpostHubCreateApiKey": 1, "name": "ci"})
            .unwrap()
    })
    .await
    .unwrap();

    let (status, health) = https(http, &ca, "GET", "/healthz", None, None).await;
    assert_eq!((status, health), (200, json!({"status": "ok"})));
    let (status, login) = https(
        http,
        &ca,
        "POST",
        "/api/admin/v3.0/auth/providers/mongodb-cloud/login",
        None,
        Some(json!({
            "username": key.get_str("public_key").unwrap(),
            "apiKey": key.get_str("private_key").unwrap(),
        })),
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let token = login["access_token"].as_str().unwrap();
    let (status, groups) = https(
        http,
        &ca,
        "GET",
        "/api/admin/v3.0/groups",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{groups}");
    assert_eq!(groups[0]["name"], "Default");

    // Plain HTTP to the same port gets no answer: TLS is required there as on the wire port.
    let plain = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let refused = plain
        .request(
            hyper::Request::get(format!("http://{http}/healthz"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    hub.shutdown().await.unwrap();
}

/// A server's metrics port (`metrics_port`) speaks the wire port's TLS too: HTTPS with the
/// server's certificate, and no plain HTTP answer when TLS is required.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_port_is_served_over_the_servers_tls() {
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let path = |name: &str| -> PathBuf { dir.path().join(name) };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server: ServerHandle = Server::builder()
        .config(Config {
            metrics_port: Some(0),
            dbpath: None,
            tls_mode: Some(TlsMode::Require),
            tls_cert_file: Some(path("server.pem")),
            tls_key_file: Some(path("server-key.pem")),
            ..Config::default()
        })
        .start_on(listener)
        .await
        .unwrap();
    let metrics = server.metrics_addr().unwrap();
    let ca = path("ca.pem");
    let (status, body) = https_bytes(metrics, &ca, "GET", "/healthz", None, None).await;
    assert_eq!((status, &body[..]), (200, &b"ok\n"[..]));
    let (status, body) = https_bytes(metrics, &ca, "GET", "/metrics", None, None).await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.contains("# TYPE outpost_edge_opcounters_total counter"),
        "{text}"
    );

    let plain = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let refused = plain
        .request(
            hyper::Request::get(format!("http://{metrics}/healthz"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    server.shutdown().await.unwrap();
}
