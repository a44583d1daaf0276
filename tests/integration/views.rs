//! Views read by other stages: `$lookup` (both forms), `$graphLookup`, `$unionWith`, and those
//! inside `$facet`, read a view through its pipeline, as mongod does.

use bson::{doc, Document};
use outpost_tests::{first_batch, run, run_err, TestServer};

/// A server with `orders` (three documents), `products`, a view `active` on `orders` (status
/// A, without `status`), and a view `big_active` stacked on `active`.
async fn server_with_views() -> TestServer {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"insert": "orders", "documents": [
            {"_id": 1, "status": "A", "amount": 50, "item": "pen"},
            {"_id": 2, "status": "B", "amount": 20, "item": "pen"},
            {"_id": 3, "status": "A", "amount": 30, "item": "ink"},
        ]},
    )
    .await;
    run(
        &db,
        doc! {"insert": "products", "documents": [
            {"_id": "pen", "parent": "ink"},
            {"_id": "ink", "parent": "paper"},
            {"_id": "paper"},
        ]},
    )
    .await;
    run(
        &db,
        doc! {"create": "active", "viewOn": "orders",
        "pipeline": [{"$match": {"status": "A"}}, {"$project": {"status": 0}}]},
    )
    .await;
    run(
        &db,
        doc! {"create": "big_active", "viewOn": "active",
        "pipeline": [{"$match": {"amount": {"$gte": 40}}}]},
    )
    .await;
    server
}

async fn aggregate(server: &TestServer, coll: &str, pipeline: Vec<Document>) -> Vec<Document> {
    let reply = run(
        &server.db("test"),
        doc! {"aggregate": coll, "pipeline": pipeline, "cursor": {}},
    )
    .await;
    first_batch(&reply).0
}

#[tokio::test]
async fn lookup_equality_reads_a_view_through_its_pipeline() {
    let server = server_with_views().await;
    let docs = aggregate(
        &server,
        "products",
        vec![
            doc! {"$match": {"_id": {"$in": ["pen", "ink"]}}},
            doc! {"$lookup": {"from": "active", "localField": "_id",
            "foreignField": "item", "as": "orders"}},
            doc! {"$project": {"orders": 1}},
            doc! {"$sort": {"_id": 1}},
        ],
    )
    .await;
    // Order 2 has status B: the view leaves it out, and `status` is projected away.
    assert_eq!(
        docs,
        [
            doc! {"_id": "ink", "orders": [{"_id": 3, "amount": 30, "item": "ink"}]},
            doc! {"_id": "pen", "orders": [{"_id": 1, "amount": 50, "item": "pen"}]},
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn lookup_pipeline_form_reads_a_stacked_view() {
    let server = server_with_views().await;
    let docs = aggregate(
        &server,
        "products",
        vec![
            doc! {"$match": {"_id": "pen"}},
            doc! {"$lookup": {"from": "big_active", "let": {"item": "$_id"},
            "pipeline": [{"$match": {"$expr": {"$eq": ["$item", "$$item"]}}},
                         {"$project": {"_id": 1}}],
            "as": "big"}},
        ],
    )
    .await;
    assert_eq!(
        docs,
        [doc! {"_id": "pen", "parent": "ink", "big": [{"_id": 1}]}]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn graph_lookup_follows_edges_through_a_view() {
    let server = server_with_views().await;
    let db = server.db("test");
    // A view that hides "paper": the walk from "pen" stops at "ink".
    run(
        &db,
        doc! {"create": "no_paper", "viewOn": "products",
        "pipeline": [{"$match": {"_id": {"$ne": "paper"}}}]},
    )
    .await;
    let docs = aggregate(
        &server,
        "products",
        vec![
            doc! {"$match": {"_id": "pen"}},
            doc! {"$graphLookup": {"from": "no_paper", "startWith": "$parent",
            "connectFromField": "parent", "connectToField": "_id", "as": "chain"}},
            doc! {"$project": {"chain._id": 1}},
        ],
    )
    .await;
    assert_eq!(docs, [doc! {"_id": "pen", "chain": [{"_id": "ink"}]}]);
    server.shutdown().await;
}

#[tokio::test]
async fn union_with_a_view_and_inside_facet() {
    let server = server_with_views().await;
    let docs = aggregate(
        &server,
        "products",
        vec![
            doc! {"$match": {"_id": "paper"}},
            doc! {"$unionWith": {"coll": "active", "pipeline": [{"$sort": {"_id": 1}}]}},
        ],
    )
    .await;
    assert_eq!(
        docs,
        [
            doc! {"_id": "paper"},
            doc! {"_id": 1, "amount": 50, "item": "pen"},
            doc! {"_id": 3, "amount": 30, "item": "ink"},
        ]
    );
    let docs = aggregate(
        &server,
        "products",
        vec![
            doc! {"$match": {"_id": "pen"}},
            doc! {"$facet": {
                "joined": [{"$lookup": {"from": "active", "localField": "_id",
                    "foreignField": "item", "as": "orders"}}, {"$project": {"orders._id": 1}}],
                "unioned": [{"$project": {"_id": 1}}, {"$unionWith": "big_active"},
                    {"$project": {"_id": 1}}],
            }},
        ],
    )
    .await;
    assert_eq!(
        docs,
        [doc! {
            "joined": [{"_id": "pen", "orders": [{"_id": 1}]}],
            "unioned": [{"_id": "pen"}, {"_id": 1}],
        }]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_view_that_looks_itself_up_fails_instead_of_recursing() {
    let server = server_with_views().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"create": "loop", "viewOn": "orders",
        "pipeline": [{"$lookup": {"from": "loop", "localField": "_id",
            "foreignField": "_id", "as": "again"}}]},
    )
    .await;
    let error = run_err(
        &db,
        doc! {"aggregate": "products", "pipeline": [
            {"$lookup": {"from": "loop", "localField": "_id", "foreignField": "_id", "as": "x"}},
        ], "cursor": {}},
    )
    .await;
    assert_eq!(error.code, 149, "{error:?}");
    // The server is still there.
    let docs = aggregate(&server, "active", vec![doc! {"$count": "n"}]).await;
    assert_eq!(docs, [doc! {"n": 2}]);
    server.shutdown().await;
}
