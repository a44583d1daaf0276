//! `find` projections (`{a: 1, "b.c": 0, d: {$slice: 2}}`).

use bson::Document;

use crate::error::Result;

#[derive(Debug, Clone)]
pub struct Projection {
    source: Document,
}

impl Projection {
    pub fn parse(projection: &Document) -> Result<Projection> {
        Ok(Projection {
            source: projection.clone(),
        })
    }

    /// Projects `doc`. `array_index` is the positional match of the query (for `a.$`).
    pub fn apply(&self, doc: &Document, _array_index: Option<usize>) -> Result<Document> {
        // PLACEHOLDER: top-level inclusion only.
        let mut out = Document::new();
        if let Some(id) = doc.get("_id") {
            out.insert("_id", id.clone());
        }
        for (k, _) in self.source.iter() {
            if let Some(v) = doc.get(k) {
                out.insert(k.clone(), v.clone());
            }
        }
        Ok(out)
    }
}
