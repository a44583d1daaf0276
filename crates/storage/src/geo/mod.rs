//! Geospatial data: locations (GeoJSON and legacy coordinate pairs, `shape`), the query
//! operators `$geoWithin`, `$geoIntersects`, `$near` and `$nearSphere` (`query`), and the keys
//! of `2dsphere` and `2d` index fields with the index bounds of geospatial queries (`keys`).
//!
//! Geometry predicates and distances come from the `geo` crate, S2 cells from the `s2` crate.
//! Containment and intersection (`$geoWithin: {$geometry}`, `$geoIntersects`) are computed on
//! (longitude, latitude) as plane coordinates: edges are straight lines in those coordinates,
//! not great-circle arcs as in MongoDB, which differs for long edges far from the equator.
//! Distances (`$near` with GeoJSON, `$nearSphere`, `$centerSphere`, `$geoNear`) are spherical
//! (haversine on a sphere of MongoDB's radius, 6378.1 km); to a non-point geometry they are
//! measured to its closest point in (longitude, latitude) coordinates.

pub mod keys;
pub mod query;
pub mod shape;
#[cfg(test)]
mod tests;

pub use query::{DistanceUnit, GeoPredicate, NearSpec, Region, EARTH_RADIUS_METERS};
pub use shape::{parse_location, Location};
