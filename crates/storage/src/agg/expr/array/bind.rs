//! The operators that bind a variable per element: `$filter` (with `limit`), `$map` and
//! `$reduce`, parsed from their named parts (`input`, `as`, `cond`/`in`, `initialValue`) with
//! the bound names in scope.

use bson::Bson;

use super::{array, as_i32, display, null, Out};
use crate::agg::expr::{
    is_nullish, truthy, type_name, validate_user_variable_name, Budget, Ctx, Expr, Operator,
    ParseScope,
};
use crate::error::{Error, Result};

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
pub(crate) fn parse_filter(
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

pub(crate) fn filter(op: &Operator, ctx: &Ctx<'_>) -> Out {
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
pub(crate) fn parse_map(
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

pub(crate) fn map(op: &Operator, ctx: &Ctx<'_>) -> Out {
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
pub(crate) fn parse_reduce(
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

pub(crate) fn reduce(op: &Operator, ctx: &Ctx<'_>) -> Out {
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
