//! Splits Realm Query Language text into tokens, each with its byte span.
//!
//! The token set follows realm-core's scanner (`query_flex.ll`): `==`/`=`, `!=`/`<>`,
//! `<=`/`=<`, `>=`/`=>`, `&&`, `||`, `!`, string literals in single or double quotes with JSON
//! style escapes, integers (decimal and `0x` hex), floats (with an optional `f` suffix),
//! `oid(...)`, `uuid(...)`, `B64"..."`, timestamps (`T<seconds>:<nanoseconds>` and
//! `YYYY-MM-DD@HH:MM:SS[:NANOS]`), `$0` arguments, `@count`-style words and `[c]` modifiers.
//! Identifiers start with a letter, `_`, `$` or a non-ASCII character and may contain digits and
//! `-`, as in realm-core. Keywords are plain words here; the parser recognizes them.

use bson::oid::ObjectId;
use bson::spec::BinarySubtype;
use bson::{Binary, Bson, DateTime};

use crate::error::{Error, Result};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CompareOp {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum TokenKind {
    /// An identifier or a keyword, as written.
    Word(String),
    /// A constant: string, number, oid, uuid, base64 binary or timestamp.
    Literal(Bson),
    /// A query argument such as `$0`.
    Argument,
    /// A word after `@`, such as `@count` (kept with its `@`).
    AtWord(String),
    /// A bracketed modifier such as `[c]` (the text between the brackets).
    Modifier(String),
    LeftBracket,
    RightBracket,
    LeftParen,
    RightParen,
    LeftBrace,
    RightBrace,
    Comma,
    Dot,
    Compare(CompareOp),
    And,
    Or,
    Not,
    /// `+`, `-`, `*` or `/`: arithmetic, which sync queries do not support.
    Arithmetic(char),
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub kind: TokenKind,
    /// Byte offset of the token's first character.
    pub start: usize,
    /// Byte offset just past the token.
    pub end: usize,
}

/// Splits `text` into tokens; the last token is always [`TokenKind::End`].
pub(super) fn tokenize(text: &str) -> Result<Vec<Token>> {
    let mut lexer = Lexer { text, position: 0 };
    let mut tokens = Vec::new();
    loop {
        lexer.skip_blanks();
        let start = lexer.position;
        let kind = lexer.next_kind()?;
        let at_end = kind == TokenKind::End;
        tokens.push(Token {
            kind,
            start,
            end: lexer.position,
        });
        if at_end {
            return Ok(tokens);
        }
    }
}

fn invalid(position: usize, message: impl Into<String>) -> Error {
    Error::InvalidQuery {
        position,
        message: message.into(),
    }
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '$' || !c.is_ascii()
}

fn is_word_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '-' || !c.is_ascii()
}

struct Lexer<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Lexer<'a> {
    /// The text from the current position on.
    fn rest(&self) -> &'a str {
        self.text.get(self.position..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.position += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, expected: char) -> bool {
        if self.peek() == Some(expected) {
            self.position += expected.len_utf8();
            true
        } else {
            false
        }
    }

    fn skip_blanks(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.position += c.len_utf8();
            } else {
                break;
            }
        }
    }

    /// Consumes characters while `keep` holds and returns them.
    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let start = self.position;
        while let Some(c) = self.peek() {
            if !keep(c) {
                break;
            }
            self.position += c.len_utf8();
        }
        self.text.get(start..self.position).unwrap_or("")
    }

    fn next_kind(&mut self) -> Result<TokenKind> {
        let start = self.position;
        let Some(c) = self.peek() else {
            return Ok(TokenKind::End);
        };
        let second = self.peek_second();
        let kind = match c {
            '(' => self.single(TokenKind::LeftParen),
            ')' => self.single(TokenKind::RightParen),
            '{' => self.single(TokenKind::LeftBrace),
            '}' => self.single(TokenKind::RightBrace),
            ',' => self.single(TokenKind::Comma),
            ']' => self.single(TokenKind::RightBracket),
            '*' | '/' => self.single(TokenKind::Arithmetic(c)),
            '.' if second.is_some_and(|d| d.is_ascii_digit()) => self.number(start)?,
            '.' => self.single(TokenKind::Dot),
            '0'..='9' => self.number(start)?,
            '+' | '-' => self.signed(start, c)?,
            '"' | '\'' => TokenKind::Literal(Bson::String(self.string(start)?)),
            '[' => self.bracket(),
            '@' => {
                self.bump();
                let word = self.take_while(is_word_continue);
                if word.is_empty() {
                    return Err(invalid(start, "expected a name after '@'"));
                }
                TokenKind::AtWord(format!("@{word}"))
            }
            '=' => {
                self.bump();
                if self.eat('=') {
                    TokenKind::Compare(CompareOp::Equal)
                } else if self.eat('<') {
                    TokenKind::Compare(CompareOp::LessOrEqual)
                } else if self.eat('>') {
                    TokenKind::Compare(CompareOp::GreaterOrEqual)
                } else {
                    TokenKind::Compare(CompareOp::Equal)
                }
            }
            '!' => {
                self.bump();
                if self.eat('=') {
                    TokenKind::Compare(CompareOp::NotEqual)
                } else {
                    TokenKind::Not
                }
            }
            '<' => {
                self.bump();
                if self.eat('=') {
                    TokenKind::Compare(CompareOp::LessOrEqual)
                } else if self.eat('>') {
                    TokenKind::Compare(CompareOp::NotEqual)
                } else {
                    TokenKind::Compare(CompareOp::Less)
                }
            }
            '>' => {
                self.bump();
                if self.eat('=') {
                    TokenKind::Compare(CompareOp::GreaterOrEqual)
                } else {
                    TokenKind::Compare(CompareOp::Greater)
                }
            }
            '&' => {
                self.bump();
                if !self.eat('&') {
                    return Err(invalid(start, "invalid character '&' (did you mean '&&'?)"));
                }
                TokenKind::And
            }
            '|' => {
                self.bump();
                if !self.eat('|') {
                    return Err(invalid(start, "invalid character '|' (did you mean '||'?)"));
                }
                TokenKind::Or
            }
            'T' if self.timestamp_ahead() => self.seconds_timestamp(start)?,
            c if is_word_start(c) => self.word(start)?,
            other => {
                return Err(invalid(
                    start,
                    format!("invalid character '{}'", other.escape_debug()),
                ))
            }
        };
        Ok(kind)
    }

    fn single(&mut self, kind: TokenKind) -> TokenKind {
        self.bump();
        kind
    }

    /// `[c]`-style modifiers become one token; any other `[` is a subscript bracket.
    fn bracket(&mut self) -> TokenKind {
        let rest = self.rest();
        let inner: String = rest
            .chars()
            .skip(1)
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let closing = rest.chars().nth(1 + inner.len());
        if !inner.is_empty() && closing == Some(']') {
            self.position += inner.len() + 2;
            TokenKind::Modifier(inner)
        } else {
            self.bump();
            TokenKind::LeftBracket
        }
    }

    /// An identifier or keyword, or a literal written with a word prefix: `oid(...)`,
    /// `uuid(...)` and `B64"..."`.
    fn word(&mut self, start: usize) -> Result<TokenKind> {
        let word = self.take_while(is_word_continue);
        if word.starts_with('$') {
            let digits = word.get(1..).unwrap_or("");
            if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
                return Ok(TokenKind::Argument);
            }
        }
        if self.peek() == Some('(') {
            if word.eq_ignore_ascii_case("oid") {
                return self.object_id(start);
            }
            if word.eq_ignore_ascii_case("uuid") {
                return self.uuid(start);
            }
        }
        if word == "B64" && self.peek() == Some('"') {
            return self.base64(start);
        }
        Ok(TokenKind::Word(word.to_string()))
    }

    /// The text inside `name(...)`, with the position after `(`; consumes through `)`.
    fn parenthesized(&mut self, start: usize, name: &str) -> Result<(&'a str, usize)> {
        self.bump(); // '('
        let inner_start = self.position;
        let inner = self.take_while(|c| c != ')');
        if !self.eat(')') {
            return Err(invalid(start, format!("expected ')' to close '{name}('")));
        }
        Ok((inner, inner_start))
    }

    fn object_id(&mut self, start: usize) -> Result<TokenKind> {
        let (inner, inner_start) = self.parenthesized(start, "oid")?;
        ObjectId::parse_str(inner.trim())
            .map(|oid| TokenKind::Literal(Bson::ObjectId(oid)))
            .map_err(|_| {
                invalid(
                    inner_start,
                    format!("expected 24 hexadecimal digits in oid(...), found '{inner}'"),
                )
            })
    }

    fn uuid(&mut self, start: usize) -> Result<TokenKind> {
        let (inner, inner_start) = self.parenthesized(start, "uuid")?;
        let trimmed = inner.trim();
        let groups: Vec<&str> = trimmed.split('-').collect();
        let shape_ok = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
            && groups
                .iter()
                .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
        let bytes = if shape_ok {
            decode_hex(&groups.concat())
        } else {
            None
        };
        let Some(bytes) = bytes else {
            return Err(invalid(
                inner_start,
                format!(
                    "expected a UUID such as 3b241101-e2bb-4255-8caf-4136c566a962 in uuid(...), \
                     found '{inner}'"
                ),
            ));
        };
        Ok(TokenKind::Literal(Bson::Binary(Binary {
            subtype: BinarySubtype::Uuid,
            bytes,
        })))
    }

    fn base64(&mut self, start: usize) -> Result<TokenKind> {
        self.bump(); // '"'
        let encoded = self.take_while(|c| c != '"');
        if !self.eat('"') {
            return Err(invalid(start, "unterminated B64\"...\" literal"));
        }
        Binary::from_base64(encoded, BinarySubtype::Generic)
            .map(|binary| TokenKind::Literal(Bson::Binary(binary)))
            .map_err(|_| invalid(start, "invalid base64 in B64\"...\" literal"))
    }

    /// A `+` or `-`: the sign of a number or of `inf`/`nan`, or else arithmetic.
    fn signed(&mut self, start: usize, sign: char) -> Result<TokenKind> {
        match self.peek_second() {
            Some(d) if d.is_ascii_digit() || d == '.' => self.number(start),
            Some(a) if a.is_ascii_alphabetic() => {
                let rest = self.rest().get(1..).unwrap_or("");
                let word: String = rest.chars().take_while(|c| is_word_continue(*c)).collect();
                match special_float(&word) {
                    Some(value) => {
                        self.position += 1 + word.len();
                        let value = if sign == '-' { -value } else { value };
                        Ok(TokenKind::Literal(Bson::Double(value)))
                    }
                    None => Ok(self.single(TokenKind::Arithmetic(sign))),
                }
            }
            _ => Ok(self.single(TokenKind::Arithmetic(sign))),
        }
    }

    /// A number, or a `YYYY-MM-DD@HH:MM:SS` timestamp (which also starts with digits).
    fn number(&mut self, start: usize) -> Result<TokenKind> {
        if let Some(kind) = self.date_timestamp(start)? {
            return Ok(kind);
        }
        let negative = self.peek() == Some('-');
        if negative || self.peek() == Some('+') {
            self.bump();
        }
        let rest = self.rest();
        if (rest.starts_with("0x") || rest.starts_with("0X"))
            && rest.chars().nth(2).is_some_and(|c| c.is_ascii_hexdigit())
        {
            self.position += 2;
            let digits = self.take_while(|c| c.is_ascii_hexdigit());
            let magnitude = i64::from_str_radix(digits, 16)
                .map_err(|_| invalid(start, "integer literal out of range"))?;
            let value = if negative {
                magnitude.checked_neg()
            } else {
                Some(magnitude)
            };
            let value = value.ok_or_else(|| invalid(start, "integer literal out of range"))?;
            self.refuse_trailing_word(start)?;
            return Ok(TokenKind::Literal(integer(value)));
        }
        self.take_while(|c| c.is_ascii_digit());
        let mut is_float = false;
        if self.peek() == Some('.') {
            is_float = true;
            self.bump();
            self.take_while(|c| c.is_ascii_digit());
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let exponent_start = self.position;
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            if self.take_while(|c| c.is_ascii_digit()).is_empty() {
                return Err(invalid(exponent_start, "expected digits in the exponent"));
            }
            is_float = true;
        }
        let literal_end = self.position;
        if self.peek() == Some('f') {
            is_float = true;
            self.bump();
        }
        self.refuse_trailing_word(start)?;
        let literal = self.text.get(start..literal_end).unwrap_or("");
        if is_float {
            let value: f64 = literal
                .parse()
                .map_err(|_| invalid(start, format!("invalid number '{literal}'")))?;
            Ok(TokenKind::Literal(Bson::Double(value)))
        } else {
            let value: i64 = literal
                .parse()
                .map_err(|_| invalid(start, format!("integer literal out of range: {literal}")))?;
            Ok(TokenKind::Literal(integer(value)))
        }
    }

    /// `12abc` is one bad token, not a number followed by a property.
    fn refuse_trailing_word(&self, start: usize) -> Result<()> {
        if self.peek().is_some_and(is_word_start) {
            let end = self.position
                + self
                    .rest()
                    .chars()
                    .take_while(|c| is_word_continue(*c))
                    .map(char::len_utf8)
                    .sum::<usize>();
            let text = self.text.get(start..end).unwrap_or("");
            return Err(invalid(start, format!("invalid number '{text}'")));
        }
        Ok(())
    }

    /// Whether a `T<seconds>:<nanoseconds>` timestamp starts here.
    fn timestamp_ahead(&self) -> bool {
        let rest = self.rest().get(1..).unwrap_or("");
        let rest = rest.strip_prefix(['+', '-']).unwrap_or(rest);
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        digits > 0 && rest.get(digits..).is_some_and(|r| r.starts_with(':'))
    }

    /// `T<seconds>:<nanoseconds>`, seconds since the Unix epoch.
    fn seconds_timestamp(&mut self, start: usize) -> Result<TokenKind> {
        self.bump(); // 'T'
        let seconds = self.signed_digits();
        self.eat(':');
        let nanoseconds = self.signed_digits();
        self.refuse_trailing_word(start)?;
        let out_of_range = || {
            invalid(
                start,
                "invalid timestamp: expected T<seconds>:<nanoseconds>",
            )
        };
        let seconds: i64 = seconds.parse().map_err(|_| out_of_range())?;
        let nanoseconds: i64 = nanoseconds.parse().map_err(|_| out_of_range())?;
        if nanoseconds.unsigned_abs() >= 1_000_000_000
            || (seconds != 0 && nanoseconds != 0 && (seconds < 0) != (nanoseconds < 0))
        {
            return Err(invalid(
                start,
                "timestamp nanoseconds must be below one second and have the sign of the seconds",
            ));
        }
        timestamp_literal(seconds, nanoseconds).ok_or_else(out_of_range)
    }

    fn signed_digits(&mut self) -> &'a str {
        let start = self.position;
        if matches!(self.peek(), Some('+' | '-')) {
            self.bump();
        }
        self.take_while(|c| c.is_ascii_digit());
        self.text.get(start..self.position).unwrap_or("")
    }

    /// `YYYY-MM-DD@HH:MM:SS[:NANOS]` (or with `T` for `@`), in UTC; `None` when the text here
    /// is not shaped like one.
    fn date_timestamp(&mut self, start: usize) -> Result<Option<TokenKind>> {
        let rest = self.rest();
        let mut fields: Vec<&str> = Vec::new();
        let mut consumed = 0;
        // Separators of YYYY-MM-DD@HH:MM:SS and the optional :NANOS.
        // The last entry ends the optional NANOS field and matches nothing.
        for separator in ['-', '-', '@', ':', ':', ':', ' '] {
            let field = rest.get(consumed..).unwrap_or("");
            let digits = field.chars().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                break;
            }
            fields.push(field.get(..digits).unwrap_or(""));
            consumed += digits;
            let next = rest.get(consumed..).and_then(|r| r.chars().next());
            let separator_matches = match (separator, next) {
                ('@', Some('@' | 'T')) => true,
                (expected, Some(found)) => expected == found,
                _ => false,
            };
            let following_digit = rest
                .get(consumed + 1..)
                .and_then(|r| r.chars().next())
                .is_some_and(|c| c.is_ascii_digit());
            if separator != ' ' && separator_matches && following_digit {
                consumed += 1;
            } else {
                break;
            }
        }
        if fields.len() < 6 {
            // `2024-01-31` alone: RQL timestamps always carry a time of day.
            if fields.len() >= 3 {
                return Err(invalid(
                    start,
                    "incomplete timestamp: expected YYYY-MM-DD@HH:MM:SS",
                ));
            }
            return Ok(None);
        }
        self.position += consumed;
        self.refuse_trailing_word(start)?;
        let bad = || invalid(start, "invalid date in timestamp literal");
        let mut numbers = Vec::new();
        for field in &fields {
            numbers.push(field.parse::<i64>().map_err(|_| bad())?);
        }
        let [year, month, day, hour, minute, second, ref rest @ ..] = numbers[..] else {
            return Err(bad());
        };
        let nanoseconds = rest.first().copied().unwrap_or(0);
        // Years beyond four digits would overflow nothing below, but are surely typos.
        if year > 9999 {
            return Err(bad());
        }
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
            2 => 28,
            _ => return Err(bad()),
        };
        if !(1..=days_in_month).contains(&day)
            || hour > 23
            || minute > 59
            || second > 59
            || nanoseconds >= 1_000_000_000
        {
            return Err(bad());
        }
        let seconds = days_from_civil(year, month, day)
            .checked_mul(86_400)
            .and_then(|s| s.checked_add(hour * 3600 + minute * 60 + second))
            .ok_or_else(bad)?;
        timestamp_literal(seconds, nanoseconds)
            .map(Some)
            .ok_or_else(bad)
    }

    /// A quoted string with JSON-style escapes (`\" \' \/ \\ \b \f \n \r \t \0 \uXXXX`).
    fn string(&mut self, start: usize) -> Result<String> {
        let Some(quote) = self.bump() else {
            return Err(invalid(start, "expected a string"));
        };
        let mut value = String::new();
        loop {
            let escape_start = self.position;
            match self.bump() {
                None => return Err(invalid(start, "unterminated string literal")),
                Some(c) if c == quote => return Ok(value),
                Some('\\') => match self.bump() {
                    Some('"') => value.push('"'),
                    Some('\'') => value.push('\''),
                    Some('/') => value.push('/'),
                    Some('\\') => value.push('\\'),
                    Some('b') => value.push('\u{8}'),
                    Some('f') => value.push('\u{c}'),
                    Some('n') => value.push('\n'),
                    Some('r') => value.push('\r'),
                    Some('t') => value.push('\t'),
                    Some('0') => value.push('\0'),
                    Some('u') => value.push(self.unicode_escape(escape_start)?),
                    Some(other) => {
                        return Err(invalid(
                            escape_start,
                            format!("invalid escape sequence '\\{}'", other.escape_debug()),
                        ))
                    }
                    None => return Err(invalid(start, "unterminated string literal")),
                },
                Some(c) => value.push(c),
            }
        }
    }

    /// The code point of `\uXXXX` (after the `u`), joining a surrogate pair.
    fn unicode_escape(&mut self, escape_start: usize) -> Result<char> {
        let bad = || {
            invalid(
                escape_start,
                "invalid \\u escape: expected four hexadecimal digits naming a character",
            )
        };
        let first = self.four_hex_digits().ok_or_else(bad)?;
        if (0xD800..0xDC00).contains(&first) {
            if !self.rest().starts_with("\\u") {
                return Err(bad());
            }
            self.position += 2;
            let second = self.four_hex_digits().ok_or_else(bad)?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(bad());
            }
            let combined = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
            return char::from_u32(combined).ok_or_else(bad);
        }
        char::from_u32(first).ok_or_else(bad)
    }

    fn four_hex_digits(&mut self) -> Option<u32> {
        let digits = self.rest().get(..4)?;
        if !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.position += 4;
        u32::from_str_radix(digits, 16).ok()
    }
}

/// An integer literal: int32 when it fits, as the shell writes small numbers, else int64.
fn integer(value: i64) -> Bson {
    match i32::try_from(value) {
        Ok(small) => Bson::Int32(small),
        Err(_) => Bson::Int64(value),
    }
}

/// `inf`, `infinity` and `nan` (any case).
pub(super) fn special_float(word: &str) -> Option<f64> {
    if word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("infinity") {
        Some(f64::INFINITY)
    } else if word.eq_ignore_ascii_case("nan") {
        Some(f64::NAN)
    } else {
        None
    }
}

/// A BSON date for a moment given in seconds and nanoseconds since the Unix epoch. BSON dates
/// hold milliseconds, so sub-millisecond precision is dropped.
fn timestamp_literal(seconds: i64, nanoseconds: i64) -> Option<TokenKind> {
    let milliseconds = seconds
        .checked_mul(1000)?
        .checked_add(nanoseconds / 1_000_000)?;
    Some(TokenKind::Literal(Bson::DateTime(DateTime::from_millis(
        milliseconds,
    ))))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let digits: Vec<u32> = hex.chars().map(|c| c.to_digit(16)).collect::<Option<_>>()?;
    digits
        .chunks(2)
        .map(|pair| match pair {
            [high, low] => u8::try_from(high * 16 + low).ok(),
            _ => None,
        })
        .collect()
}
