//! An edge's own `/metrics` and `/healthz` (`metrics_port`) over real HTTP: servers in this
//! process on 127.0.0.1:0, driven with the official `mongodb` driver, scraped with hyper's
//! client, the exposition parsed as Prometheus reads it (every sample `name{labels} value`
//! under its family's HELP and TYPE). Counters are checked by the amounts the operations
//! move them and against `serverStatus`; sync is polled with a bounded deadline.

mod processes;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bson::{doc, Document};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use mongodb::options::ClientOptions;
use outpost_server::hub::client::HubClient;
use outpost_server::{Config, Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const DEADLINE: Duration = Duration::from_secs(30);

async fn start(config: Config) -> ServerHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Server::builder()
        .config(config)
        .start_on(listener)
        .await
        .unwrap()
}

async fn driver(server: &ServerHandle) -> mongodb::Client {
    let uri = format!(
        "mongodb://{}/?directConnection=true&serverSelectionTimeoutMS=5000",
        server.local_addr()
    );
    let options = ClientOptions::parse(uri).await.unwrap();
    mongodb::Client::with_options(options).unwrap()
}

/// `GET path` on the metrics port: status, content type and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    request(addr, "GET", path).await
}

async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let client = HttpClient::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let request = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(Empty::new())
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// A parsed exposition: each series (`name{k="v",...}`, labels sorted) and its value.
#[derive(Debug)]
struct Scrape {
    series: BTreeMap<String, f64>,
}

impl Scrape {
    fn value(&self, series: &str) -> f64 {
        *self
            .series
            .get(series)
            .unwrap_or_else(|| panic!("no series {series} in {:#?}", self.series))
    }

    fn has(&self, series: &str) -> bool {
        self.series.contains_key(series)
    }
}

async fn scrape(addr: SocketAddr) -> Scrape {
    let (status, content_type, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    parse(&body)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Prometheus' text format, strictly: HELP then TYPE before a family's samples, valid names,
/// quoted and escaped label values, a float value; counters end in `_total`; no series twice.
fn parse(text: &str) -> Scrape {
    let mut help: HashMap<String, String> = HashMap::new();
    let mut kinds: HashMap<String, String> = HashMap::new();
    let mut series = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').expect(line);
            assert!(valid_name(name), "{line}");
            assert!(!text.is_empty(), "{line}");
            assert!(
                help.insert(name.into(), text.into()).is_none(),
                "two HELP: {line}"
            );
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(line);
            assert!(help.contains_key(name), "TYPE before HELP: {line}");
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter without _total: {line}");
            }
            assert!(kinds.insert(name.into(), kind.into()).is_none(), "{line}");
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (key, value) = parse_sample(line);
        let name = key.split('{').next().unwrap();
        assert!(kinds.contains_key(name), "sample before its TYPE: {line}");
        assert!(name.starts_with("outpost_edge_"), "{line}");
        assert!(series.insert(key, value).is_none(), "series twice: {line}");
    }
    assert!(!series.is_empty(), "no samples:\n{text}");
    Scrape { series }
}

/// `name{k="v",...} value` -> (`name{k="v",...}` with sorted labels, value).
fn parse_sample(line: &str) -> (String, f64) {
    let name_end = line.find(['{', ' ']).expect(line);
    let name = &line[..name_end];
    assert!(valid_name(name), "{line}");
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (label, after) = rest.split_once("=\"").expect(line);
            assert!(valid_name(label), "{line}");
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next().expect(line) {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().expect(line).1 {
                        'n' => value.push('\n'),
                        c @ ('\\' | '"') => value.push(c),
                        other => panic!("bad escape \\{other} in {line}"),
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.push(format!("{label}={value:?}"));
            rest = &after[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }
    let value = rest.strip_prefix(' ').expect(line);
    let value: f64 = match value {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        number => number
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}")),
    };
    labels.sort();
    let key = if labels.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{}}}", labels.join(","))
    };
    (key, value)
}

fn op(kind: &str) -> String {
    format!("outpost_edge_opcounters_total{{type=\"{kind}\"}}")
}

fn wire(result: &str) -> String {
    format!("outpost_edge_wire_protocol_requests_total{{result=\"{result}\"}}")
}

fn sync_requests(result: &str) -> String {
    format!("outpost_edge_sync_requests_total{{result=\"{result}\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_the_driver_did_and_health_answers() {
    let server = start(Config {
        dbpath: None,
        metrics_port: Some(0),
        ..Config::default()
    })
    .await;
    let metrics = server.metrics_addr().expect("a metrics port was asked for");
    assert_eq!(metrics.ip(), server.local_addr().ip());
    assert_ne!(metrics.port(), 0);
    assert_ne!(metrics.port(), server.local_addr().port());

    let client = driver(&server).await;
    let items = client.database("shop").collection::<Document>("items");
    // Connect (and warm up) before the first scrape, so the deltas are only ours.
    items.find_one(doc! {}).await.unwrap();
    let before = scrape(metrics).await;

    items
        .insert_many(vec![doc! {"n": 1}, doc! {"n": 2}, doc! {"n": 3}])
        .await
        .unwrap();
    items.insert_one(doc! {"n": 4}).await.unwrap();
    items
        .update_many(doc! {"n": {"$gte": 3}}, doc! {"$set": {"big": true}})
        .await
        .unwrap();
    items.delete_one(doc! {"n": 1}).await.unwrap();
    let found = items.find_one(doc! {"n": 2}).await.unwrap().unwrap();
    assert_eq!(found.get_i32("n").unwrap(), 2);
    let failed = client
        .database("shop")
        .run_command(doc! {"noSuchCommand": 1})
        .await;
    assert!(failed.is_err());
    let after = scrape(metrics).await;

    let delta = |series: &str| after.value(series) - before.value(series);
    // Documents inserted, update and delete statements, finds: serverStatus' opcounters.
    assert_eq!(delta(&op("insert")), 4.0);
    assert_eq!(delta(&op("update")), 1.0);
    assert_eq!(delta(&op("delete")), 1.0);
    assert_eq!(delta(&op("query")), 1.0);
    // One command failed; at least our five others succeeded (the driver's monitor adds hellos).
    assert_eq!(delta(&wire("fail")), 1.0);
    assert!(delta(&wire("success")) >= 5.0, "{after:?}");
    let overall =
        |result: &str| format!("outpost_edge_overall_requests_total{{result=\"{result}\"}}");
    assert_eq!(after.value(&overall("fail")), after.value(&wire("fail")));
    assert_eq!(
        after.value(&overall("success")),
        after.value(&wire("success"))
    );
    assert!(delta("outpost_edge_wire_protocol_egress_bytes_total") > 0.0);
    assert!(delta("outpost_edge_wire_protocol_ingress_bytes_total") > 0.0);
    assert!(delta("outpost_edge_wire_protocol_messages_total") >= 6.0);
    assert!(after.value("outpost_edge_wire_protocol_connections") >= 1.0);
    assert!(after.value("outpost_edge_uptime_seconds") >= 0.0);
    assert!(after.has(&format!(
        "outpost_edge_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    )));
    let memory = after.value("outpost_edge_host_memory_percent");
    assert!(memory > 0.0 && memory <= 100.0, "{memory}");
    assert!(after.value("outpost_edge_process_resident_memory_bytes") > 0.0);
    assert!(after.has("outpost_edge_process_cpu_seconds_total"));
    // No sync configured: the sync families are there, at 0.
    assert_eq!(after.value("outpost_edge_sync_configured"), 0.0);
    assert_eq!(after.value("outpost_edge_sync_connected"), 0.0);
    assert_eq!(after.value(&sync_requests("success")), 0.0);
    assert!(!after.has("outpost_edge_sync_last_success_age_seconds"));

    // The same counters as serverStatus: nothing but serverStatus ran in between, and it
    // counts as a command, not an insert or a query.
    let status = client
        .database("admin")
        .run_command(doc! {"serverStatus": 1})
        .await
        .unwrap();
    let scraped = scrape(metrics).await;
    let opcounters = status.get_document("opcounters").unwrap();
    for kind in ["insert", "query", "update", "delete", "getmore"] {
        assert_eq!(
            scraped.value(&op(kind)),
            opcounters.get_i64(kind).unwrap() as f64,
            "{kind}: {status}"
        );
    }
    // Scraping is not a wire request: two scrapes in a row leave the opcounters alone.
    let again = scrape(metrics).await;
    for kind in ["insert", "query", "update", "delete", "getmore", "command"] {
        assert_eq!(again.value(&op(kind)), scraped.value(&op(kind)));
    }

    let (status, _, body) = get(metrics, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _, body) = get(metrics, "/nothing/here").await;
    assert_eq!(status, 404, "{body}");
    let (status, _, _) = request(metrics, "POST", "/metrics").await;
    assert_eq!(status, 405);

    server.shutdown().await.unwrap();
}

/// Sends raw bytes to the metrics port; what it answered (until it closed the connection).
async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before reading everything: a failed write is fine.
    let _ = stream.write_all(bytes).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_errors_and_the_port_keeps_serving() {
    let server = start(Config {
        dbpath: None,
        metrics_port: Some(0),
        ..Config::default()
    })
    .await;
    let metrics = server.metrics_addr().unwrap();

    let garbage = raw(metrics, b"\x16\x03\x01\x00\xff garbage\r\n\r\n").await;
    assert!(
        garbage.is_empty() || garbage.starts_with("HTTP/1.1 400"),
        "{garbage}"
    );
    // A head past 8 KiB is refused, not buffered.
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let answer = raw(metrics, huge.as_bytes()).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    // A client that connects and says nothing holds only its own connection.
    let _silent = TcpStream::connect(metrics).await.unwrap();
    let answer = raw(metrics, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok\n"), "{answer}");
    // One request per connection: the server closes it after answering (raw() read to EOF).
    let answer = raw(metrics, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(
        answer.contains("outpost_edge_wire_protocol_connections "),
        "{answer}"
    );
    // The wire port was never disturbed.
    let client = driver(&server).await;
    client
        .database("admin")
        .run_command(doc! {"ping": 1})
        .await
        .unwrap();
    server.shutdown().await.unwrap();
}

/// One command over a fresh wire connection (blocking client, off the async workers).
async fn command(server: &ServerHandle, body: Document) -> Document {
    let uri = format!("mongodb://{}", server.local_addr());
    tokio::task::spawn_blocking(move || {
        HubClient::connect(&uri, Duration::from_secs(5))
            .unwrap()
            .command_on("admin", body)
            .unwrap()
    })
    .await
    .unwrap()
}

/// Scrapes until `done` holds, or fails at the deadline.
async fn wait_for(addr: SocketAddr, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let start = Instant::now();
    loop {
        let scrape = scrape(addr).await;
        if done(&scrape) {
            return scrape;
        }
        assert!(start.elapsed() < DEADLINE, "never {what}: {scrape:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_metrics_follow_the_edges_exchanges_with_its_hub() {
    let hub = start(Config {
        dbpath: None,
        hub_mode: true,
        shutdown_timeout_secs: 1,
        ..Config::default()
    })
    .await;
    let created = command(
        &hub,
        doc! {"outpostHubCreateEdge": 1, "name": "store-1", "defaultDb": "shop"},
    )
    .await;
    let key = created.get_str("registration_key").unwrap().to_string();
    let data = tempfile::tempdir().unwrap();
    let edge = start(Config {
        dbpath: Some(data.path().to_path_buf()),
        hub: Some(format!("mongodb://{}", hub.local_addr())),
        registration_key: Some(key),
        metrics_port: Some(0),
        sync_interval_ms: 20,
        sync_max_backoff_ms: 200,
        sync_timeout_ms: 5_000,
        ..Config::default()
    })
    .await;
    let metrics = edge.metrics_addr().unwrap();

    let client = driver(&edge).await;
    let items = client.database("shop").collection::<Document>("items");
    items
        .insert_many((0..5).map(|n| doc! {"_id": bson::oid::ObjectId::new(), "n": n}))
        .await
        .unwrap();
    let synced = wait_for(metrics, "uploaded the five inserts", |s| {
        s.value("outpost_edge_sync_uploaded_changes_total") >= 5.0
            && s.value("outpost_edge_sync_upload_backlog_changes") == 0.0
            && s.has("outpost_edge_sync_hub_status{status=\"active\"}")
    })
    .await;
    assert_eq!(synced.value("outpost_edge_sync_configured"), 1.0);
    assert_eq!(synced.value("outpost_edge_sync_connected"), 1.0);
    assert_eq!(synced.value("outpost_edge_sync_refused"), 0.0);
    assert!(synced.value(&sync_requests("success")) >= 1.0);
    assert!(synced.value("outpost_edge_sync_sent_bytes_total") > 0.0);
    assert!(synced.value("outpost_edge_sync_received_bytes_total") > 0.0);
    let age = synced.value("outpost_edge_sync_last_success_age_seconds");
    assert!((0.0..DEADLINE.as_secs_f64()).contains(&age), "{age}");
    // Overall = wire protocol + sync.
    for result in ["success", "fail"] {
        assert_eq!(
            synced.value(&format!(
                "outpost_edge_overall_requests_total{{result=\"{result}\"}}"
            )),
            synced.value(&wire(result)) + synced.value(&sync_requests(result)),
        );
    }
    // The same counters serverStatus.sync shows: read after the scrape, never behind it.
    let status = client
        .database("admin")
        .run_command(doc! {"serverStatus": 1})
        .await
        .unwrap();
    let sync = status.get_document("sync").unwrap();
    assert!(sync.get_i64("uploadedChanges").unwrap() as f64 >= 5.0);
    assert!(
        sync.get_i64("bytesSent").unwrap() as f64
            >= synced.value("outpost_edge_sync_sent_bytes_total")
    );
    assert!(
        sync.get_i64("requestsSucceeded").unwrap() as f64
            >= synced.value(&sync_requests("success"))
    );

    // The hub stops: the edge keeps serving, healthy, and its sync shows disconnected.
    hub.shutdown().await.unwrap();
    wait_for(metrics, "disconnected", |s| {
        s.value("outpost_edge_sync_connected") == 0.0 && s.value(&sync_requests("fail")) >= 1.0
    })
    .await;
    let (status, _, body) = get(metrics, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    edge.shutdown().await.unwrap();
}

/// `GET path` over a plain blocking socket: the whole answer (the port closes after one).
fn blocking_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// The `outpost` binary: `--metrics-port` and the config file's `metrics_port`.
#[test]
fn the_binary_serves_metrics_on_the_flags_or_the_config_files_port() {
    let dir = tempfile::tempdir().unwrap();
    for via_config_file in [false, true] {
        let (port, metrics) = (processes::free_port(), processes::free_port());
        let dbpath = dir.path().join(format!("data-{via_config_file}"));
        let mut args = vec![
            "serve".to_string(),
            "--port".into(),
            port.to_string(),
            "--dbpath".into(),
            dbpath.display().to_string(),
        ];
        if via_config_file {
            let config = dir.path().join("outpost.toml");
            std::fs::write(&config, format!("metrics_port = {metrics}\n")).unwrap();
            args.extend(["--config".into(), config.display().to_string()]);
        } else {
            args.extend(["--metrics-port".into(), metrics.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _server = processes::outpost(&args);
        // Answering on the wire port means started: the metrics port is bound before that.
        let mut client = processes::client(port);
        client
            .command_on(
                "shop",
                doc! {"insert": "items", "documents": [{"n": 1}, {"n": 2}]},
            )
            .unwrap();
        let health = blocking_get(metrics, "/healthz");
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        let answer = blocking_get(metrics, "/metrics");
        let body = answer.split_once("\r\n\r\n").unwrap().1;
        let scrape = parse(body);
        assert_eq!(
            scrape.value(&op("insert")),
            2.0,
            "config file: {via_config_file}"
        );
    }
}
