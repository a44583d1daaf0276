//! Update specifications: operator documents (`{$set: {...}}`), replacement documents and
//! pipeline updates, applied to one document at a time.

use bson::{Bson, Document};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct Update {
    source: Bson,
}

/// What an update needs to know about the document it is applied to.
#[derive(Debug, Clone, Default)]
pub struct UpdateContext<'a> {
    /// True when the update is applied to a document being created by an upsert
    /// (`$setOnInsert` applies only then).
    pub is_insert: bool,
    /// The positional match of the query for the `$` operator.
    pub array_index: Option<usize>,
    /// `let` variables of the command, for pipeline updates.
    pub variables: Option<&'a Document>,
}

impl Update {
    /// Parses an update: a document of operators, a replacement document, or an array of
    /// pipeline stages. `array_filters` are the command's `arrayFilters`.
    pub fn parse(update: &Bson, _array_filters: Option<&[Document]>) -> Result<Update> {
        Ok(Update {
            source: update.clone(),
        })
    }

    /// True for a replacement document (no operators).
    pub fn is_replacement(&self) -> bool {
        match &self.source {
            Bson::Document(d) => d.keys().next().is_none_or(|k| !k.starts_with('$')),
            _ => false,
        }
    }

    /// Applies the update to `doc`, returning the new document. `_id` is preserved.
    pub fn apply(&self, doc: &Document, _ctx: &UpdateContext) -> Result<Document> {
        // PLACEHOLDER: replacement and top-level $set only.
        match &self.source {
            Bson::Document(u) if self.is_replacement() => {
                let mut out = Document::new();
                if let Some(id) = doc.get("_id") {
                    out.insert("_id", id.clone());
                }
                for (k, v) in u {
                    if k != "_id" {
                        out.insert(k.clone(), v.clone());
                    }
                }
                Ok(out)
            }
            Bson::Document(u) => {
                let mut out = doc.clone();
                if let Ok(set) = u.get_document("$set") {
                    for (k, v) in set {
                        out.insert(k.clone(), v.clone());
                    }
                }
                Ok(out)
            }
            _ => Err(Error::NotSupported("pipeline updates".into())),
        }
    }
}

/// The document an upsert starts from: the equality fields of `filter` (`{a: 1, "b.c": 2}`
/// seeds `{a: 1, b: {c: 2}}`).
pub fn upsert_seed(filter: &Document) -> Result<Document> {
    let mut out = Document::new();
    for (k, v) in filter {
        if !k.starts_with('$')
            && !k.contains('.')
            && !matches!(v, Bson::Document(d) if d.keys().any(|k| k.starts_with('$')))
        {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(out)
}
