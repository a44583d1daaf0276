//! Type operators: `$type`, `$isNumber`, `$convert` and its `$toX` shorthands.

use bson::oid::ObjectId;
use bson::{Bson, Decimal128};

use super::decimal::Dec128;
use super::number::{f64_to_i64_exact, Num};
use super::{
    is_nullish, type_name, Ctx, MissingStyle, NamedArgs, Operator, ParseScope, Shape, UnknownStyle,
};
use crate::error::{Error, Result};

type Out = Result<Option<Bson>>;

/// MongoDB's ConversionFailure.
const CONVERSION_FAILURE: i32 = 241;

pub(super) const CONVERT_SHAPE: Shape = Shape::Named(&NamedArgs {
    fields: &[("input", 9), ("to", 9), ("onError", 0), ("onNull", 0)],
    not_object: 9,
    unknown: 9,
    unknown_style: UnknownStyle::FoundUnknown,
    missing_style: MissingStyle::Parameter,
});

pub(super) fn type_of(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let v = op.arg(0, ctx)?;
    Ok(Some(Bson::String(type_name(v.as_ref()).to_string())))
}

pub(super) fn is_number(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let v = op.arg(0, ctx)?;
    Ok(Some(Bson::Boolean(v.as_ref().and_then(Num::of).is_some())))
}

/// `$toInt: <expr>` or `$toInt: [<expr>]`: exactly one argument.
pub(super) const SHORTHAND_SHAPE: Shape = Shape::Custom(parse_shorthand);

fn parse_shorthand(name: &'static str, arg: &Bson, scope: &mut ParseScope) -> Result<Operator> {
    let args = super::positional_args(arg, scope)?;
    if args.len() != 1 {
        return Err(Error::coded(
            50723,
            format!("{name} requires a single argument, got {}", args.len()),
        ));
    }
    Ok(Operator::new(
        name,
        args.into_iter().map(Some).collect(),
        Vec::new(),
    ))
}

/// The target types of `$convert`. `Other` is a real BSON type with no conversions to it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Double,
    String,
    ObjectId,
    Bool,
    Date,
    Int,
    Long,
    Decimal,
    Other(&'static str),
}

/// BSON type names and numbers as `$type` and `$convert` know them.
const TYPE_NAMES: [(&str, i64); 22] = [
    ("double", 1),
    ("string", 2),
    ("object", 3),
    ("array", 4),
    ("binData", 5),
    ("undefined", 6),
    ("objectId", 7),
    ("bool", 8),
    ("date", 9),
    ("null", 10),
    ("regex", 11),
    ("dbPointer", 12),
    ("javascript", 13),
    ("symbol", 14),
    ("javascriptWithScope", 15),
    ("int", 16),
    ("timestamp", 17),
    ("long", 18),
    ("decimal", 19),
    ("minKey", -1),
    ("maxKey", 127),
    ("missing", 0),
];

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Double => "double",
            Target::String => "string",
            Target::ObjectId => "objectId",
            Target::Bool => "bool",
            Target::Date => "date",
            Target::Int => "int",
            Target::Long => "long",
            Target::Decimal => "decimal",
            Target::Other(name) => name,
        }
    }

    fn from_name(name: &'static str) -> Target {
        match name {
            "double" => Target::Double,
            "string" => Target::String,
            "objectId" => Target::ObjectId,
            "bool" => Target::Bool,
            "date" => Target::Date,
            "int" => Target::Int,
            "long" => Target::Long,
            "decimal" => Target::Decimal,
            other => Target::Other(other),
        }
    }

    fn parse(v: &Bson) -> Result<Target> {
        match v {
            Bson::String(s) => TYPE_NAMES
                .iter()
                .find(|(name, _)| name == s)
                .map(|(name, _)| Target::from_name(name))
                .ok_or_else(|| Error::BadValue(format!("Unknown type name: {s}"))),
            other => {
                let Some(n) = Num::of(other) else {
                    return Err(Error::FailedToParse(format!(
                        "$convert's 'to' argument must be a string or number, but is {}",
                        type_name(Some(other))
                    )));
                };
                let Some(code) = n.to_i64_exact() else {
                    return Err(Error::FailedToParse(
                        "In $convert, numeric 'to' argument is not an integer".to_string(),
                    ));
                };
                TYPE_NAMES
                    .iter()
                    .find(|(name, number)| *number == code && *name != "missing")
                    .map(|(name, _)| Target::from_name(name))
                    .ok_or_else(|| {
                        Error::FailedToParse(format!(
                            "In $convert, numeric value for 'to' does not correspond to a BSON \
                             type: {code}"
                        ))
                    })
            }
        }
    }
}

/// `$convert`: `to` is checked first; a null or missing input gives `onNull` (or null); a
/// conversion failure gives `onError` when it is given.
pub(super) fn convert(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let to = op.arg(1, ctx)?;
    let input = op.arg(0, ctx)?;
    let target = match &to {
        Some(t) if !is_nullish(Some(t)) => Some(Target::parse(t)?),
        _ => None,
    };
    if is_nullish(input.as_ref()) {
        return if op.has(3) {
            op.arg(3, ctx)
        } else {
            Ok(Some(Bson::Null))
        };
    }
    let Some(target) = target else {
        return Ok(Some(Bson::Null));
    };
    match convert_value(input.as_ref().unwrap_or(&Bson::Null), target) {
        Ok(v) => Ok(Some(v)),
        Err(e) if op.has(2) && e.code() == CONVERSION_FAILURE => op.arg(2, ctx),
        Err(e) => Err(e),
    }
}

fn shorthand(op: &Operator, ctx: &Ctx<'_>, target: Target) -> Out {
    let input = op.arg(0, ctx)?;
    if is_nullish(input.as_ref()) {
        return Ok(Some(Bson::Null));
    }
    convert_value(input.as_ref().unwrap_or(&Bson::Null), target).map(Some)
}

pub(super) fn to_int(op: &Operator, ctx: &Ctx<'_>) -> Out {
    shorthand(op, ctx, Target::Int)
}

pub(super) fn to_long(op: &Operator, ctx: &Ctx<'_>) -> Out {
    shorthand(op, ctx, Target::Long)
}

pub(super) fn to_double(op: &Operator, ctx: &Ctx<'_>) -> Out {
    shorthand(op, ctx, Target::Double)
}

pub(super) fn to_decimal(op: &Operator, ctx: &Ctx<'_>) -> Out {
    shorthand(op, ctx, Target::Decimal)
}

pub(super) fn to_string(op: &Operator, ctx: &Ctx<'_>) -> Out {
    shorthand(op, ctx, Target::String)
}

pub(super) fn to_bool(op: &Operator, ctx: &Ctx<'_>) -> Out {
    shorthand(op, ctx, Target::Bool)
}

pub(super) fn to_date(op: &Operator, ctx: &Ctx<'_>) -> Out {
    shorthand(op, ctx, Target::Date)
}

pub(super) fn to_object_id(op: &Operator, ctx: &Ctx<'_>) -> Out {
    shorthand(op, ctx, Target::ObjectId)
}

fn unsupported(v: &Bson, target: Target) -> Error {
    Error::coded(
        CONVERSION_FAILURE,
        format!(
            "Unsupported conversion from {} to {} in $convert with no onError value",
            type_name(Some(v)),
            target.name()
        ),
    )
}

fn overflow(v: &Bson) -> Error {
    Error::coded(
        CONVERSION_FAILURE,
        format!("Conversion would overflow target type in $convert with no onError value: {v}"),
    )
}

fn parse_failure(s: &str, detail: &str) -> Error {
    Error::coded(
        CONVERSION_FAILURE,
        format!("Failed to parse number '{s}' in $convert with no onError value: {detail}"),
    )
}

fn reject_hex(s: &str) -> Result<()> {
    if s.starts_with("0x") {
        return Err(Error::coded(
            CONVERSION_FAILURE,
            format!("Illegal hexadecimal input in $convert with no onError value: {s}"),
        ));
    }
    Ok(())
}

/// Parses a base-10 integer string as MongoDB does: optional sign, digits only.
fn parse_integer(s: &str) -> Result<i64> {
    reject_hex(s)?;
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(parse_failure(s, "Did not consume whole string."));
    }
    s.parse::<i64>().map_err(|_| parse_failure(s, "Overflow"))
}

/// Parses a double: decimal or exponent notation, or Infinity/NaN; no surrounding spaces.
fn parse_double(s: &str) -> Result<f64> {
    reject_hex(s)?;
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let special = matches!(
        body.to_ascii_lowercase().as_str(),
        "inf" | "infinity" | "nan"
    );
    let plain = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if !special && !plain {
        return Err(parse_failure(s, "Did not consume whole string."));
    }
    s.parse::<f64>()
        .map_err(|_| parse_failure(s, "Did not consume whole string."))
}

/// Truncates a double toward zero into an integer type's range (checked on the double itself,
/// as MongoDB does: `min <= d <= max_inclusive`, or `< max_exclusive` for long).
fn truncate_double(v: &Bson, d: f64, min: f64, max: f64, max_inclusive: bool) -> Result<i64> {
    if d.is_nan() {
        return Err(Error::coded(
            CONVERSION_FAILURE,
            "Attempt to convert NaN value to integer type in $convert with no onError value",
        ));
    }
    if d.is_infinite() {
        return Err(Error::coded(
            CONVERSION_FAILURE,
            "Attempt to convert infinity value to integer type in $convert with no onError value",
        ));
    }
    let in_range = d >= min && if max_inclusive { d <= max } else { d < max };
    if !in_range {
        return Err(overflow(v));
    }
    f64_to_i64_exact(d.trunc()).ok_or_else(|| overflow(v))
}

const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// Truncates a decimal toward zero into i64.
fn truncate_decimal(v: &Bson, d: Dec128) -> Result<i64> {
    if d.is_nan() {
        return Err(Error::coded(
            CONVERSION_FAILURE,
            "Attempt to convert NaN value to integer type in $convert with no onError value",
        ));
    }
    if matches!(d, Dec128::Infinity { .. }) {
        return Err(Error::coded(
            CONVERSION_FAILURE,
            "Attempt to convert infinity value to integer type in $convert with no onError value",
        ));
    }
    d.round_to_place(0, super::decimal::Rounding::TowardZero)
        .to_i64_exact()
        .ok_or_else(|| overflow(v))
}

fn convert_value(v: &Bson, target: Target) -> Result<Bson> {
    match target {
        Target::Double => match v {
            Bson::Double(d) => Ok(Bson::Double(*d)),
            Bson::Int32(i) => Ok(Bson::Double(f64::from(*i))),
            Bson::Int64(i) => Ok(Bson::Double(*i as f64)),
            Bson::Decimal128(d) => {
                let dec = Dec128::decode(d);
                let f = dec.to_f64();
                if f.is_infinite() && !matches!(dec, Dec128::Infinity { .. }) {
                    return Err(overflow(v));
                }
                Ok(Bson::Double(f))
            }
            Bson::Boolean(b) => Ok(Bson::Double(if *b { 1.0 } else { 0.0 })),
            Bson::String(s) => parse_double(s).map(Bson::Double),
            Bson::DateTime(d) => Ok(Bson::Double(d.timestamp_millis() as f64)),
            _ => Err(unsupported(v, target)),
        },
        Target::Int => {
            let i = match v {
                Bson::Int32(i) => return Ok(Bson::Int32(*i)),
                Bson::Int64(i) => *i,
                Bson::Double(d) => {
                    truncate_double(v, *d, f64::from(i32::MIN), f64::from(i32::MAX), true)?
                }
                Bson::Decimal128(d) => truncate_decimal(v, Dec128::decode(d))?,
                Bson::Boolean(b) => i64::from(*b),
                Bson::String(s) => parse_integer(s)?,
                _ => return Err(unsupported(v, target)),
            };
            i32::try_from(i).map(Bson::Int32).map_err(|_| overflow(v))
        }
        Target::Long => match v {
            Bson::Int32(i) => Ok(Bson::Int64(i64::from(*i))),
            Bson::Int64(i) => Ok(Bson::Int64(*i)),
            Bson::Double(d) => truncate_double(v, *d, -TWO_63, TWO_63, false).map(Bson::Int64),
            Bson::Decimal128(d) => truncate_decimal(v, Dec128::decode(d)).map(Bson::Int64),
            Bson::Boolean(b) => Ok(Bson::Int64(i64::from(*b))),
            Bson::String(s) => parse_integer(s).map(Bson::Int64),
            Bson::DateTime(d) => Ok(Bson::Int64(d.timestamp_millis())),
            _ => Err(unsupported(v, target)),
        },
        Target::Decimal => {
            let dec = match v {
                Bson::Decimal128(d) => return Ok(Bson::Decimal128(*d)),
                Bson::Int32(i) => Dec128::from_i64(i64::from(*i)),
                Bson::Int64(i) => Dec128::from_i64(*i),
                Bson::Double(d) => Dec128::from_f64_15_digits(*d),
                Bson::Boolean(b) => Dec128::from_i64(i64::from(*b)),
                Bson::DateTime(d) => Dec128::from_i64(d.timestamp_millis()),
                Bson::String(s) => {
                    let valid = !s.is_empty()
                        && !s.contains(char::is_whitespace)
                        && s.parse::<Decimal128>().is_ok();
                    if !valid {
                        return Err(parse_failure(s, "Failed to parse string to decimal"));
                    }
                    return s
                        .parse::<Decimal128>()
                        .map(Bson::Decimal128)
                        .map_err(|_| parse_failure(s, "Failed to parse string to decimal"));
                }
                _ => return Err(unsupported(v, target)),
            };
            Ok(Bson::Decimal128(dec.encode()))
        }
        Target::Bool => match v {
            Bson::Boolean(b) => Ok(Bson::Boolean(*b)),
            Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
                Ok(Bson::Boolean(Num::of(v).is_some_and(|n| !n.is_zero())))
            }
            _ => Ok(Bson::Boolean(true)),
        },
        Target::Other(_) => Err(unsupported(v, target)),
        Target::String => match v {
            Bson::String(s) => Ok(Bson::String(s.clone())),
            Bson::Int32(i) => Ok(Bson::String(i.to_string())),
            Bson::Int64(i) => Ok(Bson::String(i.to_string())),
            Bson::Double(d) => Ok(Bson::String(double_to_string(*d))),
            Bson::Decimal128(d) => Ok(Bson::String(d.to_string())),
            Bson::Boolean(b) => Ok(Bson::String(b.to_string())),
            Bson::ObjectId(o) => Ok(Bson::String(o.to_hex())),
            Bson::DateTime(d) => Ok(Bson::String(super::date::format_date(
                d.timestamp_millis(),
                "%Y-%m-%dT%H:%M:%S.%LZ",
            ))),
            _ => Err(unsupported(v, target)),
        },
        Target::Date => match v {
            Bson::DateTime(d) => Ok(Bson::DateTime(*d)),
            Bson::Int64(i) => Ok(date(*i)),
            Bson::Double(d) => truncate_double(v, *d, -TWO_63, TWO_63, false).map(date),
            Bson::Decimal128(d) => truncate_decimal(v, Dec128::decode(d)).map(date),
            Bson::String(s) => super::date::parse_date_string(s)
                .map(date)
                .map_err(|e| Error::coded(CONVERSION_FAILURE, e.to_string())),
            Bson::ObjectId(o) => Ok(Bson::DateTime(o.timestamp())),
            Bson::Timestamp(t) => Ok(date(i64::from(t.time) * 1000)),
            _ => Err(unsupported(v, target)),
        },
        Target::ObjectId => match v {
            Bson::ObjectId(o) => Ok(Bson::ObjectId(*o)),
            Bson::String(s) => {
                if s.len() != 24 {
                    return Err(Error::coded(
                        CONVERSION_FAILURE,
                        format!(
                            "Failed to parse objectId '{s}' in $convert with no onError value: \
                             Invalid string length for parsing to OID, expected 24 but found {}",
                            s.len()
                        ),
                    ));
                }
                ObjectId::parse_str(s).map(Bson::ObjectId).map_err(|_| {
                    Error::coded(
                        CONVERSION_FAILURE,
                        format!(
                            "Failed to parse objectId '{s}' in $convert with no onError value: \
                             Invalid character found in hex string"
                        ),
                    )
                })
            }
            _ => Err(unsupported(v, target)),
        },
    }
}

fn date(millis: i64) -> Bson {
    Bson::DateTime(bson::DateTime::from_millis(millis))
}

/// A double as MongoDB prints it (C's `%g`: six significant digits, trailing zeros dropped,
/// exponent form below 1e-4 and from 1e6).
pub(super) fn double_to_string(d: f64) -> String {
    if d.is_nan() {
        return "NaN".to_string();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    const PRECISION: i32 = 6;
    let scientific = format!("{:.*e}", 5, d);
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..PRECISION).contains(&exponent) {
        let decimals = usize::try_from(PRECISION - 1 - exponent).unwrap_or(0);
        let fixed = format!("{:.*}", decimals, d);
        strip_fraction_zeros(&fixed)
    } else {
        let mantissa = strip_fraction_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

fn strip_fraction_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}
