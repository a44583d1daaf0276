//! Open cursors: the rest of a result set between `find`/`aggregate` and `getMore`.

use std::collections::HashMap;
use std::iter::Peekable;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::Document;

use crate::error::{Error, Result};

/// The documents still to return.
pub type DocIter = Box<dyn Iterator<Item = outpost_storage::Result<Document>> + Send>;

/// A batch may hold at most this many bytes of documents (MongoDB's 16 MiB reply budget).
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

pub struct Cursor {
    /// `db.collection`, checked by `getMore`.
    pub ns: String,
    pub docs: Peekable<DocIter>,
    pub last_used: Instant,
    pub no_timeout: bool,
    /// A change stream's state (its `docs` are empty: `getMore` reads the history log).
    pub stream: Option<Box<crate::change_stream::ChangeStream>>,
    /// The users the opening connection was authenticated as: with `--auth`, only a
    /// connection authenticated as them may continue or kill the cursor, as in mongod.
    pub owner: Vec<crate::auth::Principal>,
    /// A tailable cursor's query and position (its `docs` are then empty).
    pub tail: Option<crate::tail::Tail>,
}

/// The documents of a cursor that has none of its own (a change stream's).
pub fn no_documents() -> Peekable<DocIter> {
    let empty: DocIter = Box::new(std::iter::empty());
    empty.peekable()
}

/// Every open cursor of the server, by id.
#[derive(Default)]
pub struct CursorRegistry {
    cursors: Mutex<HashMap<i64, Arc<Mutex<Cursor>>>>,
}

impl CursorRegistry {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<Mutex<Cursor>>>> {
        self.cursors.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a cursor and returns its new id (positive, never 0).
    pub fn open(&self, cursor: Cursor) -> i64 {
        let mut map = self.map();
        loop {
            let id = i64::from_le_bytes(random_bytes()) & i64::MAX;
            if id != 0 && !map.contains_key(&id) {
                map.insert(id, Arc::new(Mutex::new(cursor)));
                return id;
            }
        }
    }

    pub fn get(&self, id: i64) -> Option<Arc<Mutex<Cursor>>> {
        self.map().get(&id).cloned()
    }

    pub fn remove(&self, id: i64) -> bool {
        self.map().remove(&id).is_some()
    }

    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Closes cursors idle for longer than `timeout`; returns how many.
    pub fn expire(&self, timeout: Duration) -> usize {
        let now = Instant::now();
        let mut map = self.map();
        let before = map.len();
        map.retain(|_, cursor| match cursor.try_lock() {
            Ok(c) => c.no_timeout || now.duration_since(c.last_used) < timeout,
            // In use right now: not idle.
            Err(_) => true,
        });
        before - map.len()
    }
}

fn random_bytes() -> [u8; 8] {
    let oid = bson::oid::ObjectId::new().bytes();
    let mut out = [0u8; 8];
    // The ObjectId's random and counter bytes, mixed with a per-process hash seed.
    out.copy_from_slice(&oid[4..12]);
    let seed = std::collections::hash_map::RandomState::new();
    let mixed = std::hash::BuildHasher::hash_one(&seed, out);
    mixed.to_le_bytes()
}

/// Takes the next batch: at most `max_docs` documents (all when `None`) and about
/// `MAX_BATCH_BYTES`, at least one document if any remain. Returns the batch and whether the
/// cursor is exhausted.
///
/// As in mongod, a batch that stops at `max_docs` does not read ahead to find out whether
/// anything follows: the cursor stays open unless its documents are known to be at their
/// end without reading (a limit reached, a finished list), and the next `getMore` may answer
/// an empty last batch. Drivers count on this (pymongo's exhaust tests count the `getMore`s).
pub fn next_batch(
    docs: &mut Peekable<DocIter>,
    max_docs: Option<usize>,
    deadline: Option<Instant>,
) -> Result<(Vec<Document>, bool)> {
    let mut batch = Vec::new();
    let mut bytes = 0usize;
    loop {
        if max_docs.is_some_and(|m| batch.len() >= m) {
            let known_done = docs.size_hint().1 == Some(0);
            return Ok((batch, known_done));
        }
        if let Some(deadline) = deadline {
            if Instant::now() > deadline {
                return Err(Error::new(50, "operation exceeded time limit"));
            }
        }
        let size = match docs.peek() {
            None => return Ok((batch, true)),
            Some(Err(_)) => {
                return match docs.next() {
                    Some(Err(e)) => Err(e.into()),
                    _ => Err(Error::new(1, "cursor error vanished")),
                }
            }
            Some(Ok(doc)) => outpost_storage::value::size::document_size(doc),
        };
        if !batch.is_empty() && bytes + size > MAX_BATCH_BYTES {
            break;
        }
        if let Some(Ok(doc)) = docs.next() {
            bytes += size;
            batch.push(doc);
        }
    }
    let exhausted = docs.peek().is_none();
    Ok((batch, exhausted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn docs(n: i32) -> Vec<outpost_storage::Result<Document>> {
        (0..n).map(|i| Ok(doc! {"_id": i})).collect()
    }

    /// An iterator that cannot tell its length, as a collection scan.
    fn scan(n: i32) -> Peekable<DocIter> {
        let mut docs = docs(n).into_iter();
        let iter: DocIter = Box::new(std::iter::from_fn(move || docs.next()));
        iter.peekable()
    }

    #[test]
    fn a_full_batch_does_not_read_ahead_unless_the_end_is_known() {
        // Exactly batchSize documents left in a scan: the cursor stays open (mongod's
        // behaviour), and the next batch is empty and final.
        let mut cursor = scan(2);
        let (batch, done) = next_batch(&mut cursor, Some(2), None).expect("batch");
        assert_eq!((batch.len(), done), (2, false));
        let (batch, done) = next_batch(&mut cursor, Some(2), None).expect("batch");
        assert_eq!((batch.len(), done), (0, true));
        // A short batch saw the end.
        let (batch, done) = next_batch(&mut scan(1), Some(2), None).expect("batch");
        assert_eq!((batch.len(), done), (1, true));
        // A reached limit is known without reading.
        let limited: DocIter = Box::new(docs(5).into_iter().filter(|_| true).take(2));
        let (batch, done) = next_batch(&mut limited.peekable(), Some(2), None).expect("batch");
        assert_eq!((batch.len(), done), (2, true));
    }
}
