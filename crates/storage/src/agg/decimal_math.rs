//! The little decimal128 arithmetic the accumulators need: addition (for `$sum`/`$avg` over
//! decimal inputs) and division by a count (for `$avg`), rounded to 34 digits half-to-even as
//! IEEE 754-2008 decimal128 does. Values go in and out through `bson::Decimal128`'s strings.

use bson::{Bson, Decimal128};

const TEN_POW_34: i128 = 10_000_000_000_000_000_000_000_000_000_000_000;
const TEN_POW_37: i128 = 10_000_000_000_000_000_000_000_000_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum DecimalValue {
    /// `coefficient * 10^exponent`; the coefficient carries the sign.
    Finite {
        coefficient: i128,
        exponent: i32,
        negative_zero: bool,
    },
    Infinity {
        negative: bool,
    },
    NaN,
}

impl DecimalValue {
    pub(crate) fn zero() -> DecimalValue {
        DecimalValue::Finite {
            coefficient: 0,
            exponent: 0,
            negative_zero: false,
        }
    }

    pub(crate) fn from_i64(i: i64) -> DecimalValue {
        DecimalValue::Finite {
            coefficient: i128::from(i),
            exponent: 0,
            negative_zero: false,
        }
    }

    /// A double as MongoDB converts it (`Decimal128(double)`: 15 significant digits).
    pub(crate) fn from_f64(d: f64) -> DecimalValue {
        if d.is_nan() {
            return DecimalValue::NaN;
        }
        if d.is_infinite() {
            return DecimalValue::Infinity { negative: d < 0.0 };
        }
        DecimalValue::parse(&format!("{d:.14e}")).unwrap_or(DecimalValue::NaN)
    }

    pub(crate) fn from_bson(d: &Decimal128) -> DecimalValue {
        DecimalValue::parse(&d.to_string()).unwrap_or(DecimalValue::NaN)
    }

    /// Parses the strings `Decimal128` prints and `format!("{:e}")` produces.
    fn parse(s: &str) -> Option<DecimalValue> {
        let (negative, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        match body.to_ascii_lowercase().as_str() {
            "nan" => return Some(DecimalValue::NaN),
            "infinity" | "inf" => return Some(DecimalValue::Infinity { negative }),
            _ => {}
        }
        let (mantissa, exponent_text) = match body.split_once(['e', 'E']) {
            Some((m, e)) => (m, e),
            None => (body, "0"),
        };
        let mut exponent: i32 = exponent_text.parse().ok()?;
        let digits: String = match mantissa.split_once('.') {
            Some((int_part, frac_part)) => {
                exponent -= i32::try_from(frac_part.len()).ok()?;
                format!("{int_part}{frac_part}")
            }
            None => mantissa.to_string(),
        };
        let magnitude: i128 = digits.parse().ok()?;
        let coefficient = if negative { -magnitude } else { magnitude };
        Some(DecimalValue::Finite {
            coefficient,
            exponent,
            negative_zero: negative && magnitude == 0,
        })
    }

    pub(crate) fn add(self, other: DecimalValue) -> DecimalValue {
        match (self, other) {
            (DecimalValue::NaN, _) | (_, DecimalValue::NaN) => DecimalValue::NaN,
            (DecimalValue::Infinity { negative: a }, DecimalValue::Infinity { negative: b }) => {
                if a == b {
                    DecimalValue::Infinity { negative: a }
                } else {
                    DecimalValue::NaN
                }
            }
            (inf @ DecimalValue::Infinity { .. }, _) | (_, inf @ DecimalValue::Infinity { .. }) => {
                inf
            }
            (
                DecimalValue::Finite {
                    coefficient: ca,
                    exponent: ea,
                    negative_zero: za,
                },
                DecimalValue::Finite {
                    coefficient: cb,
                    exponent: eb,
                    negative_zero: zb,
                },
            ) => {
                // Align on the smaller exponent as far as the coefficient allows; round the
                // remaining difference away from the operand with the smaller exponent.
                let ((mut high, high_exp), (low, low_exp)) = if ea >= eb {
                    ((ca, ea), (cb, eb))
                } else {
                    ((cb, eb), (ca, ea))
                };
                let mut difference = high_exp - low_exp;
                let mut exponent = high_exp;
                while difference > 0 && high.abs() < TEN_POW_37 / 10 {
                    high *= 10;
                    exponent -= 1;
                    difference -= 1;
                }
                let low_scaled = divide_pow10_rounding(low, difference);
                let sum = high + low_scaled;
                normalize(sum, exponent, false, za && zb)
            }
        }
    }

    /// Division by a positive count, as `$avg` does.
    pub(crate) fn divide_by_count(self, count: i64) -> DecimalValue {
        let DecimalValue::Finite {
            coefficient,
            exponent,
            ..
        } = self
        else {
            return self;
        };
        if count <= 0 {
            return DecimalValue::NaN;
        }
        let divisor = i128::from(count);
        let mut scaled = coefficient;
        let mut scaled_exponent = exponent;
        while scaled.abs() < TEN_POW_37 && scaled != 0 {
            scaled *= 10;
            scaled_exponent -= 1;
        }
        let quotient = scaled / divisor;
        let remainder = scaled % divisor;
        let mut result = normalize(quotient, scaled_exponent, remainder != 0, false);
        if remainder == 0 {
            // Exact: drop trailing zeros down to the preferred exponent (the dividend's).
            if let DecimalValue::Finite {
                coefficient: ref mut c,
                exponent: ref mut e,
                ..
            } = result
            {
                while *e < exponent && *c != 0 && *c % 10 == 0 {
                    *c /= 10;
                    *e += 1;
                }
                if *c == 0 {
                    *e = exponent;
                }
            }
        }
        result
    }

    pub(crate) fn to_bson(self) -> Bson {
        let text = match self {
            DecimalValue::NaN => "NaN".to_string(),
            DecimalValue::Infinity { negative: true } => "-Infinity".to_string(),
            DecimalValue::Infinity { negative: false } => "Infinity".to_string(),
            DecimalValue::Finite {
                coefficient,
                exponent,
                negative_zero,
            } => {
                let sign = if coefficient < 0 || (coefficient == 0 && negative_zero) {
                    "-"
                } else {
                    ""
                };
                format!("{sign}{}E{exponent}", coefficient.unsigned_abs())
            }
        };
        let parsed = text.parse::<Decimal128>().or_else(|_| {
            // Out of decimal128's exponent range: overflow to infinity, underflow to zero.
            let fallback = match self {
                DecimalValue::Finite {
                    coefficient,
                    exponent,
                    ..
                } if exponent > 0 => {
                    if coefficient < 0 {
                        "-Infinity"
                    } else {
                        "Infinity"
                    }
                }
                _ => "0",
            };
            fallback.parse::<Decimal128>()
        });
        match parsed {
            Ok(d) => Bson::Decimal128(d),
            Err(_) => Bson::Null,
        }
    }
}

/// `value / 10^power`, rounded half to even.
fn divide_pow10_rounding(value: i128, power: i32) -> i128 {
    if power <= 0 {
        return value;
    }
    if power > 38 {
        return 0;
    }
    let divisor = 10i128.pow(power.unsigned_abs());
    round_half_even(value / divisor, value % divisor, divisor, false)
}

/// Rounds `q` (the truncated quotient) given remainder `r` of the division by `divisor`.
fn round_half_even(q: i128, r: i128, divisor: i128, sticky: bool) -> i128 {
    let twice = r.abs() * 2;
    let away = if twice > divisor || (twice == divisor && sticky) {
        true
    } else if twice == divisor {
        q % 2 != 0
    } else {
        false
    };
    if away {
        if r < 0 || (r == 0 && q < 0) {
            q - 1
        } else {
            q + 1
        }
    } else {
        q
    }
}

/// Rounds a coefficient to at most 34 digits, adjusting the exponent. `sticky` says that
/// nonzero digits were already discarded below the coefficient.
fn normalize(
    mut coefficient: i128,
    mut exponent: i32,
    mut sticky: bool,
    negative_zero: bool,
) -> DecimalValue {
    while coefficient.abs() >= TEN_POW_34 {
        let q = coefficient / 10;
        let r = coefficient % 10;
        if coefficient.abs() >= TEN_POW_34 * 10 {
            if r != 0 {
                sticky = true;
            }
            coefficient = q;
        } else {
            coefficient = round_half_even(q, r, 10, sticky);
            sticky = false;
        }
        exponent += 1;
    }
    DecimalValue::Finite {
        coefficient,
        exponent,
        negative_zero: negative_zero && coefficient == 0,
    }
}
