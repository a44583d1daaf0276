//! Aggregation pipelines (`{p: [stages]}`) run over the sample documents in a temporary
//! database, after a `$documents` stage, under a memory limit and a deadline, as the
//! `aggregate` command runs them.
use std::time::{Duration, Instant};

use bson::Bson;
use outpost_storage::agg::{AggOptions, Pipeline};
use outpost_storage::Storage;

fn main() {
    // A panic aborts the process (AFL++ counts it); nothing is observed after one.
    let storage = std::panic::AssertUnwindSafe(Storage::temporary().expect("a temporary database"));
    let samples: Vec<Bson> = outpost_fuzz::sample_documents()
        .into_iter()
        .map(Bson::Document)
        .collect();
    afl::fuzz!(|data: &[u8]| {
        let Some(input) = outpost_fuzz::document(data) else {
            return;
        };
        let Ok(stages) = input.get_array("p") else {
            return;
        };
        let mut pipeline = vec![bson::doc! {"$documents": samples.clone()}];
        pipeline.extend(stages.iter().filter_map(|s| s.as_document().cloned()));
        let Ok(pipeline) = Pipeline::parse(&pipeline) else {
            return;
        };
        let options = AggOptions {
            db: "fuzz".into(),
            database_level: true,
            deadline: Some(Instant::now() + Duration::from_secs(2)),
            ..AggOptions::default()
        };
        let _ = storage.aggregate(None, &pipeline, &options);
    });
}
