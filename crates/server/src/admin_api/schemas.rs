//! Schemas of an app's synced collections (App Services' schema endpoints):
//! `GET .../apps/{appId}/schemas` → `[{_id, metadata: {data_source, database, collection}}]`,
//! `GET .../schemas/{schemaId}` → `{_id, metadata, schema}`, `PUT .../schemas/{schemaId}`
//! `{schema, metadata?, relationships?}` → 204. The hub infers the schemas from what edges
//! upload (`outpost_sync::hub::schemas`); a replacement that removes or retypes a field resets
//! the app's edges that sync the collection, keeping their unsynced changes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use bson::Bson;
use outpost_sync::hub::schemas::SchemaRecord;
use outpost_sync::InstanceQuery;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use super::groups::App;
use super::{json_body, ApiState};

/// App Services' name of the linked cluster; the hub's own storage here.
const DATA_SOURCE: &str = "mongodb-atlas";

#[derive(Serialize)]
pub(super) struct Metadata {
    data_source: &'static str,
    database: String,
    collection: String,
}

#[derive(Serialize)]
pub(super) struct Summary {
    #[serde(rename = "_id")]
    id: String,
    metadata: Metadata,
}

#[derive(Serialize)]
pub(super) struct Full {
    #[serde(flatten)]
    summary: Summary,
    schema: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Replacement {
    // (`_id` and `metadata` are the schema's own and not changed by a replacement;
    // relationships are accepted and not used.)
    #[serde(rename = "_id")]
    _id: Option<String>,
    #[serde(rename = "metadata")]
    _metadata: Option<serde_json::Value>,
    schema: serde_json::Map<String, serde_json::Value>,
    #[serde(rename = "relationships")]
    _relationships: Option<serde_json::Value>,
}

fn summary(record: &SchemaRecord) -> Summary {
    let (database, collection) = record.ns.split_once('.').unwrap_or((&record.ns, ""));
    Summary {
        id: record.id.clone(),
        metadata: Metadata {
            data_source: DATA_SOURCE,
            database: database.to_string(),
            collection: collection.to_string(),
        },
    }
}

/// The schemas of the app: collections of its database, or that an instance of it syncs.
fn schemas_of(state: &ApiState, app: &App) -> ApiResult<Vec<SchemaRecord>> {
    let queries: Vec<InstanceQuery> = state
        .hub
        .edge_records()?
        .iter()
        .filter(|edge| edge.app_id.as_deref() == Some(app.id.as_str()))
        .filter_map(|edge| InstanceQuery::parse(&edge.query, &edge.default_db).ok())
        .collect();
    Ok(state
        .hub
        .schemas()?
        .into_iter()
        .filter(|record| {
            let (db, coll) = record.ns.split_once('.').unwrap_or((&record.ns, ""));
            db == app.database || queries.iter().any(|query| query.is_synced(db, coll))
        })
        .collect())
}

fn schema_of(state: &ApiState, app: &App, id: &str) -> ApiResult<SchemaRecord> {
    schemas_of(state, app)?
        .into_iter()
        .find(|record| record.id == id)
        .ok_or_else(|| ApiError::not_found("SchemaNotFound", format!("no schema with id '{id}'")))
}

/// `GET .../schemas`.
pub(super) async fn list(
    State(state): State<Arc<ApiState>>,
    Path((group_id, app_id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<Summary>>> {
    let app = state.groups.app(&group_id, &app_id)?;
    Ok(Json(
        schemas_of(&state, &app)?.iter().map(summary).collect(),
    ))
}

/// `GET .../schemas/{schemaId}`.
pub(super) async fn get_one(
    State(state): State<Arc<ApiState>>,
    Path((group_id, app_id, schema_id)): Path<(String, String, String)>,
) -> ApiResult<Json<Full>> {
    let app = state.groups.app(&group_id, &app_id)?;
    let record = schema_of(&state, &app, &schema_id)?;
    Ok(Json(Full {
        summary: summary(&record),
        schema: Bson::Document(record.schema).into_relaxed_extjson(),
    }))
}

/// `PUT .../schemas/{schemaId}` → 204; a breaking change resets the edges that sync it.
pub(super) async fn replace(
    State(state): State<Arc<ApiState>>,
    Path((group_id, app_id, schema_id)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let request: Replacement = json_body(&body)?;
    let app = state.groups.app(&group_id, &app_id)?;
    let record = schema_of(&state, &app, &schema_id)?;
    let schema = match Bson::try_from(serde_json::Value::Object(request.schema)) {
        Ok(Bson::Document(schema)) => schema,
        _ => {
            return Err(ApiError::bad_request(
                "'schema' must be a JSON Schema object",
            ))
        }
    };
    let (breaking, reset) = state.hub.put_schema(&record.id, schema)?;
    if !breaking.is_empty() {
        tracing::warn!(ns = %record.ns, changes = ?breaking, edges = ?reset, "breaking schema change: edges reset");
    }
    Ok(StatusCode::NO_CONTENT)
}
