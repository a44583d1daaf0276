//! Commands through the whole request path of a running server (read, decode, authorize,
//! dispatch, every command's argument parsing, encode the reply): each input is a command
//! document sent as an OP_MSG over loopback. The server must answer every one (an error is an
//! answer) and keep answering. A panic anywhere in the server aborts the process, which AFL++
//! records as a crash.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bson::Document;
use outpost_wire::{Message, OpMsg, HEADER_LEN};

/// Commands that end the server or wait on purpose: a correct server does what they ask, which
/// is not a finding.
const SKIPPED: [&str; 2] = ["shutdown", "fsyncUnlock"];

fn start_server() -> SocketAddr {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let config = outpost_server::Config {
                dbpath: None,
                port: 0,
                ..outpost_server::Config::default()
            };
            let server = outpost_server::Server::builder()
                .config(config)
                .start_on(listener)
                .await
                .expect("the server starts");
            sender.send(server.local_addr()).expect("the fuzzer waits");
            std::future::pending::<()>().await;
        });
    });
    receiver.recv().expect("the server's address")
}

fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("the server listens");
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    stream
}

/// Sends one command and reads one reply; `false` when the connection ended.
fn round_trip(stream: &mut TcpStream, body: Document) -> bool {
    let message = Message::Msg(OpMsg {
        flags: 0,
        body,
        sequences: Vec::new(),
    });
    let Ok(bytes) = outpost_wire::encode(1, 0, &message) else {
        return true;
    };
    if stream.write_all(&bytes).is_err() {
        return false;
    }
    let mut header = [0u8; HEADER_LEN];
    if stream.read_exact(&mut header).is_err() {
        return false;
    }
    let length = i32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let Some(rest) = usize::try_from(length).ok().and_then(|l| l.checked_sub(HEADER_LEN)) else {
        panic!("a reply with a bad length: {length}");
    };
    let mut body = vec![0u8; rest];
    stream.read_exact(&mut body).is_ok()
}

fn main() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("{info}");
        std::process::abort();
    }));
    let address = start_server();
    let mut stream = connect(address);
    afl::fuzz!(|data: &[u8]| {
        let Some(mut body) = outpost_fuzz::document(data) else {
            return;
        };
        let Some(name) = body.keys().next() else {
            return;
        };
        if SKIPPED.iter().any(|skipped| name.eq_ignore_ascii_case(skipped)) {
            return;
        }
        if !body.contains_key("$db") {
            body.insert("$db", "fuzz");
        }
        if !round_trip(&mut stream, body.clone()) {
            // The server may close a connection on a request it refuses; it must still
            // serve a new one.
            stream = connect(address);
            assert!(
                round_trip(&mut stream, bson::doc! {"ping": 1, "$db": "admin"}),
                "the server stopped answering after {body}"
            );
        }
    });
}
