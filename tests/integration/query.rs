//! The query language through the wire: filters, sorts, projections and update operators, as
//! tables drawn from MongoDB's documentation examples (the `inventory` collection of the
//! query tutorials). Every table reports all of its mismatches at once.

use bson::{doc, Bson, Document};
use outpost_tests::{find_all, ids, run, write_failure, TestServer};

/// The inventory collection of MongoDB's query tutorials, with integer ids.
fn inventory() -> Vec<Document> {
    vec![
        doc! {"_id": 1, "item": "journal", "qty": 25, "size": {"h": 14, "w": 21, "uom": "cm"}, "status": "A", "tags": ["blank", "red"], "dim": [14, 21]},
        doc! {"_id": 2, "item": "notebook", "qty": 50, "size": {"h": 8.5, "w": 11, "uom": "in"}, "status": "A", "tags": ["red", "blank"], "dim": [14, 21]},
        doc! {"_id": 3, "item": "paper", "qty": 100, "size": {"h": 8.5, "w": 11, "uom": "in"}, "status": "D", "tags": ["red", "blank", "plain"], "dim": [14, 21]},
        doc! {"_id": 4, "item": "planner", "qty": 75, "size": {"h": 22.85, "w": 30, "uom": "cm"}, "status": "D", "tags": ["blank", "red"], "dim": [22.85, 30]},
        doc! {"_id": 5, "item": "postcard", "qty": 45, "size": {"h": 10, "w": 15.25, "uom": "cm"}, "status": "A", "tags": ["blue"], "dim": [10, 15.25]},
    ]
}

async fn start_with_inventory() -> TestServer {
    let server = TestServer::start().await;
    run(
        &server.db("test"),
        doc! {"insert": "inventory", "documents": inventory()},
    )
    .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_select_what_mongodb_selects() {
    let server = start_with_inventory().await;
    let db = server.db("test");
    let cases: Vec<(Document, Vec<i32>)> = vec![
        (doc! {"status": "D"}, vec![3, 4]),
        (doc! {"size.uom": "in"}, vec![2, 3]),
        (doc! {"size.h": {"$lt": 15}}, vec![1, 2, 3, 5]),
        (doc! {"status": "A", "qty": {"$lt": 30}}, vec![1]),
        (
            doc! {"$or": [{"status": "A"}, {"qty": {"$lt": 30}}]},
            vec![1, 2, 5],
        ),
        (
            doc! {"status": "A", "$or": [{"qty": {"$lt": 30}}, {"item": {"$regex": "^p"}}]},
            vec![1, 5],
        ),
        (
            doc! {"$and": [{"qty": {"$gte": 45}}, {"qty": {"$lte": 75}}]},
            vec![2, 4, 5],
        ),
        (doc! {"$nor": [{"status": "A"}, {"qty": 100}]}, vec![4]),
        (doc! {"qty": {"$not": {"$gt": 50}}}, vec![1, 2, 5]),
        (doc! {"qty": {"$in": [25, 75]}}, vec![1, 4]),
        (doc! {"qty": {"$nin": [25, 75]}}, vec![2, 3, 5]),
        (doc! {"qty": {"$ne": 50}}, vec![1, 3, 4, 5]),
        (doc! {"qty": {"$mod": [25, 0]}}, vec![1, 2, 3, 4]),
        // Embedded documents match exactly, field order included.
        (doc! {"size": {"h": 14, "w": 21, "uom": "cm"}}, vec![1]),
        (doc! {"size": {"w": 21, "h": 14, "uom": "cm"}}, vec![]),
        (doc! {"size.h": 8.5, "size.w": 11}, vec![2, 3]),
        // Arrays.
        (doc! {"tags": ["red", "blank"]}, vec![2]),
        (doc! {"tags": {"$all": ["red", "blank"]}}, vec![1, 2, 3, 4]),
        (doc! {"tags": "red"}, vec![1, 2, 3, 4]),
        (doc! {"dim": {"$gt": 25}}, vec![4]),
        (doc! {"dim": {"$gt": 15, "$lt": 20}}, vec![1, 2, 3, 5]),
        (
            doc! {"dim": {"$elemMatch": {"$gt": 22, "$lt": 30}}},
            vec![4],
        ),
        (doc! {"dim.1": {"$gt": 25}}, vec![4]),
        (doc! {"tags": {"$size": 3}}, vec![3]),
        // Existence, types, regular expressions, $expr.
        (doc! {"item": {"$exists": true}}, vec![1, 2, 3, 4, 5]),
        (doc! {"size.d": {"$exists": true}}, vec![]),
        (doc! {"missing": {"$exists": false}}, vec![1, 2, 3, 4, 5]),
        (doc! {"missing": null}, vec![1, 2, 3, 4, 5]),
        (doc! {"size.h": {"$type": "double"}}, vec![2, 3, 4]),
        (doc! {"qty": {"$type": "number"}}, vec![1, 2, 3, 4, 5]),
        (
            doc! {"item": {"$regex": "^P", "$options": "i"}},
            vec![3, 4, 5],
        ),
        (
            doc! {"item": bson::Regex { pattern: "er$".into(), options: String::new() }},
            vec![3, 4],
        ),
        (doc! {"$expr": {"$gt": ["$qty", 60]}}, vec![3, 4]),
        (
            doc! {"$expr": {"$lt": ["$size.h", "$qty"]}},
            vec![1, 2, 3, 4, 5],
        ),
    ];
    let mut mismatches = Vec::new();
    for (filter, expected) in cases {
        let shown = filter.to_string();
        match db
            .run_command(doc! {"find": "inventory", "filter": filter.clone(), "batchSize": 0})
            .await
        {
            Err(e) => mismatches.push(format!("{shown}: failed: {e}")),
            Ok(_) => {
                let found = find_all(
                    &db,
                    "inventory",
                    doc! {"filter": filter, "sort": {"_id": 1}},
                )
                .await;
                if ids(&found) != expected {
                    mismatches.push(format!(
                        "{shown}: expected {expected:?}, got {:?}",
                        ids(&found)
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
async fn sorts_order_by_paths_and_array_elements() {
    let server = start_with_inventory().await;
    let db = server.db("test");
    let cases: Vec<(Document, Vec<i32>)> = vec![
        (doc! {"size.h": 1, "_id": 1}, vec![2, 3, 5, 1, 4]),
        (doc! {"size.uom": -1, "qty": 1}, vec![2, 3, 1, 5, 4]),
        // Arrays sort by their smallest element ascending and their largest descending.
        (doc! {"dim": 1, "_id": 1}, vec![5, 1, 2, 3, 4]),
        (doc! {"dim": -1, "_id": 1}, vec![4, 1, 2, 3, 5]),
        // Missing fields sort as null, before numbers.
        (doc! {"missing": 1, "_id": -1}, vec![5, 4, 3, 2, 1]),
        (doc! {"status": 1, "qty": -1}, vec![2, 5, 1, 3, 4]),
        (doc! {"item": -1}, vec![5, 4, 3, 2, 1]),
    ];
    let mut mismatches = Vec::new();
    for (sort, expected) in cases {
        let found = ids(&find_all(&db, "inventory", doc! {"sort": sort.clone()}).await);
        if found != expected {
            mismatches.push(format!("sort {sort}: expected {expected:?}, got {found:?}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_shape_documents() {
    let server = start_with_inventory().await;
    let db = server.db("test");
    let cases: Vec<(Document, Document, Document)> = vec![
        (
            doc! {"_id": 1},
            doc! {"size.uom": 1},
            doc! {"_id": 1, "size": {"uom": "cm"}},
        ),
        (
            doc! {"_id": 1},
            doc! {"size.uom": 0, "tags": 0, "dim": 0},
            doc! {"_id": 1, "item": "journal", "qty": 25, "size": {"h": 14, "w": 21}, "status": "A"},
        ),
        (
            doc! {"_id": 3},
            doc! {"item": 1, "tags": {"$slice": 1}},
            doc! {"_id": 3, "item": "paper", "tags": ["red"]},
        ),
        (
            doc! {"_id": 3},
            doc! {"tags": {"$slice": -2}, "_id": 0, "item": 1},
            doc! {"item": "paper", "tags": ["blank", "plain"]},
        ),
        (
            doc! {"_id": 1},
            doc! {"tags": {"$elemMatch": {"$eq": "red"}}},
            doc! {"_id": 1, "tags": ["red"]},
        ),
        (
            doc! {"_id": 1},
            doc! {"item": 1, "more": {"$add": ["$qty", 1]}},
            doc! {"_id": 1, "item": "journal", "more": 26},
        ),
        (
            doc! {"dim": {"$gt": 20}, "_id": 1},
            doc! {"dim.$": 1},
            doc! {"_id": 1, "dim": [21]},
        ),
    ];
    let mut mismatches = Vec::new();
    for (filter, projection, expected) in cases {
        let shown = format!("filter {filter} projection {projection}");
        match db
            .run_command(doc! {"find": "inventory", "filter": filter, "projection": projection})
            .await
        {
            Err(e) => mismatches.push(format!("{shown}: failed: {e}")),
            Ok(reply) => {
                let (docs, _) = outpost_tests::first_batch(&reply);
                if docs != [expected.clone()] {
                    mismatches.push(format!("{shown}: expected [{expected}], got {docs:?}"));
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

/// An update case: the document before, the filter beyond `_id`, the update, its
/// `arrayFilters`, and the document after.
type UpdateCase = (Document, Document, Bson, Option<Vec<Document>>, Document);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_operators_change_documents_like_mongodb() {
    let server = TestServer::start().await;
    let db = server.db("test");
    // (document before, filter beyond _id, update, arrayFilters, document after)
    let cases: Vec<UpdateCase> = vec![
        (
            doc! {"_id": 1},
            doc! {},
            doc! {"$set": {"a.b": 1}}.into(),
            None,
            doc! {"_id": 1, "a": {"b": 1}},
        ),
        (
            doc! {"_id": 1, "a": {"b": 1, "c": 2}},
            doc! {},
            doc! {"$unset": {"a.b": ""}}.into(),
            None,
            doc! {"_id": 1, "a": {"c": 2}},
        ),
        (
            doc! {"_id": 1, "n": 1},
            doc! {},
            doc! {"$inc": {"n": 2}}.into(),
            None,
            doc! {"_id": 1, "n": 3},
        ),
        (
            doc! {"_id": 1, "n": 1},
            doc! {},
            doc! {"$inc": {"n": 1.5}}.into(),
            None,
            doc! {"_id": 1, "n": 2.5},
        ),
        (
            doc! {"_id": 1},
            doc! {},
            doc! {"$inc": {"n": 5_i64}}.into(),
            None,
            doc! {"_id": 1, "n": 5_i64},
        ),
        (
            doc! {"_id": 1, "n": 2},
            doc! {},
            doc! {"$mul": {"n": 3}}.into(),
            None,
            doc! {"_id": 1, "n": 6},
        ),
        (
            doc! {"_id": 1},
            doc! {},
            doc! {"$mul": {"n": 3}}.into(),
            None,
            doc! {"_id": 1, "n": 0},
        ),
        (
            doc! {"_id": 1, "a": 1},
            doc! {},
            doc! {"$rename": {"a": "b"}}.into(),
            None,
            doc! {"_id": 1, "b": 1},
        ),
        (
            doc! {"_id": 1, "n": 5},
            doc! {},
            doc! {"$min": {"n": 1}}.into(),
            None,
            doc! {"_id": 1, "n": 1},
        ),
        (
            doc! {"_id": 1, "n": 5},
            doc! {},
            doc! {"$max": {"n": 10}}.into(),
            None,
            doc! {"_id": 1, "n": 10},
        ),
        (
            doc! {"_id": 1, "n": 5},
            doc! {},
            doc! {"$max": {"n": 1}}.into(),
            None,
            doc! {"_id": 1, "n": 5},
        ),
        (
            doc! {"_id": 1, "a": [1, 2, 3]},
            doc! {},
            doc! {"$push": {"a": 4}}.into(),
            None,
            doc! {"_id": 1, "a": [1, 2, 3, 4]},
        ),
        (
            doc! {"_id": 1},
            doc! {},
            doc! {"$push": {"a": 4}}.into(),
            None,
            doc! {"_id": 1, "a": [4]},
        ),
        (
            doc! {"_id": 1, "a": [1, 2, 3]},
            doc! {},
            doc! {"$push": {"a": {"$each": [4, 5], "$slice": -3}}}.into(),
            None,
            doc! {"_id": 1, "a": [3, 4, 5]},
        ),
        (
            doc! {"_id": 1, "a": [3]},
            doc! {},
            doc! {"$push": {"a": {"$each": [5, 1], "$sort": 1}}}.into(),
            None,
            doc! {"_id": 1, "a": [1, 3, 5]},
        ),
        (
            doc! {"_id": 1, "a": [1, 2]},
            doc! {},
            doc! {"$push": {"a": {"$each": [9], "$position": 0}}}.into(),
            None,
            doc! {"_id": 1, "a": [9, 1, 2]},
        ),
        (
            doc! {"_id": 1, "a": [1, 2]},
            doc! {},
            doc! {"$addToSet": {"a": 2}}.into(),
            None,
            doc! {"_id": 1, "a": [1, 2]},
        ),
        (
            doc! {"_id": 1, "a": [1, 2]},
            doc! {},
            doc! {"$addToSet": {"a": {"$each": [2, 3]}}}.into(),
            None,
            doc! {"_id": 1, "a": [1, 2, 3]},
        ),
        (
            doc! {"_id": 1, "a": [1, 2, 3, 4]},
            doc! {},
            doc! {"$pull": {"a": {"$gte": 3}}}.into(),
            None,
            doc! {"_id": 1, "a": [1, 2]},
        ),
        (
            doc! {"_id": 1, "a": [1, 2, 3, 1]},
            doc! {},
            doc! {"$pullAll": {"a": [1, 2]}}.into(),
            None,
            doc! {"_id": 1, "a": [3]},
        ),
        (
            doc! {"_id": 1, "a": [1, 2, 3]},
            doc! {},
            doc! {"$pop": {"a": 1}}.into(),
            None,
            doc! {"_id": 1, "a": [1, 2]},
        ),
        (
            doc! {"_id": 1, "a": [1, 2, 3]},
            doc! {},
            doc! {"$pop": {"a": -1}}.into(),
            None,
            doc! {"_id": 1, "a": [2, 3]},
        ),
        (
            doc! {"_id": 1, "a": [1, 2, 3]},
            doc! {},
            doc! {"$set": {"a.1": 9}}.into(),
            None,
            doc! {"_id": 1, "a": [1, 9, 3]},
        ),
        (
            doc! {"_id": 1, "a": [1, 2, 3]},
            doc! {"a": 2},
            doc! {"$set": {"a.$": 20}}.into(),
            None,
            doc! {"_id": 1, "a": [1, 20, 3]},
        ),
        (
            doc! {"_id": 1, "a": [1, 2]},
            doc! {},
            doc! {"$inc": {"a.$[]": 10}}.into(),
            None,
            doc! {"_id": 1, "a": [11, 12]},
        ),
        (
            doc! {"_id": 1, "a": [1, 2, 3]},
            doc! {},
            doc! {"$set": {"a.$[big]": 0}}.into(),
            Some(vec![doc! {"big": {"$gt": 1}}]),
            doc! {"_id": 1, "a": [1, 0, 0]},
        ),
        (
            doc! {"_id": 1, "grades": [{"g": 80, "n": 1}, {"g": 95, "n": 2}]},
            doc! {},
            doc! {"$inc": {"grades.$[e].n": 10}}.into(),
            Some(vec![doc! {"e.g": {"$gte": 90}}]),
            doc! {"_id": 1, "grades": [{"g": 80, "n": 1}, {"g": 95, "n": 12}]},
        ),
        // Pipeline-style updates.
        (
            doc! {"_id": 1, "a": 1, "b": 2},
            doc! {},
            Bson::Array(vec![
                doc! {"$set": {"total": {"$add": ["$a", "$b"]}}}.into(),
                doc! {"$unset": "a"}.into(),
            ]),
            None,
            doc! {"_id": 1, "b": 2, "total": 3},
        ),
    ];
    let mut mismatches = Vec::new();
    for (i, (before, filter, update, array_filters, after)) in cases.into_iter().enumerate() {
        let coll = format!("update_{i}");
        run(&db, doc! {"insert": &coll, "documents": [before.clone()]}).await;
        let mut q = doc! {"_id": 1};
        q.extend(filter);
        let mut statement = doc! {"q": q, "u": update.clone()};
        if let Some(filters) = array_filters {
            statement.insert("arrayFilters", filters);
        }
        let shown = format!("{before} with {update}");
        match db
            .run_command(doc! {"update": &coll, "updates": [statement]})
            .await
        {
            Err(e) => mismatches.push(format!("{shown}: failed: {e}")),
            Ok(reply) if reply.contains_key("writeErrors") => {
                mismatches.push(format!("{shown}: {reply}"))
            }
            Ok(_) => {
                let found = find_all(&db, &coll, doc! {}).await;
                if found != [after.clone()] {
                    mismatches.push(format!("{shown}: expected {after}, got {found:?}"));
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
async fn bad_updates_fail_with_mongodb_codes() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"insert": "c", "documents": [{"_id": 1, "s": "text", "n": 1}]},
    )
    .await;
    let cases: Vec<(Document, i32)> = vec![
        (doc! {"$inc": {"s": 1}}, 14),
        (doc! {"$set": {"a": 1}, "$unset": {"a": ""}}, 40),
        (doc! {"$set": {"a": 1, "a.b": 2}}, 40),
        (doc! {"$push": {"n": 1}}, 2),
        (doc! {"$set": {"_id": 2}}, 66),
        (doc! {"$noSuchOperator": {"a": 1}}, 9),
        (doc! {"$set": {"n.x": 1}}, 28),
    ];
    let mut mismatches = Vec::new();
    for (update, code) in cases {
        let error = write_failure(
            &db,
            doc! {"update": "c", "updates": [{"q": {"_id": 1}, "u": update.clone()}]},
        )
        .await;
        if error.code != code {
            mismatches.push(format!("{update}: expected code {code}, got {error:?}"));
        }
    }
    let unchanged = find_all(&db, "c", doc! {}).await;
    assert_eq!(unchanged, [doc! {"_id": 1, "s": "text", "n": 1}]);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upserts_apply_set_on_insert_only_when_inserting() {
    let server = TestServer::start().await;
    let coll = server.db("test").collection::<Document>("c");
    let update =
        doc! {"$set": {"seen": true}, "$setOnInsert": {"created": 1}, "$inc": {"visits": 1}};
    let first = coll
        .update_one(doc! {"_id": "page"}, update.clone())
        .upsert(true)
        .await
        .expect("upsert");
    assert_eq!(first.upserted_id, Some(Bson::String("page".into())));
    coll.update_one(doc! {"_id": "page"}, doc! {"$set": {"created": 2}})
        .await
        .expect("update");
    coll.update_one(doc! {"_id": "page"}, update)
        .upsert(true)
        .await
        .expect("second upsert");
    let found = coll.find_one(doc! {}).await.expect("find");
    assert_eq!(
        found,
        Some(doc! {"_id": "page", "seen": true, "created": 2, "visits": 2})
    );
    server.shutdown().await;
}
