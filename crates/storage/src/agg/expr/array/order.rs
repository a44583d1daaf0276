//! The operators that order or pick by value: `$sortArray` (by the whole element or by
//! fields of document elements), `$firstN`/`$lastN` and `$maxN`/`$minN` (the `{n, input}`
//! shape).

use std::cmp::Ordering;

use bson::Bson;

use super::{array, display, null, Out};
use crate::agg::expr::number::Num;
use crate::agg::expr::{
    is_nullish, type_name, Ctx, Expr, MissingStyle, NamedArgs, Operator, ParseScope, Shape,
    UnknownStyle,
};
use crate::error::{Error, Result};
use crate::value::compare_with;

pub(crate) const SORT_ARRAY_SHAPE: Shape = Shape::Custom(parse_sort_array);

pub(crate) const N_SHAPE: Shape = Shape::Named(&NamedArgs {
    fields: &[("n", 5787906), ("input", 5787907)],
    not_object: 5787900,
    unknown: 5787901,
    unknown_style: UnknownStyle::FoundUnknown,
    missing_style: MissingStyle::MissingValue,
});

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
pub(crate) fn parse_sort_array(
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

pub(crate) fn sort_array(op: &Operator, ctx: &Ctx<'_>) -> Out {
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

pub(crate) fn first_n(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let (n, items) = n_and_input(op, ctx)?;
    array(items.into_iter().take(n).collect())
}

pub(crate) fn last_n(op: &Operator, ctx: &Ctx<'_>) -> Out {
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

pub(crate) fn max_n(op: &Operator, ctx: &Ctx<'_>) -> Out {
    extreme_n(op, ctx, true)
}

pub(crate) fn min_n(op: &Operator, ctx: &Ctx<'_>) -> Out {
    extreme_n(op, ctx, false)
}
