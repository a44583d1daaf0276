//! `$text` under `$or`, through the driver, as MongoDB 8.0 answers it: the union of the
//! documents the search matches and those the other (indexed) clauses match, the search's
//! documents with their score and the others with none (left out of projections, last in a
//! score sort); mongod's errors: NoQueryExecutionPlans (291) when another clause has no
//! index, BadValue (2) for `$text` under `$nor`, in `$elemMatch`, under `$not` or twice.

use bson::{doc, Bson, Document};
use futures::TryStreamExt;
use outpost_tests::{first_batch, int_field, run, run_err, TestServer};

/// The documents of MongoDB's `$text` examples (the `articles` collection of its manual).
fn articles() -> Vec<Document> {
    vec![
        doc! {"_id": 1, "subject": "coffee", "author": "xyz", "views": 50},
        doc! {"_id": 2, "subject": "Coffee Shopping", "author": "efg", "views": 5},
        doc! {"_id": 3, "subject": "Baking a cake", "author": "abc", "views": 90},
        doc! {"_id": 4, "subject": "baking", "author": "xyz", "views": 100},
        doc! {"_id": 5, "subject": "Café Con Leche", "author": "abc", "views": 200},
        doc! {"_id": 6, "subject": "Сырники", "author": "jkl", "views": 80},
        doc! {"_id": 7, "subject": "coffee and cream", "author": "efg", "views": 10},
        doc! {"_id": 8, "subject": "Cafe con Leche", "author": "xyz", "views": 10},
    ]
}

/// `articles` with a text index on `subject` and an ordinary index on `author`.
async fn with_articles() -> TestServer {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(&db, doc! {"insert": "articles", "documents": articles()}).await;
    run(
        &db,
        doc! {"createIndexes": "articles", "indexes": [
            {"key": {"subject": "text"}, "name": "subject_text"},
            {"key": {"author": 1}, "name": "author_1"},
        ]},
    )
    .await;
    server
}

async fn find(server: &TestServer, command: Document) -> Vec<Document> {
    first_batch(&run(&server.db("test"), command).await).0
}

fn sorted_ids(docs: &[Document]) -> Vec<i64> {
    let mut ids: Vec<i64> = docs.iter().map(|d| int_field(d, "_id")).collect();
    ids.sort_unstable();
    ids
}

/// `(_id, score)` of each document, in order; `None` where the document has no `score`.
fn scores(docs: &[Document], field: &str) -> Vec<(i64, Option<f64>)> {
    docs.iter()
        .map(|d| (int_field(d, "_id"), d.get_f64(field).ok()))
        .collect()
}

fn coffee_or_xyz() -> Document {
    doc! {"$or": [{"$text": {"$search": "coffee"}}, {"author": "xyz"}]}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_under_or_is_the_union_of_the_search_and_the_indexed_clauses() {
    let server = with_articles().await;
    // "coffee" matches 1, 2 and 7; author "xyz" 1, 4 and 8. A document both match (1) has
    // its score, one only the other clause matches has none: left out, and last in the sort.
    let docs = find(
        &server,
        doc! {
            "find": "articles", "filter": coffee_or_xyz(),
            "projection": {"score": {"$meta": "textScore"}, "subject": 0, "views": 0},
            "sort": {"score": {"$meta": "textScore"}},
        },
    )
    .await;
    let got = scores(&docs, "score");
    assert_eq!(got.len(), 5, "{docs:?}");
    assert_eq!(got[0], (1, Some(1.0)));
    let mut middle = got[1..3].to_vec();
    middle.sort_by_key(|(id, _)| *id);
    assert_eq!(middle, [(2, Some(0.75)), (7, Some(0.75))]);
    let mut last = got[3..].to_vec();
    last.sort_by_key(|(id, _)| *id);
    assert_eq!(last, [(4, None), (8, None)]);
    assert!(
        docs[3..].iter().all(|d| !d.contains_key("score")),
        "{docs:?}"
    );
    // With a condition outside the $or, and with an _id clause (always indexed).
    let docs = find(
        &server,
        doc! {"find": "articles", "filter": {"views": {"$lt": 60}, "$or": coffee_or_xyz().get_array("$or").cloned().unwrap_or_default()}},
    )
    .await;
    assert_eq!(sorted_ids(&docs), [1, 2, 7, 8]);
    let docs = find(
        &server,
        doc! {"find": "articles", "filter": {"$or": [{"_id": 1}, {"$text": {"$search": "baking"}}]}},
    )
    .await;
    assert_eq!(sorted_ids(&docs), [1, 3, 4]);
    // `count` counts the same union.
    let reply = run(
        &server.db("test"),
        doc! {"count": "articles", "query": coffee_or_xyz()},
    )
    .await;
    assert_eq!(int_field(&reply, "n"), 5);
    // The driver's own find helper, sorted by score then _id.
    let found: Vec<Document> = server
        .db("test")
        .collection::<Document>("articles")
        .find(coffee_or_xyz())
        .projection(doc! {"s": {"$meta": "textScore"}, "author": 1})
        .sort(doc! {"s": {"$meta": "textScore"}, "_id": 1})
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("documents");
    assert_eq!(
        found,
        [
            doc! {"_id": 1, "author": "xyz", "s": 1.0},
            doc! {"_id": 2, "author": "efg", "s": 0.75},
            doc! {"_id": 7, "author": "efg", "s": 0.75},
            doc! {"_id": 4, "author": "xyz"},
            doc! {"_id": 8, "author": "xyz"},
        ]
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compound_text_index_under_or_takes_its_prefix_from_its_clause() {
    // The "text with EXACT" case of mongod's jstest of `$or` with inexact bounds, plus a
    // document that holds the term under another prefix value.
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"insert": "t", "documents": [
            {"_id": 0, "pre": 3, "names": "david dave", "other": 1},
            {"_id": 1, "pre": 4, "names": "joseph joe joey", "other": 2},
            {"_id": 2, "pre": 4, "names": "dave", "other": 5},
        ]},
    )
    .await;
    run(
        &db,
        doc! {"createIndexes": "t", "indexes": [
            {"key": {"pre": 1, "names": "text"}, "name": "pre_text"},
            {"key": {"other": 1}, "name": "other_1"},
        ]},
    )
    .await;
    let docs = find(
        &server,
        doc! {"find": "t", "filter": {"$or": [{"$text": {"$search": "dave"}, "pre": 3}, {"other": 2}]}},
    )
    .await;
    assert_eq!(sorted_ids(&docs), [0, 1]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_other_clause_needs_an_index() {
    let server = with_articles().await;
    let db = server.db("test");
    let unindexed = [
        doc! {"$or": [{"$text": {"$search": "coffee"}}, {"views": 5}]},
        // A text index does not serve a regex on its field.
        doc! {"$or": [{"$text": {"$search": "coffee"}}, {"subject": {"$regex": "^Caf"}}]},
        doc! {"$or": [
            {"$text": {"$search": "coffee"}},
            {"$or": [{"author": "abc"}, {"views": 5}]},
        ]},
    ];
    for filter in &unindexed {
        run_err(&db, doc! {"find": "articles", "filter": filter.clone()})
            .await
            .assert(
                291,
                "NoQueryExecutionPlans",
                "Failed to produce a solution for TEXT under OR",
            );
        run_err(&db, doc! {"count": "articles", "query": filter.clone()})
            .await
            .assert(291, "NoQueryExecutionPlans", "TEXT under OR");
    }
    // mongod's jstest "query planning fails when an $or has a text child along with an
    // unindexed child": the $or deep in $ands of an aggregation's $match.
    let pipeline = vec![doc! {"$match": {"$and": [{"$and": [
        {"author": {"$eq": "xyz"}},
        {"$or": [{"$text": {"$search": "coffee"}}, {"unindexed": {"$eq": 1}}]},
    ]}]}}];
    run_err(
        &db,
        doc! {"aggregate": "articles", "pipeline": pipeline, "cursor": {}},
    )
    .await
    .assert(291, "NoQueryExecutionPlans", "TEXT under OR");
    // Once `views` has an index, the nested $or is served by both its clauses' scans.
    run(
        &db,
        doc! {"createIndexes": "articles", "indexes": [{"key": {"views": 1}, "name": "views_1"}]},
    )
    .await;
    let docs = find(
        &server,
        doc! {"find": "articles", "filter": unindexed[2].clone()},
    )
    .await;
    assert_eq!(sorted_ids(&docs), [1, 2, 3, 5, 7]);
    let docs = find(
        &server,
        doc! {"find": "articles", "filter": unindexed[0].clone()},
    )
    .await;
    assert_eq!(sorted_ids(&docs), [1, 2, 7]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_under_nor_not_elem_match_or_twice_is_refused_as_mongod_does() {
    let server = with_articles().await;
    let db = server.db("test");
    let search = || doc! {"$search": "coffee"};
    let refused = [
        (
            doc! {"$nor": [{"$text": search()}, {"_id": 3}]},
            "text expression not allowed in nor",
        ),
        (
            doc! {"$or": [{"$nor": [{"$text": search()}]}, {"_id": 3}]},
            "text expression not allowed in nor",
        ),
        (
            doc! {"tags": {"$elemMatch": {"$text": search()}}},
            "$text can only be applied to the top-level document",
        ),
        (
            doc! {"subject": {"$not": {"$text": search()}}},
            "unknown operator: $text",
        ),
        (
            doc! {"$or": [{"$text": search()}, {"$text": {"$search": "cake"}}]},
            "Too many text expressions",
        ),
        (
            doc! {"$text": search(), "$or": [{"$text": {"$search": "cake"}}, {"_id": 1}]},
            "Too many text expressions",
        ),
    ];
    for (filter, message) in refused {
        run_err(&db, doc! {"find": "articles", "filter": filter.clone()})
            .await
            .assert(2, "BadValue", message);
        let pipeline = vec![doc! {"$match": filter}];
        run_err(
            &db,
            doc! {"aggregate": "articles", "pipeline": pipeline, "cursor": {}},
        )
        .await
        .assert(2, "BadValue", message);
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregation_led_by_text_under_or_scores_the_search_only() {
    let server = with_articles().await;
    let aggregate = |pipeline: Vec<Document>| {
        let db = server.db("test");
        async move {
            let reply = run(
                &db,
                doc! {"aggregate": "articles", "pipeline": pipeline, "cursor": {}},
            )
            .await;
            first_batch(&reply).0
        }
    };
    let docs = aggregate(vec![
        doc! {"$match": coffee_or_xyz()},
        doc! {"$sort": {"score": {"$meta": "textScore"}, "_id": 1}},
        doc! {"$project": {"s": {"$meta": "textScore"}}},
    ])
    .await;
    assert_eq!(
        docs,
        [
            doc! {"_id": 1, "s": 1.0},
            doc! {"_id": 2, "s": 0.75},
            doc! {"_id": 7, "s": 0.75},
            doc! {"_id": 4},
            doc! {"_id": 8},
        ]
    );
    // $addFields of a missing score adds nothing; the rest of the $match still applies
    // after the read; expressions see a missing value.
    let docs = aggregate(vec![
        doc! {"$match": {"views": {"$gte": 10}, "$or": [{"$text": {"$search": "coffee"}}, {"author": "xyz"}]}},
        doc! {"$addFields": {"s": {"$meta": "textScore"}, "t": {"$type": {"$meta": "textScore"}}}},
        doc! {"$project": {"s": 1, "t": 1}},
        doc! {"$sort": {"_id": 1}},
    ])
    .await;
    assert_eq!(
        docs,
        [
            doc! {"_id": 1, "s": 1.0, "t": "double"},
            doc! {"_id": 4, "t": "missing"},
            doc! {"_id": 7, "s": 0.75, "t": "double"},
            doc! {"_id": 8, "t": "missing"},
        ]
    );
    // No document the pipeline returns carries the hidden score.
    let docs = aggregate(vec![doc! {"$match": coffee_or_xyz()}]).await;
    assert_eq!(sorted_ids(&docs), [1, 2, 4, 7, 8]);
    assert!(docs
        .iter()
        .all(|d| d.keys().all(|k| !k.starts_with('\0')) && d.len() == 4));
    assert!(docs.iter().all(|d| !d.values().any(|v| *v == Bson::Null)));
    server.shutdown().await;
}
