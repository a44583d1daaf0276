//! The hub's Admin API over real HTTP: a hub (and edges) in this process on 127.0.0.1:0,
//! driven with hyper's client as `curl` would. Each `curl` of Atlas' "Manage Edge Servers"
//! page (login, create, list, get, delete) is reproduced with its status code and JSON shape;
//! then rename, re-key, query changes with a running edge, logs, and refused requests.
//! Convergence is polled with a bounded deadline, never assumed after a sleep.

mod processes;

use std::path::Path;
use std::time::{Duration, Instant};

use bson::{doc, Document};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use outpost_server::hub::client::HubClient;
use outpost_server::{Config, Server, ServerHandle, WriteOutsideQuery};
use serde_json::{json, Value};
use tokio::net::TcpListener;

const DEADLINE: Duration = Duration::from_secs(30);

async fn start(config: Config) -> ServerHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Server::builder()
        .config(config)
        .start_on(listener)
        .await
        .unwrap()
}

async fn start_hub_with(config: Config) -> ServerHandle {
    start(Config {
        hub_mode: true,
        http_port: Some(0),
        dbpath: None,
        ..config
    })
    .await
}

async fn start_hub() -> ServerHandle {
    start_hub_with(Config::default()).await
}

async fn start_edge(hub: &ServerHandle, dbpath: &Path, key: &str) -> ServerHandle {
    start(Config {
        write_outside_query: WriteOutsideQuery::Local,
        dbpath: Some(dbpath.to_path_buf()),
        hub: Some(format!("mongodb://{}", hub.local_addr())),
        registration_key: Some(key.to_string()),
        sync_interval_ms: 20,
        sync_max_backoff_ms: 200,
        sync_timeout_ms: 5_000,
        ..Config::default()
    })
    .await
}

/// One command over a fresh wire connection (blocking client, off the async workers).
async fn command(server: &ServerHandle, db: &str, body: Document) -> Document {
    let uri = format!("mongodb://{}", server.local_addr());
    let db = db.to_string();
    tokio::task::spawn_blocking(move || {
        HubClient::connect(&uri, Duration::from_secs(5))
            .unwrap()
            .command_on(&db, body)
            .unwrap()
    })
    .await
    .unwrap()
}

async fn count(server: &ServerHandle, ns: &str, filter: Document) -> i64 {
    let (db, coll) = ns.split_once('.').unwrap();
    let reply = command(server, db, doc! {"count": coll, "query": filter}).await;
    reply.get_i32("n").map(i64::from).unwrap()
}

/// An HTTP client of one hub's Admin API.
struct Api {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A reply: status and JSON body (`Null` when empty, the text as a string when not JSON).
struct Reply {
    status: u16,
    body: Value,
}

impl Api {
    fn new(hub: &ServerHandle) -> Api {
        Api::at(&hub.http_addr().unwrap().to_string())
    }

    /// The API at `HOST:PORT`.
    fn at(address: &str) -> Api {
        Api {
            base: format!("http://{address}"),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(body)))
            .unwrap();
        let response = self.client.request(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply { status, body }
    }

    /// A request as the Atlas curls send it: bearer token, JSON body.
    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
        let auth = format!("Bearer {token}");
        let mut headers = vec![("Authorization", auth.as_str())];
        let body = match body {
            Some(body) => {
                headers.push(("Content-Type", "application/json"));
                serde_json::to_vec(&body).unwrap()
            }
            None => Vec::new(),
        };
        self.raw(method, path, &headers, &body).await
    }

    async fn login(&self, key: &Value) -> Reply {
        let body = json!({"username": key["public_key"], "apiKey": key["private_key"]});
        self.raw(
            "POST",
            "/api/admin/v3.0/auth/providers/mongodb-cloud/login",
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
        .await
    }
}

/// `outpost hub apikey create`'s wire command.
async fn create_api_key(hub: &ServerHandle, name: &str) -> Value {
    let reply = command(
        hub,
        "admin",
        doc! {"outpostHubCreateApiKey": 1, "name": name},
    )
    .await;
    json!({
        "public_key": reply.get_str("public_key").unwrap(),
        "private_key": reply.get_str("private_key").unwrap(),
    })
}

/// Logged in, with the default group and one app: (api, access token, app path).
async fn app_session(hub: &ServerHandle, service_type: &str) -> (Api, String, String) {
    let api = Api::new(hub);
    let key = create_api_key(hub, "tests").await;
    let login = api.login(&key).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let token = login.body["access_token"].as_str().unwrap().to_string();
    let groups = api
        .call("GET", "/api/admin/v3.0/groups", &token, None)
        .await;
    let group = groups.body[0]["id"].as_str().unwrap().to_string();
    let app = api
        .call(
            "POST",
            &format!("/api/admin/v3.0/groups/{group}/apps"),
            &token,
            Some(json!({"name": "shop", "service_type": service_type, "database": "shop"})),
        )
        .await;
    assert_eq!(app.status, 201, "{}", app.body);
    let app_id = app.body["_id"].as_str().unwrap();
    (
        api,
        token,
        format!("/api/admin/v3.0/groups/{group}/apps/{app_id}"),
    )
}

/// Polls `get_one` of an edge until `done` holds (bounded).
async fn wait_for_edge(api: &Api, token: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let reply = api.call("GET", path, token, None).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        if done(&reply.body) {
            return reply.body;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "edge never got there: {}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_count(server: &ServerHandle, ns: &str, filter: Document, n: i64) {
    let start = Instant::now();
    loop {
        let found = count(server, ns, filter.clone()).await;
        if found == n {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{ns}: {found} documents, expected {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn is_hex(text: &Value, len: usize) -> bool {
    text.as_str()
        .is_some_and(|t| t.len() == len && t.chars().all(|c| c.is_ascii_hexdigit()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_atlas_manage_edge_servers_curls_work_against_the_hub() {
    let hub = start_hub().await;
    let api = Api::new(&hub);
    let key = create_api_key(&hub, "ci").await;
    assert_eq!(key["public_key"].as_str().unwrap().len(), 8);
    assert!(is_hex(&key["private_key"], 64));

    // curl --request POST --header 'Content-Type: application/json' --header 'Accept:
    // application/json' --data '{"username": PUBLIC, "apiKey": PRIVATE}'
    // .../auth/providers/mongodb-cloud/login
    let login = api.login(&key).await;
    assert_eq!(login.status, 200, "{}", login.body);
    for field in ["access_token", "refresh_token"] {
        assert!(is_hex(&login.body[field], 64), "{}", login.body);
    }
    assert!(is_hex(&login.body["user_id"], 24));
    assert!(is_hex(&login.body["device_id"], 24));
    let token = login.body["access_token"].as_str().unwrap();

    let groups = api.call("GET", "/api/admin/v3.0/groups", token, None).await;
    assert_eq!(groups.status, 200);
    assert_eq!(groups.body.as_array().unwrap().len(), 1);
    let group = groups.body[0]["id"].as_str().unwrap();
    assert!(is_hex(&groups.body[0]["id"], 24));

    let apps_path = format!("/api/admin/v3.0/groups/{group}/apps");
    let app = api
        .call(
            "POST",
            &apps_path,
            token,
            Some(json!({"name": "shop", "service_type": "edge_server", "database": "shop"})),
        )
        .await;
    assert_eq!(app.status, 201, "{}", app.body);
    assert!(is_hex(&app.body["_id"], 24));
    assert!(app.body["client_app_id"]
        .as_str()
        .unwrap()
        .starts_with("shop-"));
    assert_eq!(app.body["name"], "shop");
    assert_eq!(app.body["service_type"], "edge_server");
    assert_eq!(app.body["database"], "shop");
    assert_eq!(app.body["client_max_offline_days"], 30);
    let apps = api.call("GET", &apps_path, token, None).await;
    assert_eq!(apps.status, 200);
    assert_eq!(apps.body.as_array().unwrap().len(), 1);
    assert_eq!(apps.body[0]["_id"], app.body["_id"]);

    // Create: curl --request POST --data '{"name": "EDGE_SERVER_NAME"}' .../edge
    let edge_path = format!("{apps_path}/{}/edge", app.body["_id"].as_str().unwrap());
    let created = api
        .call("POST", &edge_path, token, Some(json!({"name": "store-42"})))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(is_hex(&created.body["id"], 24));
    assert!(is_hex(&created.body["user_id"], 24));
    assert!(is_hex(&created.body["registration_key"], 64));
    let id = created.body["id"].as_str().unwrap();

    // List: curl --request GET .../edge
    let listed = api.call("GET", &edge_path, token, None).await;
    assert_eq!(listed.status, 200);
    let servers = listed.body["edge_servers"].as_array().unwrap();
    assert_eq!(servers.len(), 1);
    let server = &servers[0];
    assert_eq!(server["id"], id);
    assert_eq!(server["name"], "store-42");
    assert_eq!(server["user_id"], created.body["user_id"]);
    assert_eq!(server["status"], "pending");
    assert!(server["created"].as_str().unwrap().contains('T'));
    assert_eq!(server["hostname"], Value::Null);
    assert_eq!(server["last_connection"], Value::Null);

    // The same registry as the wire commands: `outpost hub edge list` sees it.
    let wire = command(&hub, "admin", doc! {"outpostHubListEdges": 1}).await;
    let wire_edges = wire.get_array("edges").unwrap();
    assert_eq!(wire_edges.len(), 1);
    assert_eq!(
        wire_edges[0].as_document().unwrap().get_str("id").unwrap(),
        id
    );

    // Get one: curl --request GET .../edge/EDGE_SERVER_ID
    let one = api
        .call("GET", &format!("{edge_path}/{id}"), token, None)
        .await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["id"], id);
    assert_eq!(one.body["status"], "pending");
    assert_eq!(one.body["query"], json!({"*": "TRUEPREDICATE"}));
    assert_eq!(one.body["package_version"], Value::Null);
    assert!(one.body["latest_package_version"].is_string());
    assert_eq!(one.body["metrics"], json!([]));

    // Delete: curl --request DELETE .../edge/EDGE_SERVER_ID
    let deleted = api
        .call("DELETE", &format!("{edge_path}/{id}"), token, None)
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let gone = api
        .call("GET", &format!("{edge_path}/{id}"), token, None)
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["error_code"], "EdgeServerNotFound");
    let listed = api.call("GET", &edge_path, token, None).await;
    assert_eq!(listed.body["edge_servers"], json!([]));
    hub.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_malformed_and_unknown_tokens_and_bad_bodies_are_refused_with_their_status() {
    let hub = start_hub().await;
    let (api, token, app) = app_session(&hub, "device_sync").await;
    let edges = format!("{app}/edge");

    let missing = api.raw("GET", &edges, &[], b"").await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.body["error_code"], "MissingAuthReq");
    assert!(missing.body["error"].as_str().unwrap().contains("Bearer"));
    let malformed = api
        .raw(
            "GET",
            &edges,
            &[("Authorization", "Basic dXNlcjpwdw==")],
            b"",
        )
        .await;
    assert_eq!(malformed.status, 401);
    assert_eq!(malformed.body["error_code"], "InvalidSession");
    let unknown = api.call("GET", &edges, &"0".repeat(64), None).await;
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.body["error_code"], "InvalidSession");

    let key = create_api_key(&hub, "other").await;
    let wrong = api
        .login(&json!({"public_key": key["public_key"], "private_key": "f".repeat(64)}))
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["error_code"], "InvalidPassword");
    let login = api.login(&key).await;
    let refresh = login.body["refresh_token"].as_str().unwrap();
    let forbidden = api.call("GET", &edges, refresh, None).await;
    assert_eq!(forbidden.status, 403, "{}", forbidden.body);

    let bad_json = api
        .raw(
            "POST",
            &edges,
            &[("Authorization", &format!("Bearer {token}"))],
            b"{\"name\": ",
        )
        .await;
    assert_eq!(bad_json.status, 400);
    assert_eq!(bad_json.body["error_code"], "BadRequest");
    let wrong_shape = api
        .call("POST", &edges, &token, Some(json!({"name": 7})))
        .await;
    assert_eq!(wrong_shape.status, 400);
    let group_path = app.rsplit_once("/apps/").unwrap().0;
    let bad_days = api
        .call(
            "POST",
            &format!("{group_path}/apps"),
            &token,
            Some(
                json!({"name": "far", "service_type": "edge_server", "database": "x",
                        "client_max_offline_days": 61}),
            ),
        )
        .await;
    assert_eq!(bad_days.status, 400, "{}", bad_days.body);
    assert!(bad_days.body["error"].as_str().unwrap().contains("60"));

    let no_group = api
        .call(
            "GET",
            &format!("/api/admin/v3.0/groups/{}/apps", "0".repeat(24)),
            &token,
            None,
        )
        .await;
    assert_eq!(no_group.status, 404);
    assert_eq!(no_group.body["error_code"], "GroupNotFound");
    let no_app = api
        .call(
            "GET",
            &format!("{group_path}/apps/{}/edge", "0".repeat(24)),
            &token,
            None,
        )
        .await;
    assert_eq!(no_app.status, 404);
    assert_eq!(no_app.body["error_code"], "AppNotFound");
    let no_route = api
        .call("GET", "/api/admin/v3.0/nothing", &token, None)
        .await;
    assert_eq!(no_route.status, 404);

    let taken_app = api
        .call(
            "POST",
            &format!("{group_path}/apps"),
            &token,
            Some(json!({"name": "shop", "service_type": "edge_server", "database": "shop"})),
        )
        .await;
    assert_eq!(taken_app.status, 409);
    assert_eq!(taken_app.body["error_code"], "DuplicateName");
    let first = api
        .call("POST", &edges, &token, Some(json!({"name": "a"})))
        .await;
    assert_eq!(first.status, 201);
    let second = api
        .call("POST", &edges, &token, Some(json!({"name": "b"})))
        .await;
    let taken_edge = api
        .call("POST", &edges, &token, Some(json!({"name": "a"})))
        .await;
    assert_eq!(taken_edge.status, 409);
    let taken_rename = api
        .call(
            "POST",
            &format!("{edges}/{}/rename", second.body["id"].as_str().unwrap()),
            &token,
            Some(json!({"name": "a"})),
        )
        .await;
    assert_eq!(taken_rename.status, 409);
    let bad_query = api
        .call(
            "PUT",
            &format!("{edges}/{}/query", first.body["id"].as_str().unwrap()),
            &token,
            Some(json!({"query": {"items": "price >"}})),
        )
        .await;
    assert_eq!(bad_query.status, 400, "{}", bad_query.body);
    hub.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_token_is_refused_and_the_refresh_token_renews_the_session() {
    // Access tokens that expire as soon as they are issued: no waiting, no timing.
    let hub = start_hub_with(Config {
        admin_access_token_secs: 0,
        ..Config::default()
    })
    .await;
    let api = Api::new(&hub);
    let key = create_api_key(&hub, "ci").await;
    let login = api.login(&key).await;
    let access = login.body["access_token"].as_str().unwrap();
    let expired = api
        .call("GET", "/api/admin/v3.0/groups", access, None)
        .await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.body["error_code"], "InvalidSession");
    assert!(expired.body["error"].as_str().unwrap().contains("expired"));
    let refresh = login.body["refresh_token"].as_str().unwrap();
    let renewed = api
        .call("POST", "/api/admin/v3.0/auth/session", refresh, None)
        .await;
    assert_eq!(renewed.status, 201, "{}", renewed.body);
    assert!(is_hex(&renewed.body["access_token"], 64));
    // An access token does not renew a session.
    let not_refresh = api
        .call("POST", "/api/admin/v3.0/auth/session", access, None)
        .await;
    assert_eq!(not_refresh.status, 401);
    hub.shutdown().await.unwrap();

    // With the default lifetime the renewed token works.
    let hub = start_hub().await;
    let api = Api::new(&hub);
    let key = create_api_key(&hub, "ci").await;
    let login = api.login(&key).await;
    let refresh = login.body["refresh_token"].as_str().unwrap();
    let renewed = api
        .call("POST", "/api/admin/v3.0/auth/session", refresh, None)
        .await;
    let access = renewed.body["access_token"].as_str().unwrap();
    let groups = api
        .call("GET", "/api/admin/v3.0/groups", access, None)
        .await;
    assert_eq!(groups.status, 200, "{}", groups.body);
    hub.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_refresh_token_renews_nothing_and_a_new_login_works() {
    // Refresh tokens that expire as soon as they are issued: no waiting, no timing.
    let hub = start_hub_with(Config {
        admin_refresh_token_secs: 0,
        ..Config::default()
    })
    .await;
    let api = Api::new(&hub);
    let key = create_api_key(&hub, "ci").await;
    let login = api.login(&key).await;
    assert_eq!(login.status, 200, "{}", login.body);
    // The access token of the same login still works (its own lifetime).
    let access = login.body["access_token"].as_str().unwrap();
    let groups = api
        .call("GET", "/api/admin/v3.0/groups", access, None)
        .await;
    assert_eq!(groups.status, 200, "{}", groups.body);
    let refresh = login.body["refresh_token"].as_str().unwrap();
    let renewed = api
        .call("POST", "/api/admin/v3.0/auth/session", refresh, None)
        .await;
    assert_eq!(renewed.status, 401, "{}", renewed.body);
    assert_eq!(renewed.body["error_code"], "InvalidSession");
    let message = renewed.body["error"].as_str().unwrap();
    assert!(message.contains("refresh token expired"), "{message}");
    // Logging in again gives a working session.
    let again = api.login(&key).await;
    assert_eq!(again.status, 200, "{}", again.body);
    hub.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_edge_is_renamed_re_keyed_and_given_a_new_query() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub().await;
    let (api, token, app) = app_session(&hub, "edge_server").await;
    let edges = format!("{app}/edge");
    let created = api
        .call("POST", &edges, &token, Some(json!({"name": "store-1"})))
        .await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let one = format!("{edges}/{id}");
    let key = created.body["registration_key"].as_str().unwrap();

    let edge = start_edge(&hub, dir.path(), key).await;
    let active = wait_for_edge(&api, &token, &one, |e| e["status"] == "active").await;
    assert!(active["last_connection"].is_string(), "{active}");
    // The edge's status shows the hub's view (from the answer to its first report).
    let start_wait = Instant::now();
    loop {
        let status = command(&edge, "admin", doc! {"outpostSyncStatus": 1}).await;
        if let Ok(at_hub) = status.get_document("hubStatus") {
            assert_eq!(at_hub.get_str("status").unwrap(), "active", "{status}");
            break;
        }
        assert!(start_wait.elapsed() < DEADLINE, "{status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(active["hostname"].is_string(), "{active}");
    assert_eq!(active["package_version"], active["latest_package_version"]);

    // The edge reports its metrics while connected.
    let reported = wait_for_edge(&api, &token, &one, |e| {
        e["metrics"].as_array().is_some_and(|m| !m.is_empty())
    })
    .await;
    let metrics = reported["metrics"].as_array().unwrap();
    for key in [
        "edge_host_memory_percent",
        "overall_request_success",
        "overall_request_fail",
        "wire_protocol_request_success",
        "wire_protocol_request_fail",
        "wire_protocol_egress_bytes",
        "edge_wire_protocol_connection_count",
        "sync_requests_success",
    ] {
        let metric = metrics
            .iter()
            .find(|m| m["key"] == key)
            .unwrap_or_else(|| panic!("{key} missing: {reported}"));
        for field in ["name", "category", "detail", "unit"] {
            assert!(metric[field].is_string(), "{metric}");
        }
        assert!(metric["value"].as_f64().unwrap() >= 0.0, "{metric}");
    }
    let prometheus = api.raw("GET", "/metrics", &[], b"").await;
    assert_eq!(prometheus.status, 200);
    let text = prometheus.body.as_str().unwrap();
    assert!(
        text.contains(&format!(
            "outpost_edge_status{{edge_id=\"{id}\",name=\"store-1\",status=\"active\"}} 1"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "outpost_edge_metric{{edge_id=\"{id}\",key=\"wire_protocol_egress_bytes\"}}"
        )),
        "{text}"
    );
    let health = api.raw("GET", "/healthz", &[], b"").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");

    // Data flows: the hub's documents reach the edge.
    command(
        &hub,
        "shop",
        doc! {"insert": "items", "documents": [
            {"_id": bson::oid::ObjectId::new(), "store": 1},
            {"_id": bson::oid::ObjectId::new(), "store": 2},
        ]},
    )
    .await;
    wait_for_count(&edge, "shop.items", doc! {}, 2).await;

    let renamed = api
        .call(
            "POST",
            &format!("{one}/rename"),
            &token,
            Some(json!({"name": "store-one"})),
        )
        .await;
    assert_eq!(renamed.status, 204, "{}", renamed.body);
    let after = api.call("GET", &one, &token, None).await;
    assert_eq!(after.body["name"], "store-one");

    // A new query, applied by the running edge: only store 1's items stay.
    let set = api
        .call(
            "PUT",
            &format!("{one}/query"),
            &token,
            Some(json!({"query": {"items": "store == 1"}})),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["query_version"], 2);
    wait_for_count(&edge, "shop.items", doc! {}, 1).await;
    assert_eq!(count(&edge, "shop.items", doc! {"store": 1}).await, 1);

    // Re-key: the running edge's key stops working and the instance is failed.
    let rekeyed = api
        .call(
            "POST",
            &format!("{one}/regenerate-registration-key"),
            &token,
            None,
        )
        .await;
    assert_eq!(rekeyed.status, 201, "{}", rekeyed.body);
    let new_key = rekeyed.body["registration_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(is_hex(&rekeyed.body["registration_key"], 64));
    let failed = api.call("GET", &one, &token, None).await;
    assert_eq!(failed.body["status"], "failed");
    assert_eq!(failed.body["status_reason"], "API key invalid");
    edge.shutdown().await.unwrap();

    // The edge restarted with its old key only: still failed, and told so by the hub.
    let stale = start(Config {
        dbpath: Some(dir.path().to_path_buf()),
        hub: Some(format!("mongodb://{}", hub.local_addr())),
        sync_interval_ms: 20,
        sync_max_backoff_ms: 200,
        ..Config::default()
    })
    .await;
    let start_wait = Instant::now();
    loop {
        let status = command(&stale, "admin", doc! {"outpostSyncStatus": 1}).await;
        if let Ok(error) = status.get_str("lastError") {
            assert!(error.contains("API key"), "{status}");
            break;
        }
        assert!(start_wait.elapsed() < DEADLINE, "{status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let still = api.call("GET", &one, &token, None).await;
    assert_eq!(still.body["status"], "failed");
    let status = command(&stale, "admin", doc! {"outpostSyncStatus": 1}).await;
    let at_hub = status.get_document("hubStatus").unwrap();
    assert_eq!(at_hub.get_str("status").unwrap(), "failed");
    assert!(
        at_hub.get_str("reason").unwrap().contains("API key"),
        "{status}"
    );
    stale.shutdown().await.unwrap();

    // Given the new key on the same data directory: the same instance, active again, and
    // still syncing.
    let edge = start_edge(&hub, dir.path(), &new_key).await;
    wait_for_edge(&api, &token, &one, |e| e["status"] == "active").await;
    command(
        &hub,
        "shop",
        doc! {"insert": "items", "documents": [{"_id": bson::oid::ObjectId::new(), "store": 1}]},
    )
    .await;
    wait_for_count(&edge, "shop.items", doc! {"store": 1}, 2).await;
    let listed = api.call("GET", &edges, &token, None).await;
    assert_eq!(listed.body["edge_servers"].as_array().unwrap().len(), 1);
    edge.shutdown().await.unwrap();
    hub.shutdown().await.unwrap();
}

/// `saslStart` with PLAIN on a fresh connection: Ok when the edge accepted the password.
async fn plain_login(server: &ServerHandle, user: &str, password: &str) -> bool {
    let uri = format!("mongodb://{}", server.local_addr());
    let payload = format!("\0{user}\0{password}").into_bytes();
    tokio::task::spawn_blocking(move || {
        HubClient::connect(&uri, Duration::from_secs(5))
            .unwrap()
            .command_on(
                "$external",
                doc! {"saslStart": 1, "mechanism": "PLAIN", "payload": bson::Binary {
                subtype: bson::spec::BinarySubtype::Generic, bytes: payload }},
            )
            .is_ok()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edges_authentication_records_reach_the_hubs_logs_newest_first_by_page() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub().await;
    let (api, token, app) = app_session(&hub, "edge_server").await;
    let created = api
        .call(
            "POST",
            &format!("{app}/edge"),
            &token,
            Some(json!({"name": "store-1"})),
        )
        .await;
    let key = created.body["registration_key"].as_str().unwrap();
    let edge = start(Config {
        auth: true,
        dbpath: Some(dir.path().to_path_buf()),
        hub: Some(format!("mongodb://{}", hub.local_addr())),
        registration_key: Some(key.to_string()),
        sync_interval_ms: 20,
        sync_max_backoff_ms: 200,
        ..Config::default()
    })
    .await;
    // The first user through the localhost exception, then a login and a failed one.
    command(
        &edge,
        "admin",
        doc! {"createUser": "alice", "pwd": "secret-pw", "roles": ["root"]},
    )
    .await;
    assert!(plain_login(&edge, "alice", "secret-pw").await);
    assert!(!plain_login(&edge, "alice", "wrong-pw").await);
    assert!(!plain_login(&edge, "bob", "x").await);

    let logs = format!("{app}/logs?user_id=alice@admin");
    let start_wait = Instant::now();
    let page = loop {
        let page = api.call("GET", &logs, &token, None).await;
        assert_eq!(page.status, 200, "{}", page.body);
        if page.body["logs"].as_array().unwrap().len() == 2 {
            break page;
        }
        assert!(start_wait.elapsed() < DEADLINE, "{}", page.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let records = page.body["logs"].as_array().unwrap();
    // Newest first: the failed login came last.
    assert!(
        records[0]["message"].as_str().unwrap().contains("failed"),
        "{}",
        page.body
    );
    assert!(records[1]["message"]
        .as_str()
        .unwrap()
        .starts_with("authenticated"));
    for record in records {
        assert_eq!(record["type"], "auth");
        assert_eq!(record["user_id"], "alice@admin");
        assert_eq!(record["edge_server_id"], created.body["id"]);
    }
    assert_eq!(page.body["next_skip"], Value::Null);

    // Pages of one.
    let first = api
        .call("GET", &format!("{logs}&limit=1"), &token, None)
        .await;
    assert_eq!(first.body["logs"].as_array().unwrap().len(), 1);
    assert_eq!(first.body["logs"][0], records[0]);
    assert_eq!(first.body["next_skip"], 1);
    let second = api
        .call("GET", &format!("{logs}&limit=1&skip=1"), &token, None)
        .await;
    assert_eq!(second.body["logs"][0], records[1]);
    assert_eq!(second.body["next_skip"], Value::Null);
    let bad = api
        .call("GET", &format!("{logs}&limit=0"), &token, None)
        .await;
    assert_eq!(bad.status, 400);
    let bad = api
        .call("GET", &format!("{logs}&limit=x"), &token, None)
        .await;
    assert_eq!(bad.status, 400);
    edge.shutdown().await.unwrap();
    hub.shutdown().await.unwrap();
}

/// `outpost hub edge create` (its wire command) puts an instance in the app of its service and
/// database, made at first use, so the Admin API lists and manages it like the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_made_with_the_wire_cli_is_in_the_admin_api() {
    let hub = start_hub().await;
    let api = Api::new(&hub);
    let key = create_api_key(&hub, "ops").await;
    let token = api.login(&key).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let group = api
        .call("GET", "/api/admin/v3.0/groups", &token, None)
        .await
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let create = |name: &str| {
        doc! {"outpostHubCreateEdge": 1, "name": name, "defaultDb": "shop"}
    };
    let first = command(&hub, "admin", create("till-3")).await;
    let second = command(&hub, "admin", create("till-4")).await;
    let app_id = first.get_str("appId").unwrap();
    assert_eq!(second.get_str("appId"), Ok(app_id));
    let apps = api
        .call(
            "GET",
            &format!("/api/admin/v3.0/groups/{group}/apps"),
            &token,
            None,
        )
        .await;
    let apps = apps.body.as_array().unwrap();
    assert_eq!(apps.len(), 1, "{apps:?}");
    assert_eq!(apps[0]["_id"], app_id);
    assert_eq!(apps[0]["name"], "cli-edge_server-shop");
    assert_eq!(apps[0]["service_type"], "edge_server");
    assert_eq!(apps[0]["database"], "shop");
    let edges = format!("/api/admin/v3.0/groups/{group}/apps/{app_id}/edge");
    let listed = api.call("GET", &edges, &token, None).await;
    let names: Vec<&str> = listed.body["edge_servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["till-3", "till-4"]);
    let one = format!("{edges}/{}", first.get_str("id").unwrap());
    let detail = api.call("GET", &one, &token, None).await;
    assert_eq!(detail.body["status"], "pending");
    let deleted = api.call("DELETE", &one, &token, None).await;
    assert_eq!(deleted.status, 200);
    let listing = command(&hub, "admin", doc! {"outpostHubListEdges": 1}).await;
    assert_eq!(listing.get_array("edges").unwrap().len(), 1);
    hub.shutdown().await.unwrap();
}

/// The hub infers each synced collection's schema from what edges upload; replacing it with
/// one that removes a field is a breaking change that resets the edges syncing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_are_inferred_and_a_breaking_change_resets_the_edges() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub().await;
    let (api, token, app) = app_session(&hub, "edge_server").await;
    let created = api
        .call(
            "POST",
            &format!("{app}/edge"),
            &token,
            Some(json!({"name": "store-1"})),
        )
        .await;
    let one = format!("{app}/edge/{}", created.body["id"].as_str().unwrap());
    let key = created.body["registration_key"].as_str().unwrap();
    let edge = start_edge(&hub, dir.path(), key).await;
    let id = bson::oid::ObjectId::new();
    command(
        &edge,
        "shop",
        doc! {"insert": "items", "documents": [{"_id": id, "name": "a", "qty": 1}]},
    )
    .await;
    wait_for_count(&hub, "shop.items", doc! {}, 1).await;

    // Learned from the upload: listed with App Services' metadata, described with bsonTypes.
    let listed = api
        .call("GET", &format!("{app}/schemas"), &token, None)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(
        listed.body[0]["metadata"],
        json!({"data_source": "mongodb-atlas", "database": "shop", "collection": "items"})
    );
    let path = format!("{app}/schemas/{}", listed.body[0]["_id"].as_str().unwrap());
    let full = api.call("GET", &path, &token, None).await;
    assert_eq!(full.status, 200, "{}", full.body);
    let schema = &full.body["schema"];
    assert_eq!(schema["title"], "items");
    assert_eq!(schema["bsonType"], "object");
    assert_eq!(schema["properties"]["_id"]["bsonType"], "objectId");
    assert_eq!(schema["properties"]["name"]["bsonType"], "string");
    assert_eq!(schema["properties"]["qty"]["bsonType"], "int");

    // Adding a field is not breaking; the schema is replaced.
    let mut added = schema.clone();
    added["properties"]["note"] = json!({"bsonType": "string"});
    let put = api
        .call("PUT", &path, &token, Some(json!({"schema": added.clone()})))
        .await;
    assert_eq!(put.status, 204, "{}", put.body);
    assert_eq!(
        api.call("GET", &path, &token, None).await.body["schema"],
        added
    );
    assert_eq!(
        api.call("GET", &one, &token, None).await.body["last_reset"],
        Value::Null
    );

    // Removing one is: the edge is reset, and keeps its data.
    let mut removed = added;
    removed["properties"].as_object_mut().unwrap().remove("qty");
    let put = api
        .call("PUT", &path, &token, Some(json!({"schema": removed})))
        .await;
    assert_eq!(put.status, 204, "{}", put.body);
    let reset = wait_for_edge(&api, &token, &one, |e| {
        e["status"] == "active" && e["last_reset"]["reason"].is_string()
    })
    .await;
    let reason = reset["last_reset"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("breaking schema change of shop.items: 'qty' removed"),
        "{reason}"
    );
    assert_eq!(count(&edge, "shop.items", doc! {"_id": id}).await, 1);

    // Refused: an unknown schema, a schema that is not an object's.
    let unknown = format!("{app}/schemas/{}", "0".repeat(24));
    let missing = api
        .call(
            "PUT",
            &unknown,
            &token,
            Some(json!({"schema": {"bsonType": "object"}})),
        )
        .await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    let not_object = api
        .call(
            "PUT",
            &path,
            &token,
            Some(json!({"schema": {"bsonType": "string"}})),
        )
        .await;
    assert_eq!(not_object.status, 400, "{}", not_object.body);
    edge.shutdown().await.unwrap();
    hub.shutdown().await.unwrap();
}

/// The hub keeps what edges report in its storage: after a restart on the same data
/// directory, an instance's last metrics and its log records are still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reported_metrics_and_logs_survive_a_hub_restart() {
    let dir = tempfile::tempdir().unwrap();
    let hub_config = || Config {
        hub_mode: true,
        http_port: Some(0),
        dbpath: Some(dir.path().join("hub")),
        ..Config::default()
    };
    let hub = start(hub_config()).await;
    let api = Api::new(&hub);
    let key = create_api_key(&hub, "ops").await;
    let login = api.login(&key).await;
    let token = login.body["access_token"].as_str().unwrap().to_string();
    let group = api
        .call("GET", "/api/admin/v3.0/groups", &token, None)
        .await
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let app = api
        .call(
            "POST",
            &format!("/api/admin/v3.0/groups/{group}/apps"),
            &token,
            Some(json!({"name": "shop", "service_type": "edge_server", "database": "shop"})),
        )
        .await;
    let app = format!(
        "/api/admin/v3.0/groups/{group}/apps/{}",
        app.body["_id"].as_str().unwrap()
    );
    let created = api
        .call(
            "POST",
            &format!("{app}/edge"),
            &token,
            Some(json!({"name": "store-1"})),
        )
        .await;
    let one = format!("{app}/edge/{}", created.body["id"].as_str().unwrap());
    let edge = start(Config {
        auth: true,
        dbpath: Some(dir.path().join("edge")),
        hub: Some(format!("mongodb://{}", hub.local_addr())),
        registration_key: Some(created.body["registration_key"].as_str().unwrap().into()),
        sync_interval_ms: 20,
        sync_max_backoff_ms: 200,
        ..Config::default()
    })
    .await;
    command(
        &edge,
        "admin",
        doc! {"createUser": "alice", "pwd": "secret-pw", "roles": ["root"]},
    )
    .await;
    assert!(!plain_login(&edge, "alice", "wrong-pw").await);
    let logs = format!("{app}/logs?user_id=alice@admin");
    let start_wait = Instant::now();
    loop {
        let page = api.call("GET", &logs, &token, None).await;
        if page.body["logs"]
            .as_array()
            .is_some_and(|logs| !logs.is_empty())
        {
            break;
        }
        assert!(start_wait.elapsed() < DEADLINE, "{}", page.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for_edge(&api, &token, &one, |e| {
        e["metrics"].as_array().is_some_and(|m| !m.is_empty())
    })
    .await;
    // The edge stops: nothing is reported any more.
    edge.shutdown().await.unwrap();
    let before = api.call("GET", &logs, &token, None).await.body;
    let reported = api.call("GET", &one, &token, None).await.body;
    // (The client's pooled connections would keep the old hub's storage open.)
    drop(api);
    hub.shutdown().await.unwrap();

    // A request the old hub was still finishing may hold its database for a moment.
    let start_time = Instant::now();
    let hub = loop {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        match Server::builder()
            .config(hub_config())
            .start_on(listener)
            .await
        {
            Ok(hub) => break hub,
            Err(error) => {
                assert!(start_time.elapsed() < DEADLINE, "hub restart: {error}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let api = Api::new(&hub);
    let token = api.login(&key).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let after = api.call("GET", &logs, &token, None).await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(after.body, before);
    let detail = api.call("GET", &one, &token, None).await.body;
    assert_eq!(detail["metrics"], reported["metrics"]);
    assert_eq!(detail["metrics_reported"], reported["metrics_reported"]);
    hub.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_the_hub_serves_is_in_its_openapi_description() {
    let hub = start_hub().await;
    let api = Api::new(&hub);
    let description = api
        .raw("GET", "/api/admin/v3.0/openapi.json", &[], b"")
        .await;
    assert_eq!(description.status, 200);
    assert_eq!(description.body["openapi"], "3.0.3");
    let paths = description.body["paths"].as_object().unwrap();
    let routes = outpost_server::admin_api::routes();
    let mut described = 0;
    for (path, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            described += 1;
            assert!(
                routes
                    .iter()
                    .any(|r| r.path == path && r.method.as_str().eq_ignore_ascii_case(method)),
                "{method} {path} described but not routed"
            );
            // Served: anything but the router's "no such route" 404 (an id that does not
            // exist is a 404 of its own kind, 401 comes before it).
            let concrete = path
                .replace("{group_id}", &"0".repeat(24))
                .replace("{app_id}", &"0".repeat(24))
                .replace("{edge_id}", &"0".repeat(24));
            let reply = api.raw(&method.to_uppercase(), &concrete, &[], b"").await;
            assert_ne!(
                reply.body["error_code"], "NotFound",
                "{method} {path}: {}",
                reply.body
            );
            assert_ne!(reply.status, 405, "{method} {path}");
        }
    }
    assert_eq!(described, routes.len());
    for route in &routes {
        let operation = &paths[route.path][route.method.as_str().to_lowercase()];
        assert_eq!(operation["summary"], route.summary);
        assert_eq!(
            operation.get("security").is_some(),
            route.protected,
            "{}",
            route.path
        );
    }
    // And what is not described is not served.
    let unknown = api
        .raw("GET", "/api/admin/v3.0/groups/x/things", &[], b"")
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["error_code"], "NotFound");
    hub.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_speaking_an_older_protocol_is_failed_until_it_says_hello_in_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub().await;
    let (api, token, app) = app_session(&hub, "edge_server").await;
    let created = api
        .call(
            "POST",
            &format!("{app}/edge"),
            &token,
            Some(json!({"name": "old"})),
        )
        .await;
    let one = format!("{app}/edge/{}", created.body["id"].as_str().unwrap());
    let key = created.body["registration_key"].as_str().unwrap();
    let edge = start_edge(&hub, dir.path(), key).await;
    wait_for_edge(&api, &token, &one, |e| e["status"] == "active").await;
    edge.shutdown().await.unwrap();

    // The edge's API key, from its identity file, said in protocol 2.0.
    let state = std::fs::read(dir.path().join("outpost-sync-state.bson")).unwrap();
    let api_key = bson::Document::from_reader(&state[..])
        .unwrap()
        .get_str("apiKey")
        .unwrap()
        .to_string();
    let uri = format!("mongodb://{}", hub.local_addr());
    let refused = tokio::task::spawn_blocking(move || {
        HubClient::connect(&uri, Duration::from_secs(5))
            .unwrap()
            .command_on(
                "admin",
                doc! {"outpostSyncHello": 1, "apiKey": api_key, "protocolVersion": "2.0"},
            )
    })
    .await
    .unwrap();
    assert_eq!(refused.unwrap_err().code(), 188);
    let failed = api.call("GET", &one, &token, None).await;
    assert_eq!(failed.body["status"], "failed");
    let reason = failed.body["status_reason"].as_str().unwrap();
    assert!(reason.starts_with("edge too old"), "{reason}");
    assert!(reason.contains("upgrade the edge"), "{reason}");

    // The upgraded edge (the current protocol) is active again.
    let edge = start(Config {
        dbpath: Some(dir.path().to_path_buf()),
        hub: Some(format!("mongodb://{}", hub.local_addr())),
        sync_interval_ms: 20,
        sync_max_backoff_ms: 200,
        ..Config::default()
    })
    .await;
    wait_for_edge(&api, &token, &one, |e| e["status"] == "active").await;
    edge.shutdown().await.unwrap();
    hub.shutdown().await.unwrap();
}

/// Runs the `outpost` binary to completion (off the async workers); its stdout as JSON.
async fn outpost_json(args: Vec<String>) -> Value {
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_outpost"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Real processes: an edge registered with a key made through the API syncs, shows active
/// with metrics, is renamed, re-keyed (failed until restarted with the new key, then active
/// again with its data), and deleted (its key stops working).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_process_lives_through_the_admin_api_from_registration_to_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let (hub_port, http_port, edge_port) = (
        processes::free_port(),
        processes::free_port(),
        processes::free_port(),
    );
    let _hub = processes::outpost(&[
        "hub",
        "--port",
        &hub_port.to_string(),
        "--http-port",
        &http_port.to_string(),
        "--dbpath",
        dir.path().join("hub").to_str().unwrap(),
    ]);
    tokio::task::spawn_blocking(move || processes::client(hub_port))
        .await
        .unwrap();
    let hub_uri = format!("mongodb://127.0.0.1:{hub_port}");
    let key = outpost_json(
        [
            "hub", "apikey", "create", "--hub", &hub_uri, "--name", "ops",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    let api = Api::at(&format!("127.0.0.1:{http_port}"));
    let login = api.login(&key).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let token = login.body["access_token"].as_str().unwrap().to_string();
    let group = api
        .call("GET", "/api/admin/v3.0/groups", &token, None)
        .await
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let app = api
        .call(
            "POST",
            &format!("/api/admin/v3.0/groups/{group}/apps"),
            &token,
            Some(json!({"name": "shop", "service_type": "edge_server", "database": "shop"})),
        )
        .await;
    let edges = format!(
        "/api/admin/v3.0/groups/{group}/apps/{}/edge",
        app.body["_id"].as_str().unwrap()
    );
    let created = api
        .call("POST", &edges, &token, Some(json!({"name": "store-7"})))
        .await;
    let one = format!("{edges}/{}", created.body["id"].as_str().unwrap());
    let edge_args = |key: &str| {
        vec![
            "serve".to_string(),
            "--port".into(),
            edge_port.to_string(),
            "--dbpath".into(),
            dir.path().join("edge").to_str().unwrap().to_string(),
            "--hub".into(),
            hub_uri.clone(),
            "--registration-key".into(),
            key.to_string(),
        ]
    };
    let start_edge_process = |key: &str| {
        let args = edge_args(key);
        processes::outpost(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let mut edge = start_edge_process(created.body["registration_key"].as_str().unwrap());
    tokio::task::spawn_blocking(move || processes::client(edge_port))
        .await
        .unwrap();

    // A write at the edge reaches the hub; the instance is active, with metrics.
    let edge_uri = format!("mongodb://127.0.0.1:{edge_port}");
    let insert = |uri: String| async move {
        tokio::task::spawn_blocking(move || {
            HubClient::connect(&uri, Duration::from_secs(5))
                .unwrap()
                .command_on(
                    "shop",
                    doc! {"insert": "orders", "documents": [{"_id": bson::oid::ObjectId::new()}]},
                )
                .unwrap()
        })
        .await
        .unwrap()
    };
    insert(edge_uri.clone()).await;
    let hub_count = || async {
        let uri = hub_uri.clone();
        tokio::task::spawn_blocking(move || {
            HubClient::connect(&uri, Duration::from_secs(5))
                .unwrap()
                .command_on("shop", doc! {"count": "orders"})
                .unwrap()
                .get_i32("n")
                .unwrap()
        })
        .await
        .unwrap()
    };
    let start_wait = Instant::now();
    while hub_count().await != 1 {
        assert!(
            start_wait.elapsed() < DEADLINE,
            "the edge's write never reached the hub"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Reports come every 10 s: one after the first exchanges counts them.
    let synced = |e: &Value| {
        e["metrics"].as_array().is_some_and(|metrics| {
            metrics
                .iter()
                .any(|m| m["key"] == "sync_requests_success" && m["value"].as_f64().unwrap() >= 1.0)
        })
    };
    let active = wait_for_edge(&api, &token, &one, |e| e["status"] == "active" && synced(e)).await;
    assert!(active["hostname"].is_string());

    let renamed = api
        .call(
            "POST",
            &format!("{one}/rename"),
            &token,
            Some(json!({"name": "store-seven"})),
        )
        .await;
    assert_eq!(renamed.status, 204);
    assert_eq!(
        api.call("GET", &one, &token, None).await.body["name"],
        "store-seven"
    );

    // Re-keyed: failed, until the edge is restarted with the new key.
    let rekeyed = api
        .call(
            "POST",
            &format!("{one}/regenerate-registration-key"),
            &token,
            None,
        )
        .await;
    let new_key = rekeyed.body["registration_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        api.call("GET", &one, &token, None).await.body["status"],
        "failed"
    );
    edge.kill();
    let _edge = start_edge_process(&new_key);
    tokio::task::spawn_blocking(move || processes::client(edge_port))
        .await
        .unwrap();
    wait_for_edge(&api, &token, &one, |e| e["status"] == "active").await;
    insert(edge_uri.clone()).await;
    let start_wait = Instant::now();
    while hub_count().await != 2 {
        assert!(start_wait.elapsed() < DEADLINE, "no sync after the re-key");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Deleted: gone from the API; the edge's sync stops, it keeps serving locally.
    let deleted = api.call("DELETE", &one, &token, None).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(api.call("GET", &one, &token, None).await.status, 404);
    let start_wait = Instant::now();
    loop {
        let uri = edge_uri.clone();
        let status = tokio::task::spawn_blocking(move || {
            HubClient::connect(&uri, Duration::from_secs(5))
                .unwrap()
                .command(doc! {"outpostSyncStatus": 1})
                .unwrap()
        })
        .await
        .unwrap();
        if status.get_str("state") == Ok("failed") {
            break;
        }
        // A write makes the upload side talk to the hub, which refuses the deleted edge.
        insert(edge_uri.clone()).await;
        assert!(start_wait.elapsed() < DEADLINE, "{status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    insert(edge_uri.clone()).await;
}

/// What the console needs beyond Atlas' API (Outpost's additions): a query given at creation
/// and refused with its position, the hub's wire port, an hour of metrics history, the sync
/// lag, and logs filtered by instance and level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consoles_additions_query_positions_history_lag_and_log_levels() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub().await;
    let (api, token, app) = app_session(&hub, "edge_server").await;

    let info = api.call("GET", "/api/admin/v3.0/hub", &token, None).await;
    assert_eq!(info.status, 200, "{}", info.body);
    assert_eq!(info.body["wire_port"], hub.local_addr().port());
    assert_eq!(info.body["tls"], false);

    // A query that does not parse: where, by collection and byte offset.
    let refused = api
        .call(
            "POST",
            &format!("{app}/edge"),
            &token,
            Some(json!({"name": "store-1", "query": {"orders": "storeId == "}})),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.body["query_key"], "orders");
    assert_eq!(refused.body["query_position"], 11);
    let listing = api.call("GET", &format!("{app}/edge"), &token, None).await;
    assert_eq!(
        listing.body["edge_servers"],
        json!([]),
        "nothing was created"
    );

    let created = api
        .call(
            "POST",
            &format!("{app}/edge"),
            &token,
            Some(json!({"name": "store-1", "query": {"orders": "storeId == 7"}})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let one = format!("{app}/edge/{}", created.body["id"].as_str().unwrap());
    let pending = api.call("GET", &one, &token, None).await.body;
    assert_eq!(pending["query"], json!({"orders": "storeId == 7"}));
    assert_eq!(pending["sync_lag"], Value::Null);
    let empty = api
        .call("GET", &format!("{one}/metrics/history"), &token, None)
        .await;
    assert_eq!(empty.body, json!({"window_seconds": 3600, "points": []}));

    let edge = start_edge(
        &hub,
        dir.path(),
        created.body["registration_key"].as_str().unwrap(),
    )
    .await;
    // The first report comes right after connecting.
    let start_wait = Instant::now();
    let history = loop {
        let history = api
            .call("GET", &format!("{one}/metrics/history"), &token, None)
            .await;
        assert_eq!(history.status, 200, "{}", history.body);
        if !history.body["points"].as_array().unwrap().is_empty() {
            break history.body;
        }
        assert!(start_wait.elapsed() < DEADLINE, "{}", history.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let metrics = &history["points"][0]["metrics"];
    for key in [
        "sync_changes_downloaded",
        "sync_changes_uploaded",
        "edge_process_memory_bytes",
        "overall_request_success",
    ] {
        assert!(metrics[key].is_number(), "{key}: {history}");
    }
    assert!(history["points"][0]["time"].is_string());

    // Caught up: no lag. Stopped, then a write at the hub: one change behind.
    let caught_up = wait_for_edge(&api, &token, &one, |e| {
        e["status"] == "active" && e["sync_lag"]["changes"] == 0
    })
    .await;
    assert_eq!(caught_up["sync_lag"]["seconds"], 0.0);
    assert!(caught_up["package_version"].is_string());
    // Logs by instance and level: the edge's start is an info record (sent with the report
    // after the first, 10 s later).
    let id = created.body["id"].as_str().unwrap();
    let logs = |query: String| {
        let api = &api;
        let token = &token;
        let app = &app;
        async move {
            api.call("GET", &format!("{app}/logs?{query}"), token, None)
                .await
        }
    };
    let start_wait = Instant::now();
    loop {
        let info_logs = logs(format!("edge_server_id={id}&level=info")).await;
        assert_eq!(info_logs.status, 200, "{}", info_logs.body);
        let records = info_logs.body["logs"].as_array().unwrap();
        if records
            .iter()
            .any(|r| r["message"] == "sync with the hub started" && r["level"] == "info")
        {
            break;
        }
        assert!(start_wait.elapsed() < DEADLINE, "{}", info_logs.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let errors = logs(format!("edge_server_id={id}&errors_only=true")).await;
    assert_eq!(errors.body["logs"], json!([]), "{}", errors.body);
    let other = logs("edge_server_id=000000000000000000000000".to_string()).await;
    assert_eq!(other.body["logs"], json!([]));
    let bad = logs("level=loud".to_string()).await;
    assert_eq!(bad.status, 400);

    edge.shutdown().await.unwrap();
    command(
        &hub,
        "shop",
        doc! {"insert": "orders", "documents": [{"_id": bson::oid::ObjectId::new(), "storeId": 7}]},
    )
    .await;
    let behind = api.call("GET", &format!("{app}/edge"), &token, None).await;
    let lag = &behind.body["edge_servers"][0]["sync_lag"];
    assert!(lag["changes"].as_u64().unwrap() >= 1, "{lag}");
    assert!(lag["seconds"].as_f64().unwrap() >= 0.0, "{lag}");
    assert!(lag["upload_backlog"].is_number(), "{lag}");

    hub.shutdown().await.unwrap();
}
