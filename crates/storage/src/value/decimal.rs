//! Decimal128 values taken apart for exact comparison.
//!
//! The `bson` crate stores Decimal128 as 16 opaque bytes; comparison by value needs the sign,
//! coefficient and exponent of IEEE 754-2008's BID encoding.

use std::cmp::Ordering;

use bson::Decimal128;

const EXPONENT_BIAS: i32 = 6176;
const MAX_COEFFICIENT: u128 = 9_999_999_999_999_999_999_999_999_999_999; // 10^34 - 1

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Finite { coefficient: u128, exponent: i32 },
    Infinity,
    NaN,
}

/// A decimal128 value: `(-1)^negative * coefficient * 10^exponent`, or infinity, or NaN.
#[derive(Debug, Clone, Copy)]
pub struct Dec {
    negative: bool,
    kind: Kind,
}

impl Dec {
    pub fn from_bson(d: &Decimal128) -> Dec {
        let bits = u128::from_le_bytes(d.bytes());
        let negative = bits >> 127 == 1;
        let combination = (bits >> 122) & 0x1f;
        let kind = if combination == 0x1f {
            Kind::NaN
        } else if combination == 0x1e {
            Kind::Infinity
        } else if (bits >> 125) & 0b11 == 0b11 {
            // The "large coefficient" form always exceeds 10^34 - 1: non-canonical, read as 0.
            let exponent = ((bits >> 111) & 0x3fff) as i32 - EXPONENT_BIAS;
            Kind::Finite {
                coefficient: 0,
                exponent,
            }
        } else {
            let exponent = ((bits >> 113) & 0x3fff) as i32 - EXPONENT_BIAS;
            let mut coefficient = bits & ((1u128 << 113) - 1);
            if coefficient > MAX_COEFFICIENT {
                coefficient = 0;
            }
            Kind::Finite {
                coefficient,
                exponent,
            }
        };
        Dec { negative, kind }
    }

    pub fn from_i64(i: i64) -> Dec {
        Dec {
            negative: i < 0,
            kind: Kind::Finite {
                coefficient: u128::from(i.unsigned_abs()),
                exponent: 0,
            },
        }
    }

    pub fn is_nan(&self) -> bool {
        self.kind == Kind::NaN
    }

    pub fn is_zero(&self) -> bool {
        matches!(self.kind, Kind::Finite { coefficient: 0, .. })
    }

    /// The nearest double, through the decimal string (which rounds correctly).
    pub fn to_f64(&self) -> f64 {
        match self.kind {
            Kind::NaN => f64::NAN,
            Kind::Infinity if self.negative => f64::NEG_INFINITY,
            Kind::Infinity => f64::INFINITY,
            Kind::Finite {
                coefficient,
                exponent,
            } => {
                let s = format!(
                    "{}{}e{}",
                    if self.negative { "-" } else { "" },
                    coefficient,
                    exponent
                );
                s.parse::<f64>().unwrap_or(f64::NAN)
            }
        }
    }

    /// Compares with a double: exactly for integral doubles within i64's range, otherwise by
    /// this decimal's nearest double.
    pub fn cmp_f64(&self, d: f64) -> Ordering {
        if d.is_nan() {
            return if self.is_nan() {
                Ordering::Equal
            } else {
                Ordering::Greater
            };
        }
        if d.fract() == 0.0 && d.abs() < 9.0e18 {
            return self.cmp(&Dec::from_i64(d as i64));
        }
        if d.is_infinite() {
            return self.cmp(&Dec {
                negative: d < 0.0,
                kind: Kind::Infinity,
            });
        }
        self.to_f64().partial_cmp(&d).unwrap_or(Ordering::Equal)
    }

    /// The nearest 64-bit integer, ties to even, saturating at `i64::MIN`/`i64::MAX`; NaN is 0.
    /// This is mongod's `safeNumberLong` of a decimal (`Decimal128::toLong` rounds ties to
    /// even).
    pub fn to_i64_saturating(&self) -> i64 {
        let (coefficient, exponent) = match self.kind {
            Kind::NaN => return 0,
            Kind::Infinity if self.negative => return i64::MIN,
            Kind::Infinity => return i64::MAX,
            Kind::Finite {
                coefficient,
                exponent,
            } => (coefficient, exponent),
        };
        // The magnitude, rounded, as a u128 (saturated well above i64's range).
        let magnitude: u128 = if coefficient == 0 {
            0
        } else if exponent >= 0 {
            // 10^19 exceeds i64::MAX, so any larger scale saturates.
            u32::try_from(exponent)
                .ok()
                .filter(|e| *e <= 19)
                .and_then(|e| coefficient.checked_mul(10u128.pow(e)))
                .unwrap_or(u128::MAX)
        } else {
            let shift = exponent.unsigned_abs();
            if shift > 38 {
                // coefficient < 10^34 < 0.5 * 10^38: rounds to zero.
                0
            } else {
                let divisor = 10u128.pow(shift);
                let (quotient, remainder) = (coefficient / divisor, coefficient % divisor);
                let twice = remainder * 2;
                if twice > divisor || (twice == divisor && quotient % 2 == 1) {
                    quotient + 1
                } else {
                    quotient
                }
            }
        };
        if self.negative {
            if magnitude >= 1u128 << 63 {
                i64::MIN
            } else {
                // Below 2^63, so it fits.
                -(i64::try_from(magnitude).unwrap_or(i64::MAX))
            }
        } else {
            i64::try_from(magnitude).unwrap_or(i64::MAX)
        }
    }

    /// The sign as -1, 0 or 1 (NaN counts as 0).
    fn signum(&self) -> i8 {
        match self.kind {
            Kind::NaN => 0,
            Kind::Finite { coefficient: 0, .. } => 0,
            _ if self.negative => -1,
            _ => 1,
        }
    }
}

fn digits(mut c: u128) -> i32 {
    let mut n = 0;
    while c > 0 {
        c /= 10;
        n += 1;
    }
    n
}

/// Compares the magnitudes of two finite, non-zero decimals.
fn compare_magnitude(c1: u128, e1: i32, c2: u128, e2: i32) -> Ordering {
    let (d1, d2) = (digits(c1), digits(c2));
    match (d1 + e1).cmp(&(d2 + e2)) {
        Ordering::Equal => {}
        ord => return ord,
    }
    // Same order of magnitude: scale the one with the larger exponent down to the other's
    // exponent. The scaled coefficient has as many digits as the other one (at most 34), so
    // it fits in a u128.
    if e1 >= e2 {
        let scaled = c1 * 10u128.pow((e1 - e2) as u32);
        scaled.cmp(&c2)
    } else {
        let scaled = c2 * 10u128.pow((e2 - e1) as u32);
        c1.cmp(&scaled)
    }
}

impl PartialEq for Dec {
    fn eq(&self, other: &Dec) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Dec {}

impl PartialOrd for Dec {
    fn partial_cmp(&self, other: &Dec) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Dec {
    /// NaN equals NaN and sorts first; then by value.
    fn cmp(&self, other: &Dec) -> Ordering {
        match (self.is_nan(), other.is_nan()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let (s1, s2) = (self.signum(), other.signum());
        if s1 != s2 {
            return s1.cmp(&s2);
        }
        if s1 == 0 {
            return Ordering::Equal;
        }
        let magnitude = match (self.kind, other.kind) {
            (Kind::Infinity, Kind::Infinity) => Ordering::Equal,
            (Kind::Infinity, _) => Ordering::Greater,
            (_, Kind::Infinity) => Ordering::Less,
            (
                Kind::Finite {
                    coefficient: c1,
                    exponent: e1,
                },
                Kind::Finite {
                    coefficient: c2,
                    exponent: e2,
                },
            ) => compare_magnitude(c1, e1, c2, e2),
            _ => Ordering::Equal,
        };
        if s1 < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dec {
        Dec::from_bson(&s.parse::<Decimal128>().expect("decimal literal"))
    }

    #[test]
    fn parses_and_orders() {
        assert_eq!(d("1.0"), d("1"));
        assert!(d("1.01") > d("1.001"));
        assert!(d("-2") < d("-1.5"));
        assert!(d("1E+10") > d("9999999999"));
        assert!(d("NaN") < d("-Infinity"));
        assert!(d("Infinity") > d("1E+6000"));
        assert_eq!(d("0"), d("-0E+5"));
        assert_eq!(d("12.5").to_f64(), 12.5);
        assert_eq!(d("123").cmp_f64(123.0), Ordering::Equal);
        assert_eq!(d("0.1").cmp_f64(0.1), Ordering::Equal);
    }

    #[test]
    fn rounds_to_i64_ties_to_even_and_saturates() {
        for (text, expected) in [
            ("2.5", 2),
            ("3.5", 4),
            ("-2.5", -2),
            ("-3.5", -4),
            ("2.4999", 2),
            ("2.5001", 3),
            ("42", 42),
            ("4.2E+1", 42),
            ("0.5", 0),
            ("1E-6000", 0),
            ("9223372036854775807", i64::MAX),
            ("9223372036854775808", i64::MAX),
            ("-9223372036854775808", i64::MIN),
            ("-9223372036854775809", i64::MIN),
            ("1E+30", i64::MAX),
            ("-1E+6000", i64::MIN),
            ("Infinity", i64::MAX),
            ("-Infinity", i64::MIN),
            ("NaN", 0),
        ] {
            assert_eq!(d(text).to_i64_saturating(), expected, "{text}");
        }
    }
}
