//! TTL indexes: documents whose indexed date is older than `expireAfterSeconds` are removed by
//! a periodic pass (the server runs it every minute, as mongod's TTL monitor does).

use std::ops::Bound;

use bson::{Bson, DateTime};

use super::history::Origin;
use super::read::byte_ranges;
use super::{decode_document, kv, Storage};
use crate::error::Result;
use crate::query::filter::Interval;

/// Documents removed per hold of the writer lock, so that a large expiry never stops other
/// writers for long (mongod's TTL monitor deletes in batches too).
const CHUNK: usize = 1_000;

impl Storage {
    /// Removes documents past their TTL at `now`, at most `limit` of them (the rest wait for
    /// the next pass); returns how many were removed. A document whose indexed field is an
    /// array expires by its earliest date; non-date values never expire. The writer lock is
    /// taken for at most [`CHUNK`] documents at a time.
    pub fn remove_expired(&self, now: DateTime, limit: u64) -> Result<u64> {
        let collections: Vec<_> = self.collections_read().values().cloned().collect();
        let mut removed = 0;
        for collection in collections {
            for index in &collection.indexes {
                let Some(seconds) = index.meta.expire_after_seconds else {
                    continue;
                };
                let Some((_, descending)) = index.fields.first() else {
                    continue;
                };
                let cutoff = now
                    .timestamp_millis()
                    .saturating_sub(seconds.saturating_mul(1000));
                let interval = Interval {
                    lower: Bound::Included(Bson::DateTime(DateTime::MIN)),
                    upper: Bound::Included(Bson::DateTime(DateTime::from_millis(cutoff))),
                };
                for (start, end) in byte_ranges(&[interval], *descending) {
                    loop {
                        let room = usize::try_from(limit.saturating_sub(removed))
                            .unwrap_or(usize::MAX)
                            .min(CHUNK);
                        if room == 0 {
                            return Ok(removed);
                        }
                        let mut w = self.writer();
                        // Read under the lock, so that no writer changes the index meanwhile.
                        let expired: Vec<sled::IVec> =
                            kv::range(&index.tree, start.clone(), end.clone(), false)
                                .take(room)
                                .map(|item| item.map(|(_, doc_key)| doc_key))
                                .collect::<Result<_>>()?;
                        let found = expired.len();
                        let before = removed;
                        for doc_key in expired {
                            let Some(bytes) = collection.docs.get(&doc_key)? else {
                                continue;
                            };
                            let doc = decode_document(&bytes)?;
                            self.delete_locked(
                                &mut w,
                                &collection,
                                &doc_key,
                                &doc,
                                &Origin::Local,
                            )?;
                            removed += 1;
                        }
                        drop(w);
                        // The range is exhausted, or held only entries without documents.
                        if found < room || removed == before {
                            break;
                        }
                    }
                }
            }
        }
        Ok(removed)
    }
}
