//! Other clients log in to a server with `--auth`: mongosh (as `tests/integration/mongosh.rs`
//! runs it) and pymongo (`tests/clients/auth_login.py`, when `import pymongo` works; CI
//! installs it), each with SCRAM-SHA-256 and with PLAIN.

use std::process::Command;

use bson::doc;
use outpost_server::Config;
use outpost_tests::TestServer;

use crate::mongosh::{run_mongosh, workspace_root};

const PASSWORD: &str = "client-pw";

async fn server_with_root() -> TestServer {
    let server = TestServer::start_with(Config {
        dbpath: None,
        port: 0,
        auth: true,
        ..Config::default()
    })
    .await;
    server
        .db("admin")
        .run_command(doc! {"createUser": "root", "pwd": PASSWORD, "roles": ["root"]})
        .await
        .unwrap();
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongosh_logs_in_with_scram_sha_256_and_plain() {
    let server = server_with_root().await;
    let script = workspace_root().join("tests/mongosh/auth.js");
    for (mechanism, source) in [("SCRAM-SHA-256", "admin"), ("PLAIN", "$external")] {
        let uri = format!(
            "mongodb://root:{PASSWORD}@{}/?directConnection=true&authMechanism={mechanism}&authSource={source}",
            server.addr()
        );
        let script = script.clone();
        let stdout = tokio::task::spawn_blocking(move || run_mongosh(&uri, &script))
            .await
            .unwrap();
        let lines: Vec<&str> = stdout.lines().map(str::trim_end).collect();
        assert_eq!(
            lines,
            ["user=root@admin", "insert acknowledged=true"],
            "{mechanism}: {stdout}"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymongo_logs_in_with_scram_sha_256_and_plain() {
    let has_pymongo = Command::new("python3")
        .args(["-c", "import pymongo"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_pymongo {
        eprintln!("pymongo is not installed (`python3 -m pip install pymongo`): not run");
        return;
    }
    let server = server_with_root().await;
    let address = server.addr().to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(workspace_root().join("tests/clients/auth_login.py"))
            .args([&address, "root", PASSWORD])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "SCRAM-SHA-256 users=root@admin found=1",
            "SCRAM-SHA-256 wrong password: code=18",
            "PLAIN users=root@admin found=1",
            "PLAIN wrong password: code=18",
        ],
        "{stdout}"
    );
    server.shutdown().await;
}
