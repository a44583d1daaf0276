//! The engine's side of aggregation: running a pipeline over a collection, and the
//! [`AggEnv`] that gives `$lookup`, `$unionWith`, `$out` and `$merge` access to other
//! collections.

use bson::{Bson, Document};

use std::cell::Cell;

use super::read::FindOptions;
use super::write::WriteOptions;
use super::{view_depth_error, Storage, MAX_VIEW_DEPTH};
use crate::agg::{AggEnv, AggOptions, Pipeline};
use crate::error::{Error, Result};

impl AggEnv for Storage {
    /// A view reads as mongod reads it: its pipeline over the collection underneath.
    fn scan(&self, db: &str, coll: &str) -> Result<Vec<Document>> {
        let Some((source, stages)) = self.resolve_view(db, coll)? else {
            return self.find(db, coll, &FindOptions::default())?.collect();
        };
        // A view's pipeline may itself `$lookup` a view (even itself): the nesting is bounded.
        let _depth = ViewReadDepth::enter()?;
        let pipeline = Pipeline::parse(&stages)?;
        let options = AggOptions {
            db: db.to_owned(),
            // A view has the simple collation (Outpost refuses views with another).
            collation: Some(bson::doc! {"locale": "simple"}),
            ..AggOptions::default()
        };
        self.aggregate(Some(&source), &pipeline, &options)
    }

    fn replace_collection(&self, db: &str, coll: &str, docs: Vec<Document>) -> Result<()> {
        if self.is_capped(db, coll) {
            return Err(Error::coded(
                17152,
                format!("namespace '{db}.{coll}' is capped so it can't be used for $out"),
            ));
        }
        // Build under a temporary name, then rename over the target, as mongod's $out does, so
        // a failure leaves the target untouched.
        let temp = format!("tmp.agg_out.{}", bson::oid::ObjectId::new());
        // The target keeps its default collation (and with it its `_id` index's).
        let mut temp_options = Document::new();
        if let Some(collation) = self
            .collection(db, coll)
            .and_then(|t| t.meta.options.get_document("collation").ok().cloned())
        {
            temp_options.insert("collation", collation);
        }
        let collated = temp_options.contains_key("collation");
        self.create_collection(db, &temp, temp_options)?;
        if collated {
            self.create_collated_id_index(db, &temp)?;
        }
        let options = WriteOptions::default();
        for doc in docs {
            if let Err(e) = self.insert(db, &temp, doc, &options) {
                self.drop_collection(db, &temp)?;
                return Err(e);
            }
        }
        if let Some(target) = self.collection(db, coll) {
            let specs: Vec<Document> = target.meta.indexes.iter().map(|i| i.spec()).collect();
            if !specs.is_empty() {
                if let Err(e) = self.create_indexes(db, &temp, &specs) {
                    self.drop_collection(db, &temp)?;
                    return Err(e);
                }
            }
        }
        self.rename_collection(db, &temp, db, coll, true)
    }

    fn insert(&self, db: &str, coll: &str, doc: Document) -> Result<()> {
        Storage::insert(self, db, coll, doc, &WriteOptions::default()).map(|_| ())
    }

    fn has_unique_index(&self, db: &str, coll: &str, fields: &[String]) -> Result<bool> {
        if fields == ["_id"] {
            return Ok(true);
        }
        let Some(collection) = self.collection(db, coll) else {
            return Ok(false);
        };
        Ok(collection.indexes.iter().any(|index| {
            index.meta.unique
                && index.partial.is_none()
                && index.fields.len() == fields.len()
                && index.fields.iter().all(|(path, _)| fields.contains(path))
        }))
    }

    fn replace(&self, db: &str, coll: &str, id: &Bson, doc: Document) -> Result<()> {
        let filter = bson::doc! {"_id": id.clone()};
        // `$merge` replaces the document with exactly this `_id`.
        let exact = WriteOptions {
            collation: Some(bson::doc! {"locale": "simple"}),
            ..WriteOptions::default()
        };
        let update = crate::query::Update::parse(&Bson::Document(doc), None)?;
        let spec = super::write::UpdateSpec {
            filter: &filter,
            update: &update,
            multi: false,
            upsert: false,
            hint: None,
            sort: None,
            variables: None,
        };
        let outcome = self.update(db, coll, &spec, &exact)?;
        if outcome.matched == 0 {
            return Err(Error::Coded {
                code: 17035,
                message: format!("$merge could not find the document with _id {id} to replace"),
            });
        }
        Ok(())
    }
}

impl Storage {
    /// Runs `pipeline` over `db.coll`, or with no input for a database-level aggregate
    /// (`coll` = `None`, for pipelines starting with `$documents`).
    pub fn aggregate(
        &self,
        coll: Option<&str>,
        pipeline: &Pipeline,
        options: &AggOptions,
    ) -> Result<Vec<Document>> {
        let db = options.db.as_str();
        let collation = match coll {
            Some(coll) => super::read::effective_collation(
                options.collation.as_ref(),
                self.collection(db, coll).as_deref(),
            )?,
            None => super::read::effective_collation(options.collation.as_ref(), None)?,
        };
        // A time-series collection reads as its measurements, unpacked from its buckets.
        let timeseries = match coll {
            Some(coll) => self.timeseries_options(db, coll)?,
            None => None,
        };
        let geo_near = pipeline.leading_geo_near();
        let input: Box<dyn Iterator<Item = Result<Document>>> = match (coll, timeseries) {
            (Some(_), Some(_)) if geo_near.is_some() => {
                return Err(Error::NotSupported(
                    "$geoNear on a time-series collection is not supported by Outpost".into(),
                ))
            }
            (Some(coll), None) if geo_near.is_some() => {
                let spec = geo_near.ok_or_else(|| Error::coded(1, "$geoNear stage missing"))?;
                let find = FindOptions {
                    variables: Some(options.variables.clone()),
                    deadline: options.deadline,
                    collation: options.collation.clone(),
                    ..FindOptions::default()
                };
                Box::new(
                    self.geo_near_documents(db, coll, spec, find)?
                        .into_iter()
                        .map(Ok),
                )
            }
            (None, _) if geo_near.is_some() => {
                return Err(Error::coded(40603, "$geoNear needs a collection to read"))
            }
            (Some(coll), Some(timeseries)) => Box::new(self.unpacked(
                db,
                coll,
                timeseries,
                pipeline.leading_match(),
                options.deadline,
            )?),
            (Some(coll), None) => {
                // The leading $match picks the access path; the pipeline still applies it.
                let filter = pipeline.leading_match().cloned().unwrap_or_default();
                let find = FindOptions {
                    filter,
                    projection: pipeline.text_score_projection(),
                    variables: Some(options.variables.clone()),
                    deadline: options.deadline,
                    collation: options.collation.clone(),
                    ..FindOptions::default()
                };
                Box::new(self.find(db, coll, &find)?)
            }
            (None, _) => Box::new(std::iter::empty()),
        };
        pipeline.run_with_collation(input, self, options, collation)
    }
}

thread_local! {
    /// How many view reads are in progress on this thread, nested in one another (a pipeline
    /// runs on the thread that pulls it).
    static VIEW_READ_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// One nested view read; dropping it leaves the level.
struct ViewReadDepth;

impl ViewReadDepth {
    fn enter() -> Result<ViewReadDepth> {
        VIEW_READ_DEPTH.with(|depth| {
            if depth.get() >= MAX_VIEW_DEPTH {
                return Err(view_depth_error());
            }
            depth.set(depth.get() + 1);
            Ok(ViewReadDepth)
        })
    }
}

impl Drop for ViewReadDepth {
    fn drop(&mut self) {
        VIEW_READ_DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}
