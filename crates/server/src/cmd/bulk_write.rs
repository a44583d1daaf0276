//! `bulkWrite` (MongoDB 8.0, admin database): inserts, updates and deletes across namespaces in
//! one command, ordered (stop at the first error) or not, with one result per operation in a
//! cursor and the totals beside it. Each operation runs as the one-statement `insert`,
//! `update` or `delete` it stands for, so its semantics and errors are theirs.

use bson::{doc, Bson, Document};

use super::cursor_reply::{first_batch, BatchOptions};
use super::{Command, Counter, Request};
use crate::args;
use crate::auth::Action;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "bulkWrite",
    aliases: &[],
    help: "mixed writes across namespaces: { bulkWrite: 1, ops: [{insert|update|delete: <nsInfo index>, ...}], nsInfo: [{ns}], ordered, errorsOnly }",
    admin_only: true,
    counter: Counter::None,
    // Each operation is authorized on its own namespace as the command it stands for.
    action: Action::Authenticated,
    run,
};

/// Fields an operation may carry, by kind (besides its kind field).
const INSERT_FIELDS: &[&str] = &["document"];
const UPDATE_FIELDS: &[&str] = &[
    "filter",
    "updateMods",
    "multi",
    "upsert",
    "arrayFilters",
    "hint",
    "collation",
    "sort",
];
const DELETE_FIELDS: &[&str] = &["filter", "multi", "hint", "collation"];

/// Totals of the reply.
#[derive(Default)]
struct Totals {
    errors: u64,
    inserted: u64,
    matched: u64,
    modified: u64,
    upserted: u64,
    deleted: u64,
}

fn run(state: &State, req: &Request) -> Result<Document> {
    let name = "bulkWrite";
    let ops = args::req_documents(req.body, name, "ops")?;
    super::insert::check_batch_size(ops.len())?;
    let namespaces = namespaces(req.body)?;
    let ordered = args::bool_or(req.body, name, "ordered", true)?;
    let errors_only = args::bool_or(req.body, name, "errorsOnly", false)?;
    let batch = BatchOptions::from_cursor_field(req.body, name)?;
    // Every operation is checked before any runs: a malformed one fails the command.
    let requests = ops
        .iter()
        .enumerate()
        .map(|(i, op)| operation(req.body, i, op, &namespaces))
        .collect::<Result<Vec<_>>>()?;
    let mut totals = Totals::default();
    let mut results = Vec::new();
    for (idx, (kind, db, body)) in requests.iter().enumerate() {
        let sub = Request {
            db,
            body,
            conn: req.conn,
            storage: req.storage,
        };
        let outcome = super::find_command(kind)
            .ok_or_else(|| Error::new(1, format!("no {kind} command")))
            .and_then(|command| {
                crate::auth::authorize(state, req.conn, command.name, command.action, db, body)?;
                (command.run)(state, &sub)
            });
        let result = op_result(idx, kind, outcome, &mut totals);
        let failed = result.get_f64("ok") != Ok(1.0);
        if failed || !errors_only {
            results.push(result);
        }
        if failed && ordered {
            break;
        }
    }
    super::flush_if_requested(state, req.body)?;
    let mut reply = first_batch(
        state,
        req.conn,
        "admin.$cmd.bulkWrite".into(),
        Box::new(results.into_iter().map(Ok)),
        &batch,
    )?;
    reply.extend(doc! {
        "nErrors": super::count_i32(totals.errors),
        "nInserted": super::count_i32(totals.inserted),
        "nMatched": super::count_i32(totals.matched),
        "nModified": super::count_i32(totals.modified),
        "nUpserted": super::count_i32(totals.upserted),
        "nDeleted": super::count_i32(totals.deleted),
    });
    Ok(reply)
}

/// `nsInfo`: the namespaces operations name by index, as `(db, collection)`.
fn namespaces(body: &Document) -> Result<Vec<(String, String)>> {
    let entries = args::req_documents(body, "bulkWrite", "nsInfo")?;
    if entries.is_empty() {
        return Err(Error::bad_value("nsInfo must not be empty"));
    }
    entries
        .iter()
        .map(|entry| {
            for key in entry.keys() {
                if key != "ns" {
                    return Err(Error::not_supported(format!(
                        "bulkWrite nsInfo field '{key}' is not supported by Outpost"
                    )));
                }
            }
            let ns = args::opt_str(entry, "bulkWrite.nsInfo", "ns")?.ok_or_else(|| {
                Error::new(
                    40414,
                    "BSON field 'bulkWrite.nsInfo.ns' is missing but a required field",
                )
            })?;
            let (db, coll) = ns
                .split_once('.')
                .filter(|(db, coll)| !db.is_empty() && !coll.is_empty())
                .ok_or_else(|| Error::new(73, format!("Invalid namespace specified '{ns}'")))?;
            outpost_storage::validate_db_name(db)?;
            Ok((db.to_owned(), coll.to_owned()))
        })
        .collect()
}

/// One operation as the command it stands for: `(command name, database, body)`.
fn operation(
    body: &Document,
    i: usize,
    op: &Document,
    namespaces: &[(String, String)],
) -> Result<(&'static str, String, Document)> {
    let (kind, allowed) = match op.keys().next().map(String::as_str) {
        Some("insert") => ("insert", INSERT_FIELDS),
        Some("update") => ("update", UPDATE_FIELDS),
        Some("delete") => ("delete", DELETE_FIELDS),
        _ => {
            return Err(Error::failed_to_parse(format!(
                "Unrecognized bulkWrite operation at ops.{i}: the first field must be insert, update or delete"
            )))
        }
    };
    for key in op.keys().skip(1) {
        if !allowed.contains(&key.as_str()) {
            return Err(Error::new(
                40415,
                format!("BSON field 'bulkWrite.ops.{kind}.{key}' is an unknown field."),
            ));
        }
    }
    let index = args::opt_i64(op, "bulkWrite.ops", kind)?
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n < namespaces.len())
        .ok_or_else(|| {
            Error::bad_value(format!(
                "BulkWrite ops entry {i} has an invalid nsInfo index"
            ))
        })?;
    let (db, coll) = &namespaces[index];
    let filter = args::opt_doc(op, "bulkWrite.ops", "filter")?
        .cloned()
        .unwrap_or_default();
    let mut statement = Document::new();
    let mut command = match kind {
        "insert" => {
            let document = args::opt_doc(op, "bulkWrite.ops", "document")?.ok_or_else(|| {
                Error::new(
                    40414,
                    "BSON field 'bulkWrite.ops.insert.document' is missing but a required field",
                )
            })?;
            doc! {"insert": coll, "documents": [document.clone()]}
        }
        "update" => {
            statement.insert("q", filter);
            statement.insert(
                "u",
                op.get("updateMods").cloned().ok_or_else(|| {
                    Error::new(
                        40414,
                        "BSON field 'bulkWrite.ops.update.updateMods' is missing but a required field",
                    )
                })?,
            );
            for key in [
                "multi",
                "upsert",
                "arrayFilters",
                "hint",
                "collation",
                "sort",
            ] {
                if let Some(value) = op.get(key) {
                    statement.insert(key, value.clone());
                }
            }
            doc! {"update": coll, "updates": [statement]}
        }
        _ => {
            let multi = args::bool_or(op, "bulkWrite.ops.delete", "multi", false)?;
            statement.insert("q", filter);
            statement.insert("limit", if multi { 0_i32 } else { 1 });
            for key in ["hint", "collation"] {
                if let Some(value) = op.get(key) {
                    statement.insert(key, value.clone());
                }
            }
            doc! {"delete": coll, "deletes": [statement]}
        }
    };
    for key in ["bypassDocumentValidation", "let"] {
        if let Some(value) = body.get(key) {
            if kind != "insert" || key != "let" {
                command.insert(key, value.clone());
            }
        }
    }
    Ok((kind, db.clone(), command))
}

/// The result entry of operation `idx` from its one-statement command's outcome.
fn op_result(idx: usize, kind: &str, outcome: Result<Document>, totals: &mut Totals) -> Document {
    let idx_value = super::count_i32(idx as u64);
    let error = match &outcome {
        Err(e) => Some(e.to_write_error(idx)),
        Ok(reply) => reply
            .get_array("writeErrors")
            .ok()
            .and_then(|errors| errors.first())
            .and_then(Bson::as_document)
            .cloned(),
    };
    if let Some(error) = error {
        totals.errors += 1;
        let mut entry = doc! {"ok": 0.0, "idx": idx_value, "n": 0_i32};
        for (key, value) in error {
            if key != "index" {
                entry.insert(key, value);
            }
        }
        return entry;
    }
    let reply = outcome.unwrap_or_default();
    let n = reply.get("n").and_then(count).unwrap_or(0);
    let mut entry = doc! {"ok": 1.0, "idx": idx_value, "n": super::count_i32(n)};
    match kind {
        "insert" => totals.inserted += n,
        "delete" => totals.deleted += n,
        _ => {
            let modified = reply.get("nModified").and_then(count).unwrap_or(0);
            entry.insert("nModified", super::count_i32(modified));
            totals.modified += modified;
            let upserted = reply
                .get_array("upserted")
                .ok()
                .and_then(|u| u.first())
                .and_then(Bson::as_document)
                .and_then(|u| u.get("_id"))
                .cloned();
            match upserted {
                Some(id) => {
                    totals.upserted += 1;
                    totals.matched += n.saturating_sub(1);
                    entry.insert("upserted", doc! {"_id": id});
                }
                None => totals.matched += n,
            }
        }
    }
    entry
}

/// A count from a write command's reply (int32 or int64).
fn count(value: &Bson) -> Option<u64> {
    match value {
        Bson::Int32(n) => u64::try_from(*n).ok(),
        Bson::Int64(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}
