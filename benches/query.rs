//! Query benchmark on the storage engine directly (no network): on 100,000 documents, a find
//! on an indexed field against the same find without the index, `$group`, and a sort.
//!
//! Run: `cargo run --release -p outpost-benches --bin outpost-query-bench [-- --docs N]`

use std::time::{Duration, Instant};

use bson::{doc, Document};
use outpost_storage::agg::{AggOptions, Pipeline};
use outpost_storage::{FindOptions, Storage, WriteOptions};

fn docs_arg() -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--docs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000)
}

/// Runs `f` repeatedly for at least `budget` (and at least 3 times); returns the mean time.
fn time<F: FnMut()>(budget: Duration, mut f: F) -> Duration {
    let started = Instant::now();
    let mut runs = 0u32;
    while runs < 3 || started.elapsed() < budget {
        f();
        runs += 1;
    }
    started.elapsed() / runs
}

fn find_count(s: &Storage, coll: &str, options: &FindOptions) -> usize {
    let mut n = 0;
    for doc in s.find("bench", coll, options).expect("find") {
        doc.expect("document");
        n += 1;
    }
    n
}

fn main() {
    let n = docs_arg();
    let storage = Storage::temporary().expect("temporary store");
    let write = WriteOptions::default();
    let load_started = Instant::now();
    for i in 0..n {
        let i = i64::try_from(i).expect("document number");
        let doc: Document = doc! {
            "_id": i,
            "group": i % 1000,
            "value": (i * 7919) % 100_003,
            "name": format!("user-{:08}", (i * 104_729) % 1_000_003),
        };
        for coll in ["plain", "indexed"] {
            storage
                .insert("bench", coll, doc.clone(), &write)
                .expect("insert");
        }
    }
    let load = load_started.elapsed();
    storage
        .create_indexes(
            "bench",
            "indexed",
            &[doc! {"key": {"value": 1}, "name": "value_1"}],
        )
        .expect("index");

    let budget = Duration::from_secs(2);
    let lookup = FindOptions {
        filter: doc! {"value": 4242},
        ..FindOptions::default()
    };
    let scan = time(budget, || {
        assert!(find_count(&storage, "plain", &lookup) <= 1)
    });
    let indexed = time(budget, || {
        assert!(find_count(&storage, "indexed", &lookup) <= 1)
    });
    let range = FindOptions {
        filter: doc! {"value": {"$gte": 1000, "$lt": 1100}},
        ..FindOptions::default()
    };
    let range_scan = time(budget, || {
        find_count(&storage, "plain", &range);
    });
    let range_indexed = time(budget, || {
        find_count(&storage, "indexed", &range);
    });

    let group = Pipeline::parse(&[
        doc! {"$group": {"_id": "$group", "n": {"$sum": 1}, "avg": {"$avg": "$value"}}},
    ])
    .expect("pipeline");
    let options = AggOptions {
        db: "bench".into(),
        ..AggOptions::default()
    };
    let grouped = time(budget, || {
        let out = storage
            .aggregate(Some("plain"), &group, &options)
            .expect("aggregate");
        assert_eq!(out.len(), n.min(1000));
    });

    let sort = FindOptions {
        sort: Some(doc! {"name": 1}),
        ..FindOptions::default()
    };
    let sorted = time(budget, || {
        assert_eq!(find_count(&storage, "plain", &sort), n)
    });
    let top = FindOptions {
        sort: Some(doc! {"name": 1}),
        limit: 10,
        ..FindOptions::default()
    };
    let sorted_top = time(budget, || {
        assert_eq!(find_count(&storage, "plain", &top), n.min(10))
    });

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "documents: {n} (loaded twice in {:.1} s, {:.0} inserts/s)",
        load.as_secs_f64(),
        (2 * n) as f64 / load.as_secs_f64()
    );
    println!("| operation | mean time |");
    println!("|---|---|");
    println!(
        "| find {{value: 4242}}, no index (COLLSCAN) | {:.3} ms |",
        ms(scan)
    );
    println!(
        "| find {{value: 4242}}, index value_1 (IXSCAN) | {:.3} ms |",
        ms(indexed)
    );
    println!(
        "| speed-up of the index | {:.0}x |",
        scan.as_secs_f64() / indexed.as_secs_f64()
    );
    println!(
        "| find 100-value range, no index | {:.3} ms |",
        ms(range_scan)
    );
    println!(
        "| find 100-value range, index | {:.3} ms |",
        ms(range_indexed)
    );
    println!(
        "| $group by 1,000 keys with $sum and $avg | {:.1} ms |",
        ms(grouped)
    );
    println!(
        "| sort all by a string field (no index) | {:.1} ms |",
        ms(sorted)
    );
    println!(
        "| sort by a string field, limit 10 | {:.1} ms |",
        ms(sorted_top)
    );
}
