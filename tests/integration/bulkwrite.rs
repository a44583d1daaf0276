//! The MongoDB 8.0 write surface: the `bulkWrite` admin command through the driver's
//! `client.bulk_write`, `sort` on single-document updates, and `distinct` with `hint`.

use bson::{doc, Document};
use mongodb::error::ErrorKind;
use mongodb::options::{
    DeleteManyModel, InsertOneModel, ReplaceOneModel, UpdateOneModel, WriteModel,
};
use mongodb::Namespace;
use outpost_tests::{first_batch, int_field, run, run_err, TestServer};

fn ns(db: &str, coll: &str) -> Namespace {
    Namespace::new(db, coll)
}

async fn all(server: &TestServer, db: &str, coll: &str) -> Vec<Document> {
    let mut cursor = server
        .db(db)
        .collection::<Document>(coll)
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .expect("find");
    let mut out = Vec::new();
    while cursor.advance().await.expect("advance") {
        out.push(cursor.deserialize_current().expect("document"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_bulk_write_mixes_operations_across_namespaces() {
    let server = TestServer::start().await;
    let orders = ns("shop", "orders");
    let stock = ns("depot", "stock");
    let models: Vec<WriteModel> = vec![
        InsertOneModel::builder()
            .namespace(orders.clone())
            .document(doc! {"_id": 1, "qty": 2})
            .build()
            .into(),
        InsertOneModel::builder()
            .namespace(stock.clone())
            .document(doc! {"_id": "tea", "n": 10})
            .build()
            .into(),
        InsertOneModel::builder()
            .namespace(stock.clone())
            .document(doc! {"_id": "cup", "n": 1})
            .build()
            .into(),
        UpdateOneModel::builder()
            .namespace(stock.clone())
            .filter(doc! {"_id": "tea"})
            .update(doc! {"$inc": {"n": -2}})
            .build()
            .into(),
        UpdateOneModel::builder()
            .namespace(stock.clone())
            .filter(doc! {"_id": "mug"})
            .update(doc! {"$set": {"n": 5}})
            .upsert(true)
            .build()
            .into(),
        ReplaceOneModel::builder()
            .namespace(orders.clone())
            .filter(doc! {"_id": 1})
            .replacement(doc! {"qty": 3})
            .build()
            .into(),
        DeleteManyModel::builder()
            .namespace(stock.clone())
            .filter(doc! {"n": {"$lt": 2}})
            .build()
            .into(),
    ];
    let result = server
        .client()
        .bulk_write(models)
        .verbose_results()
        .await
        .expect("bulkWrite");
    assert_eq!(result.summary.inserted_count, 3);
    assert_eq!(result.summary.matched_count, 2);
    assert_eq!(result.summary.modified_count, 2);
    assert_eq!(result.summary.upserted_count, 1);
    assert_eq!(result.summary.deleted_count, 1);
    assert_eq!(
        result.update_results[&4].upserted_id,
        Some(bson::Bson::String("mug".into()))
    );
    assert_eq!(result.delete_results[&6].deleted_count, 1);
    assert_eq!(
        all(&server, "shop", "orders").await,
        vec![doc! {"_id": 1, "qty": 3}]
    );
    assert_eq!(
        all(&server, "depot", "stock").await,
        vec![doc! {"_id": "mug", "n": 5}, doc! {"_id": "tea", "n": 8}]
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_bulk_writes_stop_at_the_first_error_and_unordered_ones_go_on() {
    let server = TestServer::start().await;
    let c = ns("test", "c");
    let models = |first: i32| -> Vec<WriteModel> {
        vec![
            InsertOneModel::builder()
                .namespace(c.clone())
                .document(doc! {"_id": first})
                .build()
                .into(),
            InsertOneModel::builder()
                .namespace(c.clone())
                .document(doc! {"_id": 1})
                .build()
                .into(),
            InsertOneModel::builder()
                .namespace(c.clone())
                .document(doc! {"_id": first + 1})
                .build()
                .into(),
        ]
    };
    server
        .client()
        .bulk_write(models(1).into_iter().take(1).collect::<Vec<_>>())
        .await
        .expect("seed");
    let error = server
        .client()
        .bulk_write(models(10))
        .await
        .expect_err("duplicate key");
    let ErrorKind::BulkWrite(failure) = *error.kind else {
        panic!("not a bulk write error: {error:?}");
    };
    assert_eq!(
        failure.write_errors.keys().copied().collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(failure.write_errors[&1].code, 11000);
    let ids: Vec<_> = all(&server, "test", "c").await;
    assert_eq!(
        ids,
        vec![doc! {"_id": 1}, doc! {"_id": 10}],
        "ordered stops"
    );

    let error = server
        .client()
        .bulk_write(models(20))
        .ordered(false)
        .await
        .expect_err("duplicate key");
    let ErrorKind::BulkWrite(failure) = *error.kind else {
        panic!("not a bulk write error: {error:?}");
    };
    assert_eq!(
        failure.write_errors.keys().copied().collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(
        all(&server, "test", "c").await,
        vec![
            doc! {"_id": 1},
            doc! {"_id": 10},
            doc! {"_id": 20},
            doc! {"_id": 21}
        ],
        "unordered goes on"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bulk_write_command_reports_each_operation_and_checks_its_input() {
    let server = TestServer::start().await;
    let admin = server.db("admin");
    let reply = run(
        &admin,
        doc! {
            "bulkWrite": 1,
            "ops": [
                {"insert": 0, "document": {"_id": 1}},
                {"update": 0, "filter": {"_id": 1}, "updateMods": {"$set": {"a": 1}}},
                {"delete": 0, "filter": {"_id": 9}},
            ],
            "nsInfo": [{"ns": "test.c"}],
            "errorsOnly": false,
        },
    )
    .await;
    let (results, id) = first_batch(&reply);
    assert_eq!(id, 0);
    assert_eq!(
        results,
        vec![
            doc! {"ok": 1.0, "idx": 0, "n": 1},
            doc! {"ok": 1.0, "idx": 1, "n": 1, "nModified": 1},
            doc! {"ok": 1.0, "idx": 2, "n": 0},
        ]
    );
    for (field, n) in [
        ("nErrors", 0),
        ("nInserted", 1),
        ("nMatched", 1),
        ("nModified", 1),
        ("nDeleted", 0),
    ] {
        assert_eq!(int_field(&reply, field), n, "{field}: {reply}");
    }
    // errorsOnly: only the failures are listed.
    let reply = run(
        &admin,
        doc! {
            "bulkWrite": 1,
            "ops": [{"insert": 0, "document": {"_id": 1}}, {"insert": 0, "document": {"_id": 2}}],
            "nsInfo": [{"ns": "test.c"}],
            "ordered": false,
            "errorsOnly": true,
        },
    )
    .await;
    let (results, _) = first_batch(&reply);
    assert_eq!(results.len(), 1, "{reply}");
    assert_eq!(results[0].get_i32("idx"), Ok(0));
    assert_eq!(results[0].get_i32("code"), Ok(11000));
    assert_eq!(int_field(&reply, "nInserted"), 1);

    run_err(
        &server.db("test"),
        doc! {"bulkWrite": 1, "ops": [], "nsInfo": []},
    )
    .await
    .assert(13, "Unauthorized", "admin database");
    run_err(
        &admin,
        doc! {"bulkWrite": 1, "ops": [{"insert": 3, "document": {}}], "nsInfo": [{"ns": "test.c"}]},
    )
    .await
    .assert(2, "BadValue", "invalid nsInfo index");
    run_err(
        &admin,
        doc! {"bulkWrite": 1, "ops": [{"upsert": 0}], "nsInfo": [{"ns": "test.c"}]},
    )
    .await
    .assert(9, "FailedToParse", "must be insert, update or delete");
    run_err(
        &admin,
        doc! {"bulkWrite": 1, "ops": [{"delete": 0, "filter": {}, "limit": 1}], "nsInfo": [{"ns": "test.c"}]},
    )
    .await
    .assert(40415, "Location40415", "'bulkWrite.ops.delete.limit' is an unknown field");
    run_err(
        &admin,
        doc! {"bulkWrite": 1, "ops": [], "nsInfo": [{"ns": "test.c"}]},
    )
    .await
    .assert(16, "InvalidLength", "Write batch sizes");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_document_updates_follow_sort_and_distinct_takes_a_hint() {
    let server = TestServer::start().await;
    let db = server.db("test");
    let coll = db.collection::<Document>("c");
    coll.insert_many([
        doc! {"_id": 1, "rank": 2, "k": "a"},
        doc! {"_id": 2, "rank": 3, "k": "b"},
        doc! {"_id": 3, "rank": 1, "k": "a"},
    ])
    .await
    .expect("insert");
    coll.update_one(doc! {}, doc! {"$set": {"picked": true}})
        .sort(doc! {"rank": -1})
        .await
        .expect("update");
    coll.replace_one(doc! {}, doc! {"replaced": true})
        .sort(doc! {"rank": 1})
        .await
        .expect("replace");
    assert_eq!(
        all(&server, "test", "c").await,
        vec![
            doc! {"_id": 1, "rank": 2, "k": "a"},
            doc! {"_id": 2, "rank": 3, "k": "b", "picked": true},
            doc! {"_id": 3, "replaced": true},
        ]
    );
    run_err(
        &db,
        doc! {"update": "c", "updates": [{"q": {}, "u": {"$set": {"x": 1}}, "multi": true, "sort": {"_id": 1}}]},
    )
    .await
    .assert(72, "InvalidOptions", "Cannot specify sort with multi=true");

    coll.create_index(mongodb::IndexModel::builder().keys(doc! {"k": 1}).build())
        .await
        .expect("index");
    let reply = run(&db, doc! {"distinct": "c", "key": "k", "hint": {"k": 1}}).await;
    assert_eq!(reply.get_array("values").map(Vec::len), Ok(2), "{reply}");
    let reply = run(&db, doc! {"distinct": "c", "key": "k", "hint": "k_1"}).await;
    assert_eq!(reply.get_array("values").map(Vec::len), Ok(2), "{reply}");
    run_err(&db, doc! {"distinct": "c", "key": "k", "hint": "nope_1"})
        .await
        .assert(2, "BadValue", "hint");
    server.shutdown().await;
}
