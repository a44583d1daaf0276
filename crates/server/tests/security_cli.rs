//! Security checks of the real `outpost` binary: a non-loopback address without `--auth`
//! refuses to start (before binding anything), and `getCmdLineOpts` never shows the
//! registration key given on the command line.

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bson::{doc, Bson};
use outpost_server::hub::client::HubClient;

/// A bound on waiting for the server to listen, never a timing assertion.
const DEADLINE: Duration = Duration::from_secs(60);

/// The server process, killed when dropped (also when the test fails).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_public_address_without_auth_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    for role in [&["serve"][..], &["hub"][..]] {
        let output = Command::new(env!("CARGO_BIN_EXE_outpost"))
            .args(role)
            .args(["--bind", "0.0.0.0", "--port", "0", "--dbpath"])
            .arg(dir.path().join(role[0]))
            .output()
            .unwrap();
        assert!(!output.status.success(), "{role:?}");
        let log = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(log.contains("--insecure-disable-auth"), "{role:?}: {log}");
    }
}

#[test]
fn get_cmd_line_opts_redacts_the_registration_key() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let secret = "registration-secret-0123456789";
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_outpost"))
            .args(["serve", "--port", &port.to_string(), "--dbpath"])
            .arg(dir.path())
            .args(["--registration-key", secret])
            .env("OUTPOST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let uri = format!("mongodb://127.0.0.1:{port}");
    let start = Instant::now();
    let mut client = loop {
        match HubClient::connect(&uri, Duration::from_secs(5)) {
            Ok(client) => break client,
            Err(_) => {
                assert!(start.elapsed() < DEADLINE, "the server never listened");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    let reply = client.command(doc! {"getCmdLineOpts": 1}).unwrap();
    let argv: Vec<&str> = reply
        .get_array("argv")
        .unwrap()
        .iter()
        .filter_map(Bson::as_str)
        .collect();
    assert!(!format!("{reply}").contains(secret), "{reply}");
    // The `--flag=value` spelling is covered by cmd::get_cmd_line_opts's unit test.
    let at = argv
        .iter()
        .position(|a| *a == "--registration-key")
        .unwrap();
    assert_eq!(argv.get(at + 1), Some(&"<redacted>"), "{argv:?}");
}
