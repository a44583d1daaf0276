//! History entries as change events: what a stream on a collection, a database or the whole
//! deployment reports for one entry (none, one, or several: a drop is followed by an
//! `invalidate` on a stream of that collection).

use bson::{doc, Bson, Document};
use outpost_storage::{split_field_path, Ddl, FindOptions, HistoryEntry, HistoryOp, Storage};

use crate::error::{Error, Result};
use crate::replset::hlc_to_timestamp;

/// What a stream watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Collection {
        db: String,
        coll: String,
    },
    Database(String),
    /// Every database but `admin`, `config` and `local`.
    Cluster,
}

/// Databases a cluster-wide stream does not report, and on which no other stream opens.
pub const INTERNAL_DATABASES: &[&str] = &["admin", "config", "local"];

/// Whether a cluster-wide stream reports changes in `db`: not MongoDB's internal databases,
/// nor Outpost's own (`__outpost...`, sync state).
fn cluster_reports(db: &str) -> bool {
    !INTERNAL_DATABASES.contains(&db)
        && !db.starts_with(outpost_sync::instance_query::OUTPOST_DATABASE_PREFIX)
}

impl Scope {
    fn watches(&self, db: &str, coll: &str) -> bool {
        if coll.starts_with("system.") {
            return false;
        }
        match self {
            Scope::Collection { db: d, coll: c } => d == db && c == coll,
            Scope::Database(d) => d == db,
            Scope::Cluster => cluster_reports(db),
        }
    }

    fn watches_database(&self, db: &str) -> bool {
        match self {
            Scope::Collection { .. } => false,
            Scope::Database(d) => d == db,
            Scope::Cluster => cluster_reports(db),
        }
    }
}

/// `fullDocument` of update events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullDocument {
    Default,
    /// The document as it is when the event is read.
    UpdateLookup,
    /// The document just after the change (history entries keep it).
    WhenAvailable,
    Required,
}

/// `fullDocumentBeforeChange` of update, replace and delete events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeforeChange {
    Off,
    WhenAvailable,
    Required,
}

impl FullDocument {
    pub fn parse(value: &str) -> Result<FullDocument> {
        Ok(match value {
            "default" => FullDocument::Default,
            "updateLookup" => FullDocument::UpdateLookup,
            "whenAvailable" => FullDocument::WhenAvailable,
            "required" => FullDocument::Required,
            other => {
                return Err(Error::bad_value(format!(
                    "'{other}' is not a valid value for $changeStream.fullDocument"
                )))
            }
        })
    }
}

impl BeforeChange {
    pub fn parse(value: &str) -> Result<BeforeChange> {
        Ok(match value {
            "off" => BeforeChange::Off,
            "whenAvailable" => BeforeChange::WhenAvailable,
            "required" => BeforeChange::Required,
            other => {
                return Err(Error::bad_value(format!(
                    "'{other}' is not a valid value for $changeStream.fullDocumentBeforeChange"
                )))
            }
        })
    }
}

/// How a stream renders events.
#[derive(Debug, Clone)]
pub struct EventOptions {
    pub scope: Scope,
    pub full_document: FullDocument,
    pub before_change: BeforeChange,
}

/// One event of an entry, without its `_id` (the resume token, added by the caller).
pub struct Event {
    pub body: Document,
    pub invalidate: bool,
}

fn split_ns(ns: &str) -> (&str, &str) {
    ns.split_once('.').unwrap_or((ns, ""))
}

/// The events `entry` gives on a stream with `options`, in order.
pub fn events(
    storage: &Storage,
    entry: &HistoryEntry,
    options: &EventOptions,
) -> Result<Vec<Event>> {
    let (db, coll) = split_ns(&entry.ns);
    let scope = &options.scope;
    let common = doc! {
        "clusterTime": hlc_to_timestamp(entry.hlc),
        "wallTime": bson::DateTime::from_millis(i64::try_from(entry.hlc >> 16).unwrap_or(i64::MAX)),
    };
    let event = |operation: &str, rest: Document| {
        let mut body = doc! {"operationType": operation};
        body.extend(common.clone());
        body.extend(rest);
        Event {
            body,
            invalidate: operation == "invalidate",
        }
    };
    if entry.op == HistoryOp::Drop {
        let mut out = Vec::new();
        if let Some(Ddl::RenameTo(to)) = &entry.ddl {
            let (to_db, to_coll) = split_ns(to);
            if scope.watches(db, coll) {
                out.push(event(
                    "rename",
                    doc! {"ns": {"db": db, "coll": coll}, "to": {"db": to_db, "coll": to_coll}},
                ));
            }
        } else if scope.watches(db, coll) {
            out.push(event("drop", doc! {"ns": {"db": db, "coll": coll}}));
        }
        if matches!(entry.ddl, Some(Ddl::DropDatabase)) && scope.watches_database(db) {
            out.push(event("dropDatabase", doc! {"ns": {"db": db}}));
            if matches!(scope, Scope::Database(_)) {
                out.push(event("invalidate", Document::new()));
            }
        }
        if matches!(scope, Scope::Collection { .. }) && !out.is_empty() {
            out.push(event("invalidate", Document::new()));
        }
        return Ok(out);
    }
    if !scope.watches(db, coll) || matches!(entry.ddl, Some(Ddl::RenamedFrom(_))) {
        return Ok(Vec::new());
    }
    let mut rest = Document::new();
    let operation = match entry.op {
        HistoryOp::Insert => "insert",
        HistoryOp::Update => "update",
        HistoryOp::Replace => "replace",
        HistoryOp::Delete => "delete",
        HistoryOp::Drop => "drop",
    };
    match entry.op {
        HistoryOp::Insert | HistoryOp::Replace => {
            rest.insert(
                "fullDocument",
                entry.doc.clone().map_or(Bson::Null, Bson::Document),
            );
        }
        HistoryOp::Update => match options.full_document {
            FullDocument::Default => {}
            FullDocument::UpdateLookup => {
                rest.insert("fullDocument", lookup(storage, db, coll, &entry.id)?);
            }
            FullDocument::WhenAvailable | FullDocument::Required => {
                rest.insert(
                    "fullDocument",
                    entry.doc.clone().map_or(Bson::Null, Bson::Document),
                );
            }
        },
        HistoryOp::Delete | HistoryOp::Drop => {}
    }
    rest.insert("ns", doc! {"db": db, "coll": coll});
    rest.insert("documentKey", doc! {"_id": entry.id.clone()});
    if entry.op == HistoryOp::Update {
        rest.insert("updateDescription", update_description(entry));
    }
    if entry.op != HistoryOp::Insert {
        match (options.before_change, &entry.before) {
            (BeforeChange::Off, _) => {}
            (_, Some(before)) => {
                rest.insert("fullDocumentBeforeChange", before.clone());
            }
            (BeforeChange::WhenAvailable, None) => {
                rest.insert("fullDocumentBeforeChange", Bson::Null);
            }
            (BeforeChange::Required, None) => {
                return Err(Error::new(
                    47,
                    format!(
                        "Change stream was configured to require a pre-image for all update, delete and replace events, but the pre-image was not available for an event on {} (enable changeStreamPreAndPostImages on the collection)",
                        entry.ns
                    ),
                ));
            }
        }
    }
    Ok(vec![event(operation, rest)])
}

/// The current version of a document (`fullDocument: "updateLookup"`), `null` when gone.
fn lookup(storage: &Storage, db: &str, coll: &str, id: &Bson) -> Result<Bson> {
    let options = FindOptions {
        filter: doc! {"_id": id.clone()},
        limit: 1,
        ..FindOptions::default()
    };
    match storage.find(db, coll, &options)?.next() {
        Some(doc) => Ok(Bson::Document(doc?)),
        None => Ok(Bson::Null),
    }
}

/// `updatedFields` and `removedFields` from the fields the entry says changed, with their
/// values after the change; arrays are reported whole (`truncatedArrays` stays empty).
fn update_description(entry: &HistoryEntry) -> Document {
    let mut updated = Document::new();
    let mut removed = Vec::new();
    for path in entry.changed_fields.iter().flatten() {
        let segments = split_field_path(path);
        let dotted = segments.join(".");
        match entry.doc.as_ref().and_then(|d| value_at(d, &segments)) {
            Some(value) => {
                updated.insert(dotted, value.clone());
            }
            None => removed.push(Bson::String(dotted)),
        }
    }
    doc! {"updatedFields": updated, "removedFields": removed, "truncatedArrays": []}
}

fn value_at<'a>(doc: &'a Document, segments: &[String]) -> Option<&'a Bson> {
    let (first, rest) = segments.split_first()?;
    let value = doc.get(first)?;
    if rest.is_empty() {
        return Some(value);
    }
    match value {
        Bson::Document(inner) => value_at(inner, rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_storage::{join_field_path, Origin};

    fn update(doc: Document, changed: &[&[&str]]) -> HistoryEntry {
        HistoryEntry {
            seq: 1,
            ns: "db.c".into(),
            op: HistoryOp::Update,
            id: Bson::Int32(1),
            doc: Some(doc),
            changed_fields: Some(changed.iter().map(|p| join_field_path(p)).collect()),
            increments: None,
            hlc: 5 << 16,
            origin: Origin::Local,
            before: None,
            ddl: None,
        }
    }

    #[test]
    fn update_descriptions_name_changed_and_removed_fields_by_dotted_path() {
        let entry = update(
            doc! {"_id": 1, "a": {"b": 2}, "list": [1, 2]},
            &[&["a", "b"], &["a", "gone"], &["list"], &["top"]],
        );
        assert_eq!(
            update_description(&entry),
            doc! {
                "updatedFields": {"a.b": 2, "list": [1, 2]},
                "removedFields": ["a.gone", "top"],
                "truncatedArrays": [],
            }
        );
    }

    #[test]
    fn streams_see_only_their_scope_and_drops_invalidate_collection_streams() {
        let storage = Storage::temporary().expect("storage");
        let options = |scope| EventOptions {
            scope,
            full_document: FullDocument::Default,
            before_change: BeforeChange::Off,
        };
        let coll = options(Scope::Collection {
            db: "db".into(),
            coll: "c".into(),
        });
        let other = options(Scope::Collection {
            db: "db".into(),
            coll: "d".into(),
        });
        let entry = update(doc! {"_id": 1}, &[]);
        assert_eq!(events(&storage, &entry, &coll).expect("events").len(), 1);
        assert!(events(&storage, &entry, &other).expect("events").is_empty());
        let drop = HistoryEntry {
            op: HistoryOp::Drop,
            id: Bson::Null,
            doc: None,
            changed_fields: None,
            ddl: Some(Ddl::DropDatabase),
            ..entry
        };
        let kinds = |options: &EventOptions| -> Vec<String> {
            events(&storage, &drop, options)
                .expect("events")
                .iter()
                .map(|e| e.body.get_str("operationType").unwrap_or("?").to_owned())
                .collect()
        };
        assert_eq!(kinds(&coll), ["drop", "invalidate"]);
        assert_eq!(
            kinds(&options(Scope::Database("db".into()))),
            ["drop", "dropDatabase", "invalidate"]
        );
        assert_eq!(kinds(&options(Scope::Cluster)), ["drop", "dropDatabase"]);
        assert!(kinds(&options(Scope::Database("other".into()))).is_empty());
        let hub = HistoryEntry {
            ns: "__outpost_hub.edges".into(),
            ..drop
        };
        assert!(events(&storage, &hub, &options(Scope::Cluster))
            .expect("events")
            .is_empty());
    }
}
