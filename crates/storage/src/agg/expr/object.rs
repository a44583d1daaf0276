//! Object operators: `$mergeObjects`, `$getField`, `$setField`, `$unsetField`,
//! `$objectToArray`, `$arrayToObject`.

use bson::{doc, Bson, Document};

use super::{is_nullish, type_name, Ctx, Expr, Operator, ParseScope, Shape};
use crate::error::{Error, Result};

type Out = Result<Option<Bson>>;

fn null() -> Out {
    Ok(Some(Bson::Null))
}

pub(super) const SET_FIELD_SHAPE: Shape = Shape::Named {
    fields: &["!field", "!input", "!value"],
    unknown_code: 4161100,
    missing_code: 4161101,
};

pub(super) const UNSET_FIELD_SHAPE: Shape = Shape::Named {
    fields: &["!field", "!input"],
    unknown_code: 4161100,
    missing_code: 4161101,
};

pub(super) fn merge_objects(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let mut out = Document::new();
    for v in op.eval_args(ctx)? {
        match v {
            Some(Bson::Document(d)) => {
                for (k, v) in d {
                    out.insert(k, v);
                }
            }
            v if is_nullish(v.as_ref()) => {}
            v => {
                return Err(Error::coded(
                    40400,
                    format!(
                        "$mergeObjects requires object inputs, but input {} is of type {}",
                        v.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                        type_name(v.as_ref())
                    ),
                ))
            }
        }
    }
    Ok(Some(Bson::Document(out)))
}

/// `$getField: {field, input}` or `$getField: "name"` (input `$$CURRENT`). Arguments: field,
/// input (absent means `$$CURRENT`).
pub(super) fn parse_get_field(
    name: &'static str,
    arg: &Bson,
    scope: &mut ParseScope,
) -> Result<Operator> {
    match arg {
        Bson::Document(d) if !d.keys().next().is_some_and(|k| k.starts_with('$')) => {
            let mut field = None;
            let mut input = None;
            for (key, value) in d {
                match key.as_str() {
                    "field" => field = Some(Expr::parse_in(value, scope)?),
                    "input" => input = Some(Expr::parse_in(value, scope)?),
                    _ => {
                        return Err(Error::coded(
                            3041701,
                            format!("$getField found an unknown argument: {key}"),
                        ))
                    }
                }
            }
            let Some(field) = field else {
                return Err(Error::coded(
                    3041702,
                    "$getField requires 'field' to be specified",
                ));
            };
            Ok(Operator::new(name, vec![Some(field), input], Vec::new()))
        }
        other => Ok(Operator::new(
            name,
            vec![Some(Expr::parse_in(other, scope)?), None],
            Vec::new(),
        )),
    }
}

fn field_name(op: &Operator, ctx: &Ctx<'_>) -> Result<String> {
    match op.arg(0, ctx)? {
        Some(Bson::String(s)) => Ok(s),
        other => Err(Error::coded(
            3041704,
            format!(
                "{} requires 'field' to evaluate to type String, but got {}",
                op.name,
                type_name(other.as_ref())
            ),
        )),
    }
}

pub(super) fn get_field(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let field = field_name(op, ctx)?;
    let input = if op.has(1) {
        op.arg(1, ctx)?
    } else {
        match ctx.local("CURRENT") {
            Some(frame) => frame.value.clone(),
            None => return Ok(ctx.root.get(&field).cloned()),
        }
    };
    match input {
        Some(Bson::Document(d)) => Ok(d.get(&field).cloned()),
        None => Ok(None),
        v if is_nullish(v.as_ref()) => null(),
        v => Err(Error::coded(
            3041705,
            format!(
                "$getField requires 'input' to evaluate to type Object, but got {}",
                type_name(v.as_ref())
            ),
        )),
    }
}

/// `$setField`/`$unsetField`: a missing `value` removes the field.
fn set_or_unset(op: &Operator, ctx: &Ctx<'_>, unset: bool) -> Out {
    let field = field_name(op, ctx)?;
    let input = op.arg(1, ctx)?;
    let mut d = match input {
        Some(Bson::Document(d)) => d,
        v if is_nullish(v.as_ref()) => return null(),
        v => {
            return Err(Error::coded(
                4161105,
                format!(
                    "{} requires 'input' to evaluate to type Object, but got {}",
                    op.name,
                    type_name(v.as_ref())
                ),
            ))
        }
    };
    let value = if unset { None } else { op.arg(2, ctx)? };
    match value {
        Some(v) => {
            d.insert(field, v);
        }
        None => {
            d.remove(&field);
        }
    }
    Ok(Some(Bson::Document(d)))
}

pub(super) fn set_field(op: &Operator, ctx: &Ctx<'_>) -> Out {
    set_or_unset(op, ctx, false)
}

pub(super) fn unset_field(op: &Operator, ctx: &Ctx<'_>) -> Out {
    set_or_unset(op, ctx, true)
}

pub(super) fn object_to_array(op: &Operator, ctx: &Ctx<'_>) -> Out {
    match op.arg(0, ctx)? {
        Some(Bson::Document(d)) => Ok(Some(Bson::Array(
            d.into_iter()
                .map(|(k, v)| Bson::Document(doc! {"k": k, "v": v}))
                .collect(),
        ))),
        v if is_nullish(v.as_ref()) => null(),
        v => Err(Error::coded(
            40390,
            format!(
                "$objectToArray requires a document input, found: {}",
                type_name(v.as_ref())
            ),
        )),
    }
}

fn check_key(key: &str) -> Result<()> {
    if key.contains('\0') {
        return Err(Error::coded(
            4940400,
            "Key field cannot contain an embedded null byte",
        ));
    }
    Ok(())
}

pub(super) fn array_to_object(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let items = match op.arg(0, ctx)? {
        Some(Bson::Array(items)) => items,
        v if is_nullish(v.as_ref()) => return null(),
        v => {
            return Err(Error::coded(
                40386,
                format!(
                    "$arrayToObject requires an array input, found: {}",
                    type_name(v.as_ref())
                ),
            ))
        }
    };
    let mut out = Document::new();
    let pairs_form = matches!(items.first(), Some(Bson::Array(_)));
    for item in items {
        match (item, pairs_form) {
            (Bson::Array(pair), true) => {
                if pair.len() != 2 {
                    return Err(Error::coded(
                        40397,
                        format!(
                            "$arrayToObject requires an array of size 2 arrays,found array of \
                             size: {}",
                            pair.len()
                        ),
                    ));
                }
                let mut pair = pair.into_iter();
                let (Some(k), Some(v)) = (pair.next(), pair.next()) else {
                    continue;
                };
                let Bson::String(k) = k else {
                    return Err(Error::coded(
                        40395,
                        format!(
                            "$arrayToObject requires an array of key-value pairs, where the key \
                             must be of type string. Found key type: {}",
                            type_name(Some(&k))
                        ),
                    ));
                };
                check_key(&k)?;
                out.insert(k, v);
            }
            (Bson::Document(mut d), false) => {
                if d.len() != 2 {
                    return Err(Error::coded(
                        40392,
                        format!(
                            "$arrayToObject requires an object keys of 'k' and 'v'. Found \
                             incorrect number of keys:{}",
                            d.len()
                        ),
                    ));
                }
                let (Some(k), Some(v)) = (d.remove("k"), d.remove("v")) else {
                    return Err(Error::coded(
                        40393,
                        format!(
                            "$arrayToObject requires an object with keys 'k' and 'v'. Missing \
                             either or both keys from: {d}"
                        ),
                    ));
                };
                let Bson::String(k) = k else {
                    return Err(Error::coded(
                        40394,
                        format!(
                            "$arrayToObject requires an object with keys 'k' and 'v', where the \
                             value of 'k' must be of type string. Found type: {}",
                            type_name(Some(&k))
                        ),
                    ));
                };
                check_key(&k)?;
                out.insert(k, v);
            }
            (other, _) => {
                return Err(Error::coded(
                    40398,
                    format!(
                        "Unrecognised input type format for $arrayToObject: {}",
                        type_name(Some(&other))
                    ),
                ))
            }
        }
    }
    Ok(Some(Bson::Document(out)))
}
