//! `$dateFromString` and string-to-date conversion (`$toDate`, `$convert`): ISO 8601 text
//! and text in an explicit `format`, with an optional zone or offset in the text.

use bson::Bson;

use super::calendar::{days_from_civil, days_in_month, iso_week1_monday};
use super::format::validate_format;
use super::{
    date, null, parse_offset, zone_arg, Out, Zone, MILLIS_PER_DAY, MILLIS_PER_HOUR,
    MILLIS_PER_MINUTE, MILLIS_PER_SECOND,
};
use crate::agg::expr::{
    is_nullish, type_name, Ctx, MissingStyle, NamedArgs, Operator, Shape, UnknownStyle,
};
use crate::error::{Error, Result};

pub(crate) const DATE_FROM_STRING_SHAPE: Shape = Shape::Named(&NamedArgs {
    fields: &[
        ("dateString", 40542),
        ("format", 0),
        ("timezone", 0),
        ("onError", 0),
        ("onNull", 0),
    ],
    not_object: 40540,
    unknown: 40541,
    unknown_style: UnknownStyle::Argument,
    missing_style: MissingStyle::Parameter,
});

/// A parsed date string: local fields and the zone written in the string, if any.
#[derive(Debug, Default)]
struct ParsedDate {
    year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    day_of_year: Option<i64>,
    iso_year: Option<i64>,
    iso_week: Option<i64>,
    iso_day: Option<i64>,
    hour: i64,
    minute: i64,
    second: i64,
    millisecond: i64,
    offset_minutes: Option<i64>,
}

impl ParsedDate {
    fn local_millis(&self) -> Option<i64> {
        let days = if let (Some(y), Some(w)) = (self.iso_year, self.iso_week) {
            iso_week1_monday(y) + (w - 1) * 7 + (self.iso_day.unwrap_or(1) - 1)
        } else {
            let year = self.year?;
            if let Some(doy) = self.day_of_year {
                days_from_civil(year, 1, 1) + doy - 1
            } else {
                let month = self.month.unwrap_or(1);
                let day = self.day.unwrap_or(1);
                if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
                    return None;
                }
                days_from_civil(year, month, day)
            }
        };
        if self.hour > 23 || self.minute > 59 || self.second > 59 {
            return None;
        }
        Some(
            days * MILLIS_PER_DAY
                + self.hour * MILLIS_PER_HOUR
                + self.minute * MILLIS_PER_MINUTE
                + self.second * MILLIS_PER_SECOND
                + self.millisecond,
        )
    }
}

/// Reads up to `max` digits (at least `min`).
fn take_digits(s: &mut &str, min: usize, max: usize) -> Option<i64> {
    let n = s
        .bytes()
        .take(max)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if n < min {
        return None;
    }
    let (digits, rest) = s.split_at(n);
    *s = rest;
    digits.parse().ok()
}

fn take_char(s: &mut &str, c: char) -> bool {
    match s.strip_prefix(c) {
        Some(rest) => {
            *s = rest;
            true
        }
        None => false,
    }
}

/// Milliseconds from a fraction of a second's digits ("5" is 500, "12345" is 123).
fn fraction_millis(s: &mut &str) -> Option<i64> {
    let n = s.bytes().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let (digits, rest) = s.split_at(n);
    *s = rest;
    let mut padded: String = digits.chars().take(3).collect();
    while padded.len() < 3 {
        padded.push('0');
    }
    padded.parse().ok()
}

/// Reads a zone designator: `Z`, `UTC`, `GMT`, `+hh[:mm]`, `-hhmm`.
fn take_zone(s: &mut &str) -> Option<i64> {
    for name in ["Z", "UTC", "GMT"] {
        if let Some(rest) = s.strip_prefix(name) {
            *s = rest;
            return Some(0);
        }
    }
    let sign_len = usize::from(s.starts_with(['+', '-']));
    if sign_len == 0 {
        return None;
    }
    let candidate_len = s
        .bytes()
        .skip(1)
        .take_while(|b| b.is_ascii_digit() || *b == b':')
        .count();
    let candidate = s.get(..1 + candidate_len)?;
    let offset = parse_offset(candidate)?;
    *s = s.get(1 + candidate_len..)?;
    Some(offset)
}

/// MongoDB's default date string formats: ISO 8601 dates with optional time, fraction and
/// zone (`2017-02-08T12:10:40.787Z`, `2017-02-08 12:10`, `2017-02-08T12:10:40+05:30`).
fn parse_iso(text: &str) -> Option<ParsedDate> {
    let mut s = text.trim();
    let mut parsed = ParsedDate {
        year: Some(take_digits(&mut s, 4, 4)?),
        ..ParsedDate::default()
    };
    if !take_char(&mut s, '-') {
        return None;
    }
    parsed.month = Some(take_digits(&mut s, 1, 2)?);
    if !take_char(&mut s, '-') {
        return None;
    }
    parsed.day = Some(take_digits(&mut s, 1, 2)?);
    if take_char(&mut s, 'T') || take_char(&mut s, ' ') {
        parsed.hour = take_digits(&mut s, 1, 2)?;
        if !take_char(&mut s, ':') {
            return None;
        }
        parsed.minute = take_digits(&mut s, 1, 2)?;
        if take_char(&mut s, ':') {
            parsed.second = take_digits(&mut s, 1, 2)?;
            if take_char(&mut s, '.') {
                parsed.millisecond = fraction_millis(&mut s)?;
            }
        }
    }
    let _ = take_char(&mut s, ' ');
    if !s.is_empty() {
        parsed.offset_minutes = Some(take_zone(&mut s)?);
    }
    if !s.is_empty() {
        return None;
    }
    Some(parsed)
}

/// Parses `text` with a `$dateFromString` format.
fn parse_with_format(text: &str, format: &str) -> Option<ParsedDate> {
    let mut s = text;
    let mut parsed = ParsedDate::default();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            if !take_char(&mut s, c) {
                return None;
            }
            continue;
        }
        match chars.next()? {
            'Y' => parsed.year = Some(take_digits(&mut s, 4, 4)?),
            'm' => parsed.month = Some(take_digits(&mut s, 1, 2)?),
            'd' => parsed.day = Some(take_digits(&mut s, 1, 2)?),
            'H' => parsed.hour = take_digits(&mut s, 1, 2)?,
            'M' => parsed.minute = take_digits(&mut s, 1, 2)?,
            'S' => parsed.second = take_digits(&mut s, 1, 2)?,
            'L' => parsed.millisecond = fraction_millis(&mut s)?,
            'j' => parsed.day_of_year = Some(take_digits(&mut s, 1, 3)?),
            'G' => parsed.iso_year = Some(take_digits(&mut s, 4, 4)?),
            'V' => parsed.iso_week = Some(take_digits(&mut s, 1, 2)?),
            'u' => parsed.iso_day = Some(take_digits(&mut s, 1, 1)?),
            'z' => parsed.offset_minutes = Some(take_zone(&mut s)?),
            'Z' => {
                let sign = if take_char(&mut s, '-') {
                    -1
                } else {
                    let _ = take_char(&mut s, '+');
                    1
                };
                parsed.offset_minutes = Some(sign * take_digits(&mut s, 1, 4)?);
            }
            '%' => {
                if !take_char(&mut s, '%') {
                    return None;
                }
            }
            _ => return None,
        }
    }
    if !s.is_empty() {
        return None;
    }
    Some(parsed)
}

/// Parses a date string in MongoDB's default formats to UTC milliseconds (for `$toDate`).
pub(crate) fn parse_date_string(text: &str) -> Result<i64> {
    let parsed = parse_iso(text).ok_or_else(|| {
        Error::coded(
            241,
            format!("Error parsing date string '{text}'; the string is not an ISO 8601 date"),
        )
    })?;
    let local = parsed.local_millis().ok_or_else(|| {
        Error::coded(
            241,
            format!("Error parsing date string '{text}'; the date is out of range"),
        )
    })?;
    Ok(local - parsed.offset_minutes.unwrap_or(0) * MILLIS_PER_MINUTE)
}

pub(crate) fn date_from_string(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let input = op.arg(0, ctx)?;
    let format = if op.has(1) {
        match op.arg(1, ctx)? {
            Some(Bson::String(f)) => {
                validate_format(&f)?;
                Some(Some(f))
            }
            f if is_nullish(f.as_ref()) => Some(None),
            f => {
                return Err(Error::coded(
                    40684,
                    format!(
                        "$dateFromString requires that 'format' be a string, found: {} with \
                         value {}",
                        type_name(f.as_ref()),
                        f.as_ref().map(|f| f.to_string()).unwrap_or_default()
                    ),
                ))
            }
        }
    } else {
        None
    };
    let zone = zone_arg(op, 2, ctx)?;
    if is_nullish(input.as_ref()) {
        return if op.has(4) { op.arg(4, ctx) } else { null() };
    }
    let result = (|| {
        if !matches!(input, Some(Bson::String(_))) {
            return parse_for_date_from_string(input.as_ref(), None, Zone::UTC, false).map(Some);
        }
        let Some(zone) = zone else {
            return Ok(None);
        };
        let format = match &format {
            None => None,
            Some(None) => return Ok(None),
            Some(Some(f)) => Some(f.as_str()),
        };
        parse_for_date_from_string(input.as_ref(), format, zone, op.has(2)).map(Some)
    })();
    match result {
        Ok(Some(millis)) => date(millis),
        Ok(None) => null(),
        Err(e) if op.has(3) && e.code() == 241 => op.arg(3, ctx),
        Err(e) => Err(e),
    }
}

fn parse_for_date_from_string(
    input: Option<&Bson>,
    format: Option<&str>,
    zone: Zone,
    zone_given: bool,
) -> Result<i64> {
    let Some(Bson::String(text)) = input else {
        return Err(Error::coded(
            241,
            format!(
                "$dateFromString requires that 'dateString' be a string, found: {} with value {}",
                type_name(input),
                input.map(|v| v.to_string()).unwrap_or_default()
            ),
        ));
    };
    let parsed = match format {
        Some(f) => parse_with_format(text, f),
        None => parse_iso(text),
    };
    let failure =
        |why: &str| Error::coded(241, format!("Error parsing date string '{text}'; {why}"));
    let parsed = parsed.ok_or_else(|| failure("the string does not match the format"))?;
    if parsed.offset_minutes.is_some() && zone_given {
        return Err(Error::coded(
            40554,
            format!(
                "you cannot pass in a date/time string with time zone information ('{text}') \
                 together with a timezone argument"
            ),
        ));
    }
    let local = parsed
        .local_millis()
        .ok_or_else(|| failure("the date is out of range"))?;
    Ok(match parsed.offset_minutes {
        Some(offset) => local - offset * MILLIS_PER_MINUTE,
        None => zone.utc(local),
    })
}
