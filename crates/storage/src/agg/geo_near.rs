//! The `$geoNear` stage's specification. The stage runs only first in a top-level pipeline
//! over a collection: the engine produces its documents (`engine/geo_near.rs`) and the stage
//! itself passes them on.

use bson::{Bson, Document};

use crate::error::{Error, Result};

/// A parsed `$geoNear` stage.
#[derive(Debug, Clone)]
pub(crate) struct GeoNearSpec {
    pub near: Bson,
    pub distance_field: String,
    pub max_distance: Option<f64>,
    pub min_distance: Option<f64>,
    pub query: Document,
    pub spherical: bool,
    pub include_locs: Option<String>,
    pub distance_multiplier: f64,
    pub key: Option<String>,
}

fn bad(message: impl Into<String>) -> Error {
    Error::BadValue(message.into())
}

fn field_path(name: &str, value: &Bson) -> Result<String> {
    match value {
        Bson::String(s) if !s.is_empty() && !s.starts_with('$') => {
            crate::value::path::check_path_length(s)?;
            Ok(s.clone())
        }
        _ => Err(bad(format!(
            "$geoNear requires '{name}' to be a non-empty field path string"
        ))),
    }
}

fn distance(name: &str, value: &Bson) -> Result<f64> {
    match crate::value::Number::of(value).map(|n| n.to_f64()) {
        Some(d) if d.is_finite() && d >= 0.0 => Ok(d),
        _ => Err(bad(format!("{name} must be a non-negative number"))),
    }
}

impl GeoNearSpec {
    pub(crate) fn parse(spec: &Bson) -> Result<GeoNearSpec> {
        let Bson::Document(d) = spec else {
            return Err(Error::coded(
                10065,
                "invalid parameter: expected an object ($geoNear)",
            ));
        };
        let mut out = GeoNearSpec {
            near: Bson::Null,
            distance_field: String::new(),
            max_distance: None,
            min_distance: None,
            query: Document::new(),
            spherical: false,
            include_locs: None,
            distance_multiplier: 1.0,
            key: None,
        };
        for (name, value) in d {
            match name.as_str() {
                "near" => out.near = value.clone(),
                "distanceField" => out.distance_field = field_path(name, value)?,
                "maxDistance" => out.max_distance = Some(distance(name, value)?),
                "minDistance" => out.min_distance = Some(distance(name, value)?),
                "query" => match value {
                    Bson::Document(q) => out.query = q.clone(),
                    _ => return Err(bad("$geoNear 'query' must be an object")),
                },
                "spherical" => out.spherical = crate::query::filter::is_truthy(value),
                "includeLocs" => out.include_locs = Some(field_path(name, value)?),
                "distanceMultiplier" => out.distance_multiplier = distance(name, value)?,
                "key" => out.key = Some(field_path(name, value)?),
                other => return Err(bad(format!("unknown argument to $geoNear: {other}"))),
            }
        }
        if matches!(out.near, Bson::Null) {
            return Err(bad(
                "$geoNear requires a 'near' option as an Array or Object",
            ));
        }
        if out.distance_field.is_empty() {
            return Err(bad(
                "$geoNear requires a 'distanceField' option as a String",
            ));
        }
        Ok(out)
    }
}

/// Sets a dotted field in a document (for `distanceField` and `includeLocs`).
pub(crate) fn set_field_path(doc: &mut Document, path: &str, value: Bson) {
    super::paths::set_path(doc, path, value);
}
