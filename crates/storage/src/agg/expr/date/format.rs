//! `$dateToString`: format validation and formatting of a date in a zone (`%Y`, `%m`, ...),
//! also used by `$toString` and string conversions of dates.

use bson::Bson;

use super::calendar::Parts;
use super::{date_millis, not_a_date, null, zone_arg, Out, Zone};
use crate::agg::expr::{
    is_nullish, type_name, Ctx, MissingStyle, NamedArgs, Operator, Shape, UnknownStyle,
};
use crate::error::{Error, Result};

pub(crate) const DATE_TO_STRING_SHAPE: Shape = Shape::Named(&NamedArgs {
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

const DEFAULT_FORMAT: &str = "%Y-%m-%dT%H:%M:%S.%LZ";

/// Checks a format string's specifiers.
pub(super) fn validate_format(format: &str) -> Result<()> {
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
pub(crate) fn format_date(utc_millis: i64, format: &str) -> String {
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

pub(crate) fn date_to_string(op: &Operator, ctx: &Ctx<'_>) -> Out {
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
