//! `dropIndexes`: drops indexes by name, names, key pattern or all (`"*"`).

use bson::{doc, Bson, Document};
use outpost_storage::IndexSelector;

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "dropIndexes",
    aliases: &["deleteIndexes"],
    help: "drops indexes: { dropIndexes: <coll>, index: <name> | [<names>] | {<key>} | '*' }",
    admin_only: false,
    action: Action::Schema,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let name = args::collection_name(req.body, "dropIndexes")?;
    let selector = match req.body.get("index") {
        Some(Bson::String(s)) if s == "*" => IndexSelector::All,
        Some(Bson::String(s)) => IndexSelector::Names(vec![s.clone()]),
        Some(Bson::Array(names)) => IndexSelector::Names(
            names
                .iter()
                .map(|n| match n {
                    Bson::String(s) => Ok(s.clone()),
                    other => Err(Error::type_mismatch(format!("dropIndexes index names must be strings, got {other}"))),
                })
                .collect::<Result<_>>()?,
        ),
        Some(Bson::Document(key)) => IndexSelector::Key(key.clone()),
        Some(other) => {
            return Err(Error::type_mismatch(format!(
                "BSON field 'dropIndexes.index' is the wrong type '{}', expected types '[string, object, array]'",
                outpost_storage::value::compare::type_name(other)
            )))
        }
        None => return Err(Error::new(40414, "BSON field 'dropIndexes.index' is missing but a required field")),
    };
    let before = state.storage.drop_indexes(req.db, &name, selector)?;
    super::flush_if_requested(state, req.body)?;
    Ok(doc! {"nIndexesWas": super::count_i32(before as u64)})
}
