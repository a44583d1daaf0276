//! `aggregate`: runs an aggregation pipeline on a collection (or, with `aggregate: 1`, on the
//! database) and returns a cursor.

use bson::{Bson, Document};
use outpost_storage::agg::{AggOptions, Pipeline};

use super::cursor_reply::{first_batch, BatchOptions};
use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "aggregate",
    aliases: &[],
    help: "runs an aggregation pipeline: { aggregate: <coll> | 1, pipeline: [...], cursor: {}, allowDiskUse, let }",
    admin_only: false,
    action: Action::Read,
    counter: Counter::Command,
    run,
};

/// The parsed parts of an aggregate command.
pub struct Parsed {
    /// Documents produced by this layer for a leading stage only it can run.
    pub input: Option<Vec<Document>>,
    /// `None` for a database-level aggregate (`aggregate: 1`).
    pub coll: Option<String>,
    pub pipeline: Pipeline,
    pub options: AggOptions,
}

pub fn parse(state: &State, req: &Request) -> Result<Parsed> {
    let name = "aggregate";
    let coll = match req.body.get(name) {
        Some(Bson::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Bson::Int32(1)) | Some(Bson::Int64(1)) => None,
        Some(Bson::Double(d)) if *d == 1.0 => None,
        _ => {
            return Err(Error::failed_to_parse(
                "Invalid {aggregate: ...} value: must be a collection name or 1 for a collection-less aggregate",
            ))
        }
    };
    let mut stages = args::req_documents(req.body, name, "pipeline")?;
    let collation = args::opt_collation(req.body, name)?;
    // $listLocalSessions reads the server's session cache, which only this layer knows: its
    // output becomes the input of the rest of the pipeline.
    let mut input = None;
    if coll.is_none()
        && stages
            .first()
            .is_some_and(|s| s.contains_key("$listLocalSessions"))
    {
        let spec = stages.remove(0);
        input = Some(list_local_sessions(state, &spec)?);
    }
    // $collStats reads the catalog's statistics: its one document feeds the rest.
    if let Some(name) = &coll {
        if stages.first().is_some_and(|s| s.contains_key("$collStats")) {
            let spec = stages.remove(0);
            input = Some(vec![super::coll_stats::coll_stats_stage(
                state, req.db, name, &spec,
            )?]);
        }
    }
    let pipeline = Pipeline::parse(&stages)?;
    let options = AggOptions {
        db: req.db.to_owned(),
        allow_disk_use: args::bool_or(req.body, name, "allowDiskUse", false)?,
        variables: args::opt_doc(req.body, name, "let")?
            .cloned()
            .unwrap_or_default(),
        database_level: coll.is_none() && input.is_none(),
        deadline: args::deadline(req.body, name)?,
        collation,
    };
    if let (Some(coll), Some(hint)) = (&coll, args::opt_hint(req.body, name)?) {
        check_hint(req, coll, &hint)?;
    }
    Ok(Parsed {
        input,
        coll,
        pipeline,
        options,
    })
}

/// A hint must name an existing index, as in MongoDB. (The access path of the pipeline's input
/// is chosen from its leading `$match`; the hint does not change the results.)
fn check_hint(req: &Request, coll: &str, hint: &Bson) -> Result<()> {
    if !req.storage.collection_exists(req.db, coll) {
        return Ok(());
    }
    let indexes = req.storage.list_indexes(req.db, coll)?;
    let found = indexes.iter().any(|spec| match hint {
        Bson::String(name) => spec.get_str("name").is_ok_and(|n| n == name),
        Bson::Document(key) => {
            key.contains_key("$natural") || spec.get_document("key").is_ok_and(|k| k == key)
        }
        _ => false,
    });
    if found {
        Ok(())
    } else {
        Err(Error::bad_value(
            "hint provided does not correspond to an existing index",
        ))
    }
}

/// `{$listLocalSessions: {}}` or `{$listLocalSessions: {allUsers: true}}`: the sessions in this
/// server's cache (Outpost has no users, so every session belongs to the one anonymous user).
fn list_local_sessions(state: &State, spec: &Document) -> Result<Vec<Document>> {
    let options = match spec.get("$listLocalSessions") {
        Some(Bson::Document(d)) => d,
        _ => {
            return Err(Error::type_mismatch(
                "$listLocalSessions options must be a nested document",
            ))
        }
    };
    for key in options.keys() {
        if key != "allUsers" {
            return Err(Error::not_supported(format!(
                "$listLocalSessions option '{key}' is not supported by Outpost"
            )));
        }
    }
    Ok(state.sessions.list())
}

fn run(state: &State, req: &Request) -> Result<Document> {
    if req.body.contains_key("explain") && args::bool_or(req.body, "aggregate", "explain", false)? {
        return super::explain::explain_aggregate(state, req, "queryPlanner");
    }
    if !req.body.contains_key("cursor") {
        return Err(Error::failed_to_parse(
            "The 'cursor' option is required, except for aggregate with the explain argument",
        ));
    }
    let batch = BatchOptions::from_cursor_field(req.body, "aggregate")?;
    let stages = args::req_documents(req.body, "aggregate", "pipeline")?;
    if stages
        .iter()
        .skip(1)
        .any(|s| s.contains_key("$changeStream"))
    {
        return Err(Error::new(
            40602,
            "$changeStream is only valid as the first stage in a pipeline.",
        ));
    }
    if stages
        .first()
        .is_some_and(|s| s.contains_key("$changeStream"))
    {
        let coll = match req.body.get("aggregate") {
            Some(Bson::String(_)) => Some(args::collection_name(req.body, "aggregate")?),
            _ => None,
        };
        let coll = coll.as_deref();
        return crate::change_stream::aggregate(
            state,
            req.conn,
            req.db,
            coll,
            &stages,
            batch.batch_size,
        );
    }
    let parsed = parse(state, req)?;
    // `$collStats` on a time-series collection already read its statistics (the input).
    let stats_input = parsed.input.is_some();
    if let Some(coll) = parsed.coll.as_ref().filter(|_| !stats_input) {
        if let Some(view) = super::views::resolve(req.storage, req.db, coll)? {
            args::check_view_collation(parsed.options.collation.as_ref())?;
            let stages = args::req_documents(req.body, "aggregate", "pipeline")?;
            let docs = super::views::aggregate(
                req.storage,
                req.db,
                view,
                stages,
                parsed.options.variables,
                parsed.options.allow_disk_use,
                parsed.options.deadline,
            )?;
            return first_batch(
                state,
                req.conn,
                format!("{}.{coll}", req.db),
                Box::new(docs.into_iter().map(Ok)),
                &batch,
            );
        }
    }
    let docs = match parsed.input {
        Some(input) => parsed.pipeline.run(
            Box::new(input.into_iter().map(Ok)),
            req.storage,
            &parsed.options,
        )?,
        None => req
            .storage
            .aggregate(parsed.coll.as_deref(), &parsed.pipeline, &parsed.options)?,
    };
    super::flush_if_requested(state, req.body)?;
    let ns = match &parsed.coll {
        Some(c) => format!("{}.{c}", req.db),
        None => format!("{}.$cmd.aggregate", req.db),
    };
    first_batch(
        state,
        req.conn,
        ns,
        Box::new(docs.into_iter().map(Ok)),
        &batch,
    )
}
