//! The handshake and the server-information commands drivers and mongosh send: hello,
//! isMaster, buildInfo, ping, getParameter, getCmdLineOpts, getLog, connectionStatus, hostInfo,
//! whatsmyuri, serverStatus, listCommands, endSessions, killSessions, unknown commands.

use bson::{doc, Bson, Document};
use mongodb::options::ClientOptions;
use outpost_tests::{int_field, num_field, run, run_err, uri_for, TestServer};

/// Fields every handshake reply (hello and isMaster) carries, with MongoDB 8.0's values.
#[track_caller]
fn check_handshake_limits(reply: &Document) {
    assert_eq!(
        reply.get("maxBsonObjectSize"),
        Some(&Bson::Int32(16_777_216)),
        "{reply}"
    );
    assert_eq!(
        reply.get("maxMessageSizeBytes"),
        Some(&Bson::Int32(48_000_000)),
        "{reply}"
    );
    assert_eq!(
        reply.get("maxWriteBatchSize"),
        Some(&Bson::Int32(100_000)),
        "{reply}"
    );
    assert_eq!(
        reply.get("logicalSessionTimeoutMinutes"),
        Some(&Bson::Int32(30)),
        "{reply}"
    );
    assert_eq!(
        reply.get("minWireVersion"),
        Some(&Bson::Int32(0)),
        "{reply}"
    );
    // MongoDB 8.0 speaks wire version 25 (buildInfo says 8.0, see below).
    assert_eq!(
        reply.get("maxWireVersion"),
        Some(&Bson::Int32(25)),
        "{reply}"
    );
    assert_eq!(
        reply.get("readOnly"),
        Some(&Bson::Boolean(false)),
        "{reply}"
    );
    assert!(int_field(reply, "connectionId") > 0, "{reply}");
    let local_time = reply
        .get_datetime("localTime")
        .unwrap_or_else(|_| panic!("localTime is not a date in {reply}"));
    let skew = (local_time.timestamp_millis() - bson::DateTime::now().timestamp_millis()).abs();
    assert!(
        skew < 60_000,
        "localTime is {skew} ms away from now: {reply}"
    );
}

/// A `--standalone` server's handshake: no replica set or mongos fields.
#[track_caller]
fn check_standalone(reply: &Document) {
    for field in [
        "setName",
        "hosts",
        "primary",
        "msg",
        "secondary",
        "arbiterOnly",
    ] {
        assert!(
            !reply.contains_key(field),
            "standalone reply has {field}: {reply}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_describes_a_writable_standalone_with_mongodb_limits() {
    let server = TestServer::start_with(outpost_server::Config {
        dbpath: None,
        standalone: true,
        ..outpost_server::Config::default()
    })
    .await;
    let reply = run(&server.db("admin"), doc! {"hello": 1, "helloOk": true}).await;
    assert_eq!(
        reply.get("isWritablePrimary"),
        Some(&Bson::Boolean(true)),
        "{reply}"
    );
    assert_eq!(reply.get("helloOk"), Some(&Bson::Boolean(true)), "{reply}");
    assert!(
        !reply.contains_key("ismaster"),
        "hello must not answer ismaster: {reply}"
    );
    check_handshake_limits(&reply);
    check_standalone(&reply);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_answers_hello_ok_only_when_asked() {
    let server = TestServer::start().await;
    let reply = run(&server.db("test"), doc! {"hello": 1}).await;
    assert!(!reply.contains_key("helloOk"), "{reply}");
    assert_eq!(
        reply.get("isWritablePrimary"),
        Some(&Bson::Boolean(true)),
        "{reply}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn is_master_is_the_legacy_handshake_in_both_spellings() {
    let server = TestServer::start().await;
    for name in ["isMaster", "ismaster"] {
        let reply = run(&server.db("admin"), doc! {name: 1}).await;
        assert_eq!(
            reply.get("ismaster"),
            Some(&Bson::Boolean(true)),
            "{name}: {reply}"
        );
        assert!(!reply.contains_key("isWritablePrimary"), "{name}: {reply}");
        check_handshake_limits(&reply);
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_ids_differ_between_connections() {
    let server = TestServer::start().await;
    let other = server.new_client().await;
    let first = run(&server.db("admin"), doc! {"hello": 1}).await;
    let second = run(&other.database("admin"), doc! {"hello": 1}).await;
    assert_ne!(
        int_field(&first, "connectionId"),
        int_field(&second, "connectionId")
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_info_reports_mongodb_8_0() {
    let server = TestServer::start().await;
    for name in ["buildInfo", "buildinfo"] {
        let reply = run(&server.db("test"), doc! {name: 1}).await;
        let version = reply.get_str("version").expect("version is a string");
        assert!(version.starts_with("8.0."), "{reply}");
        let array = reply.get_array("versionArray").expect("versionArray");
        assert_eq!(array.len(), 4, "{reply}");
        assert_eq!(&array[..2], &[Bson::Int32(8), Bson::Int32(0)], "{reply}");
        assert!(array.iter().all(|v| matches!(v, Bson::Int32(_))), "{reply}");
        assert_eq!(
            reply.get("maxBsonObjectSize"),
            Some(&Bson::Int32(16_777_216))
        );
        assert_eq!(int_field(&reply, "bits"), 64);
        assert!(reply.get_bool("debug").is_ok(), "{reply}");
        assert!(reply.get_str("gitVersion").is_ok(), "{reply}");
        assert!(reply.get_array("storageEngines").is_ok(), "{reply}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_answers_ok_and_nothing_else() {
    let server = TestServer::start().await;
    for db in ["admin", "test", "any_database"] {
        let reply = run(&server.db(db), doc! {"ping": 1}).await;
        assert_eq!(reply, doc! {"ok": 1.0});
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_parameter_feature_compatibility_version() {
    let server = TestServer::start().await;
    let admin = server.db("admin");
    let reply = run(
        &admin,
        doc! {"getParameter": 1, "featureCompatibilityVersion": 1},
    )
    .await;
    assert_eq!(
        reply.get_document("featureCompatibilityVersion").ok(),
        Some(&doc! {"version": "8.0"}),
        "{reply}"
    );
    // Only the parameters asked for.
    assert_eq!(
        reply.keys().collect::<Vec<_>>(),
        ["featureCompatibilityVersion", "ok"]
    );

    let all = run(&admin, doc! {"getParameter": "*"}).await;
    assert!(all.contains_key("featureCompatibilityVersion"), "{all}");

    run_err(&admin, doc! {"getParameter": 1, "noSuchParameter": 1})
        .await
        .assert(72, "InvalidOptions", "no option found to get");
    run_err(
        &server.db("test"),
        doc! {"getParameter": 1, "featureCompatibilityVersion": 1},
    )
    .await
    .assert(
        13,
        "Unauthorized",
        "may only be run against the admin database",
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_cmd_line_opts_reports_argv_and_parsed_options() {
    let server = TestServer::start().await;
    let reply = run(&server.db("admin"), doc! {"getCmdLineOpts": 1}).await;
    assert!(reply.get_array("argv").is_ok(), "{reply}");
    let parsed = reply.get_document("parsed").expect("parsed");
    let net = parsed.get_document("net").expect("parsed.net");
    assert_eq!(
        int_field(net, "port"),
        i64::from(server.addr().port()),
        "{reply}"
    );
    run_err(&server.db("test"), doc! {"getCmdLineOpts": 1})
        .await
        .assert(13, "Unauthorized", "admin database");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_log_lists_and_returns_logs() {
    let server = TestServer::start().await;
    let admin = server.db("admin");
    let names = run(&admin, doc! {"getLog": "*"}).await;
    let names = names.get_array("names").expect("names");
    for expected in ["global", "startupWarnings"] {
        assert!(names.contains(&Bson::String(expected.into())), "{names:?}");
    }
    for log in ["global", "startupWarnings"] {
        let reply = run(&admin, doc! {"getLog": log}).await;
        assert!(int_field(&reply, "totalLinesWritten") >= 0, "{reply}");
        let lines = reply.get_array("log").expect("log");
        assert!(
            lines.iter().all(|l| matches!(l, Bson::String(_))),
            "{reply}"
        );
    }
    let error = run_err(&admin, doc! {"getLog": 1}).await;
    assert_eq!(error.code, 14, "{error:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_status_reports_no_authenticated_users() {
    let server = TestServer::start().await;
    let reply = run(&server.db("admin"), doc! {"connectionStatus": 1}).await;
    let auth = reply.get_document("authInfo").expect("authInfo");
    assert_eq!(
        auth.get_array("authenticatedUsers").ok(),
        Some(&vec![]),
        "{reply}"
    );
    assert_eq!(
        auth.get_array("authenticatedUserRoles").ok(),
        Some(&vec![]),
        "{reply}"
    );
    let with_privileges = run(
        &server.db("admin"),
        doc! {"connectionStatus": 1, "showPrivileges": true},
    )
    .await;
    let auth = with_privileges.get_document("authInfo").expect("authInfo");
    assert!(
        auth.get_array("authenticatedUserPrivileges").is_ok(),
        "{with_privileges}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_info_describes_the_machine() {
    let server = TestServer::start().await;
    let reply = run(&server.db("admin"), doc! {"hostInfo": 1}).await;
    let system = reply.get_document("system").expect("system");
    assert!(!system.get_str("hostname").expect("hostname").is_empty());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    assert_eq!(int_field(system, "numCores"), cores as i64, "{reply}");
    assert_eq!(int_field(system, "cpuAddrSize"), 64, "{reply}");
    assert!(int_field(system, "memSizeMB") > 0, "{reply}");
    assert!(system.get_datetime("currentTime").is_ok(), "{reply}");
    let os = reply.get_document("os").expect("os");
    if cfg!(target_os = "linux") {
        assert_eq!(os.get_str("type"), Ok("Linux"), "{reply}");
    }
    assert!(reply.get_document("extra").is_ok(), "{reply}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsmyuri_reports_the_client_address() {
    let server = TestServer::start().await;
    let reply = run(&server.db("admin"), doc! {"whatsmyuri": 1}).await;
    let you = reply.get_str("you").expect("you");
    let addr: std::net::SocketAddr = you
        .parse()
        .unwrap_or_else(|_| panic!("not an address: {you}"));
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0);
    assert_ne!(
        addr.port(),
        server.addr().port(),
        "that is the server's own port"
    );
    server.shutdown().await;
}

fn opcounter(status: &Document, name: &str) -> i64 {
    int_field(status.get_document("opcounters").expect("opcounters"), name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_status_reports_uptime_connections_opcounters_and_memory() {
    let server = TestServer::start().await;
    let admin = server.db("admin");
    let before = run(&admin, doc! {"serverStatus": 1}).await;
    assert!(num_field(&before, "uptime") >= 0.0, "{before}");
    assert!(int_field(&before, "uptimeMillis") >= 0, "{before}");
    assert!(before.get_datetime("localTime").is_ok(), "{before}");
    assert!(before.get_str("host").is_ok(), "{before}");
    assert!(
        before
            .get_str("version")
            .is_ok_and(|v| v.starts_with("8.0.")),
        "{before}"
    );
    assert_eq!(before.get_str("process"), Ok("outpost"), "{before}");
    let connections = before.get_document("connections").expect("connections");
    let current = int_field(connections, "current");
    assert!(current >= 1, "{before}");
    assert!(
        int_field(connections, "totalCreated") >= current,
        "{before}"
    );
    assert!(int_field(connections, "available") > 0, "{before}");
    let mem = before.get_document("mem").expect("mem");
    assert_eq!(int_field(mem, "bits"), 64, "{before}");
    if cfg!(target_os = "linux") {
        assert!(int_field(mem, "resident") > 0, "{before}");
        assert!(int_field(mem, "virtual") > 0, "{before}");
    }

    // MongoDB counts inserted documents (five here), and one query, update and delete per
    // statement.
    let coll = server.db("test").collection::<Document>("counted");
    coll.insert_many((0..5).map(|i| doc! {"_id": i}))
        .await
        .expect("insert");
    coll.find_one(doc! {"_id": 1}).await.expect("find");
    coll.update_one(doc! {"_id": 1}, doc! {"$set": {"a": 1}})
        .await
        .expect("update");
    coll.delete_one(doc! {"_id": 2}).await.expect("delete");
    let after = run(&admin, doc! {"serverStatus": 1}).await;
    assert_eq!(
        opcounter(&after, "insert") - opcounter(&before, "insert"),
        5,
        "{after}"
    );
    assert_eq!(
        opcounter(&after, "query") - opcounter(&before, "query"),
        1,
        "{after}"
    );
    assert_eq!(
        opcounter(&after, "update") - opcounter(&before, "update"),
        1,
        "{after}"
    );
    assert_eq!(
        opcounter(&after, "delete") - opcounter(&before, "delete"),
        1,
        "{after}"
    );
    assert!(
        opcounter(&after, "command") > opcounter(&before, "command"),
        "{after}"
    );
    assert!(num_field(&after, "uptime") >= num_field(&before, "uptime"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_commands_names_every_command_with_help() {
    let server = TestServer::start().await;
    let reply = run(&server.db("admin"), doc! {"listCommands": 1}).await;
    let commands = reply.get_document("commands").expect("commands");
    for name in [
        "hello",
        "isMaster",
        "buildInfo",
        "ping",
        "getParameter",
        "getCmdLineOpts",
        "getLog",
        "connectionStatus",
        "hostInfo",
        "whatsmyuri",
        "serverStatus",
        "listCommands",
        "endSessions",
        "killSessions",
        "listDatabases",
        "listCollections",
        "create",
        "drop",
        "dropDatabase",
        "renameCollection",
        "collStats",
        "dbStats",
        "insert",
        "find",
        "getMore",
        "killCursors",
        "update",
        "delete",
        "findAndModify",
        "count",
        "distinct",
        "aggregate",
        "createIndexes",
        "listIndexes",
        "dropIndexes",
    ] {
        let entry = commands
            .get_document(name)
            .unwrap_or_else(|_| panic!("listCommands does not list {name}"));
        assert!(
            entry.get_str("help").is_ok_and(|h| !h.is_empty()),
            "{name} has no help: {entry}"
        );
        assert!(entry.get_bool("adminOnly").is_ok(), "{name}: {entry}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_sessions_and_kill_sessions_accept_session_lists() {
    let server = TestServer::start().await;
    let admin = server.db("admin");
    let session = doc! {"id": bson::Binary {
        subtype: bson::spec::BinarySubtype::Uuid,
        bytes: vec![7; 16],
    }};
    let reply = run(&admin, doc! {"endSessions": [session.clone()]}).await;
    assert_eq!(reply, doc! {"ok": 1.0});
    let reply = run(&admin, doc! {"killSessions": [session]}).await;
    assert_eq!(reply, doc! {"ok": 1.0});
    let reply = run(&admin, doc! {"killSessions": []}).await;
    assert_eq!(reply, doc! {"ok": 1.0});
    let error = run_err(&admin, doc! {"endSessions": "x"}).await;
    assert_eq!(
        (error.code, error.code_name.as_str()),
        (14, "TypeMismatch"),
        "{error:?}"
    );
    // A driver session ends cleanly (the driver sends endSessions when it shuts down).
    let mut driver_session = server.client().start_session().await.expect("session");
    server
        .db("test")
        .collection::<Document>("c")
        .insert_one(doc! {"_id": 1})
        .session(&mut driver_session)
        .await
        .expect("insert in a session");
    drop(driver_session);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_command_is_command_not_found_and_the_connection_survives() {
    let server = TestServer::start().await;
    // One pooled connection, so the commands below run on the same connection.
    let mut options = ClientOptions::parse(uri_for(server.addr()))
        .await
        .expect("uri");
    options.max_pool_size = Some(1);
    let client = mongodb::Client::with_options(options).expect("client");
    let db = client.database("test");
    let before = run(&db, doc! {"hello": 1}).await;
    run_err(&db, doc! {"noSuchCommand": 1}).await.assert(
        59,
        "CommandNotFound",
        "no such command: 'noSuchCommand'",
    );
    let after = run(&db, doc! {"hello": 1}).await;
    assert_eq!(
        int_field(&before, "connectionId"),
        int_field(&after, "connectionId"),
        "the same connection must keep serving"
    );
    assert_eq!(run(&db, doc! {"ping": 1}).await, doc! {"ok": 1.0});
    client.shutdown().immediate(true).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drivers_connect_with_their_defaults() {
    let server = TestServer::start().await;
    // No directConnection: the driver discovers the topology from hello (a replica set of
    // one member, whose `me` is the address the driver connected to).
    let uri = format!("mongodb://{}/?serverSelectionTimeoutMS=5000", server.addr());
    let client = mongodb::Client::with_uri_str(&uri).await.expect("client");
    let coll = client.database("test").collection::<Document>("c");
    coll.insert_one(doc! {"_id": 1})
        .await
        .expect("insert with default options");
    assert_eq!(
        coll.find_one(doc! {"_id": 1}).await.expect("find"),
        Some(doc! {"_id": 1})
    );
    client.shutdown().immediate(true).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_status_counts_connections_as_they_come_and_go() {
    let server = TestServer::start().await;
    let admin = server.db("admin");
    let current = |status: &Document| {
        int_field(
            status.get_document("connections").expect("connections"),
            "current",
        )
    };
    let before = current(&run(&admin, doc! {"serverStatus": 1}).await);
    let mut streams = Vec::new();
    for _ in 0..5 {
        streams.push(
            tokio::net::TcpStream::connect(server.addr())
                .await
                .expect("connect"),
        );
    }
    // The server counts a connection once its task has started: poll briefly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let now = current(&run(&admin, doc! {"serverStatus": 1}).await);
        if now == before + 5 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "current stayed {now}, expected {}",
            before + 5
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(streams);
    loop {
        let now = current(&run(&admin, doc! {"serverStatus": 1}).await);
        if now == before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "current stayed {now} after the clients left, expected {before}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_client_does_not_flood_the_server_with_hello() {
    let server = TestServer::start().await;
    let admin = server.db("admin");
    let commands = |status: &Document| opcounter(status, "command");
    let before = run(&admin, doc! {"serverStatus": 1}).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let after = run(&admin, doc! {"serverStatus": 1}).await;
    // Drivers check a server every 10 s (heartbeatFrequencyMS); with the streaming protocol
    // the server holds an awaitable hello up to maxAwaitTimeMS. Either way a few commands.
    let delta = commands(&after) - commands(&before);
    assert!(delta <= 5, "{delta} commands in 3 s from one idle client");
    server.shutdown().await;
}
