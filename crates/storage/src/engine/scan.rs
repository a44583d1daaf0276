//! Reading a collection in `_id` order from a position, for callers that page through a whole
//! collection (the hub's snapshots): each page starts where the last ended, at the cost of a seek,
//! however far into the collection it is.

use std::ops::Bound;

use bson::{Bson, Document};

use super::{decode_document, kv, Storage};
use crate::error::Result;
use crate::value::keyenc;

impl Storage {
    /// The documents of `db.coll` in `_id` order (MongoDB's order, across types), starting after
    /// `_id` `after` (from the first with `None`). Empty when the collection does not exist.
    pub fn documents_after(
        &self,
        db: &str,
        coll: &str,
        after: Option<&Bson>,
    ) -> impl Iterator<Item = Result<Document>> + Send {
        let start = match after {
            Some(id) => Bound::Excluded(keyenc::encode(id)),
            None => Bound::Unbounded,
        };
        let scan = match self.collection(db, coll) {
            Some(collection) => kv::range(&collection.docs, start, Bound::Unbounded, false),
            None => Box::new(std::iter::empty()),
        };
        scan.map(|item| item.and_then(|(_, bytes)| decode_document(&bytes)))
    }
}
