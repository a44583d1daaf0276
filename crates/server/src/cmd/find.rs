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
    help: "queries a collection: { find: <coll>, filter, sort, projection, skip, limit, batchSize, singleBatch, hint, min, max, returnKey, showRecordId, tailable, awaitData }",
    admin_only: false,
    action: Action::Read,
    counter: Counter::Query,
    run,
};

/// The first batch holds 101 documents unless `batchSize` says otherwise, as mongod.
const DEFAULT_FIRST_BATCH: usize = 101;

/// Options Outpost refuses by name (they need features it does not have).
const UNSUPPORTED: &[(&str, &str)] = &[("oplogReplay", "find's 'oplogReplay' option")];

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
    tailable(body)?;
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
        min: args::opt_doc(body, name, "min")?.cloned(),
        max: args::opt_doc(body, name, "max")?.cloned(),
        return_key: args::bool_or(body, name, "returnKey", false)?,
        show_record_id: args::bool_or(body, name, "showRecordId", false)?,
    };
    Ok((coll, options))
}

/// `Some(awaitData)` for a tailable find; `awaitData` needs `tailable`, as in mongod.
fn tailable(body: &Document) -> Result<Option<bool>> {
    let tailable = args::bool_or(body, "find", "tailable", false)?;
    let await_data = args::bool_or(body, "find", "awaitData", false)?;
    match (tailable, await_data) {
        (false, true) => Err(Error::failed_to_parse(
            "Cannot set 'awaitData' without also setting 'tailable'",
        )),
        (false, false) => Ok(None),
        (true, await_data) => Ok(Some(await_data)),
    }
}

/// The first batch of a tailable cursor: a tail read of a capped collection from its oldest
/// document; the cursor stays open at the end for `getMore` to follow new inserts.
fn tailable_first_batch(
    state: &State,
    req: &Request,
    coll: &str,
    options: &FindOptions,
    await_data: bool,
    batch: &BatchOptions,
) -> Result<Document> {
    if !req.storage.is_capped(req.db, coll) {
        return Err(Error::bad_value(format!(
            "error processing query: ns={}.{coll} tailable cursor requested on non capped collection",
            req.db
        )));
    }
    if options
        .sort
        .as_ref()
        .is_some_and(|s| !s.is_empty() && !natural_sort_forward(s))
    {
        return Err(Error::bad_value(
            "cannot use tailable option with a sort other than {$natural: 1}",
        ));
    }
    let mut tail = crate::tail::Tail {
        db: req.db.to_owned(),
        coll: coll.to_owned(),
        filter: options.filter.clone(),
        projection: options.projection.clone(),
        after: 0,
        await_data,
        skip: options.skip,
        remaining: (options.limit > 0).then_some(options.limit),
    };
    // The first batch never waits.
    let docs = tail.next_batch(state, batch.batch_size, Some(std::time::Duration::ZERO))?;
    let ns = format!("{}.{coll}", req.db);
    let id = if batch.single_batch || tail.done() {
        0
    } else {
        state.cursors.open(crate::cursor::Cursor {
            ns: ns.clone(),
            docs: (Box::new(std::iter::empty()) as crate::cursor::DocIter).peekable(),
            last_used: std::time::Instant::now(),
            no_timeout: batch.no_timeout,
            tail: Some(tail),
            stream: None,
            owner: crate::auth::lock(req.conn).users.clone(),
        })
    };
    Ok(bson::doc! {
        "cursor": {
            "firstBatch": Bson::Array(docs.into_iter().map(Bson::Document).collect()),
            "id": id,
            "ns": ns,
        }
    })
}

/// `{$natural: 1}` in any numeric type.
fn natural_sort_forward(sort: &Document) -> bool {
    sort.len() == 1
        && match sort.get("$natural") {
            Some(Bson::Int32(n)) => *n > 0,
            Some(Bson::Int64(n)) => *n > 0,
            Some(Bson::Double(n)) => *n > 0.0,
            _ => false,
        }
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
    if let Some(await_data) = tailable(req.body)? {
        return tailable_first_batch(state, req, &coll, &options, await_data, &batch);
    }
    if let Some(view) = super::views::resolve(req.storage, req.db, &coll)? {
        args::check_view_collation(options.collation.as_ref())?;
        if options.hint.is_some() {
            return Err(Error::bad_value("hint is not supported on a view"));
        }
        if options.min.is_some()
            || options.max.is_some()
            || options.return_key
            || options.show_record_id
        {
            return Err(Error::bad_value(
                "min, max, returnKey and showRecordId are not supported on a view",
            ));
        }
        let stages = super::views::find_stages(
            &options.filter,
            options.sort.as_ref(),
            options.skip,
            options.limit,
            options.projection.as_ref(),
        );
        let docs = super::views::aggregate(
            req.storage,
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
    let cursor = req.storage.find(req.db, &coll, &options)?;
    first_batch(
        state,
        req.conn,
        format!("{}.{coll}", req.db),
        Box::new(cursor),
        &batch,
    )
}
