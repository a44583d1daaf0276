//! The array forms of the accumulators: `$sum`, `$avg`, `$min`, `$max`, `$stdDevPop` and
//! `$stdDevSamp` over an array argument or a list of arguments (numbers summed with
//! MongoDB's widening from int to long to double or decimal).

use std::cmp::Ordering;

use bson::Bson;

use super::{null, Out};
use crate::agg::expr::decimal::Dec128;
use crate::agg::expr::number::{narrow_integer, Num, Width};
use crate::agg::expr::{Ctx, Operator};
use crate::error::Result;
use crate::value::compare_with;

/// The values an accumulator expression (`$sum: [...]`, `$sum: "$arr"`) works on: with one
/// argument that is an array, its elements; otherwise the arguments themselves.
fn accumulator_inputs(op: &Operator, ctx: &Ctx<'_>) -> Result<Vec<Bson>> {
    let mut values = op.eval_args(ctx)?;
    if values.len() == 1 {
        return Ok(match values.pop().flatten() {
            Some(Bson::Array(items)) => items,
            Some(v) => vec![v],
            None => Vec::new(),
        });
    }
    Ok(values.into_iter().flatten().collect())
}

/// Sum of the numeric values (others ignored) with `$add`'s type rules.
fn numeric_sum(values: &[Bson]) -> (Num, usize) {
    let mut width = Width::Int;
    let mut integer_total: i128 = 0;
    let mut double_total = 0.0f64;
    let mut decimal_total = Dec128::zero();
    let mut count = 0;
    for v in values {
        let Some(n) = Num::of(v) else {
            continue;
        };
        count += 1;
        width = width.max(n.width());
        match n {
            Num::Int(_) | Num::Long(_) => integer_total += i128::from(n.as_i64().unwrap_or(0)),
            Num::Double(d) => double_total += d,
            Num::Decimal(d) => decimal_total = decimal_total.add(d),
        }
    }
    let total = match width {
        Width::Decimal => Num::Decimal(
            decimal_total
                .add(Dec128::from_f64_15_digits(double_total))
                .add(match i64::try_from(integer_total) {
                    Ok(i) => Dec128::from_i64(i),
                    Err(_) => Dec128::from_f64_shortest(integer_total as f64),
                }),
        ),
        Width::Double => Num::Double(double_total + integer_total as f64),
        _ => narrow_integer(integer_total, width),
    };
    (total, count)
}

pub(crate) fn sum(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let values = accumulator_inputs(op, ctx)?;
    Ok(Some(numeric_sum(&values).0.to_bson()))
}

pub(crate) fn avg(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let values = accumulator_inputs(op, ctx)?;
    let (total, count) = numeric_sum(&values);
    if count == 0 {
        return null();
    }
    let n = u32::try_from(count).unwrap_or(u32::MAX);
    let result = match total {
        Num::Decimal(d) => Num::Decimal(d.div(Dec128::from_i64(i64::from(n)))),
        other => Num::Double(other.to_f64() / f64::from(n)),
    };
    Ok(Some(result.to_bson()))
}

fn extreme(op: &Operator, ctx: &Ctx<'_>, largest: bool) -> Out {
    let values = accumulator_inputs(op, ctx)?;
    let mut best: Option<Bson> = None;
    for v in values {
        if matches!(v, Bson::Null | Bson::Undefined) {
            continue;
        }
        let replace = match &best {
            None => true,
            Some(b) => {
                let ord = compare_with(&v, b, ctx.collation());
                if largest {
                    ord == Ordering::Greater
                } else {
                    ord == Ordering::Less
                }
            }
        };
        if replace {
            best = Some(v);
        }
    }
    Ok(Some(best.unwrap_or(Bson::Null)))
}

pub(crate) fn min(op: &Operator, ctx: &Ctx<'_>) -> Out {
    extreme(op, ctx, false)
}

pub(crate) fn max(op: &Operator, ctx: &Ctx<'_>) -> Out {
    extreme(op, ctx, true)
}

/// Population or sample standard deviation of the numeric values (Welford's method).
fn std_dev(op: &Operator, ctx: &Ctx<'_>, sample: bool) -> Out {
    let values = accumulator_inputs(op, ctx)?;
    let mut count = 0u32;
    let mut mean = 0.0f64;
    let mut m2 = 0.0f64;
    for v in &values {
        let Some(n) = Num::of(v) else {
            continue;
        };
        let x = n.to_f64();
        count += 1;
        let delta = x - mean;
        mean += delta / f64::from(count);
        m2 += delta * (x - mean);
    }
    let divisor = if sample {
        count.saturating_sub(1)
    } else {
        count
    };
    if divisor == 0 {
        return null();
    }
    Ok(Some(Bson::Double((m2 / f64::from(divisor)).sqrt())))
}

pub(crate) fn std_dev_pop(op: &Operator, ctx: &Ctx<'_>) -> Out {
    std_dev(op, ctx, false)
}

pub(crate) fn std_dev_samp(op: &Operator, ctx: &Ctx<'_>) -> Out {
    std_dev(op, ctx, true)
}
