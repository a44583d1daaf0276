//! The hub's Admin API over HTTP: the endpoints and JSON shapes of Atlas App Services' Admin
//! API for Edge Server instances (`/api/admin/v3.0/...`), so scripts written for Atlas work
//! against `outpost hub` with only the base URL changed.
//!
//! axum's router on hyper (HTTP/1.1), served by [`crate::http::serve`] on the server's tokio
//! runtime with the wire port's bind address and TLS acceptor. One module per resource:
//! [`auth`] (login, session renewal, the bearer check), [`groups`] (groups and apps), [`edges`] (edge
//! instances, backed by the hub's one registry, `outpost_sync::Hub`), [`observe`] (logs,
//! Prometheus `/metrics`, `/healthz`), [`openapi`] (the description of every route). Errors
//! are `{"error", "error_code"}` ([`error`]).
//!
//! The same port serves the console ([`console`]: `/` and `/console/...`), a browser client
//! of these routes, and [`guard`] puts security headers on every response and refuses
//! cross-origin state-changing requests.

mod auth;
mod console;
mod edges;
pub mod error;
pub mod groups;
mod guard;
pub mod keys;
mod metric_catalog;
mod observe;
pub mod openapi;
mod schemas;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use outpost_storage::Storage;
use serde::de::DeserializeOwned;

use error::{ApiError, ApiResult};

/// What every handler shares.
pub struct ApiState {
    pub hub: Arc<outpost_sync::Hub>,
    pub keys: keys::Keys,
    pub groups: groups::Groups,
    /// Access tokens' lifetime.
    pub access_ttl: Duration,
    /// Refresh tokens' lifetime.
    pub refresh_ttl: Duration,
    /// What `GET /hub` answers.
    pub info: HubInfo,
}

pub use observe::HubInfo;

impl ApiState {
    /// The API of `hub`, whose edges connect to `wire_port` (with TLS when `tls`).
    pub fn open(
        storage: &Storage,
        hub: Arc<outpost_sync::Hub>,
        access_ttl: Duration,
        refresh_ttl: Duration,
        wire_port: u16,
        tls: bool,
    ) -> Result<ApiState, outpost_storage::Error> {
        Ok(ApiState {
            hub,
            keys: keys::Keys::open(storage)?,
            groups: groups::Groups::open(storage)?,
            access_ttl,
            refresh_ttl,
            info: HubInfo {
                version: env!("CARGO_PKG_VERSION"),
                wire_port,
                tls,
            },
        })
    }
}

/// One route of the Admin API: the router and the OpenAPI description are both built from
/// [`routes`], so neither can name a route the other lacks.
pub struct Route {
    pub method: axum::http::Method,
    /// The full path (axum syntax: `{param}`).
    pub path: &'static str,
    pub summary: &'static str,
    /// Needs `Authorization: Bearer <access_token>`.
    pub protected: bool,
    handler: MethodRouter<Arc<ApiState>>,
}

fn route(
    method: axum::http::Method,
    path: &'static str,
    summary: &'static str,
    protected: bool,
    handler: MethodRouter<Arc<ApiState>>,
) -> Route {
    Route {
        method,
        path,
        summary,
        protected,
        handler,
    }
}

/// Every route the hub serves over HTTP.
pub fn routes() -> Vec<Route> {
    use axum::http::Method;
    vec![
        route(Method::POST, "/api/admin/v3.0/auth/providers/mongodb-cloud/login", "Log in with an API key pair: access and refresh tokens", false, post(auth::login)),
        route(Method::POST, "/api/admin/v3.0/auth/session", "A new access token for the refresh token in the Authorization header", false, post(auth::renew)),
        route(Method::GET, "/api/admin/v3.0/openapi.json", "This description", false, get(openapi::serve)),
        route(Method::GET, "/api/admin/v3.0/hub", "Outpost's addition: the hub's version and the wire port (and TLS) edges connect to", true, get(observe::hub_info)),
        route(Method::GET, "/api/admin/v3.0/groups", "The hub's groups (projects)", true, get(groups::list_groups)),
        route(Method::GET, "/api/admin/v3.0/groups/{group_id}/apps", "The group's apps", true, get(groups::list_apps)),
        route(Method::POST, "/api/admin/v3.0/groups/{group_id}/apps", "Create an app (edge_server or device_sync service)", true, post(groups::create_app)),
        route(Method::GET, "/api/admin/v3.0/groups/{group_id}/apps/{app_id}/edge", "The app's edge server instances", true, get(edges::list)),
        route(Method::POST, "/api/admin/v3.0/groups/{group_id}/apps/{app_id}/edge", "Create an edge server instance: its one-time registration key", true, post(edges::create)),
        route(Method::GET, "/api/admin/v3.0/groups/{group_id}/apps/{app_id}/edge/{edge_id}", "One instance: status, query, versions, metrics", true, get(edges::get_one)),
        route(Method::DELETE, "/api/admin/v3.0/groups/{group_id}/apps/{app_id}/edge/{edge_id}", "Delete an instance: its API key stops working", true, delete(edges::delete)),
        route(Method::POST, "/api/admin/v3.0/groups/{group_id}/apps/{app_id}/edge/{edge_id}/regenerate-registration-key", "A new registration key: the old API key stops working", true, post(edges::regenerate)),
        route(Method::POST, "/api/admin/v3.0/groups/{group_id}/apps/{app_id}/edge/{edge_id}/rename", "Rename an instance", true, post(edges::rename)),
        route(Method::PUT, "/api/admin/v3.0/groups/{group_id}/apps/{app_id}/edge/{edge_id}/query", "Set an instance's query (applied by the running edge)", true, put(edges::set_query)),
        route(Method::GET, "/api/admin/v3.0/groups/{group_id}/apps/{app_id}/schemas", "The schemas of the app's synced collections, inferred from what edges upload", true, get(schemas::list)),
        route(Method::GET, "/api/admin/v3.0/groups/{group_id}/apps/{app_id}/schemas/{schema_id}", "One collection's schema (JSON Schema with bsonType)", true, get(schemas::get_one)),
        route(Method::PUT, "/api/admin/v3.0/groups/{group_id}/apps/{app_id}/schemas/{schema_id}", "Replace a schema: removing or retyping a field resets the edges that sync it", true, put(schemas::replace)),
        route(Method::GET, "/api/admin/v3.0/groups/{group_id}/apps/{app_id}/edge/{edge_id}/metrics/history", "Outpost's addition: the instance's metrics reports of the last hour, oldest first", true, get(observe::metrics_history)),
        route(Method::GET, "/api/admin/v3.0/groups/{group_id}/apps/{app_id}/logs", "The app's edges' authentication and sync log records, newest first (Outpost's additions: level, edge_server_id filters)", true, get(observe::logs)),
        route(Method::GET, "/healthz", "Liveness: 200 while the hub serves", false, get(observe::healthz)),
        route(Method::GET, "/metrics", "Prometheus text: per instance status, last connection age, reported metrics", false, get(observe::prometheus)),
    ]
}

/// The router of [`routes`] and the console: protected routes behind the bearer check,
/// anything else 404; every response through [`guard`].
pub fn router(state: Arc<ApiState>) -> Router {
    let mut open = Router::new();
    let mut protected = Router::new();
    for route in routes() {
        if route.protected {
            protected = protected.route(route.path, route.handler);
        } else {
            open = open.route(route.path, route.handler);
        }
    }
    let protected = protected.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_access_token,
    ));
    open.merge(protected)
        .merge(console::router())
        .fallback(not_found)
        .layer(axum::middleware::from_fn(guard::guard))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("NotFound", "no such route")
}

/// A JSON body: anything else is a 400 with the parse error.
pub(crate) fn json_body<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("invalid request body: {error}")))
}
