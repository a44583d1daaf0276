//! `count`: the number of documents matching a query.

use bson::{doc, Document};

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "count",
    aliases: &[],
    help: "counts documents: { count: <coll>, query, skip, limit, hint }",
    admin_only: false,
    action: Action::Read,
    counter: Counter::Command,
    run,
};

fn run(_state: &State, req: &Request) -> Result<Document> {
    let coll = args::collection_name(req.body, "count")?;
    let query = args::opt_doc(req.body, "count", "query")?
        .cloned()
        .unwrap_or_default();
    let skip = match args::opt_i64(req.body, "count", "skip")? {
        Some(n) if n < 0 => return Err(Error::bad_value("skip value is negative in count query")),
        n => n.unwrap_or(0).unsigned_abs(),
    };
    // A negative limit counts like a positive one, as mongod.
    let limit = args::opt_i64(req.body, "count", "limit")?
        .unwrap_or(0)
        .unsigned_abs();
    let hint = args::opt_hint(req.body, "count")?;
    let collation = args::opt_collation(req.body, "count")?;
    let deadline = args::deadline(req.body, "count")?;
    if let Some(view) = super::views::resolve(req.storage, req.db, &coll)? {
        args::check_view_collation(collation.as_ref())?;
        let mut stages = super::views::find_stages(&query, None, skip, limit, None);
        stages.push(doc! {"$count": "n"});
        let docs = super::views::aggregate(
            req.storage,
            req.db,
            view,
            stages,
            Document::new(),
            false,
            deadline,
        )?;
        let n = docs
            .first()
            .and_then(|d| d.get("n"))
            .cloned()
            .unwrap_or(bson::Bson::Int32(0));
        return Ok(doc! {"n": n});
    }
    let n = if query.is_empty() && skip == 0 && limit == 0 && hint.is_none() {
        req.storage.estimated_count(req.db, &coll)
    } else {
        let options = outpost_storage::FindOptions {
            filter: query,
            skip,
            limit,
            hint,
            collation,
            deadline,
            ..outpost_storage::FindOptions::default()
        };
        req.storage.count(req.db, &coll, &options)?
    };
    Ok(doc! {"n": super::count_i32(n)})
}
