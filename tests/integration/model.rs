//! Model-based test: a long pseudo-random sequence of writes and reads, applied to the server
//! (through the driver) and to a `BTreeMap` model, with clean restarts in the sequence; every
//! read must agree with the model.

use std::collections::BTreeMap;

use bson::{doc, Document};
use mongodb::Collection;
use outpost_tests::{command_error, find_all, TestServer};

/// A small deterministic pseudo-random generator (xorshift64), so a failure replays exactly.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const KEYS: u64 = 40;
const STEPS: usize = 600;
const RESTART_EVERY: usize = 200;

async fn check_all(
    coll: &Collection<Document>,
    model: &BTreeMap<i32, Document>,
    seed: u64,
    step: usize,
) {
    let db = coll.client().database(&coll.namespace().db);
    let found = find_all(&db, coll.name(), doc! {"sort": {"_id": 1}}).await;
    let expected: Vec<Document> = model.values().cloned().collect();
    assert_eq!(
        found, expected,
        "seed {seed} step {step}: the collection differs from the model"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_operations_agree_with_a_model_across_restarts() {
    for seed in [1_u64, 0x5EED, 0xDEAD_BEEF, 42] {
        run_sequence(seed).await;
    }
}

async fn run_sequence(seed: u64) {
    let mut server = TestServer::start_persistent().await;
    // A secondary index the writes must keep current (checked by hinted reads below).
    server
        .db("model")
        .collection::<Document>("c")
        .create_index(mongodb::IndexModel::builder().keys(doc! {"v": 1}).build())
        .await
        .expect("create_index");
    let mut model: BTreeMap<i32, Document> = BTreeMap::new();
    let mut random = Random(seed);
    for step in 0..STEPS {
        if step > 0 && step % RESTART_EVERY == 0 {
            server = server.restart().await;
            let coll = server.db("model").collection::<Document>("c");
            check_all(&coll, &model, seed, step).await;
        }
        let coll = server.db("model").collection::<Document>("c");
        let id = i32::try_from(random.below(KEYS)).expect("small");
        let value = i32::try_from(random.below(1000)).expect("small");
        match random.below(8) {
            0 | 1 => {
                let document = doc! {"_id": id, "v": value, "n": 0};
                let result = coll.insert_one(document.clone()).await;
                match model.entry(id) {
                    std::collections::btree_map::Entry::Occupied(_) => {
                        let error = command_error(result);
                        assert_eq!(error.code, 11000, "seed {seed} step {step}: {error:?}");
                    }
                    std::collections::btree_map::Entry::Vacant(slot) => {
                        result.unwrap_or_else(|e| {
                            panic!("seed {seed} step {step}: insert failed: {e}")
                        });
                        slot.insert(document);
                    }
                }
            }
            2 => {
                let result = coll
                    .update_one(doc! {"_id": id}, doc! {"$set": {"v": value}})
                    .await
                    .expect("update");
                let exists = model.contains_key(&id);
                assert_eq!(
                    result.matched_count,
                    u64::from(exists),
                    "seed {seed} step {step}"
                );
                if let Some(d) = model.get_mut(&id) {
                    d.insert("v", value);
                }
            }
            3 => {
                let result = coll
                    .update_one(doc! {"_id": id}, doc! {"$inc": {"n": 1}})
                    .upsert(true)
                    .await
                    .expect("upsert");
                match model.get_mut(&id) {
                    Some(d) => {
                        assert_eq!(result.modified_count, 1, "seed {seed} step {step}");
                        let n = d.get_i32("n").unwrap_or(0);
                        d.insert("n", n + 1);
                    }
                    None => {
                        assert_eq!(
                            result.upserted_id,
                            Some(bson::Bson::Int32(id)),
                            "seed {seed} step {step}"
                        );
                        model.insert(id, doc! {"_id": id, "n": 1});
                    }
                }
            }
            4 => {
                let replacement = doc! {"r": value};
                let result = coll
                    .replace_one(doc! {"_id": id}, replacement)
                    .await
                    .expect("replace");
                assert_eq!(
                    result.matched_count,
                    u64::from(model.contains_key(&id)),
                    "seed {seed} step {step}"
                );
                if model.contains_key(&id) {
                    model.insert(id, doc! {"_id": id, "r": value});
                }
            }
            5 => {
                let result = coll.delete_one(doc! {"_id": id}).await.expect("delete");
                let existed = model.remove(&id).is_some();
                assert_eq!(
                    result.deleted_count,
                    u64::from(existed),
                    "seed {seed} step {step}"
                );
            }
            6 => {
                let found = coll.find_one(doc! {"_id": id}).await.expect("find");
                assert_eq!(
                    found.as_ref(),
                    model.get(&id),
                    "seed {seed} step {step}: _id {id}"
                );
            }
            _ if id % 2 == 1 => {
                // A read through the secondary index, against the model.
                let found = find_all(
                    &server.db("model"),
                    "c",
                    doc! {"filter": {"v": {"$gte": value}}, "sort": {"_id": 1}, "hint": "v_1"},
                )
                .await;
                let expected: Vec<Document> = model
                    .values()
                    .filter(|d| d.get_i32("v").is_ok_and(|v| v >= value))
                    .cloned()
                    .collect();
                assert_eq!(found, expected, "seed {seed} step {step}: v >= {value}");
            }
            _ => {
                // A range read with a filter, against the model.
                let low = id;
                let found = find_all(
                    &server.db("model"),
                    "c",
                    doc! {"filter": {"_id": {"$gte": low}}, "sort": {"_id": -1}},
                )
                .await;
                let expected: Vec<Document> =
                    model.range(low..).rev().map(|(_, d)| d.clone()).collect();
                assert_eq!(found, expected, "seed {seed} step {step}: _id >= {low}");
            }
        }
    }
    let coll = server.db("model").collection::<Document>("c");
    check_all(&coll, &model, seed, STEPS).await;
    server.shutdown().await;
}
