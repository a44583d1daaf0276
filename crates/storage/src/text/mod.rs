//! Text search as mongod does it (text index version 3): the tokenizer (`tokenizer`), the
//! languages with their stemmers and stop words (`language`), a text index's specification
//! and the scores of a document's terms (`spec`), and `$text`: its arguments, the parsed
//! search and the match of one document (`query`). The index keys and the read that uses them
//! are in `engine::text_index` and `engine::read::text`.

pub mod language;
pub mod query;
pub mod spec;
pub mod split;
pub mod tokenizer;

#[cfg(test)]
mod proptests;

use bson::{Bson, Document};

pub use language::Language;
pub use query::{TextArgs, TextQuery};
pub use spec::{TextIndexOptions, TextSpec};
pub use split::{split_text, TextSplit, TEXT_MATCH_FIELD};

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
