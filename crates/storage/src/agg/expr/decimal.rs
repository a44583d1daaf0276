//! Decimal128 arithmetic for expressions.
//!
//! Addition, subtraction, multiplication, division and remainder are exact (correctly rounded
//! to 34 digits, half to even) while the aligned coefficients fit in a u128; beyond that, and
//! for transcendental functions (`$sqrt`, `$ln`, `$pow`, ...), the value is computed through
//! f64 and converted back, so it carries only about 17 significant digits.

use bson::Decimal128;

const EXPONENT_BIAS: i32 = 6176;
const MIN_EXPONENT: i32 = -6176;
const MAX_EXPONENT: i32 = 6111;
const MAX_DIGITS: u32 = 34;
const TEN_TO_34: u128 = 10_000_000_000_000_000_000_000_000_000_000_000;

/// A decimal128 value taken apart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Dec128 {
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

/// How to round away digits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Rounding {
    HalfEven,
    TowardZero,
    Floor,
    Ceiling,
}

fn digits(mut c: u128) -> u32 {
    let mut n = 0;
    while c > 0 {
        c /= 10;
        n += 1;
    }
    n
}

fn pow10(n: u32) -> Option<u128> {
    10u128.checked_pow(n)
}

/// Divides `c` by `10^n`, rounding as asked given the sign.
fn shift_right(c: u128, n: u32, negative: bool, rounding: Rounding) -> u128 {
    let Some(divisor) = pow10(n) else {
        // Everything is rounded away.
        return match rounding {
            Rounding::Ceiling if !negative && c > 0 => 1,
            Rounding::Floor if negative && c > 0 => 1,
            _ => 0,
        };
    };
    let (q, r) = (c / divisor, c % divisor);
    if r == 0 {
        return q;
    }
    let up = match rounding {
        Rounding::TowardZero => false,
        Rounding::Floor => negative,
        Rounding::Ceiling => !negative,
        Rounding::HalfEven => {
            let half = divisor / 2;
            r > half || (r == half && q % 2 == 1)
        }
    };
    if up {
        q + 1
    } else {
        q
    }
}

impl Dec128 {
    pub(super) fn zero() -> Dec128 {
        Dec128::Finite {
            negative: false,
            coefficient: 0,
            exponent: 0,
        }
    }

    pub(super) fn decode(d: &Decimal128) -> Dec128 {
        let bits = u128::from_le_bytes(d.bytes());
        let negative = bits >> 127 == 1;
        let combination = (bits >> 122) & 0x1f;
        if combination == 0x1f {
            return Dec128::NaN;
        }
        if combination == 0x1e {
            return Dec128::Infinity { negative };
        }
        let (exponent_bits, coefficient) = if (bits >> 125) & 0b11 == 0b11 {
            // The "large coefficient" form always exceeds 10^34 - 1: non-canonical, read as 0.
            ((bits >> 111) & 0x3fff, 0)
        } else {
            let c = bits & ((1u128 << 113) - 1);
            ((bits >> 113) & 0x3fff, if c >= TEN_TO_34 { 0 } else { c })
        };
        let exponent = i32::try_from(exponent_bits).unwrap_or(0) - EXPONENT_BIAS;
        Dec128::Finite {
            negative,
            coefficient,
            exponent,
        }
    }

    /// Encodes, rounding the coefficient to 34 digits and the exponent into range.
    pub(super) fn encode(self) -> Decimal128 {
        let bits: u128 = match self.normalize() {
            Dec128::NaN => 0x7c00u128 << 112,
            Dec128::Infinity { negative } => (u128::from(negative) << 127) | (0x7800u128 << 112),
            Dec128::Finite {
                negative,
                coefficient,
                exponent,
            } => {
                let biased = u128::try_from(exponent + EXPONENT_BIAS).unwrap_or(0);
                (u128::from(negative) << 127) | (biased << 113) | coefficient
            }
        };
        Decimal128::from_bytes(bits.to_le_bytes())
    }

    /// Brings a finite value within decimal128's coefficient and exponent ranges.
    fn normalize(self) -> Dec128 {
        let Dec128::Finite {
            negative,
            mut coefficient,
            mut exponent,
        } = self
        else {
            return self;
        };
        let n = digits(coefficient);
        if n > MAX_DIGITS {
            let drop = n - MAX_DIGITS;
            coefficient = shift_right(coefficient, drop, negative, Rounding::HalfEven);
            exponent = exponent.saturating_add(i32::try_from(drop).unwrap_or(0));
            if coefficient >= TEN_TO_34 {
                coefficient /= 10;
                exponent = exponent.saturating_add(1);
            }
        }
        if exponent < MIN_EXPONENT {
            let drop = u32::try_from(MIN_EXPONENT - exponent).unwrap_or(u32::MAX);
            coefficient = shift_right(coefficient, drop, negative, Rounding::HalfEven);
            exponent = MIN_EXPONENT;
        }
        while exponent > MAX_EXPONENT {
            if coefficient == 0 {
                exponent = MAX_EXPONENT;
                break;
            }
            if coefficient.saturating_mul(10) >= TEN_TO_34 {
                return Dec128::Infinity { negative };
            }
            coefficient *= 10;
            exponent -= 1;
        }
        Dec128::Finite {
            negative,
            coefficient,
            exponent,
        }
    }

    pub(super) fn from_i64(i: i64) -> Dec128 {
        Dec128::Finite {
            negative: i < 0,
            coefficient: u128::from(i.unsigned_abs()),
            exponent: 0,
        }
    }

    /// A double rounded to 15 significant digits, as MongoDB converts doubles to decimals.
    pub(super) fn from_f64_15_digits(f: f64) -> Dec128 {
        Dec128::from_f64_formatted(f, Some(14))
    }

    /// A double rounded to 34 significant digits (nearly its exact binary value).
    pub(super) fn from_f64_34_digits(f: f64) -> Dec128 {
        match Dec128::from_f64_formatted(f, Some(33)) {
            Dec128::Finite {
                negative,
                mut coefficient,
                mut exponent,
            } => {
                while coefficient != 0 && coefficient % 10 == 0 {
                    coefficient /= 10;
                    exponent += 1;
                }
                Dec128::Finite {
                    negative,
                    coefficient,
                    exponent,
                }
            }
            other => other,
        }
    }

    /// A double as its shortest round-trip decimal form (for results computed through f64).
    pub(super) fn from_f64_shortest(f: f64) -> Dec128 {
        Dec128::from_f64_formatted(f, None)
    }

    fn from_f64_formatted(f: f64, precision: Option<usize>) -> Dec128 {
        if f.is_nan() {
            return Dec128::NaN;
        }
        if f.is_infinite() {
            return Dec128::Infinity { negative: f < 0.0 };
        }
        if f == 0.0 {
            return Dec128::Finite {
                negative: f.is_sign_negative(),
                coefficient: 0,
                exponent: 0,
            };
        }
        let text = match precision {
            Some(p) => format!("{:.*e}", p, f.abs()),
            None => format!("{:e}", f.abs()),
        };
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let fraction_digits = mantissa.split_once('.').map_or(0, |(_, frac)| frac.len());
        let digits_only: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
        let coefficient: u128 = digits_only.parse().unwrap_or(0);
        Dec128::Finite {
            negative: f < 0.0,
            coefficient,
            exponent: exp - i32::try_from(fraction_digits).unwrap_or(0),
        }
    }

    pub(super) fn to_f64(self) -> f64 {
        match self {
            Dec128::NaN => f64::NAN,
            Dec128::Infinity { negative: true } => f64::NEG_INFINITY,
            Dec128::Infinity { negative: false } => f64::INFINITY,
            Dec128::Finite {
                negative,
                coefficient,
                exponent,
            } => format!(
                "{}{}e{}",
                if negative { "-" } else { "" },
                coefficient,
                exponent
            )
            .parse()
            .unwrap_or(f64::NAN),
        }
    }

    pub(super) fn is_zero(self) -> bool {
        matches!(self, Dec128::Finite { coefficient: 0, .. })
    }

    pub(super) fn is_nan(self) -> bool {
        matches!(self, Dec128::NaN)
    }

    pub(super) fn is_negative(self) -> bool {
        match self {
            Dec128::Finite {
                negative,
                coefficient,
                ..
            } => negative && coefficient > 0,
            Dec128::Infinity { negative } => negative,
            Dec128::NaN => false,
        }
    }

    pub(super) fn negate(self) -> Dec128 {
        match self {
            Dec128::Finite {
                negative,
                coefficient,
                exponent,
            } => Dec128::Finite {
                negative: !negative,
                coefficient,
                exponent,
            },
            Dec128::Infinity { negative } => Dec128::Infinity {
                negative: !negative,
            },
            Dec128::NaN => Dec128::NaN,
        }
    }

    pub(super) fn abs(self) -> Dec128 {
        if self.is_negative() {
            self.negate()
        } else {
            match self {
                Dec128::Finite {
                    coefficient,
                    exponent,
                    ..
                } => Dec128::Finite {
                    negative: false,
                    coefficient,
                    exponent,
                },
                other => other,
            }
        }
    }

    pub(super) fn add(self, other: Dec128) -> Dec128 {
        match (self, other) {
            (Dec128::NaN, _) | (_, Dec128::NaN) => Dec128::NaN,
            (Dec128::Infinity { negative: a }, Dec128::Infinity { negative: b }) => {
                if a == b {
                    self
                } else {
                    Dec128::NaN
                }
            }
            (Dec128::Infinity { .. }, _) => self,
            (_, Dec128::Infinity { .. }) => other,
            (
                Dec128::Finite {
                    negative: n1,
                    coefficient: c1,
                    exponent: e1,
                },
                Dec128::Finite {
                    negative: n2,
                    coefficient: c2,
                    exponent: e2,
                },
            ) => {
                let exponent = e1.min(e2);
                let a = align(c1, e1 - exponent);
                let b = align(c2, e2 - exponent);
                let (Some(a), Some(b)) = (a, b) else {
                    return Dec128::from_f64_shortest(self.to_f64() + other.to_f64());
                };
                if n1 == n2 {
                    match a.checked_add(b) {
                        Some(sum) => Dec128::Finite {
                            negative: n1,
                            coefficient: sum,
                            exponent,
                        }
                        .normalize(),
                        None => Dec128::from_f64_shortest(self.to_f64() + other.to_f64()),
                    }
                } else if a >= b {
                    Dec128::Finite {
                        negative: n1 && a != b,
                        coefficient: a - b,
                        exponent,
                    }
                    .normalize()
                } else {
                    Dec128::Finite {
                        negative: n2,
                        coefficient: b - a,
                        exponent,
                    }
                    .normalize()
                }
            }
        }
    }

    pub(super) fn sub(self, other: Dec128) -> Dec128 {
        self.add(other.negate())
    }

    pub(super) fn mul(self, other: Dec128) -> Dec128 {
        let negative = self.is_negative_sign() != other.is_negative_sign();
        match (self, other) {
            (Dec128::NaN, _) | (_, Dec128::NaN) => Dec128::NaN,
            (Dec128::Infinity { .. }, x) | (x, Dec128::Infinity { .. }) => {
                if x.is_zero() {
                    Dec128::NaN
                } else {
                    Dec128::Infinity { negative }
                }
            }
            (
                Dec128::Finite {
                    coefficient: c1,
                    exponent: e1,
                    ..
                },
                Dec128::Finite {
                    coefficient: c2,
                    exponent: e2,
                    ..
                },
            ) => match c1.checked_mul(c2) {
                Some(product) => Dec128::Finite {
                    negative,
                    coefficient: product,
                    exponent: e1.saturating_add(e2),
                }
                .normalize(),
                None => Dec128::from_f64_shortest(self.to_f64() * other.to_f64()),
            },
        }
    }

    fn is_negative_sign(self) -> bool {
        match self {
            Dec128::Finite { negative, .. } | Dec128::Infinity { negative } => negative,
            Dec128::NaN => false,
        }
    }

    /// Division correctly rounded to 34 digits; the caller has refused a zero divisor.
    pub(super) fn div(self, other: Dec128) -> Dec128 {
        let negative = self.is_negative_sign() != other.is_negative_sign();
        match (self, other) {
            (Dec128::NaN, _) | (_, Dec128::NaN) => Dec128::NaN,
            (Dec128::Infinity { .. }, Dec128::Infinity { .. }) => Dec128::NaN,
            (Dec128::Infinity { .. }, _) => Dec128::Infinity { negative },
            (_, Dec128::Infinity { .. }) => Dec128::Finite {
                negative,
                coefficient: 0,
                exponent: 0,
            },
            (
                Dec128::Finite {
                    coefficient: c1,
                    exponent: e1,
                    ..
                },
                Dec128::Finite {
                    coefficient: c2,
                    exponent: e2,
                    ..
                },
            ) => {
                if c2 == 0 {
                    return if c1 == 0 {
                        Dec128::NaN
                    } else {
                        Dec128::Infinity { negative }
                    };
                }
                let mut exponent = e1 - e2;
                let mut q = c1 / c2;
                let mut r = c1 % c2;
                while r != 0 && digits(q) < MAX_DIGITS + 1 {
                    // r < c2 < 10^34, so r * 10 fits.
                    r *= 10;
                    q = q * 10 + r / c2;
                    r %= c2;
                    exponent -= 1;
                }
                // One guard digit is kept in q; the remainder breaks ties.
                if digits(q) > MAX_DIGITS {
                    let last = q % 10;
                    q /= 10;
                    exponent += 1;
                    let up = last > 5 || (last == 5 && (r != 0 || q % 2 == 1));
                    if up {
                        q += 1;
                    }
                } else if r != 0 {
                    let twice = r * 2;
                    if twice > c2 || (twice == c2 && q % 2 == 1) {
                        q += 1;
                    }
                }
                Dec128::Finite {
                    negative,
                    coefficient: q,
                    exponent,
                }
                .normalize()
            }
        }
    }

    /// The remainder of truncated division (sign of the dividend), as `fmod`.
    pub(super) fn rem(self, other: Dec128) -> Dec128 {
        match (self, other) {
            (
                Dec128::Finite {
                    negative,
                    coefficient: c1,
                    exponent: e1,
                },
                Dec128::Finite {
                    coefficient: c2,
                    exponent: e2,
                    ..
                },
            ) if c2 != 0 => {
                let exponent = e1.min(e2);
                match (align(c1, e1 - exponent), align(c2, e2 - exponent)) {
                    (Some(a), Some(b)) => Dec128::Finite {
                        negative,
                        coefficient: a % b,
                        exponent,
                    }
                    .normalize(),
                    _ => Dec128::from_f64_shortest(self.to_f64() % other.to_f64()),
                }
            }
            (Dec128::Finite { .. }, Dec128::Infinity { .. }) => self,
            _ => Dec128::NaN,
        }
    }

    /// Rounds to `place` decimal places (negative: to the left of the point).
    pub(super) fn round_to_place(self, place: i32, rounding: Rounding) -> Dec128 {
        let Dec128::Finite {
            negative,
            coefficient,
            exponent,
        } = self
        else {
            return self;
        };
        let target = -place;
        if exponent >= target {
            return self;
        }
        let drop = u32::try_from(target - exponent).unwrap_or(u32::MAX);
        let c = shift_right(coefficient, drop, negative, rounding);
        Dec128::Finite {
            negative: negative && c != 0,
            coefficient: c,
            exponent: target,
        }
        .normalize()
    }

    /// The value as an i64 if it is integral and in range.
    pub(super) fn to_i64_exact(self) -> Option<i64> {
        let Dec128::Finite {
            negative,
            coefficient,
            exponent,
        } = self
        else {
            return None;
        };
        let magnitude = if exponent >= 0 {
            coefficient.checked_mul(pow10(u32::try_from(exponent).ok()?)?)?
        } else {
            let divisor = pow10(u32::try_from(-exponent).ok()?).unwrap_or(u128::MAX);
            if coefficient % divisor != 0 {
                return None;
            }
            coefficient / divisor
        };
        let signed = i128::try_from(magnitude).ok()?;
        i64::try_from(if negative { -signed } else { signed }).ok()
    }
}

fn align(c: u128, shift: i32) -> Option<u128> {
    c.checked_mul(pow10(u32::try_from(shift).ok()?)?)
}

pub(super) fn decode(d: &Decimal128) -> Dec128 {
    Dec128::decode(d)
}
