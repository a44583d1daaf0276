//! Security checks of the real `outpost` binary: a non-loopback address without `--auth`
//! refuses to start (before binding anything), and `getCmdLineOpts` never shows the
//! registration key given on the command line.

mod processes;

use std::process::Command;

use bson::{doc, Bson};
use processes::{client, free_port, outpost};

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
    let _server = outpost(&[
        "serve",
        "--port",
        &port.to_string(),
        "--dbpath",
        dir.path().to_str().unwrap(),
        "--registration-key",
        secret,
    ]);
    let mut client = client(port);
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
