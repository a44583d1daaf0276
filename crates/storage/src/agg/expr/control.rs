//! The operators that parse their own arguments or bind variables: `$rand`, `$literal`,
//! `$cond`, `$ifNull`, `$switch` and `$let`.

use bson::Bson;

use super::budget::Budget;
use super::parse::{check_arity, positional_args};
use super::path::validate_user_variable_name;
use super::{type_name, Ctx, Expr, Operator, ParseScope};
use crate::error::{Error, Result};

/// `$rand: {}` (an empty object, or an empty array).
pub(super) fn parse_rand(
    name: &'static str,
    arg: &Bson,
    _scope: &mut ParseScope,
) -> Result<Operator> {
    match arg {
        Bson::Document(d) if d.is_empty() => Ok(Operator::new(name, Vec::new(), Vec::new())),
        Bson::Array(a) if a.is_empty() => Ok(Operator::new(name, Vec::new(), Vec::new())),
        _ => Err(Error::coded(
            3040501,
            "$rand does not currently accept arguments",
        )),
    }
}

pub(super) fn parse_literal(
    name: &'static str,
    arg: &Bson,
    _scope: &mut ParseScope,
) -> Result<Operator> {
    Ok(Operator::new(
        name,
        vec![Some(Expr::Constant(arg.clone()))],
        Vec::new(),
    ))
}

/// `$cond: [if, then, else]` or `$cond: {if, then, else}`.
pub(super) fn parse_cond(
    name: &'static str,
    arg: &Bson,
    scope: &mut ParseScope,
) -> Result<Operator> {
    if let Bson::Document(d) = arg {
        let mut slots: [Option<Expr>; 3] = [None, None, None];
        for (key, value) in d {
            let i = match key.as_str() {
                "if" => 0,
                "then" => 1,
                "else" => 2,
                _ => {
                    return Err(Error::coded(
                        17083,
                        format!("Unrecognized parameter to $cond: {key}"),
                    ))
                }
            };
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(Expr::parse_in(value, scope)?);
            }
        }
        for (i, (field, code)) in [("if", 17080), ("then", 17081), ("else", 17082)]
            .iter()
            .enumerate()
        {
            if slots.get(i).is_some_and(|s| s.is_none()) {
                return Err(Error::coded(
                    *code,
                    format!("Missing '{field}' parameter to $cond"),
                ));
            }
        }
        return Ok(Operator::new(name, slots.into_iter().collect(), Vec::new()));
    }
    let args = positional_args(arg, scope)?;
    check_arity(name, args.len(), 3, 3)?;
    Ok(Operator::new(
        name,
        args.into_iter().map(Some).collect(),
        Vec::new(),
    ))
}

pub(super) fn parse_if_null(
    name: &'static str,
    arg: &Bson,
    scope: &mut ParseScope,
) -> Result<Operator> {
    let args = positional_args(arg, scope)?;
    if args.len() < 2 {
        return Err(Error::coded(
            1257300,
            "$ifNull needs at least two arguments, had: ".to_string() + &args.len().to_string(),
        ));
    }
    Ok(Operator::new(
        name,
        args.into_iter().map(Some).collect(),
        Vec::new(),
    ))
}

/// `$switch: {branches: [{case, then}, ...], default}`: arguments are case0, then0, case1,
/// then1, ..., and the default last (possibly absent).
pub(super) fn parse_switch(
    name: &'static str,
    arg: &Bson,
    scope: &mut ParseScope,
) -> Result<Operator> {
    let Bson::Document(d) = arg else {
        return Err(Error::coded(
            40060,
            format!(
                "$switch requires an object as an argument, found: {}",
                type_name(Some(arg))
            ),
        ));
    };
    let mut args: Vec<Option<Expr>> = Vec::new();
    let mut default = None;
    let mut saw_branches = false;
    for (key, value) in d {
        match key.as_str() {
            "branches" => {
                saw_branches = true;
                let Bson::Array(branches) = value else {
                    return Err(Error::coded(
                        40061,
                        format!(
                            "$switch expected an array for 'branches', found: {}",
                            type_name(Some(value))
                        ),
                    ));
                };
                for branch in branches {
                    let Bson::Document(b) = branch else {
                        return Err(Error::coded(
                            40062,
                            format!(
                                "$switch expected each branch to be an object, found: {}",
                                type_name(Some(branch))
                            ),
                        ));
                    };
                    let (mut case, mut then) = (None, None);
                    for (bk, bv) in b {
                        match bk.as_str() {
                            "case" => case = Some(Expr::parse_in(bv, scope)?),
                            "then" => then = Some(Expr::parse_in(bv, scope)?),
                            _ => {
                                return Err(Error::coded(
                                    40063,
                                    format!("$switch found an unknown argument to a branch: {bk}"),
                                ))
                            }
                        }
                    }
                    if case.is_none() {
                        return Err(Error::coded(
                            40064,
                            "$switch requires each branch have a 'case' expression",
                        ));
                    }
                    if then.is_none() {
                        return Err(Error::coded(
                            40065,
                            "$switch requires each branch have a 'then' expression.",
                        ));
                    }
                    args.push(case);
                    args.push(then);
                }
            }
            "default" => default = Some(Expr::parse_in(value, scope)?),
            _ => {
                return Err(Error::coded(
                    40067,
                    format!("$switch found an unknown argument: {key}"),
                ))
            }
        }
    }
    if !saw_branches || args.is_empty() {
        return Err(Error::coded(40068, "$switch requires at least one branch."));
    }
    args.push(default);
    Ok(Operator::new(name, args, Vec::new()))
}

/// `$let: {vars: {x: <expr>, ...}, in: <expr>}`: arguments are the variables' expressions
/// then `in`; names are the variables' names.
pub(super) fn parse_let(
    name: &'static str,
    arg: &Bson,
    scope: &mut ParseScope,
) -> Result<Operator> {
    let Bson::Document(d) = arg else {
        return Err(Error::coded(
            16874,
            "$let only supports an object as its argument",
        ));
    };
    let mut vars_spec = None;
    let mut in_spec = None;
    for (key, value) in d {
        match key.as_str() {
            "vars" => vars_spec = Some(value),
            "in" => in_spec = Some(value),
            _ => {
                return Err(Error::coded(
                    16875,
                    format!("Unrecognized parameter to $let: {key}"),
                ))
            }
        }
    }
    let Some(vars_spec) = vars_spec else {
        return Err(Error::coded(16876, "Missing 'vars' parameter to $let"));
    };
    let Some(in_spec) = in_spec else {
        return Err(Error::coded(16877, "Missing 'in' parameter to $let"));
    };
    let Bson::Document(vars_doc) = vars_spec else {
        return Err(Error::coded(
            10065,
            "invalid parameter: expected an object (vars)",
        ));
    };
    let mut args = Vec::new();
    let mut names = Vec::new();
    // The variables' expressions see the enclosing scope only.
    for (var, value) in vars_doc {
        validate_user_variable_name(var)?;
        args.push(Some(Expr::parse_in(value, scope)?));
        names.push(var.clone());
    }
    let depth = scope.locals.len();
    scope.locals.extend(names.iter().cloned());
    let body = Expr::parse_in(in_spec, scope);
    scope.locals.truncate(depth);
    args.push(Some(body?));
    Ok(Operator::new(name, args, names))
}

pub(super) fn eval_let(op: &Operator, ctx: &Ctx<'_>) -> Result<Option<Bson>> {
    let n = op.names.len();
    let mut values = Vec::with_capacity(n);
    let mut budget = Budget::new("$let");
    for i in 0..n {
        let v = op.arg(i, ctx)?;
        if let Some(v) = &v {
            budget.add(v)?;
        }
        values.push(v);
    }
    eval_with_bindings(op, n, &op.names, values, ctx)
}

/// Evaluates argument `body` with `names` bound to `values` (one frame each, chained).
fn eval_with_bindings(
    op: &Operator,
    body: usize,
    names: &[String],
    mut values: Vec<Option<Bson>>,
    ctx: &Ctx<'_>,
) -> Result<Option<Bson>> {
    match names.split_first() {
        None => op.arg(body, ctx),
        Some((first, rest)) => {
            let value = if values.is_empty() {
                None
            } else {
                values.remove(0)
            };
            let frame = ctx.frame(first, value);
            let inner = ctx.with(&frame);
            eval_with_bindings(op, body, rest, values, &inner)
        }
    }
}
