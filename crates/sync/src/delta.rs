//! Field deltas: an update uploads only the top-level fields it touched, not the whole
//! document (protocol 3.1, `partial: true`). A 2 KB document whose one small field changed
//! travels as that field (the change names the `_id` already).
//!
//! Whole top-level fields, not only the changed paths inside them, because the hub's merge
//! falls back to the whole top-level field when a path crosses a value that is not a document
//! at the hub (see [`crate::merge::merge_update`]). A field the update removed is absent from
//! the delta exactly as from the whole document, so the merge reads the same values from both.

use std::collections::HashSet;

use bson::Document;
use outpost_storage::split_field_path;

/// The delta of `doc` for an update that changed `fields` (field paths): each top-level field
/// a path starts in (never `_id`). `None` when it would not leave out any field but `_id`.
pub fn field_delta(doc: &Document, fields: &[String]) -> Option<Document> {
    let top: HashSet<String> = fields
        .iter()
        .filter_map(|field| split_field_path(field).into_iter().next())
        .collect();
    let delta: Document = doc
        .iter()
        .filter(|(key, _)| key.as_str() != "_id" && top.contains(key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    (delta.len() + 1 < doc.len()).then_some(delta)
}

/// What the delta of `fields` would be if the hub's `stored` document were the edge's: used
/// to tell whether a re-sent delta is what the hub holds.
pub fn project_like(stored: &Document, delta: &Document) -> Document {
    stored
        .iter()
        .filter(|(key, _)| delta.contains_key(key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;
    use outpost_storage::join_field_path;

    #[test]
    fn a_delta_holds_the_touched_top_level_fields() {
        let doc = doc! {"_id": 1, "a": 1, "b": {"c": 1, "d": 2}, "e": "x".repeat(2000)};
        let nested = join_field_path(&["b".to_string(), "c".to_string()]);
        assert_eq!(
            field_delta(&doc, &[nested, "gone".into()]),
            Some(doc! {"b": {"c": 1, "d": 2}})
        );
        assert_eq!(field_delta(&doc, &["a".into()]), Some(doc! {"a": 1}));
        let all: Vec<String> = ["a", "b", "e"].map(String::from).to_vec();
        assert_eq!(
            field_delta(&doc, &all),
            None,
            "not smaller than the document"
        );
        assert_eq!(
            project_like(&doc! {"_id": 1, "a": 2, "z": 0}, &doc! {"a": 1}),
            doc! {"a": 2}
        );
    }
}
