//! `GET /api/admin/v3.0/openapi.json`: an OpenAPI 3.0 description of every route, built from
//! the same table as the router ([`super::routes`]).

use axum::Json;
use serde_json::{json, Map, Value};

/// The description.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in super::routes() {
        let parameters: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut operation = json!({
            "summary": route.summary,
            "parameters": parameters,
            "responses": {
                "default": {
                    "description": "JSON; errors are {\"error\", \"error_code\"}"
                }
            }
        });
        if route.protected {
            operation["security"] = json!([{"bearer": []}]);
        }
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[route.method.as_str().to_lowercase()] = operation;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Outpost hub Admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Atlas App Services' Admin API for edge server instances, served by an Outpost hub"
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"}
            }
        },
        "paths": paths,
    })
}

pub(super) async fn serve() -> Json<Value> {
    Json(document())
}
