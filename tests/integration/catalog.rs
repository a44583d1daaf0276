//! Databases and collections: listDatabases, listCollections, create, drop, dropDatabase,
//! renameCollection, collStats, dbStats, implicit creation on insert.

use bson::{doc, Bson, Document};
use outpost_tests::{first_batch, int_field, next_batch, num_field, run, run_err, TestServer};

/// Inserts `docs` into `db.coll` with the insert command.
async fn insert(server: &TestServer, db: &str, coll: &str, docs: Vec<Document>) {
    let reply = run(
        &server.db(db),
        doc! {"insert": coll, "documents": docs.clone()},
    )
    .await;
    assert_eq!(int_field(&reply, "n"), docs.len() as i64, "{reply}");
}

fn names(entries: &[Bson]) -> Vec<String> {
    let mut names: Vec<String> = entries
        .iter()
        .map(|e| match e {
            Bson::Document(d) => d.get_str("name").expect("name").to_owned(),
            other => panic!("not a document: {other}"),
        })
        .collect();
    names.sort();
    names
}

async fn collection_names(server: &TestServer, db: &str) -> Vec<String> {
    let mut names = server
        .db(db)
        .list_collection_names()
        .await
        .expect("listCollections");
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_databases_lists_databases_with_sizes() {
    let server = TestServer::start().await;
    insert(&server, "alpha", "c", vec![doc! {"_id": 1, "x": "a"}]).await;
    insert(&server, "beta", "c", vec![doc! {"_id": 1}]).await;
    let admin = server.db("admin");

    let reply = run(&admin, doc! {"listDatabases": 1}).await;
    let databases = reply.get_array("databases").expect("databases");
    let listed = names(databases);
    assert!(
        listed.contains(&"alpha".to_owned()) && listed.contains(&"beta".to_owned()),
        "{reply}"
    );
    for entry in databases {
        let entry = entry.as_document().expect("document");
        assert!(num_field(entry, "sizeOnDisk") >= 0.0, "{entry}");
        if ["alpha", "beta"].contains(&entry.get_str("name").expect("name")) {
            assert_eq!(entry.get_bool("empty"), Ok(false), "{entry}");
        }
    }
    assert!(num_field(&reply, "totalSize") >= 0.0, "{reply}");

    // nameOnly: entries hold only the name, and there is no totalSize.
    let reply = run(&admin, doc! {"listDatabases": 1, "nameOnly": true}).await;
    for entry in reply.get_array("databases").expect("databases") {
        let entry = entry.as_document().expect("document");
        assert_eq!(entry.keys().collect::<Vec<_>>(), ["name"], "{entry}");
    }
    assert!(!reply.contains_key("totalSize"), "{reply}");

    // filter on the entries' fields.
    let reply = run(
        &admin,
        doc! {"listDatabases": 1, "filter": {"name": "alpha"}},
    )
    .await;
    assert_eq!(
        names(reply.get_array("databases").expect("databases")),
        ["alpha"]
    );
    let reply = run(
        &admin,
        doc! {"listDatabases": 1, "nameOnly": true, "filter": {"name": {"$in": ["beta", "nope"]}}},
    )
    .await;
    assert_eq!(
        names(reply.get_array("databases").expect("databases")),
        ["beta"]
    );

    // The driver's helper.
    let mut driver_names = server.client().list_database_names().await.expect("names");
    driver_names.retain(|n| n == "alpha" || n == "beta");
    driver_names.sort();
    assert_eq!(driver_names, ["alpha", "beta"]);

    run_err(&server.db("alpha"), doc! {"listDatabases": 1})
        .await
        .assert(13, "Unauthorized", "admin database");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_collections_describes_collections() {
    let server = TestServer::start().await;
    let db = server.db("shop");
    run(&db, doc! {"create": "orders"}).await;
    insert(&server, "shop", "items", vec![doc! {"_id": 1}]).await;

    let reply = run(&db, doc! {"listCollections": 1}).await;
    let (entries, id) = first_batch(&reply);
    assert_eq!(id, 0);
    assert_eq!(
        reply.get_document("cursor").expect("cursor").get_str("ns"),
        Ok("shop.$cmd.listCollections")
    );
    let mut listed: Vec<&str> = entries
        .iter()
        .map(|e| e.get_str("name").expect("name"))
        .collect();
    listed.sort();
    assert_eq!(listed, ["items", "orders"]);
    for entry in &entries {
        assert_eq!(entry.get_str("type"), Ok("collection"), "{entry}");
        assert_eq!(
            entry.get_document("options").ok(),
            Some(&doc! {}),
            "{entry}"
        );
        let info = entry.get_document("info").expect("info");
        assert_eq!(info.get_bool("readOnly"), Ok(false), "{entry}");
        match info.get("uuid") {
            Some(Bson::Binary(b)) => {
                assert_eq!(b.subtype, bson::spec::BinarySubtype::Uuid, "{entry}");
                assert_eq!(b.bytes.len(), 16, "{entry}");
            }
            other => panic!("info.uuid is not a UUID: {other:?}"),
        }
        assert_eq!(
            entry.get_document("idIndex").ok(),
            Some(&doc! {"v": 2, "key": {"_id": 1}, "name": "_id_"}),
            "{entry}"
        );
    }

    let reply = run(
        &db,
        doc! {"listCollections": 1, "filter": {"name": "orders"}},
    )
    .await;
    let (entries, _) = first_batch(&reply);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].get_str("name"), Ok("orders"));

    let reply = run(&db, doc! {"listCollections": 1, "nameOnly": true}).await;
    let (entries, _) = first_batch(&reply);
    assert_eq!(entries.len(), 2);
    for entry in &entries {
        let mut keys: Vec<&String> = entry.keys().collect();
        keys.sort();
        assert_eq!(keys, ["name", "type"], "{entry}");
    }

    // A filter on the options needs the query language beyond equality.
    let reply = run(
        &db,
        doc! {"listCollections": 1, "filter": {"name": {"$regex": "^ord"}}},
    )
    .await;
    let (entries, _) = first_batch(&reply);
    assert_eq!(entries.len(), 1, "{reply}");

    // A database with no collections lists none.
    let reply = run(&server.db("nothing_here"), doc! {"listCollections": 1}).await;
    assert!(first_batch(&reply).0.is_empty(), "{reply}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_collections_batches_with_a_cursor() {
    let server = TestServer::start().await;
    let mut db = outpost_tests::SessionDb::new(server.db("many")).await;
    for i in 0..5 {
        db.run(doc! {"create": format!("c{i}")}).await;
    }
    let reply = db
        .run(doc! {"listCollections": 1, "cursor": {"batchSize": 2}})
        .await;
    let (mut entries, mut id) = first_batch(&reply);
    assert_eq!(entries.len(), 2);
    assert_ne!(id, 0);
    while id != 0 {
        let reply = db
            .run(doc! {"getMore": id, "collection": "$cmd.listCollections"})
            .await;
        let (more, next) = next_batch(&reply);
        entries.extend(more);
        id = next;
    }
    let mut listed: Vec<&str> = entries
        .iter()
        .map(|e| e.get_str("name").expect("name"))
        .collect();
    listed.sort();
    assert_eq!(listed, ["c0", "c1", "c2", "c3", "c4"]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_makes_an_empty_collection_and_is_idempotent() {
    let server = TestServer::start().await;
    let db = server.db("test");
    assert_eq!(run(&db, doc! {"create": "fresh"}).await, doc! {"ok": 1.0});
    assert_eq!(collection_names(&server, "test").await, ["fresh"]);
    // MongoDB 7.0: creating an existing collection with the same options succeeds.
    assert_eq!(run(&db, doc! {"create": "fresh"}).await, doc! {"ok": 1.0});
    let count = run(&db, doc! {"count": "fresh"}).await;
    assert_eq!(int_field(&count, "n"), 0);
    // The driver's helper.
    db.create_collection("other")
        .await
        .expect("create_collection");
    assert_eq!(collection_names(&server, "test").await, ["fresh", "other"]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_unsupported_collection_kinds_by_name() {
    let server = TestServer::start().await;
    let db = server.db("test");
    // Time-series collections are supported now (see `timeseries.rs`).
    let cases = [(
        doc! {"create": "clustered", "clusteredIndex": {"key": {"_id": 1}, "unique": true}},
        "clustered",
    )];
    for (command, feature) in cases {
        let error = run_err(&db, command.clone()).await;
        assert_eq!(
            (error.code, error.code_name.as_str()),
            (115, "CommandNotSupported"),
            "{command}: {error:?}"
        );
        assert!(
            error.message.contains(feature) && error.message.contains("not supported"),
            "{command}: the message must name {feature:?}: {error:?}"
        );
    }
    assert!(
        collection_names(&server, "test").await.is_empty(),
        "nothing was created"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_removes_a_collection_and_its_indexes() {
    let server = TestServer::start().await;
    let db = server.db("test");
    insert(&server, "test", "doomed", vec![doc! {"_id": 1, "a": 1}]).await;
    run(
        &db,
        doc! {"createIndexes": "doomed", "indexes": [{"key": {"a": 1}, "name": "a_1"}]},
    )
    .await;
    let reply = run(&db, doc! {"drop": "doomed"}).await;
    assert_eq!(int_field(&reply, "nIndexesWas"), 2, "{reply}");
    assert_eq!(reply.get_str("ns"), Ok("test.doomed"), "{reply}");
    assert!(collection_names(&server, "test").await.is_empty());
    let count = run(&db, doc! {"count": "doomed"}).await;
    assert_eq!(int_field(&count, "n"), 0);
    // MongoDB 7.0: dropping a missing collection succeeds.
    assert_eq!(
        run(&db, doc! {"drop": "never_existed"}).await,
        doc! {"ok": 1.0}
    );
    // Recreated, it starts empty with only the _id index.
    insert(&server, "test", "doomed", vec![doc! {"_id": 2}]).await;
    let reply = run(&db, doc! {"listIndexes": "doomed"}).await;
    assert_eq!(first_batch(&reply).0.len(), 1, "{reply}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_database_removes_every_collection() {
    let server = TestServer::start().await;
    insert(&server, "gone", "a", vec![doc! {"_id": 1}]).await;
    insert(&server, "gone", "b", vec![doc! {"_id": 1}]).await;
    insert(&server, "kept", "a", vec![doc! {"_id": 1}]).await;
    let reply = run(&server.db("gone"), doc! {"dropDatabase": 1}).await;
    assert_eq!(reply, doc! {"dropped": "gone", "ok": 1.0});
    assert!(collection_names(&server, "gone").await.is_empty());
    assert_eq!(collection_names(&server, "kept").await, ["a"]);
    let listed = server.client().list_database_names().await.expect("names");
    assert!(!listed.contains(&"gone".to_owned()), "{listed:?}");
    assert!(listed.contains(&"kept".to_owned()), "{listed:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_collection_moves_documents_and_indexes() {
    let server = TestServer::start().await;
    let admin = server.db("admin");
    let db = server.db("test");
    insert(
        &server,
        "test",
        "old",
        vec![doc! {"_id": 1, "a": 10}, doc! {"_id": 2, "a": 20}],
    )
    .await;
    run(
        &db,
        doc! {"createIndexes": "old", "indexes": [{"key": {"a": 1}, "name": "a_1"}]},
    )
    .await;

    let reply = run(
        &admin,
        doc! {"renameCollection": "test.old", "to": "test.new"},
    )
    .await;
    assert_eq!(reply, doc! {"ok": 1.0});
    assert_eq!(collection_names(&server, "test").await, ["new"]);
    let docs = outpost_tests::find_all(&db, "new", doc! {"sort": {"_id": 1}}).await;
    assert_eq!(docs, [doc! {"_id": 1, "a": 10}, doc! {"_id": 2, "a": 20}]);
    let reply = run(&db, doc! {"listIndexes": "new"}).await;
    let index_names: Vec<String> = first_batch(&reply)
        .0
        .iter()
        .map(|i| i.get_str("name").expect("name").to_owned())
        .collect();
    assert_eq!(index_names, ["_id_", "a_1"]);

    // Into an existing collection: refused unless dropTarget.
    insert(&server, "test", "other", vec![doc! {"_id": 99}]).await;
    run_err(
        &admin,
        doc! {"renameCollection": "test.new", "to": "test.other"},
    )
    .await
    .assert(48, "NamespaceExists", "");
    run(
        &admin,
        doc! {"renameCollection": "test.new", "to": "test.other", "dropTarget": true},
    )
    .await;
    let docs = outpost_tests::find_all(&db, "other", doc! {"sort": {"_id": 1}}).await;
    assert_eq!(outpost_tests::ids(&docs), [1, 2]);

    // Across databases.
    run(
        &admin,
        doc! {"renameCollection": "test.other", "to": "archive.other"},
    )
    .await;
    assert!(collection_names(&server, "test").await.is_empty());
    assert_eq!(collection_names(&server, "archive").await, ["other"]);

    run_err(
        &admin,
        doc! {"renameCollection": "archive.other", "to": "archive.other"},
    )
    .await
    .assert(
        20,
        "IllegalOperation",
        "Can't rename a collection to itself",
    );
    run_err(
        &admin,
        doc! {"renameCollection": "test.missing", "to": "test.x"},
    )
    .await
    .assert(26, "NamespaceNotFound", "");
    run_err(
        &db,
        doc! {"renameCollection": "archive.other", "to": "archive.x"},
    )
    .await
    .assert(13, "Unauthorized", "admin database");
    server.shutdown().await;
}

/// The BSON size of each document, as stored (what collStats' `size` adds up).
fn bson_size(doc: &Document) -> i64 {
    bson::to_vec(doc).expect("serialize").len() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coll_stats_and_db_stats_count_documents_and_sizes() {
    let server = TestServer::start().await;
    let db = server.db("stats");
    let docs: Vec<Document> = (0..10)
        .map(|i| doc! {"_id": i, "name": format!("item number {i}"), "tags": ["a", "b"]})
        .collect();
    let small: Vec<Document> = (0..3).map(|i| doc! {"_id": i}).collect();
    let data_size: i64 = docs.iter().map(bson_size).sum();
    let small_size: i64 = small.iter().map(bson_size).sum();
    insert(&server, "stats", "items", docs).await;
    insert(&server, "stats", "small", small).await;
    run(
        &db,
        doc! {"createIndexes": "items", "indexes": [{"key": {"name": 1}, "name": "name_1"}]},
    )
    .await;

    let stats = run(&db, doc! {"collStats": "items"}).await;
    assert_eq!(stats.get_str("ns"), Ok("stats.items"), "{stats}");
    assert_eq!(int_field(&stats, "count"), 10, "{stats}");
    assert_eq!(int_field(&stats, "size"), data_size, "{stats}");
    assert_eq!(int_field(&stats, "avgObjSize"), data_size / 10, "{stats}");
    assert_eq!(int_field(&stats, "nindexes"), 2, "{stats}");
    let index_sizes = stats.get_document("indexSizes").expect("indexSizes");
    let mut keys: Vec<&String> = index_sizes.keys().collect();
    keys.sort();
    assert_eq!(keys, ["_id_", "name_1"], "{stats}");
    assert!(int_field(&stats, "totalIndexSize") >= 0, "{stats}");
    assert_eq!(stats.get_bool("capped"), Ok(false), "{stats}");

    // scale divides the sizes.
    let scaled = run(&db, doc! {"collStats": "items", "scale": 2}).await;
    assert_eq!(int_field(&scaled, "size"), data_size / 2, "{scaled}");
    assert_eq!(int_field(&scaled, "count"), 10, "{scaled}");

    let stats = run(&db, doc! {"dbStats": 1}).await;
    assert_eq!(stats.get_str("db"), Ok("stats"), "{stats}");
    assert_eq!(int_field(&stats, "collections"), 2, "{stats}");
    assert_eq!(int_field(&stats, "objects"), 13, "{stats}");
    assert_eq!(
        num_field(&stats, "dataSize"),
        (data_size + small_size) as f64,
        "{stats}"
    );
    assert_eq!(int_field(&stats, "indexes"), 3, "{stats}");
    assert_eq!(
        num_field(&stats, "avgObjSize"),
        (data_size + small_size) as f64 / 13.0,
        "{stats}"
    );

    // After deletes the counts follow.
    run(
        &db,
        doc! {"delete": "items", "deletes": [{"q": {}, "limit": 0}]},
    )
    .await;
    let stats = run(&db, doc! {"collStats": "items"}).await;
    assert_eq!(int_field(&stats, "count"), 0, "{stats}");
    assert_eq!(int_field(&stats, "size"), 0, "{stats}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_creates_the_database_and_collection_implicitly() {
    let server = TestServer::start().await;
    assert!(collection_names(&server, "implicit").await.is_empty());
    server
        .db("implicit")
        .collection::<Document>("things")
        .insert_one(doc! {"a": 1})
        .await
        .expect("insert");
    assert_eq!(collection_names(&server, "implicit").await, ["things"]);
    let listed = server.client().list_database_names().await.expect("names");
    assert!(listed.contains(&"implicit".to_owned()), "{listed:?}");
    // createIndexes creates the collection too, and says so.
    let reply = run(
        &server.db("implicit"),
        doc! {"createIndexes": "indexed", "indexes": [{"key": {"a": 1}, "name": "a_1"}]},
    )
    .await;
    assert_eq!(
        reply.get_bool("createdCollectionAutomatically"),
        Ok(true),
        "{reply}"
    );
    assert_eq!(
        collection_names(&server, "implicit").await,
        ["indexed", "things"]
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_read_through_their_pipeline_and_refuse_writes() {
    let server = TestServer::start().await;
    let db = server.db("test");
    insert(
        &server,
        "test",
        "orders",
        vec![
            doc! {"_id": 1, "status": "A", "amount": 50},
            doc! {"_id": 2, "status": "B", "amount": 20},
            doc! {"_id": 3, "status": "A", "amount": 30},
        ],
    )
    .await;
    run(
        &db,
        doc! {"create": "active", "viewOn": "orders",
        "pipeline": [{"$match": {"status": "A"}}, {"$project": {"status": 0}}]},
    )
    .await;
    let reply = run(
        &db,
        doc! {"listCollections": 1, "filter": {"name": "active"}},
    )
    .await;
    let (entries, _) = first_batch(&reply);
    assert_eq!(entries.len(), 1, "{reply}");
    assert_eq!(entries[0].get_str("type"), Ok("view"), "{reply}");
    let options = entries[0].get_document("options").expect("options");
    assert_eq!(options.get_str("viewOn"), Ok("orders"), "{reply}");

    let docs = outpost_tests::find_all(&db, "active", doc! {"sort": {"_id": 1}}).await;
    assert_eq!(
        docs,
        [doc! {"_id": 1, "amount": 50}, doc! {"_id": 3, "amount": 30}]
    );
    let count = run(&db, doc! {"count": "active"}).await;
    assert_eq!(int_field(&count, "n"), 2, "{count}");
    // The view follows its collection.
    insert(
        &server,
        "test",
        "orders",
        vec![doc! {"_id": 4, "status": "A", "amount": 1}],
    )
    .await;
    let docs =
        outpost_tests::find_all(&db, "active", doc! {"filter": {"amount": {"$lt": 40}}}).await;
    assert_eq!(outpost_tests::ids(&docs), [3, 4]);
    // Writes to a view are refused (CommandNotSupportedOnView).
    outpost_tests::write_failure(&db, doc! {"insert": "active", "documents": [{"_id": 9}]})
        .await
        .assert(166, "CommandNotSupportedOnView", "");
    // A view on a view whose source does not exist yet is allowed; a pipeline without viewOn
    // is not.
    run(&db, doc! {"create": "later", "viewOn": "not_yet"}).await;
    let error = run_err(&db, doc! {"create": "bad", "pipeline": []}).await;
    assert_ne!(error.code, 0);
    server.shutdown().await;
}
