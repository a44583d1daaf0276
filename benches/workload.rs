//! What the two load generators (`outpost-load` through the driver, `outpost-wire-load` on
//! the wire) send, so their numbers describe the same work: the documents, the seeded ids
//! and how reads pick among them, and the client counts.

use bson::{doc, Document};

/// Documents seeded for the find-by-_id and updateOne scenarios.
pub const SEEDED: u64 = 10_000;
/// Client counts every scenario runs with.
pub const CONCURRENCY: [u64; 2] = [1, 16];

/// The small document operation `i` of client `task` inserts (about 90 bytes).
pub fn small_document(task: u64, i: u64) -> Document {
    doc! {"_id": format!("{task}-{i}"), "task": task as i64, "i": i as i64, "name": "a small document", "tags": ["x", "y"]}
}

/// Seeded document `i`.
pub fn seed_document(i: u64) -> Document {
    doc! {"_id": seed_id(i), "n": i as i64}
}

fn seed_id(i: u64) -> String {
    format!("seed-{i}")
}

/// The `_id` of one of `seeded` seeded documents, chosen pseudo-randomly from `state`.
pub fn random_seed_id(state: &mut u64, seeded: u64) -> String {
    seed_id(next_random(state) % seeded)
}

/// A cheap pseudo-random sequence (xorshift), enough to spread reads over the seeded ids.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
