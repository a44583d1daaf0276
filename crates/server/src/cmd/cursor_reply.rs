//! The `{cursor: {firstBatch, id, ns}}` reply shared by find, aggregate, listCollections and
//! listIndexes: the first batch now, the rest kept for `getMore`.

use std::time::Instant;

use bson::{doc, Bson, Document};

use crate::args;
use crate::cursor::{next_batch, Cursor, DocIter};
use crate::error::{Error, Result};
use crate::state::State;

/// Batch options read from a command.
pub struct BatchOptions {
    pub batch_size: Option<usize>,
    pub single_batch: bool,
    pub no_timeout: bool,
    pub deadline: Option<Instant>,
}

impl BatchOptions {
    /// Reads `cursor.batchSize` (aggregate, listCollections, listIndexes).
    pub fn from_cursor_field(body: &Document, command: &str) -> Result<BatchOptions> {
        let batch_size = match args::opt_doc(body, command, "cursor")? {
            Some(cursor) => batch_size(cursor, "cursor", "batchSize")?,
            None => None,
        };
        Ok(BatchOptions {
            batch_size,
            single_batch: false,
            no_timeout: false,
            deadline: args::deadline(body, command)?,
        })
    }
}

/// A non-negative `batchSize`.
pub fn batch_size(body: &Document, command: &str, field: &str) -> Result<Option<usize>> {
    match args::opt_i64(body, command, field)? {
        None => Ok(None),
        Some(n) if n < 0 => Err(Error::new(
            51024,
            format!("BSON field '{field}' value must be >= 0, actual value '{n}'"),
        )),
        Some(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
    }
}

/// Takes the first batch of `docs` and registers a cursor for the rest if any remain.
pub fn first_batch(
    state: &State,
    conn: &crate::state::ConnInfo,
    ns: String,
    docs: DocIter,
    options: &BatchOptions,
) -> Result<Document> {
    let mut docs = docs.peekable();
    let (batch, exhausted) = next_batch(&mut docs, options.batch_size, options.deadline)?;
    let id = if exhausted || options.single_batch {
        0
    } else {
        state.cursors.open(Cursor {
            ns: ns.clone(),
            docs,
            last_used: Instant::now(),
            no_timeout: options.no_timeout,
            stream: None,
            owner: crate::auth::lock(conn).users.clone(),
            tail: None,
        })
    };
    Ok(doc! {
        "cursor": {
            "firstBatch": Bson::Array(batch.into_iter().map(Bson::Document).collect()),
            "id": id,
            "ns": ns,
        }
    })
}
