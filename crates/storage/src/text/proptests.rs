//! Property tests of the tokenizer, the search parser, the matcher and the scores against
//! straightforward reference implementations on ASCII text (where Unicode's delimiters are
//! whitespace and ASCII punctuation other than `_`, and folding is ASCII lower-casing), in
//! language `none` (no stemming, no stop words) unless said.

use std::collections::{BTreeSet, HashMap};

use bson::{doc, Bson, Document};
use proptest::prelude::*;

use super::language::Language;
use super::query::{TextArgs, TextQuery};
use super::spec::{TextIndexOptions, TextSpec};
use super::tokenizer::{tokens, TokenOptions};

/// ASCII delimiters: whitespace, and the punctuation of Unicode's Pattern_Syntax (all ASCII
/// punctuation but `_`); the apostrophe is part of English words.
fn reference_is_delimiter(c: char, english: bool) -> bool {
    if c == '\'' {
        return !english;
    }
    matches!(c, '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ')
        || (c.is_ascii_punctuation() && c != '_')
}

fn reference_tokens(text: &str, english: bool) -> Vec<String> {
    text.split(|c| reference_is_delimiter(c, english))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

fn ascii_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 _.,;:!?'\"()\\[\\]{}<>@#$%^&*+=/\\\\|~`\t\n-]{0,60}")
        .expect("a valid regular expression")
}

/// Words of a small vocabulary, none of them a stop word.
fn word() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["apple", "Pear", "plum", "kiwi", "LIME", "fig", "date"])
        .prop_map(str::to_owned)
}

fn spec_for(field: &str, weight: i32) -> TextSpec {
    let options = TextIndexOptions {
        weights: doc! {field: weight},
        default_language: "none".into(),
        language_override: "language".into(),
        text_index_version: 3,
    };
    TextSpec::new(&doc! {"_fts": "text", "_ftsx": 1}, &options)
        .unwrap_or_else(|e| panic!("valid spec: {e}"))
}

/// One item of a search string.
#[derive(Debug, Clone)]
enum Item {
    Term(String),
    Negated(String),
    Phrase(Vec<String>),
    NegatedPhrase(Vec<String>),
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        word().prop_map(Item::Term),
        word().prop_map(Item::Negated),
        prop::collection::vec(word(), 1..3).prop_map(Item::Phrase),
        prop::collection::vec(word(), 1..3).prop_map(Item::NegatedPhrase),
    ]
}

fn render(items: &[Item]) -> String {
    items
        .iter()
        .map(|i| match i {
            Item::Term(w) => w.clone(),
            Item::Negated(w) => format!("-{w}"),
            Item::Phrase(ws) => format!("\"{}\"", ws.join(" ")),
            Item::NegatedPhrase(ws) => format!("-\"{}\"", ws.join(" ")),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse(search: &str) -> TextQuery {
    let args = TextArgs {
        search: search.to_owned(),
        language: None,
        case_sensitive: false,
        diacritic_sensitive: false,
    };
    TextQuery::parse(&args, Language::None)
}

proptest! {
    #[test]
    fn tokens_match_the_ascii_reference(text in ascii_text()) {
        prop_assert_eq!(
            tokens(&text, Language::None, TokenOptions::INDEX),
            reference_tokens(&text, false)
        );
    }

    #[test]
    fn english_tokens_are_the_reference_words_stemmed_without_stop_words(text in ascii_text()) {
        let expected: Vec<String> = reference_tokens(&text, true)
            .into_iter()
            .filter(|w| !Language::English.is_stop_word(w))
            .map(|w| Language::English.stem(&w))
            .collect();
        prop_assert_eq!(tokens(&text, Language::English, TokenOptions::INDEX), expected);
    }

    #[test]
    fn searches_parse_into_their_items(items in prop::collection::vec(item(), 1..6)) {
        let query = parse(&render(&items));
        let mut positive = BTreeSet::new();
        let mut negated = BTreeSet::new();
        let mut phrases = Vec::new();
        let mut negated_phrases = Vec::new();
        for i in &items {
            match i {
                Item::Term(w) => { positive.insert(w.to_ascii_lowercase()); }
                Item::Negated(w) => { negated.insert(w.to_ascii_lowercase()); }
                Item::Phrase(ws) => {
                    positive.extend(ws.iter().map(|w| w.to_ascii_lowercase()));
                    phrases.push(ws.join(" "));
                }
                Item::NegatedPhrase(ws) => negated_phrases.push(ws.join(" ")),
            }
        }
        prop_assert_eq!(&query.positive_terms, &positive);
        prop_assert_eq!(&query.terms_for_bounds, &positive);
        prop_assert_eq!(query.negated_terms, negated);
        prop_assert_eq!(query.positive_phrases, phrases);
        prop_assert_eq!(query.negated_phrases, negated_phrases);
    }

    /// A document is found when it holds a positive term (the index lookup) and passes the
    /// matcher: the reference is written on the document's lower-cased words and text.
    #[test]
    fn matches_follow_the_reference(
        body in prop::collection::vec(word(), 0..8),
        items in prop::collection::vec(item(), 1..5),
    ) {
        let text = body.join(" ");
        let document = doc! {"body": text.clone()};
        let spec = spec_for("body", 1);
        let query = parse(&render(&items));
        let scores = spec.score_document(&document).unwrap_or_default();
        let found = query.terms_for_bounds.iter().any(|t| scores.contains_key(t))
            && query.matches(&spec, &document).unwrap_or(false);

        let words: BTreeSet<String> = body.iter().map(|w| w.to_ascii_lowercase()).collect();
        let lower = text.to_ascii_lowercase();
        let has_phrase = |ws: &[String]| lower.contains(&ws.join(" ").to_ascii_lowercase());
        let mut any_positive = false;
        let mut ok = true;
        for i in &items {
            match i {
                Item::Term(w) => any_positive |= words.contains(&w.to_ascii_lowercase()),
                Item::Negated(w) => ok &= !words.contains(&w.to_ascii_lowercase()),
                Item::Phrase(ws) => {
                    any_positive |= ws.iter().any(|w| words.contains(&w.to_ascii_lowercase()));
                    ok &= has_phrase(ws);
                }
                Item::NegatedPhrase(ws) => ok &= !has_phrase(ws),
            }
        }
        prop_assert_eq!(found, any_positive && ok, "doc {:?}, search {:?}", text, render(&items));
    }

    /// Each term's score: weight * (1 + 1/2 + ... for its occurrences) * (0.5 * count /
    /// words + 0.5), times 1.1 when it is the whole string.
    #[test]
    fn scores_follow_the_formula(body in prop::collection::vec(word(), 1..8), weight in 1..50i32) {
        let text = body.join(" ");
        let scores: HashMap<String, f64> =
            spec_for("t", weight).score_document(&doc! {"t": text.clone()}).unwrap_or_default();
        let lowered: Vec<String> = body.iter().map(|w| w.to_ascii_lowercase()).collect();
        let total = lowered.len() as f64;
        let distinct: BTreeSet<&String> = lowered.iter().collect();
        prop_assert_eq!(scores.len(), distinct.len());
        for term in distinct {
            let count = lowered.iter().filter(|w| *w == term).count();
            let freq: f64 = (0..count).map(|i| 0.5f64.powi(i as i32)).sum();
            let whole = if text.eq_ignore_ascii_case(term) { 1.1 } else { 1.0 };
            let expected = f64::from(weight) * freq * (0.5 * count as f64 / total + 0.5) * whole;
            let got = scores.get(term).copied().unwrap_or(f64::NAN);
            prop_assert!((got - expected).abs() < 1e-9, "{term}: {got} != {expected}");
        }
    }
}

#[test]
fn nested_and_array_fields_are_indexed_as_mongod_walks_them() {
    let options = TextIndexOptions {
        weights: doc! {"a.b": 2, "c": 1},
        default_language: "none".into(),
        language_override: "lang".into(),
        text_index_version: 3,
    };
    let spec = TextSpec::new(&doc! {"_fts": "text", "_ftsx": 1}, &options)
        .unwrap_or_else(|e| panic!("valid spec: {e}"));
    let document: Document = doc! {
        "a": [{"b": "one"}, {"b": ["two", "three"]}, {"x": "no"}],
        "c": ["four", ["nested arrays are skipped"]],
        "d": "not indexed",
    };
    let scores = spec.score_document(&document).unwrap_or_default();
    let mut terms: Vec<&str> = scores.keys().map(String::as_str).collect();
    terms.sort_unstable();
    assert_eq!(terms, ["four", "one", "three", "two"]);
    assert_eq!(scores.get("one"), Some(&2.2));
    assert_eq!(
        Bson::Double(scores.get("four").copied().unwrap_or(0.0)),
        Bson::Double(1.1)
    );
}
