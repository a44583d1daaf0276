//! Errors with MongoDB's codes: wrong argument types (14 TypeMismatch), unparsable requests
//! (9 FailedToParse), bad values (2 BadValue), missing fields, oversized documents.

use bson::{doc, Document};
use outpost_tests::{int_field, run, TestServer};

/// One refused command: the command, the expected code and code name, and a fragment of
/// MongoDB's message.
struct Refused {
    command: Document,
    code: i32,
    code_name: &'static str,
    message: &'static str,
}

fn refused(
    command: Document,
    code: i32,
    code_name: &'static str,
    message: &'static str,
) -> Refused {
    Refused {
        command,
        code,
        code_name,
        message,
    }
}

/// Runs every case and reports all mismatches at once.
async fn check(server: &TestServer, cases: Vec<Refused>) {
    let db = server.db("test");
    let mut mismatches = Vec::new();
    for case in cases {
        match db.run_command(case.command.clone()).await {
            Ok(reply) => mismatches.push(format!("{}: succeeded with {reply}", case.command)),
            Err(e) => {
                let error = outpost_tests::command_error::<()>(Err(e));
                if (error.code, error.code_name.as_str()) != (case.code, case.code_name)
                    || !error.message.contains(case.message)
                {
                    mismatches.push(format!(
                        "{}: expected {} {} {:?}, got {error:?}",
                        case.command, case.code, case.code_name, case.message
                    ));
                }
            }
        }
    }
    // The server still answers after every refusal.
    assert_eq!(run(&db, doc! {"ping": 1}).await, doc! {"ok": 1.0});
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_argument_types_are_type_mismatch() {
    let server = TestServer::start().await;
    run(
        &server.db("test"),
        doc! {"insert": "c", "documents": [{"_id": 1}]},
    )
    .await;
    check(
        &server,
        vec![
            refused(doc! {"find": "c", "filter": "x"}, 14, "TypeMismatch",
                "BSON field 'find.filter' is the wrong type 'string', expected type 'object'"),
            refused(doc! {"find": "c", "limit": "x"}, 14, "TypeMismatch",
                "BSON field 'find.limit' is the wrong type 'string', expected types '[long, int, decimal, double]'"),
            refused(doc! {"find": "c", "skip": true}, 14, "TypeMismatch", "BSON field 'find.skip' is the wrong type 'bool'"),
            refused(doc! {"find": "c", "sort": 1}, 14, "TypeMismatch", "BSON field 'find.sort' is the wrong type 'int'"),
            refused(doc! {"find": "c", "projection": [1]}, 14, "TypeMismatch", "BSON field 'find.projection' is the wrong type 'array'"),
            refused(doc! {"find": "c", "batchSize": "x"}, 14, "TypeMismatch", "find.batchSize"),
            refused(doc! {"find": "c", "singleBatch": "x"}, 14, "TypeMismatch", "find.singleBatch"),
            refused(doc! {"insert": "c", "documents": "x"}, 14, "TypeMismatch", "insert.documents"),
            refused(doc! {"insert": "c", "documents": [1]}, 14, "TypeMismatch", "insert.documents.0"),
            refused(doc! {"insert": "c", "documents": [{}], "ordered": "x"}, 14, "TypeMismatch", "insert.ordered"),
            refused(doc! {"update": "c", "updates": 1}, 14, "TypeMismatch", "update.updates"),
            refused(doc! {"delete": "c", "deletes": {}}, 14, "TypeMismatch", "delete.deletes"),
            refused(doc! {"count": "c", "query": "x"}, 14, "TypeMismatch", "count.query"),
            refused(doc! {"distinct": "c", "key": 1}, 14, "TypeMismatch", "distinct.key"),
            refused(doc! {"aggregate": "c", "pipeline": {}, "cursor": {}}, 14, "TypeMismatch", "aggregate.pipeline"),
            refused(doc! {"createIndexes": "c", "indexes": "x"}, 14, "TypeMismatch", "createIndexes.indexes"),
            refused(doc! {"listCollections": 1, "filter": "x"}, 14, "TypeMismatch", "listCollections.filter"),
            refused(doc! {"findAndModify": "c", "query": 1, "remove": true}, 14, "TypeMismatch", "findAndModify.query"),
        ],
    )
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparsable_requests_are_failed_to_parse() {
    let server = TestServer::start().await;
    run(
        &server.db("test"),
        doc! {"insert": "c", "documents": [{"_id": 1}]},
    )
    .await;
    check(
        &server,
        vec![
            refused(doc! {"aggregate": "c", "pipeline": []}, 9, "FailedToParse",
                "The 'cursor' option is required, except for aggregate with the explain argument"),
            refused(doc! {"delete": "c", "deletes": [{"q": {}, "limit": 2}]}, 9, "FailedToParse",
                "The limit field in delete objects must be 0 or 1. Got 2"),
            refused(doc! {"findAndModify": "c", "query": {}, "remove": true, "update": {"$set": {"a": 1}}},
                9, "FailedToParse", "Cannot specify both an update and remove=true"),
            refused(doc! {"findAndModify": "c", "query": {}}, 9, "FailedToParse",
                "Either an update or remove=true must be specified"),
            refused(doc! {"findAndModify": "c", "query": {}, "remove": true, "new": true}, 9, "FailedToParse",
                "Cannot specify both new=true and remove=true"),
        ],
    )
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_values_are_bad_value() {
    let server = TestServer::start().await;
    run(
        &server.db("test"),
        doc! {"insert": "c", "documents": [{"_id": 1}]},
    )
    .await;
    check(
        &server,
        vec![
            refused(
                doc! {"createIndexes": "c", "indexes": []},
                2,
                "BadValue",
                "Must specify at least one index to create",
            ),
            refused(
                doc! {"find": "c", "maxTimeMS": -1},
                2,
                "BadValue",
                "-1 value for maxTimeMS is out of range",
            ),
            refused(
                doc! {"find": "c", "hint": "no_such_index"},
                2,
                "BadValue",
                "hint provided does not correspond to an existing index",
            ),
        ],
    )
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_argument_errors_have_mongodb_codes() {
    let server = TestServer::start().await;
    run(
        &server.db("test"),
        doc! {"insert": "c", "documents": [{"_id": 1}]},
    )
    .await;
    check(
        &server,
        vec![
            // IDL validators: "BSON field 'limit' value must be >= 0".
            refused(doc! {"find": "c", "limit": -1}, 51024, "Location51024", "value must be >= 0"),
            refused(doc! {"find": "c", "skip": -1}, 51024, "Location51024", "value must be >= 0"),
            refused(doc! {"find": "c", "batchSize": -1}, 51024, "Location51024", "value must be >= 0"),
            // Required fields.
            refused(doc! {"insert": "c"}, 40414, "Location40414",
                "BSON field 'insert.documents' is missing but a required field"),
            refused(doc! {"update": "c"}, 40414, "Location40414",
                "BSON field 'update.updates' is missing but a required field"),
            refused(doc! {"delete": "c", "deletes": [{"q": {}}]}, 40414, "Location40414",
                "BSON field 'delete.deletes.limit' is missing but a required field"),
            refused(doc! {"distinct": "c"}, 40414, "Location40414",
                "BSON field 'distinct.key' is missing but a required field"),
            // Write batches of 1 to 100,000 statements.
            refused(doc! {"insert": "c", "documents": []}, 16, "InvalidLength",
                "Write batch sizes must be between 1 and 100000. Got 0 operations."),
            // Namespaces.
            refused(doc! {"find": ""}, 73, "InvalidNamespace", ""),
            refused(doc! {"insert": "bad$name", "documents": [{}]}, 73, "InvalidNamespace", ""),
            // A transaction needs autocommit: false (tests/integration/transactions.rs has the rest).
            refused(doc! {"find": "c", "txnNumber": 1_i64, "startTransaction": true, "autocommit": true},
                72, "InvalidOptions", "Specifying autocommit=true is not allowed."),
        ],
    )
    .await;
    server.shutdown().await;
}

/// A document of exactly `size` bytes: `{_id: ObjectId, x: "aaa..."}`.
fn document_of_size(size: usize) -> Document {
    let overhead = bson::to_vec(&doc! {"_id": bson::oid::ObjectId::new(), "x": ""})
        .expect("serialize")
        .len();
    let document = doc! {"_id": bson::oid::ObjectId::new(), "x": "a".repeat(size - overhead)};
    assert_eq!(bson::to_vec(&document).expect("serialize").len(), size);
    document
}

const MAX_BSON_OBJECT_SIZE: usize = 16 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_over_16_mib_are_refused_and_the_server_keeps_serving() {
    let server = TestServer::start().await;
    let db = server.db("test");
    // Exactly the limit: accepted and read back whole (MongoDB's max_doc_size.js).
    let largest = document_of_size(MAX_BSON_OBJECT_SIZE);
    let reply = run(&db, doc! {"insert": "big", "documents": [largest.clone()]}).await;
    assert_eq!(reply, doc! {"n": 1, "ok": 1.0});
    let found = db
        .collection::<Document>("big")
        .find_one(doc! {"_id": largest.get("_id").cloned()})
        .await
        .expect("find")
        .expect("the document");
    assert_eq!(found, largest);

    // One byte over: refused with BadValue (code 2), as mongod does.
    let too_large = document_of_size(MAX_BSON_OBJECT_SIZE + 1);
    let result = db
        .run_command(doc! {"insert": "big", "documents": [too_large]})
        .await;
    let code = match result {
        Ok(reply) => {
            assert_eq!(
                int_field(&reply, "n"),
                0,
                "{}",
                reply.get_i32("n").unwrap_or(-1)
            );
            let errors = reply.get_array("writeErrors").expect("writeErrors");
            int_field(errors[0].as_document().expect("document"), "code")
        }
        Err(e) => i64::from(outpost_tests::command_error::<()>(Err(e)).code),
    };
    let mut mismatches = Vec::new();
    if code != 2 {
        mismatches.push(format!(
            "insert over 16 MiB: code {code}, mongod answers 2 (BadValue)"
        ));
    }
    let count = run(&db, doc! {"count": "big"}).await;
    assert_eq!(int_field(&count, "n"), 1);

    // Growing a document past the limit with $set is refused (mongod: 17419, or 8375908 in
    // later versions), and so is an upserted replacement over the limit (17420).
    let id = largest.get("_id").cloned();
    let error = outpost_tests::write_failure(
        &db,
        doc! {"update": "big", "updates": [{"q": {"_id": id.clone()}, "u": {"$set": {"y": "more"}}}]},
    )
    .await;
    if ![17419, 8375908].contains(&error.code) {
        mismatches.push(format!("$set past 16 MiB: {error:?}, mongod answers 17419"));
    }
    let mut replacement = document_of_size(MAX_BSON_OBJECT_SIZE + 1);
    let new_id = bson::oid::ObjectId::new();
    replacement.insert("_id", new_id);
    let error = outpost_tests::write_failure(
        &db,
        doc! {"update": "big", "updates": [{"q": {"_id": new_id}, "u": replacement, "upsert": true}]},
    )
    .await;
    if error.code != 17420 {
        mismatches.push(format!(
            "upserted replacement over 16 MiB: {error:?}, mongod answers 17420"
        ));
    }
    let count = run(&db, doc! {"count": "big"}).await;
    assert_eq!(
        int_field(&count, "n"),
        1,
        "nothing over the limit was stored"
    );
    let unchanged = db
        .collection::<Document>("big")
        .find_one(doc! {"_id": id})
        .await
        .expect("find")
        .expect("the document");
    assert_eq!(unchanged, largest);
    assert_eq!(run(&db, doc! {"ping": 1}).await, doc! {"ok": 1.0});
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    server.shutdown().await;
}

/// `maxTimeMS` bounds find, count, distinct and aggregate, on collections and on views: a scan
/// of 30,000 documents cannot finish within 1 ms, so each fails with MaxTimeMSExpired (50).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_time_ms_expires_on_collections_and_views() {
    let server = TestServer::start().await;
    let db = server.db("test");
    let docs: Vec<Document> = (0..30_000).map(|i| doc! {"_id": i, "x": i % 7}).collect();
    db.collection::<Document>("c")
        .insert_many(docs)
        .await
        .expect("insert");
    run(
        &db,
        doc! {"create": "v", "viewOn": "c", "pipeline": [{"$match": {"x": {"$gte": 0}}}]},
    )
    .await;
    let mut cases = Vec::new();
    for source in ["c", "v"] {
        let none = doc! {"x": "no such value"};
        cases.push(doc! {"find": source, "filter": none.clone()});
        cases.push(doc! {"count": source, "query": none.clone()});
        cases.push(doc! {"distinct": source, "key": "x", "query": none.clone()});
        cases
            .push(doc! {"aggregate": source, "pipeline": [{"$match": none.clone()}], "cursor": {}});
    }
    for command in cases {
        // Without a limit the command answers; with 1 ms it runs out of time.
        db.run_command(command.clone())
            .await
            .unwrap_or_else(|e| panic!("{command}: {e}"));
        let mut limited = command.clone();
        limited.insert("maxTimeMS", 1);
        let error = outpost_tests::command_error::<Document>(db.run_command(limited).await);
        assert_eq!(
            (error.code, error.code_name.as_str()),
            (50, "MaxTimeMSExpired"),
            "{command}: {}",
            error.message
        );
    }
    server.shutdown().await;
}
