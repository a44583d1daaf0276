//! Other drivers against a server with the default configuration: mongosh, the Node.js driver
//! (npm `mongodb`) and pymongo each run a script from `tests/drivers/` that watches a
//! collection while another client writes, then runs a transaction with the driver's
//! `withTransaction`; and mongosh's prompt shows the replica set.
//!
//! What is missing is installed once per test run: `npm install mongosh@2 mongodb@6` at the
//! workspace root (one install serves both; `.ci/run` does it before the tests) and
//! `pip install pymongo`. Without Node.js or Python the tests fail and say what to install:
//! they never skip silently.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use outpost_server::Config;
use outpost_tests::TestServer;

use crate::mongosh::workspace_root;

/// How long one script may take (a first install not included).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// One install at a time, within this test binary.
static INSTALL: Mutex<()> = Mutex::new(());

/// A server as `outpost serve` starts it with default flags (storage in memory).
async fn default_server() -> TestServer {
    TestServer::start_with(Config {
        dbpath: None,
        ..Config::default()
    })
    .await
}

/// The default connection string of a client: no `directConnection`, so the driver
/// discovers the replica set.
fn uri(server: &TestServer) -> String {
    format!("mongodb://{}/", server.addr())
}

/// Runs `program`, failing the test when it fails or passes [`SCRIPT_TIMEOUT`].
fn run_program(mut command: Command, input: Option<&str>) -> String {
    let home = tempfile::tempdir().expect("tempdir");
    let out_path = home.path().join("stdout");
    let err_path = home.path().join("stderr");
    let in_path = home.path().join("stdin");
    std::fs::write(&in_path, input.unwrap_or_default()).expect("stdin file");
    command
        // mongosh keeps logs and history under $HOME/.mongodb: keep them out of the real home.
        .env("HOME", home.path())
        .env("DO_NOT_TRACK", "1")
        .current_dir(workspace_root())
        .stdin(std::fs::File::open(&in_path).expect("stdin"))
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"));
    let shown = format!("{command:?}");
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{shown} did not finish within {SCRIPT_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        status.success(),
        "{shown} failed with {status}; stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

/// `node_modules` at the workspace root with mongosh and the Node.js driver, installed if
/// missing.
fn node_modules() -> PathBuf {
    let _once = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let root = workspace_root();
    let modules = root.join("node_modules");
    let present =
        |m: &Path| m.join(".bin/mongosh").exists() && m.join("mongodb/package.json").exists();
    if !present(&modules) {
        let mut npm = Command::new("npm");
        npm.args([
            "install",
            "--no-save",
            "--no-package-lock",
            "--no-audit",
            "--no-fund",
            "mongosh@2",
            "mongodb@6",
        ])
        .current_dir(&root)
        .stdin(Stdio::null());
        let status = npm.status().unwrap_or_else(|e| {
            panic!(
                "these tests need Node.js 18+ and npm (`apt-get install nodejs npm`): \
                 cannot run npm: {e}"
            )
        });
        assert!(
            status.success(),
            "npm install mongosh@2 mongodb@6 failed: {status}"
        );
    }
    assert!(present(&modules), "npm did not install mongosh and mongodb");
    modules
}

/// pymongo for `python3`, installed with pip if missing.
pub(crate) fn ensure_pymongo() {
    let _once = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let has = || {
        Command::new("python3")
            .args(["-c", "import pymongo"])
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| {
                panic!("this test needs python3 (`apt-get install python3-pip`): {e}")
            })
            .success()
    };
    if !has() {
        let status = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "pymongo"])
            .stdin(Stdio::null())
            .status()
            .expect("python3 -m pip");
        assert!(status.success(), "pip install pymongo failed: {status}");
    }
    assert!(has(), "pymongo is not importable after pip install");
}

/// The lines every script prints after its first ones, in this order.
const COMMON: [&str; 5] = [
    "watch=insert,update",
    r#"updatedFields={"qty":2}"#,
    "inTransaction=2 outside=1",
    "transactionEvents=2,1",
    r#"committed=[{"_id":1,"item":"apple","qty":12},{"_id":2,"item":"pear","qty":5}]"#,
];

fn lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_driver_watches_and_runs_with_transaction() {
    let server = default_server().await;
    let uri = uri(&server);
    let stdout = tokio::task::spawn_blocking(move || {
        node_modules();
        let mut node = Command::new("node");
        node.arg(workspace_root().join("tests/drivers/node_driver.js"))
            .arg(uri);
        run_program(node, None)
    })
    .await
    .expect("the node task panicked");
    let mut expected = vec!["opened=null"];
    expected.extend(COMMON);
    assert_eq!(lines(&stdout), expected, "node output:\n{stdout}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymongo_watches_and_runs_with_transaction() {
    let server = default_server().await;
    let uri = uri(&server);
    let stdout = tokio::task::spawn_blocking(move || {
        ensure_pymongo();
        let mut python = Command::new("python3");
        python
            .arg(workspace_root().join("tests/drivers/pymongo_driver.py"))
            .arg(uri);
        run_program(python, None)
    })
    .await
    .expect("the python task panicked");
    assert_eq!(lines(&stdout), COMMON, "pymongo output:\n{stdout}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongosh_watches_runs_with_transaction_and_shows_the_replica_set_prompt() {
    let server = default_server().await;
    let uri = uri(&server);
    let addr = server.addr();
    let (script_out, direct_prompt, set_prompt) = tokio::task::spawn_blocking(move || {
        let mongosh = node_modules().join(".bin/mongosh");
        let mut script = Command::new(&mongosh);
        script
            .arg(&uri)
            .args(["--quiet", "--norc", "--file"])
            .arg(workspace_root().join("tests/drivers/mongosh_driver.js"));
        let script_out = run_program(script, None);
        // The prompt of an interactive shell, given one line on standard input: with a
        // single host mongosh connects directly; naming the set it discovers it.
        let prompt = |uri: String| {
            let mut shell = Command::new(&mongosh);
            shell.arg(uri).args(["--quiet", "--norc"]);
            run_program(shell, Some("db.getName()\n"))
        };
        (
            script_out,
            prompt(format!("mongodb://{addr}/")),
            prompt(format!("mongodb://{addr}/?replicaSet=outpost")),
        )
    })
    .await
    .expect("the mongosh task panicked");
    let mut expected = vec!["opened=null"];
    expected.extend(COMMON);
    assert_eq!(
        lines(&script_out),
        expected,
        "mongosh output:\n{script_out}"
    );
    assert!(
        direct_prompt.contains("outpost [direct: primary] test> "),
        "mongosh prompt with a single host:\n{direct_prompt}"
    );
    assert!(
        set_prompt.contains("outpost [primary] test> "),
        "mongosh prompt with replicaSet=outpost:\n{set_prompt}"
    );
    server.shutdown().await;
}
