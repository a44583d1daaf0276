//! A text index's specification (mongod's `FTSSpec`): the key pattern as stored
//! (`{prefix..., _fts: "text", _ftsx: 1, suffix...}`), field weights, the default language and
//! the language override field; which strings of a document it indexes, and their scores.

use std::collections::{BTreeMap, HashMap};

use bson::{Bson, Document};
use serde::{Deserialize, Serialize};

use super::language::Language;
use super::tokenizer::{tokens, TokenOptions};
use crate::error::{Error, Result};
use crate::value::compare::type_name;

/// The wildcard field of `{"$**": "text"}`.
pub const WILDCARD: &str = "$**";
/// Weights are integers in the exclusive interval (0, 100000).
const MAX_WORD_WEIGHT: i64 = 100_000;

/// The text options stored with an index (what `listIndexes` shows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextIndexOptions {
    /// Field (dotted path, or `$**`) to weight, in field name order.
    pub weights: Document,
    pub default_language: String,
    pub language_override: String,
    pub text_index_version: i32,
}

impl TextIndexOptions {
    /// The options' fields in `listIndexes`' order.
    pub fn append_to(&self, spec: &mut Document) {
        spec.insert("weights", self.weights.clone());
        spec.insert("default_language", self.default_language.clone());
        spec.insert("language_override", self.language_override.clone());
        spec.insert("textIndexVersion", self.text_index_version);
    }
}

/// Whether a user's key pattern makes a text index (some field is `"text"`, or the stored
/// form's `_fts`).
pub fn is_text_key(key: &Document) -> bool {
    key.iter()
        .any(|(k, v)| k == "_fts" || matches!(v, Bson::String(s) if s == "text"))
}

fn cannot_create(message: impl Into<String>) -> Error {
    Error::CannotCreateIndex(message.into())
}

/// Turns a user's text index specification into the stored key pattern and options, with
/// mongod's checks (`FTSSpec::fixSpec`).
pub fn fix_spec(spec: &Document, key: &Document) -> Result<(Document, TextIndexOptions)> {
    let (stored_key, mut weights) = fix_key(key)?;
    match spec.get("weights") {
        None => {}
        Some(Bson::Document(w)) => {
            for (field, value) in w {
                let number = match value {
                    Bson::Int32(n) => i64::from(*n),
                    Bson::Int64(n) => *n,
                    // mongod keeps the integer part (`numberInt`).
                    Bson::Double(n) if n.is_finite() => n.trunc() as i64,
                    Bson::Double(_) => 0,
                    _ => return Err(cannot_create("weight for text index needs numeric type")),
                };
                weights.insert(field.clone(), number);
            }
        }
        Some(Bson::String(s)) if s == WILDCARD => {
            weights.insert(WILDCARD.to_owned(), 1);
        }
        Some(_) => {
            return Err(cannot_create(
                "text index option 'weights' must be an object",
            ))
        }
    }
    if weights.is_empty() {
        return Err(cannot_create(
            "text index option 'weights' must specify fields or the wildcard",
        ));
    }
    let mut weight_doc = Document::new();
    for (field, weight) in weights {
        check_weight(&field, weight)?;
        let weight = i32::try_from(weight).unwrap_or(i32::MAX);
        weight_doc.insert(field, weight);
    }
    let default_language = match spec.get("default_language") {
        None => "english".to_owned(),
        Some(Bson::String(s)) => {
            if Language::parse(s).is_none() {
                return Err(cannot_create("default_language is not valid"));
            }
            s.clone()
        }
        Some(_) => return Err(cannot_create("default_language needs a string type")),
    };
    let language_override = match spec.get("language_override") {
        None => "language".to_owned(),
        Some(Bson::String(s)) => {
            if s.is_empty() || s.starts_with('$') || s.contains('.') {
                return Err(cannot_create("language_override is not valid"));
            }
            s.clone()
        }
        Some(_) => return Err(cannot_create("language_override must be a string")),
    };
    let text_index_version = match spec.get("textIndexVersion") {
        None => 3,
        Some(v @ (Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_))) => {
            let n = number(v).unwrap_or(0.0);
            if n != 3.0 {
                return Err(Error::NotSupported(format!(
                    "textIndexVersion {n} is not supported by Outpost (only version 3 is)"
                )));
            }
            3
        }
        Some(_) => {
            return Err(cannot_create(
                "text index option 'textIndexVersion' must be a number",
            ))
        }
    };
    Ok((
        stored_key,
        TextIndexOptions {
            weights: weight_doc,
            default_language,
            language_override,
            text_index_version,
        },
    ))
}

/// The stored key pattern and the text fields (weight 1) of a user's key pattern: ordinary
/// fields before, the text fields (adjacent) as `_fts: "text", _ftsx: 1`, ordinary after.
fn fix_key(key: &Document) -> Result<(Document, BTreeMap<String, i64>)> {
    let mut stored = Document::new();
    let mut weights = BTreeMap::new();
    // 0: before the text fields, 1: in them, 2: after.
    let mut section = 0;
    for (field, value) in key {
        let is_text = matches!(value, Bson::String(s) if s == "text");
        if field == "_fts" || field == "_ftsx" {
            if field == "_fts" && !is_text {
                return Err(cannot_create("expecting _fts:\"text\""));
            }
            if field == "_ftsx" && number(value) != Some(1.0) {
                return Err(cannot_create("expecting _ftsx:1"));
            }
            if section == 2 {
                return Err(cannot_create("'text' fields in index must all be adjacent"));
            }
            section = 1;
            stored.insert(field.clone(), value.clone());
            continue;
        }
        if is_text {
            if section == 2 {
                return Err(cannot_create("'text' fields in index must all be adjacent"));
            }
            if section == 0 {
                stored.insert("_fts", "text");
                stored.insert("_ftsx", 1);
            }
            section = 1;
            weights.insert(field.clone(), 1);
            continue;
        }
        let direction = number(value);
        if direction != Some(1.0) && direction != Some(-1.0) {
            return Err(cannot_create(
                "expected value 1 or -1 for non-text key in compound index",
            ));
        }
        if section == 1 {
            section = 2;
        }
        stored.insert(field.clone(), value.clone());
    }
    Ok((stored, weights))
}

fn check_weight(field: &str, weight: i64) -> Result<()> {
    if weight <= 0 || weight >= MAX_WORD_WEIGHT {
        return Err(cannot_create(format!(
            "text index weight must be in the exclusive interval (0,{MAX_WORD_WEIGHT}) but found: {weight}"
        )));
    }
    if field == WILDCARD {
        return Ok(());
    }
    if field.is_empty() {
        return Err(cannot_create("weight cannot be on an empty field"));
    }
    for part in field.split('.') {
        if part.is_empty() {
            return Err(cannot_create("weight cannot have empty path component"));
        }
        if part.starts_with('$') {
            return Err(cannot_create(
                "weight cannot have path component with $ prefix",
            ));
        }
    }
    crate::value::path::check_path_length(field)
}

/// A text index's specification, ready to score documents.
#[derive(Debug, Clone)]
pub struct TextSpec {
    /// Weights of named fields, in field name order (the wildcard is not among them).
    weights: BTreeMap<String, f64>,
    wildcard: bool,
    pub default_language: Language,
    pub language_override: String,
    /// Ordinary key fields before and after the text fields.
    pub prefix: Vec<String>,
    pub suffix: Vec<String>,
}

/// One string a text index indexes, with its language and weight.
#[derive(Debug, Clone)]
pub struct IndexedString<'a> {
    pub text: &'a str,
    pub language: Language,
    pub weight: f64,
}

impl TextSpec {
    pub fn new(key: &Document, options: &TextIndexOptions) -> Result<TextSpec> {
        let mut weights = BTreeMap::new();
        let mut wildcard = false;
        for (field, value) in &options.weights {
            if field == WILDCARD {
                wildcard = true;
            } else {
                let weight = number(value).unwrap_or(1.0);
                weights.insert(field.clone(), weight);
            }
        }
        let mut prefix = Vec::new();
        let mut suffix = Vec::new();
        let mut passed = false;
        for field in key.keys() {
            if field == "_fts" || field == "_ftsx" {
                passed = true;
            } else if passed {
                suffix.push(field.clone());
            } else {
                prefix.push(field.clone());
            }
        }
        Ok(TextSpec {
            weights,
            wildcard,
            default_language: Language::parse_or_error(&options.default_language)?,
            language_override: options.language_override.clone(),
            prefix,
            suffix,
        })
    }

    /// The language of a (sub)document: its override field, else `current`.
    fn language_of(&self, doc: &Document, current: Language) -> Result<Language> {
        match doc.get(&self.language_override) {
            None => Ok(current),
            Some(Bson::String(name)) => Language::parse(name).ok_or_else(|| {
                Error::coded(17262, format!("language override unsupported: {name}"))
            }),
            Some(other) => Err(Error::coded(
                17261,
                format!(
                    "found language override field in document with non-string type: {}",
                    type_name(other)
                ),
            )),
        }
    }

    /// The strings of `doc` the index covers, in document order (mongod's
    /// `FTSElementIterator`).
    pub fn indexed_strings<'a>(&self, doc: &'a Document) -> Result<Vec<IndexedString<'a>>> {
        let mut out = Vec::new();
        let language = self.language_of(doc, self.default_language)?;
        self.walk(doc.iter(), "", false, language, &mut out)?;
        Ok(out)
    }

    fn walk<'a, 'n>(
        &self,
        fields: impl Iterator<Item = (&'n String, &'a Bson)>,
        parent: &str,
        in_array: bool,
        language: Language,
        out: &mut Vec<IndexedString<'a>>,
    ) -> Result<()> {
        for (name, value) in fields {
            if self.wildcard && *name == self.language_override {
                continue;
            }
            let dotted = if parent.is_empty() {
                name.clone()
            } else if in_array {
                parent.to_owned()
            } else {
                format!("{parent}.{name}")
            };
            // The first weight at or after the path (or after `path.` for a document): a
            // match, a longer path under it, or nothing that can match.
            let seek = if matches!(value, Bson::Document(_)) {
                format!("{dotted}.")
            } else {
                dotted.clone()
            };
            let next = self.weights.range(seek..).next();
            let prefix_match =
                next.is_some_and(|(w, _)| *w == dotted || w.starts_with(&format!("{dotted}.")));
            if !self.wildcard && !prefix_match {
                continue;
            }
            let exact = next.is_some_and(|(w, _)| *w == dotted);
            // mongod's quirk, kept: under a wildcard, a field with no weight of its own takes
            // the weight found by the seek when there is one.
            let weight = next.map_or(1.0, |(_, w)| *w);
            match value {
                Bson::String(text) if exact || self.wildcard => out.push(IndexedString {
                    text,
                    language,
                    weight,
                }),
                Bson::Document(sub) if !exact || self.wildcard => {
                    let sub_language = self.language_of(sub, language)?;
                    self.walk(sub.iter(), &dotted, false, sub_language, out)?;
                }
                Bson::Array(items) if !in_array || self.wildcard => {
                    let names: Vec<String> = (0..items.len()).map(|i| i.to_string()).collect();
                    self.walk(names.iter().zip(items.iter()), &dotted, true, language, out)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Each term of `doc` with its score (mongod's `scoreDocument`, version 2 and 3 scoring).
    pub fn score_document(&self, doc: &Document) -> Result<HashMap<String, f64>> {
        let mut scores = HashMap::new();
        for item in self.indexed_strings(doc)? {
            score_string(item.text, item.language, item.weight, &mut scores);
        }
        Ok(scores)
    }
}

/// Adds the scores of one string's terms: each occurrence of a term counts half the one
/// before (1 + 1/2 + 1/4 ...), times `0.5 * count / tokens + 0.5`, times 1.1 when the term
/// is the whole string (ASCII case aside), times the field's weight.
pub fn score_string(raw: &str, language: Language, weight: f64, scores: &mut HashMap<String, f64>) {
    struct Helper {
        freq: f64,
        count: f64,
        exp: f64,
    }
    let mut terms: BTreeMap<String, Helper> = BTreeMap::new();
    let mut total = 0u32;
    for term in tokens(raw, language, TokenOptions::INDEX) {
        let data = terms.entry(term).or_insert(Helper {
            freq: 0.0,
            count: 0.0,
            exp: 0.0,
        });
        data.exp = if data.exp == 0.0 { 1.0 } else { data.exp * 2.0 };
        data.count += 1.0;
        data.freq += 1.0 / data.exp;
        total += 1;
    }
    for (term, data) in terms {
        let coeff = (0.5 * data.count / f64::from(total)) + 0.5;
        let adjustment = if raw.len() == term.len() && raw.eq_ignore_ascii_case(&term) {
            1.1
        } else {
            1.0
        };
        *scores.entry(term).or_insert(0.0) += weight * data.freq * coeff * adjustment;
    }
}

/// A number's value (int32, int64, double; not decimal128, as mongod's weights).
fn number(v: &Bson) -> Option<f64> {
    match v {
        Bson::Int32(n) => Some(f64::from(*n)),
        Bson::Int64(n) => Some(*n as f64),
        Bson::Double(n) => Some(*n),
        _ => None,
    }
}
