//! Time-series collections: `create` with `timeseries` and its errors, `listCollections`,
//! inserts (a measurement without a date in its time field is refused), reads of the unpacked
//! measurements (find, count, distinct, aggregate with `$dateTrunc`, `$setWindowFields`,
//! `$densify`, `$fill`), deletes, updates refused by name, `collStats`/`$collStats`, drop and
//! TTL by `expireAfterSeconds`. Expected answers are MongoDB 8.0's.

use bson::{doc, Bson, DateTime, Document};
use outpost_tests::{
    find_all, first_batch, int_field, num_field, run, run_err, write_failure, TestServer,
};

/// 2024-05-01T00:00:00Z in milliseconds.
const DAY: i64 = 1_714_521_600_000;

fn at(seconds: i64) -> DateTime {
    DateTime::from_millis(DAY + seconds * 1000)
}

/// `sensors` sensors, one reading each `step` seconds for `count` steps; `_id`s are
/// `sensor * 1_000_000 + step`.
fn readings(sensors: i32, count: i64, step: i64) -> Vec<Document> {
    let mut docs = Vec::new();
    for i in 0..count {
        for sensor in 0..sensors {
            docs.push(doc! {
                "_id": sensor * 1_000_000 + i32::try_from(i).unwrap(),
                "ts": at(i * step),
                "meta": {"sensor": sensor, "site": "plant"},
                "temp": 20.0 + f64::from(sensor) + (i % 7) as f64 * 0.5,
            });
        }
    }
    docs
}

async fn create_weather(server: &TestServer) {
    run(
        &server.db("test"),
        doc! {"create": "weather", "timeseries": {"timeField": "ts", "metaField": "meta", "granularity": "minutes"}},
    )
    .await;
}

async fn insert(server: &TestServer, coll: &str, docs: Vec<Document>) {
    for chunk in docs.chunks(1_000) {
        let reply = run(
            &server.db("test"),
            doc! {"insert": coll, "documents": chunk.to_vec()},
        )
        .await;
        assert_eq!(int_field(&reply, "n"), chunk.len() as i64, "{reply}");
    }
}

async fn aggregate(server: &TestServer, coll: &str, pipeline: Vec<Document>) -> Vec<Document> {
    let reply = run(
        &server.db("test"),
        doc! {"aggregate": coll, "pipeline": pipeline, "cursor": {"batchSize": 100_000}},
    )
    .await;
    first_batch(&reply).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_checks_options_and_list_collections_shows_timeseries() {
    let server = TestServer::start().await;
    let db = server.db("test");
    create_weather(&server).await;
    // Creating it again with the same options succeeds; other options fail (48).
    create_weather(&server).await;
    run_err(
        &db,
        doc! {"create": "weather", "timeseries": {"timeField": "ts"}},
    )
    .await
    .assert(48, "NamespaceExists", "already exists");
    run(
        &db,
        doc! {"create": "custom", "timeseries": {"timeField": "t", "bucketMaxSpanSeconds": 600, "bucketRoundingSeconds": 600}, "expireAfterSeconds": 3600},
    )
    .await;

    let reply = run(
        &db,
        doc! {"listCollections": 1, "filter": {"type": "timeseries"}},
    )
    .await;
    let (mut infos, _) = first_batch(&reply);
    infos.sort_by_key(|d| d.get_str("name").unwrap_or_default().to_owned());
    assert_eq!(infos.len(), 2, "{infos:?}");
    assert_eq!(
        infos[0].get_document("options").unwrap(),
        &doc! {"timeseries": {"timeField": "t", "bucketRoundingSeconds": 600, "bucketMaxSpanSeconds": 600}, "expireAfterSeconds": 3600_i64}
    );
    assert_eq!(
        infos[1].get_document("options").unwrap(),
        &doc! {"timeseries": {"timeField": "ts", "metaField": "meta", "granularity": "minutes", "bucketMaxSpanSeconds": 86400}}
    );
    let names = db.list_collection_names().await.unwrap();
    assert!(
        names.contains(&"system.buckets.weather".to_owned()),
        "{names:?}"
    );

    let cases = [
        (doc! {"timeseries": {"metaField": "m"}}, 40414, "timeField"),
        (doc! {"timeseries": {"timeField": 5}}, 14, "timeField"),
        (
            doc! {"timeseries": {"timeField": "t", "metaField": "t"}},
            72,
            "cannot be the same",
        ),
        (
            doc! {"timeseries": {"timeField": "t", "granularity": "days"}},
            2,
            "days",
        ),
        (
            doc! {"timeseries": {"timeField": "t", "bucketMaxSpanSeconds": 60}},
            72,
            "alongside each other",
        ),
        (
            doc! {"timeseries": {"timeField": "t", "bucketMaxSpanSeconds": 60, "bucketRoundingSeconds": 30}},
            72,
            "equal",
        ),
        (
            doc! {"timeseries": {"timeField": "t", "granularity": "hours", "bucketMaxSpanSeconds": 60}},
            72,
            "not configurable",
        ),
        (
            doc! {"timeseries": {"timeField": "t", "extra": 1}},
            40415,
            "extra",
        ),
        (
            doc! {"timeseries": {"timeField": "t"}, "capped": true, "size": 1000},
            72,
            "capped",
        ),
        (
            doc! {"timeseries": {"timeField": "t"}, "expireAfterSeconds": -1},
            72,
            "expireAfterSeconds",
        ),
        (doc! {"expireAfterSeconds": 10}, 72, "time-series"),
    ];
    for (options, code, fragment) in cases {
        let mut command = doc! {"create": "bad"};
        command.extend(options.clone());
        let failure = run_err(&db, command).await;
        assert_eq!(failure.code, code, "{options}: {failure:?}");
        assert!(failure.message.contains(fragment), "{options}: {failure:?}");
    }
    assert!(!db
        .list_collection_names()
        .await
        .unwrap()
        .contains(&"bad".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measurements_read_back_as_documents() {
    let server = TestServer::start().await;
    let db = server.db("test");
    create_weather(&server).await;
    let docs = readings(3, 200, 10);
    insert(&server, "weather", docs.clone()).await;

    // A measurement without a date in its time field is refused (BadValue), the others go in.
    let failure = write_failure(
        &db,
        doc! {"insert": "weather", "documents": [{"meta": {"sensor": 9}, "temp": 1.0}]},
    )
    .await;
    failure.assert(
        2,
        "BadValue",
        "'ts' must be present and contain a valid BSON UTC datetime value",
    );
    let failure = write_failure(
        &db,
        doc! {"insert": "weather", "documents": [{"ts": "noon", "temp": 1.0}]},
    )
    .await;
    assert_eq!(failure.code, 2, "{failure:?}");

    let all = find_all(&db, "weather", doc! {"sort": {"_id": 1}}).await;
    let mut expected = docs.clone();
    expected.sort_by_key(|d| d.get_i32("_id").unwrap());
    assert_eq!(all.len(), expected.len());
    for (got, want) in all.iter().zip(&expected) {
        for (key, value) in want {
            assert_eq!(got.get(key), Some(value), "{got} vs {want}");
        }
        assert_eq!(got.len(), want.len(), "{got}");
    }

    // Filters on meta and time (which skip buckets) and on measurements.
    let filter = doc! {"meta.sensor": 1, "ts": {"$gte": at(500), "$lt": at(1000)}};
    let found = find_all(
        &db,
        "weather",
        doc! {"filter": filter.clone(), "sort": {"ts": 1}},
    )
    .await;
    assert_eq!(found.len(), 50);
    assert_eq!(found[0].get_datetime("ts").unwrap(), &at(500));
    assert!(found
        .iter()
        .all(|d| d.get_document("meta").unwrap().get_i32("sensor") == Ok(1)));
    let reply = run(&db, doc! {"count": "weather", "query": filter}).await;
    assert_eq!(int_field(&reply, "n"), 50);
    let reply = run(
        &db,
        doc! {"count": "weather", "query": {"temp": {"$gte": 23.0}}},
    )
    .await;
    let expected_hot = docs
        .iter()
        .filter(|d| d.get_f64("temp").unwrap() >= 23.0)
        .count();
    assert_eq!(int_field(&reply, "n"), expected_hot as i64);
    let reply = run(&db, doc! {"distinct": "weather", "key": "meta.sensor"}).await;
    assert_eq!(
        reply.get_array("values").unwrap(),
        &vec![Bson::Int32(0), Bson::Int32(1), Bson::Int32(2)]
    );
    let projected = find_all(
        &db,
        "weather",
        doc! {"filter": {"_id": 2_000_003}, "projection": {"_id": 0, "temp": 1}},
    )
    .await;
    assert_eq!(projected, vec![doc! {"temp": 23.5}]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregation_stages_work_over_measurements() {
    let server = TestServer::start().await;
    create_weather(&server).await;
    // Sensor 0: one reading every 10 s for 10 minutes.
    let docs = readings(2, 60, 10);
    insert(&server, "weather", docs.clone()).await;

    // Per-minute averages of one sensor with $dateTrunc.
    let per_minute = aggregate(
        &server,
        "weather",
        vec![
            doc! {"$match": {"meta.sensor": 0}},
            doc! {"$group": {"_id": {"$dateTrunc": {"date": "$ts", "unit": "minute"}}, "avg": {"$avg": "$temp"}, "n": {"$sum": 1}}},
            doc! {"$sort": {"_id": 1}},
        ],
    )
    .await;
    assert_eq!(per_minute.len(), 10);
    for (minute, row) in per_minute.iter().enumerate() {
        let minute = minute as i64;
        assert_eq!(row.get_datetime("_id").unwrap(), &at(minute * 60));
        assert_eq!(int_field(row, "n"), 6);
        let temps: Vec<f64> = (minute * 6..minute * 6 + 6)
            .map(|i| 20.0 + (i % 7) as f64 * 0.5)
            .collect();
        let avg = temps.iter().sum::<f64>() / 6.0;
        assert!((num_field(row, "avg") - avg).abs() < 1e-9, "{row}");
    }

    // A running sum per sensor with $setWindowFields.
    let windows = aggregate(
        &server,
        "weather",
        vec![
            doc! {"$setWindowFields": {"partitionBy": "$meta.sensor", "sortBy": {"ts": 1}, "output": {"count": {"$count": {}, "window": {"documents": ["unbounded", "current"]}}}}},
            doc! {"$match": {"meta.sensor": 1}},
            doc! {"$sort": {"ts": -1}},
            doc! {"$limit": 1},
        ],
    )
    .await;
    assert_eq!(int_field(&windows[0], "count"), 60);

    // $densify fills the gaps of a sparse series, and $fill carries values forward.
    let sparse = aggregate(
        &server,
        "weather",
        vec![
            doc! {"$match": {"meta.sensor": 0, "ts": {"$in": [at(0), at(30)]}}},
            doc! {"$project": {"_id": 0, "ts": 1, "temp": 1}},
            doc! {"$densify": {"field": "ts", "range": {"step": 10, "unit": "second", "bounds": "full"}}},
            doc! {"$fill": {"sortBy": {"ts": 1}, "output": {"temp": {"method": "locf"}}}},
        ],
    )
    .await;
    let times: Vec<DateTime> = sparse
        .iter()
        .map(|d| *d.get_datetime("ts").unwrap())
        .collect();
    assert_eq!(times, vec![at(0), at(10), at(20), at(30)]);
    let temps: Vec<f64> = sparse.iter().map(|d| num_field(d, "temp")).collect();
    assert_eq!(temps, vec![20.0, 20.0, 20.0, 21.5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_work_and_updates_are_refused_by_name() {
    let server = TestServer::start().await;
    let db = server.db("test");
    create_weather(&server).await;
    insert(&server, "weather", readings(3, 100, 60)).await;

    // By meta field (whole buckets), by measurement, one at a time.
    let reply = run(
        &db,
        doc! {"delete": "weather", "deletes": [{"q": {"meta.sensor": 2}, "limit": 0}]},
    )
    .await;
    assert_eq!(int_field(&reply, "n"), 100);
    let reply = run(
        &db,
        doc! {"delete": "weather", "deletes": [{"q": {"temp": {"$gte": 22.0}}, "limit": 0}]},
    )
    .await;
    // Sensor 0 from 22.0: i % 7 >= 4 (42 of 100); sensor 1: i % 7 >= 2 (70 of 100).
    assert_eq!(int_field(&reply, "n"), 112);
    let reply = run(
        &db,
        doc! {"delete": "weather", "deletes": [{"q": {"meta.sensor": 0}, "limit": 1}]},
    )
    .await;
    assert_eq!(int_field(&reply, "n"), 1);
    let reply = run(&db, doc! {"count": "weather"}).await;
    assert_eq!(int_field(&reply, "n"), 300 - 100 - 112 - 1);

    let failure = write_failure(
        &db,
        doc! {"update": "weather", "updates": [{"q": {}, "u": {"$set": {"temp": 0.0}}, "multi": true}]},
    )
    .await;
    failure.assert(115, "CommandNotSupported", "time-series");
    let failure = run_err(
        &db,
        doc! {"findAndModify": "weather", "query": {}, "update": {"$set": {"temp": 0.0}}},
    )
    .await;
    assert!(failure.message.contains("time-series"), "{failure:?}");
    run_err(
        &server.db("admin"),
        doc! {"renameCollection": "test.weather", "to": "test.other"},
    )
    .await
    .assert(20, "IllegalOperation", "time-series");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coll_stats_shows_buckets_and_compression_and_drop_removes_them() {
    let server = TestServer::start().await;
    let db = server.db("test");
    create_weather(&server).await;
    insert(&server, "weather", readings(4, 1_500, 1)).await;
    let stats = run(&db, doc! {"collStats": "weather"}).await;
    let ts = stats.get_document("timeseries").unwrap();
    assert_eq!(ts.get_str("bucketsNs"), Ok("test.system.buckets.weather"));
    // 1,500 readings a sensor, 1,000 at most a bucket: two buckets each.
    assert_eq!(int_field(ts, "bucketCount"), 8, "{ts}");
    assert_eq!(int_field(ts, "numMeasurements"), 6_000);
    assert_eq!(int_field(&stats, "count"), 8);
    assert!(
        int_field(ts, "uncompressedBytes") > 3 * int_field(ts, "bucketBytes"),
        "stored buckets should be several times smaller than the readings: {ts}"
    );
    let reply = run(
        &db,
        doc! {"aggregate": "weather", "pipeline": [{"$collStats": {"storageStats": {}}}], "cursor": {}},
    )
    .await;
    let (docs, _) = first_batch(&reply);
    let storage = docs[0].get_document("storageStats").unwrap();
    assert_eq!(
        int_field(storage.get_document("timeseries").unwrap(), "bucketCount"),
        8
    );

    run(&db, doc! {"drop": "weather"}).await;
    let names = db.list_collection_names().await.unwrap();
    assert!(names.is_empty(), "{names:?}");
    let reply = run(&db, doc! {"count": "weather"}).await;
    assert_eq!(int_field(&reply, "n"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_after_seconds_removes_old_buckets() {
    let server = TestServer::start().await;
    let db = server.db("test");
    run(
        &db,
        doc! {"create": "recent", "timeseries": {"timeField": "ts", "metaField": "meta"}, "expireAfterSeconds": 3600},
    )
    .await;
    let now = DateTime::now().timestamp_millis();
    let old = DateTime::from_millis(now - 3 * 3_600_000);
    let fresh = DateTime::from_millis(now - 60_000);
    insert(
        &server,
        "recent",
        vec![
            doc! {"ts": old, "meta": 1, "v": 1},
            doc! {"ts": old, "meta": 2, "v": 2},
            doc! {"ts": fresh, "meta": 1, "v": 3},
        ],
    )
    .await;
    // The server's TTL pass, run now rather than waited for.
    let removed = server
        .handle()
        .storage()
        .remove_expired(DateTime::now(), 1_000)
        .unwrap();
    assert_eq!(removed, 2, "two buckets of old readings");
    let left = find_all(&db, "recent", doc! {}).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].get_i32("v"), Ok(3));
}
