//! `find`: queries a collection and returns the first batch of a cursor.

use bson::{Bson, Document};
use outpost_storage::FindOptions;

use super::cursor_reply::{batch_size, first_batch, BatchOptions};
use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "find",
    aliases: &[],
    help: "queries a collection: { find: <coll>, filter, sort, projection, skip, limit, batchSize, singleBatch, hint }",
    admin_only: false,
    action: Action::Read,
    counter: Counter::Query,
    run,
};

/// The first batch holds 101 documents unless `batchSize` says otherwise, as mongod.
const DEFAULT_FIRST_BATCH: usize = 101;

/// Options Outpost refuses by name (they need features it does not have).
const UNSUPPORTED: &[(&str, &str)] = &[
    ("min", "find's 'min' option"),
    ("max", "find's 'max' option"),
    ("returnKey", "find's 'returnKey' option"),
    ("showRecordId", "find's 'showRecordId' option"),
    ("oplogReplay", "find's 'oplogReplay' option"),
];

/// Parses the find options shared by `find` and `explain`.
pub fn parse_options(body: &Document) -> Result<(String, FindOptions)> {
    let name = "find";
    let coll = args::collection_name(body, name)?;
    for (field, feature) in UNSUPPORTED {
        if body
            .get(*field)
            .is_some_and(|v| !matches!(v, Bson::Boolean(false) | Bson::Null))
        {
            return Err(Error::not_supported(format!(
                "{feature} is not supported by Outpost"
            )));
        }
    }
    if args::bool_or(body, name, "tailable", false)?
        || args::bool_or(body, name, "awaitData", false)?
    {
        return Err(Error::bad_value(
            "error processing query: tailable cursor requested on non capped collection",
        ));
    }
    let collation = args::opt_collation(body, name)?;
    let skip = match args::opt_i64(body, name, "skip")? {
        Some(n) if n < 0 => {
            return Err(Error::new(
                51024,
                format!("BSON field 'skip' value must be >= 0, actual value '{n}'"),
            ))
        }
        n => n.unwrap_or(0).unsigned_abs(),
    };
    let limit = match args::opt_i64(body, name, "limit")? {
        Some(n) if n < 0 => {
            return Err(Error::new(
                51024,
                format!("BSON field 'limit' value must be >= 0, actual value '{n}'"),
            ))
        }
        n => n.unwrap_or(0).unsigned_abs(),
    };
    let options = FindOptions {
        collation,
        filter: args::opt_doc(body, name, "filter")?
            .cloned()
            .unwrap_or_default(),
        sort: args::opt_doc(body, name, "sort")?.cloned(),
        projection: args::opt_doc(body, name, "projection")?.cloned(),
        skip,
        limit,
        hint: args::opt_hint(body, name)?,
        variables: args::opt_doc(body, name, "let")?.cloned(),
        allow_disk_use: args::bool_or(body, name, "allowDiskUse", false)?,
        deadline: args::deadline(body, name)?,
    };
    Ok((coll, options))
}

fn run(state: &State, req: &Request) -> Result<Document> {
    let (coll, options) = parse_options(req.body)?;
    let single_batch = args::bool_or(req.body, "find", "singleBatch", false)?;
    let batch = BatchOptions {
        batch_size: Some(batch_size(req.body, "find", "batchSize")?.unwrap_or(DEFAULT_FIRST_BATCH)),
        single_batch,
        no_timeout: args::bool_or(req.body, "find", "noCursorTimeout", false)?,
        deadline: args::deadline(req.body, "find")?,
    };
    if let Some(view) = super::views::resolve(state, req.db, &coll)? {
        args::check_view_collation(options.collation.as_ref())?;
        if options.hint.is_some() {
            return Err(Error::bad_value("hint is not supported on a view"));
        }
        let stages = super::views::find_stages(
            &options.filter,
            options.sort.as_ref(),
            options.skip,
            options.limit,
            options.projection.as_ref(),
        );
        let docs = super::views::aggregate(
            state,
            req.db,
            view,
            stages,
            options.variables.unwrap_or_default(),
            options.allow_disk_use,
            options.deadline,
        )?;
        return first_batch(
            state,
            req.conn,
            format!("{}.{coll}", req.db),
            Box::new(docs.into_iter().map(Ok)),
            &batch,
        );
    }
    let cursor = state.storage.find(req.db, &coll, &options)?;
    first_batch(
        state,
        req.conn,
        format!("{}.{coll}", req.db),
        Box::new(cursor),
        &batch,
    )
}
