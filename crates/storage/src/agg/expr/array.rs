//! Array and set operators, the array forms of `$sum`/`$avg`/`$min`/`$max`/`$stdDev*`, and the
//! variable-binding `$filter`, `$map` and `$reduce`.
//!
//! This file holds the element and shape operators (`$size`, `$arrayElemAt`, `$first`,
//! `$last`, `$in`, `$slice`, `$concatArrays`, `$range`, `$reverseArray`, `$indexOfArray`,
//! `$isArray`, `$zip`) and the helpers the families share. Submodules: `bind.rs` (`$filter`,
//! `$map`, `$reduce`), `set.rs` (set operators, `$allElementsTrue`/`$anyElementTrue`),
//! `order.rs` (`$sortArray`, `$firstN`/`$lastN`/`$maxN`/`$minN`), `accum.rs` (array forms of
//! the accumulators).

use std::cmp::Ordering;

use bson::Bson;

use super::arith::compare_values;
use super::number::Num;
use super::{is_nullish, type_name, Budget, Ctx, Expr, Operator, ParseScope, Shape};
use crate::error::{Error, Result};

mod accum;
mod bind;
mod order;
mod set;

pub(crate) use accum::{avg, max, min, std_dev_pop, std_dev_samp, sum};
pub(crate) use bind::{filter, map, parse_filter, parse_map, parse_reduce, reduce};
pub(crate) use order::{first_n, last_n, max_n, min_n, sort_array, N_SHAPE, SORT_ARRAY_SHAPE};
pub(crate) use set::{
    all_elements_true, any_element_true, parse_set_equals, set_difference, set_equals,
    set_intersection, set_is_subset, set_union,
};

type Out = Result<Option<Bson>>;

fn null() -> Out {
    Ok(Some(Bson::Null))
}

fn array(items: Vec<Bson>) -> Out {
    Ok(Some(Bson::Array(items)))
}

fn boolean(b: bool) -> Out {
    Ok(Some(Bson::Boolean(b)))
}

fn int(n: usize) -> Out {
    Ok(Some(Bson::Int32(i32::try_from(n).unwrap_or(i32::MAX))))
}

pub(super) const ZIP_SHAPE: Shape = Shape::Custom(parse_zip);

/// A value as an i32 if it is a number with an integral value in range.
fn as_i32(v: Option<&Bson>) -> Option<i32> {
    v.and_then(Num::of)
        .and_then(|n| n.to_i64_exact())
        .and_then(|i| i32::try_from(i).ok())
}

fn display(v: Option<&Bson>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "missing".into())
}

pub(super) fn size(op: &Operator, ctx: &Ctx<'_>) -> Out {
    match op.arg(0, ctx)? {
        Some(Bson::Array(items)) => int(items.len()),
        other => Err(Error::coded(
            17124,
            format!(
                "The argument to $size must be an array, but was of type: {}",
                type_name(other.as_ref())
            ),
        )),
    }
}

/// Element `index` (negative counts from the end), or missing when out of range.
fn element_at(items: &[Bson], index: i64) -> Option<Bson> {
    let len = i64::try_from(items.len()).ok()?;
    let i = if index < 0 { len + index } else { index };
    if i < 0 {
        return None;
    }
    items.get(usize::try_from(i).ok()?).cloned()
}

pub(super) fn array_elem_at(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let input = op.arg(0, ctx)?;
    let index = op.arg(1, ctx)?;
    if is_nullish(input.as_ref()) || is_nullish(index.as_ref()) {
        return null();
    }
    let Some(Bson::Array(items)) = &input else {
        return Err(Error::coded(
            28689,
            format!(
                "$arrayElemAt's first argument must be an array, but is {}",
                type_name(input.as_ref())
            ),
        ));
    };
    if index.as_ref().and_then(Num::of).is_none() {
        return Err(Error::coded(
            28690,
            format!(
                "$arrayElemAt's second argument must be a numeric value, but is {}",
                type_name(index.as_ref())
            ),
        ));
    }
    let Some(i) = as_i32(index.as_ref()) else {
        return Err(Error::coded(
            28691,
            format!(
                "$arrayElemAt's second argument must be representable as a 32-bit integer: {}",
                display(index.as_ref())
            ),
        ));
    };
    Ok(element_at(items, i64::from(i)))
}

fn first_or_last(op: &Operator, ctx: &Ctx<'_>, last: bool) -> Out {
    let input = op.arg(0, ctx)?;
    match &input {
        Some(Bson::Array(items)) => Ok(if last {
            items.last().cloned()
        } else {
            items.first().cloned()
        }),
        v if is_nullish(v.as_ref()) => null(),
        v => Err(Error::coded(
            28689,
            format!(
                "{}'s argument must be an array, but is {}",
                op.name,
                type_name(v.as_ref())
            ),
        )),
    }
}

pub(super) fn first(op: &Operator, ctx: &Ctx<'_>) -> Out {
    first_or_last(op, ctx, false)
}

pub(super) fn last(op: &Operator, ctx: &Ctx<'_>) -> Out {
    first_or_last(op, ctx, true)
}

pub(super) fn in_array(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let needle = op.arg(0, ctx)?;
    let haystack = op.arg(1, ctx)?;
    let Some(Bson::Array(items)) = &haystack else {
        return Err(Error::coded(
            40081,
            format!(
                "$in requires an array as a second argument, found: {}",
                type_name(haystack.as_ref())
            ),
        ));
    };
    let found = items.iter().any(|item| {
        compare_values(Some(item), needle.as_ref(), ctx.collation()) == Ordering::Equal
    });
    boolean(found)
}

pub(super) fn slice(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let values = op.eval_args(ctx)?;
    if values.iter().any(|v| is_nullish(v.as_ref())) {
        return null();
    }
    let input = values.first().cloned().flatten();
    let Some(Bson::Array(items)) = input else {
        return Err(Error::coded(
            28724,
            format!(
                "First argument to $slice must be an array, but is of type: {}",
                type_name(values.first().and_then(Option::as_ref))
            ),
        ));
    };
    let second = values.get(1).and_then(Option::as_ref);
    if second.and_then(Num::of).is_none() {
        return Err(Error::coded(
            28725,
            format!(
                "Second argument to $slice must be a numeric value, but is of type: {}",
                type_name(second)
            ),
        ));
    }
    let Some(second) = as_i32(second) else {
        return Err(Error::coded(
            28726,
            format!(
                "Second argument to $slice can't be represented as a 32-bit integer: {}",
                display(second)
            ),
        ));
    };
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let (start, count) = if values.len() == 2 {
        let n = i64::from(second);
        if n >= 0 {
            (0, n)
        } else {
            ((len + n).max(0), -n)
        }
    } else {
        let third = values.get(2).and_then(Option::as_ref);
        if third.and_then(Num::of).is_none() {
            return Err(Error::coded(
                28727,
                format!(
                    "Third argument to $slice must be numeric, but is of type: {}",
                    type_name(third)
                ),
            ));
        }
        let Some(n) = as_i32(third) else {
            return Err(Error::coded(
                28728,
                format!(
                    "Third argument to $slice can't be represented as a 32-bit integer: {}",
                    display(third)
                ),
            ));
        };
        if n <= 0 {
            return Err(Error::coded(
                28729,
                format!("Third argument to $slice must be positive: {n}"),
            ));
        }
        let position = i64::from(second);
        let start = if position >= 0 {
            position.min(len)
        } else {
            (len + position).max(0)
        };
        (start, i64::from(n))
    };
    let start = usize::try_from(start).unwrap_or(0);
    let count = usize::try_from(count).unwrap_or(0);
    array(items.into_iter().skip(start).take(count).collect())
}

pub(super) fn concat_arrays(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let mut out = Vec::new();
    let mut budget = Budget::new("$concatArrays");
    for i in 0..op.args.len() {
        match op.arg(i, ctx)? {
            Some(items @ Bson::Array(_)) => {
                budget.add(&items)?;
                if let Bson::Array(items) = items {
                    out.extend(items);
                }
            }
            v if is_nullish(v.as_ref()) => return null(),
            v => {
                return Err(Error::coded(
                    28664,
                    format!(
                        "$concatArrays only supports arrays, not {}",
                        type_name(v.as_ref())
                    ),
                ))
            }
        }
    }
    array(out)
}

pub(super) fn range(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let values = op.eval_args(ctx)?;
    let mut bounds = [0i64, 0, 1];
    let what = ["starting value", "ending value", "step value"];
    let codes = [(34443, 34444), (34445, 34446), (34447, 34448)];
    for (i, v) in values.iter().enumerate() {
        let (Some(bound), Some(name), Some((numeric_code, int_code))) =
            (bounds.get_mut(i), what.get(i), codes.get(i))
        else {
            break;
        };
        if v.as_ref().and_then(Num::of).is_none() {
            return Err(Error::coded(
                *numeric_code,
                format!(
                    "$range requires a numeric {name}, found value of type: {}",
                    type_name(v.as_ref())
                ),
            ));
        }
        let Some(n) = as_i32(v.as_ref()) else {
            return Err(Error::coded(
                *int_code,
                format!(
                    "$range requires a {name} that can be represented as a 32-bit integer, \
                     found value: {}",
                    display(v.as_ref())
                ),
            ));
        };
        *bound = i64::from(n);
    }
    let [start, end, step] = bounds;
    if step == 0 {
        return Err(Error::coded(34449, "$range requires a non-zero step value"));
    }
    // MongoDB refuses ranges over internalQueryMaxRangeBytes (100 MiB at 16 bytes a value).
    const MAX_RANGE_BYTES: i64 = 100 * 1024 * 1024;
    const VALUE_BYTES: i64 = 16;
    let steps = (end - start) / step;
    let length = if steps >= 0 { steps + 1 } else { 0 };
    let needed = 24 + length * VALUE_BYTES;
    if needed >= MAX_RANGE_BYTES {
        return Err(Error::coded(
            146,
            format!(
                "$range would use too much memory ({needed} bytes) and cannot spill to disk. \
                 Memory limit: {MAX_RANGE_BYTES} bytes"
            ),
        ));
    }
    let mut out = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
    let mut i = start;
    while (step > 0 && i < end) || (step < 0 && i > end) {
        out.push(Bson::Int32(i32::try_from(i).unwrap_or(0)));
        i += step;
    }
    array(out)
}

pub(super) fn reverse_array(op: &Operator, ctx: &Ctx<'_>) -> Out {
    match op.arg(0, ctx)? {
        Some(Bson::Array(mut items)) => {
            items.reverse();
            array(items)
        }
        v if is_nullish(v.as_ref()) => null(),
        v => Err(Error::coded(
            34435,
            format!(
                "The argument to $reverseArray must be an array, but was of type: {}",
                type_name(v.as_ref())
            ),
        )),
    }
}

pub(super) fn index_of_array(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let input = op.arg(0, ctx)?;
    let items = match input {
        Some(Bson::Array(items)) => items,
        v if is_nullish(v.as_ref()) => return null(),
        v => {
            return Err(Error::coded(
                40090,
                format!(
                    "$indexOfArray requires an array as a first argument, found: {}",
                    type_name(v.as_ref())
                ),
            ))
        }
    };
    let needle = op.arg(1, ctx)?;
    let start = if op.args.len() > 2 {
        super::string::index_bound(op, op.arg(2, ctx)?, "starting index")?
    } else {
        0
    };
    let end = if op.args.len() > 3 {
        super::string::index_bound(op, op.arg(3, ctx)?, "ending index")?.min(items.len())
    } else {
        items.len()
    };
    for i in start..end {
        if let Some(item) = items.get(i) {
            if compare_values(Some(item), needle.as_ref(), ctx.collation()) == Ordering::Equal {
                return int(i);
            }
        }
    }
    Ok(Some(Bson::Int32(-1)))
}

pub(super) fn is_array(op: &Operator, ctx: &Ctx<'_>) -> Out {
    boolean(matches!(op.arg(0, ctx)?, Some(Bson::Array(_))))
}

/// `$zip: {inputs: [...], useLongestLength, defaults: [...]}`: arguments are the inputs then
/// the defaults; `extra` counts the inputs; `names` holds "longest" when useLongestLength.
pub(super) fn parse_zip(
    name: &'static str,
    arg: &Bson,
    scope: &mut ParseScope,
) -> Result<Operator> {
    let Bson::Document(d) = arg else {
        return Err(Error::coded(
            34460,
            format!(
                "$zip only supports an object as an argument, found {}",
                type_name(Some(arg))
            ),
        ));
    };
    let mut inputs = Vec::new();
    let mut defaults = Vec::new();
    let mut use_longest = false;
    for (key, value) in d {
        match key.as_str() {
            "inputs" => {
                let Bson::Array(items) = value else {
                    return Err(Error::coded(
                        34461,
                        format!(
                            "inputs must be an array of expressions, found {}",
                            type_name(Some(value))
                        ),
                    ));
                };
                for item in items {
                    inputs.push(Some(Expr::parse_in(item, scope)?));
                }
            }
            "defaults" => {
                let Bson::Array(items) = value else {
                    return Err(Error::coded(
                        34462,
                        format!(
                            "defaults must be an array of expressions, found {}",
                            type_name(Some(value))
                        ),
                    ));
                };
                for item in items {
                    defaults.push(Some(Expr::parse_in(item, scope)?));
                }
            }
            "useLongestLength" => {
                let Bson::Boolean(b) = value else {
                    return Err(Error::coded(
                        34463,
                        "useLongestLength must be a bool, found object",
                    ));
                };
                use_longest = *b;
            }
            _ => {
                return Err(Error::coded(
                    34464,
                    format!("$zip found an unknown argument: {key}"),
                ))
            }
        }
    }
    if inputs.is_empty() {
        return Err(Error::coded(
            34465,
            "$zip requires at least one input array",
        ));
    }
    if !use_longest && !defaults.is_empty() {
        return Err(Error::coded(
            34466,
            "cannot specify defaults unless useLongestLength is true",
        ));
    }
    if !defaults.is_empty() && defaults.len() != inputs.len() {
        return Err(Error::coded(
            34467,
            "defaults and inputs must have the same length",
        ));
    }
    let input_count = inputs.len();
    let mut args = inputs;
    args.extend(defaults);
    let names = if use_longest {
        vec!["longest".to_string()]
    } else {
        Vec::new()
    };
    let mut op = Operator::new(name, args, names);
    op.extra = input_count;
    Ok(op)
}

pub(super) fn zip(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let input_count = op.extra;
    let use_longest = !op.names.is_empty();
    let mut arrays = Vec::with_capacity(input_count);
    for i in 0..input_count {
        match op.arg(i, ctx)? {
            Some(Bson::Array(items)) => arrays.push(items),
            v if is_nullish(v.as_ref()) => return null(),
            v => {
                return Err(Error::coded(
                    34468,
                    format!(
                        "$zip found a non-array expression in input: {}",
                        display(v.as_ref())
                    ),
                ))
            }
        }
    }
    let lengths = arrays.iter().map(Vec::len);
    let (min, max) = (
        lengths.clone().min().unwrap_or(0),
        lengths.max().unwrap_or(0),
    );
    let mut defaults = vec![Bson::Null; input_count];
    if min != max {
        for (j, slot) in defaults.iter_mut().enumerate() {
            if op.has(input_count + j) {
                *slot = op.arg(input_count + j, ctx)?.unwrap_or(Bson::Null);
            }
        }
    }
    let n = if use_longest { max } else { min };
    let mut out = Vec::with_capacity(n);
    let mut budget = Budget::new("$zip");
    for i in 0..n {
        let row = Bson::Array(
            arrays
                .iter()
                .zip(defaults.iter())
                .map(|(a, default)| a.get(i).cloned().unwrap_or_else(|| default.clone()))
                .collect(),
        );
        budget.add(&row)?;
        out.push(row);
    }
    array(out)
}
