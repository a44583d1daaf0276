//! `$setWindowFields`: documents are sorted by partition and `sortBy`, then each output field
//! is computed over a window of the partition.
//!
//! Supported: the accumulator window functions (`$sum`, `$avg`, `$min`, `$max`, `$count`,
//! `$push`, `$addToSet`, `$first`, `$last`, `$stdDevPop`, `$stdDevSamp`, `$top`/`$bottom`
//! and their `N` forms, `$firstN`, `$lastN`, `$minN`, `$maxN`) over `documents` windows and
//! numeric `range` windows, and `$rank`, `$denseRank`, `$documentNumber`, `$shift` and
//! `$locf`. Time-unit ranges and the other window functions answer NotSupported.
//!
//! The stage (partitions, sorting, writing the outputs) is here; the window functions in
//! `functions.rs`, the windows (`documents`/`range` bounds, each document's range) in
//! `frame.rs`, and `$fill`, which is built on this stage, in `fill.rs`.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::expr::{Expr, Vars};
use super::paths::{document_size, set_path, type_name, validate_field_path};
use super::{DocStream, MemoryLimitKind, RunContext, VariableScope};
use crate::error::{Error, Result};
use crate::query::SortSpec;
use crate::value::compare_with;

mod fill;
mod frame;
mod functions;

pub(crate) use fill::FillSpec;
use functions::{parse_output, WindowOutput};

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
        let mut tracker = context.memory_tracker(MemoryLimitKind::SetWindowFields);
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
}
