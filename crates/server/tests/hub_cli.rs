//! The hub's command line, run as a user would: `outpost hub` as a real process, and
//! `outpost hub edge create|list|set-query|delete` printing JSON.

mod processes;

use std::process::{Command, Output};

use processes::{client, free_port};
use serde_json::Value;

fn outpost(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs an `outpost hub edge ...` command that must succeed; returns its JSON output.
fn edge_command(args: &[&str]) -> Value {
    let output = outpost(args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn edge_instances_are_created_listed_changed_and_deleted_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _hub = processes::outpost(&[
        "hub",
        "--http-port",
        "0",
        "--port",
        &port.to_string(),
        "--dbpath",
        dir.path().join("hub").to_str().unwrap(),
    ]);
    client(port);
    let uri = format!("mongodb://127.0.0.1:{port}");

    let created = edge_command(&[
        "hub",
        "edge",
        "create",
        "--hub",
        &uri,
        "--name",
        "store-42",
        "--service",
        "device-sync",
        "--query",
        r#"{"shop.items": "store_id == 42"}"#,
    ]);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 24);
    assert_eq!(created["registration_key"].as_str().unwrap().len(), 64);
    assert_eq!(created["service"], "device-sync");

    let listed = edge_command(&["hub", "edge", "list", "--hub", &uri]);
    let edges = listed["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0]["id"], id.as_str());
    assert_eq!(edges[0]["state"], "pending");
    assert!(edges[0].get("registrationKeyHash").is_none());

    let changed = edge_command(&[
        "hub",
        "edge",
        "set-query",
        "--hub",
        &uri,
        &id,
        r#"{"*": "TRUEPREDICATE"}"#,
    ]);
    assert_eq!(changed["queryVersion"], 2);

    // A malformed query is refused with the position of the error, and changes nothing.
    let refused = outpost(&[
        "hub",
        "edge",
        "set-query",
        "--hub",
        &uri,
        &id,
        r#"{"*": "a =="}"#,
    ]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("position"), "{message}");

    let deleted = edge_command(&["hub", "edge", "delete", "--hub", &uri, &id]);
    assert_eq!(deleted["deleted"], true);
    let listed = edge_command(&["hub", "edge", "list", "--hub", &uri]);
    assert!(listed["edges"].as_array().unwrap().is_empty());
    let again = outpost(&["hub", "edge", "delete", "--hub", &uri, &id]);
    assert!(!again.status.success());
}
