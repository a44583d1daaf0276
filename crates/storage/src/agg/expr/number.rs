//! Numbers in expressions and MongoDB's result-type rules: int32 results that overflow become
//! int64, int64 results that overflow become double, any decimal input makes the result
//! decimal and otherwise any double input makes it double.

use bson::Bson;

use super::decimal::{decode, Dec128};

/// A BSON number.
#[derive(Debug, Clone, Copy)]
pub(super) enum Num {
    Int(i32),
    Long(i64),
    Double(f64),
    Decimal(Dec128),
}

/// The widest numeric type seen so far, in promotion order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Width {
    Int,
    Long,
    Double,
    Decimal,
}

impl Num {
    pub(super) fn of(v: &Bson) -> Option<Num> {
        match v {
            Bson::Int32(i) => Some(Num::Int(*i)),
            Bson::Int64(i) => Some(Num::Long(*i)),
            Bson::Double(d) => Some(Num::Double(*d)),
            Bson::Decimal128(d) => Some(Num::Decimal(decode(d))),
            _ => None,
        }
    }

    pub(super) fn to_bson(self) -> Bson {
        match self {
            Num::Int(i) => Bson::Int32(i),
            Num::Long(i) => Bson::Int64(i),
            Num::Double(d) => Bson::Double(d),
            Num::Decimal(d) => Bson::Decimal128(d.encode()),
        }
    }

    pub(super) fn width(self) -> Width {
        match self {
            Num::Int(_) => Width::Int,
            Num::Long(_) => Width::Long,
            Num::Double(_) => Width::Double,
            Num::Decimal(_) => Width::Decimal,
        }
    }

    pub(super) fn to_f64(self) -> f64 {
        match self {
            Num::Int(i) => f64::from(i),
            Num::Long(i) => i as f64,
            Num::Double(d) => d,
            Num::Decimal(d) => d.to_f64(),
        }
    }

    /// The value as a decimal (doubles rounded to 15 digits, as MongoDB does).
    pub(super) fn to_dec(self) -> Dec128 {
        match self {
            Num::Int(i) => Dec128::from_i64(i64::from(i)),
            Num::Long(i) => Dec128::from_i64(i),
            Num::Double(d) => Dec128::from_f64_15_digits(d),
            Num::Decimal(d) => d,
        }
    }

    /// The value as an integer, for integral types only.
    pub(super) fn as_i64(self) -> Option<i64> {
        match self {
            Num::Int(i) => Some(i64::from(i)),
            Num::Long(i) => Some(i),
            _ => None,
        }
    }

    /// The value as an i64 if it is integral (of any type) and in range.
    pub(super) fn to_i64_exact(self) -> Option<i64> {
        match self {
            Num::Int(i) => Some(i64::from(i)),
            Num::Long(i) => Some(i),
            Num::Double(d) => f64_to_i64_exact(d),
            Num::Decimal(d) => d.to_i64_exact(),
        }
    }

    pub(super) fn is_zero(self) -> bool {
        match self {
            Num::Int(i) => i == 0,
            Num::Long(i) => i == 0,
            Num::Double(d) => d == 0.0,
            Num::Decimal(d) => d.is_zero(),
        }
    }
}

/// An integral double within i64's range, exactly.
pub(super) fn f64_to_i64_exact(d: f64) -> Option<i64> {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if d.fract() != 0.0 || !d.is_finite() || !(-TWO_63..TWO_63).contains(&d) {
        return None;
    }
    // In range and integral: the conversion is exact.
    Some(d as i64)
}

/// The narrowest integer result for a type at most `Long`: int if it fits and all inputs were
/// int, else long if it fits, else double.
pub(super) fn narrow_integer(total: i128, width: Width) -> Num {
    if width == Width::Int {
        if let Ok(i) = i32::try_from(total) {
            return Num::Int(i);
        }
    }
    match i64::try_from(total) {
        Ok(i) => Num::Long(i),
        Err(_) => Num::Double(total as f64),
    }
}

/// a - b with promotion.
pub(super) fn sub(a: Num, b: Num) -> Num {
    let width = a.width().max(b.width());
    match width {
        Width::Decimal => Num::Decimal(a.to_dec().sub(b.to_dec())),
        Width::Double => Num::Double(a.to_f64() - b.to_f64()),
        _ => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => narrow_integer(i128::from(x) - i128::from(y), width),
            _ => Num::Double(a.to_f64() - b.to_f64()),
        },
    }
}

/// a * b with promotion.
pub(super) fn mul(a: Num, b: Num) -> Num {
    let width = a.width().max(b.width());
    match width {
        Width::Decimal => Num::Decimal(a.to_dec().mul(b.to_dec())),
        Width::Double => Num::Double(a.to_f64() * b.to_f64()),
        _ => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => narrow_integer(i128::from(x) * i128::from(y), width),
            _ => Num::Double(a.to_f64() * b.to_f64()),
        },
    }
}

/// Builds a result of the input's width from a double computed through f64 (decimal inputs
/// stay decimal).
pub(super) fn from_f64_like(width: Width, value: f64) -> Num {
    if width == Width::Decimal {
        Num::Decimal(Dec128::from_f64_shortest(value))
    } else {
        Num::Double(value)
    }
}
