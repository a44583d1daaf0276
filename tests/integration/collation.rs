//! Collation (MongoDB's `collation` option): string comparison by locale rules in find,
//! count, distinct, aggregate, update, delete and findAndModify; indexes and collection
//! defaults with a collation; invalid collation documents. Expected values follow MongoDB's
//! collation documentation (ICU's root and locale rules).

use bson::{doc, Bson, Document};
use outpost_tests::{run, run_err, SessionDb, TestServer};

/// Case-insensitive, accent-sensitive English: `{locale: "en_US", strength: 2}`.
fn case_insensitive() -> Document {
    doc! {"locale": "en_US", "strength": 2}
}

/// The documents of the CRUD specification's collation tests, plus accents.
fn words() -> Vec<Document> {
    vec![
        doc! {"_id": 1, "x": "ping"},
        doc! {"_id": 2, "x": "PING"},
        doc! {"_id": 3, "x": "Ping"},
        doc! {"_id": 4, "x": "pïng"},
        doc! {"_id": 5, "x": "pong"},
    ]
}

async fn start_with_words() -> TestServer {
    let server = TestServer::start().await;
    run(
        &server.db("test"),
        doc! {"insert": "words", "documents": words()},
    )
    .await;
    server
}

/// All documents of a cursor command's reply, following getMore.
async fn all(server: &TestServer, coll: &str, command: Document) -> Vec<Document> {
    let mut db = SessionDb::new(server.db("test")).await;
    let reply = db.run(command).await;
    db.follow(coll, reply).await
}

fn ids(docs: &[Document]) -> Vec<i32> {
    docs.iter()
        .map(|d| d.get_i32("_id").unwrap_or(-1))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_filters_and_sorts_under_the_collation() {
    let server = start_with_words().await;
    // (filter, sort, collation, expected _ids in order)
    let cases: Vec<(Document, Document, Option<Document>, Vec<i32>)> = vec![
        // Simple (binary) collation: only the exact string.
        (doc! {"x": "ping"}, doc! {"_id": 1}, None, vec![1]),
        // Strength 2: case ignored, accents not.
        (
            doc! {"x": "ping"},
            doc! {"_id": 1},
            Some(case_insensitive()),
            vec![1, 2, 3],
        ),
        // Strength 1: accents ignored too.
        (
            doc! {"x": "ping"},
            doc! {"_id": 1},
            Some(doc! {"locale": "en", "strength": 1}),
            vec![1, 2, 3, 4],
        ),
        (
            doc! {"x": {"$in": ["PING"]}},
            doc! {"_id": 1},
            Some(case_insensitive()),
            vec![1, 2, 3],
        ),
        (
            doc! {"x": {"$ne": "PING"}},
            doc! {"_id": 1},
            Some(case_insensitive()),
            vec![4, 5],
        ),
        (
            doc! {"x": {"$nin": ["ping", "pong"]}},
            doc! {"_id": 1},
            Some(case_insensitive()),
            vec![4],
        ),
        (
            doc! {"x": {"$gt": "PING"}},
            doc! {"_id": 1},
            Some(case_insensitive()),
            vec![4, 5],
        ),
        (
            doc! {"x": {"$lte": "Ping"}},
            doc! {"_id": 1},
            Some(case_insensitive()),
            vec![1, 2, 3],
        ),
        // $regex ignores the collation.
        (
            doc! {"x": {"$regex": "^p"}},
            doc! {"_id": 1},
            Some(case_insensitive()),
            vec![1, 4, 5],
        ),
        // An explicit simple collation is the binary one.
        (
            doc! {"x": "ping"},
            doc! {"_id": 1},
            Some(doc! {"locale": "simple"}),
            vec![1],
        ),
        // Sort by the collation: binary order puts capitals first; en puts case after letters.
        (doc! {}, doc! {"x": 1, "_id": 1}, None, vec![2, 3, 1, 5, 4]),
        (
            doc! {},
            doc! {"x": 1, "_id": 1},
            Some(doc! {"locale": "en"}),
            vec![1, 3, 2, 4, 5],
        ),
        (
            doc! {},
            doc! {"x": 1, "_id": 1},
            Some(case_insensitive()),
            vec![1, 2, 3, 4, 5],
        ),
        (
            doc! {},
            doc! {"x": -1, "_id": 1},
            Some(case_insensitive()),
            vec![5, 4, 1, 2, 3],
        ),
        (
            doc! {},
            doc! {"x": 1, "_id": 1},
            Some(doc! {"locale": "en", "caseFirst": "upper"}),
            vec![2, 3, 1, 4, 5],
        ),
    ];
    for (filter, sort, collation, expected) in cases {
        let mut command = doc! {"find": "words", "filter": filter.clone(), "sort": sort.clone()};
        if let Some(c) = &collation {
            command.insert("collation", c.clone());
        }
        let got = ids(&all(&server, "words", command).await);
        assert_eq!(
            got, expected,
            "{filter} sorted by {sort} with {collation:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_ordering_sorts_numbers_in_strings_by_value() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"insert": "n", "documents": [{"_id": 1, "v": "10"}, {"_id": 2, "v": "9"}, {"_id": 3, "v": "100"}]},
    )
    .await;
    let sorted = all(
        &server,
        "n",
        doc! {"find": "n", "sort": {"v": 1}, "collation": {"locale": "en", "numericOrdering": true}},
    )
    .await;
    assert_eq!(ids(&sorted), vec![2, 1, 3]);
    let binary = all(&server, "n", doc! {"find": "n", "sort": {"v": 1}}).await;
    assert_eq!(ids(&binary), vec![1, 3, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_distinct_and_aggregate_use_the_collation() {
    let server = start_with_words().await;
    let db = server.db("test");
    let count = run(
        &db,
        doc! {"count": "words", "query": {"x": "ping"}, "collation": case_insensitive()},
    )
    .await;
    assert_eq!(count.get_i32("n").ok(), Some(3));

    // distinct dedupes by the collation.
    let distinct = run(
        &db,
        doc! {"distinct": "words", "key": "x", "collation": case_insensitive()},
    )
    .await;
    let values = distinct.get_array("values").cloned().unwrap_or_default();
    assert_eq!(values.len(), 3, "{values:?}");
    let distinct = run(
        &db,
        doc! {"distinct": "words", "key": "x", "collation": {"locale": "en", "strength": 1}},
    )
    .await;
    assert_eq!(distinct.get_array("values").map(Vec::len).ok(), Some(2));

    // $match, $group keys and $sort.
    let groups = all(
        &server,
        "words",
        doc! {
            "aggregate": "words",
            "pipeline": [
                {"$match": {"x": {"$gte": "PING"}}},
                {"$group": {"_id": "$x", "n": {"$sum": 1}}},
                {"$sort": {"_id": 1}},
                {"$project": {"_id": 0, "n": 1}},
            ],
            "cursor": {},
            "collation": case_insensitive(),
        },
    )
    .await;
    assert_eq!(groups, vec![doc! {"n": 3}, doc! {"n": 1}, doc! {"n": 1}]);

    // Comparison and set expressions.
    let exprs = all(
        &server,
        "words",
        doc! {
            "aggregate": "words",
            "pipeline": [
                {"$match": {"_id": 1}},
                {"$project": {
                    "_id": 0,
                    "eq": {"$eq": ["$x", "PING"]},
                    "cmp": {"$cmp": ["$x", "PONG"]},
                    "in": {"$in": ["PiNg", ["a", "$x"]]},
                    "at": {"$indexOfArray": [["A", "b", "PING"], "ping"]},
                    "union": {"$size": {"$setUnion": [["a", "A", "b"]]}},
                }},
            ],
            "cursor": {},
            "collation": case_insensitive(),
        },
    )
    .await;
    assert_eq!(
        exprs,
        vec![doc! {"eq": true, "cmp": -1, "in": true, "at": 2, "union": 2}]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_match_under_the_collation() {
    let server = start_with_words().await;
    let db = server.db("test");
    let updated = run(
        &db,
        doc! {"update": "words", "updates": [
            {"q": {"x": "PING"}, "u": {"$set": {"seen": true}}, "multi": true, "collation": case_insensitive()},
        ]},
    )
    .await;
    assert_eq!(updated.get_i32("n").ok(), Some(3));
    assert_eq!(updated.get_i32("nModified").ok(), Some(3));

    // findAndModify: filter and sort under the collation.
    let found = run(
        &db,
        doc! {
            "findAndModify": "words",
            "query": {"x": "ping"},
            "sort": {"x": -1, "_id": -1},
            "remove": true,
            "collation": case_insensitive(),
        },
    )
    .await;
    assert_eq!(
        found
            .get_document("value")
            .ok()
            .and_then(|d| d.get_i32("_id").ok()),
        Some(3)
    );

    let deleted = run(
        &db,
        doc! {"delete": "words", "deletes": [
            {"q": {"x": "PING"}, "limit": 0, "collation": case_insensitive()},
        ]},
    )
    .await;
    assert_eq!(deleted.get_i32("n").ok(), Some(2));
    let left = all(&server, "words", doc! {"find": "words", "sort": {"_id": 1}}).await;
    assert_eq!(ids(&left), vec![4, 5]);
}

/// The winning plan's stage under FETCH (IXSCAN) or the stage itself (COLLSCAN, IDHACK).
async fn plan_stage(server: &TestServer, find: Document) -> String {
    let reply = run(
        &server.db("test"),
        doc! {"explain": find, "verbosity": "queryPlanner"},
    )
    .await;
    let plan = reply
        .get_document("queryPlanner")
        .and_then(|q| q.get_document("winningPlan"))
        .cloned()
        .unwrap_or_default();
    match plan.get_document("inputStage") {
        Ok(input) => format!(
            "{} {}",
            input.get_str("stage").unwrap_or_default(),
            input.get_str("indexName").unwrap_or_default()
        ),
        Err(_) => plan.get_str("stage").unwrap_or_default().to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_serves_only_queries_with_its_collation() {
    let server = start_with_words().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"createIndexes": "words", "indexes": [
            {"key": {"x": 1}, "name": "x_ci", "collation": case_insensitive()},
        ]},
    )
    .await;
    let listed = run(&db, doc! {"listIndexes": "words"}).await;
    let specs = outpost_tests::first_batch(&listed).0;
    let spec = specs
        .iter()
        .find(|s| s.get_str("name") == Ok("x_ci"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        spec.get_document("collation").ok(),
        Some(&doc! {
            "locale": "en_US", "caseLevel": false, "caseFirst": "off", "strength": 2,
            "numericOrdering": false, "alternate": "non-ignorable", "maxVariable": "punct",
            "normalization": false, "backwards": false, "version": "57.1",
        })
    );

    let same = doc! {"find": "words", "filter": {"x": "PING"}, "collation": case_insensitive()};
    assert_eq!(plan_stage(&server, same.clone()).await, "IXSCAN x_ci");
    assert_eq!(ids(&all(&server, "words", same).await), vec![1, 2, 3]);

    // Another collation (or none) cannot use the index for string bounds.
    let simple = doc! {"find": "words", "filter": {"x": "PING"}};
    assert_eq!(plan_stage(&server, simple.clone()).await, "COLLSCAN");
    assert_eq!(ids(&all(&server, "words", simple).await), vec![2]);
    let other = doc! {"find": "words", "filter": {"x": "PING"}, "collation": {"locale": "fr", "strength": 1}};
    assert_eq!(plan_stage(&server, other).await, "COLLSCAN");
    // Bounds without strings may use it whatever the collation.
    let numbers = doc! {"find": "words", "filter": {"x": {"$gt": 5, "$lt": 10}}};
    assert_eq!(plan_stage(&server, numbers).await, "IXSCAN x_ci");

    // The sort order of the index is the collation's.
    let sorted = all(
        &server,
        "words",
        doc! {"find": "words", "filter": {"x": {"$gte": "a"}}, "sort": {"x": -1}, "collation": case_insensitive()},
    )
    .await;
    assert_eq!(sorted.first().and_then(|d| d.get_i32("_id").ok()), Some(5));
    assert_eq!(sorted.get(1).and_then(|d| d.get_i32("_id").ok()), Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_index_is_unique_under_its_collation() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"createIndexes": "u", "indexes": [
            {"key": {"name": 1}, "name": "name_ci", "unique": true, "collation": case_insensitive()},
        ]},
    )
    .await;
    run(
        &db,
        doc! {"insert": "u", "documents": [{"_id": 1, "name": "a"}]},
    )
    .await;
    let failure = outpost_tests::write_failure(
        &db,
        doc! {"insert": "u", "documents": [{"_id": 2, "name": "A"}]},
    )
    .await;
    failure.assert(11000, "DuplicateKey", "name_ci");
    // Accents differ at strength 2.
    run(
        &db,
        doc! {"insert": "u", "documents": [{"_id": 3, "name": "á"}]},
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_default_collation_applies_unless_overridden() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"create": "c", "collation": {"locale": "en_US", "strength": 2}},
    )
    .await;
    run(&db, doc! {"insert": "c", "documents": words()}).await;
    let listed = run(&db, doc! {"listCollections": 1, "filter": {"name": "c"}}).await;
    let info = outpost_tests::first_batch(&listed)
        .0
        .into_iter()
        .next()
        .unwrap_or_default();
    let options = info.get_document("options").cloned().unwrap_or_default();
    assert_eq!(
        options
            .get_document("collation")
            .ok()
            .and_then(|c| c.get_i32("strength").ok()),
        Some(2)
    );
    assert!(info
        .get_document("idIndex")
        .is_ok_and(|i| i.contains_key("collation")));

    // Operations without a collation use the default.
    let found = all(
        &server,
        "c",
        doc! {"find": "c", "filter": {"x": "ping"}, "sort": {"_id": 1}},
    )
    .await;
    assert_eq!(ids(&found), vec![1, 2, 3]);
    // An operation's collation overrides it.
    let simple = all(
        &server,
        "c",
        doc! {"find": "c", "filter": {"x": "ping"}, "collation": {"locale": "simple"}},
    )
    .await;
    assert_eq!(ids(&simple), vec![1]);
    // Indexes created without a collation inherit the default.
    run(
        &db,
        doc! {"createIndexes": "c", "indexes": [{"key": {"x": 1}, "name": "x_1"}]},
    )
    .await;
    let listed = run(&db, doc! {"listIndexes": "c"}).await;
    let spec = outpost_tests::first_batch(&listed)
        .0
        .into_iter()
        .find(|s| s.get_str("name") == Ok("x_1"))
        .unwrap_or_default();
    assert_eq!(
        spec.get_document("collation")
            .ok()
            .and_then(|c| c.get_str("locale").ok()),
        Some("en_US")
    );
    assert_eq!(
        plan_stage(&server, doc! {"find": "c", "filter": {"x": "PING"}}).await,
        "IXSCAN x_1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_collations_fail_as_in_mongodb() {
    let server = start_with_words().await;
    let db = server.db("test");
    // (collation, code, code name, message fragment)
    let cases: Vec<(Bson, i32, &str, &str)> = vec![
        (
            Bson::Document(doc! {"locale": "xx"}),
            2,
            "BadValue",
            "Field 'locale' is invalid in",
        ),
        (
            Bson::Document(doc! {}),
            4,
            "NoSuchKey",
            "Missing expected field \"locale\"",
        ),
        (
            Bson::Document(doc! {"locale": "en", "strength": 9}),
            9,
            "FailedToParse",
            "strength",
        ),
        (
            Bson::Document(doc! {"locale": "en", "caseFirst": "middle"}),
            9,
            "FailedToParse",
            "caseFirst",
        ),
        (
            Bson::Document(doc! {"locale": "en", "unknown": 1}),
            9,
            "FailedToParse",
            "unknown field",
        ),
        (
            Bson::Document(doc! {"locale": "en", "caseLevel": "yes"}),
            14,
            "TypeMismatch",
            "caseLevel",
        ),
        (
            Bson::Document(doc! {"locale": "simple", "strength": 1}),
            9,
            "FailedToParse",
            "no other fields",
        ),
        (Bson::String("en".into()), 14, "TypeMismatch", "collation"),
    ];
    for (collation, code, code_name, fragment) in cases {
        let failure = run_err(
            &db,
            doc! {"find": "words", "filter": {}, "collation": collation.clone()},
        )
        .await;
        failure.assert(code, code_name, fragment);
        let failure = run_err(
            &db,
            doc! {"createIndexes": "words", "indexes": [{"key": {"y": 1}, "name": "y_1", "collation": collation.clone()}]},
        )
        .await;
        assert_eq!(
            failure.code, code,
            "createIndexes with {collation}: {failure:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_operators_and_validators_use_the_collation() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"insert": "t", "documents": [{"_id": 1, "tags": ["red", "blue"]}]},
    )
    .await;
    run(
        &db,
        doc! {"update": "t", "updates": [
            {"q": {"_id": 1}, "u": {"$addToSet": {"tags": "RED"}}, "collation": case_insensitive()},
            {"q": {"_id": 1}, "u": {"$pull": {"tags": "BLUE"}}, "collation": case_insensitive()},
        ]},
    )
    .await;
    let docs = all(&server, "t", doc! {"find": "t"}).await;
    assert_eq!(docs, vec![doc! {"_id": 1, "tags": ["red"]}]);

    // A validator compares under the collection's default collation.
    run(
        &db,
        doc! {"create": "v", "collation": case_insensitive(), "validator": {"status": {"$in": ["OPEN", "CLOSED"]}}},
    )
    .await;
    run(
        &db,
        doc! {"insert": "v", "documents": [{"_id": 1, "status": "open"}]},
    )
    .await;
    let failure = outpost_tests::write_failure(
        &db,
        doc! {"insert": "v", "documents": [{"_id": 2, "status": "pending"}]},
    )
    .await;
    assert_eq!(failure.code, 121, "{failure:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_keep_the_simple_collation() {
    let server = start_with_words().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"create": "view", "viewOn": "words", "pipeline": []},
    )
    .await;
    let failure = run_err(
        &db,
        doc! {"find": "view", "filter": {}, "collation": case_insensitive()},
    )
    .await;
    assert_eq!(failure.code, 167, "{failure:?}");
    // The simple collation is the view's own: allowed.
    let found = all(
        &server,
        "view",
        doc! {"find": "view", "filter": {"x": "ping"}, "collation": {"locale": "simple"}},
    )
    .await;
    assert_eq!(ids(&found), vec![1]);
    // A view does not inherit the default collation of the collection it reads.
    run(&db, doc! {"create": "ci", "collation": case_insensitive()}).await;
    run(&db, doc! {"insert": "ci", "documents": words()}).await;
    run(
        &db,
        doc! {"create": "ci_view", "viewOn": "ci", "pipeline": []},
    )
    .await;
    let found = all(
        &server,
        "ci_view",
        doc! {"find": "ci_view", "filter": {"x": "ping"}},
    )
    .await;
    assert_eq!(ids(&found), vec![1]);
    let failure = run_err(
        &db,
        doc! {"create": "view2", "viewOn": "words", "pipeline": [], "collation": case_insensitive()},
    )
    .await;
    failure.assert(115, "CommandNotSupported", "collation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_id_index_has_the_collection_default_collation() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(&db, doc! {"create": "ids", "collation": case_insensitive()}).await;
    run(&db, doc! {"insert": "ids", "documents": [{"_id": "a"}]}).await;
    let failure =
        outpost_tests::write_failure(&db, doc! {"insert": "ids", "documents": [{"_id": "A"}]})
            .await;
    failure.assert(11000, "DuplicateKey", "_id_");
    // One `_id_` index in listIndexes, with the collation; dropIndexes("*") keeps it.
    let listed = run(&db, doc! {"listIndexes": "ids"}).await;
    let specs = outpost_tests::first_batch(&listed).0;
    assert_eq!(specs.len(), 1, "{specs:?}");
    assert!(specs[0].get_document("collation").is_ok());
    run(&db, doc! {"dropIndexes": "ids", "index": "*"}).await;
    let failure =
        outpost_tests::write_failure(&db, doc! {"insert": "ids", "documents": [{"_id": "A"}]})
            .await;
    assert_eq!(failure.code, 11000);
    // Lookups by _id find "a" for "A" under the default collation, by the collated index.
    let found = all(&server, "ids", doc! {"find": "ids", "filter": {"_id": "A"}}).await;
    assert_eq!(found, vec![doc! {"_id": "a"}]);
    assert_eq!(
        plan_stage(&server, doc! {"find": "ids", "filter": {"_id": "A"}}).await,
        "IXSCAN _id_"
    );
    let stats = run(&db, doc! {"collStats": "ids"}).await;
    assert_eq!(stats.get_i32("nindexes").ok(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_stages_and_accumulators_use_the_collation() {
    let server = start_with_words().await;
    let aggregate = |pipeline: Vec<Document>| {
        doc! {"aggregate": "words", "pipeline": pipeline, "cursor": {}, "collation": case_insensitive()}
    };
    // $addToSet, $topN and $maxN under the collation.
    let grouped = all(
        &server,
        "words",
        aggregate(vec![doc! {"$group": {
            "_id": null,
            "set": {"$addToSet": "$x"},
            "top": {"$topN": {"n": 2, "sortBy": {"x": -1, "_id": 1}, "output": "$_id"}},
            "max": {"$maxN": {"n": 1, "input": "$x"}},
        }}]),
    )
    .await;
    let first = grouped.first().cloned().unwrap_or_default();
    assert_eq!(
        first.get_array("set").map(Vec::len).ok(),
        Some(3),
        "{first}"
    );
    assert_eq!(
        first.get_array("top").ok(),
        Some(&vec![Bson::Int32(5), Bson::Int32(4)])
    );
    assert_eq!(
        first.get_array("max").ok(),
        Some(&vec![Bson::String("pong".into())])
    );

    // $setWindowFields partitions by the collation.
    let windows = all(
        &server,
        "words",
        aggregate(vec![
            doc! {"$setWindowFields": {
                "partitionBy": "$x",
                "sortBy": {"_id": 1},
                "output": {"n": {"$count": {}}},
            }},
            doc! {"$sort": {"_id": 1}},
            doc! {"$project": {"_id": 0, "n": 1}},
        ]),
    )
    .await;
    assert_eq!(
        windows,
        vec![
            doc! {"n": 3},
            doc! {"n": 3},
            doc! {"n": 3},
            doc! {"n": 1},
            doc! {"n": 1}
        ]
    );

    // $bucket boundaries compare under it: "PING" (upper case) is the lowest boundary.
    let buckets = all(
        &server,
        "words",
        aggregate(vec![doc! {"$bucket": {
            "groupBy": "$x",
            "boundaries": ["PING", "PO", "ZZZ"],
            "default": "other",
        }}]),
    )
    .await;
    assert_eq!(
        buckets,
        vec![
            doc! {"_id": "PING", "count": 4},
            doc! {"_id": "PO", "count": 1}
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_and_list_indexes_show_collations_as_mongodb() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(&db, doc! {"create": "fr", "collation": {"locale": "fr_CA"}}).await;
    let fr_ca = doc! {
        "locale": "fr_CA", "caseLevel": false, "caseFirst": "off", "strength": 3,
        "numericOrdering": false, "alternate": "non-ignorable", "maxVariable": "punct",
        "normalization": false, "backwards": true, "version": "57.1",
    };
    run(
        &db,
        doc! {"createIndexes": "fr", "indexes": [
            {"key": {"a": 1}, "name": "a_1"},
            {"key": {"d": 1}, "name": "d_1", "collation": {"locale": "simple"}},
        ]},
    )
    .await;
    let listed = run(&db, doc! {"listIndexes": "fr"}).await;
    let specs = outpost_tests::first_batch(&listed).0;
    let collation_of = |name: &str| {
        specs
            .iter()
            .find(|s| s.get_str("name") == Ok(name))
            .and_then(|s| s.get_document("collation").ok().cloned())
    };
    assert_eq!(collation_of("_id_"), Some(fr_ca.clone()));
    assert_eq!(collation_of("a_1"), Some(fr_ca.clone()));
    assert_eq!(collation_of("d_1"), Some(doc! {"locale": "simple"}));

    // explain shows the query's collation and the scanned index's.
    let reply = run(
        &db,
        doc! {"explain": {"find": "fr", "filter": {"a": "foo"}}, "verbosity": "queryPlanner"},
    )
    .await;
    let planner = reply
        .get_document("queryPlanner")
        .cloned()
        .unwrap_or_default();
    assert_eq!(planner.get_document("collation").ok(), Some(&fr_ca));
    let scan = planner
        .get_document("winningPlan")
        .and_then(|p| p.get_document("inputStage"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(scan.get_str("indexName").ok(), Some("a_1"));
    assert_eq!(scan.get_document("collation").ok(), Some(&fr_ca));
    // The simple index serves a query with the simple collation only.
    assert_eq!(
        plan_stage(&server, doc! {"find": "fr", "filter": {"d": "foo"}}).await,
        "COLLSCAN"
    );
    assert_eq!(
        plan_stage(
            &server,
            doc! {"find": "fr", "filter": {"d": "foo"}, "collation": {"locale": "simple"}}
        )
        .await,
        "IXSCAN d_1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_keeps_the_target_default_collation() {
    let server = start_with_words().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"create": "target", "collation": case_insensitive()},
    )
    .await;
    run(
        &db,
        doc! {"aggregate": "words", "pipeline": [{"$out": "target"}], "cursor": {}},
    )
    .await;
    let listed = run(
        &db,
        doc! {"listCollections": 1, "filter": {"name": "target"}},
    )
    .await;
    let info = outpost_tests::first_batch(&listed)
        .0
        .into_iter()
        .next()
        .unwrap_or_default();
    assert!(info
        .get_document("options")
        .is_ok_and(|o| o.contains_key("collation")));
    let found = all(
        &server,
        "target",
        doc! {"find": "target", "filter": {"x": "ping"}},
    )
    .await;
    assert_eq!(found.len(), 3);
}
