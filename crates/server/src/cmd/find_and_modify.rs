//! `findAndModify`: updates, replaces or removes one document and returns it (before or
//! after), atomically.

use bson::{doc, Bson, Document};
use outpost_storage::query::Update;
use outpost_storage::FindAndModify;

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "findAndModify",
    aliases: &["findandmodify"],
    help: "updates or removes one document and returns it: { findAndModify: <coll>, query, sort, update | remove: true, new, fields, upsert }",
    admin_only: false,
    action: Action::Write,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let name = "findAndModify";
    let coll = args::collection_name(
        req.body,
        req.body.keys().next().map(String::as_str).unwrap_or(name),
    )?;
    let filter = args::opt_doc(req.body, name, "query")?
        .cloned()
        .unwrap_or_default();
    let sort = args::opt_doc(req.body, name, "sort")?;
    let remove = args::bool_or(req.body, name, "remove", false)?;
    let return_new = args::bool_or(req.body, name, "new", false)?;
    let upsert = args::bool_or(req.body, name, "upsert", false)?;
    let projection = args::opt_doc(req.body, name, "fields")?;
    let hint = args::opt_hint(req.body, name)?;
    let collation = args::opt_collation(req.body, name)?;
    let vars = super::update::variables(req.body, None, name)?;
    let update = match req.body.get("update") {
        None | Some(Bson::Null) => None,
        Some(u @ (Bson::Document(_) | Bson::Array(_))) => {
            let filters = super::update::array_filters(req.body, name)?;
            Some(Update::parse(u, filters.as_deref())?)
        }
        Some(other) => {
            return Err(Error::failed_to_parse(format!(
                "Update argument must be either an object or an array, not {}",
                outpost_storage::value::compare::type_name(other)
            )))
        }
    };
    if remove {
        if update.is_some() {
            return Err(Error::failed_to_parse(
                "Cannot specify both an update and remove=true",
            ));
        }
        if upsert {
            return Err(Error::failed_to_parse(
                "Cannot specify both upsert=true and remove=true ",
            ));
        }
        if return_new {
            return Err(Error::failed_to_parse(
                "Cannot specify both new=true and remove=true; 'remove' always returns the deleted document",
            ));
        }
    } else if update.is_none() {
        return Err(Error::failed_to_parse(
            "Either an update or remove=true must be specified",
        ));
    }
    outpost_storage::validate_collection_name(req.db, &coll)?;
    let request = FindAndModify {
        filter: &filter,
        sort,
        remove,
        update: update.as_ref(),
        return_new,
        upsert,
        projection,
        hint: hint.as_ref(),
        variables: vars.as_ref(),
    };
    let outcome = req.storage.find_and_modify(
        req.db,
        &coll,
        &request,
        &outpost_storage::WriteOptions {
            collation,
            ..args::write_options(req.body, "findAndModify")?
        },
    )?;
    super::flush_if_requested(state, req.body)?;
    let mut last_error = doc! {"n": super::count_i32(outcome.n)};
    if !remove {
        last_error.insert("updatedExisting", outcome.updated_existing);
        if let Some(id) = outcome.upserted_id {
            last_error.insert("upserted", id);
        }
    }
    Ok(doc! {
        "lastErrorObject": last_error,
        "value": outcome.value.map(Bson::Document).unwrap_or(Bson::Null),
    })
}
