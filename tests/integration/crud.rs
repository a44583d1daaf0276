//! Reads and writes: insert, find, update, delete, findAndModify, count, distinct.

use bson::{doc, oid::ObjectId, Bson, Document};
use mongodb::error::ErrorKind;
use mongodb::options::ReturnDocument;
use mongodb::Collection;
use outpost_tests::{find_all, first_batch, ids, int_field, run, TestServer};

/// Inserts `docs` with the insert command and checks they all went in.
async fn seed(server: &TestServer, coll: &str, docs: Vec<Document>) {
    let reply = run(
        &server.db("test"),
        doc! {"insert": coll, "documents": docs.clone()},
    )
    .await;
    assert_eq!(reply, doc! {"n": docs.len() as i32, "ok": 1.0});
}

/// Every document of `test.<coll>`, by `_id`.
async fn all(server: &TestServer, coll: &str) -> Vec<Document> {
    find_all(&server.db("test"), coll, doc! {"sort": {"_id": 1}}).await
}

fn collection(server: &TestServer, coll: &str) -> Collection<Document> {
    server.db("test").collection(coll)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_ordered_stops_at_the_first_error() {
    let server = TestServer::start().await;
    let db = server.db("test");
    let reply = run(
        &db,
        doc! {"insert": "c", "documents": [{"_id": 1}, {"_id": 2}, {"_id": 1}, {"_id": 3}]},
    )
    .await;
    assert_eq!(int_field(&reply, "n"), 2, "{reply}");
    let errors = reply.get_array("writeErrors").expect("writeErrors");
    assert_eq!(errors.len(), 1, "{reply}");
    let error = errors[0].as_document().expect("document");
    assert_eq!(int_field(error, "index"), 2, "{reply}");
    assert_eq!(int_field(error, "code"), 11000, "{reply}");
    assert_eq!(
        error.get_str("errmsg"),
        Ok("E11000 duplicate key error collection: test.c index: _id_ dup key: { _id: 1 }"),
        "{reply}"
    );
    assert_eq!(
        error.get_document("keyPattern").ok(),
        Some(&doc! {"_id": 1}),
        "{reply}"
    );
    assert_eq!(
        error.get_document("keyValue").ok(),
        Some(&doc! {"_id": 1}),
        "{reply}"
    );
    assert_eq!(ids(&all(&server, "c").await), [1, 2]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_unordered_reports_every_error_and_inserts_the_rest() {
    let server = TestServer::start().await;
    let db = server.db("test");
    let reply = run(
        &db,
        doc! {"insert": "c", "ordered": false,
        "documents": [{"_id": 1}, {"_id": 1}, {"_id": 2}, {"_id": 2}, {"_id": 3}]},
    )
    .await;
    assert_eq!(int_field(&reply, "n"), 3, "{reply}");
    let indexes: Vec<i64> = reply
        .get_array("writeErrors")
        .expect("writeErrors")
        .iter()
        .map(|e| {
            let e = e.as_document().expect("document");
            assert_eq!(int_field(e, "code"), 11000, "{e}");
            int_field(e, "index")
        })
        .collect();
    assert_eq!(indexes, [1, 3]);
    assert_eq!(ids(&all(&server, "c").await), [1, 2, 3]);

    // Through the driver: an InsertMany error naming the failed index.
    let result = collection(&server, "c")
        .insert_many([doc! {"_id": 4}, doc! {"_id": 1}, doc! {"_id": 5}])
        .ordered(false)
        .await;
    match result.map_err(|e| *e.kind) {
        Err(ErrorKind::InsertMany(e)) => {
            let errors = e.write_errors.expect("write errors");
            assert_eq!(errors.len(), 1);
            assert_eq!((errors[0].index, errors[0].code), (1, 11000));
        }
        other => panic!("expected an InsertMany error, got {other:?}"),
    }
    assert_eq!(ids(&all(&server, "c").await), [1, 2, 3, 4, 5]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_without_id_gets_an_object_id_first() {
    let server = TestServer::start().await;
    let db = server.db("test");
    // The insert command, not the driver helper: the driver would add the _id itself.
    run(
        &db,
        doc! {"insert": "c", "documents": [{"a": 1}, {"a": 2, "_id": 7}]},
    )
    .await;
    let docs = find_all(&db, "c", doc! {"filter": {"a": 1}}).await;
    assert_eq!(docs.len(), 1);
    assert!(
        matches!(docs[0].get("_id"), Some(Bson::ObjectId(_))),
        "{}",
        docs[0]
    );
    assert_eq!(
        docs[0].keys().collect::<Vec<_>>(),
        ["_id", "a"],
        "_id comes first"
    );
    // An _id given later in the document is moved to the front, as mongod stores it.
    let docs = find_all(&db, "c", doc! {"filter": {"a": 2}}).await;
    assert_eq!(docs, [doc! {"_id": 7, "a": 2}]);
    assert_eq!(docs[0].keys().collect::<Vec<_>>(), ["_id", "a"]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_keeps_every_bson_type() {
    let server = TestServer::start().await;
    let document = doc! {
        "_id": ObjectId::new(),
        "double": 1.5,
        "string": "héllo",
        "doc": {"nested": {"deeper": [1, 2, {"x": null}]}},
        "array": [1, "two", 3.0, false],
        "binary": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![0, 1, 2] },
        "oid": ObjectId::new(),
        "bool": true,
        "date": bson::DateTime::from_millis(1_700_000_000_000),
        "null": null,
        "regex": bson::Regex { pattern: "^a".into(), options: "i".into() },
        "int32": 42,
        "timestamp": bson::Timestamp { time: 5, increment: 6 },
        "int64": 1_i64 << 40,
        "decimal": "1.10".parse::<bson::Decimal128>().expect("decimal"),
        "minKey": Bson::MinKey,
        "maxKey": Bson::MaxKey,
        "js": Bson::JavaScriptCode("function() {}".into()),
    };
    let coll = collection(&server, "types");
    coll.insert_one(document.clone()).await.expect("insert");
    let found = coll
        .find_one(doc! {})
        .await
        .expect("find")
        .expect("a document");
    assert_eq!(found, document);
    server.shutdown().await;
}

async fn seed_people(server: &TestServer) {
    seed(
        server,
        "people",
        vec![
            doc! {"_id": 1, "name": "ada", "age": 36, "city": "london"},
            doc! {"_id": 2, "name": "bob", "age": 25, "city": "paris"},
            doc! {"_id": 3, "name": "cy", "age": 41, "city": "london"},
            doc! {"_id": 4, "name": "dee", "age": 25, "city": "rome"},
            doc! {"_id": 5, "name": "eve", "age": 30, "city": "paris"},
        ],
    )
    .await;
}

/// Runs `find` on people with `options` and returns the `_id`s of every result.
async fn find_ids(server: &TestServer, options: Document) -> Vec<i32> {
    ids(&find_all(&server.db("test"), "people", options).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_filters_sorts_skips_and_limits() {
    let server = TestServer::start().await;
    seed_people(&server).await;
    let cases: Vec<(Document, Vec<i32>)> = vec![
        (doc! {}, vec![1, 2, 3, 4, 5]),
        (doc! {"filter": {"city": "london"}}, vec![1, 3]),
        (doc! {"filter": {"city": "london", "age": 41}}, vec![3]),
        (doc! {"filter": {"city": "nowhere"}}, vec![]),
        (doc! {"filter": {"_id": 4}}, vec![4]),
        (doc! {"sort": {"_id": -1}}, vec![5, 4, 3, 2, 1]),
        (doc! {"sort": {"age": 1, "_id": 1}}, vec![2, 4, 5, 1, 3]),
        (doc! {"sort": {"age": -1, "_id": -1}}, vec![3, 1, 5, 4, 2]),
        (doc! {"sort": {"city": 1, "age": -1}}, vec![3, 1, 5, 2, 4]),
        (doc! {"sort": {"_id": 1}, "skip": 2}, vec![3, 4, 5]),
        (doc! {"sort": {"_id": 1}, "limit": 2}, vec![1, 2]),
        (doc! {"sort": {"_id": 1}, "skip": 1, "limit": 2}, vec![2, 3]),
        (doc! {"sort": {"_id": 1}, "skip": 10}, vec![]),
        (doc! {"sort": {"_id": 1}, "limit": 0}, vec![1, 2, 3, 4, 5]),
        (
            doc! {"filter": {"city": "paris"}, "sort": {"age": 1}},
            vec![2, 5],
        ),
        (
            doc! {"sort": {"_id": 1}, "comment": "find people"},
            vec![1, 2, 3, 4, 5],
        ),
        // The query language beyond equality.
        (
            doc! {"filter": {"age": {"$gt": 30}}, "sort": {"_id": 1}},
            vec![1, 3],
        ),
        (
            doc! {"filter": {"age": {"$lte": 25}}, "sort": {"_id": 1}},
            vec![2, 4],
        ),
        (
            doc! {"filter": {"city": {"$in": ["rome", "paris"]}}, "sort": {"_id": 1}},
            vec![2, 4, 5],
        ),
        (
            doc! {"filter": {"$or": [{"age": 36}, {"name": "eve"}]}, "sort": {"_id": 1}},
            vec![1, 5],
        ),
        (
            doc! {"filter": {"city": {"$ne": "london"}}, "sort": {"_id": 1}},
            vec![2, 4, 5],
        ),
    ];
    let mut mismatches = Vec::new();
    for (options, expected) in cases {
        let shown = options.to_string();
        let found = find_ids(&server, options).await;
        if found != expected {
            mismatches.push(format!(
                "find {shown}: expected {expected:?}, got {found:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_projects_fields() {
    let server = TestServer::start().await;
    seed_people(&server).await;
    let db = server.db("test");
    let cases: Vec<(Document, Document)> = vec![
        (doc! {"name": 1}, doc! {"_id": 2, "name": "bob"}),
        (doc! {"name": 1, "_id": 0}, doc! {"name": "bob"}),
        (doc! {"age": 0, "city": 0}, doc! {"_id": 2, "name": "bob"}),
        (
            doc! {"_id": 0},
            doc! {"name": "bob", "age": 25, "city": "paris"},
        ),
        (doc! {"missing": 1}, doc! {"_id": 2}),
    ];
    let mut mismatches = Vec::new();
    for (projection, expected) in cases {
        let shown = projection.to_string();
        let docs = find_all(
            &db,
            "people",
            doc! {"filter": {"_id": 2}, "projection": projection},
        )
        .await;
        if docs != [expected.clone()] {
            mismatches.push(format!(
                "projection {shown}: expected [{expected}], got {docs:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_batch_size_single_batch_and_namespace() {
    let server = TestServer::start().await;
    seed_people(&server).await;
    let db = server.db("test");

    let reply = run(
        &db,
        doc! {"find": "people", "sort": {"_id": 1}, "batchSize": 2},
    )
    .await;
    let (docs, id) = first_batch(&reply);
    assert_eq!(ids(&docs), [1, 2]);
    assert_ne!(id, 0, "more documents remain");
    assert_eq!(
        reply.get_document("cursor").expect("cursor").get_str("ns"),
        Ok("test.people")
    );

    // singleBatch closes the cursor after the first batch.
    let reply = run(
        &db,
        doc! {"find": "people", "sort": {"_id": 1}, "batchSize": 2, "singleBatch": true},
    )
    .await;
    let (docs, id) = first_batch(&reply);
    assert_eq!((ids(&docs), id), (vec![1, 2], 0));

    // A limit smaller than the batch: one batch, cursor closed.
    let reply = run(&db, doc! {"find": "people", "sort": {"_id": 1}, "limit": 3}).await;
    let (docs, id) = first_batch(&reply);
    assert_eq!((ids(&docs), id), (vec![1, 2, 3], 0));

    // batchSize 0 opens a cursor without returning documents.
    let reply = run(&db, doc! {"find": "people", "batchSize": 0}).await;
    let (docs, id) = first_batch(&reply);
    assert!(docs.is_empty());
    assert_ne!(id, 0);

    // A missing collection is an empty result, not an error.
    let reply = run(&db, doc! {"find": "nothing"}).await;
    let (docs, id) = first_batch(&reply);
    assert_eq!((docs.len(), id), (0, 0));
    assert_eq!(
        reply.get_document("cursor").expect("cursor").get_str("ns"),
        Ok("test.nothing")
    );

    // The driver's helpers.
    let coll = collection(&server, "people");
    let one = coll
        .find_one(doc! {"name": "cy"})
        .projection(doc! {"_id": 0, "age": 1})
        .await
        .expect("find_one");
    assert_eq!(one, Some(doc! {"age": 41}));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_replaces_and_applies_operators() {
    let server = TestServer::start().await;
    seed(
        &server,
        "c",
        vec![
            doc! {"_id": 1, "a": 1, "b": "x"},
            doc! {"_id": 2, "a": 2, "b": "y"},
            doc! {"_id": 3, "a": 2, "b": "z"},
        ],
    )
    .await;
    let db = server.db("test");

    // Replacement keeps the _id.
    let reply = run(
        &db,
        doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"new": true}}]},
    )
    .await;
    assert_eq!(reply, doc! {"n": 1, "nModified": 1, "ok": 1.0});
    // $set, $unset and $inc together.
    let reply = run(
        &db,
        doc! {"update": "c", "updates": [{"q": {"_id": 2},
        "u": {"$set": {"b": "set", "c.d": 1}, "$unset": {"a": ""}, "$inc": {"n": 5}}}]},
    )
    .await;
    assert_eq!(reply, doc! {"n": 1, "nModified": 1, "ok": 1.0});
    // Setting the same value matches but does not modify.
    let reply = run(
        &db,
        doc! {"update": "c", "updates": [{"q": {"_id": 3}, "u": {"$set": {"b": "z"}}}]},
    )
    .await;
    assert_eq!(reply, doc! {"n": 1, "nModified": 0, "ok": 1.0});
    // No match.
    let reply = run(
        &db,
        doc! {"update": "c", "updates": [{"q": {"_id": 42}, "u": {"$set": {"b": 1}}}]},
    )
    .await;
    assert_eq!(reply, doc! {"n": 0, "nModified": 0, "ok": 1.0});
    assert_eq!(
        all(&server, "c").await,
        [
            doc! {"_id": 1, "new": true},
            doc! {"_id": 2, "b": "set", "c": {"d": 1}, "n": 5},
            doc! {"_id": 3, "a": 2, "b": "z"},
        ]
    );

    // $inc on an existing number adds, keeping the type rules (int32 + int32 = int32).
    run(
        &db,
        doc! {"update": "c", "updates": [{"q": {"_id": 2}, "u": {"$inc": {"n": -2}}}]},
    )
    .await;
    let docs = find_all(&db, "c", doc! {"filter": {"_id": 2}}).await;
    assert_eq!(docs[0].get("n"), Some(&Bson::Int32(3)));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_multi_touches_every_match_and_single_only_one() {
    let server = TestServer::start().await;
    seed(
        &server,
        "c",
        (1..=4)
            .map(|i| doc! {"_id": i, "group": i % 2, "v": 0})
            .collect(),
    )
    .await;
    let db = server.db("test");
    let reply = run(
        &db,
        doc! {"update": "c", "updates": [{"q": {"group": 1}, "u": {"$set": {"v": 1}}, "multi": true}]},
    )
    .await;
    assert_eq!(reply, doc! {"n": 2, "nModified": 2, "ok": 1.0});
    let reply = run(
        &db,
        doc! {"update": "c", "updates": [{"q": {"group": 0}, "u": {"$set": {"v": 2}}}]},
    )
    .await;
    assert_eq!(reply, doc! {"n": 1, "nModified": 1, "ok": 1.0});
    let docs = all(&server, "c").await;
    let values: Vec<i32> = docs.iter().map(|d| d.get_i32("v").expect("v")).collect();
    assert_eq!(values.iter().filter(|v| **v == 1).count(), 2, "{docs:?}");
    assert_eq!(values.iter().filter(|v| **v == 2).count(), 1, "{docs:?}");
    assert_eq!(docs[0].get_i32("v"), Ok(1));
    assert_eq!(docs[2].get_i32("v"), Ok(1));

    // Several statements in one command.
    let reply = run(
        &db,
        doc! {"update": "c", "updates": [
            {"q": {"_id": 1}, "u": {"$set": {"w": 1}}},
            {"q": {"_id": 2}, "u": {"$set": {"w": 1}}},
        ]},
    )
    .await;
    assert_eq!(reply, doc! {"n": 2, "nModified": 2, "ok": 1.0});

    // The driver's helpers.
    let coll = collection(&server, "c");
    let result = coll
        .update_many(doc! {}, doc! {"$set": {"all": true}})
        .await
        .expect("update_many");
    assert_eq!((result.matched_count, result.modified_count), (4, 4));
    let result = coll
        .replace_one(doc! {"_id": 4}, doc! {"replaced": 1})
        .await
        .expect("replace_one");
    assert_eq!((result.matched_count, result.modified_count), (1, 1));
    assert_eq!(
        coll.find_one(doc! {"_id": 4}).await.expect("find"),
        Some(doc! {"_id": 4, "replaced": 1})
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_upsert_inserts_when_nothing_matches() {
    let server = TestServer::start().await;
    let db = server.db("test");
    // An operator upsert builds the document from the equality filter and the update.
    let reply = run(
        &db,
        doc! {"update": "c", "updates": [{"q": {"_id": 1, "k": "a"}, "u": {"$set": {"v": 1}}, "upsert": true}]},
    )
    .await;
    assert_eq!(
        reply,
        doc! {"n": 1, "nModified": 0, "upserted": [{"index": 0, "_id": 1}], "ok": 1.0}
    );
    // A replacement upsert takes its _id from the filter.
    let reply = run(
        &db,
        doc! {"update": "c", "updates": [
            {"q": {"_id": 1}, "u": {"$set": {"v": 2}}, "upsert": true},
            {"q": {"_id": 2}, "u": {"r": true}, "upsert": true},
        ]},
    )
    .await;
    assert_eq!(
        reply,
        doc! {"n": 2, "nModified": 1, "upserted": [{"index": 1, "_id": 2}], "ok": 1.0}
    );
    assert_eq!(
        all(&server, "c").await,
        [
            doc! {"_id": 1, "k": "a", "v": 2},
            doc! {"_id": 2, "r": true}
        ]
    );
    // Without an _id in the filter, the server makes an ObjectId.
    let result = collection(&server, "c")
        .update_one(doc! {"k": "new"}, doc! {"$inc": {"count": 1}})
        .upsert(true)
        .await
        .expect("upsert");
    assert_eq!((result.matched_count, result.modified_count), (0, 0));
    let id = result.upserted_id.expect("an upserted id");
    assert!(matches!(id, Bson::ObjectId(_)), "{id}");
    let found = collection(&server, "c")
        .find_one(doc! {"_id": id.clone()})
        .await
        .expect("find");
    assert_eq!(found, Some(doc! {"_id": id, "k": "new", "count": 1}));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_limit_zero_or_one() {
    let server = TestServer::start().await;
    seed(
        &server,
        "c",
        (1..=6)
            .map(|i| doc! {"_id": i, "even": i % 2 == 0})
            .collect(),
    )
    .await;
    let db = server.db("test");
    let reply = run(
        &db,
        doc! {"delete": "c", "deletes": [{"q": {"even": true}, "limit": 1}]},
    )
    .await;
    assert_eq!(reply, doc! {"n": 1, "ok": 1.0});
    assert_eq!(all(&server, "c").await.len(), 5);
    let reply = run(
        &db,
        doc! {"delete": "c", "deletes": [{"q": {"even": true}, "limit": 0}]},
    )
    .await;
    assert_eq!(reply, doc! {"n": 2, "ok": 1.0});
    assert_eq!(ids(&all(&server, "c").await), [1, 3, 5]);
    let reply = run(
        &db,
        doc! {"delete": "c", "deletes": [{"q": {"even": true}, "limit": 0}]},
    )
    .await;
    assert_eq!(reply, doc! {"n": 0, "ok": 1.0});
    let reply = run(
        &db,
        doc! {"delete": "c", "deletes": [{"q": {"_id": 1}, "limit": 1}, {"q": {"_id": 3}, "limit": 1}]},
    )
    .await;
    assert_eq!(reply, doc! {"n": 2, "ok": 1.0});
    // The driver's helpers.
    let coll = collection(&server, "c");
    coll.insert_many((10..15).map(|i| doc! {"_id": i, "tag": "t"}))
        .await
        .expect("insert");
    assert_eq!(
        coll.delete_one(doc! {"tag": "t"})
            .await
            .expect("delete_one")
            .deleted_count,
        1
    );
    assert_eq!(
        coll.delete_many(doc! {"tag": "t"})
            .await
            .expect("delete_many")
            .deleted_count,
        4
    );
    assert_eq!(
        coll.delete_many(doc! {})
            .await
            .expect("delete_many")
            .deleted_count,
        1
    );
    assert!(all(&server, "c").await.is_empty());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_and_modify_returns_the_document_before_or_after() {
    let server = TestServer::start().await;
    seed(
        &server,
        "c",
        vec![
            doc! {"_id": 1, "rank": 3, "state": "new"},
            doc! {"_id": 2, "rank": 1, "state": "new"},
            doc! {"_id": 3, "rank": 2, "state": "new"},
        ],
    )
    .await;
    let db = server.db("test");

    // Default: the document before the update; sort chooses which one.
    let reply = run(
        &db,
        doc! {"findAndModify": "c", "query": {"state": "new"}, "sort": {"rank": 1},
        "update": {"$set": {"state": "taken"}}},
    )
    .await;
    assert_eq!(
        reply,
        doc! {"lastErrorObject": {"n": 1, "updatedExisting": true},
        "value": {"_id": 2, "rank": 1, "state": "new"}, "ok": 1.0}
    );
    // new: true returns the document after the update.
    let reply = run(
        &db,
        doc! {"findAndModify": "c", "query": {"state": "new"}, "sort": {"rank": -1},
        "update": {"$set": {"state": "taken"}}, "new": true},
    )
    .await;
    assert_eq!(
        reply,
        doc! {"lastErrorObject": {"n": 1, "updatedExisting": true},
        "value": {"_id": 1, "rank": 3, "state": "taken"}, "ok": 1.0}
    );
    // fields projects the returned document.
    let reply = run(
        &db,
        doc! {"findAndModify": "c", "query": {"_id": 3}, "update": {"$inc": {"rank": 10}},
        "new": true, "fields": {"rank": 1, "_id": 0}},
    )
    .await;
    assert_eq!(
        reply.get_document("value").ok(),
        Some(&doc! {"rank": 12}),
        "{reply}"
    );
    // remove returns the removed document.
    let reply = run(
        &db,
        doc! {"findAndModify": "c", "query": {"state": "taken"}, "sort": {"_id": 1}, "remove": true},
    )
    .await;
    assert_eq!(
        reply,
        doc! {"lastErrorObject": {"n": 1}, "value": {"_id": 1, "rank": 3, "state": "taken"}, "ok": 1.0}
    );
    assert_eq!(ids(&all(&server, "c").await), [2, 3]);
    // No match: value null.
    let reply = run(
        &db,
        doc! {"findAndModify": "c", "query": {"_id": 99}, "update": {"$set": {"x": 1}}},
    )
    .await;
    assert_eq!(
        reply,
        doc! {"lastErrorObject": {"n": 0, "updatedExisting": false}, "value": null, "ok": 1.0}
    );
    // upsert with new: true returns the inserted document.
    let reply = run(
        &db,
        doc! {"findAndModify": "c", "query": {"_id": 9}, "update": {"$set": {"state": "made"}},
        "upsert": true, "new": true},
    )
    .await;
    assert_eq!(
        reply,
        doc! {"lastErrorObject": {"n": 1, "updatedExisting": false, "upserted": 9},
        "value": {"_id": 9, "state": "made"}, "ok": 1.0}
    );
    // A replacement.
    let reply = run(
        &db,
        doc! {"findAndModify": "c", "query": {"_id": 9}, "update": {"replaced": true}, "new": true},
    )
    .await;
    assert_eq!(
        reply.get_document("value").ok(),
        Some(&doc! {"_id": 9, "replaced": true})
    );

    // The driver's helpers.
    let coll = collection(&server, "c");
    let after = coll
        .find_one_and_update(doc! {"_id": 2}, doc! {"$set": {"state": "done"}})
        .return_document(ReturnDocument::After)
        .await
        .expect("find_one_and_update");
    assert_eq!(after, Some(doc! {"_id": 2, "rank": 1, "state": "done"}));
    let removed = coll
        .find_one_and_delete(doc! {"_id": 2})
        .await
        .expect("find_one_and_delete");
    assert_eq!(removed, Some(doc! {"_id": 2, "rank": 1, "state": "done"}));
    let before = coll
        .find_one_and_replace(doc! {"_id": 9}, doc! {"again": 1})
        .await
        .expect("find_one_and_replace");
    assert_eq!(before, Some(doc! {"_id": 9, "replaced": true}));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_counts_matches_with_skip_and_limit() {
    let server = TestServer::start().await;
    seed(
        &server,
        "c",
        (1..=10)
            .map(|i| doc! {"_id": i, "odd": i % 2 == 1})
            .collect(),
    )
    .await;
    let db = server.db("test");
    let cases: Vec<(Document, i64)> = vec![
        (doc! {}, 10),
        (doc! {"query": {"odd": true}}, 5),
        (doc! {"query": {"odd": true}, "skip": 2}, 3),
        (doc! {"query": {"odd": true}, "limit": 2}, 2),
        (doc! {"skip": 8, "limit": 5}, 2),
        (doc! {"skip": 20}, 0),
        (doc! {"query": {"_id": {"$gte": 4}}}, 7),
    ];
    let mut mismatches = Vec::new();
    for (options, expected) in cases {
        let mut command = doc! {"count": "c"};
        command.extend(options.clone());
        let reply = run(&db, command).await;
        if reply != doc! {"n": expected as i32, "ok": 1.0} {
            mismatches.push(format!("count {options}: expected {expected}, got {reply}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    let reply = run(&db, doc! {"count": "missing"}).await;
    assert_eq!(reply, doc! {"n": 0, "ok": 1.0});
    let coll = collection(&server, "c");
    assert_eq!(
        coll.count_documents(doc! {"odd": false})
            .await
            .expect("count"),
        5
    );
    assert_eq!(coll.estimated_document_count().await.expect("estimate"), 10);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_returns_each_value_once() {
    let server = TestServer::start().await;
    seed(
        &server,
        "c",
        vec![
            doc! {"_id": 1, "dept": "A", "item": {"sku": "111"}, "sizes": ["M", "S"]},
            doc! {"_id": 2, "dept": "A", "item": {"sku": "111"}, "sizes": ["M", "L"]},
            doc! {"_id": 3, "dept": "B", "item": {"sku": "222"}, "sizes": "S"},
            doc! {"_id": 4, "dept": "A", "item": {"sku": "333"}, "sizes": ["S"]},
        ],
    )
    .await;
    let db = server.db("test");
    let sorted = |reply: Document| {
        let mut values: Vec<String> = reply
            .get_array("values")
            .expect("values")
            .iter()
            .map(|v| v.as_str().expect("string").to_owned())
            .collect();
        values.sort();
        values
    };
    let reply = run(&db, doc! {"distinct": "c", "key": "dept"}).await;
    assert_eq!(sorted(reply), ["A", "B"]);
    // Dotted paths, and arrays contribute each element (MongoDB's documentation example).
    let reply = run(&db, doc! {"distinct": "c", "key": "item.sku"}).await;
    assert_eq!(sorted(reply), ["111", "222", "333"]);
    let reply = run(&db, doc! {"distinct": "c", "key": "sizes"}).await;
    assert_eq!(sorted(reply), ["L", "M", "S"]);
    let reply = run(
        &db,
        doc! {"distinct": "c", "key": "item.sku", "query": {"dept": "A"}},
    )
    .await;
    assert_eq!(sorted(reply), ["111", "333"]);
    let reply = run(&db, doc! {"distinct": "c", "key": "nope"}).await;
    assert_eq!(reply, doc! {"values": [], "ok": 1.0});
    let mut values = collection(&server, "c")
        .distinct("dept", doc! {"_id": {"$gt": 2}})
        .await
        .expect("distinct");
    values.sort_by_key(|v| v.to_string());
    assert_eq!(values, [Bson::String("A".into()), Bson::String("B".into())]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_commands_refuse_bad_statements_with_write_errors() {
    let server = TestServer::start().await;
    seed(&server, "c", vec![doc! {"_id": 1, "a": 1}]).await;
    let db = server.db("test");
    // Changing _id is refused (ImmutableField), as a write error of the statement.
    let reply = run(
        &db,
        doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"_id": 2}}}]},
    )
    .await;
    let errors = reply.get_array("writeErrors").expect("writeErrors");
    let error = errors[0].as_document().expect("document");
    assert_eq!(int_field(error, "code"), 66, "{reply}");
    assert_eq!(int_field(error, "index"), 0, "{reply}");
    // Mixing operators and plain fields is refused: "Unknown modifier: b", FailedToParse.
    let reply = run(
        &db,
        doc! {"update": "c", "updates": [{"q": {}, "u": {"$set": {"a": 2}, "b": 1}}]},
    )
    .await;
    let errors = reply.get_array("writeErrors").expect("writeErrors");
    let error = errors[0].as_document().expect("document");
    assert_eq!(int_field(error, "code"), 9, "{reply}");
    assert!(
        error
            .get_str("errmsg")
            .is_ok_and(|m| m.contains("Unknown modifier: b")),
        "{reply}"
    );
    assert_eq!(int_field(&reply, "n"), 0, "{reply}");
    assert_eq!(all(&server, "c").await, [doc! {"_id": 1, "a": 1}]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_many_fills_batches_up_to_the_advertised_limits() {
    let server = TestServer::start().await;
    // 100,001 documents: the driver sends maxWriteBatchSize (100,000) in one command, then 1.
    let coll = collection(&server, "many");
    let result = coll
        .insert_many((0..100_001).map(|i| doc! {"_id": i}))
        .await
        .expect("insert_many of 100,001 documents");
    assert_eq!(result.inserted_ids.len(), 100_001);
    let count = run(&server.db("test"), doc! {"count": "many"}).await;
    assert_eq!(int_field(&count, "n"), 100_001);

    // 60 documents of 1 MiB: the driver splits them into messages under maxMessageSizeBytes
    // (48,000,000 bytes), each close to the limit.
    let big = collection(&server, "big");
    let payload = "x".repeat(1024 * 1024);
    big.insert_many((0..60).map(|i| doc! {"_id": i, "payload": &payload}))
        .await
        .expect("insert_many of 60 MiB");
    let count = run(&server.db("test"), doc! {"count": "big"}).await;
    assert_eq!(int_field(&count, "n"), 60);
    // Reading them back takes several batches of at most 16 MiB.
    let docs: Vec<Document> = futures::TryStreamExt::try_collect(
        big.find(doc! {})
            .projection(doc! {"_id": 1})
            .await
            .expect("find"),
    )
    .await
    .expect("cursor");
    assert_eq!(docs.len(), 60);
    let reply = run(&server.db("test"), doc! {"find": "big", "batchSize": 1000}).await;
    let (first, id) = first_batch(&reply);
    assert!(
        first.len() < 60 && first.len() >= 14,
        "a 16 MiB batch holds 15 such documents, got {}",
        first.len()
    );
    assert_ne!(id, 0);
    server.shutdown().await;
}
