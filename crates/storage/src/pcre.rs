//! Regular expressions with MongoDB's (PCRE) syntax: the one place that builds the regexes of
//! `$regex` filters, `$jsonSchema` patterns and the `$regexMatch`/`$regexFind`/`$regexFindAll`
//! expressions.
//!
//! Patterns are compiled with `fancy-regex`, which adds look-around (`(?=`, `(?!`, `(?<=`,
//! `(?<!`), back-references (`\1`, `\k<name>`), atomic groups (`(?>`) and possessive
//! quantifiers (`a++`) to the `regex` crate and hands every part without them to `regex`, so
//! ordinary patterns keep its linear-time matching. The parts that need backtracking are
//! bounded by [`BACKTRACK_LIMIT`] steps per match; past it the match fails with
//! [`MatchLimitExceeded`] (PCRE has the same kind of bound, its match limit), never a hang.

use fancy_regex::{Regex, RegexBuilder};

/// Backtracking steps allowed for one match (fancy-regex's default; PCRE's match limit is
/// 10 million calls of its own, heavier, step).
pub const BACKTRACK_LIMIT: usize = 1_000_000;

/// The message MongoDB's PCRE wrapper gives for its match-limit error, used in our errors.
pub const MATCH_LIMIT_MESSAGE: &str = "match limit exceeded";

/// A match that needed more backtracking than [`BACKTRACK_LIMIT`] (or overflowed the
/// backtracking stack).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchLimitExceeded;

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// An option letter other than `i`, `m`, `s`, `x` and `u`.
    Flag(char),
    /// The pattern does not parse or compile; the text says why.
    Invalid(String),
}

/// A compiled pattern.
#[derive(Clone)]
pub struct Pcre {
    /// Shared: a fancy-regex `Regex` is large, and filters and expression caches clone it.
    regex: std::sync::Arc<Regex>,
}

impl std::fmt::Debug for Pcre {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Pcre").field(&self.regex.as_str()).finish()
    }
}

impl Pcre {
    /// Compiles `pattern` with MongoDB's option letters: `i` (case-insensitive), `m` (`^`/`$`
    /// at line breaks), `s` (`.` matches a newline), `x` (extended: whitespace and `#`
    /// comments ignored) and `u` (accepted; matching is always Unicode-aware here).
    pub fn new(pattern: &str, flags: &str) -> Result<Pcre, BuildError> {
        let mut inline = String::new();
        for flag in flags.chars() {
            match flag {
                'i' | 'm' | 's' | 'x' => {
                    if !inline.contains(flag) {
                        inline.push(flag);
                    }
                }
                'u' => {}
                other => return Err(BuildError::Flag(other)),
            }
        }
        // The flags go in front as an inline group, which both engines read alike.
        let full = if inline.is_empty() {
            pattern.to_string()
        } else {
            format!("(?{inline}){pattern}")
        };
        let regex = RegexBuilder::new(&full)
            .backtrack_limit(BACKTRACK_LIMIT)
            .build()
            .map_err(|e| BuildError::Invalid(last_line(&e.to_string())))?;
        Ok(Pcre {
            regex: std::sync::Arc::new(regex),
        })
    }

    /// Whether the pattern matches somewhere in `text`.
    pub fn is_match(&self, text: &str) -> Result<bool, MatchLimitExceeded> {
        self.regex.is_match(text).map_err(limit)
    }

    /// The first match at or after byte `pos` of `text`, with its capture groups.
    pub fn captures_from(
        &self,
        text: &str,
        pos: usize,
    ) -> Result<Option<Captures>, MatchLimitExceeded> {
        let Some(found) = self.regex.captures_from_pos(text, pos).map_err(limit)? else {
            return Ok(None);
        };
        let groups = (0..found.len())
            .map(|i| found.get(i).map(|m| (m.start(), m.end())))
            .collect();
        Ok(Some(Captures { groups }))
    }
}

/// A match: the byte range of the whole match (group 0) and of each capture group (`None` for
/// a group that took no part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captures {
    groups: Vec<Option<(usize, usize)>>,
}

impl Captures {
    /// The byte range of the whole match.
    pub fn whole(&self) -> (usize, usize) {
        self.groups.first().copied().flatten().unwrap_or((0, 0))
    }

    /// The byte ranges of the capture groups (group 1 onwards).
    pub fn groups(&self) -> &[Option<(usize, usize)>] {
        self.groups.get(1..).unwrap_or(&[])
    }
}

fn limit(_: fancy_regex::Error) -> MatchLimitExceeded {
    // The only errors matching can give are the backtrack limit and the stack overflow
    // (itself a bound on work); both are answered as the match limit.
    MatchLimitExceeded
}

/// The last non-empty line of a (possibly multi-line) error message.
fn last_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, flags: &str, text: &str) -> bool {
        Pcre::new(pattern, flags)
            .expect("pattern compiles")
            .is_match(text)
            .expect("within limit")
    }

    #[test]
    fn look_around_and_back_references() {
        assert!(m("foo(?=bar)", "", "foobar"));
        assert!(!m("foo(?=bar)", "", "foobaz"));
        assert!(m("foo(?!bar)", "", "foobaz"));
        assert!(!m("foo(?!bar)", "", "foobar"));
        assert!(m("(?<=\\$)\\d+", "", "cost $42"));
        assert!(!m("(?<=\\$)\\d+", "", "cost 42"));
        assert!(m("(?<!-)\\b\\d+", "", "n 7"));
        assert!(!m("^(?<!-)\\d+$", "", "-7"));
        assert!(m("^(\\w+) \\1$", "", "hey hey"));
        assert!(!m("^(\\w+) \\1$", "", "hey you"));
        assert!(m("^(?<w>a+)b\\k<w>$", "", "aabaa"));
    }

    #[test]
    fn atomic_groups_and_possessive_quantifiers() {
        // An atomic group or possessive quantifier gives nothing back, so the final `a`
        // cannot match.
        assert!(!m("^(?>a+)a$", "", "aaa"));
        assert!(!m("^a++a$", "", "aaa"));
        assert!(m("^a+a$", "", "aaa"));
    }

    #[test]
    fn option_letters() {
        assert!(m("abc", "i", "xABCx"));
        assert!(!m("abc", "", "xABCx"));
        assert!(m("^b$", "m", "a\nb\nc"));
        assert!(!m("^b$", "", "a\nb\nc"));
        assert!(m("a.b", "s", "a\nb"));
        assert!(!m("a.b", "", "a\nb"));
        assert!(m("a b # comment", "x", "ab"));
        assert!(m("(?=A)a", "iu", "a"));
        assert_eq!(Pcre::new("a", "g").err(), Some(BuildError::Flag('g')));
    }

    #[test]
    fn invalid_patterns_are_refused() {
        for bad in ["[", "(", "a{2,1}", "\\2(a)(", "(?<=a+)b"] {
            assert!(
                matches!(Pcre::new(bad, ""), Err(BuildError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn catastrophic_backtracking_hits_the_limit() {
        let re = Pcre::new("^(a|aa)+\\1?$", "").expect("compiles");
        let text = format!("{}b", "a".repeat(60));
        assert_eq!(re.is_match(&text), Err(MatchLimitExceeded));
    }

    #[test]
    fn captures_give_byte_ranges() {
        let re = Pcre::new("(a)(x)?(?=c)", "").expect("compiles");
        let c = re.captures_from("zac ac", 0).expect("ok").expect("match");
        assert_eq!(c.whole(), (1, 2));
        assert_eq!(c.groups(), &[Some((1, 2)), None]);
        let c = re.captures_from("zac ac", 3).expect("ok").expect("match");
        assert_eq!(c.whole(), (4, 5));
        assert!(re.captures_from("zab", 0).expect("ok").is_none());
    }
}
