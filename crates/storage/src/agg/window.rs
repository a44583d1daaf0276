//! `$setWindowFields`: documents are sorted by partition and `sortBy`, then each output field
//! is computed over a window of the partition.
//!
//! Supported: the accumulator window functions (`$sum`, `$avg`, `$min`, `$max`, `$count`,
//! `$push`, `$addToSet`, `$first`, `$last`, `$stdDevPop`, `$stdDevSamp`, `$top`/`$bottom`
//! and their `N` forms, `$firstN`, `$lastN`, `$minN`, `$maxN`) over `documents` windows and
//! numeric `range` windows, and `$rank`, `$denseRank`, `$documentNumber`, `$shift` and
//! `$locf`. Time-unit ranges and the other window functions answer NotSupported.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::accumulator::AccumulatorSpec;
use super::expr::{Expr, Vars};
use super::paths::{document_size, set_path, type_name, validate_field_path};
use super::{DocStream, MemoryLimitKind, MemoryTracker, RunContext, VariableScope};
use crate::error::{Error, Result};
use crate::query::SortSpec;
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

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bound {
    Unbounded,
    Current,
    /// A document offset, or a value offset for range windows.
    Offset(f64),
}

#[derive(Debug, Clone)]
enum Window {
    Documents(Bound, Bound),
    Range(Bound, Bound),
}

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
struct WindowOutput {
    path: String,
    function: WindowFunction,
    window: Window,
}

/// A parsed `$setWindowFields`.
#[derive(Debug, Clone)]
pub(crate) struct SetWindowFieldsSpec {
    partition_by: Option<Expr>,
    sort_by: Option<(SortSpec, Vec<(String, bool)>)>,
    outputs: Vec<WindowOutput>,
}

fn parse_error(message: impl Into<String>) -> Error {
    Error::FailedToParse(message.into())
}

impl SetWindowFieldsSpec {
    pub(crate) fn parse(spec: &Bson, scope: &VariableScope) -> Result<SetWindowFieldsSpec> {
        let Bson::Document(d) = spec else {
            return Err(parse_error(format!(
                "the $setWindowFields stage specification must be an object, found {}",
                type_name(spec)
            )));
        };
        let mut partition_by = None;
        let mut sort_by = None;
        let mut output = None;
        for (key, value) in d {
            match key.as_str() {
                "partitionBy" => partition_by = Some(scope.parse(value)?),
                "sortBy" => {
                    let Bson::Document(sort) = value else {
                        return Err(Error::TypeMismatch(format!(
                            "BSON field '$setWindowFields.sortBy' is the wrong type '{}', \
                             expected type 'object'",
                            type_name(value)
                        )));
                    };
                    let mut fields = Vec::new();
                    for (field, direction) in sort {
                        let ascending =
                            match direction {
                                Bson::Int32(1) | Bson::Int64(1) => true,
                                Bson::Double(d) if *d == 1.0 => true,
                                Bson::Int32(-1) | Bson::Int64(-1) => false,
                                Bson::Double(d) if *d == -1.0 => false,
                                _ => return Err(Error::NotSupported(
                                    "$setWindowFields sortBy other than 1 or -1 is not supported"
                                        .into(),
                                )),
                            };
                        fields.push((field.clone(), ascending));
                    }
                    sort_by = Some((SortSpec::parse(sort)?, fields));
                }
                "output" => {
                    let Bson::Document(o) = value else {
                        return Err(Error::TypeMismatch(format!(
                            "BSON field '$setWindowFields.output' is the wrong type '{}', \
                             expected type 'object'",
                            type_name(value)
                        )));
                    };
                    output = Some(o.clone());
                }
                other => {
                    return Err(Error::coded(
                        40415,
                        format!("BSON field '$setWindowFields.{other}' is an unknown field."),
                    ))
                }
            }
        }
        let Some(output) = output else {
            return Err(Error::coded(
                40414,
                "BSON field '$setWindowFields.output' is missing but a required field",
            ));
        };
        let sort_fields: Vec<(String, bool)> = sort_by
            .as_ref()
            .map(|(_, fields): &(SortSpec, Vec<(String, bool)>)| fields.clone())
            .unwrap_or_default();
        let mut outputs = Vec::new();
        for (path, value) in &output {
            validate_field_path(path)?;
            outputs.push(parse_output(path, value, &sort_fields, scope)?);
        }
        Ok(SetWindowFieldsSpec {
            partition_by,
            sort_by,
            outputs,
        })
    }

    pub(crate) fn run(
        &self,
        input: DocStream<'_>,
        context: &RunContext<'_>,
    ) -> Result<Vec<Document>> {
        let vars = context.vars();
        let mut tracker = MemoryTracker::new(
            context.memory_limit_bytes,
            context.allow_disk_use,
            MemoryLimitKind::SetWindowFields,
        );
        let mut rows: Vec<(Bson, Document)> = Vec::new();
        for r in input {
            let doc = r?;
            tracker.add(document_size(&doc))?;
            let key = match &self.partition_by {
                Some(expr) => expr.eval(&doc, &vars)?.unwrap_or(Bson::Null),
                None => Bson::Null,
            };
            rows.push((key, doc));
        }
        // Stable: equal keys keep their input order.
        let collation = vars.collation.as_deref();
        rows.sort_by(|a, b| {
            compare_with(&a.0, &b.0, collation).then_with(|| match &self.sort_by {
                Some((spec, _)) => spec.compare_under(&a.1, &b.1, collation),
                None => Ordering::Equal,
            })
        });
        let mut out = Vec::with_capacity(rows.len());
        let mut start = 0;
        while start < rows.len() {
            let mut end = start + 1;
            while end < rows.len()
                && rows
                    .get(start)
                    .zip(rows.get(end))
                    .is_some_and(|(a, b)| compare_with(&a.0, &b.0, collation) == Ordering::Equal)
            {
                end += 1;
            }
            let partition: Vec<Document> = rows
                .get(start..end)
                .map(|r| r.iter().map(|(_, d)| d.clone()).collect())
                .unwrap_or_default();
            out.extend(self.compute_partition(partition, &vars)?);
            start = end;
        }
        Ok(out)
    }

    fn compute_partition(&self, docs: Vec<Document>, vars: &Vars) -> Result<Vec<Document>> {
        let mut values: Vec<Vec<Option<Bson>>> = Vec::with_capacity(self.outputs.len());
        for output in &self.outputs {
            values.push(self.compute_output(output, &docs, vars)?);
        }
        let mut out = docs;
        for (output, column) in self.outputs.iter().zip(values) {
            for (doc, value) in out.iter_mut().zip(column) {
                match value {
                    Some(v) => set_path(doc, &output.path, v),
                    None => super::paths::remove_path(doc, &output.path),
                }
            }
        }
        Ok(out)
    }

    /// The value of one output for each document of a sorted partition.
    fn compute_output(
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

    /// For each document, the inclusive index range of its window (None when empty).
    fn window_ranges(
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

fn int_or_long(i: i64) -> Bson {
    match i32::try_from(i) {
        Ok(v) => Bson::Int32(v),
        Err(_) => Bson::Int64(i),
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

fn parse_window(spec: &Bson, sort_fields: &[(String, bool)]) -> Result<Window> {
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

fn parse_output(
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
                        by = Some(super::paths::integral_i64(v).ok_or_else(|| {
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

/// A parsed `$fill`, which MongoDB rewrites into `$setWindowFields` (for `method: "locf"`)
/// and `$addFields` with `$ifNull` (for `value`). `method: "linear"` is not supported.
#[derive(Debug, Clone)]
pub(crate) struct FillSpec {
    window: Option<SetWindowFieldsSpec>,
    values: Option<super::project::Projection>,
}

impl FillSpec {
    pub(crate) fn parse(spec: &Bson, scope: &VariableScope) -> Result<FillSpec> {
        let Bson::Document(d) = spec else {
            return Err(parse_error(format!(
                "The $fill stage specification must be an object, found {}",
                type_name(spec)
            )));
        };
        let mut partition_by = None;
        let mut partition_by_fields = None;
        let mut sort_by = None;
        let mut output = None;
        for (key, value) in d {
            match key.as_str() {
                "partitionBy" => partition_by = Some(value.clone()),
                "partitionByFields" => {
                    let Bson::Array(items) = value else {
                        return Err(Error::TypeMismatch(format!(
                            "BSON field '$fill.partitionByFields' is the wrong type '{}', \
                             expected type 'array'",
                            type_name(value)
                        )));
                    };
                    let mut fields = Document::new();
                    for item in items {
                        let Bson::String(field) = item else {
                            return Err(Error::TypeMismatch(
                                "BSON field '$fill.partitionByFields' must be an array of strings"
                                    .into(),
                            ));
                        };
                        validate_field_path(field)?;
                        fields.insert(field.replace('.', "_"), format!("${field}"));
                    }
                    partition_by_fields = Some(Bson::Document(fields));
                }
                "sortBy" => sort_by = Some(value.clone()),
                "output" => {
                    let Bson::Document(o) = value else {
                        return Err(Error::TypeMismatch(format!(
                            "BSON field '$fill.output' is the wrong type '{}', expected type \
                             'object'",
                            type_name(value)
                        )));
                    };
                    output = Some(o.clone());
                }
                other => {
                    return Err(Error::coded(
                        40415,
                        format!("BSON field '$fill.{other}' is an unknown field."),
                    ))
                }
            }
        }
        let Some(output) = output else {
            return Err(Error::coded(
                40414,
                "BSON field '$fill.output' is missing but a required field",
            ));
        };
        if partition_by.is_some() && partition_by_fields.is_some() {
            return Err(parse_error(
                "Only one of 'partitionBy' and 'partitionByFields' can be specified for '$fill'",
            ));
        }
        let mut locf_outputs = Document::new();
        let mut value_outputs = Document::new();
        for (field, fill) in &output {
            validate_field_path(field)?;
            let Bson::Document(fill) = fill else {
                return Err(parse_error(format!(
                    "All output fields of $fill must be objects, found {field}: {fill}"
                )));
            };
            match (fill.get("value"), fill.get("method"), fill.len()) {
                (Some(value), None, 1) => {
                    value_outputs.insert(
                        field.clone(),
                        bson::doc! {"$ifNull": [format!("${field}"), value.clone()]},
                    );
                }
                (None, Some(Bson::String(method)), 1) if method == "locf" => {
                    locf_outputs.insert(field.clone(), bson::doc! {"$locf": format!("${field}")});
                }
                (None, Some(Bson::String(method)), 1) if method == "linear" => {
                    return Err(Error::NotSupported(
                        "$fill with method 'linear' is not supported".into(),
                    ))
                }
                (None, Some(method), 1) => {
                    return Err(parse_error(format!(
                        "Method must be either 'locf' or 'linear', found {method}"
                    )))
                }
                _ => {
                    return Err(parse_error(format!(
                        "Exactly one of 'value' and 'method' must be specified for $fill \
                         output field '{field}'"
                    )))
                }
            }
        }
        let window = if locf_outputs.is_empty() {
            None
        } else {
            let Some(sort_by) = sort_by else {
                return Err(parse_error(
                    "sortBy required if any output field specifies a 'method'",
                ));
            };
            let mut window_spec = Document::new();
            if let Some(partition) = partition_by.or(partition_by_fields) {
                window_spec.insert("partitionBy", partition);
            }
            window_spec.insert("sortBy", sort_by);
            window_spec.insert("output", locf_outputs);
            Some(SetWindowFieldsSpec::parse(
                &Bson::Document(window_spec),
                scope,
            )?)
        };
        let values = if value_outputs.is_empty() {
            None
        } else {
            Some(super::project::Projection::parse_add_fields(
                &value_outputs,
                scope,
            )?)
        };
        Ok(FillSpec { window, values })
    }

    pub(crate) fn run(
        &self,
        input: DocStream<'_>,
        context: &RunContext<'_>,
    ) -> Result<Vec<Document>> {
        let docs = match &self.window {
            Some(window) => window.run(input, context)?,
            None => input.collect::<Result<Vec<_>>>()?,
        };
        match &self.values {
            Some(projection) => {
                let vars = context.vars();
                docs.iter().map(|d| projection.apply(d, &vars)).collect()
            }
            None => Ok(docs),
        }
    }
}
