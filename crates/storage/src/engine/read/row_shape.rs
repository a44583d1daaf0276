//! What a find returns of each document it found: the projected document, or the key of the
//! index read (`returnKey`), and the record id (`showRecordId`).

use bson::{Bson, Document};
use sled::IVec;

use super::{Plan, PlanKind, Source};
use crate::engine::capped::{position_of, Capped};
use crate::error::Result;
use crate::query::Projection;
use crate::value::hash::hash64;

/// A found document on its way out: the document, the array position its filter matched
/// (for positional projections), and its document key.
pub(super) type Row = (Document, Option<usize>, IVec);

/// What a find returns of each document: the read index's key (`returnKey`) or the projected
/// document, and `$recordId` (`showRecordId`).
pub(super) struct RowShape {
    pub(super) return_key: Option<Vec<(String, bool)>>,
    pub(super) projection: Option<Projection>,
    /// `Some` for `showRecordId`, holding the collection's capped side if it has one.
    pub(super) record_ids: Option<Option<Capped>>,
}

impl RowShape {
    pub(super) fn apply(&self, (doc, array_index, key): Row) -> Result<Document> {
        let mut out = match (&self.return_key, &self.projection) {
            (Some(fields), _) => index_key_of(&doc, fields),
            (None, Some(p)) => p.apply(&doc, array_index)?,
            (None, None) => doc,
        };
        if let Some(capped) = &self.record_ids {
            out.insert("$recordId", record_id(capped.as_ref(), &key)?);
        }
        Ok(out)
    }
}

/// A document's record id as `showRecordId` shows it: in a capped collection its insertion
/// position (a long, as mongod's record ids); elsewhere Outpost's documents are clustered by
/// `_id`, and the record id is the encoded `_id` as binary data, as mongod shows record ids
/// of clustered collections.
fn record_id(capped: Option<&Capped>, key: &[u8]) -> Result<Bson> {
    if let Some(capped) = capped {
        if let Some(seq) = position_of(capped, key)? {
            return Ok(Bson::Int64(i64::try_from(seq).unwrap_or(i64::MAX)));
        }
    }
    Ok(Bson::Binary(bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes: key.to_vec(),
    }))
}

/// The key fields of the index a plan reads, as `returnKey` shows them: (path, hashed);
/// none for a collection scan.
pub(super) fn plan_key_fields(plan: &Plan) -> Vec<(String, bool)> {
    match &plan.source {
        Source::Index { index, .. } => index
            .fields
            .iter()
            .enumerate()
            .map(|(position, (path, _))| (path.clone(), index.hashed == Some(position)))
            .collect(),
        Source::Id(_) => vec![("_id".to_owned(), false)],
        Source::IdRanges { .. } if plan.kind != PlanKind::CollScan => {
            vec![("_id".to_owned(), false)]
        }
        _ => Vec::new(),
    }
}

/// A document's index key for `returnKey`: each key field's value (its first, for an array;
/// the hash, for a hashed field; null when missing).
fn index_key_of(doc: &Document, fields: &[(String, bool)]) -> Document {
    let mut key = Document::new();
    for (path, hashed) in fields {
        let value = crate::value::path::index_key_values(doc, path)
            .into_iter()
            .next()
            .unwrap_or(Bson::Null);
        let value = if *hashed {
            Bson::Int64(hash64(&value))
        } else {
            value
        };
        key.insert(path.clone(), value);
    }
    key
}
