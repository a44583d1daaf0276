//! Index keys of geospatial fields and the index bounds of geospatial queries.
//!
//! `2dsphere`: a location's keys are S2 cell ids (the `s2` crate): a point's level-23 cell
//! (about 1 m across), any other geometry's covering of its (lng, lat) bounding box by at most
//! 8 cells. A query region (the bounding box of a `$geoWithin`/`$geoIntersects` shape, the
//! cap of a `$centerSphere` or of a `$near`'s `$maxDistance`) is covered the same way, and a
//! document is a candidate when one of its cells contains or lies inside a query cell: for a
//! query cell, its descendants are one key range and its ancestors are points. Keys are
//! stored as the int64 `id >> 1` (valid cell ids are odd, so this keeps their order).
//!
//! `2d`: a legacy pair's key is the geohash of the point in `[min, max)` with `bits` bits per
//! coordinate (MongoDB's defaults: -180, 180, 26), as an int64. 2d keys are stored and
//! validated; queries on a 2d field scan the collection (or the whole 2d index).

use std::ops::Bound;

use ::geo::{BoundingRect, Geometry, Point};
use bson::{Bson, Document};
use s2::cellid::CellID;
use s2::latlng::LatLng;
use s2::region::RegionCoverer;

use super::query::{DistanceUnit, GeoPredicate, Region, EARTH_RADIUS_METERS};
use super::shape::{parse_location, Location};
use crate::error::{Error, Result};
use crate::query::filter::Interval;

/// The finest S2 level keys use (MongoDB's `finestIndexedLevel` for 2dsphere).
const FINEST_LEVEL: u64 = 23;
/// At most this many cells cover one geometry or one query region.
const MAX_CELLS: usize = 8;
/// One document may produce at most this many keys for one index.
const MAX_KEYS_PER_DOCUMENT: usize = 100_000;

/// A geospatial key type of an index field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GeoIndexKind {
    Sphere,
    Flat { min: f64, max: f64, bits: u32 },
}

/// Whether `kind` names a geospatial index type.
pub fn is_geo_index_type(kind: &str) -> bool {
    matches!(kind, "2dsphere" | "2d")
}

/// The position of the geospatial field in a key pattern and its kind (with the index's
/// `bits`/`min`/`max` from `options`, the stored `geo_options`).
pub fn geo_field(key: &Document, options: Option<&Document>) -> Option<(usize, GeoIndexKind)> {
    key.values().enumerate().find_map(|(position, v)| match v {
        Bson::String(k) if k == "2dsphere" => Some((position, GeoIndexKind::Sphere)),
        Bson::String(k) if k == "2d" => {
            let number = |name: &str, default: f64| {
                options
                    .and_then(|o| o.get(name))
                    .and_then(|v| crate::value::Number::of(v).map(|n| n.to_f64()))
                    .unwrap_or(default)
            };
            let bits = number("bits", 26.0);
            Some((
                position,
                GeoIndexKind::Flat {
                    min: number("min", -180.0),
                    max: number("max", 180.0),
                    // Checked to be 1..=32 at creation.
                    bits: if (1.0..=32.0).contains(&bits) {
                        bits as u32
                    } else {
                        26
                    },
                },
            ))
        }
        _ => None,
    })
}

/// Validates the geospatial options of an index specification; returns the options to keep
/// (`listIndexes` shows them), `None` for an index without a geospatial field.
pub fn parse_index_options(spec: &Document, key: &Document) -> Result<Option<Document>> {
    let kinds: Vec<(usize, &str)> = key
        .values()
        .enumerate()
        .filter_map(|(i, v)| match v {
            Bson::String(k) if is_geo_index_type(k) => Some((i, k.as_str())),
            _ => None,
        })
        .collect();
    let cannot = Error::CannotCreateIndex;
    let Some(&(position, kind)) = kinds.first() else {
        for option in ["2dsphereIndexVersion", "bits", "min", "max"] {
            if spec.contains_key(option) {
                return Err(cannot(format!(
                    "index option '{option}' is only valid for a geospatial index"
                )));
            }
        }
        return Ok(None);
    };
    if kinds.len() > 1 {
        return Err(Error::NotSupported(
            "an index with more than one geospatial field is not supported by Outpost".into(),
        ));
    }
    let mut options = Document::new();
    if kind == "2d" {
        if position != 0 {
            return Err(Error::coded(16801, "2d has to be first in index"));
        }
        let number = |name: &str| -> Result<Option<f64>> {
            match spec.get(name) {
                None => Ok(None),
                Some(v) => crate::value::Number::of(v)
                    .map(|n| Some(n.to_f64()))
                    .ok_or_else(|| cannot(format!("{name} must be a number"))),
            }
        };
        let (min, max, bits) = (number("min")?, number("max")?, number("bits")?);
        if let Some(b) = bits {
            if !(1.0..=32.0).contains(&b) || b.fract() != 0.0 {
                return Err(Error::coded(
                    13028,
                    "bits in geo index must be between 1 and 32",
                ));
            }
        }
        let (lo, hi) = (min.unwrap_or(-180.0), max.unwrap_or(180.0));
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(Error::coded(13067, "geo field min must be less than max"));
        }
        for (name, value) in [("bits", bits), ("min", min), ("max", max)] {
            if let Some(v) = value {
                options.insert(name, v);
            }
        }
        if spec.contains_key("2dsphereIndexVersion") {
            return Err(cannot(
                "2dsphereIndexVersion is only valid for 2dsphere".into(),
            ));
        }
    } else {
        match spec.get("2dsphereIndexVersion") {
            None => options.insert("2dsphereIndexVersion", 3),
            Some(v @ (Bson::Int32(2 | 3) | Bson::Int64(2 | 3))) => {
                options.insert("2dsphereIndexVersion", v.clone())
            }
            Some(other) => {
                return Err(cannot(format!(
                    "unsupported 2dsphereIndexVersion {other} (Outpost builds versions 2 and 3)"
                )))
            }
        };
        for option in ["bits", "min", "max"] {
            if spec.contains_key(option) {
                return Err(cannot(format!(
                    "index option '{option}' is only valid for 2d"
                )));
            }
        }
    }
    Ok(Some(options))
}

/// The values a dotted path reaches, arrays in the middle traversed (their document elements
/// walked), the value at the end as it is.
fn values_at<'a>(value: &'a Bson, components: &[&str], out: &mut Vec<&'a Bson>) {
    let Some((first, rest)) = components.split_first() else {
        out.push(value);
        return;
    };
    match value {
        Bson::Document(d) => {
            if let Some(child) = d.get(*first) {
                values_at(child, rest, out);
            }
        }
        Bson::Array(items) => {
            for item in items {
                if matches!(item, Bson::Document(_)) {
                    values_at(item, components, out);
                }
            }
        }
        _ => {}
    }
}

/// The locations stored at `path` with the values holding them: a location, or an array of
/// locations. Null or missing values give none; anything else is an error naming why.
pub fn document_locations<'a>(
    doc: &'a Document,
    path: &str,
) -> std::result::Result<Vec<(Location, &'a Bson)>, String> {
    let components: Vec<&str> = path.split('.').collect();
    let Some((first, rest)) = components.split_first() else {
        return Ok(Vec::new());
    };
    let mut values = Vec::new();
    if let Some(v) = doc.get(*first) {
        values_at(v, rest, &mut values);
    }
    let mut out = Vec::new();
    for value in values {
        match (parse_location(value)?, value) {
            (Some(location), _) => out.push((location, value)),
            (None, Bson::Null | Bson::Undefined) => {}
            (None, Bson::Array(items)) => {
                for item in items {
                    match parse_location(item)? {
                        Some(location) => out.push((location, item)),
                        None => return Err(format!("geo element must be a location: {item}")),
                    }
                }
            }
            (None, other) => {
                return Err(format!("geo element must be an array or object: {other}"))
            }
        }
    }
    Ok(out)
}

/// The keys of a geospatial field of `doc`, or `None` when the field holds no location (the
/// document is then left out of the index, as MongoDB's 2dsphere version 2+ and 2d do).
pub fn field_keys(kind: GeoIndexKind, doc: &Document, path: &str) -> Result<Option<Vec<Bson>>> {
    let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
    let extract_error = |reason: String| {
        Error::coded(
            16755,
            format!("Can't extract geo keys: {{ _id: {id} }}  {reason}"),
        )
    };
    let locations = document_locations(doc, path).map_err(extract_error)?;
    if locations.is_empty() {
        return Ok(None);
    }
    let mut keys: Vec<Bson> = Vec::new();
    for (location, _) in &locations {
        match kind {
            GeoIndexKind::Sphere => {
                for cell in sphere_cells(&location.geometry).map_err(extract_error)? {
                    keys.push(cell_key(cell));
                }
            }
            GeoIndexKind::Flat { min, max, bits } => {
                let Geometry::Point(p) = location.geometry else {
                    return Err(Error::coded(
                        13026,
                        "geo values in 2d indexes must be legacy coordinate pairs",
                    ));
                };
                keys.push(Bson::Int64(geohash(p, min, max, bits).map_err(|m| {
                    Error::coded(
                        13027,
                        format!("point not in interval of [ {min}, {max} ) :: caused by :: {m}"),
                    )
                })?));
            }
        }
        if keys.len() > MAX_KEYS_PER_DOCUMENT {
            return Err(Error::coded(
                16755,
                "Can't extract geo keys: too many locations",
            ));
        }
    }
    keys.sort_by(crate::value::compare);
    keys.dedup();
    Ok(Some(keys))
}

fn cell_key(cell: CellID) -> Bson {
    // Valid cell ids are odd, below 2^64: `id >> 1` fits an int64 and keeps the order.
    Bson::Int64(i64::try_from(cell.0 >> 1).unwrap_or(i64::MAX))
}

/// The S2 cells of a geometry: a point's leaf cell at the finest level, else a covering of its
/// bounding box.
fn sphere_cells(geometry: &Geometry<f64>) -> std::result::Result<Vec<CellID>, String> {
    if let Geometry::Point(p) = geometry {
        if !(-180.0..=180.0).contains(&p.x()) || !(-90.0..=90.0).contains(&p.y()) {
            return Err(format!(
                "longitude/latitude is out of bounds, lng: {} lat: {}",
                p.x(),
                p.y()
            ));
        }
        return Ok(vec![
            CellID::from(LatLng::from_degrees(p.y(), p.x())).parent(FINEST_LEVEL)
        ]);
    }
    let Some(rect) = geometry.bounding_rect() else {
        return Ok(Vec::new());
    };
    let (lo, hi) = (rect.min(), rect.max());
    Ok(cover(&s2::rect::Rect::from_degrees(lo.y, lo.x, hi.y, hi.x)))
}

fn coverer() -> RegionCoverer {
    RegionCoverer {
        min_level: 0,
        max_level: 23,
        level_mod: 1,
        max_cells: MAX_CELLS,
    }
}

fn cover<R: s2::region::Region + 'static>(region: &R) -> Vec<CellID> {
    coverer().covering(region).0
}

/// MongoDB's 2d geohash: `bits` bits per coordinate, interleaved x then y.
fn geohash(p: Point<f64>, min: f64, max: f64, bits: u32) -> std::result::Result<i64, String> {
    let scale = |v: f64| -> std::result::Result<u64, String> {
        if !(min..max).contains(&v) {
            return Err(format!("{v} is outside the index's bounds"));
        }
        let cells = f64::from(1u32 << (bits - 1)) * 2.0;
        // In [0, 2^bits): the floor of a value below `cells`.
        Ok(((v - min) / (max - min) * cells).floor().min(cells - 1.0) as u64)
    };
    let (x, y) = (scale(p.x())?, scale(p.y())?);
    let mut hash = 0u64;
    for i in (0..bits).rev() {
        hash = (hash << 2) | (((x >> i) & 1) << 1) | ((y >> i) & 1);
    }
    // At most 64 bits: shift so the hash fills the high bits, as an int64 in order.
    let shifted = hash << (64 - 2 * bits);
    Ok(i64::from_ne_bytes((shifted ^ (1 << 63)).to_ne_bytes()))
}

/// Index bounds on a `2dsphere` field for a geospatial predicate: the cells of the query's
/// region and their ancestors. `None` when the predicate gives none.
pub fn sphere_intervals(predicate: &GeoPredicate) -> Option<Vec<Interval>> {
    let cells = match predicate {
        GeoPredicate::Within(Region::CenterSphere { center, radians }) => {
            cap_cells(*center, *radians)
        }
        GeoPredicate::Within(Region::Box(r)) => rect_cells(&Geometry::Rect(*r)),
        GeoPredicate::Within(Region::Polygon(p)) => rect_cells(&Geometry::Polygon(p.clone())),
        GeoPredicate::Within(Region::Center { center, radius }) => {
            rect_cells(&Geometry::Rect(::geo::Rect::new(
                (center.x() - radius, center.y() - radius),
                (center.x() + radius, center.y() + radius),
            )))
        }
        GeoPredicate::Within(Region::Geometry(g)) | GeoPredicate::Intersects(g) => rect_cells(g),
        GeoPredicate::Near(near) => match (near.max, near.unit) {
            (None, _) => {
                return Some(vec![Interval {
                    lower: Bound::Unbounded,
                    upper: Bound::Unbounded,
                }])
            }
            (Some(max), DistanceUnit::Meters) => cap_cells(near.point, max / EARTH_RADIUS_METERS),
            (Some(max), DistanceUnit::Radians) => cap_cells(near.point, max),
            (Some(max), DistanceUnit::Flat) => rect_cells(&Geometry::Rect(::geo::Rect::new(
                (near.point.x() - max, near.point.y() - max),
                (near.point.x() + max, near.point.y() + max),
            ))),
        },
    }?;
    let mut intervals = Vec::new();
    let mut ancestors: Vec<CellID> = Vec::new();
    for cell in &cells {
        intervals.push(Interval {
            lower: Bound::Included(cell_key(cell.range_min())),
            upper: Bound::Included(cell_key(cell.range_max())),
        });
        for level in 0..cell.level() {
            let parent = cell.parent(level);
            if !ancestors.contains(&parent) {
                ancestors.push(parent);
            }
        }
    }
    for parent in ancestors {
        let key = cell_key(parent);
        intervals.push(Interval {
            lower: Bound::Included(key.clone()),
            upper: Bound::Included(key),
        });
    }
    Some(intervals)
}

/// The covering of a region's (lng, lat) bounding box, clamped to the globe.
fn rect_cells(geometry: &Geometry<f64>) -> Option<Vec<CellID>> {
    let rect = geometry.bounding_rect()?;
    let (lo, hi) = (rect.min(), rect.max());
    let clamp_lat = |v: f64| v.clamp(-90.0, 90.0);
    let clamp_lng = |v: f64| v.clamp(-180.0, 180.0);
    if !(lo.x.is_finite() && lo.y.is_finite() && hi.x.is_finite() && hi.y.is_finite()) {
        return None;
    }
    Some(cover(&s2::rect::Rect::from_degrees(
        clamp_lat(lo.y),
        clamp_lng(lo.x),
        clamp_lat(hi.y),
        clamp_lng(hi.x),
    )))
}

/// The covering of a spherical cap around a (lng, lat) center.
fn cap_cells(center: Point<f64>, radians: f64) -> Option<Vec<CellID>> {
    if !radians.is_finite() || radians >= std::f64::consts::PI {
        return None;
    }
    let center = s2::point::Point::from(LatLng::from_degrees(center.y(), center.x()));
    // A little wider, so a location exactly at the distance (as haversine measures it) is
    // still inside the covering.
    let angle = s2::s1::Angle::from(s2::s1::Rad(radians * (1.0 + 1e-9) + 1e-12));
    Some(cover(&s2::cap::Cap::from_center_angle(&center, &angle)))
}
