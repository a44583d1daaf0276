//! find's `min` and `max`: a scan of the hinted index between two encoded keys.

use std::ops::Bound;
use std::sync::Arc;

use bson::{Bson, Document};

use super::{key_pattern_equal, sort_matches, usable_for_sort, Plan, PlanKind, Source};
use crate::engine::catalog::Collection;
use crate::engine::read::FindOptions;
use crate::error::{Error, Result};
use crate::value::{keyenc, Collation};

/// The plan of a find with `min`/`max`: a scan of the hinted index between the bounds (`min`
/// inclusive, `max` exclusive), whose fields must be the index's key fields in order.
pub(in crate::engine::read) fn min_max_plan(
    collection: &Collection,
    options: &FindOptions,
    sort: Option<&Document>,
    query_collation: Option<&Arc<Collation>>,
) -> Result<Plan> {
    let hint = options.hint.as_ref().ok_or_else(|| {
        Error::coded(
            51173,
            "When using min()/max() a hint of which index to use must be provided",
        )
    })?;
    let index = match hint {
        Bson::String(name) if name == "_id_" => None,
        Bson::String(name) => collection.indexes.iter().find(|i| &i.meta.name == name),
        Bson::Document(key) if key_pattern_equal(key, &bson::doc! {"_id": 1}) => None,
        Bson::Document(key) => collection
            .indexes
            .iter()
            .find(|i| key_pattern_equal(&i.meta.key, key)),
        _ => None,
    };
    let is_id = match hint {
        Bson::String(name) => name == "_id_",
        Bson::Document(key) => key_pattern_equal(key, &bson::doc! {"_id": 1}),
        _ => false,
    };
    if index.is_none() && !is_id {
        return Err(Error::BadValue(
            "hint provided does not correspond to an existing index".into(),
        ));
    }
    let fields: Vec<(String, bool)> = match index {
        Some(index) => index.fields.clone(),
        None => vec![("_id".to_owned(), false)],
    };
    let collation = index.and_then(|i| i.collation.as_deref());
    let encode = |bound: &Document| -> Result<Vec<u8>> {
        let names_match = bound.len() == fields.len()
            && bound
                .keys()
                .zip(fields.iter())
                .all(|(k, (path, _))| k == path);
        if !names_match {
            return Err(Error::coded(
                51174,
                "The index chosen is not compatible with min/max",
            ));
        }
        let mut bytes = Vec::new();
        for (value, (_, descending)) in bound.values().zip(fields.iter()) {
            if *descending {
                keyenc::encode_descending_with_into(value, collation, &mut bytes);
            } else {
                keyenc::encode_with_into(value, collation, &mut bytes);
            }
        }
        Ok(bytes)
    };
    let start = match &options.min {
        Some(min) => Bound::Included(encode(min)?),
        None => Bound::Unbounded,
    };
    let end = match &options.max {
        Some(max) => Bound::Excluded(encode(max)?),
        None => Bound::Unbounded,
    };
    let ranges = vec![(start, end)];
    let query_collation = query_collation.map(|c| &**c);
    match index {
        None => {
            let reverse = sort
                .filter(|_| query_collation.is_none())
                .and_then(|s| sort_matches(&fields, s));
            Ok(Plan {
                kind: PlanKind::IndexScan {
                    index: "_id_".into(),
                },
                provides_sort: sort.is_none() || reverse.is_some(),
                source: Source::IdRanges {
                    ranges,
                    reverse: reverse.unwrap_or(false),
                },
            })
        }
        Some(index) => {
            let index_sort = sort.and_then(|s| usable_for_sort(index, s, query_collation));
            Ok(Plan {
                kind: PlanKind::IndexScan {
                    index: index.meta.name.clone(),
                },
                provides_sort: sort.is_none() || index_sort.is_some(),
                source: Source::Index {
                    index: Box::new(index.clone()),
                    dedupe: index.meta.multikey,
                    ranges,
                    reverse: index_sort.unwrap_or(false),
                },
            })
        }
    }
}
