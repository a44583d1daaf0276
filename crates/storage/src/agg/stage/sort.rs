//! `$sort`: sorting the stream within the memory limit (or keeping only the first `limit`
//! when a `$limit` follows), and the hidden text score: a `{$meta: "textScore"}` key sorts
//! on it, and documents leaving a pipeline lose it.

use bson::Document;

use crate::agg::paths::document_size;
use crate::agg::{DocStream, MemoryLimitKind, RunContext};
use crate::error::Result;
use crate::query::SortSpec;

/// A `$sort` specification with each `{$meta: "textScore"}` turned into a descending sort on
/// the hidden text score (highest first, as mongod sorts it), and whether it had one.
pub(super) fn text_score_sort(spec: &Document) -> (Document, bool) {
    let mut out = Document::new();
    let mut text_score = false;
    for (key, value) in spec {
        if crate::text::is_text_score_meta(value) {
            text_score = true;
            out.insert(crate::text::TEXT_SCORE_FIELD, -1);
        } else {
            out.insert(key.clone(), value.clone());
        }
    }
    (out, text_score)
}

/// A document that carries a text score, for a sort on it (40218 otherwise, as mongod).
pub(super) fn require_text_score(doc: Document) -> Result<Document> {
    if doc.contains_key(crate::text::TEXT_SCORE_FIELD) {
        Ok(doc)
    } else {
        Err(crate::agg::expr::meta::text_score_unavailable())
    }
}

/// A document leaving the pipeline (returned or written): without its hidden text score.
pub(crate) fn without_text_score(r: Result<Document>) -> Result<Document> {
    r.map(|mut doc| {
        crate::text::strip_text_score(&mut doc);
        doc
    })
}

/// Sorts everything (stable), or keeps only the first `limit` when a `$limit` follows.
pub(super) fn sort_documents(
    input: DocStream<'_>,
    spec: &SortSpec,
    limit: Option<u64>,
    context: &RunContext<'_>,
) -> Result<Vec<Document>> {
    let mut tracker = context.memory_tracker(MemoryLimitKind::Sort);
    let keep = limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX));
    let mut buffer: Vec<(Document, usize)> = Vec::new();
    for r in input {
        let doc = r?;
        let size = document_size(&doc);
        tracker.add(size)?;
        buffer.push((doc, size));
        if let Some(k) = keep {
            if buffer.len() >= k.saturating_mul(2).max(64) {
                buffer.sort_by(|a, b| spec.compare(&a.0, &b.0));
                for (_, size) in buffer.drain(k.min(buffer.len())..) {
                    tracker.release(size);
                }
            }
        }
    }
    buffer.sort_by(|a, b| spec.compare(&a.0, &b.0));
    if let Some(k) = keep {
        buffer.truncate(k);
    }
    Ok(buffer.into_iter().map(|(d, _)| d).collect())
}
