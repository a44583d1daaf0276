//! `validate`: a full check of a collection's documents against its index trees.
//!
//! Every stored document must decode and sit under the key its `_id` encodes to; every index
//! must hold exactly the entries its documents produce (missing and extra entries are errors),
//! and be flagged multikey if a document gives it several keys; a capped collection's
//! insertion order must name each document once. Documents the validator refuses are counted
//! as non-compliant (a warning, as in mongod). The expected entries of one index are held in
//! memory while its tree is read.

use std::collections::HashSet;

use super::catalog::{Collection, Index};
use super::index::{document_keys, entry_key};
use super::{decode_document, Storage};
use crate::error::{Error, Result};
use crate::value::keyenc;

/// At most this many problems are listed per kind (the counts stay exact).
const MAX_LISTED: usize = 20;

/// What `validate` found.
#[derive(Debug, Clone, Default)]
pub struct ValidateReport {
    pub nrecords: u64,
    /// Index name and number of entries, the `_id_` index first.
    pub keys_per_index: Vec<(String, u64)>,
    /// Index name and whether it agrees with the documents.
    pub index_valid: Vec<(String, bool)>,
    /// Documents that do not decode or are stored under the wrong key.
    pub invalid_documents: u64,
    /// Documents the collection's validator refuses.
    pub non_compliant_documents: u64,
    pub missing_index_entries: u64,
    pub extra_index_entries: u64,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

impl ValidateReport {
    pub fn valid(&self) -> bool {
        self.errors.is_empty()
    }

    fn error(&mut self, message: String) {
        if self.errors.len() < MAX_LISTED {
            self.errors.push(message);
        }
    }
}

impl Storage {
    /// Checks `db.coll` (see the module documentation). Fails with NamespaceNotFound when it
    /// does not exist and CommandNotSupportedOnView (166) for a view.
    pub fn validate(&self, db: &str, coll: &str) -> Result<ValidateReport> {
        let collection = self.collection(db, coll).ok_or_else(|| {
            Error::NamespaceNotFound(format!(
                "Collection '{db}.{coll}' does not exist to validate."
            ))
        })?;
        if collection.meta.is_view() {
            return Err(Error::coded(
                166,
                format!("Cannot validate a view: {db}.{coll}"),
            ));
        }
        let mut report = ValidateReport::default();
        let docs = check_documents(&collection, &mut report)?;
        if !collection.indexes.iter().any(|i| i.meta.is_id_index()) {
            report
                .keys_per_index
                .push(("_id_".to_owned(), report.nrecords));
            report.index_valid.push(("_id_".to_owned(), true));
        }
        for index in &collection.indexes {
            check_index(&collection, index, &docs, &mut report)?;
        }
        check_capped_order(&collection, &mut report)?;
        if report.non_compliant_documents > 0 {
            report.warnings.push(format!(
                "Detected {} documents that do not comply with the collection's validator",
                report.non_compliant_documents
            ));
        }
        Ok(report)
    }
}

/// Reads every document: counts them, checks they decode and are keyed by their `_id`, and
/// runs the validator. Returns the keys of the documents that decoded.
fn check_documents(
    collection: &Collection,
    report: &mut ValidateReport,
) -> Result<Vec<sled::IVec>> {
    let mut keys = Vec::new();
    for item in collection.docs.iter() {
        let (doc_key, value) = item?;
        report.nrecords += 1;
        let doc = match decode_document(&value) {
            Ok(doc) => doc,
            Err(e) => {
                report.invalid_documents += 1;
                report.error(format!("a document does not decode: {e}"));
                continue;
            }
        };
        let id = doc.get("_id").cloned().unwrap_or(bson::Bson::Null);
        if keyenc::encode(&id) != doc_key.as_ref() {
            report.invalid_documents += 1;
            report.error(format!(
                "the document with _id {id} is stored under another key"
            ));
        }
        if let Some(validator) = &collection.validator {
            if !validator.filter.matches(&doc) {
                report.non_compliant_documents += 1;
            }
        }
        keys.push(doc_key);
    }
    Ok(keys)
}

/// Compares one index's tree with the entries the documents produce.
fn check_index(
    collection: &Collection,
    index: &Index,
    doc_keys: &[sled::IVec],
    report: &mut ValidateReport,
) -> Result<()> {
    let name = index.meta.name.clone();
    let mut expected: HashSet<Vec<u8>> = HashSet::new();
    let mut multikey = false;
    for doc_key in doc_keys {
        let Some(value) = collection.docs.get(doc_key)? else {
            continue;
        };
        let doc = decode_document(&value)?;
        match document_keys(index, &doc) {
            Ok(Some(keys)) => {
                multikey |= keys.multikey;
                for (key, _) in &keys.keys {
                    expected.insert(entry_key(key, doc_key));
                }
            }
            Ok(None) => {}
            Err(e) => report.error(format!("index {name}: a document cannot be indexed: {e}")),
        }
    }
    let mut entries = 0u64;
    let mut valid = true;
    for item in index.tree.iter() {
        let (key, _) = item?;
        entries += 1;
        if !expected.remove(key.as_ref()) {
            valid = false;
            report.extra_index_entries += 1;
            report.error(format!("index {name} has an entry no document produces"));
        }
    }
    if !expected.is_empty() {
        valid = false;
        report.missing_index_entries += u64::try_from(expected.len()).unwrap_or(u64::MAX);
        report.error(format!(
            "index {name} is missing {} entries of its documents",
            expected.len()
        ));
    }
    if multikey && !index.meta.multikey {
        valid = false;
        report.error(format!(
            "index {name} is not flagged multikey but a document has several keys in it"
        ));
    }
    report.keys_per_index.push((name.clone(), entries));
    report.index_valid.push((name, valid));
    Ok(())
}

/// A capped collection's insertion order names every document exactly once.
fn check_capped_order(collection: &Collection, report: &mut ValidateReport) -> Result<()> {
    let Some(capped) = &collection.capped else {
        return Ok(());
    };
    let mut named = HashSet::new();
    for item in capped.order.scan_prefix([b'o']) {
        let (_, doc_key) = item?;
        if collection.docs.get(&doc_key)?.is_none() || !named.insert(doc_key.to_vec()) {
            report.error("the capped insertion order names a missing or repeated document".into());
        }
    }
    if u64::try_from(named.len()).unwrap_or(u64::MAX) != report.nrecords {
        report.error(format!(
            "the capped insertion order holds {} of the {} documents",
            named.len(),
            report.nrecords
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;
    use crate::engine::WriteOptions;

    fn store_with_index() -> Storage {
        let s = Storage::temporary().expect("store");
        for i in 0..5 {
            s.insert(
                "db",
                "c",
                doc! {"_id": i, "a": i * 10},
                &WriteOptions::default(),
            )
            .expect("insert");
        }
        s.create_indexes("db", "c", &[doc! {"key": {"a": 1}, "name": "a_1"}])
            .expect("index");
        s
    }

    #[test]
    fn a_healthy_collection_is_valid() {
        let s = store_with_index();
        let report = s.validate("db", "c").expect("validate");
        assert!(report.valid(), "{report:?}");
        assert_eq!(report.nrecords, 5);
        assert_eq!(
            report.keys_per_index,
            [("_id_".to_owned(), 5), ("a_1".to_owned(), 5)]
        );
    }

    #[test]
    fn missing_and_extra_index_entries_are_found() {
        let s = store_with_index();
        let collection = s.collection("db", "c").expect("collection");
        let index = collection.indexes.first().expect("a_1");
        let (first, _) = index
            .tree
            .iter()
            .next()
            .expect("an entry")
            .expect("readable");
        index.tree.remove(&first).expect("remove");
        let report = s.validate("db", "c").expect("validate");
        assert!(!report.valid());
        assert_eq!(report.missing_index_entries, 1, "{report:?}");
        assert_eq!(
            report.index_valid,
            [("_id_".to_owned(), true), ("a_1".to_owned(), false)]
        );

        // Put it back, plus an entry for a document that does not exist.
        index.tree.insert(&first, &b"x"[..]).expect("restore");
        let mut bogus = first.to_vec();
        bogus.push(0xff);
        index.tree.insert(bogus, &b"x"[..]).expect("bogus");
        let report = s.validate("db", "c").expect("validate");
        assert_eq!(
            (report.missing_index_entries, report.extra_index_entries),
            (0, 1),
            "{report:?}"
        );
        assert_eq!(report.keys_per_index[1], ("a_1".to_owned(), 6));
    }

    #[test]
    fn a_document_under_the_wrong_key_is_invalid() {
        let s = store_with_index();
        let collection = s.collection("db", "c").expect("collection");
        let bytes = bson::to_vec(&doc! {"_id": 99, "a": 1}).expect("encode");
        collection
            .docs
            .insert(keyenc::encode(&bson::Bson::Int32(100)), bytes)
            .expect("insert");
        let report = s.validate("db", "c").expect("validate");
        assert_eq!(report.invalid_documents, 1, "{report:?}");
        assert!(!report.valid());
    }
}
