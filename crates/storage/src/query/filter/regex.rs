//! `$regex` patterns, compiled by the shared [`crate::pcre`] module (PCRE syntax, including
//! look-around and back-references).

use bson::Bson;

use crate::error::{Error, Result};
use crate::pcre::{BuildError, MatchLimitExceeded, Pcre, MATCH_LIMIT_MESSAGE};

/// A compiled regular expression with the pattern and options it came from.
#[derive(Debug, Clone)]
pub struct CompiledRegex {
    pub pattern: String,
    pub options: String,
    regex: Pcre,
}

impl CompiledRegex {
    /// Compiles `pattern` with MongoDB's options (`i`, `m`, `s`, `x`; `u` is accepted and
    /// changes nothing since matching is always Unicode-aware here).
    pub fn new(pattern: &str, options: &str) -> Result<CompiledRegex> {
        if pattern.contains('\0') {
            return Err(Error::coded(
                51091,
                "Regular expression cannot contain an embedded null byte",
            ));
        }
        if options.contains('\0') {
            return Err(Error::coded(
                51092,
                "Regular expression options string cannot contain an embedded null byte",
            ));
        }
        let regex = Pcre::new(pattern, options).map_err(|e| match e {
            BuildError::Flag(other) => {
                Error::coded(51108, format!("invalid flag in regex options: {other}"))
            }
            BuildError::Invalid(why) => {
                Error::coded(51091, format!("Regular expression is invalid: {why}"))
            }
        })?;
        Ok(CompiledRegex {
            pattern: pattern.to_string(),
            options: options.to_string(),
            regex,
        })
    }

    /// Whether the regex matches a string, or is the same regex as a regex value (as MongoDB:
    /// `{a: /x/}` matches `{a: /x/}`). A match that backtracks past the bound is an error.
    pub fn matches_value(&self, v: &Bson) -> Result<bool> {
        match v {
            Bson::String(s) | Bson::Symbol(s) => self.try_match(s),
            Bson::RegularExpression(r) => {
                Ok(r.pattern == self.pattern && r.options == self.options)
            }
            _ => Ok(false),
        }
    }

    /// Whether the regex matches a string; a match past the backtracking bound is an error.
    pub fn try_match(&self, s: &str) -> Result<bool> {
        self.regex.is_match(s).map_err(|MatchLimitExceeded| {
            Error::coded(
                51156,
                format!(
                    "Error occurred while executing the regular expression in $regex. \
                     Result code: {MATCH_LIMIT_MESSAGE}"
                ),
            )
        })
    }

    /// Whether the regex matches a string, for `$jsonSchema` keywords (whose matching cannot
    /// fail): a match past the backtracking bound counts as no match.
    pub fn is_match(&self, s: &str) -> bool {
        self.regex.is_match(s).unwrap_or(false)
    }
}
