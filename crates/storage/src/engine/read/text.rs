//! A find with `$text`: the collection's text index gives the candidates (the documents
//! holding a positive term of the search, under the equality values of the index's prefix
//! fields), each scored as mongod does (the sum of its scores for the search's terms) and
//! checked by the text matcher (negations, phrases, case and diacritic sensitivity) and the
//! rest of the filter. `{$meta: "textScore"}` is served here, in the projection and the sort.
//! With `$text` under an `$or`, the other clauses' index scans add their documents
//! (`text_or`), which carry no score.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;

use bson::{Bson, Document};
use sled::IVec;

use super::text_or;
use super::{
    effective_collation, sort_memory_error, ExplainInfo, FindOptions, PlanKind, ReadCursor,
    MEMORY_LIMIT_BYTES,
};
use crate::engine::catalog::{Collection, Index};
use crate::engine::text_index::term_prefix;
use crate::engine::{decode_document, Storage};
use crate::error::{Error, Result};
use crate::query::{Filter, Projection, SortSpec};
use crate::text::{
    is_text_score_meta, Language, TextQuery, TextSpec, TextSplit, TEXT_MATCH_FIELD,
    TEXT_SCORE_FIELD,
};
use crate::value::{path, Collation};

/// A document found by a text search, with its score (`None` for a document that only
/// another clause of an `$or` matched: mongod gives it no text score).
struct Scored {
    doc: Document,
    score: Option<f64>,
    array_index: Option<usize>,
    size: u64,
}

/// One component of a sort with text scores.
enum SortKey {
    /// `{$meta: "textScore"}`: highest score first.
    Score,
    Field(SortSpec),
}

/// What a candidate is checked against.
struct Search<'a> {
    spec: &'a TextSpec,
    query: &'a TextQuery,
    filter: &'a Filter,
    /// With `$text` under an `$or`: the documents the text index gave (only they can match
    /// the search; the filter stands `TEXT_MATCH_FIELD` for it). `None` when every match
    /// must match the search.
    text_keys: Option<HashSet<IVec>>,
}

impl Storage {
    pub(super) fn find_text(
        &self,
        db: &str,
        coll: &str,
        options: &FindOptions,
        split: TextSplit,
    ) -> Result<ReadCursor> {
        if options.min.is_some()
            || options.max.is_some()
            || options.return_key
            || options.show_record_id
        {
            return Err(Error::NotSupported(
                "min, max, returnKey and showRecordId are not supported with $text".into(),
            ));
        }
        let Some(collection) = self.collection(db, coll) else {
            return Err(Error::IndexNotFound(format!(
                "text index required for $text query (no such collection '{db}.{coll}')"
            )));
        };
        let index = text_index(&collection, options.hint.as_ref())?;
        let spec = index.text.clone().ok_or_else(text_index_required)?;
        let language = match &split.args.language {
            Some(name) => Language::parse_or_error(name)?,
            None => spec.default_language,
        };
        let query = TextQuery::parse(&split.args, language);
        let collation = effective_collation(options.collation.as_ref(), Some(&collection))?;
        let collation_spec = collation.as_ref().map(|c| c.to_document());
        let empty = Document::new();
        let variables = options.variables.as_ref().unwrap_or(&empty);
        let filter_doc = split.under_or.as_ref().unwrap_or(&split.rest);
        let filter = Filter::parse_with_collation(filter_doc, variables, collation.clone())?;
        let sort = match &options.sort {
            Some(s) if !s.is_empty() => Some(parse_sort(s, collation.clone())?),
            _ => None,
        };
        let (projection, score_fields) = parse_projection(options.projection.as_ref(), filter_doc)?;
        let prefix = prefix_values(&spec, &split.clause)?;
        let info = Arc::new(ExplainInfo::default());
        let text_keys = candidates(&index, &query, &prefix, &info)?;
        let (keys, text_keys) = match &split.under_or {
            None => (text_keys, None),
            Some(_) => {
                let set: HashSet<IVec> = text_keys.iter().cloned().collect();
                let context = text_or::OrContext {
                    collection: &collection,
                    collation,
                    variables,
                    info: &info,
                };
                (context.candidates(&options.filter, text_keys)?, Some(set))
            }
        };
        let search = Search {
            spec: &spec,
            query: &query,
            filter: &filter,
            text_keys,
        };
        let mut found = self.scored(&collection, &search, keys, options, sort.is_some(), &info)?;
        if let Some(sort) = &sort {
            found = sort_scored(found, sort);
        }
        let skip = usize::try_from(options.skip).unwrap_or(usize::MAX);
        let limit = usize::try_from(options.limit).unwrap_or(usize::MAX);
        let kept = found.into_iter().skip(skip);
        let kept: Vec<Scored> = if limit > 0 {
            kept.take(limit).collect()
        } else {
            kept.collect()
        };
        let out: Vec<Result<Document>> = kept
            .into_iter()
            .map(|s| shape(s, projection.as_ref(), &score_fields))
            .collect();
        Ok(ReadCursor {
            plan: PlanKind::IndexScan {
                index: index.meta.name.clone(),
            },
            info,
            sorted_by_index: false,
            collation: collation_spec,
            index_collation: None,
            iter: Box::new(out.into_iter()),
        })
    }

    /// The candidates that match, scored, within the deadline and (when sorting) the sort's
    /// memory limit.
    fn scored(
        &self,
        collection: &Collection,
        search: &Search<'_>,
        keys: Vec<IVec>,
        options: &FindOptions,
        sorting: bool,
        info: &ExplainInfo,
    ) -> Result<Vec<Scored>> {
        let mut found = Vec::new();
        let mut bytes = 0u64;
        for (n, key) in keys.into_iter().enumerate() {
            if n % 64 == 63
                && options
                    .deadline
                    .is_some_and(|d| std::time::Instant::now() > d)
            {
                return Err(Error::MaxTimeMsExpired);
            }
            info.docs_examined.fetch_add(1, AtomicOrdering::Relaxed);
            let Some(scored) = self.score_candidate(collection, search, &key)? else {
                continue;
            };
            bytes = bytes.saturating_add(scored.size);
            if sorting && bytes > MEMORY_LIMIT_BYTES && !options.allow_disk_use {
                return Err(sort_memory_error());
            }
            found.push(scored);
        }
        Ok(found)
    }

    /// The candidate's document, scored, when it matches the search and the filter (under
    /// an `$or`: when it matches the filter, scored only if it matches the search).
    fn score_candidate(
        &self,
        collection: &Collection,
        search: &Search<'_>,
        key: &IVec,
    ) -> Result<Option<Scored>> {
        let Some(bytes) = collection.docs.get(key)? else {
            // Removed since its index entry was read.
            return Ok(None);
        };
        let mut doc = decode_document(&bytes)?;
        let from_index = search.text_keys.as_ref().is_none_or(|k| k.contains(key));
        let text_match = from_index && search.query.matches(search.spec, &doc)?;
        let details = match &search.text_keys {
            None if !text_match => return Ok(None),
            None => search.filter.try_matches_details(&doc)?,
            Some(_) => {
                if text_match {
                    doc.insert(TEXT_MATCH_FIELD, true);
                }
                let details = search.filter.try_matches_details(&doc);
                doc.remove(TEXT_MATCH_FIELD);
                details?
            }
        };
        if !details.matched {
            return Ok(None);
        }
        let score = if text_match {
            let scores = search.spec.score_document(&doc)?;
            Some(
                search
                    .query
                    .terms_for_bounds
                    .iter()
                    .filter_map(|t| scores.get(t))
                    .sum(),
            )
        } else {
            None
        };
        Ok(Some(Scored {
            doc,
            score,
            array_index: details.array_index,
            size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
        }))
    }
}

fn text_index_required() -> Error {
    Error::IndexNotFound("text index required for $text query".into())
}

/// The collection's text index; a hint must name it (by name or key pattern).
fn text_index(collection: &Collection, hint: Option<&Bson>) -> Result<Index> {
    let index = collection
        .indexes
        .iter()
        .find(|i| i.text.is_some())
        .ok_or_else(text_index_required)?;
    let hinted = match hint {
        None => true,
        Some(Bson::String(name)) => *name == index.meta.name,
        Some(Bson::Document(key)) => {
            crate::engine::index::same_key_pattern(key, &index.meta.key)
                || crate::text::spec::fix_spec(&Document::new(), key)
                    .is_ok_and(|(stored, _)| stored == index.meta.key)
        }
        Some(_) => false,
    };
    if !hinted {
        return Err(Error::BadValue(
            "a $text query can only use the collection's text index; the hint names another".into(),
        ));
    }
    Ok(index.clone())
}

/// The equality values the filter gives for the index's prefix fields (mongod requires one
/// for each).
fn prefix_values(spec: &TextSpec, filter: &Document) -> Result<Vec<Bson>> {
    let mut out = Vec::with_capacity(spec.prefix.len());
    for field in &spec.prefix {
        let value = match path::get_path(filter, field).or_else(|| filter.get(field)) {
            Some(Bson::Document(d)) if d.keys().any(|k| k.starts_with('$')) => match d.get("$eq") {
                Some(v) if d.len() == 1 => Some(v.clone()),
                _ => None,
            },
            Some(v) => Some(v.clone()),
            None => None,
        };
        match value {
            Some(Bson::Array(_) | Bson::RegularExpression(_)) | None => {
                return Err(Error::BadValue(format!(
                    "failed to use text index to satisfy $text query (if text index is \
                     compound, are equality predicates given for all prefix fields?): need an \
                     equality filter on: {field}"
                )))
            }
            Some(v) => out.push(v),
        }
    }
    Ok(out)
}

/// The keys of the documents holding a positive term, each once, in index order per term.
fn candidates(
    index: &Index,
    query: &TextQuery,
    prefix: &[Bson],
    info: &ExplainInfo,
) -> Result<Vec<IVec>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for term in &query.terms_for_bounds {
        for item in index.tree.scan_prefix(term_prefix(prefix, term)) {
            let (_, doc_key) = item?;
            info.keys_examined.fetch_add(1, AtomicOrdering::Relaxed);
            if seen.insert(doc_key.clone()) {
                out.push(doc_key);
            }
        }
    }
    Ok(out)
}

/// The projection without its `{$meta: "textScore"}` fields, and the names of those fields.
/// A projection of only text scores returns whole documents with their scores.
fn parse_projection(
    projection: Option<&Document>,
    filter: &Document,
) -> Result<(Option<Projection>, Vec<String>)> {
    let Some(projection) = projection else {
        return Ok((None, Vec::new()));
    };
    let mut rest = Document::new();
    let mut scores = Vec::new();
    for (field, value) in projection {
        if is_text_score_meta(value) {
            path::check_path_length(field)?;
            scores.push(field.clone());
        } else {
            rest.insert(field.clone(), value.clone());
        }
    }
    let parsed = if rest.is_empty() {
        None
    } else {
        Some(Projection::parse_for_query(&rest, filter)?)
    };
    Ok((parsed, scores))
}

fn shape(found: Scored, projection: Option<&Projection>, scores: &[String]) -> Result<Document> {
    let mut out = match projection {
        Some(p) => p.apply(&found.doc, found.array_index)?,
        None => found.doc,
    };
    for field in scores {
        match found.score {
            Some(score) => set_path(&mut out, field, Bson::Double(score)),
            // A document only another `$or` clause matched has no score: mongod leaves the
            // field out; an aggregation's hidden field says "no score" with null.
            None if field == TEXT_SCORE_FIELD => set_path(&mut out, field, Bson::Null),
            None => {}
        }
    }
    Ok(out)
}

/// Sets a dotted path, creating (or replacing non-document values by) embedded documents.
fn set_path(doc: &mut Document, dotted: &str, value: Bson) {
    match dotted.split_once('.') {
        None => {
            doc.insert(dotted, value);
        }
        Some((first, rest)) => {
            if !matches!(doc.get(first), Some(Bson::Document(_))) {
                doc.insert(first, Document::new());
            }
            if let Some(Bson::Document(sub)) = doc.get_mut(first) {
                set_path(sub, rest, value);
            }
        }
    }
}

fn parse_sort(spec: &Document, collation: Option<Arc<Collation>>) -> Result<Vec<SortKey>> {
    let mut keys = Vec::with_capacity(spec.len());
    for (field, value) in spec {
        if is_text_score_meta(value) {
            keys.push(SortKey::Score);
        } else {
            let single = bson::doc! {field.clone(): value.clone()};
            keys.push(SortKey::Field(
                SortSpec::parse(&single)?.with_collation(collation.clone()),
            ));
        }
    }
    Ok(keys)
}

fn sort_scored(found: Vec<Scored>, sort: &[SortKey]) -> Vec<Scored> {
    let mut keyed: Vec<(Vec<Vec<Bson>>, Scored)> = found
        .into_iter()
        .map(|s| {
            let keys = sort
                .iter()
                .map(|k| match k {
                    SortKey::Score => Vec::new(),
                    SortKey::Field(spec) => spec.sort_key(&s.doc),
                })
                .collect();
            (keys, s)
        })
        .collect();
    keyed.sort_by(|(ka, a), (kb, b)| {
        for (i, key) in sort.iter().enumerate() {
            let order = match key {
                // Highest first; documents without a score last.
                SortKey::Score => match (b.score, a.score) {
                    (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
                    (x, y) => x.is_some().cmp(&y.is_some()),
                },
                SortKey::Field(spec) => match (ka.get(i), kb.get(i)) {
                    (Some(x), Some(y)) => spec.compare_keys(x, y),
                    _ => Ordering::Equal,
                },
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    });
    keyed.into_iter().map(|(_, s)| s).collect()
}
