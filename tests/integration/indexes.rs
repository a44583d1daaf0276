//! Indexes: createIndexes, listIndexes, dropIndexes, unique enforcement, builds over existing
//! data.

use bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::IndexModel;
use outpost_tests::{find_all, first_batch, ids, int_field, run, run_err, TestServer};

/// The index specs listIndexes returns for test.<coll>.
async fn list(server: &TestServer, coll: &str) -> Vec<Document> {
    let reply = run(&server.db("test"), doc! {"listIndexes": coll}).await;
    let (specs, id) = first_batch(&reply);
    assert_eq!(id, 0);
    assert_eq!(
        reply.get_document("cursor").expect("cursor").get_str("ns"),
        Ok(format!("test.{coll}").as_str())
    );
    specs
}

async fn seed(server: &TestServer, coll: &str, docs: Vec<Document>) {
    let reply = run(
        &server.db("test"),
        doc! {"insert": coll, "documents": docs.clone()},
    )
    .await;
    assert_eq!(reply, doc! {"n": docs.len() as i32, "ok": 1.0});
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_list_and_drop_single_and_compound_indexes() {
    let server = TestServer::start().await;
    seed(&server, "c", vec![doc! {"_id": 1, "a": 1, "b": 2}]).await;
    let db = server.db("test");

    let reply = run(
        &db,
        doc! {"createIndexes": "c", "indexes": [{"key": {"a": 1}, "name": "a_1"}]},
    )
    .await;
    assert_eq!(
        reply,
        doc! {"numIndexesBefore": 1, "numIndexesAfter": 2, "createdCollectionAutomatically": false, "ok": 1.0}
    );
    // Two at once, compound with mixed directions.
    let reply = run(
        &db,
        doc! {"createIndexes": "c", "indexes": [
            {"key": {"a": 1, "b": -1}, "name": "a_1_b_-1"},
            {"key": {"b": -1}, "name": "b_desc"},
        ]},
    )
    .await;
    assert_eq!(int_field(&reply, "numIndexesBefore"), 2, "{reply}");
    assert_eq!(int_field(&reply, "numIndexesAfter"), 4, "{reply}");
    assert_eq!(
        list(&server, "c").await,
        [
            doc! {"v": 2, "key": {"_id": 1}, "name": "_id_"},
            doc! {"v": 2, "key": {"a": 1}, "name": "a_1"},
            doc! {"v": 2, "key": {"a": 1, "b": -1}, "name": "a_1_b_-1"},
            doc! {"v": 2, "key": {"b": -1}, "name": "b_desc"},
        ]
    );
    // The key's field order is kept.
    let specs = list(&server, "c").await;
    let key = specs[2].get_document("key").expect("key");
    assert_eq!(key.keys().collect::<Vec<_>>(), ["a", "b"]);

    // Creating an existing index again changes nothing.
    let reply = run(
        &db,
        doc! {"createIndexes": "c", "indexes": [{"key": {"a": 1}, "name": "a_1"}]},
    )
    .await;
    assert_eq!(int_field(&reply, "numIndexesBefore"), 4, "{reply}");
    assert_eq!(int_field(&reply, "numIndexesAfter"), 4, "{reply}");
    assert_eq!(
        reply.get_str("note"),
        Ok("all indexes already exist"),
        "{reply}"
    );

    // Drop by name, by key pattern, then all but _id.
    let reply = run(&db, doc! {"dropIndexes": "c", "index": "b_desc"}).await;
    assert_eq!(reply, doc! {"nIndexesWas": 4, "ok": 1.0});
    let reply = run(&db, doc! {"dropIndexes": "c", "index": {"a": 1, "b": -1}}).await;
    assert_eq!(reply, doc! {"nIndexesWas": 3, "ok": 1.0});
    let names: Vec<String> = list(&server, "c")
        .await
        .iter()
        .map(|s| s.get_str("name").expect("name").to_owned())
        .collect();
    assert_eq!(names, ["_id_", "a_1"]);
    let reply = run(&db, doc! {"dropIndexes": "c", "index": "*"}).await;
    assert_eq!(reply, doc! {"nIndexesWas": 2, "ok": 1.0});
    assert_eq!(
        list(&server, "c").await,
        [doc! {"v": 2, "key": {"_id": 1}, "name": "_id_"}]
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_names_indexes_like_mongodb() {
    let server = TestServer::start().await;
    let coll = server.db("test").collection::<Document>("c");
    coll.insert_one(doc! {"x": 1}).await.expect("insert");
    let created = coll
        .create_index(IndexModel::builder().keys(doc! {"x": 1, "y": -1}).build())
        .await
        .expect("create_index");
    assert_eq!(created.index_name, "x_1_y_-1");
    let names = coll.list_index_names().await.expect("list_index_names");
    assert_eq!(names, ["_id_", "x_1_y_-1"]);
    coll.drop_index("x_1_y_-1").await.expect("drop_index");
    assert_eq!(coll.list_index_names().await.expect("names"), ["_id_"]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_indexes_refuses_missing_and_id_indexes() {
    let server = TestServer::start().await;
    seed(&server, "c", vec![doc! {"_id": 1}]).await;
    let db = server.db("test");
    run_err(&db, doc! {"dropIndexes": "c", "index": "nope_1"})
        .await
        .assert(27, "IndexNotFound", "index not found with name [nope_1]");
    run_err(&db, doc! {"dropIndexes": "c", "index": "_id_"})
        .await
        .assert(72, "InvalidOptions", "cannot drop _id index");
    run_err(&db, doc! {"dropIndexes": "missing", "index": "*"})
        .await
        .assert(26, "NamespaceNotFound", "");
    run_err(&db, doc! {"listIndexes": "missing"}).await.assert(
        26,
        "NamespaceNotFound",
        "ns does not exist: test.missing",
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_indexes_refuse_duplicates_with_key_details() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"createIndexes": "users", "indexes": [{"key": {"email": 1}, "name": "email_1", "unique": true}]},
    )
    .await;
    let specs = list(&server, "users").await;
    assert_eq!(
        specs[1],
        doc! {"v": 2, "key": {"email": 1}, "name": "email_1", "unique": true}
    );
    seed(
        &server,
        "users",
        vec![doc! {"_id": 1, "email": "ada@example.com"}],
    )
    .await;

    let reply = run(
        &db,
        doc! {"insert": "users", "documents": [{"_id": 2, "email": "ada@example.com"}]},
    )
    .await;
    assert_eq!(int_field(&reply, "n"), 0, "{reply}");
    let error = reply.get_array("writeErrors").expect("writeErrors")[0]
        .as_document()
        .expect("document")
        .clone();
    assert_eq!(int_field(&error, "index"), 0);
    assert_eq!(int_field(&error, "code"), 11000);
    assert_eq!(
        error.get_str("errmsg"),
        Ok(
            r#"E11000 duplicate key error collection: test.users index: email_1 dup key: { email: "ada@example.com" }"#
        )
    );
    assert_eq!(
        error.get_document("keyPattern").ok(),
        Some(&doc! {"email": 1})
    );
    assert_eq!(
        error.get_document("keyValue").ok(),
        Some(&doc! {"email": "ada@example.com"})
    );

    // An update that would create a duplicate is refused too, and changes nothing.
    seed(
        &server,
        "users",
        vec![doc! {"_id": 3, "email": "bob@example.com"}],
    )
    .await;
    let reply = run(
        &db,
        doc! {"update": "users", "updates": [{"q": {"_id": 3}, "u": {"$set": {"email": "ada@example.com"}}}]},
    )
    .await;
    let error = reply.get_array("writeErrors").expect("writeErrors")[0]
        .as_document()
        .expect("document")
        .clone();
    assert_eq!(int_field(&error, "code"), 11000, "{reply}");
    let docs = find_all(&db, "users", doc! {"filter": {"_id": 3}}).await;
    assert_eq!(docs, [doc! {"_id": 3, "email": "bob@example.com"}]);

    // Documents without the field share the null key: only one may exist.
    seed(&server, "users", vec![doc! {"_id": 4}]).await;
    let reply = run(&db, doc! {"insert": "users", "documents": [{"_id": 5}]}).await;
    let error = reply.get_array("writeErrors").expect("writeErrors")[0]
        .as_document()
        .expect("document")
        .clone();
    assert_eq!(
        error.get_document("keyValue").ok(),
        Some(&doc! {"email": null}),
        "{reply}"
    );

    // Deleting the holder frees the key.
    run(
        &db,
        doc! {"delete": "users", "deletes": [{"q": {"_id": 1}, "limit": 1}]},
    )
    .await;
    seed(
        &server,
        "users",
        vec![doc! {"_id": 6, "email": "ada@example.com"}],
    )
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_compound_indexes_compare_the_whole_key() {
    let server = TestServer::start().await;
    let coll = server.db("test").collection::<Document>("c");
    coll.create_index(
        IndexModel::builder()
            .keys(doc! {"a": 1, "b": -1})
            .options(IndexOptions::builder().unique(true).build())
            .build(),
    )
    .await
    .expect("create_index");
    coll.insert_one(doc! {"_id": 1, "a": 1, "b": 1})
        .await
        .expect("insert");
    coll.insert_one(doc! {"_id": 2, "a": 1, "b": 2})
        .await
        .expect("different b");
    coll.insert_one(doc! {"_id": 3, "a": 2, "b": 1})
        .await
        .expect("different a");
    // Numbers compare by value: 1.0 is the same key as 1.
    let error =
        outpost_tests::command_error(coll.insert_one(doc! {"_id": 4, "a": 1.0, "b": 1}).await);
    assert_eq!(error.code, 11000, "{error:?}");
    assert!(error.message.contains("index: a_1_b_-1"), "{error:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_builds_cover_existing_documents() {
    let server = TestServer::start().await;
    seed(
        &server,
        "c",
        (0..200)
            .map(|i| doc! {"_id": i, "a": i % 20, "b": i})
            .collect(),
    )
    .await;
    let db = server.db("test");
    run(
        &db,
        doc! {"createIndexes": "c", "indexes": [{"key": {"a": 1}, "name": "a_1"}]},
    )
    .await;
    // Hinted, the query must read the index; it finds every existing document with a = 7.
    for hint in [
        bson::Bson::String("a_1".into()),
        bson::Bson::Document(doc! {"a": 1}),
    ] {
        let docs = find_all(
            &db,
            "c",
            doc! {"filter": {"a": 7}, "hint": hint.clone(), "sort": {"_id": 1}},
        )
        .await;
        assert_eq!(
            ids(&docs),
            (0..200).filter(|i| i % 20 == 7).collect::<Vec<_>>(),
            "hint {hint}"
        );
    }
    // Writes after the build keep the index current.
    run(
        &db,
        doc! {"insert": "c", "documents": [{"_id": 1000, "a": 7}]},
    )
    .await;
    run(
        &db,
        doc! {"update": "c", "updates": [{"q": {"_id": 7}, "u": {"$set": {"a": 8}}}]},
    )
    .await;
    run(
        &db,
        doc! {"delete": "c", "deletes": [{"q": {"_id": 27}, "limit": 1}]},
    )
    .await;
    let docs = find_all(
        &db,
        "c",
        doc! {"filter": {"a": 7}, "hint": "a_1", "sort": {"_id": 1}},
    )
    .await;
    let mut expected: Vec<i32> = (0..200)
        .filter(|i| i % 20 == 7 && *i != 7 && *i != 27)
        .collect();
    expected.push(1000);
    assert_eq!(ids(&docs), expected);
    // A hint naming no index is refused.
    run_err(&db, doc! {"find": "c", "hint": "nope"})
        .await
        .assert(
            2,
            "BadValue",
            "hint provided does not correspond to an existing index",
        );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_build_over_duplicates_fails_and_leaves_no_index() {
    let server = TestServer::start().await;
    seed(
        &server,
        "c",
        vec![
            doc! {"_id": 1, "k": "x"},
            doc! {"_id": 2, "k": "y"},
            doc! {"_id": 3, "k": "x"},
        ],
    )
    .await;
    let db = server.db("test");
    let error = run_err(
        &db,
        doc! {"createIndexes": "c", "indexes": [{"key": {"k": 1}, "name": "k_1", "unique": true}]},
    )
    .await;
    assert_eq!(
        (error.code, error.code_name.as_str()),
        (11000, "DuplicateKey"),
        "{error:?}"
    );
    assert!(
        error.message.contains("E11000 duplicate key error"),
        "{error:?}"
    );
    assert!(
        error.message.contains(r#"dup key: { k: "x" }"#),
        "{error:?}"
    );
    assert_eq!(
        list(&server, "c").await.len(),
        1,
        "no index was left behind"
    );
    // The data is untouched and a later duplicate is still accepted.
    seed(&server, "c", vec![doc! {"_id": 4, "k": "y"}]).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_indexes_refuses_bad_specs() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run_err(&db, doc! {"createIndexes": "c", "indexes": []})
        .await
        .assert(2, "BadValue", "Must specify at least one index to create");
    // Same name, different key.
    run(
        &db,
        doc! {"createIndexes": "c", "indexes": [{"key": {"a": 1}, "name": "idx"}]},
    )
    .await;
    let error = run_err(
        &db,
        doc! {"createIndexes": "c", "indexes": [{"key": {"b": 1}, "name": "idx"}]},
    )
    .await;
    assert_eq!(error.code, 86, "IndexKeySpecsConflict: {error:?}");
    // Index types Outpost does not implement are named.
    let error = run_err(
        &db,
        doc! {"createIndexes": "c", "indexes": [{"key": {"pos": "geoHaystack"}, "name": "pos_geoHaystack"}]},
    )
    .await;
    assert_eq!(error.code, 115, "{error:?}");
    assert!(
        error.message.contains("geoHaystack") && error.message.contains("not supported"),
        "{error:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_kinds_outpost_lacks_are_refused_by_name_and_build_nothing() {
    // MongoDB 8.0 builds all of these; Outpost refuses each with CommandNotSupported naming
    // it, instead of building an index that means something else (a `$**` path used to
    // become an ordinary index on a field named `$**`; `hidden: true` was ignored).
    let server = TestServer::start().await;
    let db = server.db("test");
    seed(&server, "c", vec![doc! {"_id": 1, "a": 1, "b": {"c": 2}}]).await;
    let refused = [
        (doc! {"key": {"$**": 1}, "name": "w"}, "wildcard indexes"),
        (doc! {"key": {"b.$**": 1}, "name": "w"}, "wildcard indexes"),
        (
            doc! {"key": {"a": 1, "$**": -1}, "name": "w"},
            "wildcard indexes",
        ),
        (
            doc! {"key": {"$**": 1}, "name": "w", "wildcardProjection": {"a": 0}},
            "wildcardProjection",
        ),
        (
            doc! {"key": {"a": 1}, "name": "h", "hidden": true},
            "hidden indexes",
        ),
        (
            doc! {"key": {"t": "text"}, "name": "h", "hidden": true},
            "hidden indexes",
        ),
        (
            doc! {"key": {"a": 1}, "name": "p", "prepareUnique": true},
            "prepareUnique",
        ),
    ];
    for (spec, fragment) in refused {
        run_err(&db, doc! {"createIndexes": "c", "indexes": [spec]})
            .await
            .assert(115, "CommandNotSupported", fragment);
    }
    assert_eq!(list(&server, "c").await.len(), 1, "only _id_");
    // `hidden: false` is an ordinary index; the wildcard text index is a text index.
    run(
        &db,
        doc! {"createIndexes": "c", "indexes": [
            {"key": {"a": 1}, "name": "a_1", "hidden": false},
            {"key": {"$**": "text"}, "name": "all_text"},
        ]},
    )
    .await;
    assert_eq!(list(&server, "c").await.len(), 3);
    // Secondary indexes of a time-series collection, and clustered collections.
    run(
        &db,
        doc! {"create": "ts", "timeseries": {"timeField": "t", "metaField": "m"}},
    )
    .await;
    run_err(
        &db,
        doc! {"createIndexes": "ts", "indexes": [{"key": {"m": 1, "t": -1}, "name": "mt"}]},
    )
    .await
    .assert(
        115,
        "CommandNotSupported",
        "secondary indexes on the time-series",
    );
    run_err(
        &db,
        doc! {"create": "cl", "clusteredIndex": {"key": {"_id": 1}, "unique": true}},
    )
    .await
    .assert(115, "CommandNotSupported", "clustered collections");
    server.shutdown().await;
}
