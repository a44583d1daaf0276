//! Ingest collections (`{"$ingest": true}`) against an in-process hub: inserts upload once,
//! nothing else does, the hub never sends them back, and retention drops only acknowledged
//! copies.

use std::time::Duration;

use bson::DateTime;

use super::*;
use crate::protocol::messages;
use crate::protocol::{Change, Op};

fn ingest_edge(f: &Fixture) -> (Storage, EdgeSync) {
    let (edge, engine, _) = f.edge(
        ServiceType::EdgeServer,
        doc! {"plant.readings": {"$ingest": true}, "shop.items": {}},
        None,
    );
    (edge, engine)
}

#[test]
fn inserts_reach_the_hub_and_the_rest_stays_local() {
    let f = Fixture::new();
    let (edge, mut engine) = ingest_edge(&f);
    let mut link = InProcessLink::new(&f.hub);
    let (a, b) = (ObjectId::new(), ObjectId::new());
    insert(&edge, "plant.readings", doc! {"_id": a, "t": 1});
    insert(&edge, "plant.readings", doc! {"_id": b, "t": 2});
    insert(&edge, "plant.readings", doc! {"_id": "bad-id", "t": 3});
    engine.sync_once(&mut link).unwrap();
    assert_eq!(
        all(&f.hub_storage, "plant.readings"),
        vec![doc! {"_id": a, "t": 1}, doc! {"_id": b, "t": 2}]
    );
    // No versions: the hub keeps no merge state for ingested documents.
    update(
        &edge,
        "plant.readings",
        doc! {"_id": a},
        doc! {"$set": {"t": 10}},
    );
    delete(&edge, "plant.readings", doc! {"_id": b});
    engine.sync_once(&mut link).unwrap();
    assert_eq!(
        all(&f.hub_storage, "plant.readings"),
        vec![doc! {"_id": a, "t": 1}, doc! {"_id": b, "t": 2}]
    );
    assert_eq!(
        all(&edge, "plant.readings"),
        vec![doc! {"_id": "bad-id", "t": 3}, doc! {"_id": a, "t": 10}]
    );
    let status = engine.status().lock().unwrap().clone();
    assert_eq!(status.skipped.get(INGEST_LOCAL_ONLY), Some(&2));
    assert_eq!(status.skipped.get("invalid_id_type"), Some(&1));
    assert_eq!(status.uploaded, 2);
}

#[test]
fn hub_writes_to_an_ingest_collection_never_reach_the_edge() {
    let f = Fixture::new();
    let early = ObjectId::new();
    insert(&f.hub_storage, "plant.readings", doc! {"_id": early});
    let (edge, mut engine) = ingest_edge(&f);
    let mut link = InProcessLink::new(&f.hub);
    // Neither the first snapshot nor later downloads bring hub-side documents.
    engine.sync_once(&mut link).unwrap();
    let item = ObjectId::new();
    insert(
        &f.hub_storage,
        "plant.readings",
        doc! {"_id": ObjectId::new()},
    );
    insert(&f.hub_storage, "shop.items", doc! {"_id": item});
    engine.sync_once(&mut link).unwrap();
    assert!(all(&edge, "plant.readings").is_empty());
    assert_eq!(ids(&all(&edge, "shop.items")), vec![Bson::ObjectId(item)]);
    // A local insert uploads without the hub's documents coming back with it.
    let mine = ObjectId::new();
    insert(&edge, "plant.readings", doc! {"_id": mine});
    engine.sync_once(&mut link).unwrap();
    assert_eq!(
        ids(&all(&edge, "plant.readings")),
        vec![Bson::ObjectId(mine)]
    );
    assert_eq!(all(&f.hub_storage, "plant.readings").len(), 3);
}

#[test]
fn a_lost_ack_sends_the_inserts_again_and_the_hub_keeps_one_copy() {
    let f = Fixture::new();
    let (edge, mut engine) = ingest_edge(&f);
    let mut link = InProcessLink::new(&f.hub);
    for t in 0..5 {
        insert(
            &edge,
            "plant.readings",
            doc! {"_id": ObjectId::new(), "t": t},
        );
    }
    link.fail_after_upload = true;
    assert!(engine.sync_once(&mut link).is_err());
    engine.sync_once(&mut link).unwrap();
    assert_eq!(
        all(&f.hub_storage, "plant.readings"),
        all(&edge, "plant.readings")
    );
    assert_eq!(link.uploads.get(), 2);
}

#[test]
fn the_hub_refuses_anything_but_inserts_in_an_ingest_collection() {
    let f = Fixture::new();
    let mut session = SyncSession::default();
    let created = f
        .hub
        .create_edge(
            "edge",
            ServiceType::EdgeServer,
            Some(&doc! {"plant.readings": {"$ingest": true}}),
            "shop",
        )
        .unwrap();
    let key = created.get_str("registration_key").unwrap();
    f.hub
        .handle(
            &mut session,
            &messages::request(&messages::Hello {
                registration_key: Some(key.to_string()),
                ..messages::Hello::default()
            }),
        )
        .unwrap();
    let id = ObjectId::new();
    insert(&f.hub_storage, "plant.readings", doc! {"_id": id, "t": 1});
    let change = |seq, op| Change {
        seq,
        ns: "plant.readings".into(),
        id: Bson::ObjectId(id),
        hlc: 1 << 20,
        origin: String::new(),
        op,
    };
    let changes = vec![
        change(1, Op::Delete),
        change(2, Op::Replace(doc! {"_id": id, "t": 2})),
        // The hub holds this `_id` already: ignored, not replaced.
        change(3, Op::Insert(doc! {"_id": id, "t": 3})),
    ];
    let reply = f
        .hub
        .handle(
            &mut session,
            &messages::request(&messages::Upload {
                from_seq: 0,
                last_seq: 3,
                changes,
                ..messages::Upload::default()
            }),
        )
        .unwrap();
    let reply: messages::UploadReply = messages::parse(&reply, "upload reply").unwrap();
    assert_eq!((reply.ack_seq, reply.applied, reply.ignored), (3, 0, 3));
    let reasons: Vec<&str> = reply.refused.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("ingest collection") && reasons[0].ends_with("not a delete"));
    assert!(reasons[1].ends_with("not a replace"), "{reasons:?}");
    assert!(reply.superseded.is_empty());
    assert_eq!(
        all(&f.hub_storage, "plant.readings"),
        vec![doc! {"_id": id, "t": 1}]
    );
}

#[test]
fn retention_drops_only_acknowledged_copies_older_than_it() {
    let f = Fixture::new();
    let (edge, mut engine) = ingest_edge(&f);
    let mut link = InProcessLink::new(&f.hub);
    let (a, b) = (ObjectId::new(), ObjectId::new());
    insert(&edge, "plant.readings", doc! {"_id": a});
    engine.sync_once(&mut link).unwrap();
    // Not yet uploaded: never dropped, whatever the retention.
    insert(&edge, "plant.readings", doc! {"_id": b});
    let hour = Duration::from_secs(3600);
    // Within the retention: kept.
    assert_eq!(
        engine.drop_expired_ingested(hour, DateTime::now()).unwrap(),
        0
    );
    assert_eq!(all(&edge, "plant.readings").len(), 2);
    // Past it: the acknowledged copy goes, the pending one stays.
    let later = DateTime::from_millis(DateTime::now().timestamp_millis() + 2 * 3_600_000);
    assert_eq!(engine.drop_expired_ingested(hour, later).unwrap(), 1);
    assert_eq!(ids(&all(&edge, "plant.readings")), vec![Bson::ObjectId(b)]);
    // The drop is local: the hub keeps its copy, and b still uploads.
    engine.sync_once(&mut link).unwrap();
    assert_eq!(
        ids(&all(&f.hub_storage, "plant.readings")),
        vec![Bson::ObjectId(a), Bson::ObjectId(b)]
    );
    let status = engine.status().lock().unwrap().clone();
    assert_eq!(status.skipped.get(INGEST_LOCAL_ONLY), None);
    assert_eq!(status.ingest_dropped, 1);
    // Retention 0 drops b as soon as it is acknowledged; a second pass has nothing left.
    assert_eq!(
        engine
            .drop_expired_ingested(Duration::ZERO, DateTime::now())
            .unwrap(),
        1
    );
    assert!(all(&edge, "plant.readings").is_empty());
    assert_eq!(
        engine
            .drop_expired_ingested(Duration::ZERO, DateTime::now())
            .unwrap(),
        0
    );
}

#[test]
fn retention_passes_are_bounded() {
    let f = Fixture::new();
    let (edge, mut engine) = ingest_edge(&f);
    let mut link = InProcessLink::new(&f.hub);
    let total = RETENTION_PASS_LIMIT + 10;
    for t in 0..total {
        insert(
            &edge,
            "plant.readings",
            doc! {"_id": ObjectId::new(), "t": t as i64},
        );
    }
    engine.upload_all(&mut link).unwrap();
    assert_eq!(all(&f.hub_storage, "plant.readings").len(), total);
    let pass = |engine: &mut EdgeSync| {
        engine
            .drop_expired_ingested(Duration::ZERO, DateTime::now())
            .unwrap()
    };
    assert_eq!(pass(&mut engine), RETENTION_PASS_LIMIT as u64);
    assert_eq!(pass(&mut engine), 10);
    assert!(all(&edge, "plant.readings").is_empty());
}

#[test]
fn a_query_change_leaves_ingested_documents_alone() {
    let f = Fixture::new();
    let (edge, mut engine, id) = f.edge(
        ServiceType::EdgeServer,
        doc! {"plant.readings": {"$ingest": true}},
        None,
    );
    let mut link = InProcessLink::new(&f.hub);
    let a = ObjectId::new();
    insert(&edge, "plant.readings", doc! {"_id": a});
    engine.sync_once(&mut link).unwrap();
    insert(
        &f.hub_storage,
        "plant.readings",
        doc! {"_id": ObjectId::new()},
    );
    f.hub
        .set_edge_query(
            &id,
            &doc! {"plant.readings": {"$ingest": true}, "shop.items": {}},
        )
        .unwrap();
    engine.sync_once(&mut link).unwrap();
    assert_eq!(ids(&all(&edge, "plant.readings")), vec![Bson::ObjectId(a)]);
}

fn readings(sensors: i32, per_sensor: i64, from_ms: i64) -> Vec<Document> {
    let mut docs = Vec::new();
    for t in 0..per_sensor {
        for sensor in 0..sensors {
            docs.push(doc! {
                "ts": DateTime::from_millis(from_ms + t * 1000),
                "sensor": sensor,
                "value": (t as f64) * 0.5 + f64::from(sensor),
            });
        }
    }
    docs
}

fn measurements(storage: &Storage) -> u64 {
    storage
        .timeseries_stats("plant", "sensors")
        .unwrap()
        .measurement_count
}

#[test]
fn time_series_buckets_reach_the_hub_one_way() {
    let f = Fixture::new();
    // Synced by the catch-all; the filter does not apply to time-series buckets.
    let (edge, mut engine, _) = f.edge(ServiceType::EdgeServer, doc! {"*": "kind == 'x'"}, None);
    let mut link = InProcessLink::new(&f.hub);
    let options = outpost_storage::TimeseriesOptions::parse(
        &doc! {"timeField": "ts", "metaField": "sensor", "granularity": "seconds"},
    )
    .unwrap();
    edge.create_timeseries("plant", "sensors", &options, Some(86_400))
        .unwrap();
    let start = 1_764_633_600_000; // 2025-12-02T00:00:00Z
                                   // Two inserts into the same open buckets: each bucket goes once per batch, as it is last.
    edge.timeseries_insert("plant", "sensors", readings(3, 10, start), true)
        .unwrap();
    edge.timeseries_insert("plant", "sensors", readings(3, 10, start + 10_000), true)
        .unwrap();
    engine.sync_once(&mut link).unwrap();
    assert_eq!(link.uploads.get(), 1);
    assert_eq!(
        f.hub_storage
            .timeseries_options("plant", "sensors")
            .unwrap(),
        Some(options.clone())
    );
    assert_eq!(measurements(&f.hub_storage), 60);
    let buckets = "plant.system.buckets.sensors";
    assert_eq!(all(&f.hub_storage, buckets), all(&edge, buckets));
    assert_eq!(engine.status().lock().unwrap().uploaded, 3);
    // The bucket grows in a later batch: the hub takes the bigger one.
    edge.timeseries_insert("plant", "sensors", readings(3, 5, start + 20_000), true)
        .unwrap();
    engine.sync_once(&mut link).unwrap();
    assert_eq!(measurements(&f.hub_storage), 75);
    assert_eq!(all(&f.hub_storage, buckets), all(&edge, buckets));
    // Deletes at the edge stay local, whole buckets or measurements.
    assert_eq!(
        edge.timeseries_delete("plant", "sensors", &doc! {"sensor": 0}, false)
            .unwrap(),
        25
    );
    engine.sync_once(&mut link).unwrap();
    assert_eq!(measurements(&edge), 50);
    assert_eq!(measurements(&f.hub_storage), 75);
    // Nothing of the collection comes back down, and hub-side measurements stay there.
    f.hub_storage
        .timeseries_insert("plant", "sensors", readings(1, 1, start), true)
        .unwrap();
    engine.sync_once(&mut link).unwrap();
    assert_eq!(measurements(&edge), 50);
    assert_eq!(measurements(&f.hub_storage), 76);
}

#[test]
fn buckets_of_a_collection_the_hub_holds_otherwise_are_refused() {
    let f = Fixture::new();
    insert(
        &f.hub_storage,
        "plant.sensors",
        doc! {"_id": ObjectId::new()},
    );
    let (edge, mut engine, _) = f.edge(ServiceType::EdgeServer, doc! {"plant.sensors": {}}, None);
    let mut link = InProcessLink::new(&f.hub);
    let options = outpost_storage::TimeseriesOptions::parse(&doc! {"timeField": "ts"}).unwrap();
    engine.sync_once(&mut link).unwrap();
    edge.drop_collection("plant", "sensors").unwrap();
    edge.create_timeseries("plant", "sensors", &options, None)
        .unwrap();
    edge.timeseries_insert("plant", "sensors", readings(1, 3, 0), true)
        .unwrap();
    engine.sync_once(&mut link).unwrap();
    let status = engine.status().lock().unwrap().clone();
    assert_eq!(status.skipped.get("refused_by_hub"), Some(&1));
    // Refused, not undone: the edge keeps its measurements.
    assert_eq!(measurements(&edge), 3);
    assert_eq!(
        f.hub_storage
            .timeseries_options("plant", "sensors")
            .unwrap(),
        None
    );
}

use super::super::{INGEST_LOCAL_ONLY, RETENTION_PASS_LIMIT};
