//! Edge instances of an app: `/groups/{groupId}/apps/{appId}/edge[/{edgeServerId}...]`. The
//! instances are the hub's registry (`outpost_sync::Hub`), the same one `outpost hub edge`
//! manages over the wire; an instance belongs to the app that created it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use bson::{Bson, DateTime, Document};
use outpost_sync::EdgeRecord;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use super::groups::App;
use super::metric_catalog;
use super::{json_body, ApiState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameRequest {
    name: String,
}

/// `POST .../edge`: a name, and (Outpost's addition) the instance query to start with.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    name: String,
    query: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `PUT .../query`: `{"query": {"db.collection" | "collection" | "*": "RQL" | {filter}}}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryRequest {
    query: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
pub(super) struct Created {
    id: String,
    user_id: String,
    registration_key: String,
}

#[derive(Serialize)]
pub(super) struct RegistrationKey {
    registration_key: String,
}

/// An instance in a listing.
#[derive(Serialize)]
pub(super) struct Summary {
    id: String,
    created: String,
    name: String,
    user_id: String,
    status: &'static str,
    /// Why a failed instance failed (Outpost's addition; `null` otherwise).
    status_reason: Option<String>,
    hostname: Option<String>,
    last_connection: Option<String>,
    package_version: Option<String>,
    /// How far behind the hub the instance is (Outpost's addition; `null` until registered).
    sync_lag: Option<Lag>,
}

/// An instance's sync lag: hub changes it has not downloaded yet, how long the oldest of them
/// has waited, and the local changes it reported not uploaded yet.
#[derive(Serialize)]
pub(super) struct Lag {
    changes: u64,
    seconds: f64,
    upload_backlog: Option<f64>,
}

#[derive(Serialize)]
pub(super) struct Listing {
    edge_servers: Vec<Summary>,
}

#[derive(Serialize)]
pub(super) struct Metric {
    key: String,
    name: String,
    category: String,
    detail: String,
    value: f64,
    unit: String,
}

/// One instance in detail.
#[derive(Serialize)]
pub(super) struct Detail {
    #[serde(flatten)]
    summary: Summary,
    query: serde_json::Value,
    query_version: i64,
    latest_package_version: &'static str,
    metrics: Vec<Metric>,
    /// When the metrics were reported (`null`: never).
    metrics_reported: Option<String>,
    /// The instance's last reset (offline past the app's `client_max_offline_days`, or a
    /// breaking schema change): Outpost's addition, `null` when never reset.
    last_reset: Option<Reset>,
}

#[derive(Serialize)]
pub(super) struct Reset {
    reason: String,
    time: String,
}

#[derive(Serialize)]
pub(super) struct QuerySet {
    id: String,
    query: serde_json::Value,
    query_version: i64,
}

fn date(date: DateTime) -> String {
    date.try_to_rfc3339_string()
        .unwrap_or_else(|_| date.timestamp_millis().to_string())
}

fn summary(state: &ApiState, record: &EdgeRecord) -> ApiResult<Summary> {
    let (status, reason) = record.status();
    Ok(Summary {
        id: record.id.clone(),
        created: date(record.created),
        name: record.name.clone(),
        user_id: record.user_id.clone().unwrap_or_default(),
        status,
        status_reason: reason.map(str::to_string),
        hostname: record.hostname.clone(),
        last_connection: record.last_connection.map(date),
        package_version: record.package_version.clone(),
        sync_lag: lag(state, record)?,
    })
}

fn lag(state: &ApiState, record: &EdgeRecord) -> ApiResult<Option<Lag>> {
    let Some(lag) = state.hub.sync_lag(record)? else {
        return Ok(None);
    };
    let now = DateTime::now().timestamp_millis();
    let seconds = lag.oldest.map_or(0.0, |oldest| {
        now.saturating_sub(oldest.timestamp_millis()).max(0) as f64 / 1000.0
    });
    let upload_backlog = state
        .hub
        .edge_metrics(&record.id)?
        .and_then(|(_, metrics)| {
            metrics
                .iter()
                .find(|metric| metric.key == "sync_upload_backlog")
                .map(|metric| metric.value)
        });
    Ok(Some(Lag {
        changes: lag.changes,
        seconds,
        upload_backlog,
    }))
}

fn query_json(query: &Document) -> serde_json::Value {
    Bson::Document(query.clone()).into_relaxed_extjson()
}

/// The app's instances.
fn edges_of(state: &ApiState, app: &App) -> ApiResult<Vec<EdgeRecord>> {
    Ok(state
        .hub
        .edge_records()?
        .into_iter()
        .filter(|edge| edge.app_id.as_deref() == Some(app.id.as_str()))
        .collect())
}

/// The app's instance `edge_id`, or 404.
pub(super) fn edge_of(state: &ApiState, app: &App, edge_id: &str) -> ApiResult<EdgeRecord> {
    state
        .hub
        .edge(edge_id)?
        .filter(|edge| edge.app_id.as_deref() == Some(app.id.as_str()))
        .ok_or_else(|| {
            ApiError::not_found(
                "EdgeServerNotFound",
                format!("no edge server instance with id '{edge_id}' in this app"),
            )
        })
}

fn check_name_free(state: &ApiState, app: &App, name: &str) -> ApiResult<()> {
    if name.is_empty() || name.len() > 256 {
        return Err(ApiError::bad_request(
            "an edge server instance needs a name of 1 to 256 bytes",
        ));
    }
    if edges_of(state, app)?.iter().any(|edge| edge.name == name) {
        return Err(ApiError::name_taken(format!(
            "an edge server instance named '{name}' already exists in this app"
        )));
    }
    Ok(())
}

/// `POST .../edge {name}` → 201 `{id, user_id, registration_key}`.
pub(super) async fn create(
    State(state): State<Arc<ApiState>>,
    Path((group_id, app_id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Created>)> {
    let request: CreateRequest = json_body(&body)?;
    let app = state.groups.app(&group_id, &app_id)?;
    check_name_free(&state, &app, &request.name)?;
    let query = request.query.map(query_document).transpose()?;
    let (record, registration_key) = state.hub.create_edge_in(
        Some(&app.id),
        &request.name,
        app.service_type.sync_service(),
        query.as_ref(),
        &app.database,
    )?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            id: record.id,
            user_id: record.user_id.unwrap_or_default(),
            registration_key,
        }),
    ))
}

/// `GET .../edge` → `{edge_servers: [...]}`.
pub(super) async fn list(
    State(state): State<Arc<ApiState>>,
    Path((group_id, app_id)): Path<(String, String)>,
) -> ApiResult<Json<Listing>> {
    let app = state.groups.app(&group_id, &app_id)?;
    let edge_servers = edges_of(&state, &app)?
        .iter()
        .map(|record| summary(&state, record))
        .collect::<ApiResult<_>>()?;
    Ok(Json(Listing { edge_servers }))
}

/// `GET .../edge/{edgeServerId}`: the instance with its query, versions and metrics.
pub(super) async fn get_one(
    State(state): State<Arc<ApiState>>,
    Path((group_id, app_id, edge_id)): Path<(String, String, String)>,
) -> ApiResult<Json<Detail>> {
    let app = state.groups.app(&group_id, &app_id)?;
    let record = edge_of(&state, &app, &edge_id)?;
    let reported = state.hub.edge_metrics(&record.id)?;
    let metrics = reported
        .as_ref()
        .map(|(_, metrics)| {
            metrics
                .iter()
                .map(|metric| {
                    let info = metric_catalog::info(&metric.key);
                    Metric {
                        key: metric.key.clone(),
                        name: info.map_or(metric.key.as_str(), |i| i.name).to_string(),
                        category: info.map_or("other", |i| i.category).to_string(),
                        detail: info.map_or("", |i| i.detail).to_string(),
                        value: metric.value,
                        unit: info.map_or("", |i| i.unit).to_string(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(Detail {
        summary: summary(&state, &record)?,
        query: query_json(&record.query),
        query_version: record.query_version,
        latest_package_version: env!("CARGO_PKG_VERSION"),
        metrics,
        metrics_reported: reported.map(|(when, _)| date(when)),
        last_reset: record.last_reset.as_ref().map(|reset| Reset {
            reason: reset.reason.clone(),
            time: date(reset.time),
        }),
    }))
}

/// `DELETE .../edge/{edgeServerId}` → 200 `{}`: its keys stop working at once.
pub(super) async fn delete(
    State(state): State<Arc<ApiState>>,
    Path((group_id, app_id, edge_id)): Path<(String, String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    let app = state.groups.app(&group_id, &app_id)?;
    let record = edge_of(&state, &app, &edge_id)?;
    state.hub.delete_edge(&record.id)?;
    Ok(Json(serde_json::json!({})))
}

/// `POST .../regenerate-registration-key` → 201 `{registration_key}`: the old API key stops
/// working; the instance is failed ("API key invalid") until the edge registers again.
pub(super) async fn regenerate(
    State(state): State<Arc<ApiState>>,
    Path((group_id, app_id, edge_id)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<RegistrationKey>)> {
    let app = state.groups.app(&group_id, &app_id)?;
    let record = edge_of(&state, &app, &edge_id)?;
    let registration_key = state.hub.regenerate_registration_key(&record.id)?;
    Ok((
        StatusCode::CREATED,
        Json(RegistrationKey { registration_key }),
    ))
}

/// `POST .../rename {name}` → 204.
pub(super) async fn rename(
    State(state): State<Arc<ApiState>>,
    Path((group_id, app_id, edge_id)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let request: NameRequest = json_body(&body)?;
    let app = state.groups.app(&group_id, &app_id)?;
    let record = edge_of(&state, &app, &edge_id)?;
    if record.name != request.name {
        check_name_free(&state, &app, &request.name)?;
    }
    state.hub.rename_edge(&record.id, &request.name)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT .../query {query}` → 200 `{id, query, query_version}`: the edge picks the new query up
/// at its next download and re-fetches what now matches, without a restart.
pub(super) async fn set_query(
    State(state): State<Arc<ApiState>>,
    Path((group_id, app_id, edge_id)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<Json<QuerySet>> {
    let request: QueryRequest = json_body(&body)?;
    let app = state.groups.app(&group_id, &app_id)?;
    let record = edge_of(&state, &app, &edge_id)?;
    let query = query_document(request.query)?;
    let reply = state.hub.set_edge_query(&record.id, &query)?;
    Ok(Json(QuerySet {
        id: record.id,
        query: query_json(&query),
        query_version: reply
            .get_i64("queryVersion")
            .unwrap_or(record.query_version),
    }))
}

/// An instance query from JSON: collections mapped to RQL strings or filter documents.
fn query_document(query: serde_json::Map<String, serde_json::Value>) -> ApiResult<Document> {
    match Bson::try_from(serde_json::Value::Object(query)) {
        Ok(Bson::Document(query)) => Ok(query),
        Ok(_) | Err(_) => Err(ApiError::bad_request(
            "'query' must map collections to RQL strings or filter documents",
        )),
    }
}
