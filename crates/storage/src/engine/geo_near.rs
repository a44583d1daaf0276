//! The engine's side of `$near`/`$nearSphere` and the `$geoNear` stage: the index they need
//! (error 291 without one, as mongod), results ordered by distance, and `$geoNear`'s output
//! fields.

use bson::{Bson, Document};

use super::catalog::Collection;
use super::read::{sort_memory_error, FindOptions, Found, MEMORY_LIMIT_BYTES};
use super::Storage;
use crate::agg::geo_near::{set_field_path, GeoNearSpec};
use crate::error::{Error, Result};
use crate::geo::keys::{document_locations, geo_field, GeoIndexKind};
use crate::geo::{DistanceUnit, NearSpec};
use crate::query::Filter;

fn no_index_error() -> Error {
    Error::coded(
        291,
        "error processing query: planner returned error :: caused by :: unable to find index \
         for $geoNear query",
    )
}

/// A `$near`/`$nearSphere` needs a geospatial index on its field: a `2dsphere` one for a
/// GeoJSON point (distances in meters), a `2d` or `2dsphere` one for a legacy pair.
pub(crate) fn check_near_index(collection: &Collection, filter: &Filter) -> Result<()> {
    let Some((path, spec)) = filter.near()? else {
        return Ok(());
    };
    let usable = collection
        .indexes
        .iter()
        .any(|index| match geo_field(&index.meta.key, None) {
            Some((position, kind)) => {
                index.fields.get(position).is_some_and(|(p, _)| p == path)
                    && (spec.unit != DistanceUnit::Meters || kind == GeoIndexKind::Sphere)
            }
            None => false,
        });
    if usable {
        Ok(())
    } else {
        Err(no_index_error())
    }
}

/// The closest location of `doc` at `path` within the spec's distance bounds: its distance
/// and the stored value.
pub(crate) fn closest_location(doc: &Document, path: &str, spec: &NearSpec) -> Option<(f64, Bson)> {
    let locations = document_locations(doc, path).ok()?;
    locations
        .into_iter()
        .map(|(location, value)| (spec.distance(&location.geometry), value))
        .filter(|(d, _)| spec.min.is_none_or(|m| *d >= m) && spec.max.is_none_or(|m| *d <= m))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(d, v)| (d, v.clone()))
}

/// Matching documents ordered by their distance to the `$near` point, nearest first (ties in
/// scan order). `keep` bounds how many are needed; memory is bounded as a sort's.
pub(crate) fn sort_by_distance(
    items: impl Iterator<Item = Result<(Found, Option<usize>)>>,
    near: Option<&(String, NearSpec)>,
    allow_disk_use: bool,
    keep: Option<usize>,
) -> Result<Vec<(Found, Option<usize>)>> {
    let mut keyed: Vec<(f64, (Found, Option<usize>))> = Vec::new();
    let mut bytes = 0u64;
    for item in items {
        let (found, index) = item?;
        let distance = near
            .and_then(|(path, spec)| closest_location(&found.doc, path, spec))
            .map_or(f64::INFINITY, |(d, _)| d);
        bytes = bytes.saturating_add(found.size);
        if bytes > MEMORY_LIMIT_BYTES && !allow_disk_use {
            return Err(sort_memory_error());
        }
        keyed.push((distance, (found, index)));
    }
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    if let Some(k) = keep {
        keyed.truncate(k);
    }
    Ok(keyed.into_iter().map(|(_, row)| row).collect())
}

impl Storage {
    /// The documents a leading `$geoNear` stage produces: those matching its `query` near its
    /// point, nearest first, with `distanceField` (and `includeLocs`) set.
    pub(crate) fn geo_near_documents(
        &self,
        db: &str,
        coll: &str,
        spec: &GeoNearSpec,
        options: FindOptions,
    ) -> Result<Vec<Document>> {
        let Some(collection) = self.collection(db, coll) else {
            return Ok(Vec::new());
        };
        let path = geo_near_key(&collection, spec)?;
        let geojson = matches!(&spec.near, Bson::Document(d) if d.contains_key("type"));
        let mut near_op = Document::new();
        let operator = if geojson || spec.spherical {
            "$nearSphere"
        } else {
            "$near"
        };
        if geojson {
            let mut inner = bson::doc! {"$geometry": spec.near.clone()};
            for (name, value) in [
                ("$minDistance", spec.min_distance),
                ("$maxDistance", spec.max_distance),
            ] {
                if let Some(v) = value {
                    inner.insert(name, v);
                }
            }
            near_op.insert(operator, inner);
        } else {
            near_op.insert(operator, spec.near.clone());
            for (name, value) in [
                ("$minDistance", spec.min_distance),
                ("$maxDistance", spec.max_distance),
            ] {
                if let Some(v) = value {
                    near_op.insert(name, v);
                }
            }
        }
        let mut filter = Document::new();
        filter.insert(path.clone(), near_op);
        let filter = if spec.query.is_empty() {
            filter
        } else {
            bson::doc! {"$and": [spec.query.clone(), filter]}
        };
        let find = FindOptions {
            filter: filter.clone(),
            ..options
        };
        let parsed = Filter::parse(&filter)?;
        let Some((_, near)) = parsed.near()? else {
            return Err(no_index_error());
        };
        let mut out = Vec::new();
        for doc in self.find(db, coll, &find)? {
            let mut doc = doc?;
            let Some((distance, location)) = closest_location(&doc, &path, near) else {
                continue;
            };
            set_field_path(
                &mut doc,
                &spec.distance_field,
                Bson::Double(distance * spec.distance_multiplier),
            );
            if let Some(field) = &spec.include_locs {
                set_field_path(&mut doc, field, location);
            }
            out.push(doc);
        }
        Ok(out)
    }
}

/// The field `$geoNear` measures: its `key`, else the one geospatial index's field.
fn geo_near_key(collection: &Collection, spec: &GeoNearSpec) -> Result<String> {
    let fields: Vec<String> = collection
        .indexes
        .iter()
        .filter_map(|index| {
            let (position, _) = geo_field(&index.meta.key, None)?;
            index.fields.get(position).map(|(p, _)| p.clone())
        })
        .collect();
    match &spec.key {
        Some(key) if fields.contains(key) => Ok(key.clone()),
        Some(key) => Err(Error::coded(
            27,
            format!("no geo index on the $geoNear key '{key}'"),
        )),
        None => match fields.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(Error::coded(
                291,
                "$geoNear requires a 2d or 2dsphere index, but none were found",
            )),
            _ => Err(Error::coded(
                2,
                "There is more than one geospatial index; unsure which to use for $geoNear \
                 (give its field as 'key')",
            )),
        },
    }
}
