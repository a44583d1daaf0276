//! `$regex` patterns compiled with the `regex` crate (see the differences from PCRE in the
//! module docs of `filter`).

use bson::Bson;

use crate::error::{Error, Result};

/// A compiled regular expression with the pattern and options it came from.
#[derive(Debug, Clone)]
pub struct CompiledRegex {
    pub pattern: String,
    pub options: String,
    regex: regex::Regex,
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
        let mut builder = regex::RegexBuilder::new(pattern);
        for flag in options.chars() {
            match flag {
                'i' => builder.case_insensitive(true),
                'm' => builder.multi_line(true),
                's' => builder.dot_matches_new_line(true),
                'x' => builder.ignore_whitespace(true),
                'u' => &mut builder,
                other => {
                    return Err(Error::coded(
                        51108,
                        format!("invalid flag in regex options: {other}"),
                    ))
                }
            };
        }
        let regex = builder.build().map_err(|e| {
            Error::coded(
                51091,
                format!(
                    "Regular expression is invalid: {}",
                    first_line(&e.to_string())
                ),
            )
        })?;
        Ok(CompiledRegex {
            pattern: pattern.to_string(),
            options: options.to_string(),
            regex,
        })
    }

    /// Whether the regex matches a string, or is the same regex as a regex value (as MongoDB:
    /// `{a: /x/}` matches `{a: /x/}`).
    pub fn matches_value(&self, v: &Bson) -> bool {
        match v {
            Bson::String(s) | Bson::Symbol(s) => self.regex.is_match(s),
            Bson::RegularExpression(r) => r.pattern == self.pattern && r.options == self.options,
            _ => false,
        }
    }

    /// Whether the regex matches a string.
    pub fn is_match(&self, s: &str) -> bool {
        self.regex.is_match(s)
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}
