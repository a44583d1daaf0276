//! `outpost-sled-baseline`: raw sled writing, per document, the same keys and about the same
//! bytes Outpost's storage engine writes for an insert into a collection without secondary
//! indexes: the document in the collection's documents tree (keyed by the order-preserving
//! encoding of `_id`) and a history entry (keyed by a big-endian sequence number, holding the
//! namespace, operation, `_id`, clock and the document), both trees in one sled transaction
//! per batch of 1,000 documents, as `insertMany` commits them. Nothing else: no BSON decoding
//! of a request, no checks, no network. This is the ceiling `insertMany` is measured against.
//!
//! ```text
//! cargo run --release -p outpost-benches --bin outpost-sled-baseline -- --docs 200000
//! ```
//!
//! Options: `--docs <n>` (default 200,000), `--batch <n>` (default 1,000), `--cache-size-mb
//! <n>` (sled's page cache; default: what Outpost's storage uses by default).

use std::time::Instant;

use bson::{doc, Bson, Document};
use sled::Transactional;

/// The same small document the load generator's insertMany scenario writes.
fn small_document(task: u64, i: u64) -> Document {
    doc! {"_id": format!("{task}-{i}"), "task": task as i64, "i": i as i64, "name": "a small document", "tags": ["x", "y"]}
}

struct Options {
    docs: u64,
    batch: u64,
    cache_size_mb: u64,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        docs: 200_000,
        batch: 1_000,
        cache_size_mb: outpost_storage::StorageOptions::default().cache_size_mb,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            args.next()
                .ok_or_else(|| format!("{name} needs a value"))?
                .parse()
                .map_err(|e| format!("{name}: {e}"))
        };
        match arg.as_str() {
            "--docs" => options.docs = number("--docs")?,
            "--batch" => options.batch = number("--batch")?.max(1),
            "--cache-size-mb" => options.cache_size_mb = number("--cache-size-mb")?,
            other => {
                return Err(format!(
                    "unknown argument {other:?} (usage: outpost-sled-baseline [--docs <n>] \
                     [--batch <n>] [--cache-size-mb <n>])"
                ))
            }
        }
    }
    Ok(options)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_options()?;
    let dir = tempfile::tempdir()?;
    // As `Storage::open` configures sled.
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(options.cache_size_mb * 1024 * 1024)
        .flush_every_ms(Some(100))
        .open()?;
    let docs = db.open_tree("docs/1")?;
    let history = db.open_tree("history")?;
    let mut seq: u64 = 1;
    let start = Instant::now();
    let mut written = 0;
    while written < options.docs {
        let end = (written + options.batch).min(options.docs);
        let mut doc_batch = sled::Batch::default();
        let mut history_batch = sled::Batch::default();
        for i in written..end {
            let doc = small_document(1, i);
            let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
            doc_batch.insert(
                outpost_storage::value::keyenc::encode(&id),
                bson::to_vec(&doc)?,
            );
            let entry = doc! {"ns": "outpost_load.writes", "op": "insert", "id": id, "hlc": seq as i64, "doc": doc};
            history_batch.insert(&seq.to_be_bytes(), bson::to_vec(&entry)?);
            seq += 1;
        }
        (&docs, &history)
            .transaction(|(d, h)| {
                d.apply_batch(&doc_batch)?;
                h.apply_batch(&history_batch)?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| format!("transaction: {e:?}"))?;
        written = end;
    }
    let elapsed = start.elapsed();
    println!(
        "raw sled, documents + history trees, batches of {}: {} docs in {:.2} s = {:.0} docs/s (cache {} MB)",
        options.batch,
        written,
        elapsed.as_secs_f64(),
        written as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        options.cache_size_mb
    );
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(rss) = status.lines().find(|l| l.starts_with("VmRSS:")) {
            println!("{rss}");
        }
    }
    Ok(())
}
