//! Date arithmetic in calendar units: `$dateAdd`, `$dateSubtract`, `$dateDiff` and
//! `$dateTrunc`, with their unit, `startOfWeek` and `binSize` arguments. Months and years
//! are added in local time with the day clamped to the target month's length.

use bson::Bson;

use super::calendar::{days_from_civil, days_in_month, weekday_monday0, Parts};
use super::{
    date, date_millis, null, zone_arg, Out, MILLIS_PER_DAY, MILLIS_PER_HOUR, MILLIS_PER_MINUTE,
    MILLIS_PER_SECOND,
};
use crate::agg::expr::number::Num;
use crate::agg::expr::{
    is_nullish, type_name, Ctx, MissingStyle, NamedArgs, Operator, Shape, UnknownStyle,
};
use crate::error::{Error, Result};

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

pub(crate) const DATE_ADD_SHAPE: Shape = Shape::Named(&NamedArgs {
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

pub(crate) fn date_add(op: &Operator, ctx: &Ctx<'_>) -> Out {
    date_add_impl(op, ctx, false)
}

pub(crate) fn date_subtract(op: &Operator, ctx: &Ctx<'_>) -> Out {
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

pub(crate) const DATE_DIFF_SHAPE: Shape = Shape::Named(&NamedArgs {
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
pub(crate) fn date_diff(op: &Operator, ctx: &Ctx<'_>) -> Out {
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

pub(crate) const DATE_TRUNC_SHAPE: Shape = Shape::Named(&NamedArgs {
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
pub(crate) fn date_trunc(op: &Operator, ctx: &Ctx<'_>) -> Out {
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
