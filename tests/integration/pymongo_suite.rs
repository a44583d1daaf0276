//! pymongo's own tests of the features of issue 14 (text, geospatial and hashed indexes,
//! capped collections, tailable and exhaust cursors, `min`/`max`, `validate`, the profiler),
//! sync and async, against a real `outpost serve --enable-test-commands`.
//! `tests/pymongo_suite/run.py` holds the selection and why it is that one; it downloads
//! pymongo's source distribution at run time (never vendored) into `target/pymongo-suite`.
//! Needs python3 with pip; pytest and pytest-asyncio are installed when missing.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::mongosh::workspace_root;
use crate::persistence::{outpost_binary, OutpostProcess};

/// The selection takes about a minute on a quiet machine; a shared CI machine is slower.
const SUITE_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// pytest and pytest-asyncio for `python3`, installed with pip if missing.
fn ensure_pytest() {
    let has = || {
        Command::new("python3")
            .args(["-c", "import pytest, pytest_asyncio"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has() {
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "pytest>=8.2",
                "pytest-asyncio>=0.24",
            ])
            .stdin(Stdio::null())
            .status()
            .expect("python3 -m pip");
        assert!(
            status.success(),
            "pip install pytest pytest-asyncio failed: {status}"
        );
    }
    assert!(has(), "pytest is not importable after pip install");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymongos_own_tests_of_these_features_pass() {
    crate::drivers::ensure_pymongo();
    ensure_pytest();
    let binary = outpost_binary();
    let dir = tempfile::tempdir().expect("tempdir");
    let process =
        OutpostProcess::spawn_with(&binary, dir.path(), &["--enable-test-commands".as_ref()]).await;
    let root = workspace_root();
    let out_path = dir.path().join("suite.out");
    let mut child = Command::new("python3")
        .arg(root.join("tests/pymongo_suite/run.py"))
        .args(["--port", &process.addr.port().to_string()])
        .args([
            "--cache".as_ref(),
            root.join("target/pymongo-suite").as_os_str(),
        ])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("output file"))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 tests/pymongo_suite/run.py");
    let deadline = Instant::now() + SUITE_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pymongo's tests did not finish within {SUITE_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    let summary = output
        .lines()
        .rfind(|l| l.starts_with("pymongo suite"))
        .unwrap_or("no summary")
        .to_owned();
    println!("{summary}");
    assert!(
        status.success(),
        "{summary}\n{output}\nserver log:\n{}",
        process.log()
    );
}
