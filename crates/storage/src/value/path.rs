//! Dotted paths (`a.b.0.c`) and MongoDB's rules for walking them through documents and arrays.

use bson::{Bson, Document};

/// PLACEHOLDER until the real path module lands: plain dotted lookup.
pub fn get_path<'a>(doc: &'a Document, path: &str) -> Option<&'a Bson> {
    let mut parts = path.split('.');
    let mut cur = doc.get(parts.next()?)?;
    for p in parts {
        cur = match cur {
            Bson::Document(d) => d.get(p)?,
            Bson::Array(a) => a.get(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// PLACEHOLDER: the values a multikey index on `path` stores for `doc`.
pub fn index_key_values(doc: &Document, path: &str) -> Vec<Bson> {
    match get_path(doc, path) {
        None => vec![Bson::Null],
        Some(Bson::Array(a)) if a.is_empty() => vec![Bson::Undefined],
        Some(Bson::Array(a)) => a.clone(),
        Some(v) => vec![v.clone()],
    }
}
