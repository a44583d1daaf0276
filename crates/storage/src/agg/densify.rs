//! `$densify`: adds documents for the missing values of a numeric (or date) field, stepping
//! through `range.bounds` ("full", "partition" or `[lower, upper)`), per partition.
//!
//! Generation follows MongoDB's walk over the sorted values: a cursor starts at the lower
//! bound; before each existing value, every step below it is generated; a value on the grid
//! is not generated again. Documents without the field pass through unchanged. Dates step by
//! fixed units (millisecond to week); `month`, `quarter`, `year` and decimal values answer
//! NotSupported.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::paths::{document_size, get_path, set_path, type_name, validate_field_path};
use super::{DocStream, MemoryLimitKind, RunContext};
use crate::error::{Error, Result};
use crate::value::{compare, compare_with};

/// MongoDB's `internalQueryMaxAllowedDensifyDocs` default.
const MAX_GENERATED_DOCUMENTS: usize = 500_000;

#[derive(Debug, Clone)]
enum Bounds {
    Full,
    Partition,
    Explicit(Box<(Bson, Bson)>),
}

/// A parsed `$densify`.
#[derive(Debug, Clone)]
pub(crate) struct DensifySpec {
    field: String,
    partition_by_fields: Vec<String>,
    step: Bson,
    /// Milliseconds per unit for date fields.
    unit_millis: Option<i64>,
    bounds: Bounds,
}

fn parse_error(message: impl Into<String>) -> Error {
    Error::FailedToParse(message.into())
}

impl DensifySpec {
    pub(crate) fn parse(spec: &Bson) -> Result<DensifySpec> {
        let Bson::Document(d) = spec else {
            return Err(parse_error(format!(
                "The $densify stage specification must be an object, found {}",
                type_name(spec)
            )));
        };
        let mut field = None;
        let mut partition_by_fields = Vec::new();
        let mut range = None;
        for (key, value) in d {
            match key.as_str() {
                "field" => {
                    let Bson::String(f) = value else {
                        return Err(Error::TypeMismatch(format!(
                            "BSON field '$densify.field' is the wrong type '{}', expected type \
                             'string'",
                            type_name(value)
                        )));
                    };
                    validate_field_path(f)?;
                    field = Some(f.clone());
                }
                "partitionByFields" => {
                    let Bson::Array(items) = value else {
                        return Err(Error::TypeMismatch(format!(
                            "BSON field '$densify.partitionByFields' is the wrong type '{}', \
                             expected type 'array'",
                            type_name(value)
                        )));
                    };
                    for item in items {
                        let Bson::String(f) = item else {
                            return Err(Error::TypeMismatch(
                                "BSON field '$densify.partitionByFields' must contain strings"
                                    .into(),
                            ));
                        };
                        validate_field_path(f)?;
                        partition_by_fields.push(f.clone());
                    }
                }
                "range" => {
                    let Bson::Document(r) = value else {
                        return Err(Error::TypeMismatch(format!(
                            "BSON field '$densify.range' is the wrong type '{}', expected type \
                             'object'",
                            type_name(value)
                        )));
                    };
                    range = Some(r.clone());
                }
                other => {
                    return Err(Error::coded(
                        40415,
                        format!("BSON field '$densify.{other}' is an unknown field."),
                    ))
                }
            }
        }
        let Some(field) = field else {
            return Err(Error::coded(
                40414,
                "BSON field '$densify.field' is missing but a required field",
            ));
        };
        let Some(range) = range else {
            return Err(Error::coded(
                40414,
                "BSON field '$densify.range' is missing but a required field",
            ));
        };
        if partition_by_fields.iter().any(|p| p == &field) {
            return Err(parse_error(
                "The field to densify cannot be included in partitionByFields",
            ));
        }
        let mut step = None;
        let mut unit = None;
        let mut bounds = None;
        for (key, value) in &range {
            match key.as_str() {
                "step" => step = Some(value.clone()),
                "unit" => {
                    let Bson::String(u) = value else {
                        return Err(parse_error("'unit' must be a string"));
                    };
                    unit = Some(u.clone());
                }
                "bounds" => {
                    bounds = Some(match value {
                        Bson::String(s) if s == "full" => Bounds::Full,
                        Bson::String(s) if s == "partition" => Bounds::Partition,
                        Bson::Array(items) if items.len() == 2 => {
                            match (items.first(), items.get(1)) {
                                (Some(lo), Some(hi)) => {
                                    if compare(lo, hi) == Ordering::Greater {
                                        return Err(parse_error(
                                            "A bounding array in a range statement must have the \
                                         lower bound first",
                                        ));
                                    }
                                    Bounds::Explicit(Box::new((lo.clone(), hi.clone())))
                                }
                                _ => return Err(parse_error("bounds must have two elements")),
                            }
                        }
                        other => {
                            return Err(parse_error(format!(
                                "Range bounds must be 'full', 'partition', or an array of two \
                                 values, found {other}"
                            )))
                        }
                    })
                }
                other => {
                    return Err(Error::coded(
                        40415,
                        format!("BSON field '$densify.range.{other}' is an unknown field."),
                    ))
                }
            }
        }
        let (Some(step), Some(bounds)) = (step, bounds) else {
            return Err(Error::coded(
                40414,
                "BSON field '$densify.range.step' and 'bounds' are required fields",
            ));
        };
        let step_value = crate::value::Number::of(&step).map(|n| n.to_f64());
        if !step_value.is_some_and(|s| s > 0.0) {
            return Err(parse_error(
                "the step parameter in a range statement must be a strictly positive numeric \
                 value",
            ));
        }
        if matches!(step, Bson::Decimal128(_)) {
            return Err(Error::NotSupported(
                "$densify with a decimal step is not supported".into(),
            ));
        }
        let unit_millis = match unit.as_deref() {
            None => None,
            Some(u) => {
                if !matches!(step, Bson::Int32(_) | Bson::Int64(_))
                    && crate::value::Number::of(&step)
                        .map(|n| n.to_f64().fract() != 0.0)
                        .unwrap_or(true)
                {
                    return Err(parse_error(
                        "The step parameter in a range satement must be a whole number when \
                         densifying a date range",
                    ));
                }
                Some(match u {
                    "millisecond" => 1,
                    "second" => 1_000,
                    "minute" => 60_000,
                    "hour" => 3_600_000,
                    "day" => 86_400_000,
                    "week" => 604_800_000,
                    "month" | "quarter" | "year" => {
                        return Err(Error::NotSupported(format!(
                            "$densify with unit '{u}' is not supported"
                        )))
                    }
                    other => return Err(parse_error(format!("unknown time unit value: {other}"))),
                })
            }
        };
        if let Bounds::Explicit(explicit) = &bounds {
            let (lo, hi) = explicit.as_ref();
            for bound in [lo, hi] {
                let fits = match unit_millis {
                    Some(_) => matches!(bound, Bson::DateTime(_)),
                    None => matches!(bound, Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_)),
                };
                if !fits {
                    return Err(parse_error(format!(
                        "Explicit bounds must be {} when the field is {}, found {bound}",
                        if unit_millis.is_some() {
                            "dates"
                        } else {
                            "numbers"
                        },
                        if unit_millis.is_some() {
                            "a date"
                        } else {
                            "numeric"
                        },
                    )));
                }
            }
        }
        Ok(DensifySpec {
            field,
            partition_by_fields,
            step,
            unit_millis,
            bounds,
        })
    }

    pub(crate) fn run(
        &self,
        input: DocStream<'_>,
        context: &RunContext<'_>,
    ) -> Result<Vec<Document>> {
        let mut tracker = context.memory_tracker(MemoryLimitKind::Sort);
        let mut passthrough = Vec::new();
        // (partition key, value, document)
        let mut rows: Vec<(Bson, Bson, Document)> = Vec::new();
        for r in input {
            let doc = r?;
            tracker.add(document_size(&doc))?;
            let value = match get_path(&doc, &self.field) {
                None | Some(Bson::Null) | Some(Bson::Undefined) => {
                    passthrough.push(doc);
                    continue;
                }
                Some(v) => v.clone(),
            };
            self.check_value_type(&value)?;
            let key = Bson::Array(
                self.partition_by_fields
                    .iter()
                    .map(|p| get_path(&doc, p).cloned().unwrap_or(Bson::Null))
                    .collect(),
            );
            rows.push((key, value, doc));
        }
        // Partitions compare under the operation's collation (their values are numbers or
        // dates, which it does not affect).
        let collation = context.collation.as_deref();
        rows.sort_by(|a, b| compare_with(&a.0, &b.0, collation).then_with(|| compare(&a.1, &b.1)));
        let (global_min, global_max) = match (
            rows.iter().map(|r| &r.1).min_by(|a, b| compare(a, b)),
            rows.iter().map(|r| &r.1).max_by(|a, b| compare(a, b)),
        ) {
            (Some(lo), Some(hi)) => (lo.clone(), hi.clone()),
            _ => return Ok(passthrough),
        };
        let mut out = passthrough;
        let mut generated = 0usize;
        let count_generated = |generated: &mut usize| -> Result<()> {
            *generated += 1;
            if *generated > MAX_GENERATED_DOCUMENTS {
                return Err(Error::coded(
                    5897900,
                    format!(
                        "Generated {generated} documents in $densify, which is over the limit of \
                         {MAX_GENERATED_DOCUMENTS}. Increase the \
                         'internalQueryMaxAllowedDensifyDocs' parameter to allow more generated \
                         documents"
                    ),
                ));
            }
            Ok(())
        };
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
            let partition = rows.get(start..end).unwrap_or(&[]);
            // The walk runs from the lower bound to the (exclusive) upper bound.
            let (lower, upper) = match &self.bounds {
                Bounds::Full => (global_min.clone(), global_max.clone()),
                Bounds::Partition => match (partition.first(), partition.last()) {
                    (Some(first), Some(last)) => (first.1.clone(), last.1.clone()),
                    _ => (global_min.clone(), global_max.clone()),
                },
                Bounds::Explicit(explicit) => explicit.as_ref().clone(),
            };
            let key = partition.first().map(|r| r.0.clone()).unwrap_or(Bson::Null);
            let mut cursor = lower;
            let below = |a: &Bson, b: &Bson| compare(a, b) == Ordering::Less;
            for (_, value, doc) in partition {
                while below(&cursor, value) && below(&cursor, &upper) {
                    count_generated(&mut generated)?;
                    out.push(self.generated(&key, cursor.clone()));
                    cursor = self.add_step(&cursor)?;
                }
                if compare(&cursor, value) == Ordering::Equal {
                    cursor = self.add_step(&cursor)?;
                }
                out.push(doc.clone());
            }
            while below(&cursor, &upper) {
                count_generated(&mut generated)?;
                out.push(self.generated(&key, cursor.clone()));
                cursor = self.add_step(&cursor)?;
            }
            start = end;
        }
        Ok(out)
    }

    fn check_value_type(&self, value: &Bson) -> Result<()> {
        match (value, self.unit_millis) {
            (Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_), None) => Ok(()),
            (Bson::DateTime(_), Some(_)) => Ok(()),
            (Bson::Decimal128(_), None) => Err(Error::NotSupported(
                "$densify over decimal values is not supported".into(),
            )),
            (Bson::DateTime(_), None) => Err(Error::coded(
                6053600,
                "Encountered date field value while densifying a numeric range; a 'unit' is \
                 required for dates",
            )),
            (other, _) => Err(Error::coded(
                5733201,
                format!(
                    "Densify field type must be numeric or a date, and match the range; found {}",
                    type_name(other)
                ),
            )),
        }
    }

    /// A new document: the partition fields, then the densified field.
    fn generated(&self, key: &Bson, value: Bson) -> Document {
        let mut doc = Document::new();
        if let Bson::Array(values) = key {
            for (field, v) in self.partition_by_fields.iter().zip(values) {
                set_path(&mut doc, field, v.clone());
            }
        }
        set_path(&mut doc, &self.field, value);
        doc
    }

    fn add_step(&self, value: &Bson) -> Result<Bson> {
        let overflow = || Error::BadValue("$densify value overflowed while stepping".into());
        Ok(match (value, &self.step, self.unit_millis) {
            (Bson::DateTime(d), step, Some(millis)) => {
                let units = match step {
                    Bson::Int32(i) => i64::from(*i),
                    Bson::Int64(i) => *i,
                    other => crate::value::Number::of(other)
                        .map(|n| n.to_f64() as i64)
                        .unwrap_or(0),
                };
                let delta = units.checked_mul(millis).ok_or_else(overflow)?;
                Bson::DateTime(bson::DateTime::from_millis(
                    d.timestamp_millis()
                        .checked_add(delta)
                        .ok_or_else(overflow)?,
                ))
            }
            (Bson::Int32(a), Bson::Int32(b), None) => match a.checked_add(*b) {
                Some(sum) => Bson::Int32(sum),
                None => Bson::Int64(i64::from(*a) + i64::from(*b)),
            },
            (Bson::Int32(_) | Bson::Int64(_), Bson::Int32(_) | Bson::Int64(_), None) => {
                let a = super::paths::integral_i64(value).ok_or_else(overflow)?;
                let b = super::paths::integral_i64(&self.step).ok_or_else(overflow)?;
                match a.checked_add(b) {
                    Some(sum) => Bson::Int64(sum),
                    None => Bson::Double(a as f64 + b as f64),
                }
            }
            (v, step, None) => {
                let a = crate::value::Number::of(v)
                    .map(|n| n.to_f64())
                    .unwrap_or(f64::NAN);
                let b = crate::value::Number::of(step)
                    .map(|n| n.to_f64())
                    .unwrap_or(f64::NAN);
                Bson::Double(a + b)
            }
            (other, _, Some(_)) => {
                return Err(Error::coded(
                    5733201,
                    format!(
                        "Densify field type must be a date when a unit is given; found {}",
                        type_name(other)
                    ),
                ))
            }
        })
    }
}
