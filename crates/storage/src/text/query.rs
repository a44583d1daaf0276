//! `$text: {$search, $language, $caseSensitive, $diacriticSensitive}`: the operator's
//! arguments, the search string parsed into terms, negated terms and phrases (mongod's
//! `FTSQueryImpl` and `FTSQueryParser`), and the match of one document (`FTSMatcher`).

use std::collections::BTreeSet;

use bson::{Bson, Document};

use super::language::Language;
use super::spec::TextSpec;
use super::tokenizer::{fold_for_match, tokens, TokenOptions};
use crate::error::{Error, Result};

/// The arguments of `$text`, before the index (and so the default language) is known.
#[derive(Debug, Clone, PartialEq)]
pub struct TextArgs {
    pub search: String,
    pub language: Option<String>,
    pub case_sensitive: bool,
    pub diacritic_sensitive: bool,
}

impl TextArgs {
    /// Parses the value of `$text`, with mongod's messages.
    pub fn parse(value: &Bson) -> Result<TextArgs> {
        let Bson::Document(d) = value else {
            return Err(Error::BadValue("$text expects an object".into()));
        };
        let mut args = TextArgs {
            search: String::new(),
            language: None,
            case_sensitive: false,
            diacritic_sensitive: false,
        };
        let mut has_search = false;
        for (key, v) in d {
            match (key.as_str(), v) {
                ("$search", Bson::String(s)) => {
                    args.search = s.clone();
                    has_search = true;
                }
                ("$search", _) => return Err(Error::BadValue("$search needs a String".into())),
                ("$language", Bson::String(s)) => args.language = Some(s.clone()),
                ("$language", _) => return Err(Error::BadValue("$language needs a String".into())),
                ("$caseSensitive", Bson::Boolean(b)) => args.case_sensitive = *b,
                ("$caseSensitive", _) => {
                    return Err(Error::BadValue("$caseSensitive needs a boolean".into()))
                }
                ("$diacriticSensitive", Bson::Boolean(b)) => args.diacritic_sensitive = *b,
                ("$diacriticSensitive", _) => {
                    return Err(Error::BadValue(
                        "$diacriticSensitive needs a boolean".into(),
                    ))
                }
                _ => return Err(Error::BadValue(format!("extra fields in $text: {key}"))),
            }
        }
        if !has_search {
            return Err(Error::BadValue("$search needs a String".into()));
        }
        if let Some(name) = &args.language {
            Language::parse_or_error(name)?;
        }
        Ok(args)
    }

    /// The `$text` document, for messages and explain.
    pub fn to_document(&self) -> Document {
        let mut d = bson::doc! {"$search": self.search.clone()};
        if let Some(l) = &self.language {
            d.insert("$language", l.clone());
        }
        d.insert("$caseSensitive", self.case_sensitive);
        d.insert("$diacriticSensitive", self.diacritic_sensitive);
        d
    }
}

/// A parsed search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextQuery {
    pub language: Option<Language>,
    pub case_sensitive: bool,
    pub diacritic_sensitive: bool,
    /// Index terms (folded, stemmed, no stop words) of the positive words: the index keys
    /// to look up, and the terms whose scores add up.
    pub terms_for_bounds: BTreeSet<String>,
    /// Terms the matcher looks for (case or diacritic sensitive when asked).
    pub positive_terms: BTreeSet<String>,
    pub negated_terms: BTreeSet<String>,
    pub positive_phrases: Vec<String>,
    pub negated_phrases: Vec<String>,
}

/// A piece of the search string.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Minus,
    Quote(usize),
}

/// Splits a search string into text runs, `-` and `"` (with the byte offset of quotes),
/// each with whether whitespace came before it. Whitespace is space, LF, VT, FF and CR.
fn pieces(search: &str) -> Vec<(Piece<'_>, bool)> {
    let is_space = |c: char| matches!(c, ' ' | '\n' | '\u{b}' | '\u{c}' | '\r');
    let mut out = Vec::new();
    let mut previous_space = true;
    let mut rest = search.char_indices().peekable();
    while let Some((start, c)) = rest.next() {
        if is_space(c) {
            previous_space = true;
            continue;
        }
        let piece = match c {
            '-' => Piece::Minus,
            '"' => Piece::Quote(start),
            _ => {
                let mut end = start + c.len_utf8();
                while let Some(&(i, next)) = rest.peek() {
                    if is_space(next) || next == '-' || next == '"' {
                        break;
                    }
                    end = i + next.len_utf8();
                    rest.next();
                }
                Piece::Text(search.get(start..end).unwrap_or(""))
            }
        };
        out.push((piece, previous_space));
        previous_space = false;
    }
    out
}

impl TextQuery {
    /// Parses `args.search` in `language` (mongod's rules: `-` right before a word or a
    /// phrase negates it, up to the next whitespace; words inside phrases are positive
    /// terms too; an unclosed quote leaves its words as terms).
    pub fn parse(args: &TextArgs, language: Language) -> TextQuery {
        let mut query = TextQuery {
            language: Some(language),
            case_sensitive: args.case_sensitive,
            diacritic_sensitive: args.diacritic_sensitive,
            ..TextQuery::default()
        };
        let search = args.search.as_str();
        let mut in_negation = false;
        let mut in_phrase = false;
        let mut quote_offset = 0usize;
        for (piece, previous_space) in pieces(search) {
            match piece {
                Piece::Text(text) => {
                    if in_phrase && in_negation {
                        continue;
                    }
                    if in_negation && !in_phrase && previous_space {
                        in_negation = false;
                    }
                    query.add_terms(text, language, in_negation);
                }
                Piece::Minus => {
                    if !in_phrase && previous_space {
                        in_negation = true;
                    }
                }
                Piece::Quote(offset) => {
                    if in_phrase {
                        let phrase = search.get(quote_offset + 1..offset).unwrap_or("");
                        if in_negation {
                            query.negated_phrases.push(phrase.to_owned());
                        } else {
                            query.positive_phrases.push(phrase.to_owned());
                        }
                        in_phrase = false;
                    } else {
                        in_phrase = true;
                        if in_negation && previous_space {
                            in_negation = false;
                        }
                        quote_offset = offset;
                    }
                }
            }
        }
        query
    }

    fn add_terms(&mut self, text: &str, language: Language, negated: bool) {
        let folded = tokens(text, language, TokenOptions::INDEX);
        let sensitive = self.case_sensitive || self.diacritic_sensitive;
        for term in folded {
            if !negated {
                self.terms_for_bounds.insert(term.clone());
            }
            if !sensitive {
                self.active(negated).insert(term);
            }
        }
        if sensitive {
            let options = TokenOptions {
                filter_stop_words: true,
                case_sensitive: self.case_sensitive,
                diacritic_sensitive: self.diacritic_sensitive,
            };
            for term in tokens(text, language, options) {
                self.active(negated).insert(term);
            }
        }
    }

    fn active(&mut self, negated: bool) -> &mut BTreeSet<String> {
        if negated {
            &mut self.negated_terms
        } else {
            &mut self.positive_terms
        }
    }

    /// Whether `doc` (found through the index by one of `terms_for_bounds`) matches: a
    /// positive term (checked again only when case or diacritic sensitive), no negated
    /// term, every positive phrase and no negated phrase (mongod's `FTSMatcher`).
    pub fn matches(&self, spec: &TextSpec, doc: &Document) -> Result<bool> {
        let strings = spec.indexed_strings(doc)?;
        let options = TokenOptions {
            filter_stop_words: false,
            case_sensitive: self.case_sensitive,
            diacritic_sensitive: self.diacritic_sensitive,
        };
        let has_term = |terms: &BTreeSet<String>| {
            strings.iter().any(|s| {
                tokens(s.text, s.language, options)
                    .iter()
                    .any(|t| terms.contains(t))
            })
        };
        if (self.case_sensitive || self.diacritic_sensitive) && !has_term(&self.positive_terms) {
            return Ok(false);
        }
        if !self.negated_terms.is_empty() && has_term(&self.negated_terms) {
            return Ok(false);
        }
        let phrase_in_doc = |phrase: &str| {
            strings.iter().any(|s| {
                let hay = fold_for_match(
                    s.text,
                    s.language,
                    self.case_sensitive,
                    self.diacritic_sensitive,
                );
                let needle = fold_for_match(
                    phrase,
                    s.language,
                    self.case_sensitive,
                    self.diacritic_sensitive,
                );
                hay.contains(&needle)
            })
        };
        if !self.positive_phrases.iter().all(|p| phrase_in_doc(p)) {
            return Ok(false);
        }
        Ok(!self.negated_phrases.iter().any(|p| phrase_in_doc(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(search: &str) -> TextQuery {
        let args = TextArgs {
            search: search.into(),
            language: None,
            case_sensitive: false,
            diacritic_sensitive: false,
        };
        TextQuery::parse(&args, Language::English)
    }

    fn set(words: &[&str]) -> BTreeSet<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn terms_negations_and_phrases() {
        let q = parse("coffee -tea \"hot milk\" -\"cold brew\" the");
        assert_eq!(q.positive_terms, set(&["coffe", "hot", "milk"]));
        assert_eq!(q.negated_terms, set(&["tea"]));
        assert_eq!(q.positive_phrases, ["hot milk"]);
        assert_eq!(q.negated_phrases, ["cold brew"]);
        assert_eq!(q.terms_for_bounds, q.positive_terms);
    }

    #[test]
    fn minus_inside_words_and_phrases_does_not_negate() {
        let q = parse("pre-war \"a -b\"");
        assert_eq!(q.positive_terms, set(&["pre", "war", "b"]));
        assert!(q.negated_terms.is_empty());
        // A negation lasts until whitespace.
        let q = parse("-foo-bar baz");
        assert_eq!(q.negated_terms, set(&["foo", "bar"]));
        assert_eq!(q.positive_terms, set(&["baz"]));
    }

    #[test]
    fn arguments() {
        assert!(TextArgs::parse(&Bson::Document(bson::doc! {"$search": 1})).is_err());
        assert!(TextArgs::parse(&Bson::Document(bson::doc! {"$search": "a", "x": 1})).is_err());
        assert!(TextArgs::parse(&Bson::Document(
            bson::doc! {"$search": "a", "$language": "klingon"}
        ))
        .is_err());
        let ok = TextArgs::parse(&Bson::Document(
            bson::doc! {"$search": "a", "$caseSensitive": true},
        ))
        .expect("valid");
        assert!(ok.case_sensitive);
    }
}
