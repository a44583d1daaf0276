//! Geospatial indexes and queries through the driver: `2dsphere` and `2d` indexes (GeoJSON
//! validation, 16755), `$geoWithin` (`$geometry`, `$box`, `$polygon`, `$center`,
//! `$centerSphere`) and `$geoIntersects` with and without an index, `$near`/`$nearSphere`
//! (ordered by distance, 291 without an index) and the `$geoNear` stage.

use bson::{doc, Bson, Document};
use outpost_tests::{find_all, ids, run, run_err, TestServer};

/// A 10 x 10 grid of points `{_id: i, loc: GeoJSON [i % 10, i / 10], n: i}` in `test.{coll}`,
/// the same points as legacy pairs in `test.{coll}_legacy`.
async fn seeded(server: &TestServer, coll: &str) {
    let db = server.db("test");
    let docs: Vec<Document> = (0..100)
        .map(|i| {
            doc! {"_id": i, "n": i, "loc": {"type": "Point", "coordinates": [f64::from(i % 10), f64::from(i / 10)]}}
        })
        .collect();
    run(&db, doc! {"insert": coll, "documents": docs}).await;
    let legacy: Vec<Document> = (0..100)
        .map(|i| doc! {"_id": i, "loc": [f64::from(i % 10), f64::from(i / 10)]})
        .collect();
    run(
        &db,
        doc! {"insert": format!("{coll}_legacy"), "documents": legacy},
    )
    .await;
}

fn grid_ids(keep: impl Fn(f64, f64) -> bool) -> Vec<i32> {
    (0..100)
        .filter(|i| keep(f64::from(i % 10), f64::from(i / 10)))
        .collect()
}

fn sorted(mut v: Vec<i32>) -> Vec<i32> {
    v.sort_unstable();
    v
}

fn haversine_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (p1, p2) = (a.1.to_radians(), b.1.to_radians());
    let dl = (b.0 - a.0).to_radians();
    let h = ((p2 - p1) / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * h.sqrt().asin() * 6_378_100.0
}

/// The code and message of the first write error of an insert (which itself succeeds).
async fn insert_error(server: &TestServer, coll: &str, doc: Document) -> (i32, String) {
    let reply = run(
        &server.db("test"),
        doc! {"insert": coll, "documents": [doc]},
    )
    .await;
    let error = reply
        .get_array("writeErrors")
        .ok()
        .and_then(|errors| errors.first())
        .and_then(Bson::as_document)
        .cloned()
        .unwrap_or_else(|| panic!("no write error in {reply}"));
    (
        error.get_i32("code").unwrap_or(0),
        error.get_str("errmsg").unwrap_or_default().to_owned(),
    )
}

async fn within_ids(server: &TestServer, coll: &str, filter: Document) -> Vec<i32> {
    sorted(ids(&find_all(
        &server.db("test"),
        coll,
        doc! {"filter": filter},
    )
    .await))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2dsphere_index_validates_geojson_on_insert() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"createIndexes": "places", "indexes": [
        {"key": {"loc": "2dsphere", "kind": 1}, "name": "loc_2dsphere_kind_1"}]},
    )
    .await;
    let specs = run(&db, doc! {"listIndexes": "places"}).await;
    let (specs, _) = outpost_tests::first_batch(&specs);
    assert_eq!(
        specs.get(1),
        Some(
            &doc! {"v": 2, "key": {"loc": "2dsphere", "kind": 1}, "name": "loc_2dsphere_kind_1", "2dsphereIndexVersion": 3}
        )
    );
    for bad in [
        Bson::Document(doc! {"type": "Point", "coordinates": [200, 0]}),
        Bson::Document(doc! {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}),
        Bson::Document(doc! {"type": "Nowhere", "coordinates": [0, 0]}),
        Bson::String("here".into()),
    ] {
        let (code, message) =
            insert_error(&server, "places", doc! {"_id": 1, "loc": bad.clone()}).await;
        assert_eq!(code, 16755, "{bad}: {message}");
        assert!(message.contains("Can't extract geo keys"), "{message}");
    }
    // Documents without a location, legacy pairs, lines, polygons with holes and
    // collections are accepted.
    run(
        &db,
        doc! {"insert": "places", "documents": [
            {"_id": 2, "kind": "none"},
            {"_id": 3, "loc": [5, 5], "kind": "legacy"},
            {"_id": 4, "loc": {"type": "LineString", "coordinates": [[0, 0], [3, 3]]}},
            {"_id": 5, "loc": {"type": "Polygon", "coordinates": [
                [[10, 10], [20, 10], [20, 20], [10, 20], [10, 10]],
                [[14, 14], [16, 14], [16, 16], [14, 16], [14, 14]]]}},
            {"_id": 6, "loc": {"type": "GeometryCollection", "geometries": [
                {"type": "Point", "coordinates": [40, 40]},
                {"type": "MultiPoint", "coordinates": [[41, 41], [42, 42]]}]}},
        ]},
    )
    .await;
    // An existing invalid document makes the index build fail.
    run(&db, doc! {"insert": "raw", "documents": [{"_id": 1, "loc": {"type": "Point", "coordinates": [0, 95]}}]}).await;
    let err = run_err(
        &db,
        doc! {"createIndexes": "raw", "indexes": [{"key": {"loc": "2dsphere"}, "name": "g"}]},
    )
    .await;
    assert_eq!(err.code, 16755);
    // $geoIntersects: the line crosses the box around (1, 1), the hole is not the polygon.
    let box_around = |x: f64, y: f64| {
        doc! {"$geoIntersects": {"$geometry": {"type": "Polygon", "coordinates": [[
        [x - 0.5, y - 0.5], [x + 0.5, y - 0.5], [x + 0.5, y + 0.5], [x - 0.5, y + 0.5], [x - 0.5, y - 0.5]]]}}}
    };
    assert_eq!(
        within_ids(&server, "places", doc! {"loc": box_around(1.0, 1.0)}).await,
        vec![4]
    );
    assert_eq!(
        within_ids(&server, "places", doc! {"loc": box_around(15.0, 15.0)}).await,
        Vec::<i32>::new()
    );
    assert_eq!(
        within_ids(&server, "places", doc! {"loc": box_around(12.0, 12.0)}).await,
        vec![5]
    );
    assert_eq!(
        within_ids(&server, "places", doc! {"loc": box_around(42.0, 42.0)}).await,
        vec![6]
    );
    assert_eq!(
        within_ids(
            &server,
            "places",
            doc! {"loc": box_around(5.0, 5.0), "kind": "legacy"}
        )
        .await,
        vec![3]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geo_within_gives_the_same_answers_with_and_without_an_index() {
    let server = TestServer::start().await;
    let db = server.db("test");
    seeded(&server, "plain").await;
    seeded(&server, "indexed").await;
    run(
        &db,
        doc! {"createIndexes": "indexed", "indexes": [{"key": {"loc": "2dsphere"}, "name": "g"}]},
    )
    .await;
    run(&db, doc! {"createIndexes": "indexed_legacy", "indexes": [{"key": {"loc": "2d"}, "name": "g2d"}]}).await;
    let polygon = doc! {"type": "Polygon", "coordinates": [[[1.5, 1.5], [6.5, 1.5], [6.5, 4.5], [1.5, 4.5], [1.5, 1.5]]]};
    let cases: Vec<(Document, Vec<i32>)> = vec![
        (
            doc! {"$geoWithin": {"$geometry": polygon.clone()}},
            grid_ids(|x, y| (1.5..=6.5).contains(&x) && (1.5..=4.5).contains(&y)),
        ),
        (
            doc! {"$geoWithin": {"$box": [[2, 3], [4, 5]]}},
            grid_ids(|x, y| (2.0..=4.0).contains(&x) && (3.0..=5.0).contains(&y)),
        ),
        (
            doc! {"$geoWithin": {"$polygon": [[0, 0], [9, 0], [0, 9]]}},
            grid_ids(|x, y| x + y <= 9.0),
        ),
        (
            doc! {"$geoWithin": {"$center": [[5, 5], 2.5]}},
            grid_ids(|x, y| ((x - 5.0).powi(2) + (y - 5.0).powi(2)).sqrt() <= 2.5),
        ),
        (
            doc! {"$geoWithin": {"$centerSphere": [[5, 5], 300_000.0 / 6_378_100.0]}},
            grid_ids(|x, y| haversine_m((5.0, 5.0), (x, y)) <= 300_000.0),
        ),
        (
            doc! {"$geoIntersects": {"$geometry": {"type": "LineString", "coordinates": [[0, 0], [9, 9]]}}},
            grid_ids(|x, y| x == y),
        ),
    ];
    for (predicate, expected) in cases {
        assert!(!expected.is_empty() && expected.len() < 100, "{predicate}");
        for coll in ["plain", "indexed", "plain_legacy", "indexed_legacy"] {
            let got = within_ids(&server, coll, doc! {"loc": predicate.clone()}).await;
            assert_eq!(got, expected, "{coll} {predicate}");
        }
    }
    // The 2dsphere index serves $geoWithin: fewer documents examined than a scan.
    let reply = run(&db, doc! {"explain": {"find": "indexed", "filter": {"loc": {"$geoWithin": {"$box": [[2, 3], [3, 4]]}}}},
        "verbosity": "executionStats"}).await;
    let stats = reply
        .get_document("executionStats")
        .cloned()
        .unwrap_or_default();
    let examined = outpost_tests::int_field(&stats, "totalDocsExamined");
    assert!(examined < 100, "examined {examined}: {reply}");
    // Bad shapes are refused with BadValue.
    for bad in [
        doc! {"$geoWithin": {"$box": [[0, 0]]}},
        doc! {"$geoWithin": {"$circle": [[0, 0], 1]}},
        doc! {"$geoWithin": {"$geometry": {"type": "Point", "coordinates": [0, 0]}}},
    ] {
        let err = run_err(&db, doc! {"find": "plain", "filter": {"loc": bad.clone()}}).await;
        assert_eq!(err.code, 2, "{bad}: {}", err.message);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_orders_by_distance_and_needs_an_index() {
    let server = TestServer::start().await;
    let db = server.db("test");
    seeded(&server, "pts").await;
    let near = doc! {"loc": {"$near": {"$geometry": {"type": "Point", "coordinates": [3.2, 4.1]},
    "$maxDistance": 250_000.0, "$minDistance": 50_000.0}}};
    let err = run_err(&db, doc! {"find": "pts", "filter": near.clone()}).await;
    assert_eq!(
        (err.code, err.code_name.as_str()),
        (291, "NoQueryExecutionPlans"),
        "{}",
        err.message
    );
    run(
        &db,
        doc! {"createIndexes": "pts", "indexes": [{"key": {"loc": "2dsphere"}, "name": "g"}]},
    )
    .await;
    let got = ids(&find_all(&db, "pts", doc! {"filter": near.clone()}).await);
    let distance = |i: i32| haversine_m((3.2, 4.1), (f64::from(i % 10), f64::from(i / 10)));
    let mut expected: Vec<i32> = (0..100)
        .filter(|i| (50_000.0..=250_000.0).contains(&distance(*i)))
        .collect();
    expected.sort_by(|a, b| distance(*a).total_cmp(&distance(*b)));
    assert!(expected.len() > 3);
    assert_eq!(got, expected);
    // A limit keeps the nearest; a filter on another field combines.
    let nearest = ids(&find_all(&db, "pts", doc! {"filter": {"loc": {"$nearSphere": {"$geometry": {"type": "Point", "coordinates": [0.1, 0.1]}}}, "n": {"$gte": 50}}, "limit": 2}).await);
    assert_eq!(nearest, vec![50, 51]);
    // $near inside $or is refused.
    let err = run_err(
        &db,
        doc! {"find": "pts", "filter": {"$or": [near, {"n": 1}]}},
    )
    .await;
    assert_eq!(err.code, 2);
    // Legacy pairs: $near is flat with a 2d index, $nearSphere is in radians.
    run(&db, doc! {"createIndexes": "pts_legacy", "indexes": [{"key": {"loc": "2d"}, "name": "flat", "bits": 20}]}).await;
    let flat = ids(&find_all(
        &db,
        "pts_legacy",
        doc! {"filter": {"loc": {"$near": [9, 9], "$maxDistance": 1.5}}},
    )
    .await);
    assert_eq!(flat, vec![99, 89, 98, 88]);
    let radians = ids(&find_all(
        &db,
        "pts_legacy",
        doc! {"filter": {"loc": {"$nearSphere": [0, 0], "$maxDistance": 0.02}}},
    )
    .await);
    assert_eq!(radians, vec![0, 1, 10]);
    let (code, message) =
        insert_error(&server, "pts_legacy", doc! {"_id": 500, "loc": [190, 0]}).await;
    assert_eq!(code, 13027, "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_geo_near_stage_adds_distances() {
    let server = TestServer::start().await;
    let db = server.db("test");
    seeded(&server, "pts").await;
    let stage = doc! {"$geoNear": {"near": {"type": "Point", "coordinates": [0.1, 0.05]},
    "distanceField": "dist.m", "maxDistance": 200_000.0, "query": {"n": {"$lt": 20}},
    "includeLocs": "where", "distanceMultiplier": 0.001, "spherical": true}};
    let err = run_err(
        &db,
        doc! {"aggregate": "pts", "pipeline": [stage.clone()], "cursor": {}},
    )
    .await;
    assert_eq!(err.code, 291, "{}", err.message);
    run(
        &db,
        doc! {"createIndexes": "pts", "indexes": [{"key": {"loc": "2dsphere"}, "name": "g"}]},
    )
    .await;
    let reply = run(&db, doc! {"aggregate": "pts", "pipeline": [stage.clone(), {"$project": {"dist": 1, "where": 1}}], "cursor": {}}).await;
    let (docs, _) = outpost_tests::first_batch(&reply);
    assert_eq!(ids(&docs), vec![0, 1, 10, 11]);
    let mut last = -1.0;
    for d in &docs {
        let id = d.get_i32("_id").unwrap_or(-1);
        let km = d
            .get_document("dist")
            .and_then(|x| x.get_f64("m"))
            .unwrap_or(-1.0);
        let expected = haversine_m((0.1, 0.05), (f64::from(id % 10), f64::from(id / 10))) / 1000.0;
        assert!((km - expected).abs() < 1e-6, "{d}");
        assert!(km >= last);
        last = km;
        assert_eq!(
            d.get_document("where")
                .ok()
                .and_then(|w| w.get_str("type").ok()),
            Some("Point")
        );
    }
    // Only first.
    let err = run_err(
        &db,
        doc! {"aggregate": "pts", "pipeline": [{"$match": {}}, stage.clone()], "cursor": {}},
    )
    .await;
    assert_eq!(err.code, 40603, "{}", err.message);
    let err = run_err(
        &db,
        doc! {"aggregate": "pts", "pipeline": [{"$geoNear": {"near": [0, 0]}}], "cursor": {}},
    )
    .await;
    assert_eq!(err.code, 2, "{}", err.message);
}
