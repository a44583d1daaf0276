//! `listDatabases`: databases that hold at least one collection.

use bson::{doc, Bson, Document};
use outpost_storage::query::Filter;
use outpost_storage::DatabaseInfo;

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "listDatabases",
    aliases: &[],
    help: "lists databases with their sizes; options nameOnly and filter",
    admin_only: true,
    action: Action::Authenticated,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let name_only = args::bool_or(req.body, "listDatabases", "nameOnly", false)?;
    let filter = match args::opt_doc(req.body, "listDatabases", "filter")? {
        Some(f) => Some(Filter::parse(f)?),
        None => None,
    };
    let mut databases = Vec::new();
    let mut total: i64 = 0;
    let see_all = crate::auth::allowed(state, req.conn, Action::ClusterMonitor, "admin")?;
    // Sizes read every document: only when asked for.
    let infos = match name_only {
        true => state
            .storage
            .database_names()
            .into_iter()
            .map(|name| DatabaseInfo {
                name,
                size_on_disk: 0,
                collections: 1,
            })
            .collect(),
        false => state.storage.list_databases(),
    };
    for info in infos {
        // Without listDatabases (clusterMonitor), a user sees the databases it may read.
        if !see_all && !crate::auth::allowed(state, req.conn, Action::Read, &info.name)? {
            continue;
        }
        let size = i64::try_from(info.size_on_disk).unwrap_or(i64::MAX);
        let entry = if name_only {
            doc! {"name": &info.name}
        } else {
            doc! {"name": &info.name, "sizeOnDisk": size, "empty": info.collections == 0}
        };
        if filter.as_ref().is_some_and(|f| !f.matches(&entry)) {
            continue;
        }
        total = total.saturating_add(size);
        databases.push(Bson::Document(entry));
    }
    let mut reply = doc! {"databases": databases};
    if !name_only {
        reply.insert("totalSize", total);
        reply.insert("totalSizeMb", total / (1024 * 1024));
    }
    Ok(reply)
}
