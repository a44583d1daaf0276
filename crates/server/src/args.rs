//! Reading command arguments with MongoDB's error codes and messages for wrong types
//! (`BSON field 'find.limit' is the wrong type 'string', expected types '[long, int, decimal, double]'`).

use bson::{Bson, Document};

use crate::error::{Error, Result};

fn wrong_type(command: &str, field: &str, value: &Bson, expected: &str) -> Error {
    Error::type_mismatch(format!(
        "BSON field '{command}.{field}' is the wrong type '{}', expected type{} '{expected}'",
        outpost_storage::value::compare::type_name(value),
        if expected.starts_with('[') { "s" } else { "" }
    ))
}

/// The command's first field's value as a collection name.
pub fn collection_name(body: &Document, command: &str) -> Result<String> {
    match body.get(command) {
        Some(Bson::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Bson::String(_)) => Err(Error::new(
            73,
            format!("Invalid namespace specified for command '{command}'"),
        )),
        Some(other) => Err(Error::new(
            73,
            format!(
                "collection name has invalid type {}",
                outpost_storage::value::compare::type_name(other)
            ),
        )),
        None => Err(Error::failed_to_parse(format!(
            "missing collection name for '{command}'"
        ))),
    }
}

pub fn opt_bool(body: &Document, command: &str, field: &str) -> Result<Option<bool>> {
    match body.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Boolean(b)) => Ok(Some(*b)),
        // MongoDB accepts numbers where booleans are expected.
        Some(Bson::Int32(n)) => Ok(Some(*n != 0)),
        Some(Bson::Int64(n)) => Ok(Some(*n != 0)),
        Some(Bson::Double(n)) => Ok(Some(*n != 0.0)),
        Some(other) => Err(wrong_type(command, field, other, "bool")),
    }
}

pub fn bool_or(body: &Document, command: &str, field: &str, default: bool) -> Result<bool> {
    Ok(opt_bool(body, command, field)?.unwrap_or(default))
}

/// An integer argument; doubles with an integral value are accepted as MongoDB does.
pub fn opt_i64(body: &Document, command: &str, field: &str) -> Result<Option<i64>> {
    match body.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Int32(n)) => Ok(Some(i64::from(*n))),
        Some(Bson::Int64(n)) => Ok(Some(*n)),
        Some(Bson::Double(d)) if d.fract() == 0.0 && d.abs() < 9.2e18 => Ok(Some(*d as i64)),
        Some(Bson::Double(d)) => Err(Error::bad_value(format!(
            "Expected field {field} to have an integral value, but got {d}"
        ))),
        Some(Bson::Decimal128(d)) => d.to_string().parse::<i64>().map(Some).map_err(|_| {
            Error::bad_value(format!("Expected field {field} to have an integral value"))
        }),
        Some(other) => Err(wrong_type(
            command,
            field,
            other,
            "[long, int, decimal, double]",
        )),
    }
}

pub fn opt_doc<'a>(body: &'a Document, command: &str, field: &str) -> Result<Option<&'a Document>> {
    match body.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Document(d)) => Ok(Some(d)),
        Some(other) => Err(wrong_type(command, field, other, "object")),
    }
}

pub fn opt_str<'a>(body: &'a Document, command: &str, field: &str) -> Result<Option<&'a str>> {
    match body.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(command, field, other, "string")),
    }
}

pub fn req_array<'a>(body: &'a Document, command: &str, field: &str) -> Result<&'a Vec<Bson>> {
    match body.get(field) {
        Some(Bson::Array(a)) => Ok(a),
        Some(other) => Err(wrong_type(command, field, other, "array")),
        None => Err(Error::new(
            40414,
            format!("BSON field '{command}.{field}' is missing but a required field"),
        )),
    }
}

/// An array of documents (`documents`, `updates`, `deletes`, `pipeline`).
pub fn req_documents(body: &Document, command: &str, field: &str) -> Result<Vec<Document>> {
    req_array(body, command, field)?
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Bson::Document(d) => Ok(d.clone()),
            other => Err(wrong_type(
                command,
                &format!("{field}.{i}"),
                other,
                "object",
            )),
        })
        .collect()
}

/// `hint`: an index name or a key pattern.
pub fn opt_hint(body: &Document, command: &str) -> Result<Option<Bson>> {
    match body.get("hint") {
        None | Some(Bson::Null) => Ok(None),
        Some(h @ (Bson::String(_) | Bson::Document(_))) => Ok(Some(h.clone())),
        Some(other) => Err(wrong_type(command, "hint", other, "[string, object]")),
    }
}

/// The `collation` argument as given (validated with MongoDB's errors), for storage to apply;
/// `None` when absent or null, in which case the collection's default collation applies.
pub fn opt_collation(body: &Document, command: &str) -> Result<Option<Document>> {
    match body.get("collation") {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Document(c)) => {
            outpost_storage::value::Collation::parse(c)?;
            Ok(Some(c.clone()))
        }
        Some(other) => Err(wrong_type(command, "collation", other, "object")),
    }
}

/// Refuses a non-simple collation on an operation against a view: views have the simple
/// collation, which an operation may not override (MongoDB's OptionNotSupportedOnView, 167).
pub fn check_view_collation(collation: Option<&Document>) -> Result<()> {
    if let Some(spec) = collation {
        if outpost_storage::value::Collation::parse(spec)?.is_some() {
            return Err(Error::new(
                167,
                "Cannot override a view's default collation",
            ));
        }
    }
    Ok(())
}

/// True when the write concern asks for the journal (`j: true`, or a non-zero number as many
/// drivers send it), an `fsync`, or a majority, which on a single node all mean the same: the
/// write is on disk before the reply.
pub fn wants_durability(body: &Document) -> bool {
    let Ok(wc) = body.get_document("writeConcern") else {
        return false;
    };
    let truthy = |field: &str| match wc.get(field) {
        Some(Bson::Boolean(b)) => *b,
        Some(Bson::Int32(n)) => *n != 0,
        Some(Bson::Int64(n)) => *n != 0,
        Some(Bson::Double(n)) => *n != 0.0,
        _ => false,
    };
    truthy("j")
        || truthy("fsync")
        || matches!(wc.get("w"), Some(Bson::String(s)) if s == "majority")
}

/// `maxTimeMS` as a deadline.
pub fn deadline(body: &Document, command: &str) -> Result<Option<std::time::Instant>> {
    match opt_i64(body, command, "maxTimeMS")? {
        None | Some(0) => Ok(None),
        Some(ms) if ms < 0 => Err(Error::bad_value(format!(
            "{ms} value for maxTimeMS is out of range"
        ))),
        Some(ms) => Ok(std::time::Instant::now()
            .checked_add(std::time::Duration::from_millis(ms.unsigned_abs()))),
    }
}

/// A write command's options: `bypassDocumentValidation`.
pub fn write_options(body: &Document, command: &str) -> Result<outpost_storage::WriteOptions> {
    Ok(outpost_storage::WriteOptions {
        bypass_document_validation: bool_or(body, command, "bypassDocumentValidation", false)?,
        ..outpost_storage::WriteOptions::default()
    })
}

#[cfg(test)]
mod tests {
    use super::wants_durability;
    use bson::doc;

    #[test]
    fn durability_table() {
        let cases = [
            (doc! {}, false),
            (doc! {"writeConcern": {"w": 1}}, false),
            (doc! {"writeConcern": {"j": false}}, false),
            (doc! {"writeConcern": {"j": 0}}, false),
            (doc! {"writeConcern": {"j": true}}, true),
            (doc! {"writeConcern": {"j": 1}}, true),
            (doc! {"writeConcern": {"j": 1_i64}}, true),
            (doc! {"writeConcern": {"j": 1.0}}, true),
            (doc! {"writeConcern": {"fsync": true}}, true),
            (doc! {"writeConcern": {"fsync": 1}}, true),
            (doc! {"writeConcern": {"fsync": false}}, false),
            (doc! {"writeConcern": {"w": "majority"}}, true),
        ];
        for (body, expected) in cases {
            assert_eq!(wants_durability(&body), expected, "{body}");
        }
    }
}
