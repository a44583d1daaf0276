//! `$setWindowFields`' windows: `documents` and `range` bounds, parsed and checked against
//! `sortBy`, and the range of documents each document's window covers.

use bson::{Bson, Document};

use super::{parse_error, SetWindowFieldsSpec};
use crate::agg::expr::{Expr, Vars};
use crate::agg::paths::type_name;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Bound {
    Unbounded,
    Current,
    /// A document offset, or a value offset for range windows.
    Offset(f64),
}

#[derive(Debug, Clone)]
pub(super) enum Window {
    Documents(Bound, Bound),
    Range(Bound, Bound),
}

impl SetWindowFieldsSpec {
    /// For each document, the inclusive index range of its window (None when empty).
    pub(super) fn window_ranges(
        &self,
        window: &Window,
        docs: &[Document],
        vars: &Vars,
    ) -> Result<Vec<Option<(usize, usize)>>> {
        let count = docs.len();
        let last = count.saturating_sub(1) as f64;
        match window {
            Window::Documents(lower, upper) => Ok((0..count)
                .map(|i| {
                    let position = |bound: &Bound, unbounded: f64| match bound {
                        Bound::Unbounded => unbounded,
                        Bound::Current => i as f64,
                        Bound::Offset(o) => i as f64 + o,
                    };
                    let lo = position(lower, 0.0).max(0.0);
                    let hi = position(upper, last).min(last);
                    if count == 0 || lo > hi {
                        None
                    } else {
                        Some((lo as usize, hi as usize))
                    }
                })
                .collect()),
            Window::Range(lower, upper) => {
                let field = self
                    .sort_by
                    .as_ref()
                    .and_then(|(_, f)| f.first())
                    .map(|(f, _)| f.clone())
                    .unwrap_or_default();
                let key_expr = Expr::parse(&Bson::String(format!("${field}")))?;
                let mut keys = Vec::with_capacity(count);
                for doc in docs {
                    let key = key_expr.eval(doc, vars)?.unwrap_or(Bson::Null);
                    let number = match &key {
                        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
                            crate::value::Number::of(&key)
                                .map(|n| n.to_f64())
                                .unwrap_or(0.0)
                        }
                        Bson::DateTime(_) => {
                            return Err(Error::NotSupported(
                                "$setWindowFields range windows over dates are not supported"
                                    .into(),
                            ))
                        }
                        other => {
                            return Err(Error::coded(
                                5429414,
                                format!(
                                    "Invalid range: Expected the sortBy field to be a number, \
                                     but it was {}",
                                    type_name(other)
                                ),
                            ))
                        }
                    };
                    keys.push(number);
                }
                Ok(keys
                    .iter()
                    .map(|&v| {
                        let low = match lower {
                            Bound::Unbounded => f64::NEG_INFINITY,
                            Bound::Current => v,
                            Bound::Offset(o) => v + o,
                        };
                        let high = match upper {
                            Bound::Unbounded => f64::INFINITY,
                            Bound::Current => v,
                            Bound::Offset(o) => v + o,
                        };
                        let lo = keys.partition_point(|k| *k < low);
                        let hi = keys.partition_point(|k| *k <= high);
                        if lo >= hi {
                            None
                        } else {
                            Some((lo, hi - 1))
                        }
                    })
                    .collect())
            }
        }
    }
}

fn parse_bound(value: &Bson, documents: bool) -> Result<Bound> {
    match value {
        Bson::String(s) if s == "unbounded" => Ok(Bound::Unbounded),
        Bson::String(s) if s == "current" => Ok(Bound::Current),
        other => {
            let Some(number) = crate::value::Number::of(other).map(|n| n.to_f64()) else {
                return Err(parse_error(format!(
                    "Window bounds must be 'unbounded', 'current', or a number, found {other}"
                )));
            };
            if documents && number.fract() != 0.0 {
                return Err(parse_error(format!(
                    "Numeric document-based bounds must be an integer, found {other}"
                )));
            }
            Ok(Bound::Offset(number))
        }
    }
}

fn bound_value(bound: &Bound) -> f64 {
    match bound {
        Bound::Unbounded => f64::NAN,
        Bound::Current => 0.0,
        Bound::Offset(o) => *o,
    }
}

pub(super) fn parse_window(spec: &Bson, sort_fields: &[(String, bool)]) -> Result<Window> {
    let Bson::Document(d) = spec else {
        return Err(parse_error("'window' field must be an object"));
    };
    let mut documents = None;
    let mut range = None;
    for (key, value) in d {
        match key.as_str() {
            "documents" | "range" => {
                let bounds = match value {
                    Bson::Array(items) if items.len() == 2 => items,
                    _ => {
                        return Err(parse_error(format!(
                            "Window bounds must be a 2-element array: {key}: {value}"
                        )))
                    }
                };
                let is_documents = key == "documents";
                let (Some(lower), Some(upper)) = (bounds.first(), bounds.get(1)) else {
                    return Err(parse_error("Window bounds must be a 2-element array"));
                };
                let lower = parse_bound(lower, is_documents)?;
                let upper = parse_bound(upper, is_documents)?;
                let (l, u) = (bound_value(&lower), bound_value(&upper));
                if !l.is_nan() && !u.is_nan() && l > u {
                    return Err(parse_error("Lower bound must not exceed upper bound"));
                }
                if is_documents {
                    documents = Some((lower, upper));
                } else {
                    range = Some((lower, upper));
                }
            }
            "unit" => {
                return Err(Error::NotSupported(
                    "$setWindowFields range windows with a time 'unit' are not supported".into(),
                ))
            }
            other => {
                return Err(parse_error(format!(
                    "'window' field that is not 'documents', 'range', or 'unit': {other}"
                )))
            }
        }
    }
    match (documents, range) {
        (Some(_), Some(_)) => Err(parse_error(
            "Window bounds can specify either 'documents' or 'unit', not both",
        )),
        (Some((lower, upper)), None) => {
            let whole = lower == Bound::Unbounded && upper == Bound::Unbounded;
            if !whole && sort_fields.is_empty() {
                return Err(parse_error("Document-based bounds require a sortBy"));
            }
            Ok(Window::Documents(lower, upper))
        }
        (None, Some((lower, upper))) => {
            if sort_fields.len() != 1 {
                return Err(parse_error(
                    "Range-based bounds require sortBy a single field",
                ));
            }
            if sort_fields.first().is_some_and(|(_, ascending)| !ascending) {
                return Err(Error::NotSupported(
                    "$setWindowFields range windows over a descending sortBy are not supported"
                        .into(),
                ));
            }
            Ok(Window::Range(lower, upper))
        }
        (None, None) => Err(parse_error(
            "'window' field must specify either 'documents' or 'range'",
        )),
    }
}
