//! Object operators: `$mergeObjects`, `$getField`, `$setField`, `$unsetField`,
//! `$objectToArray`, `$arrayToObject`.

use bson::{doc, Bson, Document};

use super::{is_nullish, type_name, Ctx, Expr, Operator, ParseScope, Shape};
use crate::error::{Error, Result};

type Out = Result<Option<Bson>>;

fn null() -> Out {
    Ok(Some(Bson::Null))
}

pub(super) const SET_FIELD_SHAPE: Shape = Shape::Custom(parse_set_field);

pub(super) const UNSET_FIELD_SHAPE: Shape = Shape::Custom(parse_set_field);

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

/// Checks the `field` argument of `$getField`/`$setField`: MongoDB requires a constant
/// string (a field path is refused with a hint to use `$literal`).
fn check_field_argument(
    name: &str,
    field: &Expr,
    path_code: i32,
    constant_code: i32,
    string_code: i32,
) -> Result<()> {
    match field {
        Expr::Path(_) => Err(Error::coded(
            path_code,
            "the 'field' argument is a field path reference which is not allowed in this \
             context. Did you mean {$literal: '...'}?",
        )),
        Expr::Constant(Bson::String(_)) => Ok(()),
        Expr::Constant(other) => Err(Error::coded(
            string_code,
            format!(
                "{name} requires 'field' to evaluate to type String, but got {}",
                type_name(Some(other))
            ),
        )),
        // MongoDB folds constant sub-expressions first; ours are checked when evaluated.
        Expr::Operator(_) => Ok(()),
        _ => Err(Error::coded(
            constant_code,
            format!(
                "{name} requires 'field' to evaluate to a constant, but got a non-constant \
                 argument"
            ),
        )),
    }
}

/// `$getField: {field, input}` or `$getField: <field>` (input `$$CURRENT`). Arguments: field,
/// input (absent means `$$CURRENT`).
pub(super) fn parse_get_field(
    name: &'static str,
    arg: &Bson,
    scope: &mut ParseScope,
) -> Result<Operator> {
    let (field, input) = match arg {
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
            if input.is_none() {
                return Err(Error::coded(
                    3041703,
                    "$getField requires 'input' to be specified",
                ));
            }
            (field, input)
        }
        other => (Expr::parse_in(other, scope)?, None),
    };
    check_field_argument(name, &field, 5654600, 5654601, 5654602)?;
    Ok(Operator::new(name, vec![Some(field), input], Vec::new()))
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

/// `$getField`: missing input gives missing, null gives null, a non-object gives missing.
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
        Some(Bson::Null) | Some(Bson::Undefined) => null(),
        _ => Ok(None),
    }
}

/// `$setField: {field, input, value}` and `$unsetField: {field, input}`. Arguments: field,
/// input, value (absent for `$unsetField`).
pub(super) fn parse_set_field(
    name: &'static str,
    arg: &Bson,
    scope: &mut ParseScope,
) -> Result<Operator> {
    let unset = name == "$unsetField";
    let Bson::Document(d) = arg else {
        return Err(Error::coded(
            4161100,
            format!("{name} only supports an object as its argument"),
        ));
    };
    let (mut field, mut input, mut value) = (None, None, None);
    for (key, v) in d {
        match key.as_str() {
            "field" => field = Some(Expr::parse_in(v, scope)?),
            "input" => input = Some(Expr::parse_in(v, scope)?),
            "value" if !unset => value = Some(Expr::parse_in(v, scope)?),
            _ => {
                return Err(Error::coded(
                    4161101,
                    format!("{name} found an unknown argument: {key}"),
                ))
            }
        }
    }
    let Some(field) = field else {
        return Err(Error::coded(
            4161102,
            format!("{name} requires 'field' to be specified"),
        ));
    };
    if !unset && value.is_none() {
        return Err(Error::coded(
            4161103,
            format!("{name} requires 'value' to be specified"),
        ));
    }
    if input.is_none() {
        return Err(Error::coded(
            4161109,
            format!("{name} requires 'input' to be specified"),
        ));
    }
    check_field_argument(name, &field, 4161108, 4161106, 4161107)?;
    Ok(Operator::new(
        name,
        vec![Some(field), input, value],
        Vec::new(),
    ))
}

/// `$setField`/`$unsetField`: a missing `value` removes the field.
pub(super) fn set_field(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let field = field_name(op, ctx)?;
    let input = op.arg(1, ctx)?;
    let mut d = match input {
        Some(Bson::Document(d)) => d,
        v if is_nullish(v.as_ref()) => return null(),
        _ => {
            return Err(Error::coded(
                4161105,
                format!("{} requires 'input' to evaluate to type Object", op.name),
            ))
        }
    };
    match op.arg(2, ctx)? {
        Some(v) => {
            d.insert(field, v);
        }
        None => {
            d.remove(&field);
        }
    }
    Ok(Some(Bson::Document(d)))
}

pub(super) fn unset_field(op: &Operator, ctx: &Ctx<'_>) -> Out {
    set_field(op, ctx)
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

fn check_key(key: &str, code: i32) -> Result<()> {
    if key.contains('\0') {
        return Err(Error::coded(
            code,
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
    let pairs_form = match items.first() {
        None => return Ok(Some(Bson::Document(out))),
        Some(Bson::Array(_)) => true,
        Some(Bson::Document(_)) => false,
        Some(other) => {
            return Err(Error::coded(
                40398,
                format!(
                    "Unrecognised input type format for $arrayToObject: {}",
                    type_name(Some(other))
                ),
            ))
        }
    };
    for item in items {
        if pairs_form {
            let Bson::Array(pair) = item else {
                return Err(Error::coded(
                    40396,
                    format!(
                        "$arrayToObject requires a consistent input format. Elements mustall be \
                         arrays or all be objects. Array was detected, now found: {}",
                        type_name(Some(&item))
                    ),
                ));
            };
            if pair.len() != 2 {
                return Err(Error::coded(
                    40397,
                    format!(
                        "$arrayToObject requires an array of size 2 arrays,found array of size: \
                         {}",
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
                        "$arrayToObject requires an array of key-value pairs, where the key must \
                         be of type string. Found key type: {}",
                        type_name(Some(&k))
                    ),
                ));
            };
            check_key(&k, 4940400)?;
            out.insert(k, v);
        } else {
            let Bson::Document(mut d) = item else {
                return Err(Error::coded(
                    40391,
                    format!(
                        "$arrayToObject requires a consistent input format. Elements mustall be \
                         arrays or all be objects. Object was detected, now found: {}",
                        type_name(Some(&item))
                    ),
                ));
            };
            if d.len() != 2 {
                return Err(Error::coded(
                    40392,
                    format!(
                        "$arrayToObject requires an object keys of 'k' and 'v'. Found incorrect \
                         number of keys:{}",
                        d.len()
                    ),
                ));
            }
            let shown = d.to_string();
            let (Some(k), Some(v)) = (d.remove("k"), d.remove("v")) else {
                return Err(Error::coded(
                    40393,
                    format!(
                        "$arrayToObject requires an object with keys 'k' and 'v'. Missing either \
                         or both keys from: {shown}"
                    ),
                ));
            };
            let Bson::String(k) = k else {
                return Err(Error::coded(
                    40394,
                    format!(
                        "$arrayToObject requires an object with keys 'k' and 'v', where the value \
                         of 'k' must be of type string. Found type: {}",
                        type_name(Some(&k))
                    ),
                ));
            };
            check_key(&k, 4940401)?;
            out.insert(k, v);
        }
    }
    Ok(Some(Bson::Document(out)))
}

/// `$bsonSize`: the encoded size of a document in bytes.
pub(super) fn bson_size(op: &Operator, ctx: &Ctx<'_>) -> Out {
    match op.arg(0, ctx)? {
        Some(Bson::Document(d)) => {
            let size = bson::to_vec(&d).map(|bytes| bytes.len())?;
            Ok(Some(Bson::Int32(i32::try_from(size).unwrap_or(i32::MAX))))
        }
        v if is_nullish(v.as_ref()) => null(),
        v => Err(Error::coded(
            31393,
            format!(
                "$bsonSize requires a document input, found: {}",
                type_name(v.as_ref())
            ),
        )),
    }
}

/// `$binarySize`: the length in bytes of a string or binary value.
pub(super) fn binary_size(op: &Operator, ctx: &Ctx<'_>) -> Out {
    let size = match op.arg(0, ctx)? {
        Some(Bson::String(s)) => s.len(),
        Some(Bson::Binary(b)) => b.bytes.len(),
        v if is_nullish(v.as_ref()) => return null(),
        v => {
            return Err(Error::coded(
                51276,
                format!(
                    "$binarySize requires a string or BinData argument, found: {}",
                    type_name(v.as_ref())
                ),
            ))
        }
    };
    Ok(Some(Bson::Int32(i32::try_from(size).unwrap_or(i32::MAX))))
}
