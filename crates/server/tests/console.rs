//! The hub's web console in a real headless Chromium, driven over WebDriver (chromedriver,
//! `fantoccini`), against real `outpost` processes: sign in (a wrong key pair first), create
//! an app, add a server and read its registration key, start an edge with the command the page
//! shows and watch its row turn Active without a reload, open its detail view (metrics, chart,
//! logs), refuse a bad query with its position, rename, regenerate the key (Failed), delete,
//! sign out; access tokens last 2 seconds, so the session is renewed all along. Screenshots of the dashboard and the detail view at 1280x800 and 390x844 go to
//! `docs/`. Plus HTTP-level checks of the console's routes and security headers.
//!
//! Chromium and chromedriver come from Debian's `chromium` and `chromium-driver` packages:
//! installed here with apt-get when missing and running as root, else the test fails naming
//! them (it never passes without a browser).
//!
//! Everything is polled with a bounded deadline, never assumed after a sleep.

mod processes;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use outpost_server::hub::client::HubClient;
use outpost_server::{Config, Server};
use serde_json::{json, Value};

/// A bound on waiting for the page or the processes, never a timing assertion.
const DEADLINE: Duration = Duration::from_secs(120);
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Chromium and chromedriver, installed from Debian's packages when missing and possible.
fn ensure_browser() {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return;
    }
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    let apt = Path::new("/usr/bin/apt-get").exists();
    assert!(
        root && apt,
        "the console tests need Chromium and chromedriver: install Debian's packages \
         `chromium` and `chromium-driver` (apt-get install chromium chromium-driver)"
    );
    let run = |args: &[&str]| {
        let status = std::process::Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("apt-get");
        assert!(status.success(), "apt-get {args:?} failed");
    };
    run(&["update", "-qq"]);
    run(&["install", "-y", "-qq", "chromium", "chromium-driver"]);
    assert!(Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists());
}

/// A headless Chromium session through a chromedriver of our own (killed when dropped).
async fn browser() -> (Client, processes::Process) {
    ensure_browser();
    let port = processes::free_port();
    let driver = processes::spawn(CHROMEDRIVER, &[&format!("--port={port}")]);
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,800", "--force-device-scale-factor=1", "--lang=en-US"],
        },
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    let start = Instant::now();
    loop {
        let connected = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        match connected {
            Ok(client) => return (client, driver),
            Err(error) => {
                assert!(start.elapsed() < DEADLINE, "chromedriver: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Runs `script` (a function body) until it returns something other than null/false/"".
async fn until(client: &Client, what: &str, script: &str) -> Value {
    let start = Instant::now();
    loop {
        let value = client.execute(script, vec![]).await.unwrap();
        let ready =
            !matches!(&value, Value::Null | Value::Bool(false)) && value.as_str() != Some("");
        if ready {
            return value;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "waited for {what}; last: {value}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The form control whose `<label>` reads `label` (its accessible name).
async fn labelled(client: &Client, label: &str) -> fantoccini::elements::Element {
    let xpath = format!("//label[normalize-space()='{label}']");
    let label = client
        .wait()
        .at_most(DEADLINE)
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|error| panic!("no label '{label}': {error}"));
    let id = label.attr("for").await.unwrap().expect("label without for");
    client.find(Locator::Id(&id)).await.unwrap()
}

async fn fill(client: &Client, label: &str, text: &str) {
    let control = labelled(client, label).await;
    control.clear().await.unwrap();
    control.send_keys(text).await.unwrap();
}

/// Clicks the (last shown) button whose text is `text`.
async fn click(client: &Client, text: &str) {
    let xpath = format!("(//button[normalize-space()='{text}' and not(@disabled)])[last()]");
    client
        .wait()
        .at_most(DEADLINE)
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|error| panic!("no button '{text}': {error}"))
        .click()
        .await
        .unwrap();
}

/// Every control of the page has an accessible name (a label, aria-label or text).
async fn check_names(client: &Client, view: &str) {
    let unnamed = client
        .execute(
            "return [...document.querySelectorAll('button, input, select, textarea, a[href]')]
               .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                 && !el.getAttribute('aria-labelledby') && !el.textContent.trim()
                 && !el.classList.contains('offscreen'))
               .map((el) => el.outerHTML);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(unnamed, json!([]), "controls without a name on the {view}");
}

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

/// chromedriver's Chrome DevTools command (`POST /session/{id}/goog/cdp/execute`).
#[derive(Debug)]
struct Cdp(Value);

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (hyper::Method, Option<String>) {
        (hyper::Method::POST, Some(self.0.to_string()))
    }
}

/// A screenshot of a `width`x`height` viewport (the device metrics Chromium emulates, as its
/// device toolbar does: a window cannot be narrower than 500 pixels), as
/// `docs/console-{name}-{width}.png`.
async fn screenshot(client: &Client, name: &str, width: u32, height: u32) {
    client
        .issue_cmd(Cdp(json!({
            "cmd": "Emulation.setDeviceMetricsOverride",
            "params": {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500},
        })))
        .await
        .unwrap();
    until(
        client,
        "the emulated viewport",
        &format!(
            "return window.innerWidth === {width} && window.innerHeight === {height}
               && document.fonts.status === 'loaded';"
        ),
    )
    .await;
    client
        .execute("window.scrollTo(0, 0); return null;", vec![])
        .await
        .unwrap();
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    std::fs::create_dir_all(docs_dir()).unwrap();
    std::fs::write(docs_dir().join(format!("console-{name}-{width}.png")), png).unwrap();
    client
        .issue_cmd(Cdp(
            json!({"cmd": "Emulation.clearDeviceMetricsOverride", "params": {}}),
        ))
        .await
        .unwrap();
}

/// Runs the `outpost` binary to completion; its stdout as JSON.
fn outpost_json(args: &[&str]) -> Value {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Some client traffic at an edge, for its metrics.
fn insert_some(port: u16, n: usize) {
    let mut client = HubClient::connect(
        &format!("mongodb://127.0.0.1:{port}"),
        Duration::from_secs(10),
    )
    .unwrap();
    for i in 0..n {
        client
            .command_on(
                "shop",
                bson::doc! {"insert": "orders", "documents": [{"_id": bson::oid::ObjectId::new(), "n": i as i64}]},
            )
            .unwrap();
    }
}

/// The text of the status badge of the dashboard row named `name` ("" while absent).
fn row_status(name: &str) -> String {
    format!(
        "const row = [...document.querySelectorAll('table.edges tbody tr')]
           .find((tr) => tr.querySelector('th') && tr.querySelector('th').textContent === '{name}');
         return row ? row.querySelector('.status').textContent : '';"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_manages_an_edge_from_sign_in_to_deletion_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let (hub_port, http_port, edge_port) = (
        processes::free_port(),
        processes::free_port(),
        processes::free_port(),
    );
    // Access tokens of 2 seconds: the console renews its session all along the test.
    let config = dir.path().join("hub.toml");
    std::fs::write(&config, "admin_access_token_secs = 2\n").unwrap();
    let _hub = processes::outpost(&[
        "hub",
        "--config",
        config.to_str().unwrap(),
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
    let key = outpost_json(&[
        "hub", "apikey", "create", "--hub", &hub_uri, "--name", "ops",
    ]);
    let (public_key, private_key) = (
        key["public_key"].as_str().unwrap(),
        key["private_key"].as_str().unwrap(),
    );
    let (client, _driver) = browser().await;
    let console = format!("http://127.0.0.1:{http_port}/");

    sign_in(&client, &console, public_key, private_key).await;
    let (registration_key, command) = add_server(&client, "store-7", hub_port).await;
    // A second instance that stays pending (the screenshots show both).
    add_server(&client, "store-8", hub_port).await;
    let edge = start_edge(&command, edge_port, &dir.path().join("edge")).await;
    watch_it_turn_active(&client).await;
    detail_view(&client, edge_port).await;
    logs_and_query(&client).await;
    rename_rekey_delete(&client, &registration_key, edge).await;
    click(&client, "Sign out").await;
    labelled(&client, "Public key").await;
    client.close().await.unwrap();
}

/// A wrong key pair refused with a message, then the right one; the group has no app yet,
/// so the console creates one and shows its dashboard.
async fn sign_in(client: &Client, console: &str, public_key: &str, private_key: &str) {
    // A wrong key pair: an error on the sign-in page.
    client.goto(console).await.unwrap();
    fill(client, "Public key", public_key).await;
    fill(client, "Private key", "0".repeat(64).as_str()).await;
    check_names(client, "sign-in page").await;
    click(client, "Sign in").await;
    let refused = until(
        client,
        "the sign-in error",
        "const e = document.getElementById('signin-error'); return e && !e.hidden && e.textContent;",
    )
    .await;
    assert!(
        refused.as_str().unwrap().contains("Sign-in failed"),
        "{refused}"
    );

    // The right one; the group has no app yet: the console creates one.
    fill(client, "Private key", private_key).await;
    click(client, "Sign in").await;
    fill(client, "App name", "shops").await;
    fill(client, "Database", "shop").await;
    click(client, "Create app").await;
    until(
        client,
        "the dashboard",
        "return document.querySelector('table.edges thead th') !== null;",
    )
    .await;
    let headers = client
        .execute(
            "return [...document.querySelectorAll('table.edges thead th')].map((th) => th.textContent);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        headers,
        json!([
            "Name",
            "Status",
            "Last connection",
            "Hostname",
            "Version",
            "Sync lag"
        ])
    );
    check_names(client, "dashboard").await;
    // Set in the page: still there at the end proves the dashboard never reloaded.
    client
        .execute("window.notReloaded = true; return null;", vec![])
        .await
        .unwrap();
}

/// "Add a server": the registration key and the command, shown once.
async fn add_server(client: &Client, name: &str, hub_port: u16) -> (String, String) {
    // Add a server: its key and the command, shown once.
    click(client, "Add a server").await;
    fill(client, "Name", name).await;
    check_names(client, "add-a-server dialog").await;
    click(client, "Create").await;
    let registration_key = until(
        client,
        "the registration key",
        "const k = document.getElementById('registration-key'); return k && k.textContent;",
    )
    .await;
    let registration_key = registration_key.as_str().unwrap().to_string();
    let command = client
        .find(Locator::Id("start-command"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        command,
        format!("outpost serve --hub mongodb://127.0.0.1:{hub_port} --registration-key {registration_key}")
    );
    client
        .find(Locator::Css("button[aria-label='Copy the command']"))
        .await
        .unwrap();
    click(client, "Done").await;
    until(
        client,
        "the pending row",
        &format!("return {}", js_fn(&row_status(name))),
    )
    .await;
    assert_eq!(
        client.execute(&row_status(name), vec![]).await.unwrap(),
        "Pending"
    );

    (registration_key, command)
}

/// The edge, started with the page's command (plus its own port and data directory).
async fn start_edge(command: &str, edge_port: u16, dbpath: &Path) -> processes::Process {
    let mut args: Vec<String> = command
        .split_whitespace()
        .skip(1)
        .map(String::from)
        .collect();
    args.extend([
        "--port".to_string(),
        edge_port.to_string(),
        "--dbpath".into(),
        dbpath.to_str().unwrap().to_string(),
    ]);
    let edge = processes::outpost(&args.iter().map(String::as_str).collect::<Vec<_>>());
    tokio::task::spawn_blocking(move || processes::client(edge_port))
        .await
        .unwrap();
    tokio::task::spawn_blocking(move || insert_some(edge_port, 20))
        .await
        .unwrap();

    edge
}

/// The new edge's row turns Active without a reload, with its hostname and version.
async fn watch_it_turn_active(client: &Client) {
    until(
        client,
        "store-7 to turn Active",
        &format!("return {} === 'Active';", js_fn(&row_status("store-7"))),
    )
    .await;
    assert_eq!(
        client
            .execute("return window.notReloaded === true;", vec![])
            .await
            .unwrap(),
        true
    );
    until(
        client,
        "the edge's hostname and version in its row",
        "const row = document.querySelector('table.edges tbody tr');
         return row && row.querySelector('[data-label=Hostname]').textContent !== '—'
           && row.querySelector('[data-label=Version]').textContent !== '—';",
    )
    .await;
    screenshot(client, "dashboard", 1280, 800).await;
    screenshot(client, "dashboard", 390, 844).await;
}

/// The detail view: overview, metric cards, the charts' lines, the edge's log records.
async fn detail_view(client: &Client, edge_port: u16) {
    client
        .find(Locator::LinkText("store-7"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        client,
        "the detail view",
        "const h = document.querySelector('h1'); return h && h.textContent === 'store-7';",
    )
    .await;
    until(
        client,
        "the metric cards",
        "return [...document.querySelectorAll('.metric .metric-name')]
           .some((n) => n.textContent === 'Successful sync requests');",
    )
    .await;
    until(
        client,
        "a log record of the edge",
        "return [...document.querySelectorAll('table.logs tbody td.message')]
           .some((m) => m.textContent === 'sync with the hub started');",
    )
    .await;
    check_names(client, "detail view").await;
    // More traffic for the request chart, whose line needs two rates: three reports.
    tokio::task::spawn_blocking(move || insert_some(edge_port, 30))
        .await
        .unwrap();
    until(
        client,
        "the request chart's line (three reports, 10 s apart)",
        "return document.querySelector('#chart-requests path.line') !== null;",
    )
    .await;
    let overview = client
        .execute(
            "return [...document.querySelectorAll('dl.facts dt')].map((dt) => dt.textContent);",
            vec![],
        )
        .await
        .unwrap();
    let overview = overview.to_string();
    for fact in [
        "ID",
        "User ID",
        "Status",
        "Created",
        "Last connection",
        "Hostname",
        "Package version",
        "Latest version",
        "Sync lag",
    ] {
        assert!(
            overview.contains(&format!("\"{fact}\"")),
            "{fact} missing from {overview}"
        );
    }
    screenshot(client, "detail", 1280, 800).await;
    screenshot(client, "detail", 390, 844).await;
    // And the whole detail view (charts, query, logs) for the README.
    let height = client
        .execute("return document.documentElement.scrollHeight;", vec![])
        .await
        .unwrap();
    let height = u32::try_from(height.as_u64().unwrap()).unwrap();
    screenshot(client, "detail-full", 1280, height).await;
}

/// The logs filtered by level, and a refused query with its position.
async fn logs_and_query(client: &Client) {
    // The logs filtered by level: the edge's start is "info", none is "error".
    let level = labelled(client, "Level").await;
    level.select_by_value("error").await.unwrap();
    until(
        client,
        "no error records",
        "const cell = document.querySelector('table.logs tbody td.empty');
         return cell && cell.textContent === 'No log records.';",
    )
    .await;
    level.select_by_value("info").await.unwrap();
    until(
        client,
        "the info records again",
        "return document.querySelector('table.logs tbody .level-info') !== null;",
    )
    .await;

    // A query the API refuses: its message and the position in the RQL text.
    fill(client, "Instance query", r#"{"orders": "storeId == "}"#).await;
    click(client, "Save query").await;
    let refused = until(
        client,
        "the query's error and its position",
        "const e = document.querySelector('.error .where'); return e && e.textContent;",
    )
    .await;
    assert_eq!(refused, "In the query for \"orders\", at position 11:");
}

/// Rename, regenerate the key (Failed), delete (typing the name).
async fn rename_rekey_delete(
    client: &Client,
    registration_key: &str,
    mut edge: processes::Process,
) {
    // Rename.
    click(client, "Rename").await;
    fill(client, "New name", "store-seven").await;
    click(client, "Rename").await;
    until(
        client,
        "the new name",
        "return document.querySelector('h1').textContent === 'store-seven';",
    )
    .await;

    // Regenerate the key: the confirmation warns; the instance turns Failed.
    click(client, "Regenerate registration key").await;
    let warning = until(
        client,
        "the confirmation",
        "const w = document.querySelector('dialog .warning'); return w && w.textContent;",
    )
    .await;
    assert!(
        warning
            .as_str()
            .unwrap()
            .contains("will fail until it gets the new key"),
        "{warning}"
    );
    click(client, "Regenerate key").await;
    let new_key = until(
        client,
        "the new key",
        "const k = document.getElementById('registration-key'); return k && k.textContent;",
    )
    .await;
    assert_ne!(new_key.as_str().unwrap(), registration_key);
    click(client, "Done").await;
    until(
        client,
        "the Failed status and its reason",
        "const s = document.querySelector('.title-line .status');
         return s && s.textContent === 'Failed' && s.title === 'API key invalid';",
    )
    .await;
    edge.kill();

    // Delete, confirmed by typing the name: back on the dashboard, the row gone.
    click(client, "Delete").await;
    fill(client, "Type \"store-seven\" to confirm", "store-seven").await;
    click(client, "Delete").await;
    until(
        client,
        "the dashboard without the instance",
        "const rows = [...document.querySelectorAll('table.edges tbody th')].map((th) => th.textContent);
         return rows.length === 1 && rows[0] === 'store-8';",
    )
    .await;
}

/// `script` (a function body with `return`) as an expression.
fn js_fn(script: &str) -> String {
    format!("(() => {{ {script} }})()")
}

/// One HTTP request to the hub: status, headers and body text.
async fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, hyper::HeaderMap, String) {
    let client: HttpClient<HttpConnector, Full<Bytes>> =
        HttpClient::builder(TokioExecutor::new()).build_http();
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{address}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(
            request
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_with_a_strict_policy_and_cross_origin_writes_are_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hub = Server::builder()
        .config(Config {
            hub_mode: true,
            http_port: Some(0),
            dbpath: None,
            ..Config::default()
        })
        .start_on(listener)
        .await
        .unwrap();
    let address = hub.http_addr().unwrap().to_string();

    let (status, headers, page) = http(&address, "GET", "/", &[], "").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(page.contains(r#"<script type="module" src="/console/js/main.js"></script>"#));
    let policy = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");

    for (path, kind) in [
        ("/console/", "text/html; charset=utf-8"),
        ("/console/console.css", "text/css; charset=utf-8"),
        ("/console/js/main.js", "text/javascript; charset=utf-8"),
        ("/console/js/api.js", "text/javascript; charset=utf-8"),
        ("/console/icon.svg", "image/svg+xml"),
    ] {
        let (status, headers, _) = http(&address, "GET", path, &[], "").await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers["content-type"], kind, "{path}");
        assert!(headers.contains_key("content-security-policy"), "{path}");
    }
    let (status, _, body) = http(&address, "GET", "/console/js/nope.js", &[], "").await;
    assert_eq!(status, 404);
    assert!(body.contains("NotFound"));
    let (status, _, _) = http(&address, "GET", "/console/../Cargo.toml", &[], "").await;
    assert_eq!(status, 404);

    // The API's answers carry the same headers and are never cached.
    let (status, headers, _) = http(&address, "GET", "/api/admin/v3.0/groups", &[], "").await;
    assert_eq!(status, 401);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");

    // A login from another origin is refused before anything else; from the console's own
    // origin (or without Origin, as curl sends it) it is judged on the key pair.
    let login = "/api/admin/v3.0/auth/providers/mongodb-cloud/login";
    let body = r#"{"username": "nobody00", "apiKey": "nope"}"#;
    let json = ("content-type", "application/json");
    let (status, _, reply) = http(
        &address,
        "POST",
        login,
        &[json, ("origin", "http://evil.example")],
        body,
    )
    .await;
    assert_eq!(status, 403, "{reply}");
    assert!(reply.contains("CrossOriginRequest"), "{reply}");
    let (status, _, reply) = http(
        &address,
        "POST",
        login,
        &[json, ("sec-fetch-site", "cross-site")],
        body,
    )
    .await;
    assert_eq!(status, 403, "{reply}");
    let origin = format!("http://{address}");
    let (status, _, reply) =
        http(&address, "POST", login, &[json, ("origin", &origin)], body).await;
    assert_eq!(status, 401, "{reply}");
    let (status, _, _) = http(&address, "POST", login, &[json], body).await;
    assert_eq!(status, 401);
    hub.shutdown().await.unwrap();
}
