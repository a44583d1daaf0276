//! TTL indexes: documents whose indexed date is older than `expireAfterSeconds` are removed by
//! a periodic pass (the server runs it every minute, as mongod's TTL monitor does).

use std::ops::Bound;

use bson::{Bson, DateTime};

use super::history::Origin;
use super::read::byte_ranges;
use super::{decode_document, kv, Storage};
use crate::error::Result;
use crate::query::filter::Interval;

impl Storage {
    /// Removes every document past its TTL at `now`; returns how many were removed. A document
    /// whose indexed field is an array expires by its earliest date; non-date values never
    /// expire.
    pub fn remove_expired(&self, now: DateTime) -> Result<u64> {
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
                let mut w = self.writer();
                for (start, end) in byte_ranges(&[interval], *descending) {
                    let expired: Vec<sled::IVec> = kv::range(&index.tree, start, end, false)
                        .map(|item| item.map(|(_, doc_key)| doc_key))
                        .collect::<Result<_>>()?;
                    for doc_key in expired {
                        let Some(bytes) = collection.docs.get(&doc_key)? else {
                            continue;
                        };
                        let doc = decode_document(&bytes)?;
                        self.delete_locked(&mut w, &collection, &doc_key, &doc, &Origin::Local)?;
                        removed += 1;
                    }
                }
            }
        }
        Ok(removed)
    }
}
