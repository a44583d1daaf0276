//! The aggregate command: $match, $group with accumulators, $sort, $skip, $limit, $project,
//! and the driver's countDocuments (which runs an aggregation).

use bson::{doc, Document};
use futures::TryStreamExt;
use outpost_tests::{first_batch, next_batch, run, run_err, SessionDb, TestServer};

/// The sales collection of MongoDB's $group documentation, simplified.
fn sales() -> Vec<Document> {
    vec![
        doc! {"_id": 1, "item": "abc", "price": 10, "quantity": 2},
        doc! {"_id": 2, "item": "jkl", "price": 20, "quantity": 1},
        doc! {"_id": 3, "item": "xyz", "price": 5, "quantity": 10},
        doc! {"_id": 4, "item": "xyz", "price": 5, "quantity": 20},
        doc! {"_id": 5, "item": "abc", "price": 10, "quantity": 10},
    ]
}

async fn start_with_sales() -> TestServer {
    let server = TestServer::start().await;
    run(
        &server.db("test"),
        doc! {"insert": "sales", "documents": sales()},
    )
    .await;
    server
}

/// Runs `pipeline` on test.sales and returns every result document (in one session, so the
/// cursor can be followed).
async fn aggregate(server: &TestServer, pipeline: Vec<Document>) -> Vec<Document> {
    let mut db = SessionDb::new(server.db("test")).await;
    let reply = db
        .run(doc! {"aggregate": "sales", "pipeline": pipeline, "cursor": {}})
        .await;
    db.follow("sales", reply).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregate_pipelines_give_mongodb_results() {
    let server = start_with_sales().await;
    let cases: Vec<(Vec<Document>, Vec<Document>)> = vec![
        (vec![], sales()),
        (
            vec![doc! {"$match": {"item": "xyz"}}],
            vec![sales()[2].clone(), sales()[3].clone()],
        ),
        (
            vec![
                doc! {"$match": {"quantity": {"$gte": 10}}},
                doc! {"$sort": {"_id": 1}},
            ],
            vec![sales()[2].clone(), sales()[3].clone(), sales()[4].clone()],
        ),
        (
            vec![
                doc! {"$group": {
                    "_id": "$item",
                    "totalQuantity": {"$sum": "$quantity"},
                    "averagePrice": {"$avg": "$price"},
                    "minQuantity": {"$min": "$quantity"},
                    "maxQuantity": {"$max": "$quantity"},
                    "count": {"$sum": 1},
                }},
                doc! {"$sort": {"_id": 1}},
            ],
            vec![
                doc! {"_id": "abc", "totalQuantity": 12, "averagePrice": 10.0, "minQuantity": 2, "maxQuantity": 10, "count": 2},
                doc! {"_id": "jkl", "totalQuantity": 1, "averagePrice": 20.0, "minQuantity": 1, "maxQuantity": 1, "count": 1},
                doc! {"_id": "xyz", "totalQuantity": 30, "averagePrice": 5.0, "minQuantity": 10, "maxQuantity": 20, "count": 2},
            ],
        ),
        (
            vec![doc! {"$group": {"_id": null, "total": {"$sum": "$quantity"}, "n": {"$sum": 1}}}],
            vec![doc! {"_id": null, "total": 43, "n": 5}],
        ),
        (
            vec![
                doc! {"$group": {"_id": "$item", "total": {"$sum": "$quantity"}}},
                doc! {"$sort": {"total": -1}},
                doc! {"$skip": 1},
                doc! {"$limit": 1},
                doc! {"$project": {"_id": 0, "item": "$_id", "total": 1}},
            ],
            vec![doc! {"total": 12, "item": "abc"}],
        ),
        (
            vec![
                doc! {"$sort": {"quantity": -1}},
                doc! {"$limit": 2},
                doc! {"$project": {"quantity": 1}},
            ],
            vec![
                doc! {"_id": 4, "quantity": 20},
                doc! {"_id": 3, "quantity": 10},
            ],
        ),
        (
            vec![
                doc! {"$sort": {"_id": 1}},
                doc! {"$skip": 3},
                doc! {"$project": {"_id": 1}},
            ],
            vec![doc! {"_id": 4}, doc! {"_id": 5}],
        ),
        (
            vec![
                doc! {"$match": {"_id": 1}},
                doc! {"$project": {"price": 0, "quantity": 0}},
            ],
            vec![doc! {"_id": 1, "item": "abc"}],
        ),
        (vec![doc! {"$match": {"item": "none"}}], vec![]),
        (
            vec![doc! {"$match": {"item": "xyz"}}, doc! {"$count": "n"}],
            vec![doc! {"n": 2}],
        ),
        (
            vec![
                doc! {"$match": {"_id": {"$lte": 2}}},
                doc! {"$addFields": {"total": {"$multiply": ["$price", "$quantity"]}}},
                doc! {"$project": {"_id": 1, "total": 1}},
            ],
            vec![doc! {"_id": 1, "total": 20}, doc! {"_id": 2, "total": 20}],
        ),
        (
            vec![
                doc! {"$group": {"_id": "$item", "ids": {"$push": "$_id"}}},
                doc! {"$match": {"_id": "abc"}},
                doc! {"$unwind": "$ids"},
            ],
            vec![doc! {"_id": "abc", "ids": 1}, doc! {"_id": "abc", "ids": 5}],
        ),
        (
            vec![
                doc! {"$sortByCount": "$item"},
                doc! {"$sort": {"count": -1, "_id": 1}},
            ],
            vec![
                doc! {"_id": "abc", "count": 2},
                doc! {"_id": "xyz", "count": 2},
                doc! {"_id": "jkl", "count": 1},
            ],
        ),
    ];
    let mut mismatches = Vec::new();
    for (pipeline, expected) in cases {
        let shown = format!("{pipeline:?}");
        let db = server.db("test");
        match db
            .run_command(doc! {"aggregate": "sales", "pipeline": pipeline.clone(), "cursor": {}})
            .await
        {
            Err(e) => mismatches.push(format!("pipeline {shown}: failed: {e}")),
            Ok(_) => {
                let found = aggregate(&server, pipeline).await;
                if found != expected {
                    mismatches.push(format!(
                        "pipeline {shown}: expected {expected:?}, got {found:?}"
                    ));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregate_batches_with_a_cursor() {
    let server = start_with_sales().await;
    let mut db = SessionDb::new(server.db("test")).await;
    let reply = db.run(
        doc! {"aggregate": "sales", "pipeline": [{"$sort": {"_id": 1}}], "cursor": {"batchSize": 2}},
    )
    .await;
    let (docs, id) = first_batch(&reply);
    assert_eq!(docs, sales()[..2]);
    assert_ne!(id, 0);
    assert_eq!(
        reply.get_document("cursor").expect("cursor").get_str("ns"),
        Ok("test.sales")
    );
    let reply = db
        .run(doc! {"getMore": id, "collection": "sales", "batchSize": 2})
        .await;
    let (docs, id) = next_batch(&reply);
    assert_eq!(docs, sales()[2..4]);
    let reply = db.run(doc! {"getMore": id, "collection": "sales"}).await;
    let (docs, id) = next_batch(&reply);
    assert_eq!((docs, id), (sales()[4..].to_vec(), 0));

    // The driver's helper.
    let results: Vec<Document> = server
        .db("test")
        .collection::<Document>("sales")
        .aggregate([
            doc! {"$match": {"item": "abc"}},
            doc! {"$sort": {"_id": -1}},
        ])
        .batch_size(1)
        .await
        .expect("aggregate")
        .try_collect()
        .await
        .expect("results");
    assert_eq!(results, [sales()[4].clone(), sales()[0].clone()]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_documents_runs_as_an_aggregation() {
    let server = start_with_sales().await;
    let coll = server.db("test").collection::<Document>("sales");
    assert_eq!(coll.count_documents(doc! {}).await.expect("count"), 5);
    assert_eq!(
        coll.count_documents(doc! {"item": "abc"})
            .await
            .expect("count"),
        2
    );
    assert_eq!(
        coll.count_documents(doc! {"item": "none"})
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        coll.count_documents(doc! {"quantity": {"$gt": 5}})
            .await
            .expect("count"),
        3
    );
    assert_eq!(
        coll.count_documents(doc! {})
            .skip(1)
            .limit(3)
            .await
            .expect("count"),
        3
    );
    let missing = server.db("test").collection::<Document>("missing");
    assert_eq!(missing.count_documents(doc! {}).await.expect("count"), 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregate_requires_a_cursor_and_known_stages() {
    let server = start_with_sales().await;
    let db = server.db("test");
    run_err(&db, doc! {"aggregate": "sales", "pipeline": []})
        .await
        .assert(9, "FailedToParse", "'cursor' option is required");
    let error = run_err(
        &db,
        doc! {"aggregate": "sales", "pipeline": [{"$noSuchStage": {}}], "cursor": {}},
    )
    .await;
    assert_eq!(
        error.code, 40324,
        "Unrecognized pipeline stage name: {error:?}"
    );
    assert!(error.message.contains("$noSuchStage"), "{error:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_joins_another_collection() {
    let server = start_with_sales().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"insert": "items", "documents": [
            {"_id": "abc", "label": "Alpha"},
            {"_id": "xyz", "label": "Xylo"},
        ]},
    )
    .await;
    let docs = aggregate(
        &server,
        vec![
            doc! {"$match": {"_id": {"$in": [1, 2]}}},
            doc! {"$lookup": {"from": "items", "localField": "item", "foreignField": "_id", "as": "info"}},
            doc! {"$project": {"item": 1, "info": 1}},
            doc! {"$sort": {"_id": 1}},
        ],
    )
    .await;
    assert_eq!(
        docs,
        [
            doc! {"_id": 1, "item": "abc", "info": [{"_id": "abc", "label": "Alpha"}]},
            doc! {"_id": 2, "item": "jkl", "info": []},
        ]
    );
    server.shutdown().await;
}
