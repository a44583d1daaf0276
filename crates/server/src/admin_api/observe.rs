//! What the hub shows of its edges beyond the registry: their log records (`.../logs`), their
//! metrics of the last hour (`.../edge/{id}/metrics/history`, Outpost's addition), what the
//! hub is (`/hub`, Outpost's addition: the console's install command needs its wire port),
//! and for monitoring `/metrics` (Prometheus' text format) and `/healthz`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Json;
use bson::DateTime;
use serde::{Deserialize, Serialize};

use super::edges::edge_of;
use super::error::{ApiError, ApiResult};
use super::ApiState;

/// Log records per page when the request does not say, and the most it may ask for.
const DEFAULT_LOG_LIMIT: usize = 100;
const MAX_LOG_LIMIT: usize = 1_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LogsQuery {
    user_id: Option<String>,
    /// Only this instance's records (Outpost's addition).
    edge_server_id: Option<String>,
    /// Only records of this level: `info`, `warn` or `error` (Outpost's addition).
    level: Option<String>,
    /// Atlas' filter: only `error` records.
    errors_only: Option<bool>,
    /// Records to skip (the previous page's `next_skip`).
    skip: Option<usize>,
    limit: Option<usize>,
}

#[derive(Serialize)]
pub(super) struct LogRecord {
    edge_server_id: String,
    /// `auth` or `sync`.
    #[serde(rename = "type")]
    kind: String,
    /// `info`, `warn` or `error` (Outpost's addition).
    level: String,
    user_id: Option<String>,
    time: String,
    message: String,
}

#[derive(Serialize)]
pub(super) struct LogPage {
    logs: Vec<LogRecord>,
    /// The `skip` of the next page; `null` on the last page.
    next_skip: Option<usize>,
}

/// `GET .../apps/{appId}/logs?user_id=&skip=&limit=`: the app's edges' log records, newest
/// first.
pub(super) async fn logs(
    State(state): State<Arc<ApiState>>,
    Path((group_id, app_id)): Path<(String, String)>,
    query: Result<Query<LogsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<LogPage>> {
    let Query(query) = query.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let app = state.groups.app(&group_id, &app_id)?;
    let limit = query.limit.unwrap_or(DEFAULT_LOG_LIMIT);
    if limit == 0 || limit > MAX_LOG_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LOG_LIMIT}"
        )));
    }
    let level = match (query.level.as_deref(), query.errors_only) {
        (Some(level), _) if !outpost_sync::LOG_LEVELS.contains(&level) => {
            return Err(ApiError::bad_request(format!(
                "unknown log level '{level}': expected 'info', 'warn' or 'error'"
            )))
        }
        (_, Some(true)) => Some("error"),
        (level, _) => level,
    };
    let mut all = Vec::new();
    for edge in state.hub.edge_records()? {
        if edge.app_id.as_deref() != Some(app.id.as_str())
            || query
                .edge_server_id
                .as_ref()
                .is_some_and(|wanted| *wanted != edge.id)
        {
            continue;
        }
        for log in state.hub.edge_logs(&edge.id, query.user_id.as_deref())? {
            if level.is_none_or(|level| log.level == level) {
                all.push((edge.id.clone(), log));
            }
        }
    }
    // Newest first across the app's edges.
    all.sort_by_key(|entry| std::cmp::Reverse(entry.1.time));
    let skip = query.skip.unwrap_or(0);
    let logs: Vec<LogRecord> = all
        .into_iter()
        .skip(skip)
        .take(limit.saturating_add(1))
        .map(|(edge_server_id, log)| LogRecord {
            edge_server_id,
            kind: log.kind,
            level: log.level,
            user_id: log.user_id,
            time: rfc3339(log.time),
            message: log.message,
        })
        .collect();
    let mut logs = logs;
    let next_skip = (logs.len() > limit).then(|| skip.saturating_add(limit));
    logs.truncate(limit);
    Ok(Json(LogPage { logs, next_skip }))
}

#[derive(Serialize)]
pub(super) struct MetricsHistory {
    window_seconds: i64,
    /// The instance's reports, oldest first.
    points: Vec<MetricsPoint>,
}

#[derive(Serialize)]
pub(super) struct MetricsPoint {
    time: String,
    /// Each reported metric's value, by key (the keys of the instance's `metrics`).
    metrics: BTreeMap<String, f64>,
}

/// `GET .../edge/{edgeServerId}/metrics/history` (Outpost's addition): what the instance
/// reported in the last hour.
pub(super) async fn metrics_history(
    State(state): State<Arc<ApiState>>,
    Path((group_id, app_id, edge_id)): Path<(String, String, String)>,
) -> ApiResult<Json<MetricsHistory>> {
    let app = state.groups.app(&group_id, &app_id)?;
    let record = edge_of(&state, &app, &edge_id)?;
    let points = state
        .hub
        .edge_metrics_history(&record.id, DateTime::now())
        .into_iter()
        .map(|point| MetricsPoint {
            time: rfc3339(point.time),
            metrics: point
                .metrics
                .into_iter()
                .map(|metric| (metric.key, metric.value))
                .collect(),
        })
        .collect();
    Ok(Json(MetricsHistory {
        window_seconds: outpost_sync::METRICS_HISTORY_MS / 1000,
        points,
    }))
}

/// What the hub is, for the console: its version and the wire port (and whether it takes
/// TLS) that edges connect to.
#[derive(Clone, Copy, Serialize)]
pub struct HubInfo {
    pub version: &'static str,
    pub wire_port: u16,
    pub tls: bool,
}

/// `GET /hub` (Outpost's addition).
pub(super) async fn hub_info(State(state): State<Arc<ApiState>>) -> Json<HubInfo> {
    Json(state.info)
}

fn rfc3339(date: DateTime) -> String {
    date.try_to_rfc3339_string()
        .unwrap_or_else(|_| date.timestamp_millis().to_string())
}

/// `GET /healthz`: 200 while the hub can read its registry.
pub(super) async fn healthz(
    State(state): State<Arc<ApiState>>,
) -> ApiResult<Json<serde_json::Value>> {
    state.hub.edge_records()?;
    Ok(Json(serde_json::json!({"status": "ok"})))
}

/// `GET /metrics`: per instance its status, the age of its last connection and what it last
/// reported, in Prometheus' text format (version 0.0.4).
pub(super) async fn prometheus(State(state): State<Arc<ApiState>>) -> ApiResult<impl IntoResponse> {
    use crate::prometheus::{Kind, Text};
    let now = DateTime::now().timestamp_millis();
    let mut text = Text::new();
    let edges = state.hub.edge_records()?;
    let name = "outpost_edge_status";
    text.family(name, Kind::Gauge, "1 for the instance's current status.");
    for edge in &edges {
        let (status, _) = edge.status();
        let labels = [
            ("edge_id", edge.id.as_str()),
            ("name", edge.name.as_str()),
            ("status", status),
        ];
        text.sample(name, &labels, 1_i64);
    }
    let name = "outpost_edge_last_connection_age_seconds";
    text.family(
        name,
        Kind::Gauge,
        "Seconds since the instance last connected.",
    );
    for edge in &edges {
        if let Some(last) = edge.last_seen.or(edge.last_connection) {
            let age = now.saturating_sub(last.timestamp_millis()).max(0) / 1000;
            text.sample(name, &[("edge_id", edge.id.as_str())], age);
        }
    }
    let name = "outpost_edge_metric";
    text.family(
        name,
        Kind::Gauge,
        "A metric the instance reported (key: the Admin API's metric key).",
    );
    for edge in &edges {
        let Some((_, metrics)) = state.hub.edge_metrics(&edge.id)? else {
            continue;
        };
        for metric in metrics {
            let labels = [("edge_id", edge.id.as_str()), ("key", metric.key.as_str())];
            text.sample(name, &labels, metric.value);
        }
    }
    Ok((
        [(CONTENT_TYPE, crate::prometheus::CONTENT_TYPE)],
        text.finish(),
    ))
}
