//! Support for Outpost's black-box tests: a real server on `127.0.0.1:0`, in process, driven by
//! the official `mongodb` driver, and a few helpers to read replies and errors.
//!
//! Every test starts its own server on its own temporary storage, so tests never share state
//! and can run in parallel.
//!
//! ```no_run
//! # async fn example() {
//! use bson::doc;
//! let server = outpost_tests::TestServer::start().await;
//! let reply = server.db("test").run_command(doc! {"ping": 1}).await.unwrap();
//! assert_eq!(reply.get_f64("ok"), Ok(1.0));
//! server.shutdown().await;
//! # }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bson::{Bson, Document};
use mongodb::error::{Error as DriverError, ErrorKind};
use mongodb::options::ClientOptions;
use mongodb::{Client, ClientSession, Database};
use outpost_server::{Config, Server, ServerHandle};
use tokio::net::TcpListener;

/// How long the driver looks for the server before an operation fails. Short, so a test whose
/// server died fails quickly instead of hanging for the driver's default 30 seconds.
pub const SERVER_SELECTION_TIMEOUT_MS: u64 = 5_000;

/// A running in-process server and a driver client connected to it.
pub struct TestServer {
    handle: Option<ServerHandle>,
    client: Client,
    /// The temporary data directory this server owns (see [`TestServer::start_persistent`]),
    /// removed when the server is dropped. `None` for [`TestServer::start`] (the storage is
    /// temporary by itself) and [`TestServer::start_in`] (the caller owns the directory).
    dir: Option<tempfile::TempDir>,
    /// The data directory, if the data is persistent.
    dbpath: Option<PathBuf>,
}

impl TestServer {
    /// Starts a server on temporary storage (`dbpath: None`), listening on a free port.
    pub async fn start() -> TestServer {
        TestServer::start_with(Config {
            dbpath: None,
            port: 0,
            ..Config::default()
        })
        .await
    }

    /// Starts a server whose data lives in `path` (created if missing), to be stopped and
    /// started again on the same directory in restart tests.
    pub async fn start_in(path: &Path) -> TestServer {
        TestServer::start_with(Config {
            dbpath: Some(path.to_path_buf()),
            port: 0,
            ..Config::default()
        })
        .await
    }

    /// Starts a server with persistent data in a new temporary directory that the server owns;
    /// [`TestServer::restart`] reopens it.
    pub async fn start_persistent() -> TestServer {
        let dir = tempfile::tempdir().expect("cannot create a temporary directory");
        let mut server = TestServer::start_in(dir.path()).await;
        server.dir = Some(dir);
        server
    }

    /// Starts a server with the given configuration (the port is taken from a listener bound
    /// to `127.0.0.1:0`, whatever `config.port` says).
    pub async fn start_with(config: Config) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind 127.0.0.1:0");
        let dbpath = config.dbpath.clone();
        let handle = Server::builder()
            .config(config)
            .start_on(listener)
            .await
            .expect("the server did not start");
        let client = connect(handle.local_addr()).await;
        TestServer {
            handle: Some(handle),
            client,
            dir: None,
            dbpath,
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.handle().local_addr()
    }

    /// The connection string of this server, with the options every test client uses.
    pub fn uri(&self) -> String {
        uri_for(self.addr())
    }

    /// The shared driver client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A new driver client with its own connection pool (for "another client keeps working"
    /// checks).
    pub async fn new_client(&self) -> Client {
        connect(self.addr()).await
    }

    /// A database handle of the shared client.
    pub fn db(&self, name: &str) -> Database {
        self.client.database(name)
    }

    /// The server handle (to reach its storage directly, or its address).
    pub fn handle(&self) -> &ServerHandle {
        self.handle
            .as_ref()
            .expect("the server handle is present until shutdown")
    }

    /// The data directory, when the data is persistent.
    pub fn dbpath(&self) -> Option<&Path> {
        self.dbpath.as_deref()
    }

    /// Closes the client, then shuts the server down cleanly (stop accepting, finish
    /// in-flight requests, flush storage). Returns the temporary data directory the server
    /// owned, if any, so the caller may start another server on it.
    pub async fn shutdown(mut self) -> Option<tempfile::TempDir> {
        self.client.clone().shutdown().immediate(true).await;
        if let Some(handle) = self.handle.take() {
            handle
                .shutdown()
                .await
                .expect("the server did not shut down cleanly");
        }
        self.dir.take()
    }

    /// Shuts the server down and starts a new one on the same data directory (persistent
    /// servers only).
    pub async fn restart(self) -> TestServer {
        let path = self
            .dbpath
            .clone()
            .expect("restart needs a persistent server (start_in or start_persistent)");
        let dir = self.shutdown().await;
        let mut server = TestServer::start_in(&path).await;
        server.dir = dir;
        server
    }
}

/// The connection string for a server at `addr`: a direct connection (no topology discovery)
/// and a short server selection timeout.
pub fn uri_for(addr: SocketAddr) -> String {
    format!(
        "mongodb://{addr}/?directConnection=true&serverSelectionTimeoutMS={SERVER_SELECTION_TIMEOUT_MS}"
    )
}

/// A new driver client for the server at `addr`.
pub async fn connect(addr: SocketAddr) -> Client {
    let mut options = ClientOptions::parse(uri_for(addr))
        .await
        .expect("the test connection string is valid");
    options.app_name = Some("outpost-tests".into());
    options.connect_timeout = Some(Duration::from_secs(5));
    Client::with_options(options).expect("the driver accepts the test options")
}

/// The server's error of a failed command: `(code, codeName, errmsg)`. Panics, naming the
/// result, if the command succeeded or failed in another way (network, driver-side checks).
pub fn command_error<T: std::fmt::Debug>(result: Result<T, DriverError>) -> CommandFailure {
    match result {
        Ok(value) => panic!("expected the command to fail, it succeeded with {value:?}"),
        Err(e) => match *e.kind {
            ErrorKind::Command(c) => CommandFailure {
                code: c.code,
                code_name: c.code_name,
                message: c.message,
            },
            ErrorKind::Write(mongodb::error::WriteFailure::WriteError(w)) => CommandFailure {
                code: w.code,
                code_name: w.code_name.unwrap_or_default(),
                message: w.message,
            },
            other => panic!("expected a command error from the server, got {other:?}"),
        },
    }
}

/// The error of a write command that must fail, whether the server reports it for the whole
/// command (`ok: 0`) or for its first statement (`writeErrors[0]`, with `ok: 1`); MongoDB
/// uses either form depending on where the check happens.
pub async fn write_failure(db: &Database, command: Document) -> CommandFailure {
    let shown = format!("{command}");
    match db.run_command(command).await {
        Ok(reply) => {
            let first = reply
                .get_array("writeErrors")
                .ok()
                .and_then(|errors| errors.first())
                .and_then(Bson::as_document)
                .unwrap_or_else(|| panic!("{shown} succeeded without write errors: {reply}"));
            CommandFailure {
                code: first.get_i32("code").unwrap_or_default(),
                code_name: first.get_str("codeName").unwrap_or_default().to_owned(),
                message: first.get_str("errmsg").unwrap_or_default().to_owned(),
            }
        }
        Err(e) => command_error::<()>(Err(e)),
    }
}

/// A server error: its code, code name and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandFailure {
    pub code: i32,
    pub code_name: String,
    pub message: String,
}

impl CommandFailure {
    /// Asserts the code and code name, and that the message contains `fragment`.
    #[track_caller]
    pub fn assert(&self, code: i32, code_name: &str, fragment: &str) {
        assert_eq!(
            (self.code, self.code_name.as_str()),
            (code, code_name),
            "unexpected error {self:?}"
        );
        assert!(
            self.message.contains(fragment),
            "the error message {:?} does not contain {fragment:?}",
            self.message
        );
    }
}

/// Runs a command that must succeed and returns its reply (with `ok: 1` checked).
pub async fn run(db: &Database, command: Document) -> Document {
    let shown = format!("{command}");
    let reply = db
        .run_command(command)
        .await
        .unwrap_or_else(|e| panic!("command {shown} failed: {e}"));
    assert_eq!(ok_value(&reply), Some(1.0), "reply without ok: 1: {reply}");
    without_cluster_time(reply)
}

/// A reply without the fields a replica set member adds to every reply (`$clusterTime`,
/// `operationTime`), so tests can compare the command's own reply; `replset.rs` tests those
/// fields themselves.
pub fn without_cluster_time(mut reply: Document) -> Document {
    reply.remove("$clusterTime");
    reply.remove("operationTime");
    reply
}

/// Runs a command that must fail with a server error and returns the error.
pub async fn run_err(db: &Database, command: Document) -> CommandFailure {
    command_error(db.run_command(command).await)
}

/// The numeric value of `ok` in a reply (servers send a double; accept any number).
pub fn ok_value(reply: &Document) -> Option<f64> {
    number(reply.get("ok")?)
}

/// A BSON number as `f64` (int32, int64 and double), `None` for anything else.
pub fn number(value: &Bson) -> Option<f64> {
    match value {
        Bson::Int32(n) => Some(f64::from(*n)),
        Bson::Int64(n) => Some(*n as f64),
        Bson::Double(n) => Some(*n),
        _ => None,
    }
}

/// A BSON integer (int32 or int64) as `i64`, `None` for anything else (doubles included: a
/// count sent as a double is a bug worth seeing).
pub fn integer(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        _ => None,
    }
}

/// The integer field `key` of `doc`; panics with the document if it is missing or not an
/// integer.
#[track_caller]
pub fn int_field(doc: &Document, key: &str) -> i64 {
    doc.get(key)
        .and_then(integer)
        .unwrap_or_else(|| panic!("field {key:?} missing or not an integer in {doc}"))
}

/// The numeric field `key` of `doc` as `f64`; panics with the document if missing.
#[track_caller]
pub fn num_field(doc: &Document, key: &str) -> f64 {
    doc.get(key)
        .and_then(number)
        .unwrap_or_else(|| panic!("field {key:?} missing or not a number in {doc}"))
}

/// The documents of a cursor reply's first batch (`cursor.firstBatch`) and the cursor id.
#[track_caller]
pub fn first_batch(reply: &Document) -> (Vec<Document>, i64) {
    batch(reply, "firstBatch")
}

/// The documents of a getMore reply's batch (`cursor.nextBatch`) and the cursor id.
#[track_caller]
pub fn next_batch(reply: &Document) -> (Vec<Document>, i64) {
    batch(reply, "nextBatch")
}

#[track_caller]
fn batch(reply: &Document, field: &str) -> (Vec<Document>, i64) {
    let cursor = reply
        .get_document("cursor")
        .unwrap_or_else(|_| panic!("no cursor in {reply}"));
    let docs = cursor
        .get_array(field)
        .unwrap_or_else(|_| panic!("no cursor.{field} in {reply}"))
        .iter()
        .map(|d| match d {
            Bson::Document(d) => d.clone(),
            other => panic!("cursor.{field} holds a non-document {other}"),
        })
        .collect();
    let id = cursor
        .get_i64("id")
        .unwrap_or_else(|_| panic!("cursor.id missing or not an int64 in {reply}"));
    (docs, id)
}

/// A database handle whose commands all run in one explicit session, as a shell's do.
/// Following a cursor needs it: MongoDB ties a cursor to the session that opened it and
/// refuses `getMore` and `killCursors` from another one, while `Database::run_command` gives
/// every call its own implicit session.
pub struct SessionDb {
    db: Database,
    session: ClientSession,
}

impl SessionDb {
    pub async fn new(db: Database) -> SessionDb {
        let session = db
            .client()
            .start_session()
            .await
            .expect("cannot start a session");
        SessionDb { db, session }
    }

    /// Runs `command` in the session, except the commands the driver refuses to attach a
    /// session to (`killCursors`), which go without one.
    pub async fn send(&mut self, command: Document) -> mongodb::error::Result<Document> {
        if command
            .keys()
            .next()
            .is_some_and(|name| name == "killCursors")
        {
            return self.db.run_command(command).await;
        }
        self.db
            .run_command(command)
            .session(&mut self.session)
            .await
    }

    /// Runs a command that must succeed and returns its reply (with `ok: 1` checked).
    pub async fn run(&mut self, command: Document) -> Document {
        let shown = format!("{command}");
        let reply = self
            .send(command)
            .await
            .unwrap_or_else(|e| panic!("command {shown} failed: {e}"));
        assert_eq!(ok_value(&reply), Some(1.0), "reply without ok: 1: {reply}");
        without_cluster_time(reply)
    }

    /// Runs a command that must fail with a server error and returns the error.
    pub async fn run_err(&mut self, command: Document) -> CommandFailure {
        command_error(self.send(command).await)
    }

    /// Runs `find` with `options` and follows the cursor to the end.
    pub async fn find_all(&mut self, collection: &str, options: Document) -> Vec<Document> {
        let mut command = bson::doc! {"find": collection};
        command.extend(options);
        let reply = self.run(command).await;
        self.follow(collection, reply).await
    }

    /// Follows the cursor of a `find`/`aggregate`/`list*` reply to its end with `getMore`;
    /// returns every document, the first batch included.
    pub async fn follow(&mut self, collection: &str, reply: Document) -> Vec<Document> {
        let (mut docs, mut id) = first_batch(&reply);
        while id != 0 {
            let reply = self
                .run(bson::doc! {"getMore": id, "collection": collection})
                .await;
            let (more, next) = next_batch(&reply);
            docs.extend(more);
            id = next;
        }
        docs
    }
}

/// Runs `find` with `options` (filter, sort, batchSize...) and follows the cursor with
/// `getMore` to the end, in one session; returns every document.
pub async fn find_all(db: &Database, collection: &str, options: Document) -> Vec<Document> {
    SessionDb::new(db.clone())
        .await
        .find_all(collection, options)
        .await
}

/// The `_id`s of documents, as `i32`s (tests use small integer ids for readability).
#[track_caller]
pub fn ids(docs: &[Document]) -> Vec<i32> {
    docs.iter()
        .map(|d| {
            d.get_i32("_id")
                .unwrap_or_else(|_| panic!("_id is not an int32 in {d}"))
        })
        .collect()
}

/// Where `cargo build` puts the `outpost` binary of this workspace (debug profile).
pub fn outpost_binary_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug").join(if cfg!(windows) {
        "outpost.exe"
    } else {
        "outpost"
    })
}
