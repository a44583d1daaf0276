//! The operators that test one value's type or bits: `$type` (BSON type codes and their
//! aliases, `"number"`), `$mod`, `$bitsAllSet`/`$bitsAnySet`/`$bitsAllClear`/`$bitsAnyClear`
//! and `$size`: their arguments parsed and checked as MongoDB does, and their test on one
//! value. `$jsonSchema`'s `bsonType` uses the same type selectors.

use bson::Bson;

use super::{BitMask, BitTest, Op, TypeSelector};
use crate::error::{Error, Result};

impl TypeSelector {
    pub(super) fn matches(&self, v: &Bson) -> bool {
        match self {
            TypeSelector::Number => matches!(
                v,
                Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_)
            ),
            TypeSelector::Code(code) => bson_type_code(v) == *code,
        }
    }
}

/// The BSON type code of a value (`$type` numbers).
pub fn bson_type_code(v: &Bson) -> i32 {
    match v {
        Bson::Double(_) => 1,
        Bson::String(_) => 2,
        Bson::Document(_) => 3,
        Bson::Array(_) => 4,
        Bson::Binary(_) => 5,
        Bson::Undefined => 6,
        Bson::ObjectId(_) => 7,
        Bson::Boolean(_) => 8,
        Bson::DateTime(_) => 9,
        Bson::Null => 10,
        Bson::RegularExpression(_) => 11,
        Bson::DbPointer(_) => 12,
        Bson::JavaScriptCode(_) => 13,
        Bson::Symbol(_) => 14,
        Bson::JavaScriptCodeWithScope(_) => 15,
        Bson::Int32(_) => 16,
        Bson::Timestamp(_) => 17,
        Bson::Int64(_) => 18,
        Bson::Decimal128(_) => 19,
        Bson::MinKey => -1,
        Bson::MaxKey => 127,
    }
}

/// `$type` aliases and their codes (`"number"` is handled apart).
const TYPE_ALIASES: &[(&str, i32)] = &[
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
];

/// A numeric value as an exact integer (integral doubles and decimals included).
pub(super) fn exact_integer(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(d) => {
            if d.fract() == 0.0
                && *d >= -9_223_372_036_854_775_808.0
                && *d < 9_223_372_036_854_775_808.0
            {
                Some(*d as i64)
            } else {
                None
            }
        }
        Bson::Decimal128(_) => {
            let d = crate::value::Number::of(v)?.to_f64();
            let i = exact_integer(&Bson::Double(d))?;
            crate::value::equal(v, &Bson::Int64(i)).then_some(i)
        }
        _ => None,
    }
}

/// `$mod`: the value truncated toward zero, remainder with the dividend's sign (as C++).
pub(super) fn mod_matches(v: &Bson, divisor: i64, remainder: i64) -> bool {
    let value = match v {
        Bson::Int32(i) => i64::from(*i),
        Bson::Int64(i) => *i,
        Bson::Double(_) | Bson::Decimal128(_) => {
            let d = crate::value::Number::of(v).map_or(f64::NAN, |n| n.to_f64());
            if !d.is_finite() {
                return false;
            }
            // Saturating conversion of the truncated value, as MongoDB's coercion does.
            d.trunc() as i64
        }
        _ => return false,
    };
    value.wrapping_rem(divisor) == remainder
}

/// `$bitsAllSet` and friends on one value: integral numbers representable as int64 (two's
/// complement, sign-extended beyond bit 63) and BinData (little-endian bytes, zero beyond).
pub(super) fn bits_match(test: BitTest, mask: &BitMask, v: &Bson) -> bool {
    let integer = match v {
        Bson::Binary(_) => None,
        _ => match exact_integer(v) {
            Some(n) => Some(n),
            None => return false,
        },
    };
    let bit = |p: u64| -> bool {
        match (v, integer) {
            (Bson::Binary(b), _) => usize::try_from(p / 8)
                .ok()
                .and_then(|i| b.bytes.get(i))
                .is_some_and(|byte| byte >> (p % 8) & 1 == 1),
            (_, Some(n)) if p >= 64 => n < 0,
            (_, Some(n)) => (n >> p) & 1 == 1,
            (_, None) => false,
        }
    };
    let positions = &mask.positions;
    match test {
        BitTest::AllSet => positions.iter().all(|&p| bit(p)),
        BitTest::AnySet => positions.iter().any(|&p| bit(p)),
        BitTest::AllClear => positions.iter().all(|&p| !bit(p)),
        BitTest::AnyClear => positions.iter().any(|&p| !bit(p)),
    }
}

pub(super) fn parse_size(value: &Bson) -> Result<usize> {
    let n = match value {
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
            exact_integer(value).ok_or_else(|| {
                Error::BadValue(format!(
                    "Failed to parse $size. Expected an integer, but found {value}"
                ))
            })?
        }
        _ => {
            return Err(Error::BadValue(format!(
                "Failed to parse $size. Expected a number in: $size: {value}"
            )))
        }
    };
    usize::try_from(n).map_err(|_| {
        Error::BadValue(format!(
            "Failed to parse $size. Expected a non-negative number in: $size: {value}"
        ))
    })
}

pub(super) fn parse_type_selectors(value: &Bson) -> Result<Vec<TypeSelector>> {
    match value {
        Bson::Array(items) => items.iter().map(parse_type_selector).collect(),
        other => Ok(vec![parse_type_selector(other)?]),
    }
}

pub(super) fn parse_type_selector(value: &Bson) -> Result<TypeSelector> {
    match value {
        Bson::String(alias) => {
            if alias == "number" {
                return Ok(TypeSelector::Number);
            }
            TYPE_ALIASES
                .iter()
                .find(|(name, _)| name == alias)
                .map(|(_, code)| TypeSelector::Code(*code))
                .ok_or_else(|| Error::BadValue(format!("Unknown type name alias: {alias}")))
        }
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
            let code = exact_integer(value)
                .and_then(|c| i32::try_from(c).ok())
                .filter(|c| TYPE_ALIASES.iter().any(|(_, known)| known == c))
                .ok_or_else(|| Error::BadValue(format!("Invalid numerical type code: {value}")))?;
            Ok(TypeSelector::Code(code))
        }
        _ => Err(Error::TypeMismatch(format!(
            "type must be represented as a number or a string, not {value}"
        ))),
    }
}

pub(super) fn parse_mod(value: &Bson) -> Result<Op> {
    let Bson::Array(items) = value else {
        return Err(Error::BadValue(
            "malformed mod, needs to be an array".into(),
        ));
    };
    let not_enough = || Error::BadValue("malformed mod, not enough elements".into());
    let divisor = items.first().ok_or_else(not_enough)?;
    if crate::value::Number::of(divisor).is_none() {
        return Err(Error::BadValue(
            "malformed mod, divisor not a number".into(),
        ));
    }
    let remainder = items.get(1).ok_or_else(not_enough)?;
    if crate::value::Number::of(remainder).is_none() {
        return Err(Error::BadValue(
            "malformed mod, remainder not a number".into(),
        ));
    }
    if items.len() > 2 {
        return Err(Error::BadValue("malformed mod, too many elements".into()));
    }
    let divisor = coerce_to_int64(divisor, "divisor")?;
    let remainder = coerce_to_int64(remainder, "remainder")?;
    if divisor == 0 {
        return Err(Error::BadValue("divisor cannot be 0".into()));
    }
    Ok(Op::Mod { divisor, remainder })
}

/// A number truncated toward zero to an int64, refusing NaN, infinities and out-of-range
/// values as MongoDB's `tryCoerce` does.
fn coerce_to_int64(v: &Bson, what: &str) -> Result<i64> {
    match v {
        Bson::Int32(i) => Ok(i64::from(*i)),
        Bson::Int64(i) => Ok(*i),
        _ => {
            let d = crate::value::Number::of(v).map_or(f64::NAN, |n| n.to_f64());
            if !d.is_finite() {
                return Err(Error::BadValue(format!(
                    "malformed mod, {what} value is invalid :: caused by :: Unable to coerce NaN/Inf to integral type"
                )));
            }
            let t = d.trunc();
            if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&t) {
                return Err(Error::BadValue(format!(
                    "malformed mod, {what} value is invalid :: caused by :: Out of bounds coercing to integral value"
                )));
            }
            // Within range, so exact.
            Ok(t as i64)
        }
    }
}

pub(super) fn parse_bitmask(key: &str, value: &Bson) -> Result<BitMask> {
    let mut positions = Vec::new();
    match value {
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
            let n = exact_integer(value).ok_or_else(|| {
                Error::BadValue(format!(
                    "{key} bitmask must be an integer representable as a 64-bit integer: {value}"
                ))
            })?;
            if n < 0 {
                return Err(Error::BadValue(format!(
                    "{key} bitmask must be a non-negative integer: {value}"
                )));
            }
            for p in 0..63 {
                if (n >> p) & 1 == 1 {
                    positions.push(p);
                }
            }
        }
        Bson::Array(items) => {
            for item in items {
                let p = match item {
                    Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
                        exact_integer(item).ok_or_else(|| {
                            Error::BadValue(format!(
                                "Failed to parse bit position. Expected an integer: {item}"
                            ))
                        })?
                    }
                    _ => {
                        return Err(Error::BadValue(format!(
                            "Failed to parse bit position. Expected a number in: {item}"
                        )))
                    }
                };
                let p = u64::try_from(p).map_err(|_| {
                    Error::BadValue(format!(
                        "Failed to parse bit position. Expected a positive number in: {item}"
                    ))
                })?;
                positions.push(p);
            }
        }
        Bson::Binary(b) => {
            for (i, byte) in b.bytes.iter().enumerate() {
                for bit in 0..8u64 {
                    if byte >> bit & 1 == 1 {
                        positions.push(u64::try_from(i).unwrap_or(u64::MAX / 16) * 8 + bit);
                    }
                }
            }
        }
        _ => {
            return Err(Error::BadValue(format!(
                "{key} takes an Array, a number, or a BinData but received: {key}: {value}"
            )))
        }
    }
    Ok(BitMask { positions })
}
