//! `explain`: how a find, count, distinct or aggregate would run: the access path
//! (`IDHACK`, `IXSCAN` with the index name, `COLLSCAN`), and with `executionStats` the keys
//! and documents examined.

use bson::{doc, Bson, Document};
use outpost_storage::{FindOptions, PlanKind, ReadCursor};

use super::{Action, Command, Counter, Request};
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "explain",
    aliases: &[],
    help: "explains a find, count, distinct or aggregate: { explain: { find: ... }, verbosity: 'queryPlanner' | 'executionStats' | 'allPlansExecution' }",
    admin_only: false,
    action: Action::Read,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let inner = req
        .body
        .get_document("explain")
        .map_err(|_| Error::type_mismatch("explain command requires a nested object"))?;
    let verbosity = match req.body.get("verbosity") {
        None => "allPlansExecution",
        Some(Bson::String(v)) if ["queryPlanner", "executionStats", "allPlansExecution"].contains(&v.as_str()) => v.as_str(),
        Some(other) => return Err(Error::bad_value(format!("verbosity string must be one of {{'queryPlanner', 'executionStats', 'allPlansExecution'}}, got {other}"))),
    };
    let inner_req = Request {
        db: req.db,
        body: inner,
        conn: req.conn,
        storage: req.storage,
    };
    match inner.keys().next().map(String::as_str) {
        Some("find") => {
            let (coll, options) = super::find::parse_options(inner)?;
            explain_find(state, req.db, &coll, &options, verbosity)
        }
        Some("count") => {
            let coll = crate::args::collection_name(inner, "count")?;
            let options = FindOptions {
                filter: crate::args::opt_doc(inner, "count", "query")?.cloned().unwrap_or_default(),
                hint: crate::args::opt_hint(inner, "count")?,
                collation: crate::args::opt_collation(inner, "count")?,
                ..FindOptions::default()
            };
            explain_find(state, req.db, &coll, &options, verbosity)
        }
        Some("distinct") => {
            let coll = crate::args::collection_name(inner, "distinct")?;
            let options = FindOptions {
                filter: crate::args::opt_doc(inner, "distinct", "query")?.cloned().unwrap_or_default(),
                collation: crate::args::opt_collation(inner, "distinct")?,
                ..FindOptions::default()
            };
            explain_find(state, req.db, &coll, &options, verbosity)
        }
        Some("aggregate") => explain_aggregate(state, &inner_req, verbosity),
        Some(other) => Err(Error::not_supported(format!("explain of '{other}' is not supported by Outpost (find, count, distinct and aggregate are)"))),
        None => Err(Error::failed_to_parse("explain requires a command")),
    }
}

/// The winning plan of a read, in mongod's shape.
fn winning_plan(cursor: &ReadCursor) -> Document {
    match &cursor.plan {
        PlanKind::IdLookup => doc! {"stage": "IDHACK"},
        PlanKind::IndexScan { index } => {
            let mut scan = doc! {"stage": "IXSCAN", "indexName": index.clone()};
            if let Some(collation) = &cursor.index_collation {
                scan.insert("collation", collation.clone());
            }
            doc! {"stage": "FETCH", "inputStage": scan}
        }
        PlanKind::CollScan => doc! {"stage": "COLLSCAN", "direction": "forward"},
        PlanKind::Eof => doc! {"stage": "EOF"},
    }
}

fn explain_find(
    state: &State,
    db: &str,
    coll: &str,
    options: &FindOptions,
    verbosity: &str,
) -> Result<Document> {
    let started = std::time::Instant::now();
    let mut cursor = state.storage.find(db, coll, options)?;
    let plan = winning_plan(&cursor);
    let mut planner = doc! {
        "namespace": format!("{db}.{coll}"),
        "parsedQuery": options.filter.clone(),
    };
    // The query's collation (given or the collection's default), as MongoDB shows it.
    if let Some(collation) = &cursor.collation {
        planner.insert("collation", collation.clone());
    }
    planner.insert("winningPlan", plan);
    planner.insert("rejectedPlans", Bson::Array(vec![]));
    let mut reply = doc! {"queryPlanner": planner};
    if verbosity != "queryPlanner" {
        let mut returned = 0i64;
        for doc in cursor.by_ref() {
            doc?;
            returned += 1;
        }
        reply.insert(
            "executionStats",
            doc! {
                "executionSuccess": true,
                "nReturned": returned,
                "executionTimeMillis": i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
                "totalKeysExamined": i64::try_from(cursor.info.keys()).unwrap_or(i64::MAX),
                "totalDocsExamined": i64::try_from(cursor.info.docs()).unwrap_or(i64::MAX),
            },
        );
    }
    reply.insert(
        "serverInfo",
        doc! {"host": super::host_info::hostname(), "version": super::hello::MONGODB_VERSION},
    );
    Ok(reply)
}

/// Explains an aggregate: the access path of its input (from the leading `$match`) and the
/// stages.
pub fn explain_aggregate(state: &State, req: &Request, verbosity: &str) -> Result<Document> {
    let parsed = super::aggregate::parse(state, req)?;
    let stages = crate::args::req_documents(req.body, "aggregate", "pipeline")?;
    let Some(coll) = parsed.coll else {
        return Ok(doc! {"stages": stages});
    };
    let options = FindOptions {
        filter: parsed.pipeline.leading_match().cloned().unwrap_or_default(),
        collation: parsed.options.collation.clone(),
        ..FindOptions::default()
    };
    let mut cursor_explain = explain_find(state, req.db, &coll, &options, verbosity)?;
    cursor_explain.remove("serverInfo");
    let mut all = vec![Bson::Document(doc! {"$cursor": cursor_explain})];
    all.extend(
        stages
            .into_iter()
            .skip(usize::from(parsed.pipeline.leading_match().is_some()))
            .map(Bson::Document),
    );
    Ok(
        doc! {"stages": all, "serverInfo": {"host": super::host_info::hostname(), "version": super::hello::MONGODB_VERSION}},
    )
}
