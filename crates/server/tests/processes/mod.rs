//! Real `outpost` processes for the tests that need them (kill -9, several servers): a free
//! port, a child process killed when dropped, and a client that waits for a server to listen.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use outpost_server::hub::client::HubClient;

/// A bound on waiting for a server to listen, never a timing assertion.
const LISTEN_DEADLINE: Duration = Duration::from_secs(300);

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process that is killed when dropped (also when the test fails).
pub struct Process(Child);

impl Process {
    /// `kill -9` and reap.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `program` with `args`, its output discarded.
pub fn spawn(program: &str, args: &[&str]) -> Process {
    Process(
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {program}: {error}")),
    )
}

/// Starts the `outpost` binary with `args`, its output discarded.
pub fn outpost(args: &[&str]) -> Process {
    Process(
        Command::new(env!("CARGO_BIN_EXE_outpost"))
            .args(args)
            .env("OUTPOST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Connects, retrying until the server listens.
pub fn client(port: u16) -> HubClient {
    let start = Instant::now();
    loop {
        match HubClient::connect(
            &format!("mongodb://127.0.0.1:{port}"),
            Duration::from_secs(10),
        ) {
            Ok(client) => return client,
            Err(error) => {
                assert!(start.elapsed() < LISTEN_DEADLINE, "port {port}: {error}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
