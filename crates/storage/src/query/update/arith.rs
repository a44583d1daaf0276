//! Arithmetic for `$inc`, `$mul` and `$bit` with MongoDB's result types ("SafeNum"): int32
//! with int32 stays int32 unless the result overflows (then int64); int64 overflow is an error;
//! any double makes a double; any decimal128 makes a decimal128.

use std::cmp::Ordering;

use bson::{Bson, Decimal128};

/// The two arithmetic update operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithmeticOp {
    Add,
    Multiply,
}

/// The result of `left <op> right` for two numeric values, or `None` on int64 overflow (which
/// MongoDB reports as an error) or a decimal result Outpost cannot compute exactly.
pub fn arithmetic(op: ArithmeticOp, left: &Bson, right: &Bson) -> Option<Bson> {
    if matches!(left, Bson::Decimal128(_)) || matches!(right, Bson::Decimal128(_)) {
        let a = DecimalValue::of(left)?;
        let b = DecimalValue::of(right)?;
        let result = match op {
            ArithmeticOp::Add => a.add(&b)?,
            ArithmeticOp::Multiply => a.multiply(&b)?,
        };
        return result.to_bson().map(Bson::Decimal128);
    }
    match (left, right) {
        (Bson::Int32(a), Bson::Int32(b)) => {
            let (a, b) = (i64::from(*a), i64::from(*b));
            let wide = match op {
                ArithmeticOp::Add => a + b,
                ArithmeticOp::Multiply => a * b,
            };
            Some(match i32::try_from(wide) {
                Ok(narrow) => Bson::Int32(narrow),
                Err(_) => Bson::Int64(wide),
            })
        }
        (Bson::Int32(_) | Bson::Int64(_), Bson::Int32(_) | Bson::Int64(_)) => {
            let a = integer_of(left)?;
            let b = integer_of(right)?;
            match op {
                ArithmeticOp::Add => a.checked_add(b),
                ArithmeticOp::Multiply => a.checked_mul(b),
            }
            .map(Bson::Int64)
        }
        _ => {
            let a = double_of(left)?;
            let b = double_of(right)?;
            Some(Bson::Double(match op {
                ArithmeticOp::Add => a + b,
                ArithmeticOp::Multiply => a * b,
            }))
        }
    }
}

/// The three bitwise operations of `$bit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
}

/// `left <op> right` for int32/int64 values; int64 if either side is int64.
pub fn bitwise(op: BitOp, left: &Bson, right: &Bson) -> Option<Bson> {
    let apply64 = |a: i64, b: i64| match op {
        BitOp::And => a & b,
        BitOp::Or => a | b,
        BitOp::Xor => a ^ b,
    };
    match (left, right) {
        (Bson::Int32(a), Bson::Int32(b)) => Some(Bson::Int32(match op {
            BitOp::And => a & b,
            BitOp::Or => a | b,
            BitOp::Xor => a ^ b,
        })),
        (Bson::Int32(_) | Bson::Int64(_), Bson::Int32(_) | Bson::Int64(_)) => {
            Some(Bson::Int64(apply64(integer_of(left)?, integer_of(right)?)))
        }
        _ => None,
    }
}

fn integer_of(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        _ => None,
    }
}

fn double_of(v: &Bson) -> Option<f64> {
    match v {
        Bson::Int32(i) => Some(f64::from(*i)),
        // Nearest double, as MongoDB converts int64 for mixed arithmetic.
        Bson::Int64(i) => Some(*i as f64),
        Bson::Double(d) => Some(*d),
        _ => None,
    }
}

/// Whether a value is one of the four BSON number types.
pub fn is_number(v: &Bson) -> bool {
    matches!(
        v,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_)
    )
}

/// The largest coefficient a decimal128 holds: 34 decimal digits.
const MAX_DECIMAL_DIGITS: u32 = 34;

/// A decimal value taken apart through its string form: `(-1)^negative * coefficient *
/// 10^exponent`, or a special value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum DecimalValue {
    Finite {
        negative: bool,
        coefficient: u128,
        exponent: i32,
    },
    Infinity {
        negative: bool,
    },
    NaN,
}

impl DecimalValue {
    /// Any number as a decimal: integers exactly, doubles rounded to 15 significant digits
    /// (as MongoDB's `Decimal128(double)` does for arithmetic).
    fn of(v: &Bson) -> Option<DecimalValue> {
        match v {
            Bson::Decimal128(d) => DecimalValue::parse(&d.to_string()),
            Bson::Int32(i) => Some(DecimalValue::from_i64(i64::from(*i))),
            Bson::Int64(i) => Some(DecimalValue::from_i64(*i)),
            Bson::Double(d) => {
                if d.is_nan() {
                    Some(DecimalValue::NaN)
                } else if d.is_infinite() {
                    Some(DecimalValue::Infinity { negative: *d < 0.0 })
                } else {
                    DecimalValue::parse(&format!("{d:.14e}"))
                }
            }
            _ => None,
        }
    }

    fn from_i64(i: i64) -> DecimalValue {
        DecimalValue::Finite {
            negative: i < 0,
            coefficient: u128::from(i.unsigned_abs()),
            exponent: 0,
        }
    }

    /// Parses `[-]digits[.digits][(e|E)[+-]digits]`, `NaN`, `[-]Infinity`.
    fn parse(text: &str) -> Option<DecimalValue> {
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        if body.eq_ignore_ascii_case("nan") {
            return Some(DecimalValue::NaN);
        }
        if body.eq_ignore_ascii_case("infinity") || body.eq_ignore_ascii_case("inf") {
            return Some(DecimalValue::Infinity { negative });
        }
        let (mantissa, exponent_text) = match body.find(['e', 'E']) {
            Some(at) => (body.get(..at)?, body.get(at + 1..)?),
            None => (body, "0"),
        };
        let mut exponent: i32 = exponent_text.parse().ok()?;
        let (whole, fraction) = match mantissa.find('.') {
            Some(at) => (mantissa.get(..at)?, mantissa.get(at + 1..)?),
            None => (mantissa, ""),
        };
        let fraction_len = i32::try_from(fraction.len()).ok()?;
        exponent = exponent.checked_sub(fraction_len)?;
        let digits = format!("{whole}{fraction}");
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let coefficient: u128 = digits.parse().ok()?;
        Some(DecimalValue::Finite {
            negative,
            coefficient,
            exponent,
        })
    }

    fn add(&self, other: &DecimalValue) -> Option<DecimalValue> {
        use DecimalValue::*;
        match (*self, *other) {
            (NaN, _) | (_, NaN) => Some(NaN),
            (Infinity { negative: a }, Infinity { negative: b }) => Some(if a == b {
                Infinity { negative: a }
            } else {
                NaN
            }),
            (Infinity { negative }, _) | (_, Infinity { negative }) => Some(Infinity { negative }),
            (
                Finite {
                    negative: n1,
                    coefficient: c1,
                    exponent: e1,
                },
                Finite {
                    negative: n2,
                    coefficient: c2,
                    exponent: e2,
                },
            ) => {
                let exponent = e1.min(e2);
                let c1 = scale_up(c1, e1 - exponent)?;
                let c2 = scale_up(c2, e2 - exponent)?;
                let (negative, coefficient) = if n1 == n2 {
                    (n1, c1.checked_add(c2)?)
                } else {
                    match c1.cmp(&c2) {
                        Ordering::Greater => (n1, c1 - c2),
                        Ordering::Less => (n2, c2 - c1),
                        Ordering::Equal => (false, 0),
                    }
                };
                Some(round_to_precision(negative, coefficient, exponent))
            }
        }
    }

    fn multiply(&self, other: &DecimalValue) -> Option<DecimalValue> {
        use DecimalValue::*;
        let is_zero = |d: &DecimalValue| matches!(d, Finite { coefficient: 0, .. });
        match (*self, *other) {
            (NaN, _) | (_, NaN) => Some(NaN),
            (Infinity { .. }, x) | (x, Infinity { .. }) if is_zero(&x) => Some(NaN),
            (Infinity { negative: a }, b) | (b, Infinity { negative: a }) => {
                let b_negative = match b {
                    Finite { negative, .. } | Infinity { negative } => negative,
                    NaN => false,
                };
                Some(Infinity {
                    negative: a != b_negative,
                })
            }
            (
                Finite {
                    negative: n1,
                    coefficient: c1,
                    exponent: e1,
                },
                Finite {
                    negative: n2,
                    coefficient: c2,
                    exponent: e2,
                },
            ) => {
                let coefficient = c1.checked_mul(c2)?;
                Some(round_to_precision(
                    n1 != n2 && coefficient != 0,
                    coefficient,
                    e1.checked_add(e2)?,
                ))
            }
        }
    }

    fn to_bson(self) -> Option<Decimal128> {
        let text = match self {
            DecimalValue::NaN => "NaN".to_string(),
            DecimalValue::Infinity { negative } => {
                format!("{}Infinity", if negative { "-" } else { "" })
            }
            DecimalValue::Finite {
                negative,
                coefficient,
                exponent,
            } => format!(
                "{}{}E{}",
                if negative { "-" } else { "" },
                coefficient,
                exponent
            ),
        };
        text.parse::<Decimal128>().ok()
    }
}

fn scale_up(coefficient: u128, digits: i32) -> Option<u128> {
    let digits = u32::try_from(digits).ok()?;
    coefficient.checked_mul(10u128.checked_pow(digits)?)
}

fn digit_count(mut c: u128) -> u32 {
    let mut n = 0;
    while c > 0 {
        c /= 10;
        n += 1;
    }
    n
}

/// Rounds a coefficient to 34 digits, half to even, as IEEE 754 decimal arithmetic does.
fn round_to_precision(negative: bool, mut coefficient: u128, mut exponent: i32) -> DecimalValue {
    let excess = digit_count(coefficient).saturating_sub(MAX_DECIMAL_DIGITS);
    if excess > 0 {
        let divisor = 10u128.pow(excess);
        let remainder = coefficient % divisor;
        coefficient /= divisor;
        exponent = exponent.saturating_add(i32::try_from(excess).unwrap_or(i32::MAX));
        let half = divisor / 2;
        if remainder > half || (remainder == half && coefficient % 2 == 1) {
            coefficient += 1;
            // 999...9 rounded up gains a digit.
            if digit_count(coefficient) > MAX_DECIMAL_DIGITS {
                coefficient /= 10;
                exponent = exponent.saturating_add(1);
            }
        }
    }
    DecimalValue::Finite {
        negative,
        coefficient,
        exponent,
    }
}
