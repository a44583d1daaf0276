//! Date operators, with the calendar arithmetic written out (proleptic Gregorian calendar,
//! Howard Hinnant's days-from-civil algorithms).
//!
//! Time zones: UTC and fixed offsets (`"+05:30"`, `"-0800"`, `"+03"`) are supported; Olson
//! names such as `"America/New_York"` need a time zone database and are refused with
//! NotSupported.
//!
//! This file holds what every date operator shares: time zones (`Zone`, the `timezone`
//! argument), date-like values (dates, timestamps, ObjectIds) and the result helpers.
//! Submodules by concept: `calendar.rs` (civil dates, weeks, `Parts`), `parts.rs` (`$year`,
//! ..., `$dateToParts`, `$dateFromParts`, `$tsSecond`/`$tsIncrement`), `format.rs`
//! (`$dateToString`), `parse.rs` (`$dateFromString`, string to date), `arith.rs` (`$dateAdd`,
//! `$dateSubtract`, `$dateDiff`, `$dateTrunc`).

use bson::Bson;

use super::{is_nullish, type_name, Ctx, Operator};
use crate::error::{Error, Result};

mod arith;
mod calendar;
mod format;
mod parse;
mod parts;

pub(crate) use arith::{
    date_add, date_diff, date_subtract, date_trunc, DATE_ADD_SHAPE, DATE_DIFF_SHAPE,
    DATE_TRUNC_SHAPE,
};
#[cfg(test)]
pub(crate) use calendar::{civil_from_days, days_from_civil};
pub(crate) use format::{date_to_string, format_date, DATE_TO_STRING_SHAPE};
pub(crate) use parse::{date_from_string, parse_date_string, DATE_FROM_STRING_SHAPE};
pub(crate) use parts::{
    date_from_parts, date_to_parts, day_of_month, day_of_week, day_of_year, hour, iso_day_of_week,
    iso_week, iso_week_year, millisecond, minute, month, second, ts_increment, ts_second, week,
    year, DATE_FROM_PARTS_SHAPE, DATE_TO_PARTS_SHAPE, PART_SHAPE,
};

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
