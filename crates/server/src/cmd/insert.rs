//! `insert`: inserts documents, ordered (stop at the first error) or not, reporting each
//! failed document in `writeErrors`.

use bson::{doc, Bson, Document};

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "insert",
    aliases: &[],
    help: "inserts documents: { insert: <coll>, documents: [...], ordered: true }",
    admin_only: false,
    action: Action::Write,
    counter: Counter::None,
    run,
};

/// Checks the size of a write batch as MongoDB does.
pub fn check_batch_size(n: usize) -> Result<()> {
    let max = usize::try_from(super::hello::MAX_WRITE_BATCH_SIZE).unwrap_or(100_000);
    if n == 0 || n > max {
        return Err(Error::new(
            16,
            format!("Write batch sizes must be between 1 and {max}. Got {n} operations."),
        ));
    }
    Ok(())
}

fn run(state: &State, req: &Request) -> Result<Document> {
    let coll = args::collection_name(req.body, "insert")?;
    let docs = args::req_documents(req.body, "insert", "documents")?;
    check_batch_size(docs.len())?;
    let ordered = args::bool_or(req.body, "insert", "ordered", true)?;
    outpost_storage::validate_collection_name(req.db, &coll)?;
    let options = args::write_options(req.body, "insert")?;
    let total = docs.len();
    let result = req
        .storage
        .insert_many(req.db, &coll, docs, ordered, &options);
    // Not run yet: the command runs again where it may wait (see `cmd::Reply::WriterBusy`).
    if let Err(outpost_storage::Error::WriterBusy) = result {
        return Err(outpost_storage::Error::WriterBusy.into());
    }
    // opcounters.insert counts documents, as mongod's does.
    Metrics::add(&state.metrics.op_insert, total as u64);
    let failures = result?;
    // Ordered inserts stop at the first failure; unordered ones try every document.
    let inserted = match failures.first() {
        Some((position, _)) if ordered => *position,
        _ => total - failures.len(),
    };
    let n = inserted as u64;
    let write_errors: Vec<Bson> = failures
        .into_iter()
        .map(|(index, e)| Bson::Document(Error::from(e).to_write_error(index)))
        .collect();
    super::flush_if_requested(state, req.body)?;
    let mut reply = doc! {"n": super::count_i32(n)};
    if !write_errors.is_empty() {
        reply.insert("writeErrors", write_errors);
    }
    Ok(reply)
}
