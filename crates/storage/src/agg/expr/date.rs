//! Date operators, with the calendar arithmetic written out (proleptic Gregorian calendar,
//! Howard Hinnant's days-from-civil algorithms).
//!
//! Time zones: UTC and fixed offsets (`"+05:30"`, `"-0800"`, `"+03"`) are supported; Olson
//! names such as `"America/New_York"` need a time zone database and are refused with
//! NotSupported.

use bson::{doc, Bson, Document};

use super::number::Num;
use super::{
    is_nullish, type_name, Ctx, Expr, MissingStyle, NamedArgs, Operator, ParseScope, Shape,
    UnknownStyle,
};
use crate::error::{Error, Result};

type Out = Result<Option<Bson>>;

const MILLIS_PER_SECOND: i64 = 1000;
const MILLIS_PER_MINUTE: i64 = 60 * MILLIS_PER_SECOND;
const MILLIS_PER_HOUR: i64 = 60 * MILLIS_PER_MINUTE;
const MILLIS_PER_DAY: i64 = 24 * MILLIS_PER_HOUR;

fn null() -> Out {
    Ok(Some(Bson::Null))
}

fn int(i: i64) -> Out {
    Ok(Some(match i32::try_from(i) {
        Ok(i) => Bson::Int32(i),
        Err(_) => Bson::Int64(i),
    }))
}

fn date(millis: i64) -> Out {
    Ok(Some(Bson::DateTime(bson::DateTime::from_millis(millis))))
}

// ---------------------------------------------------------------------------------------------
// Calendar arithmetic.

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1-12).
pub(super) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // Saturating: callers pass years far beyond what a date can hold only to learn it overflows.
    era.saturating_mul(146_097)
        .saturating_add(doe)
        .saturating_sub(719_468)
}

/// The (year, month 1-12, day 1-31) of a day number.
pub(super) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap_year(year) => 29,
        _ => 28,
    }
}

/// Day of the week with Monday = 0 .. Sunday = 6.
fn weekday_monday0(days: i64) -> i64 {
    // 1970-01-01 was a Thursday.
    (days + 3).rem_euclid(7)
}

/// The Monday starting ISO week 1 of an ISO week-year.
fn iso_week1_monday(iso_year: i64) -> i64 {
    let jan4 = days_from_civil(iso_year, 1, 4);
    jan4 - weekday_monday0(jan4)
}

/// A date and time broken into calendar fields (in some time zone).
#[derive(Debug, Clone, Copy)]
pub(super) struct Parts {
    days: i64,
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    millisecond: i64,
}

impl Parts {
    fn of(local_millis: i64) -> Parts {
        let days = local_millis.div_euclid(MILLIS_PER_DAY);
        let in_day = local_millis.rem_euclid(MILLIS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        Parts {
            days,
            year,
            month,
            day,
            hour: in_day / MILLIS_PER_HOUR,
            minute: in_day % MILLIS_PER_HOUR / MILLIS_PER_MINUTE,
            second: in_day % MILLIS_PER_MINUTE / MILLIS_PER_SECOND,
            millisecond: in_day % MILLIS_PER_SECOND,
        }
    }

    /// 1 (January 1st) to 366.
    fn day_of_year(&self) -> i64 {
        self.days - days_from_civil(self.year, 1, 1) + 1
    }

    /// 1 (Sunday) to 7 (Saturday).
    fn day_of_week(&self) -> i64 {
        (weekday_monday0(self.days) + 1) % 7 + 1
    }

    /// 1 (Monday) to 7 (Sunday).
    fn iso_day_of_week(&self) -> i64 {
        weekday_monday0(self.days) + 1
    }

    /// Week of the year starting on Sundays, 0 before the first Sunday (strftime's %U).
    fn week(&self) -> i64 {
        let sunday0 = self.day_of_week() - 1;
        (self.day_of_year() - 1 + 7 - sunday0) / 7
    }

    fn iso_week_year(&self) -> i64 {
        let next = iso_week1_monday(self.year + 1);
        if self.days >= next {
            return self.year + 1;
        }
        if self.days < iso_week1_monday(self.year) {
            return self.year - 1;
        }
        self.year
    }

    fn iso_week(&self) -> i64 {
        (self.days - iso_week1_monday(self.iso_week_year())) / 7 + 1
    }
}

// ---------------------------------------------------------------------------------------------
// Time zones.

/// A time zone: a fixed offset from UTC in minutes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Zone {
    offset_minutes: i64,
}

impl Zone {
    const UTC: Zone = Zone { offset_minutes: 0 };

    fn local(self, utc_millis: i64) -> i64 {
        utc_millis.saturating_add(self.offset_minutes * MILLIS_PER_MINUTE)
    }

    fn utc(self, local_millis: i64) -> i64 {
        local_millis.saturating_sub(self.offset_minutes * MILLIS_PER_MINUTE)
    }
}

/// Parses `+hh:mm`, `+hhmm` or `+hh` (and `-`), or None.
fn parse_offset(s: &str) -> Option<i64> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, s.get(1..)?),
        b'-' => (-1, s.get(1..)?),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if rest.contains(':') && rest.find(':') != Some(2) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i64>().ok()?, 0),
        4 => (
            digits.get(..2)?.parse::<i64>().ok()?,
            digits.get(2..)?.parse::<i64>().ok()?,
        ),
        _ => return None,
    };
    if minutes >= 60 || hours > 99 {
        return None;
    }
    Some(sign * (hours * 60 + minutes))
}

/// Parses a `timezone` argument.
pub(super) fn parse_zone(name: &str) -> Result<Zone> {
    match name {
        "UTC" | "GMT" | "Z" | "Etc/UTC" | "Etc/GMT" | "Etc/Universal" | "Etc/Zulu"
        | "Universal" | "Zulu" => return Ok(Zone::UTC),
        _ => {}
    }
    if let Some(offset) = parse_offset(name) {
        return Ok(Zone {
            offset_minutes: offset,
        });
    }
    if name.chars().any(|c| c.is_ascii_alphabetic()) {
        return Err(Error::NotSupported(format!(
            "time zone '{name}' is not supported: only UTC and fixed offsets such as \"+05:30\" \
             are"
        )));
    }
    Err(Error::coded(
        40485,
        format!("unrecognized time zone identifier: \"{name}\""),
    ))
}

/// Evaluates an optional `timezone` argument: `Ok(None)` means the answer is null.
fn zone_arg(op: &Operator, i: usize, ctx: &Ctx<'_>) -> Result<Option<Zone>> {
    if !op.has(i) {
        return Ok(Some(Zone::UTC));
    }
    match op.arg(i, ctx)? {
        Some(Bson::String(s)) => parse_zone(&s).map(Some),
        v if is_nullish(v.as_ref()) => Ok(None),
        v => Err(Error::coded(
            40517,
            format!(
                "timezone must evaluate to a string, found {}",
                type_name(v.as_ref())
            ),
        )),
    }
}

/// A date-like value as milliseconds since the epoch: dates, timestamps and ObjectIds.
fn date_millis(v: &Bson) -> Option<i64> {
    match v {
        Bson::DateTime(d) => Some(d.timestamp_millis()),
        Bson::Timestamp(t) => Some(i64::from(t.time) * MILLIS_PER_SECOND),
        Bson::ObjectId(o) => Some(o.timestamp().timestamp_millis()),
        _ => None,
    }
}

fn not_a_date(v: Option<&Bson>) -> Error {
    Error::coded(
        16006,
        format!("can't convert from BSON type {} to Date", type_name(v)),
    )
}

// ---------------------------------------------------------------------------------------------
// $year, $month, ...: `{$year: <date>}`, `{$year: [<date>]}` or `{$year: {date, timezone}}`.

pub(super) const PART_SHAPE: Shape = Shape::Custom(parse_date_part);

fn parse_date_part(name: &'static str, arg: &Bson, scope: &mut ParseScope) -> Result<Operator> {
    match arg {
        Bson::Document(d) if d.keys().next().is_some_and(|k| !k.starts_with('$')) => {
            let mut date = None;
            let mut timezone = None;
            for (key, value) in d {
                match key.as_str() {
                    "date" => date = Some(Expr::parse_in(value, scope)?),
                    "timezone" => timezone = Some(Expr::parse_in(value, scope)?),
                    _ => {
                        return Err(Error::coded(
                            40535,
                            format!("unrecognized option to {name}: \"{key}\""),
                        ))
                    }
                }
            }
            if date.is_none() {
                return Err(Error::coded(
                    40539,
                    format!("missing 'date' argument to {name}, provided: {d}"),
                ));
            }
            Ok(Operator::new(name, vec![date, timezone], Vec::new()))
        }
        Bson::Array(items) => {
            if items.len() != 1 {
                return Err(Error::coded(
                    40536,
                    format!(
                        "{name} accepts exactly one argument if given an array, but was given {}",
                        items.len()
                    ),
                ));
            }
            let date = items
                .first()
                .map(|i| Expr::parse_in(i, scope))
                .transpose()?;
            Ok(Operator::new(name, vec![date, None], Vec::new()))
        }
        other => Ok(Operator::new(
            name,
            vec![Some(Expr::parse_in(other, scope)?), None],
            Vec::new(),
        )),
    }
}

/// Evaluates the date (argument 0) and zone (argument `zone_index`) into local parts;
/// `None` means the answer is null.
fn local_parts(op: &Operator, ctx: &Ctx<'_>, zone_index: usize) -> Result<Option<Parts>> {
    let v = op.arg(0, ctx)?;
    if is_nullish(v.as_ref()) {
        return Ok(None);
    }
    let millis = v
        .as_ref()
        .and_then(date_millis)
        .ok_or_else(|| not_a_date(v.as_ref()))?;
    let Some(zone) = zone_arg(op, zone_index, ctx)? else {
        return Ok(None);
    };
    Ok(Some(Parts::of(zone.local(millis))))
}

fn part(op: &Operator, ctx: &Ctx<'_>, f: fn(&Parts) -> i64) -> Out {
    match local_parts(op, ctx, 1)? {
        Some(p) => int(f(&p)),
        None => null(),
    }
}

pub(super) fn year(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, |p| p.year)
}

pub(super) fn month(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, |p| p.month)
}

pub(super) fn day_of_month(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, |p| p.day)
}

pub(super) fn day_of_week(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, Parts::day_of_week)
}

pub(super) fn day_of_year(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, Parts::day_of_year)
}

pub(super) fn hour(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, |p| p.hour)
}

pub(super) fn minute(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, |p| p.minute)
}

pub(super) fn second(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, |p| p.second)
}

pub(super) fn millisecond(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, |p| p.millisecond)
}

pub(super) fn week(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, Parts::week)
}

pub(super) fn iso_week(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, Parts::iso_week)
}

pub(super) fn iso_week_year(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, Parts::iso_week_year)
}

pub(super) fn iso_day_of_week(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, Parts::iso_day_of_week)
}

// ---------------------------------------------------------------------------------------------
// $dateToString.

pub(super) const DATE_TO_STRING_SHAPE: Shape = Shape::Named(&NamedArgs {
    fields: &[
        ("date", 18628),
        ("format", 0),
        ("timezone", 0),
        ("onNull", 0),
    ],
    not_object: 18629,
    unknown: 18534,
    unknown_style: UnknownStyle::Argument,
    missing_style: MissingStyle::Parameter,
});

pub(super) const DEFAULT_FORMAT: &str = "%Y-%m-%dT%H:%M:%S.%LZ";

/// Checks a format string's specifiers.
fn validate_format(format: &str) -> Result<()> {
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        match chars.next() {
            None => return Err(Error::coded(18535, "Unmatched '%' at end of format string")),
            Some(
                'd' | 'G' | 'H' | 'j' | 'L' | 'm' | 'M' | 'S' | 'w' | 'u' | 'U' | 'V' | 'Y' | 'z'
                | 'Z' | '%' | 'b' | 'B',
            ) => {}
            Some(other) => {
                return Err(Error::coded(
                    18536,
                    format!("Invalid format character '%{other}' in format string"),
                ))
            }
        }
    }
    Ok(())
}

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Formats a UTC instant (the format has been validated).
pub(super) fn format_date(utc_millis: i64, format: &str) -> String {
    format_in_zone(utc_millis, format, Zone::UTC)
}

fn format_in_zone(utc_millis: i64, format: &str, zone: Zone) -> String {
    let p = Parts::of(zone.local(utc_millis));
    let mut out = String::with_capacity(format.len() + 8);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            break;
        };
        let month_name = MONTH_NAMES
            .get(usize::try_from(p.month - 1).unwrap_or(0))
            .copied()
            .unwrap_or("");
        let text = match spec {
            'd' => format!("{:02}", p.day),
            'G' => format!("{:04}", p.iso_week_year()),
            'H' => format!("{:02}", p.hour),
            'j' => format!("{:03}", p.day_of_year()),
            'L' => format!("{:03}", p.millisecond),
            'm' => format!("{:02}", p.month),
            'M' => format!("{:02}", p.minute),
            'S' => format!("{:02}", p.second),
            'w' => p.day_of_week().to_string(),
            'u' => p.iso_day_of_week().to_string(),
            'U' => format!("{:02}", p.week()),
            'V' => format!("{:02}", p.iso_week()),
            'Y' => format!("{:04}", p.year),
            'z' => {
                let sign = if zone.offset_minutes < 0 { '-' } else { '+' };
                let m = zone.offset_minutes.abs();
                format!("{sign}{:02}{:02}", m / 60, m % 60)
            }
            'Z' => {
                let sign = if zone.offset_minutes < 0 { '-' } else { '+' };
                format!("{sign}{}", zone.offset_minutes.abs())
            }
            'b' => month_name.get(..3).unwrap_or("").to_string(),
            'B' => month_name.to_string(),
            other => other.to_string(),
        };
        out.push_str(&text);
    }
    out
}

pub(super) fn date_to_string(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let v = op.arg(0, ctx)?;
    // The format is checked eagerly (unless null), then the time zone, then a null date.
    let format = if op.has(1) {
        match op.arg(1, ctx)? {
            Some(Bson::String(f)) => {
                validate_format(&f)?;
                Some(Some(f))
            }
            f if is_nullish(f.as_ref()) => Some(None),
            f => {
                return Err(Error::coded(
                    18533,
                    format!(
                        "$dateToString requires that 'format' be a string, found: {} with value \
                         {}",
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
    if is_nullish(v.as_ref()) {
        return if op.has(3) { op.arg(3, ctx) } else { null() };
    }
    let Some(zone) = zone else {
        return null();
    };
    let format = match format {
        None => DEFAULT_FORMAT.to_string(),
        Some(None) => return null(),
        Some(Some(f)) => f,
    };
    let millis = v
        .as_ref()
        .and_then(date_millis)
        .ok_or_else(|| not_a_date(v.as_ref()))?;
    let year = Parts::of(zone.local(millis)).year;
    if !(0..=9999).contains(&year) {
        return Err(Error::coded(
            18537,
            format!("$dateToString is only defined on year 0-9999, tried to use year {year}"),
        ));
    }
    Ok(Some(Bson::String(format_in_zone(millis, &format, zone))))
}

// ---------------------------------------------------------------------------------------------
// $dateFromString and string-to-date conversion.

pub(super) const DATE_FROM_STRING_SHAPE: Shape = Shape::Named(&NamedArgs {
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
pub(super) fn parse_date_string(text: &str) -> Result<i64> {
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

pub(super) fn date_from_string(op: &Operator, ctx: &Ctx<'_>) -> Out {
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

// ---------------------------------------------------------------------------------------------
// $dateToParts and $dateFromParts.

pub(super) const DATE_TO_PARTS_SHAPE: Shape = Shape::Named(&NamedArgs {
    fields: &[("date", 40522), ("timezone", 0), ("iso8601", 0)],
    not_object: 40524,
    unknown: 40520,
    unknown_style: UnknownStyle::Argument,
    missing_style: MissingStyle::Parameter,
});

pub(super) fn date_to_parts(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let v = op.arg(0, ctx)?;
    let Some(zone) = zone_arg(op, 1, ctx)? else {
        return null();
    };
    let iso = match op.arg(2, ctx)? {
        None if !op.has(2) => false,
        Some(Bson::Boolean(b)) => b,
        v if is_nullish(v.as_ref()) => return null(),
        Some(other) => {
            return Err(Error::coded(
                40521,
                format!(
                    "iso8601 must evaluate to a bool, found {}",
                    type_name(Some(&other))
                ),
            ))
        }
        None => return null(),
    };
    if is_nullish(v.as_ref()) {
        return null();
    }
    let millis = v
        .as_ref()
        .and_then(date_millis)
        .ok_or_else(|| not_a_date(v.as_ref()))?;
    let p = Parts::of(zone.local(millis));
    let small = |i: i64| Bson::Int32(i32::try_from(i).unwrap_or(0));
    let d: Document = if iso {
        doc! {
            "isoWeekYear": small(p.iso_week_year()),
            "isoWeek": small(p.iso_week()),
            "isoDayOfWeek": small(p.iso_day_of_week()),
            "hour": small(p.hour),
            "minute": small(p.minute),
            "second": small(p.second),
            "millisecond": small(p.millisecond),
        }
    } else {
        doc! {
            "year": small(p.year),
            "month": small(p.month),
            "day": small(p.day),
            "hour": small(p.hour),
            "minute": small(p.minute),
            "second": small(p.second),
            "millisecond": small(p.millisecond),
        }
    };
    Ok(Some(Bson::Document(d)))
}

pub(super) const DATE_FROM_PARTS_SHAPE: Shape = Shape::Custom(parse_date_from_parts);

/// Argument order of `$dateFromParts`.
const FROM_PARTS_FIELDS: [&str; 11] = [
    "year",
    "month",
    "day",
    "isoWeekYear",
    "isoWeek",
    "isoDayOfWeek",
    "hour",
    "minute",
    "second",
    "millisecond",
    "timezone",
];

fn parse_date_from_parts(
    name: &'static str,
    arg: &Bson,
    scope: &mut ParseScope,
) -> Result<Operator> {
    let Bson::Document(d) = arg else {
        return Err(Error::coded(
            40519,
            format!(
                "$dateFromParts only supports an object as its argument, found {}",
                type_name(Some(arg))
            ),
        ));
    };
    let mut args: Vec<Option<Expr>> = vec![None; FROM_PARTS_FIELDS.len()];
    for (key, value) in d {
        let Some(i) = FROM_PARTS_FIELDS.iter().position(|f| f == key) else {
            return Err(Error::coded(
                40518,
                format!("Unrecognized argument to $dateFromParts: {key}"),
            ));
        };
        if let Some(slot) = args.get_mut(i) {
            *slot = Some(Expr::parse_in(value, scope)?);
        }
    }
    let has = |i: usize| matches!(args.get(i), Some(Some(_)));
    if !has(0) && !has(3) {
        return Err(Error::coded(
            40516,
            "$dateFromParts requires either 'year' or 'isoWeekYear' to be present",
        ));
    }
    if has(0) && (has(3) || has(4) || has(5)) {
        return Err(Error::coded(
            40489,
            "$dateFromParts does not allow mixing natural dates with ISO dates",
        ));
    }
    if has(3) && (has(0) || has(1) || has(2)) {
        return Err(Error::coded(
            40525,
            "$dateFromParts does not allow mixing ISO dates with natural dates",
        ));
    }
    Ok(Operator::new(name, args, Vec::new()))
}

pub(super) fn date_from_parts(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let mut values = [0i64; 10];
    for (i, field) in FROM_PARTS_FIELDS.iter().take(10).enumerate() {
        let default = match *field {
            "month" | "day" | "isoWeek" | "isoDayOfWeek" => 1,
            _ => 0,
        };
        let value = if op.has(i) {
            let v = op.arg(i, ctx)?;
            if is_nullish(v.as_ref()) {
                return null();
            }
            let Some(n) = v.as_ref().and_then(Num::of).and_then(|n| n.to_i64_exact()) else {
                return Err(Error::coded(
                    40515,
                    format!(
                        "'{field}' must evaluate to an integer, found {} with value {}",
                        type_name(v.as_ref()),
                        v.as_ref().map(|v| v.to_string()).unwrap_or_default()
                    ),
                ));
            };
            n
        } else {
            default
        };
        if (*field == "year" || *field == "isoWeekYear") && op.has(i) {
            if !(1..=9999).contains(&value) {
                let code = if *field == "year" { 40523 } else { 31095 };
                return Err(Error::coded(
                    code,
                    format!(
                        "'{field}' must evaluate to an integer in the range 1 to 9999, found \
                         {value}"
                    ),
                ));
            }
        } else if matches!(
            *field,
            "month" | "day" | "isoWeek" | "isoDayOfWeek" | "hour" | "minute"
        ) && !(-32768..=32767).contains(&value)
        {
            return Err(Error::coded(
                31034,
                format!(
                    "'{field}' must evaluate to a value in the range [-32768, 32767]; value \
                     {value} is not in range"
                ),
            ));
        }
        if let Some(slot) = values.get_mut(i) {
            *slot = value;
        }
    }
    let Some(zone) = zone_arg(op, 10, ctx)? else {
        return null();
    };
    let [year, month, day, iso_year, iso_week, iso_day, hour, minute, second, ms] = values;
    let days = if op.has(3) {
        iso_week1_monday(iso_year) + (iso_week - 1) * 7 + (iso_day - 1)
    } else {
        // Months beyond 1-12 carry into the year; days beyond the month carry on.
        let months = year * 12 + (month - 1);
        days_from_civil(months.div_euclid(12), months.rem_euclid(12) + 1, 1) + (day - 1)
    };
    // Seconds and milliseconds are unbounded, so the sum is checked.
    let local = [
        days.checked_mul(MILLIS_PER_DAY),
        hour.checked_mul(MILLIS_PER_HOUR),
        minute.checked_mul(MILLIS_PER_MINUTE),
        second.checked_mul(MILLIS_PER_SECOND),
        Some(ms),
    ]
    .into_iter()
    .try_fold(0i64, |total, part| part.and_then(|p| total.checked_add(p)))
    .ok_or_else(|| Error::coded(15, "date overflow in $dateFromParts"))?;
    date(zone.utc(local))
}

// ---------------------------------------------------------------------------------------------
// $dateAdd, $dateSubtract, $dateDiff, $dateTrunc.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Year,
    Quarter,
    Month,
    Week,
    Day,
    Hour,
    Minute,
    Second,
    Millisecond,
}

impl Unit {
    fn parse(s: &str) -> Option<Unit> {
        Some(match s {
            "year" => Unit::Year,
            "quarter" => Unit::Quarter,
            "month" => Unit::Month,
            "week" => Unit::Week,
            "day" => Unit::Day,
            "hour" => Unit::Hour,
            "minute" => Unit::Minute,
            "second" => Unit::Second,
            "millisecond" => Unit::Millisecond,
            _ => return None,
        })
    }

    /// The length of a fixed-length unit in milliseconds.
    fn fixed_millis(self) -> Option<i64> {
        match self {
            Unit::Week => Some(7 * MILLIS_PER_DAY),
            Unit::Day => Some(MILLIS_PER_DAY),
            Unit::Hour => Some(MILLIS_PER_HOUR),
            Unit::Minute => Some(MILLIS_PER_MINUTE),
            Unit::Second => Some(MILLIS_PER_SECOND),
            Unit::Millisecond => Some(1),
            _ => None,
        }
    }

    /// The length of a calendar unit in months.
    fn months(self) -> Option<i64> {
        match self {
            Unit::Year => Some(12),
            Unit::Quarter => Some(3),
            Unit::Month => Some(1),
            _ => None,
        }
    }
}

/// Parses a time unit name.
fn parse_unit(op: &Operator, v: &Bson, type_code: i32, value_code: i32) -> Result<Unit> {
    let Bson::String(s) = v else {
        return Err(Error::coded(
            type_code,
            format!(
                "{} requires 'unit' to be a string, but got {}",
                op.name,
                type_name(Some(v))
            ),
        ));
    };
    Unit::parse(s).ok_or_else(|| {
        Error::coded(
            value_code,
            format!(
                "{} parameter 'unit' value cannot be recognized as a time unit: {s}",
                op.name
            ),
        )
    })
}

/// A date-like argument, or MongoDB's error naming it.
fn require_date(op: &Operator, v: &Bson, what: &str, code: i32) -> Result<i64> {
    date_millis(v).ok_or_else(|| {
        Error::coded(
            code,
            format!(
                "{} requires '{what}' to be a date, but got {}",
                op.name,
                type_name(Some(v))
            ),
        )
    })
}

/// Evaluates argument `i`; `Ok(None)` when it is null or missing (the answer is then null).
fn non_null(op: &Operator, i: usize, ctx: &Ctx<'_>) -> Result<Option<Bson>> {
    Ok(op.arg(i, ctx)?.filter(|v| !is_nullish(Some(v))))
}

/// Adds whole months in local time, clamping the day to the target month's length.
fn add_months(local_millis: i64, months: i64) -> Option<i64> {
    let p = Parts::of(local_millis);
    let total = (p.year * 12 + p.month - 1).checked_add(months)?;
    let (year, month) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    // Dates span about 292 million years either side of 1970.
    if year.abs() > 300_000_000 {
        return None;
    }
    let day = p.day.min(days_in_month(year, month));
    let days = days_from_civil(year, month, day);
    days.checked_mul(MILLIS_PER_DAY)?
        .checked_add(local_millis.rem_euclid(MILLIS_PER_DAY))
}

pub(super) const DATE_ADD_SHAPE: Shape = Shape::Named(&NamedArgs {
    fields: &[
        ("startDate", 5166402),
        ("unit", 5166402),
        ("amount", 5166402),
        ("timezone", 0),
    ],
    not_object: 5166400,
    unknown: 5166401,
    unknown_style: UnknownStyle::ArgumentExpected(
        "Expected arguments are startDate, unit, amount, and optionally timezone.",
    ),
    missing_style: MissingStyle::Fixed("requires startDate, unit, and amount to be present"),
});

fn date_add_impl(op: &Operator, ctx: &Ctx<'_>, subtract: bool) -> Out {
    let Some(start) = non_null(op, 0, ctx)? else {
        return null();
    };
    let Some(unit) = non_null(op, 1, ctx)? else {
        return null();
    };
    let Some(amount) = non_null(op, 2, ctx)? else {
        return null();
    };
    let Some(zone) = zone_arg(op, 3, ctx)? else {
        return null();
    };
    let Some(start) = date_millis(&start) else {
        return Err(Error::coded(
            5166403,
            format!("{} requires startDate to be convertible to a date", op.name),
        ));
    };
    let Bson::String(unit) = unit else {
        return Err(Error::coded(
            5166404,
            format!("{} expects string defining the time unit", op.name),
        ));
    };
    let Some(unit) = Unit::parse(&unit) else {
        return Err(Error::FailedToParse(format!(
            "unknown time unit value: {unit}"
        )));
    };
    let Some(mut amount) = Num::of(&amount).and_then(|n| n.to_i64_exact()) else {
        return Err(Error::coded(
            5166405,
            format!("{} expects integer amount of time units", op.name),
        ));
    };
    if subtract {
        amount = amount.checked_neg().ok_or_else(|| {
            Error::coded(
                6045000,
                format!("invalid $dateSubtract 'amount' parameter value: {amount}"),
            )
        })?;
    }
    let overflow = || Error::coded(5166406, format!("{} overflowed", op.name));
    let result = match (unit.months(), unit.fixed_millis()) {
        (Some(months), _) => {
            let local = zone.local(start);
            let added = amount
                .checked_mul(months)
                .and_then(|m| add_months(local, m))
                .ok_or_else(overflow)?;
            zone.utc(added)
        }
        (None, Some(unit_millis)) => amount
            .checked_mul(unit_millis)
            .and_then(|delta| start.checked_add(delta))
            .ok_or_else(overflow)?,
        (None, None) => return Err(overflow()),
    };
    date(result)
}

pub(super) fn date_add(op: &Operator, ctx: &Ctx<'_>) -> Out {
    date_add_impl(op, ctx, false)
}

pub(super) fn date_subtract(op: &Operator, ctx: &Ctx<'_>) -> Out {
    date_add_impl(op, ctx, true)
}

/// Parses `startOfWeek` ("monday", "mon", ... case-insensitive) to a Monday-based index.
fn parse_start_of_week(op: &Operator, v: &Bson) -> Result<i64> {
    let Bson::String(s) = v else {
        return Err(Error::coded(
            5439015,
            format!(
                "{} requires 'startOfWeek' to be a string, but got {}",
                op.name,
                type_name(Some(v))
            ),
        ));
    };
    Ok(match s.to_ascii_lowercase().as_str() {
        "monday" | "mon" => 0,
        "tuesday" | "tue" => 1,
        "wednesday" | "wed" => 2,
        "thursday" | "thu" => 3,
        "friday" | "fri" => 4,
        "saturday" | "sat" => 5,
        "sunday" | "sun" => 6,
        _ => {
            return Err(Error::coded(
                5439016,
                format!(
                    "{} parameter 'startOfWeek' value cannot be recognized as a day of a week: \
                     {s}",
                    op.name
                ),
            ))
        }
    })
}

/// Evaluates `startOfWeek` (argument `i`) when the unit is "week": `Ok(None)` means null.
/// Other units ignore it (Sunday, unused).
fn start_of_week_if_week(
    op: &Operator,
    i: usize,
    unit: &Bson,
    ctx: &Ctx<'_>,
) -> Result<Option<Option<Bson>>> {
    if !op.has(i) || !matches!(unit, Bson::String(u) if u == "week") {
        return Ok(Some(None));
    }
    Ok(non_null(op, i, ctx)?.map(Some))
}

/// The day number of the start of the week containing `days`.
fn week_start(days: i64, start_of_week: i64) -> i64 {
    days - (weekday_monday0(days) - start_of_week).rem_euclid(7)
}

pub(super) const DATE_DIFF_SHAPE: Shape = Shape::Named(&NamedArgs {
    fields: &[
        ("startDate", 5166303),
        ("endDate", 5166304),
        ("unit", 5166305),
        ("timezone", 0),
        ("startOfWeek", 0),
    ],
    not_object: 5166301,
    unknown: 5166302,
    unknown_style: UnknownStyle::Argument,
    missing_style: MissingStyle::Parameter,
});

/// `$dateDiff`: how many unit boundaries lie between the two dates (in the time zone).
pub(super) fn date_diff(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let Some(start) = non_null(op, 0, ctx)? else {
        return null();
    };
    let Some(end) = non_null(op, 1, ctx)? else {
        return null();
    };
    let Some(unit) = non_null(op, 2, ctx)? else {
        return null();
    };
    let Some(start_of_week) = start_of_week_if_week(op, 4, &unit, ctx)? else {
        return null();
    };
    let Some(zone) = zone_arg(op, 3, ctx)? else {
        return null();
    };
    let start = require_date(op, &start, "startDate", 5166307)?;
    let end = require_date(op, &end, "endDate", 5166307)?;
    let unit = parse_unit(op, &unit, 5439013, 5439014)?;
    let start_of_week = match start_of_week {
        Some(v) => parse_start_of_week(op, &v)?,
        None => 6,
    };
    let (a, b) = (zone.local(start), zone.local(end));
    let (pa, pb) = (Parts::of(a), Parts::of(b));
    let result = match unit {
        Unit::Year => pb.year - pa.year,
        Unit::Quarter => (pb.year * 4 + (pb.month - 1) / 3) - (pa.year * 4 + (pa.month - 1) / 3),
        Unit::Month => (pb.year * 12 + pb.month) - (pa.year * 12 + pa.month),
        Unit::Week => (week_start(pb.days, start_of_week) - week_start(pa.days, start_of_week)) / 7,
        Unit::Day => pb.days - pa.days,
        Unit::Hour => b.div_euclid(MILLIS_PER_HOUR) - a.div_euclid(MILLIS_PER_HOUR),
        Unit::Minute => b.div_euclid(MILLIS_PER_MINUTE) - a.div_euclid(MILLIS_PER_MINUTE),
        Unit::Second => b.div_euclid(MILLIS_PER_SECOND) - a.div_euclid(MILLIS_PER_SECOND),
        Unit::Millisecond => b.saturating_sub(a),
    };
    Ok(Some(Bson::Int64(result)))
}

pub(super) const DATE_TRUNC_SHAPE: Shape = Shape::Named(&NamedArgs {
    fields: &[
        ("date", 5439009),
        ("unit", 5439010),
        ("binSize", 0),
        ("timezone", 0),
        ("startOfWeek", 0),
    ],
    not_object: 5439007,
    unknown: 5439008,
    unknown_style: UnknownStyle::ArgumentExpected(
        "Expected arguments are date, unit, and optionally, binSize, timezone, startOfWeek",
    ),
    missing_style: MissingStyle::Parameter,
});

/// `$dateTrunc`: the start of the `binSize`-unit bin holding the date. Bins count from
/// 2000-01-01T00:00 in the time zone (for weeks, from the start of the week holding it).
pub(super) fn date_trunc(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let Some(value) = non_null(op, 0, ctx)? else {
        return null();
    };
    let Some(unit) = non_null(op, 1, ctx)? else {
        return null();
    };
    let bin_size = if op.has(2) {
        match non_null(op, 2, ctx)? {
            Some(v) => Some(v),
            None => return null(),
        }
    } else {
        None
    };
    let Some(start_of_week) = start_of_week_if_week(op, 4, &unit, ctx)? else {
        return null();
    };
    let Some(zone) = zone_arg(op, 3, ctx)? else {
        return null();
    };
    let millis = require_date(op, &value, "date", 5439012)?;
    let unit = parse_unit(op, &unit, 5439013, 5439014)?;
    let bin_size = match bin_size {
        None => 1,
        Some(v) => {
            let Some(n) = Num::of(&v).and_then(|n| n.to_i64_exact()) else {
                return Err(Error::coded(
                    5439017,
                    format!(
                        "$dateTrunc requires 'binSize' to be a 64-bit integer, but got value \
                         '{v}' of type {}",
                        type_name(Some(&v))
                    ),
                ));
            };
            if n <= 0 {
                return Err(Error::coded(
                    5439018,
                    format!(
                        "$dateTrunc requires 'binSize' to be greater than 0, but got value {n}"
                    ),
                ));
            }
            n
        }
    };
    let start_of_week = match start_of_week {
        Some(v) => parse_start_of_week(op, &v)?,
        None => 6,
    };
    let local = zone.local(millis);
    let reference_days = days_from_civil(2000, 1, 1);
    let overflow = || Error::coded(5439002, "dateTrunc overflowed");
    let truncated = if let Some(months_per_unit) = unit.months() {
        let p = Parts::of(local);
        let index = (p.year - 2000) * 12 + (p.month - 1);
        let bin = bin_size.checked_mul(months_per_unit).ok_or_else(overflow)?;
        let start = index.div_euclid(bin) * bin;
        let (year, month) = (start.div_euclid(12) + 2000, start.rem_euclid(12) + 1);
        days_from_civil(year, month, 1)
            .checked_mul(MILLIS_PER_DAY)
            .ok_or_else(overflow)?
    } else {
        let unit_millis = unit.fixed_millis().unwrap_or(1);
        let reference = if unit == Unit::Week {
            // The first start of a week on or after 2000-01-01.
            let mut first = week_start(reference_days, start_of_week);
            if first < reference_days {
                first += 7;
            }
            first * MILLIS_PER_DAY
        } else {
            reference_days * MILLIS_PER_DAY
        };
        let bin = bin_size.checked_mul(unit_millis).ok_or_else(overflow)?;
        local
            .checked_sub(reference)
            .map(|distance| distance.div_euclid(bin))
            .and_then(|bins| bins.checked_mul(bin))
            .and_then(|offset| reference.checked_add(offset))
            .ok_or_else(overflow)?
    };
    date(zone.utc(truncated))
}

/// `$tsSecond`/`$tsIncrement`: the parts of a timestamp, as longs.
fn timestamp_part(op: &Operator, ctx: &Ctx<'_>, seconds: bool) -> Out {
    match op.arg(0, ctx)? {
        Some(Bson::Timestamp(t)) => Ok(Some(Bson::Int64(i64::from(if seconds {
            t.time
        } else {
            t.increment
        })))),
        v if is_nullish(v.as_ref()) => null(),
        v => Err(Error::coded(
            5687301,
            format!(
                "Argument to {} must be a timestamp, but is {}",
                op.name,
                type_name(v.as_ref())
            ),
        )),
    }
}

pub(super) fn ts_second(op: &Operator, ctx: &Ctx<'_>) -> Out {
    timestamp_part(op, ctx, true)
}

pub(super) fn ts_increment(op: &Operator, ctx: &Ctx<'_>) -> Out {
    timestamp_part(op, ctx, false)
}
