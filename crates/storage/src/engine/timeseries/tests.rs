//! Bucketing through the storage API: every measurement comes back once, buckets respect
//! their limits (one meta value, span, count), deletes and the bucket filter agree with a
//! plain filter over the measurements.

use bson::{doc, Bson, DateTime, Document};
use proptest::prelude::*;

use super::bucket::{Bucket, MAX_MEASUREMENTS};
use super::read::bucket_filter;
use super::{buckets_name, TimeseriesOptions};
use crate::agg::{AggOptions, Pipeline};
use crate::engine::read::FindOptions;
use crate::engine::Storage;
use crate::query::Filter;

fn options(spec: Document) -> TimeseriesOptions {
    TimeseriesOptions::parse(&spec).expect("options")
}

fn storage_with(spec: Document) -> (Storage, TimeseriesOptions) {
    let storage = Storage::temporary().expect("storage");
    let options = options(spec);
    storage
        .create_timeseries("db", "ts", &options, None)
        .expect("create");
    (storage, options)
}

fn all(storage: &Storage, filter: Document) -> Vec<Document> {
    let pipeline = if filter.is_empty() {
        Pipeline::parse(&[]).unwrap()
    } else {
        Pipeline::parse(&[doc! {"$match": filter}]).unwrap()
    };
    let options = AggOptions {
        db: "db".into(),
        ..AggOptions::default()
    };
    storage
        .aggregate(Some("ts"), &pipeline, &options)
        .expect("aggregate")
}

fn buckets(storage: &Storage, options: &TimeseriesOptions) -> Vec<Bucket> {
    storage
        .find("db", &buckets_name("ts"), &FindOptions::default())
        .unwrap()
        .map(|d| Bucket::from_document(&d.unwrap(), options).unwrap())
        .collect()
}

fn key(doc: &Document) -> String {
    let mut fields: Vec<String> = doc.iter().map(|(k, v)| format!("{k}={v}")).collect();
    fields.sort();
    fields.join(",")
}

fn sorted_keys(docs: &[Document]) -> Vec<String> {
    let mut keys: Vec<String> = docs.iter().map(key).collect();
    keys.sort();
    keys
}

#[test]
fn options_follow_mongod() {
    let parsed = options(doc! {"timeField": "t", "metaField": "m"});
    assert_eq!(parsed.granularity.as_deref(), Some("seconds"));
    assert_eq!(parsed.bucket_max_span_seconds, 3600);
    assert_eq!(parsed.rounding_millis(), 60_000);
    let custom =
        options(doc! {"timeField": "t", "bucketMaxSpanSeconds": 100, "bucketRoundingSeconds": 100});
    assert_eq!(custom.granularity, None);
    assert_eq!(custom.rounding_millis(), 100_000);
    let code = |spec: Document| match TimeseriesOptions::parse(&spec) {
        Err(crate::Error::Coded { code, .. }) => code,
        Err(crate::Error::BadValue(_)) => 2,
        Err(crate::Error::TypeMismatch(_)) => 14,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(code(doc! {}), 40414);
    assert_eq!(code(doc! {"timeField": 1}), 14);
    assert_eq!(code(doc! {"timeField": "t", "metaField": "t"}), 72);
    assert_eq!(code(doc! {"timeField": "t", "granularity": "days"}), 2);
    assert_eq!(
        code(doc! {"timeField": "t", "bucketMaxSpanSeconds": 10}),
        72
    );
    assert_eq!(
        code(doc! {"timeField": "t", "bucketMaxSpanSeconds": 10, "bucketRoundingSeconds": 5}),
        72
    );
    assert_eq!(
        code(doc! {"timeField": "t", "granularity": "hours", "bucketMaxSpanSeconds": 10}),
        72
    );
    assert_eq!(code(doc! {"timeField": "t", "extra": 1}), 40415);
}

#[test]
fn a_missing_or_non_date_time_is_refused_per_measurement() {
    let (storage, _) = storage_with(doc! {"timeField": "t", "metaField": "m"});
    let docs = vec![
        doc! {"t": DateTime::from_millis(0), "m": 1},
        doc! {"m": 1},
        doc! {"t": "yesterday", "m": 1},
        doc! {"t": DateTime::from_millis(5), "m": 1},
    ];
    let failures = storage
        .timeseries_insert("db", "ts", docs.clone(), false)
        .unwrap();
    let positions: Vec<usize> = failures.iter().map(|(p, _)| *p).collect();
    assert_eq!(positions, vec![1, 2]);
    assert_eq!(all(&storage, doc! {}).len(), 2);
    // Ordered: stops at the first failure, keeping what came before.
    let failures = storage.timeseries_insert("db", "ts", docs, true).unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(all(&storage, doc! {}).len(), 3);
}

#[test]
fn a_full_bucket_closes_and_the_next_one_opens() {
    let (storage, options) = storage_with(doc! {"timeField": "t", "metaField": "m"});
    let docs: Vec<Document> = (0..2_500)
        .map(|i| doc! {"t": DateTime::from_millis(i), "m": "a", "v": i})
        .collect();
    for chunk in docs.chunks(700) {
        assert!(storage
            .timeseries_insert("db", "ts", chunk.to_vec(), true)
            .unwrap()
            .is_empty());
    }
    let stored = buckets(&storage, &options);
    assert_eq!(stored.len(), 3);
    assert!(stored.iter().all(|b| b.rows.len() <= MAX_MEASUREMENTS));
    assert_eq!(all(&storage, doc! {}).len(), 2_500);
}

#[test]
fn unpacked_measurements_look_like_the_inserted_documents() {
    let (storage, _) = storage_with(doc! {"timeField": "t", "metaField": "m"});
    let inserted = vec![
        doc! {"_id": 1, "t": DateTime::from_millis(10), "m": {"sensor": 1}, "v": 2.5},
        doc! {"_id": 2, "t": DateTime::from_millis(20), "v": 3},
        doc! {"_id": 3, "t": DateTime::from_millis(30), "m": Bson::Null, "extra": "x"},
    ];
    storage
        .timeseries_insert("db", "ts", inserted.clone(), true)
        .unwrap();
    assert_eq!(sorted_keys(&all(&storage, doc! {})), sorted_keys(&inserted));
}

#[test]
fn the_ts_collection_refuses_updates_by_name() {
    let (storage, _) = storage_with(doc! {"timeField": "t"});
    let err = storage
        .insert("db", "ts", doc! {"t": DateTime::now()}, &Default::default())
        .unwrap_err();
    assert!(err.to_string().contains("time-series"), "{err}");
}

#[test]
fn drop_removes_the_buckets() {
    let (storage, _) = storage_with(doc! {"timeField": "t"});
    storage
        .timeseries_insert("db", "ts", vec![doc! {"t": DateTime::now()}], true)
        .unwrap();
    assert!(storage.drop_collection("db", "ts").unwrap());
    assert!(!storage.collection_exists("db", &buckets_name("ts")));
}

fn measurement() -> impl Strategy<Value = Document> {
    (
        0i64..3,
        -5_000_000i64..5_000_000,
        0i32..100,
        proptest::option::of(0i32..2),
    )
        .prop_map(|(meta, time, v, extra)| {
            let mut d = doc! {"t": DateTime::from_millis(time), "v": v};
            if meta < 2 {
                d.insert("m", meta);
            }
            if let Some(e) = extra {
                d.insert("e", e);
            }
            d
        })
}

fn filter() -> impl Strategy<Value = Document> {
    (0i64..3, -5_000_000i64..5_000_000, 0u8..6, 0i32..100).prop_map(|(meta, time, kind, v)| {
        let t = DateTime::from_millis(time);
        match kind {
            0 => doc! {"t": {"$gte": t}},
            1 => doc! {"t": {"$lt": t}, "m": meta},
            2 => doc! {"$and": [{"t": {"$lte": t}}, {"v": {"$gt": v}}]},
            3 => doc! {"m": {"$in": [meta, Bson::Null]}},
            4 => doc! {"t": t},
            _ => doc! {"$or": [{"t": {"$gt": t}}, {"v": v}]},
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Every measurement comes back once; buckets hold one meta value, within their span and
    /// count; a filtered read equals the plain filter over what was inserted (so the bucket
    /// filter never skips a bucket holding a match); deletes remove exactly the matches.
    #[test]
    fn buckets_keep_every_measurement(
        batches in proptest::collection::vec(proptest::collection::vec(measurement(), 1..80), 1..5),
        filters in proptest::collection::vec(filter(), 1..4),
        spec in prop_oneof![
            Just(doc! {"timeField": "t", "metaField": "m"}),
            Just(doc! {"timeField": "t", "metaField": "m", "bucketMaxSpanSeconds": 600, "bucketRoundingSeconds": 600}),
            Just(doc! {"timeField": "t", "granularity": "hours"}),
        ],
    ) {
        let (storage, options) = storage_with(spec);
        let mut inserted = Vec::new();
        for batch in batches {
            storage.timeseries_insert("db", "ts", batch.clone(), true).unwrap();
            inserted.extend(batch);
        }
        // Measurements come back with their `_id`s (generated at insert): compare without.
        let strip = |docs: Vec<Document>| -> Vec<Document> {
            docs.into_iter().map(|mut d| { d.remove("_id"); d }).collect()
        };
        let expect = |f: &Document, docs: &[Document]| -> Vec<Document> {
            let f = Filter::parse(f).unwrap();
            docs.iter().filter(|d| f.matches(d)).cloned().collect()
        };
        let inserted = strip(inserted);
        prop_assert_eq!(sorted_keys(&strip(all(&storage, doc! {}))), sorted_keys(&inserted));
        for bucket in buckets(&storage, &options) {
            prop_assert!(!bucket.rows.is_empty() && bucket.rows.len() <= MAX_MEASUREMENTS);
            for row in &bucket.rows {
                let t = row.get_datetime("t").unwrap().timestamp_millis();
                prop_assert!(t >= bucket.start && t - bucket.start < options.span_millis());
            }
        }
        for f in &filters {
            let _ = bucket_filter(f, &options);
            prop_assert_eq!(
                sorted_keys(&strip(all(&storage, f.clone()))),
                sorted_keys(&expect(f, &inserted))
            );
        }
        let f = &filters[0];
        let deleted = storage.timeseries_delete("db", "ts", f, false).unwrap();
        let matched = expect(f, &inserted);
        prop_assert_eq!(deleted, matched.len() as u64);
        let rest: Vec<Document> = inserted.iter().filter(|d| !matched.contains(d)).cloned().collect();
        prop_assert_eq!(sorted_keys(&strip(all(&storage, doc! {}))), sorted_keys(&rest));
    }
}
