//! Collations: language-aware string comparison, as MongoDB's `collation` option.
//!
//! MongoDB compares strings with ICU when a collation is given. Outpost uses ICU4X's
//! `icu_collator`, which implements the same Unicode Collation Algorithm with the same CLDR
//! root collation and locale tailorings. A [`Collation`] is parsed from the collation document
//! with MongoDB's validation and error codes (`collator_factory_icu.cpp`), and reports the
//! normalized specification MongoDB shows in `listIndexes`/`listCollections`.
//!
//! `{locale: "simple"}` is the binary collation; it parses to `None`, so the simple path is the
//! plain [`crate::value::compare`] everywhere.
//!
//! # Differences from MongoDB (refused or approximated, never silently different)
//!
//! - `backwards: true` is refused (NotSupported) except where the locale itself sorts
//!   secondary differences backwards (`fr_CA`): ICU4X takes that setting from locale data only.
//! - Locale variants (`@collation=...`): those MongoDB documents and ICU4X ships data for
//!   are accepted (for example `es@collation=traditional`, `de@collation=phonebook`,
//!   `zh@collation=stroke`); the rest of MongoDB's list (`search`, `searchjl`, `big5han`,
//!   `gb2312han`, `phonetic`: data ICU4X leaves out) is refused (NotSupported).
//! - `normalization`: ICU4X always decomposes its input (normalization on). With
//!   `normalization: false` ICU skips that step for text already in FCD form (nearly all text),
//!   giving the same result; only non-FCD input could order differently.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use bson::{Bson, Document};
use icu_collator::options::{AlternateHandling, CaseLevel, CollatorOptions, MaxVariable, Strength};
use icu_collator::preferences::{CollationCaseFirst, CollationNumericOrdering, CollationType};
use icu_collator::{CollatorBorrowed, CollatorPreferences};

use crate::error::{Error, Result};

/// The ICU version MongoDB reports in a collation's `version` field.
pub const ICU_VERSION: &str = "57.1";

/// Locales MongoDB's collation supports (its documentation's table, ICU locale IDs).
const SUPPORTED_LOCALES: &[&str] = &[
    "af",
    "sq",
    "am",
    "ar",
    "hy",
    "as",
    "az",
    "bn",
    "be",
    "bs",
    "bs_Cyrl",
    "bg",
    "my",
    "ca",
    "chr",
    "zh",
    "zh_Hant",
    "hr",
    "cs",
    "da",
    "nl",
    "dz",
    "en",
    "en_US",
    "en_US_POSIX",
    "eo",
    "et",
    "ee",
    "fo",
    "fil",
    "fi",
    "fi_FI",
    "fr",
    "fr_CA",
    "gl",
    "ka",
    "de",
    "de_AT",
    "el",
    "gu",
    "ha",
    "haw",
    "he",
    "hi",
    "hu",
    "is",
    "ig",
    "smn",
    "id",
    "ga",
    "it",
    "ja",
    "kl",
    "kn",
    "kk",
    "km",
    "kok",
    "ko",
    "ky",
    "lkt",
    "lo",
    "lv",
    "ln",
    "lt",
    "dsb",
    "lb",
    "mk",
    "ms",
    "ml",
    "mt",
    "mr",
    "mn",
    "ne",
    "se",
    "nb",
    "nn",
    "or",
    "om",
    "ps",
    "fa",
    "fa_AF",
    "pl",
    "pt",
    "pa",
    "ro",
    "ru",
    "sr",
    "sr_Latn",
    "si",
    "sk",
    "sl",
    "es",
    "sw",
    "sv",
    "ta",
    "te",
    "th",
    "bo",
    "to",
    "tr",
    "uk",
    "hsb",
    "ur",
    "ug",
    "vi",
    "wae",
    "cy",
    "yi",
    "yo",
    "zu",
];

/// The locale variants (`@collation=...`) MongoDB's documentation lists, per locale.
const DOCUMENTED_VARIANTS: &[(&str, &[&str])] = &[
    ("ar", &["compat"]),
    ("az", &["search"]),
    ("bn", &["traditional"]),
    ("bs", &["search"]),
    ("ca", &["search"]),
    (
        "zh",
        &[
            "big5han",
            "gb2312han",
            "pinyin",
            "unihan",
            "zhuyin",
            "stroke",
        ],
    ),
    ("zh_Hant", &["stroke", "pinyin", "unihan", "zhuyin"]),
    ("hr", &["search"]),
    ("cs", &["search"]),
    ("da", &["search"]),
    ("fi", &["search", "traditional"]),
    ("fi_FI", &["search", "traditional"]),
    ("gl", &["search"]),
    ("de", &["search", "eor", "phonebook"]),
    ("de_AT", &["phonebook"]),
    ("he", &["search"]),
    ("is", &["search"]),
    ("smn", &["search"]),
    ("ja", &["unihan"]),
    ("kl", &["search"]),
    ("kn", &["traditional"]),
    ("ko", &["search", "searchjl", "unihan"]),
    ("ln", &["phonetic"]),
    ("se", &["search"]),
    ("nb", &["search"]),
    ("nn", &["search"]),
    ("sr_Latn", &["search"]),
    ("si", &["dictionary"]),
    ("sk", &["search"]),
    ("es", &["search", "traditional"]),
    ("sv", &["search"]),
    ("tr", &["search"]),
    ("vi", &["traditional"]),
    ("yi", &["search"]),
];

/// MongoDB's (ICU's) variant names and the CLDR collation type each is.
const VARIANT_TYPES: &[(&str, &str)] = &[
    ("traditional", "trad"),
    ("phonebook", "phonebk"),
    ("dictionary", "dict"),
    ("gb2312han", "gb2312"),
];

/// Whether ICU4X's compiled data holds the collation `kind` for `locale` (or a locale it
/// falls back to, as ICU does); without it ICU4X would silently use the standard order.
fn variant_data_available(locale: &icu_locale_core::Locale, kind: &str) -> bool {
    use icu_collator::provider::{Baked, CollationMetadataV1};
    use icu_provider::prelude::*;
    let Ok(attributes) = DataMarkerAttributes::try_from_str(kind) else {
        return false;
    };
    let data_locale = DataLocale::from(locale);
    let mut metadata = DataRequestMetadata::default();
    metadata.silent = true;
    let request = DataRequest {
        id: DataIdentifierBorrowed::for_marker_attributes_and_locale(attributes, &data_locale),
        metadata,
    };
    DataProvider::<CollationMetadataV1>::load(&Baked, request).is_ok()
}

/// `caseFirst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseFirst {
    Upper,
    Lower,
    Off,
}

/// The normalized specification of a collation: every option resolved, as MongoDB reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollationSpec {
    pub locale: String,
    pub case_level: bool,
    pub case_first: CaseFirst,
    /// 1 (primary) to 5 (identical).
    pub strength: u8,
    pub numeric_ordering: bool,
    /// True for `alternate: "shifted"`.
    pub shifted: bool,
    /// True for `maxVariable: "space"` (else "punct").
    pub max_variable_space: bool,
    pub normalization: bool,
    pub backwards: bool,
}

impl CollationSpec {
    /// The document `listIndexes`, `listCollections` and `explain` show.
    pub fn to_document(&self) -> Document {
        bson::doc! {
            "locale": self.locale.clone(),
            "caseLevel": self.case_level,
            "caseFirst": match self.case_first {
                CaseFirst::Upper => "upper",
                CaseFirst::Lower => "lower",
                CaseFirst::Off => "off",
            },
            "strength": i32::from(self.strength),
            "numericOrdering": self.numeric_ordering,
            "alternate": if self.shifted { "shifted" } else { "non-ignorable" },
            "maxVariable": if self.max_variable_space { "space" } else { "punct" },
            "normalization": self.normalization,
            "backwards": self.backwards,
            "version": ICU_VERSION,
        }
    }
}

/// A non-simple collation: its specification and the ICU4X collator that implements it.
pub struct Collation {
    spec: CollationSpec,
    collator: CollatorBorrowed<'static>,
}

impl fmt::Debug for Collation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collation")
            .field("spec", &self.spec)
            .finish()
    }
}

/// Collations are equal when their normalized specifications are (as MongoDB decides whether
/// an index's collation matches a query's).
impl PartialEq for Collation {
    fn eq(&self, other: &Collation) -> bool {
        self.spec == other.spec
    }
}

impl Eq for Collation {}

/// Whether two optional collations (`None` = simple) are the same.
pub fn same_collation(a: Option<&Collation>, b: Option<&Collation>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

fn wrong_type(field: &str, expected: &str, found: &Bson) -> Error {
    Error::TypeMismatch(format!(
        "\"{field}\" had the wrong type. Expected {expected}, found {}",
        crate::value::compare::type_name(found)
    ))
}

fn bool_field(spec: &Document, field: &str) -> Result<Option<bool>> {
    match spec.get(field) {
        None => Ok(None),
        Some(Bson::Boolean(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong_type(field, "bool", other)),
    }
}

fn string_field<'a>(spec: &'a Document, field: &str) -> Result<Option<&'a str>> {
    match spec.get(field) {
        None => Ok(None),
        Some(Bson::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(field, "string", other)),
    }
}

fn integer_field(spec: &Document, field: &str) -> Result<Option<i64>> {
    let value = match spec.get(field) {
        None => return Ok(None),
        Some(v) => v,
    };
    let not_exact = || {
        Error::BadValue(format!(
            "Expected field \"{field}\" to have a value exactly representable as a 64-bit integer, but found {value}"
        ))
    };
    match value {
        Bson::Int32(n) => Ok(Some(i64::from(*n))),
        Bson::Int64(n) => Ok(Some(*n)),
        Bson::Double(d) => {
            if d.fract() == 0.0 && d.abs() < 9.0e18 {
                // Integral and within range: the conversion is exact.
                Ok(Some(*d as i64))
            } else {
                Err(not_exact())
            }
        }
        Bson::Decimal128(d) => d
            .to_string()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| not_exact()),
        other => Err(Error::TypeMismatch(format!(
            "Expected field \"{field}\" to have numeric type, but found {}",
            crate::value::compare::type_name(other)
        ))),
    }
}

/// Fields of a collation document.
const KNOWN_FIELDS: &[&str] = &[
    "locale",
    "caseLevel",
    "caseFirst",
    "strength",
    "numericOrdering",
    "alternate",
    "maxVariable",
    "normalization",
    "backwards",
    "version",
];

impl Collation {
    /// Parses a collation document. `Ok(None)` is the simple (binary) collation.
    pub fn parse(spec: &Document) -> Result<Option<Arc<Collation>>> {
        let locale = match spec.get("locale") {
            None => {
                return Err(Error::coded(4, "Missing expected field \"locale\""));
            }
            Some(Bson::String(l)) => l.as_str(),
            Some(other) => return Err(wrong_type("locale", "string", other)),
        };
        if locale.contains('\0') {
            return Err(Error::BadValue(format!(
                "Field 'locale' cannot contain null byte. Collation spec: {spec}"
            )));
        }
        if locale == "simple" {
            if spec.len() > 1 {
                return Err(Error::FailedToParse(format!(
                    "If locale=simple, no other fields should be present in: {spec}"
                )));
            }
            return Ok(None);
        }
        if locale.is_empty() {
            return Err(Error::BadValue(format!(
                "Field 'locale' cannot be the empty string in: {spec}"
            )));
        }
        let (base, variant) = match locale.split_once("@collation=") {
            Some((base, variant)) => (base, Some(variant)),
            None => (locale, None),
        };
        let invalid = || Error::BadValue(format!("Field 'locale' is invalid in: {spec}"));
        if !SUPPORTED_LOCALES.contains(&base) {
            return Err(invalid());
        }
        if let Some(v) = variant {
            let documented = DOCUMENTED_VARIANTS
                .iter()
                .any(|(l, variants)| *l == base && variants.contains(&v));
            if !documented {
                return Err(invalid());
            }
        }
        let parsed_locale: icu_locale_core::Locale =
            base.replace('_', "-").parse().map_err(|_| invalid())?;
        let mut prefs = CollatorPreferences::from(&parsed_locale);
        if let Some(v) = variant {
            let kind = VARIANT_TYPES
                .iter()
                .find(|(name, _)| *name == v)
                .map_or(v, |(_, cldr)| *cldr);
            let not_supported = || {
                Error::NotSupported(format!(
                    "collation locale variant '{locale}' is not supported by Outpost (no ICU4X data for it)"
                ))
            };
            if !variant_data_available(&parsed_locale, kind) {
                return Err(not_supported());
            }
            let value = icu_locale_core::extensions::unicode::Value::try_from_str(kind)
                .map_err(|_| not_supported())?;
            prefs.collation_type =
                Some(CollationType::try_from(&value).map_err(|_| not_supported())?);
        }

        let case_level = bool_field(spec, "caseLevel")?;
        let case_first = match string_field(spec, "caseFirst")? {
            None => None,
            Some("upper") => Some(CaseFirst::Upper),
            Some("lower") => Some(CaseFirst::Lower),
            Some("off") => Some(CaseFirst::Off),
            Some(other) => {
                return Err(Error::FailedToParse(format!(
                    "Field 'caseFirst' must be 'upper', 'lower', or 'off'. Got: {other}"
                )))
            }
        };
        let strength = match integer_field(spec, "strength")? {
            None => None,
            Some(n @ 1..=5) => u8::try_from(n).ok(),
            Some(n) => {
                return Err(Error::FailedToParse(format!(
                    "Field 'strength' must be an integer 1 through 5. Got: {n}"
                )))
            }
        };
        let numeric_ordering = bool_field(spec, "numericOrdering")?;
        let shifted = match string_field(spec, "alternate")? {
            None => None,
            Some("non-ignorable") => Some(false),
            Some("shifted") => Some(true),
            Some(other) => {
                return Err(Error::FailedToParse(format!(
                    "Field 'alternate' must be 'non-ignorable' or 'shifted'. Got: {other}"
                )))
            }
        };
        let max_variable_space = match string_field(spec, "maxVariable")? {
            None => None,
            Some("punct") => Some(false),
            Some("space") => Some(true),
            Some(other) => {
                return Err(Error::FailedToParse(format!(
                    "Field 'maxVariable' must be 'punct' or 'space'. Got: {other}"
                )))
            }
        };
        let normalization = bool_field(spec, "normalization")?;
        let backwards = bool_field(spec, "backwards")?;
        if let Some(version) = string_field(spec, "version")? {
            if version != ICU_VERSION {
                return Err(Error::coded(
                    161,
                    format!(
                        "Requested collation version {version} but the only available collator version was {ICU_VERSION}. Requested collation spec: {spec}"
                    ),
                ));
            }
        }
        if spec.keys().any(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
            return Err(Error::FailedToParse(format!(
                "Collation spec contains unknown field. Collation spec: {spec}"
            )));
        }

        // The locale's own backwards-secondary setting (French of Canada); ICU4X cannot change it.
        let locale_backwards = base == "fr_CA";
        if let Some(b) = backwards {
            if b != locale_backwards {
                return Err(Error::NotSupported(format!(
                    "collation option 'backwards: {b}' for locale '{locale}' is not supported by Outpost"
                )));
            }
        }

        if let Some(case_first) = case_first {
            prefs.case_first = Some(match case_first {
                CaseFirst::Upper => CollationCaseFirst::Upper,
                CaseFirst::Lower => CollationCaseFirst::Lower,
                CaseFirst::Off => CollationCaseFirst::False,
            });
        }
        if let Some(numeric) = numeric_ordering {
            prefs.numeric_ordering = Some(if numeric {
                CollationNumericOrdering::True
            } else {
                CollationNumericOrdering::False
            });
        }
        let mut options = CollatorOptions::default();
        options.strength = strength.map(|s| match s {
            1 => Strength::Primary,
            2 => Strength::Secondary,
            3 => Strength::Tertiary,
            4 => Strength::Quaternary,
            _ => Strength::Identical,
        });
        options.alternate_handling = shifted.map(|s| {
            if s {
                AlternateHandling::Shifted
            } else {
                AlternateHandling::NonIgnorable
            }
        });
        options.max_variable = max_variable_space.map(|s| {
            if s {
                MaxVariable::Space
            } else {
                MaxVariable::Punctuation
            }
        });
        options.case_level = case_level.map(|c| if c { CaseLevel::On } else { CaseLevel::Off });
        let collator = CollatorBorrowed::try_new(prefs, options)
            .map_err(|e| Error::BadValue(format!("Field 'locale' is invalid in: {spec} ({e})")))?;

        // Options not given take the locale's defaults, as ICU reports them.
        let resolved = collator.resolved_options();
        let normalized = CollationSpec {
            locale: locale.to_owned(),
            case_level: matches!(resolved.case_level, CaseLevel::On),
            case_first: match resolved.case_first {
                CollationCaseFirst::Upper => CaseFirst::Upper,
                CollationCaseFirst::Lower => CaseFirst::Lower,
                _ => CaseFirst::Off,
            },
            strength: match resolved.strength {
                Strength::Primary => 1,
                Strength::Secondary => 2,
                Strength::Tertiary => 3,
                Strength::Quaternary => 4,
                _ => 5,
            },
            numeric_ordering: matches!(resolved.numeric, CollationNumericOrdering::True),
            shifted: matches!(resolved.alternate_handling, AlternateHandling::Shifted),
            max_variable_space: matches!(resolved.max_variable, MaxVariable::Space),
            normalization: normalization.unwrap_or(false),
            backwards: backwards.unwrap_or(locale_backwards),
        };
        if normalized.backwards && normalized.strength == 1 {
            return Err(Error::BadValue(format!(
                "'backwards' is invalid with 'strength' of 1 in: {}",
                normalized.to_document()
            )));
        }
        if normalized.case_first != CaseFirst::Off
            && !normalized.case_level
            && normalized.strength <= 2
        {
            return Err(Error::BadValue(format!(
                "'caseFirst' is invalid unless 'caseLevel' is on or 'strength' is greater than 2 in: {}",
                normalized.to_document()
            )));
        }
        Ok(Some(Arc::new(Collation {
            spec: normalized,
            collator,
        })))
    }

    /// Parses an optional `collation` argument value (a document, or absent/null).
    pub fn parse_option(value: Option<&Bson>) -> Result<Option<Arc<Collation>>> {
        match value {
            None | Some(Bson::Null) => Ok(None),
            Some(Bson::Document(d)) => Collation::parse(d),
            Some(other) => Err(Error::TypeMismatch(format!(
                "collation must be an object, not {}",
                crate::value::compare::type_name(other)
            ))),
        }
    }

    pub fn spec(&self) -> &CollationSpec {
        &self.spec
    }

    /// The normalized specification document.
    pub fn to_document(&self) -> Document {
        self.spec.to_document()
    }

    /// Compares two strings under this collation.
    pub fn compare_strings(&self, a: &str, b: &str) -> Ordering {
        self.collator.compare(a, b)
    }

    /// Appends the ICU sort key of `s`: byte order of sort keys is the collation order, and
    /// strings equal under the collation have equal keys. A sort key never contains 0x00 (ICU
    /// uses bytes from 0x01 for levels and separators), which `keyenc` relies on.
    pub fn sort_key_into(&self, s: &str, out: &mut Vec<u8>) {
        let Ok(()) = self.collator.write_sort_key_to(s, out);
    }
}

#[cfg(test)]
mod tests;
