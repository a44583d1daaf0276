//! Document counts per collection, for `estimatedDocumentCount` (`count` without a filter)
//! and `collStats`: O(1), as in mongod, where counting sled's tree is O(n) (a million-document
//! collection took a quarter of a second per count).
//!
//! A collection's count is computed from its tree the first time it is asked for (under the
//! writer lock, so no commit is half-counted) and kept from then on by the commits: each batch
//! collects the +1/-1 of the documents it stages (see `stage_document`), applied after it
//! commits, under the same lock. A dropped collection's count is forgotten; a renamed one keeps
//! its collection id, so its count.

use std::collections::HashMap;
use std::sync::MutexGuard;

use super::{Collection, Storage};

impl Storage {
    /// The number of documents of `collection`.
    pub(super) fn document_count(&self, collection: &Collection) -> u64 {
        let id = collection.meta.id;
        if let Some(count) = self.count_cache().get(&id) {
            return *count;
        }
        // No commit may land between the count and its caching.
        let _writer = self.writer();
        if let Some(count) = self.count_cache().get(&id) {
            return *count;
        }
        let count = u64::try_from(collection.docs.len()).unwrap_or(u64::MAX);
        self.count_cache().insert(id, count);
        count
    }

    /// Applies a committed batch's count changes (the writer lock is held).
    pub(super) fn apply_count_deltas(&self, deltas: &HashMap<u64, i64>) {
        let mut cache = self.count_cache();
        for (id, delta) in deltas {
            if let Some(count) = cache.get_mut(id) {
                *count = count.saturating_add_signed(*delta);
            }
        }
    }

    /// Forgets a dropped collection's count.
    pub(super) fn forget_count(&self, id: u64) {
        self.count_cache().remove(&id);
    }

    fn count_cache(&self) -> MutexGuard<'_, HashMap<u64, u64>> {
        self.inner
            .doc_counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use bson::{doc, Bson, Document};

    use crate::engine::{DeleteSpec, FindOptions, Origin, Storage, UpdateSpec, WriteOptions};
    use crate::query::Update;

    /// The cached count against a scan of the collection.
    fn check(s: &Storage, coll: &str) -> u64 {
        let scanned = s.count("db", coll, &FindOptions::default()).unwrap();
        assert_eq!(s.estimated_count("db", coll), scanned, "{coll}");
        scanned
    }

    fn update(s: &Storage, filter: Document, update: Document, multi: bool, upsert: bool) {
        let update = Update::parse(&Bson::Document(update), None).unwrap();
        let spec = UpdateSpec {
            filter: &filter,
            update: &update,
            multi,
            upsert,
            hint: None,
            sort: None,
            variables: None,
        };
        s.update("db", "c", &spec, &WriteOptions::default())
            .unwrap();
    }

    #[test]
    fn the_count_follows_every_kind_of_write() {
        let s = Storage::temporary().unwrap();
        let w = WriteOptions::default();
        assert_eq!(check(&s, "c"), 0);
        s.insert("db", "c", doc! {"_id": 1}, &w).unwrap();
        // Asked for once: cached from here on.
        assert_eq!(check(&s, "c"), 1);
        let many: Vec<Document> = (2..2_500).map(|n| doc! {"_id": n, "n": n}).collect();
        s.insert_many("db", "c", many, true, &w).unwrap();
        assert_eq!(check(&s, "c"), 2_499);
        // A refused duplicate counts nothing; the rest of an unordered batch does.
        let failed = s
            .insert_many(
                "db",
                "c",
                vec![doc! {"_id": 1}, doc! {"_id": 9_000}],
                false,
                &w,
            )
            .unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(check(&s, "c"), 2_500);
        update(&s, doc! {"_id": 5}, doc! {"$set": {"x": 1}}, false, false);
        update(&s, doc! {"_id": -1}, doc! {"$set": {"x": 1}}, false, true);
        assert_eq!(check(&s, "c"), 2_501);
        let filter = doc! {"n": {"$lt": 100}};
        let spec = DeleteSpec {
            filter: &filter,
            just_one: false,
            hint: None,
            variables: None,
        };
        assert_eq!(s.delete("db", "c", &spec, &w).unwrap(), 98);
        assert_eq!(check(&s, "c"), 2_403);
        // A peer's batch: an insert, a replace, a delete, and an insert deleted in the batch.
        let origin = Origin::Peer("hub".into());
        let mut batch = s.remote_batch();
        batch.put("db", "c", &Bson::Int32(-2), Some(doc! {"_id": -2}), &origin);
        batch.put(
            "db",
            "c",
            &Bson::Int32(500),
            Some(doc! {"_id": 500, "y": 1}),
            &origin,
        );
        batch.put("db", "c", &Bson::Int32(501), None, &origin);
        batch.put("db", "c", &Bson::Int32(-3), Some(doc! {"_id": -3}), &origin);
        batch.put("db", "c", &Bson::Int32(-3), None, &origin);
        batch.commit().unwrap();
        assert_eq!(check(&s, "c"), 2_403);
        // A renamed collection keeps its count; a dropped one starts again from nothing.
        s.rename_collection("db", "c", "db", "renamed", false)
            .unwrap();
        assert_eq!(check(&s, "renamed"), 2_403);
        assert_eq!(check(&s, "c"), 0);
        assert!(s.drop_collection("db", "renamed").unwrap());
        assert_eq!(check(&s, "renamed"), 0);
        s.insert("db", "renamed", doc! {"_id": 1}, &w).unwrap();
        assert_eq!(check(&s, "renamed"), 1);
    }

    #[test]
    fn a_capped_collection_counts_its_evictions() {
        let s = Storage::temporary().unwrap();
        s.create_collection(
            "db",
            "capped",
            doc! {"capped": true, "size": 4096, "max": 10},
        )
        .unwrap();
        let w = WriteOptions::default();
        for n in 0..25 {
            s.insert("db", "capped", doc! {"_id": n}, &w).unwrap();
            check(&s, "capped");
        }
        assert_eq!(check(&s, "capped"), 10);
    }
}
