//! `validate`: checks a collection's documents against its indexes (see
//! `outpost_storage::Storage::validate`) and answers as mongod does. Every validation is
//! full, with or without `full: true`; `background: true` runs the same check (Outpost reads
//! without blocking writers either way), and with `full: true` is refused as mongod refuses
//! it (72); `repair`, `metadata` and `fixMultikey` are refused by name.

use bson::{doc, Bson, Document};

use super::{Command, Counter, Request};
use crate::args;
use crate::auth::Action;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "validate",
    aliases: &[],
    help: "checks a collection's documents and indexes: { validate: <coll>, full: <bool> }",
    admin_only: false,
    counter: Counter::Command,
    action: Action::DbAdmin,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let name = args::collection_name(req.body, "validate")?;
    let full = args::bool_or(req.body, "validate", "full", false)?;
    if full && args::bool_or(req.body, "validate", "background", false)? {
        return Err(Error::new(
            72,
            "Running the validate command with both { background: true } and { full: true } is not supported.",
        ));
    }
    for option in ["repair", "metadata", "fixMultikey"] {
        if args::bool_or(req.body, "validate", option, false)? {
            return Err(Error::not_supported(format!(
                "validate's '{option}' option is not supported by Outpost"
            )));
        }
    }
    let report = state.storage.validate(req.db, &name)?;
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let mut keys_per_index = Document::new();
    for (index, keys) in &report.keys_per_index {
        keys_per_index.insert(index.clone(), count(*keys));
    }
    let mut index_details = Document::new();
    for (index, valid) in &report.index_valid {
        index_details.insert(index.clone(), doc! {"valid": *valid});
    }
    let strings = |items: &[String]| -> Bson {
        Bson::Array(items.iter().cloned().map(Bson::String).collect())
    };
    Ok(doc! {
        "ns": format!("{}.{name}", req.db),
        "nInvalidDocuments": count(report.invalid_documents),
        "nNonCompliantDocuments": count(report.non_compliant_documents),
        "nrecords": count(report.nrecords),
        "nIndexes": super::count_i32(u64::try_from(report.keys_per_index.len()).unwrap_or(u64::MAX)),
        "keysPerIndex": keys_per_index,
        "indexDetails": index_details,
        "valid": report.valid(),
        "repaired": false,
        "warnings": strings(&report.warnings),
        "errors": strings(&report.errors),
        "extraIndexEntries": Bson::Array(Vec::new()),
        "missingIndexEntries": Bson::Array(Vec::new()),
        "corruptRecords": Bson::Array(Vec::new()),
    })
}
