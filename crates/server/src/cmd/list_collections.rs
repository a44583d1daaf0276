//! `listCollections`: the collections of a database, as a cursor.

use bson::{doc, Document};
use outpost_storage::query::Filter;

use super::cursor_reply::{first_batch, BatchOptions};
use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "listCollections",
    aliases: &[],
    help: "lists the collections of a database; options filter, nameOnly, cursor.batchSize",
    admin_only: false,
    action: Action::ReadMetadata,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let name_only = args::bool_or(req.body, "listCollections", "nameOnly", false)?;
    let filter = match args::opt_doc(req.body, "listCollections", "filter")? {
        Some(f) => Some(Filter::parse(f)?),
        None => None,
    };
    let options = BatchOptions::from_cursor_field(req.body, "listCollections")?;
    let mut out = Vec::new();
    for info in state.storage.list_collections(req.db) {
        let timeseries = super::timeseries::is_timeseries(&info.name, &info.options);
        let kind = if info.is_view {
            "view"
        } else if timeseries {
            "timeseries"
        } else {
            "collection"
        };
        let full = if timeseries {
            doc! {"name": &info.name, "type": kind, "options": info.options.clone(), "info": {"readOnly": false}}
        } else if info.is_view {
            doc! {"name": &info.name, "type": kind, "options": info.options.clone(), "info": {"readOnly": true}}
        } else {
            let mut id_index = doc! {"v": 2, "key": {"_id": 1}, "name": "_id_"};
            // The `_id` index has the collection's default collation.
            if let Ok(collation) = info.options.get_document("collation") {
                id_index.insert("collation", collation.clone());
            }
            doc! {
                "name": &info.name,
                "type": kind,
                "options": info.options.clone(),
                "info": {"readOnly": false, "uuid": info.uuid.clone()},
                "idIndex": id_index,
            }
        };
        if filter.as_ref().is_some_and(|f| !f.matches(&full)) {
            continue;
        }
        out.push(Ok(if name_only {
            doc! {"name": &info.name, "type": kind}
        } else {
            full
        }));
    }
    let ns = format!("{}.$cmd.listCollections", req.db);
    first_batch(state, req.conn, ns, Box::new(out.into_iter()), &options)
}
