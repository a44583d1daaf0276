//! Array and set operators, the array forms of `$sum`/`$avg`/`$min`/`$max`/`$stdDev*`, and the
//! variable-binding `$filter`, `$map` and `$reduce`.

use std::cmp::Ordering;

use bson::Bson;

use super::arith::compare_values;
use super::decimal::Dec128;
use super::number::{narrow_integer, Num, Width};
use super::{
    is_nullish, truthy, type_name, validate_user_variable_name, Budget, Ctx, Expr, MissingStyle,
    NamedArgs, Operator, ParseScope, Shape, UnknownStyle,
};
use crate::error::{Error, Result};
use crate::value::{compare_with, equal_with, Collation};

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

pub(super) const SORT_ARRAY_SHAPE: Shape = Shape::Custom(parse_sort_array);

pub(super) const N_SHAPE: Shape = Shape::Named(&NamedArgs {
    fields: &[("n", 5787906), ("input", 5787907)],
    not_object: 5787900,
    unknown: 5787901,
    unknown_style: UnknownStyle::FoundUnknown,
    missing_style: MissingStyle::MissingValue,
});

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

/// Reads a `{...}` argument of `$filter`/`$map`/`$reduce` into named parts (raw, unparsed).
fn named_parts<'a>(
    name: &str,
    arg: &'a Bson,
    allowed: &[&str],
    not_object_code: i32,
    unknown_code: i32,
) -> Result<Vec<Option<&'a Bson>>> {
    let Bson::Document(d) = arg else {
        return Err(Error::coded(
            not_object_code,
            format!("{name} only supports an object as its argument"),
        ));
    };
    let mut parts = vec![None; allowed.len()];
    for (key, value) in d {
        let Some(i) = allowed.iter().position(|a| a == key) else {
            let message = if name == "$reduce" {
                format!("$reduce found an unknown argument: {key}")
            } else {
                format!("Unrecognized parameter to {name}: {key}")
            };
            return Err(Error::coded(unknown_code, message));
        };
        if let Some(slot) = parts.get_mut(i) {
            *slot = Some(value);
        }
    }
    Ok(parts)
}

fn require<'a>(part: Option<&'a Bson>, name: &str, field: &str, code: i32) -> Result<&'a Bson> {
    part.ok_or_else(|| {
        let message = if name == "$reduce" {
            format!("$reduce requires '{field}' to be specified")
        } else {
            format!("Missing '{field}' parameter to {name}")
        };
        Error::coded(code, message)
    })
}

/// The variable name of `as` (default `this`).
fn as_name(part: Option<&Bson>) -> Result<String> {
    match part {
        None => Ok("this".to_string()),
        Some(Bson::String(s)) => {
            validate_user_variable_name(s)?;
            Ok(s.clone())
        }
        Some(other) => Err(Error::FailedToParse(format!(
            "'as' must be a string, found {}",
            type_name(Some(other))
        ))),
    }
}

/// Parses `body` with `names` bound.
fn parse_with_names(body: &Bson, names: &[String], scope: &mut ParseScope) -> Result<Expr> {
    let depth = scope.locals.len();
    scope.locals.extend(names.iter().cloned());
    let parsed = Expr::parse_in(body, scope);
    scope.locals.truncate(depth);
    parsed
}

/// `$filter: {input, as, cond, limit}`: arguments input, cond, limit; name as.
pub(super) fn parse_filter(
    name: &'static str,
    arg: &Bson,
    scope: &mut ParseScope,
) -> Result<Operator> {
    let parts = named_parts(name, arg, &["input", "as", "cond", "limit"], 28646, 28647)?;
    let input = require(parts.first().copied().flatten(), name, "input", 28648)?;
    let cond = require(parts.get(2).copied().flatten(), name, "cond", 28650)?;
    let var = as_name(parts.get(1).copied().flatten())?;
    let names = vec![var];
    let input = Expr::parse_in(input, scope)?;
    let cond = parse_with_names(cond, &names, scope)?;
    let limit = match parts.get(3).copied().flatten() {
        Some(l) => Some(Expr::parse_in(l, scope)?),
        None => None,
    };
    Ok(Operator::new(
        name,
        vec![Some(input), Some(cond), limit],
        names,
    ))
}

pub(super) fn filter(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let input = op.arg(0, ctx)?;
    let items = match input {
        Some(Bson::Array(items)) => items,
        v if is_nullish(v.as_ref()) => return null(),
        v => {
            return Err(Error::coded(
                28651,
                format!(
                    "input to $filter must be an array not {}",
                    type_name(v.as_ref())
                ),
            ))
        }
    };
    let mut limit = usize::MAX;
    if op.has(2) {
        let l = op.arg(2, ctx)?;
        if !is_nullish(l.as_ref()) {
            let Some(n) = as_i32(l.as_ref()) else {
                return Err(Error::coded(
                    327391,
                    format!(
                        "$filter: limit must be represented as a 32-bit integral value: {}",
                        display(l.as_ref())
                    ),
                ));
            };
            if n < 1 {
                return Err(Error::coded(
                    327392,
                    format!("$filter: limit must be greater than 0: {n}"),
                ));
            }
            limit = usize::try_from(n).unwrap_or(usize::MAX);
        }
    }
    let var = op.names.first().map_or("this", String::as_str);
    let mut out = Vec::new();
    for item in items {
        if out.len() >= limit {
            break;
        }
        let frame = ctx.frame(var, Some(item));
        let inner = ctx.with(&frame);
        if truthy(op.arg(1, &inner)?.as_ref()) {
            if let Some(kept) = frame.value {
                out.push(kept);
            }
        }
    }
    array(out)
}

/// `$map: {input, as, in}`: arguments input, in; name as.
pub(super) fn parse_map(
    name: &'static str,
    arg: &Bson,
    scope: &mut ParseScope,
) -> Result<Operator> {
    let parts = named_parts(name, arg, &["input", "as", "in"], 16878, 16879)?;
    let input = require(parts.first().copied().flatten(), name, "input", 16880)?;
    let body = require(parts.get(2).copied().flatten(), name, "in", 16882)?;
    let names = vec![as_name(parts.get(1).copied().flatten())?];
    let input = Expr::parse_in(input, scope)?;
    let body = parse_with_names(body, &names, scope)?;
    Ok(Operator::new(name, vec![Some(input), Some(body)], names))
}

pub(super) fn map(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let input = op.arg(0, ctx)?;
    let items = match input {
        Some(Bson::Array(items)) => items,
        v if is_nullish(v.as_ref()) => return null(),
        v => {
            return Err(Error::coded(
                16883,
                format!(
                    "input to $map must be an array not {}",
                    type_name(v.as_ref())
                ),
            ))
        }
    };
    let var = op.names.first().map_or("this", String::as_str);
    let mut out = Vec::with_capacity(items.len());
    let mut budget = Budget::new("$map");
    for item in items {
        let frame = ctx.frame(var, Some(item));
        let inner = ctx.with(&frame);
        let v = op.arg(1, &inner)?.unwrap_or(Bson::Null);
        budget.add(&v)?;
        out.push(v);
    }
    array(out)
}

/// `$reduce: {input, initialValue, in}`: arguments in that order; names value and this.
pub(super) fn parse_reduce(
    name: &'static str,
    arg: &Bson,
    scope: &mut ParseScope,
) -> Result<Operator> {
    let parts = named_parts(name, arg, &["input", "initialValue", "in"], 40075, 40076)?;
    let input = require(parts.first().copied().flatten(), name, "input", 40077)?;
    let initial = require(parts.get(1).copied().flatten(), name, "initialValue", 40078)?;
    let body = require(parts.get(2).copied().flatten(), name, "in", 40079)?;
    let names = vec!["value".to_string(), "this".to_string()];
    let input = Expr::parse_in(input, scope)?;
    let initial = Expr::parse_in(initial, scope)?;
    let body = parse_with_names(body, &names, scope)?;
    Ok(Operator::new(
        name,
        vec![Some(input), Some(initial), Some(body)],
        names,
    ))
}

pub(super) fn reduce(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let input = op.arg(0, ctx)?;
    let items = match input {
        Some(Bson::Array(items)) => items,
        v if is_nullish(v.as_ref()) => return null(),
        v => {
            return Err(Error::coded(
                40080,
                format!(
                    "$reduce requires that 'input' be an array, found: {}",
                    display(v.as_ref())
                ),
            ))
        }
    };
    let mut value = op.arg(1, ctx)?;
    for item in items {
        let value_frame = ctx.frame("value", value.take());
        let with_value = ctx.with(&value_frame);
        let this_frame = with_value.frame("this", Some(item));
        let inner = with_value.with(&this_frame);
        value = op.arg(2, &inner)?;
    }
    Ok(value)
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

/// `$setEquals` needs at least two arguments.
pub(super) fn parse_set_equals(
    name: &'static str,
    arg: &Bson,
    scope: &mut ParseScope,
) -> Result<Operator> {
    let args = super::positional_args(arg, scope)?;
    if args.len() < 2 {
        return Err(Error::coded(
            17045,
            format!(
                "$setEquals needs at least two arguments had: {}",
                args.len()
            ),
        ));
    }
    Ok(Operator::new(
        name,
        args.into_iter().map(Some).collect(),
        Vec::new(),
    ))
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

/// Sort direction: 1 or -1 (any numeric type).
fn direction(v: &Bson) -> Option<bool> {
    match Num::of(v).and_then(|n| n.to_i64_exact()) {
        Some(1) => Some(true),
        Some(-1) => Some(false),
        _ => None,
    }
}

/// Looks up a dotted path in a value for `$sortArray`'s `sortBy` document.
fn sort_key(v: &Bson, path: &str) -> Bson {
    let mut current = v;
    for part in path.split('.') {
        match current {
            Bson::Document(d) => match d.get(part) {
                Some(next) => current = next,
                None => return Bson::Null,
            },
            _ => return Bson::Null,
        }
    }
    current.clone()
}

/// `$sortArray: {input, sortBy}`: `sortBy` is not an expression but a sort order, 1/-1 or a
/// `{path: 1/-1, ...}` document, checked here and kept as a constant second argument.
pub(super) fn parse_sort_array(
    name: &'static str,
    arg: &Bson,
    scope: &mut ParseScope,
) -> Result<Operator> {
    let Bson::Document(d) = arg else {
        return Err(Error::coded(
            2942500,
            format!(
                "$sortArray requires an object as an argument, found: {}",
                type_name(Some(arg))
            ),
        ));
    };
    let mut input = None;
    let mut sort_by = None;
    for (key, value) in d {
        match key.as_str() {
            "input" => input = Some(Expr::parse_in(value, scope)?),
            "sortBy" => {
                match value {
                    Bson::Document(spec) => {
                        if spec.is_empty() {
                            return Err(Error::coded(
                                2942505,
                                "$sort stage must have at least one sort key",
                            ));
                        }
                        for (_, dir) in spec {
                            if direction(dir).is_none() {
                                return Err(Error::coded(
                                    2942505,
                                    "$sort key ordering must be 1 (for ascending) or -1 (for \
                                     descending)",
                                ));
                            }
                        }
                    }
                    v if Num::of(v).is_some() => {
                        if direction(v).is_none() {
                            return Err(Error::coded(
                                2942506,
                                "The $sort element value must be either 1 or -1",
                            ));
                        }
                    }
                    _ => {
                        return Err(Error::coded(
                            2942507,
                            "The $sort is invalid: use 1/-1 to sort the whole element, or \
                             {field:1/-1} to sort embedded fields",
                        ))
                    }
                }
                sort_by = Some(Expr::Constant(value.clone()));
            }
            _ => {
                return Err(Error::coded(
                    2942501,
                    format!("$sortArray found an unknown argument: {key}"),
                ))
            }
        }
    }
    if input.is_none() {
        return Err(Error::coded(
            2942502,
            "$sortArray requires 'input' to be specified",
        ));
    }
    if sort_by.is_none() {
        return Err(Error::coded(
            2942503,
            "$sortArray requires 'sortBy' to be specified",
        ));
    }
    Ok(Operator::new(name, vec![input, sort_by], Vec::new()))
}

pub(super) fn sort_array(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let input = op.arg(0, ctx)?;
    let sort_by = op.arg(1, ctx)?;
    let mut items = match input {
        Some(Bson::Array(items)) => items,
        v if is_nullish(v.as_ref()) => return null(),
        v => {
            return Err(Error::coded(
                2942504,
                format!(
                    "The input argument to $sortArray must be an array, but was of type: {}",
                    type_name(v.as_ref())
                ),
            ))
        }
    };
    let collation = ctx.collation();
    match &sort_by {
        Some(Bson::Document(spec)) => {
            let keys: Vec<(&str, bool)> = spec
                .iter()
                .map(|(path, dir)| (path.as_str(), direction(dir).unwrap_or(true)))
                .collect();
            items.sort_by(|a, b| {
                for (path, ascending) in &keys {
                    let ord = compare_with(&sort_key(a, path), &sort_key(b, path), collation);
                    let ord = if *ascending { ord } else { ord.reverse() };
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
                Ordering::Equal
            });
        }
        Some(v) => {
            let ascending = direction(v).unwrap_or(true);
            items.sort_by(|a, b| {
                let ord = compare_with(a, b, collation);
                if ascending {
                    ord
                } else {
                    ord.reverse()
                }
            });
        }
        None => {}
    }
    array(items)
}

/// Evaluates `{n, input}` of `$firstN`/`$lastN`/`$maxN`/`$minN`: `n` a positive integral
/// number, `input` an array (null is an error too, as in MongoDB).
fn n_and_input(op: &Operator, ctx: &Ctx<'_>) -> Result<(usize, Vec<Bson>)> {
    let n = op.arg(0, ctx)?;
    let shown = display(n.as_ref());
    let Some(number) = n.as_ref().and_then(Num::of) else {
        return Err(Error::coded(
            5787902,
            format!("Value for 'n' must be of integral type, but found {shown}"),
        ));
    };
    let Some(count) = number.to_i64_exact() else {
        return Err(Error::coded(
            5787903,
            format!("Value for 'n' must be of integral type, but found {shown}"),
        ));
    };
    if count <= 0 {
        return Err(Error::coded(
            5787908,
            format!("'n' must be greater than 0, found {count}"),
        ));
    }
    let Some(Bson::Array(items)) = op.arg(1, ctx)? else {
        return Err(Error::coded(5788200, "Input must be an array"));
    };
    Ok((usize::try_from(count).unwrap_or(usize::MAX), items))
}

pub(super) fn first_n(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let (n, items) = n_and_input(op, ctx)?;
    array(items.into_iter().take(n).collect())
}

pub(super) fn last_n(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let (n, items) = n_and_input(op, ctx)?;
    let skip = items.len().saturating_sub(n);
    array(items.into_iter().skip(skip).collect())
}

/// `$maxN`/`$minN`: the n largest (smallest) values that are not null or missing.
fn extreme_n(op: &Operator, ctx: &Ctx<'_>, largest: bool) -> Out {
    let (n, items) = n_and_input(op, ctx)?;
    let mut kept: Vec<Bson> = items
        .into_iter()
        .filter(|v| !matches!(v, Bson::Null | Bson::Undefined))
        .collect();
    let collation = ctx.collation();
    kept.sort_by(|a, b| {
        let ord = compare_with(a, b, collation);
        if largest {
            ord.reverse()
        } else {
            ord
        }
    });
    kept.truncate(n);
    array(kept)
}

pub(super) fn max_n(op: &Operator, ctx: &Ctx<'_>) -> Out {
    extreme_n(op, ctx, true)
}

pub(super) fn min_n(op: &Operator, ctx: &Ctx<'_>) -> Out {
    extreme_n(op, ctx, false)
}

fn elements_true(op: &Operator, ctx: &Ctx<'_>, all: bool, code: i32) -> Out {
    match op.arg(0, ctx)? {
        Some(Bson::Array(items)) => {
            let result = if all {
                items.iter().all(|v| truthy(Some(v)))
            } else {
                items.iter().any(|v| truthy(Some(v)))
            };
            boolean(result)
        }
        v => Err(Error::coded(
            code,
            format!(
                "{}'s argument must be an array, but is {}",
                op.name,
                type_name(v.as_ref())
            ),
        )),
    }
}

pub(super) fn all_elements_true(op: &Operator, ctx: &Ctx<'_>) -> Out {
    elements_true(op, ctx, true, 17040)
}

pub(super) fn any_element_true(op: &Operator, ctx: &Ctx<'_>) -> Out {
    elements_true(op, ctx, false, 17041)
}

/// The distinct values of `items` (MongoDB equality), in first-seen order.
fn distinct(items: impl IntoIterator<Item = Bson>, collation: Option<&Collation>) -> Vec<Bson> {
    let mut out: Vec<Bson> = Vec::new();
    for item in items {
        if !out.iter().any(|o| equal_with(o, &item, collation)) {
            out.push(item);
        }
    }
    out
}

fn contains(set: &[Bson], v: &Bson, collation: Option<&Collation>) -> bool {
    set.iter().any(|o| equal_with(o, v, collation))
}

pub(super) fn set_union(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let mut all = Vec::new();
    for v in op.eval_args(ctx)? {
        match v {
            Some(Bson::Array(items)) => all.extend(items),
            v if is_nullish(v.as_ref()) => return null(),
            v => {
                return Err(Error::coded(
                    17043,
                    format!(
                        "All operands of $setUnion must be arrays. One argument is of type: {}",
                        type_name(v.as_ref())
                    ),
                ))
            }
        }
    }
    let collation = ctx.collation();
    array(sorted(distinct(all, collation), collation))
}

/// Values in MongoDB's order (`$setUnion` and `$setIntersection` answer sorted sets).
fn sorted(mut items: Vec<Bson>, collation: Option<&Collation>) -> Vec<Bson> {
    items.sort_by(|a, b| compare_with(a, b, collation));
    items
}

pub(super) fn set_intersection(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let collation = ctx.collation();
    let mut result: Option<Vec<Bson>> = None;
    let mut saw_null = false;
    for v in op.eval_args(ctx)? {
        match v {
            Some(Bson::Array(items)) => {
                let items = distinct(items, collation);
                result = Some(match result {
                    None => items,
                    Some(current) => current
                        .into_iter()
                        .filter(|c| contains(&items, c, collation))
                        .collect(),
                });
            }
            v if is_nullish(v.as_ref()) => {
                saw_null = true;
                break;
            }
            v => {
                return Err(Error::coded(
                    17047,
                    format!(
                        "All operands of $setIntersection must be arrays. One argument is of \
                         type: {}",
                        type_name(v.as_ref())
                    ),
                ))
            }
        }
    }
    if saw_null {
        return null();
    }
    array(sorted(result.unwrap_or_default(), collation))
}

pub(super) fn set_difference(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let a = op.arg(0, ctx)?;
    let b = op.arg(1, ctx)?;
    if is_nullish(a.as_ref()) || is_nullish(b.as_ref()) {
        return null();
    }
    let Some(Bson::Array(a)) = a else {
        return Err(Error::coded(
            17048,
            format!(
                "both operands of $setDifference must be arrays. First argument is of type: {}",
                type_name(a.as_ref())
            ),
        ));
    };
    let Some(Bson::Array(b)) = b else {
        return Err(Error::coded(
            17049,
            format!(
                "both operands of $setDifference must be arrays. Second argument is of type: {}",
                type_name(b.as_ref())
            ),
        ));
    };
    let collation = ctx.collation();
    array(
        distinct(a, collation)
            .into_iter()
            .filter(|v| !contains(&b, v, collation))
            .collect(),
    )
}

pub(super) fn set_equals(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let mut sets: Vec<Vec<Bson>> = Vec::new();
    for (i, v) in op.eval_args(ctx)?.into_iter().enumerate() {
        match v {
            Some(Bson::Array(items)) => sets.push(distinct(items, ctx.collation())),
            v => {
                return Err(Error::coded(
                    17044,
                    format!(
                        "All operands of $setEquals must be arrays. {}-th argument is of type: {}",
                        i + 1,
                        type_name(v.as_ref())
                    ),
                ))
            }
        }
    }
    let Some((first, rest)) = sets.split_first() else {
        return boolean(true);
    };
    let same = rest
        .iter()
        .all(|s| s.len() == first.len() && s.iter().all(|v| contains(first, v, ctx.collation())));
    boolean(same)
}

pub(super) fn set_is_subset(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let a = op.arg(0, ctx)?;
    let b = op.arg(1, ctx)?;
    let Some(Bson::Array(a)) = a else {
        return Err(Error::coded(
            17046,
            format!(
                "both operands of $setIsSubset must be arrays. First argument is of type: {}",
                type_name(a.as_ref())
            ),
        ));
    };
    let Some(Bson::Array(b)) = b else {
        return Err(Error::coded(
            17042,
            format!(
                "both operands of $setIsSubset must be arrays. Second argument is of type: {}",
                type_name(b.as_ref())
            ),
        ));
    };
    boolean(a.iter().all(|v| contains(&b, v, ctx.collation())))
}

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

pub(super) fn sum(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let values = accumulator_inputs(op, ctx)?;
    Ok(Some(numeric_sum(&values).0.to_bson()))
}

pub(super) fn avg(op: &Operator, ctx: &Ctx<'_>) -> Out {
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

pub(super) fn min(op: &Operator, ctx: &Ctx<'_>) -> Out {
    extreme(op, ctx, false)
}

pub(super) fn max(op: &Operator, ctx: &Ctx<'_>) -> Out {
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

pub(super) fn std_dev_pop(op: &Operator, ctx: &Ctx<'_>) -> Out {
    std_dev(op, ctx, false)
}

pub(super) fn std_dev_samp(op: &Operator, ctx: &Ctx<'_>) -> Out {
    std_dev(op, ctx, true)
}
