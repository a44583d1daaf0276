//! Trigonometric operators. All compute through f64 (decimal inputs give decimal results
//! carrying about 17 significant digits).

use bson::Bson;

use super::number::{from_f64_like, Num};
use super::{is_nullish, type_name, Ctx, Operator};
use crate::error::{Error, Result};

type Out = Result<Option<Bson>>;

/// The domain of a bounded function: `[low, high]`, each end inclusive or not.
struct Domain {
    low: f64,
    high: f64,
    inclusive: bool,
    text: &'static str,
}

const UNBOUNDED: Domain = Domain {
    low: f64::NEG_INFINITY,
    high: f64::INFINITY,
    inclusive: false,
    text: "(-inf,inf)",
};

const UNIT: Domain = Domain {
    low: -1.0,
    high: 1.0,
    inclusive: true,
    text: "[-1,1]",
};

const AT_LEAST_ONE: Domain = Domain {
    low: 1.0,
    high: f64::INFINITY,
    inclusive: true,
    text: "[1,inf]",
};

/// Evaluates a one-argument function with MongoDB's null propagation and domain check.
fn apply(op: &Operator, ctx: &Ctx<'_>, domain: Option<&Domain>, f: fn(f64) -> f64) -> Out {
    let v = op.arg(0, ctx)?;
    if is_nullish(v.as_ref()) {
        return Ok(Some(Bson::Null));
    }
    let Some(n) = v.as_ref().and_then(Num::of) else {
        return Err(Error::coded(
            28765,
            format!(
                "{} only supports numeric types, not {}",
                op.name,
                type_name(v.as_ref())
            ),
        ));
    };
    let x = n.to_f64();
    if let Some(d) = domain {
        let inside = if d.inclusive {
            x >= d.low && x <= d.high
        } else {
            x > d.low && x < d.high
        };
        if !inside && !x.is_nan() {
            return Err(Error::coded(
                50989,
                format!(
                    "cannot apply {} to {}, value must in {}",
                    op.name,
                    super::convert::double_to_string(x),
                    d.text
                ),
            ));
        }
    }
    Ok(Some(from_f64_like(n.width(), f(x)).to_bson()))
}

pub(super) fn sin(op: &Operator, ctx: &Ctx<'_>) -> Out {
    apply(op, ctx, Some(&UNBOUNDED), f64::sin)
}

pub(super) fn cos(op: &Operator, ctx: &Ctx<'_>) -> Out {
    apply(op, ctx, Some(&UNBOUNDED), f64::cos)
}

pub(super) fn tan(op: &Operator, ctx: &Ctx<'_>) -> Out {
    apply(op, ctx, Some(&UNBOUNDED), f64::tan)
}

pub(super) fn asin(op: &Operator, ctx: &Ctx<'_>) -> Out {
    apply(op, ctx, Some(&UNIT), f64::asin)
}

pub(super) fn acos(op: &Operator, ctx: &Ctx<'_>) -> Out {
    apply(op, ctx, Some(&UNIT), f64::acos)
}

pub(super) fn atan(op: &Operator, ctx: &Ctx<'_>) -> Out {
    apply(op, ctx, None, f64::atan)
}

pub(super) fn sinh(op: &Operator, ctx: &Ctx<'_>) -> Out {
    apply(op, ctx, None, f64::sinh)
}

pub(super) fn cosh(op: &Operator, ctx: &Ctx<'_>) -> Out {
    apply(op, ctx, None, f64::cosh)
}

pub(super) fn tanh(op: &Operator, ctx: &Ctx<'_>) -> Out {
    apply(op, ctx, None, f64::tanh)
}

pub(super) fn asinh(op: &Operator, ctx: &Ctx<'_>) -> Out {
    apply(op, ctx, None, f64::asinh)
}

pub(super) fn acosh(op: &Operator, ctx: &Ctx<'_>) -> Out {
    apply(op, ctx, Some(&AT_LEAST_ONE), f64::acosh)
}

pub(super) fn atanh(op: &Operator, ctx: &Ctx<'_>) -> Out {
    apply(op, ctx, Some(&UNIT), f64::atanh)
}

pub(super) fn degrees_to_radians(op: &Operator, ctx: &Ctx<'_>) -> Out {
    apply(op, ctx, None, f64::to_radians)
}

pub(super) fn radians_to_degrees(op: &Operator, ctx: &Ctx<'_>) -> Out {
    apply(op, ctx, None, f64::to_degrees)
}

/// `$atan2: [y, x]`.
pub(super) fn atan2(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let y = op.arg(0, ctx)?;
    let x = op.arg(1, ctx)?;
    if is_nullish(y.as_ref()) || is_nullish(x.as_ref()) {
        return Ok(Some(Bson::Null));
    }
    let Some(ny) = y.as_ref().and_then(Num::of) else {
        return Err(Error::coded(
            51044,
            format!(
                "$atan2 only supports numeric types, not {}",
                type_name(y.as_ref())
            ),
        ));
    };
    let Some(nx) = x.as_ref().and_then(Num::of) else {
        return Err(Error::coded(
            51045,
            format!(
                "$atan2 only supports numeric types, not {}",
                type_name(x.as_ref())
            ),
        ));
    };
    let width = ny.width().max(nx.width());
    Ok(Some(
        from_f64_like(width, ny.to_f64().atan2(nx.to_f64())).to_bson(),
    ))
}
