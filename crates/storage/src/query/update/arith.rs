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
                let a = digits_with_zeros(c1, e1.checked_sub(exponent)?)?;
                let b = digits_with_zeros(c2, e2.checked_sub(exponent)?)?;
                let (negative, digits) = if n1 == n2 {
                    (n1, add_digits(&a, &b))
                } else {
                    match compare_digits(&a, &b) {
                        Ordering::Greater => (n1, subtract_digits(&a, &b)),
                        Ordering::Less => (n2, subtract_digits(&b, &a)),
                        Ordering::Equal => (false, vec![0]),
                    }
                };
                round_to_precision(negative, digits, exponent)
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
                let digits = multiply_digits(&digits_of(c1), &digits_of(c2));
                let negative = n1 != n2 && digits.iter().any(|d| *d != 0);
                round_to_precision(negative, digits, e1.checked_add(e2)?)
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

/// Decimal exponents stay within decimal128's range (about ±6176), so aligning two
/// coefficients never needs more digits than this.
const MAX_ALIGNMENT_DIGITS: i32 = 20_000;

/// The decimal digits of a coefficient, most significant first.
fn digits_of(coefficient: u128) -> Vec<u8> {
    coefficient.to_string().bytes().map(|b| b - b'0').collect()
}

/// The digits of `coefficient * 10^zeros`.
fn digits_with_zeros(coefficient: u128, zeros: i32) -> Option<Vec<u8>> {
    if !(0..=MAX_ALIGNMENT_DIGITS).contains(&zeros) {
        return None;
    }
    let mut digits = digits_of(coefficient);
    digits.resize(digits.len() + usize::try_from(zeros).ok()?, 0);
    Some(digits)
}

fn strip_leading_zeros(digits: &[u8]) -> &[u8] {
    let first = digits.iter().position(|d| *d != 0).unwrap_or(digits.len());
    digits.get(first..).unwrap_or_default()
}

fn compare_digits(a: &[u8], b: &[u8]) -> Ordering {
    let (a, b) = (strip_leading_zeros(a), strip_leading_zeros(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn add_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let mut carry = 0u8;
    let (mut ia, mut ib) = (a.iter().rev(), b.iter().rev());
    loop {
        let (x, y) = (ia.next(), ib.next());
        if x.is_none() && y.is_none() {
            break;
        }
        let sum = x.copied().unwrap_or(0) + y.copied().unwrap_or(0) + carry;
        out.push(sum % 10);
        carry = sum / 10;
    }
    if carry > 0 {
        out.push(carry);
    }
    out.reverse();
    out
}

/// `a - b` for `a >= b`.
fn subtract_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let mut borrow = 0u8;
    let mut ib = b.iter().rev();
    for x in a.iter().rev() {
        let y = ib.next().copied().unwrap_or(0) + borrow;
        if *x >= y {
            out.push(x - y);
            borrow = 0;
        } else {
            out.push(x + 10 - y);
            borrow = 1;
        }
    }
    out.reverse();
    out
}

fn multiply_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    // Little-endian accumulation; each cell stays far below u32::MAX for 34-digit operands.
    let mut cells = vec![0u32; a.len() + b.len()];
    for (i, x) in a.iter().rev().enumerate() {
        for (j, y) in b.iter().rev().enumerate() {
            if let Some(cell) = cells.get_mut(i + j) {
                *cell += u32::from(*x) * u32::from(*y);
            }
        }
    }
    let mut carry = 0u32;
    let mut out = Vec::with_capacity(cells.len());
    for cell in cells {
        let v = cell + carry;
        out.push(u8::try_from(v % 10).unwrap_or(0));
        carry = v / 10;
    }
    while carry > 0 {
        out.push(u8::try_from(carry % 10).unwrap_or(0));
        carry /= 10;
    }
    out.reverse();
    out
}

/// Rounds a digit string to 34 digits, half to even, as IEEE 754 decimal arithmetic does.
fn round_to_precision(negative: bool, digits: Vec<u8>, mut exponent: i32) -> Option<DecimalValue> {
    let digits = strip_leading_zeros(&digits);
    let max = usize::try_from(MAX_DECIMAL_DIGITS).ok()?;
    let mut kept: Vec<u8> = digits.iter().take(max).copied().collect();
    if digits.len() > max {
        let discarded = digits.get(max..).unwrap_or_default();
        exponent = exponent.checked_add(i32::try_from(discarded.len()).ok()?)?;
        let first = discarded.first().copied().unwrap_or(0);
        let rest_nonzero = discarded.iter().skip(1).any(|d| *d != 0);
        let last_odd = kept.last().is_some_and(|d| d % 2 == 1);
        if first > 5 || (first == 5 && (rest_nonzero || last_odd)) {
            kept = add_digits(&kept, &[1]);
            if kept.len() > max {
                // 999...9 rounded up to 1000...0: drop a zero.
                kept.pop();
                exponent = exponent.checked_add(1)?;
            }
        }
    }
    let coefficient = kept.iter().fold(0u128, |acc, d| acc * 10 + u128::from(*d));
    Some(DecimalValue::Finite {
        negative,
        coefficient,
        exponent,
    })
}
