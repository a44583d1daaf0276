//! `delete`: runs delete statements (`limit: 0` for all matches, `limit: 1` for one).

use bson::{doc, Bson, Document};
use outpost_storage::{DeleteSpec, WriteOptions};

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "delete",
    aliases: &[],
    help:
        "deletes documents: { delete: <coll>, deletes: [{ q, limit: 0|1, hint }], ordered: true }",
    admin_only: false,
    action: Action::Write,
    counter: Counter::None,
    run,
};

/// One parsed delete statement.
struct Statement {
    filter: Document,
    just_one: bool,
    hint: Option<Bson>,
    variables: Option<Document>,
    /// The statement's collation as given (`None`: the collection's default).
    collation: Option<Document>,
}

/// Parses a statement; argument errors fail the whole command, as MongoDB's parser does.
fn parse_statement(req: &Request, statement: &Document) -> Result<Statement> {
    let command = "delete.deletes";
    let filter = match statement.get("q") {
        Some(Bson::Document(q)) => q.clone(),
        Some(other) => {
            return Err(Error::type_mismatch(format!(
                "BSON field 'delete.deletes.q' is the wrong type '{}', expected type 'object'",
                outpost_storage::value::compare::type_name(other)
            )))
        }
        None => {
            return Err(Error::new(
                40414,
                "BSON field 'delete.deletes.q' is missing but a required field",
            ))
        }
    };
    let just_one = match args::opt_i64(statement, command, "limit")? {
        Some(0) => false,
        Some(1) => true,
        Some(n) => {
            return Err(Error::failed_to_parse(format!(
                "The limit field in delete objects must be 0 or 1. Got {n}"
            )))
        }
        None => {
            return Err(Error::new(
                40414,
                "BSON field 'delete.deletes.limit' is missing but a required field",
            ))
        }
    };
    let collation = args::opt_collation(statement, command)?;
    Ok(Statement {
        filter,
        just_one,
        hint: args::opt_hint(statement, command)?,
        variables: super::update::variables(req.body, Some(statement), "delete")?,
        collation,
    })
}

fn run_statement(req: &Request, coll: &str, statement: &Statement) -> Result<u64> {
    let spec = DeleteSpec {
        filter: &statement.filter,
        just_one: statement.just_one,
        hint: statement.hint.as_ref(),
        variables: statement.variables.as_ref(),
    };
    Ok(req.storage.delete(
        req.db,
        coll,
        &spec,
        &WriteOptions {
            collation: statement.collation.clone(),
            ..WriteOptions::default()
        },
    )?)
}

fn run(state: &State, req: &Request) -> Result<Document> {
    let coll = args::collection_name(req.body, "delete")?;
    let statements = args::req_documents(req.body, "delete", "deletes")?;
    super::insert::check_batch_size(statements.len())?;
    let ordered = args::bool_or(req.body, "delete", "ordered", true)?;
    let statements = statements
        .iter()
        .map(|s| parse_statement(req, s))
        .collect::<Result<Vec<_>>>()?;
    Metrics::add(&state.metrics.op_delete, statements.len() as u64);
    let mut n = 0u64;
    let mut write_errors = Vec::new();
    for (index, statement) in statements.iter().enumerate() {
        match run_statement(req, &coll, statement) {
            Ok(deleted) => n += deleted,
            Err(e) => {
                write_errors.push(Bson::Document(e.to_write_error(index)));
                if ordered {
                    break;
                }
            }
        }
    }
    super::flush_if_requested(state, req.body)?;
    let mut reply = doc! {"n": super::count_i32(n)};
    if !write_errors.is_empty() {
        reply.insert("writeErrors", write_errors);
    }
    Ok(reply)
}
