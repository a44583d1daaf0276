//! What the fuzz targets share: turning AFL's bytes into a BSON document, and the fixed
//! documents that filters, updates and pipelines are tried on.

use bson::{doc, Document};

/// The input as one BSON document, or `None` when it is not one (those inputs are the wire
/// target's business).
pub fn document(data: &[u8]) -> Option<Document> {
    Document::from_reader(data).ok()
}

/// Documents of the shapes drivers' tests use: nested documents, arrays of scalars and of
/// documents, strings, numbers of each type, dates, nulls and missing fields.
pub fn sample_documents() -> Vec<Document> {
    vec![
        doc! {"_id": 1, "a": 1, "b": "x", "c": [1, 2, 3], "d": {"e": 5, "f": [{"g": 1}, {"g": 2}]}},
        doc! {"_id": 2, "a": 2.5, "b": null, "c": [], "d": {"e": "five"}, "t": bson::DateTime::from_millis(0)},
        doc! {"_id": "three", "a": bson::Decimal128::from_bytes([0; 16]), "c": [[1, 2], {"x": 1}], "s": "Café"},
        doc! {"_id": bson::oid::ObjectId::from_bytes([1; 12]), "a": i64::MAX, "arr": [{"a": 1, "b": [1, 2]}, {"a": 2}]},
        doc! {"_id": 5},
    ]
}
