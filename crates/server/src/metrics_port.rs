//! The server's own `/metrics` (Prometheus' text format) and `/healthz` on `metrics_port`
//! (`outpost serve --metrics-port N`), for a local Prometheus: plain HTTP without
//! authentication, on the wire port's bind address and with its TLS when it has some.
//!
//! Every value comes from the counters `serverStatus` and the edge's reports to its hub read
//! (`metrics.rs`, the sync status, `hub/report.rs`): no second set of counters. Metric names
//! are `outpost_edge_*` (the names the hub's `/metrics` uses for its fleet, `outpost_edge_status`,
//! `outpost_edge_last_connection_age_seconds` and `outpost_edge_metric`, are not used here).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State as AxumState;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::hub::report::{self, Requests};
use crate::metrics::Metrics;
use crate::prometheus::{Kind, Text, Value};
use crate::server::StartError;
use crate::state::State;

/// How long `/healthz` waits for its storage read before answering 503.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// The metrics port's bounds: requests are a line and a few headers (a request's head past
/// 8 KiB is refused), one per connection, and a few scrapers at a time.
const LIMITS: crate::http::Limits = crate::http::Limits {
    name: "metrics",
    header_timeout: Duration::from_secs(10),
    max_head_bytes: Some(8_192),
    keep_alive: false,
    max_connections: Some(64),
};

/// Serves `/metrics` and `/healthz` on `metrics_port` when configured: same address as the
/// wire port, same TLS. The address it listens on is logged (`serving /metrics, /healthz`) and
/// returned.
pub(crate) async fn start(
    state: &Arc<State>,
    tls: Option<crate::tls::Acceptor>,
    shutdown: watch::Receiver<bool>,
) -> Result<Option<SocketAddr>, StartError> {
    let Some(port) = state.config.metrics_port else {
        return Ok(None);
    };
    let addr = SocketAddr::new(state.local_addr.ip(), port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let metrics_addr = listener.local_addr()?;
    let tls_on = tls.is_some();
    tokio::spawn(crate::http::serve(
        listener,
        tls,
        router(state.clone()),
        LIMITS,
        shutdown,
    ));
    tracing::info!(address = %metrics_addr, tls = tls_on, "serving /metrics, /healthz");
    Ok(Some(metrics_addr))
}

fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/metrics", get(prometheus))
        .route("/healthz", get(healthz))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found: try /metrics or /healthz\n",
            )
        })
        .with_state(state)
}

async fn prometheus(AxumState(state): AxumState<Arc<State>>) -> Response {
    let text = render(&state, bson::DateTime::now());
    ([(CONTENT_TYPE, crate::prometheus::CONTENT_TYPE)], text).into_response()
}

/// `GET /healthz`: 200 `ok` while the server serves and its storage answers a read; 503 with
/// the reason otherwise.
async fn healthz(AxumState(state): AxumState<Arc<State>>) -> Response {
    let (status, body) = match health(&state).await {
        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unavailable: {reason}\n"),
        ),
    };
    (status, [(CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn health(state: &Arc<State>) -> Result<(), String> {
    if state
        .shutting_down
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        return Err("shutting down".into());
    }
    // A real read of the store (the oldest history entry's key; the newest one's clock is
    // kept in memory by each commit), on the command threads like any command (so a stuck
    // pool shows here too).
    let storage = state.storage.clone();
    let read = state.commands.run(move || storage.first_seq());
    match tokio::time::timeout(HEALTH_TIMEOUT, read).await {
        Ok(Ok(Ok(_))) => Ok(()),
        Ok(Ok(Err(error))) => Err(format!("storage read failed: {error}")),
        Ok(Err(error)) => Err(format!("storage read did not finish: {error}")),
        Err(_) => Err(format!(
            "storage did not answer within {} s",
            HEALTH_TIMEOUT.as_secs()
        )),
    }
}

/// The whole exposition at `now`.
fn render(state: &State, now: bson::DateTime) -> String {
    let mut text = Text::new();
    let sync = state.sync_status.as_ref().map(|status| {
        status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    });
    server_families(&mut text, state, sync.as_ref());
    host_families(&mut text);
    sync_families(&mut text, state.config.hub.is_some(), sync.as_ref(), now);
    text.finish()
}

/// `name{result="success"} ok` and `name{result="fail"} failed`.
fn outcomes(text: &mut Text, name: &str, help: &str, (ok, failed): (i64, i64)) {
    text.family(name, Kind::Counter, help)
        .sample(name, &[("result", "success")], ok)
        .sample(name, &[("result", "fail")], failed);
}

/// Families of one sample without labels: name, type, help, value.
fn singles(text: &mut Text, families: Vec<(&str, Kind, &str, Value)>) {
    for (name, kind, help, value) in families {
        text.single(name, kind, help, value);
    }
}

/// Requests, bytes, connections and operation counters: `serverStatus`' counters.
fn server_families(text: &mut Text, state: &State, sync: Option<&outpost_sync::SyncStatus>) {
    let m = &state.metrics;
    let name = "outpost_edge_build_info";
    text.family(name, Kind::Gauge, "1, labelled with the server's version.")
        .sample(name, &[("version", env!("CARGO_PKG_VERSION"))], 1_i64);
    let requests = Requests::read(m, sync);
    outcomes(
        text,
        "outpost_edge_overall_requests_total",
        "Wire-protocol commands and exchanges with the hub, by outcome.",
        (requests.overall_succeeded(), requests.overall_failed()),
    );
    outcomes(
        text,
        "outpost_edge_wire_protocol_requests_total",
        "Wire-protocol commands that answered ok: 1 (success) or an error (fail).",
        (requests.wire_succeeded, requests.wire_failed),
    );
    let get = |counter: &std::sync::atomic::AtomicU64| Value::from(Metrics::get(counter));
    let cursors = i64::try_from(state.cursors.len()).unwrap_or(i64::MAX);
    singles(
        text,
        vec![
            (
                "outpost_edge_uptime_seconds",
                Kind::Gauge,
                "Seconds since the server started.",
                state.started.elapsed().as_secs_f64().into(),
            ),
            (
                "outpost_edge_wire_protocol_egress_bytes_total",
                Kind::Counter,
                "Bytes written to wire-protocol clients (serverStatus network.bytesOut).",
                get(&m.network_bytes_out),
            ),
            (
                "outpost_edge_wire_protocol_ingress_bytes_total",
                Kind::Counter,
                "Bytes read from wire-protocol clients (serverStatus network.bytesIn).",
                get(&m.network_bytes_in),
            ),
            (
                "outpost_edge_wire_protocol_messages_total",
                Kind::Counter,
                "Wire-protocol requests read (serverStatus network.numRequests).",
                get(&m.network_requests),
            ),
            (
                "outpost_edge_wire_protocol_connections",
                Kind::Gauge,
                "Open wire-protocol connections (serverStatus connections.current).",
                get(&m.connections_current),
            ),
            (
                "outpost_edge_wire_protocol_connections_created_total",
                Kind::Counter,
                "Wire-protocol connections accepted (serverStatus connections.totalCreated).",
                get(&m.connections_total),
            ),
            (
                "outpost_edge_wire_protocol_connections_rejected_total",
                Kind::Counter,
                "Wire-protocol connections closed at once because max_conns were open.",
                get(&m.connections_rejected),
            ),
            (
                "outpost_edge_open_cursors",
                Kind::Gauge,
                "Open cursors (serverStatus metrics.cursor.open.total).",
                cursors.into(),
            ),
        ],
    );
    let name = "outpost_edge_opcounters_total";
    text.family(
        name,
        Kind::Counter,
        "Operations by type, as serverStatus opcounters.",
    );
    for (kind, counter) in [
        ("insert", &m.op_insert),
        ("query", &m.op_query),
        ("update", &m.op_update),
        ("delete", &m.op_delete),
        ("getmore", &m.op_getmore),
        ("command", &m.op_command),
    ] {
        text.sample(name, &[("type", kind)], Metrics::get(counter));
    }
}

/// The host's and the process' memory and CPU, as the edge reports them to its hub; absent
/// where `/proc` cannot be read.
fn host_families(text: &mut Text) {
    let mut families = Vec::new();
    if let Some(percent) = report::host_memory_percent() {
        families.push((
            "outpost_edge_host_memory_percent",
            Kind::Gauge,
            "Share of the host's memory in use, percent (1 - MemAvailable / MemTotal).",
            percent.into(),
        ));
    }
    if let Some(bytes) = report::process_resident_bytes() {
        families.push((
            "outpost_edge_process_resident_memory_bytes",
            Kind::Gauge,
            "The server process' resident memory.",
            bytes.into(),
        ));
    }
    if let Some(seconds) = report::process_cpu_seconds() {
        families.push((
            "outpost_edge_process_cpu_seconds_total",
            Kind::Counter,
            "CPU time the server process used; rate() * 100: the CPU percent the hub gets.",
            seconds.into(),
        ));
    }
    singles(text, families);
}

/// Sync with the hub: the sync status (`serverStatus.sync`). Without sync configured every
/// family is still there, at 0.
fn sync_families(
    text: &mut Text,
    configured: bool,
    sync: Option<&outpost_sync::SyncStatus>,
    now: bson::DateTime,
) {
    let of = |field: fn(&outpost_sync::SyncStatus) -> u64| Value::from(sync.map_or(0, field));
    let mut families = vec![
        (
            "outpost_edge_sync_configured",
            Kind::Gauge,
            "1 when the server syncs with a hub (--hub).",
            Value::from(configured),
        ),
        (
            "outpost_edge_sync_connected",
            Kind::Gauge,
            "1 while the edge's sync is connected to its hub.",
            sync.is_some_and(|s| s.connected).into(),
        ),
        (
            "outpost_edge_sync_refused",
            Kind::Gauge,
            "1 while the hub refuses the edge's credentials (it serves locally and retries).",
            sync.is_some_and(|s| s.failed).into(),
        ),
        (
            "outpost_edge_sync_upload_backlog_changes",
            Kind::Gauge,
            "Local changes not yet uploaded to the hub, as of the last upload pass.",
            of(|s| s.upload_backlog_entries),
        ),
        (
            "outpost_edge_sync_upload_backlog_bytes",
            Kind::Gauge,
            "Size of the local changes not yet uploaded, as of the last upload pass.",
            of(|s| s.upload_backlog_bytes),
        ),
        (
            "outpost_edge_sync_download_lag_changes",
            Kind::Gauge,
            "Hub changes not yet downloaded, as the hub last said.",
            of(|s| s.download_lag_entries),
        ),
        (
            "outpost_edge_sync_uploaded_changes_total",
            Kind::Counter,
            "Local changes the hub acknowledged.",
            of(|s| s.uploaded),
        ),
        (
            "outpost_edge_sync_downloaded_changes_total",
            Kind::Counter,
            "Hub changes applied locally.",
            of(|s| s.downloaded),
        ),
        (
            "outpost_edge_sync_sent_bytes_total",
            Kind::Counter,
            "Bytes sent to the hub, as on the wire.",
            of(|s| s.link_bytes.sent()),
        ),
        (
            "outpost_edge_sync_received_bytes_total",
            Kind::Counter,
            "Bytes received from the hub, as on the wire.",
            of(|s| s.link_bytes.received()),
        ),
    ];
    if let Some(last) = sync.and_then(|s| s.last_success) {
        let age_ms = now
            .timestamp_millis()
            .saturating_sub(last.timestamp_millis());
        families.push((
            "outpost_edge_sync_last_success_age_seconds",
            Kind::Gauge,
            "Seconds since the last successful exchange with the hub (absent before the first).",
            Value::Float(Duration::from_millis(age_ms.max(0).unsigned_abs()).as_secs_f64()),
        ));
    }
    singles(text, families);
    let requests = sync.map_or((0, 0), |s| (s.requests_succeeded, s.requests_failed));
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    outcomes(
        text,
        "outpost_edge_sync_requests_total",
        "Exchanges with the hub, by outcome.",
        (count(requests.0), count(requests.1)),
    );
    if let Some((status, _)) = sync.and_then(|s| s.hub_status.as_ref()) {
        let name = "outpost_edge_sync_hub_status";
        text.family(
            name,
            Kind::Gauge,
            "1 for the instance's status as the hub last said it.",
        )
        .sample(name, &[("status", status)], 1_i64);
    }
}
