//! Arithmetic, comparison, boolean and conditional operators, and `$rand`.

use std::cmp::Ordering;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use bson::Bson;

use super::convert::double_to_string;
use super::decimal::{Dec128, Rounding};
use super::number::{self, from_f64_like, narrow_integer, Num, Width};
use super::{is_nullish, truthy, type_name, Ctx, Operator};
use crate::error::{Error, Result};

type Out = Result<Option<Bson>>;

fn null() -> Out {
    Ok(Some(Bson::Null))
}

fn num(n: Num) -> Out {
    Ok(Some(n.to_bson()))
}

/// `$add`: numbers and at most one date. Arguments are checked left to right: the first null
/// or missing one makes the answer null, the first of another type is an error.
pub(super) fn add(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let mut width = Width::Int;
    let mut integer_total: i128 = 0;
    let mut double_total = 0.0f64;
    let mut decimal_total = Dec128::zero();
    let mut date: Option<i64> = None;
    for i in 0..op.args.len() {
        let v = op.arg(i, ctx)?;
        if is_nullish(v.as_ref()) {
            return null();
        }
        match v.as_ref() {
            Some(Bson::DateTime(d)) => {
                if date.is_some() {
                    return Err(Error::coded(
                        16612,
                        "only one date allowed in an $add expression",
                    ));
                }
                date = Some(d.timestamp_millis());
            }
            other => {
                let Some(n) = other.and_then(Num::of) else {
                    return Err(Error::TypeMismatch(format!(
                        "$add only supports numeric or date types, not {}",
                        type_name(other)
                    )));
                };
                width = width.max(n.width());
                match n {
                    Num::Int(_) | Num::Long(_) => {
                        integer_total += i128::from(n.as_i64().unwrap_or(0));
                    }
                    Num::Double(d) => double_total += d,
                    Num::Decimal(d) => decimal_total = decimal_total.add(d),
                }
            }
        }
    }
    let total = match width {
        // A double total joins a decimal one rounded to 34 digits, as MongoDB's $add does.
        Width::Decimal => Num::Decimal(
            decimal_total
                .add(Dec128::from_f64_34_digits(double_total))
                .add(int_dec(integer_total)),
        ),
        Width::Double => Num::Double(double_total + integer_total as f64),
        _ => narrow_integer(integer_total, width),
    };
    match date {
        None => num(total),
        Some(millis) => {
            let offset = match total {
                Num::Int(i) => i64::from(i),
                Num::Long(i) => i,
                Num::Double(d) => {
                    // llround, with MongoDB's range check.
                    number::f64_to_i64_exact(d.round())
                        .ok_or_else(|| Error::coded(15, "date overflow in $add"))?
                }
                Num::Decimal(d) => d
                    .round_to_place(0, Rounding::HalfEven)
                    .to_i64_exact()
                    .ok_or_else(|| Error::coded(15, "date overflow in $add"))?,
            };
            let sum = millis
                .checked_add(offset)
                .ok_or_else(|| Error::coded(15, "date overflow in $add"))?;
            Ok(Some(Bson::DateTime(bson::DateTime::from_millis(sum))))
        }
    }
}

fn int_dec(total: i128) -> Dec128 {
    match i64::try_from(total) {
        Ok(i) => Dec128::from_i64(i),
        Err(_) => Dec128::from_f64_shortest(total as f64),
    }
}

/// `$subtract`: numbers, date minus date (milliseconds as a long) or date minus number
/// (milliseconds, truncated toward zero).
pub(super) fn subtract(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let lhs = op.arg(0, ctx)?;
    let rhs = op.arg(1, ctx)?;
    let (a, b) = (
        lhs.as_ref().and_then(Num::of),
        rhs.as_ref().and_then(Num::of),
    );
    if let (Some(x), Some(y)) = (a, b) {
        return num(number::sub(x, y));
    }
    if is_nullish(lhs.as_ref()) || is_nullish(rhs.as_ref()) {
        return null();
    }
    match (&lhs, &rhs) {
        (Some(Bson::DateTime(x)), Some(Bson::DateTime(y))) => Ok(Some(Bson::Int64(
            x.timestamp_millis().wrapping_sub(y.timestamp_millis()),
        ))),
        (Some(Bson::DateTime(x)), Some(y)) => match Num::of(y) {
            Some(n) => {
                let offset = truncate_to_i64(n);
                Ok(Some(Bson::DateTime(bson::DateTime::from_millis(
                    x.timestamp_millis().wrapping_sub(offset),
                ))))
            }
            None => Err(Error::TypeMismatch(format!(
                "can't $subtract {} from Date",
                type_name(Some(y))
            ))),
        },
        _ => Err(Error::TypeMismatch(format!(
            "can't $subtract {} from {}",
            type_name(rhs.as_ref()),
            type_name(lhs.as_ref())
        ))),
    }
}

/// A number truncated toward zero to i64, saturating (C++'s coerceToLong).
fn truncate_to_i64(n: Num) -> i64 {
    match n {
        Num::Int(i) => i64::from(i),
        Num::Long(i) => i,
        Num::Double(d) => {
            if d.is_nan() {
                0
            } else {
                // Saturating float-to-int conversion is the intent here.
                d.trunc() as i64
            }
        }
        Num::Decimal(d) => d
            .round_to_place(0, Rounding::TowardZero)
            .to_i64_exact()
            .unwrap_or(0),
    }
}

/// `$multiply`: checked left to right like `$add`.
pub(super) fn multiply(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let mut product = Num::Int(1);
    for i in 0..op.args.len() {
        let v = op.arg(i, ctx)?;
        if is_nullish(v.as_ref()) {
            return null();
        }
        let Some(n) = v.as_ref().and_then(Num::of) else {
            return Err(Error::TypeMismatch(format!(
                "$multiply only supports numeric types, not {}",
                type_name(v.as_ref())
            )));
        };
        product = number::mul(product, n);
    }
    num(product)
}

/// Evaluates two numeric arguments; `None` means the answer is null.
fn two_numbers(
    op: &Operator,
    ctx: &Ctx<'_>,
    type_error: fn(String) -> Error,
) -> Result<Option<(Num, Num)>> {
    let lhs = op.arg(0, ctx)?;
    let rhs = op.arg(1, ctx)?;
    match (
        lhs.as_ref().and_then(Num::of),
        rhs.as_ref().and_then(Num::of),
    ) {
        (Some(a), Some(b)) => Ok(Some((a, b))),
        _ if is_nullish(lhs.as_ref()) || is_nullish(rhs.as_ref()) => Ok(None),
        _ => Err(type_error(format!(
            "{} only supports numeric types, not {} and {}",
            op.name,
            type_name(lhs.as_ref()),
            type_name(rhs.as_ref())
        ))),
    }
}

/// `$divide` always answers a double (or a decimal if either input is one).
pub(super) fn divide(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let Some((a, b)) = two_numbers(op, ctx, Error::TypeMismatch)? else {
        return null();
    };
    if a.width() == Width::Decimal || b.width() == Width::Decimal {
        if b.to_dec().is_zero() {
            return Err(Error::BadValue("can't $divide by zero".into()));
        }
        return num(Num::Decimal(a.to_dec().div(b.to_dec())));
    }
    if b.to_f64() == 0.0 {
        return Err(Error::BadValue("can't $divide by zero".into()));
    }
    num(Num::Double(a.to_f64() / b.to_f64()))
}

/// `$mod`: decimal if either is; a double dividend (or a non-integral double divisor) gives a
/// double; otherwise long if either is long, else int. The sign follows the dividend.
pub(super) fn modulo(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let Some((a, b)) = two_numbers(op, ctx, |m| Error::coded(16611, m))? else {
        return null();
    };
    if a.width() == Width::Decimal || b.width() == Width::Decimal {
        if b.to_dec().is_zero() {
            return Err(Error::coded(5733415, "can't $mod by zero"));
        }
        return num(Num::Decimal(a.to_dec().rem(b.to_dec())));
    }
    if b.to_f64() == 0.0 {
        return Err(Error::coded(16610, "can't $mod by zero"));
    }
    let divisor_is_fractional_double =
        matches!(b, Num::Double(d) if d.fract() != 0.0 || !d.is_finite());
    if a.width() == Width::Double || divisor_is_fractional_double {
        return num(Num::Double(a.to_f64() % b.to_f64()));
    }
    let (x, y) = (truncate_to_i64(a), truncate_to_i64(b));
    // i64::MIN % -1 overflows in Rust; the answer is 0 (MongoDB's safeMod).
    let r = x.checked_rem(y).unwrap_or(0);
    if a.width() == Width::Long || b.width() == Width::Long {
        return num(Num::Long(r));
    }
    num(Num::Int(i32::try_from(r).unwrap_or(0)))
}

/// Evaluates the single numeric argument of `$abs`, `$ceil`, ...; `None` means null.
fn one_number(op: &Operator, ctx: &Ctx<'_>) -> Result<Option<Num>> {
    let v = op.arg(0, ctx)?;
    match v.as_ref().and_then(Num::of) {
        Some(n) => Ok(Some(n)),
        None if is_nullish(v.as_ref()) => Ok(None),
        None => Err(Error::coded(
            28765,
            format!(
                "{} only supports numeric types, not {}",
                op.name,
                type_name(v.as_ref())
            ),
        )),
    }
}

pub(super) fn abs(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let Some(n) = one_number(op, ctx)? else {
        return null();
    };
    let result = match n {
        Num::Int(i) => match i.checked_abs() {
            Some(a) => Num::Int(a),
            None => Num::Long(i64::from(i).abs()),
        },
        Num::Long(i) => match i.checked_abs() {
            Some(a) => Num::Long(a),
            None => return Err(Error::coded(28680, "can't take $abs of long long min")),
        },
        Num::Double(d) => Num::Double(d.abs()),
        Num::Decimal(d) => Num::Decimal(d.abs()),
    };
    num(result)
}

fn round_like(n: Num, rounding: Rounding) -> Num {
    match n {
        Num::Int(_) | Num::Long(_) => n,
        Num::Double(d) => Num::Double(match rounding {
            Rounding::Floor => d.floor(),
            Rounding::Ceiling => d.ceil(),
            Rounding::TowardZero => d.trunc(),
            Rounding::HalfEven => round_half_even(d),
        }),
        Num::Decimal(d) => Num::Decimal(d.round_to_place(0, rounding)),
    }
}

fn round_half_even(d: f64) -> f64 {
    let r = d.round();
    if (d - d.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - d.signum()
    } else {
        r
    }
}

pub(super) fn ceil(op: &Operator, ctx: &Ctx<'_>) -> Out {
    match one_number(op, ctx)? {
        Some(n) => num(round_like(n, Rounding::Ceiling)),
        None => null(),
    }
}

pub(super) fn floor(op: &Operator, ctx: &Ctx<'_>) -> Out {
    match one_number(op, ctx)? {
        Some(n) => num(round_like(n, Rounding::Floor)),
        None => null(),
    }
}

pub(super) fn round(op: &Operator, ctx: &Ctx<'_>) -> Out {
    round_to_place(op, ctx, Rounding::HalfEven)
}

pub(super) fn trunc(op: &Operator, ctx: &Ctx<'_>) -> Out {
    round_to_place(op, ctx, Rounding::TowardZero)
}

/// `$round`/`$trunc` with an optional place in [-20, 100].
fn round_to_place(op: &Operator, ctx: &Ctx<'_>, rounding: Rounding) -> Out {
    let value = op.arg(0, ctx)?;
    let place = if op.args.len() > 1 {
        op.arg(1, ctx)?
    } else {
        Some(Bson::Int32(0))
    };
    if is_nullish(value.as_ref()) || is_nullish(place.as_ref()) {
        return null();
    }
    let Some(n) = value.as_ref().and_then(Num::of) else {
        return Err(Error::coded(
            51081,
            format!(
                "{} only supports numeric types, not {}",
                op.name,
                type_name(value.as_ref())
            ),
        ));
    };
    let Some(place) = place
        .as_ref()
        .and_then(Num::of)
        .and_then(|p| p.to_i64_exact())
    else {
        return Err(Error::coded(
            51082,
            format!(
                "precision argument to  {} must be a integral value",
                op.name
            ),
        ));
    };
    if !(-20..=100).contains(&place) {
        return Err(Error::coded(
            51083,
            format!(
                "cannot apply {} with precision value {place} value must be in [-20, 100]",
                op.name
            ),
        ));
    }
    let place = i32::try_from(place).unwrap_or(0);
    let result = match n {
        Num::Int(_) | Num::Long(_) => {
            if place >= 0 {
                n
            } else {
                let i = n.as_i64().unwrap_or(0);
                let rounded = Dec128::from_i64(i).round_to_place(place, rounding);
                let value = rounded.to_i64_exact().unwrap_or(i);
                match n {
                    Num::Int(_) => narrow_integer(i128::from(value), Width::Int),
                    _ => Num::Long(value),
                }
            }
        }
        Num::Double(d) => {
            if !d.is_finite() {
                n
            } else {
                // Through the double's 34-digit decimal value, as MongoDB does.
                let dec = Dec128::from_f64_34_digits(d).round_to_place(place, rounding);
                Num::Double(dec.to_f64())
            }
        }
        Num::Decimal(d) => Num::Decimal(d.round_to_place(place, rounding)),
    };
    num(result)
}

pub(super) fn sqrt(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let Some(n) = one_number(op, ctx)? else {
        return null();
    };
    let f = n.to_f64();
    if f < 0.0 {
        return Err(Error::coded(
            28714,
            "$sqrt's argument must be greater than or equal to 0",
        ));
    }
    num(from_f64_like(n.width(), f.sqrt()))
}

pub(super) fn exp(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let Some(n) = one_number(op, ctx)? else {
        return null();
    };
    num(from_f64_like(n.width(), n.to_f64().exp()))
}

pub(super) fn ln(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let Some(n) = one_number(op, ctx)? else {
        return null();
    };
    let f = n.to_f64();
    if f <= 0.0 {
        return Err(Error::coded(
            28766,
            format!(
                "$ln's argument must be a positive number, but is {}",
                n.to_bson()
            ),
        ));
    }
    num(from_f64_like(n.width(), f.ln()))
}

pub(super) fn log10(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let Some(n) = one_number(op, ctx)? else {
        return null();
    };
    let f = n.to_f64();
    if f <= 0.0 {
        return Err(Error::coded(
            28761,
            format!(
                "$log10's argument must be a positive number, but is {}",
                double_to_string(f)
            ),
        ));
    }
    num(from_f64_like(n.width(), f.log10()))
}

pub(super) fn log(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let value = op.arg(0, ctx)?;
    let base = op.arg(1, ctx)?;
    if is_nullish(value.as_ref()) || is_nullish(base.as_ref()) {
        return null();
    }
    let Some(v) = value.as_ref().and_then(Num::of) else {
        return Err(Error::coded(
            28756,
            format!(
                "$log's argument must be numeric, not {}",
                type_name(value.as_ref())
            ),
        ));
    };
    let Some(b) = base.as_ref().and_then(Num::of) else {
        return Err(Error::coded(
            28757,
            format!(
                "$log's base must be numeric, not {}",
                type_name(base.as_ref())
            ),
        ));
    };
    let (fv, fb) = (v.to_f64(), b.to_f64());
    if fv <= 0.0 {
        return Err(Error::coded(
            28758,
            format!(
                "$log's argument must be a positive number, but is {}",
                v.to_bson()
            ),
        ));
    }
    if fb <= 0.0 || fb == 1.0 {
        return Err(Error::coded(
            28759,
            format!(
                "$log's base must be a positive number not equal to 1, but is {}",
                double_to_string(fb)
            ),
        ));
    }
    num(from_f64_like(
        v.width().max(b.width()).max(Width::Double),
        fv.ln() / fb.ln(),
    ))
}

pub(super) fn pow(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let base = op.arg(0, ctx)?;
    let exponent = op.arg(1, ctx)?;
    if is_nullish(base.as_ref()) || is_nullish(exponent.as_ref()) {
        return null();
    }
    let Some(b) = base.as_ref().and_then(Num::of) else {
        return Err(Error::coded(
            28762,
            format!(
                "$pow's base must be numeric, not {}",
                type_name(base.as_ref())
            ),
        ));
    };
    let Some(e) = exponent.as_ref().and_then(Num::of) else {
        return Err(Error::coded(
            28763,
            format!(
                "$pow's exponent must be numeric, not {}",
                type_name(exponent.as_ref())
            ),
        ));
    };
    if b.is_zero() && e.to_f64() < 0.0 {
        return Err(Error::coded(
            28764,
            "$pow cannot take a base of 0 and a negative exponent",
        ));
    }
    let width = b.width().max(e.width());
    if width <= Width::Long {
        let (bi, ei) = (b.as_i64().unwrap_or(0), e.as_i64().unwrap_or(0));
        if ei < 0 {
            // Only 1 and -1 have integral results; otherwise the answer is a double.
            return match bi {
                1 => num(narrow_integer(1, width)),
                -1 => num(narrow_integer(if ei % 2 == 0 { 1 } else { -1 }, width)),
                _ => num(Num::Double((bi as f64).powf(ei as f64))),
            };
        }
        let exact = u32::try_from(ei)
            .ok()
            .and_then(|ei| i128::from(bi).checked_pow(ei));
        return match exact {
            Some(p) if i64::try_from(p).is_ok() => num(narrow_integer(p, width)),
            _ => num(Num::Double((bi as f64).powf(ei as f64))),
        };
    }
    num(from_f64_like(width, b.to_f64().powf(e.to_f64())))
}

/// Compares two possibly missing values; missing sorts with undefined, below null.
pub(super) fn compare_values(
    a: Option<&Bson>,
    b: Option<&Bson>,
    collation: Option<&crate::value::Collation>,
) -> Ordering {
    let undefined = Bson::Undefined;
    crate::value::compare_with(a.unwrap_or(&undefined), b.unwrap_or(&undefined), collation)
}

fn comparison(op: &Operator, ctx: &Ctx<'_>) -> Result<Ordering> {
    let a = op.arg(0, ctx)?;
    let b = op.arg(1, ctx)?;
    Ok(compare_values(a.as_ref(), b.as_ref(), ctx.collation()))
}

pub(super) fn cmp(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let result = match comparison(op, ctx)? {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    };
    Ok(Some(Bson::Int32(result)))
}

pub(super) fn eq(op: &Operator, ctx: &Ctx<'_>) -> Out {
    Ok(Some(Bson::Boolean(comparison(op, ctx)? == Ordering::Equal)))
}

pub(super) fn ne(op: &Operator, ctx: &Ctx<'_>) -> Out {
    Ok(Some(Bson::Boolean(comparison(op, ctx)? != Ordering::Equal)))
}

pub(super) fn gt(op: &Operator, ctx: &Ctx<'_>) -> Out {
    Ok(Some(Bson::Boolean(
        comparison(op, ctx)? == Ordering::Greater,
    )))
}

pub(super) fn gte(op: &Operator, ctx: &Ctx<'_>) -> Out {
    Ok(Some(Bson::Boolean(comparison(op, ctx)? != Ordering::Less)))
}

pub(super) fn lt(op: &Operator, ctx: &Ctx<'_>) -> Out {
    Ok(Some(Bson::Boolean(comparison(op, ctx)? == Ordering::Less)))
}

pub(super) fn lte(op: &Operator, ctx: &Ctx<'_>) -> Out {
    Ok(Some(Bson::Boolean(
        comparison(op, ctx)? != Ordering::Greater,
    )))
}

/// `$and` stops at the first false argument.
pub(super) fn and(op: &Operator, ctx: &Ctx<'_>) -> Out {
    for i in 0..op.args.len() {
        if !truthy(op.arg(i, ctx)?.as_ref()) {
            return Ok(Some(Bson::Boolean(false)));
        }
    }
    Ok(Some(Bson::Boolean(true)))
}

/// `$or` stops at the first true argument.
pub(super) fn or(op: &Operator, ctx: &Ctx<'_>) -> Out {
    for i in 0..op.args.len() {
        if truthy(op.arg(i, ctx)?.as_ref()) {
            return Ok(Some(Bson::Boolean(true)));
        }
    }
    Ok(Some(Bson::Boolean(false)))
}

pub(super) fn not(op: &Operator, ctx: &Ctx<'_>) -> Out {
    Ok(Some(Bson::Boolean(!truthy(op.arg(0, ctx)?.as_ref()))))
}

pub(super) fn cond(op: &Operator, ctx: &Ctx<'_>) -> Out {
    if truthy(op.arg(0, ctx)?.as_ref()) {
        op.arg(1, ctx)
    } else {
        op.arg(2, ctx)
    }
}

/// `$ifNull: [a, b, ..., replacement]`: the first argument that is not null or missing, else
/// the last argument (even if it is null or missing).
pub(super) fn if_null(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let last = op.args.len().saturating_sub(1);
    for i in 0..last {
        let v = op.arg(i, ctx)?;
        if !is_nullish(v.as_ref()) {
            return Ok(v);
        }
    }
    op.arg(last, ctx)
}

/// `$switch`: arguments are case/then pairs and the default last.
pub(super) fn switch(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let pairs = op.args.len().saturating_sub(1) / 2;
    for i in 0..pairs {
        if truthy(op.arg(2 * i, ctx)?.as_ref()) {
            return op.arg(2 * i + 1, ctx);
        }
    }
    let default = op.args.len().saturating_sub(1);
    if !op.has(default) {
        return Err(Error::coded(
            40066,
            "$switch could not find a matching branch for an input, and no default was \
             specified.",
        ));
    }
    op.arg(default, ctx)
}

static RANDOM_STATE: AtomicU64 = AtomicU64::new(0);

/// `$rand`: a uniform double in [0, 1) from a xorshift generator seeded from the clock.
pub(super) fn rand(_op: &Operator, _ctx: &Ctx<'_>) -> Out {
    let mut x = RANDOM_STATE.load(AtomicOrdering::Relaxed);
    if x == 0 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        x = (nanos as u64) | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    RANDOM_STATE.store(x, AtomicOrdering::Relaxed);
    // The top 53 bits as a fraction of 2^53.
    let fraction = (x >> 11) as f64 / (1u64 << 53) as f64;
    Ok(Some(Bson::Double(fraction)))
}
