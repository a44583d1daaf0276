//! mongod's Unicode tokenizer of text index version 3: words are runs of characters between
//! delimiters (Unicode's White_Space, Dash, Hyphen, Quotation_Mark, Terminal_Punctuation,
//! Pattern_Syntax and Sentence_Terminal; in English the apostrophe is part of words), folded
//! to lower case (Turkish folding for Turkish), stop words dropped, stemmed, and diacritics
//! removed. Case and diacritic sensitive tokens (for `$caseSensitive` and
//! `$diacriticSensitive`) skip the folding or the removal.

use icu_casemap::CaseMapper;
use icu_normalizer::{ComposingNormalizerBorrowed, DecomposingNormalizerBorrowed};
use icu_properties::props::{
    Dash, Diacritic, Hyphen, PatternSyntax, QuotationMark, SentenceTerminal, TerminalPunctuation,
    WhiteSpace,
};
use icu_properties::CodePointSetData;

use super::language::Language;

/// What a tokenizer produces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenOptions {
    /// Skip the language's stop words.
    pub filter_stop_words: bool,
    /// Keep the letters' case.
    pub case_sensitive: bool,
    /// Keep diacritics.
    pub diacritic_sensitive: bool,
}

impl TokenOptions {
    /// Stop words dropped, case and diacritics folded: the terms of index keys and scores.
    pub const INDEX: TokenOptions = TokenOptions {
        filter_stop_words: true,
        case_sensitive: false,
        diacritic_sensitive: false,
    };
}

/// Whether `c` separates words for `language`.
pub fn is_delimiter(c: char, language: Language) -> bool {
    if c == '\'' {
        return !language.is_english();
    }
    CodePointSetData::new::<WhiteSpace>().contains(c)
        || CodePointSetData::new::<Dash>().contains(c)
        || CodePointSetData::new::<Hyphen>().contains(c)
        || CodePointSetData::new::<QuotationMark>().contains(c)
        || CodePointSetData::new::<TerminalPunctuation>().contains(c)
        || CodePointSetData::new::<PatternSyntax>().contains(c)
        || CodePointSetData::new::<SentenceTerminal>().contains(c)
}

/// Simple case folding of one character (Turkish: `I` to `ı`, `İ` to `i`).
pub fn fold_char(c: char, turkish: bool) -> char {
    let mapper = CaseMapper::new();
    if turkish {
        mapper.simple_fold_turkic(c)
    } else {
        mapper.simple_fold(c)
    }
}

/// Folds the case of every character of `s`.
pub fn fold_case(s: &str, turkish: bool) -> String {
    s.chars().map(|c| fold_char(c, turkish)).collect()
}

/// `c` without its diacritics: `None` for a combining mark or other pure diacritic, the
/// base letter when the character decomposes into one letter and diacritics (é to e), else
/// `c` itself.
pub fn strip_diacritic(c: char) -> Option<char> {
    if c.is_ascii_alphanumeric() {
        return Some(c);
    }
    let diacritics = CodePointSetData::new::<Diacritic>();
    if diacritics.contains(c) {
        return None;
    }
    let mut buf = [0u8; 4];
    let decomposed = DecomposingNormalizerBorrowed::new_nfd().normalize(c.encode_utf8(&mut buf));
    let kept: String = decomposed
        .chars()
        .filter(|d| !diacritics.contains(*d))
        .collect();
    let composed = ComposingNormalizerBorrowed::new_nfc().normalize(&kept);
    let mut chars = composed.chars();
    match (chars.next(), chars.next()) {
        (Some(single), None) => Some(single),
        _ => Some(c),
    }
}

/// `s` with diacritics removed from every character.
pub fn strip_diacritics(s: &str) -> String {
    s.chars().filter_map(strip_diacritic).collect()
}

/// The words of `text`, as they appear (no folding), in order.
pub fn words(text: &str, language: Language) -> impl Iterator<Item = &str> {
    text.split(move |c| is_delimiter(c, language))
        .filter(|w| !w.is_empty())
}

/// The tokens of `text` in `language`, in order (repeated words repeat).
pub fn tokens(text: &str, language: Language, options: TokenOptions) -> Vec<String> {
    let turkish = language.is_turkish();
    let mut out = Vec::new();
    for word in words(text, language) {
        // Stop words are lower case with their diacritics.
        let lower = fold_case(word, turkish);
        if options.filter_stop_words && language.is_stop_word(&lower) {
            continue;
        }
        let cased = if options.case_sensitive {
            word.to_owned()
        } else {
            lower
        };
        // The stemmer knows diacritics: stem first, then strip them.
        let stemmed = language.stem(&cased);
        out.push(if options.diacritic_sensitive {
            stemmed
        } else {
            strip_diacritics(&stemmed)
        });
    }
    out
}

/// Folds `s` as a phrase match compares it: case unless `case_sensitive`, diacritics unless
/// `diacritic_sensitive`.
pub fn fold_for_match(
    s: &str,
    language: Language,
    case_sensitive: bool,
    diacritic_sensitive: bool,
) -> String {
    let cased = if case_sensitive {
        s.to_owned()
    } else {
        fold_case(s, language.is_turkish())
    };
    if diacritic_sensitive {
        cased
    } else {
        strip_diacritics(&cased)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_punctuation_and_keeps_english_apostrophes() {
        let english: Vec<&str> = words("Don't stop-me, now! (ok)", Language::English).collect();
        assert_eq!(english, ["Don't", "stop", "me", "now", "ok"]);
        let french: Vec<&str> = words("l'homme", Language::French).collect();
        assert_eq!(french, ["l", "homme"]);
    }

    #[test]
    fn folds_stems_and_strips() {
        let t = tokens(
            "The Cafés are running",
            Language::English,
            TokenOptions::INDEX,
        );
        assert_eq!(t, ["cafe", "run"]);
        let sensitive = TokenOptions {
            filter_stop_words: true,
            case_sensitive: true,
            diacritic_sensitive: true,
        };
        assert_eq!(tokens("Cafés", Language::None, sensitive), ["Cafés"]);
        assert_eq!(fold_case("DİYARBAKIR", true), "diyarbakır");
        assert_eq!(strip_diacritics("señor"), "senor");
        assert_eq!(strip_diacritics("e\u{301}"), "e");
    }
}
