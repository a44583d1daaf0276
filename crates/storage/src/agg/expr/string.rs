//! String operators. Positions are in UTF-8 bytes for the `Bytes` variants and in code points
//! for the `CP` variants; case mapping and `$strcasecmp` are ASCII-only, as in MongoDB.

use bson::{doc, Bson};

use super::number::Num;
use super::{is_nullish, type_name, Ctx, MissingStyle, NamedArgs, Operator, Shape, UnknownStyle};
use crate::error::{Error, Result};
use crate::pcre::{BuildError, Captures, Pcre, MATCH_LIMIT_MESSAGE};

type Out = Result<Option<Bson>>;

fn null() -> Out {
    Ok(Some(Bson::Null))
}

fn string(s: impl Into<String>) -> Out {
    Ok(Some(Bson::String(s.into())))
}

pub(super) const TRIM_SHAPE: Shape = Shape::Named(&NamedArgs {
    fields: &[("input", 50695), ("chars", 0)],
    not_object: 50696,
    unknown: 50694,
    unknown_style: UnknownStyle::FoundUnknown,
    missing_style: MissingStyle::Field,
});

pub(super) const REGEX_SHAPE: Shape = Shape::Named(&NamedArgs {
    fields: &[("input", 31022), ("regex", 31023), ("options", 0)],
    not_object: 51103,
    unknown: 31024,
    unknown_style: UnknownStyle::FoundUnknown,
    missing_style: MissingStyle::RequiresParameter,
});

pub(super) const REPLACE_SHAPE: Shape = Shape::Named(&NamedArgs {
    fields: &[("input", 51749), ("find", 51748), ("replacement", 51747)],
    not_object: 51751,
    unknown: 51750,
    unknown_style: UnknownStyle::FoundUnknown,
    missing_style: MissingStyle::Specified,
});

/// MongoDB's coercion to string for `$substr`, `$toLower`, `$strcasecmp`: null and missing
/// are "", numbers, dates and timestamps are printed, other types are errors.
fn coerce_to_string(v: Option<&Bson>) -> Result<String> {
    match v {
        None | Some(Bson::Null) | Some(Bson::Undefined) => Ok(String::new()),
        Some(Bson::String(s)) | Some(Bson::Symbol(s)) => Ok(s.clone()),
        Some(Bson::Int32(i)) => Ok(i.to_string()),
        Some(Bson::Int64(i)) => Ok(i.to_string()),
        Some(Bson::Double(d)) => Ok(super::convert::double_to_string(*d)),
        Some(Bson::Decimal128(d)) => Ok(d.to_string()),
        Some(Bson::DateTime(d)) => Ok(super::date::format_date(
            d.timestamp_millis(),
            "%Y-%m-%dT%H:%M:%S.%LZ",
        )),
        Some(Bson::Timestamp(t)) => Ok(format!("Timestamp({}, {})", t.time, t.increment)),
        Some(other) => Err(Error::coded(
            16007,
            format!(
                "can't convert from BSON type {} to String",
                type_name(Some(other))
            ),
        )),
    }
}

pub(super) fn concat(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let mut out = String::new();
    for i in 0..op.args.len() {
        match op.arg(i, ctx)? {
            Some(Bson::String(s)) => {
                super::check_string_len(out.len().saturating_add(s.len()))?;
                out.push_str(&s);
            }
            v if is_nullish(v.as_ref()) => return null(),
            v => {
                return Err(Error::coded(
                    16702,
                    format!(
                        "$concat only supports strings, not {}",
                        type_name(v.as_ref())
                    ),
                ))
            }
        }
    }
    string(out)
}

/// An integer argument (any numeric type with an integral value).
fn integral(v: Option<&Bson>) -> Option<i64> {
    v.and_then(Num::of).and_then(|n| match n {
        Num::Double(d) if d.is_finite() => Some(d.trunc() as i64),
        other => other.to_i64_exact(),
    })
}

/// `$substrBytes` (and the deprecated `$substr`): byte offsets that must not split a
/// character; a negative length means "to the end".
pub(super) fn substr_bytes(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let input = op.arg(0, ctx)?;
    let start = op.arg(1, ctx)?;
    let length = op.arg(2, ctx)?;
    let s = coerce_to_string(input.as_ref())?;
    let Some(start) = start.as_ref().and_then(Num::of) else {
        return Err(Error::coded(
            16034,
            format!(
                "{}:  starting index must be a numeric type (is BSON type {})",
                op.name,
                type_name(start.as_ref())
            ),
        ));
    };
    let Some(length) = length.as_ref().and_then(Num::of) else {
        return Err(Error::coded(
            16035,
            format!(
                "{}:  length must be a numeric type (is BSON type {})",
                op.name,
                type_name(length.as_ref())
            ),
        ));
    };
    let start = integral(Some(&start.to_bson())).unwrap_or(0);
    let length = integral(Some(&length.to_bson())).unwrap_or(0);
    if start < 0 {
        return Err(Error::coded(
            50752,
            format!(
                "{}: starting index must be non-negative (got: {start})",
                op.name
            ),
        ));
    }
    let bytes = s.as_bytes();
    let start = usize::try_from(start).unwrap_or(usize::MAX);
    if start >= bytes.len() {
        return string("");
    }
    if !s.is_char_boundary(start) {
        return Err(Error::coded(
            28656,
            format!(
                "{}:  Invalid range, starting index is a UTF-8 continuation byte.",
                op.name
            ),
        ));
    }
    let end = if length < 0 {
        bytes.len()
    } else {
        start
            .saturating_add(usize::try_from(length).unwrap_or(usize::MAX))
            .min(bytes.len())
    };
    if !s.is_char_boundary(end) {
        return Err(Error::coded(
            28657,
            format!(
                "{}:  Invalid range, ending index is in the middle of a UTF-8 character.",
                op.name
            ),
        ));
    }
    string(s.get(start..end).unwrap_or(""))
}

pub(super) fn substr_cp(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let input = op.arg(0, ctx)?;
    let start = op.arg(1, ctx)?;
    let length = op.arg(2, ctx)?;
    let s = coerce_to_string(input.as_ref())?;
    let Some(start_n) = start.as_ref().and_then(Num::of) else {
        return Err(Error::coded(
            34450,
            format!(
                "$substrCP: starting index must be a numeric type (is BSON type {})",
                type_name(start.as_ref())
            ),
        ));
    };
    let Some(start) = start_n.to_i64_exact().and_then(|i| i32::try_from(i).ok()) else {
        return Err(Error::coded(
            34451,
            format!(
                "$substrCP: starting index cannot be represented as a 32-bit integral value: {}",
                start_n.to_bson()
            ),
        ));
    };
    let Some(length_n) = length.as_ref().and_then(Num::of) else {
        return Err(Error::coded(
            34452,
            format!(
                "$substrCP: length must be a numeric type (is BSON type {})",
                type_name(length.as_ref())
            ),
        ));
    };
    let Some(length) = length_n.to_i64_exact().and_then(|i| i32::try_from(i).ok()) else {
        return Err(Error::coded(
            34453,
            format!(
                "$substrCP: length cannot be represented as a 32-bit integral value: {}",
                length_n.to_bson()
            ),
        ));
    };
    if length < 0 {
        return Err(Error::coded(
            34454,
            "$substrCP: length must be a nonnegative integer.",
        ));
    }
    if start < 0 {
        return Err(Error::coded(
            34455,
            "$substrCP: the starting index must be nonnegative integer.",
        ));
    }
    let out: String = s
        .chars()
        .skip(usize::try_from(start).unwrap_or(0))
        .take(usize::try_from(length).unwrap_or(0))
        .collect();
    string(out)
}

pub(super) fn to_lower(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let v = op.arg(0, ctx)?;
    string(coerce_to_string(v.as_ref())?.to_ascii_lowercase())
}

pub(super) fn to_upper(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let v = op.arg(0, ctx)?;
    string(coerce_to_string(v.as_ref())?.to_ascii_uppercase())
}

pub(super) fn strcasecmp(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let a = op.arg(0, ctx)?;
    let b = op.arg(1, ctx)?;
    // MongoDB compares the upper-cased strings, which orders "_" after letters.
    let a = coerce_to_string(a.as_ref())?.to_ascii_uppercase();
    let b = coerce_to_string(b.as_ref())?.to_ascii_uppercase();
    let result = match a.as_bytes().cmp(b.as_bytes()) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    };
    Ok(Some(Bson::Int32(result)))
}

pub(super) fn split(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let input = op.arg(0, ctx)?;
    let delimiter = op.arg(1, ctx)?;
    if is_nullish(input.as_ref()) || is_nullish(delimiter.as_ref()) {
        return null();
    }
    let Some(Bson::String(s)) = &input else {
        return Err(Error::coded(
            40085,
            format!(
                "$split requires an expression that evaluates to a string as a first \
                 argument, found: {}",
                type_name(input.as_ref())
            ),
        ));
    };
    let Some(Bson::String(d)) = &delimiter else {
        return Err(Error::coded(
            40086,
            format!(
                "$split requires an expression that evaluates to a string as a second \
                 argument, found: {}",
                type_name(delimiter.as_ref())
            ),
        ));
    };
    if d.is_empty() {
        return Err(Error::coded(
            40087,
            format!("$split requires a non-empty separator: {d}"),
        ));
    }
    let parts = s.split(d.as_str()).map(|p| Bson::String(p.to_string()));
    Ok(Some(Bson::Array(parts.collect())))
}

/// The characters `$trim` removes by default: NUL, ASCII whitespace, no-break space, Ogham
/// space mark and U+2000 to U+200A (MongoDB's exact list).
fn default_trim_char(c: char) -> bool {
    matches!(
        c,
        '\0' | ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | '\u{A0}' | '\u{1680}'
    ) || ('\u{2000}'..='\u{200A}').contains(&c)
}

fn trim_impl(op: &Operator, ctx: &Ctx<'_>, left: bool, right: bool) -> Out {
    let input = op.arg(0, ctx)?;
    if is_nullish(input.as_ref()) {
        return null();
    }
    let Some(Bson::String(s)) = &input else {
        return Err(Error::coded(
            50699,
            format!(
                "{} requires its input to be a string, got {} (of type {}) instead.",
                op.name,
                input.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                type_name(input.as_ref())
            ),
        ));
    };
    let chars: Option<Vec<char>> = if op.has(1) {
        let chars = op.arg(1, ctx)?;
        if is_nullish(chars.as_ref()) {
            return null();
        }
        match &chars {
            Some(Bson::String(c)) => Some(c.chars().collect()),
            other => {
                return Err(Error::coded(
                    50700,
                    format!(
                        "{} requires 'chars' to be a string, got {} (of type {}) instead.",
                        op.name,
                        other.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                        type_name(other.as_ref())
                    ),
                ))
            }
        }
    } else {
        None
    };
    let strip = |c: char| match &chars {
        Some(set) => set.contains(&c),
        None => default_trim_char(c),
    };
    let mut out = s.as_str();
    if left {
        out = out.trim_start_matches(strip);
    }
    if right {
        out = out.trim_end_matches(strip);
    }
    string(out)
}

pub(super) fn trim(op: &Operator, ctx: &Ctx<'_>) -> Out {
    trim_impl(op, ctx, true, true)
}

pub(super) fn ltrim(op: &Operator, ctx: &Ctx<'_>) -> Out {
    trim_impl(op, ctx, true, false)
}

pub(super) fn rtrim(op: &Operator, ctx: &Ctx<'_>) -> Out {
    trim_impl(op, ctx, false, true)
}

pub(super) fn str_len_cp(op: &Operator, ctx: &Ctx<'_>) -> Out {
    match op.arg(0, ctx)? {
        Some(Bson::String(s)) => count(s.chars().count()),
        other => Err(Error::coded(
            34471,
            format!(
                "$strLenCP requires a string argument, found: {}",
                type_name(other.as_ref())
            ),
        )),
    }
}

pub(super) fn str_len_bytes(op: &Operator, ctx: &Ctx<'_>) -> Out {
    match op.arg(0, ctx)? {
        Some(Bson::String(s)) => count(s.len()),
        other => Err(Error::coded(
            34473,
            format!(
                "$strLenBytes requires a string argument, found: {}",
                type_name(other.as_ref())
            ),
        )),
    }
}

/// A count as int32 (MongoDB's counts of strings and arrays fit: documents are 16 MiB).
fn count(n: usize) -> Out {
    Ok(Some(Bson::Int32(i32::try_from(n).unwrap_or(i32::MAX))))
}

/// Parses the optional start/end arguments of `$indexOf*`: non-negative integers.
pub(super) fn index_bound(op: &Operator, v: Option<Bson>, what: &str) -> Result<usize> {
    let shown = v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let Some(i) = v.as_ref().and_then(Num::of).and_then(|n| n.to_i64_exact()) else {
        return Err(Error::coded(
            40096,
            format!(
                "{}requires an integral {what}, found a value of type: {}, with value: {shown}",
                op.name,
                type_name(v.as_ref()),
            ),
        ));
    };
    usize::try_from(i).map_err(|_| {
        Error::coded(
            40097,
            format!("{} requires a nonnegative {what}, found: {shown}", op.name),
        )
    })
}

/// `$indexOfBytes`/`$indexOfCP`. Bytes: the substring must lie within [start, end).
/// Code points: a match may start at any code point in [start, end) and run past `end`, as
/// MongoDB's implementation does.
fn index_of(op: &Operator, ctx: &Ctx<'_>, code_points: bool) -> Out {
    let input = op.arg(0, ctx)?;
    let (first_code, second_code) = if code_points {
        (40093, 40094)
    } else {
        (40091, 40092)
    };
    if is_nullish(input.as_ref()) {
        return null();
    }
    let Some(Bson::String(s)) = &input else {
        return Err(Error::coded(
            first_code,
            format!(
                "{} requires a string as the first argument, found: {}",
                op.name,
                type_name(input.as_ref())
            ),
        ));
    };
    let needle = op.arg(1, ctx)?;
    let Some(Bson::String(needle)) = &needle else {
        return Err(Error::coded(
            second_code,
            format!(
                "{} requires a string as the second argument, found: {}",
                op.name,
                type_name(needle.as_ref())
            ),
        ));
    };
    // Byte offset of each unit's start.
    let starts: Vec<usize> = if code_points {
        s.char_indices().map(|(i, _)| i).collect()
    } else {
        (0..s.len()).collect()
    };
    let units = starts.len();
    let start = if op.args.len() > 2 {
        index_bound(op, op.arg(2, ctx)?, "starting index")?
    } else {
        0
    };
    let end = if op.args.len() > 3 {
        index_bound(op, op.arg(3, ctx)?, "ending index")?.min(units)
    } else {
        units
    };
    if code_points {
        if end < start {
            return Ok(Some(Bson::Int32(-1)));
        }
        if start == 0 && s.is_empty() && needle.is_empty() {
            return count(0);
        }
        for unit in start..end {
            let Some(&from) = starts.get(unit) else {
                break;
            };
            if s.as_bytes().get(from..from + needle.len()) == Some(needle.as_bytes()) {
                return count(unit);
            }
        }
        return Ok(Some(Bson::Int32(-1)));
    }
    if start > s.len() || end < start {
        return Ok(Some(Bson::Int32(-1)));
    }
    let window = s.as_bytes().get(..end).unwrap_or(&[]);
    let mut position = start;
    while position + needle.len() <= window.len() {
        if window.get(position..position + needle.len()) == Some(needle.as_bytes()) {
            return count(position);
        }
        position += 1;
    }
    Ok(Some(Bson::Int32(-1)))
}

pub(super) fn index_of_bytes(op: &Operator, ctx: &Ctx<'_>) -> Out {
    index_of(op, ctx, false)
}

pub(super) fn index_of_cp(op: &Operator, ctx: &Ctx<'_>) -> Out {
    index_of(op, ctx, true)
}

/// The compiled regex of `$regexMatch`/`$regexFind`/`$regexFindAll`, or `None` when the
/// input or the regex is null (each operator has its own answer for that).
struct RegexArgs {
    input: String,
    regex: Pcre,
}

fn regex_args(op: &Operator, ctx: &Ctx<'_>) -> Result<Option<RegexArgs>> {
    let input = op.arg(0, ctx)?;
    let pattern = op.arg(1, ctx)?;
    let options = op.arg(2, ctx)?;
    let input = match &input {
        Some(Bson::String(s)) => Some(s.clone()),
        i if is_nullish(i.as_ref()) => None,
        _ => {
            return Err(Error::coded(
                51104,
                format!("{} needs 'input' to be of type string", op.name),
            ))
        }
    };
    let (pattern_text, regex_flags) = match &pattern {
        Some(Bson::String(p)) => (Some(p.clone()), String::new()),
        Some(Bson::RegularExpression(r)) => (Some(r.pattern.clone()), r.options.clone()),
        p if is_nullish(p.as_ref()) => (None, String::new()),
        _ => {
            return Err(Error::coded(
                51105,
                format!("{} needs 'regex' to be of type string or regex", op.name),
            ))
        }
    };
    let options = match &options {
        Some(Bson::String(o)) => Some(o.clone()),
        o if is_nullish(o.as_ref()) => None,
        _ => {
            return Err(Error::coded(
                51106,
                format!("{} needs 'options' to be of type string", op.name),
            ))
        }
    };
    if options.is_some() && !regex_flags.is_empty() {
        return Err(Error::coded(
            51107,
            format!(
                "{}: found regex option(s) specified in both 'regex' and 'option' fields",
                op.name
            ),
        ));
    }
    let flags = options.unwrap_or(regex_flags);
    for flag in flags.chars() {
        if !matches!(flag, 'i' | 'm' | 's' | 'x' | 'u') {
            return Err(Error::coded(
                51108,
                format!("{} invalid flag in regex options: {flag}", op.name),
            ));
        }
    }
    if pattern_text.as_deref().is_some_and(|p| p.contains('\0')) {
        return Err(Error::coded(
            51109,
            format!(
                "{}: regular expression cannot contain an embedded null byte",
                op.name
            ),
        ));
    }
    let (Some(input), Some(pattern_text)) = (input, pattern_text) else {
        return Ok(None);
    };
    let regex = match op.regex_cache.get() {
        Some((p, f, regex)) if *p == pattern_text && *f == flags => regex.clone(),
        _ => {
            let regex = compile_regex(op.name, &pattern_text, &flags)?;
            // Only the first pattern is kept; a varying pattern is compiled each time.
            let _ = op.regex_cache.set((pattern_text, flags, regex.clone()));
            regex
        }
    };
    Ok(Some(RegexArgs { input, regex }))
}

/// Compiles a MongoDB (PCRE) pattern with the shared [`crate::pcre`] builder (look-around and
/// back-references included); an invalid pattern is MongoDB's 51111.
pub(super) fn compile_regex(name: &str, pattern: &str, flags: &str) -> Result<Pcre> {
    Pcre::new(pattern, flags).map_err(|e| match e {
        BuildError::Flag(flag) => Error::coded(
            51108,
            format!("{name} invalid flag in regex options: {flag}"),
        ),
        BuildError::Invalid(why) => Error::coded(51111, format!("Invalid Regex in {name}: {why}")),
    })
}

/// MongoDB's error for a match that needed more work than the bound allows.
fn limit_error(name: &str) -> Error {
    Error::coded(
        51156,
        format!(
            "Error occurred while executing the regular expression in {name}. Result code: \
             {MATCH_LIMIT_MESSAGE}"
        ),
    )
}

pub(super) fn regex_match(op: &Operator, ctx: &Ctx<'_>) -> Out {
    match regex_args(op, ctx)? {
        Some(args) => {
            let matched = args
                .regex
                .is_match(&args.input)
                .map_err(|_| limit_error(op.name))?;
            Ok(Some(Bson::Boolean(matched)))
        }
        None => Ok(Some(Bson::Boolean(false))),
    }
}

/// `{match, idx, captures}` for one match; `idx` counts code points.
fn match_document(input: &str, captures: &Captures) -> Bson {
    let (start, end) = captures.whole();
    let idx = input
        .get(..start)
        .map_or(0, |prefix| prefix.chars().count());
    let text = |(from, to): (usize, usize)| input.get(from..to).unwrap_or("").to_string();
    let groups: Vec<Bson> = captures
        .groups()
        .iter()
        .map(|g| match g {
            Some(range) => Bson::String(text(*range)),
            None => Bson::Null,
        })
        .collect();
    Bson::Document(doc! {
        "match": text((start, end)),
        "idx": i32::try_from(idx).unwrap_or(i32::MAX),
        "captures": groups,
    })
}

pub(super) fn regex_find(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let Some(args) = regex_args(op, ctx)? else {
        return null();
    };
    match args
        .regex
        .captures_from(&args.input, 0)
        .map_err(|_| limit_error(op.name))?
    {
        Some(c) => Ok(Some(match_document(&args.input, &c))),
        None => null(),
    }
}

/// Every non-overlapping match, left to right. After an empty match the search goes on one
/// character further; an empty match right where a non-empty one ended is skipped.
pub(super) fn regex_find_all(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let Some(args) = regex_args(op, ctx)? else {
        return Ok(Some(Bson::Array(Vec::new())));
    };
    let input = &args.input;
    let mut matches = Vec::new();
    let mut pos = 0;
    let mut last_end = None;
    // Each turn moves `pos` forward by at least one character or stops, so this ends.
    while pos <= input.len() {
        let Some(c) = args
            .regex
            .captures_from(input, pos)
            .map_err(|_| limit_error(op.name))?
        else {
            break;
        };
        let (start, end) = c.whole();
        if start == end {
            let next = end
                + input
                    .get(end..)
                    .and_then(|r| r.chars().next())
                    .map_or(1, char::len_utf8);
            if last_end != Some(end) {
                matches.push(match_document(input, &c));
            }
            pos = next;
        } else {
            matches.push(match_document(input, &c));
            pos = end;
        }
        last_end = Some(end);
    }
    Ok(Some(Bson::Array(matches)))
}

fn replace_impl(op: &Operator, ctx: &Ctx<'_>, all: bool) -> Out {
    let input = op.arg(0, ctx)?;
    let find = op.arg(1, ctx)?;
    let replacement = op.arg(2, ctx)?;
    for (value, what, code) in [
        (&input, "input", 51746),
        (&find, "find", 51745),
        (&replacement, "replacement", 51744),
    ] {
        if !matches!(value, Some(Bson::String(_))) && !is_nullish(value.as_ref()) {
            return Err(Error::coded(
                code,
                format!(
                    "{} requires that '{what}' be a string, found: {}",
                    op.name,
                    value.as_ref().map(|v| v.to_string()).unwrap_or_default()
                ),
            ));
        }
    }
    match (&input, &find, &replacement) {
        (Some(Bson::String(i)), Some(Bson::String(f)), Some(Bson::String(r))) => {
            // The result's length, computed before building it: a 16 MB replacement for each
            // of millions of matches must be refused, not built.
            let matches = if !all {
                usize::from(f.is_empty() || i.contains(f.as_str()))
            } else if f.is_empty() {
                i.chars().count().saturating_add(1)
            } else {
                i.matches(f.as_str()).count()
            };
            let removed = if f.is_empty() {
                0
            } else {
                matches.saturating_mul(f.len())
            };
            super::check_string_len(
                i.len()
                    .saturating_sub(removed)
                    .saturating_add(matches.saturating_mul(r.len())),
            )?;
            if all {
                if f.is_empty() {
                    // An empty `find` matches before every character and at the end.
                    let mut out = String::new();
                    for c in i.chars() {
                        out.push_str(r);
                        out.push(c);
                    }
                    out.push_str(r);
                    return string(out);
                }
                string(i.replace(f.as_str(), r))
            } else {
                string(i.replacen(f.as_str(), r, 1))
            }
        }
        _ => null(),
    }
}

pub(super) fn replace_one(op: &Operator, ctx: &Ctx<'_>) -> Out {
    replace_impl(op, ctx, false)
}

pub(super) fn replace_all(op: &Operator, ctx: &Ctx<'_>) -> Out {
    replace_impl(op, ctx, true)
}
