//! Authentication and authorization with `--auth`, through the official driver: each
//! mechanism (SCRAM-SHA-256, also speculatively in the handshake, SCRAM-SHA-1, PLAIN) with
//! the right and a wrong password, code 13 for unauthenticated and unauthorized commands,
//! role limits, the localhost exception, user management, and `outpost user add` with the
//! real binary.

use std::io::Write;
use std::process::{Command, Stdio};

use bson::{doc, Bson, Document};
use mongodb::error::{Error as DriverError, ErrorKind};
use mongodb::options::{AuthMechanism, ClientOptions, Credential};
use mongodb::Client;
use outpost_server::Config;
use outpost_tests::{command_error, uri_for, write_failure, TestServer};

const ROOT_PASSWORD: &str = "root-pässword";

async fn auth_server(dbpath: Option<&std::path::Path>) -> TestServer {
    TestServer::start_with(Config {
        dbpath: dbpath.map(std::path::Path::to_path_buf),
        port: 0,
        auth: true,
        ..Config::default()
    })
    .await
}

/// A server with `--auth` and a root user created through the localhost exception.
async fn server_with_root() -> TestServer {
    let server = auth_server(None).await;
    server
        .db("admin")
        .run_command(doc! {"createUser": "root", "pwd": ROOT_PASSWORD, "roles": ["root"]})
        .await
        .expect("the localhost exception lets the first user be created");
    server
}

async fn login(
    server: &TestServer,
    user: &str,
    password: &str,
    source: &str,
    mechanism: Option<AuthMechanism>,
) -> Client {
    let mut options = ClientOptions::parse(uri_for(server.addr())).await.unwrap();
    options.credential = Some(
        Credential::builder()
            .username(user.to_owned())
            .password(password.to_owned())
            .source(source.to_owned())
            .mechanism(mechanism)
            .build(),
    );
    Client::with_options(options).unwrap()
}

/// The server's code behind a driver's authentication error.
fn auth_error_code(error: &DriverError) -> Option<i32> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        // The driver keeps the server's error as a boxed source.
        let driver = e
            .downcast_ref::<DriverError>()
            .or_else(|| e.downcast_ref::<Box<DriverError>>().map(|b| b.as_ref()));
        if let Some(ErrorKind::Command(c)) = driver.map(|d| d.kind.as_ref()) {
            return Some(c.code);
        }
        current = e.source();
    }
    None
}

async fn expect_login_fails(client: &Client) {
    let error = client
        .database("admin")
        .run_command(doc! {"ping": 1})
        .await
        .expect_err("a wrong password must not log in");
    assert!(
        matches!(error.kind.as_ref(), ErrorKind::Authentication { .. }),
        "{error:?}"
    );
    assert_eq!(auth_error_code(&error), Some(18), "{error:?}");
    assert!(
        error.to_string().contains("Authentication failed."),
        "{error}"
    );
}

async fn create_user(admin: &Client, db: &str, user: &str, password: &str, roles: Bson) {
    admin
        .database(db)
        .run_command(doc! {"createUser": user, "pwd": password, "roles": roles})
        .await
        .unwrap_or_else(|e| panic!("createUser {user}@{db}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_mechanism_logs_in_with_the_right_password_and_fails_with_18_otherwise() {
    let server = server_with_root().await;
    for mechanism in [
        None, // the driver's choice: SCRAM-SHA-256, speculatively in the handshake
        Some(AuthMechanism::ScramSha256),
        Some(AuthMechanism::ScramSha1),
    ] {
        let client = login(&server, "root", ROOT_PASSWORD, "admin", mechanism.clone()).await;
        client
            .database("shop")
            .collection::<Document>("items")
            .insert_one(doc! {"by": format!("{mechanism:?}")})
            .await
            .unwrap_or_else(|e| panic!("{mechanism:?}: {e}"));
        let status = client
            .database("admin")
            .run_command(doc! {"connectionStatus": 1})
            .await
            .unwrap();
        let users = status
            .get_document("authInfo")
            .and_then(|a| a.get_array("authenticatedUsers"))
            .unwrap();
        assert_eq!(
            users,
            &vec![Bson::Document(doc! {"user": "root", "db": "admin"})]
        );
        let wrong = login(&server, "root", "not-it", "admin", mechanism.clone()).await;
        expect_login_fails(&wrong).await;
        let nobody = login(&server, "nobody", "x", "admin", mechanism).await;
        expect_login_fails(&nobody).await;
    }
    // PLAIN checks the users of admin, with the source $external (as Atlas Edge Server).
    let plain = login(
        &server,
        "root",
        ROOT_PASSWORD,
        "$external",
        Some(AuthMechanism::Plain),
    )
    .await;
    let count = plain
        .database("shop")
        .collection::<Document>("items")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(count, 3);
    let wrong = login(
        &server,
        "root",
        "nope",
        "$external",
        Some(AuthMechanism::Plain),
    )
    .await;
    expect_login_fails(&wrong).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_login_only_the_handshake_runs_and_data_commands_fail_with_13() {
    let server = server_with_root().await;
    let db = server.db("shop");
    for command in [
        doc! {"ping": 1},
        doc! {"hello": 1},
        doc! {"buildInfo": 1},
        doc! {"connectionStatus": 1},
    ] {
        db.run_command(command.clone())
            .await
            .unwrap_or_else(|e| panic!("{command}: {e}"));
    }
    for command in [
        doc! {"find": "items"},
        doc! {"insert": "items", "documents": [{"a": 1}]},
        doc! {"listCollections": 1},
        doc! {"createUser": "x", "pwd": "y", "roles": []},
    ] {
        let error = command_error(db.run_command(command.clone()).await);
        assert_eq!(error.code, 13, "{command}: {error:?}");
        assert_eq!(error.code_name, "Unauthorized");
        let name = command.keys().next().unwrap();
        assert_eq!(
            error.message,
            format!("Command {name} requires authentication")
        );
    }
    let error = command_error(
        server
            .db("admin")
            .run_command(doc! {"listDatabases": 1})
            .await,
    );
    assert_eq!(error.code, 13);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_localhost_exception_creates_the_first_user_on_admin_only() {
    let server = auth_server(None).await;
    // Not on another database, and nothing else.
    let error = command_error(
        server
            .db("shop")
            .run_command(doc! {"createUser": "a", "pwd": "b", "roles": ["read"]})
            .await,
    );
    assert_eq!(error.code, 13);
    let error = command_error(
        server
            .db("admin")
            .run_command(doc! {"listDatabases": 1})
            .await,
    );
    assert_eq!(error.code, 13);
    server
        .db("admin")
        .run_command(doc! {"createUser": "first", "pwd": "pw-1", "roles": ["userAdminAnyDatabase"]})
        .await
        .unwrap();
    // Closed once a user exists.
    let error = command_error(
        server
            .db("admin")
            .run_command(doc! {"createUser": "second", "pwd": "pw-2", "roles": ["root"]})
            .await,
    );
    assert_eq!(error.code, 13, "{error:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_limit_what_users_may_do() {
    let server = server_with_root().await;
    let root = login(&server, "root", ROOT_PASSWORD, "admin", None).await;
    root.database("a")
        .collection::<Document>("c")
        .insert_one(doc! {"_id": 1})
        .await
        .unwrap();
    root.database("b")
        .collection::<Document>("c")
        .insert_one(doc! {"_id": 1})
        .await
        .unwrap();
    create_user(
        &root,
        "a",
        "reader",
        "pw-r",
        Bson::Array(vec!["read".into()]),
    )
    .await;
    create_user(
        &root,
        "a",
        "writer",
        "pw-w",
        Bson::Array(vec!["readWrite".into()]),
    )
    .await;
    create_user(
        &root,
        "a",
        "useradmin",
        "pw-u",
        Bson::Array(vec!["userAdmin".into()]),
    )
    .await;

    // read on a: finds on a, cannot insert there nor read b.
    let reader = login(&server, "reader", "pw-r", "a", None).await;
    let found = reader
        .database("a")
        .run_command(doc! {"find": "c"})
        .await
        .unwrap();
    assert_eq!(
        found
            .get_document("cursor")
            .unwrap()
            .get_array("firstBatch")
            .unwrap()
            .len(),
        1
    );
    let error = write_failure(
        &reader.database("a"),
        doc! {"insert": "c", "documents": [{"_id": 2}]},
    )
    .await;
    assert_eq!(error.code, 13, "{error:?}");
    assert!(
        error
            .message
            .starts_with("not authorized on a to execute command { "),
        "{}",
        error.message
    );
    let error = command_error(reader.database("b").run_command(doc! {"find": "c"}).await);
    assert_eq!(error.code, 13);
    assert!(error
        .message
        .starts_with("not authorized on b to execute command"));
    // An aggregation that writes ($out) needs write, one that reads b needs read on b.
    let error = command_error(
        reader
            .database("a")
            .run_command(doc! {"aggregate": "c", "pipeline": [{"$out": "copy"}], "cursor": {}})
            .await,
    );
    assert_eq!(error.code, 13);
    let error = command_error(
        reader
            .database("a")
            .run_command(doc! {"aggregate": "c", "cursor": {}, "pipeline": [
                {"$lookup": {"from": {"db": "b", "coll": "c"}, "localField": "_id", "foreignField": "_id", "as": "j"}},
            ]})
            .await,
    );
    assert_eq!(error.code, 13);
    reader
        .database("a")
        .run_command(doc! {"aggregate": "c", "pipeline": [{"$match": {}}], "cursor": {}})
        .await
        .unwrap();
    // A user may see its own user document, not others'.
    let own = reader
        .database("a")
        .run_command(doc! {"usersInfo": "reader"})
        .await
        .unwrap();
    assert_eq!(own.get_array("users").unwrap().len(), 1);
    let error = command_error(
        reader
            .database("a")
            .run_command(doc! {"usersInfo": "writer"})
            .await,
    );
    assert_eq!(error.code, 13);
    // listDatabases shows only what the user may read.
    let listed = reader
        .database("admin")
        .run_command(doc! {"listDatabases": 1, "nameOnly": true})
        .await
        .unwrap();
    let names: Vec<&str> = listed
        .get_array("databases")
        .unwrap()
        .iter()
        .filter_map(|d| d.as_document()?.get_str("name").ok())
        .collect();
    assert_eq!(names, ["a"]);

    // readWrite on a: inserts on a only.
    let writer = login(&server, "writer", "pw-w", "a", None).await;
    writer
        .database("a")
        .collection::<Document>("c")
        .insert_one(doc! {"_id": 3})
        .await
        .unwrap();
    let error = write_failure(
        &writer.database("b"),
        doc! {"insert": "c", "documents": [{"_id": 3}]},
    )
    .await;
    assert_eq!(error.code, 13);
    let error = command_error(
        writer
            .database("a")
            .run_command(doc! {"dropDatabase": 1})
            .await,
    );
    assert_eq!(error.code, 13, "readWrite has no dropDatabase");

    // dbAdmin on a: the catalog and schema of a, not its documents.
    create_user(
        &root,
        "a",
        "dba",
        "pw-d",
        Bson::Array(vec!["dbAdmin".into()]),
    )
    .await;
    let dba = login(&server, "dba", "pw-d", "a", None).await;
    let a = dba.database("a");
    a.run_command(doc! {"listCollections": 1}).await.unwrap();
    a.run_command(doc! {"collStats": "c"}).await.unwrap();
    a.run_command(doc! {"createIndexes": "c", "indexes": [{"key": {"x": 1}, "name": "x_1"}]})
        .await
        .unwrap();
    a.run_command(doc! {"collMod": "c"}).await.unwrap();
    let error = command_error(a.run_command(doc! {"find": "c"}).await);
    assert_eq!(error.code, 13);
    let error = write_failure(&a, doc! {"insert": "c", "documents": [{"_id": 9}]}).await;
    assert_eq!(error.code, 13);

    // userAdmin on a: manages a's users, cannot read a's data nor touch b's users.
    let useradmin = login(&server, "useradmin", "pw-u", "a", None).await;
    create_user(
        &useradmin,
        "a",
        "late",
        "pw-l",
        Bson::Array(vec!["read".into()]),
    )
    .await;
    let error = command_error(
        useradmin
            .database("a")
            .run_command(doc! {"find": "c"})
            .await,
    );
    assert_eq!(error.code, 13);
    let error = command_error(
        useradmin
            .database("b")
            .run_command(doc! {"createUser": "x", "pwd": "y", "roles": []})
            .await,
    );
    assert_eq!(error.code, 13);
    // Granting readWrite to the reader takes effect on its open connection.
    useradmin
        .database("a")
        .run_command(doc! {"grantRolesToUser": "reader", "roles": ["readWrite"]})
        .await
        .unwrap();
    reader
        .database("a")
        .collection::<Document>("c")
        .insert_one(doc! {"_id": 4})
        .await
        .unwrap();
    useradmin
        .database("a")
        .run_command(doc! {"revokeRolesFromUser": "reader", "roles": ["readWrite"]})
        .await
        .unwrap();
    let error = write_failure(
        &reader.database("a"),
        doc! {"insert": "c", "documents": [{"_id": 5}]},
    )
    .await;
    assert_eq!(error.code, 13);
    // A dropped user loses its privileges at once.
    useradmin
        .database("a")
        .run_command(doc! {"dropUser": "reader"})
        .await
        .unwrap();
    let error = command_error(reader.database("a").run_command(doc! {"find": "c"}).await);
    assert_eq!(error.code, 13);
    // Monitoring needs clusterMonitor; the hub's admin commands need hubAdmin.
    let error = command_error(
        writer
            .database("admin")
            .run_command(doc! {"serverStatus": 1})
            .await,
    );
    assert_eq!(error.code, 13);
    root.database("admin")
        .run_command(doc! {"serverStatus": 1})
        .await
        .unwrap();
    // A cursor belongs to the user that opened it.
    let opened = writer
        .database("a")
        .run_command(doc! {"find": "c", "batchSize": 1})
        .await
        .unwrap();
    let id = opened
        .get_document("cursor")
        .unwrap()
        .get_i64("id")
        .unwrap();
    assert_ne!(id, 0);
    let late = login(&server, "late", "pw-l", "a", None).await;
    let error = command_error(
        late.database("a")
            .run_command(doc! {"getMore": id, "collection": "c"})
            .await,
    );
    assert_eq!(error.code, 13, "{error:?}");
    let error = command_error(
        late.database("a")
            .run_command(doc! {"killCursors": "c", "cursors": [id]})
            .await,
    );
    assert_eq!(error.code, 13, "{error:?}");
    writer
        .database("a")
        .run_command(doc! {"getMore": id, "collection": "c"})
        .await
        .unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_management_commands_behave_as_mongod() {
    let server = server_with_root().await;
    let root = login(&server, "root", ROOT_PASSWORD, "admin", None).await;
    let shop = root.database("shop");
    shop.run_command(doc! {
        "createUser": "ann", "pwd": "pw-a",
        "roles": ["read", {"role": "readWrite", "db": "other"}],
        "customData": {"team": "till"},
        "mechanisms": ["SCRAM-SHA-256"],
    })
    .await
    .unwrap();
    let error = command_error(
        shop.run_command(doc! {"createUser": "ann", "pwd": "x", "roles": []})
            .await,
    );
    assert_eq!(error.code, 51003);
    assert_eq!(error.message, "User \"ann@shop\" already exists");
    let error = command_error(
        shop.run_command(doc! {"createUser": "bob", "pwd": "x", "roles": ["root"]})
            .await,
    );
    assert_eq!(
        (error.code, error.message.as_str()),
        (31, "No role named root@shop")
    );
    let error = command_error(
        shop.run_command(doc! {"createUser": "bob", "pwd": "x"})
            .await,
    );
    assert_eq!(error.code, 40414);

    let info = shop.run_command(doc! {"usersInfo": "ann"}).await.unwrap();
    let users = info.get_array("users").unwrap();
    assert_eq!(users.len(), 1);
    let ann = users[0].as_document().unwrap();
    assert_eq!(ann.get_str("_id").unwrap(), "shop.ann");
    assert_eq!(ann.get_str("user").unwrap(), "ann");
    assert_eq!(ann.get_str("db").unwrap(), "shop");
    assert!(matches!(ann.get("userId"), Some(Bson::Binary(b)) if b.bytes.len() == 16));
    assert_eq!(
        ann.get_array("roles").unwrap(),
        &vec![
            Bson::Document(doc! {"role": "read", "db": "shop"}),
            Bson::Document(doc! {"role": "readWrite", "db": "other"}),
        ]
    );
    assert_eq!(
        ann.get_array("mechanisms").unwrap(),
        &vec![Bson::String("SCRAM-SHA-256".into())]
    );
    assert_eq!(
        ann.get_document("customData").unwrap(),
        &doc! {"team": "till"}
    );
    assert!(!ann.contains_key("credentials"));
    // hello's saslSupportedMechs names the user's mechanisms.
    let hello = server
        .db("shop")
        .run_command(doc! {"hello": 1, "saslSupportedMechs": "shop.ann"})
        .await
        .unwrap();
    assert_eq!(
        hello.get_array("saslSupportedMechs").unwrap(),
        &vec![Bson::String("SCRAM-SHA-256".into())]
    );

    // A new password: the old one stops working.
    shop.run_command(doc! {"updateUser": "ann", "pwd": "pw-b"})
        .await
        .unwrap();
    expect_login_fails(&login(&server, "ann", "pw-a", "shop", None).await).await;
    let ann_client = login(&server, "ann", "pw-b", "shop", None).await;
    ann_client
        .database("shop")
        .run_command(doc! {"find": "x"})
        .await
        .unwrap();
    let status = ann_client
        .database("shop")
        .run_command(doc! {"connectionStatus": 1, "showPrivileges": true})
        .await
        .unwrap();
    let auth_info = status.get_document("authInfo").unwrap();
    assert_eq!(
        auth_info.get_array("authenticatedUserRoles").unwrap().len(),
        2
    );
    assert!(!auth_info
        .get_array("authenticatedUserPrivileges")
        .unwrap()
        .is_empty());

    let all = root
        .database("admin")
        .run_command(doc! {"usersInfo": {"forAllDBs": true}})
        .await
        .unwrap();
    assert_eq!(all.get_array("users").unwrap().len(), 2);
    shop.run_command(doc! {"dropUser": "ann"}).await.unwrap();
    let error = command_error(shop.run_command(doc! {"dropUser": "ann"}).await);
    assert_eq!(error.code, 11);
    let none = shop.run_command(doc! {"usersInfo": 1}).await.unwrap();
    assert!(none.get_array("users").unwrap().is_empty());
    // logout: the connection (the only one of this client) is unauthenticated again.
    let mut options = ClientOptions::parse(uri_for(server.addr())).await.unwrap();
    options.max_pool_size = Some(1);
    options.credential = Some(
        Credential::builder()
            .username("root".to_owned())
            .password(ROOT_PASSWORD.to_owned())
            .source("admin".to_owned())
            .build(),
    );
    let single = Client::with_options(options).unwrap();
    let db = single.database("admin");
    db.run_command(doc! {"find": "x"}).await.unwrap();
    db.run_command(doc! {"logout": 1}).await.unwrap();
    let error = command_error(db.run_command(doc! {"find": "x"}).await);
    assert_eq!(error.code, 13);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_persist_and_outpost_user_add_creates_one_on_a_stopped_server() {
    let dir = tempfile::tempdir().unwrap();
    let binary = crate::persistence::outpost_binary();
    let mut child = Command::new(&binary)
        .args(["user", "add", "--dbpath"])
        .arg(dir.path())
        .args(["boss", "--role", "root", "--role", "readWrite@shop"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"boss-password\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "created user boss@admin"
    );
    // An unknown role is refused before anything is written.
    let refused = Command::new(&binary)
        .args(["user", "add", "--dbpath"])
        .arg(dir.path())
        .args(["x", "--role", "root@shop"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("No role named root@shop"));

    let server = auth_server(Some(dir.path())).await;
    // The localhost exception is closed: a user exists.
    let error = command_error(
        server
            .db("admin")
            .run_command(doc! {"createUser": "x", "pwd": "y", "roles": ["root"]})
            .await,
    );
    assert_eq!(error.code, 13);
    let boss = login(&server, "boss", "boss-password", "admin", None).await;
    boss.database("shop")
        .collection::<Document>("c")
        .insert_one(doc! {"_id": 1})
        .await
        .unwrap();
    expect_login_fails(&login(&server, "boss", "boss-passwor", "admin", None).await).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_cmd_line_opts_reports_the_authorization_mode() {
    let server = TestServer::start().await;
    // The in-process server has no argv of its own; the redaction itself is unit-tested in
    // cmd::get_cmd_line_opts. Here: the reply reports the authorization mode.
    let reply = server
        .db("admin")
        .run_command(doc! {"getCmdLineOpts": 1})
        .await
        .unwrap();
    let security = reply
        .get_document("parsed")
        .and_then(|p| p.get_document("security"))
        .unwrap();
    assert_eq!(security.get_str("authorization").unwrap(), "disabled");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_answers_speculative_authentication_with_the_server_first_message() {
    let server = server_with_root().await;
    let speculative = |user: &str| {
        doc! {
            "hello": 1,
            "speculativeAuthenticate": {
                "saslStart": 1,
                "mechanism": "SCRAM-SHA-256",
                "payload": Bson::Binary(bson::Binary {
                    subtype: bson::spec::BinarySubtype::Generic,
                    bytes: format!("n,,n={user},r=clientnonce").into_bytes(),
                }),
                "options": {"skipEmptyExchange": true},
                "db": "admin",
            },
        }
    };
    let reply = server
        .db("admin")
        .run_command(speculative("root"))
        .await
        .unwrap();
    let answer = reply.get_document("speculativeAuthenticate").unwrap();
    assert!(answer.get_i32("conversationId").is_ok(), "{answer}");
    assert_eq!(answer.get_bool("done"), Ok(false));
    let payload = match answer.get("payload") {
        Some(Bson::Binary(b)) => String::from_utf8(b.bytes.clone()).unwrap(),
        other => panic!("payload: {other:?}"),
    };
    assert!(payload.starts_with("r=clientnonce"), "{payload}");
    assert!(payload.ends_with(",i=15000"), "{payload}");
    // An unknown user: no answer, the driver then authenticates the usual way.
    let reply = server
        .db("admin")
        .run_command(speculative("nobody"))
        .await
        .unwrap();
    assert!(!reply.contains_key("speculativeAuthenticate"), "{reply}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_with_auth_needs_hub_admin_for_its_admin_commands_and_leaves_sync_to_api_keys() {
    let server = TestServer::start_with(Config {
        dbpath: None,
        port: 0,
        auth: true,
        hub_mode: true,
        ..Config::default()
    })
    .await;
    server
        .db("admin")
        .run_command(doc! {"createUser": "ops", "pwd": "pw-ops", "roles": ["hubAdmin"]})
        .await
        .unwrap();
    let ops = login(&server, "ops", "pw-ops", "admin", None).await;
    ops.database("admin")
        .run_command(
            doc! {"createUser": "data", "pwd": "pw-data", "roles": ["readWriteAnyDatabase"]},
        )
        .await
        .expect_err("hubAdmin cannot create users");
    // A data user, written straight into the user records as `outpost user add` does.
    let users = outpost_server::auth::Users::open(server.handle().storage()).unwrap();
    let data_user = outpost_server::auth::new_user(
        "admin",
        "data",
        "pw-data",
        vec![outpost_server::auth::RoleRef {
            role: "readWriteAnyDatabase".into(),
            db: "admin".into(),
        }],
        &outpost_server::auth::default_mechanisms(),
    )
    .unwrap();
    users.create(data_user).unwrap();

    let created = ops
        .database("admin")
        .run_command(doc! {"outpostHubCreateEdge": 1, "name": "store-1"})
        .await
        .unwrap();
    assert!(created.get_str("registration_key").is_ok(), "{created}");
    ops.database("admin")
        .run_command(doc! {"outpostHubListEdges": 1})
        .await
        .unwrap();
    let data = login(&server, "data", "pw-data", "admin", None).await;
    let error = command_error(
        data.database("admin")
            .run_command(doc! {"outpostHubListEdges": 1})
            .await,
    );
    assert_eq!(error.code, 13);
    let error = command_error(
        server
            .db("admin")
            .run_command(doc! {"outpostHubListEdges": 1})
            .await,
    );
    assert_eq!(error.code, 13);
    // The sync protocol is not checked against users: a bad key is the sync engine's error.
    let error = command_error(
        server
            .db("admin")
            .run_command(doc! {
                "outpostSyncHello": 1,
                "registrationKey": "not-a-key",
                "protocolVersion": "3.0",
            })
            .await,
    );
    assert_eq!(error.code, 18, "{error:?}");
    server
        .db("admin")
        .run_command(doc! {"outpostSyncStatus": 1})
        .await
        .unwrap();
    server.shutdown().await;
}
