//! `create`: creates a collection explicitly. Options Outpost does not implement are refused
//! by name rather than ignored.

use bson::{Bson, Document};

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "create",
    aliases: &[],
    help: "creates a collection: { create: <name>, capped, size, max, validator, collation, viewOn, pipeline, timeseries: {timeField, metaField, granularity | bucketMaxSpanSeconds + bucketRoundingSeconds}, expireAfterSeconds }; clustered collections are not supported",
    admin_only: false,
    action: Action::Schema,
    counter: Counter::Command,
    run,
};

/// Options refused with the feature they belong to.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("clusteredIndex", "clustered collections (clusteredIndex)"),
    ("encryptedFields", "queryable encryption (encryptedFields)"),
];

/// Options accepted (stored and reported by listCollections, or generic command fields).
const ACCEPTED: &[&str] = &[
    "validator",
    "validationLevel",
    "validationAction",
    "idIndex",
    "storageEngine",
    "indexOptionDefaults",
    "flags",
    "autoIndexId",
];

fn run(state: &State, req: &Request) -> Result<Document> {
    let name = args::collection_name(req.body, "create")?;
    // The collection's default collation, stored as its normalized spec (as MongoDB reports
    // it in listCollections); the simple collation is the same as none.
    let collation = match args::opt_collation(req.body, "create")? {
        Some(spec) => outpost_storage::value::Collation::parse(&spec)?.map(|c| c.to_document()),
        None => None,
    };
    if let Some(spec) = req.body.get("timeseries") {
        return super::timeseries::create(state, req, &name, spec, collation.as_ref());
    }
    if req.body.contains_key("expireAfterSeconds") {
        return Err(Error::new(
            72,
            "'expireAfterSeconds' is only supported on time-series collections or when the \
             'clusteredIndex' option is specified",
        ));
    }
    if let Some(view_on) = req.body.get("viewOn") {
        if collation.is_some() {
            return Err(Error::not_supported(
                "views with a collation other than 'simple' are not supported by Outpost",
            ));
        }
        let (source, stages) = super::views::check_definition(view_on, req.body.get("pipeline"))?;
        return match state.storage.create_view(req.db, &name, &source, stages) {
            Ok(()) => Ok(super::ok()),
            Err(e) => Err(e.into()),
        };
    }
    if req.body.contains_key("pipeline") {
        return Err(Error::bad_value(
            "'pipeline' requires 'viewOn' to also be specified",
        ));
    }
    let mut options = Document::new();
    for (key, value) in req.body.iter().skip(1) {
        if let Some((_, feature)) = UNSUPPORTED.iter().find(|(k, _)| k == key) {
            return Err(Error::not_supported(format!(
                "{feature} are not supported by Outpost"
            )));
        }
        if key == "changeStreamPreAndPostImages" {
            options.insert(key.clone(), Bson::Document(pre_images_option(value)?));
            continue;
        }
        if key == "collation" {
            if let Some(spec) = &collation {
                options.insert("collation", spec.clone());
            }
            continue;
        }
        if ACCEPTED.contains(&key.as_str()) {
            options.insert(key.clone(), value.clone());
        }
    }
    if args::bool_or(req.body, "create", "capped", false)? {
        options.extend(outpost_storage::capped_options(
            req.body.get("size"),
            req.body.get("max"),
        )?);
    }
    match state
        .storage
        .create_collection(req.db, &name, options.clone())
    {
        Ok(()) => {
            // A default collation applies to the `_id` index too.
            if collation.is_some() {
                state.storage.create_collated_id_index(req.db, &name)?;
            }
            Ok(super::ok())
        }
        // As MongoDB 7.0: creating an existing collection with the same options succeeds.
        Err(outpost_storage::Error::NamespaceExists(msg)) => {
            let same = state
                .storage
                .list_collections(req.db)
                .iter()
                .any(|c| c.name == name && c.options == options);
            if same {
                Ok(super::ok())
            } else {
                Err(Error::new(48, msg))
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// `changeStreamPreAndPostImages: {enabled: <bool>}` (create and collMod): whether history keeps
/// the document before each change, for change streams' `fullDocumentBeforeChange`.
pub fn pre_images_option(value: &Bson) -> Result<bson::Document> {
    let Bson::Document(spec) = value else {
        return Err(Error::type_mismatch(
            "BSON field 'changeStreamPreAndPostImages' is the wrong type, expected type 'object'",
        ));
    };
    for key in spec.keys() {
        if key != "enabled" {
            return Err(Error::new(
                40415,
                format!("BSON field 'changeStreamPreAndPostImages.{key}' is an unknown field."),
            ));
        }
    }
    match spec.get("enabled") {
        Some(Bson::Boolean(enabled)) => Ok(bson::doc! {"enabled": *enabled}),
        Some(_) => Err(Error::type_mismatch(
            "BSON field 'changeStreamPreAndPostImages.enabled' is the wrong type, expected type 'bool'",
        )),
        None => Err(Error::new(
            40414,
            "BSON field 'changeStreamPreAndPostImages.enabled' is missing but a required field",
        )),
    }
}
