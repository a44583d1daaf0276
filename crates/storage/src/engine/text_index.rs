//! The keys of a text index (mongod's `FTSIndexFormat`): one key per term of a document,
//! `[prefix values..., term, score, suffix values...]`, each field encoded as ordinary keys
//! are. A document without terms has no keys.

use bson::{Bson, Document};

use super::catalog::Index;
use super::index::DocKeys;
use crate::error::{Error, Result};
use crate::text::TextSpec;
use crate::value::{keyenc, path};

/// The keys `doc` produces for the text index `index` (with specification `spec`), or `None`
/// when its partial filter leaves the document out.
pub(crate) fn text_document_keys(
    index: &Index,
    spec: &TextSpec,
    doc: &Document,
) -> Result<Option<DocKeys>> {
    if let Some(partial) = &index.partial {
        if !partial.matches(doc) {
            return Ok(None);
        }
    }
    let prefix = prefix_values(spec, doc)?;
    let suffix: Vec<Bson> = spec
        .suffix
        .iter()
        .map(|p| path::get_path(doc, p).cloned().unwrap_or(Bson::Null))
        .collect();
    let mut scores: Vec<(String, f64)> = spec.score_document(doc)?.into_iter().collect();
    scores.sort_by(|a, b| a.0.cmp(&b.0));
    let multikey = scores.len() > 1;
    let mut keys = Vec::with_capacity(scores.len());
    for (term, score) in scores {
        let mut bytes = term_prefix(&prefix, &term);
        keyenc::encode_into(&Bson::Double(score), &mut bytes);
        for value in &suffix {
            keyenc::encode_into(value, &mut bytes);
        }
        let mut values = prefix.clone();
        values.push(Bson::String(term));
        values.push(Bson::Double(score));
        values.extend(suffix.iter().cloned());
        keys.push((bytes, values));
    }
    Ok(Some(DocKeys { keys, multikey }))
}

/// The values of the prefix fields of a document; an array there is refused, as by mongod.
fn prefix_values(spec: &TextSpec, doc: &Document) -> Result<Vec<Bson>> {
    let mut out = Vec::with_capacity(spec.prefix.len());
    for p in &spec.prefix {
        if path::is_multikey_for(doc, p) {
            return Err(Error::coded(
                16675,
                "cannot have a multi-key as a prefix to a text index",
            ));
        }
        out.push(path::get_path(doc, p).cloned().unwrap_or(Bson::Null));
    }
    Ok(out)
}

/// The encoded start of every key of `term` under the given prefix values: the bytes to scan
/// for documents holding the term (the encoding is prefix-free, so no longer term shares it).
pub(crate) fn term_prefix(prefix: &[Bson], term: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    for value in prefix {
        keyenc::encode_into(value, &mut bytes);
    }
    keyenc::encode_into(&Bson::String(term.to_owned()), &mut bytes);
    bytes
}
