//! Parsing an expression's documents: object literals (with field name checks) and operator
//! documents (`{$op: args}`), with positional or named arguments checked for arity as
//! MongoDB does.

use bson::{Bson, Document};

use super::table::{lookup_operator, UNSUPPORTED_OPERATORS};
use super::{type_name, Expr, MissingStyle, NamedArgs, Operator, ParseScope, Shape, UnknownStyle};
use crate::error::{Error, Result};

pub(super) fn parse_object_literal(d: &Document, scope: &mut ParseScope) -> Result<Expr> {
    let mut fields: Vec<(String, Expr)> = Vec::with_capacity(d.len());
    for (name, value) in d {
        validate_field_name(name)?;
        if fields.iter().any(|(n, _)| n == name) {
            return Err(Error::coded(
                16406,
                format!("duplicate field name specified in object literal: {d}"),
            ));
        }
        fields.push((name.clone(), Expr::parse_in(value, scope)?));
    }
    if fields.iter().all(|(_, e)| e.as_constant().is_some()) {
        let mut out = Document::new();
        for (name, e) in fields {
            if let Expr::Constant(v) = e {
                out.insert(name, v);
            }
        }
        return Ok(Expr::Constant(Bson::Document(out)));
    }
    Ok(Expr::Object(fields))
}

/// MongoDB's rules for a field name inside a path or object literal.
pub(super) fn validate_field_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::coded(
            15998,
            "FieldPath field names may not be empty strings.",
        ));
    }
    if name.starts_with('$') {
        return Err(Error::coded(
            16410,
            format!(
                "FieldPath field names may not start with '$'. Consider using $getField or \
                 $setField. ('{name}')"
            ),
        ));
    }
    if name.contains('\0') {
        return Err(Error::coded(
            16411,
            "FieldPath field names may not contain '\\0'.",
        ));
    }
    if name.contains('.') {
        return Err(Error::coded(
            16412,
            format!("FieldPath field names may not contain '.'. ('{name}')"),
        ));
    }
    Ok(())
}

pub(super) fn parse_operator(d: &Document, scope: &mut ParseScope) -> Result<Expr> {
    let Some((name, arg)) = d.iter().next() else {
        return Err(Error::FailedToParse("empty expression".into()));
    };
    if UNSUPPORTED_OPERATORS.contains(&name.as_str()) {
        return Err(Error::NotSupported(format!(
            "the aggregation expression {name} is not supported"
        )));
    }
    let Some((static_name, shape, eval)) = lookup_operator(name) else {
        return Err(Error::coded(
            168,
            format!("Unrecognized expression '{name}'"),
        ));
    };
    let op = match shape {
        Shape::Positional { min, max } => {
            let args = positional_args(arg, scope)?;
            check_arity(static_name, args.len(), min, max)?;
            Operator {
                name: static_name,
                args: args.into_iter().map(Some).collect(),
                names: Vec::new(),
                extra: 0,
                regex_cache: std::sync::OnceLock::new(),
                eval,
            }
        }
        Shape::Named(spec) => {
            let args = parse_named_args(static_name, arg, spec, scope)?;
            Operator {
                name: static_name,
                args,
                names: Vec::new(),
                extra: 0,
                regex_cache: std::sync::OnceLock::new(),
                eval,
            }
        }
        Shape::Custom(parse) => {
            if static_name == "$literal" || static_name == "$const" {
                return Ok(Expr::Constant(arg.clone()));
            }
            let mut op = parse(static_name, arg, scope)?;
            op.eval = eval;
            op
        }
    };
    Ok(Expr::Operator(Box::new(op)))
}

/// `{$op: [a, b]}` has arguments a and b; `{$op: a}` has the one argument a.
pub(super) fn positional_args(arg: &Bson, scope: &mut ParseScope) -> Result<Vec<Expr>> {
    match arg {
        Bson::Array(items) => items.iter().map(|i| Expr::parse_in(i, scope)).collect(),
        other => Ok(vec![Expr::parse_in(other, scope)?]),
    }
}

pub(super) fn check_arity(name: &str, n: usize, min: usize, max: usize) -> Result<()> {
    if n >= min && n <= max {
        return Ok(());
    }
    if min == max {
        return Err(Error::coded(
            16020,
            format!("Expression {name} takes exactly {min} arguments. {n} were passed in."),
        ));
    }
    if max == usize::MAX {
        return Err(Error::coded(
            16020,
            format!("Expression {name} takes at least {min} arguments. {n} were passed in."),
        ));
    }
    Err(Error::coded(
        28667,
        format!(
            "Expression {name} takes at least {min} arguments, and at most {max}. {n} were \
             passed in."
        ),
    ))
}

/// Parses `{field: <expr>, ...}` into arguments in the order of the spec's fields.
fn parse_named_args(
    name: &str,
    arg: &Bson,
    spec: &NamedArgs,
    scope: &mut ParseScope,
) -> Result<Vec<Option<Expr>>> {
    let Bson::Document(d) = arg else {
        return Err(Error::coded(
            spec.not_object,
            format!(
                "{name} only supports an object as its argument, found {}",
                type_name(Some(arg))
            ),
        ));
    };
    let mut args: Vec<Option<Expr>> = vec![None; spec.fields.len()];
    for (key, value) in d {
        let Some(position) = spec.fields.iter().position(|(f, _)| f == key) else {
            let message = match spec.unknown_style {
                UnknownStyle::Argument => format!("Unrecognized argument to {name}: {key}"),
                UnknownStyle::FoundUnknown => format!("{name} found an unknown argument: {key}"),
                UnknownStyle::ArgumentExpected(rest) => {
                    format!("Unrecognized argument to {name}: {key}. {rest}")
                }
            };
            return Err(Error::coded(spec.unknown, message));
        };
        if let Some(slot) = args.get_mut(position) {
            *slot = Some(Expr::parse_in(value, scope)?);
        }
    }
    for ((field, code), slot) in spec.fields.iter().zip(args.iter()) {
        if *code != 0 && slot.is_none() {
            let message = match spec.missing_style {
                MissingStyle::Parameter => format!("Missing '{field}' parameter to {name}"),
                MissingStyle::Specified => format!("{name} requires '{field}' to be specified"),
                MissingStyle::RequiresParameter => format!("{name} requires '{field}' parameter"),
                MissingStyle::Field => format!("{name} requires an '{field}' field"),
                MissingStyle::MissingValue => format!("Missing value for '{field}'"),
                MissingStyle::Fixed(text) => format!("{name} {text}"),
            };
            return Err(Error::coded(*code, message));
        }
    }
    Ok(args)
}
