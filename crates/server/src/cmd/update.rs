//! `update`: runs update statements (operator, replacement or pipeline updates; `multi`,
//! `upsert`, `arrayFilters`, `hint`).

use bson::{doc, Bson, Document};
use outpost_storage::query::Update;
use outpost_storage::UpdateSpec;

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "update",
    aliases: &[],
    help: "updates documents: { update: <coll>, updates: [{ q, u, upsert, multi, arrayFilters, hint }], ordered: true }",
    admin_only: false,
    action: Action::Write,
    counter: Counter::None,
    run,
};

/// The `let` variables of a command merged with a statement's constants `c`.
pub fn variables(
    body: &Document,
    statement: Option<&Document>,
    command: &str,
) -> Result<Option<Document>> {
    let mut vars = args::opt_doc(body, command, "let")?.cloned();
    if let Some(c) = statement.and_then(|s| s.get_document("c").ok()) {
        vars.get_or_insert_with(Document::new).extend(c.clone());
    }
    Ok(vars)
}

/// Reads `arrayFilters` of a statement.
pub fn array_filters(statement: &Document, command: &str) -> Result<Option<Vec<Document>>> {
    if !statement.contains_key("arrayFilters") {
        return Ok(None);
    }
    Ok(Some(args::req_documents(
        statement,
        command,
        "arrayFilters",
    )?))
}

struct Outcome {
    matched: u64,
    modified: u64,
    upserted: Option<Bson>,
}

/// One update statement with its arguments read; the update itself is parsed when it runs,
/// so its errors are write errors, as in MongoDB.
struct Statement {
    filter: Document,
    u: Bson,
    multi: bool,
    upsert: bool,
    sort: Option<Document>,
    array_filters: Option<Vec<Document>>,
    hint: Option<Bson>,
    variables: Option<Document>,
    /// The statement's collation as given (`None`: the collection's default).
    collation: Option<Document>,
}

/// Reads a statement's arguments; errors here fail the whole command, as MongoDB's parser does.
fn parse_statement(req: &Request, statement: &Document) -> Result<Statement> {
    let command = "update.updates";
    let filter = args::opt_doc(statement, command, "q")?
        .cloned()
        .unwrap_or_default();
    let u = match statement.get("u") {
        Some(u @ (Bson::Document(_) | Bson::Array(_))) => u.clone(),
        Some(other) => {
            return Err(Error::type_mismatch(format!(
                "BSON field 'update.updates.u' is the wrong type '{}', expected types '[object, array]'",
                outpost_storage::value::compare::type_name(other)
            )))
        }
        None => return Err(Error::new(40414, "BSON field 'update.updates.u' is missing but a required field")),
    };
    let collation = args::opt_collation(statement, command)?;
    let multi = args::bool_or(statement, command, "multi", false)?;
    // `sort` (MongoDB 8.0) picks which matching document a single-document update changes.
    let sort = args::opt_doc(statement, command, "sort")?.cloned();
    if multi && sort.is_some() {
        return Err(Error::new(72, "Cannot specify sort with multi=true"));
    }
    Ok(Statement {
        filter,
        u,
        sort,
        multi,
        upsert: args::bool_or(statement, command, "upsert", false)?,
        array_filters: array_filters(statement, command)?,
        hint: args::opt_hint(statement, command)?,
        variables: variables(req.body, Some(statement), "update")?,
        collation,
    })
}

fn run_statement(req: &Request, coll: &str, statement: &Statement) -> Result<Outcome> {
    let update = Update::parse(&statement.u, statement.array_filters.as_deref())?;
    if statement.multi && update.is_replacement() {
        return Err(Error::failed_to_parse(
            "multi update is not supported for replacement-style update",
        ));
    }
    let spec = UpdateSpec {
        filter: &statement.filter,
        update: &update,
        multi: statement.multi,
        upsert: statement.upsert,
        hint: statement.hint.as_ref(),
        sort: statement.sort.as_ref(),
        variables: statement.variables.as_ref(),
    };
    let outcome = req.storage.update(
        req.db,
        coll,
        &spec,
        &outpost_storage::WriteOptions {
            collation: statement.collation.clone(),
            ..args::write_options(req.body, "update")?
        },
    )?;
    Ok(Outcome {
        matched: outcome.matched,
        modified: outcome.modified,
        upserted: outcome.upserted_id,
    })
}

fn run(state: &State, req: &Request) -> Result<Document> {
    let coll = args::collection_name(req.body, "update")?;
    let statements = args::req_documents(req.body, "update", "updates")?;
    super::insert::check_batch_size(statements.len())?;
    let ordered = args::bool_or(req.body, "update", "ordered", true)?;
    let statements = statements
        .iter()
        .map(|s| parse_statement(req, s))
        .collect::<Result<Vec<_>>>()?;
    outpost_storage::validate_collection_name(req.db, &coll)?;
    let (mut n, mut modified) = (0u64, 0u64);
    let mut upserted = Vec::new();
    let mut write_errors = Vec::new();
    for (index, statement) in statements.iter().enumerate() {
        match run_statement(req, &coll, statement) {
            // Only a store that may not wait refuses, and it runs one statement (see
            // `inline.rs`): nothing has run, and the command runs again where it may wait.
            Err(Error::Storage(outpost_storage::Error::WriterBusy)) => {
                return Err(outpost_storage::Error::WriterBusy.into());
            }
            Ok(outcome) => {
                n += outcome.matched;
                modified += outcome.modified;
                if let Some(id) = outcome.upserted {
                    n += 1;
                    upserted.push(Bson::Document(
                        doc! {"index": super::count_i32(index as u64), "_id": id},
                    ));
                }
            }
            Err(e) => {
                write_errors.push(Bson::Document(e.to_write_error(index)));
                if ordered {
                    break;
                }
            }
        }
    }
    Metrics::add(&state.metrics.op_update, statements.len() as u64);
    super::flush_if_requested(state, req.body)?;
    let mut reply = doc! {"n": super::count_i32(n), "nModified": super::count_i32(modified)};
    if !upserted.is_empty() {
        reply.insert("upserted", upserted);
    }
    if !write_errors.is_empty() {
        reply.insert("writeErrors", write_errors);
    }
    Ok(reply)
}
