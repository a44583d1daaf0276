//! The stages that reshape each document: `$replaceRoot`/`$replaceWith` (the new root must
//! be a document), `$unwind` (path, `includeArrayIndex`, `preserveNullAndEmptyArrays`) and
//! `$redact` (`$$DESCEND`, `$$PRUNE`, `$$KEEP` level by level).

use bson::{Bson, Document};

use crate::agg::expr::{Expr, Vars};
use crate::agg::paths::{get_path, remove_path, set_path, type_name, validate_field_path};
use crate::error::{Error, Result};

/// `$replaceRoot`/`$replaceWith`: the new root must be a document (40228).
pub(super) fn replace_root(
    expr: &Expr,
    with: bool,
    doc: &Document,
    vars: &Vars,
) -> Result<Document> {
    match expr.eval(doc, vars)? {
        Some(Bson::Document(mut d)) => {
            crate::agg::project::carry_text_score(doc, &mut d);
            Ok(d)
        }
        other => {
            let what = if with {
                "'replacement document'"
            } else {
                "'newRoot' expression"
            };
            let (shown, type_shown) = match &other {
                Some(v) => (v.to_string(), type_name(v)),
                None => ("MISSING".to_string(), "missing"),
            };
            Err(Error::coded(
                40228,
                format!(
                    "{what} must evaluate to an object, but resulting value was: {shown}. Type of \
                     resulting value: '{type_shown}'. Input document: {doc}"
                ),
            ))
        }
    }
}

/// `$unwind`'s parsed specification.
#[derive(Debug, Clone)]
pub(crate) struct UnwindSpec {
    path: String,
    include_array_index: Option<String>,
    preserve_null_and_empty_arrays: bool,
}

impl UnwindSpec {
    pub(super) fn parse(spec: &Bson) -> Result<UnwindSpec> {
        let (path, include_array_index, preserve) = match spec {
            Bson::String(s) => (s.clone(), None, false),
            Bson::Document(d) => {
                let mut path = None;
                let mut index = None;
                let mut preserve = false;
                for (k, v) in d {
                    match k.as_str() {
                        "path" => match v {
                            Bson::String(s) => path = Some(s.clone()),
                            other => {
                                return Err(Error::coded(
                                    28808,
                                    format!(
                                        "expected a string as the path for $unwind stage, got {}",
                                        type_name(other)
                                    ),
                                ))
                            }
                        },
                        "includeArrayIndex" => match v {
                            Bson::String(s) if !s.is_empty() => {
                                if s.starts_with('$') {
                                    return Err(Error::coded(
                                        28822,
                                        format!(
                                            "includeArrayIndex option to $unwind stage should \
                                             not be prefixed with a '$': {s}"
                                        ),
                                    ));
                                }
                                validate_field_path(s)?;
                                index = Some(s.clone());
                            }
                            other => {
                                return Err(Error::coded(
                                    28810,
                                    format!(
                                        "expected a non-empty string for the includeArrayIndex \
                                         option to $unwind stage, got {}",
                                        type_name(other)
                                    ),
                                ))
                            }
                        },
                        "preserveNullAndEmptyArrays" => match v {
                            Bson::Boolean(b) => preserve = *b,
                            other => {
                                return Err(Error::coded(
                                    28809,
                                    format!(
                                        "expected a boolean for the preserveNullAndEmptyArrays \
                                         option to $unwind stage, got {}",
                                        type_name(other)
                                    ),
                                ))
                            }
                        },
                        other => {
                            return Err(Error::coded(
                                28811,
                                format!("unrecognized option to $unwind stage: {other}"),
                            ))
                        }
                    }
                }
                let Some(path) = path else {
                    return Err(Error::coded(28812, "no path specified to $unwind stage"));
                };
                (path, index, preserve)
            }
            other => {
                return Err(Error::coded(
                    15981,
                    format!(
                        "expected either a string or an object as specification for $unwind \
                         stage, got {}",
                        type_name(other)
                    ),
                ))
            }
        };
        if path.is_empty() {
            return Err(Error::coded(28812, "no path specified to $unwind stage"));
        }
        let Some(stripped) = path.strip_prefix('$') else {
            return Err(Error::coded(
                28818,
                format!("path option to $unwind stage should be prefixed with a '$': {path}"),
            ));
        };
        validate_field_path(stripped)?;
        Ok(UnwindSpec {
            path: stripped.to_string(),
            include_array_index,
            preserve_null_and_empty_arrays: preserve,
        })
    }

    pub(super) fn unwind(&self, doc: Document) -> Vec<Document> {
        let with_index = |mut d: Document, index: Bson| {
            if let Some(field) = &self.include_array_index {
                set_path(&mut d, field, index);
            }
            d
        };
        match get_path(&doc, &self.path).cloned() {
            Some(Bson::Array(items)) if !items.is_empty() => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let mut d = doc.clone();
                    set_path(&mut d, &self.path, item);
                    with_index(d, Bson::Int64(i64::try_from(i).unwrap_or(i64::MAX)))
                })
                .collect(),
            Some(Bson::Array(_)) => {
                if self.preserve_null_and_empty_arrays {
                    let mut d = doc;
                    remove_path(&mut d, &self.path);
                    vec![with_index(d, Bson::Null)]
                } else {
                    Vec::new()
                }
            }
            None | Some(Bson::Null) | Some(Bson::Undefined) => {
                if self.preserve_null_and_empty_arrays {
                    vec![with_index(doc, Bson::Null)]
                } else {
                    Vec::new()
                }
            }
            Some(_) => vec![with_index(doc, Bson::Null)],
        }
    }
}

/// `$redact`: evaluates the expression at each document level; `$$DESCEND` keeps the level
/// and recurses into sub-documents (and arrays of them), `$$PRUNE` drops it, `$$KEEP` keeps
/// it whole.
pub(super) fn redact_document(
    expr: &Expr,
    doc: &Document,
    vars: &Vars,
) -> Result<Option<Document>> {
    redact_level(expr, doc, doc, vars)
}

/// One level of `$redact`: `$$CURRENT` is the sub-document, `$$ROOT` the whole document.
fn redact_level(
    expr: &Expr,
    root: &Document,
    current: &Document,
    vars: &Vars,
) -> Result<Option<Document>> {
    let decision = expr.eval_with_current(root, current, vars)?;
    match decision.as_ref() {
        Some(Bson::String(s)) if s == "descend" => {
            let mut out = Document::new();
            for (k, v) in current {
                match v {
                    Bson::Document(d) => {
                        if let Some(kept) = redact_level(expr, root, d, vars)? {
                            out.insert(k.clone(), kept);
                        }
                    }
                    Bson::Array(items) => {
                        out.insert(k.clone(), redact_array(expr, root, items, vars)?);
                    }
                    other => {
                        out.insert(k.clone(), other.clone());
                    }
                }
            }
            Ok(Some(out))
        }
        Some(Bson::String(s)) if s == "prune" => Ok(None),
        Some(Bson::String(s)) if s == "keep" => Ok(Some(current.clone())),
        other => Err(Error::coded(
            17053,
            format!(
                "$redact's expression should not return anything aside from the variables \
                 $$KEEP, $$DESCEND, and $$PRUNE, but returned {}",
                other
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "MISSING".into())
            ),
        )),
    }
}

fn redact_array(expr: &Expr, root: &Document, items: &[Bson], vars: &Vars) -> Result<Bson> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Bson::Document(d) => {
                if let Some(kept) = redact_level(expr, root, d, vars)? {
                    out.push(Bson::Document(kept));
                }
            }
            Bson::Array(inner) => out.push(redact_array(expr, root, inner, vars)?),
            other => out.push(other.clone()),
        }
    }
    Ok(Bson::Array(out))
}
