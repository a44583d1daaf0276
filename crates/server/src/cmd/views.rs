//! Views: read-only collections defined by a pipeline over another collection or view. Reads
//! of a view (`find`, `count`, `distinct`, `aggregate`) run as an aggregation over the
//! collection underneath, with the view's pipeline first; writes are refused by storage.

use bson::{doc, Bson, Document};
use outpost_storage::agg::{AggOptions, Pipeline};

use crate::error::{Error, Result};
use outpost_storage::Storage;

/// A view resolved to the collection it finally reads and the pipeline to run on it.
pub struct Resolved {
    pub collection: String,
    pub pipeline: Vec<Document>,
}

/// `Some` when `db.name` is a view (stacked views resolved, at most 20 deep: code 149).
pub fn resolve(storage: &Storage, db: &str, name: &str) -> Result<Option<Resolved>> {
    Ok(storage
        .resolve_view(db, name)?
        .map(|(collection, pipeline)| Resolved {
            collection,
            pipeline,
        }))
}

/// Runs `stages` after the view's pipeline, over the view's collection, failing with
/// MaxTimeMSExpired past `deadline` (the command's `maxTimeMS`).
pub fn aggregate(
    storage: &Storage,
    db: &str,
    view: Resolved,
    stages: Vec<Document>,
    variables: Document,
    allow_disk_use: bool,
    deadline: Option<std::time::Instant>,
) -> Result<Vec<Document>> {
    let mut all = view.pipeline;
    all.extend(stages);
    let pipeline = Pipeline::parse(&all)?;
    let options = AggOptions {
        db: db.to_owned(),
        allow_disk_use,
        variables,
        database_level: false,
        deadline,
        // A view has the simple collation (Outpost refuses views with another): it does not
        // inherit the default collation of the collection it reads.
        collation: Some(doc! {"locale": "simple"}),
    };
    Ok(storage.aggregate(Some(&view.collection), &pipeline, &options)?)
}

/// The stages that give a find's answer: filter, sort, skip, limit, projection.
pub fn find_stages(
    filter: &Document,
    sort: Option<&Document>,
    skip: u64,
    limit: u64,
    projection: Option<&Document>,
) -> Vec<Document> {
    let mut stages = Vec::new();
    if !filter.is_empty() {
        stages.push(doc! {"$match": filter.clone()});
    }
    if let Some(sort) = sort.filter(|s| !s.is_empty()) {
        stages.push(doc! {"$sort": sort.clone()});
    }
    if skip > 0 {
        stages.push(doc! {"$skip": i64::try_from(skip).unwrap_or(i64::MAX)});
    }
    if limit > 0 {
        stages.push(doc! {"$limit": i64::try_from(limit).unwrap_or(i64::MAX)});
    }
    if let Some(projection) = projection.filter(|p| !p.is_empty()) {
        stages.push(doc! {"$project": projection.clone()});
    }
    stages
}

/// Checks a view definition given to `create`.
pub fn check_definition(
    view_on: &Bson,
    pipeline: Option<&Bson>,
) -> Result<(String, Vec<Document>)> {
    let source = match view_on {
        Bson::String(s) if !s.is_empty() => s.clone(),
        _ => return Err(Error::type_mismatch("'viewOn' must be a non-empty string")),
    };
    let stages: Vec<Document> = match pipeline {
        None => Vec::new(),
        Some(Bson::Array(items)) => items
            .iter()
            .map(|s| {
                s.as_document()
                    .cloned()
                    .ok_or_else(|| Error::type_mismatch("'pipeline' must be an array of objects"))
            })
            .collect::<Result<_>>()?,
        Some(_) => return Err(Error::type_mismatch("'pipeline' must be an array")),
    };
    if stages
        .iter()
        .any(|s| s.contains_key("$out") || s.contains_key("$merge"))
    {
        return Err(Error::new(
            ERR_VIEW_WRITE_STAGE,
            "$out and $merge cannot be used in a view definition",
        ));
    }
    Pipeline::parse(&stages)?;
    Ok((source, stages))
}

/// mongod's code for a write stage in a view definition (OptionNotSupportedOnView).
const ERR_VIEW_WRITE_STAGE: i32 = 167;
