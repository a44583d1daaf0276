//! The Stable API parameters every command may carry: `apiVersion` (only "1" exists),
//! `apiStrict` (refuse commands outside API version 1, APIStrictError 323) and
//! `apiDeprecationErrors` (no command of version 1 is deprecated, so it refuses nothing).
//! Under `apiStrict`, `aggregate` is also refused the stages outside version 1; command
//! options outside version 1 are not checked.

use bson::{Bson, Document};

use crate::error::{Error, Result};

/// The commands of API version 1 that Outpost has (MongoDB 8.0's list also holds
/// `abortTransaction`, `authenticate`, `bulkWrite`, `commitTransaction` and
/// `refreshSessions`, which Outpost does not implement).
pub const API_VERSION_1: &[&str] = &[
    "aggregate",
    "collMod",
    "count",
    "create",
    "createIndexes",
    "delete",
    "drop",
    "dropDatabase",
    "dropIndexes",
    "endSessions",
    "explain",
    "find",
    "findAndModify",
    "getMore",
    "hello",
    "insert",
    "killCursors",
    "listCollections",
    "listDatabases",
    "listIndexes",
    "ping",
    "update",
];

/// Checks a command's API parameters against the command (by its canonical name).
pub fn check(command: &str, body: &Document) -> Result<()> {
    let version = match body.get("apiVersion") {
        None => None,
        Some(Bson::String(v)) => Some(v.as_str()),
        Some(other) => {
            return Err(Error::type_mismatch(format!(
                "BSON field 'apiVersion' is the wrong type '{}', expected type 'string'",
                outpost_storage::value::compare::type_name(other)
            )))
        }
    };
    let strict = flag(body, "apiStrict")?;
    let deprecation_errors = flag(body, "apiDeprecationErrors")?;
    let Some(version) = version else {
        for (field, given) in [
            ("apiStrict", strict),
            ("apiDeprecationErrors", deprecation_errors),
        ] {
            if given.is_some() {
                return Err(Error::new(
                    4886600,
                    format!(
                        "Setting {field} without apiVersion is not allowed. Please set \
                         apiVersion to use the Stable API"
                    ),
                ));
            }
        }
        return Ok(());
    };
    if version != "1" {
        return Err(Error::new(322, "API version must be \"1\""));
    }
    if strict == Some(true) && !API_VERSION_1.contains(&command) {
        return Err(Error::new(
            323,
            format!(
                "Provided apiStrict:true, but the command {command} is not in API Version 1. \
                 Information on supported commands and migrations in API Version 1 can be \
                 found at https://dochub.mongodb.org/core/manual-versioned-api"
            ),
        ));
    }
    if strict == Some(true) && command == "aggregate" {
        if let Ok(stages) = body.get_array("pipeline") {
            check_stages(stages, 0)?;
        }
    }
    Ok(())
}

/// Stages mongod registers as never in API version 1.
const STAGES_NOT_IN_VERSION_1: &[&str] = &[
    "$currentOp",
    "$listLocalSessions",
    "$listSampledQueries",
    "$queryStats",
];

/// Nested pipelines are checked too, to the same depth limit as documents.
const MAX_PIPELINE_DEPTH: usize = 100;

/// Refuses, under `apiStrict`, stages outside API version 1 (also inside `$facet`, `$lookup`
/// and `$unionWith`), and `$collStats` with anything but `count`.
fn check_stages(stages: &[Bson], depth: usize) -> Result<()> {
    if depth > MAX_PIPELINE_DEPTH {
        return Ok(());
    }
    for stage in stages.iter().filter_map(Bson::as_document) {
        let Some((name, spec)) = stage.iter().next() else {
            continue;
        };
        if STAGES_NOT_IN_VERSION_1.contains(&name.as_str()) {
            return Err(Error::new(
                323,
                format!("{name} is not allowed with 'apiStrict: true' in API Version 1"),
            ));
        }
        let spec = spec.as_document();
        if name == "$collStats"
            && spec.is_some_and(|s| {
                ["latencyStats", "queryExecStats", "storageStats"]
                    .iter()
                    .any(|k| s.contains_key(*k))
            })
        {
            return Err(Error::new(
                323,
                "only the 'count' option to $collStats is supported in API Version 1",
            ));
        }
        let nested: Vec<&Vec<Bson>> = match (name.as_str(), spec) {
            ("$facet", Some(s)) => s.values().filter_map(Bson::as_array).collect(),
            ("$lookup" | "$unionWith", Some(s)) => s.get_array("pipeline").into_iter().collect(),
            _ => Vec::new(),
        };
        for pipeline in nested {
            check_stages(pipeline, depth + 1)?;
        }
    }
    Ok(())
}

fn flag(body: &Document, field: &str) -> Result<Option<bool>> {
    match body.get(field) {
        None => Ok(None),
        Some(Bson::Boolean(b)) => Ok(Some(*b)),
        Some(other) => Err(Error::type_mismatch(format!(
            "BSON field '{field}' is the wrong type '{}', expected type 'bool'",
            outpost_storage::value::compare::type_name(other)
        ))),
    }
}
