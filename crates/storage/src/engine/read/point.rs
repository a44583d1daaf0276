//! The point read: a find whose whole query is `{_id: <value>}` is one get from the
//! documents tree, without parsing a filter, choosing a plan or testing the document again.
//!
//! The documents tree is keyed by the order-preserving encoding of `_id`, in which two values
//! encode to the same bytes exactly when MongoDB's comparison finds them equal (`1`, `1.0`
//! and `NumberLong(1)` share a key). So under the simple collation the document found under
//! the value's key is the one document the filter matches, and no other can match. This is
//! the plan `find` chooses for such a filter anyway (`IDHACK`), with the same explain counts;
//! here it skips the general path's work around it, which was most of a find by `_id`.

use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;

use bson::{Bson, Document};

use super::{ExplainInfo, FindOptions, PlanKind, ReadCursor};
use crate::engine::catalog::Collection;
use crate::engine::{decode_document, Storage};
use crate::error::{Error, Result};
use crate::value::keyenc;

impl Storage {
    /// The read of `options` as a point read, or `None` when it asks for more than the
    /// documents whose `_id` equals one value (see [`point_read_id`]), or its collection is
    /// missing or has a default collation.
    pub(super) fn point_read(
        &self,
        db: &str,
        coll: &str,
        options: &FindOptions,
    ) -> Result<Option<ReadCursor>> {
        let Some(id) = point_read_id(options) else {
            return Ok(None);
        };
        let Some(collection) = self.collection(db, coll) else {
            return Ok(None);
        };
        if collection.meta.default_collation()?.is_some() {
            return Ok(None);
        }
        let info = Arc::new(ExplainInfo::default());
        info.keys_examined.fetch_add(1, AtomicOrdering::Relaxed);
        let doc = document_by_id(&collection, id)?.map(|(_, doc)| {
            info.docs_examined.fetch_add(1, AtomicOrdering::Relaxed);
            doc
        });
        Ok(Some(ReadCursor {
            plan: PlanKind::IdLookup,
            info,
            sorted_by_index: false,
            collation: None,
            index_collation: None,
            iter: Box::new(doc.into_iter().map(Ok::<_, Error>)),
        }))
    }
}

/// The `_id` value of a find that asks only for the documents whose `_id` equals it: a
/// filter of the one field `_id` holding a plain value (not an operator document, an array or
/// a regular expression, which match otherwise), and no collation, sort, projection, hint,
/// `min`/`max`, skip, `returnKey`, `showRecordId` or time limit.
fn point_read_id(options: &FindOptions) -> Option<&Bson> {
    let FindOptions {
        filter,
        sort,
        projection,
        skip,
        limit: _,
        hint,
        variables: _,
        allow_disk_use: _,
        deadline,
        collation,
        min,
        max,
        return_key,
        show_record_id,
    } = options;
    let plain_options = sort.as_ref().is_none_or(|s| s.is_empty())
        && projection.as_ref().is_none_or(|p| p.is_empty())
        && *skip == 0
        && hint.is_none()
        && deadline.is_none()
        && collation.is_none()
        && min.is_none()
        && max.is_none()
        && !return_key
        && !show_record_id;
    if !plain_options {
        return None;
    }
    point_id(filter)
}

/// The document of `collection` stored under `id`'s key, with that key: under the simple
/// collation, the one document whose `_id` equals `id`.
pub(crate) fn document_by_id(
    collection: &Collection,
    id: &Bson,
) -> Result<Option<(Vec<u8>, Document)>> {
    let key = keyenc::encode(id);
    match collection.docs.get(&key)? {
        Some(bytes) => Ok(Some((key, decode_document(&bytes)?))),
        None => Ok(None),
    }
}

/// The value of a filter that is the one field `_id` holding a plain value (not an operator
/// document, an array or a regular expression, which match otherwise): under the simple
/// collation, it matches the one document stored under the value's key, if any.
pub(crate) fn point_id(filter: &Document) -> Option<&Bson> {
    if filter.len() != 1 {
        return None;
    }
    match filter.get("_id")? {
        Bson::Document(_) | Bson::Array(_) | Bson::RegularExpression(_) => None,
        id => Some(id),
    }
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    fn with_filter(filter: bson::Document) -> FindOptions {
        FindOptions {
            filter,
            ..FindOptions::default()
        }
    }

    #[test]
    fn only_a_plain_id_equality_alone_is_a_point_read() {
        assert_eq!(
            point_read_id(&with_filter(doc! {"_id": 5})),
            Some(&Bson::Int32(5))
        );
        assert!(point_read_id(&with_filter(doc! {"_id": "a", "b": 1})).is_none());
        assert!(point_read_id(&with_filter(doc! {"_id": {"$gt": 1}})).is_none());
        assert!(point_read_id(&with_filter(doc! {"_id": {"a": 1}})).is_none());
        assert!(point_read_id(&with_filter(doc! {"_id": [1]})).is_none());
        assert!(point_read_id(&with_filter(doc! {"a": 1})).is_none());
        assert!(point_read_id(&with_filter(doc! {})).is_none());
        let re = Bson::RegularExpression(bson::Regex {
            pattern: "a".into(),
            options: String::new(),
        });
        assert!(point_read_id(&with_filter(doc! {"_id": re})).is_none());
        let refused = [
            FindOptions {
                skip: 1,
                ..with_filter(doc! {"_id": 5})
            },
            FindOptions {
                projection: Some(doc! {"a": 1}),
                ..with_filter(doc! {"_id": 5})
            },
            FindOptions {
                sort: Some(doc! {"a": 1}),
                ..with_filter(doc! {"_id": 5})
            },
            FindOptions {
                collation: Some(doc! {"locale": "fr"}),
                ..with_filter(doc! {"_id": 5})
            },
            FindOptions {
                hint: Some(Bson::String("_id_".into())),
                ..with_filter(doc! {"_id": 5})
            },
            FindOptions {
                return_key: true,
                ..with_filter(doc! {"_id": 5})
            },
            FindOptions {
                show_record_id: true,
                ..with_filter(doc! {"_id": 5})
            },
            FindOptions {
                min: Some(doc! {"_id": 1}),
                ..with_filter(doc! {"_id": 5})
            },
            FindOptions {
                deadline: Some(std::time::Instant::now()),
                ..with_filter(doc! {"_id": 5})
            },
        ];
        for options in refused {
            assert!(point_read_id(&options).is_none());
        }
        let empty_sort = FindOptions {
            sort: Some(doc! {}),
            projection: Some(doc! {}),
            limit: 1,
            ..with_filter(doc! {"_id": 5})
        };
        assert!(point_read_id(&empty_sort).is_some());
    }

    /// The point read finds what the general path finds, for equal values of other numeric
    /// types too, with the same plan and explain counts; a collection with a default
    /// collation takes the general path.
    #[test]
    fn point_reads_agree_with_the_general_path() {
        let storage = Storage::temporary().expect("temporary store");
        let options = crate::engine::WriteOptions::default();
        let docs = vec![
            doc! {"_id": 1, "v": "int"},
            doc! {"_id": "a", "v": "string"},
            doc! {"_id": 2.5, "v": "double"},
            doc! {"_id": Bson::Null, "v": "null"},
        ];
        storage
            .insert_many("db", "c", docs, true, &options)
            .expect("insert");
        for id in [
            Bson::Int32(1),
            Bson::Int64(1),
            Bson::Double(1.0),
            Bson::String("a".into()),
            Bson::Double(2.5),
            Bson::Null,
            Bson::Int32(3),
            Bson::String("A".into()),
        ] {
            let options = with_filter(doc! {"_id": id.clone()});
            let point = storage
                .point_read("db", "c", &options)
                .expect("point read")
                .expect("takes the point path");
            assert_eq!(point.plan, PlanKind::IdLookup);
            let (keys, docs) = (point.info.clone(), point.info.clone());
            let found: Vec<_> = point.map(|d| d.expect("document")).collect();
            let general: Vec<_> = storage
                .find(
                    "db",
                    "c",
                    &FindOptions {
                        // A time limit keeps the read off the point path.
                        deadline: Some(
                            std::time::Instant::now() + std::time::Duration::from_secs(60),
                        ),
                        ..options
                    },
                )
                .expect("find")
                .map(|d| d.expect("document"))
                .collect();
            assert_eq!(found, general, "_id {id:?}");
            assert_eq!(keys.keys(), 1);
            assert_eq!(docs.docs(), u64::try_from(found.len()).expect("small"));
        }
        assert!(storage
            .point_read("db", "missing", &with_filter(doc! {"_id": 1}))
            .expect("point read")
            .is_none());
        storage
            .create_collection(
                "db",
                "fr",
                doc! {"collation": {"locale": "fr", "strength": 1}},
            )
            .expect("create");
        assert!(storage
            .point_read("db", "fr", &with_filter(doc! {"_id": "a"}))
            .expect("point read")
            .is_none());
    }
}
