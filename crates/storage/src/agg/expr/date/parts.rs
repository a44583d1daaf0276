//! The operators that take a date apart or build one from parts: `$year`, `$month`, ...
//! (`{$year: <date>}`, `{$year: [<date>]}` or `{$year: {date, timezone}}`), `$dateToParts`,
//! `$dateFromParts`, and `$tsSecond`/`$tsIncrement` (the parts of a timestamp).

use bson::{doc, Bson, Document};

use super::calendar::{days_from_civil, iso_week1_monday, Parts};
use super::{
    date, date_millis, int, not_a_date, null, zone_arg, Out, MILLIS_PER_DAY, MILLIS_PER_HOUR,
    MILLIS_PER_MINUTE, MILLIS_PER_SECOND,
};
use crate::agg::expr::number::Num;
use crate::agg::expr::{
    is_nullish, type_name, Ctx, Expr, MissingStyle, NamedArgs, Operator, ParseScope, Shape,
    UnknownStyle,
};
use crate::error::{Error, Result};

pub(crate) const PART_SHAPE: Shape = Shape::Custom(parse_date_part);

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

pub(crate) fn year(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, |p| p.year)
}

pub(crate) fn month(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, |p| p.month)
}

pub(crate) fn day_of_month(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, |p| p.day)
}

pub(crate) fn day_of_week(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, Parts::day_of_week)
}

pub(crate) fn day_of_year(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, Parts::day_of_year)
}

pub(crate) fn hour(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, |p| p.hour)
}

pub(crate) fn minute(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, |p| p.minute)
}

pub(crate) fn second(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, |p| p.second)
}

pub(crate) fn millisecond(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, |p| p.millisecond)
}

pub(crate) fn week(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, Parts::week)
}

pub(crate) fn iso_week(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, Parts::iso_week)
}

pub(crate) fn iso_week_year(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, Parts::iso_week_year)
}

pub(crate) fn iso_day_of_week(op: &Operator, ctx: &Ctx<'_>) -> Out {
    part(op, ctx, Parts::iso_day_of_week)
}

// ---------------------------------------------------------------------------------------------
// $dateToParts and $dateFromParts.

pub(crate) const DATE_TO_PARTS_SHAPE: Shape = Shape::Named(&NamedArgs {
    fields: &[("date", 40522), ("timezone", 0), ("iso8601", 0)],
    not_object: 40524,
    unknown: 40520,
    unknown_style: UnknownStyle::Argument,
    missing_style: MissingStyle::Parameter,
});

pub(crate) fn date_to_parts(op: &Operator, ctx: &Ctx<'_>) -> Out {
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

pub(crate) const DATE_FROM_PARTS_SHAPE: Shape = Shape::Custom(parse_date_from_parts);

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

pub(crate) fn date_from_parts(op: &Operator, ctx: &Ctx<'_>) -> Out {
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

pub(crate) fn ts_second(op: &Operator, ctx: &Ctx<'_>) -> Out {
    timestamp_part(op, ctx, true)
}

pub(crate) fn ts_increment(op: &Operator, ctx: &Ctx<'_>) -> Out {
    timestamp_part(op, ctx, false)
}
