//! `collMod`: changes a collection's document validator or a TTL index's expiry.

use bson::{Bson, Document};
use outpost_storage::IndexSelector;

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "collMod",
    aliases: &[],
    help: "modifies a collection: { collMod: <coll>, validator, validationLevel, validationAction, cappedSize, cappedMax, index: { name | keyPattern, expireAfterSeconds } }",
    admin_only: false,
    action: Action::DbAdmin,
    counter: Counter::Command,
    run,
};

const VALIDATION_FIELDS: &[&str] = &["validator", "validationLevel", "validationAction"];
const GENERIC_FIELDS: &[&str] = &[
    "comment",
    "writeConcern",
    "lsid",
    "$db",
    "$clusterTime",
    "$readPreference",
    "apiVersion",
    "apiStrict",
    "apiDeprecationErrors",
    "maxTimeMS",
];

fn run(state: &State, req: &Request) -> Result<Document> {
    let coll = args::collection_name(req.body, "collMod")?;
    let mut changes = Document::new();
    let mut reply = Document::new();
    for (key, value) in req.body.iter().skip(1) {
        if VALIDATION_FIELDS.contains(&key.as_str()) {
            changes.insert(key.clone(), value.clone());
        } else if key == "changeStreamPreAndPostImages" {
            changes.insert(key.clone(), super::create::pre_images_option(value)?);
        } else if key == "index" {
            let spec = value
                .as_document()
                .ok_or_else(|| Error::type_mismatch("collMod 'index' must be an object"))?;
            let selector =
                match (spec.get("name"), spec.get("keyPattern")) {
                    (Some(Bson::String(name)), None) => IndexSelector::Names(vec![name.clone()]),
                    (None, Some(Bson::Document(key))) => IndexSelector::Key(key.clone()),
                    _ => return Err(Error::bad_value(
                        "collMod 'index' must name the index by exactly one of name or keyPattern",
                    )),
                };
            for option in spec.keys() {
                if !["name", "keyPattern", "expireAfterSeconds"].contains(&option.as_str()) {
                    return Err(Error::not_supported(format!(
                        "collMod index option '{option}' is not supported by Outpost"
                    )));
                }
            }
            if let Some(seconds) = args::opt_i64(spec, "collMod.index", "expireAfterSeconds")? {
                let old = state
                    .storage
                    .set_index_expiry(req.db, &coll, &selector, seconds)?;
                if let Some(old) = old {
                    reply.insert("expireAfterSeconds_old", old);
                }
                reply.insert("expireAfterSeconds_new", seconds);
            }
        } else if key == "cappedSize" || key == "cappedMax" {
            // Read together below.
        } else if !GENERIC_FIELDS.contains(&key.as_str()) {
            return Err(Error::not_supported(format!(
                "collMod option '{key}' is not supported by Outpost"
            )));
        }
    }
    let (capped_size, capped_max) = (req.body.get("cappedSize"), req.body.get("cappedMax"));
    if capped_size.is_some() || capped_max.is_some() {
        state
            .storage
            .set_capped_limits(req.db, &coll, capped_size, capped_max)?;
    }
    if !changes.is_empty() {
        state
            .storage
            .set_collection_options(req.db, &coll, &changes)?;
    }
    super::flush_if_requested(state, req.body)?;
    Ok(reply)
}
