//! The languages of text indexes: their names (and two-letter codes), Snowball stemmers (the
//! algorithms mongod runs through libstemmer, here from `rust-stemmers`) and stop words
//! (mongod's lists, in `stop_words/`).

use std::collections::HashSet;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

use crate::error::{Error, Result};

/// A language of text index version 3 (`none`: no stemming, no stop words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    None,
    Danish,
    Dutch,
    English,
    Finnish,
    French,
    German,
    Hungarian,
    Italian,
    Norwegian,
    Portuguese,
    Romanian,
    Russian,
    Spanish,
    Swedish,
    Turkish,
}

/// Every language with its canonical name and its two-letter code.
const LANGUAGES: &[(Language, &str, &str)] = &[
    (Language::Danish, "danish", "da"),
    (Language::Dutch, "dutch", "nl"),
    (Language::English, "english", "en"),
    (Language::Finnish, "finnish", "fi"),
    (Language::French, "french", "fr"),
    (Language::German, "german", "de"),
    (Language::Hungarian, "hungarian", "hu"),
    (Language::Italian, "italian", "it"),
    (Language::Norwegian, "norwegian", "nb"),
    (Language::Portuguese, "portuguese", "pt"),
    (Language::Romanian, "romanian", "ro"),
    (Language::Russian, "russian", "ru"),
    (Language::Spanish, "spanish", "es"),
    (Language::Swedish, "swedish", "sv"),
    (Language::Turkish, "turkish", "tr"),
];

impl Language {
    /// Parses a language name or code, ignoring ASCII case as mongod does.
    pub fn parse(name: &str) -> Option<Language> {
        let lower = name.to_ascii_lowercase();
        if lower == "none" {
            return Some(Language::None);
        }
        LANGUAGES
            .iter()
            .find(|(_, full, code)| *full == lower || *code == lower)
            .map(|(language, _, _)| *language)
    }

    /// Parses a language or fails with mongod's message for an unsupported one.
    pub fn parse_or_error(name: &str) -> Result<Language> {
        Language::parse(name).ok_or_else(|| {
            Error::BadValue(format!(
                "unsupported language: \"{name}\" for text index version 3"
            ))
        })
    }

    /// The canonical name (`english`, ..., `none`).
    pub fn name(self) -> &'static str {
        LANGUAGES
            .iter()
            .find(|(language, _, _)| *language == self)
            .map_or("none", |(_, full, _)| full)
    }

    /// English keeps the apostrophe inside words ("don't" is one token); other languages
    /// split on it.
    pub fn is_english(self) -> bool {
        self == Language::English
    }

    /// Turkish folds `I` to dotless `ı` and `İ` to `i`.
    pub fn is_turkish(self) -> bool {
        self == Language::Turkish
    }

    fn algorithm(self) -> Option<Algorithm> {
        Some(match self {
            Language::None => return None,
            Language::Danish => Algorithm::Danish,
            Language::Dutch => Algorithm::Dutch,
            Language::English => Algorithm::English,
            Language::Finnish => Algorithm::Finnish,
            Language::French => Algorithm::French,
            Language::German => Algorithm::German,
            Language::Hungarian => Algorithm::Hungarian,
            Language::Italian => Algorithm::Italian,
            Language::Norwegian => Algorithm::Norwegian,
            Language::Portuguese => Algorithm::Portuguese,
            Language::Romanian => Algorithm::Romanian,
            Language::Russian => Algorithm::Russian,
            Language::Spanish => Algorithm::Spanish,
            Language::Swedish => Algorithm::Swedish,
            Language::Turkish => Algorithm::Turkish,
        })
    }

    /// The word's stem (the word itself for `none`).
    pub fn stem(self, word: &str) -> String {
        match self.algorithm() {
            Some(algorithm) => Stemmer::create(algorithm).stem(word).into_owned(),
            None => word.to_owned(),
        }
    }

    /// Whether `word` (lower-cased, diacritics kept) is one of the language's stop words.
    pub fn is_stop_word(self, word: &str) -> bool {
        stop_words(self).contains(word)
    }
}

/// The raw stop word list of a language, one word a line.
fn stop_word_list(language: Language) -> &'static str {
    match language {
        Language::None => "",
        Language::Danish => include_str!("stop_words/danish.txt"),
        Language::Dutch => include_str!("stop_words/dutch.txt"),
        Language::English => include_str!("stop_words/english.txt"),
        Language::Finnish => include_str!("stop_words/finnish.txt"),
        Language::French => include_str!("stop_words/french.txt"),
        Language::German => include_str!("stop_words/german.txt"),
        Language::Hungarian => include_str!("stop_words/hungarian.txt"),
        Language::Italian => include_str!("stop_words/italian.txt"),
        Language::Norwegian => include_str!("stop_words/norwegian.txt"),
        Language::Portuguese => include_str!("stop_words/portuguese.txt"),
        Language::Romanian => include_str!("stop_words/romanian.txt"),
        Language::Russian => include_str!("stop_words/russian.txt"),
        Language::Spanish => include_str!("stop_words/spanish.txt"),
        Language::Swedish => include_str!("stop_words/swedish.txt"),
        Language::Turkish => include_str!("stop_words/turkish.txt"),
    }
}

fn stop_words(language: Language) -> &'static HashSet<&'static str> {
    static SETS: OnceLock<Vec<(Language, HashSet<&'static str>)>> = OnceLock::new();
    static EMPTY: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let sets = SETS.get_or_init(|| {
        let mut all = vec![(Language::None, HashSet::new())];
        for (language, _, _) in LANGUAGES {
            let words = stop_word_list(*language)
                .lines()
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .collect();
            all.push((*language, words));
        }
        all
    });
    sets.iter()
        .find(|(l, _)| *l == language)
        .map(|(_, set)| set)
        .unwrap_or_else(|| EMPTY.get_or_init(HashSet::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes() {
        assert_eq!(Language::parse("English"), Some(Language::English));
        assert_eq!(Language::parse("es"), Some(Language::Spanish));
        assert_eq!(Language::parse("NONE"), Some(Language::None));
        assert_eq!(Language::parse("klingon"), None);
        assert_eq!(Language::Norwegian.name(), "norwegian");
    }

    #[test]
    fn every_language_has_stop_words_and_stems() {
        // mongod has no Romanian stop words.
        for (language, _, _) in LANGUAGES.iter().filter(|l| l.0 != Language::Romanian) {
            assert!(stop_words(*language).len() > 10, "{language:?}");
        }
        assert!(Language::English.is_stop_word("the"));
        assert!(!Language::None.is_stop_word("the"));
        assert_eq!(Language::English.stem("running"), "run");
        assert_eq!(Language::None.stem("running"), "running");
    }
}
