//! Text search as mongod does it (text index version 3): the tokenizer (`tokenizer`), the
//! languages with their stemmers and stop words (`language`), a text index's specification
//! and the scores of a document's terms (`spec`), and `$text`: its arguments, the parsed
//! search and the match of one document (`query`). The index keys and the read that uses them
//! are in `engine::text_index` and `engine::read::text`.

pub mod language;
pub mod query;
pub mod spec;
pub mod tokenizer;

#[cfg(test)]
mod proptests;

use bson::{Bson, Document};

pub use language::Language;
pub use query::{TextArgs, TextQuery};
pub use spec::{TextIndexOptions, TextSpec};

use crate::error::Result;

/// A filter's `$text`, parsed, and the rest of the filter; `None` without one. The `$text`
/// may be at the top level or inside `$and` (at any depth of `$and`s), which is the same
/// conjunction; mongod allows one `$text` per query (2 otherwise). Anywhere else (`$or`,
/// `$nor`, `$not`, `$elemMatch`) the filter parser refuses it by name.
pub fn split_text(filter: &Document) -> Result<Option<(TextArgs, Document)>> {
    let mut found = None;
    let rest = take_text(filter, &mut found)?;
    Ok(found.map(|args| (args, rest)))
}

/// `filter` without its `$text` (top level or in `$and`), which goes to `found`. An `$and`
/// left empty is dropped; malformed `$and`s are kept for the filter parser's errors.
fn take_text(filter: &Document, found: &mut Option<TextArgs>) -> Result<Document> {
    let mut rest = Document::new();
    for (key, value) in filter {
        match (key.as_str(), value) {
            ("$text", _) => {
                if found.is_some() {
                    return Err(crate::error::Error::BadValue(
                        "Too many text expressions".into(),
                    ));
                }
                *found = Some(TextArgs::parse(value)?);
            }
            ("$and", Bson::Array(items)) => {
                let mut kept = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Bson::Document(clause)
                            if clause.contains_key("$text") || clause.contains_key("$and") =>
                        {
                            let clause = take_text(clause, found)?;
                            if !clause.is_empty() {
                                kept.push(Bson::Document(clause));
                            }
                        }
                        other => kept.push(other.clone()),
                    }
                }
                if !kept.is_empty() || items.is_empty() {
                    rest.insert(key.clone(), Bson::Array(kept));
                }
            }
            _ => {
                rest.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(rest)
}

/// The hidden field in which an aggregation whose first stage is a `$match` with `$text`
/// carries each document's text score from stage to stage, where `{$meta: "textScore"}`
/// reads it. The NUL byte makes it a name no stored document can have (BSON field names are
/// C strings): it can only come from the text read, never collides with a user's field, and
/// is taken off every document a pipeline returns or writes ([`strip_text_score`]), and off
/// `$$ROOT`/`$$CURRENT`.
pub const TEXT_SCORE_FIELD: &str = "\0textScore";

/// Takes the hidden text score off a document, if it has one.
pub fn strip_text_score(doc: &mut Document) {
    if doc.contains_key(TEXT_SCORE_FIELD) {
        doc.remove(TEXT_SCORE_FIELD);
    }
}

/// Whether `value` is `{$meta: "textScore"}`.
pub fn is_text_score_meta(value: &Bson) -> bool {
    matches!(value, Bson::Document(d) if d.len() == 1
        && matches!(d.get("$meta"), Some(Bson::String(s)) if s == "textScore"))
}

#[cfg(test)]
mod split_tests {
    use super::*;
    use bson::doc;

    fn rest(filter: Document) -> Option<Document> {
        split_text(&filter).expect("valid").map(|(_, rest)| rest)
    }

    #[test]
    fn text_comes_out_of_the_top_level_and_of_nested_ands() {
        assert_eq!(rest(doc! {"a": 1}), None);
        assert_eq!(
            rest(doc! {"$text": {"$search": "x"}, "a": 1}),
            Some(doc! {"a": 1})
        );
        assert_eq!(
            rest(doc! {"$and": [{"$text": {"$search": "x"}, "b": 2}, {"a": 1}]}),
            Some(doc! {"$and": [{"b": 2}, {"a": 1}]})
        );
        assert_eq!(
            rest(doc! {"c": 3, "$and": [{"$and": [{"$text": {"$search": "x"}}]}]}),
            Some(doc! {"c": 3})
        );
        // `$or` is left to the filter parser (which refuses `$text` there by name).
        let or = doc! {"$or": [{"$text": {"$search": "x"}}, {"a": 1}]};
        assert_eq!(rest(or), None);
        // An empty `$and` stays for the parser's error.
        assert_eq!(rest(doc! {"$and": []}), None);
    }

    #[test]
    fn one_text_per_query() {
        let twice = doc! {"$text": {"$search": "x"}, "$and": [{"$text": {"$search": "y"}}]};
        assert_eq!(split_text(&twice).err().map(|e| e.code()), Some(2));
    }
}
