//! `$fill`: missing and null fields filled with the last value seen (`method: "locf"`, through
//! `$setWindowFields`) or with a constant (`value`, through `$addFields`).

use bson::{Bson, Document};

use super::{parse_error, SetWindowFieldsSpec};
use crate::agg::paths::{type_name, validate_field_path};
use crate::agg::{DocStream, RunContext, VariableScope};
use crate::error::{Error, Result};

/// A parsed `$fill`, which MongoDB rewrites into `$setWindowFields` (for `method: "locf"`)
/// and `$addFields` with `$ifNull` (for `value`). `method: "linear"` is not supported.
#[derive(Debug, Clone)]
pub(crate) struct FillSpec {
    window: Option<SetWindowFieldsSpec>,
    values: Option<crate::agg::project::Projection>,
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
            Some(crate::agg::project::Projection::parse_add_fields(
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
