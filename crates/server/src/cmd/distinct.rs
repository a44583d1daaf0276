//! `distinct`: the distinct values of a field among matching documents.

use bson::{doc, Bson, Document};

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "distinct",
    aliases: &[],
    help: "distinct values of a field: { distinct: <coll>, key: <field>, query }",
    admin_only: false,
    action: Action::Read,
    counter: Counter::Command,
    run,
};

fn run(_state: &State, req: &Request) -> Result<Document> {
    let coll = args::collection_name(req.body, "distinct")?;
    let key = args::opt_str(req.body, "distinct", "key")?.ok_or_else(|| {
        Error::new(
            40414,
            "BSON field 'distinct.key' is missing but a required field",
        )
    })?;
    let query = args::opt_doc(req.body, "distinct", "query")?
        .cloned()
        .unwrap_or_default();
    let hint = args::opt_hint(req.body, "distinct")?;
    let collation = args::opt_collation(req.body, "distinct")?;
    let deadline = args::deadline(req.body, "distinct")?;
    let values = match super::views::resolve(req.storage, req.db, &coll)? {
        Some(view) => {
            args::check_view_collation(collation.as_ref())?;
            let stages = super::views::find_stages(&query, None, 0, 0, None);
            let docs = super::views::aggregate(
                req.storage,
                req.db,
                view,
                stages,
                Document::new(),
                false,
                deadline,
            )?;
            outpost_storage::distinct_values(docs.into_iter().map(Ok), key)?
        }
        None => {
            let options = outpost_storage::FindOptions {
                filter: query,
                hint,
                collation,
                deadline,
                ..outpost_storage::FindOptions::default()
            };
            req.storage.distinct(req.db, &coll, key, &options)?
        }
    };

    let reply = doc! {"values": Bson::Array(values)};
    let size = bson::to_vec(&reply).map(|v| v.len()).unwrap_or(0);
    if size > outpost_wire::MAX_BSON_OBJECT_SIZE {
        return Err(Error::new(17217, "distinct too big, 16mb cap"));
    }
    Ok(reply)
}
