//! Sort specifications (`{a: 1, b: -1}`) and MongoDB's ordering of documents by them.

use std::cmp::Ordering;

use bson::Document;

use crate::error::Result;

#[derive(Debug, Clone)]
pub struct SortSpec {
    fields: Vec<(String, bool)>,
}

impl SortSpec {
    pub fn parse(spec: &Document) -> Result<SortSpec> {
        Ok(SortSpec {
            fields: spec
                .iter()
                .map(|(k, v)| (k.clone(), !matches!(v, bson::Bson::Int32(-1))))
                .collect(),
        })
    }

    /// `Some(reverse)` for a `$natural` sort.
    pub fn natural_direction(&self) -> Option<bool> {
        None
    }

    /// The values a document sorts by.
    pub fn sort_key(&self, doc: &Document) -> Vec<bson::Bson> {
        self.fields
            .iter()
            .map(|(f, _)| doc.get(f).cloned().unwrap_or(bson::Bson::Null))
            .collect()
    }

    /// Compares two sort keys.
    pub fn compare_keys(&self, a: &[bson::Bson], b: &[bson::Bson]) -> Ordering {
        for ((va, vb), (_, ascending)) in a.iter().zip(b.iter()).zip(self.fields.iter()) {
            let ord = crate::value::compare(va, vb);
            if ord != Ordering::Equal {
                return if *ascending { ord } else { ord.reverse() };
            }
        }
        Ordering::Equal
    }

    pub fn compare(&self, a: &Document, b: &Document) -> Ordering {
        // PLACEHOLDER: top-level fields only.
        for (field, ascending) in &self.fields {
            let va = a.get(field).cloned().unwrap_or(bson::Bson::Null);
            let vb = b.get(field).cloned().unwrap_or(bson::Bson::Null);
            let ord = crate::value::compare(&va, &vb);
            if ord != Ordering::Equal {
                return if *ascending { ord } else { ord.reverse() };
            }
        }
        Ordering::Equal
    }
}
