//! Set operators (`$setUnion`, `$setIntersection`, `$setDifference`, `$setEquals`,
//! `$setIsSubset`) and `$allElementsTrue`/`$anyElementTrue`: arrays as sets, compared under
//! the expression's collation, duplicates removed and results sorted.

use bson::Bson;

use super::{array, boolean, null, Out};
use crate::agg::expr::{is_nullish, truthy, type_name, Ctx, Operator, ParseScope};
use crate::error::{Error, Result};
use crate::value::{compare_with, equal_with, Collation};

/// `$setEquals` needs at least two arguments.
pub(crate) fn parse_set_equals(
    name: &'static str,
    arg: &Bson,
    scope: &mut ParseScope,
) -> Result<Operator> {
    let args = crate::agg::expr::positional_args(arg, scope)?;
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

pub(crate) fn all_elements_true(op: &Operator, ctx: &Ctx<'_>) -> Out {
    elements_true(op, ctx, true, 17040)
}

pub(crate) fn any_element_true(op: &Operator, ctx: &Ctx<'_>) -> Out {
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

pub(crate) fn set_union(op: &Operator, ctx: &Ctx<'_>) -> Out {
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

pub(crate) fn set_intersection(op: &Operator, ctx: &Ctx<'_>) -> Out {
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

pub(crate) fn set_difference(op: &Operator, ctx: &Ctx<'_>) -> Out {
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

pub(crate) fn set_equals(op: &Operator, ctx: &Ctx<'_>) -> Out {
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

pub(crate) fn set_is_subset(op: &Operator, ctx: &Ctx<'_>) -> Out {
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
