//! `{$meta: "textScore"}` in aggregation pipelines led by a `$match` with `$text`
//! (`$addFields`, `$project`, `$sort`, `$group`, `$replaceWith`, `$out`), the score carried
//! as metadata that never shows in results, mongod's errors where no score exists; and
//! `$text` inside `$and`, through the driver.

use bson::{doc, Bson, Document};
use outpost_tests::{first_batch, int_field, run, run_err, TestServer};

/// MongoDB's `articles` example collection with a text index on `subject`.
async fn with_articles() -> TestServer {
    let server = TestServer::start().await;
    let db = server.db("test");
    let articles = vec![
        doc! {"_id": 1, "subject": "coffee", "author": "xyz", "views": 50},
        doc! {"_id": 2, "subject": "Coffee Shopping", "author": "efg", "views": 5},
        doc! {"_id": 3, "subject": "Baking a cake", "author": "abc", "views": 90},
        doc! {"_id": 4, "subject": "baking", "author": "xyz", "views": 100},
        doc! {"_id": 7, "subject": "coffee and cream", "author": "efg", "views": 10},
    ];
    run(&db, doc! {"insert": "articles", "documents": articles}).await;
    run(
        &db,
        doc! {"createIndexes": "articles", "indexes": [{"key": {"subject": "text"}, "name": "subject_text"}]},
    )
    .await;
    server
}

async fn aggregate(server: &TestServer, pipeline: Vec<Document>) -> Vec<Document> {
    let reply = run(
        &server.db("test"),
        doc! {"aggregate": "articles", "pipeline": pipeline, "cursor": {}},
    )
    .await;
    first_batch(&reply).0
}

fn coffee() -> Document {
    doc! {"$match": {"$text": {"$search": "coffee"}}}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_scores_in_add_fields_and_sort() {
    let server = with_articles().await;
    let docs = aggregate(
        &server,
        vec![
            coffee(),
            doc! {"$addFields": {"score": {"$meta": "textScore"}}},
            doc! {"$sort": {"score": {"$meta": "textScore"}, "_id": -1}},
            doc! {"$project": {"score": 1}},
        ],
    )
    .await;
    // mongod's scores (as `find` gives them): "coffee" 1.0, the two-word subjects 0.75;
    // highest first, then `_id` descending.
    assert_eq!(
        docs,
        [
            doc! {"_id": 1, "score": 1.0},
            doc! {"_id": 7, "score": 0.75},
            doc! {"_id": 2, "score": 0.75},
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_score_survives_project_and_replace_root_and_feeds_group() {
    let server = with_articles().await;
    // An inclusion $project drops every other field, not the score (it is metadata); a
    // later $sort on it still works, and $$ROOT does not show it.
    let docs = aggregate(
        &server,
        vec![
            coffee(),
            doc! {"$project": {"subject": 1}},
            doc! {"$sort": {"s": {"$meta": "textScore"}, "_id": 1}},
            doc! {"$replaceWith": {"doc": "$$ROOT", "s": {"$meta": "textScore"}}},
        ],
    )
    .await;
    assert_eq!(
        docs,
        [
            doc! {"doc": {"_id": 1, "subject": "coffee"}, "s": 1.0},
            doc! {"doc": {"_id": 2, "subject": "Coffee Shopping"}, "s": 0.75},
            doc! {"doc": {"_id": 7, "subject": "coffee and cream"}, "s": 0.75},
        ]
    );
    let docs = aggregate(
        &server,
        vec![
            doc! {"$match": {"$text": {"$search": "coffee cake"}}},
            doc! {"$group": {
                "_id": "$author",
                "best": {"$max": {"$meta": "textScore"}},
                "all": {"$push": "$$ROOT"},
            }},
            doc! {"$sort": {"_id": 1}},
            doc! {"$project": {"best": 1, "n": {"$size": "$all"}, "keys": {"$map": {
                "input": "$all", "in": {"$size": {"$objectToArray": "$$this"}}
            }}}},
        ],
    )
    .await;
    assert_eq!(
        docs,
        [
            doc! {"_id": "abc", "best": 0.75, "n": 1, "keys": [4]},
            doc! {"_id": "efg", "best": 0.75, "n": 2, "keys": [4, 4]},
            doc! {"_id": "xyz", "best": 1.0, "n": 1, "keys": [4]},
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_and_writes_never_carry_the_hidden_score() {
    let server = with_articles().await;
    let db = server.db("test");
    let docs = aggregate(&server, vec![coffee(), doc! {"$sort": {"_id": 1}}]).await;
    let keys: Vec<Vec<String>> = docs.iter().map(|d| d.keys().cloned().collect()).collect();
    assert_eq!(keys.len(), 3);
    assert!(
        keys.iter()
            .all(|k| k == &["_id", "subject", "author", "views"]),
        "{keys:?}"
    );
    // $facet's sub-pipelines see the score; their arrays do not hold it.
    let docs = aggregate(
        &server,
        vec![
            coffee(),
            doc! {"$facet": {"top": [
                {"$sort": {"x": {"$meta": "textScore"}, "_id": 1}},
                {"$limit": 1},
                {"$project": {"_id": 1}},
            ]}},
        ],
    )
    .await;
    assert_eq!(docs, [doc! {"top": [{"_id": 1}]}]);
    run(
        &db,
        doc! {"aggregate": "articles", "pipeline": [
            coffee(),
            {"$addFields": {"score": {"$meta": "textScore"}}},
            {"$out": "scored"},
        ], "cursor": {}},
    )
    .await;
    let reply = run(
        &db,
        doc! {"find": "scored", "sort": {"_id": 1}, "projection": {"subject": 0, "author": 0}},
    )
    .await;
    assert_eq!(
        first_batch(&reply).0,
        [
            doc! {"_id": 1, "views": 50, "score": 1.0},
            doc! {"_id": 2, "views": 5, "score": 0.75},
            doc! {"_id": 7, "views": 10, "score": 0.75},
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_text_score_without_a_leading_text_search() {
    let server = with_articles().await;
    let db = server.db("test");
    let failing = [
        vec![doc! {"$addFields": {"s": {"$meta": "textScore"}}}],
        vec![doc! {"$sort": {"s": {"$meta": "textScore"}}}],
        vec![
            coffee(),
            doc! {"$group": {"_id": "$author"}},
            doc! {"$project": {"s": {"$meta": "textScore"}}},
        ],
    ];
    for pipeline in failing {
        run_err(
            &db,
            doc! {"aggregate": "articles", "pipeline": pipeline, "cursor": {}},
        )
        .await
        .assert(40218, "Location40218", "text score metadata");
    }
    run_err(
        &db,
        doc! {"aggregate": "articles", "pipeline": [
            coffee(), {"$project": {"s": {"$meta": "searchScore"}}},
        ], "cursor": {}},
    )
    .await
    .assert(115, "CommandNotSupported", "searchScore");
    run_err(
        &db,
        doc! {"aggregate": "articles", "pipeline": [
            coffee(), {"$project": {"s": {"$meta": "bogus"}}},
        ], "cursor": {}},
    )
    .await
    .assert(
        17308,
        "Location17308",
        "Unsupported argument to $meta: bogus",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_inside_and_is_the_same_conjunction() {
    let server = with_articles().await;
    let db = server.db("test");
    let ids = |docs: Vec<Document>| -> Vec<i64> {
        let mut ids: Vec<i64> = docs.iter().map(|d| int_field(d, "_id")).collect();
        ids.sort_unstable();
        ids
    };
    let find = |filter: Document| {
        let db = db.clone();
        async move {
            let reply = run(
                &db,
                doc! {"find": "articles", "filter": filter, "projection": {"s": {"$meta": "textScore"}}},
            )
            .await;
            first_batch(&reply).0
        }
    };
    let docs =
        find(doc! {"$and": [{"$text": {"$search": "coffee"}}, {"views": {"$gte": 10}}]}).await;
    assert_eq!(ids(docs.clone()), [1, 7]);
    assert!(docs
        .iter()
        .all(|d| d.get("s").is_some_and(|s| matches!(s, Bson::Double(_)))));
    let docs = find(doc! {
        "author": "xyz",
        "$and": [{"$and": [{"$text": {"$search": "coffee baking"}}]}, {"views": {"$lt": 100}}],
    })
    .await;
    assert_eq!(ids(docs), [1]);
    // In an aggregation's first $match too.
    let docs = aggregate(
        &server,
        vec![
            doc! {"$match": {"$and": [{"views": {"$lt": 60}}, {"$text": {"$search": "coffee"}}]}},
            doc! {"$project": {"s": {"$meta": "textScore"}}},
            doc! {"$sort": {"_id": 1}},
        ],
    )
    .await;
    assert_eq!(
        docs,
        [
            doc! {"_id": 1, "s": 1.0},
            doc! {"_id": 2, "s": 0.75},
            doc! {"_id": 7, "s": 0.75}
        ]
    );
    // One $text per query, as mongod.
    run_err(
        &db,
        doc! {"find": "articles", "filter": {"$text": {"$search": "a"}, "$and": [{"$text": {"$search": "b"}}]}},
    )
    .await
    .assert(2, "BadValue", "Too many text expressions");
    // Under $nor: refused as mongod does; under $or: see `text_or.rs`.
    run_err(
        &db,
        doc! {"find": "articles", "filter": {"$nor": [{"$text": {"$search": "coffee"}}, {"_id": 3}]}},
    )
    .await
    .assert(2, "BadValue", "text expression not allowed in nor");
}
