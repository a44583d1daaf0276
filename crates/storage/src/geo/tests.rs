//! Property tests of the geospatial predicates against straightforward reference
//! implementations, and unit tests of parsing and keys.

use bson::{bson, doc, Bson};
use proptest::prelude::*;

use super::keys::{field_keys, sphere_intervals, GeoIndexKind};
use super::query::{spherical_radians, GeoPredicate, EARTH_RADIUS_METERS};
use super::shape::parse_location;

/// Ray casting: whether (x, y) is strictly inside the polygon `ring` (closed).
fn reference_inside(ring: &[(f64, f64)], x: f64, y: f64) -> bool {
    let mut inside = false;
    for pair in ring.windows(2) {
        let [(x1, y1), (x2, y2)] = pair else { continue };
        if (y1 > &y) != (y2 > &y) && x < (x2 - x1) * (y - y1) / (y2 - y1) + x1 {
            inside = !inside;
        }
    }
    inside
}

/// Whether (x, y) lies within `eps` of a segment of `ring`.
fn near_boundary(ring: &[(f64, f64)], x: f64, y: f64, eps: f64) -> bool {
    ring.windows(2).any(|pair| {
        let [(x1, y1), (x2, y2)] = pair else {
            return false;
        };
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len2 = dx * dx + dy * dy;
        let t = if len2 == 0.0 {
            0.0
        } else {
            (((x - x1) * dx + (y - y1) * dy) / len2).clamp(0.0, 1.0)
        };
        let (px, py) = (x1 + t * dx, y1 + t * dy);
        ((x - px).powi(2) + (y - py).powi(2)).sqrt() < eps
    })
}

/// The textbook haversine formula, in radians.
fn reference_haversine(lng1: f64, lat1: f64, lng2: f64, lat2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lng2 - lng1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * a.sqrt().min(1.0).asin()
}

/// A star-shaped (so simple) polygon around (cx, cy) from radii at increasing angles.
fn star(cx: f64, cy: f64, radii: &[f64]) -> Vec<(f64, f64)> {
    let n = radii.len() as f64;
    let mut ring: Vec<(f64, f64)> = radii
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let a = i as f64 / n * std::f64::consts::TAU;
            (cx + r * a.cos(), cy + r * a.sin())
        })
        .collect();
    if let Some(first) = ring.first().copied() {
        ring.push(first);
    }
    ring
}

fn ring_bson(ring: &[(f64, f64)]) -> Bson {
    Bson::Array(ring.iter().map(|(x, y)| bson!([*x, *y])).collect())
}

proptest! {
    #[test]
    fn geometry_within_polygon_agrees_with_ray_casting(
        radii in proptest::collection::vec(1.0f64..20.0, 3..12),
        x in -25.0f64..25.0,
        y in -25.0f64..25.0,
    ) {
        let ring = star(0.0, 0.0, &radii);
        prop_assume!(!near_boundary(&ring, x, y, 1e-6));
        let within = GeoPredicate::parse_within(
            &bson!({"$geometry": {"type": "Polygon", "coordinates": [ring_bson(&ring)]}}),
        ).unwrap();
        let expected = reference_inside(&ring, x, y);
        prop_assert_eq!(within.matches_value(&bson!({"type": "Point", "coordinates": [x, y]})), expected);
        // The legacy $polygon is the same region in flat terms.
        let flat = GeoPredicate::parse_within(&bson!({"$polygon": ring_bson(&ring)})).unwrap();
        prop_assert_eq!(flat.matches_value(&bson!([x, y])), expected);
        // And $geoIntersects of a point is containment.
        let intersects = GeoPredicate::parse_intersects(
            &bson!({"$geometry": {"type": "Polygon", "coordinates": [ring_bson(&ring)]}}),
        ).unwrap();
        prop_assert_eq!(intersects.matches_value(&bson!([x, y])), expected);
    }

    #[test]
    fn spherical_distance_agrees_with_the_haversine_formula(
        lng1 in -180.0f64..180.0, lat1 in -90.0f64..90.0,
        lng2 in -180.0f64..180.0, lat2 in -90.0f64..90.0,
    ) {
        let ours = spherical_radians(geo::Point::new(lng1, lat1), geo::Point::new(lng2, lat2));
        let reference = reference_haversine(lng1, lat1, lng2, lat2);
        prop_assert!((ours - reference).abs() < 1e-9, "{} vs {}", ours, reference);
    }

    #[test]
    fn near_with_max_distance_agrees_with_the_reference(
        lng in -170.0f64..170.0, lat in -80.0f64..80.0,
        dlng in -2.0f64..2.0, dlat in -2.0f64..2.0,
        max in 0.0f64..300_000.0,
    ) {
        let near = GeoPredicate::parse_near("$near", &doc! {"$near": {
            "$geometry": {"type": "Point", "coordinates": [lng, lat]}, "$maxDistance": max,
        }}).unwrap();
        let meters = reference_haversine(lng, lat, lng + dlng, lat + dlat) * EARTH_RADIUS_METERS;
        prop_assume!((meters - max).abs() > 1e-3);
        let point = bson!({"type": "Point", "coordinates": [lng + dlng, lat + dlat]});
        prop_assert_eq!(near.matches_value(&point), meters <= max);
    }

    #[test]
    fn flat_shapes_agree_with_the_reference(
        x in -50.0f64..50.0, y in -50.0f64..50.0,
        x1 in -40.0f64..0.0, y1 in -40.0f64..0.0, x2 in 0.0f64..40.0, y2 in 0.0f64..40.0,
        r in 0.0f64..40.0,
    ) {
        let boxed = GeoPredicate::parse_within(&bson!({"$box": [[x1, y1], [x2, y2]]})).unwrap();
        prop_assert_eq!(boxed.matches_value(&bson!([x, y])), x1 <= x && x <= x2 && y1 <= y && y <= y2);
        let circle = GeoPredicate::parse_within(&bson!({"$center": [[1.0, 2.0], r]})).unwrap();
        let d = ((x - 1.0).powi(2) + (y - 2.0).powi(2)).sqrt();
        prop_assume!((d - r).abs() > 1e-9);
        prop_assert_eq!(circle.matches_value(&bson!({"x": x, "y": y})), d <= r);
    }

    /// Every point matching a `$centerSphere` has a key inside the query's index bounds.
    #[test]
    fn index_bounds_hold_every_match(
        lng in -179.0f64..179.0, lat in -89.0f64..89.0,
        dlng in -1.0f64..1.0, dlat in -1.0f64..1.0,
        radians in 0.0f64..0.03,
    ) {
        let query = GeoPredicate::parse_within(&bson!({"$centerSphere": [[lng, lat], radians]})).unwrap();
        let (plng, plat) = ((lng + dlng).clamp(-180.0, 180.0), (lat + dlat).clamp(-90.0, 90.0));
        let point = bson!({"type": "Point", "coordinates": [plng, plat]});
        prop_assume!(query.matches_value(&point));
        let keys = field_keys(GeoIndexKind::Sphere, &doc! {"loc": point}, "loc").unwrap().unwrap();
        let intervals = sphere_intervals(&query).unwrap();
        prop_assert!(keys.iter().any(|k| intervals.iter().any(|i| i.contains(k))));
    }
}

proptest! {
    /// Keys and index bounds of any valid line or box, up to the poles and the antimeridian,
    /// are computed without a panic, and a line's keys fall inside its own intersects bounds.
    #[test]
    fn keys_and_bounds_of_extreme_shapes(
        x1 in -180.0f64..=180.0, y1 in -90.0f64..=90.0,
        x2 in -180.0f64..=180.0, y2 in -90.0f64..=90.0,
        pick in 0usize..4,
    ) {
        let corners = [(-180.0, -90.0), (180.0, 90.0), (x1, y1), (x2, y2)];
        let (ax, ay) = corners[pick];
        let line = bson!({"type": "LineString", "coordinates": [[ax, ay], [x2, y2]]});
        let keys = field_keys(GeoIndexKind::Sphere, &doc! {"g": line.clone()}, "g").unwrap().unwrap();
        prop_assert!(!keys.is_empty());
        let query = GeoPredicate::parse_intersects(&bson!({"$geometry": line})).unwrap();
        let intervals = sphere_intervals(&query).unwrap();
        prop_assert!(keys.iter().all(|k| intervals.iter().any(|i| i.contains(k))));
    }
}

#[test]
fn oversized_polygons_are_refused_by_name() {
    let n = super::shape::MAX_POLYGON_VERTICES;
    let mut ring: Vec<Bson> = (0..n)
        .map(|i| {
            let a = i as f64 / n as f64 * std::f64::consts::TAU;
            bson!([a.cos(), a.sin()])
        })
        .collect();
    ring.push(bson!([1.0, 0.0]));
    let err = parse_location(&bson!({"type": "Polygon", "coordinates": [ring]})).unwrap_err();
    assert!(err.contains("not supported by Outpost"), "{err}");
}

#[test]
fn geojson_is_validated() {
    let bad = [
        bson!({"type": "Point", "coordinates": [200, 0]}),
        bson!({"type": "Point", "coordinates": [0]}),
        bson!({"type": "LineString", "coordinates": [[0, 0]]}),
        bson!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 2]]]}),
        bson!({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0], [1, 1]]]}),
        // A hole outside the shell.
        bson!({"type": "Polygon", "coordinates": [
            [[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]],
            [[10, 10], [11, 10], [11, 11], [10, 10]]]}),
        bson!({"type": "Triangle", "coordinates": [0, 0]}),
    ];
    for value in bad {
        assert!(parse_location(&value).is_err(), "{value} should be refused");
    }
    let polygon_with_hole = bson!({"type": "Polygon", "coordinates": [
        [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
        [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]]});
    assert!(parse_location(&polygon_with_hole).unwrap().is_some());
    let within = GeoPredicate::parse_within(&bson!({"$geometry": polygon_with_hole})).unwrap();
    assert!(within.matches_value(&bson!([2, 2])));
    assert!(!within.matches_value(&bson!([5, 5])));
    assert!(parse_location(&bson!("not a location")).unwrap().is_none());
}

#[test]
fn two_d_keys_keep_order_and_bounds() {
    let kind = GeoIndexKind::Flat {
        min: -180.0,
        max: 180.0,
        bits: 26,
    };
    let key = |x: f64| {
        field_keys(kind, &doc! {"p": [x, 0.0]}, "p")
            .unwrap()
            .unwrap()
    };
    assert!(crate::value::compare(&key(-10.0)[0], &key(10.0)[0]).is_lt());
    let err = field_keys(kind, &doc! {"p": [180.0, 0.0]}, "p").unwrap_err();
    assert_eq!(err.code(), 13027);
    assert!(field_keys(kind, &doc! {"q": 1}, "p").unwrap().is_none());
}
