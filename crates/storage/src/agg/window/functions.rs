//! `$setWindowFields`' window functions: parsing an output field (its function and window)
//! and computing it over a sorted partition.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::frame::{parse_window, Bound, Window};
use super::{parse_error, SetWindowFieldsSpec};
use crate::agg::accumulator::AccumulatorSpec;
use crate::agg::expr::{Expr, Vars};
use crate::agg::paths::type_name;
use crate::agg::VariableScope;
use crate::error::{Error, Result};
use crate::value::compare_with;

/// Window functions MongoDB has that are not implemented here.
const UNSUPPORTED_WINDOW_FUNCTIONS: &[&str] = &[
    "$derivative",
    "$integral",
    "$expMovingAvg",
    "$covariancePop",
    "$covarianceSamp",
    "$linearFill",
    "$median",
    "$percentile",
    "$minMaxScaler",
];

/// Accumulators usable as window functions.
const WINDOW_ACCUMULATORS: &[&str] = &[
    "$sum",
    "$avg",
    "$min",
    "$max",
    "$count",
    "$push",
    "$addToSet",
    "$first",
    "$last",
    "$stdDevPop",
    "$stdDevSamp",
    "$top",
    "$bottom",
    "$topN",
    "$bottomN",
    "$firstN",
    "$lastN",
    "$minN",
    "$maxN",
];

#[derive(Debug, Clone)]
enum WindowFunction {
    Accumulate(AccumulatorSpec),
    Rank,
    DenseRank,
    DocumentNumber,
    Shift {
        output: Expr,
        by: i64,
        default: Bson,
    },
    Locf(Expr),
}

#[derive(Debug, Clone)]
pub(super) struct WindowOutput {
    pub(super) path: String,
    function: WindowFunction,
    window: Window,
}

impl SetWindowFieldsSpec {
    /// The value of one output for each document of a sorted partition.
    pub(super) fn compute_output(
        &self,
        output: &WindowOutput,
        docs: &[Document],
        vars: &Vars,
    ) -> Result<Vec<Option<Bson>>> {
        let count = docs.len();
        match &output.function {
            WindowFunction::Rank | WindowFunction::DenseRank | WindowFunction::DocumentNumber => {
                let field = self
                    .sort_by
                    .as_ref()
                    .and_then(|(_, f)| f.first())
                    .map(|(f, _)| f.clone())
                    .unwrap_or_default();
                let key_expr = Expr::parse(&Bson::String(format!("${field}")))?;
                let mut out = Vec::with_capacity(count);
                let mut last: Option<Bson> = None;
                let mut rank: i64 = 0;
                for (i, doc) in docs.iter().enumerate() {
                    let key = key_expr.eval(doc, vars)?.unwrap_or(Bson::Null);
                    let is_new = last.as_ref().is_none_or(|l| {
                        compare_with(l, &key, vars.collation.as_deref()) != Ordering::Equal
                    });
                    match output.function {
                        // Competition ranking: ties share the rank of their first document.
                        WindowFunction::Rank => {
                            if is_new {
                                rank = i64::try_from(i).unwrap_or(i64::MAX) + 1;
                            }
                        }
                        WindowFunction::DenseRank => {
                            if is_new {
                                rank += 1;
                            }
                        }
                        _ => rank = i64::try_from(i).unwrap_or(i64::MAX) + 1,
                    }
                    last = Some(key);
                    out.push(Some(int_or_long(rank)));
                }
                Ok(out)
            }
            WindowFunction::Shift {
                output: expr,
                by,
                default,
            } => {
                let mut out = Vec::with_capacity(count);
                for i in 0..count {
                    let target = i64::try_from(i).ok().and_then(|i| i.checked_add(*by));
                    let value = match target
                        .and_then(|t| usize::try_from(t).ok())
                        .and_then(|t| docs.get(t))
                    {
                        Some(doc) => expr.eval(doc, vars)?.unwrap_or(Bson::Null),
                        None => default.clone(),
                    };
                    out.push(Some(value));
                }
                Ok(out)
            }
            WindowFunction::Locf(expr) => {
                let mut out = Vec::with_capacity(count);
                let mut last: Option<Bson> = None;
                for doc in docs {
                    let value = expr.eval(doc, vars)?;
                    match value {
                        Some(v) if !matches!(v, Bson::Null | Bson::Undefined) => {
                            last = Some(v.clone());
                            out.push(Some(v));
                        }
                        other => out.push(last.clone().or(other)),
                    }
                }
                Ok(out)
            }
            WindowFunction::Accumulate(spec) => {
                let ranges = self.window_ranges(&output.window, docs, vars)?;
                let mut out = Vec::with_capacity(count);
                // Windows that start at the partition's start grow monotonically: accumulate
                // incrementally instead of once per document.
                let incremental = matches!(output.window, Window::Documents(Bound::Unbounded, _));
                let mut running = spec.start(&Bson::Null, vars)?;
                let mut added = 0usize;
                for range in ranges {
                    match range {
                        None => {
                            let state = spec.start(&Bson::Null, vars)?;
                            out.push(Some(spec.finish(state)));
                        }
                        Some((lo, hi)) if incremental && lo == 0 && hi >= added => {
                            for doc in docs.get(added..=hi).unwrap_or(&[]) {
                                spec.process(&mut running, doc, vars)?;
                            }
                            added = hi + 1;
                            out.push(Some(spec.finish(running.clone())));
                        }
                        Some((lo, hi)) => {
                            let mut state = spec.start(&Bson::Null, vars)?;
                            for doc in docs.get(lo..=hi).unwrap_or(&[]) {
                                spec.process(&mut state, doc, vars)?;
                            }
                            out.push(Some(spec.finish(state)));
                        }
                    }
                }
                Ok(out)
            }
        }
    }
}

fn int_or_long(i: i64) -> Bson {
    match i32::try_from(i) {
        Ok(v) => Bson::Int32(v),
        Err(_) => Bson::Int64(i),
    }
}

pub(super) fn parse_output(
    path: &str,
    spec: &Bson,
    sort_fields: &[(String, bool)],
    scope: &VariableScope,
) -> Result<WindowOutput> {
    let Bson::Document(d) = spec else {
        return Err(parse_error(format!(
            "Expected an object for output field '{path}', found {}",
            type_name(spec)
        )));
    };
    let mut function_spec: Option<(&String, &Bson)> = None;
    let mut window_spec = None;
    for (key, value) in d {
        if key == "window" {
            window_spec = Some(value);
        } else if key.starts_with('$') {
            if function_spec.is_some() {
                return Err(parse_error(format!(
                    "Window function found an unknown argument: {key}"
                )));
            }
            function_spec = Some((key, value));
        } else {
            return Err(parse_error(format!(
                "Window function found an unknown argument: {key}"
            )));
        }
    }
    let Some((name, argument)) = function_spec else {
        return Err(parse_error(format!(
            "Expected a window function for output field '{path}'"
        )));
    };
    let needs_one_sort_field = |what: &str| -> Result<()> {
        if sort_fields.len() != 1 {
            return Err(Error::coded(
                5371602,
                format!("{what} must be specified with a top level sortBy expression with exactly one element"),
            ));
        }
        Ok(())
    };
    let no_window = |what: &str| -> Result<()> {
        if window_spec.is_some() {
            return Err(parse_error(format!(
                "{what} does not accept a 'window' field"
            )));
        }
        Ok(())
    };
    let function = match name.as_str() {
        "$rank" | "$denseRank" | "$documentNumber" => {
            match argument {
                Bson::Document(a) if a.is_empty() => {}
                _ => {
                    return Err(Error::coded(
                        5371603,
                        format!(
                            "{name} must be specified with an empty object, e.g. {{{name}: {{}}}}"
                        ),
                    ))
                }
            }
            no_window(name)?;
            needs_one_sort_field(name)?;
            match name.as_str() {
                "$rank" => WindowFunction::Rank,
                "$denseRank" => WindowFunction::DenseRank,
                _ => WindowFunction::DocumentNumber,
            }
        }
        "$shift" => {
            no_window(name)?;
            if sort_fields.is_empty() {
                return Err(parse_error("$shift requires a sortBy"));
            }
            let Bson::Document(a) = argument else {
                return Err(parse_error("Argument to $shift must be an object"));
            };
            let mut output = None;
            let mut by = None;
            let mut default = Bson::Null;
            for (k, v) in a {
                match k.as_str() {
                    "output" => output = Some(scope.parse(v)?),
                    "by" => {
                        by = Some(crate::agg::paths::integral_i64(v).ok_or_else(|| {
                            parse_error(format!(
                                "'$shift:by' field must be an integer, but found {v}"
                            ))
                        })?)
                    }
                    "default" => {
                        let expr = scope.parse(v)?;
                        default = expr.as_constant().cloned().ok_or_else(|| {
                            parse_error("'$shift:default' expression must yield a constant value.")
                        })?;
                    }
                    other => {
                        return Err(parse_error(format!("Unknown argument in $shift: {other}")))
                    }
                }
            }
            let (Some(output), Some(by)) = (output, by) else {
                return Err(parse_error("$shift requires an 'output' and a 'by' field"));
            };
            WindowFunction::Shift {
                output,
                by,
                default,
            }
        }
        "$locf" => {
            no_window(name)?;
            if sort_fields.is_empty() {
                return Err(parse_error("$locf requires a sortBy"));
            }
            WindowFunction::Locf(scope.parse(argument)?)
        }
        other if WINDOW_ACCUMULATORS.contains(&other) => {
            let mut accumulator = Document::new();
            accumulator.insert(other, argument.clone());
            WindowFunction::Accumulate(AccumulatorSpec::parse(
                "window",
                &Bson::Document(accumulator),
                scope,
            )?)
        }
        other if UNSUPPORTED_WINDOW_FUNCTIONS.contains(&other) => {
            return Err(Error::NotSupported(format!(
                "the {other} window function is not supported"
            )))
        }
        other => {
            return Err(parse_error(format!(
                "Unrecognized window function, {other}"
            )));
        }
    };
    let window = match window_spec {
        Some(w) => parse_window(w, sort_fields)?,
        None => Window::Documents(Bound::Unbounded, Bound::Unbounded),
    };
    Ok(WindowOutput {
        path: path.to_string(),
        function,
        window,
    })
}
