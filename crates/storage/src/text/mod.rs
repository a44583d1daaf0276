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

/// A filter's top-level `$text`, parsed, and the rest of the filter; `None` without one.
pub fn split_text(filter: &Document) -> Result<Option<(TextArgs, Document)>> {
    let Some(value) = filter.get("$text") else {
        return Ok(None);
    };
    let args = TextArgs::parse(value)?;
    let rest: Document = filter
        .iter()
        .filter(|(k, _)| k.as_str() != "$text")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Some((args, rest)))
}

/// Whether `value` is `{$meta: "textScore"}`.
pub fn is_text_score_meta(value: &Bson) -> bool {
    matches!(value, Bson::Document(d) if d.len() == 1
        && matches!(d.get("$meta"), Some(Bson::String(s)) if s == "textScore"))
}
