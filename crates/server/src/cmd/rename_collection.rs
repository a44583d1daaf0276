//! `renameCollection`: renames a collection, within or across databases (run on `admin`).

use bson::Document;

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "renameCollection",
    aliases: &[],
    help: "renames a collection: { renameCollection: 'db.from', to: 'db.to', dropTarget: false }",
    admin_only: true,
    action: Action::Schema,
    counter: Counter::Command,
    run,
};

fn split_namespace(ns: &str) -> Result<(&str, &str)> {
    match ns.split_once('.') {
        Some((db, coll)) if !db.is_empty() && !coll.is_empty() => Ok((db, coll)),
        _ => Err(Error::new(
            73,
            format!("Invalid namespace specified '{ns}'"),
        )),
    }
}

fn run(state: &State, req: &Request) -> Result<Document> {
    let from = args::collection_name(req.body, "renameCollection")?;
    let to = args::opt_str(req.body, "renameCollection", "to")?.ok_or_else(|| {
        Error::new(
            40414,
            "BSON field 'renameCollection.to' is missing but a required field",
        )
    })?;
    let drop_target = args::bool_or(req.body, "renameCollection", "dropTarget", false)?;
    let (from_db, from_coll) = split_namespace(&from)?;
    let (to_db, to_coll) = split_namespace(to)?;
    state
        .storage
        .rename_collection(from_db, from_coll, to_db, to_coll, drop_target)?;
    super::flush_if_requested(state, req.body)?;
    Ok(super::ok())
}
