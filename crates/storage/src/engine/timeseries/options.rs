//! A time-series collection's options (`create`'s `timeseries` document), checked as mongod
//! checks them, and stored in the catalog in the shape `listCollections` reports.

use bson::{Bson, Document};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// mongod's InvalidOptions.
const INVALID_OPTIONS: i32 = 72;

/// The longest bucket span mongod accepts (365 days).
const MAX_SPAN_SECONDS: i32 = 31_536_000;

/// `timeseries: {...}` as stored and reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeseriesOptions {
    pub time_field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<String>,
    /// Set only with custom bucketing (no `granularity`), as mongod reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_rounding_seconds: Option<i32>,
    pub bucket_max_span_seconds: i32,
}

/// A granularity's (bucket span, rounding) in seconds.
fn granularity_seconds(granularity: &str) -> Option<(i32, i32)> {
    match granularity {
        "seconds" => Some((3_600, 60)),
        "minutes" => Some((86_400, 3_600)),
        "hours" => Some((2_592_000, 86_400)),
        _ => None,
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::coded(INVALID_OPTIONS, message)
}

fn string_field(spec: &Document, name: &str) -> Result<Option<String>> {
    match spec.get(name) {
        None => Ok(None),
        Some(Bson::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::TypeMismatch(format!(
            "BSON field 'timeseries.{name}' is the wrong type '{}', expected type 'string'",
            crate::value::compare::type_name(other)
        ))),
    }
}

fn seconds_field(spec: &Document, name: &str) -> Result<Option<i32>> {
    let n = match spec.get(name) {
        None => return Ok(None),
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Double(d)) if d.fract() == 0.0 && d.abs() < 1e10 => *d as i64,
        Some(other) => {
            return Err(Error::TypeMismatch(format!(
                "BSON field 'timeseries.{name}' is the wrong type '{}', expected type 'int'",
                crate::value::compare::type_name(other)
            )))
        }
    };
    match i32::try_from(n) {
        Ok(n) if (1..=MAX_SPAN_SECONDS).contains(&n) => Ok(Some(n)),
        _ => Err(Error::BadValue(format!(
            "BSON field 'timeseries.{name}' value must be in the range [1, {MAX_SPAN_SECONDS}], \
             got {n}"
        ))),
    }
}

fn check_field_name(which: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.starts_with('$') || name.contains('.') {
        return Err(invalid(format!(
            "The '{which}' of a time-series collection must be a non-empty top-level field \
             name (no '.' and not starting with '$'), got '{name}'"
        )));
    }
    if name == "_id" {
        return Err(invalid(format!("The '{which}' cannot be '_id'")));
    }
    Ok(())
}

impl TimeseriesOptions {
    /// Parses and checks `create`'s `timeseries` document.
    pub fn parse(spec: &Document) -> Result<TimeseriesOptions> {
        const KNOWN: &[&str] = &[
            "timeField",
            "metaField",
            "granularity",
            "bucketMaxSpanSeconds",
            "bucketRoundingSeconds",
        ];
        if let Some(unknown) = spec.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(Error::coded(
                40415,
                format!("BSON field 'timeseries.{unknown}' is an unknown field."),
            ));
        }
        let time_field = string_field(spec, "timeField")?.ok_or_else(|| {
            Error::coded(
                40414,
                "BSON field 'timeseries.timeField' is missing but a required field",
            )
        })?;
        check_field_name("timeField", &time_field)?;
        let meta_field = string_field(spec, "metaField")?;
        if let Some(meta) = &meta_field {
            check_field_name("metaField", meta)?;
            if *meta == time_field {
                return Err(invalid(
                    "The 'metaField' and 'timeField' cannot be the same",
                ));
            }
        }
        let granularity = string_field(spec, "granularity")?;
        let max_span = seconds_field(spec, "bucketMaxSpanSeconds")?;
        let rounding = seconds_field(spec, "bucketRoundingSeconds")?;
        let mut options = TimeseriesOptions {
            time_field,
            meta_field,
            granularity: None,
            bucket_rounding_seconds: None,
            bucket_max_span_seconds: 0,
        };
        match granularity {
            Some(g) => {
                let Some((span, round)) = granularity_seconds(&g) else {
                    return Err(Error::BadValue(format!(
                        "Enumeration value '{g}' for field 'timeseries.granularity' is not a \
                         valid value."
                    )));
                };
                if max_span.is_some_and(|s| s != span) {
                    return Err(invalid(format!(
                        "Timeseries 'bucketMaxSpanSeconds' is not configurable to a value other \
                         than the default of {span} for the provided granularity"
                    )));
                }
                if rounding.is_some_and(|r| r != round) {
                    return Err(invalid(format!(
                        "Timeseries 'bucketRoundingSeconds' is not configurable to a value other \
                         than the default of {round} for the provided granularity"
                    )));
                }
                options.granularity = Some(g);
                options.bucket_max_span_seconds = span;
            }
            None => {
                match (max_span, rounding) {
                    (None, None) => {
                        options.granularity = Some("seconds".into());
                        options.bucket_max_span_seconds = 3_600;
                    }
                    (Some(span), Some(round)) => {
                        if span != round {
                            return Err(invalid(
                                "Timeseries 'bucketRoundingSeconds' needs to be equal to \
                             'bucketMaxSpanSeconds'",
                            ));
                        }
                        options.bucket_max_span_seconds = span;
                        options.bucket_rounding_seconds = Some(round);
                    }
                    _ => return Err(invalid(
                        "Timeseries 'bucketMaxSpanSeconds' and 'bucketRoundingSeconds' need to \
                         be set alongside each other",
                    )),
                }
            }
        }
        Ok(options)
    }

    /// Reads the options stored in a collection's catalog options (`None`: not time-series).
    pub(crate) fn from_collection_options(options: &Document) -> Result<Option<TimeseriesOptions>> {
        match options.get_document("timeseries") {
            Ok(spec) => bson::from_document(spec.clone())
                .map(Some)
                .map_err(|e| Error::Corrupt(format!("time-series options in the catalog: {e}"))),
            Err(_) => Ok(None),
        }
    }

    pub fn to_document(&self) -> Result<Document> {
        Ok(bson::to_document(self)?)
    }

    /// Bucket start times are rounded down to a multiple of this, in milliseconds.
    pub(crate) fn rounding_millis(&self) -> i64 {
        let seconds = self.bucket_rounding_seconds.unwrap_or_else(|| {
            self.granularity
                .as_deref()
                .and_then(granularity_seconds)
                .map(|(_, round)| round)
                .unwrap_or(60)
        });
        i64::from(seconds) * 1000
    }

    /// A bucket holds measurements within this many milliseconds of its start.
    pub(crate) fn span_millis(&self) -> i64 {
        i64::from(self.bucket_max_span_seconds) * 1000
    }
}

/// Checks `create`'s `expireAfterSeconds` (a time-series collection's): a non-negative number
/// of seconds.
pub fn parse_expire_after_seconds(value: &Bson) -> Result<i64> {
    let n = match value {
        Bson::Int32(n) => i64::from(*n),
        Bson::Int64(n) => *n,
        Bson::Double(d) if d.is_finite() && d.abs() < 9e15 => *d as i64,
        other => {
            return Err(Error::TypeMismatch(format!(
                "BSON field 'expireAfterSeconds' is the wrong type '{}', expected types '[long, \
                 int, decimal, double]'",
                crate::value::compare::type_name(other)
            )))
        }
    };
    if n < 0 {
        return Err(invalid(format!(
            "Invalid value for 'expireAfterSeconds': {n}; it must be a non-negative number"
        )));
    }
    Ok(n)
}
