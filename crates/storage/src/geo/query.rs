//! Geospatial query operators: `$geoWithin` (`$geometry`, `$box`, `$polygon`, `$center`,
//! `$centerSphere`), `$geoIntersects`, `$near` and `$nearSphere`, parsed once and tested on
//! one stored value at a time.

use ::geo::{
    Closest, ClosestPoint, Contains, CoordsIter, Distance, Euclidean, Geometry, HaversineMeasure,
    Intersects, Point, Polygon, Rect, Relate,
};
use bson::{Bson, Document};

use super::shape::{legacy_point, parse_geojson, parse_location, Location};
use crate::error::{Error, Result};

/// The Earth's radius MongoDB uses for spherical distances in meters.
pub const EARTH_RADIUS_METERS: f64 = 6_378_100.0;

/// A geospatial predicate on one path.
#[derive(Debug, Clone)]
pub enum GeoPredicate {
    Within(Region),
    Intersects(Geometry<f64>),
    Near(NearSpec),
}

/// The region of a `$geoWithin`.
#[derive(Debug, Clone)]
pub enum Region {
    /// `$box`: flat, boundary included.
    Box(Rect<f64>),
    /// `$polygon`: flat, boundary included.
    Polygon(Polygon<f64>),
    /// `$center`: flat circle.
    Center { center: Point<f64>, radius: f64 },
    /// `$centerSphere`: spherical cap, radius in radians.
    CenterSphere { center: Point<f64>, radians: f64 },
    /// `$geometry`: a GeoJSON Polygon or MultiPolygon.
    Geometry(Geometry<f64>),
}

/// How `$near` measures distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistanceUnit {
    /// Euclidean distance in coordinate units (`$near` with a legacy pair).
    Flat,
    /// Spherical distance in radians (`$nearSphere` with a legacy pair).
    Radians,
    /// Spherical distance in meters (a GeoJSON point).
    Meters,
}

/// `$near` / `$nearSphere` / `$geoNear`'s `near`.
#[derive(Debug, Clone)]
pub struct NearSpec {
    pub point: Point<f64>,
    pub unit: DistanceUnit,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

fn bad(message: impl Into<String>) -> Error {
    Error::BadValue(message.into())
}

fn number(v: &Bson) -> Option<f64> {
    crate::value::Number::of(v).map(|n| n.to_f64())
}

impl GeoPredicate {
    /// `$geoWithin` / `$within`.
    pub fn parse_within(value: &Bson) -> Result<GeoPredicate> {
        let Bson::Document(d) = value else {
            return Err(bad("$geoWithin must be an object"));
        };
        let mut fields = d.iter();
        let (Some((shape, spec)), None) = (fields.next(), fields.next()) else {
            return Err(bad("$geoWithin takes exactly one shape"));
        };
        let region = match shape.as_str() {
            "$box" => {
                let corners = point_list(spec, "$box")?;
                let [a, b] = corners.as_slice() else {
                    return Err(bad("$box requires exactly two points"));
                };
                Region::Box(Rect::new(a.0, b.0))
            }
            "$polygon" => {
                let points = point_list(spec, "$polygon")?;
                if points.len() < 3 {
                    return Err(bad("Polygon must have at least 3 points"));
                }
                Region::Polygon(Polygon::new(
                    points.into_iter().collect::<Vec<_>>().into(),
                    Vec::new(),
                ))
            }
            "$center" | "$centerSphere" => {
                let Bson::Array(items) = spec else {
                    return Err(bad(format!("{shape} requires an array [center, radius]")));
                };
                let (Some(center), Some(radius), 2) = (
                    items.first().and_then(legacy_point),
                    items.get(1).and_then(number),
                    items.len(),
                ) else {
                    return Err(bad(format!("{shape} requires [[x, y], radius]")));
                };
                if !radius.is_finite() || radius < 0.0 {
                    return Err(bad("radius must be a non-negative number"));
                }
                if shape == "$center" {
                    Region::Center { center, radius }
                } else {
                    check_lng_lat(center)?;
                    Region::CenterSphere {
                        center,
                        radians: radius,
                    }
                }
            }
            "$geometry" => {
                let geometry = geojson_operand(spec)?;
                if !matches!(geometry, Geometry::Polygon(_) | Geometry::MultiPolygon(_)) {
                    return Err(bad(format!(
                        "$geoWithin not supported with provided geometry: {spec}"
                    )));
                }
                Region::Geometry(geometry)
            }
            other => return Err(bad(format!("unknown geo specifier: {other}: {spec}"))),
        };
        Ok(GeoPredicate::Within(region))
    }

    /// `$geoIntersects: {$geometry: ...}`.
    pub fn parse_intersects(value: &Bson) -> Result<GeoPredicate> {
        let Bson::Document(d) = value else {
            return Err(bad("$geoIntersects must be an object"));
        };
        match d.get("$geometry") {
            Some(g) if d.len() == 1 => Ok(GeoPredicate::Intersects(geojson_operand(g)?)),
            _ => Err(bad("$geoIntersects requires exactly a $geometry")),
        }
    }

    /// `$near` / `$nearSphere` with their sibling `$minDistance` / `$maxDistance`, from the
    /// whole operator document.
    pub fn parse_near(operator: &str, operators: &Document) -> Result<GeoPredicate> {
        let value = operators.get(operator).unwrap_or(&Bson::Null);
        let sphere = operator == "$nearSphere";
        let mut min = None;
        let mut max = None;
        let (point, unit) = match value {
            Bson::Document(d) if d.contains_key("$geometry") => {
                for (key, v) in d {
                    match key.as_str() {
                        "$geometry" => {}
                        "$minDistance" => min = Some(distance_operand(key, v)?),
                        "$maxDistance" => max = Some(distance_operand(key, v)?),
                        other => {
                            return Err(bad(format!("invalid argument in {operator}: {other}")))
                        }
                    }
                }
                let Some(Bson::Document(g)) = d.get("$geometry") else {
                    return Err(bad("$geometry must be a GeoJSON Point"));
                };
                match parse_geojson(g, 0).map_err(bad)? {
                    Geometry::Point(p) => (p, DistanceUnit::Meters),
                    _ => return Err(bad(format!("{operator} requires a GeoJSON Point"))),
                }
            }
            other => match legacy_point(other) {
                Some(p) if sphere => {
                    check_lng_lat(p)?;
                    (p, DistanceUnit::Radians)
                }
                Some(p) => (p, DistanceUnit::Flat),
                None => return Err(bad(format!("{operator} must be a point: {other}"))),
            },
        };
        for (key, v) in operators {
            match key.as_str() {
                "$minDistance" => min = Some(distance_operand(key, v)?),
                "$maxDistance" => max = Some(distance_operand(key, v)?),
                k if k == operator => {}
                other => {
                    return Err(bad(format!(
                        "{other} cannot be combined with {operator} on one field"
                    )))
                }
            }
        }
        if unit == DistanceUnit::Radians && max.is_some_and(|m| m > std::f64::consts::PI) {
            return Err(bad(
                "$maxDistance too large for $nearSphere (radians, at most pi)",
            ));
        }
        Ok(GeoPredicate::Near(NearSpec {
            point,
            unit,
            min,
            max,
        }))
    }

    /// Whether one stored value satisfies the predicate. Values that are not locations never
    /// match.
    pub fn matches_value(&self, value: &Bson) -> bool {
        let Ok(Some(location)) = parse_location(value) else {
            return false;
        };
        self.matches_location(&location)
    }

    pub fn matches_location(&self, location: &Location) -> bool {
        let geometry = &location.geometry;
        match self {
            GeoPredicate::Within(region) => region_contains(region, geometry),
            GeoPredicate::Intersects(query) => query.intersects(geometry),
            GeoPredicate::Near(near) => {
                let d = near.distance(geometry);
                near.min.is_none_or(|m| d >= m) && near.max.is_none_or(|m| d <= m)
            }
        }
    }

    pub fn near(&self) -> Option<&NearSpec> {
        match self {
            GeoPredicate::Near(n) => Some(n),
            _ => None,
        }
    }
}

/// Whether `region` holds all of `geometry`. Flat shapes hold points only, as in MongoDB.
pub fn region_contains(region: &Region, geometry: &Geometry<f64>) -> bool {
    let point = match geometry {
        Geometry::Point(p) => Some(*p),
        _ => None,
    };
    match (region, point) {
        (Region::Box(rect), Some(p)) => rect.intersects(&p),
        (Region::Polygon(polygon), Some(p)) => polygon.intersects(&p),
        (Region::Center { center, radius }, Some(p)) => Euclidean.distance(*center, p) <= *radius,
        (Region::Box(_) | Region::Polygon(_) | Region::Center { .. }, None) => false,
        (Region::CenterSphere { center, radians }, _) => {
            let mut coords = geometry.coords_iter().peekable();
            coords.peek().is_some()
                && coords.all(|c| spherical_radians(*center, Point(c)) <= *radians)
        }
        (Region::Geometry(shape), Some(p)) => shape.intersects(&p),
        (Region::Geometry(shape), None) => {
            shape.contains(geometry) || shape.relate(geometry).is_covers()
        }
    }
}

impl NearSpec {
    /// The distance from the near point to `geometry` in this spec's unit. For non-point
    /// geometries the spherical distance is measured to the closest point in (lng, lat)
    /// coordinates.
    pub fn distance(&self, geometry: &Geometry<f64>) -> f64 {
        match self.unit {
            DistanceUnit::Flat => Euclidean.distance(geometry, &self.point),
            DistanceUnit::Radians => spherical_to(self.point, geometry),
            DistanceUnit::Meters => spherical_to(self.point, geometry) * EARTH_RADIUS_METERS,
        }
    }
}

/// The great-circle distance between two (lng, lat) points, in radians.
pub fn spherical_radians(a: Point<f64>, b: Point<f64>) -> f64 {
    HaversineMeasure::new(1.0).distance(a, b)
}

fn spherical_to(point: Point<f64>, geometry: &Geometry<f64>) -> f64 {
    if let Geometry::Point(p) = geometry {
        return spherical_radians(point, *p);
    }
    match geometry.closest_point(&point) {
        Closest::Intersection(_) => 0.0,
        Closest::SinglePoint(q) => spherical_radians(point, q),
        Closest::Indeterminate => geometry
            .coords_iter()
            .map(|c| spherical_radians(point, Point(c)))
            .fold(f64::INFINITY, f64::min),
    }
}

fn check_lng_lat(p: Point<f64>) -> Result<()> {
    if (-180.0..=180.0).contains(&p.x()) && (-90.0..=90.0).contains(&p.y()) {
        Ok(())
    } else {
        Err(bad(format!(
            "longitude/latitude is out of bounds, lng: {} lat: {}",
            p.x(),
            p.y()
        )))
    }
}

fn geojson_operand(value: &Bson) -> Result<Geometry<f64>> {
    let Bson::Document(d) = value else {
        return Err(bad("$geometry must be a GeoJSON object"));
    };
    parse_geojson(d, 0).map_err(|e| bad(format!("Failed to parse $geometry: {e}")))
}

fn point_list(spec: &Bson, shape: &str) -> Result<Vec<Point<f64>>> {
    let Bson::Array(items) = spec else {
        return Err(bad(format!("{shape} requires an array of points")));
    };
    items
        .iter()
        .map(|item| legacy_point(item).ok_or_else(|| bad(format!("{shape}: bad point {item}"))))
        .collect()
}

fn distance_operand(key: &str, v: &Bson) -> Result<f64> {
    match number(v) {
        Some(d) if d.is_finite() && d >= 0.0 => Ok(d),
        Some(_) => Err(bad(format!("{key} must be non-negative"))),
        None => Err(bad(format!("{key} must be a number"))),
    }
}
