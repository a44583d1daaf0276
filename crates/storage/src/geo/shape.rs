//! Locations as stored in documents and given in queries: GeoJSON objects (`{type: "Point",
//! coordinates: [lng, lat]}`, LineString, Polygon with holes, Multi*, GeometryCollection) and
//! legacy coordinate pairs (`[x, y]` or `{lng: x, lat: y}`), parsed into `geo` geometries.

use ::geo::{
    Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon,
    Point, Polygon, Validation,
};
use bson::{Bson, Document};

/// A parsed location: a `geo` geometry in (x, y) = (longitude, latitude) degrees for GeoJSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub geometry: Geometry<f64>,
    /// A legacy coordinate pair (flat), not GeoJSON.
    pub legacy: bool,
}

/// The most vertices (all rings) and holes of one polygon.
pub const MAX_POLYGON_VERTICES: usize = 4096;
pub const MAX_POLYGON_HOLES: usize = 64;

/// GeometryCollections nest; deeper ones are refused so parsing stays shallow.
const MAX_COLLECTION_DEPTH: usize = 8;

fn number(v: &Bson) -> Option<f64> {
    match v {
        Bson::Int32(i) => Some(f64::from(*i)),
        Bson::Int64(i) => Some(*i as f64),
        Bson::Double(d) => Some(*d),
        Bson::Decimal128(_) => crate::value::Number::of(v).map(|n| n.to_f64()),
        _ => None,
    }
}

/// A legacy coordinate pair: an array of exactly two numbers, or a document whose first two
/// values are numbers. `None` when `v` is not shaped as one.
pub fn legacy_point(v: &Bson) -> Option<Point<f64>> {
    let (x, y) = match v {
        Bson::Array(items) if items.len() == 2 => (items.first()?, items.get(1)?),
        Bson::Document(d) if d.len() >= 2 => {
            let mut values = d.values();
            (values.next()?, values.next()?)
        }
        _ => return None,
    };
    let (x, y) = (number(x)?, number(y)?);
    (x.is_finite() && y.is_finite()).then(|| Point::new(x, y))
}

/// Parses a location in a document: a legacy pair or a GeoJSON object (validated for the
/// sphere). `Ok(None)` when the value is neither shaped as a pair nor as GeoJSON.
pub fn parse_location(v: &Bson) -> Result<Option<Location>, String> {
    if let Some(point) = legacy_point(v) {
        return Ok(Some(Location {
            geometry: Geometry::Point(point),
            legacy: true,
        }));
    }
    match v {
        Bson::Document(d) if d.contains_key("type") => parse_geojson(d, 0).map(|geometry| {
            Some(Location {
                geometry,
                legacy: false,
            })
        }),
        _ => Ok(None),
    }
}

/// Parses and validates a GeoJSON object.
pub fn parse_geojson(d: &Document, depth: usize) -> Result<Geometry<f64>, String> {
    let kind = match d.get("type") {
        Some(Bson::String(s)) => s.as_str(),
        _ => return Err("unknown GeoJSON type: missing or not a string 'type'".into()),
    };
    if let Some(crs) = d.get("crs") {
        check_crs(crs)?;
    }
    if kind == "GeometryCollection" {
        if depth >= MAX_COLLECTION_DEPTH {
            return Err("GeometryCollection nested too deeply".into());
        }
        let Some(Bson::Array(items)) = d.get("geometries") else {
            return Err("GeometryCollection must have an array 'geometries'".into());
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let Bson::Document(g) = item else {
                return Err("Element of 'geometries' is not an object".into());
            };
            out.push(parse_geojson(g, depth + 1)?);
        }
        return Ok(Geometry::GeometryCollection(GeometryCollection(out)));
    }
    let Some(Bson::Array(coords)) = d.get("coordinates") else {
        return Err(format!("{kind} must have an array 'coordinates'"));
    };
    let geometry = match kind {
        "Point" => Geometry::Point(Point(position(coords)?)),
        "LineString" => Geometry::LineString(line(coords)?),
        "Polygon" => Geometry::Polygon(polygon(coords)?),
        "MultiPoint" => Geometry::MultiPoint(MultiPoint(
            arrays(coords)?
                .into_iter()
                .map(|c| position(c).map(Point))
                .collect::<Result<_, _>>()?,
        )),
        "MultiLineString" => Geometry::MultiLineString(MultiLineString(
            arrays(coords)?
                .into_iter()
                .map(line)
                .collect::<Result<_, _>>()?,
        )),
        "MultiPolygon" => Geometry::MultiPolygon(MultiPolygon(
            arrays(coords)?
                .into_iter()
                .map(polygon)
                .collect::<Result<_, _>>()?,
        )),
        other => return Err(format!("unknown GeoJSON type: {other}")),
    };
    Ok(geometry)
}

/// Only the default coordinate system (WGS84 longitude/latitude) is accepted; MongoDB's
/// "big polygon" system (`urn:x-mongodb:crs:strictwinding:EPSG:4326`) is refused by name.
fn check_crs(crs: &Bson) -> Result<(), String> {
    let name = match crs {
        Bson::Document(c) => c
            .get_document("properties")
            .ok()
            .and_then(|p| p.get_str("name").ok()),
        _ => None,
    };
    match name {
        Some("EPSG:4326" | "urn:ogc:def:crs:OGC:1.3:CRS84" | "urn:ogc:def:crs:EPSG::4326") => {
            Ok(())
        }
        Some("urn:x-mongodb:crs:strictwinding:EPSG:4326") => {
            Err("big polygons (strictwinding crs) are not supported by Outpost".into())
        }
        _ => Err(format!("unknown coordinate reference system: {crs}")),
    }
}

fn arrays(items: &[Bson]) -> Result<Vec<&[Bson]>, String> {
    items
        .iter()
        .map(|item| match item {
            Bson::Array(a) => Ok(a.as_slice()),
            other => Err(format!("expected an array of coordinates, found {other}")),
        })
        .collect()
}

/// One GeoJSON position: `[lng, lat]` (a third number, altitude, is ignored), in bounds.
fn position(items: &[Bson]) -> Result<Coord<f64>, String> {
    if !(2..=3).contains(&items.len()) {
        return Err("a position must have 2 or 3 numbers".into());
    }
    let mut values = items.iter().map(number);
    let (Some(Some(lng)), Some(Some(lat))) = (values.next(), values.next()) else {
        return Err("a position must contain only numbers".into());
    };
    if !(-180.0..=180.0).contains(&lng) || !(-90.0..=90.0).contains(&lat) {
        return Err(format!(
            "longitude/latitude is out of bounds, lng: {lng} lat: {lat}"
        ));
    }
    Ok(Coord { x: lng, y: lat })
}

fn line(items: &[Bson]) -> Result<LineString<f64>, String> {
    let coords = arrays(items)?
        .into_iter()
        .map(position)
        .collect::<Result<Vec<_>, _>>()?;
    if coords.len() < 2 {
        return Err("GeoJSON LineString must have at least 2 vertices".into());
    }
    Ok(LineString(coords))
}

fn ring(items: &[Bson]) -> Result<LineString<f64>, String> {
    let coords = arrays(items)?
        .into_iter()
        .map(position)
        .collect::<Result<Vec<_>, _>>()?;
    if coords.len() < 4 {
        return Err("Loop must have at least 4 vertices (the first repeated last)".into());
    }
    if coords.first() != coords.last() {
        return Err("Loop is not closed, first vertex does not equal last vertex".into());
    }
    let mut distinct: Vec<Coord<f64>> = Vec::new();
    for c in &coords {
        if !distinct.contains(c) {
            distinct.push(*c);
        }
    }
    if distinct.len() < 3 {
        return Err("Loop must have at least 3 different vertices".into());
    }
    Ok(LineString(coords))
}

/// A polygon: an exterior ring and holes, checked by `geo`'s validation (no self-crossing
/// rings, holes inside the shell and not overlapping).
fn polygon(items: &[Bson]) -> Result<Polygon<f64>, String> {
    let rings = arrays(items)?
        .into_iter()
        .map(ring)
        .collect::<Result<Vec<_>, _>>()?;
    // `geo`'s validation compares every pair of a ring's edges: bounded so no polygon can
    // hold a request for long.
    let vertices: usize = rings.iter().map(|r| r.0.len()).sum();
    if vertices > MAX_POLYGON_VERTICES || rings.len() > MAX_POLYGON_HOLES + 1 {
        return Err(format!(
            "polygons of more than {MAX_POLYGON_VERTICES} vertices or {MAX_POLYGON_HOLES} holes \
             are not supported by Outpost"
        ));
    }
    let mut rings = rings.into_iter();
    let Some(exterior) = rings.next() else {
        return Err("Polygon has no loops".into());
    };
    let polygon = Polygon::new(exterior, rings.collect());
    polygon
        .check_validation()
        .map_err(|e| format!("Polygon is not valid: {e}"))?;
    Ok(polygon)
}
