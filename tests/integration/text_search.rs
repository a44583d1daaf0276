//! Text indexes and `$text`, through the driver: index specifications as mongod stores and
//! lists them, one text index per collection, terms, phrases and negations, stemming and stop
//! words per language (`default_language`, `language_override`, `$language`), case and
//! diacritic sensitivity, `{$meta: "textScore"}` with mongod's scores, compound and wildcard
//! text indexes, `$text` in an aggregation's first `$match`, and mongod's errors.

use bson::{doc, Bson, Document};
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

async fn with_articles() -> TestServer {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(&db, doc! {"insert": "articles", "documents": articles()}).await;
    run(
        &db,
        doc! {"createIndexes": "articles", "indexes": [{"key": {"subject": "text"}, "name": "subject_text"}]},
    )
    .await;
    server
}

/// Runs a find and returns its documents.
async fn find(server: &TestServer, command: Document) -> Vec<Document> {
    let reply = run(&server.db("test"), command).await;
    first_batch(&reply).0
}

/// The `_id`s of a find on `articles` with `$text: {$search: search, extra...}`, sorted.
async fn search_ids(server: &TestServer, text: Document) -> Vec<i64> {
    let docs = find(server, doc! {"find": "articles", "filter": {"$text": text}}).await;
    let mut ids: Vec<i64> = docs.iter().map(|d| int_field(d, "_id")).collect();
    ids.sort_unstable();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_index_is_stored_and_listed_as_mongod_does() {
    let server = with_articles().await;
    let db = server.db("test");
    let (specs, _) = first_batch(&run(&db, doc! {"listIndexes": "articles"}).await);
    assert_eq!(
        specs.get(1),
        Some(&doc! {
            "v": 2, "key": {"_fts": "text", "_ftsx": 1}, "name": "subject_text",
            "weights": {"subject": 1}, "default_language": "english",
            "language_override": "language", "textIndexVersion": 3,
        })
    );
    // Creating it again is a no-op; a second text index (other fields, or other options
    // under another name) is refused with IndexOptionsConflict.
    run(
        &db,
        doc! {"createIndexes": "articles", "indexes": [{"key": {"subject": "text"}, "name": "subject_text"}]},
    )
    .await;
    run_err(
        &db,
        doc! {"createIndexes": "articles", "indexes": [{"key": {"author": "text"}, "name": "author_text"}]},
    )
    .await
    .assert(85, "IndexOptionsConflict", "existing index");
    run_err(
        &db,
        doc! {"createIndexes": "articles", "indexes": [{"key": {"author": 1, "subject": "text"}, "name": "a_text"}]},
    )
    .await
    .assert(85, "IndexOptionsConflict", "only one text index per collection");
    run_err(
        &db,
        doc! {"createIndexes": "articles", "indexes": [{"key": {"subject": "text"}, "name": "other", "default_language": "french"}]},
    )
    .await
    .assert(85, "IndexOptionsConflict", "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_index_options_are_checked() {
    let server = TestServer::start().await;
    let db = server.db("test");
    let bad = [
        (
            doc! {"key": {"a": "text"}, "name": "x", "default_language": "klingon"},
            "default_language is not valid",
        ),
        (
            doc! {"key": {"a": "text"}, "name": "x", "weights": {"a": 0}},
            "exclusive interval",
        ),
        (
            doc! {"key": {"a": "text"}, "name": "x", "weights": {"a": "heavy"}},
            "numeric type",
        ),
        (
            doc! {"key": {"a": "text"}, "name": "x", "language_override": "$lang"},
            "language_override is not valid",
        ),
        (
            doc! {"key": {"a": "text", "b": 1, "c": "text"}, "name": "x"},
            "must all be adjacent",
        ),
        (
            doc! {"key": {"a": 1}, "name": "x", "weights": {"a": 2}},
            "only valid for text indexes",
        ),
    ];
    for (spec, fragment) in bad {
        run_err(&db, doc! {"createIndexes": "c", "indexes": [spec]})
            .await
            .assert(67, "CannotCreateIndex", fragment);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terms_are_ored_stemmed_and_folded() {
    let server = with_articles().await;
    // MongoDB's manual: "coffee" finds 1, 2 and 7; "bake coffee cake" 1, 2, 3, 4, 7 (bake
    // and baking share a stem); "leche" finds both spellings of the café.
    assert_eq!(
        search_ids(&server, doc! {"$search": "coffee"}).await,
        [1, 2, 7]
    );
    assert_eq!(
        search_ids(&server, doc! {"$search": "bake coffee cake"}).await,
        [1, 2, 3, 4, 7]
    );
    assert_eq!(search_ids(&server, doc! {"$search": "leche"}).await, [5, 8]);
    // Diacritics fold by default: "cafe" and "café" are one term.
    assert_eq!(search_ids(&server, doc! {"$search": "café"}).await, [5, 8]);
    assert_eq!(search_ids(&server, doc! {"$search": "сырники"}).await, [6]);
    // Stop words alone find nothing.
    assert!(search_ids(&server, doc! {"$search": "a and the"})
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phrases_and_negations() {
    let server = with_articles().await;
    assert_eq!(
        search_ids(&server, doc! {"$search": "\"coffee shop\""}).await,
        [2]
    );
    // "coffee" but not "shop": the manual's example gives 1 and 7.
    assert_eq!(
        search_ids(&server, doc! {"$search": "coffee -shop"}).await,
        [1, 7]
    );
    assert_eq!(
        search_ids(&server, doc! {"$search": "coffee -\"and cream\""}).await,
        [1, 2]
    );
    // A phrase and a term: documents with the phrase (the term only adds candidates).
    assert_eq!(
        search_ids(&server, doc! {"$search": "\"con leche\" baking"}).await,
        [5, 8]
    );
    // A hyphen inside a word does not negate.
    assert_eq!(
        search_ids(&server, doc! {"$search": "cake-baking"}).await,
        [3, 4]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_and_diacritic_sensitivity() {
    let server = with_articles().await;
    assert_eq!(
        search_ids(&server, doc! {"$search": "Coffee", "$caseSensitive": true}).await,
        [2]
    );
    assert_eq!(
        search_ids(
            &server,
            doc! {"$search": "\"Café Con\"", "$caseSensitive": true}
        )
        .await,
        [5]
    );
    assert_eq!(
        search_ids(
            &server,
            doc! {"$search": "CAFÉ", "$diacriticSensitive": true}
        )
        .await,
        [5]
    );
    assert_eq!(
        search_ids(
            &server,
            doc! {"$search": "cafe", "$diacriticSensitive": true}
        )
        .await,
        [8]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_scores_follow_mongods_formula_in_projection_and_sort() {
    let server = with_articles().await;
    let docs = find(
        &server,
        doc! {
            "find": "articles",
            "filter": {"$text": {"$search": "coffee"}},
            "projection": {"score": {"$meta": "textScore"}, "subject": 1, "_id": 1},
            "sort": {"score": {"$meta": "textScore"}},
        },
    )
    .await;
    let scored: Vec<(i64, f64)> = docs
        .iter()
        .map(|d| (int_field(d, "_id"), d.get_f64("score").unwrap_or(f64::NAN)))
        .collect();
    // "coffee" alone: one token of one, coefficient 1 (its stem "coffe" is not the whole string: no 1.1).
    // "Coffee Shopping": 0.5 * 1/2 + 0.5 = 0.75. "coffee and cream": "and" is a stop word,
    // 0.75 again; equal scores keep index order.
    assert_eq!(scored.len(), 3);
    assert_eq!(scored.first(), Some(&(1, 1.0)));
    assert!(
        scored
            .iter()
            .skip(1)
            .all(|(_, s)| (*s - 0.75).abs() < 1e-12),
        "{scored:?}"
    );
    let first = docs.first().cloned().unwrap_or_default();
    assert_eq!(first, doc! {"_id": 1, "subject": "coffee", "score": 1.0});
    // Score only: the whole document plus the score.
    let docs = find(
        &server,
        doc! {"find": "articles", "filter": {"$text": {"$search": "cake"}, "views": {"$gt": 10}},
        "projection": {"s": {"$meta": "textScore"}}},
    )
    .await;
    assert_eq!(
        docs,
        [doc! {"_id": 3, "subject": "Baking a cake", "author": "abc", "views": 90, "s": 0.75}]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_multiply_scores_and_sort_with_other_keys() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"insert": "blog", "documents": [
            {"_id": 1, "title": "rust", "body": "a language"},
            {"_id": 2, "title": "a language", "body": "rust"},
            {"_id": 3, "title": "python", "body": "rust rust"},
        ]},
    )
    .await;
    run(
        &db,
        doc! {"createIndexes": "blog", "indexes": [{"key": {"title": "text", "body": "text"}, "name": "tb", "weights": {"title": 10}}]},
    )
    .await;
    let docs = find(
        &server,
        doc! {"find": "blog", "filter": {"$text": {"$search": "rust"}},
        "projection": {"score": {"$meta": "textScore"}},
        "sort": {"score": {"$meta": "textScore"}, "_id": 1}},
    )
    .await;
    let scores: Vec<(i64, f64)> = docs
        .iter()
        .map(|d| (int_field(d, "_id"), d.get_f64("score").unwrap_or(f64::NAN)))
        .collect();
    // Title "rust" (weight 10, whole string): 11. Body "rust": 1.1. Body "rust rust": two
    // occurrences 1 + 1/2, coefficient 1: 1.5.
    assert_eq!(scores, [(1, 11.0), (3, 1.5), (2, 1.1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn languages_default_override_and_query_language() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"insert": "quotes", "documents": [
            {"_id": 1, "text": "Los niños corren en el parque"},
            {"_id": 2, "text": "The children are running", "idioma": "english"},
            {"_id": 3, "text": "Este es mi tercer blog stemmed"},
            {"_id": 4, "text": "this is running", "idioma": "none"},
        ]},
    )
    .await;
    run(
        &db,
        doc! {"createIndexes": "quotes", "indexes": [{"key": {"text": "text"}, "name": "t", "default_language": "spanish", "language_override": "idioma"}]},
    )
    .await;
    let ids = |docs: Vec<Document>| {
        let mut ids: Vec<i64> = docs.iter().map(|d| int_field(d, "_id")).collect();
        ids.sort_unstable();
        ids
    };
    // Spanish stems "corren" and "correr" alike; "el" is a Spanish stop word.
    let docs = find(
        &server,
        doc! {"find": "quotes", "filter": {"$text": {"$search": "correr el"}}},
    )
    .await;
    assert_eq!(ids(docs), [1]);
    // Document 2 is English ("running" stems to "run"); a Spanish query of "running" does not
    // stem it to "run", an English one does.
    let docs = find(
        &server,
        doc! {"find": "quotes", "filter": {"$text": {"$search": "runs", "$language": "en"}}},
    )
    .await;
    assert_eq!(ids(docs), [2]);
    // Document 4 is not stemmed: only the exact word finds it.
    let docs = find(
        &server,
        doc! {"find": "quotes", "filter": {"$text": {"$search": "running", "$language": "none"}}},
    )
    .await;
    assert_eq!(ids(docs), [4]);
    // An unsupported override in a document is refused at insert.
    let failure = outpost_tests::write_failure(
        &db,
        doc! {"insert": "quotes", "documents": [{"_id": 5, "text": "x", "idioma": "klingon"}]},
    )
    .await;
    failure.assert(17262, "Location17262", "language override unsupported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compound_and_wildcard_text_indexes() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"insert": "shop", "documents": [
            {"_id": 1, "store": "north", "about": "fresh bread", "price": 3},
            {"_id": 2, "store": "south", "about": "fresh fish", "price": 9},
            {"_id": 3, "store": "north", "about": "old bread", "price": 1},
        ]},
    )
    .await;
    run(
        &db,
        doc! {"createIndexes": "shop", "indexes": [{"key": {"store": 1, "about": "text", "price": -1}, "name": "s_t_p"}]},
    )
    .await;
    let (specs, _) = first_batch(&run(&db, doc! {"listIndexes": "shop"}).await);
    assert_eq!(
        specs.get(1).and_then(|s| s.get_document("key").ok()),
        Some(&doc! {"store": 1, "_fts": "text", "_ftsx": 1, "price": -1})
    );
    let docs = find(
        &server,
        doc! {"find": "shop", "filter": {"store": "north", "$text": {"$search": "fresh"}}},
    )
    .await;
    assert_eq!(docs.len(), 1);
    assert_eq!(docs.first().map(|d| int_field(d, "_id")), Some(1));
    // Without an equality on the prefix field, mongod refuses the query.
    run_err(
        &db,
        doc! {"find": "shop", "filter": {"$text": {"$search": "fresh"}}},
    )
    .await
    .assert(2, "BadValue", "equality");

    run(
        &db,
        doc! {"insert": "any", "documents": [
            {"_id": 1, "a": "red apple", "n": {"deep": ["green pear"]}},
            {"_id": 2, "b": "yellow banana", "n": 5},
        ]},
    )
    .await;
    run(
        &db,
        doc! {"createIndexes": "any", "indexes": [{"key": {"$**": "text"}, "name": "$**_text"}]},
    )
    .await;
    let docs = find(
        &server,
        doc! {"find": "any", "filter": {"$text": {"$search": "pear banana"}}},
    )
    .await;
    let mut ids: Vec<i64> = docs.iter().map(|d| int_field(d, "_id")).collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2]);
    let (specs, _) = first_batch(&run(&db, doc! {"listIndexes": "any"}).await);
    assert_eq!(
        specs.get(1).and_then(|s| s.get_document("weights").ok()),
        Some(&doc! {"$**": 1})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_follows_writes_and_serves_the_search() {
    let server = with_articles().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"update": "articles", "updates": [{"q": {"_id": 1}, "u": {"$set": {"subject": "tea"}}}]},
    )
    .await;
    run(
        &db,
        doc! {"delete": "articles", "deletes": [{"q": {"_id": 7}, "limit": 1}]},
    )
    .await;
    run(
        &db,
        doc! {"insert": "articles", "documents": [{"_id": 9, "subject": "iced coffee"}]},
    )
    .await;
    assert_eq!(
        search_ids(&server, doc! {"$search": "coffee"}).await,
        [2, 9]
    );
    assert_eq!(search_ids(&server, doc! {"$search": "tea"}).await, [1]);
    // The search reads only the documents holding a term, not the collection.
    let reply = run(
        &db,
        doc! {"explain": {"find": "articles", "filter": {"$text": {"$search": "tea"}}}, "verbosity": "executionStats"},
    )
    .await;
    let stats = reply
        .get_document("executionStats")
        .cloned()
        .unwrap_or_default();
    assert_eq!(int_field(&stats, "totalDocsExamined"), 1);
    let count = run(
        &db,
        doc! {"count": "articles", "query": {"$text": {"$search": "coffee"}}},
    )
    .await;
    assert_eq!(int_field(&count, "n"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_in_an_aggregations_first_match() {
    let server = with_articles().await;
    let db = server.db("test");
    let reply = run(
        &db,
        doc! {"aggregate": "articles", "pipeline": [
            {"$match": {"$text": {"$search": "cake coffee"}, "views": {"$gte": 50}}},
            {"$group": {"_id": null, "views": {"$sum": "$views"}}},
        ], "cursor": {}},
    )
    .await;
    assert_eq!(
        first_batch(&reply).0,
        [doc! {"_id": Bson::Null, "views": 140}]
    );
    run_err(
        &db,
        doc! {"aggregate": "articles", "pipeline": [
            {"$match": {"views": 1}}, {"$match": {"$text": {"$search": "cake"}}},
        ], "cursor": {}},
    )
    .await
    .assert(17313, "Location17313", "first pipeline stage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_errors_are_mongods() {
    let server = with_articles().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"insert": "plain", "documents": [{"a": "coffee"}]},
    )
    .await;
    run_err(
        &db,
        doc! {"find": "plain", "filter": {"$text": {"$search": "coffee"}}},
    )
    .await
    .assert(27, "IndexNotFound", "text index required for $text query");
    run_err(
        &db,
        doc! {"find": "nothing", "filter": {"$text": {"$search": "coffee"}}},
    )
    .await
    .assert(27, "IndexNotFound", "text index required");
    let bad = [
        (doc! {"$text": {"$search": 1}}, "$search needs a String"),
        (
            doc! {"$text": {"$search": "a", "$language": "klingon"}},
            "unsupported language",
        ),
        (
            doc! {"$text": {"$search": "a", "$caseSensitive": 1}},
            "$caseSensitive needs a boolean",
        ),
        (
            doc! {"$text": {"$search": "a", "$extra": 1}},
            "extra fields",
        ),
        (doc! {"$text": "coffee"}, "$text expects an object"),
    ];
    for (filter, fragment) in bad {
        run_err(&db, doc! {"find": "articles", "filter": filter})
            .await
            .assert(2, "BadValue", fragment);
    }
    // Under $nor: refused as mongod does (`text_or.rs` has $or and the other places).
    run_err(
        &db,
        doc! {"find": "articles", "filter": {"$nor": [{"$text": {"$search": "coffee"}}, {"_id": 1}]}},
    )
    .await
    .assert(2, "BadValue", "text expression not allowed in nor");
    // A text index does not serve ordinary queries or sorts, and cannot be hinted for them.
    run_err(
        &db,
        doc! {"find": "articles", "filter": {"views": 5}, "hint": "subject_text"},
    )
    .await
    .assert(2, "BadValue", "$text");
}
