//! mongosh against a fresh server: tests/mongosh/smoke.js prints one line per step and this
//! test compares them. mongosh is `node_modules/.bin/mongosh` at the workspace root when
//! present (`npm install mongosh@2`), else `npx --yes mongosh@2`. Without Node.js the test
//! fails and says how to install it: it never skips silently.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use outpost_tests::TestServer;

/// How long mongosh may take, `npx` download included.
const MONGOSH_TIMEOUT: Duration = Duration::from_secs(300);

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The command that runs mongosh.
fn mongosh_command() -> Command {
    let local = workspace_root().join("node_modules/.bin/mongosh");
    if local.exists() {
        return Command::new(local);
    }
    let npx_works = Command::new("npx")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        npx_works,
        "mongosh is needed for this test and neither node_modules/.bin/mongosh nor npx was \
         found. Install Node.js 18 or later (e.g. `apt-get install nodejs npm`), then run \
         `npm install mongosh@2` at the workspace root (or let the test use `npx --yes mongosh@2`)."
    );
    let mut command = Command::new("npx");
    command.args(["--yes", "mongosh@2"]);
    command
}

/// Runs the script against `uri`; returns stdout, failing with stderr if mongosh fails.
pub(crate) fn run_mongosh(uri: &str, script: &Path) -> String {
    let home = tempfile::tempdir().expect("tempdir");
    let mut command = mongosh_command();
    command
        .arg(uri)
        .args(["--quiet", "--norc", "--file"])
        .arg(script)
        // mongosh keeps logs and history under $HOME/.mongodb: keep them out of the real home.
        .env("HOME", home.path())
        .env("DO_NOT_TRACK", "1")
        .current_dir(workspace_root())
        .stdin(Stdio::null());
    let out_path = home.path().join("stdout");
    let err_path = home.path().join("stderr");
    command
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"));
    let mut child = command.spawn().expect("cannot start mongosh");
    let deadline = Instant::now() + MONGOSH_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for mongosh") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "mongosh did not finish within {MONGOSH_TIMEOUT:?}; stdout:\n{}\nstderr:\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        status.success(),
        "mongosh failed with {status}; stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongosh_smoke_script() {
    let server = TestServer::start().await;
    let uri = format!("mongodb://{}/?directConnection=true", server.addr());
    let script = workspace_root().join("tests/mongosh/smoke.js");
    let stdout = tokio::task::spawn_blocking(move || run_mongosh(&uri, &script))
        .await
        .expect("the mongosh task panicked");
    let lines: Vec<&str> = stdout.lines().map(str::trim_end).collect();
    let expected_lines = [
        "insertOne acknowledged=true insertedId=1",
        "insertMany acknowledged=true insertedCount=3",
        "listDatabases ok=1 hasSmoke=true",
        "find sort limit=date,banana",
        "updateOne matched=1 modified=1",
        "deleteOne deleted=1",
        "countDocuments all=3",
        "countDocuments qty>10=2",
        "createIndex=name_1",
        r#"getIndexes=_id_:{"_id":1},name_1:{"name":1}"#,
        "duplicate code=11000",
        "findOne:",
    ];
    assert!(
        lines.len() > expected_lines.len(),
        "mongosh printed too little:\n{stdout}"
    );
    assert_eq!(
        &lines[..expected_lines.len()],
        &expected_lines,
        "mongosh output:\n{stdout}"
    );
    // printjson of { _id: 3, name: 'cherry', qty: 30 }, in mongosh's format.
    let rest = lines[expected_lines.len()..].join(" ");
    for fragment in ["_id: 3", "name: 'cherry'", "qty: 30"] {
        assert!(
            rest.contains(fragment),
            "{fragment:?} missing from mongosh output:\n{stdout}"
        );
    }
    let tail = &lines[lines.len() - 3..];
    assert_eq!(
        tail,
        ["drop=true", "collections after drop=0", "smoke done"],
        "mongosh output:\n{stdout}"
    );
    server.shutdown().await;
}
