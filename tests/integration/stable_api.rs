//! The Stable API: `apiVersion` "1" only (322), `apiStrict: true` refusing commands outside
//! API version 1 (APIStrictError, 323), through a driver client declaring the API as an
//! application would, and through raw command fields.

use bson::{doc, Document};
use mongodb::options::{ClientOptions, ServerApi, ServerApiVersion};
use mongodb::Client;
use outpost_tests::{command_error, run, run_err, TestServer};

async fn client_with_api(server: &TestServer, strict: bool) -> Client {
    let mut options = ClientOptions::parse(server.uri())
        .await
        .expect("client options");
    options.server_api = Some(
        ServerApi::builder()
            .version(ServerApiVersion::V1)
            .strict(strict)
            .build(),
    );
    options.server_selection_timeout = Some(std::time::Duration::from_millis(
        outpost_tests::SERVER_SELECTION_TIMEOUT_MS,
    ));
    Client::with_options(options).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strict_client_runs_api_v1_commands_and_is_refused_the_rest() {
    let server = TestServer::start().await;
    let client = client_with_api(&server, true).await;
    let coll = client.database("test").collection::<Document>("c");
    coll.insert_one(doc! {"_id": 1, "a": 1})
        .await
        .expect("insert");
    let found = coll.find_one(doc! {"a": 1}).await.expect("find");
    assert_eq!(found, Some(doc! {"_id": 1, "a": 1}));
    assert_eq!(coll.count_documents(doc! {}).await.expect("count"), 1);
    // validate and collStats are not in API version 1.
    for command in [doc! {"validate": "c"}, doc! {"collStats": "c"}] {
        let error = command_error(client.database("test").run_command(command.clone()).await);
        assert_eq!(
            (error.code, error.code_name.as_str()),
            (323, "APIStrictError"),
            "{command}: {error:?}"
        );
    }
    // Without strict, the same client may run them.
    let lenient = client_with_api(&server, false).await;
    let reply = lenient
        .database("test")
        .run_command(doc! {"validate": "c"})
        .await
        .expect("validate");
    assert_eq!(reply.get_bool("valid"), Ok(true));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_parameters_are_checked() {
    let server = TestServer::start().await;
    let db = server.db("test");
    let error = run_err(&db, doc! {"ping": 1, "apiVersion": "2"}).await;
    assert_eq!(
        (error.code, error.code_name.as_str()),
        (322, "APIVersionError")
    );
    let error = run_err(&db, doc! {"ping": 1, "apiVersion": 1}).await;
    assert_eq!(error.code, 14, "{error:?}");
    let error = run_err(&db, doc! {"ping": 1, "apiStrict": true}).await;
    assert_eq!(error.code, 4886600, "{error:?}");
    let error = run_err(
        &db,
        doc! {"dbStats": 1, "apiVersion": "1", "apiStrict": true},
    )
    .await;
    assert_eq!(error.code, 323, "{error:?}");
    run(
        &db,
        doc! {"ping": 1, "apiVersion": "1", "apiStrict": true, "apiDeprecationErrors": true},
    )
    .await;
    // Stages outside version 1, also nested; $collStats only with count.
    run(&db, doc! {"insert": "c", "documents": [{"_id": 1}]}).await;
    for pipeline in [
        vec![doc! {"$listLocalSessions": {}}],
        vec![doc! {"$facet": {"x": [{"$lookup": {"from": "c", "as": "y",
        "pipeline": [{"$currentOp": {}}]}}]}}],
        vec![doc! {"$collStats": {"storageStats": {}}}],
    ] {
        let error = run_err(
            &server.db("admin"),
            doc! {"aggregate": 1, "pipeline": pipeline.clone(), "cursor": {},
            "apiVersion": "1", "apiStrict": true},
        )
        .await;
        assert_eq!(error.code, 323, "{pipeline:?}: {error:?}");
    }
    let reply = run(
        &db,
        doc! {"aggregate": "c", "pipeline": [{"$collStats": {"count": {}}}], "cursor": {},
        "apiVersion": "1", "apiStrict": true},
    )
    .await;
    assert_eq!(outpost_tests::first_batch(&reply).0.len(), 1, "{reply}");
    // listCommands tells which commands are in version 1.
    let reply = run(&db, doc! {"listCommands": 1}).await;
    let commands = reply.get_document("commands").cloned().unwrap_or_default();
    let versions = |name: &str| {
        commands
            .get_document(name)
            .and_then(|c| c.get_array("apiVersions"))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(versions("find"), [bson::Bson::String("1".into())]);
    assert!(versions("validate").is_empty());
    server.shutdown().await;
}
